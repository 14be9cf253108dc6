//! rtnetlink nexthop messages (RTM_NEWNEXTHOP and co., linux/nexthop.h),
//! encoded and read by hand: `netlink-packet-route` 0.34 has none. Pure,
//! so the exact bytes are unit-tested without root.

use std::net::Ipv6Addr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST};

use super::frame::{self, Frame, HEADER_LEN, align, read_u16, read_u32};
use super::message::RTPROT_NDBGP;
use super::nexthop::{Body, KernelNexthop, NhOp};
use super::types::FibNextHop;

pub(crate) const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;
const RTM_GETNEXTHOP: u16 = 106;

const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_GROUP_TYPE: u16 = 3;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
/// Attributes of forms we never make: blackhole, encapsulation, a
/// master device, fdb, resilient groups.
const NHA_FOREIGN: [u16; 6] = [4, 7, 8, 10, 11, 12];

const AF_UNSPEC: u8 = libc::AF_UNSPEC as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
/// struct nhmsg: family, scope, protocol, reserved, flags (u32).
const NHMSG_LEN: usize = 8;
/// struct nexthop_grp: id (u32), weight - 1 (u8), weight_high (u8), reserved (u16).
const GROUP_ENTRY_LEN: usize = 8;

fn nhmsg(body: &mut Vec<u8>, family: u8, protocol: u8) {
    body.extend_from_slice(&[family, 0, protocol, 0]);
    body.extend_from_slice(&0u32.to_ne_bytes());
}

fn attr(body: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    body.extend_from_slice(&(len as u16).to_ne_bytes());
    body.extend_from_slice(&kind.to_ne_bytes());
    body.extend_from_slice(value);
    body.resize(body.len() - len + align(len), 0);
}

/// Append the request `op` as message `seq`.
pub(crate) fn push_request(buf: &mut Vec<u8>, op: &NhOp, seq: u32) {
    let mut body = Vec::with_capacity(64);
    let (kind, flags) = match op {
        NhOp::Create { id, body: what, .. } | NhOp::Replace { id, body: what, .. } => {
            let family = match what {
                Body::Leaf(_) => AF_INET6,
                _ => AF_UNSPEC,
            };
            nhmsg(&mut body, family, RTPROT_NDBGP);
            attr(&mut body, NHA_ID, &id.to_ne_bytes());
            match what {
                Body::Leaf(nh) => {
                    attr(&mut body, NHA_OIF, &nh.ifindex.to_ne_bytes());
                    attr(&mut body, NHA_GATEWAY, &nh.via.octets());
                }
                Body::Group(members) => {
                    let mut entries = Vec::with_capacity(members.len() * GROUP_ENTRY_LEN);
                    for member in members {
                        entries.extend_from_slice(&member.to_ne_bytes());
                        entries.extend_from_slice(&[0; 4]);
                    }
                    attr(&mut body, NHA_GROUP, &entries);
                }
                // Never planned.
                Body::Other => {}
            }
            let how = match op {
                NhOp::Create { .. } => NLM_F_EXCL,
                _ => NLM_F_REPLACE,
            };
            (RTM_NEWNEXTHOP, NLM_F_REQUEST | NLM_F_CREATE | how)
        }
        NhOp::Delete { id } => {
            nhmsg(&mut body, AF_UNSPEC, 0);
            attr(&mut body, NHA_ID, &id.to_ne_bytes());
            (RTM_DELNEXTHOP, NLM_F_REQUEST)
        }
    };
    frame::push_raw(buf, kind, flags, seq, &body);
}

/// Append a dump request for every nexthop object (a strict dump wants an
/// all-zero header; the protocol is filtered on our side).
pub(crate) fn push_dump(buf: &mut Vec<u8>, seq: u32) {
    let mut body = Vec::with_capacity(NHMSG_LEN);
    nhmsg(&mut body, AF_UNSPEC, 0);
    frame::push_raw(buf, RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, seq, &body);
}

