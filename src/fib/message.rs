//! Pure conversions between our FIB routes and rtnetlink messages: the
//! requests the FIB sends (replace, delete, dumps) and what it reads back
//! from dumps (our routes, the links' admin state). No I/O, so the exact
//! messages are unit-tested without root.
//!
//! IPv4 prefixes go `via inet6 fe80::x dev IF` (RTA_VIA with AF_INET6, RFC
//! 8950 style), IPv6 prefixes via the link-local as RTA_GATEWAY; ECMP is
//! one route whose RTA_MULTIPATH holds one rtnexthop per path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop, RouteProtocol, RouteScope,
    RouteType, RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::frame;
use super::types::FibNextHop;

/// The protocol (rtm_protocol) of every route we install, and the only one
/// we ever dump, replace or remove: ours alone. Not RTPROT_BGP (186): FRR's
/// zebra installs its BGP routes with it, and BIRD may too. FRR takes
/// 186-198, BIRD 12, the kernel's own list stops at 192; 201 is free.
/// `packaging/rt_protos.d/ndbgp.conf` names it for `ip route`.
pub const RTPROT_NDBGP: u8 = 201;

/// Where our routes go in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub table: u32,
    pub metric: u32,
}

/// RT_SCOPE_NOWHERE: in a delete request, "any scope".
const SCOPE_ANY: u8 = 255;

fn family_of(prefix: &IpNet) -> AddressFamily {
    match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

/// rtm_table holds 8 bits; a larger table id goes in RTA_TABLE alone.
fn table_in_header(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC)
}

fn header(family: AddressFamily, prefix_len: u8, table: u32) -> RouteHeader {
    RouteHeader {
        address_family: family,
        destination_prefix_length: prefix_len,
        table: table_in_header(table),
        protocol: RouteProtocol::from(RTPROT_NDBGP),
        scope: RouteScope::Universe,
        kind: RouteType::Unicast,
        ..RouteHeader::default()
    }
}

/// RTA_DST, left out for a default route as iproute2 does.
fn destination(prefix: &IpNet) -> Option<RouteAttribute> {
    (prefix.prefix_len() > 0).then(|| RouteAttribute::Destination(RouteAddress::from(prefix.network())))
}

/// The gateway attribute of one nexthop: RTA_VIA (AF_INET6) for an IPv4
/// route, RTA_GATEWAY for an IPv6 one.
fn gateway(family: AddressFamily, via: Ipv6Addr) -> RouteAttribute {
    if family == AddressFamily::Inet {
        RouteAttribute::Via(RouteVia::Inet6(via))
    } else {
        RouteAttribute::Gateway(RouteAddress::Inet6(via))
    }
}

/// RTM_NEWROUTE for `prefix` through nexthop object `object` (RTA_NH_ID)
/// or, without one, through `nexthops` inline (at least one; more make one
/// multipath route). Sent with NLM_F_CREATE | NLM_F_REPLACE or NLM_F_EXCL.
pub(crate) fn replace_request(
    prefix: IpNet,
    nexthops: &[FibNextHop],
    object: Option<u32>,
    at: Placement,
) -> RouteNetlinkMessage {
    let family = family_of(&prefix);
    let mut msg = RouteMessage::default();
    msg.header = header(family, prefix.prefix_len(), at.table);
    msg.attributes.extend(destination(&prefix));
    msg.attributes.push(RouteAttribute::Table(at.table));
    msg.attributes.push(RouteAttribute::Priority(at.metric));
    if let Some(id) = object {
        msg.attributes.push(RouteAttribute::NhId(id));
        return RouteNetlinkMessage::NewRoute(msg);
    }
    match nexthops {
        [one] => {
            msg.attributes.push(gateway(family, one.via));
            msg.attributes.push(RouteAttribute::Oif(one.ifindex));
        }
        many => {
            let paths = many
                .iter()
                .map(|nh| {
                    let mut path = RouteNextHop::default();
                    path.interface_index = nh.ifindex;
                    path.attributes = vec![gateway(family, nh.via)];
                    path
                })
                .collect();
            msg.attributes.push(RouteAttribute::MultiPath(paths));
        }
    }
    RouteNetlinkMessage::NewRoute(msg)
}

