//! What the listening socket must hold for TCP-MD5 (RFC 2385) and GTSM
//! (RFC 5082), from the policies, the configured links and the sessions:
//! a pure function the manager re-runs when one of them changes, and the
//! check of an accepted connection against its interface's policy.
//!
//! Neighbours are discovered, so a key has to be on the listener before
//! the first SYN of a neighbour we do not know yet: one key covers the
//! whole link-local range (fe80::/10). The kernel matches keys by address
//! alone (a link-local's interface plays no part), and it uses the most
//! specific key covering a source; so an interface whose key differs from
//! the range's gets one /128 key per known neighbour. See
//! docs/ARCHITECTURE.md, "Authentication", for what this cannot do.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::peers::PeerKey;
use crate::policy::{Policies, TcpMd5Key};

/// fe80::/10, where every neighbour of ours is.
pub fn link_local_range() -> Ipv6Net {
    Ipv6Net::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10).unwrap_or_default()
}

/// How a connection is protected, as `ndbgpctl neighbors` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Protection {
    /// Every segment carries an RFC 2385 signature the kernel checked.
    pub tcp_md5: bool,
    /// Segments below hop limit 255 are dropped (RFC 5082).
    pub ttl_security: bool,
}

/// The listener's TCP-MD5 keys and hop-count check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerSecurity {
    /// Keys by the remote prefix they cover.
    pub keys: BTreeMap<Ipv6Net, TcpMd5Key>,
    /// IPV6_MINHOPCOUNT 255 on the listener itself: every configured
    /// interface asks for GTSM, so SYNs below 255 are dropped.
    pub gtsm_listener: bool,
    /// Links (ifindex) whose accepted connections get the check right after
    /// accept, when the listener cannot have it.
    pub gtsm_links: BTreeSet<u32>,
    /// The key each keyed link's neighbours must sign with.
    pub required: BTreeMap<u32, TcpMd5Key>,
    /// Neighbours one key table cannot serve (the same link-local on two
    /// links with different keys), for the log.
    pub conflicts: Vec<String>,
}

/// A configured interface: its name and, if the link exists, its ifindex.
pub struct ConfiguredLink<'a> {
    pub name: &'a str,
    pub ifindex: Option<u32>,
}

impl ListenerSecurity {
    /// What the listener needs for `links` (the configured interfaces) and
    /// the neighbours of the sessions that exist (`peers`).
    pub fn new(policies: &Policies, links: &[ConfiguredLink], peers: &[PeerKey]) -> ListenerSecurity {
        let policy_of = |name: &str| policies.for_interface(name);
        let mut security = ListenerSecurity::default();
        // One key for the whole range only if every configured interface
        // has a key: a link without one must not be made to sign.
        let all_keyed = !links.is_empty() && links.iter().all(|l| policy_of(l.name).tcp_md5.is_some());
        let range_key = all_keyed
            .then(|| {
                policies
                    .default
                    .tcp_md5
                    .clone()
                    .or_else(|| links.first().and_then(|l| policy_of(l.name).tcp_md5.clone()))
            })
            .flatten();
        if let Some(key) = &range_key {
            security.keys.insert(link_local_range(), key.clone());
        }
        let mut names = BTreeMap::new();
        for link in links {
            let Some(ifindex) = link.ifindex else { continue };
            let policy = policy_of(link.name);
            names.insert(ifindex, link.name);
            if let Some(key) = &policy.tcp_md5 {
                security.required.insert(ifindex, key.clone());
            }
            if policy.ttl_security {
                security.gtsm_links.insert(ifindex);
            }
        }
        security.gtsm_listener = !links.is_empty() && links.iter().all(|l| policy_of(l.name).ttl_security);
        // The key (or none) each neighbour's address must have; the first
        // link (lowest ifindex) keeps an address two links want differently.
        let mut peers = peers.to_vec();
        peers.sort();
        let mut wanted: BTreeMap<Ipv6Addr, Option<&TcpMd5Key>> = BTreeMap::new();
        for peer in &peers {
            let key = security.required.get(&peer.ifindex);
            match wanted.get(&peer.addr) {
                None => {
                    wanted.insert(peer.addr, key);
                }
                Some(first) if *first == key => {}
                Some(_) => security.conflicts.push(format!(
                    "{}: neighbour {} has another key on another link; one key per address: its connections will fail",
                    names.get(&peer.ifindex).copied().unwrap_or("?"),
                    peer.addr
                )),
            }
        }
        for (addr, key) in wanted {
            if let Some(key) = key.filter(|k| Some(*k) != range_key.as_ref()) {
                security.keys.insert(Ipv6Net::from(addr), key.clone());
            }
        }
        security
    }

