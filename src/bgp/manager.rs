//! The BGP manager: one session task per neighbour key.
//!
//! It turns peer-table events into sessions (Discovered starts one that dials
//! at once; Lost ends one that is not Established), accepts connections on
//! the listening socket and hands each to its neighbour's session, and ends
//! the sessions of an interface that goes down. It holds the session
//! tasks: one that panics ends the manager with an error. It keeps the
//! listener's TCP-MD5 keys and GTSM check in step with the policies, the
//! links and the sessions (see `auth`). With `--bfd` it runs one BFD
//! session per BGP session, to the same link-local on the same interface,
//! from the session's start to its end, and tells the session when BFD
//! fails or comes back (see `bfd_event`).

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::{self, JoinError, JoinSet};
use tracing::{debug, error, info, warn};

use super::auth::{ConfiguredLink, ListenerSecurity};
use super::fsm::{self, FsmConfig};
use super::session::{self, MaxPrefixHold, SessionCommand, SessionHandle, SessionParams};
use super::transport::{self, BoxStream, Dialer, Listener, Refusal};
use crate::actor::{self, Commands, Inbox, Reply, Stopped, Task};
pub use crate::api::NeighborView;
use crate::api::{Direction, SessionState};
use crate::bfd;
use crate::bfd::service::{BfdEvent, BfdHandle};
use crate::iface::{self, Links};
use crate::monitor::Monitor;
use crate::peers::{LostReason, Observation, PeerEvent, PeerKey, Source};
use crate::policy::SharedPolicies;
use crate::rib::task::{PeerCounters, RoutesHandle};
use crate::time::sleep_until_opt;

/// How long a shutdown waits for sessions to send their Cease.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(1500);
const STAGE: &str = "BGP manager";

pub struct BgpConfig {
    /// Its router ID is ignored: sessions follow `router_id`.
    pub fsm: FsmConfig,
    /// Followed by every session: each connection a session takes while it
    /// holds none uses the current one (see `router_id::follow`, which
    /// explains why a change does not reset established sessions). No
    /// session starts while it is unspecified.
    pub router_id: watch::Receiver<Ipv4Addr>,
    /// How sessions dial their neighbours (TCP to the BGP port).
    pub dialer: Arc<dyn Dialer>,
    pub routes: RoutesHandle,
    /// Sessions tell it when they come up and go down.
    pub monitor: Monitor,
    /// The configured interface names, followed: sessions on an interface a
    /// reload removes, or that is renamed to a name not configured, end with
    /// Cease / Peer De-configured.
    pub interfaces: watch::Receiver<Vec<String>>,
    /// Per-interface limits and authentication, followed across reloads.
    pub policies: watch::Receiver<SharedPolicies>,
    /// `--bfd`: the BFD task the sessions are coupled to; None: off.
    pub bfd: Option<BfdLink>,
}

/// The BFD task as the manager uses it: a session per neighbour with these
/// timers, and the task's Up and Down events.
pub struct BfdLink {
    pub handle: BfdHandle,
    pub timers: bfd::session::Timers,
    pub events: mpsc::UnboundedReceiver<BfdEvent>,
}

enum Command {
    /// An error if the routes task (for the prefix counts) has stopped.
    Neighbors(Reply<Result<Vec<NeighborView>, Stopped>>),
    Refused(Reply<BTreeMap<&'static str, u64>>),
    /// End every max-prefix hold (a reload, or an operator).
    ClearMaxPrefixHolds,
    Shutdown {
        message: Option<String>,
        done: Reply<()>,
    },
}

#[derive(Clone)]
pub struct BgpHandle {
    commands: Commands<Command>,
}

impl BgpHandle {
    pub async fn neighbors(&self) -> Result<Vec<NeighborView>, Stopped> {
        self.commands.ask(Command::Neighbors).await?
    }

    /// Inbound connections refused, by reason.
    pub async fn refused(&self) -> Result<BTreeMap<&'static str, u64>, Stopped> {
        self.commands.ask(Command::Refused).await
    }

