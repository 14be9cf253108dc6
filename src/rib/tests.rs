//! RIB behaviour through the public API.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::*;
use crate::msg::update::{AsPath, AsSegment, NextHop, Origin, PathAttributes, Update};

const LOCAL_ASN: u32 = 65001;

fn id(n: u8) -> PeerId {
    PeerKey {
        ifindex: u32::from(n),
        addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(n)),
    }
}

/// Peer `n`: interface n, fe80::n, router ID 10.0.0.n.
fn peer(n: u8, asn: u32) -> PeerInfo {
    PeerInfo {
        id: id(n),
        asn,
        router_id: Ipv4Addr::new(10, 0, 0, n),
        families: Families::ALL,
    }
}

fn rib() -> Rib {
    Rib::new(RibConfig::new(LOCAL_ASN, Ipv4Addr::new(10, 0, 0, 100)))
}

fn rib_with(peers: &[PeerInfo]) -> Rib {
    let mut rib = rib();
    for info in peers {
        rib.add_peer(*info);
        // Take the initial (empty) table so later changes are incremental.
        rib.pending_out(&info.id).unwrap();
    }
    rib
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn attrs(path: &[u32]) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath {
            segments: vec![AsSegment::Sequence(path.to_vec())],
        },
        next_hop: NextHop {
            link_local: Some("fe80::99".parse().unwrap()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn announce(prefixes: &[&str], attrs: PathAttributes) -> Update {
    Update {
        withdrawn: vec![],
        announced: prefixes.iter().map(|p| net(p)).collect(),
        attributes: Some(attrs),
    }
}

fn withdraw(prefixes: &[&str]) -> Update {
    Update {
        withdrawn: prefixes.iter().map(|p| net(p)).collect(),
        announced: vec![],
        attributes: None,
    }
}

/// The selected peers for `prefix`, best first.
fn selected(rib: &Rib, prefix: &str) -> Vec<PathSource> {
    rib.best(&net(prefix))
        .map(|best| best.paths.iter().map(|p| p.source).collect())
        .unwrap_or_default()
}

fn from(n: u8) -> PathSource {
    PathSource::Peer(id(n))
}

/// The announced prefixes of a batch with their outgoing attributes.
fn announced(batch: &OutBatch) -> Vec<(IpNet, PathAttributes)> {
    batch
        .announced
        .iter()
        .flat_map(|(attrs, prefixes)| prefixes.iter().map(|p| (*p, (**attrs).clone())))
        .collect()
}

fn announced_prefixes(batch: &OutBatch) -> Vec<IpNet> {
    let mut prefixes: Vec<IpNet> = announced(batch).into_iter().map(|(p, _)| p).collect();
    prefixes.sort();
    prefixes
}

// ---- decision process, one step at a time ----

#[test]
fn highest_local_pref_wins_before_path_length() {
    // Peer 1 is iBGP with LOCAL_PREF 200 and a longer path; peer 2 eBGP.
    let mut rib = rib_with(&[peer(1, LOCAL_ASN), peer(2, 65002)]);
    let preferred = PathAttributes {
        local_pref: Some(200),
        ..attrs(&[65010, 65011])
    };
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], preferred)).unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(1)]);
}

#[test]
fn ibgp_local_pref_below_default_loses() {
    let mut rib = rib_with(&[peer(1, LOCAL_ASN), peer(2, 65002)]);
    let low = PathAttributes {
        local_pref: Some(50),
        ..attrs(&[])
    };
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], low)).unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], attrs(&[65002, 65003, 65004])))
        .unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(2)]);
}

#[test]
fn shortest_as_path_wins() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002, 65010])))
        .unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], attrs(&[65003]))).unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(2)]);
}

#[test]
fn as_set_counts_as_one() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    let with_set = AsPath {
        segments: vec![AsSegment::Sequence(vec![65002]), AsSegment::Set(vec![1, 2, 3])],
    };
    rib.apply(
        &id(1),
        &announce(
            &["10.0.0.0/24"],
            PathAttributes {
                as_path: with_set,
                ..attrs(&[])
            },
        ),
    )
    .unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], attrs(&[65003, 65010, 65011])))
        .unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(1)]);
}

#[test]
fn lowest_origin_wins() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    let incomplete = PathAttributes {
        origin: Some(Origin::Incomplete),
        ..attrs(&[65002])
    };
    let egp = PathAttributes {
        origin: Some(Origin::Egp),
        ..attrs(&[65003])
    };
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], incomplete)).unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], egp)).unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(2)]);
}

#[test]
fn lowest_med_wins_within_the_same_neighbour_as() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65002)]);
    rib.apply(
        &id(1),
        &announce(
            &["10.0.0.0/24"],
            PathAttributes {
                med: Some(20),
                ..attrs(&[65002])
            },
        ),
    )
    .unwrap();
    rib.apply(
        &id(2),
        &announce(
            &["10.0.0.0/24"],
            PathAttributes {
                med: Some(10),
                ..attrs(&[65002])
            },
        ),
    )
    .unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(2)]);
}

#[test]
fn med_is_not_compared_across_neighbour_ases() {
    // Peer 1 (lower router ID) has the higher MED, but from another AS:
    // both stay, and the router ID picks peer 1 as best.
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(
        &id(1),
        &announce(
            &["10.0.0.0/24"],
            PathAttributes {
                med: Some(500),
                ..attrs(&[65002])
            },
        ),
    )
    .unwrap();
    rib.apply(
        &id(2),
        &announce(
            &["10.0.0.0/24"],
            PathAttributes {
                med: Some(5),
                ..attrs(&[65003])
            },
        ),
    )
    .unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(1), from(2)]);
}

