//! A map keyed by IP prefix, with IPv4 and IPv6 apart: an `Ipv4Net` key is
//! 5 bytes where an `IpNet` is 18, and fabrics carry mostly IPv4. Entries
//! sit in sorted blocks of at most [`BLOCK`] (keys and values in two
//! arrays each, so a key costs its 5 bytes and a value no padding), found
//! by a binary search over the blocks' first keys then one in the block.
//! A B-tree (`BTreeMap`) kept its nodes 6/11 full when a table comes in
//! ascending order, as BGP tables do: for 1M /24s from one peer
//! (tests/rib_memory.rs) the FIB's record took 29 bytes per prefix, 14
//! here (the RIB's table, with its entry cut from 24 to 16 bytes, 58 then
//! and 22 now). A hash map would lose the order that paging and range
//! queries use, and keep up to half its buckets empty. No longest-prefix
//! match is needed (the kernel forwards), so no trie. The RIB, the FIB and
//! the per-peer out state all use it.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Bound;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Most entries in a block. Inserting or removing moves up to this many
/// keys and values; each block costs two allocations and its first key.
const BLOCK: usize = 64;

/// Two neighbouring blocks this small together are merged.
const MERGE: usize = BLOCK / 2;

/// A sorted map in blocks: the keys of block `b` all come before those of
/// block `b + 1`; no block is empty. The block lists are deques: a table
/// withdrawn in order (a peer down), or backwards (the FIB's flush),
/// empties its blocks at one end and drops them without moving the rest.
#[derive(Clone)]
struct Blocks<K: Key, V> {
    /// The first key of each block, packed.
    firsts: VecDeque<K::Packed>,
    blocks: VecDeque<Block<K, V>>,
    len: usize,
}

#[derive(Clone)]
struct Block<K, V> {
    /// Sorted; `vals[i]` is `keys[i]`'s.
    keys: Vec<K>,
    vals: Vec<V>,
}

impl<K, V> Block<K, V> {
    /// An empty block with room for a full one: it never reallocates.
    fn new() -> Self {
        Block {
            keys: Vec::with_capacity(BLOCK),
            vals: Vec::with_capacity(BLOCK),
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn insert(&mut self, i: usize, key: K, value: V) {
        // A cloned block has only the room its entries take.
        if self.keys.capacity() < BLOCK {
            self.keys.reserve_exact(BLOCK - self.keys.len());
            self.vals.reserve_exact(BLOCK - self.vals.len());
        }
        self.keys.insert(i, key);
        self.vals.insert(i, value);
    }

    /// Its entries from `at` on, in a new block.
    fn split_off(&mut self, at: usize) -> Self {
        let mut right = Block::new();
        right.keys.extend(self.keys.drain(at..));
        right.vals.extend(self.vals.drain(at..));
        right
    }
}

/// Consumes a block in key order (or backwards), freeing it at the end.
impl<K, V> IntoIterator for Block<K, V> {
    type Item = (K, V);
    type IntoIter = std::iter::Zip<std::vec::IntoIter<K>, std::vec::IntoIter<V>>;

    fn into_iter(self) -> Self::IntoIter {
        self.keys.into_iter().zip(self.vals)
    }
}

impl<K: Key, V> Default for Blocks<K, V> {
    fn default() -> Self {
        Blocks {
            firsts: VecDeque::new(),
            blocks: VecDeque::new(),
            len: 0,
        }
    }
}

/// A key, and the integer it sorts as: the binary searches compare
/// integers, not addresses byte by byte.
trait Key: Ord + Copy {
    type Packed: Ord + Copy;
    fn pack(&self) -> Self::Packed;
}

impl Key for Ipv4Net {
    type Packed = u64;

    fn pack(&self) -> u64 {
        (u64::from(u32::from(self.addr())) << 8) | u64::from(self.prefix_len())
    }
}

impl Key for Ipv6Net {
    type Packed = (u128, u8);

    fn pack(&self) -> (u128, u8) {
        (u128::from(self.addr()), self.prefix_len())
    }
}

impl<K: Key, V> Blocks<K, V> {
    /// The block `key` belongs in: the last whose first key is not past
    /// it, or the first. None when there is no block.
    fn block_of(&self, key: &K) -> Option<usize> {
        if self.blocks.is_empty() {
            return None;
        }
        let key = key.pack();
        Some(self.firsts.partition_point(|first| *first <= key).saturating_sub(1))
    }

    /// Where `key` is (`Ok`) or would go (`Err`) in block `b`.
    fn search(&self, b: usize, key: &K) -> Result<usize, usize> {
        let key = key.pack();
        self.blocks[b].keys.binary_search_by(|k| k.pack().cmp(&key))
    }

    /// Where `key` is (`Ok`) or would go (`Err`): block and index.
    fn find(&self, key: &K) -> Option<(usize, Result<usize, usize>)> {
        let b = self.block_of(key)?;
        Some((b, self.search(b, key)))
    }

    fn get(&self, key: &K) -> Option<&V> {
        match self.find(key)? {
            (b, Ok(i)) => Some(&self.blocks[b].vals[i]),
            _ => None,
        }
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.find(key)? {
            (b, Ok(i)) => Some(&mut self.blocks[b].vals[i]),
            _ => None,
        }
    }

    fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Some((b, Ok(i))) => Some(std::mem::replace(&mut self.blocks[b].vals[i], value)),
            Some((b, Err(i))) => {
                self.insert_at(b, i, key, value);
                None
            }
            None => {
                self.insert_at(0, 0, key, value);
                None
            }
        }
    }

