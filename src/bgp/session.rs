//! One session task per neighbour: it owns the FSMs (a primary that dials
//! and, during a collision, a passive secondary for the neighbour's own
//! connection), their connections and timers, and carries out what the pure
//! FSM asks. See `fsm` for the protocol and `collision` for RFC 4271 6.8; a
//! connection that comes while one is in OpenConfirm waits (see `offer`).
//! The connections come through `transport`'s traits: TCP in the daemon,
//! in-memory pipes in the tests.
//!
//! Beside the task itself: `slot` (one FSM with its connection and timer
//! deadlines), `dial` (the primary's dial and its stale results),
//! `backoff` (how long to wait before dialing again), `hold` (no session
//! for a while after one closed for `--max-prefix`; none at all while
//! `neighbor shutdown` holds it down). With `--bfd`, a BFD failure closes
//! the session (Cease / BFD Down, RFC 9384) and holds it down, no dial and
//! no connection taken, until BFD is Up again.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::auth::Protection;
use super::conn::{Conn, ConnEvent};
use super::fsm::collision::{Keep, Speaker, resolve_collision};
use super::fsm::graceful::PeerGracefulRestart;
use super::fsm::{Action, Direction, DownReason, Event, Fsm, FsmConfig, PeerInfo, State, Timer};
use super::transport::{BoxStream, Dialer};
use crate::api::{MessageCounts, MessagesByType};
use crate::iface::{self, Links};
use crate::monitor::Monitor;
use crate::msg::update::Update;
use crate::msg::update::{self, DecodeContext, EncodeContext, UpdateError};
use crate::msg::{Message, code};
use crate::peers::PeerKey;
use crate::policy::SharedPolicies;
use crate::rib;
use crate::rib::task::{Outgoing, PrefixLimitExceeded, RoutesHandle};
use crate::time::sleep_until_opt;

mod backoff;
mod dial;
mod events;
mod hold;
mod slot;

use backoff::Backoff;
use dial::Dial;
pub use hold::{Cleared, MaxPrefixHold};
use slot::{Slot, Which, progress};

/// How long a stopping session waits for its NOTIFICATIONs to be written.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct SessionParams {
    /// The ifindex is the interface's identity; its name, for logs, is
    /// looked up in `links` (it follows renames).
    pub key: PeerKey,
    /// Its router ID is replaced by `router_id`'s.
    pub fsm: FsmConfig,
    /// Followed: a connection taken while the session holds none uses the
    /// router ID current then (see `take_router_id`).
    pub router_id: watch::Receiver<Ipv4Addr>,
    pub dialer: Arc<dyn Dialer>,
    pub routes: RoutesHandle,
    /// Told when the session comes up and goes down.
    pub monitor: Monitor,
    /// Followed: `--max-prefix-restart` is read when the limit is crossed.
    pub policies: watch::Receiver<SharedPolicies>,
    /// A max-prefix hold still in force from an earlier session with this
    /// neighbour: the session starts held.
    pub hold: Option<MaxPrefixHold>,
    /// `neighbor shutdown` holds the neighbour down: the session starts
    /// without dialing or taking connections, until `AdminEnable`.
    pub admin_down: bool,
    /// The neighbour's BFD session failed after Up and is not Up again: the
    /// session starts held, until `BfdUp`.
    pub bfd_held: bool,
}

/// What the session has for the routes task, sent between events.
enum ToRoutes {
    /// With the families the peer kept forwarding for, when its OPEN had
    /// the Graceful Restart capability.
    Up(
        rib::PeerInfo,
        EncodeContext,
        mpsc::UnboundedSender<Outgoing>,
        Option<rib::Families>,
        /// Its OPEN had R set: it restarted too.
        bool,
    ),
    /// With the time to keep its routes, stale, in a graceful restart, and
    /// the families its capability listed (only those are kept).
    Down(Option<(Duration, rib::Families)>),
    Update(Update),
    EndOfRib(rib::Families),
    Refresh,
}

pub enum SessionCommand {
    /// A connection the neighbour opened to us.
    Inbound(BoxStream),
    /// Discovery no longer sees the neighbour: end unless Established.
    NeighbourLost,
    /// Discovery sees it again.
    NeighbourFound,
    /// The interface went down: Cease and close now.
    LinkDown,
    /// Administrative shutdown (RFC 9003 text), then end.
    Stop { message: Option<String> },
    /// The interface was removed from the configuration (a reload): Cease /
    /// Peer De-configured (RFC 4486 3), then end.
    Deconfigured,
    /// End a max-prefix hold now (a reload): dial again.
    ClearMaxPrefixHold,
    /// `neighbor shutdown`: Cease / Administrative Shutdown (RFC 9003
    /// text), then no dial and no connection taken until `AdminEnable`.
    AdminShutdown { message: Option<String> },
    /// `neighbor enable`: lift the administrative hold and dial now.
    AdminEnable,
    /// `neighbor clear`: hard, Cease / Administrative Reset and redial as
    /// after any down; `soft`, ROUTE-REFRESH and re-send our routes.
    Clear { soft: bool, done: oneshot::Sender<Cleared> },
    /// Discovery lost the neighbour and `--teardown-on-loss` is on: end
    /// even an Established session (Cease / Peer De-configured).
    NeighbourLostTeardown,
    /// The BFD session with the neighbour failed (it was Up): Cease / BFD
    /// Down, then no session until `BfdUp` (RFC 5882 3.2).
    BfdDown { why: String },
    /// The BFD session with the neighbour is Up: lift a BFD hold, dial now.
    BfdUp,
}

