//! Graceful restart, restarting side (RFC 4724 4.1): a start after a
//! graceful stop adopts the routes of ours it finds in the kernel and
//! defers changing them until the peers that came back have sent their
//! tables (End-of-RIB) or the restart time is over; then one resync
//! replaces what the RIB wants and sweeps what nothing re-learned. Pure:
//! which requests wait, and what was adopted. See docs/ARCHITECTURE.md,
//! "We restart gracefully".

use std::collections::{BTreeSet, HashSet};

use ipnet::IpNet;

use super::reconcile::{FibTable, Op};
use super::types::FibNextHop;

/// What the start found of ours in the kernel and keeps, deferred.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adopted {
    /// Routes adopted: IPv4, IPv6 (their families get the F bit).
    pub ipv4: usize,
    pub ipv6: usize,
    /// The next hops they go through: the neighbours we had before the
    /// restart, whose End-of-RIB the deferral waits for.
    pub neighbours: Vec<FibNextHop>,
}

impl Adopted {
    /// Our routes the table records as installed (after the start's dump).
    pub(crate) fn from_table(table: &FibTable) -> Adopted {
        let [ipv4, ipv6] = table.installed_len();
        let neighbours: BTreeSet<FibNextHop> = table
            .installed_within(None)
            .flat_map(|(_, (nexthops, _))| nexthops.iter().copied())
            .collect();
        Adopted {
            ipv4,
            ipv6,
            neighbours: neighbours.into_iter().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ipv4 == 0 && self.ipv6 == 0
    }
}

/// The `ops` that go through a deferral now: additions, and any change to
/// a prefix added during the deferral (`created`, which this extends: not
/// adopted, so a better path or a withdrawal is applied at once).
pub(crate) fn pass_deferral(mut ops: Vec<Op>, metric: u32, created: &mut HashSet<IpNet>) -> Vec<Op> {
    ops.retain(|op| created.contains(&op.prefix()) || !waits_for_deferral(op, metric));
    for op in &ops {
        if let Op::Replace {
            prefix,
            create_only: true,
            ..
        } = op
        {
            created.insert(*prefix);
        }
    }
    ops
}

/// Whether `op` waits for the end of the deferral: every change to a
/// route of ours at our metric (an adopted route is neither replaced nor
/// deleted). Routes to prefixes we have none for are added at once, and a
/// route an earlier run left at another metric is deleted at once.
fn waits_for_deferral(op: &Op, metric: u32) -> bool {
    match op {
        Op::Replace { create_only, .. } => !create_only,
        Op::Delete { metric: m, .. } => *m == metric,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{net, nh, set};
    use super::*;

    #[test]
    fn only_adds_and_other_metrics_go_through_a_deferral() {
        let replace = |create_only| Op::Replace {
            prefix: net("10.0.0.0/24"),
            nexthops: set(&[nh(1, "fe80::1")]),
            object: None,
            create_only,
        };
        let delete = |metric| Op::Delete {
            prefix: net("10.0.0.0/24"),
            metric,
        };
        assert!(!waits_for_deferral(&replace(true), 30));
        assert!(waits_for_deferral(&replace(false), 30));
        assert!(waits_for_deferral(&delete(30), 30));
        assert!(!waits_for_deferral(&delete(20), 30));
    }

    /// A prefix added during the deferral is not adopted: its later
    /// changes go through; an adopted one's wait.
    #[test]
    fn changes_to_prefixes_added_during_the_deferral_go_through() {
        let replace = |p: &str, create_only| Op::Replace {
            prefix: net(p),
            nexthops: set(&[nh(1, "fe80::1")]),
            object: None,
            create_only,
        };
        let delete = |p: &str| Op::Delete {
            prefix: net(p),
            metric: 30,
        };
        let mut created = HashSet::new();
        let first = pass_deferral(
            vec![replace("10.9.0.0/24", true), replace("10.0.0.0/24", false)],
            30,
            &mut created,
        );
        assert_eq!(first, [replace("10.9.0.0/24", true)]);
        let later = pass_deferral(
            vec![
                replace("10.9.0.0/24", false),
                delete("10.9.0.0/24"),
                delete("10.0.0.0/24"),
            ],
            30,
            &mut created,
        );
        assert_eq!(later, [replace("10.9.0.0/24", false), delete("10.9.0.0/24")]);
    }

    #[test]
    fn adopted_counts_families_and_lists_each_neighbour_once() {
        let mut table = FibTable::default();
        assert!(Adopted::from_table(&table).is_empty());
        let a = nh(1, "fe80::1");
        let b = nh(2, "fe80::2");
        table.set_installed(net("10.0.0.0/24"), Some(&[a, b]));
        table.set_installed(net("10.0.1.0/24"), Some(&[a]));
        table.set_installed(net("2001:db8::/64"), Some(&[b]));
        // Wanted only: not in the kernel, not adopted.
        table.set_wanted(net("10.9.0.0/24"), Some(&[nh(3, "fe80::3")]));
        let adopted = Adopted::from_table(&table);
        assert_eq!(
            adopted,
            Adopted {
                ipv4: 2,
                ipv6: 1,
                neighbours: vec![a, b],
            }
        );
        assert!(!adopted.is_empty());
    }
}