/// What [`push_short`] encodes: a route through an object, or a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Short {
    /// RTM_NEWROUTE through nexthop object N, as [`replace_request`].
    NewVia(u32),
    /// RTM_DELROUTE, as [`delete_request`].
    Delete,
}

const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTA_DST: u16 = 1;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
const RTA_NH_ID: u16 = 30;

/// Append the request `what` for `prefix` at `at` as message `seq` with
/// `flags`: the bytes `replace_request` (with an object) or
/// `delete_request` give, written directly. A full table sends a million
/// of them; building each as a `RouteMessage` first cost more than the
/// kernel's parsing of it.
pub(crate) fn push_short(out: &mut Vec<u8>, what: Short, prefix: IpNet, at: Placement, flags: u16, seq: u32) {
    // struct rtmsg, then attributes of 4-byte aligned payloads: at most
    // 12 + 20 + 8 + 8 + 8 bytes.
    let mut body = [0u8; 56];
    let (family, kind, scope, route_type) = match what {
        Short::NewVia(_) => (
            u8::from(family_of(&prefix)),
            RTM_NEWROUTE,
            u8::from(RouteScope::Universe),
            u8::from(RouteType::Unicast),
        ),
        Short::Delete => (
            u8::from(family_of(&prefix)),
            RTM_DELROUTE,
            SCOPE_ANY,
            u8::from(RouteType::Unspec),
        ),
    };
    body[..8].copy_from_slice(&[
        family,
        prefix.prefix_len(),
        0,
        0,
        table_in_header(at.table),
        RTPROT_NDBGP,
        scope,
        route_type,
    ]);
    // rtm_flags (4 bytes) stay 0.
    let mut len = 12;
    let mut attribute = |kind: u16, value: &[u8]| {
        let rta_len = 4 + value.len();
        body[len..len + 2].copy_from_slice(&(rta_len as u16).to_ne_bytes());
        body[len + 2..len + 4].copy_from_slice(&kind.to_ne_bytes());
        body[len + 4..len + rta_len].copy_from_slice(value);
        len += rta_len;
    };
    match prefix {
        IpNet::V4(p) if p.prefix_len() > 0 => attribute(RTA_DST, &p.network().octets()),
        IpNet::V6(p) if p.prefix_len() > 0 => attribute(RTA_DST, &p.network().octets()),
        _ => {}
    }
    attribute(RTA_TABLE, &at.table.to_ne_bytes());
    attribute(RTA_PRIORITY, &at.metric.to_ne_bytes());
    if let Short::NewVia(id) = what {
        attribute(RTA_NH_ID, &id.to_ne_bytes());
    }
    frame::push_raw(out, kind, flags, seq, &body[..len]);
}

/// RTM_DELROUTE for our route to `prefix` with `metric`: only a route of
/// our protocol matches (the kernel compares rtm_protocol), of any scope
/// and type, whatever its nexthops.
/// (The reference `push_short` is checked against.)
#[cfg(test)]
pub(crate) fn delete_request(prefix: IpNet, table: u32, metric: u32) -> RouteNetlinkMessage {
    let mut msg = RouteMessage::default();
    msg.header = header(family_of(&prefix), prefix.prefix_len(), table);
    msg.header.scope = RouteScope::from(SCOPE_ANY);
    msg.header.kind = RouteType::Unspec;
    msg.attributes.extend(destination(&prefix));
    msg.attributes.push(RouteAttribute::Table(table));
    msg.attributes.push(RouteAttribute::Priority(metric));
    RouteNetlinkMessage::DelRoute(msg)
}

/// RTM_GETROUTE dump of one family. With NETLINK_GET_STRICT_CHK the
/// kernel itself keeps only our protocol in `table`; `ours_from_msg`
/// checks again.
pub(crate) fn dump_request(ipv6: bool, table: u32) -> RouteNetlinkMessage {
    let family = if ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let mut msg = RouteMessage::default();
    msg.header = header(family, 0, table);
    msg.header.kind = RouteType::Unspec;
    if table_in_header(table) == RouteHeader::RT_TABLE_UNSPEC {
        msg.attributes.push(RouteAttribute::Table(table));
    }
    RouteNetlinkMessage::GetRoute(msg)
}