/// An object from a dumped RTM_NEWNEXTHOP; None if malformed or without
/// an id.
pub(crate) fn nexthop_from_frame(f: &Frame<'_>) -> Option<KernelNexthop> {
    if f.kind != RTM_NEWNEXTHOP {
        return None;
    }
    let header = f.bytes.get(HEADER_LEN..HEADER_LEN + NHMSG_LEN)?;
    let (family, protocol) = (header[0], header[2]);
    let mut attrs = f.bytes.get(HEADER_LEN + NHMSG_LEN..)?;
    let (mut id, mut oif, mut gateway, mut group, mut foreign) = (None, None, None, None, false);
    while attrs.len() >= 4 {
        let len = read_u16(attrs, 0)? as usize;
        let kind = read_u16(attrs, 2)? & 0x3fff;
        let value = attrs.get(4..len)?;
        match kind {
            NHA_ID => id = read_u32(value, 0),
            NHA_OIF => oif = read_u32(value, 0),
            NHA_GATEWAY => match <[u8; 16]>::try_from(value) {
                Ok(octets) if family == AF_INET6 => gateway = Some(Ipv6Addr::from(octets)),
                _ => foreign = true,
            },
            NHA_GROUP => group = Some(group_members(value)),
            // 0: NEXTHOP_GRP_TYPE_MPATH, what we make.
            NHA_GROUP_TYPE => foreign |= read_u16(value, 0) != Some(0),
            k if NHA_FOREIGN.contains(&k) => foreign = true,
            _ => {}
        }
        attrs = attrs.get(align(len)..).unwrap_or_default();
    }
    let body = match (group, oif, gateway) {
        _ if foreign => Body::Other,
        (Some(Some(members)), None, None) => Body::Group(members),
        (None, Some(ifindex), Some(via)) if ifindex != 0 => Body::Leaf(FibNextHop { ifindex, via }),
        _ => Body::Other,
    };
    Some(KernelNexthop {
        id: id?,
        protocol,
        body,
    })
}