    /// Let the neighbours closed for `--max-prefix` come back now.
    pub async fn clear_max_prefix_holds(&self) -> Result<(), Stopped> {
        self.commands.tell(Command::ClearMaxPrefixHolds).await
    }

    /// Cease every session (RFC 9003 text) and wait until they have ended.
    pub async fn shutdown(&self, message: Option<String>) -> Result<(), Stopped> {
        self.commands.ask(|done| Command::Shutdown { message, done }).await
    }
}

/// A session, known by its key: the ifindex is the interface's identity,
/// its name is looked up in `links` when needed (it follows renames).
struct Entry {
    handle: SessionHandle,
    task: task::Id,
    /// LinkDown or Deconfigured sent: the session is ending.
    link_down_sent: bool,
}

/// `events` come from the peer table; `observations` go to it, as
/// discovery's do (a neighbour that connects to us is seen).
pub fn spawn(
    config: BgpConfig,
    listener: impl Listener,
    links: watch::Receiver<Links>,
    events: mpsc::Receiver<PeerEvent>,
    observations: mpsc::Sender<Observation>,
) -> (BgpHandle, Task) {
    let (commands, inbox) = actor::channel(STAGE, 16);
    let manager = Manager {
        config,
        links,
        observations,
        sessions: HashMap::new(),
        holds: HashMap::new(),
        tasks: JoinSet::new(),
        refused: BTreeMap::new(),
        shutdown: None,
        interfaces_open: true,
        policies_open: true,
        security: ListenerSecurity::default(),
        security_stale: true,
        bfd_removed: Vec::new(),
    };
    let task = commands.spawn(manager.run(listener, events, inbox));
    (BgpHandle { commands }, task)
}

struct Manager {
    config: BgpConfig,
    links: watch::Receiver<Links>,
    observations: mpsc::Sender<Observation>,
    sessions: HashMap<PeerKey, Entry>,
    /// Max-prefix holds of sessions that ended while held (link down, say):
    /// the neighbour's next session starts with what is left of it.
    holds: HashMap<PeerKey, MaxPrefixHold>,
    /// Every session task, ended ones until they are joined: a task that
    /// panics fails the manager (see `session_ended`).
    tasks: JoinSet<()>,
    refused: BTreeMap<&'static str, u64>,
    /// Set once shutting down: answered when the last session has ended.
    shutdown: Option<Reply<()>>,
    /// False once the sender of `config.interfaces` is gone.
    interfaces_open: bool,
    /// False once the sender of `config.policies` is gone.
    policies_open: bool,
    /// What the listener holds.
    security: ListenerSecurity,
    /// The policies, links or sessions changed since `security` was made.
    security_stale: bool,
    /// Neighbours whose session ended: their BFD sessions go next.
    bfd_removed: Vec<PeerKey>,
}

async fn recv_bfd(bfd: &mut Option<BfdLink>) -> Option<BfdEvent> {
    match bfd {
        Some(link) => link.events.recv().await,
        None => std::future::pending().await,
    }
}

fn bfd_key(key: PeerKey) -> bfd::service::PeerKey {
    bfd::service::PeerKey {
        ifindex: key.ifindex,
        addr: key.addr,
    }
}

impl Manager {
    /// Serve until shut down, or until a session task panics: then the
    /// sessions left see their command queue close and send Cease as they
    /// end (the daemon stops, see `session_ended`).
    async fn run(
        mut self,
        listener: impl Listener,
        events: mpsc::Receiver<PeerEvent>,
        commands: Inbox<Command>,
    ) -> anyhow::Result<()> {
        let served = self.serve(listener, events, commands).await;
        // Sessions that did not stop in time are left to end by themselves.
        self.tasks.detach_all();
        served
    }

