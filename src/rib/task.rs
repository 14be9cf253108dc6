//! The routes task: owns the RIB, feeds the FIB, and sends each peer its
//! UPDATEs (next hop self: our link-local, plus our global address on that
//! interface when there is one, as RFC 8950 / RFC 2545 describe). It
//! follows the links watcher's address snapshot (next hop self,
//! `--redistribute connected`) and the router ID (the RIB's local paths).
//!
//! Sessions decode UPDATEs themselves (in parallel) and hand the routes in;
//! the out side is pulled from the RIB per peer and encoded here, packing
//! many prefixes per message.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::restart::Deferral;
use super::{
    self as rib, Changes, OwnAddresses, PeerInfo, Rib, RibConfig, RouteChange, RouteCounts, RouteRows, RoutesJson,
};
use crate::actor::{self, Commands, Inbox, Reply, Stopped, Task};
pub use crate::api::RouteEntry;
use crate::fib::{FibChange, FibError, FibHandle, FibNextHop, FibRoute};
use crate::iface::{self, HostAddresses, Links};
use crate::intern::Interner;
use crate::monitor::Monitor;
use crate::msg::update::{self, EncodeContext, Origin, PathAttributes, Update};
use crate::msg::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST};
use crate::peers::PeerKey;
use crate::policy::{RoutePolicy, SharedPolicies};
use crate::time::sleep_until_opt;
use events::PrefixEvents;
use limit::{PrefixLimit, Verdict};
use next_hop::NextHopSelf;
use runtime::{RuntimeRoutes, Step};

const STAGE: &str = "routes";

#[derive(Debug, Clone)]
pub struct RoutesConfig {
    pub local_asn: u32,
    /// Followed: the RIB's local paths carry the latest.
    pub router_id: watch::Receiver<Ipv4Addr>,
    /// The host's addresses, from the links watcher: global IPv6 for next
    /// hop self, connected prefixes to redistribute.
    pub addresses: watch::Receiver<HostAddresses>,
    pub max_paths: usize,
    pub networks: Vec<IpNet>,
    pub redistribute_connected: bool,
    /// The fabric interfaces, followed across reloads: their addresses are
    /// never redistributed.
    pub interfaces: watch::Receiver<Vec<String>>,
    /// Per-interface import and export filters, followed across reloads.
    pub policies: watch::Receiver<SharedPolicies>,
    /// Told the prefixes peers announce and withdraw.
    pub monitor: Monitor,
}

/// What the routes task hands one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Encoded UPDATE messages to write.
    Updates(Vec<Vec<u8>>),
    /// The peer has more prefixes accepted than `--max-prefix`: its routes
    /// are already out of the RIB; the session closes (RFC 4486).
    MaxPrefixExceeded(PrefixLimitExceeded),
}

/// Which family crossed the limit (for the NOTIFICATION), and the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixLimitExceeded {
    pub afi: u16,
    pub safi: u8,
    pub limit: u32,
    pub accepted: usize,
}

enum Command {
    PeerUp {
        info: PeerInfo,
        /// How its UPDATEs are encoded (2- or 4-octet AS).
        encode: EncodeContext,
        out: mpsc::UnboundedSender<Outgoing>,
        /// Its OPEN had the Graceful Restart capability: the families it
        /// kept forwarding for (F bit) among those negotiated. Stale routes
        /// of the others are swept at once.
        forwarding_kept: Option<rib::Families>,
        /// Its OPEN had R set: during our deferral it gets our table and
        /// End-of-RIB at once (see `graceful`).
        restarting: bool,
    },
    /// Its session ended; `keep`: in a graceful restart, its routes of
    /// those families are kept stale for that long (its restart time).
    PeerDown {
        key: PeerKey,
        keep: Option<(Duration, rib::Families)>,
    },
    Update(PeerKey, Update),
    /// End-of-RIB for these families (RFC 4724 2).
    EndOfRib(PeerKey, rib::Families),
    Refresh(PeerKey),
    RoutesPage {
        within: Option<IpNet>,
        after: Option<IpNet>,
        limit: usize,
        /// The paths import rejected instead of the eligible ones.
        rejected: bool,
        reply: Reply<RouteRows>,
    },
    Counters(Reply<HashMap<PeerKey, PeerCounters>>),
    /// `ndbgpctl announce` (`add`) or `withdraw`: the operator's line, or
    /// why it was refused.
    Runtime {
        prefix: IpNet,
        add: bool,
        reply: Reply<Result<String, String>>,
    },
    Shutdown(Reply<()>),
    /// Graceful restart: our start adopted routes through these
    /// neighbours; end the FIB's deferral once they are back with their
    /// tables (see `rib::restart`).
    Defer(Vec<PeerKey>),
}