    fn get_or_insert_with(&mut self, key: K, default: impl FnOnce() -> V) -> &mut V {
        let (b, i) = match self.find(&key) {
            Some((b, Ok(i))) => (b, i),
            Some((b, Err(i))) => self.insert_at(b, i, key, default()),
            None => self.insert_at(0, 0, key, default()),
        };
        &mut self.blocks[b].vals[i]
    }

    /// Puts a new entry at index `i` of block `b` (block 0 of none yet);
    /// returns where it ended up.
    fn insert_at(&mut self, b: usize, i: usize, key: K, value: V) -> (usize, usize) {
        self.len += 1;
        if self.blocks.is_empty() {
            let mut block = Block::new();
            block.insert(0, key, value);
            self.blocks.push_back(block);
            self.firsts.push_back(key.pack());
            return (0, 0);
        }
        let (b, i) = if self.blocks[b].len() < BLOCK {
            (b, i)
        } else if i == BLOCK && self.blocks.get(b + 1).is_some_and(|next| next.len() < BLOCK) {
            // Past the end of a full block: the front of the next one.
            (b + 1, 0)
        } else if i == BLOCK || i == 0 {
            // Past either end of a full block: a new block, so a table
            // loaded in order (or in reverse) fills its blocks.
            let at = if i == 0 { b } else { b + 1 };
            self.blocks.insert(at, Block::new());
            self.firsts.insert(at, key.pack());
            (at, 0)
        } else {
            let right = self.blocks[b].split_off(BLOCK / 2);
            self.firsts.insert(b + 1, right.keys[0].pack());
            self.blocks.insert(b + 1, right);
            if i <= BLOCK / 2 { (b, i) } else { (b + 1, i - BLOCK / 2) }
        };
        self.blocks[b].insert(i, key, value);
        if i == 0 {
            self.firsts[b] = key.pack();
        }
        (b, i)
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let (b, i) = match self.find(key)? {
            (b, Ok(i)) => (b, i),
            _ => return None,
        };
        self.len -= 1;
        let block = &mut self.blocks[b];
        block.keys.remove(i);
        let value = block.vals.remove(i);
        if block.keys.is_empty() {
            self.blocks.remove(b);
            self.firsts.remove(b);
        } else {
            if i == 0 {
                self.firsts[b] = block.keys[0].pack();
            }
            // Keep blocks from thinning out as a table is withdrawn.
            if b + 1 < self.blocks.len() && self.blocks[b].len() + self.blocks[b + 1].len() <= MERGE {
                self.merge_next(b);
            } else if b > 0 && self.blocks[b - 1].len() + self.blocks[b].len() <= MERGE {
                self.merge_next(b - 1);
            }
        }
        self.shrink_index();
        Some(value)
    }

