//! Kernel nexthop objects (Linux 5.3+), pure: which objects our routes
//! need, which of ours the kernel holds, and the requests between the two.
//! The FIB task does the I/O (`nexthop_msg` encodes the requests).
//!
//! A route installed with RTA_NH_ID refers to an object instead of
//! carrying its next hops: the kernel neither checks nor copies the next
//! hops per route, which is most of its work when a full table comes in,
//! and a link going down or up changes one object instead of every route.
//!
//! One object per distinct next-hop set in use (wanted or installed by a
//! route): a *leaf* per (interface, link-local gateway), which also serves
//! IPv4 routes (RFC 8950), and a multipath *group* of leaves per set of two
//! or more. A group holds the leaves of its set whose link is up with
//! carrier: the kernel refuses a leaf on a link without (ENETDOWN), and
//! flushes a link's leaves (shrinking the groups, deleting the routes
//! through an emptied group) when the link loses either. A resync notices,
//! recreates the leaves and replaces the groups' members in place, so the
//! routes come back without a request each.
//!
//! Ownership: ours carry protocol [`RTPROT_NDBGP`] and ids from
//! [`ID_FIRST`] on (ids others hold there are skipped). A dump at start
//! and at each resync adopts our leftovers in the forms we make (so a
//! graceful restart's routes keep theirs); other forms of ours are orphans,
//! deleted once no route refers to them. Another protocol's object is
//! never touched.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::frame::KernelError;
use super::message::RTPROT_NDBGP;
use super::reconcile::Links;
use super::types::{FibNextHop, NextHops};

/// The first id we give an object: "nd" in the upper half, away from the
/// low ids the kernel hands out by itself and from FRR's zebra (below
/// 2^28 for its own groups).
pub(crate) const ID_FIRST: u32 = 0x6e64_0000;
/// Ids we give out, from [`ID_FIRST`]: far more than distinct next-hop sets.
const ID_COUNT: u32 = 1 << 16;

/// What an object holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Body {
    /// One next hop: a link-local gateway through one interface.
    Leaf(FibNextHop),
    /// Multipath over leaf objects, by id, weight 1 each.
    Group(Vec<u32>),
    /// A form we never make (blackhole, IPv4 gateway, resilient or fdb
    /// group, encapsulation...).
    Other,
}

/// An object as a dump shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelNexthop {
    pub id: u32,
    pub protocol: u8,
    pub body: Body,
}

/// A request about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NhOp {
    /// Make object `id` for `set` (NLM_F_EXCL: an id someone took is
    /// refused, not overwritten).
    Create {
        id: u32,
        set: NextHops,
        body: Body,
    },
    /// Give our group `id` (for `set`) new members; its routes follow.
    Replace {
        id: u32,
        set: NextHops,
        body: Body,
    },
    Delete {
        id: u32,
    },
}

/// Whether the kernel takes nexthop objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// Not tried yet: objects are planned, the first answer decides.
    Unknown,
    Yes,
    /// Refused: routes carry their next hops inline.
    No,
}

/// Whether the kernel's refusal of our first object, or of a nexthop dump,
/// means it has no nexthop objects (before 5.3, or built without them):
/// an unknown message type is EOPNOTSUPP, an attribute it does not know
/// EINVAL.
pub(crate) fn means_unsupported(errno: i32) -> bool {
    matches!(errno, libc::EOPNOTSUPP | libc::EINVAL | libc::EAFNOSUPPORT)
}

#[derive(Debug, Clone)]
struct Object {
    /// The next-hop set routes reach through it; None for an orphan (a
    /// leftover of ours in a form or for a set we do not reuse).
    set: Option<NextHops>,
    body: Body,
    /// The next hops it holds now (a group's live leaves).
    content: NextHops,
}

/// Our objects in the kernel, as last acknowledged or dumped.
#[derive(Debug)]
pub(crate) struct Objects {
    support: Support,
    by_id: HashMap<u32, Object>,
    /// Set -> its object: a leaf for a single next hop, else a group.
    by_set: HashMap<NextHops, u32>,
    /// Ids in our range that another protocol's objects hold.
    foreign: HashSet<u32>,
    /// Offset from [`ID_FIRST`] of the last id given.
    last: u32,
}

#[cfg(test)]
impl Default for Objects {
    fn default() -> Objects {
        Objects::new(Support::Unknown)
    }
}

