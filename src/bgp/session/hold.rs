//! After a session closed for `--max-prefix`: no dial and no connection
//! taken from the neighbour until the hold is over (`--max-prefix-restart`)
//! or cleared (a reload).

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