/// RTM_GETLINK dump of every link.
pub(crate) fn link_dump_request() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetLink(LinkMessage::default())
}

/// One of our routes as a dump shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelRoute {
    pub prefix: IpNet,
    pub metric: u32,
    /// The nexthops in our form, sorted, dead ones included (see
    /// `multipath_paths`). Empty when none is live, or
    /// when the route has a form we never install (another route type, a
    /// gateway that is not an IPv6 address, a source prefix...): either
    /// way it differs from any route we want, so it gets replaced or
    /// deleted. Empty too when the route refers to a nexthop object.
    pub nexthops: Vec<FibNextHop>,
    /// The nexthop object it refers to (RTA_NH_ID): its next hops are the
    /// object's (see `nexthop`).
    pub object: Option<u32>,
}

/// Our route (our protocol, in `table`) from a dumped RTM_NEWROUTE; None
/// for anything else, which we must never touch.
pub(crate) fn ours_from_msg(msg: &RouteMessage, table: u32) -> Option<KernelRoute> {
    let h = &msg.header;
    if u8::from(h.protocol) != RTPROT_NDBGP || h.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let ipv6 = match h.address_family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return None,
    };
    let mut route_table = u32::from(h.table);
    let mut dst: IpAddr = if ipv6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let mut metric = 0;
    let mut single = PathParts::default();
    let mut multipath = None;
    let mut object = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::NhId(id) => object = Some(*id),
            RouteAttribute::Table(t) => route_table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) if !ipv6 => dst = (*a).into(),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) if ipv6 => dst = (*a).into(),
            RouteAttribute::Priority(m) => metric = *m,
            RouteAttribute::MultiPath(paths) => multipath = Some(paths),
            other => single.take(other),
        }
    }
    if route_table != table {
        return None;
    }
    let prefix = IpNet::new(dst, h.destination_prefix_length).ok()?;
    let plain = h.kind == RouteType::Unicast && h.source_prefix_length == 0 && h.tos == 0;
    let nexthops = match multipath {
        // The kernel expands the object's next hops too (nexthop_compat_mode):
        // the object is what counts.
        _ if !plain || object.is_some() => Vec::new(),
        Some(paths) => multipath_paths(paths, ipv6),
        None if h.flags.contains(RouteFlags::Dead) => Vec::new(),
        None => single.nexthop(ipv6).into_iter().collect(),
    };
    Some(KernelRoute {
        prefix,
        metric,
        nexthops,
        object: object.filter(|_| plain),
    })
}

/// The paths of an RTA_MULTIPATH; empty if one has a form we never
/// install.
fn multipath_paths(paths: &[RouteNextHop], ipv6: bool) -> Vec<FibNextHop> {
    let mut nexthops = Vec::with_capacity(paths.len());
    for path in paths {
        let mut parts = PathParts {
            oif: Some(path.interface_index),
            ..PathParts::default()
        };
        for attr in &path.attributes {
            parts.take(attr);
        }
        let Some(nh) = parts.nexthop(ipv6) else {
            return Vec::new();
        };
        // A dead path stays listed: the kernel revives it on link up, before
        // the session through it is back, so the route differs from the one
        // we want and gets replaced without it.
        nexthops.push(nh);
    }
    nexthops.sort();
    nexthops
}

/// The attributes that make one path.
#[derive(Default)]
struct PathParts {
    oif: Option<u32>,
    via: Option<Ipv6Addr>,
    gateway: Option<Ipv6Addr>,
    /// A gateway we never install (IPv4, other families).
    other_gateway: bool,
}

impl PathParts {
    fn take(&mut self, attr: &RouteAttribute) {
        match attr {
            RouteAttribute::Oif(i) => self.oif = Some(*i),
            RouteAttribute::Via(RouteVia::Inet6(a)) => self.via = Some(*a),
            RouteAttribute::Gateway(RouteAddress::Inet6(a)) => self.gateway = Some(*a),
            RouteAttribute::Via(_) | RouteAttribute::Gateway(_) | RouteAttribute::Encap(_) => self.other_gateway = true,
            _ => {}
        }
    }