    async fn serve(
        &mut self,
        mut listener: impl Listener,
        mut events: mpsc::Receiver<PeerEvent>,
        mut commands: Inbox<Command>,
    ) -> anyhow::Result<()> {
        let mut shutdown_deadline = None;
        loop {
            // Before the next accept: keys for neighbours just found.
            if self.security_stale {
                self.secure(&mut listener);
            }
            tokio::select! {
                Some(event) = events.recv(), if self.ready() => self.peer_event(event).await,
                Some(event) = recv_bfd(&mut self.config.bfd) => self.bfd_event(event).await,
                accepted = listener.accept(), if self.ready() => match accepted {
                    Ok((stream, from)) => self.inbound(stream, from).await,
                    Err(e) => warn!("BGP accept failed: {e}"),
                },
                Ok(()) = self.links.changed() => self.links_changed().await,
                changed = self.config.interfaces.changed(), if self.interfaces_open => match changed {
                    Ok(()) => {
                        self.config.interfaces.borrow_and_update();
                        self.security_stale = true;
                        self.end_deconfigured().await;
                    }
                    Err(_) => self.interfaces_open = false,
                },
                changed = self.config.policies.changed(), if self.policies_open => match changed {
                    Ok(()) => {
                        self.config.policies.borrow_and_update();
                        self.security_stale = true;
                    }
                    Err(_) => self.policies_open = false,
                },
                // Read by `ready`; waking up re-checks it.
                Ok(()) = self.config.router_id.changed() => {
                    self.config.router_id.borrow_and_update();
                }
                Some(joined) = self.tasks.join_next_with_id() => self.session_ended(joined)?,
                Some(command) = commands.recv() => match command {
                    Command::Neighbors(reply) => {
                        let counters = self.config.routes.counters().await;
                        let bfd = self.bfd_states().await;
                        let _ = reply.send(counters.map(|c| self.views(&c, &bfd)));
                    }
                    Command::Refused(reply) => {
                        let _ = reply.send(self.refused.clone());
                    }
                    Command::ClearMaxPrefixHolds => {
                        self.holds.clear();
                        for entry in self.sessions.values() {
                            if entry.handle.status.borrow().max_prefix_hold.is_some() {
                                let _ = entry.handle.commands.send(SessionCommand::ClearMaxPrefixHold).await;
                            }
                        }
                    }
                    Command::Shutdown { message, done } => {
                        info!("stopping {} BGP sessions", self.sessions.len());
                        for entry in self.sessions.values() {
                            let _ = entry.handle.commands.send(SessionCommand::Stop { message: message.clone() }).await;
                        }
                        self.shutdown = Some(done);
                        shutdown_deadline = Some(tokio::time::Instant::now() + SHUTDOWN_TIMEOUT);
                    }
                },
                _ = sleep_until_opt(shutdown_deadline), if shutdown_deadline.is_some() => {
                    warn!("{} sessions did not stop in time", self.sessions.len());
                    self.sessions.clear();
                }
            }
            self.remove_bfd_sessions().await;
            if self.shutdown.is_some() && self.sessions.is_empty() {
                if let Some(done) = self.shutdown.take() {
                    let _ = done.send(());
                }
                return Ok(());
            }
        }
    }

    /// A session task ended: its entry goes. One that panicked is a bug
    /// that leaves a neighbour without its session and the manager unsure
    /// of its state: an error, which ends the manager and so the daemon
    /// (systemd restarts it).
    fn session_ended(&mut self, joined: Result<(task::Id, ()), JoinError>) -> anyhow::Result<()> {
        let (task, panic) = match joined {
            Ok((task, ())) => (task, None),
            Err(e) => {
                let task = e.id();
                // Cancelled: only when the manager itself goes.
                (task, e.try_into_panic().ok().map(actor::panic_message))
            }
        };
        // Rare: a scan finds whose it was.
        let key = self.sessions.iter().find(|(_, e)| e.task == task).map(|(key, _)| *key);
        let removed = key.and_then(|key| self.sessions.remove(&key).map(|entry| (key, entry)));
        if let Some((key, _)) = &removed {
            self.security_stale = true;
            if self.config.bfd.is_some() {
                self.bfd_removed.push(*key);
            }
        }
        if let Some((key, entry)) = removed
            && let Some(hold) = entry.handle.status.borrow().max_prefix_hold
        {
            let now = tokio::time::Instant::now();
            self.holds.retain(|_, h| h.holds_at(now));
            self.holds.insert(key, hold);
        }
        let Some(message) = panic else {
            return Ok(());
        };
        let why = match key {
            Some(key) => format!(
                "{}: the session task of neighbour {} panicked: {message}",
                self.name_of(key.ifindex),
                key.addr
            ),
            None => format!("a session task panicked: {message}"),
        };
        error!("{why}");
        Err(anyhow::Error::msg(why))
    }

