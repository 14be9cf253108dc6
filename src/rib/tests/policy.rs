//! Route policy in the RIB: import filters and the first-AS check keep
//! rejected paths out of the decision, export filters limit what a peer is
//! sent, and a new policy applies to what is stored without a reset.

use super::*;
use crate::policy::{PrefixFilter, RoutePolicy};

fn filter(rules: &[&str]) -> PrefixFilter {
    PrefixFilter::new(rules.iter().map(|r| r.parse().unwrap()).collect())
}

fn import(rules: &[&str]) -> RoutePolicy {
    RoutePolicy {
        import: filter(rules),
        ..RoutePolicy::default()
    }
}

fn export(rules: &[&str]) -> RoutePolicy {
    RoutePolicy {
        export: filter(rules),
        ..RoutePolicy::default()
    }
}

const NO_DEFAULT: [&str; 2] = ["deny 0.0.0.0/0", "permit 10.0.0.0/8 le 32"];

fn changed_prefixes(changes: &Changes) -> Vec<IpNet> {
    changes.routes.iter().map(RouteChange::prefix).collect()
}

fn rejected(rib: &Rib) -> Vec<(IpNet, String, Option<String>)> {
    rib.rejected_within(None)
        .into_iter()
        .flat_map(|r| r.paths.into_iter().map(move |p| (r.prefix, p.peer, p.rejected)))
        .collect()
}

fn stats(rib: &Rib, n: u8) -> PeerStats {
    rib.peer_stats(&id(n)).unwrap()
}

#[test]
fn an_import_filter_keeps_denied_prefixes_out_of_the_selection() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.set_policy(&id(1), import(&NO_DEFAULT)).unwrap();
    let changes = rib
        .apply(
            &id(1),
            &announce(&["0.0.0.0/0", "10.1.0.0/16", "192.0.2.0/24"], attrs(&[65002])),
        )
        .unwrap();
    assert_eq!(
        changed_prefixes(&changes),
        [net("10.1.0.0/16")],
        "only 10.1/16 goes to the FIB"
    );
    assert_eq!(rib.best(&net("0.0.0.0/0")), None);
    assert_eq!(selected(&rib, "10.1.0.0/16"), [from(1)]);
    let routes: Vec<IpNet> = rib.routes().iter().map(|r| r.prefix).collect();
    assert_eq!(routes, [net("10.1.0.0/16")], "routes shows no rejected path");
    let reason = Some("import filter".to_string());
    let peer = id(1).to_string();
    assert_eq!(
        rejected(&rib),
        [
            (net("0.0.0.0/0"), peer.clone(), reason.clone()),
            (net("192.0.2.0/24"), peer, reason)
        ]
    );
    let s = stats(&rib, 1);
    assert_eq!(
        (s.prefixes, s.filtered, s.first_as_rejected, s.accepted()),
        (3, 2, 0, 1)
    );
    assert_eq!(
        rib.adj_rib_in(&id(1)).unwrap().len(),
        3,
        "the Adj-RIB-In is kept before policy"
    );

    // Withdrawing a rejected prefix changes no selection and uncounts it.
    let changes = rib.apply(&id(1), &withdraw(&["0.0.0.0/0"])).unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    let s = stats(&rib, 1);
    assert_eq!((s.prefixes, s.filtered), (2, 1));
}

#[test]
fn a_rejected_path_loses_to_a_worse_eligible_one() {
    // Peer 1 would win (lower router ID) but its import filter denies it.
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.set_policy(&id(1), import(&["deny 10.0.0.0/24"])).unwrap();
    rib.apply(&id(1), &announce(&["10.0.0.0/24"], attrs(&[65002]))).unwrap();
    rib.apply(&id(2), &announce(&["10.0.0.0/24"], attrs(&[65003, 65010])))
        .unwrap();
    assert_eq!(selected(&rib, "10.0.0.0/24"), [from(2)]);
    // Routes shows the eligible path, routes --filtered the other.
    assert_eq!(rib.routes()[0].paths.len(), 1);
    assert_eq!(rejected(&rib).len(), 1);
}

