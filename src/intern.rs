//! Interned values: one `Arc` per distinct value, shared by every user, so
//! a million routes with a handful of distinct attribute sets (or next-hop
//! sets) cost a pointer each, and equality is pointer equality.
//!
//! The interner is owned by one task; the `Arc`s it hands out go anywhere.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

/// Values still referenced only by the interner are dropped when it grows
/// past twice its size at the last sweep (and at least this many).
const MIN_SWEEP: usize = 1024;

#[derive(Debug)]
pub struct Interner<T: ?Sized + Hash + Eq> {
    values: HashSet<Arc<T>>,
    sweep_at: usize,
}

impl<T: ?Sized + Hash + Eq> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: HashSet::new(),
            sweep_at: MIN_SWEEP,
        }
    }
}

impl<T: ?Sized + Hash + Eq> Interner<T> {
    /// The shared copy of `value`, made with `make` the first time.
    pub fn intern_with<Q>(&mut self, value: &Q, make: impl FnOnce(&Q) -> Arc<T>) -> Arc<T>
    where
        Arc<T>: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        if let Some(shared) = self.values.get(value) {
            return Arc::clone(shared);
        }
        if self.values.len() >= self.sweep_at {
            self.sweep();
        }
        let shared = make(value);
        self.values.insert(Arc::clone(&shared));
        shared
    }

    /// Called with a reference its user let go of: forgets the value when
    /// the interner's own reference is the only other one. References held
    /// elsewhere are caught by the next sweep.
    pub fn release(&mut self, value: Arc<T>) {
        if Arc::strong_count(&value) == 2 {
            self.values.remove(&value);
        }
    }

    /// Forgets every value nobody else references.
    pub fn sweep(&mut self) {
        self.values.retain(|shared| Arc::strong_count(shared) > 1);
        self.sweep_at = (2 * self.values.len()).max(MIN_SWEEP);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl<T: Clone + Hash + Eq> Interner<T> {
    pub fn intern(&mut self, value: &T) -> Arc<T> {
        self.intern_with(value, |v| Arc::new(v.clone()))
    }
}

impl<T: Clone + Hash + Eq> Interner<[T]> {
    pub fn intern_slice(&mut self, value: &[T]) -> Arc<[T]> {
        self.intern_with(value, |v| Arc::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_allocation() {
        let mut interner = Interner::default();
        let a = interner.intern(&String::from("a"));
        let b = interner.intern(&String::from("a"));
        let c = interner.intern(&String::from("c"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(interner.len(), 2);
    }

    #[test]
    fn slices_are_interned_by_content() {
        let mut interner: Interner<[u32]> = Interner::default();
        let a = interner.intern_slice(&[1, 2]);
        let owned: Vec<u32> = (1..=2).collect();
        let b = interner.intern_slice(&owned);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, [1, 2]);
    }

    #[test]
    fn release_forgets_the_last_user() {
        let mut interner = Interner::default();
        let a = interner.intern(&1u32);
        let b = interner.intern(&1u32);
        interner.release(a);
        assert_eq!(interner.len(), 1, "b still uses it");
        interner.release(b);
        assert!(interner.is_empty());
    }

    #[test]
    fn sweep_catches_references_dropped_elsewhere() {
        let mut interner = Interner::default();
        let kept = interner.intern(&1u32);
        drop(interner.intern(&2u32));
        interner.sweep();
        assert_eq!(interner.len(), 1);
        assert!(Arc::ptr_eq(&kept, &interner.intern(&1u32)));
    }
}
