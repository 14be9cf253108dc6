//! ICMPv6 echo (RFC 4443 4.1, 4.2) as a discovery probe: the request we send
//! to all-nodes and the replies we take as answers to it.
//!
//! Every IPv6 node answers an echo request to ff02::1 from its link-local
//! (Linux unless `net.ipv6.icmp.echo_ignore_multicast` is set), so a
//! neighbour that sends no RA and has not spoken since its link came up
//! still shows itself. The kernel fills in the checksum on send and checks
//! it on receive, as for ND.

/// ICMPv6 message types (RFC 4443 4.1, 4.2).
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;

/// What our probes carry: a reply echoes it, so a reply to another
/// program's ping on this host is not taken for an answer to us.
pub const PROBE_PAYLOAD: &[u8] = b"ndbgpd neighbour probe";

/// Type, code, checksum, identifier, sequence number.
const HEADER_LEN: usize = 8;

/// An echo request with our identifier and payload.
pub fn build_request(identifier: u16, sequence: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + PROBE_PAYLOAD.len());
    out.extend_from_slice(&[ECHO_REQUEST, 0, 0, 0]);
    out.extend_from_slice(&identifier.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(PROBE_PAYLOAD);
    out
}

/// True for an echo reply to one of our probes: type 129, code 0, our
/// identifier and our payload echoed back.
pub fn is_reply_to_probe(icmp: &[u8], identifier: u16) -> bool {
    let Some((header, payload)) = icmp.split_at_checked(HEADER_LEN) else {
        return false;
    };
    header[0] == ECHO_REPLY && header[1] == 0 && header[4..6] == identifier.to_be_bytes() && payload == PROBE_PAYLOAD
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel answers: the request with type 129 (checksum left
    /// as is here; the kernel checked it).
    fn reply_to(request: &[u8]) -> Vec<u8> {
        let mut reply = request.to_vec();
        reply[0] = ECHO_REPLY;
        reply
    }

    #[test]
    fn request_layout() {
        let req = build_request(0x1234, 7);
        assert_eq!(&req[..8], &[128, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert_eq!(&req[8..], PROBE_PAYLOAD);
    }

    #[test]
    fn only_a_reply_to_our_probe_is_an_answer() {
        let req = build_request(0x1234, 7);
        assert!(is_reply_to_probe(&reply_to(&req), 0x1234));
        // The request itself (type 128), another identifier, another
        // program's payload, a non-zero code, a truncated reply.
        assert!(!is_reply_to_probe(&req, 0x1234));
        assert!(!is_reply_to_probe(&reply_to(&req), 0x1235));
        let mut ping = reply_to(&build_request(0x1234, 1));
        ping.truncate(8);
        ping.extend_from_slice(b"abcdefgh");
        assert!(!is_reply_to_probe(&ping, 0x1234));
        let mut coded = reply_to(&req);
        coded[1] = 1;
        assert!(!is_reply_to_probe(&coded, 0x1234));
        assert!(!is_reply_to_probe(&reply_to(&req)[..7], 0x1234));
        assert!(!is_reply_to_probe(&[], 0x1234));
    }
}
