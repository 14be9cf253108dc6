//! The decision process (RFC 4271 9.1) and the multipath set.
//!
//! MED makes "better than" non-transitive, so paths are not sorted by a
//! comparator (FRR's pairwise `bgp_path_info_cmp` then depends on arrival
//! order unless `deterministic-med` is on; BIRD says the same of
//! `bgp_rte_better`). We run the RFC 4271 9.1.2.2 elimination instead:
//! each step keeps the candidates tied for the best value. Whatever is left
//! before the BGP Identifier step is the multipath set: equal local
//! preference, AS path length, origin, MED within a neighbour AS and
//! session type, from any neighbour AS (FRR's `as-path multipath-relax`).

use std::cmp::Reverse;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::msg::update::{Origin, PathAttributes};

/// LOCAL_PREF when none applies (RFC 4271 5.1.5 leaves the default to the
/// implementation; 100 is what FRR, BIRD and everyone else use).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Originated here (`--network`, redistributed connected).
    Local,
    Ebgp,
    Ibgp,
}

/// What the decision process needs of one path.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub kind: Kind,
    pub attrs: &'a PathAttributes,
    /// The peer's BGP Identifier (ours for local paths).
    pub router_id: Ipv4Addr,
    /// The peer's address (unspecified for local paths).
    pub address: Ipv6Addr,
    pub ifindex: u32,
}

/// The degree of preference (RFC 4271 9.1.1): LOCAL_PREF from iBGP (and
/// from our own origination), the default for eBGP, whose LOCAL_PREF is
/// ignored (RFC 4271 5.1.5).
pub fn local_pref(kind: Kind, attrs: &PathAttributes) -> u32 {
    match kind {
        Kind::Local | Kind::Ibgp => attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF),
        Kind::Ebgp => DEFAULT_LOCAL_PREF,
    }
}

/// Returns the indices of the selected paths, best first, at most
/// `max_paths` (at least one when there are candidates).
pub fn select(candidates: &[Candidate], max_paths: usize) -> Vec<usize> {
    let mut alive: Vec<usize> = (0..candidates.len()).collect();
    // Local routes first, as FRR does by giving them weight 32768: what we
    // originate is never replaced by a copy of it learned back.
    keep_min_by_key(&mut alive, |i| candidates[i].kind != Kind::Local);
    // RFC 4271 9.1.1: highest degree of preference.
    keep_min_by_key(&mut alive, |i| {
        Reverse(local_pref(candidates[i].kind, candidates[i].attrs))
    });
    // 9.1.2.2 a: shortest AS_PATH (a set counts as one).
    keep_min_by_key(&mut alive, |i| candidates[i].attrs.as_path.len());
    // 9.1.2.2 b: lowest ORIGIN; none counts as INCOMPLETE (as in BIRD).
    keep_min_by_key(&mut alive, |i| candidates[i].attrs.origin.unwrap_or(Origin::Incomplete));
    // 9.1.2.2 c: lowest MED among paths from the same neighbour AS.
    keep_lowest_med_per_neighbour_as(&mut alive, candidates);
    // 9.1.2.2 d: eBGP over iBGP (local paths were settled above).
    keep_min_by_key(&mut alive, |i| candidates[i].kind == Kind::Ibgp);
    // 9.1.2.2 e, interior cost: every next hop is a directly connected peer.
    // 9.1.2.2 f and g: lowest BGP Identifier, then lowest peer address; the
    // ifindex last, for two links to the same router with the same fe80::.
    alive.sort_by_key(|&i| (candidates[i].router_id, candidates[i].address, candidates[i].ifindex));
    // At least the best; at most what an entry's u16 count can hold.
    alive.truncate(max_paths.clamp(1, usize::from(u16::MAX)));
    alive
}

fn keep_min_by_key<K: Ord>(alive: &mut Vec<usize>, key: impl Fn(usize) -> K) {
    if let Some(min) = alive.iter().map(|&i| key(i)).min() {
        alive.retain(|&i| key(i) == min);
    }
}

/// RFC 4271 9.1.2.2 c: a missing MED is the lowest value (0). Paths whose
/// AS_PATH names no neighbour AS (empty, or starting with a set) form one
/// group: they come from inside our AS or cannot be told apart.
fn keep_lowest_med_per_neighbour_as(alive: &mut Vec<usize>, candidates: &[Candidate]) {
    let neighbour_as = |i: usize| candidates[i].attrs.as_path.first_as();
    let med = |i: usize| candidates[i].attrs.med.unwrap_or(0);
    let snapshot = alive.clone();
    alive.retain(|&i| {
        !snapshot
            .iter()
            .any(|&j| neighbour_as(j) == neighbour_as(i) && med(j) < med(i))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::update::{AsPath, AsSegment};

    fn attrs(path: &[u32]) -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: AsPath {
                segments: vec![AsSegment::Sequence(path.to_vec())],
            },
            ..Default::default()
        }
    }

    fn candidate(attrs: &PathAttributes, kind: Kind, id: u8) -> Candidate<'_> {
        Candidate {
            kind,
            attrs,
            router_id: Ipv4Addr::new(10, 0, 0, id),
            address: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(id)),
            ifindex: u32::from(id),
        }
    }

    #[test]
    fn med_is_compared_only_within_a_neighbour_as() {
        let a = PathAttributes {
            med: Some(10),
            ..attrs(&[65001])
        };
        let b = PathAttributes {
            med: Some(20),
            ..attrs(&[65001])
        };
        let c = PathAttributes {
            med: Some(50),
            ..attrs(&[65002])
        };
        let candidates = [
            candidate(&a, Kind::Ebgp, 3),
            candidate(&b, Kind::Ebgp, 1),
            candidate(&c, Kind::Ebgp, 2),
        ];
        // b loses to a (same AS, higher MED); c is only compared with itself.
        assert_eq!(select(&candidates, 64), [2, 0]);
    }

    #[test]
    fn missing_med_counts_as_zero() {
        let a = PathAttributes {
            med: Some(1),
            ..attrs(&[65001])
        };
        let b = attrs(&[65001]);
        let candidates = [candidate(&a, Kind::Ebgp, 1), candidate(&b, Kind::Ebgp, 2)];
        assert_eq!(select(&candidates, 64), [1]);
    }

    #[test]
    fn missing_origin_counts_as_incomplete() {
        let a = PathAttributes {
            origin: None,
            ..attrs(&[65001])
        };
        let b = PathAttributes {
            origin: Some(Origin::Egp),
            ..attrs(&[65002])
        };
        let candidates = [candidate(&a, Kind::Ebgp, 1), candidate(&b, Kind::Ebgp, 2)];
        assert_eq!(select(&candidates, 64), [1]);
    }

    #[test]
    fn ebgp_local_pref_is_ignored() {
        let a = PathAttributes {
            local_pref: Some(500),
            ..attrs(&[65001, 65010])
        };
        let b = attrs(&[65002]);
        let candidates = [candidate(&a, Kind::Ebgp, 1), candidate(&b, Kind::Ebgp, 2)];
        assert_eq!(select(&candidates, 64), [1]);
    }

    #[test]
    fn max_paths_zero_still_selects_the_best() {
        let a = attrs(&[65001]);
        let b = attrs(&[65002]);
        let candidates = [candidate(&a, Kind::Ebgp, 2), candidate(&b, Kind::Ebgp, 1)];
        assert_eq!(select(&candidates, 0), [1]);
        assert!(select(&[], 64).is_empty());
    }
}