#[test]
fn ebgp_wins_over_ibgp() {
    // The iBGP peer has the lower router ID; eBGP still wins.
    let mut rib = rib_with(&[peer(1, LOCAL_ASN), peer(2, 65002)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65009]))).unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(2)]);
}

#[test]
fn lowest_router_id_is_best() {
    let mut rib = rib_with(&[peer(7, 65002), peer(3, 65002)]);
    rib.apply(&id(7), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    rib.apply(&id(3), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(3), from(7)]);
}

#[test]
fn lowest_neighbour_address_breaks_a_router_id_tie() {
    // Two links to the same router: same router ID, different fe80::.
    let router_id = Ipv4Addr::new(10, 9, 9, 9);
    let high = PeerInfo {
        id: id(9),
        asn: 65002,
        router_id,
        families: Families::ALL,
    };
    let low = PeerInfo {
        id: id(4),
        asn: 65002,
        router_id,
        families: Families::ALL,
    };
    let mut rib = rib_with(&[high, low]);
    rib.apply(&id(9), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    rib.apply(&id(4), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(4), from(9)]);
}

#[test]
fn local_route_wins_over_learned() {
    let mut rib = rib_with(&[peer(1, LOCAL_ASN)]);
    let better = PathAttributes {
        local_pref: Some(1000),
        ..attrs(&[])
    };
    rib.apply(&id(1), &announce(&["10.0.0.1/32"], better)).unwrap();
    let changes = rib.originate(
        net("10.0.0.1/32"),
        PathAttributes {
            origin: Some(Origin::Igp),
            ..Default::default()
        },
    );
    assert_eq!(selected(&rib, "10.0.0.1/32"), [PathSource::Local]);
    match &changes.routes[..] {
        [RouteChange::Best(best)] => {
            assert!(best.is_local());
            assert!(best.fib_next_hops().is_empty(), "local routes are not installed");
        }
        other => panic!("unexpected changes {other:?}"),
    }
    let changes = rib.withdraw_local(net("10.0.0.1/32"));
    assert_eq!(selected(&rib, "10.0.0.1/32"), [from(1)]);
    assert_eq!(changes.routes.len(), 1);
}

#[test]
fn local_paths_show_a_router_id_set_later() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_ASN, Ipv4Addr::UNSPECIFIED));
    rib.originate(net("10.0.1.0/24"), attrs(&[]));
    let router_id = |rib: &Rib| rib.routes()[0].paths[0].router_id;
    assert_eq!(router_id(&rib), Ipv4Addr::UNSPECIFIED);
    rib.set_router_id(Ipv4Addr::new(1, 2, 3, 4));
    assert_eq!(router_id(&rib), Ipv4Addr::new(1, 2, 3, 4));
    assert_eq!(rib.config().router_id, Ipv4Addr::new(1, 2, 3, 4));
    assert_eq!(selected(&rib, "10.0.1.0/24"), [PathSource::Local]);
}

// ---- ECMP ----

#[test]
fn multipath_across_neighbour_ases_with_equal_path_length() {
    // Leaf view: two spines in one AS, a third router in another, all at
    // path length 2: all three are multipath.
    let mut rib = rib_with(&[peer(1, 65000), peer(2, 65000), peer(3, 65100)]);
    rib.apply(&id(1), &announce(&["10.1.0.0/24"], attrs(&[65000, 65200])))
        .unwrap();
    rib.apply(&id(2), &announce(&["10.1.0.0/24"], attrs(&[65000, 65200])))
        .unwrap();
    let changes = rib
        .apply(&id(3), &announce(&["10.1.0.0/24"], attrs(&[65100, 65200])))
        .unwrap();
    assert_eq!(selected(&rib, "10.1.0.0/24"), [from(1), from(2), from(3)]);
    match &changes.routes[..] {
        [RouteChange::Best(best)] => assert_eq!(
            best.fib_next_hops(),
            [1, 2, 3].map(|n| FibNextHop {
                ifindex: u32::from(n),
                via: id(n).addr
            })
        ),
        other => panic!("unexpected changes {other:?}"),
    }
}

#[test]
fn no_multipath_across_unequal_path_lengths() {
    let mut rib = rib_with(&[peer(1, 65000), peer(2, 65100)]);
    rib.apply(&id(1), &announce(&["10.1.0.0/24"], attrs(&[65000, 65200])))
        .unwrap();
    rib.apply(&id(2), &announce(&["10.1.0.0/24"], attrs(&[65100, 65300, 65200])))
        .unwrap();
    assert_eq!(selected(&rib, "10.1.0.0/24"), [from(1)]);
}

#[test]
fn multipath_set_follows_adds_and_removals() {
    let mut rib = rib_with(&[peer(1, 65000), peer(2, 65000)]);
    let first = rib.apply(&id(2), &announce(&["10.1.0.0/24"], attrs(&[65000]))).unwrap();
    assert_eq!(first.routes.len(), 1);
    let added = rib.apply(&id(1), &announce(&["10.1.0.0/24"], attrs(&[65000]))).unwrap();
    match &added.routes[..] {
        [RouteChange::Best(best)] => {
            assert_eq!(
                best.paths.iter().map(|p| p.source).collect::<Vec<_>>(),
                [from(1), from(2)]
            )
        }
        other => panic!("unexpected changes {other:?}"),
    }
    let removed = rib.apply(&id(2), &withdraw(&["10.1.0.0/24"])).unwrap();
    match &removed.routes[..] {
        [RouteChange::Best(best)] => assert_eq!(best.paths.iter().map(|p| p.source).collect::<Vec<_>>(), [from(1)]),
        other => panic!("unexpected changes {other:?}"),
    }
    // A losing path coming and going changes nothing.
    let loser = rib
        .apply(&id(2), &announce(&["10.1.0.0/24"], attrs(&[65000, 65000])))
        .unwrap();
    assert!(loser.routes.is_empty());
    let gone = rib.apply(&id(2), &withdraw(&["10.1.0.0/24"])).unwrap();
    assert!(gone.routes.is_empty());
}

