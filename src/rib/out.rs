//! Adj-RIB-Out: what a peer is sent (RFC 4271 9.2, 5.1), grouped by
//! outgoing attributes so one UPDATE carries many prefixes.
//!
//! The Adj-RIB-Out is not stored: what a peer is sent for a prefix is a
//! function of the Loc-RIB best path and the peer (RFC 4271 3.2 allows one
//! structure for all three RIBs). Per peer we keep only the prefixes whose
//! advertisement changed since the last batch, and whether each was
//! advertised then, so withdrawals are sent only for what was announced.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ipnet::IpNet;

use super::Families;
use super::decision::{Kind, local_pref};
use super::table::{Path, Slot};
use crate::msg::update::{NextHop, Origin, PathAttributes, RawAttribute};
use crate::policy::PrefixFilter;

/// Well-known communities (RFC 1997).
pub const NO_EXPORT: u32 = 0xFFFF_FF01;
pub const NO_ADVERTISE: u32 = 0xFFFF_FF02;
pub const NO_EXPORT_SUBCONFED: u32 = 0xFFFF_FF03;

/// Attribute flag bits (RFC 4271 4.3).
const FLAG_OPTIONAL: u8 = 0x80;
const FLAG_TRANSITIVE: u8 = 0x40;
const FLAG_PARTIAL: u8 = 0x20;

/// Routes for one peer, ready for the UPDATE encoder. Announced
/// attributes carry `NextHop::default()` (no address at all), meaning
/// "next hop self": the session fills in the addresses of its own
/// interface (RFC 8950: global and/or link-local), which the RIB does not
/// know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutBatch {
    /// Sorted.
    pub withdrawn: Vec<IpNet>,
    /// One entry per distinct outgoing attribute set, prefixes sorted,
    /// groups ordered by their first prefix.
    pub announced: Vec<(Arc<PathAttributes>, Vec<IpNet>)>,
}

impl OutBatch {
    pub fn is_empty(&self) -> bool {
        self.withdrawn.is_empty() && self.announced.is_empty()
    }

    /// Number of prefixes announced.
    pub fn announced_len(&self) -> usize {
        self.announced.iter().map(|(_, prefixes)| prefixes.len()).sum()
    }
}

/// The peer a route would be sent to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    pub slot: Slot,
    pub asn: u32,
    pub ibgp: bool,
    pub families: Families,
    /// Its session's export filter (`--export`).
    pub export: &'a PrefixFilter,
}

/// Whether the best path `best` to `prefix`, learned as `kind`, is sent
/// to `to`.
pub(super) fn exportable(prefix: &IpNet, best: &Path, kind: Kind, to: &Target) -> bool {
    if !to.families.carries(prefix) || !to.export.permits(prefix) {
        return false;
    }
    let attrs = &best.attrs;
    // Split horizon: never back to the peer it came from.
    if best.slot == to.slot {
        return false;
    }
    // RFC 4271 9.2: iBGP-learned routes are not sent to iBGP peers (no
    // route reflection).
    if kind == Kind::Ibgp && to.ibgp {
        return false;
    }
    // RFC 1997. Without confederations NO_EXPORT_SUBCONFED is NO_EXPORT.
    if attrs.communities.contains(&NO_ADVERTISE) {
        return false;
    }
    if !to.ibgp && (attrs.communities.contains(&NO_EXPORT) || attrs.communities.contains(&NO_EXPORT_SUBCONFED)) {
        return false;
    }
    // Sender-side loop prevention (FRR's `sender-as-path-loop-detection`):
    // the peer would drop it (RFC 4271 9.1.2), so save the bytes. In a
    // fabric this also keeps spine routes from going back to other spines.
    to.ibgp || !attrs.as_path.contains(to.asn)
}

/// The attributes sent for a path learned as `kind` (RFC 4271 5.1).
pub(super) fn export_attrs(attrs: &PathAttributes, kind: Kind, to_ibgp: bool, local_asn: u32) -> PathAttributes {
    PathAttributes {
        // ORIGIN is mandatory; a local route given none is INCOMPLETE.
        origin: Some(attrs.origin.unwrap_or(Origin::Incomplete)),
        // 5.1.2: prepend our AS towards eBGP, unchanged towards iBGP.
        as_path: if to_ibgp {
            attrs.as_path.clone()
        } else {
            attrs.as_path.prepend(local_asn)
        },
        next_hop: NextHop::default(),
        // 5.1.4: a MED received from a neighbouring AS is not passed to
        // another AS; ours (local routes) may be, and iBGP may carry it.
        med: if kind == Kind::Local || to_ibgp {
            attrs.med
        } else {
            None
        },
        // 5.1.5: LOCAL_PREF only towards iBGP, and then always.
        local_pref: to_ibgp.then(|| local_pref(kind, attrs)),
        atomic_aggregate: attrs.atomic_aggregate,
        aggregator: attrs.aggregator,
        communities: attrs.communities.clone(),
        large_communities: attrs.large_communities.clone(),
        // RFC 4271 5: unrecognised optional transitive attributes go on
        // with the Partial bit set; non-transitive ones do not.
        unknown: attrs
            .unknown
            .iter()
            .filter(|a| a.flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) == FLAG_OPTIONAL | FLAG_TRANSITIVE)
            .map(|a| RawAttribute {
                flags: a.flags | FLAG_PARTIAL,
                ..a.clone()
            })
            .collect(),
    }
}

/// Interned attributes by identity: equal pointers, equal sets.
struct ByPtr(Arc<PathAttributes>);

