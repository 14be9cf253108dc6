//! One BFD session in Asynchronous mode (RFC 5880 6.8): the state
//! machine, its two timers (transmit and detection) and the Poll Sequence.
//!
//! Pure and Sans-IO: the caller hands in received packets and the time,
//! calls [`Session::poll`] when [`Session::next_deadline`] is reached, and
//! sends what comes out. The random part of the transmit jitter is an
//! argument too, so tests choose it.
//!
//! Not supported (as FRR's bfdd and BIRD by default): Demand mode (we never
//! set D and ignore the peer's), the Echo function (we advertise a Required
//! Min Echo RX Interval of 0, so the peer sends us none) and authentication
//! (the codec refuses packets with the A bit).
//!
//! Choices where RFC 5880 leaves room:
//! - We are always Active (6.1): we send from the start, without waiting
//!   for the peer.
//! - A change of our state is sent at once (as FRR and BIRD do), not at
//!   the next periodic packet: the handshake takes a round trip per step
//!   instead of a second.
//! - Going Up, the desired TX drops from the 1 s floor of 6.8.3 to the
//!   configured one, with a Poll Sequence. A faster TX or a slower RX
//!   applies at once; a slower TX or a faster RX only when the Final comes
//!   back (6.8.3), so the peer's detection time always covers our packets.

use std::time::{Duration, Instant};

use super::packet::{ControlPacket, Diag, State};

/// RFC 5880 6.8.3: while a session is not Up, the desired min TX interval
/// is at least one second.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// What we ask for: bfd.DesiredMinTxInterval, bfd.RequiredMinRxInterval
/// and bfd.DetectMult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub detect_mult: u8,
}

impl Timers {
    /// The same interval both ways, as `--bfd-interval` will give it.
    pub fn symmetric(interval: Duration, detect_mult: u8) -> Timers {
        Timers {
            desired_min_tx: interval,
            required_min_rx: interval,
            detect_mult,
        }
    }
}

/// A change of the session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    /// Why (bfd.LocalDiag after the change; `None` going Up).
    pub diag: Diag,
    /// The peer's state as its last packet gave it.
    pub remote: State,
}

impl Transition {
    /// An Up session that went down because the path or the peer failed:
    /// what a client protocol acts on. Not when we or the peer took the
    /// session down on purpose (RFC 5882 3.2: a peer in AdminDown is not a
    /// failure of the path, so the client keeps its session).
    pub fn is_failure(&self) -> bool {
        self.from == State::Up
            && self.to != State::Up
            && self.diag != Diag::AdministrativelyDown
            && self.remote != State::AdminDown
    }
}

/// What the caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send(ControlPacket),
    StateChanged(Transition),
}

/// What the peer's last packet said (RFC 5880 6.8.1, bfd.Remote*).
#[derive(Debug, Clone, Copy)]
struct Remote {
    discr: u32,
    state: State,
    desired_min_tx: Duration,
    /// Initialized to 1 us (6.8.1): we send before we know what it wants.
    required_min_rx: Duration,
    /// 0 until a packet came: no detection time yet.
    detect_mult: u8,
}

