//! The FIB task's mailbox: changes wait here, the latest per prefix, until
//! the task is free to take them all at once.

use std::collections::HashMap;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;
use tokio::sync::Notify;

use super::types::{FibNextHop, NextHops};
use crate::prefix_map::PrefixMap;

/// Changes waiting for the FIB task. A later change to a prefix replaces
/// an earlier one: the kernel only ever needs the latest, so a burst
/// costs one entry per prefix however long the task is busy, and whoever
/// submits never waits for the kernel.
#[derive(Debug, Default)]
pub(super) struct Mailbox {
    queued: Mutex<Queued>,
    pub wake: Notify,
}

#[derive(Debug, Default)]
pub(super) struct Queued {
    /// Prefix -> index in `sets` of the nexthops wanted, or [`NO_ROUTE`].
    /// Four bytes a prefix, not a 16-byte pointer: during a full table's
    /// burst the mailbox holds nearly every prefix, and what it frees
    /// afterwards stays in the allocator.
    pub routes: PrefixMap<u32>,
    /// The sets `routes` refers to, each once per `Arc` (the RIB side
    /// interns them, so a handful).
    sets: Vec<NextHops>,
    by_pointer: HashMap<usize, u32>,
    pub resync: bool,
}

const NO_ROUTE: u32 = u32::MAX;

impl Queued {
    pub fn insert(&mut self, prefix: IpNet, nexthops: Option<NextHops>) {
        let index = match nexthops {
            None => NO_ROUTE,
            Some(set) => *self
                .by_pointer
                .entry(Arc::as_ptr(&set) as *const FibNextHop as usize)
                .or_insert_with(|| {
                    self.sets.push(set);
                    u32::try_from(self.sets.len() - 1).unwrap_or(NO_ROUTE)
                }),
        };
        self.routes.insert(prefix, index);
    }

    /// The queued routes, highest prefix first, freed as they are
    /// consumed. The kernel's trie recomputes a node's suffix length by
    /// scanning its children from the first: deleting lowest first rescans
    /// ever more empty slots. Measured with 1M /24s (tests/fib.rs,
    /// NDBGP_FIB_ROUTES=1000000), deleting half then flushing the rest
    /// took 6.0 and 25.3 s in ascending order, 2.2 and 4.0 s in
    /// descending; installs run at the same rate either way.
    pub fn into_routes(self) -> impl Iterator<Item = (IpNet, Option<NextHops>)> {
        let sets = self.sets;
        self.routes
            .into_iter()
            .rev()
            .map(move |(prefix, index)| (prefix, sets.get(index as usize).cloned()))
    }
}

impl Mailbox {
    pub fn lock(&self) -> MutexGuard<'_, Queued> {
        // The lock is held only to move entries in or out; a panic there
        // leaves a usable map.
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn take(&self) -> Queued {
        mem::take(&mut *self.lock())
    }
}
