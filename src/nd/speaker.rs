//! When to send Router Solicitations and Advertisements on one interface.
//!
//! Pure: the caller passes the time in and sends what `poll` returns. The
//! schedule follows FRR's unnumbered interfaces (docs/ARCHITECTURE.md section 5): a burst
//! of fast RAs when the interface becomes ready, then one every interval; an
//! RS at the same moment so that routers answer at once instead of at their
//! next periodic RA.

use std::collections::HashSet;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::packet::ALL_NODES;

/// RSs sent when the interface becomes ready, 1 s apart, until an RA is heard.
const RS_COUNT: u8 = 3;
const RS_GAP: Duration = Duration::from_secs(1);
/// Fast RAs, 1 s apart, when the interface becomes ready (FRR does 4 fast RAs).
const FAST_RA_COUNT: u8 = 3;
const FAST_RA_GAP: Duration = Duration::from_secs(1);
/// How long after its link came up an interface sends its first
/// unsolicited RA: about when DAD would have let it. A link-local that
/// skips DAD (optimistic, `--no-dad`) is ready within milliseconds of link
/// up, and an RA then can reach FRR while its bgpd still handles the
/// link's own up/down events: zebra passes the neighbour on between them,
/// bgpd drops it with the next "down", and zebra never passes it again
/// (its RA path reports only neighbours it does not know), so FRR refuses
/// our connections until the link flaps (seen with FRR 8.4 in about 1 of
/// 20 bring-ups). RSs and the answers to RSs and RAs are not held: FRR
/// sends no RS, and its first RA leaves only once its own DAD is over
/// (zebra cannot send from a tentative address), past those events.
pub const FIRST_RA_AFTER_LINK_UP: Duration = Duration::from_secs(1);
/// RS answers: a burst of this many, refilled at one per `RS_ANSWER_REFILL`,
/// so a flood of RSs cannot make us flood RAs (RFC 4861 6.2.6 rate limits).
const RS_ANSWER_BURST: u32 = 8;
const RS_ANSWER_REFILL: Duration = Duration::from_millis(250);
/// Routers remembered per interface; past it the set starts over, so a
/// flood of RA sources costs at most a rate-limited RA each.
const KNOWN_ROUTERS_MAX: usize = 256;

/// Something to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    Rs,
    /// An RA to this destination: all-nodes, or the soliciting node.
    Ra(Ipv6Addr),
}

#[derive(Debug)]
pub struct Speaker {
    ra_interval: Duration,
    ready: bool,
    rs_left: u8,
    next_rs: Option<Instant>,
    fast_ra_left: u8,
    next_ra: Option<Instant>,
    answer_tokens: u32,
    last_refill: Option<Instant>,
    /// Routers whose RAs we have heard since the interface became ready.
    known_routers: HashSet<Ipv6Addr>,
}