#[test]
fn max_paths_caps_the_set_keeping_the_lowest_router_ids() {
    let mut rib = Rib::new(RibConfig {
        max_paths: 3,
        ..RibConfig::new(LOCAL_ASN, Ipv4Addr::new(10, 0, 0, 100))
    });
    for n in [5, 1, 4, 2, 3] {
        rib.add_peer(peer(n, 65000));
        rib.apply(&id(n), &announce(&["10.1.0.0/24"], attrs(&[65000]))).unwrap();
    }
    assert_eq!(selected(&rib, "10.1.0.0/24"), [from(1), from(2), from(3)]);
    let changes = rib.apply(&id(2), &withdraw(&["10.1.0.0/24"])).unwrap();
    assert_eq!(selected(&rib, "10.1.0.0/24"), [from(1), from(3), from(4)]);
    assert_eq!(changes.routes.len(), 1);
}

// ---- UPDATE handling ----

#[test]
fn routes_with_our_as_are_dropped_and_counted() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    let looped = attrs(&[65002, LOCAL_ASN, 65003]);
    let changes = rib
        .apply(&id(1), &announce(&["10.0.0.0/24", "10.0.1.0/24"], looped))
        .unwrap();
    // The looped announcement replaces (withdraws) the earlier path.
    assert_eq!(changes.routes, [RouteChange::Removed(net("10.0.0.0/24"))]);
    assert!(rib.routes().is_empty());
    assert_eq!(
        rib.peer_stats(&id(1)),
        Some(PeerStats {
            prefixes: 0,
            loop_dropped: 2,
            next_hop_ours: 0,
            prefixes_sent: 0,
            ..PeerStats::default()
        })
    );
}

fn own(addresses: &[&str]) -> OwnAddresses {
    OwnAddresses::new(addresses.iter().map(|a| a.parse().expect("test address")))
}

fn via(next_hop: NextHop) -> PathAttributes {
    PathAttributes {
        next_hop,
        ..attrs(&[65002])
    }
}

/// Each rejected path's prefix and the reason shown for it.
fn rejections(rib: &Rib) -> Vec<(IpNet, Option<String>)> {
    rib.rejected_within(None)
        .into_iter()
        .flat_map(|r| r.paths.into_iter().map(move |p| (r.prefix, p.rejected)))
        .collect()
}

const NEXT_HOP_OURS: Option<&str> = Some("next hop ours");

/// RFC 4271 5.1.3: a route whose next hop is one of our addresses (IPv4
/// NEXT_HOP, MP_REACH global or link-local) is not usable: it is kept
/// rejected, out of the selection, and counted.
#[test]
fn routes_through_our_own_address_are_kept_rejected_and_counted() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    assert!(
        rib.set_own_addresses(own(&["10.0.0.1", "2001:db8::1", "fe80::a"]))
            .is_empty()
    );
    rib.apply(&id(1), &announce(&["10.0.0.0/8"], attrs(&[65002]))).unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/8"], attrs(&[65003]))).unwrap();
    let ipv4 = NextHop {
        ipv4: Some("10.0.0.1".parse().unwrap()),
        ..NextHop::default()
    };
    let link_local = NextHop {
        global: Some("fe80::a".parse().unwrap()),
        link_local: Some("fe80::a".parse().unwrap()),
        ..NextHop::default()
    };
    let global = NextHop {
        global: Some("2001:db8::1".parse().unwrap()),
        link_local: Some("fe80::1".parse().unwrap()),
        ..NextHop::default()
    };
    // Replaces peer 1's usable path: only peer 2's is left.
    let changes = rib.apply(&id(1), &announce(&["10.0.0.0/8"], via(ipv4))).unwrap();
    assert_eq!(changes.routes.len(), 1);
    assert_eq!(selected(&rib, "10.0.0.0/8"), [from(2)]);
    let changes = rib
        .apply(&id(1), &announce(&["10.1.0.0/16", "2001:db8:1::/48"], via(link_local)))
        .unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    rib.apply(&id(1), &announce(&["10.2.0.0/16"], via(global))).unwrap();
    assert_eq!(rib.routes().len(), 1, "{:?}", rib.routes());
    let stats = rib.peer_stats(&id(1)).unwrap();
    assert_eq!(
        (
            stats.prefixes,
            stats.next_hop_ours_rejected,
            stats.accepted(),
            stats.next_hop_ours
        ),
        (4, 4, 0, 4)
    );
    let mut reasons = rejections(&rib);
    reasons.sort();
    let why = NEXT_HOP_OURS.map(String::from);
    assert_eq!(
        reasons,
        [
            (net("10.0.0.0/8"), why.clone()),
            (net("10.1.0.0/16"), why.clone()),
            (net("10.2.0.0/16"), why.clone()),
            (net("2001:db8:1::/48"), why),
        ]
    );
    // Someone else's next hop still is a route.
    let theirs = NextHop {
        ipv4: Some("10.0.0.2".parse().unwrap()),
        ..NextHop::default()
    };
    rib.apply(&id(1), &announce(&["10.3.0.0/16"], via(theirs))).unwrap();
    assert_eq!(selected(&rib, "10.3.0.0/16"), [from(1)]);
    // A withdrawal takes the rejected path out: no counter is left behind.
    rib.apply(&id(1), &withdraw(&["10.1.0.0/16"])).unwrap();
    let stats = rib.peer_stats(&id(1)).unwrap();
    assert_eq!(
        (stats.prefixes, stats.next_hop_ours_rejected, stats.next_hop_ours),
        (4, 3, 4)
    );
}

