//! The RIB: Adj-RIBs-In, Loc-RIB (best path and ECMP set) and Adj-RIBs-Out,
//! pure (no I/O, no clock).
//!
//! - Sessions feed decoded UPDATEs to [`Rib::apply`]; local routes come in
//!   through [`Rib::originate`] and [`Rib::withdraw_local`].
//! - Every call returns [`Changes`]: the prefixes whose selected paths
//!   changed (for the FIB) and the peers that now have routes to send.
//! - A session takes what to send with [`Rib::pending_out`] (its first call
//!   returns the whole table) and answers ROUTE-REFRESH with
//!   [`Rib::full_table`].
//!
//! ```
//! use std::net::Ipv4Addr;
//! use ndbgp::rib::{Families, PeerInfo, Rib, RibConfig, RouteChange};
//! use ndbgp::msg::update::{AsPath, AsSegment, Origin, PathAttributes, Update};
//! use ndbgp::peers::PeerKey;
//!
//! let mut rib = Rib::new(RibConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1)));
//! // Local routes (--network, connected): not installed, sent to peers.
//! let local = PathAttributes { origin: Some(Origin::Igp), ..Default::default() };
//! rib.originate("10.0.0.1/32".parse().unwrap(), local);
//!
//! // A session reaches Established.
//! let spine = PeerKey { ifindex: 2, addr: "fe80::2".parse().unwrap() };
//! let ready = rib.add_peer(PeerInfo {
//!     id: spine,
//!     asn: 65000,
//!     router_id: Ipv4Addr::new(10, 0, 0, 2),
//!     families: Families::ALL,
//! });
//! for peer in ready.out_ready {
//!     let batch = rib.pending_out(&peer).unwrap(); // first time: the whole table
//!     assert_eq!(batch.announced_len(), 1); // hand to the session's UPDATE encoder
//! }
//!
//! // The session decoded an UPDATE.
//! let attrs = PathAttributes {
//!     origin: Some(Origin::Igp),
//!     as_path: AsPath { segments: vec![AsSegment::Sequence(vec![65000, 65002])] },
//!     ..Default::default()
//! };
//! let update = Update { announced: vec!["10.0.0.2/32".parse().unwrap()], attributes: Some(attrs), ..Default::default() };
//! let changes = rib.apply(&spine, &update).unwrap();
//! for change in &changes.routes {
//!     match change {
//!         RouteChange::Best(best) => {
//!             // FIB: replace the route by these next hops (none: a local route, remove ours).
//!             assert_eq!(best.fib_next_hops().len(), 1);
//!         }
//!         RouteChange::Removed(_prefix) => { /* FIB: delete */ }
//!     }
//! }
//! // Split horizon: nothing goes back to the spine; other peers would be in out_ready.
//! assert!(changes.out_ready.is_empty());
//! ```
//!
//! Storage: one table keyed by prefix; each entry holds every peer's path
//! (the Adj-RIBs-In), the selected ones in front (the Loc-RIB). Attributes
//! are interned. The Adj-RIB-Out is computed from the Loc-RIB on demand
//! (see `out`). RFC 4271 3.2 allows this single structure.

mod decision;
mod out;
mod own;
mod stale;
mod table;
pub mod task;
mod view;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use self::decision::{Candidate, Kind};
use self::out::{BatchBuilder, Target, exportable};
use self::table::{Entry, LOCAL_SLOT, Path, Slot, Stored};
use crate::intern::Interner;
use crate::msg::update::{PathAttributes, Update};
use crate::peers::PeerKey;
use crate::policy::{PrefixFilter, RoutePolicy};
use crate::prefix_map::PrefixMap;

pub use self::decision::DEFAULT_LOCAL_PREF;
pub use self::out::{NO_ADVERTISE, NO_EXPORT, NO_EXPORT_SUBCONFED, OutBatch};
pub use self::own::OwnAddresses;
pub use self::table::Rejection;
pub use self::view::{RouteRows, RoutesJson};
pub use crate::api::{PathView, RouteView};

/// A peer is its session's key: one session per (ifindex, link-local).
pub type PeerId = PeerKey;

/// Multipath limit when none is configured.
pub const DEFAULT_MAX_PATHS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RibConfig {
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    /// Most paths in a multipath set (0 counts as 1, at most 65535).
    pub max_paths: usize,
}

impl RibConfig {
    pub fn new(local_asn: u32, router_id: Ipv4Addr) -> Self {
        RibConfig {
            local_asn,
            router_id,
            max_paths: DEFAULT_MAX_PATHS,
        }
    }
}

/// An established peer, as the decision process sees it. Its address and
/// interface are those of its [`PeerId`]; it is internal (iBGP) when its AS
/// is ours (RFC 4271 3; no confederations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    pub id: PeerId,
    pub asn: u32,
    /// Its BGP Identifier, from its OPEN.
    pub router_id: Ipv4Addr,
    /// What its session negotiated: it is sent nothing else.
    pub families: Families,
}

