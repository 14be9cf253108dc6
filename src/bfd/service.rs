//! The BFD task: owns the receiving socket and every session (one per
//! neighbour, with its own sending socket), runs their timers, and tells
//! its consumer (the BGP manager, once wired) when a session comes Up or
//! goes Down.
//!
//! Received packets are checked (hop limit 255, RFC 5881 5; the codec's
//! checks, RFC 5880 6.8.6) and demultiplexed by Your Discriminator, or by
//! (interface, source address) when it is 0 (RFC 5880 6.3; the peer has not
//! learnt ours yet). What is dropped is counted by reason.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::packet::{ControlPacket, Diag, State};
use super::session::{Action, Session, Timers, Transition};
use super::socket::{CONTROL_PORT, HOP_LIMIT, ReceiveSocket, Received, SOURCE_PORTS, SendSocket};
use crate::actor::{self, Commands, Inbox, Reply, Stopped, Task};
use crate::time::{now, sleep_until_opt};

const STAGE: &str = "BFD";

/// A removed session sends AdminDown this long before it is forgotten
/// (RFC 5880 6.8.16), so the peer sees it even if one packet is lost and
/// takes the session down as intended, not as a failure (RFC 5882 3.2).
const LINGER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct BfdConfig {
    /// The port the peers listen on: 3784, another in tests.
    pub peer_port: u16,
}

impl Default for BfdConfig {
    fn default() -> Self {
        BfdConfig {
            peer_port: CONTROL_PORT,
        }
    }
}

/// A neighbour: its link-local on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    pub ifindex: u32,
    pub addr: Ipv6Addr,
}

/// What the consumer hears: a session came Up, or left Up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BfdEvent {
    Up(PeerKey),
    Down {
        peer: PeerKey,
        diag: Diag,
        /// The path or the peer failed: the client session should end. Not
        /// when the peer took its session down on purpose (RFC 5882 3.2).
        failure: bool,
    },
}

