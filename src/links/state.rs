//! The watcher's state: every kernel link, its IPv6 link-locals and its
//! routable addresses; the snapshot of the configured links and of the
//! host's addresses, and what changed between two snapshots.
//!
//! Pure: fed with `convert::Event`s, tested without sockets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv6Addr;

use ipnet::IpNet;

use crate::iface::{HostAddresses, HostLink, LinkLocal, LinkState, Links, Mac, fmt_mac};
use crate::peers::Observation;

use super::convert::{Dad, Event, KernelAddr, KernelLink};

/// Every kernel link and address we have heard of.
///
/// All links are tracked, not only configured ones: a rename can turn an
/// unconfigured link (with its addresses) into a configured one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    names: BTreeSet<String>,
    links: BTreeMap<u32, KernelLink>,
    /// IPv6 link-locals by ifindex.
    addrs: BTreeMap<u32, BTreeMap<Ipv6Addr, Dad>>,
    /// Routable unicast addresses by ifindex (DAD failures left out).
    host: BTreeMap<u32, BTreeSet<IpNet>>,
    /// Links or addresses changed since `take_changed` (a new table has
    /// not been published yet): neighbour events, the most frequent, leave
    /// it alone, so the watcher need not build a snapshot after them.
    changed: bool,
}

impl Table {
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        Table {
            names: names.into_iter().collect(),
            changed: true,
            ..Table::default()
        }
    }

    /// The configured interface names.
    pub fn names(&self) -> &BTreeSet<String> {
        &self.names
    }

    /// Apply any event: links and addresses change the table, neighbours
    /// of configured interfaces are collected. True on overrun.
    pub fn apply_event(&mut self, event: Event, observations: &mut Vec<Observation>) -> bool {
        match event {
            Event::Overrun => return true,
            Event::Neighbour(o) => {
                if self.is_configured(o.ifindex) {
                    observations.push(o);
                }
            }
            event => self.apply(&event),
        }
        false
    }

    /// Apply a link or address event; others are not ours to handle.
    pub fn apply(&mut self, event: &Event) {
        let changed = match event {
            Event::Link(l) => {
                // Kernel names are unique: another ifindex still holding this
                // name is stale (its delete or rename was lost).
                let before = self.links.len();
                self.links.retain(|&i, other| i == l.ifindex || other.name != l.name);
                let stale = self.links.len() != before;
                let replaced = self.links.insert(l.ifindex, l.clone());
                stale || replaced.as_ref() != Some(l)
            }
            Event::LinkGone { ifindex } => {
                let link = self.links.remove(ifindex).is_some();
                let addrs = self.addrs.remove(ifindex).is_some();
                let host = self.host.remove(ifindex).is_some();
                link || addrs || host
            }
            Event::Addr(a) => match a.link_local() {
                Some(ll) => self.addrs.entry(a.ifindex).or_default().insert(ll, a.dad) != Some(a.dad),
                // Another node has it: not ours to announce or name.
                None if a.dad == Dad::Failed => self.remove_host(a),
                None => self.host.entry(a.ifindex).or_default().insert(a.net),
            },
            Event::AddrGone(a) => match a.link_local() {
                Some(ll) => self.remove_link_local(a.ifindex, ll),
                None => self.remove_host(a),
            },
            Event::Neighbour(_) | Event::Overrun | Event::Ignored => false,
        };
        self.changed |= changed;
    }

    /// True if the link-local was there.
    fn remove_link_local(&mut self, ifindex: u32, ll: Ipv6Addr) -> bool {
        let Some(m) = self.addrs.get_mut(&ifindex) else {
            return false;
        };
        let removed = m.remove(&ll).is_some();
        if m.is_empty() {
            self.addrs.remove(&ifindex);
        }
        removed
    }

    /// True if the address was there.
    fn remove_host(&mut self, a: &KernelAddr) -> bool {
        let Some(set) = self.host.get_mut(&a.ifindex) else {
            return false;
        };
        let removed = set.remove(&a.net);
        if set.is_empty() {
            self.host.remove(&a.ifindex);
        }
        removed
    }

    /// Whether the links or addresses (what `snapshot` holds) may have
    /// changed since the last call; clears the mark.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// True when `ifindex` is a configured interface.
    pub fn is_configured(&self, ifindex: u32) -> bool {
        self.links.get(&ifindex).is_some_and(|l| self.names.contains(&l.name))
    }

    /// The current name of a link.
    pub fn name_of(&self, ifindex: u32) -> Option<&str> {
        self.links.get(&ifindex).map(|l| l.name.as_str())
    }

    pub fn snapshot(&self) -> Snapshot {
        let views = self
            .links
            .values()
            .filter(|l| self.names.contains(&l.name))
            .map(|l| {
                let view = IfView {
                    ifindex: l.ifindex,
                    up: l.up,
                    mac: l.mac,
                    link_locals: self.addrs.get(&l.ifindex).cloned().unwrap_or_default(),
                };
                (l.name.clone(), view)
            })
            .collect();
        let index_names = self.links.values().map(|l| (l.ifindex, l.name.clone())).collect();
        Snapshot {
            views,
            index_names,
            host: self.host_addresses(),
        }
    }

    /// Every link with its routable addresses.
    pub fn host_addresses(&self) -> HostAddresses {
        let links = self
            .links
            .values()
            .map(|l| {
                let link = HostLink {
                    ifindex: l.ifindex,
                    loopback: l.loopback,
                    mac: l.mac,
                    addresses: self.host.get(&l.ifindex).cloned().unwrap_or_default(),
                };
                (l.name.clone(), link)
            })
            .collect();
        HostAddresses { links }
    }
}