/// The address families a session carries (RFC 4760). Sending a peer a
/// family it did not negotiate would reset the session (RFC 4760 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    /// IPv4 unicast with an IPv6 next hop (RFC 8950): our only IPv4 form.
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Families {
    pub const ALL: Families = Families { ipv4: true, ipv6: true };

    pub fn carries(&self, prefix: &IpNet) -> bool {
        match prefix {
            IpNet::V4(_) => self.ipv4,
            IpNet::V6(_) => self.ipv6,
        }
    }
}

impl PeerInfo {
    pub fn address(&self) -> Ipv6Addr {
        self.id.addr
    }

    pub fn ifindex(&self) -> u32 {
        self.id.ifindex
    }
}

/// Where a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathSource {
    /// Originated here (`--network`, redistributed connected).
    Local,
    Peer(PeerId),
}

/// One selected path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRef {
    pub source: PathSource,
    pub attrs: Arc<PathAttributes>,
}

/// A kernel next hop: the peer's link-local on its interface. The
/// received NEXT_HOP is not used: in an unnumbered fabric the peer is the
/// next hop, and third-party next hops are not supported.
pub use crate::fib::types::FibNextHop;

/// A prefix's new Loc-RIB selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Best {
    pub prefix: IpNet,
    /// The multipath set, best first; never empty.
    pub paths: Vec<PathRef>,
}

impl Best {
    /// Whether the best path is our own (a local route is not installed).
    pub fn is_local(&self) -> bool {
        self.paths.first().is_some_and(|p| p.source == PathSource::Local)
    }

    /// What the FIB installs: one next hop per multipath member, none when
    /// the best path is local (the route is ours; remove any installed one).
    pub fn fib_next_hops(&self) -> Vec<FibNextHop> {
        self.next_hops().collect()
    }

    /// [`Best::fib_next_hops`] without collecting them.
    pub fn next_hops(&self) -> impl Iterator<Item = FibNextHop> + '_ {
        // Local paths win outright, so below a peer's best all are peers'.
        let local = self.is_local();
        self.paths
            .iter()
            .filter(move |_| !local)
            .filter_map(|p| match p.source {
                PathSource::Peer(id) => Some(FibNextHop {
                    ifindex: id.ifindex,
                    via: id.addr,
                }),
                PathSource::Local => None,
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    Best(Best),
    /// No path left to the prefix.
    Removed(IpNet),
}

impl RouteChange {
    pub fn prefix(&self) -> IpNet {
        match self {
            RouteChange::Best(best) => best.prefix,
            RouteChange::Removed(prefix) => *prefix,
        }
    }
}

/// What one call changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// One per prefix whose selected set (members, order or attributes)
    /// changed, in processing order.
    pub routes: Vec<RouteChange>,
    /// Peers that had nothing to send and now have: call
    /// [`Rib::pending_out`] for them. Each is named once until its pending
    /// routes are taken.
    pub out_ready: Vec<PeerId>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.out_ready.is_empty()
    }