/// An address that becomes ours rejects the paths held through it; one
/// that stops being ours brings them back into the decision, without the
/// peer announcing them again.
#[test]
fn an_address_that_becomes_ours_rejects_the_paths_through_it_until_it_is_not() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    let through = |a: &str| NextHop {
        ipv4: Some(a.parse().unwrap()),
        ..NextHop::default()
    };
    rib.apply(
        &id(1),
        &announce(&["10.0.0.0/8", "10.9.0.0/16"], via(through("192.0.2.7"))),
    )
    .unwrap();
    // Peer 2's path starts with its own AS (the first-AS check).
    let from_2 = PathAttributes {
        next_hop: through("192.0.2.8"),
        ..attrs(&[65003])
    };
    rib.apply(&id(2), &announce(&["10.0.0.0/8"], from_2)).unwrap();
    rib.originate(net("10.5.0.0/16"), PathAttributes::default());
    assert_eq!(selected(&rib, "10.0.0.0/8"), [from(1), from(2)]);

    let changes = rib.set_own_addresses(own(&["192.0.2.7"]));
    let mut prefixes: Vec<IpNet> = changes.routes.iter().map(RouteChange::prefix).collect();
    prefixes.sort();
    assert_eq!(prefixes, [net("10.0.0.0/8"), net("10.9.0.0/16")]);
    assert!(changes.routes.contains(&RouteChange::Removed(net("10.9.0.0/16"))));
    assert_eq!(selected(&rib, "10.0.0.0/8"), [from(2)]);
    assert_eq!(
        selected(&rib, "10.5.0.0/16"),
        [PathSource::Local],
        "local paths are ours"
    );
    let stats = rib.peer_stats(&id(1)).unwrap();
    assert_eq!(
        (stats.prefixes, stats.next_hop_ours_rejected, stats.next_hop_ours),
        (2, 2, 2)
    );
    assert_eq!(rejections(&rib).len(), 2);
    // The same set again: nothing to do.
    assert!(rib.set_own_addresses(own(&["192.0.2.7"])).is_empty());
    // Another address of ours that no path names: nothing changes, nothing counted.
    assert!(rib.set_own_addresses(own(&["192.0.2.7", "192.0.2.99"])).is_empty());

    // The address moves away (a VIP, an anycast address): the paths are
    // usable again, and re-decided.
    let changes = rib.set_own_addresses(own(&[]));
    let mut prefixes: Vec<IpNet> = changes.routes.iter().map(RouteChange::prefix).collect();
    prefixes.sort();
    assert_eq!(prefixes, [net("10.0.0.0/8"), net("10.9.0.0/16")]);
    assert_eq!(selected(&rib, "10.0.0.0/8"), [from(1), from(2)]);
    assert_eq!(selected(&rib, "10.9.0.0/16"), [from(1)]);
    let stats = rib.peer_stats(&id(1)).unwrap();
    assert_eq!(
        (
            stats.prefixes,
            stats.next_hop_ours_rejected,
            stats.accepted(),
            stats.next_hop_ours
        ),
        (2, 0, 2, 2),
        "the cumulative count stays"
    );
    assert!(rejections(&rib).is_empty());
}

/// One reason per path: the first-AS check, then next hop ours, then the
/// import filter. A policy change keeps a path through our address
/// rejected; when the address stops being ours, the filter's verdict shows.
#[test]
fn next_hop_ours_comes_before_the_import_filter() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.set_own_addresses(own(&["192.0.2.7"]));
    let ours = NextHop {
        ipv4: Some("192.0.2.7".parse().unwrap()),
        ..NextHop::default()
    };
    let deny = || crate::policy::RoutePolicy {
        import: crate::policy::PrefixFilter::new(vec![
            "deny 10.1.0.0/16".parse().unwrap(),
            "permit 0.0.0.0/0 le 32".parse().unwrap(),
        ]),
        ..crate::policy::RoutePolicy::default()
    };
    rib.set_policy(&id(1), deny()).unwrap();
    rib.apply(&id(1), &announce(&["10.1.0.0/16", "10.2.0.0/16"], via(ours)))
        .unwrap();
    // From an AS that is not the peer's: the first-AS check wins.
    let wrong_first = PathAttributes {
        next_hop: ours,
        ..attrs(&[65099])
    };
    rib.apply(&id(1), &announce(&["10.3.0.0/16"], wrong_first)).unwrap();
    let reasons = |rib: &Rib| {
        let mut r = rejections(rib);
        r.sort();
        r
    };
    let why = |r: &str| Some(r.to_string());
    assert_eq!(
        reasons(&rib),
        [
            (net("10.1.0.0/16"), why("next hop ours")),
            (net("10.2.0.0/16"), why("next hop ours")),
            (net("10.3.0.0/16"), why("first AS")),
        ]
    );
    let s = rib.peer_stats(&id(1)).unwrap();
    assert_eq!(
        (
            s.prefixes,
            s.filtered,
            s.first_as_rejected,
            s.next_hop_ours_rejected,
            s.next_hop_ours
        ),
        (3, 0, 1, 2, 3),
        "counted whatever the reason shown"
    );
    // Turning the filter off changes no reason: still our next hop.
    assert!(
        rib.set_policy(&id(1), crate::policy::RoutePolicy::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(rib.peer_stats(&id(1)).unwrap().next_hop_ours_rejected, 2);
    rib.set_policy(&id(1), deny()).unwrap();
    let changes = rib.set_own_addresses(own(&[]));
    assert_eq!(
        changes.routes,
        [RouteChange::Best(rib.best(&net("10.2.0.0/16")).unwrap())]
    );
    assert_eq!(
        reasons(&rib),
        [
            (net("10.1.0.0/16"), why("import filter")),
            (net("10.3.0.0/16"), why("first AS")),
        ]
    );
    let s = rib.peer_stats(&id(1)).unwrap();
    assert_eq!(
        (s.prefixes, s.filtered, s.first_as_rejected, s.next_hop_ours_rejected),
        (3, 1, 1, 0)
    );
}

#[test]
fn withdraw_removes_the_path() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24", "10.0.1.0/24"], attrs(&[65002])))
        .unwrap();
    let changes = rib.apply(&id(1), &withdraw(&["10.0.0.0/24", "10.9.9.0/24"])).unwrap();
    assert_eq!(
        changes.routes,
        [RouteChange::Removed(net("10.0.0.0/24"))],
        "unknown prefix: no change"
    );
    assert_eq!(rib.stats().prefixes, 1);
    assert_eq!(rib.peer_stats(&id(1)).map(|s| s.prefixes), Some(1));
}

