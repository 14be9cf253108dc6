//! Path attribute type codes and flags (RFC 4271 4.3), and a bounds-checked
//! reader for attribute values.

/// Attribute Flags (RFC 4271 4.3).
pub mod flag {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
    /// The bits that say what kind of attribute it is (RFC 7606 3 c).
    pub const KIND: u8 = OPTIONAL | TRANSITIVE;
    /// Well-known attributes are transitive (RFC 4271 5).
    pub const WELL_KNOWN: u8 = TRANSITIVE;
}

/// Attribute type codes (IANA "BGP Path Attributes").
pub mod type_code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const MP_UNREACH_NLRI: u8 = 15;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const LARGE_COMMUNITIES: u8 = 32;

    /// Every type this codec interprets; anything else is "unrecognized"
    /// in the sense of RFC 4271 5 and 6.3.
    pub const INTERPRETED: [u8; 13] = [
        ORIGIN,
        AS_PATH,
        NEXT_HOP,
        MULTI_EXIT_DISC,
        LOCAL_PREF,
        ATOMIC_AGGREGATE,
        AGGREGATOR,
        COMMUNITIES,
        MP_REACH_NLRI,
        MP_UNREACH_NLRI,
        AS4_PATH,
        AS4_AGGREGATOR,
        LARGE_COMMUNITIES,
    ];
}

/// The Optional and Transitive bits each interpreted attribute must carry
/// (RFC 4271 5, RFC 1997, RFC 4760, RFC 6793, RFC 8092).
pub fn kind_flags(type_code: u8) -> u8 {
    use type_code::*;
    match type_code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => flag::WELL_KNOWN,
        MULTI_EXIT_DISC | MP_REACH_NLRI | MP_UNREACH_NLRI => flag::OPTIONAL,
        _ => flag::OPTIONAL | flag::TRANSITIVE,
    }
}

/// Appends one attribute, with the Extended Length bit only when the value
/// needs it. `value` must be at most 65535 octets (checked by the packer).
pub fn write(out: &mut Vec<u8>, flags: u8, type_code: u8, value: &[u8]) {
    let kind = flags & !flag::EXTENDED_LENGTH & 0xf0;
    match u8::try_from(value.len()) {
        Ok(len) => out.extend_from_slice(&[kind, type_code, len]),
        Err(_) => {
            let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&[kind | flag::EXTENDED_LENGTH, type_code]);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(value);
}

/// One attribute as it sits in the Path Attributes field.
#[derive(Debug, Clone, Copy)]
pub struct RawAttr<'a> {
    pub flags: u8,
    pub type_code: u8,
    pub value: &'a [u8],
    /// Flags, type, length and value: the NOTIFICATION data RFC 4271 6.3
    /// asks for.
    pub whole: &'a [u8],
}

impl RawAttr<'_> {
    pub fn kind(&self) -> u8 {
        self.flags & flag::KIND
    }
}

/// Reads the next attribute, or `None` when what is left cannot hold its
/// header or its value (RFC 7606 4: the two framing errors).
pub fn read<'a>(r: &mut Reader<'a>) -> Option<RawAttr<'a>> {
    let start = r.rest();
    let flags = r.u8()?;
    let type_code = r.u8()?;
    let len = if flags & flag::EXTENDED_LENGTH != 0 {
        usize::from(r.u16()?)
    } else {
        usize::from(r.u8()?)
    };
    let value = r.take(len)?;
    let whole = start.get(..start.len() - r.rest().len())?;
    Some(RawAttr {
        flags,
        type_code,
        value,
        whole,
    })
}

/// A cursor over received bytes: every read is checked, none can panic.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
}
