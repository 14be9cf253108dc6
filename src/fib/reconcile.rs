//! The FIB's state and what to send so that the kernel holds exactly the
//! routes we want, given what it holds and which links are up. Pure: the
//! FIB task does the I/O.
//!
//! Memory: a full table is a million routes, and most share a handful of
//! next-hop sets (one per ECMP group). The table stores each set once, by
//! a 4-byte id, so a route costs its key and two ids (wanted, installed)
//! in a B-tree: about 22 bytes. The installed id's top bit says whether
//! the kernel's route refers to the set's nexthop object (see `nexthop`).

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;

use ipnet::IpNet;

use super::message::{KernelRoute, LinkState};
use super::nexthop::Objects;
use super::types::{FibNextHop, NextHops};
use crate::prefix_map::PrefixMap;

/// One request to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Replace {
        prefix: IpNet,
        /// The next hops: the wanted set when `object` is its nexthop
        /// object, else those the route carries inline.
        nexthops: NextHops,
        /// The nexthop object the route refers to (RTA_NH_ID).
        object: Option<u32>,
        /// No route of ours to `prefix` is in the kernel (as far as we
        /// know): add it without NLM_F_REPLACE, with NLM_F_EXCL, so that
        /// another daemon's route at our metric is never replaced (the
        /// kernel replaces by prefix and metric, whatever the protocol).
        create_only: bool,
    },
    /// Remove our route to `prefix` with `metric`.
    Delete { prefix: IpNet, metric: u32 },
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
    /// Next hops are nexthop objects, which need carrier as well.
    pub need_carrier: bool,
}

impl Links {
    pub fn new(states: impl IntoIterator<Item = LinkState>) -> Links {
        Links {
            by_index: states.into_iter().map(|s| (s.ifindex, s)).collect(),
            need_carrier: false,
        }
    }

    /// Whether the last dump had this link (a newer link is not known yet).
    pub fn knows(&self, ifindex: u32) -> bool {
        self.by_index.contains_key(&ifindex)
    }

    /// Admin up (with carrier, if `need_carrier`) at the last dump; a
    /// link the dump did not have is gone.
    pub fn is_up(&self, ifindex: u32) -> bool {
        self.by_index
            .get(&ifindex)
            .is_some_and(|s| s.up && (s.carrier || !self.need_carrier))
    }

    /// "swp1 (ifindex 4) is down" or "ifindex 4 is gone", for logs.
    pub fn describe_down(&self, ifindex: u32) -> String {
        match self.by_index.get(&ifindex) {
            Some(s) if s.up && !s.name.is_empty() => format!("{} (ifindex {ifindex}) has no carrier", s.name),
            Some(s) if s.up => format!("ifindex {ifindex} has no carrier"),
            Some(s) if !s.name.is_empty() => format!("{} (ifindex {ifindex}) is down", s.name),
            Some(_) => format!("ifindex {ifindex} is down"),
            None => format!("ifindex {ifindex} is gone"),
        }
    }
}

/// Whether `nexthops` is in the one order used everywhere, without repeats.
pub(crate) fn is_normal(nexthops: &[FibNextHop]) -> bool {
    nexthops.windows(2).all(|w| w[0] < w[1])
}

/// Nexthops in the one order used everywhere, without repeats.
pub(crate) fn normalize(mut nexthops: Vec<FibNextHop>) -> Vec<FibNextHop> {
    nexthops.sort();
    nexthops.dedup();
    nexthops
}

/// The nexthops of `wanted` whose link is up: the kernel refuses a route
/// with a nexthop through a down link (ENETDOWN), so those are left out
/// until a resync finds the link up again. The same set when all are up.
pub(crate) fn usable(wanted: &NextHops, links: &Links) -> NextHops {
    if wanted.iter().all(|nh| links.is_up(nh.ifindex)) {
        return Arc::clone(wanted);
    }
    wanted.iter().filter(|nh| links.is_up(nh.ifindex)).copied().collect()
}

/// Our route to a prefix as the kernel has it: its next hops, and whether
/// it refers to their set's nexthop object (else it carries them inline).
pub(crate) type InstalledRoute<'a> = (&'a NextHops, bool);

