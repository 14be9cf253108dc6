//! UPDATE codec tests: the UPDATEs captured from FRR 8.4, BIRD 2.0.12 and
//! GoBGP 3.10 (tests/vectors/bgp/README.md), with the values tshark decodes
//! from the same capture; encodings compared with the daemons' bytes; and
//! the RFC 7606 table: each malformed UPDATE with its outcome.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::attr::{flag, type_code as tc};
use super::*;
use crate::msg::update::{AsPath, AsSegment, Origin, PathAttributes, RawAttribute};
use crate::msg::{self, AFI_IPV4, AFI_IPV6, HEADER_LEN, Message, SAFI_UNICAST};

const FRR_BIRD: &str = include_str!("../../../tests/vectors/bgp/frr-bird.txt");
const FRR_GOBGP: &str = include_str!("../../../tests/vectors/bgp/frr-gobgp.txt");

/// Every session in the capture is eBGP with 4-octet ASNs.
const CAPTURED: DecodeContext = DecodeContext {
    four_octet_as: true,
    external: true,
};
const IBGP: DecodeContext = DecodeContext {
    four_octet_as: true,
    external: false,
};
const EBGP: DecodeContext = CAPTURED;
const TWO_OCTET: DecodeContext = DecodeContext {
    four_octet_as: false,
    external: false,
};
const ENCODE4: EncodeContext = EncodeContext { four_octet_as: true };

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("IPv6 address")
}

/// The captured UPDATEs as (file line, sender, whole message).
fn captured_updates() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, file) in [("frr-bird", FRR_BIRD), ("frr-gobgp", FRR_GOBGP)] {
        for (i, line) in file.lines().enumerate() {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 4, "bad vector line {line}");
            if f[2] == "UPDATE" {
                out.push((format!("{name}.txt:{} from {}", i + 1, f[0]), unhex(f[3])));
            }
        }
    }
    out
}

/// The UPDATE at line `line` (1-based) of `file`.
fn line(file: &str, line: usize) -> Vec<u8> {
    let text = file.lines().nth(line - 1).expect("line present");
    let f: Vec<&str> = text.split(' ').collect();
    assert_eq!(f[2], "UPDATE", "line {line} is not an UPDATE");
    unhex(f[3])
}

