//! The shared route table: one entry per prefix holding every peer's path.
//!
//! RFC 4271 3.2 lets an implementation keep Adj-RIBs-In, Loc-RIB and
//! Adj-RIBs-Out as one structure. A path records its peer as a small slot
//! number; its attributes are interned, so a prefix with one path costs a
//! 16-byte [`Entry`] plus its key's share of the map.

use std::mem;
use std::sync::Arc;

use crate::msg::update::PathAttributes;

/// Index of a peer in the RIB's peer table; slot 0 is the local pseudo-peer.
pub(super) type Slot = u32;

pub(super) const LOCAL_SLOT: Slot = 0;

/// Why a stored path takes no part in the decision process. It stays in
/// the Adj-RIB-In (pre-policy), so a policy change can take it in without
/// the peer sending it again, and `ndbgpctl routes --filtered` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The session's import filter denies the prefix.
    ImportFilter,
    /// From eBGP, the AS_PATH does not start with the peer's AS (RFC 4271
    /// 6.3, RFC 7606 7.2: treat-as-withdraw).
    FirstAs,
    /// The next hop is one of our own addresses (RFC 4271 5.1.3). Kept so
    /// that the path is usable again once the address stops being ours.
    NextHopOurs,
}

impl Rejection {
    /// As `ndbgpctl routes --filtered` shows it.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::ImportFilter => "import filter",
            Rejection::FirstAs => "first AS",
            Rejection::NextHopOurs => "next hop ours",
        }
    }
}

/// One peer's path to a prefix (its Adj-RIB-In entry).
#[derive(Debug, Clone)]
pub(super) struct Path {
    pub slot: Slot,
    /// Set: not a candidate for best path (fits in the slot's padding).
    pub rejected: Option<Rejection>,
    /// Kept from a session that ended in a graceful restart (RFC 4724
    /// 4.2): still used, until the peer sends it again or it is swept
    /// (in the padding too).
    pub stale: bool,
    pub attrs: Arc<PathAttributes>,
}

impl Path {
    /// Attributes are interned, so pointer equality is value equality.
    pub fn same(&self, other: &Path) -> bool {
        self.slot == other.slot && Arc::ptr_eq(&self.attrs, &other.attrs)
    }

    pub fn eligible(&self) -> bool {
        self.rejected.is_none()
    }
}

/// What storing a path did.
pub(super) enum Stored {
    Unchanged,
    Added,
    /// The path it replaced.
    Replaced(Path),
}

/// All paths to one prefix. The selected ones (the Loc-RIB multipath
/// set) come first, best first; the rest follow in no particular order.
/// Most prefixes have one path: it is kept inline (no allocation, 16 bytes
/// in all), selected exactly when it is eligible (the decision process has
/// nothing else to weigh). Several go behind one pointer, so that the
/// common case is not the size of the rare one.
#[derive(Debug, Default)]
pub(super) enum Entry {
    /// Only between creation and the first stored path.
    #[default]
    Empty,
    One(Path),
    Many(Box<Many>),
}

#[derive(Debug)]
pub(super) struct Many {
    /// A boxed slice: 8 bytes less than a Vec; paths change rarely.
    paths: Box<[Path]>,
    selected: u16,
}

impl Entry {
    pub fn paths(&self) -> &[Path] {
        match self {
            Entry::Empty => &[],
            Entry::One(path) => std::slice::from_ref(path),
            Entry::Many(many) => &many.paths,
        }
    }

    pub fn selected(&self) -> &[Path] {
        match self {
            Entry::Empty => &[],
            Entry::One(path) if path.eligible() => std::slice::from_ref(path),
            Entry::One(_) => &[],
            Entry::Many(many) => &many.paths[..usize::from(many.selected).min(many.paths.len())],
        }
    }

    pub fn best(&self) -> Option<&Path> {
        self.selected().first()
    }

    pub fn is_empty(&self) -> bool {
        self.paths().is_empty()
    }

    pub fn get(&self, slot: Slot) -> Option<&Path> {
        self.paths().iter().find(|p| p.slot == slot)
    }

    /// `slot`'s path, to change its stale mark, which leaves the selection
    /// as it is (not its rejection: a one-path entry's selection follows
    /// that).
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut Path> {
        match self {
            Entry::Empty => None,
            Entry::One(path) => (path.slot == slot).then_some(path),
            Entry::Many(many) => many.paths.iter_mut().find(|p| p.slot == slot),
        }
    }

    fn set(&mut self, paths: Vec<Path>) {
        *self = match <[Path; 1]>::try_from(paths) {
            Ok([path]) => Entry::One(path),
            Err(paths) if paths.is_empty() => Entry::Empty,
            Err(paths) => Entry::Many(Box::new(Many {
                paths: paths.into_boxed_slice(),
                selected: 0,
            })),
        };
    }

