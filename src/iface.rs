//! What the links watcher publishes: the state of each configured
//! interface (`Links`) and the host's addresses on every interface
//! (`HostAddresses`).
//!
//! The watcher owns this state and publishes whole snapshots on
//! `tokio::sync::watch` channels; every other stage only reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// A MAC address.
pub type Mac = [u8; 6];

/// One link-local address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLocal {
    pub addr: Ipv6Addr,
    /// Still in duplicate address detection: must not be used as a source.
    pub tentative: bool,
    /// In optimistic DAD (RFC 4429): usable (so not `tentative`), but
    /// until DAD ends a Router Solicitation from it carries no source
    /// link-layer address option (RFC 4429).
    pub optimistic: bool,
}

/// What we know of one configured interface that exists in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub name: String,
    pub ifindex: u32,
    /// Operationally up (IFF_UP and carrier; oper state UP or UNKNOWN).
    pub up: bool,
    pub mac: Option<Mac>,
    pub link_locals: Vec<LinkLocal>,
}

impl LinkState {
    /// The link-local address we may send from and bind to: the first one
    /// that has left duplicate address detection.
    pub fn usable_link_local(&self) -> Option<Ipv6Addr> {
        self.link_locals.iter().find(|ll| !ll.tentative).map(|ll| ll.addr)
    }
}

/// All configured interfaces present in the kernel, keyed by name. A
/// configured interface that does not exist (yet) is simply absent.
pub type Links = BTreeMap<String, LinkState>;

/// The link `ifindex`, under whatever name it has now: the ifindex is a
/// link's identity (`ip link set eth0 name swp1` keeps it). None once the
/// link is gone, or renamed to a name not configured.
pub fn by_ifindex(links: &Links, ifindex: u32) -> Option<&LinkState> {
    links.values().find(|l| l.ifindex == ifindex)
}

/// The current name of the link `ifindex` (see [`by_ifindex`]).
pub fn name_of(links: &Links, ifindex: u32) -> Option<&str> {
    by_ifindex(links, ifindex).map(|l| l.name.as_str())
}

/// One kernel link (configured or not) and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    pub ifindex: u32,
    pub loopback: bool,
    pub mac: Option<Mac>,
    /// Its routable unicast IPv4 and IPv6 addresses (see
    /// [`is_routable_unicast`]) with their prefix length; an IPv6 address
    /// whose duplicate address detection failed is left out.
    pub addresses: BTreeSet<IpNet>,
}

impl HostLink {
    /// Its global IPv6 address (the lowest), for next hop self.
    pub fn global_ipv6(&self) -> Option<Ipv6Addr> {
        self.addresses.iter().find_map(|net| match net.addr() {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        })
    }
}

/// Every kernel link of the namespace by name, with its addresses: the one
/// source of the router ID, next hop self and `--redistribute connected`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAddresses {
    pub links: BTreeMap<String, HostLink>,
}

impl HostAddresses {
    /// Every address, with the name and state of its link.
    pub fn addresses(&self) -> impl Iterator<Item = (&str, &HostLink, IpNet)> + '_ {
        self.links
            .iter()
            .flat_map(|(name, link)| link.addresses.iter().map(move |net| (name.as_str(), link, *net)))
    }

    /// The prefixes connected to links other than `except` (the fabric
    /// interfaces, whose addresses are not redistributed).
    pub fn connected(&self, except: &[String]) -> BTreeSet<IpNet> {
        self.addresses()
            .filter(|(name, _, _)| !except.iter().any(|e| e == name))
            .map(|(_, _, net)| net.trunc())
            .collect()
    }
}

/// A unicast address usable beyond this host and link: not loopback,
/// link-local, multicast or unspecified (what `HostLink::addresses` keeps).
pub fn is_routable_unicast(addr: &IpAddr) -> bool {
    !match addr {
        IpAddr::V4(a) => a.is_loopback() || a.is_link_local() || a.is_multicast() || a.is_unspecified(),
        IpAddr::V6(a) => a.is_loopback() || is_link_local(a) || a.is_multicast() || a.is_unspecified(),
    }
}

/// Format a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(mac: &Mac) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// True for fe80::/10.
pub fn is_link_local(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_range() {
        assert!(is_link_local(&"fe80::1".parse().unwrap()));
        assert!(is_link_local(&"febf::1".parse().unwrap()));
        assert!(!is_link_local(&"fec0::1".parse().unwrap()));
        assert!(!is_link_local(&"2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn usable_skips_tentative() {
        let st = LinkState {
            name: "eth0".into(),
            ifindex: 2,
            up: true,
            mac: None,
            link_locals: vec![
                LinkLocal {
                    addr: "fe80::1".parse().unwrap(),
                    tentative: true,
                    optimistic: false,
                },
                LinkLocal {
                    addr: "fe80::2".parse().unwrap(),
                    tentative: false,
                    optimistic: false,
                },
            ],
        };
        assert_eq!(st.usable_link_local(), Some("fe80::2".parse().unwrap()));
        assert_eq!(fmt_mac(&[0, 1, 0xab, 3, 4, 5]), "00:01:ab:03:04:05");
    }

    fn host_link(ifindex: u32, loopback: bool, nets: &[&str]) -> HostLink {
        HostLink {
            ifindex,
            loopback,
            mac: None,
            addresses: nets.iter().map(|n| n.parse().expect("test prefix")).collect(),
        }
    }

    #[test]
    fn host_addresses_views() {
        let host = HostAddresses {
            links: [
                ("lo".to_string(), host_link(1, true, &["10.0.0.1/32"])),
                (
                    "eth0".to_string(),
                    host_link(2, false, &["2001:db8::2/64", "2001:db8::1/64", "192.0.2.1/24"]),
                ),
                ("eth1".to_string(), host_link(3, false, &["2001:db8:1::1/64"])),
            ]
            .into(),
        };
        assert_eq!(host.links["eth0"].global_ipv6(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(host.links["lo"].global_ipv6(), None);
        let connected: Vec<String> = host.connected(&["eth1".into()]).iter().map(|n| n.to_string()).collect();
        assert_eq!(connected, ["10.0.0.1/32", "192.0.2.0/24", "2001:db8::/64"]);
    }

    #[test]
    fn routable_unicast_addresses() {
        for a in [
            "127.0.0.1",
            "169.254.1.1",
            "224.0.0.5",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "ff02::1",
            "::",
        ] {
            assert!(!is_routable_unicast(&a.parse().unwrap()), "{a}");
        }
        for a in ["10.0.0.1", "192.0.2.1", "2001:db8::1", "fd00::1"] {
            assert!(is_routable_unicast(&a.parse().unwrap()), "{a}");
        }
    }
}