/// The body of a whole message, checked by the message codec first.
fn body(message: &[u8]) -> Vec<u8> {
    match msg::decode(message) {
        Ok(Message::Update(body)) => body,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

fn decoded(message: &[u8], ctx: &DecodeContext) -> Decoded {
    decode(&body(message), ctx).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

fn seq(asns: &[u32]) -> AsPath {
    AsPath {
        segments: vec![AsSegment::Sequence(asns.to_vec())],
    }
}

fn attrs(origin: Origin, path: &[u32], next_hop: NextHop) -> PathAttributes {
    PathAttributes {
        origin: Some(origin),
        as_path: seq(path),
        next_hop,
        ..PathAttributes::default()
    }
}

fn mp(global: Option<&str>, link_local: Option<&str>) -> NextHop {
    NextHop {
        ipv4: None,
        global: global.map(v6),
        link_local: link_local.map(v6),
    }
}

fn ipv4_nh(addr: [u8; 4]) -> NextHop {
    NextHop {
        ipv4: Some(Ipv4Addr::from(addr)),
        ..NextHop::default()
    }
}

fn announcement(prefixes: &[&str], attributes: PathAttributes) -> Update {
    Update {
        withdrawn: Vec::new(),
        announced: prefixes.iter().map(|p| net(p)).collect(),
        attributes: Some(attributes),
    }
}

// ---- captured vectors ----

#[test]
fn every_captured_update_decodes_without_warnings() {
    let all = captured_updates();
    assert_eq!(all.len(), 52);
    for (name, message) in all {
        let d = decoded(&message, &CAPTURED);
        assert!(d.warnings.is_empty(), "{name}: {:?}", d.warnings);
        let u = &d.update;
        assert!(
            !u.announced.is_empty() || !u.withdrawn.is_empty() || d.end_of_rib.is_some(),
            "{name} decoded to nothing and is no End-of-RIB"
        );
        assert_eq!(u.attributes.is_some(), !u.announced.is_empty(), "{name}");
    }
}

/// Expected values as `tshark -r tests/vectors/bgp/bgp.pcap -d
/// tcp.port==179,bgp -V` decodes them.
#[test]
fn captured_updates_decode_to_what_tshark_shows() {
    let bird_global = Some("fd00:cafe:1::2");
    let bird_ll = Some("fe80::ccc:faff:feed:f95");
    let frr_global = Some("fd00:cafe:1::1");
    let frr_to_bird_ll = Some("fe80::786e:60ff:fe99:87d0");
    let frr_to_gobgp_ll = Some("fe80::68bf:e5ff:fea3:fe98");
    let bird_as = 4_200_000_002;
    let frr_med = |mut a: PathAttributes| {
        a.med = Some(0);
        a
    };
    let cases: Vec<(&str, usize, Update)> = vec![
        // BIRD, 16-octet global next hop: IPv4 by RFC 8950, then IPv6.
        (
            FRR_BIRD,
            5,
            announcement(
                &["203.0.113.0/24"],
                attrs(Origin::Igp, &[bird_as], mp(bird_global, None)),
            ),
        ),
        (
            FRR_BIRD,
            7,
            announcement(
                &["2001:db8:2::/48"],
                attrs(Origin::Igp, &[bird_as], mp(bird_global, None)),
            ),
        ),
        // BIRD again after the restart, now with global + link-local.
        (
            FRR_BIRD,
            46,
            announcement(
                &["203.0.113.0/24"],
                attrs(Origin::Igp, &[bird_as], mp(bird_global, bird_ll)),
            ),
        ),
        (
            FRR_BIRD,
            48,
            announcement(
                &["2001:db8:2::/48"],
                attrs(Origin::Igp, &[bird_as], mp(bird_global, bird_ll)),
            ),
        ),
        // FRR to BIRD: its own network (MED 0), BIRD's route back, GoBGP's.
        (
            FRR_BIRD,
            9,
            announcement(
                &["198.51.100.0/24"],
                frr_med(attrs(Origin::Igp, &[65001], mp(frr_global, frr_to_bird_ll))),
            ),
        ),
        (
            FRR_BIRD,
            11,
            announcement(
                &["203.0.113.0/24"],
                attrs(Origin::Igp, &[65001, bird_as], mp(frr_global, frr_to_bird_ll)),
            ),
        ),
        (
            FRR_BIRD,
            18,
            announcement(
                &["2001:db8:3::/48"],
                attrs(Origin::Incomplete, &[65001, 65003], mp(frr_global, frr_to_bird_ll)),
            ),
        ),
        // FRR to GoBGP: IPv4 with a NEXT_HOP; IPv6 with the link-local twice.
        (
            FRR_GOBGP,
            5,
            announcement(
                &["198.51.100.0/24"],
                frr_med(attrs(Origin::Igp, &[65001], ipv4_nh([169, 254, 179, 1]))),
            ),
        ),
        (
            FRR_GOBGP,
            6,
            announcement(
                &["2001:db8:1::/48"],
                frr_med(attrs(Origin::Igp, &[65001], mp(None, frr_to_gobgp_ll))),
            ),
        ),
        (
            FRR_GOBGP,
            13,
            announcement(
                &["203.0.113.128/25"],
                attrs(Origin::Incomplete, &[65001, 65003], ipv4_nh([169, 254, 179, 1])),
            ),
        ),
        // GoBGP: IPv4 with a NEXT_HOP; IPv6 with an IPv4-mapped next hop.
        (
            FRR_GOBGP,
            11,
            announcement(
                &["203.0.113.128/25"],
                attrs(Origin::Incomplete, &[65003], ipv4_nh([169, 254, 179, 2])),
            ),
        ),
        (
            FRR_GOBGP,
            12,
            announcement(
                &["2001:db8:3::/48"],
                attrs(Origin::Incomplete, &[65003], mp(Some("::ffff:169.254.179.2"), None)),
            ),
        ),
        // FRR withdraws BIRD's routes from GoBGP once BIRD is shut down.
        (
            FRR_GOBGP,
            19,
            Update {
                withdrawn: vec![net("203.0.113.0/24")],
                ..Update::default()
            },
        ),
        (
            FRR_GOBGP,
            20,
            Update {
                withdrawn: vec![net("2001:db8:2::/48")],
                ..Update::default()
            },
        ),
    ];
    for (file, n, want) in cases {
        let d = decoded(&line(file, n), &CAPTURED);
        assert_eq!(d.update, want, "line {n}");
        assert_eq!(d.end_of_rib, None, "line {n}");
    }
}

#[test]
fn captured_end_of_rib_markers_are_recognised_and_decode_empty() {
    for (n, family) in [
        (6, (AFI_IPV4, SAFI_UNICAST)),
        (8, (AFI_IPV6, SAFI_UNICAST)),
        (13, (AFI_IPV4, SAFI_UNICAST)),
    ] {
        let message = line(FRR_BIRD, n);
        let d = decoded(&message, &CAPTURED);
        assert_eq!(d.end_of_rib, Some(family), "line {n}");
        assert_eq!(d.update, Update::default(), "line {n}");
        assert_eq!(end_of_rib_family(&body(&message)), Some(family));
        // And ours are FRR's bytes.
        assert_eq!(end_of_rib(family.0, family.1), message, "line {n}");
    }
    // A withdrawal is no marker.
    assert_eq!(end_of_rib_family(&body(&line(FRR_GOBGP, 20))), None);
}

/// Attributes in type order with minimal lengths, MP_REACH_NLRI first and
/// extended: BIRD encodes as we do, and GoBGP does for IPv4.
#[test]
fn encoding_a_captured_announcement_gives_the_same_bytes() {
    for (file, n) in [
        (FRR_BIRD, 5),
        (FRR_BIRD, 7),
        (FRR_BIRD, 46),
        (FRR_BIRD, 48),
        (FRR_GOBGP, 11),
    ] {
        let message = line(file, n);
        let u = decoded(&message, &CAPTURED).update;
        let attributes = u.attributes.expect("an announcement");
        let out = encode(&[(&attributes, &u.announced)], &[], &ENCODE4).expect("encodes");
        assert_eq!(out, vec![message], "line {n}");
    }
}

/// Announced prefix -> the attributes that apply to it.
fn routes(u: &Update) -> Vec<(IpNet, PathAttributes)> {
    let Some(a) = &u.attributes else {
        return Vec::new();
    };
    u.announced
        .iter()
        .map(|p| {
            let mut a = a.clone();
            a.next_hop = next_hop_for(p, &a.next_hop);
            (*p, a)
        })
        .collect()
}

#[test]
fn every_captured_update_round_trips_through_encode() {
    for (name, message) in captured_updates() {
        let u = decoded(&message, &CAPTURED).update;
        let groups: Vec<(PathAttributes, Vec<IpNet>)> = u
            .attributes
            .clone()
            .map(|a| (a, u.announced.clone()))
            .into_iter()
            .collect();
        let out = encode(&groups, &u.withdrawn, &ENCODE4).expect("encodes");
        let mut again = Update::default();
        let mut back = Vec::new();
        for m in &out {
            assert!(m.len() <= 4096);
            let d = decoded(m, &CAPTURED);
            back.extend(routes(&d.update));
            again.withdrawn.extend(d.update.withdrawn);
        }
        assert_eq!(back, routes(&u), "{name}");
        assert_eq!(again.withdrawn, u.withdrawn, "{name}");
    }
}

// ---- encoding ----

fn sample_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: seq(&[65001, 4_200_000_002]),
        next_hop: NextHop {
            ipv4: None,
            global: Some(v6("2001:db8::1")),
            link_local: Some(v6("fe80::1")),
        },
        med: Some(10),
        communities: vec![0xfde9_0001],
        ..PathAttributes::default()
    }
}

fn v4_prefixes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24).expect("valid")))
        .collect()
}

#[test]
fn many_prefixes_fill_messages_to_the_limit() {
    let prefixes = v4_prefixes(3000);
    let shared = Arc::new(sample_attrs());
    let out = encode(&[(shared, prefixes.clone())], &[], &ENCODE4).expect("encodes");
    // Each /24 takes 4 octets; the fixed part is small, so ~1000 per message.
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|m| m.len() <= 4096));
    assert!(out[0].len() > 4096 - 4, "first message not full: {}", out[0].len());
    let mut back = Vec::new();
    for m in &out {
        back.extend(decoded(m, &IBGP).update.announced);
    }
    assert_eq!(back, prefixes);
}

