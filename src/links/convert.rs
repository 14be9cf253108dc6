//! Pure conversions from rtnetlink messages to our own types.
//!
//! Nothing here does I/O: every function takes a decoded netlink message and
//! returns a plain value, so the netlink crates' types stop at this file and
//! the rules (what counts as up, which addresses and neighbours matter) are
//! unit-tested without root.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::iface::{Mac, is_link_local, is_routable_unicast};
use crate::peers::{Observation, Source};

/// One kernel link (any link, configured or not: a rename can turn one
/// into the other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelLink {
    pub ifindex: u32,
    pub name: String,
    pub up: bool,
    pub loopback: bool,
    pub mac: Option<Mac>,
}

/// Where an address stands in duplicate address detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dad {
    /// Still being checked: not usable yet.
    Tentative,
    /// Being checked, optimistically (RFC 4429, `optimistic_dad`): usable
    /// as a source and to bind to, as the kernel allows, while DAD runs.
    Optimistic,
    /// Checked (or exempt): usable.
    Ready,
    /// Another node has it: never usable until removed and re-added.
    Failed,
}

/// One address of a kernel link that matters to us: an IPv6 link-local
/// (for `Links`) or a routable unicast address (for `HostAddresses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KernelAddr {
    pub ifindex: u32,
    /// The address with its prefix length.
    pub net: IpNet,
    /// Always `Ready` for IPv4, which has no duplicate address detection.
    pub dad: Dad,
}

impl KernelAddr {
    /// The address if it is an IPv6 link-local.
    pub fn link_local(&self) -> Option<Ipv6Addr> {
        match self.net.addr() {
            IpAddr::V6(a) if is_link_local(&a) => Some(a),
            _ => None,
        }
    }
}

/// What one netlink message means to the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Link(KernelLink),
    LinkGone {
        ifindex: u32,
    },
    Addr(KernelAddr),
    AddrGone(KernelAddr),
    /// A usable IPv6 link-local neighbour (interface not yet filtered).
    Neighbour(Observation),
    /// The socket dropped messages: state must be re-dumped.
    Overrun,
    /// Anything we do not track (loopback or multicast addresses, IPv4
    /// neighbours, deleted or unresolved ones, bridge-family link
    /// messages, ...).
    Ignored,
}

/// Classify one message from the socket (multicast or dump reply).
pub(crate) fn classify(msg: NetlinkMessage<RouteNetlinkMessage>) -> Event {
    match msg.payload {
        NetlinkPayload::Overrun(_) => Event::Overrun,
        NetlinkPayload::InnerMessage(inner) => classify_route(&inner),
        _ => Event::Ignored,
    }
}

/// Classify one rtnetlink message.
pub(crate) fn classify_route(msg: &RouteNetlinkMessage) -> Event {
    let event = match msg {
        RouteNetlinkMessage::NewLink(m) => link_from_msg(m).map(Event::Link),
        RouteNetlinkMessage::DelLink(m) => link_family_ok(m).then_some(Event::LinkGone {
            ifindex: m.header.index,
        }),
        RouteNetlinkMessage::NewAddress(m) => addr_from_msg(m).map(Event::Addr),
        RouteNetlinkMessage::DelAddress(m) => addr_from_msg(m).map(Event::AddrGone),
        RouteNetlinkMessage::NewNeighbour(m) => neighbour_from_msg(m).map(Event::Neighbour),
        // A deleted neighbour ends nothing: discovery only gates new
        // connections (docs/ARCHITECTURE.md section 4).
        _ => None,
    };
    event.unwrap_or(Event::Ignored)
}

/// Only AF_UNSPEC link messages describe the device itself. The kernel also
/// sends AF_BRIDGE ones for bridge ports (an AF_BRIDGE RTM_DELLINK means
/// "left the bridge", not "deleted") and AF_INET6 ones for RA settings.
fn link_family_ok(m: &LinkMessage) -> bool {
    m.header.interface_family == AddressFamily::Unspec
}