    /// Moves block `b + 1`'s entries to the end of block `b`.
    fn merge_next(&mut self, b: usize) {
        let Some(next) = self.blocks.remove(b + 1) else { return };
        self.firsts.remove(b + 1);
        let block = &mut self.blocks[b];
        block.keys.extend(next.keys);
        block.vals.extend(next.vals);
    }

    /// Gives back the block index's room once most blocks are gone.
    fn shrink_index(&mut self) {
        if self.blocks.capacity() > 64 && self.blocks.len() < self.blocks.capacity() / 4 {
            self.blocks.shrink_to_fit();
            self.firsts.shrink_to_fit();
        }
    }

    fn clear(&mut self) {
        *self = Blocks::default();
    }

    /// The first position holding a key past `start`.
    fn lower_bound(&self, start: Bound<K>) -> (usize, usize) {
        let (key, past_equal) = match start {
            Bound::Unbounded => return (0, 0),
            Bound::Included(key) => (key, false),
            Bound::Excluded(key) => (key, true),
        };
        let Some(b) = self.block_of(&key) else { return (0, 0) };
        let i = match self.search(b, &key) {
            Ok(i) if past_equal => i + 1,
            Ok(i) | Err(i) => i,
        };
        (b, i)
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.blocks.iter().flat_map(|block| block.keys.iter().zip(&block.vals))
    }

    /// The entries from `start` up to `end`, in order.
    fn range(&self, start: Bound<K>, end: Bound<K>) -> impl Iterator<Item = (&K, &V)> {
        let (b, i) = self.lower_bound(start);
        let first = self
            .blocks
            .get(b)
            .map(move |block| block.keys[i..].iter().zip(&block.vals[i..]));
        let rest = self
            .blocks
            .iter()
            .skip(b + 1)
            .flat_map(|block| block.keys.iter().zip(&block.vals));
        first
            .into_iter()
            .flatten()
            .chain(rest)
            .take_while(move |(key, _)| match &end {
                Bound::Unbounded => true,
                Bound::Included(last) => *key <= last,
                Bound::Excluded(last) => *key < last,
            })
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.blocks
            .iter_mut()
            .flat_map(|block| block.keys.iter().zip(block.vals.iter_mut()))
    }

    fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for block in &mut self.blocks {
            let mut kept = 0;
            for i in 0..block.keys.len() {
                if keep(&block.keys[i], &mut block.vals[i]) {
                    block.keys.swap(kept, i);
                    block.vals.swap(kept, i);
                    kept += 1;
                }
            }
            block.keys.truncate(kept);
            block.vals.truncate(kept);
        }
        // Thin neighbours merge, as in `remove`: a heavy retain (a peer's
        // table gone) would otherwise leave many nearly empty blocks.
        let mut merged: VecDeque<Block<K, V>> = VecDeque::with_capacity(self.blocks.len());
        for block in std::mem::take(&mut self.blocks) {
            match merged.back_mut() {
                _ if block.keys.is_empty() => {}
                Some(last) if last.len() + block.len() <= MERGE => {
                    last.keys.extend(block.keys);
                    last.vals.extend(block.vals);
                }
                _ => merged.push_back(block),
            }
        }
        self.blocks = merged;
        self.firsts = self.blocks.iter().map(|block| block.keys[0].pack()).collect();
        self.len = self.blocks.iter().map(Block::len).sum();
        self.shrink_index();
    }

    fn into_iter(self) -> std::iter::Flatten<std::collections::vec_deque::IntoIter<Block<K, V>>> {
        self.blocks.into_iter().flatten()
    }
}