/// The request, if any, that takes `prefix` from `installed` (our route at
/// our metric) to `wanted`: through the wanted set's nexthop object when
/// `objects` has it, else with the next hops whose link is up inline.
pub(crate) fn plan(
    prefix: IpNet,
    wanted: Option<&NextHops>,
    installed: Option<InstalledRoute<'_>>,
    metric: u32,
    links: &Links,
    objects: &Objects,
) -> Option<Op> {
    let Some(wanted) = wanted.filter(|w| w.iter().any(|nh| links.is_up(nh.ifindex))) else {
        return installed.map(|_| Op::Delete { prefix, metric });
    };
    let create_only = installed.is_none();
    if let Some(id) = objects.id_for(wanted) {
        return match installed {
            Some((set, true)) if set == wanted => None,
            _ => Some(Op::Replace {
                prefix,
                nexthops: Arc::clone(wanted),
                object: Some(id),
                create_only,
            }),
        };
    }
    let nexthops = usable(wanted, links);
    match installed {
        Some((set, false)) if *set == nexthops => None,
        _ => Some(Op::Replace {
            prefix,
            nexthops,
            object: None,
            create_only,
        }),
    }
}

/// A next-hop set's id in [`NhSets`]: below 2^31.
type NhId = NonZeroU32;

/// The installed side of an entry: the set's id, and in the top bit
/// whether the route refers to the set's nexthop object.
#[derive(Debug, Clone, Copy)]
struct Installed(NonZeroU32);

const VIA_OBJECT: u32 = 1 << 31;

impl Installed {
    fn new(id: NhId, via_object: bool) -> Installed {
        Installed(id | if via_object { VIA_OBJECT } else { 0 })
    }

    fn id(self) -> NhId {
        NhId::new(self.0.get() & !VIA_OBJECT).unwrap_or(self.0)
    }

    fn via_object(self) -> bool {
        self.0.get() & VIA_OBJECT != 0
    }
}

/// Next-hop sets by id, each counted by the routes that use it.
#[derive(Debug, Default)]
struct NhSets {
    /// By id - 1: the set and its users; None once free.
    sets: Vec<Option<(NextHops, u32)>>,
    ids: HashMap<NextHops, NhId>,
    free: Vec<NhId>,
    /// The last set acquired, by the address of the slice it came as: a
    /// full table names one set a million times in a row, and this spares
    /// hashing it each time. Checked by content, so an address reused for
    /// another set only misses.
    last: Option<(usize, NhId)>,
}

impl NhSets {
    fn get(&self, id: NhId) -> &NextHops {
        match self.sets.get(id.get() as usize - 1) {
            Some(Some((set, _))) => set,
            // Ids are only handed out by `acquire` and dropped by `release`.
            _ => unreachable!("next-hop set {id} is not in use"),
        }
    }

    /// The id of `set`, with one more user.
    fn acquire(&mut self, set: &[FibNextHop]) -> NhId {
        let address = set.as_ptr() as usize;
        let id = self
            .acquire_known(address, set)
            .unwrap_or_else(|| self.acquire_new(set));
        self.last = Some((address, id));
        id
    }

    /// The id of `set` with one more user, if it is in use.
    fn acquire_known(&mut self, address: usize, set: &[FibNextHop]) -> Option<NhId> {
        let last = self.last.filter(|&(at, _)| at == address).map(|(_, id)| id);
        let same = |id: &NhId| matches!(self.sets.get(id.get() as usize - 1), Some(Some((s, _))) if **s == *set);
        let id = last.filter(same).or_else(|| self.ids.get(set).copied())?;
        if let Some(Some((_, users))) = self.sets.get_mut(id.get() as usize - 1) {
            *users += 1;
        }
        Some(id)
    }

    /// A new id for `set`, with one user.
    fn acquire_new(&mut self, set: &[FibNextHop]) -> NhId {
        let shared: NextHops = Arc::from(set);
        let id = match self.free.pop() {
            Some(id) => {
                self.sets[id.get() as usize - 1] = Some((Arc::clone(&shared), 1));
                id
            }
            None => {
                self.sets.push(Some((Arc::clone(&shared), 1)));
                u32::try_from(self.sets.len())
                    .ok()
                    .filter(|n| *n < VIA_OBJECT)
                    .and_then(NhId::new)
                    .expect("fewer than 2^31 next-hop sets")
            }
        };
        self.ids.insert(shared, id);
        id
    }

    /// One user less; the set is forgotten with its last user.
    fn release(&mut self, id: NhId) {
        let index = id.get() as usize - 1;
        let Some(Some((set, users))) = self.sets.get_mut(index) else {
            return;
        };
        *users -= 1;
        if *users == 0 {
            self.ids.remove(&**set);
            self.sets[index] = None;
            self.free.push(id);
        }
    }

    fn in_use(&self) -> usize {
        self.ids.len()
    }

    fn iter(&self) -> impl Iterator<Item = &NextHops> {
        self.sets.iter().flatten().map(|(set, _)| set)
    }
}