    /// Ours only if it is exactly what `replace_request` sends.
    fn nexthop(&self, ipv6: bool) -> Option<FibNextHop> {
        let (expected, unexpected) = if ipv6 {
            (self.gateway, self.via)
        } else {
            (self.via, self.gateway)
        };
        match (self.oif, expected, unexpected, self.other_gateway) {
            (Some(ifindex), Some(via), None, false) if ifindex != 0 => Some(FibNextHop { ifindex, via }),
            _ => None,
        }
    }
}

/// A link's admin state as a dump shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkState {
    pub ifindex: u32,
    pub name: String,
    /// IFF_UP: the kernel refuses a nexthop through a link without it
    /// (ENETDOWN) and drops IPv4 routes through a link that loses it.
    pub up: bool,
    /// IFF_LOWER_UP: a nexthop object needs it as well (the kernel refuses
    /// one on a link without carrier and flushes them when it goes).
    pub carrier: bool,
}

pub(crate) fn link_from_msg(msg: &LinkMessage) -> Option<LinkState> {
    if msg.header.interface_family != AddressFamily::Unspec || msg.header.index == 0 {
        return None;
    }
    let name = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    });
    Some(LinkState {
        ifindex: msg.header.index,
        name: name.unwrap_or_default(),
        up: msg.header.flags.contains(LinkFlags::Up),
        carrier: msg.header.flags.contains(LinkFlags::LowerUp),
    })
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{Emitable, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::route::{RouteCacheInfo, RouteNextHopFlags};

    use super::super::frame;
    use super::super::test_util::{net, nh};
    use super::*;

    const MAIN: Placement = Placement { table: 254, metric: 20 };

    fn route_msg(msg: RouteNetlinkMessage) -> RouteMessage {
        match msg {
            RouteNetlinkMessage::NewRoute(m) | RouteNetlinkMessage::DelRoute(m) | RouteNetlinkMessage::GetRoute(m) => m,
            other => panic!("not a route message: {other:?}"),
        }
    }

    /// Emit, parse back with the crate as if the kernel had sent it, and
    /// read it as ours.
    fn round_trip(msg: RouteNetlinkMessage) -> KernelRoute {
        let mut buf = Vec::new();
        frame::push(&mut buf, msg, NLM_F_REQUEST, 1);
        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf).expect("parses");
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) = parsed.payload else {
            panic!("not RTM_NEWROUTE: {parsed:?}");
        };
        ours_from_msg(&m, 254).expect("ours")
    }

    #[test]
    fn ipv4_via_inet6_bytes() {
        let msg = replace_request(net("10.0.0.0/24"), &[nh(3, "fe80::1")], None, MAIN);
        let mut buf = Vec::new();
        frame::push(&mut buf, msg, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, 0x01020304);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // nlmsghdr: length 84, RTM_NEWROUTE (24), REQUEST|REPLACE|CREATE, seq, port 0
            &84u32.to_ne_bytes()[..], &24u16.to_ne_bytes(), &0x0501u16.to_ne_bytes(),
            &0x01020304u32.to_ne_bytes(), &0u32.to_ne_bytes(),
            // rtmsg: AF_INET, /24, src 0, tos 0, table main, proto ndbgp, scope universe, unicast, flags
            &[2, 24, 0, 0, 254, RTPROT_NDBGP, 0, 1], &0u32.to_ne_bytes(),
            // RTA_DST 10.0.0.0
            &8u16.to_ne_bytes(), &1u16.to_ne_bytes(), &[10, 0, 0, 0],
            // RTA_TABLE 254
            &8u16.to_ne_bytes(), &15u16.to_ne_bytes(), &254u32.to_ne_bytes(),
            // RTA_PRIORITY 20
            &8u16.to_ne_bytes(), &6u16.to_ne_bytes(), &20u32.to_ne_bytes(),
            // RTA_VIA: struct rtvia { AF_INET6, fe80::1 }, padded to 24
            &22u16.to_ne_bytes(), &18u16.to_ne_bytes(), &10u16.to_ne_bytes(),
            &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], &[0, 0],
            // RTA_OIF 3
            &8u16.to_ne_bytes(), &4u16.to_ne_bytes(), &3u32.to_ne_bytes(),
        ]
        .concat();
        assert_eq!(buf, expected);
    }

    #[test]
    fn ipv6_uses_rta_gateway() {
        let m = route_msg(replace_request(net("2001:db8::/64"), &[nh(4, "fe80::2")], None, MAIN));
        assert_eq!(m.header.address_family, AddressFamily::Inet6);
        assert_eq!(m.header.destination_prefix_length, 64);
        assert_eq!(m.header.kind, RouteType::Unicast);
        assert_eq!(m.header.scope, RouteScope::Universe);
        assert_eq!(u8::from(m.header.protocol), RTPROT_NDBGP);
        assert_eq!(
            m.attributes,
            [
                RouteAttribute::Destination(RouteAddress::Inet6("2001:db8::".parse().expect("address"))),
                RouteAttribute::Table(254),
                RouteAttribute::Priority(20),
                RouteAttribute::Gateway(RouteAddress::Inet6("fe80::2".parse().expect("address"))),
                RouteAttribute::Oif(4),
            ]
        );
    }

    #[test]
    fn ecmp_is_one_multipath_route() {
        let m = route_msg(replace_request(
            net("10.1.0.0/16"),
            &[nh(3, "fe80::1"), nh(5, "fe80::9")],
            None,
            MAIN,
        ));
        let paths = m
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::MultiPath(p) => Some(p),
                _ => None,
            })
            .expect("RTA_MULTIPATH");
        assert_eq!(paths.len(), 2);
        assert_eq!(paths[1].interface_index, 5);
        assert_eq!(paths[1].hops, 0, "weight 1");
        assert_eq!(
            paths[1].attributes,
            [RouteAttribute::Via(RouteVia::Inet6(
                "fe80::9".parse().expect("address")
            ))]
        );
        assert!(!m.attributes.iter().any(|a| matches!(a, RouteAttribute::Oif(_))));
        // rtnexthop: length 8 + RTA_VIA 24.
        assert_eq!(paths[0].buffer_len(), 32);
    }

    #[test]
    fn requests_read_back_as_ours() {
        for (prefix, hops) in [
            ("10.0.0.0/24", vec![nh(3, "fe80::1")]),
            ("0.0.0.0/0", vec![nh(3, "fe80::1")]),
            ("2001:db8::/64", vec![nh(4, "fe80::2")]),
            ("::/0", vec![nh(4, "fe80::2")]),
            ("10.1.0.0/16", vec![nh(3, "fe80::1"), nh(5, "fe80::9")]),
            ("2001:db8:1::/48", vec![nh(3, "fe80::1"), nh(5, "fe80::9")]),
        ] {
            let back = round_trip(replace_request(net(prefix), &hops, None, MAIN));
            assert_eq!(
                back,
                KernelRoute {
                    prefix: net(prefix),
                    metric: 20,
                    nexthops: hops,
                    object: None,
                },
                "{prefix}"
            );
        }
    }

    #[test]
    fn a_route_through_an_object_carries_only_its_id() {
        let m = route_msg(replace_request(
            net("10.0.0.0/24"),
            &[nh(3, "fe80::1"), nh(4, "fe80::2")],
            Some(0x6e64_0002),
            MAIN,
        ));
        assert_eq!(
            m.attributes,
            [
                RouteAttribute::Destination(RouteAddress::Inet("10.0.0.0".parse().expect("address"))),
                RouteAttribute::Table(254),
                RouteAttribute::Priority(20),
                RouteAttribute::NhId(0x6e64_0002),
            ]
        );
        // Dumped with the object's next hops expanded (compat mode): the
        // object is what is read.
        let mut dumped = m.clone();
        dumped.attributes.push(RouteAttribute::Via(RouteVia::Inet6(
            "fe80::1".parse().expect("address"),
        )));
        dumped.attributes.push(RouteAttribute::Oif(3));
        for msg in [m, dumped] {
            let back = ours_from_msg(&msg, 254).expect("ours");
            assert_eq!((back.object, back.nexthops.len()), (Some(0x6e64_0002), 0));
        }
    }

    #[test]
    fn table_above_255_goes_in_rta_table_only() {
        let at = Placement {
            table: 1000,
            metric: 20,
        };
        let m = route_msg(replace_request(net("10.0.0.0/24"), &[nh(3, "fe80::1")], None, at));
        assert_eq!(m.header.table, 0);
        assert!(m.attributes.contains(&RouteAttribute::Table(1000)));
        assert_eq!(ours_from_msg(&m, 1000).map(|r| r.prefix), Some(net("10.0.0.0/24")));
        assert_eq!(ours_from_msg(&m, 254), None);
        let d = route_msg(dump_request(false, 1000));
        assert_eq!(d.attributes, [RouteAttribute::Table(1000)]);
        let d = route_msg(dump_request(true, 254));
        assert_eq!((d.header.table, d.attributes.len()), (254, 0));
        assert_eq!(d.header.address_family, AddressFamily::Inet6);
        assert_eq!(u8::from(d.header.protocol), RTPROT_NDBGP);
        assert_eq!(d.header.kind, RouteType::Unspec, "no type filter");
        assert_eq!(d.header.scope, RouteScope::Universe, "strict dumps want scope 0");
    }

    #[test]
    fn delete_matches_our_protocol_any_scope_and_type() {
        let m = route_msg(delete_request(net("10.0.0.0/24"), 254, 20));
        assert_eq!(u8::from(m.header.protocol), RTPROT_NDBGP);
        assert_eq!(u8::from(m.header.scope), 255);
        assert_eq!(m.header.kind, RouteType::Unspec);
        assert_eq!(
            m.attributes,
            [
                RouteAttribute::Destination(RouteAddress::Inet("10.0.0.0".parse().expect("address"))),
                RouteAttribute::Table(254),
                RouteAttribute::Priority(20),
            ]
        );
    }

    /// A route as the kernel dumps it: extra attributes, a dead path.
    fn kernel_msg(protocol: u8, table: u8, paths: Vec<RouteNextHop>) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: AddressFamily::Inet,
            destination_prefix_length: 24,
            table,
            protocol: RouteProtocol::from(protocol),
            scope: RouteScope::Universe,
            kind: RouteType::Unicast,
            ..RouteHeader::default()
        };
        m.attributes = vec![
            RouteAttribute::Table(u32::from(table)),
            RouteAttribute::Destination(RouteAddress::Inet("10.0.0.0".parse().expect("address"))),
            RouteAttribute::Priority(20),
            RouteAttribute::CacheInfo(RouteCacheInfo::parse(&[0; 32]).expect("cache info")),
            RouteAttribute::MultiPath(paths),
        ];
        m
    }

    fn path(ifindex: u32, via: &str, flags: RouteNextHopFlags) -> RouteNextHop {
        let mut p = RouteNextHop::default();
        p.interface_index = ifindex;
        p.flags = flags;
        p.attributes = vec![RouteAttribute::Via(RouteVia::Inet6(via.parse().expect("address")))];
        p
    }

    #[test]
    fn dead_paths_are_kept_and_paths_are_sorted() {
        let m = kernel_msg(
            RTPROT_NDBGP,
            254,
            vec![
                path(7, "fe80::7", RouteNextHopFlags::empty()),
                path(5, "fe80::5", RouteNextHopFlags::Dead | RouteNextHopFlags::Linkdown),
                path(3, "fe80::3", RouteNextHopFlags::Linkdown),
            ],
        );
        let r = ours_from_msg(&m, 254).expect("ours");
        assert_eq!(r.nexthops, [nh(3, "fe80::3"), nh(5, "fe80::5"), nh(7, "fe80::7")]);
    }

    #[test]
    fn other_protocols_and_tables_are_not_ours() {
        let paths = vec![path(3, "fe80::3", RouteNextHopFlags::empty())];
        assert!(ours_from_msg(&kernel_msg(RTPROT_NDBGP, 254, paths.clone()), 254).is_some());
        assert_eq!(ours_from_msg(&kernel_msg(4, 254, paths.clone()), 254), None, "static");
        assert_eq!(ours_from_msg(&kernel_msg(12, 254, paths.clone()), 254), None, "bird");
        // FRR's zebra (and any other BGP daemon using RTPROT_BGP).
        assert_eq!(ours_from_msg(&kernel_msg(186, 254, paths.clone()), 254), None, "bgp");
        assert_eq!(
            ours_from_msg(&kernel_msg(RTPROT_NDBGP, 255, paths.clone()), 254),
            None,
            "local table"
        );
        let mut cloned = kernel_msg(RTPROT_NDBGP, 254, paths);
        cloned.header.flags = RouteFlags::Cloned;
        assert_eq!(ours_from_msg(&cloned, 254), None);
    }

    #[test]
    fn forms_we_never_install_have_no_nexthops() {
        // A blackhole of our protocol (as FRR installs for aggregates).
        let mut m = kernel_msg(RTPROT_NDBGP, 254, vec![]);
        m.attributes.retain(|a| !matches!(a, RouteAttribute::MultiPath(_)));
        m.header.kind = RouteType::BlackHole;
        let r = ours_from_msg(&m, 254).expect("ours");
        assert_eq!((r.prefix, r.nexthops.len()), (net("10.0.0.0/24"), 0));
        // An IPv4 gateway.
        let mut m = kernel_msg(RTPROT_NDBGP, 254, vec![]);
        m.attributes.retain(|a| !matches!(a, RouteAttribute::MultiPath(_)));
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(
            "192.0.2.1".parse().expect("address"),
        )));
        m.attributes.push(RouteAttribute::Oif(3));
        assert_eq!(ours_from_msg(&m, 254).map(|r| r.nexthops.len()), Some(0));
        // One odd path spoils the whole multipath route.
        let mut odd = path(5, "fe80::5", RouteNextHopFlags::empty());
        odd.attributes = vec![];
        let m = kernel_msg(
            RTPROT_NDBGP,
            254,
            vec![path(3, "fe80::3", RouteNextHopFlags::empty()), odd],
        );
        assert_eq!(ours_from_msg(&m, 254).map(|r| r.nexthops.len()), Some(0));
        // A dead single path.
        let mut m = route_msg(replace_request(net("10.0.0.0/24"), &[nh(3, "fe80::1")], None, MAIN));
        m.header.flags = RouteFlags::Dead;
        assert_eq!(ours_from_msg(&m, 254).map(|r| r.nexthops.len()), Some(0));
    }

    #[test]
    fn link_admin_state() {
        let mut m = LinkMessage::default();
        m.header.index = 4;
        m.header.flags = LinkFlags::Up | LinkFlags::Broadcast;
        m.attributes = vec![LinkAttribute::IfName("swp1".into())];
        assert_eq!(
            link_from_msg(&m),
            Some(LinkState {
                ifindex: 4,
                name: "swp1".into(),
                up: true,
                carrier: false,
            })
        );
        // IFF_UP and the carrier are apart.
        m.header.flags = LinkFlags::LowerUp;
        assert_eq!(link_from_msg(&m).map(|l| (l.up, l.carrier)), Some((false, true)));
        m.header.interface_family = AddressFamily::Bridge;
        assert_eq!(link_from_msg(&m), None);
    }

    /// `push_short` writes the very bytes the crate would, for both
    /// families, a default route, a table past 255 and a delete.
    #[test]
    fn short_requests_are_the_crates_bytes() {
        let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
        let big = Placement {
            table: 1000,
            metric: 30,
        };
        for prefix in ["10.0.0.0/24", "2001:db8::/64", "0.0.0.0/0", "::/0", "192.0.2.1/32"] {
            for at in [MAIN, big] {
                let mut ours = vec![0xaa];
                push_short(&mut ours, Short::NewVia(0x6e64_0001), net(prefix), at, flags, 7);
                let mut crates = vec![0xaa];
                frame::push(
                    &mut crates,
                    replace_request(net(prefix), &[], Some(0x6e64_0001), at),
                    flags,
                    7,
                );
                assert_eq!(ours, crates, "replace {prefix} table {}", at.table);

                let mut ours = Vec::new();
                push_short(&mut ours, Short::Delete, net(prefix), at, NLM_F_REQUEST, 8);
                let mut crates = Vec::new();
                frame::push(
                    &mut crates,
                    delete_request(net(prefix), at.table, at.metric),
                    NLM_F_REQUEST,
                    8,
                );
                assert_eq!(ours, crates, "delete {prefix} table {}", at.table);
            }
        }
    }
}
