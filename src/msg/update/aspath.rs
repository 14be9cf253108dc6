//! AS_PATH and AS4_PATH values (RFC 4271 4.3, RFC 6793, RFC 5065), and the
//! reconstruction of the path from both when the peer speaks 2-octet ASNs
//! (RFC 6793 4.2.3).

use crate::msg::AS_TRANS;
use crate::msg::update::{AsPath, AsSegment};

use super::attr::Reader;

/// Segment types (RFC 4271 4.3, RFC 5065 3).
mod segment {
    pub const AS_SET: u8 = 1;
    pub const AS_SEQUENCE: u8 = 2;
    pub const AS_CONFED_SEQUENCE: u8 = 3;
    pub const AS_CONFED_SET: u8 = 4;
}

/// A segment holds at most 255 ASNs: its length field is one octet.
const MAX_SEGMENT_ASNS: usize = 255;

/// Octets per ASN on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsnWidth {
    Two,
    Four,
}

/// Reads an AS_PATH or AS4_PATH value. Malformed per RFC 7606 7.2: an
/// unknown segment type, a segment of length zero, a segment overrunning
/// the attribute, a single octet left over; and per RFC 7607, AS 0.
pub fn read(value: &[u8], width: AsnWidth) -> Result<AsPath, &'static str> {
    let mut r = Reader::new(value);
    let mut segments = Vec::new();
    while !r.is_empty() {
        let (Some(kind), Some(count)) = (r.u8(), r.u8()) else {
            return Err("AS_PATH ends inside a segment header");
        };
        if count == 0 {
            return Err("AS_PATH segment of length zero");
        }
        let mut asns = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let asn = match width {
                AsnWidth::Two => r.u16().map(u32::from),
                AsnWidth::Four => r.u32(),
            };
            match asn {
                None => return Err("AS_PATH segment overruns the attribute"),
                Some(0) => return Err("AS_PATH holds AS 0 (RFC 7607)"),
                Some(asn) => asns.push(asn),
            }
        }
        segments.push(match kind {
            segment::AS_SET => AsSegment::Set(asns),
            segment::AS_SEQUENCE => AsSegment::Sequence(asns),
            segment::AS_CONFED_SEQUENCE => AsSegment::ConfedSequence(asns),
            segment::AS_CONFED_SET => AsSegment::ConfedSet(asns),
            _ => return Err("AS_PATH segment of unknown type"),
        });
    }
    Ok(AsPath { segments })
}

/// Appends an AS_PATH value. Segments longer than 255 ASNs are split (a
/// split set then counts as two in path length), empty ones left out. With
/// 2-octet ASNs, any that does not fit becomes AS_TRANS (RFC 6793 4.2.2).
pub fn write(out: &mut Vec<u8>, path: &AsPath, width: AsnWidth) {
    for seg in &path.segments {
        let kind = match seg {
            AsSegment::Set(_) => segment::AS_SET,
            AsSegment::Sequence(_) => segment::AS_SEQUENCE,
            AsSegment::ConfedSequence(_) => segment::AS_CONFED_SEQUENCE,
            AsSegment::ConfedSet(_) => segment::AS_CONFED_SET,
        };
        for chunk in asns(seg).chunks(MAX_SEGMENT_ASNS) {
            out.push(kind);
            out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
            for &asn in chunk {
                match width {
                    AsnWidth::Four => out.extend_from_slice(&asn.to_be_bytes()),
                    AsnWidth::Two => out.extend_from_slice(&two_octet(asn).to_be_bytes()),
                }
            }
        }
    }
}

/// An ASN as a 2-octet field carries it (RFC 6793 4.2.2).
pub fn two_octet(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS)
}

fn is_confed(seg: &AsSegment) -> bool {
    matches!(seg, AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_))
}

fn asns(seg: &AsSegment) -> &[u32] {
    match seg {
        AsSegment::Sequence(v) | AsSegment::Set(v) | AsSegment::ConfedSequence(v) | AsSegment::ConfedSet(v) => v,
    }
}

pub fn has_confed(path: &AsPath) -> bool {
    path.segments.iter().any(is_confed)
}

/// The AS4_PATH to send beside a 2-octet AS_PATH, if the path holds an ASN
/// that does not fit in 2 octets. Confederation segments never go in it
/// (RFC 6793 3).
pub fn as4_path_for(path: &AsPath) -> Option<AsPath> {
    let needed = path
        .segments
        .iter()
        .filter(|s| !is_confed(s))
        .any(|s| asns(s).iter().any(|&asn| asn > u32::from(u16::MAX)));
    needed.then(|| without_confed(path))
}