#[test]
fn withdrawn_and_announced_in_one_update_counts_as_announced() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    let update = Update {
        withdrawn: vec![net("10.0.0.0/24")],
        announced: vec![net("10.0.0.0/24")],
        attributes: Some(attrs(&[65002])),
    };
    let changes = rib.apply(&id(1), &update).unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(1)]);
    assert_eq!(changes.routes.len(), 1);
}

#[test]
fn reannouncing_identical_attributes_changes_nothing() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    rib.pending_out(&id(2)).unwrap();
    let changes = rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    assert!(changes.is_empty());
}

#[test]
fn ipv6_prefixes_are_kept_apart_from_ipv4() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.apply(&id(1), &announce(&["2001:db8::/64", "10.0.0.0/24"], attrs(&[65002])))
        .unwrap();
    let prefixes: Vec<String> = rib.routes().into_iter().map(|r| r.prefix.to_string()).collect();
    assert_eq!(prefixes, ["10.0.0.0/24", "2001:db8::/64"]);
}

#[test]
fn routes_within_a_prefix() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    let all = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.2.0.0/16",
        "2001:db8::/64",
    ];
    rib.apply(&id(1), &announce(&all, attrs(&[65002]))).unwrap();
    let within = |p: Option<&str>| -> Vec<String> {
        let p = p.map(|p| p.parse::<IpNet>().unwrap());
        rib.routes_within(p).into_iter().map(|r| r.prefix.to_string()).collect()
    };
    assert_eq!(within(None), all);
    assert_eq!(within(Some("10.1.0.0/16")), ["10.1.0.0/16", "10.1.2.0/24"]);
    assert_eq!(within(Some("10.1.2.0/24")), ["10.1.2.0/24"]);
    assert_eq!(within(Some("10.0.0.0/8")), all[..4]);
    assert_eq!(within(Some("2001:db8::/32")), ["2001:db8::/64"]);
    assert!(within(Some("10.3.0.0/16")).is_empty());
}

/// Pages resume after the last prefix shown: walked to the end they are
/// the whole view, and a route that comes meanwhile shows if the walk
/// has not passed it yet.
#[test]
fn routes_a_page_at_a_time() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    let all = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.2.0.0/16",
        "2001:db8::/64",
    ];
    rib.apply(&id(1), &announce(&all, attrs(&[65002]))).unwrap();
    for within in [None, Some("10.0.0.0/8"), Some("2001:db8::/32")] {
        let within = within.map(|p| p.parse::<IpNet>().unwrap());
        for limit in 1..=6 {
            let mut walked = Vec::new();
            let mut after = None;
            loop {
                let page = rib.routes_page(within, after, limit, false);
                assert!(page.len() <= limit);
                after = page.last().map(|r| r.prefix);
                let full = page.len() == limit;
                walked.extend(page);
                if !full {
                    break;
                }
            }
            assert_eq!(walked, rib.routes_within(within), "within {within:?}, pages of {limit}");
        }
    }
    let first = rib.routes_page(None, None, 2, false);
    let after = first.last().map(|r| r.prefix);
    rib.apply(&id(1), &announce(&["9.0.0.0/8", "10.3.0.0/16"], attrs(&[65002])))
        .unwrap();
    let rest: Vec<String> = rib
        .routes_page(None, after, 10, false)
        .into_iter()
        .map(|r| r.prefix.to_string())
        .collect();
    assert_eq!(rest, ["10.1.2.0/24", "10.2.0.0/16", "10.3.0.0/16", "2001:db8::/64"]);
}

#[test]
fn unknown_peer_is_an_error() {
    let mut rib = rib();
    assert_eq!(rib.apply(&id(1), &withdraw(&[])), Err(UnknownPeer(id(1))));
    assert_eq!(rib.pending_out(&id(1)), Err(UnknownPeer(id(1))));
    assert_eq!(rib.full_table(&id(1)), Err(UnknownPeer(id(1))));
    assert!(rib.remove_peer(&id(1)).is_empty());
}