    /// Appends `other` (a later call's changes). A prefix may then appear
    /// twice; the later entry is current.
    pub fn append(&mut self, other: Changes) {
        self.routes.extend(other.routes);
        for id in other.out_ready {
            if !self.out_ready.contains(&id) {
                self.out_ready.push(id);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("peer {0} is not in the RIB")]
pub struct UnknownPeer(pub PeerId);

/// Counters for one peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Prefixes in its Adj-RIB-In, before policy: the rejected ones too.
    pub prefixes: usize,
    /// Of those, rejected by its import filter now.
    pub filtered: usize,
    /// Of those, rejected because the AS_PATH does not start with its AS.
    pub first_as_rejected: usize,
    /// Announcements dropped because our AS was in the AS_PATH (RFC 4271
    /// 9.1.2), since the peer was added.
    pub loop_dropped: u64,
    /// Of those, rejected because their next hop is one of our own
    /// addresses now (RFC 4271 5.1.3).
    pub next_hop_ours_rejected: usize,
    /// Announcements whose next hop was one of our own addresses when they
    /// came, plus held paths whose next hop became ours, since the peer was
    /// added (cumulative, whatever reason they are shown rejected for).
    pub next_hop_ours: u64,
    /// Prefixes advertised to it by the batches taken so far (its
    /// Adj-RIB-Out as the peer knows it).
    pub prefixes_sent: usize,
    /// Of those received, how many are stale: kept from a session that
    /// ended in a graceful restart, not sent again yet.
    pub stale: usize,
}

impl PeerStats {
    /// Prefixes its policy accepts: eligible for best path.
    pub fn accepted(&self) -> usize {
        self.prefixes
            .saturating_sub(self.filtered + self.first_as_rejected + self.next_hop_ours_rejected)
    }

    /// One of its paths entered (`true`) or left the Adj-RIB-In.
    fn track(&mut self, rejected: Option<Rejection>, stale: bool, entered: bool) {
        let step = |n: &mut usize| {
            *n = if entered {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        step(&mut self.prefixes);
        if stale {
            step(&mut self.stale);
        }
        match rejected {
            Some(Rejection::ImportFilter) => step(&mut self.filtered),
            Some(Rejection::FirstAs) => step(&mut self.first_as_rejected),
            Some(Rejection::NextHopOurs) => step(&mut self.next_hop_ours_rejected),
            None => {}
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RibStats {
    pub prefixes: usize,
    pub paths: usize,
    pub attribute_sets: usize,
    pub peers: usize,
}

/// Per peer: what has to be sent.
#[derive(Debug)]
enum OutState {
    /// Nothing sent yet: the first batch is the whole table.
    Initial,
    /// Prefixes whose advertisement may have changed since the last batch,
    /// each with whether it was advertised in it.
    Pending(PrefixMap<bool>),
}

#[derive(Debug)]
struct PeerState {
    info: PeerInfo,
    kind: Kind,
    stats: PeerStats,
    out: OutState,
    policy: RoutePolicy,
    /// Its session ended in a graceful restart: its paths are kept, stale,
    /// until it is back ([`Rib::add_peer`] takes the slot over) or they are
    /// swept.
    restarting: bool,
}

impl PeerState {
    fn target(&self, slot: Slot) -> Target<'_> {
        target(slot, &self.info, self.kind, &self.policy.export)
    }

    /// Why import rejects `attrs` for `prefix` from this peer, if it does,
    /// given our addresses `own`. One reason for a path: the protocol's
    /// checks first (first AS, then next hop ours), the import filter last.
    fn rejection(&self, prefix: &IpNet, attrs: &PathAttributes, own: &OwnAddresses) -> Option<Rejection> {
        // RFC 4271 6.3 / RFC 7606 7.2; an empty AS_PATH has no first AS.
        if self.policy.enforce_first_as && self.kind == Kind::Ebgp && attrs.as_path.first_as() != Some(self.info.asn) {
            return Some(Rejection::FirstAs);
        }
        // RFC 4271 5.1.3: a next hop of ours is not usable.
        if own.has_next_hop(&attrs.next_hop) {
            return Some(Rejection::NextHopOurs);
        }
        (!self.policy.import.permits(prefix)).then_some(Rejection::ImportFilter)
    }
}

fn target<'a>(slot: Slot, info: &PeerInfo, kind: Kind, export: &'a PrefixFilter) -> Target<'a> {
    Target {
        slot,
        asn: info.asn,
        ibgp: kind == Kind::Ibgp,
        families: info.families,
        export,
    }
}

/// The peer table; slot 0 is the local pseudo-peer (never exported to).
#[derive(Debug)]
struct Peers {
    slots: Vec<Option<PeerState>>,
    by_id: HashMap<PeerId, Slot>,
}

impl Peers {
    fn get(&self, slot: Slot) -> Option<&PeerState> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, slot: Slot) -> Option<&mut PeerState> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    fn slot(&self, id: &PeerId) -> Option<Slot> {
        self.by_id.get(id).copied()
    }

    /// Falls back to an eBGP-like stranger for a slot that cannot be empty
    /// while it has paths; keeps the decision total without a panic.
    fn kind(&self, slot: Slot) -> Kind {
        self.get(slot).map_or(Kind::Ebgp, |p| p.kind)
    }

    fn source(&self, slot: Slot) -> PathSource {
        match self.get(slot) {
            Some(p) if p.kind != Kind::Local => PathSource::Peer(p.info.id),
            _ => PathSource::Local,
        }
    }

    fn candidate<'a>(&self, path: &'a Path) -> Candidate<'a> {
        match self.get(path.slot) {
            Some(p) => Candidate {
                kind: p.kind,
                attrs: &path.attrs,
                router_id: p.info.router_id,
                address: p.info.id.addr,
                ifindex: p.info.id.ifindex,
            },
            None => Candidate {
                kind: Kind::Ebgp,
                attrs: &path.attrs,
                router_id: Ipv4Addr::BROADCAST,
                address: Ipv6Addr::from(u128::MAX),
                ifindex: u32::MAX,
            },
        }
    }
}

#[derive(Debug)]
pub struct Rib {
    config: RibConfig,
    /// A peer's path with one of these as its next hop is not kept.
    own: OwnAddresses,
    peers: Peers,
    table: PrefixMap<Entry>,
    interner: Interner<PathAttributes>,
    /// Prefixes with a selected path (the Loc-RIB), kept as they change.
    selected: RouteCounts,
}

/// Prefixes by family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteCounts {
    pub ipv4: usize,
    pub ipv6: usize,
}

impl RouteCounts {
    fn of(&mut self, prefix: &IpNet) -> &mut usize {
        match prefix {
            IpNet::V4(_) => &mut self.ipv4,
            IpNet::V6(_) => &mut self.ipv6,
        }
    }
}