/// `path` without its confederation segments, which RFC 6793 6 says to
/// discard from a received AS4_PATH.
pub fn without_confed(path: &AsPath) -> AsPath {
    AsPath {
        segments: path.segments.iter().filter(|s| !is_confed(s)).cloned().collect(),
    }
}

/// The path from a 2-octet AS_PATH and an AS4_PATH (RFC 6793 4.2.3): as
/// many leading ASNs of AS_PATH as it has more than AS4_PATH, then AS4_PATH.
/// Counting is RFC 4271 9.1.2.2's (a set is one, confederation segments
/// none); leading confederation segments are kept. `None` when AS_PATH is
/// the shorter: RFC 6793 says to ignore AS4_PATH then.
pub fn reconcile(as_path: &AsPath, as4_path: &AsPath) -> Option<AsPath> {
    let mut need = as_path.len().checked_sub(as4_path.len())?;
    let mut segments = Vec::new();
    let mut took_asns = false;
    for seg in &as_path.segments {
        if need == 0 && (took_asns || !is_confed(seg)) {
            break;
        }
        match seg {
            AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => segments.push(seg.clone()),
            AsSegment::Set(_) => {
                segments.push(seg.clone());
                need -= 1;
                took_asns = true;
            }
            AsSegment::Sequence(v) => {
                let take = need.min(v.len());
                if take > 0 {
                    segments.push(AsSegment::Sequence(v[..take].to_vec()));
                    need -= take;
                    took_asns = true;
                }
            }
        }
    }
    let mut rest = as4_path.segments.iter().cloned();
    // The leading part and AS4_PATH usually meet inside one sequence.
    if let (Some(AsSegment::Sequence(head)), Some(AsSegment::Sequence(_))) =
        (segments.last_mut(), as4_path.segments.first())
        && let Some(AsSegment::Sequence(first)) = rest.next()
    {
        head.extend(first);
    }
    segments.extend(rest);
    Some(AsPath { segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(v: &[u32]) -> AsSegment {
        AsSegment::Sequence(v.to_vec())
    }

    fn path(segments: Vec<AsSegment>) -> AsPath {
        AsPath { segments }
    }

    #[test]
    fn reconcile_takes_the_leading_asns_the_as4_path_lacks() {
        // 65010 (2-octet only) prepended to a path that left 4200000002.
        let as_path = path(vec![seq(&[65010, 23456, 65001])]);
        let as4 = path(vec![seq(&[4_200_000_002, 65001])]);
        assert_eq!(
            reconcile(&as_path, &as4),
            Some(path(vec![seq(&[65010, 4_200_000_002, 65001])]))
        );
    }

    #[test]
    fn reconcile_counts_a_set_as_one_and_keeps_leading_confed_segments() {
        let as_path = path(vec![
            AsSegment::ConfedSequence(vec![64512]),
            AsSegment::Set(vec![1, 2, 3]),
            seq(&[23456]),
        ]);
        let as4 = path(vec![seq(&[4_200_000_002])]);
        assert_eq!(
            reconcile(&as_path, &as4),
            Some(path(vec![
                AsSegment::ConfedSequence(vec![64512]),
                AsSegment::Set(vec![1, 2, 3]),
                seq(&[4_200_000_002]),
            ]))
        );
    }

    #[test]
    fn reconcile_ignores_an_as4_path_longer_than_the_as_path() {
        let as_path = path(vec![seq(&[23456])]);
        let as4 = path(vec![seq(&[4_200_000_002, 65001])]);
        assert_eq!(reconcile(&as_path, &as4), None);
    }

    #[test]
    fn long_sequences_split_at_255_and_read_back_as_two_segments() {
        let asns: Vec<u32> = (1..=300).collect();
        let mut out = Vec::new();
        write(&mut out, &path(vec![seq(&asns)]), AsnWidth::Four);
        assert_eq!(out.len(), 2 + 255 * 4 + 2 + 45 * 4);
        let back = read(&out, AsnWidth::Four).expect("well-formed");
        assert_eq!(back, path(vec![seq(&asns[..255]), seq(&asns[255..])]));
    }

    #[test]
    fn two_octet_paths_carry_as_trans_for_big_asns() {
        let p = path(vec![seq(&[65001, 4_200_000_002])]);
        let mut out = Vec::new();
        write(&mut out, &p, AsnWidth::Two);
        assert_eq!(out, [2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
        assert_eq!(as4_path_for(&p), Some(p.clone()));
        assert_eq!(as4_path_for(&path(vec![seq(&[65001])])), None);
    }
}
