//! The FIB task's mailbox: changes wait here, the latest per prefix, until
//! the task is free to take them all at once.

use std::collections::HashMap;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;
use tokio::sync::Notify;

use super::reconcile::{is_normal, normalize};
use super::types::{FibChange, FibNextHop, NextHops};
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
    /// Queue a change, in place of any earlier one to its prefix. The
    /// prefix loses its host bits and the nexthops are put in order (a set
    /// already in order is kept as it is, shared).
    pub fn push(&mut self, change: FibChange) {
        let (prefix, nexthops) = match change {
            FibChange::Replace(route) => (route.prefix, Some(route.nexthops)),
            FibChange::Delete(prefix) => (prefix, None),
        };
        let nexthops = nexthops.map(|n| match is_normal(&n) {
            true => n,
            false => normalize(n.to_vec()).into(),
        });
        self.insert(prefix.trunc(), nexthops);
    }

    fn insert(&mut self, prefix: IpNet, nexthops: Option<NextHops>) {
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

#[cfg(test)]
mod tests {
    use super::super::test_util::{net, nh, set};
    use super::super::types::FibRoute;
    use super::*;

    fn replace(prefix: &str, nexthops: &NextHops) -> FibChange {
        FibChange::Replace(FibRoute {
            prefix: net(prefix),
            nexthops: Arc::clone(nexthops),
        })
    }

    fn routes(queued: Queued) -> Vec<(IpNet, Option<NextHops>)> {
        queued.into_routes().collect()
    }

    #[test]
    fn the_latest_change_to_a_prefix_wins() {
        let a = set(&[nh(1, "fe80::1")]);
        let b = set(&[nh(2, "fe80::2")]);
        let mut q = Queued::default();
        q.push(replace("10.0.0.0/24", &a));
        q.push(FibChange::Delete(net("10.0.0.0/24")));
        q.push(replace("10.0.0.0/24", &b));
        q.push(replace("10.0.1.0/24", &a));
        q.push(FibChange::Delete(net("10.0.1.0/24")));
        assert_eq!(
            routes(q),
            vec![(net("10.0.1.0/24"), None), (net("10.0.0.0/24"), Some(b))]
        );
    }

    #[test]
    fn routes_come_out_highest_prefix_first() {
        let a = set(&[nh(1, "fe80::1")]);
        let prefixes = [
            "10.0.1.0/24",
            "2001:db8::/64",
            "10.0.0.0/16",
            "10.0.0.0/24",
            "2001:db8:1::/48",
        ];
        let mut q = Queued::default();
        for p in prefixes {
            q.push(replace(p, &a));
        }
        let mut want: Vec<IpNet> = prefixes.iter().map(|p| net(p)).collect();
        want.sort_by(|x, y| y.cmp(x));
        let got: Vec<IpNet> = routes(q).into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, want);
        assert_eq!(got[0], net("2001:db8:1::/48"));
    }

    #[test]
    fn a_shared_set_is_stored_once() {
        let a = set(&[nh(1, "fe80::1"), nh(2, "fe80::2")]);
        let same_content = set(&[nh(1, "fe80::1"), nh(2, "fe80::2")]);
        let mut q = Queued::default();
        for p in ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"] {
            q.push(replace(p, &a));
        }
        assert_eq!(q.sets.len(), 1);
        // Sets are told apart by pointer: equal content in another `Arc`
        // is a second entry, never a wrong one.
        q.push(replace("10.0.3.0/24", &same_content));
        assert_eq!(q.sets.len(), 2);
        for (prefix, nexthops) in routes(q) {
            let nexthops = nexthops.expect("a route");
            let want = if prefix == net("10.0.3.0/24") {
                &same_content
            } else {
                &a
            };
            assert!(Arc::ptr_eq(&nexthops, want), "{prefix}");
        }
    }

    #[test]
    fn push_clears_host_bits_and_orders_nexthops() {
        let unordered = set(&[nh(2, "fe80::2"), nh(1, "fe80::1"), nh(2, "fe80::2")]);
        let ordered = set(&[nh(1, "fe80::1"), nh(2, "fe80::2")]);
        let mut q = Queued::default();
        q.push(replace("10.0.0.77/24", &unordered));
        q.push(replace("2001:db8::1/64", &ordered));
        q.push(FibChange::Delete(net("10.9.9.9/16")));
        let got = routes(q);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (net("2001:db8::/64"), Some(Arc::clone(&ordered))));
        // An ordered set is passed on, not copied.
        assert!(Arc::ptr_eq(got[0].1.as_ref().expect("a route"), &ordered));
        assert_eq!(got[1], (net("10.9.0.0/16"), None));
        assert_eq!(got[2], (net("10.0.0.0/24"), Some(ordered)));
    }

    #[test]
    fn take_empties_the_mailbox() {
        let mailbox = Mailbox::default();
        mailbox.lock().push(FibChange::Delete(net("10.0.0.0/24")));
        mailbox.lock().resync = true;
        let taken = mailbox.take();
        assert!(taken.resync);
        assert_eq!(taken.routes.len(), 1);
        let again = mailbox.take();
        assert!(!again.resync);
        assert!(again.routes.is_empty());
    }
}