#[test]
fn ipv4_with_an_ipv4_next_hop_uses_the_nlri_field_and_ipv6_mp_reach() {
    let mut a = sample_attrs();
    a.next_hop.ipv4 = Some(Ipv4Addr::new(192, 0, 2, 1));
    let out = encode(&[(&a, vec![net("10.0.0.0/8"), net("2001:db8:5::/48")])], &[], &ENCODE4).expect("encodes");
    assert_eq!(out.len(), 2);
    let first = decoded(&out[0], &IBGP).update;
    assert_eq!(first.announced, vec![net("10.0.0.0/8")]);
    assert_eq!(first.attributes.map(|a| a.next_hop), Some(ipv4_nh([192, 0, 2, 1])));
    let packet = msg::UpdatePacket::new_checked(&out[0][HEADER_LEN..]).expect("valid");
    assert_eq!(packet.nlri(), [8, 10]);
    let second = decoded(&out[1], &IBGP).update;
    assert_eq!(second.announced, vec![net("2001:db8:5::/48")]);
    assert_eq!(
        second.attributes.map(|a| a.next_hop),
        Some(mp(Some("2001:db8::1"), Some("fe80::1")))
    );
}

#[test]
fn next_hop_length_is_32_with_both_addresses_and_16_with_one() {
    for (nh, len) in [
        (mp(Some("2001:db8::1"), Some("fe80::1")), 32),
        (mp(Some("2001:db8::1"), None), 16),
        (mp(None, Some("fe80::1")), 16),
    ] {
        let a = attrs(Origin::Igp, &[65001], nh);
        let out = encode(&[(&a, vec![net("10.0.0.0/8")])], &[], &ENCODE4).expect("encodes");
        let attrs = msg::UpdatePacket::new_checked(&out[0][HEADER_LEN..])
            .expect("valid")
            .path_attributes()
            .to_vec();
        // MP_REACH_NLRI first, extended length: flags, type, 2 length, AFI 1, SAFI 1, next hop length.
        assert_eq!(attrs[..2], [flag::OPTIONAL | flag::EXTENDED_LENGTH, tc::MP_REACH_NLRI]);
        assert_eq!(attrs[4..8], [0, 1, 1, len]);
        assert_eq!(decoded(&out[0], &IBGP).update.attributes.map(|a| a.next_hop), Some(nh));
    }
}

#[test]
fn withdrawals_go_in_the_withdrawn_field_and_mp_unreach() {
    let out = encode::<&PathAttributes, Vec<IpNet>>(&[], &[net("10.0.0.0/8"), net("2001:db8::/32")], &ENCODE4)
        .expect("encodes");
    assert_eq!(out.len(), 2);
    let b0 = body(&out[0]);
    assert_eq!(b0, [0, 2, 8, 10, 0, 0]);
    let b1 = body(&out[1]);
    assert_eq!(b1, [0, 0, 0, 12, 0x90, 15, 0, 8, 0, 2, 1, 32, 0x20, 0x01, 0x0d, 0xb8]);
    assert_eq!(decoded(&out[1], &IBGP).update.withdrawn, vec![net("2001:db8::/32")]);
}

#[test]
fn attributes_too_long_for_any_prefix_and_missing_next_hops_are_refused() {
    let mut a = sample_attrs();
    a.communities = vec![1; 1100];
    assert_eq!(
        encode(&[(&a, vec![net("10.0.0.0/8")])], &[], &ENCODE4),
        Err(PackError::AttributesTooLong { group: 0, len: 4492 })
    );
    let no_v6 = attrs(Origin::Igp, &[65001], ipv4_nh([192, 0, 2, 1]));
    let ok = sample_attrs();
    assert_eq!(
        encode(
            &[(&ok, vec![net("10.0.0.0/8")]), (&no_v6, vec![net("2001:db8::/32")])],
            &[],
            &ENCODE4
        ),
        Err(PackError::NoNextHop {
            group: 1,
            prefix: net("2001:db8::/32")
        })
    );
}

#[test]
fn host_bits_are_cleared_on_the_wire() {
    let a = attrs(Origin::Igp, &[65001], ipv4_nh([192, 0, 2, 1]));
    let out = encode(&[(&a, vec![net("10.1.2.3/30")])], &[], &ENCODE4).expect("encodes");
    assert_eq!(decoded(&out[0], &IBGP).update.announced, vec![net("10.1.2.0/30")]);
}

#[test]
fn two_octet_peers_get_as_trans_with_as4_path_and_as4_aggregator() {
    let mut a = attrs(Origin::Igp, &[65001, 4_200_000_002], ipv4_nh([192, 0, 2, 1]));
    a.aggregator = Some((4_200_000_002, Ipv4Addr::new(192, 0, 2, 2)));
    let out = encode(
        &[(&a, vec![net("10.0.0.0/8")])],
        &[],
        &EncodeContext { four_octet_as: false },
    )
    .expect("encodes");
    let b = body(&out[0]);
    let attrs = msg::UpdatePacket::new_checked(&b)
        .expect("valid")
        .path_attributes()
        .to_vec();
    let types: Vec<u8> = walk_types(&attrs);
    assert_eq!(types, [1, 2, 3, 7, 17, 18]);
    // AS_PATH: one sequence of 65001, AS_TRANS.
    assert_eq!(attrs[4..13], [0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
    let d = decode(&b, &TWO_OCTET).expect("decodes");
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_eq!(d.update.attributes, Some(a));
}

fn walk_types(mut attrs: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while !attrs.is_empty() {
        let ext = attrs[0] & flag::EXTENDED_LENGTH != 0;
        types.push(attrs[1]);
        let (hdr, len) = if ext {
            (4, usize::from(u16::from_be_bytes([attrs[2], attrs[3]])))
        } else {
            (3, usize::from(attrs[2]))
        };
        attrs = &attrs[hdr + len..];
    }
    types
}

#[test]
fn unknown_attributes_go_out_in_type_order_with_the_partial_bit() {
    let mut a = attrs(Origin::Igp, &[65001], ipv4_nh([192, 0, 2, 1]));
    a.unknown = vec![
        RawAttribute {
            flags: flag::OPTIONAL | flag::TRANSITIVE,
            type_code: 40,
            value: vec![1; 300],
        },
        RawAttribute {
            flags: flag::OPTIONAL | flag::TRANSITIVE,
            type_code: 16,
            value: vec![2; 8],
        },
        // A type we write ourselves is not sent twice.
        RawAttribute {
            flags: flag::OPTIONAL | flag::TRANSITIVE,
            type_code: tc::COMMUNITIES,
            value: vec![3; 4],
        },
    ];
    let out = encode(&[(&a, vec![net("10.0.0.0/8")])], &[], &ENCODE4).expect("encodes");
    let b = body(&out[0]);
    let attrs = msg::UpdatePacket::new_checked(&b)
        .expect("valid")
        .path_attributes()
        .to_vec();
    assert_eq!(walk_types(&attrs), [1, 2, 3, 16, 40]);
    let got = decode(&b, &IBGP)
        .expect("decodes")
        .update
        .attributes
        .expect("announced")
        .unknown;
    let partial = flag::OPTIONAL | flag::TRANSITIVE | flag::PARTIAL;
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].flags, got[0].type_code, got[0].value.len()), (partial, 16, 8));
    assert_eq!((got[1].flags, got[1].type_code, got[1].value.len()), (partial, 40, 300));
}

