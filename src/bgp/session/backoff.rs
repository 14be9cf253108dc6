//! How long a session waits before it dials again.

use std::time::Duration;

/// Reconnect backoff bounds (the issue: 1 s to 30 s, with jitter).
pub(super) const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Exponential reconnect delay with jitter, reset on Established.
#[derive(Debug)]
pub(super) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: BACKOFF_MIN }
    }
}

impl Backoff {
    pub(super) fn next(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        // +-20 % so that peers that failed together do not retry in lockstep.
        base.mul_f64(rand::random_range(0.8..1.2)).min(BACKOFF_MAX)
    }

    pub(super) fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<Duration> = (0..8).map(|_| b.next()).collect();
        for (i, d) in delays.iter().enumerate() {
            let base = (BACKOFF_MIN * 2u32.pow(i as u32)).min(BACKOFF_MAX);
            assert!(
                *d >= base.mul_f64(0.8) && *d <= base.mul_f64(1.2).min(BACKOFF_MAX),
                "{i}: {d:?}"
            );
        }
        assert!(delays[7] <= BACKOFF_MAX);
        b.reset();
        assert!(b.next() <= BACKOFF_MIN.mul_f64(1.2));
    }
}