#[derive(Clone)]
pub struct PrefixMap<V> {
    v4: Blocks<Ipv4Net, V>,
    v6: Blocks<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: Blocks::default(),
            v6: Blocks::default(),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for PrefixMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Equal entries: how they happen to be split in blocks does not count.
impl<V: PartialEq> PartialEq for PrefixMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V: Eq> Eq for PrefixMap<V> {}

impl<V> PrefixMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.v4.len + self.v6.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
            IpNet::V4(p) => self.v4.get_or_insert_with(p, default),
            IpNet::V6(p) => self.v6.get_or_insert_with(p, default),
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
    /// prefix order: a range of the map, not a scan.
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
            .flat_map(|(start, end)| self.v4.range(start, end))
            .map(|(p, v)| (IpNet::V4(*p), v));
        let v6 = v6
            .into_iter()
            .flat_map(|(start, end)| self.v6.range(start, end))
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

/// The part of `range` past `after`; None when nothing is left.
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

/// Consumes a [`PrefixMap`] in prefix order (or backwards), freeing it a
/// block at a time as it goes.
pub struct IntoIter<V> {
    v4: std::iter::Flatten<std::collections::vec_deque::IntoIter<Block<Ipv4Net, V>>>,
    v6: std::iter::Flatten<std::collections::vec_deque::IntoIter<Block<Ipv6Net, V>>>,
}

impl<V> Iterator for IntoIter<V> {
    type Item = (IpNet, V);

    fn next(&mut self) -> Option<Self::Item> {
        match self.v4.next() {
            Some((p, v)) => Some((IpNet::V4(p), v)),
            None => self.v6.next().map(|(p, v)| (IpNet::V6(p), v)),
        }
    }
}

impl<V> DoubleEndedIterator for IntoIter<V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self.v6.next_back() {
            Some((p, v)) => Some((IpNet::V6(p), v)),
            None => self.v4.next_back().map(|(p, v)| (IpNet::V4(p), v)),
        }
    }
}

impl<V> IntoIterator for PrefixMap<V> {
    type Item = (IpNet, V);
    type IntoIter = IntoIter<V>;