// ---- decoding details ----

#[test]
fn two_octet_path_is_rebuilt_from_as4_path_behind_an_old_speaker() {
    // 65010 (a 2-octet-only speaker) prepended itself to a route that left
    // 4200000002 with AS4_PATH [4200000002 65001].
    let b = update_body(
        &[],
        &[
            origin_igp(),
            attr(
                flag::WELL_KNOWN,
                tc::AS_PATH,
                &[2, 3, 0xfd, 0xf2, 0x5b, 0xa0, 0xfd, 0xe9],
            ),
            next_hop(),
            attr(
                flag::OPTIONAL | flag::TRANSITIVE,
                tc::AS4_PATH,
                &[2, 2, 0xfa, 0x56, 0xea, 0x02, 0, 0, 0xfd, 0xe9],
            ),
        ],
        &[8, 10],
    );
    let d = decode(&b, &TWO_OCTET).expect("decodes");
    assert_eq!(
        d.update.attributes.map(|a| a.as_path),
        Some(seq(&[65010, 4_200_000_002, 65001]))
    );
}

#[test]
fn as4_path_is_ignored_when_aggregator_is_not_as_trans() {
    let b = update_body(
        &[],
        &[
            origin_igp(),
            attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 1, 0x5b, 0xa0]),
            next_hop(),
            attr(
                flag::OPTIONAL | flag::TRANSITIVE,
                tc::AGGREGATOR,
                &[0xfd, 0xe9, 192, 0, 2, 9],
            ),
            attr(
                flag::OPTIONAL | flag::TRANSITIVE,
                tc::AS4_PATH,
                &[2, 1, 0xfa, 0x56, 0xea, 0x02],
            ),
            attr(
                flag::OPTIONAL | flag::TRANSITIVE,
                tc::AS4_AGGREGATOR,
                &[0xfa, 0x56, 0xea, 0x02, 192, 0, 2, 9],
            ),
        ],
        &[8, 10],
    );
    let d = decode(&b, &TWO_OCTET).expect("decodes");
    let a = d.update.attributes.expect("announced");
    assert_eq!(a.as_path, seq(&[23456]));
    assert_eq!(a.aggregator, Some((65001, Ipv4Addr::new(192, 0, 2, 9))));
    let warned: Vec<u8> = d.warnings.iter().map(|w| w.type_code).collect();
    assert_eq!(warned, [tc::AS4_PATH, tc::AS4_AGGREGATOR]);
}

#[test]
fn next_hop_is_ignored_when_only_mp_reach_carries_nlri() {
    let b = update_body(
        &[],
        &[
            mp_reach_v6(&[32, 0x20, 0x01, 0x0d, 0xb8]),
            origin_igp(),
            as_path(),
            next_hop(),
        ],
        &[],
    );
    let a = decode(&b, &IBGP)
        .expect("decodes")
        .update
        .attributes
        .expect("announced");
    assert_eq!(a.next_hop, mp(Some("2001:db8::1"), None));
}

#[test]
fn large_community_duplicates_are_removed_and_other_attributes_read() {
    let lc = [0u8, 0, 0xfd, 0xe9, 0, 0, 0, 1, 0, 0, 0, 2];
    let mut two = lc.to_vec();
    two.extend_from_slice(&lc);
    let b = update_body(
        &[],
        &[
            origin_igp(),
            as_path(),
            next_hop(),
            attr(flag::OPTIONAL, tc::MULTI_EXIT_DISC, &[0, 0, 0, 7]),
            attr(flag::WELL_KNOWN, tc::LOCAL_PREF, &[0, 0, 0, 200]),
            attr(flag::WELL_KNOWN, tc::ATOMIC_AGGREGATE, &[]),
            attr(
                flag::OPTIONAL | flag::TRANSITIVE,
                tc::AGGREGATOR,
                &[0, 0, 0xfd, 0xe9, 192, 0, 2, 9],
            ),
            attr(
                flag::OPTIONAL | flag::TRANSITIVE,
                tc::COMMUNITIES,
                &[0xff, 0xff, 0xff, 0x01],
            ),
            attr(flag::OPTIONAL | flag::TRANSITIVE, tc::LARGE_COMMUNITIES, &two),
        ],
        &[8, 10],
    );
    let a = decode(&b, &IBGP)
        .expect("decodes")
        .update
        .attributes
        .expect("announced");
    assert_eq!(a.med, Some(7));
    assert_eq!(a.local_pref, Some(200));
    assert!(a.atomic_aggregate);
    assert_eq!(a.aggregator, Some((65001, Ipv4Addr::new(192, 0, 2, 9))));
    assert_eq!(a.communities, vec![0xffff_ff01]);
    assert_eq!(a.large_communities, vec![[65001, 1, 2]]);
}

#[test]
fn local_pref_from_an_external_peer_is_ignored() {
    let b = update_body(
        &[],
        &[
            origin_igp(),
            as_path(),
            next_hop(),
            attr(flag::WELL_KNOWN, tc::LOCAL_PREF, &[0, 0, 0, 200]),
        ],
        &[8, 10],
    );
    let d = decode(&b, &EBGP).expect("decodes");
    assert_eq!(d.update.attributes.and_then(|a| a.local_pref), None);
    assert!(d.warnings.is_empty());
}