/// One prefix: the nexthops we want (none: remove it) and those our route
/// has in the kernel (absent: no route of ours; an empty set: a route we
/// cannot use as it is, all paths dead or a form we never install).
#[derive(Debug, Clone, Copy, Default)]
struct FibEntry {
    wanted: Option<NhId>,
    installed: Option<Installed>,
}

/// Every prefix we want or have in the kernel.
#[derive(Debug, Default)]
pub(crate) struct FibTable {
    routes: PrefixMap<FibEntry>,
    sets: NhSets,
    wanted: usize,
    /// Routes installed: IPv4, IPv6.
    installed: [usize; 2],
}

impl FibTable {
    pub fn wanted(&self, prefix: &IpNet) -> Option<&NextHops> {
        let id = self.routes.get(prefix)?.wanted?;
        Some(self.sets.get(id))
    }

    pub fn installed(&self, prefix: &IpNet) -> Option<&NextHops> {
        self.installed_route(prefix).map(|(set, _)| set)
    }

    pub fn installed_route(&self, prefix: &IpNet) -> Option<InstalledRoute<'_>> {
        let installed = self.routes.get(prefix)?.installed?;
        Some((self.sets.get(installed.id()), installed.via_object()))
    }

    /// Our routes equal to or inside `within` (all without it) as the
    /// kernel last acknowledged or dumped them.
    pub fn installed_within(&self, within: Option<IpNet>) -> impl Iterator<Item = (IpNet, InstalledRoute<'_>)> {
        self.routes
            .iter_within(within)
            .filter_map(|(p, e)| e.installed.map(|i| (p, (self.sets.get(i.id()), i.via_object()))))
    }

    /// Every next-hop set a route wants or has.
    pub fn sets(&self) -> impl Iterator<Item = &NextHops> {
        self.sets.iter()
    }

    /// Prefixes we want routes to.
    pub fn wanted_len(&self) -> usize {
        self.wanted
    }

    /// Routes the kernel has of ours (as last acknowledged or dumped):
    /// IPv4, IPv6.
    pub fn installed_len(&self) -> [usize; 2] {
        self.installed
    }

    /// Distinct next-hop sets in use.
    pub fn sets_in_use(&self) -> usize {
        self.sets.in_use()
    }

    /// Every wanted route, in prefix order.
    pub fn wanted_routes(&self) -> impl Iterator<Item = (IpNet, &NextHops)> {
        self.routes
            .iter()
            .filter_map(|(p, e)| e.wanted.map(|id| (p, self.sets.get(id))))
    }

    /// Want `nexthops` (normalized) for `prefix`; None or an empty set: no
    /// route.
    pub fn set_wanted(&mut self, prefix: IpNet, nexthops: Option<&[FibNextHop]>) {
        let nexthops = nexthops.filter(|n| !n.is_empty());
        self.update(prefix, |sets, entry| {
            let old = entry.wanted.take();
            entry.wanted = nexthops.map(|n| sets.acquire(n));
            old
        });
    }

    /// Record what the kernel now has for `prefix` (None: nothing of
    /// ours), with its next hops inline.
    pub fn set_installed(&mut self, prefix: IpNet, nexthops: Option<&[FibNextHop]>) {
        self.set_installed_via(prefix, nexthops, false);
    }

    /// Record what the kernel now has for `prefix`: `via_object`, through
    /// the nexthop object of the set `nexthops`.
    pub fn set_installed_via(&mut self, prefix: IpNet, nexthops: Option<&[FibNextHop]>, via_object: bool) {
        self.update(prefix, |sets, entry| {
            let old = entry.installed.take().map(Installed::id);
            entry.installed = nexthops.map(|n| Installed::new(sets.acquire(n), via_object));
            old
        });
    }

    /// Change one entry with `f`, which returns the id it replaced; keeps
    /// the counts right and drops entries left empty.
    fn update(&mut self, prefix: IpNet, f: impl FnOnce(&mut NhSets, &mut FibEntry) -> Option<NhId>) {
        let FibTable {
            routes,
            sets,
            wanted,
            installed,
        } = self;
        // Changed in place when it exists: one lookup, not two (a full
        // table records a million).
        let (before, after) = match routes.get_mut(&prefix) {
            Some(slot) => {
                let before = *slot;
                // Acquire the new set before releasing the old: the same
                // set is then never forgotten in between.
                if let Some(old) = f(sets, slot) {
                    sets.release(old);
                }
                let after = *slot;
                if after.wanted.is_none() && after.installed.is_none() {
                    routes.remove(&prefix);
                }
                (before, after)
            }
            None => {
                let mut entry = FibEntry::default();
                if let Some(old) = f(sets, &mut entry) {
                    sets.release(old);
                }
                if entry.wanted.is_some() || entry.installed.is_some() {
                    routes.insert(prefix, entry);
                }
                (FibEntry::default(), entry)
            }
        };
        match (before.wanted.is_some(), after.wanted.is_some()) {
            (false, true) => *wanted += 1,
            (true, false) => *wanted -= 1,
            _ => {}
        }
        let family = usize::from(matches!(prefix, IpNet::V6(_)));
        match (before.installed.is_some(), after.installed.is_some()) {
            (false, true) => installed[family] += 1,
            (true, false) => installed[family] -= 1,
            _ => {}
        }
    }

    /// Want nothing (shutdown: the next resync removes all our routes).
    pub fn clear_wanted(&mut self) {
        let prefixes: Vec<IpNet> = self.wanted_routes().map(|(p, _)| p).collect();
        for prefix in prefixes {
            self.set_wanted(prefix, None);
        }
    }

    /// The request, if any, for one prefix.
    pub fn plan(&self, prefix: IpNet, metric: u32, links: &Links, objects: &Objects) -> Option<Op> {
        // One lookup for both sides: a full table plans a million.
        let entry = self.routes.get(&prefix).copied().unwrap_or_default();
        let wanted = entry.wanted.map(|id| self.sets.get(id));
        let installed = entry.installed.map(|i| (self.sets.get(i.id()), i.via_object()));
        plan(prefix, wanted, installed, metric, links, objects)
    }

    /// From a dump of our routes: record what is installed at our metric,
    /// and return the requests that make the kernel match what we want
    /// (deletes first).
    #[cfg(test)]
    pub fn resync(&mut self, dump: Vec<KernelRoute>, metric: u32, links: &Links, objects: &Objects) -> Vec<Op> {
        let mut ops = self.record_dump(dump, metric, objects);
        ops.extend(self.plan_all(metric, links, objects));
        sort_deletes_first(&mut ops);
        ops
    }

    /// Record a dump of our routes as what is installed at our metric (a
    /// route through an object of ours as the object's set; through an
    /// object not ours, or an orphan, as its next hops inline, so that it
    /// is replaced), and return the deletes of the routes we never keep.
    pub fn record_dump(&mut self, dump: Vec<KernelRoute>, metric: u32, objects: &Objects) -> Vec<Op> {
        let installed: Vec<IpNet> = self
            .routes
            .iter()
            .filter(|(_, e)| e.installed.is_some())
            .map(|(p, _)| p)
            .collect();
        for prefix in installed {
            self.set_installed(prefix, None);
        }
        let mut deletes = Vec::new();
        for route in dump {
            if route.metric != metric {
                // Left by a run with another metric: never ours to keep.
                deletes.push(Op::Delete {
                    prefix: route.prefix,
                    metric: route.metric,
                });
            } else if self.installed(&route.prefix).is_some() {
                // Two of ours for one prefix (someone appended one): delete
                // one, and let the other be replaced or deleted below.
                deletes.push(Op::Delete {
                    prefix: route.prefix,
                    metric,
                });
                self.set_installed(route.prefix, Some(&[]));
            } else {
                match route.object {
                    Some(id) => match objects.set_of(id) {
                        Some(set) => self.set_installed_via(route.prefix, Some(set), true),
                        None => {
                            let content = objects.content(id).map(|c| c.to_vec()).unwrap_or_default();
                            self.set_installed(route.prefix, Some(&content));
                        }
                    },
                    None => self.set_installed(route.prefix, Some(&route.nexthops)),
                }
            }
        }
        deletes
    }

    /// The requests that make the kernel match what we want, for every
    /// prefix.
    pub fn plan_all(&self, metric: u32, links: &Links, objects: &Objects) -> Vec<Op> {
        let mut ops = Vec::new();
        for (prefix, entry) in self.routes.iter() {
            let wanted = entry.wanted.map(|id| self.sets.get(id));
            let installed = entry.installed.map(|i| (self.sets.get(i.id()), i.via_object()));
            ops.extend(plan(prefix, wanted, installed, metric, links, objects));
        }
        ops
    }
}