    fn into_iter(self) -> IntoIter<V> {
        IntoIter {
            v4: self.v4.into_iter(),
            v6: self.v6.into_iter(),
        }
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

    /// Applies the same operations to a map and to a `BTreeMap` and
    /// compares them after each, through every way of reading the map.
    fn check_against_a_btree(ops: &[(u8, u32)]) {
        use std::collections::BTreeMap;
        let prefix = |k: u32| {
            // Few distinct keys, so operations hit existing entries; both
            // families, several lengths.
            let k = k % 600;
            if k.is_multiple_of(7) {
                IpNet::V6(Ipv6Net::new_assert(std::net::Ipv6Addr::from(u128::from(k) << 64), 64))
            } else {
                IpNet::V4(Ipv4Net::new_assert(
                    std::net::Ipv4Addr::from(k << 8),
                    24 + (k % 3) as u8,
                ))
            }
        };
        let mut map = PrefixMap::default();
        let mut model = BTreeMap::new();
        for (n, &(op, k)) in ops.iter().enumerate() {
            let p = prefix(k);
            match op % 5 {
                0 | 1 => assert_eq!(map.insert(p, n), model.insert(p, n)),
                2 => assert_eq!(map.remove(&p), model.remove(&p)),
                3 => {
                    *map.get_or_insert_with(p, || n) += 1;
                    *model.entry(p).or_insert(n) += 1;
                }
                _ => {
                    if let Some(v) = map.get_mut(&p) {
                        *v += 1;
                    }
                    if let Some(v) = model.get_mut(&p) {
                        *v += 1;
                    }
                }
            }
            assert_eq!(map.len(), model.len());
            assert_eq!(map.get(&p), model.get(&p));
        }
        let entries: Vec<(IpNet, usize)> = model.iter().map(|(p, v)| (*p, *v)).collect();
        assert!(map.iter().map(|(p, v)| (p, *v)).eq(entries.iter().copied()));
        for k in [0, 5, 77, 300, 599] {
            let after = Some(prefix(k));
            let within = Some(IpNet::V4(Ipv4Net::new_assert(std::net::Ipv4Addr::from(0x100 * k), 20)));
            let expected: Vec<_> = entries
                .iter()
                .filter(|(p, _)| after.is_none_or(|a| *p > a) && within.is_none_or(|w| w.contains(p)))
                .collect();
            let got: Vec<_> = map.iter_within_after(within, after).collect();
            assert_eq!(got.len(), expected.len());
            assert!(got.iter().zip(&expected).all(|((p, v), (q, w))| p == q && *v == w));
        }
        let mut kept = model.clone();
        kept.retain(|p, v| (usize::from(p.prefix_len()) + *v).is_multiple_of(2));
        let mut retained = map.clone();
        retained.retain(|p, v| (usize::from(p.prefix_len()) + *v).is_multiple_of(2));
        assert!(retained.iter().map(|(p, v)| (p, *v)).eq(kept.into_iter()));
        assert_eq!(map.clone(), map);
        assert!(map.clone().into_iter().rev().eq(entries.iter().rev().copied()));
        assert!(map.into_iter().eq(entries.into_iter()));
    }

    #[test]
    fn behaves_as_a_sorted_map_in_order_and_out_of_order() {
        // In order, in reverse, then everything withdrawn: full blocks,
        // new blocks at either end, merges.
        let ascending: Vec<(u8, u32)> = (0..600).map(|k| (0, k)).collect();
        let mut ops = ascending.clone();
        ops.extend((0..600).rev().map(|k| (3, k)));
        ops.extend((0..600).map(|k| (2, (k * 7) % 600)));
        check_against_a_btree(&ops);
        let descending: Vec<(u8, u32)> = (0..600).rev().map(|k| (0, k)).collect();
        check_against_a_btree(&descending);
        // Scattered inserts into full blocks: splits.
        let mut ops = ascending;
        ops.extend((0..600).map(|k| (2, k * 2 + 1)));
        ops.extend((0..600).map(|k| (0, (k * 389) % 600)));
        check_against_a_btree(&ops);
    }

    proptest::proptest! {
        #[test]
        fn random_operations_match_a_sorted_map(ops in proptest::collection::vec((0u8..5, 0u32..600), 0..3000)) {
            check_against_a_btree(&ops);
        }
    }

    #[test]
    fn a_table_loaded_in_order_fills_its_blocks() {
        let mut map = PrefixMap::default();
        for i in 0..10 * BLOCK as u32 {
            map.insert(IpNet::V4(Ipv4Net::new_assert(std::net::Ipv4Addr::from(i << 8), 24)), i);
        }
        assert_eq!(map.v4.blocks.len(), 10);
        assert!(
            map.v4
                .blocks
                .iter()
                .all(|b| b.len() == BLOCK && b.keys.capacity() == BLOCK)
        );
        // Withdrawn out of order: blocks merge, none is left empty.
        for i in (0..10 * BLOCK as u32).filter(|i| i % 8 != 0) {
            map.remove(&IpNet::V4(Ipv4Net::new_assert(std::net::Ipv4Addr::from(i << 8), 24)));
        }
        assert_eq!(map.len(), 10 * BLOCK / 8);
        assert!(map.v4.blocks.len() < 10, "{} blocks", map.v4.blocks.len());
        assert!(map.v4.blocks.iter().all(|b| !b.keys.is_empty()));
    }

    #[test]
    fn a_heavy_retain_merges_the_thin_blocks() {
        let mut map = PrefixMap::new();
        for i in 0..(40 * BLOCK) as u32 {
            map.insert(
                IpNet::V4(Ipv4Net::new(std::net::Ipv4Addr::from(i << 8), 24).expect("/24")),
                i,
            );
        }
        let before = map.v4.blocks.len();
        map.retain(|_, v| *v % 16 == 0);
        assert_eq!(map.len(), 40 * BLOCK / 16);
        assert!(
            map.v4.blocks.len() <= before / 8,
            "{} blocks of {before} left",
            map.v4.blocks.len()
        );
        assert!(map.v4.blocks.iter().all(|b| !b.keys.is_empty() && b.len() <= BLOCK));
        let kept: Vec<u32> = map.iter().map(|(_, v)| *v).collect();
        assert_eq!(kept, (0..(40 * BLOCK) as u32).step_by(16).collect::<Vec<_>>());
        for (b, block) in map.v4.blocks.iter().enumerate() {
            assert_eq!(map.v4.firsts[b], block.keys[0].pack(), "index of block {b}");
        }
        assert_eq!(map.get(&net("0.0.16.0/24")), Some(&16));
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
