//! Next hop self per interface: asked for every batch sent to every peer,
//! so kept by ifindex and rebuilt only when the watcher publishes a new
//! snapshot of the links or of the host's addresses.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use tokio::sync::watch;

use crate::iface::{HostAddresses, Links};
use crate::msg::update::NextHop;

pub(super) struct NextHopSelf {
    /// Receivers of its own: the routes task's select marks its receivers
    /// seen only when it gets to them, and a batch sent before that must
    /// already use the newest snapshots (as reading them directly did).
    links: watch::Receiver<Links>,
    addresses: watch::Receiver<HostAddresses>,
    by_ifindex: HashMap<u32, NextHop>,
}

impl NextHopSelf {
    pub fn new(links: watch::Receiver<Links>, addresses: watch::Receiver<HostAddresses>) -> Self {
        let mut next_hops = NextHopSelf {
            links,
            addresses,
            by_ifindex: HashMap::new(),
        };
        next_hops.rebuild();
        next_hops
    }

    /// Our next hop on the link `ifindex`: its usable link-local, with our
    /// global address there (RFC 8950 / RFC 2545). None without a usable
    /// link-local.
    pub fn get(&mut self, ifindex: u32) -> Option<NextHop> {
        if changed(&self.links) || changed(&self.addresses) {
            self.rebuild();
        }
        self.by_ifindex.get(&ifindex).copied()
    }

    fn rebuild(&mut self) {
        let globals: HashMap<u32, Ipv6Addr> = self
            .addresses
            .borrow_and_update()
            .links
            .values()
            .filter_map(|l| Some((l.ifindex, l.global_ipv6()?)))
            .collect();
        self.by_ifindex = next_hops(&self.links.borrow_and_update(), &globals);
    }
}

/// A new value, or the sender gone (its last value may be unseen).
fn changed<T>(receiver: &watch::Receiver<T>) -> bool {
    !matches!(receiver.has_changed(), Ok(false))
}

/// Next hop self on every link with a usable link-local, given the global
/// IPv6 address of each link that has one.
fn next_hops(links: &Links, globals: &HashMap<u32, Ipv6Addr>) -> HashMap<u32, NextHop> {
    links
        .values()
        .filter_map(|link| {
            let link_local = link.usable_link_local()?;
            // Without a global address, send the link-local twice as FRR
            // does: a 32-byte next hop every implementation reads.
            let global = globals.get(&link.ifindex).copied().unwrap_or(link_local);
            let next_hop = NextHop {
                ipv4: None,
                global: Some(global),
                link_local: Some(link_local),
            };
            Some((link.ifindex, next_hop))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::iface::{HostLink, LinkLocal, LinkState};

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().expect("test address")
    }

    fn link(name: &str, ifindex: u32, link_locals: &[(&str, bool)]) -> (String, LinkState) {
        let state = LinkState {
            name: name.into(),
            ifindex,
            up: true,
            mac: None,
            link_locals: link_locals
                .iter()
                .map(|&(addr, tentative)| LinkLocal {
                    addr: ip(addr),
                    tentative,
                    optimistic: false,
                })
                .collect(),
        };
        (name.into(), state)
    }

    fn host(links: &[(&str, u32, &[&str])]) -> HostAddresses {
        let links = links
            .iter()
            .map(|&(name, ifindex, nets)| {
                let link = HostLink {
                    ifindex,
                    loopback: false,
                    mac: None,
                    addresses: nets.iter().map(|n| n.parse().expect("test prefix")).collect(),
                };
                (name.to_string(), link)
            })
            .collect();
        HostAddresses { links }
    }

    fn next_hop(global: &str, link_local: &str) -> Option<NextHop> {
        Some(NextHop {
            ipv4: None,
            global: Some(ip(global)),
            link_local: Some(ip(link_local)),
        })
    }

    #[test]
    fn link_local_with_the_lowest_global_or_twice() {
        let links: Links = BTreeMap::from([
            link("eth0", 2, &[("fe80::1", true), ("fe80::2", false)]),
            link("eth1", 3, &[("fe80::3", false)]),
            link("eth2", 4, &[("fe80::4", true)]),
        ]);
        let addresses = host(&[
            ("eth0", 2, &["192.0.2.1/24", "2001:db8::2/64", "2001:db8::1/64"]),
            ("eth1", 3, &["192.0.2.3/24"]),
            ("eth2", 4, &["2001:db8:4::1/64"]),
            ("dummy0", 9, &["2001:db8:9::1/64"]),
        ]);
        let mut cache = NextHopSelf::new(watch::channel(links).1, watch::channel(addresses).1);
        assert_eq!(cache.get(2), next_hop("2001:db8::1", "fe80::2"));
        assert_eq!(cache.get(3), next_hop("fe80::3", "fe80::3"), "no global IPv6");
        assert_eq!(cache.get(4), None, "no usable link-local");
        assert_eq!(cache.get(9), None, "not a configured link");
    }

    /// A snapshot published after the cache was built is used at once.
    #[test]
    fn follows_new_snapshots() {
        let (links_tx, links) = watch::channel(BTreeMap::from([link("eth0", 2, &[("fe80::1", true)])]));
        let (addresses_tx, addresses) = watch::channel(HostAddresses::default());
        let mut cache = NextHopSelf::new(links, addresses);
        assert_eq!(cache.get(2), None);
        links_tx.send_replace(BTreeMap::from([link("eth0", 2, &[("fe80::1", false)])]));
        assert_eq!(cache.get(2), next_hop("fe80::1", "fe80::1"));
        addresses_tx.send_replace(host(&[("eth0", 2, &["2001:db8::1/64"])]));
        assert_eq!(cache.get(2), next_hop("2001:db8::1", "fe80::1"));
        // Renamed: the ifindex is what counts.
        links_tx.send_replace(BTreeMap::from([link("swp1", 2, &[("fe80::1", false)])]));
        addresses_tx.send_replace(host(&[("swp1", 2, &["2001:db8::7/64"])]));
        assert_eq!(cache.get(2), next_hop("2001:db8::7", "fe80::1"));
        drop(links_tx);
        addresses_tx.send_replace(HostAddresses::default());
        assert_eq!(cache.get(2), next_hop("fe80::1", "fe80::1"), "links sender gone");
    }
}
