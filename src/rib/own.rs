//! Our own addresses, as the RIB is given them: a path whose next hop is
//! one of them is not usable (RFC 4271 5.1.3: a NEXT_HOP that is the
//! receiving speaker's own address is ignored; 6.3 "semantically
//! incorrect"). Installed, it would send the prefix's traffic to the peer
//! that claims we are the way, which sends it back: a loop.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::iface::{HostAddresses, Links};
use crate::msg::update::NextHop;

/// Every address of the host a next hop could name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnAddresses(HashSet<IpAddr>);

impl OwnAddresses {
    pub fn new(addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        OwnAddresses(addresses.into_iter().collect())
    }

    /// The routable addresses of every link (loopback's included) and the
    /// link-locals of the configured links. A link-local counts on any of
    /// them, as the peer table counts it: links can share a segment.
    pub fn of_host(host: &HostAddresses, links: &Links) -> Self {
        let routable = host.addresses().map(|(_, _, net)| net.addr());
        let link_locals = links
            .values()
            .flat_map(|link| link.link_locals.iter().map(|ll| IpAddr::V6(ll.addr)));
        Self::new(routable.chain(link_locals))
    }

    /// Whether any address in `next_hop` (the IPv4 NEXT_HOP, the MP_REACH
    /// global or link-local one) is ours.
    pub fn has_next_hop(&self, next_hop: &NextHop) -> bool {
        let ipv4 = next_hop.ipv4.map(IpAddr::V4);
        let global = next_hop.global.map(IpAddr::V6);
        let link_local = next_hop.link_local.map(IpAddr::V6);
        [ipv4, global, link_local]
            .into_iter()
            .flatten()
            .any(|addr| self.0.contains(&addr))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::iface::{HostLink, LinkLocal, LinkState};

    fn next_hop(ipv4: Option<&str>, global: Option<&str>, link_local: Option<&str>) -> NextHop {
        NextHop {
            ipv4: ipv4.map(|a| a.parse().expect("test address")),
            global: global.map(|a| a.parse().expect("test address")),
            link_local: link_local.map(|a| a.parse().expect("test address")),
        }
    }

    fn host() -> HostAddresses {
        let link = |ifindex, loopback, nets: &[&str]| HostLink {
            ifindex,
            loopback,
            mac: None,
            addresses: nets.iter().map(|n| n.parse().expect("test prefix")).collect(),
        };
        HostAddresses {
            links: BTreeMap::from([
                ("lo".to_string(), link(1, true, &["10.0.0.1/32"])),
                ("eth0".to_string(), link(2, false, &["2001:db8::1/64"])),
            ]),
        }
    }

    fn links() -> Links {
        let eth0 = LinkState {
            name: "eth0".into(),
            ifindex: 2,
            up: true,
            mac: None,
            link_locals: vec![LinkLocal {
                addr: "fe80::a".parse().expect("test address"),
                tentative: false,
                optimistic: false,
            }],
        };
        BTreeMap::from([("eth0".to_string(), eth0)])
    }

    #[test]
    fn any_part_of_the_next_hop_that_is_ours_makes_it_ours() {
        let own = OwnAddresses::of_host(&host(), &links());
        assert_eq!(own.len(), 3);
        for ours in [
            next_hop(Some("10.0.0.1"), None, None),
            next_hop(None, Some("2001:db8::1"), None),
            next_hop(None, Some("fe80::2"), Some("fe80::a")),
            // FRR's form without a global address: the link-local twice.
            next_hop(None, Some("fe80::a"), Some("fe80::a")),
        ] {
            assert!(own.has_next_hop(&ours), "{ours:?}");
        }
        for theirs in [
            next_hop(Some("10.0.0.2"), None, None),
            next_hop(None, Some("2001:db8::2"), Some("fe80::2")),
            next_hop(None, Some("fe80::2"), Some("fe80::2")),
            NextHop::default(),
        ] {
            assert!(!own.has_next_hop(&theirs), "{theirs:?}");
        }
        assert!(!OwnAddresses::default().has_next_hop(&next_hop(Some("10.0.0.1"), None, None)));
    }
}