/// What answers to object requests came to.
#[derive(Debug, Default)]
pub(crate) struct NhAnswers {
    /// The kernel refused our first object: routes go inline from now on.
    pub fell_back: Option<KernelError>,
    /// Other refusals: the request and why.
    pub refused: Vec<(NhOp, KernelError)>,
}

impl Objects {
    pub fn new(support: Support) -> Objects {
        Objects {
            support,
            by_id: HashMap::new(),
            by_set: HashMap::new(),
            foreign: HashSet::new(),
            last: ID_COUNT - 1,
        }
    }

    /// False once the kernel refused objects: routes carry next hops.
    pub fn enabled(&self) -> bool {
        self.support != Support::No
    }

    #[cfg(test)]
    pub fn support(&self) -> Support {
        self.support
    }

    /// Give up on objects (the kernel refused a nexthop dump).
    pub fn disable(&mut self) {
        *self = Objects::new(Support::No);
    }

    /// Our objects the kernel holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The object routes to `set` should refer to, if it is in the kernel.
    pub fn id_for(&self, set: &[FibNextHop]) -> Option<u32> {
        if !self.enabled() {
            return None;
        }
        self.by_set.get(set).copied()
    }

    /// The set object `id` stands for (None: not ours, or an orphan).
    pub fn set_of(&self, id: u32) -> Option<&NextHops> {
        self.by_id.get(&id)?.set.as_ref()
    }

    /// The next hops object `id` of ours holds now.
    pub fn content(&self, id: u32) -> Option<&NextHops> {
        Some(&self.by_id.get(&id)?.content)
    }

    /// The next hops the object for `set` holds now.
    pub fn content_of_set(&self, set: &[FibNextHop]) -> Option<&NextHops> {
        self.content(*self.by_set.get(set)?)
    }

    /// Take a dump of every object (all protocols) as the truth: forget
    /// ours the kernel dropped (with their link), follow groups it shrank,
    /// adopt leftovers of ours, note the ids others hold.
    pub fn reconcile(&mut self, dump: Vec<KernelNexthop>) {
        self.foreign = dump
            .iter()
            .filter(|n| n.protocol != RTPROT_NDBGP)
            .map(|n| n.id)
            .filter(|id| id.wrapping_sub(ID_FIRST) < ID_COUNT)
            .collect();
        let mut ours: Vec<(u32, Body)> = dump
            .into_iter()
            .filter(|n| n.protocol == RTPROT_NDBGP)
            .map(|n| (n.id, n.body))
            .collect();
        // Leaves first: a group is adopted by its leaves' next hops.
        ours.sort_by_key(|(id, body)| (!matches!(body, Body::Leaf(_)), *id));
        let present: HashSet<u32> = ours.iter().map(|(id, _)| *id).collect();
        self.by_id.retain(|id, _| present.contains(id));
        let by_id = &self.by_id;
        self.by_set.retain(|_, id| by_id.contains_key(id));
        for (id, body) in ours {
            match self.by_id.get_mut(&id) {
                Some(known) if fits(known.set.as_deref(), &body, &self.by_set, id) => known.body = body,
                Some(known) => {
                    // Changed into something we would not make: an orphan.
                    if let Some(set) = known.set.take() {
                        self.by_set.remove(&set);
                    }
                    known.body = body;
                }
                None => {
                    let set = self.adoptable(&body);
                    if let Some(set) = &set {
                        self.by_set.insert(Arc::clone(set), id);
                    }
                    self.by_id.insert(
                        id,
                        Object {
                            set,
                            body,
                            content: NextHops::from([]),
                        },
                    );
                }
            }
        }
        self.refresh_contents();
    }

    /// The set a leftover object of ours can stand for: a leaf, or a group
    /// of two or more of our leaves, each set taken once.
    fn adoptable(&self, body: &Body) -> Option<NextHops> {
        let set: NextHops = match body {
            Body::Leaf(nh) => Arc::from([*nh]),
            Body::Group(members) if members.len() >= 2 => {
                let mut hops = Vec::with_capacity(members.len());
                for member in members {
                    match self.by_id.get(member) {
                        Some(Object {
                            set: Some(_),
                            body: Body::Leaf(nh),
                            ..
                        }) => hops.push(*nh),
                        _ => return None,
                    }
                }
                hops.sort();
                hops.dedup();
                if hops.len() != members.len() {
                    return None;
                }
                hops.into()
            }
            _ => return None,
        };
        (!self.by_set.contains_key(&set)).then_some(set)
    }