    /// Make the listener hold what the policies ask for the configured
    /// links and the sessions' neighbours. A new key takes effect for new
    /// connections; established ones keep the key they were made with.
    fn secure(&mut self, listener: &mut impl Listener) {
        self.security_stale = false;
        let want = {
            let links = self.links.borrow();
            let names = self.config.interfaces.borrow();
            let configured: Vec<ConfiguredLink> = names
                .iter()
                .map(|name| ConfiguredLink {
                    name,
                    ifindex: links.get(name).map(|l| l.ifindex),
                })
                .collect();
            let peers: Vec<_> = self.sessions.keys().copied().collect();
            ListenerSecurity::new(&self.config.policies.borrow(), &configured, &peers)
        };
        if want == self.security {
            return;
        }
        for conflict in want.conflicts.iter().filter(|c| !self.security.conflicts.contains(c)) {
            warn!("TCP-MD5: {conflict}");
        }
        if want.keys.len() != self.security.keys.len() || want.gtsm_listener != self.security.gtsm_listener {
            debug!(
                "BGP listener: {} TCP-MD5 keys, GTSM {}",
                want.keys.len(),
                if want.gtsm_listener { "on" } else { "per link" }
            );
        }
        listener.secure(&want);
        self.security = want;
    }

    /// Sessions may start: not shutting down, and we have a router ID.
    fn ready(&self) -> bool {
        self.shutdown.is_none() && !self.config.router_id.borrow().is_unspecified()
    }

    /// The link's current name, for logs; its ifindex once it has none.
    fn name_of(&self, ifindex: u32) -> String {
        match iface::name_of(&self.links.borrow(), ifindex) {
            Some(name) => name.to_string(),
            None => format!("ifindex {ifindex}"),
        }
    }

    fn link_up(&self, ifindex: u32) -> bool {
        iface::by_ifindex(&self.links.borrow(), ifindex).is_some_and(|l| l.up)
    }

    /// The link's current name is still configured. The links watcher
    /// drops a removed interface from `links` only after re-dumping; the
    /// names change first. A link renamed to a name not configured, or
    /// deleted, leaves `links` at once.
    fn configured_link(&self, ifindex: u32) -> bool {
        iface::name_of(&self.links.borrow(), ifindex).is_some_and(|name| self.configured(name))
    }

    fn configured(&self, interface: &str) -> bool {
        self.config.interfaces.borrow().iter().any(|n| n == interface)
    }

    /// End the sessions of links no longer configured under their current
    /// name (a reload removed it, or it was renamed to a name not
    /// configured): Cease / Peer De-configured, whether the link is up or
    /// not.
    async fn end_deconfigured(&mut self) {
        for key in self.sessions_on(|ifindex| !self.configured_link(ifindex)) {
            let why = match iface::name_of(&self.links.borrow(), key.ifindex) {
                Some(name) => format!("{name}: no longer configured"),
                None => format!("ifindex {}: renamed to a name not configured, or deleted", key.ifindex),
            };
            info!(
                "{why}: ending the session with {} (Cease, Peer De-configured)",
                key.addr
            );
            self.end(key, SessionCommand::Deconfigured).await;
        }
    }

