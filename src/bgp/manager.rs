//! The BGP manager: one session task per neighbour key.
//!
//! It turns peer-table events into sessions (Discovered starts one that dials
//! at once; Lost ends one that is not Established), accepts connections on
//! the listening socket and hands each to its neighbour's session, and ends
//! the sessions of an interface that goes down. It holds the session
//! tasks: one that panics ends the manager with an error. It keeps the
//! listener's TCP-MD5 keys and GTSM check in step with the policies, the
//! links and the sessions (see `auth`). It carries out `neighbor
//! shutdown|enable|clear` (see `admin`) and remembers which neighbours the
//! operator holds down, across their sessions. With `--bfd` it runs one BFD
//! session per BGP session, to the same link-local on the same interface,
//! from the session's start to its end, and tells the session when BFD
//! fails or comes back (see `bfd_event`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::{self, JoinError, JoinSet};
use tracing::{debug, error, info, warn};

use super::auth::{ConfiguredLink, ListenerSecurity};
use super::fsm::{self, FsmConfig};
use super::session::{self, Cleared, MaxPrefixHold, SessionCommand, SessionHandle, SessionParams};
use super::transport::{self, BoxStream, Dialer, Listener, Refusal};
use crate::actor::{self, Commands, Inbox, Reply, Stopped, Task};
pub use crate::api::NeighborView;
use crate::api::{Direction, NeighborTarget, SessionState};
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

mod admin;
pub use admin::AdminRequest;
use admin::Target;

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
    /// `--teardown-on-loss`: discovery losing a neighbour (silent for the
    /// discovery hold) ends even its Established session. A reload changes
    /// it ([`BgpHandle::set_teardown_on_loss`]).
    pub teardown_on_loss: bool,
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

/// How long `neighbor clear` waits for each session's answer: below
/// ndbgpctl's default 10 s timeout.
const CLEAR_ANSWER_WITHIN: Duration = Duration::from_secs(5);