    fn refresh_contents(&mut self) {
        let leaves: HashMap<u32, FibNextHop> = self
            .by_id
            .iter()
            .filter_map(|(id, o)| match o.body {
                Body::Leaf(nh) => Some((*id, nh)),
                _ => None,
            })
            .collect();
        for object in self.by_id.values_mut() {
            let content: Vec<FibNextHop> = match &object.body {
                Body::Leaf(nh) => vec![*nh],
                Body::Group(members) => {
                    let mut hops: Vec<FibNextHop> = members.iter().filter_map(|m| leaves.get(m).copied()).collect();
                    hops.sort();
                    hops
                }
                Body::Other => Vec::new(),
            };
            if *object.content != *content {
                object.content = content.into();
            }
        }
    }

    /// A free id in our range, or None if all 65536 are taken.
    fn allocate(&mut self, planned: &HashSet<u32>) -> Option<u32> {
        for _ in 0..ID_COUNT {
            self.last = (self.last + 1) % ID_COUNT;
            let id = ID_FIRST + self.last;
            if !self.by_id.contains_key(&id) && !self.foreign.contains(&id) && !planned.contains(&id) {
                return Some(id);
            }
        }
        None
    }

    /// The objects to make or change before routes to the `in_use` sets
    /// are sent: leaves for their next hops whose link is up (leaves
    /// first: a group names them), then a group per set of two or more.
    pub fn plan_creates<'a>(&mut self, in_use: impl Iterator<Item = &'a NextHops>, links: &Links) -> Vec<NhOp> {
        if !self.enabled() {
            return Vec::new();
        }
        let mut leaves = BTreeSet::new();
        let mut groups = Vec::new();
        for set in in_use {
            leaves.extend(set.iter().filter(|nh| links.is_up(nh.ifindex)).copied());
            if set.len() > 1 {
                groups.push(set);
            }
        }
        let mut ops = Vec::new();
        let mut planned = HashSet::new();
        let mut leaf_ids = HashMap::new();
        for nh in leaves {
            let id = match self.by_set.get(&[nh][..]) {
                Some(&id) => id,
                None => {
                    let Some(id) = self.allocate(&planned) else { continue };
                    planned.insert(id);
                    ops.push(NhOp::Create {
                        id,
                        set: Arc::from([nh]),
                        body: Body::Leaf(nh),
                    });
                    id
                }
            };
            leaf_ids.insert(nh, id);
        }
        // Sets in a stable order, so that plans are reproducible.
        groups.sort();
        for set in groups {
            let members: Vec<u32> = set.iter().filter_map(|nh| leaf_ids.get(nh).copied()).collect();
            if members.is_empty() {
                continue;
            }
            let body = Body::Group(members);
            match self.by_set.get(&**set) {
                Some(&id) if self.by_id.get(&id).is_some_and(|o| o.body == body) => {}
                Some(&id) => ops.push(NhOp::Replace {
                    id,
                    set: Arc::clone(set),
                    body,
                }),
                None => {
                    let Some(id) = self.allocate(&planned) else { continue };
                    planned.insert(id);
                    ops.push(NhOp::Create {
                        id,
                        set: Arc::clone(set),
                        body,
                    });
                }
            }
        }
        ops
    }

    /// The objects of ours to delete after the routes were sent: those for
    /// sets no route wants or has any more, groups before leaves (a leaf
    /// going first would shrink its groups), and orphans no route refers
    /// to (`referenced`, from a dump of the routes; None: keep them).
    pub fn plan_deletes<'a>(
        &self,
        in_use: impl Iterator<Item = &'a NextHops>,
        referenced: Option<&HashSet<u32>>,
    ) -> Vec<NhOp> {
        let mut hops = HashSet::new();
        let mut groups: HashSet<&[FibNextHop]> = HashSet::new();
        for set in in_use {
            hops.extend(set.iter().copied());
            if set.len() > 1 {
                groups.insert(set);
            }
        }
        let mut doomed: Vec<(bool, u32)> = self
            .by_id
            .iter()
            .filter(|(id, object)| match &object.set {
                Some(set) if set.len() == 1 => !hops.contains(&set[0]),
                Some(set) => !groups.contains(&**set),
                None => referenced.is_some_and(|r| !r.contains(id)),
            })
            .map(|(id, object)| (matches!(object.body, Body::Leaf(_)), *id))
            .collect();
        doomed.sort();
        doomed.into_iter().map(|(_, id)| NhOp::Delete { id }).collect()
    }

    /// Record the kernel's answers to `ops` (per op, None if done).
    pub fn record(&mut self, ops: &[NhOp], errors: Vec<Option<KernelError>>) -> NhAnswers {
        let mut answers = NhAnswers::default();
        for (op, error) in ops.iter().zip(errors) {
            match (op, error) {
                (NhOp::Create { id, set, body } | NhOp::Replace { id, set, body }, None) => {
                    self.support = Support::Yes;
                    if let Some(old) = self.by_set.insert(Arc::clone(set), *id)
                        && old != *id
                    {
                        // Another object stood for the set: it is left to
                        // the next deletes as an orphan.
                        if let Some(o) = self.by_id.get_mut(&old) {
                            o.set = None;
                        }
                    }
                    self.by_id.insert(
                        *id,
                        Object {
                            set: Some(Arc::clone(set)),
                            body: body.clone(),
                            content: NextHops::from([]),
                        },
                    );
                }
                (NhOp::Delete { id }, None) => self.forget(*id),
                (NhOp::Delete { id }, Some(e)) if e.errno == libc::ENOENT => self.forget(*id),
                (NhOp::Create { .. }, Some(e)) if self.support == Support::Unknown && means_unsupported(e.errno) => {
                    self.disable();
                    answers.fell_back = Some(e);
                    // The rest were planned for a kernel that has objects.
                    break;
                }
                (NhOp::Create { id, .. }, Some(e)) => {
                    if e.errno == libc::EEXIST {
                        // Someone else's: never ours to use.
                        self.foreign.insert(*id);
                    }
                    answers.refused.push((op.clone(), e));
                }
                (op, Some(e)) => answers.refused.push((op.clone(), e)),
            }
        }
        self.refresh_contents();
        answers
    }

    fn forget(&mut self, id: u32) {
        if let Some(Object { set: Some(set), .. }) = self.by_id.remove(&id)
            && self.by_set.get(&set) == Some(&id)
        {
            self.by_set.remove(&set);
        }
    }
}