/// Prefixes received from and sent to one peer.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PeerCounters {
    /// Its Adj-RIB-In, rejected prefixes included.
    pub prefixes_received: usize,
    pub prefixes_sent: usize,
    /// Rejected by its import filter.
    pub prefixes_filtered: usize,
    /// Rejected because the AS_PATH does not start with its AS.
    pub prefixes_first_as_rejected: usize,
    /// Announcements treated as withdrawn since it came up: next hop one
    /// of our addresses (RFC 4271 5.1.3), our AS in the AS_PATH (9.1.2).
    pub next_hop_ours: u64,
    pub as_loop: u64,
    /// Eligible for best path: not rejected for any reason.
    pub prefixes_accepted: usize,
    /// Kept from a session that ended in a graceful restart, not sent
    /// again yet.
    pub stale_routes: usize,
    /// Its session ended in a graceful restart and is not back yet: its
    /// routes are kept (stale).
    pub gr_restarting: bool,
}

#[derive(Clone, Debug)]
pub struct RoutesHandle {
    commands: Commands<Command>,
    /// For `routes`: what is in the kernel, and interface names. Asked
    /// from the caller's task, so that the routes task is busy only with
    /// its own part of the view.
    fib: FibHandle,
    links: watch::Receiver<Links>,
    /// The Loc-RIB's size, as the task last published it.
    selected: Arc<SelectedCounts>,
}

/// The Loc-RIB's size by family, stored by the routes task whenever its
/// selection changes, read without asking it (metrics).
#[derive(Debug, Default)]
struct SelectedCounts {
    ipv4: AtomicUsize,
    ipv6: AtomicUsize,
}

impl SelectedCounts {
    fn store(&self, counts: RouteCounts) {
        self.ipv4.store(counts.ipv4, Ordering::Relaxed);
        self.ipv6.store(counts.ipv6, Ordering::Relaxed);
    }

    fn load(&self) -> RouteCounts {
        RouteCounts {
            ipv4: self.ipv4.load(Ordering::Relaxed),
            ipv6: self.ipv6.load(Ordering::Relaxed),
        }
    }
}

/// What sessions send (peer up and down, UPDATEs, refresh) is dropped
/// once the task has stopped: the daemon's supervisor reports that.
impl RoutesHandle {
    /// A session reached Established; `info` says which families it
    /// negotiated.
    pub async fn peer_up(&self, info: PeerInfo, encode: EncodeContext, out: mpsc::UnboundedSender<Outgoing>) {
        self.peer_up_graceful(info, encode, out, None, false).await;
    }

    /// [`RoutesHandle::peer_up`] for a peer whose OPEN had the Graceful
    /// Restart capability (`forwarding_kept`: the families with F set;
    /// `restarting`: R set).
    pub async fn peer_up_graceful(
        &self,
        info: PeerInfo,
        encode: EncodeContext,
        out: mpsc::UnboundedSender<Outgoing>,
        forwarding_kept: Option<rib::Families>,
        restarting: bool,
    ) {
        let command = Command::PeerUp {
            info,
            encode,
            out,
            forwarding_kept,
            restarting,
        };
        let _ = self.commands.tell(command).await;
    }

    /// The session ended: its routes are withdrawn.
    pub async fn peer_down(&self, key: PeerKey) {
        let _ = self.commands.tell(Command::PeerDown { key, keep: None }).await;
    }

    /// The session ended in a graceful restart (RFC 4724 4.2): its routes
    /// of the `families` its capability listed are kept, stale, for
    /// `restart_time` or until it is back; the others go now.
    pub async fn peer_down_graceful(&self, key: PeerKey, restart_time: Duration, families: rib::Families) {
        let keep = Some((restart_time, families));
        let _ = self.commands.tell(Command::PeerDown { key, keep }).await;
    }

    /// The peer sent End-of-RIB for these families.
    pub async fn end_of_rib(&self, key: PeerKey, families: rib::Families) {
        let _ = self.commands.tell(Command::EndOfRib(key, families)).await;
    }

    pub async fn update(&self, key: PeerKey, update: Update) {
        let _ = self.commands.tell(Command::Update(key, update)).await;
    }

    /// RFC 2918: resend everything to this peer.
    pub async fn refresh(&self, key: PeerKey) {
        let _ = self.commands.tell(Command::Refresh(key)).await;
    }

