//! The pure peer table: observations and Links snapshots in, events out.
//! No clock and no I/O: every method that needs the time takes it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use tracing::{debug, info, trace, warn};

use super::{LostReason, PeerCounters, PeerEntryView, PeerEvent, PeerInfo, PeerKey, PeerStateName, PeerTableConfig};
use crate::api::InterfaceNeighbors;
use crate::iface::{Links, Mac, fmt_mac, is_link_local};
use crate::peers::Observation;
use crate::peers::Source;

/// At most one "table full" or "our own address" warning per interface per
/// this long.
const FULL_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Counter key for observations on an ifindex that is not in the Links
/// snapshot. Whitespace makes it an invalid interface name, so it cannot
/// collide with one; one bucket keeps the map bounded as ifindexes churn.
pub const UNKNOWN_IFINDEX: &str = "unknown ifindex";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Seen only as the target of a DAD NS, the last one at `dad_ns_at`:
    /// it may not own the address yet, so it is not dialable.
    Tentative {
        dad_ns_at: Instant,
    },
    Usable,
}

/// One neighbour in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    pub key: PeerKey,
    pub interface: String,
    pub mac: Option<Mac>,
    pub sources: BTreeSet<Source>,
    pub router: bool,
    pub first_seen: Instant,
    pub last_seen: Instant,
    /// When the last RA from it arrived, and its router lifetime in seconds.
    pub last_ra: Option<(Instant, u16)>,
    pub state: PeerState,
}

impl PeerEntry {
    fn new(key: PeerKey, interface: String, obs: &Observation, now: Instant) -> Self {
        let mut entry = PeerEntry {
            key,
            interface,
            mac: None,
            sources: BTreeSet::new(),
            router: false,
            first_seen: now,
            last_seen: now,
            last_ra: None,
            state: if obs.tentative {
                PeerState::Tentative { dad_ns_at: now }
            } else {
                PeerState::Usable
            },
        };
        entry.record(obs, now);
        entry
    }

    /// Take in what an observation says about it.
    fn record(&mut self, obs: &Observation, now: Instant) {
        self.last_seen = now;
        self.sources.insert(obs.source);
        if let Some(mac) = obs.mac {
            if self.mac.is_some_and(|old| old != mac) {
                debug!(
                    "{}: neighbour {} now at {} (was {})",
                    self.interface,
                    self.key.addr,
                    fmt_mac(&mac),
                    self.mac.as_ref().map(fmt_mac).unwrap_or_default()
                );
            }
            self.mac = Some(mac);
        }
        if let Some(router) = obs.router {
            self.router = router;
        }
        if let Some(lifetime) = obs.ra_lifetime {
            self.last_ra = Some((now, lifetime));
        }
    }

    /// When it is dropped if nothing more is heard: `hold` after it was last
    /// heard, or the last RA's lifetime after that RA, whichever is later.
    /// None when that is beyond what the clock can hold, and for a static
    /// neighbour (never).
    pub fn expires_at(&self, hold: Duration) -> Option<Instant> {
        if self.sources.contains(&Source::Static) {
            return None;
        }
        let silent = self.last_seen.checked_add(hold)?;
        let advertised = match self.last_ra {
            Some((at, lifetime)) => at.checked_add(Duration::from_secs(lifetime.into()))?,
            None => silent,
        };
        Some(silent.max(advertised))
    }