/// The members of an NHA_GROUP; None if one has a weight other than 1.
fn group_members(value: &[u8]) -> Option<Vec<u32>> {
    value
        .chunks(GROUP_ENTRY_LEN)
        .map(|entry| match entry {
            [a, b, c, d, 0, 0, _, _] => Some(u32::from_ne_bytes([*a, *b, *c, *d])),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_util::{nh, set};
    use super::*;

    fn one(op: &NhOp) -> Vec<u8> {
        let mut buf = Vec::new();
        push_request(&mut buf, op, 7);
        buf
    }

    /// A request read back as if the kernel dumped it.
    fn read_back(op: &NhOp) -> KernelNexthop {
        let buf = one(op);
        let (frames, cut) = frame::split(&buf);
        assert!(!cut);
        nexthop_from_frame(&frames[0]).expect("an object")
    }

    #[test]
    fn leaf_bytes() {
        let op = NhOp::Create {
            id: 0x6e64_0001,
            set: set(&[nh(3, "fe80::1")]),
            body: Body::Leaf(nh(3, "fe80::1")),
        };
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // nlmsghdr: length 60, RTM_NEWNEXTHOP, REQUEST|CREATE|EXCL, seq 7, port 0
            &60u32.to_ne_bytes()[..], &104u16.to_ne_bytes(), &0x0601u16.to_ne_bytes(),
            &7u32.to_ne_bytes(), &0u32.to_ne_bytes(),
            // nhmsg: AF_INET6, scope 0, protocol ndbgp, reserved, flags
            &[10, 0, RTPROT_NDBGP, 0], &0u32.to_ne_bytes(),
            // NHA_ID, NHA_OIF 3, NHA_GATEWAY fe80::1
            &8u16.to_ne_bytes(), &1u16.to_ne_bytes(), &0x6e64_0001u32.to_ne_bytes(),
            &8u16.to_ne_bytes(), &5u16.to_ne_bytes(), &3u32.to_ne_bytes(),
            &20u16.to_ne_bytes(), &6u16.to_ne_bytes(),
            &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ]
        .concat();
        assert_eq!(one(&op), expected);
    }

    #[test]
    fn group_replace_and_delete_bytes() {
        let op = NhOp::Replace {
            id: 9,
            set: set(&[nh(1, "fe80::1"), nh(2, "fe80::2")]),
            body: Body::Group(vec![5, 6]),
        };
        let buf = one(&op);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), RTM_NEWNEXTHOP);
        assert_eq!(
            u16::from_ne_bytes([buf[6], buf[7]]),
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE
        );
        assert_eq!(buf[16], 0, "AF_UNSPEC");
        // NHA_GROUP: two struct nexthop_grp, weight 1 (0 on the wire).
        #[rustfmt::skip]
        let group: Vec<u8> = [
            &20u16.to_ne_bytes()[..], &2u16.to_ne_bytes(),
            &5u32.to_ne_bytes(), &[0; 4], &6u32.to_ne_bytes(), &[0; 4],
        ]
        .concat();
        assert!(buf.ends_with(&group));
        let delete = one(&NhOp::Delete { id: 9 });
        assert_eq!(delete.len(), 16 + 8 + 8);
        assert_eq!(u16::from_ne_bytes([delete[4], delete[5]]), 105);
        assert_eq!(u16::from_ne_bytes([delete[6], delete[7]]), NLM_F_REQUEST);
    }

    #[test]
    fn requests_read_back_as_the_objects_they_make() {
        let a = nh(3, "fe80::1");
        let leaf = read_back(&NhOp::Create {
            id: 5,
            set: set(&[a]),
            body: Body::Leaf(a),
        });
        assert_eq!(
            leaf,
            KernelNexthop {
                id: 5,
                protocol: RTPROT_NDBGP,
                body: Body::Leaf(a)
            }
        );
        let group = read_back(&NhOp::Create {
            id: 6,
            set: Arc::from([a, nh(4, "fe80::2")]),
            body: Body::Group(vec![5, 8]),
        });
        assert_eq!(group.body, Body::Group(vec![5, 8]));
    }

    #[test]
    fn other_forms_are_not_ours_to_reuse() {
        let mut buf = Vec::new();
        let mut body = Vec::new();
        nhmsg(&mut body, libc::AF_INET as u8, RTPROT_NDBGP);
        attr(&mut body, NHA_ID, &3u32.to_ne_bytes());
        attr(&mut body, NHA_OIF, &3u32.to_ne_bytes());
        attr(&mut body, NHA_GATEWAY, &[192, 0, 2, 1]);
        frame::push_raw(&mut buf, RTM_NEWNEXTHOP, 0, 1, &body);
        let (frames, _) = frame::split(&buf);
        assert_eq!(
            nexthop_from_frame(&frames[0]).map(|n| n.body),
            Some(Body::Other),
            "IPv4 gateway"
        );

        let mut body = Vec::new();
        nhmsg(&mut body, AF_UNSPEC, 186);
        attr(&mut body, NHA_ID, &4u32.to_ne_bytes());
        attr(&mut body, 4, &[]);
        buf.clear();
        frame::push_raw(&mut buf, RTM_NEWNEXTHOP, 0, 1, &body);
        let (frames, _) = frame::split(&buf);
        let blackhole = nexthop_from_frame(&frames[0]).expect("parsed");
        assert_eq!((blackhole.protocol, blackhole.body), (186, Body::Other));

        // A weighted group is not one we make.
        assert_eq!(group_members(&[5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0]), None);
        assert_eq!(group_members(&5u32.to_ne_bytes()), None, "short entry");
    }

    #[test]
    fn dump_request_has_an_all_zero_header() {
        let mut buf = Vec::new();
        push_dump(&mut buf, 3);
        assert_eq!(buf.len(), 24);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), RTM_GETNEXTHOP);
        assert_eq!(u16::from_ne_bytes([buf[6], buf[7]]), NLM_F_REQUEST | NLM_F_DUMP);
        assert!(buf[16..].iter().all(|b| *b == 0));
    }
}