/// One configured interface, with the DAD detail `LinkState` leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IfView {
    pub ifindex: u32,
    pub up: bool,
    pub mac: Option<Mac>,
    pub link_locals: BTreeMap<Ipv6Addr, Dad>,
}

/// The configured interfaces present, every link's name by ifindex (to
/// tell a rename from a delete), and the host's addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub views: BTreeMap<String, IfView>,
    pub index_names: BTreeMap<u32, String>,
    pub host: HostAddresses,
}

impl Snapshot {
    /// What the rest of the daemon sees. A link-local whose DAD failed is
    /// published as tentative: `LinkLocal` has no other way to say
    /// "unusable", and it must never be used as a source.
    pub fn links(&self) -> Links {
        self.views
            .iter()
            .map(|(name, v)| {
                let state = LinkState {
                    name: name.clone(),
                    ifindex: v.ifindex,
                    up: v.up,
                    mac: v.mac,
                    link_locals: v
                        .link_locals
                        .iter()
                        .map(|(&addr, &dad)| LinkLocal {
                            addr,
                            tentative: !matches!(dad, Dad::Ready | Dad::Optimistic),
                            optimistic: dad == Dad::Optimistic,
                        })
                        .collect(),
                };
                (name.clone(), state)
            })
            .collect()
    }
}

/// One change of a configured interface, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Present {
        name: String,
        ifindex: u32,
        mac: Option<Mac>,
        renamed_from: Option<String>,
    },
    Recreated {
        name: String,
        old_ifindex: u32,
        ifindex: u32,
    },
    Deleted {
        name: String,
    },
    RenamedTo {
        name: String,
        to: String,
    },
    Up {
        name: String,
    },
    Down {
        name: String,
    },
    MacChanged {
        name: String,
        mac: Option<Mac>,
    },
    LinkLocal {
        name: String,
        addr: Ipv6Addr,
        dad: Dad,
    },
    LinkLocalRemoved {
        name: String,
        addr: Ipv6Addr,
    },
    /// An address on any link (configured or not). `detail` when the link
    /// is neither the loopback nor a configured interface.
    Address {
        name: String,
        net: IpNet,
        detail: bool,
    },
    AddressRemoved {
        name: String,
        net: IpNet,
        detail: bool,
    },
}