impl Rib {
    pub fn new(config: RibConfig) -> Self {
        let local = PeerState {
            info: PeerInfo {
                id: PeerKey {
                    ifindex: 0,
                    addr: Ipv6Addr::UNSPECIFIED,
                },
                asn: config.local_asn,
                router_id: config.router_id,
                families: Families::ALL,
            },
            kind: Kind::Local,
            stats: PeerStats::default(),
            out: OutState::Initial,
            policy: RoutePolicy::default(),
            restarting: false,
        };
        Rib {
            config,
            own: OwnAddresses::default(),
            peers: Peers {
                slots: vec![Some(local)],
                by_id: HashMap::new(),
            },
            table: PrefixMap::default(),
            interner: Interner::default(),
            selected: RouteCounts::default(),
        }
    }

    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    /// Our router ID changed: local paths carry the new one. It changes no
    /// selection (a local path always wins) and nothing sent to peers.
    pub fn set_router_id(&mut self, router_id: Ipv4Addr) {
        self.config.router_id = router_id;
        if let Some(local) = self.peers.get_mut(LOCAL_SLOT) {
            local.info.router_id = router_id;
        }
    }

    /// Our addresses changed: import re-runs over the peers' stored paths
    /// whose next hop became ours or stopped being ours. A path through a
    /// new one of ours is kept rejected ([`Rejection::NextHopOurs`]) and
    /// leaves the selection; one through an address no longer ours is
    /// eligible again and re-decided, without the peer sending it again.
    pub fn set_own_addresses(&mut self, own: OwnAddresses) -> Changes {
        let mut changes = Changes::default();
        if own == self.own {
            return changes;
        }
        let old = mem::replace(&mut self.own, own);
        let (new, old, peers) = (&self.own, &old, &self.peers);
        let changed: Vec<(IpNet, Slot, Arc<PathAttributes>, Option<Rejection>)> = self
            .table
            .iter()
            .flat_map(|(prefix, entry)| {
                entry.paths().iter().filter_map(move |path| {
                    if path.slot == LOCAL_SLOT {
                        return None;
                    }
                    let next_hop = &path.attrs.next_hop;
                    if old.has_next_hop(next_hop) == new.has_next_hop(next_hop) {
                        return None;
                    }
                    let state = peers.get(path.slot)?;
                    let rejected = state.rejection(&prefix, &path.attrs, new);
                    Some((prefix, path.slot, Arc::clone(&path.attrs), rejected))
                })
            })
            .collect();
        for (prefix, slot, attrs, rejected) in changed {
            if self.own.has_next_hop(&attrs.next_hop)
                && let Some(state) = self.peers.get_mut(slot)
            {
                state.stats.next_hop_ours += 1;
            }
            self.set_path(prefix, slot, Some(attrs), rejected, false, &mut changes);
        }
        changes
    }

    /// Adds an established peer, with the default [`RoutePolicy`] until
    /// [`Rib::set_policy`]. A peer already present (a new session under the
    /// same key) is removed first, with its routes, unless it is restarting
    /// gracefully in the same AS: then its stale paths stay (see
    /// [`Rib::retain_stale`]). The new peer is named in `out_ready`: its
    /// first [`Rib::pending_out`] is the table.
    pub fn add_peer(&mut self, info: PeerInfo) -> Changes {
        if let Some(changes) = self.resume_peer(info) {
            return changes;
        }
        let mut changes = self.remove_peer(&info.id);
        let kind = if info.asn == self.config.local_asn {
            Kind::Ibgp
        } else {
            Kind::Ebgp
        };
        let state = PeerState {
            info,
            kind,
            stats: PeerStats::default(),
            out: OutState::Initial,
            policy: RoutePolicy::default(),
            restarting: false,
        };
        let slot = match self.peers.slots.iter().skip(1).position(Option::is_none) {
            Some(free) => free + 1,
            None => {
                self.peers.slots.push(None);
                self.peers.slots.len() - 1
            }
        };
        self.peers.slots[slot] = Some(state);
        let slot = Slot::try_from(slot).expect("fewer than 2^32 peers");
        self.peers.by_id.insert(info.id, slot);
        changes.out_ready.push(info.id);
        changes
    }

    /// Removes a peer (session down) and withdraws all its routes. Unknown
    /// peers are ignored.
    pub fn remove_peer(&mut self, id: &PeerId) -> Changes {
        let mut changes = Changes::default();
        let Some(slot) = self.peers.slot(id) else {
            return changes;
        };
        let has_routes = match self.peers.get_mut(slot) {
            Some(state) => {
                // Stop tracking what it is sent: it is going away.
                state.out = OutState::Initial;
                state.stats.prefixes > 0
            }
            None => false,
        };
        if has_routes {
            // A scan, as FRR and BIRD do on peer down: a per-peer prefix
            // index would cost more memory than the scan costs time.
            let prefixes: Vec<IpNet> = self
                .table
                .iter()
                .filter(|(_, entry)| entry.get(slot).is_some())
                .map(|(prefix, _)| prefix)
                .collect();
            for prefix in prefixes {
                self.set_path(prefix, slot, None, None, false, &mut changes);
            }
        }
        self.peers.by_id.remove(id);
        if let Some(entry) = self.peers.slots.get_mut(slot as usize) {
            *entry = None;
        }
        self.interner.sweep();
        changes
    }