    /// Stores `path` as its slot's (a peer has at most one per prefix: a
    /// new announcement replaces the old, RFC 4271 9.1.4). Clears the
    /// selection of several paths (that of one follows its eligibility).
    pub fn store(&mut self, path: Path) -> Stored {
        if let Some(i) = self.paths().iter().position(|p| p.slot == path.slot) {
            let old = &self.paths()[i];
            if old.same(&path) && old.rejected == path.rejected && old.stale == path.stale {
                return Stored::Unchanged;
            }
            let old = match self {
                Entry::Empty => return Stored::Unchanged,
                Entry::One(old) => mem::replace(old, path),
                Entry::Many(many) => {
                    many.selected = 0;
                    mem::replace(&mut many.paths[i], path)
                }
            };
            return Stored::Replaced(old);
        }
        let mut all = Vec::with_capacity(self.paths().len() + 1);
        all.extend(mem::take(self).into_paths());
        all.push(path);
        self.set(all);
        Stored::Added
    }

    /// Removes `slot`'s path, if any. Clears the selection.
    pub fn remove(&mut self, slot: Slot) -> Option<Path> {
        let index = self.paths().iter().position(|p| p.slot == slot)?;
        let mut paths = mem::take(self).into_paths();
        let removed = paths.remove(index);
        self.set(paths);
        Some(removed)
    }

    fn into_paths(self) -> Vec<Path> {
        match self {
            Entry::Empty => Vec::new(),
            Entry::One(path) => vec![path],
            Entry::Many(many) => many.paths.into_vec(),
        }
    }

    /// Puts the paths at `order` (indices into `paths()`, best first) in
    /// front as the selected set; the others keep their relative order.
    /// One path is selected when it is eligible, which is what `order`
    /// says for it.
    pub fn set_selection(&mut self, order: &[usize]) {
        let Entry::Many(many) = self else {
            debug_assert!(self.paths().len() != 1 || (order == [0]) == self.paths()[0].eligible());
            return;
        };
        let in_place = order.iter().enumerate().all(|(i, &j)| i == j);
        if !in_place {
            let mut old: Vec<Option<Path>> = mem::take(&mut many.paths).into_vec().into_iter().map(Some).collect();
            let mut sorted = Vec::with_capacity(old.len());
            for &i in order {
                if let Some(path) = old.get_mut(i).and_then(Option::take) {
                    sorted.push(path);
                }
            }
            sorted.extend(old.into_iter().flatten());
            many.paths = sorted.into_boxed_slice();
        }
        many.selected = u16::try_from(order.len()).unwrap_or(u16::MAX);
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

    fn path(slot: Slot, attrs: Arc<PathAttributes>) -> Path {
        Path {
            slot,
            rejected: None,
            stale: false,
            attrs,
        }
    }

    #[test]
    fn store_replace_remove() {
        let mut entry = Entry::default();
        let a = attrs(1);
        assert!(matches!(entry.store(path(1, a.clone())), Stored::Added));
        assert!(matches!(entry.store(path(1, a.clone())), Stored::Unchanged));
        assert!(matches!(entry.store(path(2, attrs(2))), Stored::Added));
        match entry.store(path(1, attrs(3))) {
            Stored::Replaced(old) => assert!(Arc::ptr_eq(&old.attrs, &a)),
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
            entry.store(path(slot, attrs(slot)));
        }
        entry.set_selection(&[2, 0]);
        let slots: Vec<Slot> = entry.paths().iter().map(|p| p.slot).collect();
        assert_eq!(slots, [3, 1, 2, 4]);
        assert_eq!(entry.selected().len(), 2);
        assert_eq!(entry.best().map(|p| p.slot), Some(3));
    }

    #[test]
    fn a_new_rejection_of_the_same_attributes_is_a_change() {
        let mut entry = Entry::default();
        let a = attrs(1);
        entry.store(path(1, a.clone()));
        let rejected = Path {
            rejected: Some(Rejection::ImportFilter),
            ..path(1, a.clone())
        };
        match entry.store(rejected.clone()) {
            Stored::Replaced(old) => assert!(old.eligible()),
            _ => panic!("expected a replacement"),
        }
        assert!(matches!(entry.store(rejected), Stored::Unchanged));
        assert!(!entry.paths()[0].eligible());
    }

    #[test]
    fn sizes_stay_compact() {
        assert_eq!(mem::size_of::<Path>(), 16);
        assert_eq!(mem::size_of::<Entry>(), 16);
        assert_eq!(mem::size_of::<Option<Entry>>(), 16);
    }
}