impl Change {
    /// Worth a warning rather than an info line.
    pub fn is_warning(&self) -> bool {
        matches!(self, Change::LinkLocal { dad: Dad::Failed, .. })
    }

    /// Worth only a debug line: an address change on a link that is not
    /// ours (the router ID and redistributed prefixes it changes are logged
    /// where they change).
    pub fn is_detail(&self) -> bool {
        matches!(
            self,
            Change::Address { detail: true, .. } | Change::AddressRemoved { detail: true, .. }
        )
    }
}

fn mac_str(mac: &Option<Mac>) -> String {
    mac.as_ref().map_or_else(|| "none".to_string(), fmt_mac)
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Present {
                name,
                ifindex,
                mac,
                renamed_from,
            } => {
                write!(f, "{name}: present")?;
                if let Some(old) = renamed_from {
                    write!(f, " (renamed from {old})")?;
                }
                write!(f, ", ifindex {ifindex}, mac {}", mac_str(mac))
            }
            Change::Recreated {
                name,
                old_ifindex,
                ifindex,
            } => write!(f, "{name}: recreated, ifindex {old_ifindex} -> {ifindex}"),
            Change::Deleted { name } => write!(f, "{name}: deleted"),
            Change::RenamedTo { name, to } => write!(f, "{name}: renamed to {to}"),
            Change::Up { name } => write!(f, "{name}: link up"),
            Change::Down { name } => write!(f, "{name}: link down"),
            Change::MacChanged { name, mac } => {
                write!(f, "{name}: mac changed to {}", mac_str(mac))
            }
            Change::LinkLocal { name, addr, dad } => match dad {
                Dad::Tentative => write!(f, "{name}: link-local {addr} tentative"),
                Dad::Optimistic => write!(f, "{name}: link-local {addr} optimistic (usable during DAD)"),
                Dad::Ready => write!(f, "{name}: link-local {addr} ready"),
                Dad::Failed => write!(f, "{name}: link-local {addr} duplicate (DAD failed), unusable"),
            },
            Change::LinkLocalRemoved { name, addr } => {
                write!(f, "{name}: link-local {addr} removed")
            }
            Change::Address { name, net, .. } => write!(f, "{name}: address {net}"),
            Change::AddressRemoved { name, net, .. } => write!(f, "{name}: address {net} removed"),
        }
    }
}

/// The changes from `old` to `new`: per configured interface in name
/// order, then the addresses of any link.
pub(crate) fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut out = diff_configured(old, new);
    let configured = |name: &str| old.views.contains_key(name) || new.views.contains_key(name);
    out.extend(diff_addresses(&old.host, &new.host, configured));
    out
}

/// Addresses removed then added, per link in name order.
fn diff_addresses(old: &HostAddresses, new: &HostAddresses, configured: impl Fn(&str) -> bool) -> Vec<Change> {
    fn nets<'a>(host: &'a HostAddresses, name: &str, none: &'a BTreeSet<IpNet>) -> &'a BTreeSet<IpNet> {
        host.links.get(name).map_or(none, |l| &l.addresses)
    }
    let none = BTreeSet::new();
    let names: BTreeSet<&String> = old.links.keys().chain(new.links.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let loopback = [old, new].iter().any(|h| h.links.get(name).is_some_and(|l| l.loopback));
        let detail = !loopback && !configured(name);
        let (before, after) = (nets(old, name, &none), nets(new, name, &none));
        for net in before.difference(after) {
            out.push(Change::AddressRemoved {
                name: name.clone(),
                net: *net,
                detail,
            });
        }
        for net in after.difference(before) {
            out.push(Change::Address {
                name: name.clone(),
                net: *net,
                detail,
            });
        }
    }
    out
}

