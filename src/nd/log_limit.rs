//! One log line per interval for a failure that can repeat on every packet.
//!
//! Pure: the caller passes the time in and logs when `hit` says so, with
//! the number of occurrences left unlogged since the last line. A full
//! kernel neighbour table makes every send fail (a 512-interface run once
//! logged 12,000 warnings for it); one line a minute says as much.

use std::time::{Duration, Instant};

/// How often the ND task says that the kernel's neighbour table is full.
pub const NEIGHBOUR_TABLE_FULL_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct LogLimit {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    pub fn new(interval: Duration) -> Self {
        LogLimit {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// One more occurrence at `now`: Some(occurrences not logged since the
    /// last line) when this one is to be logged, None when it is not.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_counting_the_rest() {
        let t0 = Instant::now();
        let mut limit = LogLimit::new(NEIGHBOUR_TABLE_FULL_INTERVAL);
        assert_eq!(limit.hit(t0), Some(0), "the first is logged");
        // 12,000 failures within the minute: none logged.
        let logged = (0..12_000)
            .filter(|_| limit.hit(t0 + Duration::from_secs(30)).is_some())
            .count();
        assert_eq!(logged, 0);
        // The first after the interval is logged and says how many were not.
        assert_eq!(limit.hit(t0 + Duration::from_secs(59)), None);
        assert_eq!(limit.hit(t0 + Duration::from_secs(60)), Some(12_001));
        assert_eq!(limit.hit(t0 + Duration::from_secs(61)), None);
        // A quiet spell: the next one is logged at once with 1 behind it.
        assert_eq!(limit.hit(t0 + Duration::from_secs(600)), Some(1));
    }
}
