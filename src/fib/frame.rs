//! Netlink framing for the FIB socket, pure: many requests packed into one
//! datagram, received datagrams split back into messages, and the error
//! code and extended-ack text read out of NLMSG_ERROR replies.
//!
//! Requests go without NLM_F_ACK (the kernel answers only failures) and a
//! batch ends with an acknowledged NLMSG_NOOP: the kernel handles the
//! messages of a datagram in order, so that ack means every earlier request
//! has been handled and its error, if any, is already queued.

use std::fmt;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;

/// struct nlmsghdr.
pub(crate) const HEADER_LEN: usize = 16;
/// NLMSGERR_ATTR_MSG: the extended ack's human-readable text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Netlink messages are padded to 4 bytes.
pub(crate) fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Append `msg` to `buf` with the given flags and sequence number.
pub(crate) fn push(buf: &mut Vec<u8>, msg: RouteNetlinkMessage, flags: u16, seq: u32) {
    let mut msg = NetlinkMessage::from(msg);
    msg.header.flags = flags;
    push_message(buf, msg, seq);
}

/// Append a message of `kind` whose body (after the netlink header) the
/// caller encoded: for the messages `netlink-packet-route` lacks.
pub(crate) fn push_raw(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, body: &[u8]) {
    let len = HEADER_LEN + body.len();
    let start = buf.len();
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(body);
    buf.resize(start + align(len), 0);
}

/// Append an acknowledged NLMSG_NOOP: its ack marks the end of a batch.
pub(crate) fn push_barrier(buf: &mut Vec<u8>, seq: u32) {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    push_message(buf, NetlinkMessage::new(header, NetlinkPayload::Noop), seq);
}

fn push_message(buf: &mut Vec<u8>, mut msg: NetlinkMessage<RouteNetlinkMessage>, seq: u32) {
    msg.header.sequence_number = seq;
    msg.finalize();
    let start = buf.len();
    let len = msg.buffer_len();
    buf.resize(start + align(len), 0);
    msg.serialize(&mut buf[start..start + len]);
}

/// One message of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    /// The whole message, header included.
    pub bytes: &'a [u8],
}

/// The messages of one datagram, and whether its tail was malformed (a
/// length that does not fit: whatever followed is lost).
pub(crate) fn split(datagram: &[u8]) -> (Vec<Frame<'_>>, bool) {
    let mut frames = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let Some(len) = read_u32(rest, 0).map(|l| l as usize) else {
            return (frames, true);
        };
        if len < HEADER_LEN || len > rest.len() {
            return (frames, true);
        }
        let (Some(kind), Some(flags), Some(seq)) = (read_u16(rest, 4), read_u16(rest, 6), read_u32(rest, 8)) else {
            return (frames, true);
        };
        frames.push(Frame {
            kind,
            flags,
            seq,
            bytes: &rest[..len],
        });
        rest = rest.get(align(len)..).unwrap_or_default();
    }
    (frames, false)
}

/// A request the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelError {
    /// A positive errno.
    pub errno: i32,
    /// The extended ack's text ("Nexthop device is not up"), if any.
    pub message: Option<String>,
}

impl KernelError {
    /// Failures that come from a link being down or gone, which a fresh
    /// look at the links can avoid.
    pub fn is_link_problem(&self) -> bool {
        matches!(self.errno, libc::ENETDOWN | libc::ENETUNREACH | libc::ENODEV)
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.errno))?;
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

/// The outcome an NLMSG_ERROR frame reports: None for an ack (code 0) or a
/// frame too short to hold a code.
pub(crate) fn error_of(frame: &Frame<'_>) -> Option<KernelError> {
    let code = read_u32(frame.bytes, HEADER_LEN)? as i32;
    if code == 0 {
        return None;
    }
    Some(KernelError {
        errno: code.saturating_abs(),
        message: ack_message(frame),
    })
}