    /// The earlier of `expires_at` and `usable_at`: when `expire` has
    /// something to do with this entry.
    fn deadline(&self, config: &PeerTableConfig) -> Option<Instant> {
        match (self.expires_at(config.hold()), self.usable_at(config.dad_time)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When a tentative entry becomes usable by DAD time alone.
    pub fn usable_at(&self, dad_time: Duration) -> Option<Instant> {
        match self.state {
            PeerState::Tentative { dad_ns_at } => dad_ns_at.checked_add(dad_time),
            PeerState::Usable => None,
        }
    }

    pub fn info(&self) -> PeerInfo {
        PeerInfo {
            key: self.key,
            interface: self.interface.clone(),
            mac: self.mac,
            router: self.router,
            sources: self.sources.clone(),
            ra_lifetime: self.last_ra.map(|(_, lifetime)| lifetime),
        }
    }

    /// "ra, ns, router": how it was seen, for logs.
    fn seen_as(&self) -> String {
        let mut parts: Vec<&str> = self.sources.iter().map(|s| s.as_str()).collect();
        if self.router {
            parts.push("router");
        }
        parts.join(", ")
    }

    fn view(&self, now: Instant, hold: Duration) -> PeerEntryView {
        PeerEntryView {
            interface: self.interface.clone(),
            ifindex: self.key.ifindex,
            address: self.key.addr,
            mac: self.mac.as_ref().map(fmt_mac),
            sources: self.sources.iter().map(|s| s.as_str().to_owned()).collect(),
            router: self.router,
            state: match self.state {
                PeerState::Tentative { .. } => PeerStateName::Tentative,
                PeerState::Usable => PeerStateName::Usable,
            },
            last_seen_ms: millis(now.saturating_duration_since(self.last_seen)),
            first_seen_ms: millis(now.saturating_duration_since(self.first_seen)),
            ra_lifetime: self.last_ra.map(|(_, lifetime)| lifetime),
            expires_in_ms: self
                .expires_at(hold)
                .map(|at| millis(at.saturating_duration_since(now))),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Mark the entry usable and say so.
fn discovered(entry: &mut PeerEntry) -> PeerEvent {
    entry.state = PeerState::Usable;
    info!(
        "{}: neighbour {} discovered ({})",
        entry.interface,
        entry.key.addr,
        entry.seen_as()
    );
    PeerEvent::Discovered(entry.info())
}

/// The event for an entry leaving the table: `Lost` only if it was ever
/// handed out as `Discovered`.
fn lost(entry: &PeerEntry, reason: LostReason) -> Option<PeerEvent> {
    match entry.state {
        PeerState::Usable => {
            info!("{}: neighbour {} lost: {reason}", entry.interface, entry.key.addr);
            Some(PeerEvent::Lost { key: entry.key, reason })
        }
        PeerState::Tentative { .. } => {
            debug!(
                "{}: tentative neighbour {} dropped: {reason}",
                entry.interface, entry.key.addr
            );
            None
        }
    }
}

/// What the table keeps of a link from the Links snapshot.
#[derive(Debug, Clone)]
struct LinkView {
    name: String,
    up: bool,
}

#[derive(Debug, Default)]
struct InterfaceStats {
    counters: PeerCounters,
    last_full_warning: Option<Instant>,
    last_own_warning: Option<Instant>,
}

/// Whether a warning last given at `last` may be given again at `now`; if
/// so, `last` becomes `now`.
fn may_warn(last: &mut Option<Instant>, now: Instant) -> bool {
    let warned_lately = last.is_some_and(|at| now.saturating_duration_since(at) < FULL_WARNING_INTERVAL);
    if !warned_lately {
        *last = Some(now);
    }
    !warned_lately
}

/// Above every key: `..=(now, KEY_MAX)` is every deadline by now.
const KEY_MAX: PeerKey = PeerKey {
    ifindex: u32::MAX,
    addr: Ipv6Addr::new(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff),
};

/// Each entry's next deadline (its expiry or the end of its DAD time),
/// earliest first: the task asks for the next one after every observation,
/// and a walk over a thousand entries each time made idle cost grow as the
/// square of the sessions.
#[derive(Debug, Default)]
struct Deadlines {
    by_time: BTreeSet<(Instant, PeerKey)>,
    of: HashMap<PeerKey, Instant>,
}

impl Deadlines {
    fn set(&mut self, key: PeerKey, at: Option<Instant>) {
        let old = match at {
            Some(at) => self.of.insert(key, at),
            None => self.of.remove(&key),
        };
        if old == at {
            return;
        }
        if let Some(old) = old {
            self.by_time.remove(&(old, key));
        }
        if let Some(at) = at {
            self.by_time.insert((at, key));
        }
    }

    fn first(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }
}

/// The peer table. See the module documentation of [`super`].
#[derive(Debug)]
pub struct PeerTable {
    config: PeerTableConfig,
    entries: BTreeMap<PeerKey, PeerEntry>,
    /// Kept in step with `entries` wherever an entry changes.
    deadlines: Deadlines,
    /// The last Links snapshot by ifindex, since observations name links by
    /// ifindex. Empty until the first `links_changed`.
    links: HashMap<u32, LinkView>,
    /// Our own link-locals on every configured link, tentative ones too:
    /// never a neighbour, whatever claims it (a spoofed RA puts one in the
    /// kernel's neighbour table; our packets loop back between links that
    /// share a segment). Dialling one would be dialling ourselves.
    own: HashSet<Ipv6Addr>,
    /// By interface name, or [`UNKNOWN_IFINDEX`].
    stats: HashMap<String, InterfaceStats>,
    /// Static neighbours (`ndbgpctl neighbor add`) by interface name: each
    /// has an entry with the `static` source while its link is up.
    statics: BTreeSet<(String, Ipv6Addr)>,
}

impl PeerTable {
    pub fn new(config: PeerTableConfig) -> Self {
        PeerTable {
            config,
            entries: BTreeMap::new(),
            deadlines: Deadlines::default(),
            links: HashMap::new(),
            own: HashSet::new(),
            stats: HashMap::new(),
            statics: BTreeSet::new(),
        }
    }

    /// Take in one sighting of a neighbour.
    pub fn observe(&mut self, obs: &Observation, now: Instant) -> Vec<PeerEvent> {
        let Some(link) = self.links.get(&obs.ifindex) else {
            trace!(
                "ifindex {}: ignoring neighbour {} ({}): not a configured link",
                obs.ifindex,
                obs.addr,
                obs.source.as_str()
            );
            self.count_ignored(UNKNOWN_IFINDEX);
            return Vec::new();
        };
        if !link.up {
            trace!(
                "{}: ignoring neighbour {} ({}): link down",
                link.name,
                obs.addr,
                obs.source.as_str()
            );
            let name = link.name.clone();
            self.count_ignored(&name);
            return Vec::new();
        }
        if !is_link_local(&obs.addr) {
            debug!(
                "{}: ignoring neighbour {} ({}): not link-local",
                link.name,
                obs.addr,
                obs.source.as_str()
            );
            return Vec::new();
        }
        if self.own.contains(&obs.addr) {
            let name = link.name.clone();
            let stats = self.stats.entry(name.clone()).or_default();
            stats.counters.ignored_own += 1;
            if may_warn(&mut stats.last_own_warning, now) {
                warn!(
                    "{name}: ignoring neighbour {} ({}): it is our own address",
                    obs.addr,
                    obs.source.as_str()
                );
            } else {
                debug!(
                    "{name}: ignoring neighbour {} ({}): it is our own address",
                    obs.addr,
                    obs.source.as_str()
                );
            }
            return Vec::new();
        }

        let key = PeerKey {
            ifindex: obs.ifindex,
            addr: obs.addr,
        };
        if let Some(entry) = self.entries.get_mut(&key) {
            let event = refresh(entry, obs, now);
            self.deadlines.set(key, entry.deadline(&self.config));
            return event.into_iter().collect();
        }
        let interface = link.name.clone();
        self.insert(key, interface, obs, now)
    }

    fn count_ignored(&mut self, name: &str) {
        self.stats.entry(name.to_owned()).or_default().counters.ignored_down += 1;
    }

    fn insert(&mut self, key: PeerKey, interface: String, obs: &Observation, now: Instant) -> Vec<PeerEvent> {
        let on_link = self
            .entries
            .range(
                PeerKey {
                    ifindex: key.ifindex,
                    addr: Ipv6Addr::UNSPECIFIED,
                }..=PeerKey {
                    ifindex: key.ifindex,
                    addr: Ipv6Addr::from(u128::MAX),
                },
            )
            .count();
        if on_link >= self.config.max_per_interface {
            let stats = self.stats.entry(interface.clone()).or_default();
            stats.counters.refused += 1;
            if may_warn(&mut stats.last_full_warning, now) {
                warn!(
                    "{interface}: neighbour table full ({}), refusing {}",
                    self.config.max_per_interface, key.addr
                );
            } else {
                trace!(
                    "{interface}: neighbour table full ({}), refusing {}",
                    self.config.max_per_interface, key.addr
                );
            }
            return Vec::new();
        }

        let mut entry = PeerEntry::new(key, interface, obs, now);
        let events = match entry.state {
            PeerState::Usable => vec![discovered(&mut entry)],
            PeerState::Tentative { .. } => {
                debug!("{}: neighbour {} tentative (DAD)", entry.interface, entry.key.addr);
                Vec::new()
            }
        };
        self.deadlines.set(key, entry.deadline(&self.config));
        self.entries.insert(key, entry);
        events
    }

    /// Take in a new Links snapshot: entries on links that went down, were
    /// deleted or changed ifindex leave at once, and so do entries whose
    /// address is now one of ours.
    pub fn links_changed(&mut self, links: &Links) -> Vec<PeerEvent> {
        self.own.clear();
        self.own.extend(
            links
                .values()
                .flat_map(|link| link.link_locals.iter().map(|ll| ll.addr)),
        );
        // Most changes (a link-local leaving DAD) change no name and no
        // state: the map is kept, not rebuilt with a copy of every name.
        let same = self.links.len() == links.len()
            && links.iter().all(|(name, link)| {
                self.links
                    .get(&link.ifindex)
                    .is_some_and(|v| v.up == link.up && v.name == *name)
            });
        if !same {
            self.links = links
                .iter()
                .map(|(name, link)| {
                    let view = LinkView {
                        name: name.clone(),
                        up: link.up,
                    };
                    (link.ifindex, view)
                })
                .collect();
        }

        let by_ifindex = &self.links;
        let own = &self.own;
        let statics = &mut self.statics;
        let deadlines = &mut self.deadlines;
        let mut events = Vec::new();
        self.entries.retain(|key, entry| {
            let reason = match by_ifindex.get(&key.ifindex) {
                Some(link) if link.up && own.contains(&key.addr) => LostReason::OwnAddress,
                Some(link) if link.up => {
                    // Same link under a new name: the key still dials.
                    if link.name != entry.interface {
                        if statics.remove(&(entry.interface.clone(), key.addr)) {
                            statics.insert((link.name.clone(), key.addr));
                        }
                        entry.interface.clone_from(&link.name);
                    }
                    return true;
                }
                Some(_) => LostReason::LinkDown,
                None if links.contains_key(&entry.interface) => LostReason::IfindexChanged,
                None => LostReason::LinkDeleted,
            };
            deadlines.set(*key, None);
            events.extend(lost(entry, reason));
            false
        });
        events
    }

    /// Give each static neighbour whose link is up its entry back (after
    /// `links_changed`: a link that came up).
    pub fn restore_statics(&mut self, now: Instant) -> Vec<PeerEvent> {
        let statics: Vec<(String, Ipv6Addr)> = self.statics.iter().cloned().collect();
        let mut events = Vec::new();
        for (name, addr) in statics {
            if let Some(ifindex) = self.up_link(&name) {
                events.extend(self.ensure_static(ifindex, &name, addr, now));
            }
        }
        events
    }

    /// The ifindex of the link `name`, if it is up.
    fn up_link(&self, name: &str) -> Option<u32> {
        self.links
            .iter()
            .find(|(_, link)| link.name == name && link.up)
            .map(|(ifindex, _)| *ifindex)
    }

    /// Make sure the static neighbour has a usable entry with the `static`
    /// source; Discovered if it had none (or a tentative one).
    fn ensure_static(&mut self, ifindex: u32, name: &str, addr: Ipv6Addr, now: Instant) -> Vec<PeerEvent> {
        if self.own.contains(&addr) {
            return Vec::new();
        }
        let key = PeerKey { ifindex, addr };
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.sources.insert(Source::Static);
            let events = match entry.state {
                PeerState::Tentative { .. } => vec![discovered(entry)],
                PeerState::Usable => Vec::new(),
            };
            self.deadlines.set(key, entry.deadline(&self.config));
            return events;
        }
        let seen = Observation {
            ifindex,
            addr,
            mac: None,
            source: Source::Static,
            router: None,
            ra_lifetime: None,
            tentative: false,
        };
        self.insert(key, name.to_string(), &seen, now)
    }

    /// `ndbgpctl neighbor add`: `addr` on the configured interface `name` is
    /// a neighbour whatever discovery sees, while the link is up. Returns
    /// the line for the operator and the events.
    pub fn add_static(&mut self, name: &str, addr: Ipv6Addr, now: Instant) -> Result<(String, Vec<PeerEvent>), String> {
        let scoped = format!("{addr}%{name}");
        if !is_link_local(&addr) {
            return Err(format!("{scoped}: not a link-local (fe80::/10) address"));
        }
        if !self.links.values().any(|link| link.name == name) {
            return Err(format!("{scoped}: {name} is not a configured interface that exists"));
        }
        if self.own.contains(&addr) {
            return Err(format!("{scoped}: {addr} is one of our own addresses"));
        }
        if self.statics.contains(&(name.to_string(), addr)) {
            return Err(format!("{scoped} is already a static neighbour"));
        }
        // Bounded as discovery is, also while the link is down.
        let on_link = self.statics.iter().filter(|(n, _)| n == name).count();
        if on_link >= self.config.max_per_interface {
            return Err(format!(
                "{scoped}: {name} has {on_link} static neighbours already, the most kept (--max-neighbors)"
            ));
        }
        self.statics.insert((name.to_string(), addr));
        let Some(ifindex) = self.up_link(name) else {
            info!("{name}: static neighbour {addr} added; the link is down");
            return Ok((
                format!("added static neighbour {scoped} (not persisted); {name} is down: dialled once it is up"),
                Vec::new(),
            ));
        };
        let events = self.ensure_static(ifindex, name, addr, now);
        if !self.entries.contains_key(&PeerKey { ifindex, addr }) {
            self.statics.remove(&(name.to_string(), addr));
            return Err(format!(
                "{scoped}: {name} has {} neighbours already, the most kept (--max-neighbors)",
                self.config.max_per_interface
            ));
        }
        info!("{name}: static neighbour {addr} added");
        Ok((
            format!("added static neighbour {scoped} (not persisted): dialled as if discovered while {name} is up"),
            events,
        ))
    }

    /// `ndbgpctl neighbor remove`: the neighbour is no longer static. If
    /// nothing else has seen it, it leaves the table (Lost, StaticRemoved);
    /// else it stays, and expires as discovery's neighbours do.
    pub fn remove_static(&mut self, name: &str, addr: Ipv6Addr) -> Result<(String, Vec<PeerEvent>), String> {
        let scoped = format!("{addr}%{name}");
        if !self.statics.remove(&(name.to_string(), addr)) {
            return Err(format!(
                "{scoped} is not a static neighbour (`ndbgpctl neighbor add` adds one)"
            ));
        }
        info!("{name}: static neighbour {addr} removed");
        let key = self.up_link(name).map(|ifindex| PeerKey { ifindex, addr });
        let Some(entry) = key.and_then(|key| self.entries.get_mut(&key)) else {
            return Ok((format!("removed static neighbour {scoped}"), Vec::new()));
        };
        entry.sources.remove(&Source::Static);
        if let Some(key) = key {
            self.deadlines.set(key, entry.deadline(&self.config));
        }
        if !entry.sources.is_empty() {
            let seen_as = entry.seen_as();
            return Ok((
                format!("removed static neighbour {scoped}; discovery still sees it ({seen_as}), so its session stays"),
                Vec::new(),
            ));
        }
        if let Some(key) = key {
            self.deadlines.set(key, None);
        }
        let events = key
            .and_then(|key| self.entries.remove(&key))
            .and_then(|entry| lost(&entry, LostReason::StaticRemoved));
        Ok((
            format!("removed static neighbour {scoped}; its session ends (Cease, Peer De-configured)"),
            events.into_iter().collect(),
        ))
    }

    /// Drop entries silent past their hold time and promote tentative ones
    /// whose DAD time has passed. Call at `next_deadline`.
    pub fn expire(&mut self, now: Instant) -> Vec<PeerEvent> {
        let hold = self.config.hold();
        let dad_time = self.config.dad_time;
        let mut events = Vec::new();
        // Only the entries with a deadline by now, in key order as before.
        let mut due: Vec<PeerKey> = self
            .deadlines
            .by_time
            .range(..=(now, KEY_MAX))
            .map(|(_, key)| *key)
            .collect();
        due.sort_unstable();
        for key in due {
            let Some(entry) = self.entries.get_mut(&key) else {
                self.deadlines.set(key, None);
                continue;
            };
            if entry.expires_at(hold).is_some_and(|at| at <= now) {
                let reason = LostReason::Silent {
                    elapsed: now.saturating_duration_since(entry.last_seen),
                };
                events.extend(lost(entry, reason));
                self.entries.remove(&key);
                self.deadlines.set(key, None);
                continue;
            }
            if entry.usable_at(dad_time).is_some_and(|at| at <= now) {
                events.push(discovered(entry));
            }
            self.deadlines.set(key, entry.deadline(&self.config));
        }
        events
    }

    /// The earliest time `expire` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first()
    }

    /// All entries, ordered by (ifindex, address).
    pub fn entries(&self) -> impl Iterator<Item = &PeerEntry> {
        self.entries.values()
    }

    pub fn get(&self, key: &PeerKey) -> Option<&PeerEntry> {
        self.entries.get(key)
    }

    /// The control socket's view, sorted by interface, then address.
    pub fn view(&self, now: Instant) -> Vec<PeerEntryView> {
        let hold = self.config.hold();
        let mut views: Vec<PeerEntryView> = self.entries.values().map(|entry| entry.view(now, hold)).collect();
        views.sort_by(|a, b| (a.interface.as_str(), a.address).cmp(&(b.interface.as_str(), b.address)));
        views
    }

    /// Counters for every link in the snapshot (zero if nothing happened),
    /// for links seen before, and for [`UNKNOWN_IFINDEX`] once it counted.
    pub fn counters(&self) -> HashMap<String, PeerCounters> {
        let mut counters: HashMap<String, PeerCounters> = self
            .links
            .values()
            .map(|link| (link.name.clone(), PeerCounters::default()))
            .collect();
        counters.extend(self.stats.iter().map(|(name, stats)| (name.clone(), stats.counters)));
        counters
    }

    /// The [`counters`](Self::counters), each with the number of entries
    /// (usable or tentative) on its interface; also an interface that has
    /// entries but no counters.
    pub fn neighbors(&self) -> HashMap<String, InterfaceNeighbors> {
        let mut out: HashMap<String, InterfaceNeighbors> = self
            .counters()
            .into_iter()
            .map(|(name, counters)| (name, InterfaceNeighbors { count: 0, counters }))
            .collect();
        for entry in self.entries.values() {
            match out.get_mut(&entry.interface) {
                Some(neighbors) => neighbors.count += 1,
                None => {
                    let neighbors = InterfaceNeighbors {
                        count: 1,
                        counters: PeerCounters::default(),
                    };
                    out.insert(entry.interface.clone(), neighbors);
                }
            }
        }
        out
    }
}

/// An observation of a known entry.
fn refresh(entry: &mut PeerEntry, obs: &Observation, now: Instant) -> Option<PeerEvent> {
    match (entry.state, obs.tentative) {
        (PeerState::Usable, true) => {
            // A DAD probe does not come from the address, so it proves
            // nothing about the neighbour that has it.
            debug!(
                "{}: neighbour {} is usable, ignoring a DAD probe for it",
                entry.interface, entry.key.addr
            );
            None
        }
        (PeerState::Tentative { .. }, true) => {
            entry.record(obs, now);
            // DAD sends DupAddrDetectTransmits probes: wait from the last.
            entry.state = PeerState::Tentative { dad_ns_at: now };
            trace!("{}: neighbour {} still tentative", entry.interface, entry.key.addr);
            None
        }
        (PeerState::Tentative { .. }, false) => {
            entry.record(obs, now);
            Some(discovered(entry))
        }
        (PeerState::Usable, false) => {
            entry.record(obs, now);
            trace!(
                "{}: neighbour {} refreshed ({})",
                entry.interface,
                entry.key.addr,
                obs.source.as_str()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::{LinkLocal, LinkState};

    const ETH0: u32 = 2;
    const ETH1: u32 = 3;

    fn links(list: &[(&str, u32, bool)]) -> Links {
        list.iter()
            .map(|&(name, ifindex, up)| {
                let link = LinkState {
                    name: name.to_owned(),
                    ifindex,
                    up,
                    mac: None,
                    link_locals: Vec::new(),
                };
                (name.to_owned(), link)
            })
            .collect()
    }

    fn both_up() -> Links {
        links(&[("eth0", ETH0, true), ("eth1", ETH1, true)])
    }

    /// A table with eth0 and eth1 up, and the time it starts at.
    fn table_with(config: PeerTableConfig) -> (PeerTable, Instant) {
        let mut table = PeerTable::new(config);
        assert!(table.links_changed(&both_up()).is_empty());
        (table, Instant::now())
    }

    fn table() -> (PeerTable, Instant) {
        table_with(PeerTableConfig::default())
    }

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().expect("test address")
    }

    fn key(ifindex: u32, a: &str) -> PeerKey {
        PeerKey { ifindex, addr: addr(a) }
    }

    fn seen(ifindex: u32, a: &str, source: Source) -> Observation {
        Observation {
            ifindex,
            addr: addr(a),
            mac: None,
            source,
            router: None,
            ra_lifetime: None,
            tentative: false,
        }
    }

    fn ra(ifindex: u32, a: &str, lifetime: u16) -> Observation {
        Observation {
            router: Some(true),
            ra_lifetime: Some(lifetime),
            ..seen(ifindex, a, Source::Ra)
        }
    }

    fn dad_probe(ifindex: u32, a: &str) -> Observation {
        Observation {
            tentative: true,
            ..seen(ifindex, a, Source::Ns)
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn discovered_keys(events: &[PeerEvent]) -> Vec<PeerKey> {
        events
            .iter()
            .filter_map(|e| match e {
                PeerEvent::Discovered(info) => Some(info.key),
                PeerEvent::Lost { .. } => None,
            })
            .collect()
    }

    fn lost_event(key: PeerKey, reason: LostReason) -> PeerEvent {
        PeerEvent::Lost { key, reason }
    }

    #[test]
    fn usable_observation_discovers() {
        let (mut table, t0) = table();
        let events = table.observe(&ra(ETH0, "fe80::1", 30), t0);
        let expected = PeerInfo {
            key: key(ETH0, "fe80::1"),
            interface: "eth0".into(),
            mac: None,
            router: true,
            sources: [Source::Ra].into(),
            ra_lifetime: Some(30),
        };
        assert_eq!(events, vec![PeerEvent::Discovered(expected)]);
    }

    #[test]
    fn tentative_is_not_discovered() {
        let (mut table, t0) = table();
        assert!(table.observe(&dad_probe(ETH0, "fe80::1"), t0).is_empty());
        let entry = table.get(&key(ETH0, "fe80::1")).expect("entry");
        assert_eq!(entry.state, PeerState::Tentative { dad_ns_at: t0 });
        assert!(table.expire(t0 + ms(1499)).is_empty());
    }

    #[test]
    fn tentative_becomes_usable_on_packet_from_it() {
        let (mut table, t0) = table();
        table.observe(&dad_probe(ETH0, "fe80::1"), t0);
        let events = table.observe(&seen(ETH0, "fe80::1", Source::Rs), t0 + ms(200));
        assert_eq!(discovered_keys(&events), vec![key(ETH0, "fe80::1")]);
        let PeerEvent::Discovered(info) = &events[0] else {
            panic!("not Discovered: {events:?}");
        };
        assert_eq!(info.sources, [Source::Ns, Source::Rs].into());
        // The DAD time passing later changes nothing.
        assert!(table.expire(t0 + ms(1500)).is_empty());
    }

    #[test]
    fn tentative_becomes_usable_on_dad_time() {
        let (mut table, t0) = table();
        table.observe(&dad_probe(ETH0, "fe80::1"), t0);
        assert_eq!(table.next_deadline(), Some(t0 + ms(1500)));
        assert!(table.expire(t0 + ms(1499)).is_empty());
        let events = table.expire(t0 + ms(1500));
        assert_eq!(discovered_keys(&events), vec![key(ETH0, "fe80::1")]);
        assert!(table.expire(t0 + ms(1600)).is_empty());
        let entry = table.get(&key(ETH0, "fe80::1")).expect("entry");
        assert_eq!(entry.state, PeerState::Usable);
    }

    #[test]
    fn repeated_dad_probe_restarts_dad_time() {
        let (mut table, t0) = table();
        table.observe(&dad_probe(ETH0, "fe80::1"), t0);
        table.observe(&dad_probe(ETH0, "fe80::1"), t0 + secs(1));
        assert!(table.expire(t0 + ms(1500)).is_empty());
        let events = table.expire(t0 + ms(2500));
        assert_eq!(discovered_keys(&events), vec![key(ETH0, "fe80::1")]);
    }

    #[test]
    fn dad_probe_does_not_make_usable_tentative() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert!(table.observe(&dad_probe(ETH0, "fe80::1"), t0 + secs(1)).is_empty());
        let entry = table.get(&key(ETH0, "fe80::1")).expect("entry");
        assert_eq!(entry.state, PeerState::Usable);
        // Not a sign of life from the neighbour either.
        assert_eq!(entry.last_seen, t0);
        assert_eq!(entry.sources, [Source::Na].into());
    }

    #[test]
    fn tentative_that_never_became_usable_expires_without_lost() {
        let config = PeerTableConfig {
            dad_time: secs(60),
            ..PeerTableConfig::default()
        };
        let (mut table, t0) = table_with(config);
        table.observe(&dad_probe(ETH0, "fe80::1"), t0);
        assert_eq!(table.next_deadline(), Some(t0 + secs(30)));
        assert!(table.expire(t0 + secs(30)).is_empty());
        assert_eq!(table.entries().count(), 0);
    }

    #[test]
    fn expires_after_three_ra_intervals() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert_eq!(table.next_deadline(), Some(t0 + secs(30)));
        assert!(table.expire(t0 + secs(30) - ms(1)).is_empty());
        assert_eq!(
            table.expire(t0 + secs(30)),
            vec![lost_event(
                key(ETH0, "fe80::1"),
                LostReason::Silent { elapsed: secs(30) }
            )]
        );
        assert_eq!(table.entries().count(), 0);
        assert_eq!(table.next_deadline(), None);
    }

    #[test]
    fn hold_follows_ra_interval_and_override() {
        let config = PeerTableConfig {
            ra_interval: secs(4),
            ..PeerTableConfig::default()
        };
        let (mut table, t0) = table_with(config.clone());
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert_eq!(table.next_deadline(), Some(t0 + secs(12)));

        let config = PeerTableConfig {
            discovery_hold: Some(secs(5)),
            ..config
        };
        let (mut table, t0) = table_with(config);
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert_eq!(table.next_deadline(), Some(t0 + secs(5)));
        assert_eq!(table.expire(t0 + secs(5)).len(), 1);
    }

    #[test]
    fn refresh_extends_hold() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert!(
            table
                .observe(&seen(ETH0, "fe80::1", Source::Ns), t0 + secs(20))
                .is_empty()
        );
        assert!(table.expire(t0 + secs(30)).is_empty());
        assert_eq!(table.next_deadline(), Some(t0 + secs(50)));
        assert_eq!(table.expire(t0 + secs(50)).len(), 1);
    }

    #[test]
    fn ra_lifetime_longer_than_hold_extends_it() {
        let (mut table, t0) = table();
        table.observe(&ra(ETH0, "fe80::1", 100), t0);
        assert_eq!(table.next_deadline(), Some(t0 + secs(100)));
        assert!(table.expire(t0 + secs(99)).is_empty());
        assert_eq!(
            table.expire(t0 + secs(100)),
            vec![lost_event(
                key(ETH0, "fe80::1"),
                LostReason::Silent { elapsed: secs(100) }
            )]
        );
    }

    #[test]
    fn ra_lifetime_counts_from_the_ra() {
        let (mut table, t0) = table();
        table.observe(&ra(ETH0, "fe80::1", 100), t0);
        // An NS later neither restarts the RA lifetime nor forgets it.
        table.observe(&seen(ETH0, "fe80::1", Source::Ns), t0 + secs(50));
        assert_eq!(table.next_deadline(), Some(t0 + secs(100)));
        table.observe(&seen(ETH0, "fe80::1", Source::Ns), t0 + secs(90));
        assert_eq!(table.next_deadline(), Some(t0 + secs(120)));
    }

    #[test]
    fn ra_lifetime_zero_is_still_a_neighbour() {
        let (mut table, t0) = table();
        let events = table.observe(&ra(ETH0, "fe80::1", 0), t0);
        assert_eq!(discovered_keys(&events), vec![key(ETH0, "fe80::1")]);
        assert_eq!(table.next_deadline(), Some(t0 + secs(30)));
        assert!(table.expire(t0 + secs(29)).is_empty());
        assert_eq!(table.expire(t0 + secs(30)).len(), 1);
    }

    #[test]
    fn several_neighbours_per_interface() {
        let (mut table, t0) = table();
        for a in ["fe80::1", "fe80::2", "fe80::3"] {
            assert_eq!(table.observe(&seen(ETH0, a, Source::Na), t0).len(), 1);
        }
        // The same address on another link is another neighbour.
        assert_eq!(table.observe(&seen(ETH1, "fe80::1", Source::Na), t0).len(), 1);
        let keys: Vec<PeerKey> = table.entries().map(|e| e.key).collect();
        assert_eq!(
            keys,
            vec![
                key(ETH0, "fe80::1"),
                key(ETH0, "fe80::2"),
                key(ETH0, "fe80::3"),
                key(ETH1, "fe80::1"),
            ]
        );
    }

    #[test]
    fn neighbors_are_the_entries_counted_with_the_counters_per_interface() {
        let (mut table, t0) = table();
        assert_eq!(table.neighbors()["eth0"], InterfaceNeighbors::default());
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        table.observe(&dad_probe(ETH0, "fe80::2"), t0);
        table.observe(&seen(ETH1, "fe80::1", Source::Ra), t0);
        table.observe(&seen(99, "fe80::3", Source::Na), t0);
        // eth1 down: its entry is lost, what comes next is ignored.
        let down = links(&[("eth0", ETH0, true), ("eth1", ETH1, false)]);
        assert_eq!(table.links_changed(&down).len(), 1);
        table.observe(&seen(ETH1, "fe80::4", Source::Na), t0);
        let neighbors = |count, ignored_down| InterfaceNeighbors {
            count,
            counters: PeerCounters {
                refused: 0,
                ignored_down,
                ignored_own: 0,
            },
        };
        let expected = HashMap::from([
            ("eth0".to_string(), neighbors(2, 0)),
            ("eth1".to_string(), neighbors(0, 1)),
            (UNKNOWN_IFINDEX.to_string(), neighbors(0, 1)),
        ]);
        assert_eq!(table.neighbors(), expected);
    }

    #[test]
    fn cap_per_interface_refuses_new_addresses() {
        let config = PeerTableConfig {
            max_per_interface: 3,
            ..PeerTableConfig::default()
        };
        let (mut table, t0) = table_with(config);
        table.observe(&dad_probe(ETH0, "fe80::1"), t0);
        table.observe(&seen(ETH0, "fe80::2", Source::Na), t0);
        table.observe(&seen(ETH0, "fe80::3", Source::Na), t0);
        // Tentative entries take room too.
        assert!(table.observe(&seen(ETH0, "fe80::99", Source::Na), t0).is_empty());
        assert!(
            table
                .observe(&seen(ETH0, "fe80::98", Source::Ra), t0 + secs(120))
                .is_empty()
        );
        assert!(table.get(&key(ETH0, "fe80::99")).is_none());
        assert_eq!(table.counters()["eth0"].refused, 2);
        assert_eq!(table.counters()["eth1"], PeerCounters::default());
        let neighbors = table.neighbors();
        assert_eq!((neighbors["eth0"].count, neighbors["eth0"].counters.refused), (3, 2));
        assert_eq!(neighbors["eth1"], InterfaceNeighbors::default());

        // Known addresses still refresh (and still turn usable).
        let events = table.observe(&seen(ETH0, "fe80::1", Source::Na), t0 + secs(1));
        assert_eq!(discovered_keys(&events), vec![key(ETH0, "fe80::1")]);
        table.observe(&seen(ETH0, "fe80::2", Source::Ns), t0 + secs(1));
        let entry = table.get(&key(ETH0, "fe80::2")).expect("entry");
        assert_eq!(entry.last_seen, t0 + secs(1));

        // Other interfaces are unaffected.
        for a in ["fe80::1", "fe80::2", "fe80::3"] {
            assert_eq!(table.observe(&seen(ETH1, a, Source::Na), t0).len(), 1);
        }

        // Room again once one leaves.
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0 + secs(100));
        table.observe(&seen(ETH0, "fe80::2", Source::Na), t0 + secs(100));
        assert_eq!(table.expire(t0 + secs(100)).len(), 4);
        assert_eq!(
            table.observe(&seen(ETH0, "fe80::99", Source::Na), t0 + secs(100)).len(),
            1
        );
    }

    #[test]
    fn lost_on_link_down() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        table.observe(&seen(ETH0, "fe80::2", Source::Na), t0);
        table.observe(&seen(ETH1, "fe80::1", Source::Na), t0);
        let events = table.links_changed(&links(&[("eth0", ETH0, false), ("eth1", ETH1, true)]));
        assert_eq!(
            events,
            vec![
                lost_event(key(ETH0, "fe80::1"), LostReason::LinkDown),
                lost_event(key(ETH0, "fe80::2"), LostReason::LinkDown),
            ]
        );
        let keys: Vec<PeerKey> = table.entries().map(|e| e.key).collect();
        assert_eq!(keys, vec![key(ETH1, "fe80::1")]);
    }

    #[test]
    fn lost_on_link_deletion() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        let events = table.links_changed(&links(&[("eth1", ETH1, true)]));
        assert_eq!(events, vec![lost_event(key(ETH0, "fe80::1"), LostReason::LinkDeleted)]);
    }

    #[test]
    fn lost_on_ifindex_change() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        let events = table.links_changed(&links(&[("eth0", 9, true), ("eth1", ETH1, true)]));
        assert_eq!(
            events,
            vec![lost_event(key(ETH0, "fe80::1"), LostReason::IfindexChanged)]
        );
        // The same address on the new ifindex is a new neighbour.
        let events = table.observe(&seen(9, "fe80::1", Source::Na), t0);
        assert_eq!(discovered_keys(&events), vec![key(9, "fe80::1")]);
    }

