//! When to probe an interface for neighbours that say nothing.
//!
//! Pure: the caller passes the time (and the jitter) in and sends an echo
//! request to all-nodes when `poll` says so (docs/ARCHITECTURE.md,
//! "Discovery"). A probe goes out as soon as the interface is ready (up,
//! link-local out of DAD), then after 1 s, 2 s, 4 s ... up to the steady
//! interval, so that a neighbour whose link came up before ours, or that
//! starts its BGP later, is found without flooding the link.
//!
//! A steady probe is put off while it would tell nothing new: every
//! neighbour that answered the last probe sent has been heard since by ND
//! on its own (an RA, RS, NS or NA: the peer table's observation as much
//! as an echo reply is). The next one is then due one interval after the
//! least recently heard of them, so each is heard at least as often as the
//! probes alone would make it; silent neighbours (the reason for probing)
//! keep the probes going. One still goes out every [`PROBE_PUT_OFF_MAX`]
//! intervals, so a silent neighbour whose answers were lost is found.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// The first gap after the probe at ready; each next gap doubles.
pub const PROBE_FIRST_GAP: Duration = Duration::from_secs(1);
/// Each gap is multiplied by a factor in this range, so that interfaces
/// and routers that became ready together do not probe in lockstep.
pub const PROBE_JITTER: RangeInclusive<f64> = 0.9..=1.1;
/// A steady probe is put off to at most this many intervals after the last
/// one sent: 2 minutes with the default 20 s interval.
pub const PROBE_PUT_OFF_MAX: u32 = 6;
/// Answering neighbours remembered per interface; past it every probe is
/// sent (a flood of answer sources cannot grow the map).
const ANSWERERS_MAX: usize = 64;

/// What `poll` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Nothing due.
    No,
    /// Send a probe now.
    Send,
    /// A steady probe was due, but every neighbour that would answer it
    /// was heard on its own since the last one: put off, not sent.
    Skip,
}

#[derive(Debug)]
pub struct Prober {
    /// The steady gap between probes.
    interval: Duration,
    ready: bool,
    next: Option<Instant>,
    /// The gap after the next probe, before jitter.
    gap: Duration,
    /// Who answered our probes: whether each answered the last one sent,
    /// and when it was last heard sending ND of its own.
    answerers: HashMap<Ipv6Addr, Answerer>,
    /// More answerers than `ANSWERERS_MAX` since the last probe sent.
    overflow: bool,
    last_sent: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Answerer {
    answered_last: bool,
    heard: Option<Instant>,
}

impl Prober {
    pub fn new(interval: Duration) -> Self {
        Prober {
            interval,
            ready: false,
            next: None,
            gap: PROBE_FIRST_GAP,
            answerers: HashMap::new(),
            overflow: false,
            last_sent: None,
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
        self.answerers.clear();
        self.overflow = false;
        self.last_sent = None;
    }

    /// A reply to our probe from `addr`.
    pub fn answered(&mut self, addr: Ipv6Addr) {
        if let Some(a) = self.answerers.get_mut(&addr) {
            a.answered_last = true;
        } else if self.answerers.len() < ANSWERERS_MAX {
            let answered = Answerer {
                answered_last: true,
                heard: None,
            };
            self.answerers.insert(addr, answered);
        } else {
            self.overflow = true;
        }
    }

    /// An ND message (RA, RS, NS, NA) from `addr` at `now`.
    pub fn heard(&mut self, addr: Ipv6Addr, now: Instant) {
        if let Some(a) = self.answerers.get_mut(&addr) {
            a.heard = Some(now);
        }
    }

    /// When the steady probe due now may be put off to: `gap` after the
    /// least recently heard neighbour that answered the last probe sent
    /// (at most `PROBE_PUT_OFF_MAX` intervals after that probe), if that is
    /// later than `now`; None when it must go now: a burst probe, nobody
    /// answered, or one who did was not heard on its own.
    fn put_off_until(&self, now: Instant, gap: Duration) -> Option<Instant> {
        if self.gap < self.interval || self.overflow {
            return None;
        }
        let mut answered = self.answerers.values().filter(|a| a.answered_last).peekable();
        answered.peek()?;
        // None sorts first: one never heard on its own gives None.
        let least_recent = answered.map(|a| a.heard).min()??;
        let latest = self.last_sent? + self.interval * PROBE_PUT_OFF_MAX;
        Some((least_recent + gap).min(latest)).filter(|&at| at > now)
    }

    /// Whether a probe is due at `now`, and whether to send it; either way
    /// schedules the next one, `jitter` (clamped to [`PROBE_JITTER`]) times
    /// the current gap later (or after the least recently heard answerer).
    pub fn poll(&mut self, now: Instant, jitter: f64) -> Probe {
        if self.next.is_none_or(|t| t > now) {
            return Probe::No;
        }
        let jitter = jitter.clamp(*PROBE_JITTER.start(), *PROBE_JITTER.end());
        let gap = self.gap.mul_f64(jitter);
        if let Some(at) = self.put_off_until(now, gap) {
            self.next = Some(at);
            return Probe::Skip;
        }
        self.next = Some(now + gap);
        self.gap = (self.gap * 2).min(self.interval);
        // Sent: who answers it is counted afresh; a neighbour that did not
        // answer the previous one is forgotten.
        self.last_sent = Some(now);
        self.overflow = false;
        self.answerers.retain(|_, a| a.answered_last);
        for a in self.answerers.values_mut() {
            a.answered_last = false;
        }
        Probe::Send
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
            assert_eq!(p.poll(t, jitter), Probe::Send, "due at its deadline");
            assert_eq!(p.poll(t, jitter), Probe::No, "one probe per deadline");
            out.push(t - start);
        }
        out
    }