fn diff_configured(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    for (name, o) in &old.views {
        if new.views.contains_key(name) {
            continue;
        }
        let name = name.clone();
        match new.index_names.get(&o.ifindex) {
            Some(to) if *to != name => out.push(Change::RenamedTo { name, to: to.clone() }),
            _ => out.push(Change::Deleted { name }),
        }
    }
    let absent = IfView {
        ifindex: 0,
        up: false,
        mac: None,
        link_locals: BTreeMap::new(),
    };
    for (name, n) in &new.views {
        let o = match old.views.get(name) {
            Some(o) => {
                if o.ifindex != n.ifindex {
                    out.push(Change::Recreated {
                        name: name.clone(),
                        old_ifindex: o.ifindex,
                        ifindex: n.ifindex,
                    });
                }
                if o.mac != n.mac {
                    out.push(Change::MacChanged {
                        name: name.clone(),
                        mac: n.mac,
                    });
                }
                o
            }
            None => {
                let renamed_from = old
                    .index_names
                    .get(&n.ifindex)
                    .filter(|old_name| *old_name != name)
                    .cloned();
                out.push(Change::Present {
                    name: name.clone(),
                    ifindex: n.ifindex,
                    mac: n.mac,
                    renamed_from,
                });
                &absent
            }
        };
        match (o.up, n.up) {
            (false, true) => out.push(Change::Up { name: name.clone() }),
            (true, false) => out.push(Change::Down { name: name.clone() }),
            _ => {}
        }
        for addr in o.link_locals.keys() {
            if !n.link_locals.contains_key(addr) {
                out.push(Change::LinkLocalRemoved {
                    name: name.clone(),
                    addr: *addr,
                });
            }
        }
        for (addr, dad) in &n.link_locals {
            if o.link_locals.get(addr) != Some(dad) {
                out.push(Change::LinkLocal {
                    name: name.clone(),
                    addr: *addr,
                    dad: *dad,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = [2, 0, 0, 0, 0, 1];

    fn ll(s: &str) -> Ipv6Addr {
        s.parse().expect("test address")
    }

    fn link(ifindex: u32, name: &str, up: bool) -> Event {
        Event::Link(KernelLink {
            ifindex,
            name: name.into(),
            up,
            loopback: name == "lo",
            mac: Some(MAC),
        })
    }

    fn kernel_addr(ifindex: u32, net: &str, dad: Dad) -> KernelAddr {
        KernelAddr {
            ifindex,
            net: net.parse().expect("test prefix"),
            dad,
        }
    }

    fn addr(ifindex: u32, a: &str, dad: Dad) -> Event {
        Event::Addr(kernel_addr(ifindex, &format!("{a}/64"), dad))
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    fn table() -> Table {
        Table::new(["eth0".to_string(), "eth1".to_string()])
    }

    fn lines(old: &Snapshot, new: &Snapshot) -> Vec<String> {
        diff(old, new).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn only_configured_links_are_published() {
        let mut t = table();
        t.apply(&link(1, "lo", true));
        t.apply(&link(3, "eth0", true));
        t.apply(&addr(3, "fe80::1", Dad::Ready));
        t.apply(&addr(1, "fe80::9", Dad::Ready));
        let links = t.snapshot().links();
        assert_eq!(links.keys().collect::<Vec<_>>(), ["eth0"]);
        let eth0 = &links["eth0"];
        assert_eq!(eth0.ifindex, 3);
        assert!(eth0.up);
        assert_eq!(eth0.mac, Some(MAC));
        assert_eq!(eth0.usable_link_local(), Some(ll("fe80::1")));
        assert!(t.is_configured(3));
        assert!(!t.is_configured(1));
        assert!(!t.is_configured(99));
    }

    #[test]
    fn optimistic_link_local_is_usable_during_dad() {
        let mut t = table();
        t.apply(&link(3, "eth0", true));
        let s0 = t.snapshot();
        t.apply(&addr(3, "fe80::1", Dad::Optimistic));
        let s1 = t.snapshot();
        assert_eq!(
            lines(&s0, &s1),
            ["eth0: link-local fe80::1 optimistic (usable during DAD)"]
        );
        let eth0 = &s1.links()["eth0"];
        assert_eq!(eth0.usable_link_local(), Some(ll("fe80::1")));
        assert!(eth0.link_locals[0].optimistic);
        t.apply(&addr(3, "fe80::1", Dad::Ready));
        let s2 = t.snapshot();
        assert_eq!(lines(&s1, &s2), ["eth0: link-local fe80::1 ready"]);
        assert!(!s2.links()["eth0"].link_locals[0].optimistic);
    }

    #[test]
    fn dad_progress_and_failure() {
        let mut t = table();
        t.apply(&link(3, "eth0", true));
        let s0 = t.snapshot();
        t.apply(&addr(3, "fe80::1", Dad::Tentative));
        let s1 = t.snapshot();
        assert_eq!(s1.links()["eth0"].usable_link_local(), None);
        assert_eq!(lines(&s0, &s1), ["eth0: link-local fe80::1 tentative"]);
        t.apply(&addr(3, "fe80::1", Dad::Ready));
        let s2 = t.snapshot();
        assert_eq!(lines(&s1, &s2), ["eth0: link-local fe80::1 ready"]);
        assert_eq!(s2.links()["eth0"].usable_link_local(), Some(ll("fe80::1")));

        t.apply(&addr(3, "fe80::2", Dad::Failed));
        let s3 = t.snapshot();
        let changes = diff(&s2, &s3);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].is_warning());
        // Published as tentative: never usable.
        let lls = &s3.links()["eth0"].link_locals;
        assert!(lls.contains(&LinkLocal {
            addr: ll("fe80::2"),
            tentative: true,
            optimistic: false,
        }));

        t.apply(&Event::AddrGone(kernel_addr(3, "fe80::1/64", Dad::Ready)));
        let s4 = t.snapshot();
        assert_eq!(lines(&s3, &s4), ["eth0: link-local fe80::1 removed"]);
        assert_eq!(s4.links()["eth0"].usable_link_local(), None);
    }

    #[test]
    fn up_down_and_unchanged() {
        let mut t = table();
        t.apply(&link(3, "eth0", false));
        let s0 = t.snapshot();
        t.apply(&link(3, "eth0", true));
        let s1 = t.snapshot();
        assert_eq!(lines(&s0, &s1), ["eth0: link up"]);
        t.apply(&link(3, "eth0", true));
        let s2 = t.snapshot();
        assert_eq!(s1, s2);
        assert!(diff(&s1, &s2).is_empty());
        t.apply(&link(3, "eth0", false));
        assert_eq!(lines(&s2, &t.snapshot()), ["eth0: link down"]);
    }

    #[test]
    fn appear_delete_recreate() {
        let mut t = table();
        let empty = t.snapshot();
        t.apply(&link(3, "eth0", true));
        t.apply(&addr(3, "fe80::1", Dad::Ready));
        let s1 = t.snapshot();
        assert_eq!(
            lines(&empty, &s1),
            [
                "eth0: present, ifindex 3, mac 02:00:00:00:00:01",
                "eth0: link up",
                "eth0: link-local fe80::1 ready"
            ]
        );
        t.apply(&Event::LinkGone { ifindex: 3 });
        let s2 = t.snapshot();
        assert!(s2.links().is_empty());
        assert_eq!(lines(&s1, &s2), ["eth0: deleted"]);
        // Addresses went with the link.
        t.apply(&link(3, "eth0", false));
        assert!(t.snapshot().links()["eth0"].link_locals.is_empty());

        // Delete and create seen in one batch.
        let mut t = table();
        t.apply(&link(3, "eth0", true));
        let s1 = t.snapshot();
        t.apply(&Event::LinkGone { ifindex: 3 });
        t.apply(&link(8, "eth0", false));
        assert_eq!(
            lines(&s1, &t.snapshot()),
            ["eth0: recreated, ifindex 3 -> 8", "eth0: link down"]
        );
    }

    #[test]
    fn rename_in_and_out() {
        let mut t = table();
        t.apply(&link(3, "eth0", true));
        t.apply(&link(5, "tmp", true));
        t.apply(&addr(5, "fe80::5", Dad::Ready));
        let s1 = t.snapshot();
        // eth0 -> old (unconfigured), tmp -> eth1 (configured, with its address).
        t.apply(&link(3, "old", true));
        t.apply(&link(5, "eth1", true));
        let s2 = t.snapshot();
        assert_eq!(
            lines(&s1, &s2),
            [
                "eth0: renamed to old",
                "eth1: present (renamed from tmp), ifindex 5, mac 02:00:00:00:00:01",
                "eth1: link up",
                "eth1: link-local fe80::5 ready"
            ]
        );
        assert_eq!(s2.links()["eth1"].usable_link_local(), Some(ll("fe80::5")));
    }

    #[test]
    fn stale_holder_of_a_name_is_dropped() {
        let mut t = table();
        t.apply(&link(3, "eth0", true));
        // The delete of ifindex 3 was lost; the kernel reused the name.
        t.apply(&link(9, "eth0", false));
        let links = t.snapshot().links();
        assert_eq!(links["eth0"].ifindex, 9);
        assert!(!t.is_configured(3));
    }

    #[test]
    fn neighbours_only_of_configured_interfaces() {
        let mut t = table();
        t.apply(&link(1, "lo", true));
        t.apply(&link(3, "eth0", true));
        let obs = |ifindex| {
            Event::Neighbour(Observation {
                ifindex,
                addr: ll("fe80::9"),
                mac: None,
                source: crate::peers::Source::Kernel,
                router: None,
                ra_lifetime: None,
                tentative: false,
            })
        };
        let mut out = Vec::new();
        assert!(!t.apply_event(obs(3), &mut out));
        assert!(!t.apply_event(obs(1), &mut out));
        assert!(!t.apply_event(obs(99), &mut out));
        assert!(t.apply_event(Event::Overrun, &mut out));
        assert_eq!(out.iter().map(|o| o.ifindex).collect::<Vec<_>>(), [3]);
        assert!(!t.apply_event(Event::LinkGone { ifindex: 3 }, &mut out));
        assert!(t.snapshot().links().is_empty());
    }

    #[test]
    fn only_link_and_address_changes_mark_the_snapshots_changed() {
        let mut t = table();
        assert!(t.take_changed(), "a new table is unpublished");
        assert!(!t.take_changed(), "taking the mark clears it");
        let mut out = Vec::new();
        t.apply_event(link(3, "eth0", true), &mut out);
        assert!(t.take_changed());
        // Neighbours, events we ignore, and repeats of what we hold are no change.
        let neighbour = Event::Neighbour(Observation {
            ifindex: 3,
            addr: ll("fe80::9"),
            mac: None,
            source: crate::peers::Source::Kernel,
            router: None,
            ra_lifetime: None,
            tentative: false,
        });
        t.apply_event(neighbour, &mut out);
        t.apply_event(Event::Ignored, &mut out);
        t.apply_event(link(3, "eth0", true), &mut out);
        t.apply_event(Event::AddrGone(kernel_addr(3, "2001:db8::1/64", Dad::Ready)), &mut out);
        assert_eq!(out.len(), 1, "the neighbour is still reported");
        assert!(!t.take_changed());
        // Each kind of link or address change marks it.
        let changes = [
            addr(3, "fe80::1", Dad::Tentative),
            addr(3, "fe80::1", Dad::Ready),
            Event::AddrGone(kernel_addr(3, "fe80::1/64", Dad::Ready)),
            Event::Addr(kernel_addr(3, "2001:db8::1/64", Dad::Ready)),
            Event::Addr(kernel_addr(3, "2001:db8::1/64", Dad::Failed)),
            link(3, "eth0", false),
            link(4, "eth0", false), // takes the name from ifindex 3
            Event::LinkGone { ifindex: 4 },
        ];
        for event in changes {
            let shown = format!("{event:?}");
            let before = t.snapshot();
            t.apply_event(event, &mut out);
            assert!(t.take_changed(), "{shown}");
            assert_ne!(before, t.snapshot(), "{shown}");
        }
        t.apply_event(Event::LinkGone { ifindex: 4 }, &mut out);
        assert!(!t.take_changed(), "a link already gone");
    }

    #[test]
    fn mac_change() {
        let mut t = table();
        t.apply(&link(3, "eth0", true));
        let s1 = t.snapshot();
        t.apply(&Event::Link(KernelLink {
            ifindex: 3,
            name: "eth0".into(),
            up: true,
            loopback: false,
            mac: Some([2, 0, 0, 0, 0, 2]),
        }));
        assert_eq!(lines(&s1, &t.snapshot()), ["eth0: mac changed to 02:00:00:00:00:02"]);
    }

    #[test]
    fn host_addresses_of_every_link() {
        let mut t = table();
        t.apply(&link(1, "lo", true));
        t.apply(&link(3, "eth0", true));
        t.apply(&link(7, "dummy0", false));
        let s0 = t.snapshot();
        t.apply(&Event::Addr(kernel_addr(1, "10.0.0.1/32", Dad::Ready)));
        t.apply(&Event::Addr(kernel_addr(7, "192.0.2.1/24", Dad::Ready)));
        t.apply(&Event::Addr(kernel_addr(3, "2001:db8::1/64", Dad::Tentative)));
        // Link-locals are the configured links' business, not addresses.
        t.apply(&addr(3, "fe80::1", Dad::Ready));
        let s1 = t.snapshot();
        let host = &s1.host;
        assert_eq!(host.links.keys().collect::<Vec<_>>(), ["dummy0", "eth0", "lo"]);
        assert!(host.links["lo"].loopback && !host.links["eth0"].loopback);
        assert_eq!(host.links["eth0"].mac, Some(MAC));
        assert_eq!(host.links["lo"].addresses, [net("10.0.0.1/32")].into());
        assert_eq!(host.links["dummy0"].addresses, [net("192.0.2.1/24")].into());
        assert_eq!(host.links["eth0"].addresses, [net("2001:db8::1/64")].into());
        assert_eq!(
            lines(&s0, &s1),
            [
                "eth0: link-local fe80::1 ready",
                "dummy0: address 192.0.2.1/24",
                "eth0: address 2001:db8::1/64",
                "lo: address 10.0.0.1/32"
            ]
        );
        // Only the addresses of a link that is neither the loopback nor
        // configured are details.
        let details = |old, new| -> Vec<String> {
            let changes = diff(old, new);
            changes
                .iter()
                .filter(|c| c.is_detail())
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(details(&s0, &s1), ["dummy0: address 192.0.2.1/24"]);
        // The same IPv4 address with another prefix length is another address.
        t.apply(&Event::Addr(kernel_addr(7, "192.0.2.1/16", Dad::Ready)));
        t.apply(&Event::AddrGone(kernel_addr(7, "192.0.2.1/24", Dad::Ready)));
        // A duplicate (DAD failed) is no address of ours.
        t.apply(&Event::Addr(kernel_addr(3, "2001:db8::1/64", Dad::Failed)));
        let s2 = t.snapshot();
        assert_eq!(s2.host.links["dummy0"].addresses, [net("192.0.2.1/16")].into());
        assert!(s2.host.links["eth0"].addresses.is_empty());
        assert_eq!(
            lines(&s1, &s2),
            [
                "dummy0: address 192.0.2.1/24 removed",
                "dummy0: address 192.0.2.1/16",
                "eth0: address 2001:db8::1/64 removed"
            ]
        );
        assert_eq!(
            details(&s1, &s2),
            ["dummy0: address 192.0.2.1/24 removed", "dummy0: address 192.0.2.1/16"]
        );
        // Addresses go with their link; a link up or down changes nothing.
        t.apply(&link(7, "dummy0", true));
        assert_eq!(t.snapshot().host, s2.host);
        t.apply(&Event::LinkGone { ifindex: 7 });
        t.apply(&link(7, "dummy0", false));
        assert!(t.snapshot().host.links["dummy0"].addresses.is_empty());
    }
}