/// Sweeps a large change is sent in (see `Fib::apply_swept`).
pub(crate) const SWEEPS: u32 = 16;

/// The sweep of `prefix`: the lowest bits of its network part, so that
/// prefixes next to each other (11.0.0.0/24, 11.0.1.0/24, ...) fall in
/// different sweeps.
pub(crate) fn sweep_of(prefix: &IpNet) -> u32 {
    let low = match prefix {
        IpNet::V4(p) => u32::from(p.network()).checked_shr(32 - u32::from(p.prefix_len())),
        IpNet::V6(p) => u128::from(p.network())
            .checked_shr(128 - u32::from(p.prefix_len()))
            .map(|low| low as u32),
    };
    low.unwrap_or(0) % SWEEPS
}

/// Deletes first, highest prefix first, as for submitted changes (see
/// `Queued::into_routes`): a million deletes in ascending order take six
/// times as long. Then the replaces sweep by sweep (see `sweep_of`), each
/// sweep in the order they had.
pub(crate) fn sort_deletes_first(ops: &mut [Op]) {
    ops.sort_by_key(|op| match op {
        Op::Delete { prefix, .. } => (false, 0, std::cmp::Reverse(Some(*prefix))),
        Op::Replace { prefix, .. } => (true, sweep_of(prefix), std::cmp::Reverse(None)),
    });
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

impl Shortfall {
    /// Adds another set of routes' shortfall.
    pub fn merge(&mut self, other: Shortfall) {
        self.partial += other.partial;
        self.waiting += other.waiting;
        for (ifindex, l) in other.by_link {
            let mine = self.by_link.entry(ifindex).or_default();
            mine.partial += l.partial;
            mine.waiting += l.waiting;
            if mine.example.is_none() {
                mine.example = l.example;
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LinkShortfall {
    pub partial: usize,
    pub waiting: usize,
    pub example: Option<IpNet>,
}

pub(crate) fn shortfall<'a>(routes: impl IntoIterator<Item = (IpNet, &'a NextHops)>, links: &Links) -> Shortfall {
    let mut s = Shortfall::default();
    for (prefix, nexthops) in routes {
        let down = nexthops.iter().filter(|nh| !links.is_up(nh.ifindex));
        let down_count = down.clone().count();
        if down_count == 0 {
            continue;
        }
        let none_left = down_count == nexthops.len();
        if none_left {
            s.waiting += 1;
        } else {
            s.partial += 1;
        }
        for nh in down {
            let l = s.by_link.entry(nh.ifindex).or_default();
            if none_left {
                l.waiting += 1;
            } else {
                l.partial += 1;
            }
            l.example.get_or_insert(prefix);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::nexthop::Support;
    use super::super::test_util::{link, net, nh, set};
    use super::*;

    /// Links 1 and 2 up, 3 down; 4 absent.
    fn links() -> Links {
        Links::new([link(1, true), link(2, true), link(3, false)])
    }

    fn kr(prefix: &str, metric: u32, nexthops: Vec<FibNextHop>) -> KernelRoute {
        KernelRoute {
            prefix: net(prefix),
            metric,
            nexthops,
            object: None,
        }
    }

    /// A kernel without nexthop objects: routes carry their next hops.
    fn inline() -> Objects {
        Objects::new(Support::No)
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
        let replace = |n: &[FibNextHop]| {
            Some(Op::Replace {
                prefix: p,
                nexthops: set(n),
                object: None,
                create_only: false,
            })
        };
        let create = |n: &[FibNextHop]| {
            Some(Op::Replace {
                prefix: p,
                nexthops: set(n),
                object: None,
                create_only: true,
            })
        };
        let delete = Some(Op::Delete { prefix: p, metric: 20 });
        let plan = |wanted: Option<&[FibNextHop]>, installed: Option<&[FibNextHop]>| {
            let installed = installed.map(set);
            let installed = installed.as_ref().map(|i| (i, false));
            plan(p, wanted.map(set).as_ref(), installed, 20, &l, &inline())
        };

        // New, changed, unchanged.
        assert_eq!(plan(Some(&[a, b]), None), create(&[a, b]));
        assert_eq!(plan(Some(&[a, b]), Some(&[a])), replace(&[a, b]));
        assert_eq!(plan(Some(&[a, b]), Some(&[a, b])), None);
        // Withdrawn: delete what is installed, nothing if nothing is.
        assert_eq!(plan(None, Some(&[a])), delete);
        assert_eq!(plan(None, None), None);
        // A down nexthop is left out; all down means not installed.
        assert_eq!(plan(Some(&[a, down]), None), create(&[a]));
        assert_eq!(plan(Some(&[a, down]), Some(&[a])), None);
        assert_eq!(plan(Some(&[down]), None), None);
        assert_eq!(plan(Some(&[down]), Some(&[down])), delete);
        assert_eq!(plan(Some(&[nh(4, "fe80::4")]), None), None, "gone link");
        // Installed but unusable (dead or foreign form): replaced.
        assert_eq!(plan(Some(&[a]), Some(&[])), replace(&[a]));
    }

    /// Objects for `sets`, as the kernel acknowledged them.
    fn objects_for(sets: &[NextHops]) -> Objects {
        let mut objects = Objects::default();
        let ops = objects.plan_creates(sets.iter(), &links());
        let n = ops.len();
        objects.record(&ops, vec![None; n]);
        objects
    }

    #[test]
    fn routes_refer_to_their_sets_object_when_it_is_there() {
        let l = links();
        let p = net("10.0.0.0/24");
        let (a, b, down) = (nh(1, "fe80::1"), nh(2, "fe80::2"), nh(3, "fe80::3"));
        let ab = set(&[a, b]);
        let objects = objects_for(&[Arc::clone(&ab)]);
        let group = objects.id_for(&ab).expect("group");
        let via_group = |create_only| {
            Some(Op::Replace {
                prefix: p,
                nexthops: Arc::clone(&ab),
                object: Some(group),
                create_only,
            })
        };
        assert_eq!(plan(p, Some(&ab), None, 20, &l, &objects), via_group(true));
        assert_eq!(plan(p, Some(&ab), Some((&ab, true)), 20, &l, &objects), None);
        // The same next hops inline (an earlier run, a kernel that had no
        // objects then): moved to the object.
        assert_eq!(
            plan(p, Some(&ab), Some((&ab, false)), 20, &l, &objects),
            via_group(false)
        );
        // A set without its object yet: inline, without the down link.
        let a_down = set(&[a, down]);
        assert_eq!(
            plan(p, Some(&a_down), Some((&ab, true)), 20, &l, &objects),
            Some(Op::Replace {
                prefix: p,
                nexthops: set(&[a]),
                object: None,
                create_only: false,
            })
        );
        // A group's leaves serve single next hops too.
        let only_a = set(&[a]);
        assert_eq!(
            plan(p, Some(&only_a), Some((&only_a, false)), 20, &l, &objects),
            Some(Op::Replace {
                prefix: p,
                nexthops: Arc::clone(&only_a),
                object: objects.id_for(&[a]),
                create_only: false,
            })
        );
        // Every link down: deleted, the object left to the kernel.
        assert_eq!(
            plan(p, Some(&set(&[down])), Some((&ab, true)), 20, &l, &objects),
            Some(Op::Delete { prefix: p, metric: 20 })
        );
    }

    #[test]
    fn a_carrier_loss_counts_as_down_for_objects_only() {
        let mut lost = link(2, true);
        lost.carrier = false;
        let mut l = Links::new([link(1, true), lost]);
        assert!(l.is_up(2));
        assert_eq!(l.describe_down(2), "eth2 (ifindex 2) has no carrier");
        l.need_carrier = true;
        assert!(l.is_up(1) && !l.is_up(2));
    }

    #[test]
    fn a_dump_reads_routes_through_objects_as_their_sets() {
        let (a, b) = (nh(1, "fe80::1"), nh(2, "fe80::2"));
        let ab = set(&[a, b]);
        let objects = objects_for(&[Arc::clone(&ab)]);
        let group = objects.id_for(&ab).expect("group");
        let mut t = table(&[("10.0.0.0/24", &[a, b]), ("10.0.1.0/24", &[a, b])]);
        let through = |prefix: &str, id| KernelRoute {
            object: Some(id),
            ..kr(prefix, 20, vec![])
        };
        let deletes = t.record_dump(
            vec![through("10.0.0.0/24", group), through("10.0.1.0/24", 7)],
            20,
            &objects,
        );
        assert!(deletes.is_empty());
        assert_eq!(t.installed_route(&net("10.0.0.0/24")), Some((&ab, true)));
        // Not an object of ours: replaced.
        assert_eq!(t.installed_route(&net("10.0.1.0/24")), Some((&set(&[]), false)));
        assert_eq!(
            t.plan_all(20, &links(), &objects),
            [Op::Replace {
                prefix: net("10.0.1.0/24"),
                nexthops: ab,
                object: Some(group),
                create_only: false,
            }]
        );
    }

    #[test]
    fn usable_keeps_the_shared_set_when_all_links_are_up() {
        let l = links();
        let all_up = set(&[nh(1, "fe80::1"), nh(2, "fe80::2")]);
        assert!(Arc::ptr_eq(&usable(&all_up, &l), &all_up));
        let one_down = set(&[nh(1, "fe80::1"), nh(3, "fe80::3")]);
        assert_eq!(&*usable(&one_down, &l), [nh(1, "fe80::1")]);
    }

    /// The last set is found again by its address without hashing, but
    /// never by the address alone: a buffer reused for another set gets
    /// that set.
    #[test]
    fn the_last_set_is_checked_by_content() {
        let a = nh(1, "fe80::1");
        let b = nh(2, "fe80::2");
        let mut sets = NhSets::default();
        let mut buffer = vec![a];
        let first = sets.acquire(&buffer);
        assert_eq!(sets.acquire(&buffer), first, "the same set again");
        buffer[0] = b;
        let second = sets.acquire(&buffer);
        assert_ne!(second, first);
        assert_eq!(**sets.get(second), [b]);
        assert_eq!(**sets.get(first), [a]);
        assert_eq!(sets.acquire(&[a]), first, "found by content from another slice");
        for _ in 0..3 {
            sets.release(first);
        }
        sets.release(second);
        assert_eq!(sets.in_use(), 0);
        buffer[0] = a;
        let again = sets.acquire(&buffer);
        assert_eq!(**sets.get(again), [a]);
        assert_eq!(sets.in_use(), 1);
    }

    #[test]
    fn table_shares_sets_and_forgets_unused_ones() {
        let a = nh(1, "fe80::1");
        let b = nh(2, "fe80::2");
        let mut t = FibTable::default();
        for i in 0..100u32 {
            let p = IpNet::from(std::net::IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)));
            t.set_wanted(p, Some(&[a, b]));
            t.set_installed(p, Some(&[a, b]));
        }
        assert_eq!((t.wanted_len(), t.sets_in_use()), (100, 1));
        t.set_installed(net("2001:db8::/64"), Some(&[a]));
        assert_eq!(t.installed_len(), [100, 1], "counted by family");
        t.set_installed(net("2001:db8::/64"), None);
        let p = net("10.0.0.5/32");
        t.set_wanted(p, Some(&[a]));
        assert_eq!(t.sets_in_use(), 2);
        assert_eq!(t.wanted(&p).map(|n| n.to_vec()), Some(vec![a]));
        assert_eq!(t.installed(&p).map(|n| n.to_vec()), Some(vec![a, b]));
        t.set_installed(p, Some(&[a]));
        t.set_wanted(p, None);
        assert_eq!((t.wanted_len(), t.sets_in_use()), (99, 2), "still installed");
        t.set_installed(p, None);
        assert_eq!(t.installed_len(), [99, 0]);
        assert_eq!(t.sets_in_use(), 1, "[a] has no user left");
        assert!(t.installed(&p).is_none() && t.wanted(&p).is_none());
        t.set_wanted(p, Some(&[]));
        assert_eq!(t.wanted_len(), 99, "an empty set is no route");
        t.clear_wanted();
        assert_eq!(
            (t.wanted_len(), t.sets_in_use()),
            (0, 1),
            "installed routes remain until deleted"
        );
    }

    fn table(wanted: &[(&str, &[FibNextHop])]) -> FibTable {
        let mut t = FibTable::default();
        for (p, n) in wanted {
            t.set_wanted(net(p), Some(n));
        }
        t
    }

    #[test]
    fn sweeps_split_neighbouring_prefixes() {
        assert_eq!(sweep_of(&net("11.0.0.0/24")), 0);
        assert_eq!(sweep_of(&net("11.0.1.0/24")), 1);
        assert_eq!(sweep_of(&net("11.0.15.0/24")), 15);
        assert_eq!(sweep_of(&net("11.0.16.0/24")), 0);
        assert_eq!(sweep_of(&net("11.0.2.0/23")), 1);
        assert_eq!(sweep_of(&net("2001:db8:0:3::/64")), 3);
        assert_eq!(sweep_of(&net("255.255.255.255/32")), SWEEPS - 1);
        assert_eq!(sweep_of(&net("0.0.0.0/0")), 0);
        assert_eq!(sweep_of(&net("::/0")), 0);
    }

    #[test]
    fn deletes_go_first_then_replaces_sweep_by_sweep() {
        let a = set(&[nh(1, "fe80::1")]);
        let replace = |p: &str| Op::Replace {
            prefix: net(p),
            nexthops: Arc::clone(&a),
            object: None,
            create_only: true,
        };
        let delete = |p: &str| Op::Delete {
            prefix: net(p),
            metric: 20,
        };
        let mut ops = vec![
            replace("11.0.1.0/24"),
            delete("10.0.0.0/24"),
            replace("11.0.0.0/24"),
            replace("11.0.16.0/24"),
            delete("10.0.1.0/24"),
        ];
        sort_deletes_first(&mut ops);
        let order: Vec<IpNet> = ops.iter().map(Op::prefix).collect();
        let want = [
            "10.0.1.0/24",
            "10.0.0.0/24",
            "11.0.0.0/24",
            "11.0.16.0/24",
            "11.0.1.0/24",
        ];
        assert_eq!(order, want.map(net));
    }

    #[test]
    fn resync_reconciles_to_desired() {
        let l = links();
        let a = nh(1, "fe80::1");
        let b = nh(2, "fe80::2");
        let down = nh(3, "fe80::3");
        let mut t = table(&[
            ("10.0.0.0/24", &[a]),         // installed, same
            ("10.0.1.0/24", &[a, b]),      // installed with one path
            ("10.0.2.0/24", &[b]),         // missing (dropped on link down)
            ("10.0.3.0/24", &[down]),      // waiting for its link
            ("2001:db8::/64", &[a, down]), // installed as it can be
        ]);
        let dump = vec![
            kr("10.0.0.0/24", 20, vec![a]),
            kr("10.0.1.0/24", 20, vec![a]),
            kr("2001:db8::/64", 20, vec![a]),
            kr("10.9.0.0/24", 20, vec![b]),   // stale: not desired
            kr("10.0.0.0/24", 1024, vec![a]), // stale metric
            kr("10.8.0.0/24", 20, vec![]),    // stale, unusable
        ];
        let ops = t.resync(dump, 20, &l, &inline());
        assert_eq!(t.installed(&net("10.8.0.0/24")).map(|n| n.len()), Some(0));
        assert_eq!(t.installed(&net("10.0.1.0/24")).map(|n| n.to_vec()), Some(vec![a]));
        assert!(t.installed(&net("10.0.2.0/24")).is_none());
        // Deletes first, highest prefix first; then replaces.
        assert_eq!(
            ops,
            [
                Op::Delete {
                    prefix: net("10.9.0.0/24"),
                    metric: 20
                },
                Op::Delete {
                    prefix: net("10.8.0.0/24"),
                    metric: 20
                },
                Op::Delete {
                    prefix: net("10.0.0.0/24"),
                    metric: 1024
                },
                Op::Replace {
                    prefix: net("10.0.1.0/24"),
                    nexthops: set(&[a, b]),
                    object: None,
                    create_only: false
                },
                Op::Replace {
                    prefix: net("10.0.2.0/24"),
                    nexthops: set(&[b]),
                    object: None,
                    create_only: true
                },
            ]
        );
    }

    #[test]
    fn resync_forgets_what_the_kernel_no_longer_has() {
        let a = nh(1, "fe80::1");
        let mut t = table(&[("10.0.0.0/24", &[a])]);
        t.set_installed(net("10.0.0.0/24"), Some(&[a]));
        t.set_installed(net("10.1.0.0/24"), Some(&[a]));
        let ops = t.resync(vec![], 20, &links(), &inline());
        assert!(t.installed(&net("10.1.0.0/24")).is_none());
        assert_eq!(
            ops,
            [Op::Replace {
                prefix: net("10.0.0.0/24"),
                nexthops: set(&[a]),
                object: None,
                create_only: true
            }]
        );
    }

    #[test]
    fn resync_with_nothing_desired_deletes_all_of_ours() {
        let dump = vec![
            kr("10.0.0.0/24", 20, vec![nh(1, "fe80::1")]),
            kr("2001:db8::/64", 7, vec![]),
        ];
        let ops = FibTable::default().resync(dump, 20, &links(), &inline());
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
        let mut t = table(&[("10.0.0.0/24", &[a])]);
        let dump = vec![kr("10.0.0.0/24", 20, vec![a]), kr("10.0.0.0/24", 20, vec![a])];
        let ops = t.resync(dump, 20, &links(), &inline());
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
        let t = table(&[
            ("10.0.0.0/24", &[a]),
            ("10.0.1.0/24", &[a, down]),
            ("10.0.2.0/24", &[down]),
            ("10.0.3.0/24", &[nh(4, "fe80::4")]),
        ]);
        let s = shortfall(t.wanted_routes(), &l);
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

        // Counted in two halves and merged: the same.
        let routes: Vec<(IpNet, &NextHops)> = t.wanted_routes().collect();
        let mut merged = shortfall(routes[..2].iter().cloned(), &l);
        merged.merge(shortfall(routes[2..].iter().cloned(), &l));
        assert_eq!(merged, s);
    }
}