#[test]
fn remove_peer_withdraws_all_its_routes() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003), peer(3, 65004)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24", "10.0.1.0/24"], attrs(&[65002])))
        .unwrap();
    rib.apply(&id(2), &announce(&["10.0.1.0/24"], attrs(&[65003]))).unwrap();
    rib.pending_out(&id(3)).unwrap();
    let mut changes = rib.remove_peer(&id(1));
    changes.routes.sort_by_key(RouteChange::prefix);
    assert_eq!(changes.routes.len(), 2);
    assert_eq!(changes.routes[0], RouteChange::Removed(net("10.0.0.0/24")));
    assert!(matches!(&changes.routes[1], RouteChange::Best(b) if b.paths.len() == 1 && b.paths[0].source == from(2)));
    assert_eq!(rib.stats().peers, 2);
    assert_eq!(rib.peer_stats(&id(1)), None);
    // Peer 3 hears the withdrawal, and the new best path.
    assert_eq!(changes.out_ready, [id(3)]);
    let batch = rib.pending_out(&id(3)).unwrap();
    assert_eq!(batch.withdrawn, [net("10.0.0.0/24")]);
    assert_eq!(announced_prefixes(&batch), [net("10.0.1.0/24")]);
    assert_eq!(
        announced(&batch)[0].1.as_path.segments,
        [AsSegment::Sequence(vec![LOCAL_ASN, 65003])]
    );
}

#[test]
fn a_new_session_under_the_same_key_replaces_the_old() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    let changes = rib.add_peer(peer(1, 65009));
    assert_eq!(changes.routes, [RouteChange::Removed(net("10.0.0.0/24"))]);
    assert_eq!(changes.out_ready, [id(1)]);
    assert_eq!(
        rib.stats(),
        RibStats {
            prefixes: 0,
            paths: 0,
            attribute_sets: 0,
            peers: 1
        }
    );
}

#[test]
fn selected_counts_follow_the_loc_rib_by_family() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    let counts = |rib: &Rib| (rib.selected_counts().ipv4, rib.selected_counts().ipv6);
    rib.originate(net("2001:db8::/64"), attrs(&[]));
    assert_eq!(counts(&rib), (0, 1));
    rib.apply(&id(1), &announce(&["10.0.0.0/24", "10.0.1.0/24"], attrs(&[65002])))
        .unwrap();
    rib.apply(&id(2), &announce(&["10.0.1.0/24"], attrs(&[65003]))).unwrap();
    assert_eq!(counts(&rib), (2, 1), "a second path is no second route");
    rib.remove_peer(&id(1));
    assert_eq!(counts(&rib), (1, 1), "10.0.1.0/24 stays through peer 2");
    rib.withdraw_local(net("2001:db8::/64"));
    rib.apply(&id(2), &withdraw(&["10.0.1.0/24"])).unwrap();
    assert_eq!(counts(&rib), (0, 0));
}

// ---- Adj-RIB-Out ----

#[test]
fn first_batch_is_the_whole_table() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24", "10.0.1.0/24"], attrs(&[65002])))
        .unwrap();
    rib.originate(
        net("10.255.0.1/32"),
        PathAttributes {
            origin: Some(Origin::Igp),
            ..Default::default()
        },
    );
    let changes = rib.add_peer(peer(2, 65003));
    assert_eq!(changes.out_ready, [id(2)]);
    let batch = rib.pending_out(&id(2)).unwrap();
    assert_eq!(
        announced_prefixes(&batch),
        [net("10.0.0.0/24"), net("10.0.1.0/24"), net("10.255.0.1/32")]
    );
    assert!(batch.withdrawn.is_empty());
    assert!(rib.pending_out(&id(2)).unwrap().is_empty(), "then only changes");
}

#[test]
fn adj_rib_out_prepends_and_strips_med_and_local_pref() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    let received = PathAttributes {
        med: Some(30),
        local_pref: Some(400),
        communities: vec![0xFDEA_0001],
        ..attrs(&[65002, 65010])
    };
    let changes = rib.apply(&id(1), &announce(&["10.0.0.0/24"], received)).unwrap();
    assert_eq!(changes.out_ready, [id(2)], "not peer 1: split horizon");
    let batch = rib.pending_out(&id(2)).unwrap();
    let [(prefix, sent)] = &announced(&batch)[..] else {
        panic!("expected one route, got {batch:?}");
    };
    assert_eq!(*prefix, net("10.0.0.0/24"));
    assert_eq!(
        sent.as_path.segments,
        [AsSegment::Sequence(vec![LOCAL_ASN, 65002, 65010])]
    );
    assert_eq!(sent.med, None, "RFC 4271 5.1.4");
    assert_eq!(sent.local_pref, None, "RFC 4271 5.1.5");
    assert_eq!(
        sent.next_hop,
        NextHop::default(),
        "next hop self, filled by the session"
    );
    assert_eq!(sent.origin, Some(Origin::Igp));
    assert_eq!(sent.communities, [0xFDEA_0001]);
}

#[test]
fn local_routes_are_sent_with_our_as_and_med() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    let local = PathAttributes {
        origin: Some(Origin::Igp),
        med: Some(10),
        ..Default::default()
    };
    let changes = rib.originate(net("10.255.0.1/32"), local);
    assert_eq!(changes.out_ready, [id(1)]);
    let batch = rib.pending_out(&id(1)).unwrap();
    let [(_, sent)] = &announced(&batch)[..] else {
        panic!("expected one route, got {batch:?}");
    };
    assert_eq!(sent.as_path.segments, [AsSegment::Sequence(vec![LOCAL_ASN])]);
    assert_eq!(sent.med, Some(10));
    let changes = rib.withdraw_local(net("10.255.0.1/32"));
    assert_eq!(changes.routes, [RouteChange::Removed(net("10.255.0.1/32"))]);
    assert_eq!(rib.pending_out(&id(1)).unwrap().withdrawn, [net("10.255.0.1/32")]);
}

#[test]
fn split_horizon_never_sends_a_route_back() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    assert!(rib.pending_out(&id(1)).unwrap().is_empty());
    assert!(rib.full_table(&id(1)).unwrap().is_empty());
    assert_eq!(
        announced_prefixes(&rib.full_table(&id(2)).unwrap()),
        [net("10.0.0.0/24")]
    );
}