/// One session as the `sessions` view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub peer: PeerKey,
    pub state: State,
    pub remote_state: State,
    pub diag: Diag,
    pub local_discr: u32,
    pub remote_discr: u32,
    pub source_port: u16,
    pub transmit_interval: Option<Duration>,
    pub detection_time: Option<Duration>,
    /// Removed, sending AdminDown until it is forgotten.
    pub leaving: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BfdView {
    pub sessions: Vec<SessionView>,
    /// Received packets dropped, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    pub send_errors: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Stopped(#[from] Stopped),
    #[error("no BFD source socket: {0}")]
    Socket(#[source] io::Error),
}

enum Command {
    Add {
        peer: PeerKey,
        timers: Timers,
        reply: Reply<io::Result<()>>,
    },
    Remove(PeerKey),
    View(Reply<BfdView>),
}

#[derive(Clone)]
pub struct BfdHandle {
    commands: Commands<Command>,
}

impl BfdHandle {
    /// Start a session with `peer`, or give its session new timers.
    pub async fn add(&self, peer: PeerKey, timers: Timers) -> Result<(), AddError> {
        let answer = self.commands.ask(|reply| Command::Add { peer, timers, reply }).await?;
        answer.map_err(AddError::Socket)
    }

    /// End the session with `peer` (AdminDown first); no event follows.
    pub async fn remove(&self, peer: PeerKey) -> Result<(), Stopped> {
        self.commands.tell(Command::Remove(peer)).await
    }

    pub async fn view(&self) -> Result<BfdView, Stopped> {
        self.commands.ask(Command::View).await
    }
}

/// Start the BFD task on `socket`. Events go on an unbounded channel: the
/// task must never wait on its consumer, or its packets would be late and
/// the peers' sessions would fail; there are two events per flap.
pub fn spawn(config: BfdConfig, socket: ReceiveSocket, events: mpsc::UnboundedSender<BfdEvent>) -> (BfdHandle, Task) {
    let (commands, inbox) = actor::channel(STAGE, 64);
    let service = Service {
        config,
        socket,
        events,
        commands: inbox,
        sessions: HashMap::new(),
        by_discr: HashMap::new(),
        dropped: BTreeMap::new(),
        send_errors: 0,
    };
    let task = commands.spawn(service.run());
    (BfdHandle { commands }, task)
}

struct Entry {
    session: Session,
    socket: SendSocket,
    /// Removed: forgotten at this time.
    leaving_at: Option<Instant>,
}

impl Entry {
    fn next_deadline(&self) -> Option<Instant> {
        match (self.session.next_deadline(), self.leaving_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

struct Service {
    config: BfdConfig,
    socket: ReceiveSocket,
    events: mpsc::UnboundedSender<BfdEvent>,
    commands: Inbox<Command>,
    sessions: HashMap<PeerKey, Entry>,
    /// Our discriminator -> the session it names.
    by_discr: HashMap<u32, PeerKey>,
    dropped: BTreeMap<&'static str, u64>,
    send_errors: u64,
}

impl Service {
    async fn run(mut self) {
        let mut buf = vec![0u8; 1500];
        loop {
            // A scan per turn: a few hundred sessions cost microseconds.
            let deadline = self.sessions.values().filter_map(Entry::next_deadline).min();
            tokio::select! {
                received = self.socket.recv(&mut buf) => match received {
                    Ok(rx) => {
                        let len = rx.len.min(buf.len());
                        self.received(rx, &buf[..len]);
                    }
                    Err(e) => warn!("BFD receive failed: {e}"),
                },
                _ = sleep_until_opt(deadline) => self.poll_due(),
                command = self.commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => return,
                },
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Add { peer, timers, reply } => {
                let _ = reply.send(self.add(peer, timers));
            }
            Command::Remove(peer) => self.remove(peer),
            Command::View(reply) => {
                let _ = reply.send(self.view());
            }
        }
        self.poll_due();
    }

    fn add(&mut self, peer: PeerKey, timers: Timers) -> io::Result<()> {
        let now = now();
        if let Some(entry) = self.sessions.get_mut(&peer) {
            if entry.leaving_at.is_none() {
                entry.session.set_timers(timers, now);
                return Ok(());
            }
            // Removed and added again: a new session, a new discriminator.
            self.forget(peer);
        }
        let mut socket = SendSocket::bind(rand::random_range(SOURCE_PORTS))?;
        let to = SocketAddrV6::new(peer.addr, self.config.peer_port, 0, peer.ifindex);
        if let Err(e) = socket.connect(to) {
            // Sent unconnected instead (a route lookup per packet).
            debug!("BFD socket to {}%{} not connected: {e}", peer.addr, peer.ifindex);
        }
        let discr = loop {
            let candidate: u32 = rand::random();
            if candidate != 0 && !self.by_discr.contains_key(&candidate) {
                break candidate;
            }
        };
        debug!(
            "BFD session with {}%{} from port {}, discriminator {discr:#x}",
            peer.addr,
            peer.ifindex,
            socket.port()
        );
        self.by_discr.insert(discr, peer);
        let entry = Entry {
            session: Session::new(timers, discr, now),
            socket,
            leaving_at: None,
        };
        self.sessions.insert(peer, entry);
        Ok(())
    }

    fn remove(&mut self, peer: PeerKey) {
        let now = now();
        if let Some(entry) = self.sessions.get_mut(&peer)
            && entry.leaving_at.is_none()
        {
            entry.session.disable(now);
            entry.leaving_at = Some(now + LINGER);
        }
    }

    fn forget(&mut self, peer: PeerKey) {
        if let Some(entry) = self.sessions.remove(&peer) {
            self.by_discr.remove(&entry.session.local_discr());
        }
    }

    fn drop_packet(&mut self, reason: &'static str) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    fn received(&mut self, rx: Received, bytes: &[u8]) {
        if rx.hop_limit != HOP_LIMIT {
            return self.drop_packet("hop_limit");
        }
        let packet = match ControlPacket::decode(bytes) {
            Ok(packet) => packet,
            Err(e) => {
                debug!("BFD packet from {}%{} dropped: {e}", rx.src, rx.ifindex);
                return self.drop_packet(e.kind());
            }
        };
        let from = PeerKey {
            ifindex: rx.ifindex,
            addr: rx.src,
        };
        if packet.your_discr != 0 {
            match self.by_discr.get(&packet.your_discr) {
                None => return self.drop_packet("unknown_discriminator"),
                // Single hop: a discriminator is only good from its neighbour.
                Some(peer) if *peer != from => return self.drop_packet("wrong_source"),
                Some(_) => {}
            }
        }
        let now = now();
        let Some(entry) = self.sessions.get_mut(&from) else {
            return self.drop_packet("no_session");
        };
        let actions = entry.session.receive(&packet, now);
        self.act(from, actions);
        // An answer due at once (a state change, a Final) goes now.
        self.poll(from, now);
    }

    /// Poll every session that is due; forget those done leaving.
    fn poll_due(&mut self) {
        let now = now();
        let due: Vec<PeerKey> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.next_deadline().is_some_and(|at| at <= now))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            self.poll(peer, now);
        }
    }

    fn poll(&mut self, peer: PeerKey, now: Instant) {
        let Some(entry) = self.sessions.get_mut(&peer) else {
            return;
        };
        if entry.leaving_at.is_some_and(|at| at <= now) {
            return self.forget(peer);
        }
        if entry.session.next_deadline().is_some_and(|at| at <= now) {
            let actions = entry.session.poll(now, rand::random());
            self.act(peer, actions);
        }
    }

    fn act(&mut self, peer: PeerKey, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(packet) => self.send(peer, &packet),
                Action::StateChanged(transition) => self.changed(peer, transition),
            }
        }
    }

    fn send(&mut self, peer: PeerKey, packet: &ControlPacket) {
        let Some(entry) = self.sessions.get(&peer) else {
            return;
        };
        let to = SocketAddrV6::new(peer.addr, self.config.peer_port, 0, peer.ifindex);
        if let Err(e) = entry.socket.try_send(to, &packet.encode()) {
            self.send_errors += 1;
            debug!("BFD send to {}%{} failed: {e}", peer.addr, peer.ifindex);
        }
    }

    fn changed(&mut self, peer: PeerKey, t: Transition) {
        let leaving = self.sessions.get(&peer).is_some_and(|e| e.leaving_at.is_some());
        let event = if t.to == State::Up {
            info!("BFD {}%{}: Up", peer.addr, peer.ifindex);
            Some(BfdEvent::Up(peer))
        } else if t.from == State::Up {
            info!(
                "BFD {}%{}: {} -> {} ({})",
                peer.addr, peer.ifindex, t.from, t.to, t.diag
            );
            Some(BfdEvent::Down {
                peer,
                diag: t.diag,
                failure: t.is_failure(),
            })
        } else {
            debug!(
                "BFD {}%{}: {} -> {} ({})",
                peer.addr, peer.ifindex, t.from, t.to, t.diag
            );
            None
        };
        // The consumer removed the session: it hears nothing more of it.
        if let Some(event) = event.filter(|_| !leaving) {
            let _ = self.events.send(event);
        }
    }

    fn view(&self) -> BfdView {
        let mut sessions: Vec<SessionView> = self
            .sessions
            .iter()
            .map(|(peer, e)| SessionView {
                peer: *peer,
                state: e.session.state(),
                remote_state: e.session.remote_state(),
                diag: e.session.diag(),
                local_discr: e.session.local_discr(),
                remote_discr: e.session.remote_discr(),
                source_port: e.socket.port(),
                transmit_interval: e.session.transmit_interval(),
                detection_time: e.session.detection_time(),
                leaving: e.leaving_at.is_some(),
            })
            .collect();
        sessions.sort_by_key(|s| s.peer);
        BfdView {
            sessions,
            dropped: self.dropped.clone(),
            send_errors: self.send_errors,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Two services on ::1 with ports of their own, on real time (sockets):
    //! short intervals, and every wait bounded by a deadline.

    use std::net::UdpSocket;

    use super::*;

    const INTERVAL: Duration = Duration::from_millis(50);
    const MULT: u8 = 3;
    const WAIT: Duration = Duration::from_secs(5);

    struct Side {
        handle: BfdHandle,
        events: mpsc::UnboundedReceiver<BfdEvent>,
        port: u16,
        _task: Task,
    }

    fn lo() -> PeerKey {
        PeerKey {
            ifindex: nix::net::if_::if_nametoindex("lo").expect("a loopback interface"),
            addr: Ipv6Addr::LOCALHOST,
        }
    }

    /// Two services, each the other's peer at ::1 on lo.
    fn two_services() -> (Side, Side) {
        let sock_a = ReceiveSocket::bind(0).unwrap();
        let sock_b = ReceiveSocket::bind(0).unwrap();
        let (port_a, port_b) = (sock_a.local_port().unwrap(), sock_b.local_port().unwrap());
        let side = |socket, port, peer_port| {
            let (tx, events) = mpsc::unbounded_channel();
            let (handle, task) = spawn(BfdConfig { peer_port }, socket, tx);
            Side {
                handle,
                events,
                port,
                _task: task,
            }
        };
        (side(sock_a, port_a, port_b), side(sock_b, port_b, port_a))
    }

    async fn next_event(side: &mut Side) -> BfdEvent {
        tokio::time::timeout(WAIT, side.events.recv())
            .await
            .expect("an event in time")
            .expect("the service runs")
    }

    async fn both_up() -> (Side, Side) {
        let (mut a, mut b) = two_services();
        let timers = Timers::symmetric(INTERVAL, MULT);
        a.handle.add(lo(), timers).await.unwrap();
        b.handle.add(lo(), timers).await.unwrap();
        assert_eq!(next_event(&mut a).await, BfdEvent::Up(lo()));
        assert_eq!(next_event(&mut b).await, BfdEvent::Up(lo()));
        (a, b)
    }

    /// Poll `view` until `check` holds, or fail at the deadline.
    async fn view_until(side: &Side, check: impl Fn(&BfdView) -> bool) -> BfdView {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let view = side.handle.view().await.unwrap();
            if check(&view) {
                return view;
            }
            assert!(tokio::time::Instant::now() < deadline, "not reached: {view:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn two_services_come_up_and_a_silent_one_is_detected_within_the_detection_time() {
        let (mut a, b) = both_up().await;
        // A goes Up on B's Init and sends at 50 ms at once; B's Up follows.
        let view = view_until(&a, |v| v.sessions[0].remote_state == State::Up).await;
        let session = &view.sessions[0];
        assert_eq!((session.state, session.remote_state), (State::Up, State::Up));
        assert_eq!(session.detection_time, Some(INTERVAL * u32::from(MULT)));
        assert!(SOURCE_PORTS.contains(&session.source_port));
        assert_eq!(view.dropped, BTreeMap::new());
        // B stops: its task ends with its handle, without a word.
        drop(b);
        let silent_since = tokio::time::Instant::now();
        let event = next_event(&mut a).await;
        let took = silent_since.elapsed();
        assert_eq!(
            event,
            BfdEvent::Down {
                peer: lo(),
                diag: Diag::ControlDetectionTimeExpired,
                failure: true
            }
        );
        // The detection time after B's last packet: that came at most an
        // interval before B stopped (or one more, sent as it stopped), plus
        // scheduling on a busy machine.
        let detection = INTERVAL * u32::from(MULT);
        assert!(took >= detection - INTERVAL, "{took:?}");
        assert!(took <= detection + INTERVAL + Duration::from_millis(150), "{took:?}");
    }

    #[tokio::test]
    async fn a_removed_session_says_admin_down_and_the_peer_sees_no_failure() {
        let (mut a, mut b) = both_up().await;
        b.handle.remove(lo()).await.unwrap();
        assert_eq!(
            next_event(&mut a).await,
            BfdEvent::Down {
                peer: lo(),
                diag: Diag::NeighborSignaledSessionDown,
                failure: false
            }
        );
        let view = view_until(&b, |v| v.sessions.is_empty()).await;
        assert!(view.sessions.is_empty(), "forgotten after lingering");
        assert!(b.events.try_recv().is_err(), "no event for a removed session");
        // A waits in Down for a peer that comes back.
        let view = a.handle.view().await.unwrap();
        assert_eq!(view.sessions[0].state, State::Down);
        b.handle.add(lo(), Timers::symmetric(INTERVAL, MULT)).await.unwrap();
        assert_eq!(next_event(&mut a).await, BfdEvent::Up(lo()));
        assert_eq!(next_event(&mut b).await, BfdEvent::Up(lo()));
    }

    #[tokio::test]
    async fn packets_with_a_low_hop_limit_or_authentication_are_dropped_and_counted() {
        let (mut a, _b) = two_services();
        // A has a session with ::1, so a packet that got through would count.
        a.handle.add(lo(), Timers::symmetric(INTERVAL, MULT)).await.unwrap();
        let forged = UdpSocket::bind("[::1]:0").unwrap();
        // v1, Down, mult 3, length 24, my discriminator 9, the rest 0.
        let mut down = [0u8; 24];
        down[..8].copy_from_slice(&[0x20, 0x40, 3, 24, 0, 0, 0, 9]);
        assert!(ControlPacket::decode(&down).is_ok());
        socket2::SockRef::from(&forged).set_unicast_hops_v6(64).unwrap();
        forged.send_to(&down, ("::1", a.port)).unwrap();
        socket2::SockRef::from(&forged).set_unicast_hops_v6(255).unwrap();
        down[1] |= 0x04; // A bit, with a simple-password section
        down[3] = 29;
        let mut auth = down.to_vec();
        auth.extend_from_slice(&[1, 5, 0, b'p', b'w']);
        forged.send_to(&auth, ("::1", a.port)).unwrap();
        let view = view_until(&a, |v| v.dropped.len() == 2).await;
        assert_eq!(
            view.dropped,
            BTreeMap::from([("auth_not_supported", 1), ("hop_limit", 1)])
        );
        assert!(a.events.try_recv().is_err());
    }
}