/// The next hops of every object in `dump` (a group's: its leaves'), by
/// id: what a route through one goes through.
pub(crate) fn next_hops_by_id(dump: &[KernelNexthop]) -> HashMap<u32, Vec<FibNextHop>> {
    let leaves: HashMap<u32, FibNextHop> = dump
        .iter()
        .filter_map(|n| match n.body {
            Body::Leaf(nh) => Some((n.id, nh)),
            _ => None,
        })
        .collect();
    dump.iter()
        .map(|n| {
            let mut hops: Vec<FibNextHop> = match &n.body {
                Body::Leaf(nh) => vec![*nh],
                Body::Group(members) => members.iter().filter_map(|m| leaves.get(m).copied()).collect(),
                Body::Other => Vec::new(),
            };
            hops.sort();
            (n.id, hops)
        })
        .collect()
}

/// Whether a known object of ours, dumped as `body`, still stands for
/// `set` (the kernel shrinks a group; a leaf never changes, unless someone
/// replaced it).
fn fits(set: Option<&[FibNextHop]>, body: &Body, by_set: &HashMap<NextHops, u32>, id: u32) -> bool {
    match (set, body) {
        (Some([one]), Body::Leaf(nh)) => one == nh,
        (Some(set), Body::Group(_)) => set.len() > 1 && by_set.get(set) == Some(&id),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{link, nh, set};
    use super::*;

    fn links() -> Links {
        Links::new([link(1, true), link(2, true), link(3, false)])
    }

    fn ok(n: usize) -> Vec<Option<KernelError>> {
        vec![None; n]
    }

    fn err(errno: i32) -> Option<KernelError> {
        Some(KernelError { errno, message: None })
    }

    /// Plan the creates for `in_use` and answer them all with success.
    fn create_all(objects: &mut Objects, in_use: &[NextHops]) -> Vec<NhOp> {
        let ops = objects.plan_creates(in_use.iter(), &links());
        let answers = objects.record(&ops, ok(ops.len()));
        assert!(answers.refused.is_empty() && answers.fell_back.is_none());
        ops
    }

    #[test]
    fn leaves_then_a_group_per_set_of_two_or_more() {
        let (a, b) = (nh(1, "fe80::1"), nh(2, "fe80::2"));
        let mut objects = Objects::default();
        let ab = set(&[a, b]);
        let ops = objects.plan_creates([set(&[a]), Arc::clone(&ab)].iter(), &links());
        assert_eq!(
            ops,
            [
                NhOp::Create {
                    id: ID_FIRST,
                    set: set(&[a]),
                    body: Body::Leaf(a)
                },
                NhOp::Create {
                    id: ID_FIRST + 1,
                    set: set(&[b]),
                    body: Body::Leaf(b)
                },
                NhOp::Create {
                    id: ID_FIRST + 2,
                    set: Arc::clone(&ab),
                    body: Body::Group(vec![ID_FIRST, ID_FIRST + 1])
                },
            ]
        );
        assert_eq!(objects.id_for(&ab), None, "not before the kernel said yes");
        objects.record(&ops, ok(3));
        assert_eq!(objects.support(), Support::Yes);
        assert_eq!(objects.id_for(&ab), Some(ID_FIRST + 2));
        assert_eq!(objects.id_for(&[a]), Some(ID_FIRST));
        assert_eq!(objects.content(ID_FIRST + 2), Some(&ab));
        assert_eq!(objects.set_of(ID_FIRST + 1), Some(&set(&[b])));
        // Nothing more to do for the same sets.
        assert!(objects.plan_creates([ab].iter(), &links()).is_empty());
    }

    #[test]
    fn a_group_holds_only_leaves_whose_link_is_up() {
        let (a, down) = (nh(1, "fe80::1"), nh(3, "fe80::3"));
        let mut objects = Objects::default();
        let ops = create_all(&mut objects, &[set(&[a, down])]);
        assert_eq!(ops.len(), 2, "no leaf through the down link: {ops:?}");
        assert_eq!(objects.content_of_set(&[a, down]), Some(&set(&[a])));
        // Only a down link: nothing to make, routes wait.
        assert!(objects.plan_creates([set(&[down])].iter(), &links()).is_empty());
    }

    #[test]
    fn a_link_back_up_replaces_the_group_in_place() {
        let (a, b) = (nh(1, "fe80::1"), nh(2, "fe80::2"));
        let ab = set(&[a, b]);
        let mut objects = Objects::default();
        create_all(&mut objects, &[Arc::clone(&ab)]);
        let group = objects.id_for(&ab).expect("group");
        // Link 2 lost its carrier: the kernel flushed leaf b, shrank the group.
        let leaf_a = objects.id_for(&[a]).expect("leaf a");
        objects.reconcile(vec![
            KernelNexthop {
                id: leaf_a,
                protocol: RTPROT_NDBGP,
                body: Body::Leaf(a),
            },
            KernelNexthop {
                id: group,
                protocol: RTPROT_NDBGP,
                body: Body::Group(vec![leaf_a]),
            },
        ]);
        assert_eq!(objects.id_for(&ab), Some(group), "still the set's object");
        assert_eq!(objects.content(group), Some(&set(&[a])));
        assert_eq!(objects.id_for(&[b]), None);
        // Back up: a new leaf, the same group with both.
        let ops = objects.plan_creates([Arc::clone(&ab)].iter(), &links());
        let NhOp::Create { id: leaf_b, .. } = ops[0].clone() else {
            panic!("{ops:?}")
        };
        assert_eq!(
            ops[1],
            NhOp::Replace {
                id: group,
                set: Arc::clone(&ab),
                body: Body::Group(vec![leaf_a, leaf_b])
            }
        );
        objects.record(&ops, ok(2));
        assert_eq!(objects.content(group), Some(&ab));
    }

    #[test]
    fn deletes_follow_the_last_user_groups_first() {
        let (a, b) = (nh(1, "fe80::1"), nh(2, "fe80::2"));
        let mut objects = Objects::default();
        create_all(&mut objects, &[set(&[a, b]), set(&[a])]);
        let group = objects.id_for(&[a, b]).expect("group");
        let leaf_b = objects.id_for(&[b]).expect("leaf");
        // Still in use: nothing.
        assert!(objects.plan_deletes([set(&[a, b])].iter(), None).is_empty());
        // Only [a] left: the group, then b's leaf, go; a's stays.
        let deletes = objects.plan_deletes([set(&[a])].iter(), None);
        assert_eq!(deletes, [NhOp::Delete { id: group }, NhOp::Delete { id: leaf_b }]);
        objects.record(&deletes, vec![None, err(libc::ENOENT)]);
        assert_eq!((objects.len(), objects.id_for(&[b])), (1, None));
        assert_eq!(objects.plan_deletes([].iter(), None).len(), 1);
    }

    #[test]
    fn leftovers_of_ours_are_adopted_others_never_touched() {
        let (a, b) = (nh(1, "fe80::1"), nh(2, "fe80::2"));
        let ours = |id, body| KernelNexthop {
            id,
            protocol: RTPROT_NDBGP,
            body,
        };
        let mut objects = Objects::default();
        objects.reconcile(vec![
            // Listed before its leaves: adopted all the same.
            ours(7, Body::Group(vec![5, 6])),
            ours(5, Body::Leaf(a)),
            ours(6, Body::Leaf(b)),
            // A second leaf for a, and a one-leaf group: orphans.
            ours(8, Body::Leaf(a)),
            ours(9, Body::Group(vec![5])),
            ours(10, Body::Other),
            // FRR's, in our range: skipped when giving ids.
            KernelNexthop {
                id: ID_FIRST,
                protocol: 186,
                body: Body::Leaf(a),
            },
        ]);
        assert_eq!(objects.id_for(&[a, b]), Some(7));
        assert_eq!(objects.id_for(&[a]), Some(5));
        assert_eq!(objects.set_of(8), None);
        assert_eq!(objects.content(9), Some(&set(&[a])), "an orphan's next hops are known");
        assert_eq!(objects.set_of(ID_FIRST), None, "not ours");
        // Orphans go only once no route refers to them.
        let in_use = [set(&[a, b])];
        assert!(objects.plan_deletes(in_use.iter(), None).is_empty());
        let referenced = HashSet::from([9]);
        assert_eq!(
            objects.plan_deletes(in_use.iter(), Some(&referenced)),
            [NhOp::Delete { id: 10 }, NhOp::Delete { id: 8 }]
        );
        let c = nh(1, "fe80::c");
        let ops = objects.plan_creates([set(&[c])].iter(), &links());
        assert_eq!(
            ops[0],
            NhOp::Create {
                id: ID_FIRST + 1,
                set: set(&[c]),
                body: Body::Leaf(c)
            }
        );
    }

    #[test]
    fn a_kernel_refusing_the_first_object_means_inline_next_hops() {
        for errno in [libc::EOPNOTSUPP, libc::EINVAL] {
            let mut objects = Objects::default();
            let ops = objects.plan_creates([set(&[nh(1, "fe80::1")])].iter(), &links());
            let answers = objects.record(&ops, vec![err(errno)]);
            assert_eq!(answers.fell_back.map(|e| e.errno), Some(errno));
            assert!(!objects.enabled());
            assert!(
                objects
                    .plan_creates([set(&[nh(2, "fe80::2")])].iter(), &links())
                    .is_empty()
            );
            assert_eq!(objects.id_for(&[nh(1, "fe80::1")]), None);
        }
        // Once objects worked, a refusal is only a refusal.
        let mut objects = Objects::default();
        create_all(&mut objects, &[set(&[nh(1, "fe80::1")])]);
        let ops = objects.plan_creates([set(&[nh(2, "fe80::2")])].iter(), &links());
        let answers = objects.record(&ops, vec![err(libc::EINVAL)]);
        assert!(answers.fell_back.is_none() && objects.enabled());
        assert_eq!(answers.refused.len(), 1);
        // A link gone down is not a missing feature either.
        let mut objects = Objects::default();
        let ops = objects.plan_creates([set(&[nh(1, "fe80::1")])].iter(), &links());
        assert!(objects.record(&ops, vec![err(libc::ENETDOWN)]).fell_back.is_none());
        assert_eq!(objects.support(), Support::Unknown);
        assert!(means_unsupported(libc::EOPNOTSUPP) && !means_unsupported(libc::ENETDOWN));
    }

    #[test]
    fn an_id_someone_took_is_not_given_again() {
        let a = nh(1, "fe80::1");
        let mut objects = Objects::default();
        let ops = objects.plan_creates([set(&[a])].iter(), &links());
        let answers = objects.record(&ops, vec![err(libc::EEXIST)]);
        assert_eq!(answers.refused.len(), 1);
        assert!(objects.foreign.contains(&ID_FIRST));
        let ops = objects.plan_creates([set(&[a])].iter(), &links());
        assert!(matches!(ops[0], NhOp::Create { id, .. } if id == ID_FIRST + 1));
    }
}