#[test]
fn errors_render_for_the_log() {
    let err = decode(&update_body(&[], &[as_path(), next_hop()], &[8, 10]), &IBGP).expect_err("missing ORIGIN");
    assert_eq!(
        err.to_string(),
        "malformed UPDATE, 1 prefixes treated as withdrawn: NLRI without ORIGIN \
         (UPDATE Message Error/Missing Well-known Attribute (data 01))"
    );
    assert_eq!(err.notification(), None);
    let reset = decode(&[0, 9, 0, 0], &IBGP).expect_err("overrun");
    assert_eq!(
        reset.notification().map(|n| (n.code, n.subcode)),
        Some((code::UPDATE_MESSAGE, code::MALFORMED_ATTRIBUTE_LIST))
    );
}

// ---- the RFC 7606 table ----

fn attr(flags: u8, type_code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![flags, type_code];
    if flags & flag::EXTENDED_LENGTH != 0 {
        out.extend_from_slice(&u16::try_from(value.len()).expect("short").to_be_bytes());
    } else {
        out.push(u8::try_from(value.len()).expect("short"));
    }
    out.extend_from_slice(value);
    out
}

fn origin_igp() -> Vec<u8> {
    attr(flag::WELL_KNOWN, tc::ORIGIN, &[0])
}

/// AS_PATH: one sequence of 65002, 4-octet.
fn as_path() -> Vec<u8> {
    attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 1, 0, 0, 0xfd, 0xea])
}

fn next_hop() -> Vec<u8> {
    attr(flag::WELL_KNOWN, tc::NEXT_HOP, &[192, 0, 2, 1])
}

/// MP_REACH_NLRI for IPv6 unicast, next hop 2001:db8::1, then `nlri`.
fn mp_reach_v6(nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![
        0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
    ];
    v.extend_from_slice(nlri);
    attr(flag::OPTIONAL | flag::EXTENDED_LENGTH, tc::MP_REACH_NLRI, &v)
}

fn mp_reach_with_next_hop(next_hop: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 2, 1, u8::try_from(next_hop.len()).expect("short")];
    v.extend_from_slice(next_hop);
    v.extend_from_slice(&[0, 32, 0x20, 0x01, 0x0d, 0xb8]);
    attr(flag::OPTIONAL, tc::MP_REACH_NLRI, &v)
}

fn update_body(withdrawn: &[u8], attrs: &[Vec<u8>], nlri: &[u8]) -> Vec<u8> {
    let attrs = attrs.concat();
    let mut b = u16::try_from(withdrawn.len()).expect("short").to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).expect("short").to_be_bytes());
    b.extend_from_slice(&attrs);
    b.extend_from_slice(nlri);
    b
}

/// A good IPv4 announcement of 10.0.0.0/8 with `extra` appended to its
/// attributes.
fn with(extra: Vec<u8>) -> Vec<u8> {
    update_body(&[], &[origin_igp(), as_path(), next_hop(), extra], &[8, 10])
}

/// A good IPv4 announcement of 10.0.0.0/8 with `replace` in place of the
/// attribute of its type.
fn replacing(replace: Vec<u8>) -> Vec<u8> {
    let type_code = replace[1];
    let attrs: Vec<Vec<u8>> = [origin_igp(), as_path(), next_hop()]
        .into_iter()
        .map(|a| if a[1] == type_code { replace.clone() } else { a })
        .collect();
    update_body(&[], &attrs, &[8, 10])
}

#[derive(Debug)]
enum Want {
    /// Session reset with this (code, subcode).
    Reset(u8, u8),
    /// Treat-as-withdraw of exactly these prefixes; the RFC 4271 subcode
    /// that would have been sent.
    Withdraw(u8, &'static [&'static str]),
    /// Usable, with this attribute discarded and 10.0.0.0/8 announced.
    Discard(u8),
    /// Usable, no warning, these prefixes announced.
    Fine(&'static [&'static str]),
}

const TEN: &[&str] = &["10.0.0.0/8"];

