//! Property tests: random attributes and prefix sets survive encode and
//! decode, every message fits in 4096 octets, every prefix comes back once;
//! decoding random bytes never panics.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

use super::attr::{flag, type_code as tc};
use super::*;
use crate::msg::update::{AsPath, AsSegment, Origin, PathAttributes, RawAttribute};
use crate::msg::{HEADER_LEN, MAX_MESSAGE_LEN};

fn asn() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..=65535, 65536u32..=u32::MAX, Just(u32::from(crate::msg::AS_TRANS))]
}

fn asns(width: impl Strategy<Value = u32>) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(width, 1..8)
}

/// Leading confederation segments (2-octet ASNs: a 2-octet AS_PATH cannot
/// carry others, and AS4_PATH never has confederation segments), then
/// ordinary ones, now and then one near the 255-ASN limit of a segment.
fn as_path() -> impl Strategy<Value = AsPath> {
    let confed = prop_oneof![
        asns(1u32..=65535).prop_map(AsSegment::ConfedSequence),
        asns(1u32..=65535).prop_map(AsSegment::ConfedSet),
    ];
    let plain = prop_oneof![
        3 => asns(asn()).prop_map(AsSegment::Sequence),
        1 => asns(asn()).prop_map(AsSegment::Set),
    ];
    let long = proptest::option::weighted(0.1, prop::collection::vec(asn(), 200..=255));
    (
        prop::collection::vec(confed, 0..2),
        prop::collection::vec(plain, 0..4),
        long,
    )
        .prop_map(|(mut segments, plain, long)| {
            segments.extend(plain);
            segments.extend(long.map(AsSegment::Sequence));
            AsPath { segments }
        })
}

fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    ((1u8..224).prop_filter("not loopback", |o| *o != 127), any::<[u8; 3]>())
        .prop_map(|(a, [b, c, d])| Ipv4Addr::new(a, b, c, d))
}

fn global_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(|mut o| {
        o[0] = 0x20 | (o[0] & 0x1f);
        Ipv6Addr::from(o)
    })
}

fn link_local_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u64>().prop_map(|iid| Ipv6Addr::from((0xfe80_u128 << 112) | u128::from(iid)))
}

/// IPv4 only, IPv6 only (global, link-local or both), or both families.
fn next_hop() -> impl Strategy<Value = NextHop> {
    let v6 = prop_oneof![
        (global_v6(), link_local_v6()).prop_map(|(g, l)| (Some(g), Some(l))),
        global_v6().prop_map(|g| (Some(g), None)),
        link_local_v6().prop_map(|l| (None, Some(l))),
    ];
    prop_oneof![
        unicast_v4().prop_map(|a| NextHop {
            ipv4: Some(a),
            ..NextHop::default()
        }),
        v6.clone().prop_map(|(global, link_local)| NextHop {
            ipv4: None,
            global,
            link_local
        }),
        (unicast_v4(), v6).prop_map(|(a, (global, link_local))| NextHop {
            ipv4: Some(a),
            global,
            link_local
        }),
    ]
}

/// Types this codec does not interpret, as a peer may send them.
fn unknown() -> impl Strategy<Value = Vec<RawAttribute>> {
    let type_code = any::<u8>().prop_filter("not interpreted", |t| !tc::INTERPRETED.contains(t));
    prop::collection::btree_map(type_code, prop::collection::vec(any::<u8>(), 0..300), 0..3).prop_map(|m| {
        m.into_iter()
            .map(|(type_code, value)| RawAttribute {
                flags: flag::OPTIONAL | flag::TRANSITIVE | flag::PARTIAL,
                type_code,
                value,
            })
            .collect()
    })
}

fn attributes() -> impl Strategy<Value = PathAttributes> {
    let origin = prop_oneof![Just(Origin::Igp), Just(Origin::Egp), Just(Origin::Incomplete)];
    (
        (
            origin,
            as_path(),
            next_hop(),
            any::<Option<u32>>(),
            any::<Option<u32>>(),
            any::<bool>(),
        ),
        (
            proptest::option::of((1u32..=u32::MAX, any::<[u8; 4]>())),
            prop::collection::vec(any::<u32>(), 0..200),
            prop::collection::btree_set(any::<[u32; 3]>(), 0..5),
            unknown(),
        ),
    )
        .prop_map(
            |(
                (origin, as_path, next_hop, med, local_pref, atomic_aggregate),
                (aggregator, communities, large, unknown),
            )| {
                PathAttributes {
                    origin: Some(origin),
                    as_path,
                    next_hop,
                    med,
                    local_pref,
                    atomic_aggregate,
                    aggregator: aggregator.map(|(asn, a)| (asn, Ipv4Addr::from(a))),
                    communities,
                    large_communities: large.into_iter().collect(),
                    unknown,
                }
            },
        )
}

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, len)| {
        IpNet::V4(
            Ipv4Net::new(Ipv4Addr::from(a), len)
                .map(|n| n.trunc())
                .unwrap_or_default(),
        )
    })
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, len)| {
        IpNet::V6(
            Ipv6Net::new(Ipv6Addr::from(a), len)
                .map(|n| n.trunc())
                .unwrap_or_default(),
        )
    })
}