    /// The sessions not ending yet on the links `pick` picks (by ifindex).
    fn sessions_on(&self, pick: impl Fn(u32) -> bool) -> Vec<PeerKey> {
        self.sessions
            .iter()
            .filter(|(key, entry)| !entry.link_down_sent && pick(key.ifindex))
            .map(|(key, _)| *key)
            .collect()
    }

    /// Tell a session to end now (LinkDown or Deconfigured): it is ending
    /// from then on.
    async fn end(&mut self, key: PeerKey, command: SessionCommand) {
        if let Some(entry) = self.sessions.get_mut(&key) {
            entry.link_down_sent = true;
            let _ = entry.handle.commands.send(command).await;
        }
    }

    /// A session and, with `--bfd`, its BFD session (RFC 5882 4.3: BFD
    /// first, so that BGP may rely on it; as FRR adds its BFD peer with the
    /// BGP neighbour).
    async fn start_with_bfd(&mut self, key: PeerKey, inbound: Option<BoxStream>) {
        self.start(key, inbound);
        let Some(link) = &self.config.bfd else { return };
        if let Err(e) = link.handle.add(bfd_key(key), link.timers).await {
            warn!(
                "{}: no BFD session with {}: {e}; BGP runs without it",
                self.name_of(key.ifindex),
                key.addr
            );
        }
    }

    /// The BFD sessions of the sessions that ended; one that is back
    /// already keeps its BFD session.
    async fn remove_bfd_sessions(&mut self) {
        let Some(link) = &self.config.bfd else { return };
        for key in std::mem::take(&mut self.bfd_removed) {
            if !self.sessions.contains_key(&key) {
                let _ = link.handle.remove(bfd_key(key)).await;
            }
        }
    }

    /// BFD Down after Up, when the path or the neighbour failed: the
    /// session ends now and waits for BFD Up (RFC 5882 3.2). A neighbour
    /// that took its BFD session down on purpose (AdminDown) leaves BGP
    /// alone. A BFD session that was never Up holds nothing: the neighbour
    /// may not run BFD at all (as FRR without `bfd strict`).
    async fn bfd_event(&mut self, event: BfdEvent) {
        let (key, command) = match event {
            BfdEvent::Up(peer) => (peer, SessionCommand::BfdUp),
            BfdEvent::Down { peer, diag, failure } => {
                if !failure {
                    info!(
                        "{}: neighbour {} took its BFD session down ({diag}): BGP goes on",
                        self.name_of(peer.ifindex),
                        peer.addr
                    );
                    return;
                }
                (peer, SessionCommand::BfdDown { why: diag.to_string() })
            }
        };
        let key = PeerKey {
            ifindex: key.ifindex,
            addr: key.addr,
        };
        self.send(&key, command).await;
    }

