//! Graceful restart: stale paths kept, refreshed and swept.

use super::*;

/// Peer 1 (AS 65002) sent an IPv4 and an IPv6 prefix and went down in a
/// graceful restart; peer 2 is up and was sent both.
fn restarting() -> Rib {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(&id(1), &announce(&["10.1.0.0/24", "2001:db8:1::/48"], attrs(&[65002])))
        .unwrap();
    assert_eq!(announced_prefixes(&rib.pending_out(&id(2)).unwrap()).len(), 2);
    assert_eq!(rib.retain_stale(&id(1)), 2);
    rib
}

fn stale_flags(rib: &Rib) -> Vec<(IpNet, bool)> {
    rib.routes()
        .into_iter()
        .flat_map(|r| r.paths.into_iter().map(move |p| (r.prefix, p.stale)))
        .collect()
}

#[test]
fn stale_paths_stay_selected_and_advertised_while_the_peer_restarts() {
    let mut rib = restarting();
    assert!(rib.is_restarting(&id(1)));
    assert_eq!(selected(&rib, "10.1.0.0/24"), [from(1)]);
    assert_eq!(selected(&rib, "2001:db8:1::/48"), [from(1)]);
    assert_eq!(
        stale_flags(&rib),
        [(net("10.1.0.0/24"), true), (net("2001:db8:1::/48"), true)]
    );
    assert_eq!(rib.peer_stats(&id(1)).map(|s| s.stale), Some(2));
    // Nothing to withdraw from peer 2.
    assert!(rib.pending_out(&id(2)).unwrap().withdrawn.is_empty());
    assert_eq!(rib.stale_families(&id(1)), Families { ipv4: true, ipv6: true });
}

#[test]
fn the_peer_back_keeps_its_stale_paths_and_a_path_sent_again_is_fresh() {
    let mut rib = restarting();
    let back = rib.add_peer(peer(1, 65002));
    assert_eq!(back.out_ready, [id(1)]);
    assert!(back.routes.is_empty(), "no route changes: {back:?}");
    assert!(!rib.is_restarting(&id(1)));
    // Its first batch is the table, without its own routes (split horizon).
    assert!(announced_prefixes(&rib.pending_out(&id(1)).unwrap()).is_empty());

    let again = rib.apply(&id(1), &announce(&["10.1.0.0/24"], attrs(&[65002]))).unwrap();
    assert!(again.routes.is_empty(), "the same path: no change {again:?}");
    assert_eq!(
        stale_flags(&rib),
        [(net("10.1.0.0/24"), false), (net("2001:db8:1::/48"), true)]
    );
    assert_eq!(rib.peer_stats(&id(1)).map(|s| (s.prefixes, s.stale)), Some((2, 1)));

    // End-of-RIB for IPv4: nothing stale there. For IPv6: the stale one goes.
    let v4 = Families {
        ipv4: true,
        ipv6: false,
    };
    assert!(rib.sweep_stale(&id(1), v4).routes.is_empty());
    let v6 = Families {
        ipv4: false,
        ipv6: true,
    };
    let swept = rib.sweep_stale(&id(1), v6);
    assert_eq!(swept.routes, [RouteChange::Removed(net("2001:db8:1::/48"))]);
    assert_eq!(swept.out_ready, [id(2)]);
    assert_eq!(rib.pending_out(&id(2)).unwrap().withdrawn, [net("2001:db8:1::/48")]);
    assert_eq!(rib.peer_stats(&id(1)).map(|s| (s.prefixes, s.stale)), Some((1, 0)));
}

#[test]
fn a_changed_path_replaces_the_stale_one() {
    let mut rib = restarting();
    rib.add_peer(peer(1, 65002));
    let changed = rib
        .apply(&id(1), &announce(&["10.1.0.0/24"], attrs(&[65002, 65009])))
        .unwrap();
    assert_eq!(changed.routes.len(), 1);
    assert_eq!(stale_flags(&rib)[0], (net("10.1.0.0/24"), false));
}

#[test]
fn sweeping_a_restarting_peer_that_never_came_back_removes_it() {
    let mut rib = restarting();
    let swept = rib.sweep_stale(&id(1), Families::ALL);
    let mut removed: Vec<IpNet> = swept.routes.iter().map(RouteChange::prefix).collect();
    removed.sort();
    assert_eq!(removed, [net("10.1.0.0/24"), net("2001:db8:1::/48")]);
    assert_eq!(rib.peer_stats(&id(1)), None, "the peer is gone");
    assert_eq!(rib.stats().peers, 1);
}

#[test]
fn a_peer_back_in_another_as_starts_afresh() {
    let mut rib = restarting();
    let back = rib.add_peer(peer(1, 65099));
    assert_eq!(back.routes.len(), 2, "its stale routes are withdrawn: {back:?}");
    assert_eq!(rib.peer_stats(&id(1)).map(|s| s.prefixes), Some(0));
}

#[test]
fn a_new_session_without_a_graceful_restart_replaces_the_old_routes() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.apply(&id(1), &announce(&["10.1.0.0/24"], attrs(&[65002]))).unwrap();
    let back = rib.add_peer(peer(1, 65002));
    assert_eq!(back.routes, [RouteChange::Removed(net("10.1.0.0/24"))]);
}

#[test]
fn a_policy_change_keeps_the_stale_mark() {
    let mut rib = restarting();
    let rule = "deny 10.1.0.0/24".parse().unwrap();
    let deny = crate::policy::RoutePolicy {
        import: crate::policy::PrefixFilter::new(vec![rule]),
        ..Default::default()
    };
    rib.set_policy(&id(1), deny).unwrap();
    rib.set_policy(&id(1), crate::policy::RoutePolicy::default()).unwrap();
    assert!(stale_flags(&rib).iter().all(|(_, stale)| *stale));
    assert_eq!(rib.peer_stats(&id(1)).map(|s| s.stale), Some(2));
}
