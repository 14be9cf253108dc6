//! The shared route table: one entry per prefix holding every peer's path.
//!
//! RFC 4271 3.2 lets an implementation keep Adj-RIBs-In, Loc-RIB and
//! Adj-RIBs-Out as one structure. A path records its peer as a small slot
//! number; its attributes are interned, so a route costs a 16-byte
//! [`Path`] plus its share of the prefix's map slot.

use std::collections::BTreeMap;
use std::mem;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::bgp::route::PathAttributes;

/// Index of a peer in the RIB's peer table; slot 0 is the local pseudo-peer.
pub(super) type Slot = u32;

pub(super) const LOCAL_SLOT: Slot = 0;

/// One peer's path to a prefix (its Adj-RIB-In entry).
#[derive(Debug, Clone)]
pub(super) struct Path {
    pub slot: Slot,
    pub attrs: Arc<PathAttributes>,
}

impl Path {
    /// Attributes are interned, so pointer equality is value equality.
    pub fn same(&self, other: &Path) -> bool {
        self.slot == other.slot && Arc::ptr_eq(&self.attrs, &other.attrs)
    }
}

/// What storing a path did.
pub(super) enum Stored {
    Unchanged,
    Added,
    Replaced(Arc<PathAttributes>),
}

/// All paths to one prefix. `paths[..selected]` is the Loc-RIB multipath
/// set, best first; the rest follow in no particular order. A boxed slice,
/// not a Vec: 8 bytes less per prefix, and paths change rarely.
#[derive(Debug, Default)]
pub(super) struct Entry {
    paths: Box<[Path]>,
    selected: u16,
}

impl Entry {
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    pub fn selected(&self) -> &[Path] {
        &self.paths[..usize::from(self.selected)]
    }

    pub fn best(&self) -> Option<&Path> {
        self.selected().first()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn get(&self, slot: Slot) -> Option<&Path> {
        self.paths.iter().find(|p| p.slot == slot)
    }

    /// Stores `slot`'s path (a peer has at most one per prefix: a new
    /// announcement replaces the old, RFC 4271 9.1.4). Clears the selection.
    pub fn store(&mut self, slot: Slot, attrs: Arc<PathAttributes>) -> Stored {
        if let Some(path) = self.paths.iter_mut().find(|p| p.slot == slot) {
            if Arc::ptr_eq(&path.attrs, &attrs) {
                return Stored::Unchanged;
            }
            self.selected = 0;
            return Stored::Replaced(mem::replace(&mut path.attrs, attrs));
        }
        let old = mem::take(&mut self.paths).into_vec();
        let mut paths = Vec::with_capacity(old.len() + 1);
        paths.extend(old);
        paths.push(Path { slot, attrs });
        self.paths = paths.into_boxed_slice();
        self.selected = 0;
        Stored::Added
    }

    /// Removes `slot`'s path, if any. Clears the selection.
    pub fn remove(&mut self, slot: Slot) -> Option<Arc<PathAttributes>> {
        let index = self.paths.iter().position(|p| p.slot == slot)?;
        let mut paths = mem::take(&mut self.paths).into_vec();
        let removed = paths.remove(index);
        self.paths = paths.into_boxed_slice();
        self.selected = 0;
        Some(removed.attrs)
    }

    /// Puts the paths at `order` (indices into `paths()`, best first) in
    /// front as the selected set; the others keep their relative order.
    pub fn set_selection(&mut self, order: &[usize]) {
        let in_place = order.iter().enumerate().all(|(i, &j)| i == j);
        if !in_place {
            let mut old: Vec<Option<Path>> = mem::take(&mut self.paths).into_vec().into_iter().map(Some).collect();
            let mut paths = Vec::with_capacity(old.len());
            for &i in order {
                if let Some(path) = old.get_mut(i).and_then(Option::take) {
                    paths.push(path);
                }
            }
            paths.extend(old.into_iter().flatten());
            self.paths = paths.into_boxed_slice();
        }
        self.selected = u16::try_from(order.len()).unwrap_or(u16::MAX);
    }
}

/// A map keyed by prefix, with IPv4 and IPv6 apart: an `Ipv4Net` key is 5
/// bytes where an `IpNet` is 18, and fabrics carry mostly IPv4. B-trees,
/// not hash maps: measured with 1M /32s from two peers (tests/rib_memory.rs)
/// the table costs 87 to 90 bytes per prefix against 101 for `HashMap`,
/// which doubles its buckets just below 1M; iteration comes out sorted.
/// No longest-prefix match is needed (the kernel forwards), so no trie.
#[derive(Debug)]
pub(super) struct PrefixMap<V> {
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
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(med: u32) -> Arc<PathAttributes> {
        Arc::new(PathAttributes {
            med: Some(med),
            ..Default::default()
        })
    }

    #[test]
    fn store_replace_remove() {
        let mut entry = Entry::default();
        let a = attrs(1);
        assert!(matches!(entry.store(1, a.clone()), Stored::Added));
        assert!(matches!(entry.store(1, a.clone()), Stored::Unchanged));
        assert!(matches!(entry.store(2, attrs(2)), Stored::Added));
        match entry.store(1, attrs(3)) {
            Stored::Replaced(old) => assert!(Arc::ptr_eq(&old, &a)),
            _ => panic!("expected a replacement"),
        }
        assert_eq!(entry.paths().len(), 2);
        assert!(entry.remove(1).is_some());
        assert!(entry.remove(1).is_none());
        assert_eq!(entry.paths().len(), 1);
        assert_eq!(entry.paths()[0].slot, 2);
    }

    #[test]
    fn selection_moves_selected_paths_to_the_front() {
        let mut entry = Entry::default();
        for slot in 1..=4 {
            entry.store(slot, attrs(slot));
        }
        entry.set_selection(&[2, 0]);
        let slots: Vec<Slot> = entry.paths().iter().map(|p| p.slot).collect();
        assert_eq!(slots, [3, 1, 2, 4]);
        assert_eq!(entry.selected().len(), 2);
        assert_eq!(entry.best().map(|p| p.slot), Some(3));
    }

    #[test]
    fn prefix_map_keeps_families_apart() {
        let mut map = PrefixMap::default();
        let v4: IpNet = "10.0.0.0/24".parse().unwrap();
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        *map.get_or_insert_with(v4, || 0) += 1;
        *map.get_or_insert_with(v6, || 10) += 1;
        *map.get_or_insert_with(v4, || 0) += 1;
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&v4), Some(&2));
        assert_eq!(map.get(&v6), Some(&11));
        assert_eq!(map.remove(&v4), Some(2));
        let keys: Vec<IpNet> = map.iter().map(|(p, _)| p).collect();
        assert_eq!(keys, [v6]);
    }

    #[test]
    fn sizes_stay_compact() {
        assert_eq!(mem::size_of::<Path>(), 16);
        assert_eq!(mem::size_of::<Entry>(), 24);
    }
}