#[test]
fn rfc7606_table() {
    use Want::*;
    const OT: u8 = flag::OPTIONAL | flag::TRANSITIVE;
    let update_error = code::UPDATE_MESSAGE;
    let mp_v6 = |nlri: &[u8]| update_body(&[], &[mp_reach_v6(nlri), origin_igp(), as_path()], &[]);
    let cases: Vec<(&str, DecodeContext, Vec<u8>, Want)> = vec![
        // RFC 4271 6.3, kept by 7606 3 b: the length fields overrun.
        (
            "body too short",
            IBGP,
            vec![0, 0, 0],
            Reset(code::MESSAGE_HEADER, code::BAD_MESSAGE_LENGTH),
        ),
        (
            "withdrawn length overruns",
            IBGP,
            vec![0, 9, 0, 0],
            Reset(update_error, code::MALFORMED_ATTRIBUTE_LIST),
        ),
        (
            "attribute length overruns",
            IBGP,
            vec![0, 0, 0, 9, 0x40],
            Reset(update_error, code::MALFORMED_ATTRIBUTE_LIST),
        ),
        // 7606 5.3: NLRI syntax errors.
        (
            "withdrawn /33",
            IBGP,
            update_body(&[33, 1, 2, 3, 4, 5], &[], &[]),
            Reset(update_error, code::INVALID_NETWORK_FIELD),
        ),
        (
            "NLRI overruns",
            IBGP,
            update_body(&[], &[origin_igp(), as_path(), next_hop()], &[24, 10, 0]),
            Reset(update_error, code::INVALID_NETWORK_FIELD),
        ),
        // 7606 4: attribute framing inside the field: treat-as-withdraw.
        (
            "last attribute overruns the field",
            IBGP,
            update_body(
                &[],
                &[origin_igp(), as_path(), next_hop(), vec![OT, 99, 10, 1, 2]],
                &[8, 10],
            ),
            Withdraw(code::MALFORMED_ATTRIBUTE_LIST, TEN),
        ),
        (
            "two octets left for a header",
            IBGP,
            update_body(&[], &[origin_igp(), as_path(), next_hop(), vec![OT, 99]], &[8, 10]),
            Withdraw(code::MALFORMED_ATTRIBUTE_LIST, TEN),
        ),
        // 7606 3 g: duplicates.
        (
            "MP_REACH_NLRI twice",
            IBGP,
            update_body(&[], &[mp_reach_v6(&[]), mp_reach_v6(&[]), origin_igp(), as_path()], &[]),
            Reset(update_error, code::MALFORMED_ATTRIBUTE_LIST),
        ),
        (
            "MP_UNREACH_NLRI twice",
            IBGP,
            update_body(
                &[],
                &[
                    attr(flag::OPTIONAL, tc::MP_UNREACH_NLRI, &[0, 2, 1]),
                    attr(flag::OPTIONAL, tc::MP_UNREACH_NLRI, &[0, 2, 1]),
                ],
                &[],
            ),
            Reset(update_error, code::MALFORMED_ATTRIBUTE_LIST),
        ),
        (
            "ORIGIN twice: the second dropped",
            IBGP,
            with(attr(flag::WELL_KNOWN, tc::ORIGIN, &[9])),
            Discard(tc::ORIGIN),
        ),
        // RFC 4271 6.3, kept by 7606: unrecognized well-known.
        (
            "unrecognized well-known",
            IBGP,
            with(attr(flag::WELL_KNOWN, 99, &[1])),
            Reset(update_error, code::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE),
        ),
        (
            "unknown optional transitive kept",
            IBGP,
            with(attr(OT, 99, &[1])),
            Fine(TEN),
        ),
        (
            "unknown optional non-transitive dropped",
            IBGP,
            with(attr(flag::OPTIONAL, 99, &[1])),
            Fine(TEN),
        ),
        // 7606 3 c: Optional/Transitive flags in conflict.
        (
            "ORIGIN flagged optional",
            IBGP,
            replacing(attr(OT, tc::ORIGIN, &[0])),
            Withdraw(code::ATTRIBUTE_FLAGS_ERROR, TEN),
        ),
        (
            "COMMUNITIES flagged well-known",
            IBGP,
            with(attr(flag::WELL_KNOWN, tc::COMMUNITIES, &[0, 0, 0, 1])),
            Withdraw(code::ATTRIBUTE_FLAGS_ERROR, TEN),
        ),
        (
            "Partial and Extended Length bits are fine",
            IBGP,
            replacing(attr(
                flag::WELL_KNOWN | flag::PARTIAL | flag::EXTENDED_LENGTH,
                tc::ORIGIN,
                &[0],
            )),
            Fine(TEN),
        ),
        // 7606 3 d: missing well-known mandatory attributes.
        (
            "no ORIGIN",
            IBGP,
            update_body(&[], &[as_path(), next_hop()], &[8, 10]),
            Withdraw(code::MISSING_WELL_KNOWN_ATTRIBUTE, TEN),
        ),
        (
            "no AS_PATH",
            IBGP,
            update_body(&[], &[origin_igp(), next_hop()], &[8, 10]),
            Withdraw(code::MISSING_WELL_KNOWN_ATTRIBUTE, TEN),
        ),
        (
            "no NEXT_HOP with NLRI",
            IBGP,
            update_body(&[], &[origin_igp(), as_path()], &[8, 10]),
            Withdraw(code::MISSING_WELL_KNOWN_ATTRIBUTE, TEN),
        ),
        (
            "no NEXT_HOP with MP_REACH_NLRI only",
            IBGP,
            mp_v6(&[32, 0x20, 0x01, 0x0d, 0xb8]),
            Fine(&["2001:db8::/32"]),
        ),
        (
            "no attributes, no NLRI: IPv4 End-of-RIB",
            IBGP,
            vec![0, 0, 0, 0],
            Fine(&[]),
        ),
        // 7606 7.1 ORIGIN.
        (
            "ORIGIN length 2",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::ORIGIN, &[0, 0])),
            Withdraw(code::ATTRIBUTE_LENGTH_ERROR, TEN),
        ),
        (
            "ORIGIN value 3",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::ORIGIN, &[3])),
            Withdraw(code::INVALID_ORIGIN_ATTRIBUTE, TEN),
        ),
        // 7606 7.2 AS_PATH.
        (
            "AS_PATH segment of length 0",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 0])),
            Withdraw(code::MALFORMED_AS_PATH, TEN),
        ),
        (
            "AS_PATH segment overruns",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 2, 0, 0, 0xfd, 0xea])),
            Withdraw(code::MALFORMED_AS_PATH, TEN),
        ),
        (
            "AS_PATH one octet left",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 1, 0, 0, 0xfd, 0xea, 2])),
            Withdraw(code::MALFORMED_AS_PATH, TEN),
        ),
        (
            "AS_PATH segment type 5",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::AS_PATH, &[5, 1, 0, 0, 0xfd, 0xea])),
            Withdraw(code::MALFORMED_AS_PATH, TEN),
        ),
        (
            "AS_PATH holds AS 0 (RFC 7607)",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 1, 0, 0, 0, 0])),
            Withdraw(code::MALFORMED_AS_PATH, TEN),
        ),
        (
            "AS_PATH confed segment from eBGP (RFC 5065 5)",
            EBGP,
            replacing(attr(flag::WELL_KNOWN, tc::AS_PATH, &[3, 1, 0, 0, 0xfd, 0xea])),
            Withdraw(code::MALFORMED_AS_PATH, TEN),
        ),
        (
            "AS_PATH confed segment from iBGP",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::AS_PATH, &[3, 1, 0, 0, 0xfd, 0xea])),
            Fine(TEN),
        ),
        (
            "empty AS_PATH",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::AS_PATH, &[])),
            Fine(TEN),
        ),
        // 7606 7.3 NEXT_HOP, and RFC 4271 6.3 semantics.
        (
            "NEXT_HOP length 5",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::NEXT_HOP, &[192, 0, 2, 1, 0])),
            Withdraw(code::ATTRIBUTE_LENGTH_ERROR, TEN),
        ),
        (
            "NEXT_HOP 0.0.0.0",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::NEXT_HOP, &[0, 0, 0, 0])),
            Withdraw(code::INVALID_NEXT_HOP_ATTRIBUTE, TEN),
        ),
        (
            "NEXT_HOP multicast",
            IBGP,
            replacing(attr(flag::WELL_KNOWN, tc::NEXT_HOP, &[224, 0, 0, 1])),
            Withdraw(code::INVALID_NEXT_HOP_ATTRIBUTE, TEN),
        ),
        // 7606 7.4 MULTI_EXIT_DISC.
        (
            "MED length 3",
            IBGP,
            with(attr(flag::OPTIONAL, tc::MULTI_EXIT_DISC, &[0, 0, 1])),
            Withdraw(code::ATTRIBUTE_LENGTH_ERROR, TEN),
        ),
        // 7606 7.5 LOCAL_PREF.
        (
            "LOCAL_PREF length 3 from iBGP",
            IBGP,
            with(attr(flag::WELL_KNOWN, tc::LOCAL_PREF, &[0, 0, 1])),
            Withdraw(code::ATTRIBUTE_LENGTH_ERROR, TEN),
        ),
        (
            "LOCAL_PREF length 3 from eBGP",
            EBGP,
            with(attr(flag::WELL_KNOWN, tc::LOCAL_PREF, &[0, 0, 1])),
            Discard(tc::LOCAL_PREF),
        ),
        // 7606 7.6 ATOMIC_AGGREGATE.
        (
            "ATOMIC_AGGREGATE length 1",
            IBGP,
            with(attr(flag::WELL_KNOWN, tc::ATOMIC_AGGREGATE, &[1])),
            Discard(tc::ATOMIC_AGGREGATE),
        ),
        // 7606 7.7 AGGREGATOR.
        (
            "AGGREGATOR length 6 on a 4-octet session",
            IBGP,
            with(attr(OT, tc::AGGREGATOR, &[0xfd, 0xe9, 192, 0, 2, 9])),
            Discard(tc::AGGREGATOR),
        ),
        (
            "AGGREGATOR length 8 on a 2-octet session",
            TWO_OCTET,
            update_body(
                &[],
                &[
                    origin_igp(),
                    attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 1, 0xfd, 0xea]),
                    next_hop(),
                    attr(OT, tc::AGGREGATOR, &[0, 0, 0xfd, 0xe9, 192, 0, 2, 9]),
                ],
                &[8, 10],
            ),
            Discard(tc::AGGREGATOR),
        ),
        (
            "AGGREGATOR AS 0 (RFC 7607)",
            IBGP,
            with(attr(OT, tc::AGGREGATOR, &[0, 0, 0, 0, 192, 0, 2, 9])),
            Discard(tc::AGGREGATOR),
        ),
        // 7606 7.8 COMMUNITIES; RFC 8092 6 LARGE_COMMUNITIES.
        (
            "COMMUNITIES length 3",
            IBGP,
            with(attr(OT, tc::COMMUNITIES, &[0, 0, 1])),
            Withdraw(code::ATTRIBUTE_LENGTH_ERROR, TEN),
        ),
        (
            "COMMUNITIES length 0",
            IBGP,
            with(attr(OT, tc::COMMUNITIES, &[])),
            Withdraw(code::ATTRIBUTE_LENGTH_ERROR, TEN),
        ),
        (
            "LARGE_COMMUNITIES length 11",
            IBGP,
            with(attr(OT, tc::LARGE_COMMUNITIES, &[0; 11])),
            Withdraw(code::ATTRIBUTE_LENGTH_ERROR, TEN),
        ),
        // 7606 7.11 MP_REACH_NLRI: session reset when the NLRI cannot be found.
        (
            "MP_REACH_NLRI of 3 octets",
            IBGP,
            with(attr(flag::OPTIONAL, tc::MP_REACH_NLRI, &[0, 2, 1])),
            Reset(update_error, code::OPTIONAL_ATTRIBUTE_ERROR),
        ),
        (
            "MP_REACH_NLRI next hop of 15 octets",
            IBGP,
            with(mp_reach_with_next_hop(&[0x20; 15])),
            Reset(update_error, code::OPTIONAL_ATTRIBUTE_ERROR),
        ),
        (
            "MP_REACH_NLRI next hop overruns",
            IBGP,
            with(attr(flag::OPTIONAL, tc::MP_REACH_NLRI, &[0, 2, 1, 16, 0x20, 1])),
            Reset(update_error, code::OPTIONAL_ATTRIBUTE_ERROR),
        ),
        (
            "MP_REACH_NLRI prefix /129",
            IBGP,
            mp_v6(&[129, 0x20]),
            Reset(update_error, code::OPTIONAL_ATTRIBUTE_ERROR),
        ),
        (
            "MP_REACH_NLRI prefix overruns",
            IBGP,
            mp_v6(&[48, 0x20, 0x01]),
            Reset(update_error, code::OPTIONAL_ATTRIBUTE_ERROR),
        ),
        (
            "MP_REACH_NLRI flagged transitive",
            IBGP,
            update_body(
                &[],
                &[
                    attr(OT, tc::MP_REACH_NLRI, &mp_reach_v6(&[32, 0x20, 0x01, 0x0d, 0xb8])[4..]),
                    origin_igp(),
                    as_path(),
                ],
                &[],
            ),
            Withdraw(code::ATTRIBUTE_FLAGS_ERROR, &["2001:db8::/32"]),
        ),
        (
            "MP_REACH_NLRI of another family is skipped",
            IBGP,
            with(attr(
                flag::OPTIONAL,
                tc::MP_REACH_NLRI,
                &[0, 1, 128, 4, 1, 2, 3, 4, 0, 1],
            )),
            Discard(tc::MP_REACH_NLRI),
        ),
        (
            "MP_REACH_NLRI next hop ::",
            IBGP,
            update_body(&[], &[mp_reach_with_next_hop(&[0; 16]), origin_igp(), as_path()], &[]),
            Withdraw(code::INVALID_NEXT_HOP_ATTRIBUTE, &["2001:db8::/32"]),
        ),
        (
            "MP_REACH_NLRI next hop multicast",
            IBGP,
            update_body(
                &[],
                &[mp_reach_with_next_hop(&v6("ff02::1").octets()), origin_igp(), as_path()],
                &[],
            ),
            Withdraw(code::INVALID_NEXT_HOP_ATTRIBUTE, &["2001:db8::/32"]),
        ),
        (
            "MP_REACH_NLRI next hop :: + link-local",
            IBGP,
            update_body(
                &[],
                &[
                    mp_reach_with_next_hop(&[[0; 16], v6("fe80::1").octets()].concat()),
                    origin_igp(),
                    as_path(),
                ],
                &[],
            ),
            Fine(&["2001:db8::/32"]),
        ),
        // 7606 7.12 MP_UNREACH_NLRI.
        (
            "MP_UNREACH_NLRI of 2 octets",
            IBGP,
            update_body(&[], &[attr(flag::OPTIONAL, tc::MP_UNREACH_NLRI, &[0, 2])], &[]),
            Reset(update_error, code::OPTIONAL_ATTRIBUTE_ERROR),
        ),
        (
            "MP_UNREACH_NLRI prefix overruns",
            IBGP,
            update_body(
                &[],
                &[attr(flag::OPTIONAL, tc::MP_UNREACH_NLRI, &[0, 2, 1, 64, 0x20])],
                &[],
            ),
            Reset(update_error, code::OPTIONAL_ATTRIBUTE_ERROR),
        ),
        // RFC 6793 6: AS4_PATH / AS4_AGGREGATOR.
        (
            "AS4_PATH on a 4-octet session",
            IBGP,
            with(attr(OT, tc::AS4_PATH, &[2, 1, 0, 0, 0xfd, 0xea])),
            Discard(tc::AS4_PATH),
        ),
        (
            "AS4_PATH malformed on a 2-octet session",
            TWO_OCTET,
            update_body(
                &[],
                &[
                    origin_igp(),
                    attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 1, 0xfd, 0xea]),
                    next_hop(),
                    attr(OT, tc::AS4_PATH, &[2, 0]),
                ],
                &[8, 10],
            ),
            Discard(tc::AS4_PATH),
        ),
        (
            "AS4_AGGREGATOR length 6 on a 2-octet session",
            TWO_OCTET,
            update_body(
                &[],
                &[
                    origin_igp(),
                    attr(flag::WELL_KNOWN, tc::AS_PATH, &[2, 1, 0xfd, 0xea]),
                    next_hop(),
                    attr(OT, tc::AS4_AGGREGATOR, &[0xfd, 0xe9, 192, 0, 2, 9]),
                ],
                &[8, 10],
            ),
            Discard(tc::AS4_AGGREGATOR),
        ),
        // 7606 3: the most severe approach wins; all NLRI are withdrawn.
        (
            "bad ORIGIN, then MP_REACH_NLRI twice",
            IBGP,
            update_body(
                &[],
                &[
                    attr(flag::WELL_KNOWN, tc::ORIGIN, &[7]),
                    mp_reach_v6(&[]),
                    mp_reach_v6(&[]),
                ],
                &[],
            ),
            Reset(update_error, code::MALFORMED_ATTRIBUTE_LIST),
        ),
        (
            "bad ATOMIC_AGGREGATE, then bad MED",
            IBGP,
            update_body(
                &[],
                &[
                    origin_igp(),
                    as_path(),
                    next_hop(),
                    attr(flag::WELL_KNOWN, tc::ATOMIC_AGGREGATE, &[1]),
                    attr(flag::OPTIONAL, tc::MULTI_EXIT_DISC, &[1]),
                ],
                &[8, 10],
            ),
            Withdraw(code::ATTRIBUTE_LENGTH_ERROR, TEN),
        ),
        (
            "withdrawals, NLRI and MP_REACH_NLRI all withdrawn",
            IBGP,
            update_body(
                &[16, 172, 16],
                &[
                    mp_reach_v6(&[32, 0x20, 0x01, 0x0d, 0xb8]),
                    attr(flag::WELL_KNOWN, tc::ORIGIN, &[7]),
                    as_path(),
                    next_hop(),
                ],
                &[8, 10],
            ),
            Withdraw(
                code::INVALID_ORIGIN_ATTRIBUTE,
                &["172.16.0.0/16", "10.0.0.0/8", "2001:db8::/32"],
            ),
        ),
    ];
    let mut by_outcome = BTreeMap::new();
    for (name, ctx, body, want) in cases {
        let got = decode(&body, &ctx);
        let kind = match (&want, &got) {
            (Reset(c, s), Err(UpdateError::Reset(m))) => {
                assert_eq!((m.notification.code, m.notification.subcode), (*c, *s), "{name}: {m}");
                "reset"
            }
            (Withdraw(s, prefixes), Err(UpdateError::TreatAsWithdraw { withdrawn, reason })) => {
                assert_eq!(
                    (reason.notification.code, reason.notification.subcode),
                    (code::UPDATE_MESSAGE, *s),
                    "{name}: {reason}"
                );
                let want: Vec<IpNet> = prefixes.iter().map(|p| net(p)).collect();
                assert_eq!(withdrawn, &want, "{name}");
                "treat-as-withdraw"
            }
            (Discard(type_code), Ok(d)) => {
                let warned: Vec<u8> = d.warnings.iter().map(|w| w.type_code).collect();
                assert_eq!(warned, [*type_code], "{name}");
                assert_eq!(d.update.announced, vec![net("10.0.0.0/8")], "{name}");
                "attribute discard"
            }
            (Fine(prefixes), Ok(d)) => {
                assert!(d.warnings.is_empty(), "{name}: {:?}", d.warnings);
                let want: Vec<IpNet> = prefixes.iter().map(|p| net(p)).collect();
                assert_eq!(d.update.announced, want, "{name}");
                "fine"
            }
            _ => panic!("{name}: want {want:?}, got {got:?}"),
        };
        *by_outcome.entry(kind).or_insert(0) += 1;
    }
    assert_eq!(
        by_outcome.into_iter().collect::<Vec<_>>(),
        [
            ("attribute discard", 10),
            ("fine", 8),
            ("reset", 16),
            ("treat-as-withdraw", 28)
        ]
    );
}

#[test]
fn a_treat_as_withdraw_reason_carries_the_attribute() {
    for bad in [
        attr(flag::WELL_KNOWN, tc::ORIGIN, &[5]),
        attr(flag::WELL_KNOWN, tc::NEXT_HOP, &[0, 0, 0, 0]),
    ] {
        let Err(UpdateError::TreatAsWithdraw { reason, .. }) = decode(&replacing(bad.clone()), &IBGP) else {
            panic!("want treat-as-withdraw");
        };
        assert_eq!(reason.notification.data, bad);
    }
}

#[test]
fn an_unrecognized_well_known_attribute_is_sent_back_in_the_notification() {
    let bad = attr(flag::WELL_KNOWN, 99, &[1, 2]);
    let err = decode(&with(bad.clone()), &IBGP).expect_err("reset");
    assert_eq!(err.notification().map(|n| n.data.clone()), Some(bad));
}