/// What `ndbgpctl neighbors` shows of a session, kept current by the task.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionStatus {
    pub state: State,
    pub remote_asn: Option<u32>,
    pub remote_id: Option<Ipv4Addr>,
    pub direction: Option<Direction>,
    pub established_at: Option<Instant>,
    pub last_error: Option<String>,
    /// Why the last Established session ended; unlike `last_error`, not
    /// overwritten by the failed reconnects that follow.
    pub last_down: Option<String>,
    pub hold_time: u16,
    pub keepalive_s: Option<u64>,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub updates_received: u64,
    pub updates_sent: u64,
    pub established_count: u64,
    /// TCP-MD5 and GTSM on the connection shown.
    pub protection: Protection,
    /// Closed for `--max-prefix`: no session until the hold is over.
    pub max_prefix_hold: Option<MaxPrefixHold>,
    /// Messages by type, every connection of the session counted.
    pub messages_by_type: MessagesByType,
    /// BFD failed: no session until it is Up again.
    pub bfd_held: bool,
    /// Established sessions that ended, by [`DownReason::class`].
    pub downs: BTreeMap<&'static str, u64>,
    /// Held down by `neighbor shutdown` until `neighbor enable`.
    pub admin_down: bool,
    /// The peer's last OPEN had the Graceful Restart capability and so did
    /// ours (RFC 4724).
    pub graceful_restart: bool,
}

pub struct SessionHandle {
    pub commands: mpsc::Sender<SessionCommand>,
    pub status: watch::Receiver<SessionStatus>,
}

/// A session and its task, for the caller to spawn and hold (the manager
/// holds every session task, so that one that panics is seen). The task
/// ends when the session does.
pub fn new(
    mut params: SessionParams,
    links: watch::Receiver<Links>,
    inbound: Option<BoxStream>,
) -> (SessionHandle, impl Future<Output = ()> + Send + 'static) {
    let (commands_tx, commands) = mpsc::channel(16);
    params.fsm.router_id = *params.router_id.borrow_and_update();
    let status0 = SessionStatus {
        state: State::Idle,
        remote_asn: None,
        remote_id: None,
        direction: None,
        established_at: None,
        last_error: None,
        last_down: None,
        hold_time: params.fsm.hold_time,
        keepalive_s: None,
        messages_received: 0,
        messages_sent: 0,
        updates_received: 0,
        updates_sent: 0,
        established_count: 0,
        protection: Protection::default(),
        max_prefix_hold: None,
        messages_by_type: MessagesByType::default(),
        downs: BTreeMap::new(),
        admin_down: params.admin_down,
        graceful_restart: false,
        bfd_held: params.bfd_held,
    };
    let (status_tx, status) = watch::channel(status0.clone());
    let (conn_tx, conn_rx) = mpsc::channel(256);
    let hold = params.hold.filter(|h| h.holds_at(Instant::now()));
    let admin_down = params.admin_down;
    let bfd_held = params.bfd_held;
    let session = Session {
        primary: Slot::new(Fsm::new(params.fsm.clone()).ok()),
        params,
        links,
        secondary: None,
        conn_tx,
        next_conn_id: 1,
        dial: None,
        waiting: None,
        backoff: Backoff::default(),
        hold,
        admin_down,
        bfd_held,
        bfd_down: None,
        restart_at: None,
        neighbour_lost: false,
        ending: None,
        pending: VecDeque::new(),
        closing: Vec::new(),
        status: status0,
        status_tx,
        to_routes: Vec::new(),
        established: None,
        outgoing: None,
        decode_ctx: None,
        graceful_restart: None,
    };
    let handle = SessionHandle {
        commands: commands_tx,
        status,
    };
    (handle, session.run(commands, conn_rx, inbound))
}

struct Session {
    params: SessionParams,
    links: watch::Receiver<Links>,
    primary: Slot,
    secondary: Option<Slot>,
    conn_tx: mpsc::Sender<(u64, ConnEvent)>,
    next_conn_id: u64,
    /// The primary's dial, if any; results of other dials are stale.
    dial: Option<Dial>,
    /// A connection the neighbour opened while one of ours was in
    /// OpenConfirm: it waits for that one's outcome (see `offer`).
    waiting: Option<BoxStream>,
    backoff: Backoff,
    /// Closed for `--max-prefix`: no dial, no connection taken.
    hold: Option<MaxPrefixHold>,
    /// Held down by the operator (`neighbor shutdown`): no dial, no
    /// connection taken, no expiry.
    admin_down: bool,
    /// BFD failed: no dial, no connection taken, until it is Up again.
    bfd_held: bool,
    /// Why BFD closed the Established session, for its `SessionDown`.
    bfd_down: Option<String>,
    restart_at: Option<Instant>,
    /// Discovery lost the neighbour while Established: end at the next down.
    neighbour_lost: bool,
    /// Why the task is ending, once it is.
    ending: Option<&'static str>,
    pending: VecDeque<(Which, Event)>,
    /// Connections closed while their last messages (a NOTIFICATION) may
    /// still be queued: the task waits for them before it ends, or a
    /// process exit right after would lose the NOTIFICATION.
    closing: Vec<Conn>,
    status: SessionStatus,
    status_tx: watch::Sender<SessionStatus>,
    /// Messages for the routes task, sent (awaited) after each event.
    to_routes: Vec<ToRoutes>,
    /// The FSM whose session is Established, if any.
    established: Option<Which>,
    /// UPDATEs from the routes task, while Established.
    outgoing: Option<mpsc::UnboundedReceiver<Outgoing>>,
    /// How to read this peer's UPDATEs, fixed at Established.
    decode_ctx: Option<DecodeContext>,
    /// The Established peer's Graceful Restart capability, if both sides
    /// advertised one: whether its routes outlive the session's end.
    graceful_restart: Option<PeerGracefulRestart>,
}