    /// A page of the `routes` view: the first `limit` routes equal to or
    /// inside `within` (all without it) past `after`, in prefix order,
    /// each with what the kernel has of it. Pass the last prefix of one
    /// page as `after` to get the next; `rejected` asks for the paths import
    /// rejected (`routes --filtered`) instead of the eligible ones; a page shorter than `limit` is the
    /// last. The routes task copies out one page per ask, so it is never
    /// busy with a whole table for a view and a reader holds one page.
    pub async fn routes_page(
        &self,
        within: Option<IpNet>,
        after: Option<IpNet>,
        limit: usize,
        rejected: bool,
    ) -> Result<RoutesJson, Stopped> {
        let rows = self
            .commands
            .ask(|reply| Command::RoutesPage {
                within,
                after,
                limit,
                rejected,
                reply,
            })
            .await?;
        let installed = match self.fib.recorded_of(rows.prefixes().collect()).await {
            Ok(installed) => installed,
            Err(FibError::Stopped(stopped)) => return Err(stopped),
            Err(e) => {
                warn!("routes view: {e}; shown as not installed");
                vec![None; rows.len()]
            }
        };
        let names: HashMap<u32, String> = self
            .links
            .borrow()
            .values()
            .map(|l| (l.ifindex, l.name.clone()))
            .collect();
        Ok(rows.into_json(installed, &names))
    }

    /// Prefixes in the Loc-RIB by family, as of the routes task's last
    /// change: two loads, the task is not asked.
    pub fn selected_counts(&self) -> RouteCounts {
        self.selected.load()
    }

    pub async fn counters(&self) -> Result<HashMap<PeerKey, PeerCounters>, Stopped> {
        self.commands.ask(Command::Counters).await
    }

    /// Announce `prefix` to every peer as a local route (`ndbgpctl
    /// announce`, `add`), or withdraw one announced so; the answer is the
    /// operator's line, or why it was refused (see [`runtime`]).
    pub async fn runtime_route(&self, prefix: IpNet, add: bool) -> Result<Result<String, String>, Stopped> {
        self.commands.ask(|reply| Command::Runtime { prefix, add, reply }).await
    }

    /// Our start adopted routes through `neighbours` (graceful restart):
    /// the FIB's deferral ends once each is back and every peer back has
    /// sent End-of-RIB; until then no peer is sent its table or
    /// End-of-RIB (RFC 4724 4.1). Told before the sessions start.
    pub async fn defer_until_end_of_rib(&self, neighbours: Vec<PeerKey>) {
        let _ = self.commands.tell(Command::Defer(neighbours)).await;
    }

    /// Remove our routes from the kernel; the task then stops.
    pub async fn shutdown(&self) -> Result<(), Stopped> {
        self.commands.ask(Command::Shutdown).await
    }
}

struct Peer {
    /// The families its session negotiated, for End-of-RIB; the RIB's
    /// export rules send it no other.
    families: rib::Families,
    encode: EncodeContext,
    /// Unbounded: the routes task must never wait on a session that may be
    /// waiting on it. What it holds is bounded by the table itself.
    out: mpsc::UnboundedSender<Outgoing>,
    end_of_rib_sent: bool,
    /// Its OPEN had R set (see `graceful`).
    restarting: bool,
    /// Warned once that it sent a next hop of ours; debug after that.
    warned_next_hop_ours: bool,
    /// `--max-prefix` for its interface.
    limit: PrefixLimit,
    /// Routes rejected for their first AS were logged (once per session).
    first_as_logged: bool,
}

pub fn spawn(mut config: RoutesConfig, fib: FibHandle, links: watch::Receiver<Links>) -> (RoutesHandle, Task) {
    // 64 decoded UPDATEs (up to ~64k prefixes) keep the RIB busy; more
    // would only hold decoded prefixes in memory and make a control
    // request wait longer behind them. Sessions wait, TCP pushes back.
    let (commands, inbox) = actor::channel(STAGE, 64);
    let (handle_fib, handle_links) = (fib.clone(), links.clone());
    let fib_deferring = fib.deferring();
    let router_id = *config.router_id.borrow_and_update();
    let mut rib_config = RibConfig::new(config.local_asn, router_id);
    rib_config.max_paths = config.max_paths;
    let next_hop_self = NextHopSelf::new(links.clone(), config.addresses.clone());
    let selected = Arc::new(SelectedCounts::default());
    let prefix_events = PrefixEvents::new(config.monitor.clone());
    let task = Routes {
        selected: Arc::clone(&selected),
        rib: Rib::new(rib_config),
        config,
        fib,
        links,
        next_hop_self,
        peers: HashMap::new(),
        connected: BTreeSet::new(),
        runtime: RuntimeRoutes::default(),
        next_hop_sets: Interner::default(),
        scratch_next_hops: Vec::new(),
        stale_until: HashMap::new(),
        prefix_events,
        deferral: None,
        fib_deferring,
        awaiting_next_hop: BTreeSet::new(),
    };
    let task = commands.spawn(task.run(inbox));
    let handle = RoutesHandle {
        commands,
        fib: handle_fib,
        links: handle_links,
        selected,
    };
    (handle, task)
}

