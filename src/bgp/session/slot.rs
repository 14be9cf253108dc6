//! One FSM of a session with its connection and its timers' deadlines.

use tokio::time::Instant;

use crate::bgp::auth::Protection;
use crate::bgp::conn::Conn;
use crate::bgp::fsm::{Fsm, State, Timer};

/// The session's two FSMs: the primary dials; a secondary takes the
/// neighbour's own connection during a collision (RFC 4271 6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    Primary,
    Secondary,
}

pub(super) struct Slot {
    /// None only if the configuration was refused (reported at start).
    pub(super) fsm: Option<Fsm>,
    pub(super) conn: Option<Conn>,
    /// TCP-MD5 and GTSM on the last connection attached.
    pub(super) protection: Protection,
    /// When each timer the FSM asked for expires, by `Timer::index`.
    timers: [Option<Instant>; 3],
}

impl Slot {
    pub(super) fn new(fsm: Option<Fsm>) -> Slot {
        Slot {
            fsm,
            conn: None,
            protection: Protection::default(),
            timers: [None; 3],
        }
    }

    pub(super) fn state(&self) -> State {
        self.fsm.as_ref().map_or(State::Idle, Fsm::state)
    }

    /// No connection and none to come: Idle, or a passive FSM (a secondary,
    /// or one promoted from it) whose connection failed, which never dials.
    pub(super) fn is_over(&self) -> bool {
        self.fsm
            .as_ref()
            .is_none_or(|f| f.state() == State::Idle || (f.config().passive && f.state() == State::Active))
    }

    pub(super) fn start_timer(&mut self, timer: Timer, at: Instant) {
        self.timers[timer.index()] = Some(at);
    }

    pub(super) fn stop_timer(&mut self, timer: Timer) {
        self.timers[timer.index()] = None;
    }

    /// The first timer to expire, if any runs.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    /// True if `timer` has expired by `now`: it is stopped, and its expiry
    /// is the caller's to feed.
    pub(super) fn take_due(&mut self, timer: Timer, now: Instant) -> bool {
        let due = self.timers[timer.index()].is_some_and(|t| t <= now);
        if due {
            self.stop_timer(timer);
        }
        due
    }
}

/// How far along a state is, to show the most advanced of two FSMs.
pub(super) fn progress(s: State) -> u8 {
    match s {
        State::Idle => 0,
        State::Connect | State::Active => 1,
        State::OpenSent => 2,
        State::OpenConfirm => 3,
        State::Established => 4,
    }
}