    /// Applies one UPDATE from `peer` (RFC 4271 9.1): withdrawals, then
    /// announcements, each replacing the peer's previous path. An
    /// announcement its policy or a protocol check rejects (first AS, a
    /// next hop of ours) is stored as rejected: it takes no part in the
    /// decision process.
    pub fn apply(&mut self, peer: &PeerId, update: &Update) -> Result<Changes, UnknownPeer> {
        let slot = self.peers.slot(peer).ok_or(UnknownPeer(*peer))?;
        let mut changes = Changes::default();
        // RFC 4271 4.3: a prefix both withdrawn and announced in one UPDATE
        // is treated as announced.
        let announced: HashSet<IpNet> = if update.withdrawn.is_empty() {
            HashSet::new()
        } else {
            update.announced.iter().copied().collect()
        };
        for prefix in update.withdrawn.iter().filter(|p| !announced.contains(p)) {
            self.set_path(*prefix, slot, None, None, false, &mut changes);
        }
        if update.announced.is_empty() {
            return Ok(changes);
        }
        let attrs = match &update.attributes {
            // RFC 4271 9.1.2: our AS in the path makes the route
            // unfeasible; it still replaces (withdraws) the previous one.
            Some(attrs) if attrs.as_path.contains(self.config.local_asn) => {
                if let Some(state) = self.peers.get_mut(slot) {
                    state.stats.loop_dropped += update.announced.len() as u64;
                }
                None
            }
            Some(attrs) => {
                // RFC 4271 5.1.3: stored rejected, see `PeerState::rejection`.
                if self.own.has_next_hop(&attrs.next_hop)
                    && let Some(state) = self.peers.get_mut(slot)
                {
                    state.stats.next_hop_ours += update.announced.len() as u64;
                }
                Some(self.interner.intern(attrs))
            }
            // The codec never yields NLRI without attributes; if it did,
            // there would be nothing to store: treat as withdrawn.
            None => None,
        };
        for prefix in &update.announced {
            let rejected = match (&attrs, self.peers.get(slot)) {
                (Some(attrs), Some(state)) => state.rejection(prefix, attrs, &self.own),
                _ => None,
            };
            self.set_path(*prefix, slot, attrs.clone(), rejected, true, &mut changes);
        }
        Ok(changes)
    }

    /// Gives `peer` a new policy, without a session reset: what export now
    /// denies or permits is queued for it (withdrawn or announced by its
    /// next [`Rib::pending_out`]), and import re-runs over its stored
    /// Adj-RIB-In (newly denied paths leave the selection, newly permitted
    /// ones enter it).
    pub fn set_policy(&mut self, peer: &PeerId, policy: RoutePolicy) -> Result<Changes, UnknownPeer> {
        let slot = self.peers.slot(peer).ok_or(UnknownPeer(*peer))?;
        let Some(state) = self.peers.get_mut(slot) else {
            return Err(UnknownPeer(*peer));
        };
        let mut changes = Changes::default();
        if state.policy == policy {
            return Ok(changes);
        }
        let old = mem::replace(&mut state.policy, policy);
        let has_routes = state.stats.prefixes > 0;
        // Export first: the pending records must say what the last batch
        // sent, which the old filter decided.
        if old.export != state.policy.export {
            self.requeue_export(slot, &old.export, &mut changes);
        }
        let Some(state) = self.peers.get(slot) else {
            return Err(UnknownPeer(*peer));
        };
        if has_routes && (old.import != state.policy.import || old.enforce_first_as != state.policy.enforce_first_as) {
            let changed: Vec<(IpNet, Arc<PathAttributes>, Option<Rejection>)> = self
                .table
                .iter()
                .filter_map(|(prefix, entry)| {
                    let path = entry.get(slot)?;
                    let rejected = state.rejection(&prefix, &path.attrs, &self.own);
                    (rejected != path.rejected).then(|| (prefix, Arc::clone(&path.attrs), rejected))
                })
                .collect();
            for (prefix, attrs, rejected) in changed {
                self.set_path(prefix, slot, Some(attrs), rejected, false, &mut changes);
            }
        }
        Ok(changes)
    }

