//! A map keyed by IP prefix, with IPv4 and IPv6 apart: an `Ipv4Net` key is
//! 5 bytes where an `IpNet` is 18, and fabrics carry mostly IPv4. B-trees,
//! not hash maps: measured with 1M /32s from two peers (tests/rib_memory.rs)
//! the RIB's table costs 87 to 90 bytes per prefix against 101 for
//! `HashMap`, which doubles its buckets just below 1M; iteration comes out
//! sorted. No longest-prefix match is needed (the kernel forwards), so no
//! trie. The RIB, the FIB and the per-peer out state all use it.

use std::collections::BTreeMap;
use std::ops::Bound;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixMap<V> {
    v4: BTreeMap<Ipv4Net, V>,
    v6: BTreeMap<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: BTreeMap::new(),
            v6: BTreeMap::new(),
        }
    }
}

impl<V> PrefixMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&V> {
        match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }
    }

    pub fn get_mut(&mut self, prefix: &IpNet) -> Option<&mut V> {
        match prefix {
            IpNet::V4(p) => self.v4.get_mut(p),
            IpNet::V6(p) => self.v6.get_mut(p),
        }
    }

    pub fn contains(&self, prefix: &IpNet) -> bool {
        self.get(prefix).is_some()
    }

    pub fn insert(&mut self, prefix: IpNet, value: V) -> Option<V> {
        match prefix {
            IpNet::V4(p) => self.v4.insert(p, value),
            IpNet::V6(p) => self.v6.insert(p, value),
        }
    }

    pub fn get_or_insert_with(&mut self, prefix: IpNet, default: impl FnOnce() -> V) -> &mut V {
        match prefix {
            IpNet::V4(p) => self.v4.entry(p).or_insert_with(default),
            IpNet::V6(p) => self.v6.entry(p).or_insert_with(default),
        }
    }

    pub fn remove(&mut self, prefix: &IpNet) -> Option<V> {
        match prefix {
            IpNet::V4(p) => self.v4.remove(p),
            IpNet::V6(p) => self.v6.remove(p),
        }
    }

    /// In prefix order (IPv4 first, as `IpNet`'s `Ord`).
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> {
        let v4 = self.v4.iter().map(|(p, v)| (IpNet::V4(*p), v));
        let v6 = self.v6.iter().map(|(p, v)| (IpNet::V6(*p), v));
        v4.chain(v6)
    }

    /// The entries equal to or inside `within` (all without it), in
    /// prefix order: a range of the B-tree, not a scan.
    pub fn iter_within(&self, within: Option<IpNet>) -> impl Iterator<Item = (IpNet, &V)> {
        self.iter_within_after(within, None)
    }

    /// [`PrefixMap::iter_within`] from the first prefix past `after`: a
    /// walk taken up again where it stopped, without a scan.
    pub fn iter_within_after(&self, within: Option<IpNet>, after: Option<IpNet>) -> impl Iterator<Item = (IpNet, &V)> {
        // Keys order by (address, length): whatever lies inside `w` has
        // an address between its first and its last.
        let (v4, v6) = match within {
            None => (
                Some((Bound::Unbounded, Bound::Unbounded)),
                Some((Bound::Unbounded, Bound::Unbounded)),
            ),
            Some(IpNet::V4(w)) => {
                let first = Ipv4Net::new_assert(w.network(), 0);
                let last = Ipv4Net::new_assert(w.broadcast(), 32);
                (Some((Bound::Included(first), Bound::Included(last))), None)
            }
            Some(IpNet::V6(w)) => {
                let first = Ipv6Net::new_assert(w.network(), 0);
                let last = Ipv6Net::new_assert(w.broadcast(), 128);
                (None, Some((Bound::Included(first), Bound::Included(last))))
            }
        };
        // Past `after`: IPv4 prefixes all come before IPv6 ones.
        let (v4, v6) = match after {
            None => (v4, v6),
            Some(IpNet::V4(a)) => (v4.and_then(|r| past(r, a)), v6),
            Some(IpNet::V6(a)) => (None, v6.and_then(|r| past(r, a))),
        };
        let v4 = v4
            .into_iter()
            .flat_map(|r| self.v4.range(r))
            .map(|(p, v)| (IpNet::V4(*p), v));
        let v6 = v6
            .into_iter()
            .flat_map(|r| self.v6.range(r))
            .map(|(p, v)| (IpNet::V6(*p), v));
        v4.chain(v6).filter(move |(p, _)| within.is_none_or(|w| w.contains(p)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut V)> {
        let v4 = self.v4.iter_mut().map(|(p, v)| (IpNet::V4(*p), v));
        let v6 = self.v6.iter_mut().map(|(p, v)| (IpNet::V6(*p), v));
        v4.chain(v6)
    }

    pub fn keys(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.iter().map(|(p, _)| p)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(IpNet, &mut V) -> bool) {
        self.v4.retain(|p, v| keep(IpNet::V4(*p), v));
        self.v6.retain(|p, v| keep(IpNet::V6(*p), v));
    }
}

/// The part of `range` past `after`; None when nothing is left (a
/// B-tree range whose start is past its end panics).
fn past<K: Ord + Copy>((start, end): (Bound<K>, Bound<K>), after: K) -> Option<(Bound<K>, Bound<K>)> {
    let start = match start {
        Bound::Included(s) if s > after => Bound::Included(s),
        Bound::Excluded(s) if s >= after => Bound::Excluded(s),
        _ => Bound::Excluded(after),
    };
    match (start, end) {
        (Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) if s >= e => None,
        (Bound::Included(s), Bound::Included(e)) if s > e => None,
        (Bound::Included(s), Bound::Excluded(e)) if s >= e => None,
        range => Some(range),
    }
}

/// Consumes the map in prefix order, freeing it as it goes.
impl<V> IntoIterator for PrefixMap<V> {
    type Item = (IpNet, V);
    type IntoIter = std::iter::Chain<
        std::iter::Map<std::collections::btree_map::IntoIter<Ipv4Net, V>, fn((Ipv4Net, V)) -> (IpNet, V)>,
        std::iter::Map<std::collections::btree_map::IntoIter<Ipv6Net, V>, fn((Ipv6Net, V)) -> (IpNet, V)>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        let v4: fn((Ipv4Net, V)) -> (IpNet, V) = |(p, v)| (IpNet::V4(p), v);
        let v6: fn((Ipv6Net, V)) -> (IpNet, V) = |(p, v)| (IpNet::V6(p), v);
        self.v4.into_iter().map(v4).chain(self.v6.into_iter().map(v6))
    }
}