    /// The key the kernel uses for `addr`: the most specific one covering it.
    pub fn key_for(&self, addr: Ipv6Addr) -> Option<&TcpMd5Key> {
        self.keys
            .iter()
            .filter(|(net, _)| net.contains(&addr))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(_, key)| key)
    }

    /// How a connection from `addr` on `ifindex` accepted by a listener
    /// holding `self` is protected, or why it must be refused: its link
    /// asks for a key it was not signed with (it came before its /128 key
    /// was in place, under no key or the range's).
    pub fn admit(&self, ifindex: u32, addr: Ipv6Addr) -> Result<Protection, KeyMismatch> {
        let used = self.key_for(addr);
        match self.required.get(&ifindex) {
            Some(required) if used != Some(required) => Err(KeyMismatch),
            _ => Ok(Protection {
                tcp_md5: used.is_some(),
                ttl_security: self.gtsm_listener || self.gtsm_links.contains(&ifindex),
            }),
        }
    }
}

/// An accepted connection was not signed with its link's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMismatch;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::SessionPolicy;

    fn key(text: &str) -> TcpMd5Key {
        TcpMd5Key::from_file_text(text.as_bytes()).unwrap()
    }

    fn policy(k: Option<&str>, gtsm: bool) -> SessionPolicy {
        SessionPolicy {
            tcp_md5: k.map(key),
            ttl_security: gtsm,
            ..SessionPolicy::default()
        }
    }

    fn policies(default: SessionPolicy, overrides: &[(&str, SessionPolicy)]) -> Policies {
        Policies {
            default,
            interfaces: overrides.iter().map(|(n, p)| (n.to_string(), p.clone())).collect(),
        }
    }

    fn links<'a>(names: &[(&'a str, u32)]) -> Vec<ConfiguredLink<'a>> {
        names
            .iter()
            .map(|&(name, ifindex)| ConfiguredLink {
                name,
                ifindex: Some(ifindex),
            })
            .collect()
    }

    fn peer(ifindex: u32, addr: &str) -> PeerKey {
        PeerKey {
            ifindex,
            addr: addr.parse().unwrap(),
        }
    }

    fn net(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }

    #[test]
    fn no_policy_no_keys_and_every_connection_admitted() {
        let s = ListenerSecurity::new(&Policies::default(), &links(&[("eth0", 2)]), &[peer(2, "fe80::1")]);
        assert_eq!(s, ListenerSecurity::default());
        assert_eq!(s.admit(2, "fe80::1".parse().unwrap()), Ok(Protection::default()));
    }

    #[test]
    fn one_key_covers_the_link_local_range_before_any_neighbour() {
        let p = policies(policy(Some("k"), false), &[]);
        let s = ListenerSecurity::new(&p, &links(&[("eth0", 2), ("eth1", 3)]), &[]);
        assert_eq!(s.keys.len(), 1);
        assert_eq!(s.keys.get(&net("fe80::/10")), Some(&key("k")));
        let ok = s.admit(3, "fe80::9".parse().unwrap()).unwrap();
        assert!(ok.tcp_md5 && !ok.ttl_security);
    }

    #[test]
    fn an_interface_with_its_own_key_gets_a_host_key_per_neighbour() {
        let p = policies(policy(Some("k"), false), &[("eth1", policy(Some("other"), false))]);
        let l = links(&[("eth0", 2), ("eth1", 3)]);
        let s = ListenerSecurity::new(&p, &l, &[peer(2, "fe80::1"), peer(3, "fe80::2")]);
        assert_eq!(s.keys.get(&net("fe80::/10")), Some(&key("k")));
        assert_eq!(s.keys.get(&net("fe80::2/128")), Some(&key("other")));
        assert_eq!(s.keys.len(), 2, "eth0's neighbour is covered by the range");
        assert_eq!(s.key_for("fe80::2".parse().unwrap()), Some(&key("other")));
        assert!(s.admit(3, "fe80::2".parse().unwrap()).is_ok());
        // Not known yet on eth1: the kernel checked the range's key, which
        // is not eth1's.
        assert_eq!(s.admit(3, "fe80::3".parse().unwrap()), Err(KeyMismatch));
    }

    #[test]
    fn a_link_without_a_key_leaves_the_range_unkeyed() {
        let p = policies(policy(Some("k"), false), &[("eth1", policy(None, false))]);
        let l = links(&[("eth0", 2), ("eth1", 3)]);
        let s = ListenerSecurity::new(&p, &l, &[peer(2, "fe80::1"), peer(3, "fe80::2")]);
        assert_eq!(s.keys.keys().copied().collect::<Vec<_>>(), vec![net("fe80::1/128")]);
        assert_eq!(s.admit(3, "fe80::2".parse().unwrap()), Ok(Protection::default()));
        assert!(s.admit(2, "fe80::1".parse().unwrap()).unwrap().tcp_md5);
        // An unknown neighbour on the keyed link came in unsigned: refused.
        assert_eq!(s.admit(2, "fe80::7".parse().unwrap()), Err(KeyMismatch));
    }

    #[test]
    fn the_same_address_on_two_links_with_two_keys_is_a_conflict() {
        let p = policies(
            policy(None, false),
            &[("eth0", policy(Some("a"), false)), ("eth1", policy(Some("b"), false))],
        );
        let l = links(&[("eth0", 2), ("eth1", 3)]);
        let s = ListenerSecurity::new(&p, &l, &[peer(3, "fe80::1"), peer(2, "fe80::1")]);
        // All links keyed: the range takes the first link's key; eth0's
        // fe80::1 wants the range's, eth1's another: eth0 (first) keeps it.
        assert_eq!(s.keys.keys().copied().collect::<Vec<_>>(), vec![net("fe80::/10")]);
        assert_eq!(s.conflicts.len(), 1, "{s:?}");
        assert!(s.conflicts[0].starts_with("eth1: neighbour fe80::1 "), "{s:?}");
        assert!(s.admit(2, "fe80::1".parse().unwrap()).is_ok());
        assert_eq!(s.admit(3, "fe80::1".parse().unwrap()), Err(KeyMismatch));
        // A link without a key and a keyed one: the same.
        let p = policies(policy(None, false), &[("eth1", policy(Some("b"), false))]);
        let s = ListenerSecurity::new(&p, &l, &[peer(3, "fe80::1"), peer(2, "fe80::1")]);
        assert!(s.keys.is_empty(), "{s:?}");
        assert_eq!(s.conflicts.len(), 1, "{s:?}");
        let p = policies(
            policy(None, false),
            &[
                ("eth0", policy(Some("a"), false)),
                ("eth1", policy(Some("b"), false)),
                ("eth2", policy(Some("c"), false)),
            ],
        );
        let l = links(&[("eth0", 2), ("eth1", 3), ("eth2", 4)]);
        let s = ListenerSecurity::new(&p, &l, &[peer(4, "fe80::1"), peer(3, "fe80::1")]);
        assert_eq!(
            s.keys.get(&net("fe80::1/128")),
            Some(&key("b")),
            "the lower ifindex keeps it"
        );
        assert_eq!(s.conflicts.len(), 1, "{s:?}");
        assert!(s.conflicts[0].contains("eth2") && s.conflicts[0].contains("fe80::1"));
    }

    #[test]
    fn gtsm_on_the_listener_only_if_every_interface_asks() {
        let p = policies(policy(None, true), &[]);
        let s = ListenerSecurity::new(&p, &links(&[("eth0", 2), ("eth1", 3)]), &[]);
        assert!(s.gtsm_listener);
        assert!(s.admit(2, "fe80::1".parse().unwrap()).unwrap().ttl_security);
        let p = policies(policy(None, true), &[("eth1", policy(None, false))]);
        let s = ListenerSecurity::new(&p, &links(&[("eth0", 2), ("eth1", 3)]), &[]);
        assert!(!s.gtsm_listener);
        assert_eq!(s.gtsm_links, BTreeSet::from([2]));
        assert!(s.admit(2, "fe80::1".parse().unwrap()).unwrap().ttl_security);
        assert!(!s.admit(3, "fe80::1".parse().unwrap()).unwrap().ttl_security);
    }
}