fn prefixes(max: usize) -> impl Strategy<Value = BTreeSet<IpNet>> {
    (
        prop::collection::btree_set(v4_prefix(), 0..max),
        prop::collection::btree_set(v6_prefix(), 0..max),
    )
        .prop_map(|(mut a, b)| {
            a.extend(b);
            a
        })
}

/// Up to three groups with prefixes unique across all of them; an IPv6
/// prefix only in a group with an IPv6 next hop.
fn groups() -> impl Strategy<Value = Vec<(PathAttributes, Vec<IpNet>)>> {
    prop::collection::vec((attributes(), prefixes(500)), 1..4).prop_map(|gs| {
        let mut used = BTreeSet::new();
        gs.into_iter()
            .map(|(a, ps)| {
                let v6_ok = a.next_hop.global.is_some() || a.next_hop.link_local.is_some();
                let ps = ps
                    .into_iter()
                    .filter(|p| (v6_ok || matches!(p, IpNet::V4(_))) && used.insert(*p))
                    .collect();
                (a, ps)
            })
            .collect()
    })
}

/// The whole message checked against its header, and its body.
fn checked_body(m: &[u8]) -> &[u8] {
    assert!(m.len() <= MAX_MESSAGE_LEN, "message of {} octets", m.len());
    assert_eq!(usize::from(u16::from_be_bytes([m[16], m[17]])), m.len());
    assert_eq!(m[18], crate::msg::msg_type::UPDATE);
    &m[HEADER_LEN..]
}

fn round_trip(groups: &[(PathAttributes, Vec<IpNet>)], withdraw: &[IpNet], four_octet_as: bool) {
    let out = encode(groups, withdraw, &EncodeContext { four_octet_as }).expect("encodes");
    let ctx = DecodeContext {
        four_octet_as,
        external: false,
    };
    let mut announced: BTreeMap<IpNet, Vec<PathAttributes>> = BTreeMap::new();
    let mut withdrawn = Vec::new();
    for m in &out {
        let d = decode(checked_body(m), &ctx).unwrap_or_else(|e| panic!("{e}"));
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        withdrawn.extend(d.update.withdrawn.iter().copied());
        if let Some(a) = &d.update.attributes {
            for p in &d.update.announced {
                announced.entry(*p).or_default().push(a.clone());
            }
        }
    }
    let mut want: BTreeMap<IpNet, Vec<PathAttributes>> = BTreeMap::new();
    for (a, ps) in groups {
        for p in ps {
            let mut a = a.clone();
            a.next_hop = next_hop_for(p, &a.next_hop);
            want.entry(*p).or_default().push(a);
        }
    }
    // Each prefix exactly once, with its group's attributes.
    assert_eq!(announced.len(), want.len());
    for (p, got) in &announced {
        let mut got = got.clone();
        got.iter_mut().for_each(|a| a.next_hop = next_hop_for(p, &a.next_hop));
        assert_eq!(Some(&got), want.get(p), "{p}");
    }
    let mut want_withdrawn = withdraw.to_vec();
    want_withdrawn.sort();
    withdrawn.sort();
    assert_eq!(withdrawn, want_withdrawn);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn routes_round_trip_with_4_octet_asns(groups in groups(), withdraw in prefixes(400)) {
        round_trip(&groups, &withdraw.into_iter().collect::<Vec<_>>(), true);
    }

    #[test]
    fn routes_round_trip_with_2_octet_asns(groups in groups(), withdraw in prefixes(50)) {
        round_trip(&groups, &withdraw.into_iter().collect::<Vec<_>>(), false);
    }

    /// Whatever comes in: a verdict, no panic; a reset's NOTIFICATION fits
    /// on the wire; a usable UPDATE re-encodes.
    #[test]
    fn decoding_random_bodies_never_panics(body in prop::collection::vec(any::<u8>(), 0..200), four in any::<bool>(), external in any::<bool>()) {
        let ctx = DecodeContext { four_octet_as: four, external };
        match decode(&body, &ctx) {
            Ok(d) => {
                let groups: Vec<_> = d.update.attributes.iter().map(|a| (a, &d.update.announced)).collect();
                let again = encode(&groups, &d.update.withdrawn, &EncodeContext { four_octet_as: four });
                prop_assert!(again.is_ok(), "{:?}", again);
            }
            Err(UpdateError::Reset(m)) => prop_assert!(m.notification.data.len() < MAX_MESSAGE_LEN),
            Err(UpdateError::TreatAsWithdraw { .. }) => {}
        }
    }
}