#[test]
fn a_new_import_filter_re_runs_over_the_stored_routes() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.set_policy(&id(1), import(&NO_DEFAULT)).unwrap();
    rib.apply(&id(1), &announce(&["0.0.0.0/0", "10.1.0.0/16"], attrs(&[65002])))
        .unwrap();

    // Everything permitted: the default enters the selection, 10.1/16 stays.
    let changes = rib.set_policy(&id(1), RoutePolicy::default()).unwrap();
    assert_eq!(changed_prefixes(&changes), [net("0.0.0.0/0")]);
    assert_eq!(selected(&rib, "0.0.0.0/0"), [from(1)]);
    assert_eq!(stats(&rib, 1).filtered, 0);
    assert!(rejected(&rib).is_empty());

    // Now 10/8 denied: it leaves (the FIB deletes it), the default stays.
    let changes = rib
        .set_policy(&id(1), import(&["deny 10.0.0.0/8 le 32", "permit 0.0.0.0/0 le 32"]))
        .unwrap();
    assert_eq!(changes.routes, [RouteChange::Removed(net("10.1.0.0/16"))]);
    assert_eq!(stats(&rib, 1).filtered, 1);

    // The same policy again changes nothing.
    let again = rib
        .set_policy(&id(1), import(&["deny 10.0.0.0/8 le 32", "permit 0.0.0.0/0 le 32"]))
        .unwrap();
    assert!(again.is_empty());
}

#[test]
fn an_export_filter_limits_what_a_peer_is_sent() {
    let mut rib = rib();
    rib.add_peer(peer(1, 65002));
    rib.add_peer(peer(2, 65003));
    rib.set_policy(&id(2), export(&["permit 10.0.0.0/8 le 32"])).unwrap();
    rib.pending_out(&id(1)).unwrap();
    rib.pending_out(&id(2)).unwrap();
    rib.originate(net("10.9.0.0/16"), PathAttributes::default());
    rib.originate(net("198.51.100.0/24"), PathAttributes::default());
    rib.apply(&id(1), &announce(&["10.1.0.0/16", "192.0.2.0/24"], attrs(&[65002])))
        .unwrap();
    let batch = rib.pending_out(&id(2)).unwrap();
    assert_eq!(announced_prefixes(&batch), [net("10.1.0.0/16"), net("10.9.0.0/16")]);
    // Peer 1 has no export filter: it gets our routes.
    let batch = rib.pending_out(&id(1)).unwrap();
    assert_eq!(announced_prefixes(&batch), [net("10.9.0.0/16"), net("198.51.100.0/24")]);
    assert_eq!(stats(&rib, 2).prefixes_sent, 2);
}

#[test]
fn a_new_export_filter_withdraws_and_announces_without_a_reset() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.set_policy(&id(2), export(&["permit 10.0.0.0/8 le 32"])).unwrap();
    rib.apply(&id(1), &announce(&["10.1.0.0/16", "192.0.2.0/24"], attrs(&[65002])))
        .unwrap();
    let batch = rib.pending_out(&id(2)).unwrap();
    assert_eq!(announced_prefixes(&batch), [net("10.1.0.0/16")]);

    // Now only 192.0.2.0/24: 10.1/16 is withdrawn, 192.0.2/24 announced.
    let changes = rib.set_policy(&id(2), export(&["permit 192.0.2.0/24"])).unwrap();
    assert!(changes.routes.is_empty(), "export changes no selection");
    assert_eq!(changes.out_ready, [id(2)]);
    let batch = rib.pending_out(&id(2)).unwrap();
    assert_eq!(batch.withdrawn, [net("10.1.0.0/16")]);
    assert_eq!(announced_prefixes(&batch), [net("192.0.2.0/24")]);
    assert_eq!(stats(&rib, 2).prefixes_sent, 1);

    // Everything: 10.1/16 comes back, nothing is sent twice.
    rib.set_policy(&id(2), RoutePolicy::default()).unwrap();
    let batch = rib.pending_out(&id(2)).unwrap();
    assert!(batch.withdrawn.is_empty());
    assert_eq!(announced_prefixes(&batch), [net("10.1.0.0/16")]);
    assert_eq!(stats(&rib, 2).prefixes_sent, 2);
}

#[test]
fn an_export_change_keeps_what_the_last_batch_sent() {
    // 10.1/16 was sent to peer 2, then withdrawn by peer 1 (pending, not
    // yet taken), then export denies it: the withdrawal is still sent.
    let mut rib = rib_with(&[peer(1, 65002), peer(2, 65003)]);
    rib.apply(&id(1), &announce(&["10.1.0.0/16"], attrs(&[65002]))).unwrap();
    rib.pending_out(&id(2)).unwrap();
    rib.apply(&id(1), &withdraw(&["10.1.0.0/16"])).unwrap();
    rib.set_policy(&id(2), export(&["deny 10.0.0.0/8 le 32"])).unwrap();
    let batch = rib.pending_out(&id(2)).unwrap();
    assert_eq!(batch.withdrawn, [net("10.1.0.0/16")]);
    assert_eq!(stats(&rib, 2).prefixes_sent, 0);
}