    #[test]
    fn nothing_until_ready() {
        let mut p = Prober::new(s(20));
        let t0 = Instant::now();
        assert_eq!(p.next_deadline(), None);
        assert_eq!(p.poll(t0, 1.0), Probe::No);
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
        assert_eq!(p.poll(t0 + s(100), 1.0), Probe::No);
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

    fn ll(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
    }

    /// What each deadline from `start` over `span` gives. `each` is called
    /// before each poll with the previous poll's result (the neighbours'
    /// answers and ND messages since).
    fn decisions(
        p: &mut Prober,
        start: Instant,
        span: Duration,
        mut each: impl FnMut(&mut Prober, Instant, Probe),
    ) -> Vec<(Duration, Probe)> {
        let mut out = Vec::new();
        let mut last = Probe::No;
        while let Some(t) = p.next_deadline() {
            if t > start + span {
                break;
            }
            each(p, t, last);
            last = p.poll(t, 1.0);
            out.push((t - start, last));
        }
        out
    }

    fn sent(d: &[(Duration, Probe)]) -> Vec<Duration> {
        d.iter().filter(|(_, p)| *p == Probe::Send).map(|(t, _)| *t).collect()
    }

    /// A neighbour that answers every probe and sends an RA every `every`
    /// (at 0, every, 2 every ...) until `until`: the decisions, and the
    /// longest time it went unheard (neither RA nor answer) after `from`.
    fn speaking(every: u64, until: u64, from: u64) -> (Vec<(Duration, Probe)>, Duration) {
        let t0 = Instant::now();
        let mut p = Prober::new(s(20));
        p.set_ready(true, t0);
        let mut heard_at = vec![];
        let d = decisions(&mut p, t0, s(400), |p, t, last| {
            if last == Probe::Send {
                p.answered(ll(1));
            }
            let secs = (t - t0).as_secs().min(until);
            let ra = s(secs - secs % every);
            p.heard(ll(1), t0 + ra);
            heard_at.push(ra);
        });
        heard_at.extend(sent(&d));
        heard_at.retain(|t| *t >= s(from));
        heard_at.sort();
        heard_at.dedup();
        let longest = heard_at.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
        (d, longest)
    }

    #[test]
    fn steady_probes_put_off_while_every_answerer_speaks_nd() {
        // RAs every 10 s: the burst goes out whole (0 to 15 s), then one
        // steady probe every PROBE_PUT_OFF_MAX intervals.
        let (d, longest) = speaking(10, 1000, 15);
        let every = s(20) * PROBE_PUT_OFF_MAX;
        assert_eq!(
            sent(&d),
            vec![
                s(0),
                s(1),
                s(3),
                s(7),
                s(15),
                s(15) + every,
                s(15) + every * 2,
                s(15) + every * 3
            ]
        );
        assert!(d.iter().any(|(_, p)| *p == Probe::Skip));
        assert!(longest <= s(20), "{longest:?}");
    }

    #[test]
    fn a_neighbour_heard_less_often_than_the_interval_is_still_heard_each_interval() {
        // RAs every 30 s: probes fill the gaps, never more than an
        // interval without hearing it.
        let (d, longest) = speaking(30, 1000, 15);
        assert!(longest <= s(20), "{longest:?} {d:?}");
        assert!(d.iter().any(|(_, p)| *p == Probe::Skip), "{d:?}");
        // One that stops at 100 s: probed within an interval of its last
        // RA, and from then on every probe goes out.
        let (d, longest) = speaking(10, 100, 15);
        assert!(longest <= s(20), "{longest:?} {d:?}");
        let after: Vec<_> = d.iter().filter(|(t, _)| *t > s(120)).map(|(_, p)| *p).collect();
        assert!(!after.is_empty() && after.iter().all(|p| *p == Probe::Send), "{d:?}");
    }

    #[test]
    fn a_silent_answerer_keeps_the_probes_going() {
        let t0 = Instant::now();
        let mut p = Prober::new(s(20));
        p.set_ready(true, t0);
        // ll(1) speaks ND, ll(2) only answers probes.
        let d = decisions(&mut p, t0, s(200), |p, t, last| {
            if last == Probe::Send {
                p.answered(ll(1));
                p.answered(ll(2));
            }
            p.heard(ll(1), t);
        });
        assert!(d.iter().all(|(_, p)| *p == Probe::Send), "{d:?}");
        // Nobody answers: every probe goes out too.
        let mut p = Prober::new(s(20));
        p.set_ready(true, t0);
        let d = decisions(&mut p, t0, s(200), |_, _, _| {});
        assert!(d.iter().all(|(_, p)| *p == Probe::Send), "{d:?}");
    }

    #[test]
    fn too_many_answerers_are_all_probed() {
        let t0 = Instant::now();
        let mut p = Prober::new(s(20));
        p.set_ready(true, t0);
        let n = u16::try_from(ANSWERERS_MAX).unwrap() + 1;
        let d = decisions(&mut p, t0, s(200), |p, t, last| {
            for i in 1..=n {
                if last == Probe::Send {
                    p.answered(ll(i));
                }
                p.heard(ll(i), t);
            }
        });
        assert!(d.iter().all(|(_, p)| *p == Probe::Send), "{d:?}");
    }

    #[test]
    fn link_down_forgets_the_answerers() {
        let t0 = Instant::now();
        let mut p = Prober::new(s(20));
        p.set_ready(true, t0);
        decisions(&mut p, t0, s(60), |p, t, last| {
            if last == Probe::Send {
                p.answered(ll(1));
            }
            p.heard(ll(1), t);
        });
        p.set_ready(false, t0 + s(60));
        p.set_ready(true, t0 + s(61));
        // The same neighbour, heard but not answering since: probed.
        let d = decisions(&mut p, t0 + s(61), s(100), |p, t, _| p.heard(ll(1), t));
        assert!(d.iter().all(|(_, p)| *p == Probe::Send), "{d:?}");
    }
}