impl<V> FromIterator<(IpNet, V)> for PrefixMap<V> {
    fn from_iter<I: IntoIterator<Item = (IpNet, V)>>(iter: I) -> Self {
        let mut map = PrefixMap::default();
        for (prefix, value) in iter {
            map.insert(prefix, value);
        }
        map
    }
}

impl<V> Extend<(IpNet, V)> for PrefixMap<V> {
    fn extend<I: IntoIterator<Item = (IpNet, V)>>(&mut self, iter: I) {
        for (prefix, value) in iter {
            self.insert(prefix, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    #[test]
    fn iter_within_is_the_filtered_iteration() {
        let all = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.0.0/24",
            "10.1.255.255/32",
            "10.2.0.0/16",
            "11.0.0.0/8",
            "255.255.255.255/32",
            "::/0",
            "2001:db8::/32",
            "2001:db8:1::/48",
            "2001:db9::/32",
        ];
        let map: PrefixMap<usize> = all.iter().enumerate().map(|(i, p)| (net(p), i)).collect();
        for within in [
            None,
            Some("0.0.0.0/0"),
            Some("10.1.0.0/16"),
            Some("10.1.255.255/32"),
            Some("10.3.0.0/16"),
            Some("::/0"),
            Some("2001:db8::/32"),
        ] {
            let within = within.map(net);
            let scanned: Vec<_> = map
                .iter()
                .filter(|(p, _)| within.is_none_or(|w| w.contains(p)))
                .collect();
            assert_eq!(
                map.iter_within(within).collect::<Vec<_>>(),
                scanned,
                "within {within:?}"
            );
        }
        assert_eq!(map.iter_within(Some(net("10.1.0.0/16"))).count(), 3);
    }

    #[test]
    fn iter_within_after_takes_up_where_it_stopped() {
        let all = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.0.0/24",
            "10.1.255.255/32",
            "11.0.0.0/8",
            "::/0",
            "2001:db8::/32",
            "2001:db8:1::/48",
        ];
        let map: PrefixMap<usize> = all.iter().enumerate().map(|(i, p)| (net(p), i)).collect();
        // Keys in the map, between them, and past either end of a family.
        let afters = all
            .iter()
            .chain(&[
                "9.0.0.0/8",
                "10.1.0.0/20",
                "255.255.255.255/32",
                "2001:db8:2::/48",
                "ffff::/16",
            ])
            .map(|p| Some(net(p)))
            .chain([None]);
        for after in afters {
            for within in [
                None,
                Some("10.1.0.0/16"),
                Some("10.1.0.0/24"),
                Some("2001:db8::/32"),
                Some("12.0.0.0/8"),
            ] {
                let within = within.map(net);
                let scanned: Vec<_> = map
                    .iter_within(within)
                    .filter(|(p, _)| after.is_none_or(|a| *p > a))
                    .collect();
                assert_eq!(
                    map.iter_within_after(within, after).collect::<Vec<_>>(),
                    scanned,
                    "within {within:?} after {after:?}"
                );
            }
        }
    }

    #[test]
    fn keeps_families_apart_and_sorted() {
        let mut map = PrefixMap::default();
        let v4 = net("10.0.0.0/24");
        let v6 = net("2001:db8::/32");
        *map.get_or_insert_with(v6, || 10) += 1;
        *map.get_or_insert_with(v4, || 0) += 1;
        *map.get_or_insert_with(v4, || 0) += 1;
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&v4), Some(&2));
        assert_eq!(map.get(&v6), Some(&11));
        assert_eq!(map.keys().collect::<Vec<_>>(), [v4, v6]);
        assert_eq!(map.remove(&v4), Some(2));
        assert_eq!(map.keys().collect::<Vec<_>>(), [v6]);
    }

    #[test]
    fn retain_and_collect() {
        let mut map: PrefixMap<u8> = [
            (net("10.0.0.0/24"), 1),
            (net("2001:db8::/64"), 2),
            (net("10.1.0.0/16"), 3),
        ]
        .into_iter()
        .collect();
        map.retain(|_, v| *v != 2);
        assert_eq!(map.keys().collect::<Vec<_>>(), [net("10.0.0.0/24"), net("10.1.0.0/16")]);
        let owned: Vec<(IpNet, u8)> = map.into_iter().collect();
        assert_eq!(owned, [(net("10.0.0.0/24"), 1), (net("10.1.0.0/16"), 3)]);
    }
}