#[test]
fn ebgp_routes_must_start_with_the_peers_as() {
    let mut rib = rib_with(&[peer(1, 65002), peer(2, LOCAL_ASN)]);
    let foreign = attrs(&[65099, 65002]);
    let changes = rib.apply(&id(1), &announce(&["10.1.0.0/16"], foreign.clone())).unwrap();
    assert!(changes.routes.is_empty(), "treat-as-withdraw: nothing selected");
    let empty = PathAttributes {
        as_path: AsPath::default(),
        ..attrs(&[])
    };
    rib.apply(&id(1), &announce(&["10.2.0.0/16"], empty)).unwrap();
    let set_first = PathAttributes {
        as_path: AsPath {
            segments: vec![AsSegment::Set(vec![65002])],
        },
        ..attrs(&[])
    };
    rib.apply(&id(1), &announce(&["10.3.0.0/16"], set_first)).unwrap();
    assert_eq!(stats(&rib, 1).first_as_rejected, 3);
    assert!(rejected(&rib).iter().all(|(_, _, r)| r.as_deref() == Some("first AS")));
    // iBGP paths start with whatever the originating eBGP peer's AS was.
    rib.apply(&id(2), &announce(&["10.4.0.0/16"], attrs(&[65010]))).unwrap();
    assert_eq!(selected(&rib, "10.4.0.0/16"), [from(2)]);

    // A good announcement replaces the rejected one.
    let changes = rib.apply(&id(1), &announce(&["10.1.0.0/16"], attrs(&[65002]))).unwrap();
    assert_eq!(changed_prefixes(&changes), [net("10.1.0.0/16")]);
    assert_eq!(stats(&rib, 1).first_as_rejected, 2);
    // And a bad one replaces (withdraws) the good one.
    let changes = rib.apply(&id(1), &announce(&["10.1.0.0/16"], foreign)).unwrap();
    assert_eq!(changes.routes, [RouteChange::Removed(net("10.1.0.0/16"))]);
    assert_eq!(stats(&rib, 1).first_as_rejected, 3);
}

#[test]
fn the_first_as_check_can_be_turned_off() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.apply(&id(1), &announce(&["10.1.0.0/16"], attrs(&[65099]))).unwrap();
    assert_eq!(rib.best(&net("10.1.0.0/16")), None);
    let off = RoutePolicy {
        enforce_first_as: false,
        ..RoutePolicy::default()
    };
    let changes = rib.set_policy(&id(1), off.clone()).unwrap();
    assert_eq!(changed_prefixes(&changes), [net("10.1.0.0/16")]);
    assert_eq!(stats(&rib, 1).first_as_rejected, 0);
    // Off from the start: accepted as announced.
    rib.apply(&id(1), &announce(&["10.2.0.0/16"], attrs(&[65098]))).unwrap();
    assert_eq!(selected(&rib, "10.2.0.0/16"), [from(1)]);
    // First AS before the import filter: one reason per path.
    let both = RoutePolicy {
        import: filter(&["deny 10.1.0.0/16"]),
        ..RoutePolicy::default()
    };
    rib.set_policy(&id(1), both).unwrap();
    let s = stats(&rib, 1);
    assert_eq!((s.prefixes, s.filtered, s.first_as_rejected), (2, 0, 2));
}

#[test]
fn a_peer_going_down_takes_its_rejected_paths() {
    let mut rib = rib_with(&[peer(1, 65002)]);
    rib.set_policy(&id(1), import(&NO_DEFAULT)).unwrap();
    rib.apply(&id(1), &announce(&["0.0.0.0/0", "10.1.0.0/16"], attrs(&[65002])))
        .unwrap();
    let changes = rib.remove_peer(&id(1));
    assert_eq!(changes.routes, [RouteChange::Removed(net("10.1.0.0/16"))]);
    assert_eq!(rib.stats().prefixes, 0);
    assert!(rejected(&rib).is_empty());
}

#[test]
fn a_policy_for_an_unknown_peer_is_an_error() {
    let mut rib = rib();
    assert_eq!(rib.set_policy(&id(9), RoutePolicy::default()), Err(UnknownPeer(id(9))));
}
