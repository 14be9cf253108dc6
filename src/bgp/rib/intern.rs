//! Interned path attributes: one `Arc` per distinct attribute set, shared
//! by every route that carries it (a fabric has few distinct sets and many
//! prefixes), so attribute equality is pointer equality.

use std::collections::HashSet;
use std::sync::Arc;

use crate::bgp::route::PathAttributes;

/// Sets still referenced only by the interner are dropped when it grows
/// past twice its size at the last sweep (and at least this many).
const MIN_SWEEP: usize = 1024;

#[derive(Debug)]
pub(super) struct Interner {
    sets: HashSet<Arc<PathAttributes>>,
    sweep_at: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            sets: HashSet::new(),
            sweep_at: MIN_SWEEP,
        }
    }
}

impl Interner {
    pub fn intern(&mut self, attrs: &PathAttributes) -> Arc<PathAttributes> {
        if let Some(shared) = self.sets.get(attrs) {
            return Arc::clone(shared);
        }
        self.insert(Arc::new(attrs.clone()))
    }

    pub fn intern_owned(&mut self, attrs: PathAttributes) -> Arc<PathAttributes> {
        if let Some(shared) = self.sets.get(&attrs) {
            return Arc::clone(shared);
        }
        self.insert(Arc::new(attrs))
    }

    fn insert(&mut self, shared: Arc<PathAttributes>) -> Arc<PathAttributes> {
        if self.sets.len() >= self.sweep_at {
            self.sweep();
        }
        self.sets.insert(Arc::clone(&shared));
        shared
    }

    /// Called with a reference the table let go of: forgets the set when
    /// the interner's own reference is the only other one. References held
    /// elsewhere (a consumer's `Changes`) are caught by the next sweep.
    pub fn release(&mut self, attrs: Arc<PathAttributes>) {
        if Arc::strong_count(&attrs) == 2 {
            self.sets.remove(&*attrs);
        }
    }

    /// Forgets every set nobody else references.
    pub fn sweep(&mut self) {
        self.sets.retain(|shared| Arc::strong_count(shared) > 1);
        self.sweep_at = (2 * self.sets.len()).max(MIN_SWEEP);
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(med: u32) -> PathAttributes {
        PathAttributes {
            med: Some(med),
            ..Default::default()
        }
    }

    #[test]
    fn equal_sets_share_one_allocation() {
        let mut interner = Interner::default();
        let a = interner.intern(&attrs(1));
        let b = interner.intern_owned(attrs(1));
        let c = interner.intern(&attrs(2));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(interner.len(), 2);
    }

    #[test]
    fn release_forgets_the_last_user() {
        let mut interner = Interner::default();
        let a = interner.intern(&attrs(1));
        let b = interner.intern(&attrs(1));
        interner.release(a);
        assert_eq!(interner.len(), 1, "b still uses it");
        interner.release(b);
        assert_eq!(interner.len(), 0);
    }

    #[test]
    fn sweep_catches_references_dropped_elsewhere() {
        let mut interner = Interner::default();
        let kept = interner.intern(&attrs(1));
        drop(interner.intern(&attrs(2)));
        interner.sweep();
        assert_eq!(interner.len(), 1);
        assert!(Arc::ptr_eq(&kept, &interner.intern(&attrs(1))));
    }
}