#[test]
fn best_moving_to_the_peer_withdraws_it_there() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002, 65010])))
        .unwrap();
    assert_eq!(
        announced_prefixes(&rib.pending_out(&id(2)).unwrap()),
        [net("10.0.0.0/24")]
    );
    rib.pending_out(&id(1)).unwrap();
    // Peer 2 now has the better path: it must forget ours; peer 1 gets it.
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], attrs(&[65003]))).unwrap();
    let to_2 = rib.pending_out(&id(2)).unwrap();
    assert_eq!(to_2.withdrawn, [net("10.0.0.0/24")]);
    assert!(to_2.announced.is_empty());
    let to_1 = rib.pending_out(&id(1)).unwrap();
    assert_eq!(
        announced(&to_1)[0].1.as_path.segments,
        [AsSegment::Sequence(vec![LOCAL_ASN, 65003])]
    );
}

#[test]
fn routes_are_not_sent_to_a_peer_whose_as_is_in_the_path() {
    // Two spines in AS 65000: what one sends is not offered to the other.
    let mut rib = rib_with(&[peer(1, 65000), peer(2, 65000), peer(3, 65100)]);
    let changes = rib
        .apply(&id(1), &announce(&["10.2.0.0/24"], attrs(&[65000, 65200])))
        .unwrap();
    assert_eq!(changes.out_ready, [id(3)]);
    assert!(rib.pending_out(&id(2)).unwrap().is_empty());
    assert!(rib.full_table(&id(2)).unwrap().is_empty());
    assert_eq!(
        announced_prefixes(&rib.pending_out(&id(3)).unwrap()),
        [net("10.2.0.0/24")]
    );
}

#[test]
fn ibgp_routes_go_to_ebgp_peers_only_and_ebgp_routes_to_ibgp_with_local_pref() {
    let mut rib = rib_with(&[peer(1, LOCAL_ASN), peer(2, LOCAL_ASN), peer(3, 65003)]);
    rib.apply(
        &id(1),
        &announce(
            &["10.0.0.0/24"],
            PathAttributes {
                local_pref: Some(300),
                ..attrs(&[])
            },
        ),
    )
    .unwrap();
    assert!(
        rib.pending_out(&id(2)).unwrap().is_empty(),
        "RFC 4271 9.2: no iBGP to iBGP"
    );
    let to_ebgp = rib.pending_out(&id(3)).unwrap();
    assert_eq!(
        announced(&to_ebgp)[0].1.as_path.segments,
        [AsSegment::Sequence(vec![LOCAL_ASN])]
    );
    assert_eq!(announced(&to_ebgp)[0].1.local_pref, None);

    rib.apply(
        &id(3),
        &announce(
            &["10.3.0.0/24"],
            PathAttributes {
                med: Some(9),
                ..attrs(&[65003])
            },
        ),
    )
    .unwrap();
    let to_ibgp = rib.pending_out(&id(2)).unwrap();
    let [(_, sent)] = &announced(&to_ibgp)[..] else {
        panic!("expected one route, got {to_ibgp:?}");
    };
    assert_eq!(
        sent.as_path.segments,
        [AsSegment::Sequence(vec![65003])],
        "no prepend inside the AS"
    );
    assert_eq!(sent.local_pref, Some(DEFAULT_LOCAL_PREF));
    assert_eq!(sent.med, Some(9), "MED may go to iBGP (RFC 4271 5.1.4)");
}

#[test]
fn out_batch_groups_prefixes_by_outgoing_attributes() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65009)]);
    rib.apply(
        &id(1),
        &announce(&["10.0.0.0/24", "10.0.2.0/24", "10.0.1.0/24"], attrs(&[65002])),
    )
    .unwrap();
    // Same path, other MED: a different received set, the same one sent.
    let other_med = PathAttributes {
        med: Some(50),
        ..attrs(&[65002])
    };
    rib.apply(&id(1), &announce(&["10.0.3.0/24"], other_med)).unwrap();
    rib.apply(
        &id(1),
        &announce(&["10.1.0.0/24", "10.1.1.0/24"], attrs(&[65002, 65003])),
    )
    .unwrap();
    let batch = rib.pending_out(&id(2)).unwrap();
    assert_eq!(batch.announced.len(), 2);
    let first: Vec<IpNet> = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]
        .map(net)
        .to_vec();
    assert_eq!(batch.announced[0].1, first);
    assert_eq!(batch.announced[1].1, ["10.1.0.0/24", "10.1.1.0/24"].map(net));
    assert_eq!(batch.announced_len(), 6);
}

#[test]
fn out_ready_names_a_peer_once_until_it_takes_its_routes() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    let first = rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    let second = rib.apply(&id(1), &announce(&["10.0.1.0/24"], attrs(&[65002]))).unwrap();
    assert_eq!(first.out_ready, [id(2)]);
    assert!(second.out_ready.is_empty());
    assert_eq!(rib.pending_out(&id(2)).unwrap().announced_len(), 2);
    let third = rib.apply(&id(1), &announce(&["10.0.2.0/24"], attrs(&[65002]))).unwrap();
    assert_eq!(third.out_ready, [id(2)]);
}

#[test]
fn a_route_that_comes_and_goes_between_batches_sends_nothing() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    rib.apply(&id(1), &withdraw(&["10.0.0.0/24"])).unwrap();
    assert!(
        rib.pending_out(&id(2)).unwrap().is_empty(),
        "never advertised: no withdrawal"
    );
}