    #[test]
    fn tentative_dropped_on_link_down_without_lost() {
        let (mut table, t0) = table();
        table.observe(&dad_probe(ETH0, "fe80::1"), t0);
        let events = table.links_changed(&links(&[("eth0", ETH0, false), ("eth1", ETH1, true)]));
        assert!(events.is_empty());
        assert_eq!(table.entries().count(), 0);
    }

    #[test]
    fn unchanged_links_keep_entries() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert!(table.links_changed(&both_up()).is_empty());
        assert_eq!(table.entries().count(), 1);
    }

    #[test]
    fn observations_on_unknown_or_down_links_are_ignored() {
        let mut table = PeerTable::new(PeerTableConfig::default());
        let t0 = Instant::now();
        // No Links snapshot yet: every ifindex is unknown.
        assert!(table.observe(&seen(ETH0, "fe80::1", Source::Na), t0).is_empty());
        table.links_changed(&links(&[("eth0", ETH0, true), ("eth1", ETH1, false)]));
        assert!(table.observe(&seen(ETH1, "fe80::1", Source::Ra), t0).is_empty());
        assert!(table.observe(&dad_probe(ETH1, "fe80::2"), t0).is_empty());
        assert!(table.observe(&seen(7, "fe80::1", Source::Kernel), t0).is_empty());
        assert_eq!(table.entries().count(), 0);

        let counters = table.counters();
        assert_eq!(counters["eth1"].ignored_down, 2);
        assert_eq!(counters[UNKNOWN_IFINDEX].ignored_down, 2);
        assert_eq!(counters["eth0"], PeerCounters::default());
    }

    fn with_link_local(mut links: Links, name: &str, addr: Ipv6Addr) -> Links {
        if let Some(link) = links.get_mut(name) {
            link.link_locals.push(LinkLocal {
                addr,
                tentative: false,
                optimistic: false,
            });
        }
        links
    }

    /// Our own link-locals (on any configured link) are never neighbours,
    /// whoever reports them, and are counted per interface.
    #[test]
    fn our_own_addresses_are_never_neighbours() {
        let (mut table, t0) = table();
        let ours = with_link_local(both_up(), "eth1", addr("fe80::aa"));
        table.links_changed(&with_link_local(ours, "eth0", addr("fe80::a")));
        let mut counted = 0;
        for source in [Source::Ra, Source::Ns, Source::Na, Source::Kernel, Source::Tcp] {
            for (ifindex, own) in [(ETH0, "fe80::a"), (ETH0, "fe80::aa"), (ETH1, "fe80::a")] {
                let events = table.observe(&seen(ifindex, own, source), t0);
                assert!(events.is_empty(), "{source:?} {own}%{ifindex}: {events:?}");
                counted += 1;
            }
        }
        assert!(table.observe(&dad_probe(ETH0, "fe80::a"), t0).is_empty());
        assert!(table.expire(t0 + secs(5)).is_empty());
        assert_eq!(table.entries().count(), 0);
        let counters = table.counters();
        assert_eq!(counters["eth0"].ignored_own + counters["eth1"].ignored_own, counted + 1);
        assert_eq!(counters["eth1"].ignored_own, 5);
        // Someone else's address still is a neighbour.
        let events = table.observe(&seen(ETH0, "fe80::1", Source::Kernel), t0);
        assert_eq!(discovered_keys(&events), vec![key(ETH0, "fe80::1")]);
    }

    /// A neighbour whose address becomes ours (added to one of our links)
    /// leaves the table at once.
    #[test]
    fn a_neighbour_whose_address_becomes_ours_is_lost() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH0, "fe80::1", Source::Ra), t0);
        table.observe(&seen(ETH0, "fe80::2", Source::Ra), t0);
        let events = table.links_changed(&with_link_local(both_up(), "eth1", addr("fe80::1")));
        assert_eq!(events, vec![lost_event(key(ETH0, "fe80::1"), LostReason::OwnAddress)]);
        let keys: Vec<PeerKey> = table.entries().map(|e| e.key).collect();
        assert_eq!(keys, vec![key(ETH0, "fe80::2")]);
    }

    #[test]
    fn non_link_local_is_ignored() {
        let (mut table, t0) = table();
        for a in ["2001:db8::1", "::", "ff02::1"] {
            assert!(table.observe(&seen(ETH0, a, Source::Na), t0).is_empty());
        }
        assert_eq!(table.entries().count(), 0);
    }

    #[test]
    fn the_deadline_index_agrees_with_every_entry() {
        let (mut table, t0) = table();
        for i in 0..60u64 {
            let now = t0 + ms(i * 700);
            let addr = format!("fe80::{}", i % 7 + 1);
            let source = if i % 3 == 0 { Source::Ns } else { Source::Ra };
            let mut obs = seen(ETH0, &addr, source);
            obs.tentative = i % 5 == 0;
            table.observe(&obs, now);
            table.expire(now);
            let walked = table.entries().filter_map(|e| e.deadline(&table.config)).min();
            assert_eq!(table.next_deadline(), walked, "step {i}");
        }
        // Past every hold: all gone, no deadline left.
        let later = t0 + secs(3600);
        table.expire(later);
        assert_eq!(table.entries().count(), 0);
        assert_eq!(table.next_deadline(), None);
    }

    #[test]
    fn discovered_only_once_per_appearance() {
        let (mut table, t0) = table();
        let mut discovered = 0;
        for (i, source) in [Source::Ra, Source::Ns, Source::Na, Source::Tcp, Source::Ra]
            .into_iter()
            .enumerate()
        {
            let now = t0 + secs(i as u64);
            discovered += discovered_keys(&table.observe(&seen(ETH0, "fe80::1", source), now)).len();
            discovered += discovered_keys(&table.expire(now)).len();
        }
        assert_eq!(discovered, 1);
    }

    #[test]
    fn rediscovered_after_lost() {
        let (mut table, t0) = table();
        let k = key(ETH0, "fe80::1");
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert_eq!(table.expire(t0 + secs(30)).len(), 1);
        let events = table.observe(&seen(ETH0, "fe80::1", Source::Na), t0 + secs(31));
        assert_eq!(discovered_keys(&events), vec![k]);
        // A new appearance starts afresh.
        let entry = table.get(&k).expect("entry");
        assert_eq!(entry.first_seen, t0 + secs(31));

        let eth0_down = links(&[("eth0", ETH0, false), ("eth1", ETH1, true)]);
        assert_eq!(
            table.links_changed(&eth0_down),
            vec![lost_event(k, LostReason::LinkDown)]
        );
        assert!(
            table
                .observe(&seen(ETH0, "fe80::1", Source::Na), t0 + secs(32))
                .is_empty()
        );
        assert!(table.links_changed(&both_up()).is_empty());
        let events = table.observe(&seen(ETH0, "fe80::1", Source::Na), t0 + secs(33));
        assert_eq!(discovered_keys(&events), vec![k]);
    }

    #[test]
    fn sources_accumulate_and_facts_update() {
        let (mut table, t0) = table();
        let k = key(ETH0, "fe80::1");
        let mac = [2, 0, 0, 0, 0, 1];
        table.observe(&seen(ETH0, "fe80::1", Source::Kernel), t0);
        table.observe(
            &Observation {
                mac: Some(mac),
                ..seen(ETH0, "fe80::1", Source::Ns)
            },
            t0 + secs(1),
        );
        table.observe(&ra(ETH0, "fe80::1", 1800), t0 + secs(2));
        table.observe(&seen(ETH0, "fe80::1", Source::Ns), t0 + secs(3));
        let entry = table.get(&k).expect("entry");
        assert_eq!(entry.sources, [Source::Ns, Source::Ra, Source::Kernel].into());
        // Packets that say nothing of the MAC or router flag keep them.
        assert_eq!(entry.mac, Some(mac));
        assert!(entry.router);
        assert_eq!(entry.last_ra, Some((t0 + secs(2), 1800)));
        assert_eq!(entry.first_seen, t0);
        assert_eq!(entry.last_seen, t0 + secs(3));

        // An NA without the router flag clears it.
        table.observe(
            &Observation {
                router: Some(false),
                ..seen(ETH0, "fe80::1", Source::Na)
            },
            t0 + secs(4),
        );
        assert!(!table.get(&k).expect("entry").router);
    }

    #[test]
    fn next_deadline_is_the_earliest() {
        let (mut table, t0) = table();
        assert_eq!(table.next_deadline(), None);
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert_eq!(table.next_deadline(), Some(t0 + secs(30)));
        table.observe(&dad_probe(ETH0, "fe80::2"), t0 + secs(5));
        assert_eq!(table.next_deadline(), Some(t0 + secs(5) + ms(1500)));
        // Promoted: its DAD end is no longer a deadline.
        table.expire(t0 + secs(7));
        assert_eq!(table.next_deadline(), Some(t0 + secs(30)));
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0 + secs(10));
        assert_eq!(table.next_deadline(), Some(t0 + secs(35)));
        table.observe(&ra(ETH1, "fe80::3", 9000), t0 + secs(10));
        assert_eq!(table.next_deadline(), Some(t0 + secs(35)));
        assert_eq!(table.expire(t0 + secs(40)).len(), 2);
        assert_eq!(table.next_deadline(), Some(t0 + secs(9010)));
    }

    #[test]
    fn huge_hold_never_expires() {
        let config = PeerTableConfig {
            discovery_hold: Some(Duration::MAX),
            ..PeerTableConfig::default()
        };
        let (mut table, t0) = table_with(config);
        table.observe(&seen(ETH0, "fe80::1", Source::Na), t0);
        assert_eq!(table.next_deadline(), None);
        assert!(table.expire(t0 + secs(1_000_000)).is_empty());
        assert_eq!(table.view(t0)[0].expires_in_ms, None);
    }

    #[test]
    fn view_is_sorted_and_has_the_json_fields() {
        let (mut table, t0) = table();
        table.observe(&seen(ETH1, "fe80::1", Source::Na), t0);
        table.observe(&dad_probe(ETH0, "fe80::a"), t0);
        table.observe(
            &Observation {
                mac: Some([0xaa, 0xbb, 0xcc, 0, 1, 2]),
                ..ra(ETH0, "fe80::2", 0)
            },
            t0,
        );
        table.observe(&seen(ETH0, "fe80::2", Source::Ns), t0 + secs(1));
        let views = table.view(t0 + ms(1500));
        let order: Vec<(&str, Ipv6Addr)> = views.iter().map(|v| (v.interface.as_str(), v.address)).collect();
        assert_eq!(
            order,
            vec![
                ("eth0", addr("fe80::2")),
                ("eth0", addr("fe80::a")),
                ("eth1", addr("fe80::1")),
            ]
        );

        let json = serde_json::to_value(&views).expect("serialize");
        assert_eq!(
            json[0],
            serde_json::json!({
                "interface": "eth0",
                "ifindex": ETH0,
                "address": "fe80::2",
                "mac": "aa:bb:cc:00:01:02",
                "sources": ["ra", "ns"],
                "router": true,
                "state": "usable",
                "last_seen_ms": 500,
                "first_seen_ms": 1500,
                "ra_lifetime": 0,
                "expires_in_ms": 29500,
            })
        );
        assert_eq!(json[1]["state"], "tentative");
        assert_eq!(json[1]["mac"], serde_json::Value::Null);
        assert_eq!(json[1]["ra_lifetime"], serde_json::Value::Null);
        assert_eq!(json[1]["router"], false);
    }

    #[test]
    fn a_static_neighbour_is_discovered_at_once_and_never_expires() {
        let (mut table, t0) = table();
        let (line, events) = table.add_static("eth0", addr("fe80::9"), t0).expect("added");
        assert_eq!(
            line,
            "added static neighbour fe80::9%eth0 (not persisted): dialled as if discovered while eth0 is up"
        );
        assert_eq!(discovered_keys(&events), vec![key(ETH0, "fe80::9")]);
        let PeerEvent::Discovered(info) = &events[0] else {
            panic!("not Discovered: {events:?}");
        };
        assert_eq!(info.sources, [Source::Static].into());
        assert_eq!(table.next_deadline(), None);
        assert!(table.expire(t0 + secs(86_400)).is_empty());
        assert_eq!(table.view(t0)[0].sources, vec!["static".to_string()]);
        assert_eq!(table.view(t0)[0].expires_in_ms, None);
        // Heard on the wire too: still static, still no expiry.
        assert!(
            table
                .observe(&seen(ETH0, "fe80::9", Source::Na), t0 + secs(5))
                .is_empty()
        );
        assert!(table.expire(t0 + secs(86_400)).is_empty());
    }

    #[test]
    fn static_neighbours_are_refused_twice_on_unknown_links_and_for_our_own_address() {
        let (mut table, t0) = table();
        table.add_static("eth0", addr("fe80::9"), t0).expect("added");
        assert_eq!(
            table.add_static("eth0", addr("fe80::9"), t0).map(|(l, _)| l),
            Err("fe80::9%eth0 is already a static neighbour".into())
        );
        assert_eq!(
            table.add_static("eth9", addr("fe80::9"), t0).map(|(l, _)| l),
            Err("fe80::9%eth9: eth9 is not a configured interface that exists".into())
        );
        assert_eq!(
            table.remove_static("eth1", addr("fe80::9")).map(|(l, _)| l),
            Err("fe80::9%eth1 is not a static neighbour (`ndbgpctl neighbor add` adds one)".into())
        );
        let mut own = both_up();
        if let Some(link) = own.get_mut("eth1") {
            link.link_locals.push(LinkLocal {
                addr: addr("fe80::1"),
                tentative: false,
                optimistic: false,
            });
        }
        table.links_changed(&own);
        assert!(table.add_static("eth1", addr("fe80::1"), t0).is_err());
    }

    #[test]
    fn a_static_neighbour_leaves_with_its_link_and_comes_back_with_it() {
        let (mut table, t0) = table();
        table.add_static("eth0", addr("fe80::9"), t0).expect("added");
        let down = links(&[("eth0", ETH0, false), ("eth1", ETH1, true)]);
        assert_eq!(
            table.links_changed(&down),
            vec![lost_event(key(ETH0, "fe80::9"), LostReason::LinkDown)]
        );
        assert!(table.restore_statics(t0 + secs(1)).is_empty());
        table.links_changed(&both_up());
        let events = table.restore_statics(t0 + secs(2));
        assert_eq!(discovered_keys(&events), vec![key(ETH0, "fe80::9")]);
        assert!(table.restore_statics(t0 + secs(3)).is_empty(), "once");
        // Added while its link is down: discovered once it is up.
        table.links_changed(&down);
        table.add_static("eth0", addr("fe80::a"), t0).expect("added");
        table.links_changed(&both_up());
        let events = table.restore_statics(t0 + secs(4));
        assert_eq!(
            discovered_keys(&events),
            vec![key(ETH0, "fe80::9"), key(ETH0, "fe80::a")]
        );
    }

    /// Static neighbours are bounded per interface as discovery is, also
    /// while the link is down (nothing else would bound them then).
    #[test]
    fn static_neighbours_are_bounded_per_interface_even_on_a_down_link() {
        let (mut table, t0) = table_with(PeerTableConfig {
            max_per_interface: 2,
            ..PeerTableConfig::default()
        });
        table.links_changed(&links(&[("eth0", ETH0, false), ("eth1", ETH1, true)]));
        table.add_static("eth0", addr("fe80::1"), t0).expect("first");
        table.add_static("eth0", addr("fe80::2"), t0).expect("second");
        let refused = table.add_static("eth0", addr("fe80::3"), t0).unwrap_err();
        assert!(refused.contains("2 static neighbours already"), "{refused}");
        table.add_static("eth1", addr("fe80::3"), t0).expect("another link");
    }

    #[test]
    fn removing_a_static_neighbour_loses_it_unless_discovery_sees_it() {
        let (mut table, t0) = table();
        table.add_static("eth0", addr("fe80::9"), t0).expect("added");
        let (line, events) = table.remove_static("eth0", addr("fe80::9")).expect("removed");
        assert_eq!(
            line,
            "removed static neighbour fe80::9%eth0; its session ends (Cease, Peer De-configured)"
        );
        assert_eq!(
            events,
            vec![lost_event(key(ETH0, "fe80::9"), LostReason::StaticRemoved)]
        );
        assert!(table.get(&key(ETH0, "fe80::9")).is_none());
        // Seen by an RA as well: it stays, and expires as any other would.
        table.add_static("eth0", addr("fe80::9"), t0).expect("added");
        table.observe(&seen(ETH0, "fe80::9", Source::Ra), t0 + secs(10));
        let (line, events) = table.remove_static("eth0", addr("fe80::9")).expect("removed");
        assert_eq!(
            line,
            "removed static neighbour fe80::9%eth0; discovery still sees it (ra), so its session stays"
        );
        assert!(events.is_empty());
        assert_eq!(table.next_deadline(), Some(t0 + secs(40)));
        assert_eq!(
            table.expire(t0 + secs(40)),
            vec![lost_event(
                key(ETH0, "fe80::9"),
                LostReason::Silent { elapsed: secs(30) }
            )]
        );
    }

    #[test]
    fn a_static_neighbour_follows_a_rename_of_its_link() {
        let (mut table, t0) = table();
        table.add_static("eth0", addr("fe80::9"), t0).expect("added");
        table.links_changed(&links(&[("swp1", ETH0, true), ("eth1", ETH1, true)]));
        assert!(table.remove_static("eth0", addr("fe80::9")).is_err());
        let (_, events) = table.remove_static("swp1", addr("fe80::9")).expect("removed");
        assert_eq!(
            events,
            vec![lost_event(key(ETH0, "fe80::9"), LostReason::StaticRemoved)]
        );
    }
}
