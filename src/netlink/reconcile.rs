//! What to send so that the kernel holds exactly the routes we want, given
//! what it holds and which links are up. Pure: the FIB task does the I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;

use super::fib::FibNextHop;
use super::route::{KernelRoute, LinkState};

/// Prefix -> nexthops, sorted. Desired routes always have a nexthop; an
/// installed route with none is one we cannot use as it is (all paths
/// dead, or a form we never install).
pub(crate) type Routes = BTreeMap<IpNet, Vec<FibNextHop>>;

/// One request to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Replace {
        prefix: IpNet,
        nexthops: Vec<FibNextHop>,
    },
    /// Remove our route to `prefix` with `metric`.
    Delete {
        prefix: IpNet,
        metric: u32,
    },
}

impl Op {
    pub fn prefix(&self) -> IpNet {
        match self {
            Op::Replace { prefix, .. } | Op::Delete { prefix, .. } => *prefix,
        }
    }
}

/// The kernel's links as of the last dump.
#[derive(Debug, Clone, Default)]
pub(crate) struct Links {
    by_index: HashMap<u32, LinkState>,
}

impl Links {
    pub fn new(states: impl IntoIterator<Item = LinkState>) -> Links {
        Links {
            by_index: states.into_iter().map(|s| (s.ifindex, s)).collect(),
        }
    }

    /// Whether the last dump had this link (a newer link is not known yet).
    pub fn knows(&self, ifindex: u32) -> bool {
        self.by_index.contains_key(&ifindex)
    }

    /// Admin up at the last dump; a link the dump did not have is gone.
    pub fn is_up(&self, ifindex: u32) -> bool {
        self.by_index.get(&ifindex).is_some_and(|s| s.up)
    }

    /// "swp1 (ifindex 4) is down" or "ifindex 4 is gone", for logs.
    pub fn describe_down(&self, ifindex: u32) -> String {
        match self.by_index.get(&ifindex) {
            Some(s) if !s.name.is_empty() => format!("{} (ifindex {ifindex}) is down", s.name),
            Some(_) => format!("ifindex {ifindex} is down"),
            None => format!("ifindex {ifindex} is gone"),
        }
    }
}

/// Nexthops in the one order used everywhere, without repeats.
pub(crate) fn normalize(mut nexthops: Vec<FibNextHop>) -> Vec<FibNextHop> {
    nexthops.sort();
    nexthops.dedup();
    nexthops
}

/// The nexthops of `wanted` whose link is up: the kernel refuses a route
/// with a nexthop through a down link (ENETDOWN), so those are left out
/// until a resync finds the link up again.
pub(crate) fn usable(wanted: &[FibNextHop], links: &Links) -> Vec<FibNextHop> {
    wanted.iter().filter(|nh| links.is_up(nh.ifindex)).copied().collect()
}

/// The request, if any, that takes `prefix` from `installed` (our route at
/// our metric, by its live nexthops) to `wanted`.
pub(crate) fn plan(
    prefix: IpNet,
    wanted: Option<&[FibNextHop]>,
    installed: Option<&[FibNextHop]>,
    metric: u32,
    links: &Links,
) -> Option<Op> {
    let nexthops = wanted.map(|w| usable(w, links)).unwrap_or_default();
    match installed {
        _ if !nexthops.is_empty() && installed != Some(nexthops.as_slice()) => Some(Op::Replace { prefix, nexthops }),
        Some(_) if nexthops.is_empty() => Some(Op::Delete { prefix, metric }),
        _ => None,
    }
}

/// From a dump of our routes: what is installed at our metric, and the
/// requests that make the kernel match `desired` (deletes first).
pub(crate) fn plan_resync(desired: &Routes, dump: Vec<KernelRoute>, metric: u32, links: &Links) -> (Routes, Vec<Op>) {
    let mut installed = Routes::new();
    let mut deletes = Vec::new();
    for route in dump {
        if route.metric != metric {
            // Left by a run with another metric: never ours to keep.
            deletes.push(Op::Delete {
                prefix: route.prefix,
                metric: route.metric,
            });
        } else if installed.insert(route.prefix, route.nexthops).is_some() {
            // Two of ours for one prefix (someone appended one): delete
            // one, and let the other be replaced or deleted below.
            deletes.push(Op::Delete {
                prefix: route.prefix,
                metric,
            });
            installed.insert(route.prefix, Vec::new());
        }
    }
    let mut replaces = Vec::new();
    let prefixes: BTreeSet<IpNet> = desired.keys().chain(installed.keys()).copied().collect();
    for prefix in prefixes {
        let wanted = desired.get(&prefix).map(Vec::as_slice);
        match plan(prefix, wanted, installed.get(&prefix).map(Vec::as_slice), metric, links) {
            Some(op @ Op::Delete { .. }) => deletes.push(op),
            Some(op) => replaces.push(op),
            None => {}
        }
    }
    deletes.extend(replaces);
    (installed, deletes)
}