#[test]
fn full_table_resends_everything_and_pending_withdrawals() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24", "10.0.1.0/24"], attrs(&[65002])))
        .unwrap();
    assert_eq!(rib.pending_out(&id(2)).unwrap().announced_len(), 2);
    // ROUTE-REFRESH with nothing pending: the same routes again.
    let refresh = rib.full_table(&id(2)).unwrap();
    assert_eq!(announced_prefixes(&refresh), [net("10.0.0.0/24"), net("10.0.1.0/24")]);
    // A withdrawal not yet taken is part of the answer, then not pending.
    rib.apply(&id(1), &withdraw(&["10.0.1.0/24"])).unwrap();
    let refresh = rib.full_table(&id(2)).unwrap();
    assert_eq!(refresh.withdrawn, [net("10.0.1.0/24")]);
    assert_eq!(announced_prefixes(&refresh), [net("10.0.0.0/24")]);
    assert!(rib.pending_out(&id(2)).unwrap().is_empty());
}

#[test]
fn a_peer_is_sent_only_the_families_its_session_negotiated() {
    let mut v6_only = peer(2, 65003);
    v6_only.families = Families {
        ipv4: false,
        ipv6: true,
    };
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24", "2001:db8::/32"], attrs(&[65002])))
        .unwrap();
    rib.add_peer(v6_only);
    let first = rib.pending_out(&id(2)).unwrap();
    assert_eq!(announced_prefixes(&first), [net("2001:db8::/32")]);
    // Changes in the other family never make it ready nor reach it.
    let changes = rib.apply(&id(1), &withdraw(&["10.0.0.0/24"])).unwrap();
    assert!(changes.out_ready.is_empty());
    assert!(rib.pending_out(&id(2)).unwrap().is_empty());
}

#[test]
fn prefixes_sent_counts_what_the_batches_advertised() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    let sent = |rib: &Rib| rib.peer_stats(&id(2)).map(|s| s.prefixes_sent);
    rib.apply(&id(1), &announce(&["10.0.0.0/24", "10.0.1.0/24"], attrs(&[65002])))
        .unwrap();
    assert_eq!(sent(&rib), Some(0), "nothing taken yet");
    rib.pending_out(&id(2)).unwrap();
    assert_eq!(sent(&rib), Some(2));
    // A changed path is sent again, not counted twice; a withdrawal is.
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002, 65010])))
        .unwrap();
    rib.apply(&id(1), &withdraw(&["10.0.1.0/24"])).unwrap();
    rib.pending_out(&id(2)).unwrap();
    assert_eq!(sent(&rib), Some(1));
    rib.apply(&id(1), &announce(&["10.0.2.0/24"], attrs(&[65002]))).unwrap();
    assert_eq!(rib.full_table(&id(2)).unwrap().announced_len(), 2);
    assert_eq!(sent(&rib), Some(2));
}

// ---- attributes, views ----

#[test]
fn identical_attributes_are_shared() {
    let mut rib = rib_with(&[peer(1, 65000), peer(2, 65000)]);
    rib.apply(&id(1), &announce(&["10.0.0.0/24", "10.0.1.0/24"], attrs(&[65000])))
        .unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], attrs(&[65000]))).unwrap();
    assert_eq!(rib.stats().attribute_sets, 1);
    let from_1 = rib.adj_rib_in(&id(1)).unwrap();
    let from_2 = rib.adj_rib_in(&id(2)).unwrap();
    assert_eq!(from_1.len(), 2);
    assert!(Arc::ptr_eq(&from_1[0].1, &from_1[1].1));
    assert!(Arc::ptr_eq(&from_1[0].1, &from_2[0].1));
    drop((from_1, from_2));
    // When nobody uses a set any more, it is forgotten.
    rib.apply(
        &id(1),
        &announce(&["10.0.0.0/24", "10.0.1.0/24"], attrs(&[65000, 65002])),
    )
    .unwrap();
    assert_eq!(rib.stats().attribute_sets, 2);
    rib.remove_peer(&id(2));
    assert_eq!(rib.stats().attribute_sets, 1);
}

#[test]
fn routes_view_flags_best_and_multipath() {
    let mut rib = rib_with(&[peer(1, 65000), peer(2, 65000), peer(3, 65100)]);
    let communities = vec![0xFDE8_0007];
    rib.apply(
        &id(2),
        &announce(
            &["10.0.0.0/24"],
            PathAttributes {
                communities,
                ..attrs(&[65000])
            },
        ),
    )
    .unwrap();
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65000]))).unwrap();
    rib.apply(&id(3), &announce(&["10.0.0.0/24"], attrs(&[65100, 65101])))
        .unwrap();
    let routes = rib.routes();
    let [route] = &routes[..] else {
        panic!("expected one route, got {routes:?}");
    };
    assert_eq!(route.prefix.to_string(), "10.0.0.0/24");
    let flags: Vec<(String, bool, bool)> = route
        .paths
        .iter()
        .map(|p| (p.peer.clone(), p.best, p.multipath))
        .collect();
    assert_eq!(
        flags,
        [
            (id(1).to_string(), true, true),
            (id(2).to_string(), false, true),
            (id(3).to_string(), false, false)
        ]
    );
    assert_eq!(route.paths[1].communities, ["65000:7"]);
    assert_eq!(route.paths[2].as_path, "65100 65101");
    assert_eq!(route.paths[0].local_pref, DEFAULT_LOCAL_PREF);
    assert_eq!(route.paths[0].ifindex, Some(1));
    let json = serde_json::to_value(&routes).unwrap();
    assert_eq!(json[0]["paths"][0]["best"], true);
    assert_eq!(json[0]["paths"][0]["origin"], "igp");
}

mod policy;
mod stale;
