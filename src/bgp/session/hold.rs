//! After a session closed for `--max-prefix`: no dial and no connection
//! taken from the neighbour until the hold is over (`--max-prefix-restart`)
//! or cleared (a reload). The administrative hold of `neighbor shutdown` is
//! the same idea without an expiry (a flag in the session, remembered by
//! the manager across the neighbour's sessions), lifted by `neighbor enable`
//! alone.

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPrefixHold {
    /// When the session may come back; None: only when cleared.
    pub until: Option<Instant>,
}

impl MaxPrefixHold {
    /// Still in force at `now`.
    pub fn holds_at(&self, now: Instant) -> bool {
        self.until.is_none_or(|until| until > now)
    }

    /// Whole seconds left, rounded up; None when it lasts until cleared.
    pub fn seconds_left(&self, now: Instant) -> Option<u64> {
        self.until
            .map(|until| until.saturating_duration_since(now).as_millis().div_ceil(1000) as u64)
    }
}

/// What a `neighbor clear` did to one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleared {
    /// Established: Cease / Administrative Reset sent; it redials.
    Reset,
    /// Not Established yet: its attempt was dropped and it dials again now.
    Redialing,
    /// Soft: ROUTE-REFRESH sent for these (AFI, SAFI), our routes re-sent.
    Refreshed(Vec<(u16, u8)>),
    /// Soft: the peer did not advertise ROUTE-REFRESH; our routes re-sent.
    NoRouteRefresh,
    /// Nothing done: held down (`neighbor shutdown`, max-prefix), ending,
    /// or (soft) not Established.
    Down,
}