async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// "<interface>: neighbour <address>", under the interface's current name.
    fn name(&self) -> String {
        let key = self.params.key;
        match iface::name_of(&self.links.borrow(), key.ifindex) {
            Some(interface) => format!("{interface}: neighbour {}", key.addr),
            None => format!("ifindex {}: neighbour {}", key.ifindex, key.addr),
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<SessionCommand>,
        mut conn_rx: mpsc::Receiver<(u64, ConnEvent)>,
        inbound: Option<BoxStream>,
    ) {
        if self.primary.fsm.is_none() {
            warn!("{}: invalid BGP configuration; session not started", self.name());
            return;
        }
        if self.hold.is_none() && !self.admin_down && !self.bfd_held {
            self.feed(Which::Primary, Event::ManualStart);
        }
        if let Some(stream) = inbound {
            self.offer(stream);
        }
        while self.settle() {
            self.publish();
            let deadline = self.next_deadline();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(c) => self.command(c),
                    None => self.stop(None),
                },
                Some((id, event)) = conn_rx.recv() => self.conn_event(id, event),
                result = dial::outcome(&mut self.dial) => self.dialed(result),
                outgoing = recv_opt(&mut self.outgoing) => match outgoing {
                    Some(Outgoing::Updates(messages)) => self.send_updates(messages),
                    Some(Outgoing::MaxPrefixExceeded(exceeded)) => self.max_prefix_exceeded(exceeded),
                    // The routes task let the peer go (past its limit).
                    None => self.outgoing = None,
                },
                _ = sleep_until_opt(deadline) => self.timers_due(),
            }
            self.flush_routes().await;
        }
        self.flush_routes().await;
        self.abort_dial();
        self.publish();
        self.flush().await;
        debug!(
            "{}: session task ends ({})",
            self.name(),
            self.ending.unwrap_or("stopped")
        );
    }

    fn slot(&mut self, which: Which) -> Option<&mut Slot> {
        match which {
            Which::Primary => Some(&mut self.primary),
            Which::Secondary => self.secondary.as_mut(),
        }
    }

    /// Feed an event and everything it leads to.
    fn feed(&mut self, which: Which, event: Event) {
        self.pending.push_back((which, event));
        while let Some((which, event)) = self.pending.pop_front() {
            let Some(slot) = self.slot(which) else { continue };
            let Some(fsm) = slot.fsm.as_mut() else { continue };
            let before = fsm.state();
            let actions = fsm.handle(event);
            let after = fsm.state();
            if before != after {
                debug!("{}: {before} -> {after} ({which:?})", self.name());
            }
            for action in actions {
                self.act(which, action);
            }
        }
    }

    fn slot_ref(&self, which: Which) -> Option<&Slot> {
        match which {
            Which::Primary => Some(&self.primary),
            Which::Secondary => self.secondary.as_ref(),
        }
    }

    /// Carry out one action of an FSM.
    fn act(&mut self, which: Which, action: Action) {
        match action {
            Action::Send(msg) => self.send(which, &msg),
            Action::Connect => self.dial(),
            Action::AbortConnect => self.abort_dial(),
            Action::RefuseConnection | Action::CloseConnection => self.close(which),
            Action::StartTimer(timer, duration) => self.start_timer(which, timer, duration),
            Action::StopTimer(timer) => {
                if let Some(slot) = self.slot(which) {
                    slot.stop_timer(timer);
                }
            }
            Action::SessionEstablished(peer) => self.session_established(which, &peer),
            Action::SessionDown {
                reason,
                was_established,
            } => self.session_down(&reason, was_established),
            Action::Update(body) => self.received_update(which, &body),
            Action::RouteRefresh(rr) => {
                debug!("{}: ROUTE-REFRESH {rr:?}", self.name());
                self.to_routes.push(ToRoutes::Refresh);
            }
        }
    }

    fn send(&mut self, which: Which, msg: &Message) {
        if let Message::Notification(n) = msg {
            info!("{}: sending NOTIFICATION {n}", self.name());
            // Closing the losing connection of a collision is routine here
            // (both sides dial at once), not an error.
            if !is_collision_cease(n) {
                self.status.last_error = Some(format!("sent {n}"));
            }
        }
        let Some(conn) = self.slot_ref(which).and_then(|slot| slot.conn.as_ref()) else {
            return;
        };
        match conn.send(msg) {
            Ok(()) => {
                self.status.messages_sent += 1;
                count_message(&mut self.status.messages_by_type.sent, msg);
            }
            Err(e) => {
                self.status.last_error = Some(e);
                self.pending.push_back((which, Event::TcpConnectionFails));
            }
        }
    }

    /// Close the FSM's connection once what is queued on it is written.
    fn close(&mut self, which: Which) {
        if let Some(mut conn) = self.slot(which).and_then(|slot| slot.conn.take()) {
            conn.close();
            self.closing.retain(|c| !c.is_finished());
            self.closing.push(conn);
        }
    }

    fn start_timer(&mut self, which: Which, timer: Timer, duration: Duration) {
        // The session owns the reconnect policy: waiting to redial (Active),
        // exponential backoff instead of the fixed ConnectRetryTime; with a
        // dial in flight (Connect) the timer only bounds the dial.
        let redial = timer == Timer::ConnectRetry && self.slot_ref(which).is_some_and(|s| s.state() == State::Active);
        let duration = if redial { self.backoff.next() } else { duration };
        if let Some(slot) = self.slot(which) {
            slot.start_timer(timer, Instant::now() + duration);
        }
    }

    fn session_established(&mut self, which: Which, peer: &PeerInfo) {
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let info = rib::PeerInfo {
            id: self.params.key,
            asn: peer.asn,
            router_id: peer.bgp_id,
            families: rib::Families {
                // IPv4 only with an IPv6 next hop (RFC 8950).
                ipv4: peer.negotiated.ipv4_unicast && peer.negotiated.ipv4_next_hop_ipv6,
                ipv6: peer.negotiated.ipv6_unicast,
            },
        };
        let encode = EncodeContext {
            four_octet_as: peer.negotiated.four_octet_as,
        };
        self.graceful_restart = peer.negotiated.graceful_restart;
        let forwarding_kept = self.graceful_restart.map(|gr| rib::Families {
            ipv4: gr.ipv4 == Some(true),
            ipv6: gr.ipv6 == Some(true),
        });
        let restarting = self.graceful_restart.is_some_and(|gr| gr.restarted);
        self.to_routes
            .push(ToRoutes::Up(info, encode, out_tx, forwarding_kept, restarting));
        self.outgoing = Some(out_rx);
        self.established = Some(which);
        self.decode_ctx = Some(DecodeContext {
            four_octet_as: peer.negotiated.four_octet_as,
            external: !peer.internal,
        });
        self.backoff.reset();
        self.status.established_at = Some(Instant::now());
        self.status.established_count += 1;
        info!(
            "{}: session established: AS {}, router ID {}, hold {} s, {} connection",
            self.name(),
            peer.asn,
            peer.bgp_id,
            peer.hold_time,
            direction_str(peer.direction)
        );
        self.params.monitor.emit(|| self.up_event(peer));
    }

    fn session_down(&mut self, reason: &DownReason, was_established: bool) {
        match reason {
            DownReason::NotificationReceived(n) if !is_collision_cease(n) => {
                self.status.last_error = Some(format!("received {n}"))
            }
            DownReason::NotificationReceived(_) | DownReason::NotificationSent(_) | DownReason::CollisionLost => {}
            other => self.status.last_error = Some(other.to_string()),
        }
        if was_established {
            let bfd_down = self.bfd_down.take();
            let class = if bfd_down.is_some() { "bfd_down" } else { reason.class() };
            *self.status.downs.entry(class).or_default() += 1;
            self.status.last_down = Some(match (reason, bfd_down) {
                (_, Some(why)) => why,
                (DownReason::NotificationReceived(n), None) => format!("received {n}"),
                (DownReason::NotificationSent(n), None) => format!("sent {n}"),
                (other, None) => other.to_string(),
            });
            // RFC 4724 4.2, RFC 8538 4: which ways down keep its routes.
            let keep = self
                .graceful_restart
                .take()
                .filter(|gr| gr.keeps_routes(reason))
                .map(|gr| (Duration::from_secs(u64::from(gr.restart_time)), gr.listed_families()));
            self.to_routes.push(ToRoutes::Down(keep));
            // `outgoing` is kept until the routes task lets it go (at this
            // Down): a max-prefix signal it sent meanwhile still sets the
            // hold. UPDATEs on it are dropped, nothing is Established.
            self.established = None;
            self.status.established_at = None;
            info!("{}: session down: {reason}", self.name());
            self.params.monitor.emit(|| self.down_event());
        } else if *reason != DownReason::CollisionLost {
            debug!("{}: connection attempt ended: {reason}", self.name());
        }
    }

    /// RFC 7606: use what decodes, withdraw what must be, reset only when
    /// the UPDATE cannot be parsed at all.
    fn received_update(&mut self, which: Which, body: &[u8]) {
        let Some(ctx) = self.decode_ctx.as_ref() else { return };
        match update::decode(body, ctx) {
            Ok(decoded) => {
                for w in &decoded.warnings {
                    warn!(
                        "{}: UPDATE attribute {} discarded: {}",
                        self.name(),
                        w.type_code,
                        w.reason
                    );
                }
                self.status.updates_received += 1;
                match decoded.end_of_rib {
                    Some((afi, safi)) if safi == crate::msg::SAFI_UNICAST => {
                        let families = rib::Families {
                            ipv4: afi == crate::msg::AFI_IPV4,
                            ipv6: afi == crate::msg::AFI_IPV6,
                        };
                        self.to_routes.push(ToRoutes::EndOfRib(families));
                    }
                    Some(_) => {}
                    None => self.to_routes.push(ToRoutes::Update(decoded.update)),
                }
            }
            Err(UpdateError::TreatAsWithdraw { withdrawn, reason }) => {
                warn!(
                    "{}: malformed UPDATE treated as withdraw ({}): {}",
                    self.name(),
                    withdrawn.len(),
                    reason.reason
                );
                self.to_routes.push(ToRoutes::Update(Update {
                    withdrawn,
                    ..Update::default()
                }));
            }
            Err(UpdateError::Reset(m)) => {
                warn!("{}: malformed UPDATE: {}", self.name(), m.reason);
                self.pending.push_back((which, Event::MessageError(m.notification)));
            }
        }
    }

    /// Write the routes task's UPDATEs on the Established connection.
    fn send_updates(&mut self, messages: Vec<Vec<u8>>) {
        let Some(which) = self.established else { return };
        let mut failed = None;
        let mut sent = 0;
        if let Some(conn) = self.slot(which).and_then(|s| s.conn.as_ref()) {
            for bytes in messages {
                if let Err(e) = conn.send_raw(bytes) {
                    failed = Some(e);
                    break;
                }
                sent += 1;
            }
        }
        // Every message counted once, in each count that holds it.
        self.status.messages_by_type.sent.update += sent;
        self.status.updates_sent += sent;
        self.status.messages_sent += sent;
        match failed {
            Some(e) => {
                self.status.last_error = Some(e);
                self.feed(which, Event::TcpConnectionFails);
            }
            None => self.feed(which, Event::UpdateSent),
        }
    }

    /// The routes task took the peer out of the RIB for `--max-prefix`:
    /// Cease / Maximum Number of Prefixes Reached, then no session for
    /// `--max-prefix-restart` (0: until a reload clears the hold). The
    /// hold is set even when the session went down just before the signal
    /// came: else the next session would get the same table and close again.
    fn max_prefix_exceeded(&mut self, exceeded: PrefixLimitExceeded) {
        let restart = self.max_prefix_restart();
        let until = (!restart.is_zero()).then(|| Instant::now() + restart);
        self.hold = Some(MaxPrefixHold { until });
        let PrefixLimitExceeded {
            afi,
            safi,
            limit,
            accepted,
        } = exceeded;
        let held = match until {
            Some(_) => format!("no new session for {} s", restart.as_secs()),
            None => "no new session until a reload (max-prefix-restart 0)".to_string(),
        };
        let Some(which) = self.established else {
            warn!(
                "{}: {accepted} prefixes, more than the limit of {limit}; the session was already down; {held}",
                self.name()
            );
            return;
        };
        warn!(
            "{}: {accepted} prefixes, more than the limit of {limit}: closing (Cease, Maximum Number of Prefixes Reached); {held}",
            self.name()
        );
        self.feed(which, Event::MaxPrefixExceeded { afi, safi, limit });
        // After the FSM's SessionDown, which wrote its own.
        self.status.last_down = Some(format!(
            "max-prefix: {accepted} prefixes, limit {limit} (sent Cease/Maximum Number of Prefixes Reached)"
        ));
    }

    fn max_prefix_restart(&self) -> Duration {
        let policies = self.params.policies.borrow();
        match iface::name_of(&self.links.borrow(), self.params.key.ifindex) {
            Some(name) => policies.for_interface(name).max_prefix_restart,
            None => policies.default.max_prefix_restart,
        }
    }

    async fn flush_routes(&mut self) {
        let key = self.params.key;
        for message in std::mem::take(&mut self.to_routes) {
            let routes = &self.params.routes;
            match message {
                ToRoutes::Up(info, encode, out, kept, restarting) => {
                    routes.peer_up_graceful(info, encode, out, kept, restarting).await;
                }
                ToRoutes::Down(None) => routes.peer_down(key).await,
                ToRoutes::Down(Some((keep, families))) => routes.peer_down_graceful(key, keep, families).await,
                ToRoutes::Update(update) => routes.update(key, update).await,
                ToRoutes::EndOfRib(families) => routes.end_of_rib(key, families).await,
                ToRoutes::Refresh => routes.refresh(key).await,
            }
        }
    }

    fn attach(&mut self, which: Which, stream: BoxStream, direction: Direction) {
        if !self.holds_connection() {
            self.take_router_id();
        }
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        debug!(
            "{}: {} connection {id} ({:?}) on {which:?}",
            self.name(),
            direction_str(direction),
            stream.ends()
        );
        let protection = stream.protection();
        let conn = Conn::start(id, stream, self.conn_tx.clone());
        if let Some(slot) = self.slot(which) {
            slot.conn = Some(conn);
            slot.protection = protection;
        }
        self.feed(which, Event::TcpConnected(direction));
    }

    /// A connection is open, or an FSM is past the point where it sent an
    /// OPEN with our router ID.
    fn holds_connection(&self) -> bool {
        self.slots()
            .any(|s| s.conn.is_some() || !matches!(s.state(), State::Idle | State::Connect | State::Active))
    }

    /// Take the current router ID, for a connection taken while the session
    /// holds none: no OPEN of ours is out, so nothing has to agree with the
    /// old one. An Established session keeps its ID until its connection
    /// ends (see `router_id::follow`).
    fn take_router_id(&mut self) {
        let current = *self.params.router_id.borrow_and_update();
        let old = self.params.fsm.router_id;
        if current.is_unspecified() || current == old {
            return;
        }
        info!("{}: router ID {current} from now on (was {old})", self.name());
        self.params.fsm.router_id = current;
        for slot in [Some(&mut self.primary), self.secondary.as_mut()].into_iter().flatten() {
            if let Some(fsm) = slot.fsm.as_mut() {
                fsm.set_router_id(current);
            }
        }
    }

    /// A connection the neighbour opened: the primary takes it if it has
    /// none; else it gets its own passive FSM until the OPENs decide.
    fn offer(&mut self, stream: BoxStream) {
        if self.admin_down {
            info!(
                "{}: administratively down: refusing its connection until `neighbor enable`",
                self.name()
            );
            drop(stream);
            return;
        }
        if self.bfd_held {
            info!(
                "{}: BFD down: refusing its connection until BFD is up again",
                self.name()
            );
            drop(stream);
            return;
        }
        if self.hold.is_some() {
            info!(
                "{}: closed for max-prefix: refusing its connection until the hold is over",
                self.name()
            );
            drop(stream);
            return;
        }
        if self.established() {
            // RFC 4271 6.8: a collision with an Established connection closes
            // the new one. Close it before sending an OPEN on it: an OPEN
            // could make the neighbour, still in OpenConfirm on our
            // Established connection, resolve the collision the other way
            // and drop the connection we keep.
            debug!("{}: Established: refusing a new connection (RFC 4271 6.8)", self.name());
            return;
        }
        if self.confirming() {
            // Our connection has its OPEN and waits for one KEEPALIVE. The
            // neighbour may have sent it already and be Established there:
            // an OPEN from us on this connection, overtaking our KEEPALIVE,
            // would make it resolve the collision the other way, while we,
            // Established, keep ours; both connections would die and the
            // session wait out a backoff. So this one waits (RFC 4271
            // DelayOpen) until the other is Established (then it is closed
            // unused) or gone (then it goes on): see `settle`.
            match self.waiting {
                None => {
                    debug!("{}: a new connection waits for the one in OpenConfirm", self.name());
                    self.waiting = Some(stream);
                }
                Some(_) => debug!("{}: a third connection is refused", self.name()),
            }
            return;
        }
        if self.primary.is_over() {
            self.restart();
        }
        match self.primary.state() {
            // Our dial is in flight and has likely reached the neighbour as
            // well: it holds two connections, as we will. Taking its
            // connection and dropping ours here could leave each side
            // keeping the connection the other one dropped (seen as a
            // 2-4 s stall at link up when both dial at once); with both
            // kept, collision resolution (RFC 4271 6.8) picks the same one
            // on both sides.
            State::Connect if self.dial.is_some() && self.secondary.is_none() => {
                self.add_secondary(stream, Direction::Inbound)
            }
            State::Connect | State::Active => self.attach(Which::Primary, stream, Direction::Inbound),
            _ if self.secondary.is_none() => self.add_secondary(stream, Direction::Inbound),
            _ => debug!("{}: a third connection is refused", self.name()),
        }
    }

    /// A second connection to the same neighbour, on its own passive FSM
    /// until the OPENs decide which one stays (RFC 4271 6.8).
    fn add_secondary(&mut self, stream: BoxStream, direction: Direction) {
        let config = FsmConfig {
            passive: true,
            ..self.params.fsm.clone()
        };
        self.secondary = Some(Slot::new(Fsm::new(config).ok()));
        self.feed(Which::Secondary, Event::ManualStart);
        self.attach(Which::Secondary, stream, direction);
    }

    fn conn_event(&mut self, id: u64, event: ConnEvent) {
        let which = if self.primary.conn.as_ref().is_some_and(|c| c.id == id) {
            Which::Primary
        } else if self
            .secondary
            .as_ref()
            .and_then(|s| s.conn.as_ref())
            .is_some_and(|c| c.id == id)
        {
            Which::Secondary
        } else {
            return; // a connection already dropped
        };
        match event {
            ConnEvent::Message(msg) => {
                self.status.messages_received += 1;
                count_message(&mut self.status.messages_by_type.received, &msg);
                if let Message::Open(open) = &msg
                    && !self.resolve_collision(which, open.bgp_id, open.asn())
                {
                    return;
                }
                self.feed(which, Event::Received(msg));
            }
            ConnEvent::Malformed(e) => {
                warn!("{}: malformed message: {e}", self.name());
                self.feed(which, Event::MessageError(e.notification()));
            }
            ConnEvent::MalformedNotification(e) => {
                warn!(
                    "{}: malformed NOTIFICATION ({e}): closing without an answer",
                    self.name()
                );
                self.feed(which, Event::MalformedNotification);
            }
            ConnEvent::Closed(why) => {
                self.status.last_error = Some(why);
                self.feed(which, Event::TcpConnectionFails);
            }
        }
    }

    /// RFC 4271 6.8, when an OPEN arrives on `which` while the other FSM has
    /// a connection. Returns false if `which` lost and was dumped.
    fn resolve_collision(&mut self, which: Which, remote_id: Ipv4Addr, remote_asn: u32) -> bool {
        let (this, other, other_which) = match which {
            Which::Primary => (&self.primary, self.secondary.as_ref(), Which::Secondary),
            Which::Secondary => (
                self.secondary.as_ref().unwrap_or(&self.primary),
                Some(&self.primary),
                Which::Primary,
            ),
        };
        let existing = other.and_then(|s| s.fsm.as_ref()).and_then(Fsm::connection);
        let new = this.fsm.as_ref().and_then(Fsm::direction);
        let (Some(existing), Some(new)) = (existing, new) else {
            return true;
        };
        let local = Speaker {
            bgp_id: self.params.fsm.router_id,
            asn: self.params.fsm.local_asn,
        };
        let remote = Speaker {
            bgp_id: remote_id,
            asn: remote_asn,
        };
        match resolve_collision(local, remote, existing, new) {
            Keep::Both => true,
            Keep::Existing => {
                info!(
                    "{}: collision: keeping the {} connection",
                    self.name(),
                    direction_str(existing.direction)
                );
                self.feed(which, Event::OpenCollisionDump);
                false
            }
            Keep::New => {
                info!(
                    "{}: collision: keeping the {} connection",
                    self.name(),
                    direction_str(new)
                );
                self.feed(other_which, Event::OpenCollisionDump);
                true
            }
        }
    }

    fn command(&mut self, command: SessionCommand) {
        match command {
            SessionCommand::Inbound(stream) => self.offer(stream),
            SessionCommand::NeighbourLost => {
                // Discovery gates new attempts; it does not end sessions,
                // nor a hold (a new session would not know of it).
                if self.established() || self.hold.is_some() {
                    self.neighbour_lost = true;
                } else {
                    self.ending = Some("neighbour lost");
                    let subcode = code::PEER_DECONFIGURED;
                    self.feed_both(Event::AutomaticStop { subcode });
                }
            }
            SessionCommand::NeighbourFound => self.neighbour_lost = false,
            SessionCommand::LinkDown => {
                self.ending = Some("link down");
                self.feed_both(Event::LinkDown);
            }
            SessionCommand::Stop { message } => self.stop(message),
            SessionCommand::Deconfigured => {
                self.ending = Some("interface no longer configured");
                let subcode = code::PEER_DECONFIGURED;
                self.feed_both(Event::AutomaticStop { subcode });
            }
            SessionCommand::ClearMaxPrefixHold => {
                if self.hold.take().is_some() {
                    info!("{}: max-prefix hold cleared", self.name());
                    self.restart_at = None;
                    if self.primary.is_over()
                        && !self.neighbour_lost
                        && self.ending.is_none()
                        && !self.admin_down
                        && !self.bfd_held
                    {
                        self.restart();
                    }
                }
            }
            SessionCommand::AdminShutdown { message } => self.admin_shutdown(message),
            SessionCommand::AdminEnable => self.admin_enable(),
            SessionCommand::Clear { soft, done } => {
                let cleared = if soft { self.soft_clear() } else { self.hard_clear() };
                let _ = done.send(cleared);
            }
            SessionCommand::NeighbourLostTeardown => {
                // The manager logged why.
                self.ending = Some("neighbour lost (teardown-on-loss)");
                let subcode = code::PEER_DECONFIGURED;
                self.feed_both(Event::AutomaticStop { subcode });
            }
            SessionCommand::BfdDown { why } => self.bfd_down(why),
            SessionCommand::BfdUp => self.bfd_up(),
        }
    }

    /// Cease / Administrative Shutdown on any connection, drop a dial and
    /// a waiting connection; the session stays, Idle, until enabled.
    fn admin_shutdown(&mut self, message: Option<String>) {
        if self.admin_down {
            return;
        }
        info!(
            "{}: administrative shutdown: no session until `neighbor enable`",
            self.name()
        );
        self.admin_down = true;
        self.waiting = None;
        self.restart_at = None;
        self.feed_both(Event::ManualStop {
            shutdown_message: message,
        });
        self.abort_dial();
    }

    /// Lift the administrative hold: dial now, unless a max-prefix hold is
    /// still in force or discovery lost the neighbour meanwhile (`settle`
    /// then waits for the hold or ends the session).
    fn admin_enable(&mut self) {
        if !self.admin_down {
            return;
        }
        info!("{}: administratively enabled", self.name());
        self.admin_down = false;
        if self.primary.is_over()
            && self.ending.is_none()
            && self.hold.is_none()
            && !self.neighbour_lost
            && !self.bfd_held
        {
            self.backoff.reset();
            self.restart();
        }
    }

    /// Cease / Administrative Reset on an Established session (the peer and
    /// we redial as after any down); a session still connecting gives up its
    /// attempt and dials again now.
    fn hard_clear(&mut self) -> Cleared {
        // BFD down: a new session would only be refused again (hold).
        if self.admin_down || self.bfd_held || self.ending.is_some() {
            return Cleared::Down;
        }
        // As FRR's `clear bgp`: a neighbour closed for --max-prefix comes
        // back now.
        if self.hold.take().is_some() {
            info!(
                "{}: cleared by the operator: max-prefix hold lifted, dialing again",
                self.name()
            );
            self.restart_at = None;
            if self.primary.is_over() && !self.neighbour_lost {
                self.backoff.reset();
                self.restart();
            }
            return Cleared::Redialing;
        }
        let established = self.established();
        info!(
            "{}: cleared by the operator: {}",
            self.name(),
            if established {
                "resetting the session"
            } else {
                "dialing again"
            }
        );
        self.waiting = None;
        self.feed_both(Event::AdministrativeReset { message: None });
        if established {
            return Cleared::Reset;
        }
        self.abort_dial();
        if self.primary.is_over() && !self.neighbour_lost {
            self.backoff.reset();
            self.restart();
        }
        Cleared::Redialing
    }

    /// ROUTE-REFRESH for each negotiated family if the peer advertised the
    /// capability (RFC 2918), and our Adj-RIB-Out again, without a reset.
    fn soft_clear(&mut self) -> Cleared {
        let Some(which) = self.established else {
            return Cleared::Down;
        };
        let families = self
            .slot_ref(which)
            .and_then(|s| s.fsm.as_ref())
            .map(Fsm::refreshable_families)
            .unwrap_or_default();
        info!(
            "{}: soft clear: {} ROUTE-REFRESH, re-sending our routes",
            self.name(),
            families.len()
        );
        self.feed(which, Event::RequestRouteRefresh);
        self.to_routes.push(ToRoutes::Refresh);
        match families.is_empty() {
            true => Cleared::NoRouteRefresh,
            false => Cleared::Refreshed(families),
        }
    }

    /// BFD saw the path or the neighbour fail: Cease / BFD Down (RFC 9384)
    /// on any connection, its routes withdrawn by the usual down; drop a
    /// dial and a waiting connection; no session until BFD is Up again.
    fn bfd_down(&mut self, why: String) {
        if self.bfd_held || self.ending.is_some() {
            return;
        }
        self.bfd_held = true;
        self.waiting = None;
        self.restart_at = None;
        // With the N bit (RFC 8538) a plain Cease would have the peer keep
        // our routes, stale, as through a restart: BFD saw the path fail,
        // so Hard Reset carrying BFD Down, as FRR sends it.
        let hard_reset = self.graceful_restart.is_some_and(|gr| gr.notification);
        match self.established {
            Some(which) => {
                let sent = if hard_reset {
                    "Hard Reset (BFD Down)"
                } else {
                    "BFD Down"
                };
                info!(
                    "{}: BFD down ({why}): closing (Cease, {sent}); no new session until BFD is up",
                    self.name()
                );
                self.bfd_down = Some(format!("BFD down: {why} (sent Cease/{sent})"));
                if hard_reset {
                    let notification = crate::msg::Notification {
                        code: code::CEASE,
                        subcode: code::HARD_RESET,
                        data: vec![code::CEASE, code::BFD_DOWN],
                    };
                    self.feed(which, Event::MessageError(notification));
                }
            }
            None => info!("{}: BFD down ({why}): no new session until BFD is up", self.name()),
        }
        // Any other connection (or the Established one without N).
        self.feed_both(Event::AutomaticStop {
            subcode: code::BFD_DOWN,
        });
        self.bfd_down = None;
        self.abort_dial();
    }

    /// BFD is Up again: lift its hold and dial now (unless another hold, or
    /// a neighbour lost meanwhile, says otherwise: see `settle`).
    fn bfd_up(&mut self) {
        if !self.bfd_held {
            return;
        }
        self.bfd_held = false;
        info!("{}: BFD up: the session may come back", self.name());
        if self.primary.is_over()
            && self.ending.is_none()
            && self.hold.is_none()
            && !self.neighbour_lost
            && !self.admin_down
        {
            self.backoff.reset();
            self.restart();
        }
    }

    fn stop(&mut self, message: Option<String>) {
        self.ending = Some("stopped");
        self.feed_both(Event::ManualStop {
            shutdown_message: message,
        });
    }

    fn feed_both(&mut self, event: Event) {
        if self.secondary.is_some() {
            self.feed(Which::Secondary, event.clone());
        }
        self.feed(Which::Primary, event);
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        std::iter::once(&self.primary).chain(self.secondary.as_ref())
    }

    fn established(&self) -> bool {
        self.slots().any(|s| s.state() == State::Established)
    }

    /// A connection has exchanged OPENs and waits for the KEEPALIVE that
    /// makes it Established.
    fn confirming(&self) -> bool {
        self.slots().any(|s| s.state() == State::OpenConfirm)
    }

    fn restart(&mut self) {
        self.restart_at = None;
        self.primary = Slot::new(Fsm::new(self.params.fsm.clone()).ok());
        self.feed(Which::Primary, Event::ManualStart);
    }

    /// Tidy up after events: drop a secondary whose connection is gone,
    /// promote a secondary that won (a collision, or Established while the
    /// primary was still dialing), schedule a restart, let waiting
    /// connections go on. False when the task ends.
    fn settle(&mut self) -> bool {
        loop {
            if self.secondary.as_ref().is_some_and(Slot::is_over) {
                self.secondary = None;
            }
            let primary_dialing = matches!(self.primary.state(), State::Connect | State::Active);
            let secondary_established = self.established == Some(Which::Secondary);
            if (self.primary.is_over() || (primary_dialing && secondary_established))
                && let Some(winner) = self.secondary.take()
            {
                // A dial now would only make a connection the neighbour
                // refuses, again and again.
                self.abort_dial();
                self.primary = winner;
                if secondary_established {
                    self.established = Some(Which::Primary);
                }
            }
            if self.primary.is_over() {
                if self.ending.is_some() {
                    return false;
                }
                if self.admin_down || self.bfd_held {
                    // Nothing to keep for a neighbour discovery lost: the
                    // manager remembers an administrative hold for its next
                    // session.
                    if self.neighbour_lost {
                        self.ending = Some("neighbour lost");
                        return false;
                    }
                    // Lifted by `neighbor enable` or BFD Up alone; a
                    // max-prefix hold that ends meanwhile is dropped when its
                    // time comes.
                    self.restart_at = self.hold.and_then(|h| h.until);
                } else if let Some(hold) = self.hold {
                    self.restart_at = hold.until;
                } else {
                    if self.neighbour_lost {
                        self.ending = Some("neighbour lost");
                        return false;
                    }
                    if self.restart_at.is_none() {
                        self.restart_at = Some(Instant::now() + self.backoff.next());
                    }
                }
            }
            if !self.release_waiting() {
                return true;
            }
        }
    }

    /// Once no connection is in OpenConfirm, the connections that waited
    /// for it go on (see `offer`). True if one did.
    fn release_waiting(&mut self) -> bool {
        if self.confirming() || self.ending.is_some() {
            return false;
        }
        if let Some(stream) = self.dial.as_mut().and_then(|d| d.connected.take()) {
            self.dial = None;
            self.attach(Which::Primary, stream, Direction::Outbound);
            return true;
        }
        if let Some(stream) = self.waiting.take() {
            self.offer(stream);
            return true;
        }
        false
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.slots()
            .filter_map(Slot::next_deadline)
            .chain(self.restart_at)
            .min()
    }

    fn timers_due(&mut self) {
        let now = Instant::now();
        if self.restart_at.is_some_and(|t| t <= now) {
            self.restart_at = None;
            if self.hold.take().is_some() {
                info!("{}: max-prefix hold over", self.name());
            }
            // A neighbour lost meanwhile ends the session instead (settle).
            if self.primary.is_over() && !self.neighbour_lost && !self.admin_down && !self.bfd_held {
                self.restart();
            }
        }
        for which in [Which::Primary, Which::Secondary] {
            for timer in Timer::ALL {
                // Looked up again each time: an expiry may end the slot.
                let Some(slot) = self.slot(which) else { continue };
                if slot.take_due(timer, now) {
                    self.feed(which, timer.expiry_event());
                }
            }
        }
    }

    fn publish(&mut self) {
        let best = match &self.secondary {
            Some(s) if progress(s.state()) > progress(self.primary.state()) => s,
            _ => &self.primary,
        };
        let peer = best.fsm.as_ref().and_then(Fsm::peer);
        self.status.state = best.state();
        self.status.remote_asn = peer.map(|p| p.asn);
        self.status.remote_id = peer.map(|p| p.bgp_id);
        self.status.direction = best.fsm.as_ref().and_then(Fsm::direction);
        self.status.hold_time = peer.map_or(self.params.fsm.hold_time, |p| p.hold_time);
        self.status.keepalive_s = peer.and_then(|p| p.keepalive).map(|k| k.as_secs());
        self.status.protection = best.protection;
        self.status.max_prefix_hold = self.hold;
        self.status.admin_down = self.admin_down;
        self.status.graceful_restart = peer.is_some_and(|p| p.negotiated.graceful_restart.is_some());
        self.status.bfd_held = self.bfd_held;
        let status = self.status.clone();
        self.status_tx.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    /// Let the writers drain (a NOTIFICATION we just queued) before the
    /// task ends.
    async fn flush(&mut self) {
        let conns: Vec<Conn> = [
            self.primary.conn.take(),
            self.secondary.as_mut().and_then(|s| s.conn.take()),
        ]
        .into_iter()
        .flatten()
        .chain(self.closing.drain(..))
        .collect();
        for conn in conns {
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, conn.finish()).await;
        }
    }
}

fn is_collision_cease(n: &crate::msg::Notification) -> bool {
    n.code == code::CEASE && n.subcode == code::CONNECTION_COLLISION_RESOLUTION
}

/// One more message of `msg`'s type.
fn count_message(counts: &mut MessageCounts, msg: &Message) {
    let count = match msg {
        Message::Open(_) => &mut counts.open,
        Message::Update(_) => &mut counts.update,
        Message::Notification(_) => &mut counts.notification,
        Message::Keepalive => &mut counts.keepalive,
        Message::RouteRefresh(_) => &mut counts.route_refresh,
    };
    *count += 1;
}

pub fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Outbound => "outbound",
        Direction::Inbound => "inbound",
    }
}

#[cfg(test)]
mod tests;
