//! When to probe an interface for neighbours that say nothing.
//!
//! Pure: the caller passes the time (and the jitter) in and sends an echo
//! request to all-nodes when `poll` says so (docs/ARCHITECTURE.md,
//! "Discovery"). A probe goes out as soon as the interface is ready (up,
//! link-local out of DAD), then after 1 s, 2 s, 4 s ... up to the steady
//! interval, so that a neighbour whose link came up before ours, or that
//! starts its BGP later, is found without flooding the link.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// The first gap after the probe at ready; each next gap doubles.
pub const PROBE_FIRST_GAP: Duration = Duration::from_secs(1);
/// Each gap is multiplied by a factor in this range, so that interfaces
/// and routers that became ready together do not probe in lockstep.
pub const PROBE_JITTER: RangeInclusive<f64> = 0.9..=1.1;

#[derive(Debug)]
pub struct Prober {
    /// The steady gap between probes.
    interval: Duration,
    ready: bool,
    next: Option<Instant>,
    /// The gap after the next probe, before jitter.
    gap: Duration,
}

impl Prober {
    pub fn new(interval: Duration) -> Self {
        Prober {
            interval,
            ready: false,
            next: None,
            gap: PROBE_FIRST_GAP,
        }
    }

    /// The interface can send or not; becoming ready probes at once and
    /// starts the backoff over.
    pub fn set_ready(&mut self, ready: bool, now: Instant) {
        if ready == self.ready {
            return;
        }
        self.ready = ready;
        self.gap = PROBE_FIRST_GAP.min(self.interval);
        self.next = ready.then_some(now);
    }

    /// True when a probe is due at `now`; schedules the next one, `jitter`
    /// (clamped to [`PROBE_JITTER`]) times the current gap later.
    pub fn poll(&mut self, now: Instant, jitter: f64) -> bool {
        if self.next.is_none_or(|t| t > now) {
            return false;
        }
        let jitter = jitter.clamp(*PROBE_JITTER.start(), *PROBE_JITTER.end());
        self.next = Some(now + self.gap.mul_f64(jitter));
        self.gap = (self.gap * 2).min(self.interval);
        true
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Probe times from `start` over `span`, polling at each deadline.
    fn run(p: &mut Prober, start: Instant, span: Duration, jitter: f64) -> Vec<Duration> {
        let mut out = Vec::new();
        while let Some(t) = p.next_deadline() {
            if t > start + span {
                break;
            }
            assert!(p.poll(t, jitter), "due at its deadline");
            assert!(!p.poll(t, jitter), "one probe per deadline");
            out.push(t - start);
        }
        out
    }

    #[test]
    fn nothing_until_ready() {
        let mut p = Prober::new(s(20));
        let t0 = Instant::now();
        assert_eq!(p.next_deadline(), None);
        assert!(!p.poll(t0, 1.0));
    }

    #[test]
    fn at_ready_then_backs_off_to_the_interval() {
        let t0 = Instant::now();
        let mut p = Prober::new(s(20));
        p.set_ready(true, t0);
        let sent = run(&mut p, t0, s(100), 1.0);
        assert_eq!(sent, vec![s(0), s(1), s(3), s(7), s(15), s(31), s(51), s(71), s(91)]);
    }

    #[test]
    fn jitter_spreads_the_gaps_within_bounds() {
        let t0 = Instant::now();
        let (mut low, mut high) = (Prober::new(s(20)), Prober::new(s(20)));
        low.set_ready(true, t0);
        high.set_ready(true, t0);
        // Out-of-range jitter is clamped to +-10 %.
        let low = run(&mut low, t0, s(200), 0.0);
        let high = run(&mut high, t0, s(200), 5.0);
        let gaps = |v: &[Duration]| v.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>();
        assert_eq!(gaps(&low).last(), Some(&s(18)));
        assert_eq!(gaps(&high).last(), Some(&s(22)));
        assert_eq!(gaps(&low)[0], Duration::from_millis(900));
    }

    #[test]
    fn link_down_stops_and_ready_again_starts_over() {
        let t0 = Instant::now();
        let mut p = Prober::new(s(20));
        p.set_ready(true, t0);
        run(&mut p, t0, s(60), 1.0);
        p.set_ready(false, t0 + s(60));
        assert_eq!(p.next_deadline(), None);
        assert!(!p.poll(t0 + s(100), 1.0));
        p.set_ready(true, t0 + s(100));
        let sent = run(&mut p, t0 + s(100), s(4), 1.0);
        assert_eq!(sent, vec![s(0), s(1), s(3)]);
        // Saying ready again while ready changes nothing.
        p.set_ready(true, t0 + s(104));
        assert_eq!(p.next_deadline(), Some(t0 + s(107)));
    }

    #[test]
    fn an_interval_below_the_first_gap_is_kept() {
        let t0 = Instant::now();
        let mut p = Prober::new(Duration::from_millis(500));
        p.set_ready(true, t0);
        let sent = run(&mut p, t0, s(1), 1.0);
        assert_eq!(sent.len(), 3, "{sent:?}");
    }
}
