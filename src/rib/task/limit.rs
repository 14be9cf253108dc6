//! `--max-prefix` for one peer (as FRR's `neighbor X maximum-prefix N`):
//! the prefixes it has accepted, both families together, checked after each
//! of its UPDATEs and at once when a reload changes the limit. A warning once per crossing of 90 % of the limit; past
//! the limit the session is closed (docs/ARCHITECTURE.md, "Limits").

/// The share of the limit at which the warning is given, in percent.
const WARN_PERCENT: u64 = 90;

/// One peer's limit and whether the warning for the current crossing was
/// given.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PrefixLimit {
    max: Option<u32>,
    warned: bool,
}

/// What a count means against the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Below the warning, or already warned for this crossing, or no limit.
    Within,
    /// Just reached 90 % of this limit: warn once.
    Warn(u32),
    /// More prefixes than this limit: close the session.
    Exceeded(u32),
}

impl PrefixLimit {
    pub(super) fn new(max: Option<u32>) -> PrefixLimit {
        PrefixLimit { max, warned: false }
    }

    /// A reload changed it: the next check compares with the new one.
    pub(super) fn set_max(&mut self, max: Option<u32>) {
        if max != self.max {
            *self = PrefixLimit::new(max);
        }
    }

    /// After an UPDATE: `accepted` prefixes are in the peer's Adj-RIB-In.
    pub(super) fn check(&mut self, accepted: usize) -> Verdict {
        let Some(max) = self.max else {
            return Verdict::Within;
        };
        let accepted = accepted as u64;
        if accepted > u64::from(max) {
            return Verdict::Exceeded(max);
        }
        let near = accepted * 100 >= u64::from(max) * WARN_PERCENT;
        match (near, self.warned) {
            (true, false) => {
                self.warned = true;
                Verdict::Warn(max)
            }
            (false, true) => {
                // Back below: the next crossing warns again.
                self.warned = false;
                Verdict::Within
            }
            _ => Verdict::Within,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_per_crossing_of_90_percent_and_stops_past_the_limit() {
        let mut limit = PrefixLimit::new(Some(10));
        let verdicts: Vec<Verdict> = [5, 8, 9, 10, 9, 8, 9, 10, 11]
            .into_iter()
            .map(|n| limit.check(n))
            .collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [
                Within,
                Within,
                Warn(10),
                Within,
                Within,
                Within,
                Warn(10),
                Within,
                Exceeded(10)
            ]
        );
    }

    #[test]
    fn no_limit_never_stops_and_a_new_limit_starts_over() {
        let mut limit = PrefixLimit::new(None);
        assert_eq!(limit.check(usize::MAX), Verdict::Within);
        limit.set_max(Some(2));
        assert_eq!(limit.check(2), Verdict::Warn(2));
        assert_eq!(limit.check(3), Verdict::Exceeded(2));
        // The largest limit, and counts past u32.
        let mut limit = PrefixLimit::new(Some(u32::MAX));
        assert_eq!(limit.check(u32::MAX as usize), Verdict::Warn(u32::MAX));
        assert_eq!(limit.check(u32::MAX as usize + 1), Verdict::Exceeded(u32::MAX));
    }
}