impl Speaker {
    pub fn new(ra_interval: Duration) -> Self {
        Speaker {
            ra_interval,
            ready: false,
            rs_left: 0,
            next_rs: None,
            fast_ra_left: 0,
            next_ra: None,
            answer_tokens: RS_ANSWER_BURST,
            last_refill: None,
            known_routers: HashSet::new(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The interface can send (up, with a usable link-local) or not. Becoming
    /// ready starts the RS and fast-RA bursts at once.
    pub fn set_ready(&mut self, ready: bool, now: Instant) {
        if ready == self.ready {
            return;
        }
        self.ready = ready;
        if ready {
            self.rs_left = RS_COUNT;
            self.next_rs = Some(now);
            self.fast_ra_left = FAST_RA_COUNT;
            self.next_ra = Some(now);
        } else {
            self.known_routers.clear();
            self.rs_left = 0;
            self.next_rs = None;
            self.fast_ra_left = 0;
            self.next_ra = None;
        }
    }

    /// Hold the first RA of the burst until `at`, if it has not gone yet
    /// (see `FIRST_RA_AFTER_LINK_UP`).
    pub fn hold_first_ra_until(&mut self, at: Instant) {
        if self.fast_ra_left == FAST_RA_COUNT && self.next_ra.is_some_and(|t| t < at) {
            self.next_ra = Some(at);
        }
    }

    /// A router answered: no more solicitations needed.
    pub fn heard_ra(&mut self) {
        self.rs_left = 0;
        self.next_rs = None;
    }

    /// An RA arrived. From a router not heard before, answer with an RA at
    /// once (rate-limited like RS answers): FRR sends no RS and refuses our
    /// connection until it has an RA from us, so without this a peer that
    /// starts after our fast burst would wait for our next periodic RA.
    pub fn heard_ra_from(&mut self, from: Ipv6Addr, now: Instant) -> Option<Emit> {
        self.heard_ra();
        if !self.ready || self.known_routers.contains(&from) {
            return None;
        }
        if self.known_routers.len() >= KNOWN_ROUTERS_MAX {
            self.known_routers.clear();
        }
        self.known_routers.insert(from);
        self.take_token(now).then_some(Emit::Ra(ALL_NODES))
    }

    fn take_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.answer_tokens == 0 {
            return false;
        }
        self.answer_tokens -= 1;
        true
    }

    /// An RS arrived: answer at once to all-nodes (RFC 4861 6.2.6: "the
    /// usual case"), unless the rate limit is spent. Not unicast: an RS
    /// from an optimistic address carries no link-layer address, and our
    /// NS to resolve it could not leave from an optimistic address of ours
    /// either, so a unicast answer would wait for DAD; the multicast one
    /// carries our link-layer address, and the soliciting ndbgpd answers a
    /// new router's RA with its own, so both ends learn each other at once
    /// while the first unsolicited RA is held.
    pub fn heard_rs(&mut self, now: Instant) -> Option<Emit> {
        if !self.ready || !self.take_token(now) {
            return None;
        }
        Some(Emit::Ra(ALL_NODES))
    }

    fn refill(&mut self, now: Instant) {
        let last = *self.last_refill.get_or_insert(now);
        let periods = now.saturating_duration_since(last).as_millis() / RS_ANSWER_REFILL.as_millis();
        let earned = u32::try_from(periods).unwrap_or(u32::MAX).min(RS_ANSWER_BURST);
        if earned > 0 {
            self.answer_tokens = (self.answer_tokens + earned).min(RS_ANSWER_BURST);
            // A full bucket earns nothing more: restart the clock from now.
            self.last_refill = Some(if self.answer_tokens == RS_ANSWER_BURST {
                now
            } else {
                last + RS_ANSWER_REFILL * earned
            });
        }
    }

    /// What is due at `now`; advances the schedule.
    pub fn poll(&mut self, now: Instant) -> Vec<Emit> {
        let mut out = Vec::new();
        if self.next_rs.is_some_and(|t| t <= now) {
            out.push(Emit::Rs);
            self.rs_left = self.rs_left.saturating_sub(1);
            self.next_rs = (self.rs_left > 0).then(|| now + RS_GAP);
        }
        if self.next_ra.is_some_and(|t| t <= now) {
            out.push(Emit::Ra(ALL_NODES));
            let gap = if self.fast_ra_left > 1 {
                self.fast_ra_left -= 1;
                FAST_RA_GAP
            } else {
                self.fast_ra_left = 0;
                self.ra_interval
            };
            self.next_ra = Some(now + gap);
        }
        out
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.next_rs, self.next_ra) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(10);

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Everything sent from `start` over `span`, polling at each deadline.
    fn run(sp: &mut Speaker, start: Instant, span: Duration) -> Vec<(Duration, Emit)> {
        let mut out = Vec::new();
        while let Some(t) = sp.next_deadline() {
            if t > start + span {
                break;
            }
            for e in sp.poll(t) {
                out.push((t - start, e));
            }
        }
        out
    }

    #[test]
    fn nothing_until_ready() {
        let mut sp = Speaker::new(INTERVAL);
        assert_eq!(sp.next_deadline(), None);
        assert!(sp.poll(Instant::now()).is_empty());
        assert_eq!(sp.heard_rs(Instant::now()), None);
    }

    #[test]
    fn ready_starts_rs_and_fast_ras_then_interval() {
        let t0 = Instant::now();
        let mut sp = Speaker::new(INTERVAL);
        sp.set_ready(true, t0);
        let sent = run(&mut sp, t0, s(25));
        let rs: Vec<_> = sent.iter().filter(|(_, e)| *e == Emit::Rs).map(|(t, _)| *t).collect();
        let ra: Vec<_> = sent
            .iter()
            .filter(|(_, e)| *e == Emit::Ra(ALL_NODES))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(rs, vec![s(0), s(1), s(2)]);
        assert_eq!(ra, vec![s(0), s(1), s(2), s(12), s(22)]);
    }

    #[test]
    fn a_held_first_ra_waits_but_solicitations_and_answers_do_not() {
        let t0 = Instant::now();
        let mut sp = Speaker::new(INTERVAL);
        sp.set_ready(true, t0);
        sp.hold_first_ra_until(t0 + FIRST_RA_AFTER_LINK_UP);
        assert_eq!(sp.poll(t0), vec![Emit::Rs], "the RS at once, the RA held");
        let peer: Ipv6Addr = "fe80::2".parse().unwrap();
        assert_eq!(sp.heard_rs(t0), Some(Emit::Ra(ALL_NODES)), "an RS answered at once");
        assert_eq!(
            sp.heard_ra_from(peer, t0),
            Some(Emit::Ra(ALL_NODES)),
            "a new router too"
        );
        let sent = run(&mut sp, t0, s(13));
        let ra: Vec<_> = sent
            .iter()
            .filter(|(_, e)| *e == Emit::Ra(ALL_NODES))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(ra, vec![s(1), s(2), s(3), s(13)], "then the burst, shifted");
        // Once the burst has begun a hold changes nothing.
        sp.hold_first_ra_until(t0 + s(100));
        assert_eq!(sp.next_deadline(), Some(t0 + s(23)));
    }

    #[test]
    fn heard_ra_stops_solicitations() {
        let t0 = Instant::now();
        let mut sp = Speaker::new(INTERVAL);
        sp.set_ready(true, t0);
        assert!(sp.poll(t0).contains(&Emit::Rs));
        sp.heard_ra();
        let sent = run(&mut sp, t0, s(5));
        assert!(sent.iter().all(|(_, e)| *e != Emit::Rs), "{sent:?}");
    }

    #[test]
    fn link_down_stops_and_link_up_restarts_burst() {
        let t0 = Instant::now();
        let mut sp = Speaker::new(INTERVAL);
        sp.set_ready(true, t0);
        run(&mut sp, t0, s(30));
        sp.set_ready(false, t0 + s(30));
        assert_eq!(sp.next_deadline(), None);
        sp.set_ready(true, t0 + s(40));
        let sent = run(&mut sp, t0 + s(40), s(3));
        assert_eq!(sent.iter().filter(|(_, e)| *e == Emit::Rs).count(), 3);
        assert_eq!(sent.iter().filter(|(_, e)| matches!(e, Emit::Ra(_))).count(), 3);
    }

    #[test]
    fn a_new_router_gets_an_ra_at_once_a_known_one_does_not() {
        let t0 = Instant::now();
        let mut sp = Speaker::new(INTERVAL);
        let r1: Ipv6Addr = "fe80::1".parse().unwrap();
        assert_eq!(sp.heard_ra_from(r1, t0), None, "not ready: nothing to send from");
        sp.set_ready(true, t0);
        assert_eq!(sp.heard_ra_from(r1, t0), Some(Emit::Ra(ALL_NODES)));
        assert_eq!(sp.heard_ra_from(r1, t0), None);
        let r2: Ipv6Addr = "fe80::2".parse().unwrap();
        assert_eq!(sp.heard_ra_from(r2, t0), Some(Emit::Ra(ALL_NODES)));
        // Hearing a router also ends our solicitations.
        let sent = run(&mut sp, t0, s(5));
        assert!(sent.iter().all(|(_, e)| *e != Emit::Rs), "{sent:?}");
        // A flood of new sources is rate-limited.
        let answered = (10..200u16)
            .filter(|i| {
                sp.heard_ra_from(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, *i), t0 + s(5))
                    .is_some()
            })
            .count();
        assert_eq!(answered as u32, RS_ANSWER_BURST);
        // After link down and up the same router is new again.
        sp.set_ready(false, t0 + s(6));
        sp.set_ready(true, t0 + s(7));
        assert_eq!(sp.heard_ra_from(r1, t0 + s(60)), Some(Emit::Ra(ALL_NODES)));
    }

    #[test]
    fn rs_answered_to_all_nodes_and_rate_limited() {
        let t0 = Instant::now();
        let mut sp = Speaker::new(INTERVAL);
        sp.set_ready(true, t0);
        assert_eq!(sp.heard_rs(t0), Some(Emit::Ra(ALL_NODES)), "multicast: see heard_rs");
        assert_eq!(sp.heard_rs(t0), Some(Emit::Ra(ALL_NODES)));
        let answered = (0..100).filter(|_| sp.heard_rs(t0).is_some()).count();
        assert_eq!(answered as u32, RS_ANSWER_BURST - 2);
        // One token back per refill period.
        assert!(sp.heard_rs(t0 + RS_ANSWER_REFILL).is_some());
        assert!(sp.heard_rs(t0 + RS_ANSWER_REFILL).is_none());
        // A long quiet period refills the whole burst, no more.
        let later = t0 + s(60);
        let answered = (0..100).filter(|_| sp.heard_rs(later).is_some()).count();
        assert_eq!(answered as u32, RS_ANSWER_BURST);
    }
}