    /// Queues for `slot` every prefix whose export its new filter decides
    /// differently from `old`, each recorded with what the old one sent.
    fn requeue_export(&mut self, slot: Slot, old: &PrefixFilter, changes: &mut Changes) {
        let Some(state) = self.peers.get(slot) else { return };
        if matches!(state.out, OutState::Initial) {
            // Nothing sent yet: its first batch follows the new filter.
            return;
        }
        let new = state.target(slot);
        let before = Target { export: old, ..new };
        let flipped: Vec<(IpNet, bool)> = self
            .table
            .iter()
            .filter_map(|(prefix, entry)| {
                let best = entry.best()?;
                let kind = self.peers.kind(best.slot);
                let was = exportable(&prefix, best, kind, &before);
                (was != exportable(&prefix, best, kind, &new)).then_some((prefix, was))
            })
            .collect();
        let Some(state) = self.peers.get_mut(slot) else { return };
        let OutState::Pending(pending) = &mut state.out else {
            return;
        };
        if pending.is_empty() && !flipped.is_empty() {
            changes.out_ready.push(state.info.id);
        }
        for (prefix, was_advertised) in flipped {
            // A record already there says what the last batch sent.
            pending.get_or_insert_with(prefix, || was_advertised);
        }
    }

    /// Originates `prefix` (or replaces our attributes for it). Its
    /// AS_PATH is normally empty; our AS is added when it is sent.
    pub fn originate(&mut self, prefix: IpNet, attrs: PathAttributes) -> Changes {
        let mut changes = Changes::default();
        let attrs = self.interner.intern(&attrs);
        self.set_path(prefix, LOCAL_SLOT, Some(attrs), None, true, &mut changes);
        changes
    }

    pub fn withdraw_local(&mut self, prefix: IpNet) -> Changes {
        let mut changes = Changes::default();
        self.set_path(prefix, LOCAL_SLOT, None, None, true, &mut changes);
        changes
    }

    /// What to send `peer` now: the prefixes whose advertisement changed
    /// since the last batch, or, the first time, the whole table.
    pub fn pending_out(&mut self, peer: &PeerId) -> Result<OutBatch, UnknownPeer> {
        let slot = self.peers.slot(peer).ok_or(UnknownPeer(*peer))?;
        let Some(state) = self.peers.get_mut(slot) else {
            return Err(UnknownPeer(*peer));
        };
        let pending = match mem::replace(&mut state.out, OutState::Pending(PrefixMap::default())) {
            OutState::Initial => return Ok(self.send_table(slot, PrefixMap::default())),
            OutState::Pending(pending) => pending,
        };
        let Some(state) = self.peers.get(slot) else {
            return Err(UnknownPeer(*peer));
        };
        let target = state.target(slot);
        let mut batch = BatchBuilder::default();
        let mut sent = state.stats.prefixes_sent;
        for (prefix, was_advertised) in pending.iter() {
            match self
                .table
                .get(&prefix)
                .and_then(|entry| self.export(&prefix, entry, &target))
            {
                Some((best, kind)) => {
                    batch.announce(prefix, best, kind);
                    sent += usize::from(!*was_advertised);
                }
                None if *was_advertised => {
                    batch.withdraw(prefix);
                    sent = sent.saturating_sub(1);
                }
                None => {}
            }
        }
        let ibgp = target.ibgp;
        if let Some(state) = self.peers.get_mut(slot) {
            state.stats.prefixes_sent = sent;
        }
        Ok(batch.finish(ibgp, self.config.local_asn))
    }

    /// Everything `peer` is to be sent (ROUTE-REFRESH, RFC 2918), plus
    /// withdrawals still pending; clears its pending changes.
    pub fn full_table(&mut self, peer: &PeerId) -> Result<OutBatch, UnknownPeer> {
        let slot = self.peers.slot(peer).ok_or(UnknownPeer(*peer))?;
        let Some(state) = self.peers.get_mut(slot) else {
            return Err(UnknownPeer(*peer));
        };
        let pending = match mem::replace(&mut state.out, OutState::Pending(PrefixMap::default())) {
            OutState::Initial => PrefixMap::default(),
            OutState::Pending(pending) => pending,
        };
        Ok(self.send_table(slot, pending))
    }

    /// Every prefix and all its eligible paths, sorted by prefix.
    pub fn routes(&self) -> Vec<RouteView> {
        self.routes_within(None)
    }

    /// The routes equal to or inside `within` (all without it), sorted,
    /// with their eligible paths (rejected ones: [`Rib::rejected_within`]).
    pub fn routes_within(&self, within: Option<IpNet>) -> Vec<RouteView> {
        self.table
            .iter_within(within)
            .filter_map(|(prefix, entry)| self.route_view(prefix, entry, false))
            .collect()
    }

    /// The paths import rejected, equal to or inside `within`, sorted,
    /// each with its reason (`ndbgpctl routes --filtered`).
    pub fn rejected_within(&self, within: Option<IpNet>) -> Vec<RouteView> {
        self.table
            .iter_within(within)
            .filter_map(|(prefix, entry)| self.route_view(prefix, entry, true))
            .collect()
    }