struct Routes {
    rib: Rib,
    /// Where the Loc-RIB's size is published.
    selected: Arc<SelectedCounts>,
    config: RoutesConfig,
    fib: FibHandle,
    links: watch::Receiver<Links>,
    /// Next hop self by ifindex, following `links` and the addresses.
    next_hop_self: NextHopSelf,
    peers: HashMap<PeerKey, Peer>,
    /// Redistributed connected prefixes now originated.
    connected: BTreeSet<IpNet>,
    /// Announced with `ndbgpctl announce`.
    runtime: RuntimeRoutes,
    /// The kernel next-hop sets handed to the FIB, one copy each.
    next_hop_sets: Interner<[FibNextHop]>,
    scratch_next_hops: Vec<FibNextHop>,
    /// Peers holding stale routes (graceful restart) and when they are
    /// swept at the latest: the restart time while the peer is down, the
    /// stale-path time once it is back (see `graceful`).
    stale_until: HashMap<PeerKey, Instant>,
    /// The prefixes peers sent, for `ndbgpctl monitor`.
    prefix_events: PrefixEvents,
    /// Graceful restart: what ends the FIB's deferral (see `graceful`).
    /// While set, peers' tables and End-of-RIB are held.
    deferral: Option<Deferral>,
    /// The FIB's deferral, which its timer may end first.
    fib_deferring: watch::Receiver<bool>,
    /// Peers a batch could not go to for want of a usable link-local of
    /// ours on their link (a session can come up before the watcher's
    /// snapshot shows the address): each gets its whole table when one
    /// appears.
    awaiting_next_hop: BTreeSet<PeerKey>,
}