enum Command {
    /// With the routes task's prefix counts, asked by the handle first so
    /// that the manager never waits on the routes task.
    Neighbors(
        HashMap<PeerKey, PeerCounters>,
        HashMap<PeerKey, &'static str>,
        Reply<Vec<NeighborView>>,
    ),
    Refused(Reply<BTreeMap<&'static str, u64>>),
    /// End every max-prefix hold (a reload, or an operator).
    ClearMaxPrefixHolds,
    Shutdown {
        message: Option<String>,
        done: Reply<()>,
    },
    Admin {
        target: NeighborTarget,
        request: AdminRequest,
        done: Reply<Result<String, String>>,
    },
    /// Answered once applied: a peer event sent after the answer sees it.
    SetTeardownOnLoss(bool, Reply<()>),
}

#[derive(Clone)]
pub struct BgpHandle {
    commands: Commands<Command>,
    /// For the prefix counts of [`BgpHandle::neighbors`].
    routes: RoutesHandle,
    /// For the BFD states of [`BgpHandle::neighbors`] (`--bfd`).
    bfd: Option<BfdHandle>,
}

impl BgpHandle {
    /// The sessions, with their prefix counts from the routes task (an
    /// error if either task has stopped).
    pub async fn neighbors(&self) -> Result<Vec<NeighborView>, Stopped> {
        let counters = self.routes.counters().await?;
        let bfd = bfd_states(self.bfd.as_ref()).await;
        self.commands
            .ask(|reply| Command::Neighbors(counters, bfd, reply))
            .await
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

    /// `neighbor shutdown|enable|clear` on the target's sessions: what was
    /// done in a line, or why nothing was (no such session).
    pub async fn admin(
        &self,
        target: NeighborTarget,
        request: AdminRequest,
    ) -> Result<Result<String, String>, Stopped> {
        self.commands.ask(|done| Command::Admin { target, request, done }).await
    }

    /// `--teardown-on-loss` from now on (a reload), for the peer events
    /// the manager takes after it answers.
    pub async fn set_teardown_on_loss(&self, on: bool) -> Result<(), Stopped> {
        self.commands.ask(|done| Command::SetTeardownOnLoss(on, done)).await
    }
}

/// A session, known by its key: the ifindex is the interface's identity,
/// its name is looked up in `links` when needed (it follows renames).
struct Entry {
    handle: SessionHandle,
    task: task::Id,
    /// LinkDown or Deconfigured sent: the session is ending.
    link_down_sent: bool,
    /// Discovered again while ending: the peer table will not say so
    /// twice, so a new session starts once this one has ended.
    found_while_ending: bool,
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
        admin_down: HashSet::new(),
        tasks: JoinSet::new(),
        refused: BTreeMap::new(),
        shutdown: None,
        interfaces_open: true,
        policies_open: true,
        security: ListenerSecurity::default(),
        security_stale: true,
        bfd_removed: Vec::new(),
        bfd_failed: HashSet::new(),
    };
    let routes = manager.config.routes.clone();
    let bfd = manager.config.bfd.as_ref().map(|link| link.handle.clone());
    let task = commands.spawn(manager.run(listener, events, inbox));
    (BgpHandle { commands, routes, bfd }, task)
}

struct Manager {
    config: BgpConfig,
    links: watch::Receiver<Links>,
    observations: mpsc::Sender<Observation>,
    sessions: HashMap<PeerKey, Entry>,
    /// Max-prefix holds of sessions that ended while held (link down, say):
    /// the neighbour's next session starts with what is left of it.
    holds: HashMap<PeerKey, MaxPrefixHold>,
    /// Neighbours `neighbor shutdown` holds down until `neighbor enable`:
    /// their sessions, and any next one, start held. Forgotten with their
    /// link (deleted, or no longer configured).
    admin_down: HashSet<PeerKey>,
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
    /// Neighbours whose BFD session failed after Up and is not Up again: a
    /// session started meanwhile (found again while ending) starts held.
    bfd_failed: HashSet<PeerKey>,
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
                    Command::Neighbors(counters, bfd, reply) => {
                        let _ = reply.send(self.views(&counters, &bfd));
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
                    Command::Admin { target, request, done } => self.admin(target, request, done).await,
                    Command::SetTeardownOnLoss(on, done) => {
                        if on != self.config.teardown_on_loss {
                            info!("teardown-on-loss {}", if on { "on" } else { "off" });
                        }
                        self.config.teardown_on_loss = on;
                        let _ = done.send(());
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
        let found_again = removed
            .as_ref()
            .filter(|(key, entry)| entry.found_while_ending && panic.is_none() && self.configured_link(key.ifindex))
            .map(|(key, _)| *key);
        if let Some((key, entry)) = removed
            && let Some(hold) = entry.handle.status.borrow().max_prefix_hold
        {
            let now = tokio::time::Instant::now();
            self.holds.retain(|_, h| h.holds_at(now));
            self.holds.insert(key, hold);
        }
        if let Some(key) = found_again {
            info!(
                "{}: starting BGP session with {} (found again)",
                self.name_of(key.ifindex),
                key.addr
            );
            self.start(key, None);
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
        // Once per call, not per session: with a thousand sessions a walk
        // of the links and of the configured names for each made every
        // link change cost a million string compares at bring-up.
        let still: HashSet<u32> = {
            let names = self.config.interfaces.borrow();
            let configured: HashSet<&str> = names.iter().map(String::as_str).collect();
            let links = self.links.borrow();
            links
                .values()
                .filter(|l| configured.contains(l.name.as_str()))
                .map(|l| l.ifindex)
                .collect()
        };
        for key in self.sessions_on(|ifindex| !still.contains(&ifindex)) {
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
        self.forget_admin_down();
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

    /// A session and, with `--bfd`, its BFD session, added with it (as FRR
    /// adds its BFD peer with the BGP neighbour; the session dials at once,
    /// BFD comes up beside it and only a failure after Up holds BGP).
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
                self.bfd_failed.remove(&key);
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
        if matches!(command, SessionCommand::BfdUp) {
            self.bfd_failed.remove(&key);
        } else {
            self.bfd_failed.insert(key);
        }
        self.send(&key, command).await;
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
            admin_down: self.admin_down.contains(&key),
            bfd_held: self.bfd_failed.contains(&key),
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
                found_while_ending: false,
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
                } else if let Some(entry) = self.sessions.get_mut(&key)
                    && entry.link_down_sent
                {
                    entry.found_while_ending = true;
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
                    LostReason::Silent { .. } if self.config.teardown_on_loss => {
                        if self.sessions.contains_key(&key) {
                            info!(
                                "{}: neighbour {} lost ({reason}): ending its session (teardown-on-loss; Cease, Peer De-configured)",
                                self.name_of(key.ifindex),
                                key.addr
                            );
                            self.end(key, SessionCommand::NeighbourLostTeardown).await;
                        }
                        return;
                    }
                    LostReason::Silent { .. } => SessionCommand::NeighbourLost,
                    LostReason::StaticRemoved => {
                        if self.sessions.contains_key(&key) {
                            info!(
                                "{}: static neighbour {} removed: ending its session (Cease, Peer De-configured)",
                                self.name_of(key.ifindex),
                                key.addr
                            );
                            self.end(key, SessionCommand::Deconfigured).await;
                        }
                        return;
                    }
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
        self.forget_admin_down();
        let up: HashSet<u32> = self
            .links
            .borrow()
            .values()
            .filter(|l| l.up)
            .map(|l| l.ifindex)
            .collect();
        for key in self.sessions_on(|ifindex| !up.contains(&ifindex)) {
            debug!(
                "{}: link down: ending the session with {}",
                self.name_of(key.ifindex),
                key.addr
            );
            self.end(key, SessionCommand::LinkDown).await;
        }
    }

    /// `neighbor shutdown|enable|clear`: answered on `done` now, or (a
    /// clear) once every session has said what it did, by a task of its own:
    /// the manager does not wait on sessions.
    async fn admin(&mut self, target: NeighborTarget, request: AdminRequest, done: Reply<Result<String, String>>) {
        let (target, keys) = match self.admin_targets(&target) {
            Ok(found) => found,
            Err(e) => {
                let _ = done.send(Err(e));
                return;
            }
        };
        let answer = match request {
            AdminRequest::Shutdown { message } => {
                let (mut newly, mut sent, mut already) = (0, 0, 0);
                for key in &keys {
                    if !self.admin_down.insert(*key) {
                        already += 1;
                        continue;
                    }
                    newly += 1;
                    if let Some(entry) = self.sessions.get(key) {
                        let state = entry.handle.status.borrow().state;
                        if !matches!(state, fsm::State::Idle | fsm::State::Connect | fsm::State::Active) {
                            sent += 1;
                        }
                    }
                    let command = SessionCommand::AdminShutdown {
                        message: message.clone(),
                    };
                    self.send(key, command).await;
                }
                admin::shut_down(&target, newly, sent, already)
            }
            AdminRequest::Enable => {
                let mut enabled = 0;
                for key in &keys {
                    if self.admin_down.remove(key) {
                        enabled += 1;
                        self.send(key, SessionCommand::AdminEnable).await;
                    }
                }
                admin::enabled(&target, enabled)
            }
            AdminRequest::Clear { soft } => {
                let mut answers = Vec::new();
                for key in &keys {
                    if !soft {
                        // A hard clear lifts a max-prefix hold (the session's own, below).
                        self.holds.remove(key);
                    }
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    self.send(key, SessionCommand::Clear { soft, done: tx }).await;
                    answers.push(rx);
                }
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    let deadline = tokio::time::Instant::now() + CLEAR_ANSWER_WITHIN;
                    for rx in answers {
                        // A session that ended meanwhile did nothing; one
                        // that does not answer within CLEAR_ANSWER_WITHIN of
                        // the request (busy behind the routes task) is
                        // counted so too,
                        // so that the answer comes before ndbgpctl's timeout.
                        let answer = tokio::time::timeout_at(deadline, rx).await;
                        outcomes.push(answer.ok().and_then(Result::ok).unwrap_or(Cleared::Down));
                    }
                    let _ = done.send(admin::cleared(&target, soft, &outcomes));
                });
                return;
            }
        };
        let _ = done.send(Ok(answer));
    }

    /// The neighbours a `neighbor` command acts on: the target's sessions
    /// that are not ending, and the neighbours held down without one.
    fn admin_targets(&self, target: &NeighborTarget) -> Result<(Target, Vec<PeerKey>), String> {
        let target = match target {
            NeighborTarget::Interface(name) => Target {
                interface: name.clone(),
                neighbor: None,
            },
            NeighborTarget::Neighbor(n) => Target {
                interface: n.interface.clone(),
                neighbor: Some(n.address),
            },
        };
        let Some(ifindex) = self.links.borrow().get(&target.interface).map(|l| l.ifindex) else {
            return Err(format!(
                "{}: {} is not a configured interface that exists",
                target.nothing(),
                target.interface
            ));
        };
        let wanted = |key: &PeerKey| key.ifindex == ifindex && target.neighbor.is_none_or(|a| a == key.addr);
        let mut keys: Vec<PeerKey> = self.sessions_on(|i| i == ifindex);
        keys.extend(
            self.admin_down
                .iter()
                .filter(|k| !self.sessions.contains_key(k))
                .copied(),
        );
        keys.retain(wanted);
        keys.sort();
        if keys.is_empty() {
            return Err(target.nothing());
        }
        Ok((target, keys))
    }

    /// Administrative holds of links gone or no longer configured: a new
    /// link under the name is another link.
    fn forget_admin_down(&mut self) {
        let links = self.links.borrow();
        let names = self.config.interfaces.borrow();
        self.admin_down
            .retain(|key| iface::name_of(&links, key.ifindex).is_some_and(|name| names.iter().any(|n| n == name)));
    }

    fn views(
        &self,
        counters: &HashMap<PeerKey, PeerCounters>,
        bfd: &HashMap<PeerKey, &'static str>,
    ) -> Vec<NeighborView> {
        let links = self.links.borrow();
        // Once per answer, not a walk of the links per session.
        let names: HashMap<u32, &str> = links.values().map(|l| (l.ifindex, l.name.as_str())).collect();
        let policies = self.config.policies.borrow();
        let now = tokio::time::Instant::now();
        let mut views: Vec<NeighborView> = self
            .sessions
            .iter()
            .map(|(key, entry)| {
                let s = entry.handle.status.borrow();
                let interface = names.get(&key.ifindex).copied().unwrap_or_default();
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
                    admin_down: s.admin_down,
                    graceful_restart: s.graceful_restart,
                    gr_restarting: counters.get(key).is_some_and(|c| c.gr_restarting),
                    stale_routes: counters.get(key).map_or(0, |c| c.stale_routes),
                    bfd: bfd.get(key).map(|state| state.to_string()),
                    bfd_held: s.bfd_held,
                }
            })
            .collect();
        // Held down with no session (discovery lost it meanwhile): shown, so
        // that the hold can be seen and lifted.
        for key in self.admin_down.iter().filter(|k| !self.sessions.contains_key(k)) {
            let interface = iface::name_of(&links, key.ifindex).unwrap_or_default().to_string();
            views.push(NeighborView {
                admin_down: true,
                // Its BFD session went with its session.
                bfd: bfd.get(key).map(|state| state.to_string()),
                ..NeighborView::idle(interface, key.ifindex, key.addr, self.config.fsm.hold_time)
            });
        }
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

/// Each BFD session's state by neighbour ("up", "down", "init",
/// "admin-down"); empty when BFD is off or its task has stopped.
async fn bfd_states(bfd: Option<&BfdHandle>) -> HashMap<PeerKey, &'static str> {
    let Some(handle) = bfd else {
        return HashMap::new();
    };
    let Ok(view) = handle.view().await else {
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