    /// A peer's Adj-RIB-In (what it announced and we kept, rejected or
    /// not), sorted.
    pub fn adj_rib_in(&self, peer: &PeerId) -> Result<Vec<(IpNet, Arc<PathAttributes>)>, UnknownPeer> {
        let slot = self.peers.slot(peer).ok_or(UnknownPeer(*peer))?;
        Ok(self
            .table
            .iter()
            .filter_map(|(prefix, entry)| entry.get(slot).map(|path| (prefix, Arc::clone(&path.attrs))))
            .collect())
    }

    /// The current selection for one prefix.
    pub fn best(&self, prefix: &IpNet) -> Option<Best> {
        let entry = self.table.get(prefix)?;
        (!entry.selected().is_empty()).then(|| self.best_of(*prefix, entry))
    }

    pub fn peer_stats(&self, peer: &PeerId) -> Option<PeerStats> {
        self.peers
            .slot(peer)
            .and_then(|slot| self.peers.get(slot))
            .map(|state| state.stats)
    }

    /// Prefixes in the Loc-RIB (with a selected path) by family; O(1).
    pub fn selected_counts(&self) -> RouteCounts {
        self.selected
    }

    pub fn stats(&self) -> RibStats {
        RibStats {
            prefixes: self.table.len(),
            paths: self.table.iter().map(|(_, entry)| entry.paths().len()).sum(),
            attribute_sets: self.interner.len(),
            peers: self.peers.by_id.len(),
        }
    }

    /// Stores (`Some`) or removes (`None`) `slot`'s path to `prefix`,
    /// `rejected` or not, runs the decision process and records what
    /// changed. `fresh`: the peer sent it (it is no longer stale); else a
    /// path re-judged keeps its stale mark.
    fn set_path(
        &mut self,
        prefix: IpNet,
        slot: Slot,
        attrs: Option<Arc<PathAttributes>>,
        rejected: Option<Rejection>,
        fresh: bool,
        changes: &mut Changes,
    ) {
        let Rib {
            config,
            peers,
            table,
            interner,
            selected,
            ..
        } = self;
        let entry = match &attrs {
            Some(_) => table.get_or_insert_with(prefix, Entry::default),
            None => match table.get_mut(&prefix) {
                Some(entry) => entry,
                None => return,
            },
        };
        let before: Vec<Path> = entry.selected().to_vec();
        let stale = !fresh && entry.get(slot).is_some_and(|p| p.stale);
        let (released, stored) = match attrs {
            Some(attrs) => match entry.store(Path {
                slot,
                rejected,
                stale,
                attrs,
            }) {
                Stored::Unchanged => return,
                Stored::Added => (None, true),
                Stored::Replaced(old) => (Some(old), true),
            },
            None => match entry.remove(slot) {
                Some(old) => (Some(old), false),
                None => return,
            },
        };
        if let Some(state) = peers.get_mut(slot) {
            if let Some(old) = &released {
                state.stats.track(old.rejected, old.stale, false);
            }
            if stored {
                state.stats.track(rejected, stale, true);
            }
        }

        let order: Vec<usize> = match entry.paths() {
            // Most prefixes have one path: nothing to decide.
            [] => Vec::new(),
            [one] => one.eligible().then_some(0).into_iter().collect(),
            paths => {
                let eligible: Vec<usize> = (0..paths.len()).filter(|&i| paths[i].eligible()).collect();
                let candidates: Vec<Candidate> = eligible.iter().map(|&i| peers.candidate(&paths[i])).collect();
                decision::select(&candidates, config.max_paths)
                    .into_iter()
                    .map(|k| eligible[k])
                    .collect()
            }
        };
        entry.set_selection(&order);

        let after = entry.selected();
        match (before.is_empty(), after.is_empty()) {
            (true, false) => *selected.of(&prefix) += 1,
            (false, true) => *selected.of(&prefix) -= 1,
            _ => {}
        }
        let unchanged = before.len() == after.len() && before.iter().zip(after).all(|(a, b)| a.same(b));
        if !unchanged {
            changes.routes.push(match after.is_empty() {
                true => RouteChange::Removed(prefix),
                false => RouteChange::Best(Best {
                    prefix,
                    paths: after
                        .iter()
                        .map(|path| PathRef {
                            source: peers.source(path.slot),
                            attrs: Arc::clone(&path.attrs),
                        })
                        .collect(),
                }),
            });
        }
        mark_out(peers, prefix, before.first(), entry.best(), changes);

        if entry.is_empty() {
            table.remove(&prefix);
        }
        drop(before);
        if let Some(old) = released {
            interner.release(old.attrs);
        }
    }