/// Desired routes that cannot have all their nexthops because of down
/// links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shortfall {
    /// Routes installed without some of their nexthops.
    pub partial: usize,
    /// Routes with no nexthop up: not installed.
    pub waiting: usize,
    /// Per down link: routes that lost a nexthop through it, routes left
    /// with none, and one such route for the logs.
    pub by_link: BTreeMap<u32, LinkShortfall>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LinkShortfall {
    pub partial: usize,
    pub waiting: usize,
    pub example: Option<IpNet>,
}

pub(crate) fn shortfall<'a>(
    routes: impl IntoIterator<Item = (&'a IpNet, &'a Vec<FibNextHop>)>,
    links: &Links,
) -> Shortfall {
    let mut s = Shortfall::default();
    for (prefix, nexthops) in routes {
        let down: Vec<u32> = nexthops
            .iter()
            .filter(|nh| !links.is_up(nh.ifindex))
            .map(|nh| nh.ifindex)
            .collect();
        if down.is_empty() {
            continue;
        }
        let none_left = down.len() == nexthops.len();
        if none_left {
            s.waiting += 1;
        } else {
            s.partial += 1;
        }
        for ifindex in down {
            let l = s.by_link.entry(ifindex).or_default();
            if none_left {
                l.waiting += 1;
            } else {
                l.partial += 1;
            }
            l.example.get_or_insert(*prefix);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nh(ifindex: u32, via: &str) -> FibNextHop {
        FibNextHop {
            ifindex,
            via: via.parse().expect("address"),
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    fn link(ifindex: u32, up: bool) -> LinkState {
        LinkState {
            ifindex,
            name: format!("eth{ifindex}"),
            up,
        }
    }

    /// Links 1 and 2 up, 3 down; 4 absent.
    fn links() -> Links {
        Links::new([link(1, true), link(2, true), link(3, false)])
    }

    fn kr(prefix: &str, metric: u32, nexthops: Vec<FibNextHop>) -> KernelRoute {
        KernelRoute {
            prefix: net(prefix),
            metric,
            nexthops,
        }
    }

    #[test]
    fn normalize_sorts_and_dedups() {
        let n = normalize(vec![
            nh(2, "fe80::2"),
            nh(1, "fe80::9"),
            nh(2, "fe80::2"),
            nh(1, "fe80::1"),
        ]);
        assert_eq!(n, [nh(1, "fe80::1"), nh(1, "fe80::9"), nh(2, "fe80::2")]);
    }

    #[test]
    fn link_states() {
        let l = links();
        assert!(l.is_up(1) && !l.is_up(3) && !l.is_up(4));
        assert!(l.knows(3) && !l.knows(4));
        assert_eq!(l.describe_down(3), "eth3 (ifindex 3) is down");
        assert_eq!(l.describe_down(4), "ifindex 4 is gone");
    }

    #[test]
    fn plan_one_prefix() {
        let l = links();
        let p = net("10.0.0.0/24");
        let a = nh(1, "fe80::1");
        let b = nh(2, "fe80::2");
        let down = nh(3, "fe80::3");
        let replace = |n: Vec<FibNextHop>| Some(Op::Replace { prefix: p, nexthops: n });
        let delete = Some(Op::Delete { prefix: p, metric: 20 });

        // New, changed, unchanged.
        assert_eq!(plan(p, Some(&[a, b]), None, 20, &l), replace(vec![a, b]));
        assert_eq!(plan(p, Some(&[a, b]), Some(&[a]), 20, &l), replace(vec![a, b]));
        assert_eq!(plan(p, Some(&[a, b]), Some(&[a, b]), 20, &l), None);
        // Withdrawn: delete what is installed, nothing if nothing is.
        assert_eq!(plan(p, None, Some(&[a]), 20, &l), delete);
        assert_eq!(plan(p, None, None, 20, &l), None);
        // A down nexthop is left out; all down means not installed.
        assert_eq!(plan(p, Some(&[a, down]), None, 20, &l), replace(vec![a]));
        assert_eq!(plan(p, Some(&[a, down]), Some(&[a]), 20, &l), None);
        assert_eq!(plan(p, Some(&[down]), None, 20, &l), None);
        assert_eq!(plan(p, Some(&[down]), Some(&[down]), 20, &l), delete);
        assert_eq!(plan(p, Some(&[nh(4, "fe80::4")]), None, 20, &l), None, "gone link");
        // Installed but unusable (dead or foreign form): replaced.
        assert_eq!(plan(p, Some(&[a]), Some(&[]), 20, &l), replace(vec![a]));
    }

    #[test]
    fn resync_reconciles_to_desired() {
        let l = links();
        let a = nh(1, "fe80::1");
        let b = nh(2, "fe80::2");
        let down = nh(3, "fe80::3");
        let desired: Routes = [
            (net("10.0.0.0/24"), vec![a]),         // installed, same
            (net("10.0.1.0/24"), vec![a, b]),      // installed with one path
            (net("10.0.2.0/24"), vec![b]),         // missing (dropped on link down)
            (net("10.0.3.0/24"), vec![down]),      // waiting for its link
            (net("2001:db8::/64"), vec![a, down]), // installed as it can be
        ]
        .into();
        let dump = vec![
            kr("10.0.0.0/24", 20, vec![a]),
            kr("10.0.1.0/24", 20, vec![a]),
            kr("2001:db8::/64", 20, vec![a]),
            kr("10.9.0.0/24", 20, vec![b]),   // stale: not desired
            kr("10.0.0.0/24", 1024, vec![a]), // stale metric
            kr("10.8.0.0/24", 20, vec![]),    // stale, unusable
        ];
        let (installed, ops) = plan_resync(&desired, dump, 20, &l);
        assert_eq!(installed.len(), 5);
        assert_eq!(installed[&net("10.8.0.0/24")], []);
        assert_eq!(
            ops,
            [
                Op::Delete {
                    prefix: net("10.0.0.0/24"),
                    metric: 1024
                },
                Op::Delete {
                    prefix: net("10.8.0.0/24"),
                    metric: 20
                },
                Op::Delete {
                    prefix: net("10.9.0.0/24"),
                    metric: 20
                },
                Op::Replace {
                    prefix: net("10.0.1.0/24"),
                    nexthops: vec![a, b]
                },
                Op::Replace {
                    prefix: net("10.0.2.0/24"),
                    nexthops: vec![b]
                },
            ]
        );
    }

    #[test]
    fn resync_with_nothing_desired_deletes_all_of_ours() {
        let dump = vec![
            kr("10.0.0.0/24", 20, vec![nh(1, "fe80::1")]),
            kr("2001:db8::/64", 7, vec![]),
        ];
        let (_, ops) = plan_resync(&Routes::new(), dump, 20, &links());
        assert_eq!(
            ops,
            [
                Op::Delete {
                    prefix: net("2001:db8::/64"),
                    metric: 7
                },
                Op::Delete {
                    prefix: net("10.0.0.0/24"),
                    metric: 20
                },
            ]
        );
    }

    #[test]
    fn resync_deletes_an_appended_duplicate_then_replaces() {
        let a = nh(1, "fe80::1");
        let desired: Routes = [(net("10.0.0.0/24"), vec![a])].into();
        let dump = vec![kr("10.0.0.0/24", 20, vec![a]), kr("10.0.0.0/24", 20, vec![a])];
        let (_, ops) = plan_resync(&desired, dump, 20, &links());
        assert_eq!(
            ops.iter().map(|o| matches!(o, Op::Delete { .. })).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn shortfall_counts_per_down_link() {
        let l = links();
        let a = nh(1, "fe80::1");
        let down = nh(3, "fe80::3");
        let routes: Routes = [
            (net("10.0.0.0/24"), vec![a]),
            (net("10.0.1.0/24"), vec![a, down]),
            (net("10.0.2.0/24"), vec![down]),
            (net("10.0.3.0/24"), vec![nh(4, "fe80::4")]),
        ]
        .into();
        let s = shortfall(&routes, &l);
        assert_eq!((s.partial, s.waiting), (1, 2));
        assert_eq!(
            s.by_link[&3],
            LinkShortfall {
                partial: 1,
                waiting: 1,
                example: Some(net("10.0.1.0/24"))
            }
        );
        assert_eq!(s.by_link[&4].waiting, 1);
    }
}