impl Routes {
    async fn run(mut self, mut commands: Inbox<Command>) {
        let mut changes = Changes::default();
        for prefix in self.config.networks.clone() {
            changes.append(self.rib.originate(prefix, local_attributes(Origin::Igp)));
            info!("announcing {prefix}");
        }
        self.config.addresses.borrow_and_update();
        self.redistribute_connected(&mut changes);
        self.follow_own_addresses(&mut changes);
        self.commit(changes).await;
        loop {
            let mut changes = Changes::default();
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Shutdown(done)) => {
                        match self.fib.flush().await {
                            Ok(report) => info!("removed our routes from the kernel ({} deleted)", report.deleted),
                            Err(e) => warn!("removing our routes from the kernel failed: {e}"),
                        }
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.command(command, &mut changes).await,
                },
                // A reload changed the filters: re-run import, re-send export.
                Ok(()) = self.config.policies.changed() => {
                    self.config.policies.borrow_and_update();
                    self.apply_policies(&mut changes);
                    // A new `--max-prefix` applies at once, not at the
                    // peer's next UPDATE.
                    self.recheck_prefix_limits(&mut changes);
                }
                // A reload changed the fabric interfaces: an interface
                // added stops being redistributed, one removed starts.
                Ok(()) = self.config.interfaces.changed() => {
                    self.config.interfaces.borrow_and_update();
                    self.redistribute_connected(&mut changes);
                }
                Ok(()) = self.config.addresses.changed() => {
                    self.config.addresses.borrow_and_update();
                    self.redistribute_connected(&mut changes);
                    self.follow_own_addresses(&mut changes);
                    self.resend_awaiting_next_hop().await;
                }
                Ok(()) = self.config.router_id.changed() => {
                    let router_id = *self.config.router_id.borrow_and_update();
                    self.rib.set_router_id(router_id);
                }
                _ = sleep_until_opt(self.stale_until.values().min().copied()) => {
                    self.stale_timers_due(&mut changes);
                }
                Ok(()) = self.links.changed() => {
                    self.links.borrow_and_update();
                    self.follow_own_addresses(&mut changes);
                    self.resend_awaiting_next_hop().await;
                    // A renamed link may fall under another interface's policy.
                    self.apply_policies(&mut changes);
                    // The kernel drops IPv4 routes through a downed link
                    // without telling us: reconcile to what we want.
                    self.fib.resync_soon();
                }
                () = sleep_until_opt(self.prefix_events.due()) => self.prefix_events.flush(&self.links.borrow()),
                Ok(()) = self.fib_deferring.changed(), if self.deferral.is_some() => {
                    if !*self.fib_deferring.borrow_and_update() {
                        self.fib_deferral_over().await;
                    }
                }
            }
            self.commit(changes).await;
            // After the changes it brought are submitted: the FIB's resync
            // then has them.
            self.end_deferral_if_complete().await;
        }
    }

    async fn command(&mut self, command: Command, changes: &mut Changes) {
        match command {
            Command::PeerUp {
                info,
                encode,
                out,
                forwarding_kept,
                restarting,
            } => {
                let limit = PrefixLimit::new(self.max_prefix(info.id.ifindex));
                self.peers.insert(
                    info.id,
                    Peer {
                        families: info.families,
                        encode,
                        out,
                        end_of_rib_sent: false,
                        restarting,
                        warned_next_hop_ours: false,
                        limit,
                        first_as_logged: false,
                    },
                );
                changes.append(self.rib.add_peer(info));
                let policy = self.policy_for(info.id.ifindex).unwrap_or_else(|| {
                    let policies = self.config.policies.borrow();
                    policies.default.routes()
                });
                if let Ok(c) = self.rib.set_policy(&info.id, policy) {
                    changes.append(c);
                }
                self.stale_peer_up(&info, forwarding_kept, changes);
                if let Some(d) = &mut self.deferral {
                    d.peer_up(info.id, info.families);
                }
            }
            Command::PeerDown { key, keep } => {
                if self.peers.remove(&key).is_some() {
                    self.peer_down(key, keep, changes);
                }
                if let Some(d) = &mut self.deferral {
                    d.peer_down(key);
                }
            }
            Command::EndOfRib(key, families) => {
                self.stale_end_of_rib(key, families, changes);
                if let Some(d) = &mut self.deferral {
                    d.end_of_rib(key, families);
                }
            }
            Command::Defer(neighbours) => self.deferral = Some(Deferral::new(neighbours)),
            Command::Update(key, update) => {
                let ours_before = self.next_hop_ours(&key);
                match self.rib.apply(&key, &update) {
                    Ok(c) => changes.append(c),
                    Err(_) => {
                        debug!("UPDATE from {key} after its session ended: ignored");
                        return;
                    }
                }
                let dropped = self.next_hop_ours(&key) - ours_before;
                if dropped > 0 {
                    self.note_next_hop_ours(&key, dropped, &update);
                }
                self.log_first_as(key);
                self.prefix_events.add(key, &update);
                self.check_prefix_limit(key, &update, changes);
            }
            Command::Refresh(key) => {
                // RFC 2918: answered from what we would send now; during
                // our deferral, by the table sent when it ends.
                if self.holds_table(&key) {
                    return;
                }
                if let Ok(batch) = self.rib.full_table(&key) {
                    self.send(key, batch).await;
                }
            }
            Command::RoutesPage {
                within,
                after,
                limit,
                rejected,
                reply,
            } => {
                let _ = reply.send(self.rib.route_rows(within, after, limit, rejected));
            }
            Command::Counters(reply) => {
                let counters = self
                    .peers
                    .keys()
                    .chain(self.stale_until.keys().filter(|key| !self.peers.contains_key(key)))
                    .map(|key| {
                        let stats = self.rib.peer_stats(key).unwrap_or_default();
                        (
                            *key,
                            PeerCounters {
                                prefixes_received: stats.prefixes,
                                prefixes_sent: stats.prefixes_sent,
                                prefixes_filtered: stats.filtered,
                                prefixes_first_as_rejected: stats.first_as_rejected,
                                next_hop_ours: stats.next_hop_ours,
                                as_loop: stats.loop_dropped,
                                prefixes_accepted: stats.accepted(),
                                stale_routes: stats.stale,
                                gr_restarting: self.rib.is_restarting(key),
                            },
                        )
                    })
                    .collect();
                let _ = reply.send(counters);
            }
            Command::Runtime { prefix, add, reply } => {
                let _ = reply.send(self.runtime_route(prefix, add, changes));
            }
            Command::Shutdown(_) => {}
        }
    }

    /// `ndbgpctl announce` or `withdraw`. A runtime route takes the place
    /// of a redistributed connected one for the same prefix (our origin
    /// IGP), which is originated again when it is withdrawn.
    fn runtime_route(&mut self, prefix: IpNet, add: bool, changes: &mut Changes) -> Result<String, String> {
        let networks = &self.config.networks;
        let (step, message) = match add {
            true => self.runtime.announce(prefix, networks, runtime::MAX_RUNTIME_ROUTES)?,
            false => self.runtime.withdraw(prefix, networks)?,
        };
        match step {
            Step::Originate => changes.append(self.rib.originate(prefix, local_attributes(Origin::Igp))),
            Step::Withdraw if self.connected.contains(&prefix) => {
                changes.append(self.rib.originate(prefix, local_attributes(Origin::Incomplete)));
            }
            Step::Withdraw => changes.append(self.rib.withdraw_local(prefix)),
            Step::Nothing => {}
        }
        Ok(message)
    }

    /// The route policy of the sessions on `ifindex`; none while the link
    /// is not known.
    fn policy_for(&self, ifindex: u32) -> Option<RoutePolicy> {
        let links = self.links.borrow();
        let name = iface::name_of(&links, ifindex)?;
        Some(self.config.policies.borrow().for_interface(name).routes())
    }

    /// Gives every peer its interface's current policy; the RIB re-runs
    /// import and re-sends export where it changed, no session is reset.
    fn apply_policies(&mut self, changes: &mut Changes) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            // A link gone: the session is ending, keep what it had.
            let Some(policy) = self.policy_for(key.ifindex) else {
                continue;
            };
            let before = self.rib.peer_stats(&key).unwrap_or_default();
            if let Ok(c) = self.rib.set_policy(&key, policy) {
                if !c.is_empty() {
                    let after = self.rib.peer_stats(&key).unwrap_or_default();
                    info!(
                        "{key}: policy changed: {} prefixes filtered (were {}), {} rejected for their first AS (were {})",
                        after.filtered, before.filtered, after.first_as_rejected, before.first_as_rejected
                    );
                }
                changes.append(c);
            }
            self.log_first_as(key);
        }
    }

    /// The first time a session has routes rejected for their first AS, say so.
    fn log_first_as(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        if peer.first_as_logged {
            return;
        }
        let rejected = self.rib.peer_stats(&key).map_or(0, |s| s.first_as_rejected);
        if rejected > 0 {
            peer.first_as_logged = true;
            warn!(
                "{key}: AS_PATH does not start with the peer's AS: {rejected} prefixes treated as withdrawn \
                 (enforce_first_as; counted in `ndbgpctl neighbors`, listed by `ndbgpctl routes --filtered`; \
                 logged once per session)"
            );
        }
    }

    /// Push a batch of RIB changes to the kernel and to the peers.
    async fn commit(&mut self, changes: Changes) {
        if changes.is_empty() {
            return;
        }
        self.selected.store(self.rib.selected_counts());
        let mut fib_changes = Vec::with_capacity(changes.routes.len());
        for change in &changes.routes {
            fib_changes.push(match change {
                RouteChange::Best(best) => {
                    let nexthops = &mut self.scratch_next_hops;
                    nexthops.clear();
                    nexthops.extend(best.next_hops());
                    nexthops.sort();
                    nexthops.dedup();
                    FibChange::Replace(FibRoute {
                        prefix: best.prefix,
                        nexthops: self.next_hop_sets.intern_slice(nexthops),
                    })
                }
                RouteChange::Removed(prefix) => FibChange::Delete(*prefix),
            });
        }
        // The kernel is not waited for: the FIB task merges what comes
        // while it is busy, and logs what the kernel refuses.
        self.fib.submit(fib_changes);
        for key in changes.out_ready {
            if self.holds_table(&key) {
                continue;
            }
            if let Ok(batch) = self.rib.pending_out(&key) {
                self.send(key, batch).await;
            }
        }
    }

    /// The whole table to each peer that waited for a link-local of ours
    /// and now has one: it holds every announcement the held-back batches
    /// held (their withdrawals went at once, see `send`).
    async fn resend_awaiting_next_hop(&mut self) {
        let waiting: Vec<PeerKey> = self.awaiting_next_hop.iter().copied().collect();
        for key in waiting {
            if !self.peers.contains_key(&key) {
                self.awaiting_next_hop.remove(&key);
                continue;
            }
            if self.next_hop_self.get(key.ifindex).is_none() || self.holds_table(&key) {
                continue;
            }
            self.awaiting_next_hop.remove(&key);
            if let Ok(batch) = self.rib.full_table(&key) {
                self.send(key, batch).await;
            }
        }
    }

    /// Encode a peer's batch with next hop self and hand it to its session.
    async fn send(&mut self, key: PeerKey, batch: rib::OutBatch) {
        let next_hop = self.next_hop_self.get(key.ifindex);
        let Some(peer) = self.peers.get_mut(&key) else { return };
        let Some(next_hop) = next_hop else {
            if self.awaiting_next_hop.insert(key) {
                info!("{key}: no usable link-local of ours on its link yet: its routes go when one is");
            }
            // A withdrawal needs no next hop: it goes now (the peer may
            // hold the route from before our link-local went away); the
            // announcements go with the whole table when one is back.
            if !batch.withdrawn.is_empty() {
                match update::encode::<PathAttributes, Vec<IpNet>>(&[], &batch.withdrawn, &peer.encode) {
                    Ok(messages) => {
                        if peer.out.send(Outgoing::Updates(messages)).is_err() {
                            debug!("{key}: session gone before its UPDATEs were sent");
                        }
                    }
                    Err(e) => warn!("{key}: cannot encode UPDATE: {e:?}"),
                }
            }
            return;
        };
        let announce: Vec<(PathAttributes, Vec<IpNet>)> = batch
            .announced
            .into_iter()
            .map(|(attrs, prefixes)| {
                let mut attrs = PathAttributes::clone(&attrs);
                attrs.next_hop = next_hop;
                (attrs, prefixes)
            })
            .collect();
        let mut messages = match update::encode(&announce, &batch.withdrawn, &peer.encode) {
            Ok(m) => m,
            Err(e) => {
                warn!("{key}: cannot encode UPDATE: {e:?}");
                return;
            }
        };
        if !peer.end_of_rib_sent {
            // RFC 4724 2: the initial table is complete.
            if peer.families.ipv4 {
                messages.push(update::end_of_rib(AFI_IPV4, SAFI_UNICAST));
            }
            if peer.families.ipv6 {
                messages.push(update::end_of_rib(AFI_IPV6, SAFI_UNICAST));
            }
            peer.end_of_rib_sent = true;
        }
        if !messages.is_empty() && peer.out.send(Outgoing::Updates(messages)).is_err() {
            debug!("{key}: session gone before its UPDATEs were sent");
        }
    }

    /// How many of `key`'s announcements named one of our addresses as the
    /// next hop.
    fn next_hop_ours(&self, key: &PeerKey) -> u64 {
        self.rib.peer_stats(key).map_or(0, |stats| stats.next_hop_ours)
    }

    /// Say that `dropped` prefixes of `update` from `key` named a next hop
    /// of ours: a warning the first time for the peer, then at debug.
    fn note_next_hop_ours(&mut self, key: &PeerKey, dropped: u64, update: &Update) {
        let next_hop = update.attributes.as_ref().map(|a| a.next_hop).unwrap_or_default();
        let example = update.announced.first().map(|p| p.to_string()).unwrap_or_default();
        let first = self
            .peers
            .get_mut(key)
            .is_some_and(|peer| !std::mem::replace(&mut peer.warned_next_hop_ours, true));
        if first {
            warn!(
                "{key}: {dropped} prefixes (e.g. {example}) with our own address as next hop \
                 ({next_hop:?}) kept rejected, not used (RFC 4271 5.1.3; listed by `ndbgpctl routes --filtered`); \
                 later ones are logged at debug"
            );
        } else {
            debug!("{key}: {dropped} prefixes (e.g. {example}) with our own address as next hop kept rejected");
        }
    }

    /// Hand the RIB our addresses when they changed: paths through one of
    /// them are rejected, paths through one no longer ours are taken again.
    fn follow_own_addresses(&mut self, changes: &mut Changes) {
        let own = OwnAddresses::of_host(&self.config.addresses.borrow(), &self.links.borrow());
        let c = self.rib.set_own_addresses(own);
        if !c.routes.is_empty() {
            info!(
                "{} prefixes changed selection: a path's next hop became, or stopped being, our own address",
                c.routes.len()
            );
        }
        changes.append(c);
    }

    /// The prefixes `key` has in its Adj-RIB-In, rejected ones too: what
    /// `--max-prefix` counts (see docs/ARCHITECTURE.md).
    fn held_prefixes(&self, key: &PeerKey) -> usize {
        self.rib.peer_stats(key).map_or(0, |stats| stats.prefixes)
    }

    /// "<interface>: neighbour <address>", as sessions name themselves.
    fn peer_name(&self, key: PeerKey) -> String {
        match iface::name_of(&self.links.borrow(), key.ifindex) {
            Some(name) => format!("{name}: neighbour {}", key.addr),
            None => format!("neighbour {key}"),
        }
    }

    /// `--max-prefix` for the sessions on this interface.
    fn max_prefix(&self, ifindex: u32) -> Option<u32> {
        let policies = self.config.policies.borrow();
        match iface::name_of(&self.links.borrow(), ifindex) {
            Some(name) => policies.for_interface(name).max_prefix,
            None => policies.default.max_prefix,
        }
    }

    /// After each UPDATE (not per prefix): warn at 90 % of the limit; past
    /// it, take the peer out of the RIB at once (its routes leave the kernel
    /// and the other peers, UPDATEs still queued from it are ignored) and
    /// tell its session to close.
    fn check_prefix_limit(&mut self, key: PeerKey, update: &Update, changes: &mut Changes) {
        let afi = match update.announced.last() {
            Some(IpNet::V6(_)) => AFI_IPV6,
            _ => AFI_IPV4,
        };
        self.check_peer_limit(key, Some(afi), changes);
    }

    /// A reload: every peer gets its interface's current limit and is
    /// checked against it now.
    fn recheck_prefix_limits(&mut self, changes: &mut Changes) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let max = self.max_prefix(key.ifindex);
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.limit.set_max(max);
            }
            self.check_peer_limit(key, None, changes);
        }
    }

    /// Warn at 90 % of `key`'s limit, or past it withdraw its routes and
    /// tell its session. `afi`: the family that crossed (for the Cease
    /// data); None without an UPDATE at hand (a reload): the family it
    /// holds more prefixes of.
    fn check_peer_limit(&mut self, key: PeerKey, afi: Option<u16>, changes: &mut Changes) {
        let accepted = self.held_prefixes(&key);
        let Some(peer) = self.peers.get_mut(&key) else { return };
        match peer.limit.check(accepted) {
            Verdict::Within => {}
            Verdict::Warn(limit) => warn!(
                "{}: {accepted} prefixes received, 90 % of the limit of {limit}",
                self.peer_name(key)
            ),
            Verdict::Exceeded(limit) => {
                warn!(
                    "{}: {accepted} prefixes received, more than the limit of {limit}: withdrawing its routes",
                    self.peer_name(key)
                );
                let exceeded = PrefixLimitExceeded {
                    afi: afi.unwrap_or_else(|| self.larger_family(&key)),
                    safi: SAFI_UNICAST,
                    limit,
                    accepted,
                };
                if let Some(peer) = self.peers.remove(&key) {
                    let _ = peer.out.send(Outgoing::MaxPrefixExceeded(exceeded));
                }
                changes.append(self.rib.remove_peer(&key));
            }
        }
    }

    /// The family `key` holds more prefixes of; IPv4 if equal.
    fn larger_family(&self, key: &PeerKey) -> u16 {
        let held = self.rib.adj_rib_in(key).unwrap_or_default();
        let v6 = held.iter().filter(|(prefix, _)| matches!(prefix, IpNet::V6(_))).count();
        if v6 > held.len() - v6 { AFI_IPV6 } else { AFI_IPV4 }
    }

    /// Originate the prefixes connected to non-fabric interfaces, withdraw
    /// those no longer there (with `--redistribute connected`).
    fn redistribute_connected(&mut self, changes: &mut Changes) {
        if !self.config.redistribute_connected {
            return;
        }
        let connected = {
            let fabric = self.config.interfaces.borrow();
            self.config.addresses.borrow().connected(&fabric)
        };
        for gone in self.connected.difference(&connected) {
            if !self.config.networks.contains(gone) && !self.runtime.contains(gone) {
                info!("no longer redistributing connected {gone}");
                changes.append(self.rib.withdraw_local(*gone));
            }
        }
        for new in connected.difference(&self.connected) {
            if !self.config.networks.contains(new) && !self.runtime.contains(new) {
                info!("redistributing connected {new}");
                changes.append(self.rib.originate(*new, local_attributes(Origin::Incomplete)));
            }
        }
        self.connected = connected;
    }
}

fn local_attributes(origin: Origin) -> PathAttributes {
    PathAttributes {
        origin: Some(origin),
        ..PathAttributes::default()
    }
}

mod events;
mod graceful;
mod limit;
mod next_hop;
pub mod runtime;

#[cfg(test)]
mod tests;