    /// The path `target` is sent for this entry, with its kind.
    fn export<'a>(&self, prefix: &IpNet, entry: &'a Entry, target: &Target) -> Option<(&'a Path, Kind)> {
        let best = entry.best()?;
        let kind = self.peers.kind(best.slot);
        exportable(prefix, best, kind, target).then_some((best, kind))
    }

    /// [`Rib::table_batch`], taken as sent.
    fn send_table(&mut self, slot: Slot, pending: PrefixMap<bool>) -> OutBatch {
        let batch = self.table_batch(slot, pending);
        if let Some(state) = self.peers.get_mut(slot) {
            state.stats.prefixes_sent = batch.announced_len();
        }
        batch
    }

    /// The whole table for `slot`, plus withdrawals for `pending` prefixes
    /// that were advertised and no longer are.
    fn table_batch(&self, slot: Slot, pending: PrefixMap<bool>) -> OutBatch {
        let Some(state) = self.peers.get(slot) else {
            return OutBatch::default();
        };
        let target = state.target(slot);
        let mut batch = BatchBuilder::default();
        for (prefix, entry) in self.table.iter() {
            if let Some((best, kind)) = self.export(&prefix, entry, &target) {
                batch.announce(prefix, best, kind);
            }
        }
        for (prefix, was_advertised) in pending.iter() {
            if *was_advertised
                && self
                    .table
                    .get(&prefix)
                    .and_then(|e| self.export(&prefix, e, &target))
                    .is_none()
            {
                batch.withdraw(prefix);
            }
        }
        batch.finish(target.ibgp, self.config.local_asn)
    }

    fn best_of(&self, prefix: IpNet, entry: &Entry) -> Best {
        Best {
            prefix,
            paths: entry
                .selected()
                .iter()
                .map(|path| PathRef {
                    source: self.peers.source(path.slot),
                    attrs: Arc::clone(&path.attrs),
                })
                .collect(),
        }
    }

    /// The prefix with its eligible paths, or its rejected ones; none when
    /// it has no such path.
    fn route_view(&self, prefix: IpNet, entry: &Entry, rejected: bool) -> Option<RouteView> {
        let selected = entry.selected().len();
        let paths: Vec<PathView> = entry
            .paths()
            .iter()
            .enumerate()
            .filter(|(_, path)| path.eligible() != rejected)
            .map(|(i, path)| {
                let attrs = &path.attrs;
                let state = self.peers.get(path.slot);
                let kind = self.peers.kind(path.slot);
                let peer_id = state.filter(|_| kind != Kind::Local).map(|s| s.info.id);
                PathView {
                    peer: peer_id.map_or_else(|| "local".to_string(), |id| id.to_string()),
                    ifindex: peer_id.map(|id| id.ifindex),
                    interface: None,
                    peer_address: peer_id.map(|id| id.addr),
                    peer_asn: state.map_or(0, |s| s.info.asn),
                    router_id: state.map_or(Ipv4Addr::UNSPECIFIED, |s| s.info.router_id),
                    next_hop_ipv4: attrs.next_hop.ipv4,
                    next_hop_global: attrs.next_hop.global,
                    next_hop_link_local: attrs.next_hop.link_local,
                    as_path: view::as_path_text(&attrs.as_path),
                    origin: view::origin_text(attrs.origin),
                    local_pref: decision::local_pref(kind, attrs),
                    med: attrs.med,
                    communities: attrs.communities.iter().map(|c| view::community_text(*c)).collect(),
                    large_communities: attrs.large_communities.iter().map(view::large_community_text).collect(),
                    best: i == 0 && selected > 0,
                    multipath: i < selected,
                    rejected: path.rejected.map(|r| r.reason().to_string()),
                    stale: path.stale,
                }
            })
            .collect();
        (!paths.is_empty()).then_some(RouteView { prefix, paths })
    }
}

/// Records, for every peer that is sent routes, that `prefix` needs
/// sending when its best path changed and it was or is exportable to it.
fn mark_out(peers: &mut Peers, prefix: IpNet, before: Option<&Path>, after: Option<&Path>, changes: &mut Changes) {
    let same = match (before, after) {
        (Some(a), Some(b)) => a.same(b),
        (None, None) => true,
        _ => false,
    };
    if same {
        return;
    }
    let before = before.map(|path| (path, peers.kind(path.slot)));
    let after = after.map(|path| (path, peers.kind(path.slot)));
    for (slot, state) in peers.slots.iter_mut().enumerate().skip(1) {
        let Some(state) = state else { continue };
        let Ok(slot) = Slot::try_from(slot) else { continue };
        let PeerState {
            info,
            kind,
            out,
            policy,
            ..
        } = state;
        let target = target(slot, info, *kind, &policy.export);
        let OutState::Pending(pending) = out else {
            continue;
        };
        let was_advertised = before.is_some_and(|(path, kind)| exportable(&prefix, path, kind, &target));
        let advertise = after.is_some_and(|(path, kind)| exportable(&prefix, path, kind, &target));
        if was_advertised || advertise {
            if pending.is_empty() {
                changes.out_ready.push(info.id);
            }
            // Keep the first record: it says what the last batch sent.
            pending.get_or_insert_with(prefix, || was_advertised);
        }
    }
}