/// The error an NLMSG_DONE carries when a dump failed part way.
pub(crate) fn done_error(frame: &Frame<'_>) -> Option<KernelError> {
    let code = read_u32(frame.bytes, HEADER_LEN)? as i32;
    (code < 0).then(|| KernelError {
        errno: code.saturating_abs(),
        message: None,
    })
}

/// NLMSGERR_ATTR_MSG from the TLVs that follow the echoed request (the
/// header alone when NLM_F_CAPPED, the whole request otherwise).
fn ack_message(frame: &Frame<'_>) -> Option<String> {
    if frame.flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = if frame.flags & NLM_F_CAPPED != 0 {
        HEADER_LEN
    } else {
        read_u32(frame.bytes, HEADER_LEN + 4)? as usize
    };
    let mut tlvs = frame.bytes.get(HEADER_LEN + 4 + align(echoed.max(HEADER_LEN))..)?;
    while tlvs.len() >= 4 {
        let len = read_u16(tlvs, 0)? as usize;
        let kind = read_u16(tlvs, 2)? & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &tlvs[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        tlvs = tlvs.get(align(len)..).unwrap_or_default();
    }
    None
}

pub(crate) fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{NLMSG_ERROR, NLMSG_NOOP};

    use super::*;

    /// An NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK and
    /// NETLINK_EXT_ACK set.
    fn capped_error(seq: u32, code: i32, text: Option<&str>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&code.to_ne_bytes());
        // The echoed request header: length 76, RTM_NEWROUTE, same seq.
        body.extend_from_slice(&76u32.to_ne_bytes());
        body.extend_from_slice(&24u16.to_ne_bytes());
        body.extend_from_slice(&0x0501u16.to_ne_bytes());
        body.extend_from_slice(&seq.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        let mut flags = NLM_F_CAPPED;
        if let Some(text) = text {
            flags |= NLM_F_ACK_TLVS;
            let value_len = text.len() + 1;
            body.extend_from_slice(&((4 + value_len) as u16).to_ne_bytes());
            body.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            body.extend_from_slice(text.as_bytes());
            body.push(0);
            body.resize(align(body.len()), 0);
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&1234u32.to_ne_bytes());
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn barrier_is_an_acked_noop_header() {
        let mut buf = Vec::new();
        push_barrier(&mut buf, 7);
        let (frames, bad) = split(&buf);
        assert!(!bad);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].kind, NLMSG_NOOP);
        assert_eq!(frames[0].flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(frames[0].seq, 7);
        assert_eq!(frames[0].bytes.len(), HEADER_LEN);
    }

    #[test]
    fn split_walks_padded_messages_and_flags_a_bad_tail() {
        let mut datagram = capped_error(1, -libc::ENETDOWN, Some("Nexthop device is not up"));
        datagram.extend(capped_error(2, 0, None));
        let (frames, bad) = split(&datagram);
        assert!(!bad);
        assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 2]);

        datagram.extend_from_slice(&[200, 0, 0, 0, 1, 2]);
        let (frames, bad) = split(&datagram);
        assert!(bad);
        assert_eq!(frames.len(), 2);
        assert!(split(&[]).0.is_empty());
    }

    #[test]
    fn error_code_and_extended_ack_text() {
        let bytes = capped_error(9, -libc::ENETDOWN, Some("Nexthop device is not up"));
        let (frames, _) = split(&bytes);
        let err = error_of(&frames[0]).expect("an error");
        assert_eq!(err.errno, libc::ENETDOWN);
        assert_eq!(err.message.as_deref(), Some("Nexthop device is not up"));
        assert!(err.is_link_problem());
        assert!(err.to_string().contains("Nexthop device is not up"), "{err}");

        let bytes = capped_error(9, -libc::EEXIST, None);
        let err = error_of(&split(&bytes).0[0]).expect("an error");
        assert_eq!(err.errno, libc::EEXIST);
        assert_eq!(err.message, None);
        assert!(!err.is_link_problem());

        let ack = capped_error(9, 0, None);
        assert_eq!(error_of(&split(&ack).0[0]), None);
    }
}