impl PartialEq for ByPtr {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ByPtr {}

impl Hash for ByPtr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

/// Collects one peer's announcements and withdrawals. Prefixes are first
/// grouped by their (interned) received attributes, so the outgoing set is
/// built once per group, not once per prefix.
#[derive(Default)]
pub(super) struct BatchBuilder {
    by_source: HashMap<(ByPtr, Kind), Vec<IpNet>>,
    withdrawn: Vec<IpNet>,
}

impl BatchBuilder {
    pub fn announce(&mut self, prefix: IpNet, best: &Path, kind: Kind) {
        self.by_source
            .entry((ByPtr(Arc::clone(&best.attrs)), kind))
            .or_default()
            .push(prefix);
    }

    pub fn withdraw(&mut self, prefix: IpNet) {
        self.withdrawn.push(prefix);
    }

    pub fn finish(self, to_ibgp: bool, local_asn: u32) -> OutBatch {
        // Different received sets can become one outgoing set (they may
        // differ only in MED, LOCAL_PREF or next hop): merge them.
        let mut by_out: HashMap<PathAttributes, Vec<IpNet>> = HashMap::new();
        for ((ByPtr(attrs), kind), prefixes) in self.by_source {
            by_out
                .entry(export_attrs(&attrs, kind, to_ibgp, local_asn))
                .or_default()
                .extend(prefixes);
        }
        let mut announced: Vec<(Arc<PathAttributes>, Vec<IpNet>)> = by_out
            .into_iter()
            .map(|(attrs, mut prefixes)| {
                prefixes.sort_unstable();
                (Arc::new(attrs), prefixes)
            })
            .collect();
        announced.sort_unstable_by_key(|(_, prefixes)| prefixes.first().copied());
        let mut withdrawn = self.withdrawn;
        withdrawn.sort_unstable();
        OutBatch { withdrawn, announced }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::update::{AsPath, AsSegment};

    fn received() -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Egp),
            as_path: AsPath {
                segments: vec![AsSegment::Sequence(vec![65002, 65003])],
            },
            next_hop: NextHop {
                link_local: Some("fe80::2".parse().unwrap()),
                ..Default::default()
            },
            med: Some(7),
            local_pref: Some(300),
            communities: vec![0x0001_0002],
            unknown: vec![
                RawAttribute {
                    flags: FLAG_OPTIONAL | FLAG_TRANSITIVE,
                    type_code: 99,
                    value: vec![1],
                },
                RawAttribute {
                    flags: FLAG_OPTIONAL,
                    type_code: 98,
                    value: vec![2],
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn ebgp_export_prepends_and_strips() {
        let out = export_attrs(&received(), Kind::Ebgp, false, 65001);
        assert_eq!(out.as_path.segments, [AsSegment::Sequence(vec![65001, 65002, 65003])]);
        assert_eq!(out.med, None);
        assert_eq!(out.local_pref, None);
        assert_eq!(out.next_hop, NextHop::default());
        assert_eq!(out.origin, Some(Origin::Egp));
        assert_eq!(out.communities, [0x0001_0002]);
        assert_eq!(out.unknown.len(), 1, "the non-transitive attribute is dropped");
        assert_eq!(out.unknown[0].type_code, 99);
        assert_eq!(out.unknown[0].flags & FLAG_PARTIAL, FLAG_PARTIAL);
    }

    #[test]
    fn local_med_goes_to_ebgp() {
        let local = PathAttributes {
            med: Some(5),
            ..Default::default()
        };
        let out = export_attrs(&local, Kind::Local, false, 65001);
        assert_eq!(out.med, Some(5));
        assert_eq!(out.origin, Some(Origin::Incomplete));
        assert_eq!(out.as_path.segments, [AsSegment::Sequence(vec![65001])]);
    }

    #[test]
    fn ibgp_export_keeps_path_and_sets_local_pref() {
        let out = export_attrs(&received(), Kind::Ebgp, true, 65001);
        assert_eq!(out.as_path, received().as_path);
        assert_eq!(out.local_pref, Some(100), "eBGP LOCAL_PREF was ignored: default");
        assert_eq!(out.med, Some(7));
    }

    #[test]
    fn well_known_communities_limit_export() {
        let all = PrefixFilter::permit_all();
        let path = |communities: Vec<u32>| Path {
            slot: 1,
            rejected: None,
            stale: false,
            attrs: Arc::new(PathAttributes {
                communities,
                ..Default::default()
            }),
        };
        let ebgp = Target {
            slot: 2,
            asn: 65002,
            ibgp: false,
            families: Families::ALL,
            export: &all,
        };
        let ibgp = Target {
            slot: 3,
            asn: 65001,
            ibgp: true,
            families: Families::ALL,
            export: &all,
        };
        let p: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(exportable(&p, &path(vec![]), Kind::Ebgp, &ebgp));
        assert!(!exportable(&p, &path(vec![NO_EXPORT]), Kind::Ebgp, &ebgp));
        assert!(exportable(&p, &path(vec![NO_EXPORT]), Kind::Ebgp, &ibgp));
        assert!(!exportable(&p, &path(vec![NO_EXPORT_SUBCONFED]), Kind::Ebgp, &ebgp));
        assert!(!exportable(&p, &path(vec![NO_ADVERTISE]), Kind::Ebgp, &ibgp));
    }

    #[test]
    fn a_family_the_session_did_not_negotiate_is_not_exported() {
        let path = Path {
            slot: 1,
            rejected: None,
            stale: false,
            attrs: Arc::new(PathAttributes::default()),
        };
        let all = PrefixFilter::permit_all();
        let v6_only = Target {
            slot: 2,
            asn: 65002,
            ibgp: false,
            families: Families {
                ipv4: false,
                ipv6: true,
            },
            export: &all,
        };
        let v4: IpNet = "10.0.0.0/8".parse().unwrap();
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(!exportable(&v4, &path, Kind::Ebgp, &v6_only));
        assert!(exportable(&v6, &path, Kind::Ebgp, &v6_only));
    }
}