/// Operationally up: administratively up, carrier present, and an
/// operational state that allows traffic (UNKNOWN for drivers that do not
/// report one; DORMANT, LOWERLAYERDOWN etc. are down).
pub(crate) fn is_oper_up(flags: LinkFlags, oper: Option<State>) -> bool {
    flags.contains(LinkFlags::Up)
        && flags.contains(LinkFlags::LowerUp)
        && matches!(oper.unwrap_or(State::Unknown), State::Up | State::Unknown)
}

pub(crate) fn link_from_msg(m: &LinkMessage) -> Option<KernelLink> {
    if !link_family_ok(m) || m.header.index == 0 {
        return None;
    }
    let mut name = None;
    let mut mac = None;
    let mut oper = None;
    for attr in &m.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            // Only Ethernet-sized addresses are MACs; tunnels carry IPs here.
            LinkAttribute::Address(a) => mac = <Mac>::try_from(a.as_slice()).ok(),
            LinkAttribute::OperState(s) => oper = Some(*s),
            _ => {}
        }
    }
    Some(KernelLink {
        ifindex: m.header.index,
        name: name?,
        up: is_oper_up(m.header.flags, oper),
        loopback: m.header.flags.contains(LinkFlags::Loopback),
        mac,
    })
}

/// An IPv6 link-local or a routable unicast address (IPv4 or IPv6), with
/// its prefix length and DAD state; None for anything else.
pub(crate) fn addr_from_msg(m: &AddressMessage) -> Option<KernelAddr> {
    if !matches!(m.header.family, AddressFamily::Inet | AddressFamily::Inet6) || m.header.index == 0 {
        return None;
    }
    let mut address = None;
    let mut local = None;
    // IFA_FLAGS (32 bits) supersedes the 8-bit header field when present.
    let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
    for attr in &m.attributes {
        match attr {
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    // IFA_LOCAL is ours when present (always for IPv4; for IPv6 only on
    // point-to-point links), and IFA_ADDRESS then the peer's.
    let addr = local.or(address)?;
    let wanted = match addr {
        IpAddr::V6(a) => is_link_local(&a) || is_routable_unicast(&addr),
        IpAddr::V4(_) => is_routable_unicast(&addr),
    };
    if !wanted || addr.is_ipv4() != (m.header.family == AddressFamily::Inet) {
        return None;
    }
    let net = IpNet::new(addr, m.header.prefix_len).ok()?;
    let dad = if flags.contains(AddressFlags::Dadfailed) {
        Dad::Failed
    } else if flags.contains(AddressFlags::Optimistic) {
        // The kernel sets Tentative too until DAD ends.
        Dad::Optimistic
    } else if flags.contains(AddressFlags::Tentative) {
        Dad::Tentative
    } else {
        Dad::Ready
    };
    Some(KernelAddr {
        ifindex: m.header.index,
        net,
        dad,
    })
}

/// True for neighbour states in which the kernel holds a link-layer address
/// it believes (or was told) is right.
fn neighbour_state_usable(state: NeighbourState) -> bool {
    matches!(
        state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
            | NeighbourState::Noarp
    )
}

/// A kernel sighting of an IPv6 link-local neighbour; None for anything else
/// (IPv4, global addresses, proxy entries, INCOMPLETE/FAILED/NONE).
pub(crate) fn neighbour_from_msg(m: &NeighbourMessage) -> Option<Observation> {
    let h = &m.header;
    if h.family != AddressFamily::Inet6
        || h.ifindex == 0
        || h.flags.contains(NeighbourFlags::Proxy)
        || !neighbour_state_usable(h.state)
    {
        return None;
    }
    let mut addr = None;
    let mut mac = None;
    for attr in &m.attributes {
        match attr {
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => addr = Some(*a),
            NeighbourAttribute::LinkLayerAddress(l) => mac = <Mac>::try_from(l.as_slice()).ok(),
            _ => {}
        }
    }
    let addr = addr.filter(is_link_local)?;
    Some(Observation {
        ifindex: h.ifindex,
        addr,
        mac,
        source: Source::Kernel,
        // The kernel's NTF_ROUTER records a router flag it saw; its absence
        // may only mean it never saw an NA, so it says nothing.
        router: h.flags.contains(NeighbourFlags::Router).then_some(true),
        ra_lifetime: None,
        tentative: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NLMSG_OVERRUN, NetlinkHeader};
    use netlink_packet_route::address::AddressHeaderFlags;

    const MAC: Mac = [0x02, 0, 0, 0, 0, 0x42];

    fn ll(s: &str) -> Ipv6Addr {
        s.parse().expect("test address")
    }

    fn link(index: u32, name: &str, flags: LinkFlags, oper: Option<State>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = flags;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::Address(MAC.to_vec()));
        m.attributes.push(LinkAttribute::Mtu(1500));
        if let Some(s) = oper {
            m.attributes.push(LinkAttribute::OperState(s));
        }
        m
    }

    fn up_flags() -> LinkFlags {
        LinkFlags::Up | LinkFlags::LowerUp | LinkFlags::Running | LinkFlags::Multicast
    }

    #[test]
    fn link_up_needs_admin_carrier_and_oper_state() {
        let l = link_from_msg(&link(7, "eth0", up_flags(), Some(State::Up))).expect("link");
        assert_eq!(
            l,
            KernelLink {
                ifindex: 7,
                name: "eth0".into(),
                up: true,
                loopback: false,
                mac: Some(MAC)
            }
        );
        // Loopback, dummy: no operational state reported.
        let lo = link_from_msg(&link(1, "lo", up_flags() | LinkFlags::Loopback, Some(State::Unknown))).expect("lo");
        assert!(lo.up && lo.loopback);
        assert!(link_from_msg(&link(1, "lo", up_flags(), None)).expect("lo").up);
        // A veth whose peer is down: admin up, no carrier.
        let no_carrier = LinkFlags::Up | LinkFlags::Multicast;
        let m = link(3, "v0", no_carrier, Some(State::LowerLayerDown));
        assert!(!link_from_msg(&m).expect("v0").up);
        // Admin down.
        let m = link(3, "v0", LinkFlags::Multicast, Some(State::Down));
        assert!(!link_from_msg(&m).expect("v0").up);
        // Carrier but dormant (802.1X not authorised yet).
        let m = link(3, "v0", up_flags() | LinkFlags::Dormant, Some(State::Dormant));
        assert!(!link_from_msg(&m).expect("v0").up);
    }

    #[test]
    fn link_mac_only_when_six_bytes_and_name_required() {
        let mut m = link(9, "gre1", up_flags(), Some(State::Up));
        m.attributes.retain(|a| !matches!(a, LinkAttribute::Address(_)));
        m.attributes.push(LinkAttribute::Address(vec![10, 0, 0, 1]));
        assert_eq!(link_from_msg(&m).expect("gre1").mac, None);

        m.attributes.retain(|a| !matches!(a, LinkAttribute::IfName(_)));
        assert_eq!(link_from_msg(&m), None);
    }

    #[test]
    fn bridge_family_link_messages_are_not_the_device() {
        let mut m = link(4, "swp1", up_flags(), Some(State::Up));
        m.header.interface_family = AddressFamily::Bridge;
        assert_eq!(classify_route(&RouteNetlinkMessage::NewLink(m.clone())), Event::Ignored);
        assert_eq!(classify_route(&RouteNetlinkMessage::DelLink(m.clone())), Event::Ignored);
        m.header.interface_family = AddressFamily::Unspec;
        assert_eq!(
            classify_route(&RouteNetlinkMessage::DelLink(m)),
            Event::LinkGone { ifindex: 4 }
        );
    }

    fn addr(index: u32, a: &str, header: AddressHeaderFlags, flags: Option<AddressFlags>) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = 64;
        m.header.index = index;
        m.header.flags = header;
        m.attributes.push(AddressAttribute::Address(IpAddr::V6(ll(a))));
        if let Some(f) = flags {
            m.attributes.push(AddressAttribute::Flags(f));
        }
        m
    }

    #[test]
    fn address_dad_state_from_flags_attribute() {
        let tentative = addr(
            3,
            "fe80::1",
            AddressHeaderFlags::Permanent,
            Some(AddressFlags::Permanent | AddressFlags::Tentative),
        );
        assert_eq!(
            addr_from_msg(&tentative),
            Some(KernelAddr {
                ifindex: 3,
                net: "fe80::1/64".parse().expect("net"),
                dad: Dad::Tentative
            })
        );
        let ready = addr(
            3,
            "fe80::1",
            AddressHeaderFlags::Permanent,
            Some(AddressFlags::Permanent),
        );
        assert_eq!(addr_from_msg(&ready).expect("addr").dad, Dad::Ready);
        // The kernel leaves TENTATIVE set next to DADFAILED.
        let failed = addr(
            3,
            "fe80::1",
            AddressHeaderFlags::empty(),
            Some(AddressFlags::Tentative | AddressFlags::Dadfailed),
        );
        assert_eq!(addr_from_msg(&failed).expect("addr").dad, Dad::Failed);
        // Optimistic DAD: TENTATIVE and OPTIMISTIC together, usable.
        let optimistic = addr(
            3,
            "fe80::1",
            AddressHeaderFlags::Permanent,
            Some(AddressFlags::Permanent | AddressFlags::Tentative | AddressFlags::Optimistic),
        );
        assert_eq!(addr_from_msg(&optimistic).expect("addr").dad, Dad::Optimistic);
        // A duplicate found during optimistic DAD is a failure all the same.
        let failed = addr(
            3,
            "fe80::1",
            AddressHeaderFlags::empty(),
            Some(AddressFlags::Tentative | AddressFlags::Optimistic | AddressFlags::Dadfailed),
        );
        assert_eq!(addr_from_msg(&failed).expect("addr").dad, Dad::Failed);
    }

    #[test]
    fn address_header_flags_without_attribute() {
        let m = addr(3, "fe80::2", AddressHeaderFlags::Tentative, None);
        assert_eq!(addr_from_msg(&m).expect("addr").dad, Dad::Tentative);
        let m = addr(3, "fe80::2", AddressHeaderFlags::empty(), None);
        assert_eq!(addr_from_msg(&m).expect("addr").dad, Dad::Ready);
        // The attribute wins over the header.
        let m = addr(
            3,
            "fe80::2",
            AddressHeaderFlags::Tentative,
            Some(AddressFlags::Permanent),
        );
        assert_eq!(addr_from_msg(&m).expect("addr").dad, Dad::Ready);
    }

    fn v4(index: u32, local: &str, prefix_len: u8) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix_len;
        m.header.index = index;
        let local: IpAddr = local.parse().expect("v4");
        m.attributes.push(AddressAttribute::Address(local));
        m.attributes.push(AddressAttribute::Local(local));
        m
    }

    #[test]
    fn link_locals_and_routable_unicast_addresses() {
        let global = addr_from_msg(&addr(3, "2001:db8::1", AddressHeaderFlags::empty(), None)).expect("global");
        assert_eq!(global.net, "2001:db8::1/64".parse::<IpNet>().expect("net"));
        assert_eq!(global.link_local(), None);
        let ll_addr = addr_from_msg(&addr(3, "fe80::1", AddressHeaderFlags::empty(), None)).expect("ll");
        assert_eq!(ll_addr.link_local(), Some(ll("fe80::1")));
        assert_eq!(addr_from_msg(&addr(1, "::1", AddressHeaderFlags::empty(), None)), None);

        let a = addr_from_msg(&v4(3, "10.0.0.1", 24)).expect("v4");
        assert_eq!((a.ifindex, a.dad), (3, Dad::Ready));
        assert_eq!(a.net, "10.0.0.1/24".parse::<IpNet>().expect("net"));
        assert_eq!(addr_from_msg(&v4(1, "127.0.0.1", 8)), None);
        assert_eq!(addr_from_msg(&v4(3, "169.254.0.1", 16)), None);
        // Point-to-point IPv4: IFA_LOCAL is ours, IFA_ADDRESS the peer's.
        let mut p2p = v4(4, "10.0.0.1", 32);
        p2p.attributes.retain(|a| !matches!(a, AddressAttribute::Address(_)));
        p2p.attributes
            .push(AddressAttribute::Address("10.0.0.2".parse().expect("peer")));
        assert_eq!(
            addr_from_msg(&p2p).expect("p2p").net.addr(),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        // A prefix length the family cannot have.
        assert_eq!(addr_from_msg(&v4(3, "10.0.0.1", 33)), None);
        // The family and the address must agree.
        let mut mixed = v4(3, "10.0.0.1", 24);
        mixed.header.family = AddressFamily::Inet6;
        assert_eq!(addr_from_msg(&mixed), None);
        // Point-to-point IPv6: the same rule.
        let mut p2p = addr(5, "fe80::2", AddressHeaderFlags::empty(), None);
        p2p.attributes.push(AddressAttribute::Local(IpAddr::V6(ll("fe80::1"))));
        assert_eq!(addr_from_msg(&p2p).expect("addr").link_local(), Some(ll("fe80::1")));
    }

    #[test]
    fn address_removal() {
        let m = addr(3, "fe80::1", AddressHeaderFlags::empty(), None);
        let gone = addr_from_msg(&m).expect("addr");
        assert_eq!(
            classify_route(&RouteNetlinkMessage::DelAddress(m)),
            Event::AddrGone(gone)
        );
        let m = v4(3, "10.0.0.1", 24);
        let gone = addr_from_msg(&m).expect("addr");
        assert_eq!(
            classify_route(&RouteNetlinkMessage::DelAddress(m)),
            Event::AddrGone(gone)
        );
    }

    fn neigh(index: u32, a: &str, state: NeighbourState, flags: NeighbourFlags) -> NeighbourMessage {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.ifindex = index;
        m.header.state = state;
        m.header.flags = flags;
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet6(ll(a))));
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, 0x99]));
        m
    }

    #[test]
    fn neighbour_observation_fields() {
        let m = neigh(3, "fe80::99", NeighbourState::Reachable, NeighbourFlags::Router);
        assert_eq!(
            neighbour_from_msg(&m),
            Some(Observation {
                ifindex: 3,
                addr: ll("fe80::99"),
                mac: Some([2, 0, 0, 0, 0, 0x99]),
                source: Source::Kernel,
                router: Some(true),
                ra_lifetime: None,
                tentative: false,
            })
        );
        let m = neigh(3, "fe80::99", NeighbourState::Stale, NeighbourFlags::empty());
        assert_eq!(neighbour_from_msg(&m).expect("obs").router, None);
    }

    #[test]
    fn neighbour_states() {
        use NeighbourState::*;
        for s in [Reachable, Stale, Delay, Probe, Permanent, Noarp] {
            let m = neigh(3, "fe80::99", s, NeighbourFlags::empty());
            assert!(neighbour_from_msg(&m).is_some(), "{s:?}");
        }
        for s in [Incomplete, Failed, None, Other(0x42)] {
            let m = neigh(3, "fe80::99", s, NeighbourFlags::empty());
            assert!(neighbour_from_msg(&m).is_none(), "{s:?}");
        }
    }

    #[test]
    fn neighbours_ignored() {
        let global = neigh(3, "2001:db8::9", NeighbourState::Reachable, NeighbourFlags::empty());
        assert_eq!(neighbour_from_msg(&global), None);
        let proxy = neigh(3, "fe80::9", NeighbourState::Reachable, NeighbourFlags::Proxy);
        assert_eq!(neighbour_from_msg(&proxy), None);
        let mut v4 = neigh(3, "fe80::9", NeighbourState::Reachable, NeighbourFlags::empty());
        v4.header.family = AddressFamily::Inet;
        assert_eq!(neighbour_from_msg(&v4), None);
        // Deleted entries end nothing.
        let del = neigh(3, "fe80::9", NeighbourState::Reachable, NeighbourFlags::empty());
        assert_eq!(classify_route(&RouteNetlinkMessage::DelNeighbour(del)), Event::Ignored);
    }

    #[test]
    fn overrun_message_is_an_event() {
        // What netlink-proto synthesises when recv() fails with ENOBUFS.
        let mut hdr = NetlinkHeader::default();
        hdr.message_type = NLMSG_OVERRUN;
        let msg = NetlinkMessage::<RouteNetlinkMessage>::new(hdr, NetlinkPayload::Overrun(Vec::new()));
        assert_eq!(classify(msg), Event::Overrun);

        let m = neigh(3, "fe80::99", NeighbourState::Permanent, NeighbourFlags::empty());
        let msg = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(m));
        assert!(matches!(classify(msg), Event::Neighbour(_)));
    }
}