#[derive(Debug)]
pub struct Session {
    config: Timers,
    local_discr: u32,
    state: State,
    diag: Diag,
    remote: Remote,
    /// What our packets carry (bfd.DesiredMinTxInterval and
    /// bfd.RequiredMinRxInterval).
    advertised_tx: Duration,
    advertised_rx: Duration,
    /// What our timers use: the advertised values once the peer has
    /// acknowledged them, if applying them earlier could make it time out.
    tx_in_use: Duration,
    rx_in_use: Duration,
    /// A Poll Sequence runs: our packets carry P until a Final comes.
    polling: bool,
    /// The values changed again during the Poll Sequence: another follows
    /// (RFC 5880 6.5: one at a time).
    repoll: bool,
    /// A Poll was received: the next packet, sent at once, carries F.
    final_due: bool,
    next_tx: Option<Instant>,
    detect_at: Option<Instant>,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn from_micros(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

/// RFC 5880 6.8.7: each interval is reduced by a random 0-25 % (10-25 %
/// with a detect multiplier of 1, so that one late packet cannot expire the
/// peer's detection time). `random` is in [0, 1].
pub fn jittered(interval: Duration, detect_mult: u8, random: f64) -> Duration {
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let span = if detect_mult == 1 { 0.15 } else { 0.25 };
    interval.mul_f64(0.75 + span * random)
}

impl Session {
    /// A new session, Down, sending at once. `local_discr` must be non-zero
    /// and unique among the caller's sessions (RFC 5880 6.8.1).
    pub fn new(config: Timers, local_discr: u32, now: Instant) -> Session {
        debug_assert!(local_discr != 0, "discriminator 0 is reserved");
        let advertised_tx = config.desired_min_tx.max(SLOW_TX);
        Session {
            config,
            local_discr,
            state: State::Down,
            diag: Diag::None,
            remote: Remote {
                discr: 0,
                state: State::Down,
                desired_min_tx: Duration::ZERO,
                required_min_rx: Duration::from_micros(1),
                detect_mult: 0,
            },
            advertised_tx,
            advertised_rx: config.required_min_rx,
            tx_in_use: advertised_tx,
            rx_in_use: config.required_min_rx,
            polling: false,
            repoll: false,
            final_due: false,
            next_tx: Some(now),
            detect_at: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn diag(&self) -> Diag {
        self.diag
    }

    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    pub fn remote_discr(&self) -> u32 {
        self.remote.discr
    }

    pub fn remote_state(&self) -> State {
        self.remote.state
    }

    pub fn timers(&self) -> Timers {
        self.config
    }

    pub fn is_polling(&self) -> bool {
        self.polling
    }

    /// RFC 5880 6.8.7: the larger of our desired min TX and the peer's
    /// required min RX, before jitter. None when the peer asked for no
    /// packets (required min RX 0).
    pub fn transmit_interval(&self) -> Option<Duration> {
        (!self.remote.required_min_rx.is_zero()).then(|| self.tx_in_use.max(self.remote.required_min_rx))
    }

    /// RFC 5880 6.8.4: the peer's detect multiplier times the agreed
    /// interval (the larger of our required min RX and its desired min TX).
    /// None before its first packet.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote.detect_mult != 0)
            .then(|| self.rx_in_use.max(self.remote.desired_min_tx) * u32::from(self.remote.detect_mult))
    }

    /// When [`Session::poll`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A packet demultiplexed to this session (RFC 5880 6.8.6, the part
    /// after the codec's checks). Whatever must be sent in answer is due at
    /// once: the caller polls at [`Session::next_deadline`].
    pub fn receive(&mut self, packet: &ControlPacket, now: Instant) -> Vec<Action> {
        if packet.your_discr != 0 && packet.your_discr != self.local_discr {
            return Vec::new();
        }
        self.remote = Remote {
            discr: packet.my_discr,
            state: packet.state,
            desired_min_tx: from_micros(packet.desired_min_tx_us),
            required_min_rx: from_micros(packet.required_min_rx_us),
            detect_mult: packet.detect_mult,
        };
        if packet.final_ && self.polling {
            self.poll_finished(now);
        }
        if packet.poll {
            self.final_due = true;
            self.next_tx = Some(now);
        } else if self.next_tx.is_none() && self.transmit_interval().is_some() {
            // The peer wanted no packets (Required Min RX 0) and now wants
            // them again, maybe without a Poll (RFC 5880 6.8.3): resume.
            self.next_tx = Some(now);
        }
        if self.state == State::AdminDown {
            return Vec::new();
        }
        self.detect_at = self.detection_time().map(|d| now + d);
        // The state table of RFC 5880 6.8.6 (we are not in AdminDown here).
        let next = match (self.state, packet.state) {
            (State::Down, State::Down) => Some((State::Init, self.diag)),
            (State::Down, State::Init) => Some((State::Up, Diag::None)),
            (State::Down, _) => None,
            (_, State::AdminDown) => Some((State::Down, Diag::NeighborSignaledSessionDown)),
            (State::Init, State::Init | State::Up) => Some((State::Up, Diag::None)),
            (State::Up, State::Down) => Some((State::Down, Diag::NeighborSignaledSessionDown)),
            _ => None,
        };
        next.map(|(to, diag)| Action::StateChanged(self.transition(to, diag, now)))
            .into_iter()
            .collect()
    }

    /// Expire the detection time and send what is due. `random` in [0, 1]
    /// picks the jitter of the next transmit interval.
    pub fn poll(&mut self, now: Instant, random: f64) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.detect_at.is_some_and(|at| now >= at) {
            self.detect_at = None;
            // RFC 5880 6.8.1: the peer is gone; a new one will send us 0.
            self.remote.discr = 0;
            if matches!(self.state, State::Init | State::Up) {
                let transition = self.transition(State::Down, Diag::ControlDetectionTimeExpired, now);
                actions.push(Action::StateChanged(transition));
            }
        }
        if self.next_tx.is_some_and(|at| now >= at) {
            actions.push(Action::Send(self.packet()));
            self.final_due = false;
            self.next_tx = self
                .transmit_interval()
                .map(|interval| now + jittered(interval, self.config.detect_mult, random));
        }
        actions
    }

    /// Take the session administratively down (RFC 5880 6.8.16): it sends
    /// AdminDown, ignores the peer and detects nothing until
    /// [`Session::enable`].
    pub fn disable(&mut self, now: Instant) -> Option<Transition> {
        (self.state != State::AdminDown).then(|| {
            self.detect_at = None;
            self.transition(State::AdminDown, Diag::AdministrativelyDown, now)
        })
    }

    /// Leave AdminDown for Down, to start a handshake again.
    pub fn enable(&mut self, now: Instant) -> Option<Transition> {
        (self.state == State::AdminDown).then(|| self.transition(State::Down, self.diag, now))
    }

    /// New timers from the configuration. While Up they are negotiated with
    /// a Poll Sequence (RFC 5880 6.8.3).
    pub fn set_timers(&mut self, config: Timers, now: Instant) {
        self.config = config;
        self.advertise_config(now);
    }

    fn transition(&mut self, to: State, diag: Diag, now: Instant) -> Transition {
        let from = self.state;
        self.state = to;
        self.diag = diag;
        if to != State::Up {
            self.polling = false;
            self.repoll = false;
        }
        self.advertise_config(now);
        // Tell the peer at once.
        self.next_tx = Some(now);
        Transition {
            from,
            to,
            diag,
            remote: self.remote.state,
        }
    }

    /// Advertise the configured timers, with the 1 s floor while not Up.
    fn advertise_config(&mut self, now: Instant) {
        let tx = if self.state == State::Up {
            self.config.desired_min_tx
        } else {
            self.config.desired_min_tx.max(SLOW_TX)
        };
        let rx = self.config.required_min_rx;
        if (tx, rx) == (self.advertised_tx, self.advertised_rx) {
            return;
        }
        self.advertised_tx = tx;
        self.advertised_rx = rx;
        if self.state != State::Up {
            // Nothing to negotiate: the peer takes each packet's values.
            self.tx_in_use = tx;
            self.rx_in_use = rx;
            return;
        }
        // Until the peer acknowledges: never send slower than it may expect,
        // never expect faster than it may send.
        self.tx_in_use = self.tx_in_use.min(tx);
        self.rx_in_use = self.rx_in_use.max(rx);
        if self.polling {
            self.repoll = true;
        } else {
            self.polling = true;
            self.next_tx = Some(now);
        }
    }

    fn poll_finished(&mut self, now: Instant) {
        if self.repoll {
            // The Final answers an older Poll: keep the careful values and
            // poll for the latest ones.
            self.repoll = false;
            self.next_tx = Some(now);
            return;
        }
        self.polling = false;
        self.tx_in_use = self.advertised_tx;
        self.rx_in_use = self.advertised_rx;
    }

    fn packet(&self) -> ControlPacket {
        ControlPacket {
            diag: self.diag,
            state: self.state,
            // RFC 5880 6.5: never both; the Poll goes on in the next packet.
            poll: self.polling && !self.final_due,
            final_: self.final_due,
            cpi: false,
            demand: false,
            detect_mult: self.config.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote.discr,
            desired_min_tx_us: micros(self.advertised_tx),
            required_min_rx_us: micros(self.advertised_rx),
            required_min_echo_rx_us: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn timers(ms: u32, mult: u8) -> Timers {
        Timers::symmetric(ms * MS, mult)
    }

    fn sent(actions: &[Action]) -> Vec<ControlPacket> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(p) => Some(*p),
                Action::StateChanged(_) => None,
            })
            .collect()
    }

    fn transitions(actions: &[Action]) -> Vec<Transition> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::StateChanged(t) => Some(*t),
                Action::Send(_) => None,
            })
            .collect()
    }

    /// Two sessions joined by a lossless, instant link, run on virtual
    /// time: each step goes to the earliest deadline.
    struct Pair {
        a: Session,
        b: Session,
        now: Instant,
        /// Deliver what each side sends (a to b, b to a).
        a_to_b: bool,
        b_to_a: bool,
        /// Every transition seen, by side.
        a_log: Vec<Transition>,
        b_log: Vec<Transition>,
        /// Every packet sent, by side.
        a_sent: Vec<(Instant, ControlPacket)>,
        b_sent: Vec<(Instant, ControlPacket)>,
        /// The jitter fraction both sides use.
        random: f64,
    }

    impl Pair {
        fn new(a: Timers, b: Timers) -> Pair {
            let now = Instant::now();
            Pair {
                a: Session::new(a, 0xa, now),
                b: Session::new(b, 0xb, now),
                now,
                a_to_b: true,
                b_to_a: true,
                a_log: Vec::new(),
                b_log: Vec::new(),
                a_sent: Vec::new(),
                b_sent: Vec::new(),
                random: 1.0,
            }
        }

        /// Run until `until` (inclusive of deadlines at it).
        fn run_until(&mut self, until: Instant) {
            loop {
                let next = [self.a.next_deadline(), self.b.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min();
                let Some(next) = next.filter(|n| *n <= until) else {
                    self.now = until;
                    return;
                };
                self.now = self.now.max(next);
                let now = self.now;
                let from_a = self.a.poll(now, self.random);
                self.a_log.extend(transitions(&from_a));
                for p in sent(&from_a) {
                    self.a_sent.push((now, p));
                    if self.a_to_b {
                        let out = self.b.receive(&p, now);
                        self.b_log.extend(transitions(&out));
                    }
                }
                let from_b = self.b.poll(now, self.random);
                self.b_log.extend(transitions(&from_b));
                for p in sent(&from_b) {
                    self.b_sent.push((now, p));
                    if self.b_to_a {
                        let out = self.a.receive(&p, now);
                        self.a_log.extend(transitions(&out));
                    }
                }
            }
        }

        fn run_for(&mut self, d: Duration) {
            self.run_until(self.now + d);
        }

        fn up(a: Timers, b: Timers) -> Pair {
            let mut pair = Pair::new(a, b);
            pair.run_for(5 * SLOW_TX);
            assert_eq!((pair.a.state(), pair.b.state()), (State::Up, State::Up));
            pair
        }
    }

    fn packet(state: State, my: u32, your: u32) -> ControlPacket {
        ControlPacket {
            diag: Diag::None,
            state,
            poll: false,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_discr: my,
            your_discr: your,
            desired_min_tx_us: 300_000,
            required_min_rx_us: 300_000,
            required_min_echo_rx_us: 0,
        }
    }

    #[test]
    fn three_way_handshake_step_by_step() {
        let t0 = Instant::now();
        let mut a = Session::new(timers(300, 3), 0xa, t0);
        let mut b = Session::new(timers(300, 3), 0xb, t0);
        // A speaks first: Down, not knowing B's discriminator yet.
        let down = sent(&a.poll(t0, 1.0));
        assert_eq!(down.len(), 1);
        assert_eq!(
            (down[0].state, down[0].my_discr, down[0].your_discr),
            (State::Down, 0xa, 0)
        );
        // B: Down + Down -> Init, said at once.
        let b_moves = transitions(&b.receive(&down[0], t0));
        assert_eq!(
            b_moves,
            [Transition {
                from: State::Down,
                to: State::Init,
                diag: Diag::None,
                remote: State::Down
            }]
        );
        assert_eq!(b.next_deadline(), Some(t0));
        let init = sent(&b.poll(t0, 1.0));
        assert_eq!((init[0].state, init[0].your_discr), (State::Init, 0xa));
        // A: Down + Init -> Up.
        let a_moves = transitions(&a.receive(&init[0], t0));
        assert_eq!((a_moves[0].from, a_moves[0].to), (State::Down, State::Up));
        let up = sent(&a.poll(t0, 1.0));
        assert_eq!((up[0].state, up[0].your_discr), (State::Up, 0xb));
        // B: Init + Up -> Up.
        let b_moves = transitions(&b.receive(&up[0], t0));
        assert_eq!(
            (b_moves[0].from, b_moves[0].to, b_moves[0].diag),
            (State::Init, State::Up, Diag::None)
        );
        // Init + Down keeps Init (the peer's Down may be older than its Init).
        let mut c = Session::new(timers(300, 3), 0xc, t0);
        c.receive(&packet(State::Down, 9, 0), t0);
        assert_eq!(c.state(), State::Init);
        assert!(c.receive(&packet(State::Down, 9, 0xc), t0).is_empty());
        assert_eq!(c.state(), State::Init);
    }

    #[test]
    fn both_sides_come_up_when_both_start_at_once() {
        let mut pair = Pair::new(timers(300, 3), timers(300, 3));
        pair.run_for(10 * MS);
        assert_eq!((pair.a.state(), pair.b.state()), (State::Up, State::Up));
        // Both Poll Sequences (to 300 ms) are over within a second.
        pair.run_for(2 * SLOW_TX);
        assert_eq!(pair.a.remote_discr(), 0xb);
        assert_eq!(pair.b.remote_discr(), 0xa);
        for log in [&pair.a_log, &pair.b_log] {
            assert_eq!(log.last().map(|t| t.to), Some(State::Up));
            assert!(log.iter().all(|t| !t.is_failure()));
        }
        // Steady state: packets at 75-100 % of 300 ms, all Up, none polling.
        pair.random = 0.5;
        let before = pair.a_sent.len();
        pair.run_for(3 * SLOW_TX);
        let steady = &pair.a_sent[before + 1..];
        assert!(steady.len() >= 10, "{} packets in 3 s", steady.len());
        for w in steady.windows(2) {
            let gap = w[1].0 - w[0].0;
            assert_eq!(gap, (300 * MS).mul_f64(0.875));
            assert_eq!(w[1].1.state, State::Up);
            assert!(!w[1].1.poll && !w[1].1.final_);
        }
    }

    #[test]
    fn detection_time_expired_takes_the_session_down() {
        let mut pair = Pair::up(timers(300, 3), timers(300, 3));
        let last_from_b = pair.b_sent.last().map(|(at, _)| *at).unwrap();
        pair.b_to_a = false;
        pair.run_for(2 * SLOW_TX);
        let down = pair.a_log.iter().find(|t| t.to == State::Down).copied().unwrap();
        assert_eq!(down.from, State::Up);
        assert_eq!(down.diag, Diag::ControlDetectionTimeExpired);
        assert!(down.is_failure());
        // Exactly 3 x 300 ms after the last packet heard.
        let down_at = pair
            .a_sent
            .iter()
            .find(|(at, p)| *at > last_from_b && p.state == State::Down)
            .map(|(at, _)| *at);
        assert_eq!(down_at, Some(last_from_b + 900 * MS));
        assert_eq!(pair.a.remote_discr(), 0, "RFC 5880 6.8.1: forgotten on expiry");
        // B hears A's Down and goes down too, saying why.
        let b_down = pair.b_log.iter().find(|t| t.to == State::Down).copied().unwrap();
        assert_eq!(b_down.diag, Diag::NeighborSignaledSessionDown);
        assert!(b_down.is_failure());
    }

    #[test]
    fn detection_expiry_while_down_only_forgets_the_peer() {
        let t0 = Instant::now();
        let mut a = Session::new(timers(300, 3), 0xa, t0);
        a.receive(&packet(State::AdminDown, 9, 0), t0);
        assert_eq!((a.state(), a.remote_discr()), (State::Down, 9));
        assert_eq!(a.detection_time(), Some(900 * MS));
        assert!(transitions(&a.poll(t0 + 900 * MS, 0.0)).is_empty());
        assert_eq!((a.state(), a.remote_discr()), (State::Down, 0));
    }

    #[test]
    fn a_neighbour_that_signals_down_takes_the_session_down() {
        let mut pair = Pair::up(timers(300, 3), timers(300, 3));
        let now = pair.now;
        let moves = transitions(&pair.a.receive(&packet(State::Down, 0xb, 0xa), now));
        assert_eq!(
            moves,
            [Transition {
                from: State::Up,
                to: State::Down,
                diag: Diag::NeighborSignaledSessionDown,
                remote: State::Down
            }]
        );
        assert!(moves[0].is_failure());
        let told = sent(&pair.a.poll(now, 1.0));
        assert_eq!(
            (told[0].state, told[0].diag),
            (State::Down, Diag::NeighborSignaledSessionDown)
        );
        assert_eq!(told[0].desired_min_tx_us, 1_000_000, "slow again once not Up");
    }

    #[test]
    fn a_restarted_neighbour_is_heard_by_address_and_handshakes_again() {
        let mut pair = Pair::up(timers(300, 3), timers(300, 3));
        // B restarts: a new discriminator, and it does not know A's.
        pair.b = Session::new(timers(300, 3), 0xbb, pair.now);
        pair.run_for(10 * MS);
        assert_eq!((pair.a.state(), pair.b.state()), (State::Up, State::Up));
        assert_eq!(pair.a.remote_discr(), 0xbb);
        let a_down = pair.a_log.iter().rev().find(|t| t.to == State::Down).copied().unwrap();
        assert_eq!(a_down.diag, Diag::NeighborSignaledSessionDown);
    }

    #[test]
    fn a_neighbour_in_admin_down_is_not_a_failure() {
        let mut pair = Pair::up(timers(300, 3), timers(300, 3));
        let t = pair.b.disable(pair.now).unwrap();
        assert_eq!(
            (t.from, t.to, t.diag),
            (State::Up, State::AdminDown, Diag::AdministrativelyDown)
        );
        assert!(!t.is_failure(), "our own decision");
        pair.run_for(5 * SLOW_TX);
        let a_down: Vec<_> = pair.a_log.iter().filter(|t| t.from == State::Up).copied().collect();
        assert_eq!(
            a_down,
            [Transition {
                from: State::Up,
                to: State::Down,
                diag: Diag::NeighborSignaledSessionDown,
                remote: State::AdminDown
            }]
        );
        assert!(!a_down[0].is_failure(), "RFC 5882 3.2");
        // A waits in Down (no Init towards an AdminDown peer); B ignores A.
        assert_eq!((pair.a.state(), pair.b.state()), (State::Down, State::AdminDown));
        let last = pair.b_sent.last().unwrap().1;
        assert_eq!((last.state, last.diag), (State::AdminDown, Diag::AdministrativelyDown));
        // Back: a new handshake.
        let t = pair.b.enable(pair.now).unwrap();
        assert_eq!((t.from, t.to), (State::AdminDown, State::Down));
        pair.run_for(10 * MS);
        assert_eq!((pair.a.state(), pair.b.state()), (State::Up, State::Up));
    }

    #[test]
    fn admin_down_detects_nothing_and_ignores_the_peer() {
        let mut pair = Pair::up(timers(300, 3), timers(300, 3));
        assert!(pair.a.disable(pair.now).is_some());
        assert_eq!(pair.a.disable(pair.now), None, "already");
        let seen = pair.a_log.len();
        pair.b_to_a = false;
        pair.run_for(5 * SLOW_TX);
        pair.b_to_a = true;
        pair.run_for(5 * SLOW_TX);
        assert_eq!(pair.a.state(), State::AdminDown);
        assert_eq!(pair.a_log.len(), seen, "no change: {:?}", &pair.a_log[seen..]);
        // While not Up, A sends at the 1 s floor (jitter 1.0: exactly 1 s).
        let admin: Vec<Instant> = pair.a_sent.iter().rev().take(4).map(|(at, _)| *at).collect();
        for w in admin.windows(2) {
            assert_eq!(w[0] - w[1], SLOW_TX);
        }
    }

    #[test]
    fn going_up_polls_for_the_fast_rate_and_the_final_ends_it() {
        let mut pair = Pair::new(timers(300, 3), timers(300, 3));
        pair.run_for(2 * SLOW_TX);
        // A went Up first, on B's Init: it polls; B answered with F.
        let a_polls: Vec<&ControlPacket> = pair.a_sent.iter().map(|(_, p)| p).filter(|p| p.poll).collect();
        assert!(!a_polls.is_empty());
        assert!(
            a_polls
                .iter()
                .all(|p| p.state == State::Up && p.desired_min_tx_us == 300_000)
        );
        assert!(pair.b_sent.iter().any(|(_, p)| p.final_));
        for (_, p) in pair.a_sent.iter().chain(&pair.b_sent) {
            assert!(!(p.poll && p.final_), "never both: {p:?}");
        }
        assert!(!pair.a.is_polling() && !pair.b.is_polling());
        assert_eq!(pair.a.transmit_interval(), Some(300 * MS));
        assert_eq!(pair.a.detection_time(), Some(900 * MS));
    }

    #[test]
    fn a_poll_is_answered_at_once_even_when_no_periodic_packets_are_wanted() {
        let t0 = Instant::now();
        let mut a = Session::new(timers(300, 3), 0xa, t0);
        a.poll(t0, 1.0);
        let mut quiet = packet(State::Down, 9, 0);
        quiet.required_min_rx_us = 0;
        quiet.poll = true;
        a.receive(&quiet, t0 + 10 * MS);
        assert_eq!(a.transmit_interval(), None);
        assert_eq!(a.next_deadline(), Some(t0 + 10 * MS));
        let out = sent(&a.poll(t0 + 10 * MS, 1.0));
        assert!(out[0].final_ && !out[0].poll);
        // Then nothing but the detection timer.
        assert_eq!(a.next_deadline(), a.detection_time().map(|d| t0 + 10 * MS + d));
        // The peer wants packets again, without a Poll: they resume at once.
        let mut again = packet(State::Down, 9, 0);
        again.poll = false;
        a.receive(&again, t0 + 20 * MS);
        assert!(a.transmit_interval().is_some());
        assert_eq!(a.next_deadline(), Some(t0 + 20 * MS));
        assert_eq!(sent(&a.poll(t0 + 20 * MS, 1.0)).len(), 1);
    }

    #[test]
    fn timers_are_the_larger_of_ours_and_the_peers_and_detection_uses_its_multiplier() {
        let a = Timers {
            desired_min_tx: 300 * MS,
            required_min_rx: 300 * MS,
            detect_mult: 5,
        };
        let b = Timers {
            desired_min_tx: 100 * MS,
            required_min_rx: 500 * MS,
            detect_mult: 2,
        };
        let pair = Pair::up(a, b);
        // A sends at max(its 300, B's RX 500); B at max(its 100, A's RX 300).
        assert_eq!(pair.a.transmit_interval(), Some(500 * MS));
        assert_eq!(pair.b.transmit_interval(), Some(300 * MS));
        // A expects B's packets: 2 x max(300, 100); B: 5 x max(500, 300).
        assert_eq!(pair.a.detection_time(), Some(600 * MS));
        assert_eq!(pair.b.detection_time(), Some(2500 * MS));
    }

    #[test]
    fn not_up_means_at_least_one_second_between_packets() {
        let t0 = Instant::now();
        let mut a = Session::new(timers(50, 3), 0xa, t0);
        let first = sent(&a.poll(t0, 0.0));
        assert_eq!(first[0].desired_min_tx_us, 1_000_000);
        assert_eq!(first[0].required_min_rx_us, 50_000);
        assert_eq!(a.transmit_interval(), Some(SLOW_TX));
        assert_eq!(a.next_deadline(), Some(t0 + 750 * MS), "jitter 0: 75 %");
        assert!(a.poll(t0 + 749 * MS, 0.0).is_empty());
        assert_eq!(sent(&a.poll(t0 + 750 * MS, 0.0)).len(), 1);
    }

    #[test]
    fn jitter_is_75_to_100_percent_and_at_most_90_with_multiplier_1() {
        let i = 1000 * MS;
        assert_eq!(jittered(i, 3, 0.0), 750 * MS);
        assert_eq!(jittered(i, 3, 1.0), i);
        assert_eq!(jittered(i, 3, 7.0), i, "clamped");
        assert_eq!(jittered(i, 3, f64::NAN), 750 * MS);
        assert_eq!(jittered(i, 1, 0.0), 750 * MS);
        assert_eq!(jittered(i, 1, 1.0), 900 * MS);
    }

    #[test]
    fn a_slower_tx_applies_only_after_the_final() {
        let mut pair = Pair::up(timers(300, 3), timers(300, 3));
        pair.b_to_a = false;
        pair.a.set_timers(timers(600, 3), pair.now);
        assert!(pair.a.is_polling());
        assert_eq!(pair.a.transmit_interval(), Some(300 * MS), "not before the Final");
        pair.run_for(100 * MS);
        assert_eq!(pair.a.transmit_interval(), Some(300 * MS));
        pair.b_to_a = true;
        pair.run_for(SLOW_TX);
        assert!(!pair.a.is_polling());
        assert_eq!(pair.a.transmit_interval(), Some(600 * MS));
        assert_eq!(
            pair.b.detection_time(),
            Some(1800 * MS),
            "B follows A's advertised 600 ms"
        );
    }

    #[test]
    fn a_faster_rx_applies_only_after_the_final_a_slower_one_at_once() {
        // B could send every 100 ms; A's RX of 300 holds it back.
        let b = Timers {
            desired_min_tx: 100 * MS,
            ..timers(300, 3)
        };
        let mut pair = Pair::up(timers(300, 3), b);
        assert_eq!(pair.b.transmit_interval(), Some(300 * MS));
        pair.b_to_a = false;
        pair.a.set_timers(
            Timers {
                required_min_rx: 100 * MS,
                ..timers(300, 3)
            },
            pair.now,
        );
        assert_eq!(pair.a.detection_time(), Some(900 * MS), "kept until the Final");
        pair.run_for(100 * MS);
        assert_eq!(pair.a.detection_time(), Some(900 * MS));
        pair.b_to_a = true;
        pair.run_for(SLOW_TX);
        assert!(!pair.a.is_polling());
        assert_eq!(pair.a.detection_time(), Some(300 * MS), "3 x 100 ms");
        assert_eq!(pair.b.transmit_interval(), Some(100 * MS));
        // Slower RX: the detection time grows at once.
        pair.a.set_timers(
            Timers {
                required_min_rx: 800 * MS,
                ..timers(300, 3)
            },
            pair.now,
        );
        assert_eq!(pair.a.detection_time(), Some(2400 * MS));
    }

    #[test]
    fn a_change_during_a_poll_is_polled_again() {
        let mut pair = Pair::up(timers(300, 3), timers(300, 3));
        pair.b_to_a = false;
        pair.a.set_timers(timers(400, 3), pair.now);
        pair.run_for(10 * MS);
        pair.a.set_timers(timers(500, 3), pair.now);
        // The Final to the first Poll does not end the second.
        let now = pair.now;
        let mut fin = packet(State::Up, 0xb, 0xa);
        fin.final_ = true;
        pair.a.receive(&fin, now);
        assert!(pair.a.is_polling());
        assert_eq!(pair.a.transmit_interval(), Some(300 * MS));
        pair.b_to_a = true;
        pair.run_for(SLOW_TX);
        assert!(!pair.a.is_polling());
        assert_eq!(pair.a.transmit_interval(), Some(500 * MS));
    }

    #[test]
    fn a_packet_for_another_discriminator_is_ignored() {
        let t0 = Instant::now();
        let mut a = Session::new(timers(300, 3), 0xa, t0);
        assert!(a.receive(&packet(State::Down, 9, 0x77), t0).is_empty());
        assert_eq!((a.state(), a.remote_discr()), (State::Down, 0));
        assert_eq!(a.detection_time(), None);
    }

    #[test]
    fn a_peer_that_says_up_to_a_down_session_is_not_believed() {
        let t0 = Instant::now();
        let mut a = Session::new(timers(300, 3), 0xa, t0);
        assert!(a.receive(&packet(State::Up, 9, 0xa), t0).is_empty());
        assert_eq!(a.state(), State::Down);
    }
}