    /// Each BFD session's state by neighbour ("up", "down", "init",
    /// "admin-down"); empty when BFD is off or its task has stopped.
    async fn bfd_states(&self) -> HashMap<PeerKey, &'static str> {
        let Some(link) = &self.config.bfd else {
            return HashMap::new();
        };
        let Ok(view) = link.handle.view().await else {
            return HashMap::new();
        };
        view.sessions
            .iter()
            .filter(|s| !s.leaving)
            .map(|s| {
                let key = PeerKey {
                    ifindex: s.peer.ifindex,
                    addr: s.peer.addr,
                };
                (key, bfd_state(s.state))
            })
            .collect()
    }

    fn start(&mut self, key: PeerKey, inbound: Option<BoxStream>) {
        let params = SessionParams {
            key,
            fsm: self.config.fsm.clone(),
            router_id: self.config.router_id.clone(),
            dialer: Arc::clone(&self.config.dialer),
            routes: self.config.routes.clone(),
            monitor: self.config.monitor.clone(),
            policies: self.config.policies.clone(),
            hold: self.holds.remove(&key),
        };
        let (handle, session) = session::new(params, self.links.clone(), inbound);
        let task = self.tasks.spawn(session).id();
        self.security_stale = true;
        self.sessions.insert(
            key,
            Entry {
                handle,
                task,
                link_down_sent: false,
            },
        );
    }

    async fn send(&mut self, key: &PeerKey, command: SessionCommand) {
        if let Some(entry) = self.sessions.get(key) {
            let _ = entry.handle.commands.send(command).await;
        }
    }

    async fn peer_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Discovered(info) => {
                let key = info.key;
                if !self.configured_link(key.ifindex) {
                    debug!(
                        "{}: {} discovered, but no longer configured",
                        self.name_of(key.ifindex),
                        key.addr
                    );
                } else if self.sessions.contains_key(&key) {
                    self.send(&key, SessionCommand::NeighbourFound).await;
                } else {
                    info!("{}: starting BGP session with {}", self.name_of(key.ifindex), key.addr);
                    self.start_with_bfd(key, None).await;
                }
            }
            PeerEvent::Lost { key, reason } => {
                // A reload that removed the interface may not have been seen
                // yet (the manager was busy): its sessions end as deconfigured.
                self.end_deconfigured().await;
                if self.sessions.get(&key).is_some_and(|e| e.link_down_sent) {
                    return; // already ending
                }
                let command = match reason {
                    LostReason::LinkDown
                    | LostReason::LinkDeleted
                    | LostReason::IfindexChanged
                    | LostReason::OwnAddress => SessionCommand::LinkDown,
                    LostReason::Silent { .. } => SessionCommand::NeighbourLost,
                };
                self.send(&key, command).await;
            }
        }
    }

    /// A connection on the listening socket: only from a link-local on a
    /// configured interface; a neighbour discovery has not seen yet is a
    /// neighbour too (FRR and GoBGP may dial before we hear them).
    async fn inbound(&mut self, stream: BoxStream, from: std::net::SocketAddr) {
        // Up under a configured name.
        let configured: Vec<u32> = self
            .links
            .borrow()
            .values()
            .filter(|l| l.up && self.configured(&l.name))
            .map(|l| l.ifindex)
            .collect();
        let own = |addr: &Ipv6Addr| {
            self.links
                .borrow()
                .values()
                .any(|l| l.link_locals.iter().any(|ll| ll.addr == *addr))
        };
        let source = transport::check_source(from, &configured).and_then(|(ifindex, addr)| {
            if own(&addr) {
                Err(Refusal::OwnAddress)
            } else {
                Ok((ifindex, addr))
            }
        });
        let (ifindex, addr) = match source {
            Ok(source) => source,
            Err(refusal) => {
                *self.refused.entry(refusal.as_str()).or_default() += 1;
                warn!("refused BGP connection from {from}: {}", refusal.as_str());
                return;
            }
        };
        if self.security.admit(ifindex, addr).is_err() {
            let refusal = transport::Refusal::TcpMd5KeyMismatch;
            *self.refused.entry(refusal.as_str()).or_default() += 1;
            warn!(
                "{}: refused BGP connection from {addr}: not signed with the interface's TCP-MD5 key",
                self.name_of(ifindex)
            );
            return;
        }
        let key = PeerKey { ifindex, addr };
        if self.sessions.contains_key(&key) {
            self.send(&key, SessionCommand::Inbound(stream)).await;
            return;
        }
        info!(
            "{}: accepted BGP connection from undiscovered neighbour {addr}",
            self.name_of(ifindex)
        );
        self.start_with_bfd(key, Some(stream)).await;
        let seen = Observation {
            ifindex,
            addr,
            mac: None,
            source: Source::Tcp,
            router: None,
            ra_lifetime: None,
            tentative: false,
        };
        // Not awaited: the peer table may itself be waiting to hand us an
        // event. Lost, it costs the table a `tcp` source, not the session.
        match self.observations.try_send(seen) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!("peer table busy: {addr} not recorded as a tcp neighbour")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => debug!("peer table stopped: {addr} not recorded"),
        }
    }

    async fn links_changed(&mut self) {
        self.security_stale = true;
        self.end_deconfigured().await;
        self.links.borrow_and_update();
        for key in self.sessions_on(|ifindex| !self.link_up(ifindex)) {
            debug!(
                "{}: link down: ending the session with {}",
                self.name_of(key.ifindex),
                key.addr
            );
            self.end(key, SessionCommand::LinkDown).await;
        }
    }

    fn views(
        &self,
        counters: &HashMap<PeerKey, PeerCounters>,
        bfd: &HashMap<PeerKey, &'static str>,
    ) -> Vec<NeighborView> {
        let links = self.links.borrow();
        let policies = self.config.policies.borrow();
        let now = tokio::time::Instant::now();
        let mut views: Vec<NeighborView> = self
            .sessions
            .iter()
            .map(|(key, entry)| {
                let s = entry.handle.status.borrow();
                let interface = iface::name_of(&links, key.ifindex).unwrap_or_default();
                NeighborView {
                    interface: interface.to_string(),
                    ifindex: key.ifindex,
                    address: key.addr,
                    state: session_state(s.state),
                    remote_asn: s.remote_asn,
                    remote_id: s.remote_id,
                    direction: s.direction.map(direction),
                    uptime_s: s.established_at.map_or(0, |t| t.elapsed().as_secs()),
                    last_error: s.last_error.clone(),
                    last_down: s.last_down.clone(),
                    hold_time: s.hold_time,
                    keepalive_s: s.keepalive_s,
                    messages_received: s.messages_received,
                    messages_sent: s.messages_sent,
                    established_count: s.established_count,
                    updates_received: s.updates_received,
                    updates_sent: s.updates_sent,
                    prefixes_received: counters.get(key).map_or(0, |c| c.prefixes_received),
                    prefixes_sent: counters.get(key).map_or(0, |c| c.prefixes_sent),
                    tcp_md5: s.protection.tcp_md5,
                    ttl_security: s.protection.ttl_security,
                    max_prefix: policies.for_interface(interface).max_prefix,
                    max_prefix_held: s.max_prefix_hold.is_some(),
                    max_prefix_retry_s: s.max_prefix_hold.and_then(|h| h.seconds_left(now)),
                    prefixes_filtered: counters.get(key).map_or(0, |c| c.prefixes_filtered),
                    prefixes_first_as_rejected: counters.get(key).map_or(0, |c| c.prefixes_first_as_rejected),
                    next_hop_ours: counters.get(key).map_or(0, |c| c.next_hop_ours),
                    as_loop: counters.get(key).map_or(0, |c| c.as_loop),
                    prefixes_accepted: counters.get(key).map_or(0, |c| c.prefixes_accepted),
                    messages_by_type: s.messages_by_type,
                    downs: s.downs.iter().map(|(class, n)| (class.to_string(), *n)).collect(),
                    bfd: bfd.get(key).map(|state| state.to_string()),
                    bfd_held: s.bfd_held,
                }
            })
            .collect();
        views.sort_by(|a, b| (&a.interface, a.address).cmp(&(&b.interface, b.address)));
        views
    }
}

fn session_state(state: fsm::State) -> SessionState {
    match state {
        fsm::State::Idle => SessionState::Idle,
        fsm::State::Connect => SessionState::Connect,
        fsm::State::Active => SessionState::Active,
        fsm::State::OpenSent => SessionState::OpenSent,
        fsm::State::OpenConfirm => SessionState::OpenConfirm,
        fsm::State::Established => SessionState::Established,
    }
}

fn bfd_state(state: bfd::packet::State) -> &'static str {
    match state {
        bfd::packet::State::AdminDown => "admin-down",
        bfd::packet::State::Down => "down",
        bfd::packet::State::Init => "init",
        bfd::packet::State::Up => "up",
    }
}

fn direction(direction: fsm::Direction) -> Direction {
    match direction {
        fsm::Direction::Inbound => Direction::Inbound,
        fsm::Direction::Outbound => Direction::Outbound,
    }
}
#[cfg(test)]
mod tests;
