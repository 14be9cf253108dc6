//! The routes task with a FIB that only records, in paused time: what each
//! peer is sent (the table, End-of-RIB per negotiated family, the export
//! rules, next hop self) and what the FIB is asked to install.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;
use std::sync::Arc;

use crate::bgp::testkit::{
    IFINDEX, LOCAL_ASN, LOCAL_ID, LOCAL_LL, PEER_ASN, links_up, routes_task, routes_task_with_policies,
};
use crate::fib::{FibCommands, NextHops};
use crate::msg::update::{AsPath, AsSegment, DecodeContext, Decoded, NextHop};
use crate::msg::{Message, decode};
use crate::policy::{Policies, SessionPolicy};

use super::*;

const FOUR_OCTET_AS: EncodeContext = EncodeContext { four_octet_as: true };
const V4: &str = "192.0.2.0/24";
const V6: &str = "2001:db8:1::/48";

fn peer(last: u16) -> PeerKey {
    PeerKey {
        ifindex: IFINDEX,
        addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last),
    }
}

fn info(id: PeerKey, asn: u32, families: rib::Families) -> PeerInfo {
    PeerInfo {
        id,
        asn,
        router_id: std::net::Ipv4Addr::new(10, 0, 1, id.addr.segments()[7] as u8),
        families,
    }
}

/// A peer's session end: what the routes task hands it to send.
struct Session {
    sent: mpsc::UnboundedReceiver<Outgoing>,
}

impl Session {
    async fn up(routes: &RoutesHandle, info: PeerInfo) -> Session {
        let (out, sent) = mpsc::unbounded_channel();
        routes.peer_up(info, FOUR_OCTET_AS, out).await;
        Session { sent }
    }

    /// The next batch of UPDATEs, decoded.
    async fn updates(&mut self) -> Vec<Decoded> {
        let Some(Outgoing::Updates(batch)) = self.sent.recv().await else {
            panic!("routes task stopped, or no UPDATEs");
        };
        let ctx = DecodeContext {
            four_octet_as: true,
            external: true,
        };
        batch
            .iter()
            .map(|bytes| match decode(bytes) {
                Ok(Message::Update(body)) => update::decode(&body, &ctx).expect("UPDATE decodes"),
                other => panic!("not an UPDATE: {other:?}"),
            })
            .collect()
    }
}

fn announced(updates: &[Decoded]) -> BTreeSet<String> {
    updates
        .iter()
        .flat_map(|u| &u.update.announced)
        .map(|p| p.to_string())
        .collect()
}

fn withdrawn(updates: &[Decoded]) -> BTreeSet<String> {
    updates
        .iter()
        .flat_map(|u| &u.update.withdrawn)
        .map(|p| p.to_string())
        .collect()
}

fn set(prefixes: &[&str]) -> BTreeSet<String> {
    prefixes.iter().map(|p| p.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_new_peer_gets_the_table_then_end_of_rib_for_each_negotiated_family_only() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, _fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[V4, V6], links);
    const BOTH: rib::Families = rib::Families::ALL;
    let v4_only = rib::Families { ipv6: false, ..BOTH };
    let v6_only = rib::Families { ipv4: false, ..BOTH };
    let cases = [
        (
            BOTH,
            vec![V4, V6],
            vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)],
        ),
        (v4_only, vec![V4], vec![(AFI_IPV4, SAFI_UNICAST)]),
        (v6_only, vec![V6], vec![(AFI_IPV6, SAFI_UNICAST)]),
    ];
    for (i, (families, table, ends)) in cases.into_iter().enumerate() {
        let mut session = Session::up(&routes, info(peer(10 + i as u16), PEER_ASN, families)).await;
        let updates = session.updates().await;
        let first_end = updates.iter().position(|u| u.end_of_rib.is_some()).expect("End-of-RIB");
        let (routes_part, ends_part) = updates.split_at(first_end);
        assert_eq!(announced(routes_part), set(&table), "{families:?}");
        let sent_ends: Vec<_> = ends_part.iter().map(|u| u.end_of_rib).collect();
        let expected: Vec<_> = ends.into_iter().map(Some).collect();
        assert_eq!(sent_ends, expected, "{families:?}: the table first, then End-of-RIB");
    }
}

#[tokio::test(start_paused = true)]
async fn routes_go_to_the_other_peers_with_next_hop_self_and_not_back() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[], links);
    let (source, other, same_as) = (peer(2), peer(3), peer(4));
    let mut from = Session::up(&routes, info(source, PEER_ASN, rib::Families::ALL)).await;
    let mut to = Session::up(&routes, info(other, PEER_ASN + 1, rib::Families::ALL)).await;
    // Its AS is already in the path: the sender-side loop check skips it.
    let mut looped = Session::up(&routes, info(same_as, PEER_ASN, rib::Families::ALL)).await;
    for session in [&mut from, &mut to, &mut looped] {
        let initial = session.updates().await;
        assert!(
            initial.iter().all(|u| u.end_of_rib.is_some()),
            "empty table: {initial:?}"
        );
    }

    let learned = ["198.51.100.0/24", "2001:db8:2::/48"];
    let attributes = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath {
            segments: vec![AsSegment::Sequence(vec![PEER_ASN])],
        },
        next_hop: NextHop {
            ipv4: None,
            global: Some(source.addr),
            link_local: Some(source.addr),
        },
        ..PathAttributes::default()
    };
    let announce = Update {
        announced: learned.iter().map(|p| p.parse().expect("prefix")).collect(),
        attributes: Some(attributes),
        ..Update::default()
    };
    routes.update(source, announce).await;

    let updates = to.updates().await;
    assert_eq!(announced(&updates), set(&learned));
    for u in &updates {
        let attrs = u.update.attributes.as_ref().expect("attributes");
        assert_eq!(attrs.as_path.segments, [AsSegment::Sequence(vec![LOCAL_ASN, PEER_ASN])]);
        assert_eq!(attrs.next_hop.link_local, Some(LOCAL_LL), "next hop self");
    }
    // A round trip through the task: everything for the update is sent.
    routes.counters().await.expect("routes task running");
    assert!(from.sent.try_recv().is_err(), "sent back to where it came from");
    assert!(looped.sent.try_recv().is_err(), "sent to a peer in the AS path");

    let via = FibNextHop {
        ifindex: IFINDEX,
        via: source.addr,
    };
    let installed: BTreeMap<String, Option<Vec<FibNextHop>>> = fib
        .take_submitted()
        .into_iter()
        .map(|(prefix, hops)| (prefix.to_string(), hops.map(|h| h.to_vec())))
        .collect();
    let expected = learned.iter().map(|p| (p.to_string(), Some(vec![via]))).collect();
    assert_eq!(installed, expected);
    let counts = |routes: &RoutesHandle| (routes.selected_counts().ipv4, routes.selected_counts().ipv6);
    assert_eq!(counts(&routes), (1, 1), "the Loc-RIB's size, published");

    routes.peer_down(source).await;
    assert_eq!(withdrawn(&to.updates().await), set(&learned));
    routes.counters().await.expect("routes task running");
    assert_eq!(counts(&routes), (0, 0));
    let removed: BTreeMap<String, Option<NextHops>> = fib
        .take_submitted()
        .into_iter()
        .map(|(prefix, hops)| (prefix.to_string(), hops))
        .collect();
    assert_eq!(removed, learned.iter().map(|p| (p.to_string(), None)).collect());
}

/// The routes view shows what the FIB installed: with the FIB gone, the
/// error names the FIB, not the routes task that still runs.
#[tokio::test(start_paused = true)]
async fn the_routes_view_names_the_fib_once_it_has_stopped() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, _fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[V4], links);
    let stopped = routes.routes_page(None, None, 10, false).await.err();
    assert_eq!(stopped, Some(Stopped { stage: "FIB" }));
    assert_eq!(routes.counters().await.map(|c| c.len()), Ok(0));
}

/// A route whose next hop is our own link-local (from the Links snapshot)
/// never reaches the FIB nor another peer; one through the peer does.
#[tokio::test(start_paused = true)]
async fn routes_through_our_own_link_local_are_not_installed() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[], links);
    let (source, other) = (peer(2), peer(3));
    let mut from = Session::up(&routes, info(source, PEER_ASN, rib::Families::ALL)).await;
    let mut to = Session::up(&routes, info(other, PEER_ASN + 1, rib::Families::ALL)).await;
    from.updates().await;
    to.updates().await;
    let through = |next_hop: Ipv6Addr, prefix: &str| Update {
        announced: vec![prefix.parse().expect("prefix")],
        attributes: Some(PathAttributes {
            origin: Some(Origin::Igp),
            as_path: AsPath {
                segments: vec![AsSegment::Sequence(vec![PEER_ASN])],
            },
            next_hop: NextHop {
                ipv4: None,
                global: Some(next_hop),
                link_local: Some(next_hop),
            },
            ..PathAttributes::default()
        }),
        ..Update::default()
    };
    routes.update(source, through(LOCAL_LL, "10.0.0.0/8")).await;
    routes.update(source, through(source.addr, V4)).await;
    assert_eq!(announced(&to.updates().await), set(&[V4]));
    routes.counters().await.expect("routes task running");
    let installed: Vec<String> = fib.take_submitted().into_iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(installed, [V4]);
    assert!(to.sent.try_recv().is_err(), "10.0.0.0/8 went out");
}

/// An UPDATE from `from` announcing `prefixes` with a plain eBGP path.
fn announce(from: PeerKey, prefixes: &[String]) -> Update {
    Update {
        announced: prefixes.iter().map(|p| p.parse().expect("prefix")).collect(),
        attributes: Some(PathAttributes {
            origin: Some(Origin::Igp),
            as_path: AsPath {
                segments: vec![AsSegment::Sequence(vec![PEER_ASN])],
            },
            next_hop: NextHop {
                ipv4: None,
                global: None,
                link_local: Some(from.addr),
            },
            ..PathAttributes::default()
        }),
        ..Update::default()
    }
}

fn v4_prefixes(range: std::ops::Range<u8>) -> Vec<String> {
    range.map(|i| format!("10.0.{i}.0/24")).collect()
}

/// Past `--max-prefix` the peer leaves the RIB at once: the kernel and the
/// other peers lose its routes, its session is told with the family and
/// counts for the NOTIFICATION, and UPDATEs still queued from it put
/// nothing back.
#[tokio::test(start_paused = true)]
async fn past_max_prefix_the_peer_is_withdrawn_and_its_session_told() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let policies = Policies {
        default: SessionPolicy {
            max_prefix: Some(10),
            ..SessionPolicy::default()
        },
        ..Policies::default()
    };
    let (_policies, policies_rx) = watch::channel(std::sync::Arc::new(policies));
    let (routes, fib) = routes_task_with_policies(LOCAL_ASN, LOCAL_ID, &[], links, policies_rx);
    let (source, other) = (peer(2), peer(3));
    let mut from = Session::up(&routes, info(source, PEER_ASN, rib::Families::ALL)).await;
    let mut to = Session::up(&routes, info(other, PEER_ASN + 1, rib::Families::ALL)).await;
    for session in [&mut from, &mut to] {
        session.updates().await; // End-of-RIB
    }

    // 9, then 10: at and under the limit, all kept.
    let first = v4_prefixes(0..9);
    routes.update(source, announce(source, &first)).await;
    routes.update(source, announce(source, &v4_prefixes(9..10))).await;
    let mut got = announced(&to.updates().await);
    got.extend(announced(&to.updates().await));
    assert_eq!(got.len(), 10);
    assert_eq!(routes.counters().await.expect("running")[&source].prefixes_received, 10);
    assert!(from.sent.try_recv().is_err(), "nothing for the source yet");
    fib.take_submitted();

    // One more: 11 > 10. Another UPDATE is already queued behind it.
    routes.update(source, announce(source, &v4_prefixes(10..11))).await;
    routes.update(source, announce(source, &v4_prefixes(20..30))).await;
    let counters = routes.counters().await.expect("running");
    assert_eq!(
        from.sent.recv().await,
        Some(Outgoing::MaxPrefixExceeded(PrefixLimitExceeded {
            afi: AFI_IPV4,
            safi: SAFI_UNICAST,
            limit: 10,
            accepted: 11,
        }))
    );
    assert_eq!(from.sent.recv().await, None, "the routes task let the session go");
    assert!(!counters.contains_key(&source), "out of the RIB: {counters:?}");
    assert_eq!(withdrawn(&to.updates().await).len(), 10);
    assert!(to.sent.try_recv().is_err(), "the queued UPDATE put nothing back");
    let kernel: BTreeMap<String, Option<NextHops>> = fib
        .take_submitted()
        .into_iter()
        .map(|(prefix, hops)| (prefix.to_string(), hops))
        .collect();
    assert_eq!(kernel, v4_prefixes(0..11).into_iter().map(|p| (p, None)).collect());
}

/// A reload that lowers `--max-prefix` below what a peer holds closes it
/// at once, without waiting for its next UPDATE.
#[tokio::test(start_paused = true)]
async fn a_reload_lowering_max_prefix_closes_the_peer_at_once() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let limited = |max| {
        Arc::new(Policies {
            default: SessionPolicy {
                max_prefix: Some(max),
                ..SessionPolicy::default()
            },
            ..Policies::default()
        })
    };
    let (reload, policies_rx) = watch::channel(limited(100));
    let (routes, fib) = routes_task_with_policies(LOCAL_ASN, LOCAL_ID, &[], links, policies_rx);
    let (source, other) = (peer(2), peer(3));
    let mut from = Session::up(&routes, info(source, PEER_ASN, rib::Families::ALL)).await;
    let mut to = Session::up(&routes, info(other, PEER_ASN + 1, rib::Families::ALL)).await;
    for session in [&mut from, &mut to] {
        session.updates().await; // End-of-RIB
    }
    // 10 IPv4, 1 IPv6: the Cease names IPv4.
    routes.update(source, announce(source, &v4_prefixes(0..10))).await;
    routes.update(source, announce(source, &[V6.to_string()])).await;
    let mut got = announced(&to.updates().await);
    got.extend(announced(&to.updates().await));
    assert_eq!(got.len(), 11);
    fib.take_submitted();

    reload.send_replace(limited(5));
    let told = tokio::time::timeout(std::time::Duration::from_secs(5), from.sent.recv()).await;
    assert_eq!(
        told.expect("told without a further UPDATE"),
        Some(Outgoing::MaxPrefixExceeded(PrefixLimitExceeded {
            afi: AFI_IPV4,
            safi: SAFI_UNICAST,
            limit: 5,
            accepted: 11,
        }))
    );
    assert_eq!(from.sent.recv().await, None, "the routes task let the session go");
    assert_eq!(withdrawn(&to.updates().await).len(), 11);
    assert!(!routes.counters().await.expect("running").contains_key(&source));
    let kernel = kernel(&fib);
    assert_eq!(kernel.len(), 11, "all its routes left the kernel: {kernel:?}");
    assert!(!kernel.values().any(|installed| *installed));
}

fn rules(rules: &[&str]) -> crate::policy::PrefixFilter {
    crate::policy::PrefixFilter::new(rules.iter().map(|r| r.parse().expect("rule")).collect())
}

fn kernel(fib: &FibHandle) -> BTreeMap<String, bool> {
    fib.take_submitted()
        .into_iter()
        .map(|(prefix, hops)| (prefix.to_string(), hops.is_some()))
        .collect()
}

/// The session's interface's policy applies from peer up; a new one (a
/// SIGHUP) re-runs import and re-sends export on the same sessions.
#[tokio::test(start_paused = true)]
async fn the_interface_policy_filters_and_a_new_one_applies_without_a_reset() {
    use crate::bgp::testkit::{IFNAME, routes_task_with_policies};
    use crate::policy::{Policies, SessionPolicy};

    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let strict = SessionPolicy {
        import: rules(&["deny 0.0.0.0/0", "permit 10.0.0.0/8 le 32"]),
        export: rules(&["permit 10.0.0.0/8 le 32"]),
        ..SessionPolicy::default()
    };
    let mut policies = Policies::default();
    policies.interfaces.insert(IFNAME.to_string(), strict);
    let (reload, policies_rx) = watch::channel(Arc::new(policies));
    let (routes, fib) = routes_task_with_policies(LOCAL_ASN, LOCAL_ID, &["10.9.0.0/16", V4], links, policies_rx);
    let (source, other) = (peer(2), peer(3));
    let mut from = Session::up(&routes, info(source, PEER_ASN, rib::Families::ALL)).await;
    let mut to = Session::up(&routes, info(other, PEER_ASN + 1, rib::Families::ALL)).await;
    from.updates().await;
    assert_eq!(announced(&to.updates().await), set(&["10.9.0.0/16"]), "export filter");
    kernel(&fib); // our own routes

    let path = |first: u32| PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath {
            segments: vec![AsSegment::Sequence(vec![first])],
        },
        ..PathAttributes::default()
    };
    let announce = |prefixes: &[&str], attributes| Update {
        announced: prefixes.iter().map(|p| p.parse().expect("prefix")).collect(),
        attributes: Some(attributes),
        ..Update::default()
    };
    routes
        .update(source, announce(&["0.0.0.0/0", "10.1.0.0/16"], path(PEER_ASN)))
        .await;
    routes.update(source, announce(&["10.2.0.0/16"], path(65099))).await;
    assert_eq!(announced(&to.updates().await), set(&["10.1.0.0/16"]));
    let counters = routes.counters().await.expect("routes task running")[&source];
    assert_eq!(
        (
            counters.prefixes_received,
            counters.prefixes_filtered,
            counters.prefixes_first_as_rejected
        ),
        (3, 1, 1)
    );
    assert_eq!(kernel(&fib), BTreeMap::from([("10.1.0.0/16".to_string(), true)]));

    // Reload: no filters. The default enters the kernel and goes out with
    // 192.0.2.0/24; the first-AS check still holds 10.2/16 back.
    reload.send_replace(Arc::new(Policies::default()));
    let updates = to.updates().await;
    assert_eq!(announced(&updates), set(&["0.0.0.0/0", V4]));
    assert!(withdrawn(&updates).is_empty());
    let counters = routes.counters().await.expect("routes task running")[&source];
    assert_eq!(
        (counters.prefixes_filtered, counters.prefixes_first_as_rejected),
        (0, 1)
    );
    assert_eq!(kernel(&fib), BTreeMap::from([("0.0.0.0/0".to_string(), true)]));

    // Reload: the strict one again. Both directions shrink back.
    let strict_again = SessionPolicy {
        import: rules(&["permit 10.0.0.0/8 le 32"]),
        export: rules(&["permit 10.0.0.0/8 le 32"]),
        ..SessionPolicy::default()
    };
    reload.send_replace(Arc::new(Policies {
        default: strict_again,
        ..Policies::default()
    }));
    let updates = to.updates().await;
    assert_eq!(withdrawn(&updates), set(&["0.0.0.0/0", V4]));
    routes.counters().await.expect("routes task running");
    assert_eq!(kernel(&fib), BTreeMap::from([("0.0.0.0/0".to_string(), false)]));
}

/// `ndbgpctl announce` / `withdraw`: a runtime route goes to every peer as
/// a local one (our AS alone in the path), a new peer gets it in its table,
/// and it leaves on withdraw; what changes nothing says so.
#[tokio::test(start_paused = true)]
async fn runtime_routes_are_announced_to_every_peer_until_withdrawn() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, _fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[V4], links);
    let mut first = Session::up(&routes, info(peer(2), PEER_ASN, rib::Families::ALL)).await;
    assert_eq!(announced(&first.updates().await), set(&[V4]));
    let ask = |prefix: &str, add: bool| {
        let routes = routes.clone();
        let prefix: IpNet = prefix.parse().expect("test prefix");
        async move { routes.runtime_route(prefix, add).await.expect("routes task running") }
    };

    let service = ["192.0.2.10/32", "2001:db8:5::10/128"];
    for prefix in service {
        let message = ask(prefix, true).await.expect("announced");
        assert!(message.starts_with(&format!("announcing {prefix}")), "{message}");
        let updates = first.updates().await;
        assert_eq!(announced(&updates), set(&[prefix]));
        let attrs = updates[0].update.attributes.as_ref().expect("attributes");
        assert_eq!(attrs.as_path.segments, [AsSegment::Sequence(vec![LOCAL_ASN])]);
        assert_eq!(attrs.origin, Some(Origin::Igp));
    }
    // Nothing changes, and nothing is sent.
    assert!(
        ask(service[0], true)
            .await
            .expect("idempotent")
            .contains("announced already")
    );
    assert!(ask(V4, true).await.expect("a network").contains("configured network"));
    let host_bits = ask("192.0.2.10/24", true).await.expect_err("host bits");
    assert!(host_bits.contains("did you mean 192.0.2.0/24"), "{host_bits}");
    routes.counters().await.expect("routes task running");
    assert!(first.sent.try_recv().is_err(), "something was sent");

    let mut second = Session::up(&routes, info(peer(3), PEER_ASN + 1, rib::Families::ALL)).await;
    let table: Vec<&str> = service.iter().copied().chain([V4]).collect();
    assert_eq!(announced(&second.updates().await), set(&table));

    assert_eq!(ask(service[0], false).await, Ok(format!("withdrew {}", service[0])));
    for session in [&mut first, &mut second] {
        assert_eq!(withdrawn(&session.updates().await), set(&[service[0]]));
    }
    let unknown = ask(service[0], false).await.expect_err("withdrawn already");
    assert_eq!(unknown, "192.0.2.10/32 is not announced at runtime (ndbgpctl announce)");
    let network = ask(V4, false).await.expect_err("a network");
    assert!(network.contains("configured network"), "{network}");
    routes.counters().await.expect("routes task running");
    assert!(first.sent.try_recv().is_err(), "a refused withdraw sent something");
}

/// A runtime route over a redistributed connected prefix: announced as
/// ours (IGP) while it lasts, the connected one (incomplete) again after
/// `withdraw`; the address leaving meanwhile withdraws nothing.
#[tokio::test(start_paused = true)]
async fn a_runtime_route_takes_the_place_of_a_connected_one_and_gives_it_back() {
    use crate::iface::HostLink;
    let host = |nets: &[&str]| HostAddresses {
        links: BTreeMap::from([(
            "lo".to_string(),
            HostLink {
                ifindex: 1,
                loopback: true,
                mac: None,
                addresses: nets.iter().map(|n| n.parse().expect("test prefix")).collect(),
            },
        )]),
    };
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (addresses_tx, addresses) = watch::channel(host(&["192.0.2.10/32"]));
    let (_interfaces, interfaces) = watch::channel(vec!["eth0".to_string()]);
    let config = RoutesConfig {
        local_asn: LOCAL_ASN,
        router_id: watch::channel(LOCAL_ID).1,
        addresses,
        max_paths: 8,
        networks: Vec::new(),
        redistribute_connected: true,
        interfaces,
        policies: watch::channel(Default::default()).1,
        monitor: Default::default(),
    };
    let (routes, _task) = spawn(config, FibHandle::detached(), links);
    let mut session = Session::up(&routes, info(peer(2), PEER_ASN, rib::Families::ALL)).await;
    let origin = |updates: &[Decoded]| updates[0].update.attributes.as_ref().and_then(|a| a.origin);
    let table = session.updates().await;
    assert_eq!(announced(&table), set(&["192.0.2.10/32"]));
    assert_eq!(origin(&table), Some(Origin::Incomplete));
    let prefix: IpNet = "192.0.2.10/32".parse().expect("prefix");

    routes
        .runtime_route(prefix, true)
        .await
        .expect("running")
        .expect("announced");
    let updates = session.updates().await;
    assert_eq!(announced(&updates), set(&["192.0.2.10/32"]));
    assert_eq!(origin(&updates), Some(Origin::Igp));
    routes
        .runtime_route(prefix, false)
        .await
        .expect("running")
        .expect("withdrawn");
    let updates = session.updates().await;
    assert_eq!(
        (announced(&updates), withdrawn(&updates)),
        (set(&["192.0.2.10/32"]), set(&[]))
    );
    assert_eq!(origin(&updates), Some(Origin::Incomplete));

    routes
        .runtime_route(prefix, true)
        .await
        .expect("running")
        .expect("announced");
    assert_eq!(origin(&session.updates().await), Some(Origin::Igp));
    addresses_tx.send_replace(host(&[]));
    // Two round trips: the task may take the first ask before the change,
    // not the second (it takes every ready input before waiting again).
    for _ in 0..2 {
        routes.counters().await.expect("routes task running");
    }
    assert!(session.sent.try_recv().is_err(), "the address left: something was sent");
    routes
        .runtime_route(prefix, false)
        .await
        .expect("running")
        .expect("withdrawn");
    assert_eq!(withdrawn(&session.updates().await), set(&["192.0.2.10/32"]));
}

/// Graceful restart, helper side: a peer's routes outlive its session for
/// its restart time, a new session keeps them until its End-of-RIB sweeps
/// what it did not send again, and a peer that never comes back loses them.
#[tokio::test(start_paused = true)]
async fn a_restarting_peer_keeps_its_routes_stale_until_end_of_rib_or_its_restart_time() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[], links);
    let (source, other) = (peer(2), peer(3));
    let mut from = Session::up(&routes, info(source, PEER_ASN, rib::Families::ALL)).await;
    let mut to = Session::up(&routes, info(other, PEER_ASN + 1, rib::Families::ALL)).await;
    from.updates().await;
    to.updates().await;
    let attributes = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath {
            segments: vec![AsSegment::Sequence(vec![PEER_ASN])],
        },
        next_hop: NextHop {
            link_local: Some(source.addr),
            ..NextHop::default()
        },
        ..PathAttributes::default()
    };
    let announce = |prefixes: &[&str]| Update {
        announced: prefixes.iter().map(|p| p.parse().expect("prefix")).collect(),
        attributes: Some(attributes.clone()),
        ..Update::default()
    };
    let (kept, gone) = ("198.51.100.0/24", "2001:db8:2::/48");
    routes.update(source, announce(&[kept, gone])).await;
    assert_eq!(announced(&to.updates().await), set(&[kept, gone]));
    fib.take_submitted();

    routes
        .peer_down_graceful(source, Duration::from_secs(120), rib::Families::ALL)
        .await;
    let counters = routes.counters().await.expect("routes task running");
    let c = counters.get(&source).expect("a restarting peer is still counted");
    assert_eq!((c.gr_restarting, c.stale_routes), (true, 2));
    assert!(fib.take_submitted().is_empty(), "nothing leaves the kernel");
    assert!(to.sent.try_recv().is_err(), "nothing is withdrawn from the other peers");

    // Back before its restart time, keeping forwarding state for both.
    tokio::time::advance(Duration::from_secs(60)).await;
    let (out, _sent) = mpsc::unbounded_channel();
    let families = rib::Families::ALL;
    let back = info(source, PEER_ASN, families);
    routes
        .peer_up_graceful(back, FOUR_OCTET_AS, out, Some(families), false)
        .await;
    routes.update(source, announce(&[kept])).await;
    let c = routes.counters().await.expect("routes task running")[&source];
    assert_eq!((c.gr_restarting, c.stale_routes, c.prefixes_received), (false, 1, 2));
    assert!(fib.take_submitted().is_empty(), "the same routes: no kernel change");

    // Its End-of-RIB for IPv6 sweeps the one it did not send again.
    let v6 = rib::Families {
        ipv4: false,
        ..families
    };
    routes.end_of_rib(source, v6).await;
    assert_eq!(withdrawn(&to.updates().await), set(&[gone]));
    routes.counters().await.expect("routes task running");
    let removed: Vec<(String, bool)> = fib
        .take_submitted()
        .into_iter()
        .map(|(prefix, hops)| (prefix.to_string(), hops.is_some()))
        .collect();
    assert_eq!(removed, [(gone.to_string(), false)]);

    // Down again, and not back within its restart time: all removed.
    routes
        .peer_down_graceful(source, Duration::from_secs(5), rib::Families::ALL)
        .await;
    routes.counters().await.expect("routes task running");
    assert!(fib.take_submitted().is_empty());
    tokio::time::advance(Duration::from_secs(4)).await;
    routes.counters().await.expect("routes task running");
    assert!(fib.take_submitted().is_empty(), "still within its restart time");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(withdrawn(&to.updates().await), set(&[kept]));
    let counters = routes.counters().await.expect("routes task running");
    assert!(!counters.contains_key(&source), "gone from the RIB: {counters:?}");
    let removed: Vec<(String, bool)> = fib
        .take_submitted()
        .into_iter()
        .map(|(prefix, hops)| (prefix.to_string(), hops.is_some()))
        .collect();
    assert_eq!(removed, [(kept.to_string(), false)]);
}

/// Only the families the peer's capability listed are kept (RFC 4724
/// 4.2): FRR's helper-only capability lists none, and its routes go at once.
#[tokio::test(start_paused = true)]
async fn a_graceful_down_keeps_only_the_families_the_capability_listed() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[], links);
    let (source, other) = (peer(2), peer(3));
    let mut from = Session::up(&routes, info(source, PEER_ASN, rib::Families::ALL)).await;
    let mut to = Session::up(&routes, info(other, PEER_ASN + 1, rib::Families::ALL)).await;
    from.updates().await;
    to.updates().await;
    let announce = |prefixes: &[&str]| Update {
        announced: prefixes.iter().map(|p| p.parse().expect("prefix")).collect(),
        attributes: Some(PathAttributes {
            origin: Some(Origin::Igp),
            as_path: AsPath {
                segments: vec![AsSegment::Sequence(vec![PEER_ASN])],
            },
            next_hop: NextHop {
                link_local: Some(source.addr),
                ..NextHop::default()
            },
            ..PathAttributes::default()
        }),
        ..Update::default()
    };
    let (v4, v6) = ("198.51.100.0/24", "2001:db8:2::/48");
    routes.update(source, announce(&[v4, v6])).await;
    assert_eq!(announced(&to.updates().await), set(&[v4, v6]));
    fib.take_submitted();

    let only_v6 = rib::Families {
        ipv4: false,
        ipv6: true,
    };
    routes
        .peer_down_graceful(source, Duration::from_secs(120), only_v6)
        .await;
    assert_eq!(withdrawn(&to.updates().await), set(&[v4]));
    let c = routes.counters().await.expect("routes task running")[&source];
    assert_eq!((c.gr_restarting, c.stale_routes), (true, 1));
    let removed: Vec<String> = fib.take_submitted().into_iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(removed, [v4.to_string()]);

    // Back, then down listing no family: nothing is kept.
    let (out, _sent) = mpsc::unbounded_channel();
    let back = info(source, PEER_ASN, rib::Families::ALL);
    routes
        .peer_up_graceful(back, FOUR_OCTET_AS, out, Some(only_v6), false)
        .await;
    routes.update(source, announce(&[v4, v6])).await;
    routes.end_of_rib(source, rib::Families::ALL).await;
    to.updates().await;
    fib.take_submitted();
    let none = rib::Families {
        ipv4: false,
        ipv6: false,
    };
    routes.peer_down_graceful(source, Duration::from_secs(120), none).await;
    assert_eq!(withdrawn(&to.updates().await), set(&[v4, v6]));
    let counters = routes.counters().await.expect("routes task running");
    assert!(!counters.contains_key(&source), "kept: {counters:?}");
}

/// A peer back without keeping forwarding state (no F bit, or no Graceful
/// Restart capability in its new OPEN) loses its stale routes at once.
#[tokio::test(start_paused = true)]
async fn stale_routes_of_a_family_without_the_f_bit_go_when_the_peer_is_back() {
    let (_links, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[], links);
    let source = peer(2);
    let mut from = Session::up(&routes, info(source, PEER_ASN, rib::Families::ALL)).await;
    from.updates().await;
    let announce = Update {
        announced: vec!["198.51.100.0/24".parse().expect("prefix")],
        attributes: Some(PathAttributes {
            origin: Some(Origin::Igp),
            as_path: AsPath {
                segments: vec![AsSegment::Sequence(vec![PEER_ASN])],
            },
            ..PathAttributes::default()
        }),
        ..Update::default()
    };
    routes.update(source, announce).await;
    routes
        .peer_down_graceful(source, Duration::from_secs(120), rib::Families::ALL)
        .await;
    routes.counters().await.expect("routes task running");
    fib.take_submitted();

    let (out, _sent) = mpsc::unbounded_channel();
    let v6_kept = rib::Families {
        ipv4: false,
        ipv6: true,
    };
    let back = info(source, PEER_ASN, rib::Families::ALL);
    routes
        .peer_up_graceful(back, FOUR_OCTET_AS, out, Some(v6_kept), false)
        .await;
    let c = routes.counters().await.expect("routes task running")[&source];
    assert_eq!((c.stale_routes, c.prefixes_received), (0, 0));
    let removed: Vec<(String, bool)> = fib
        .take_submitted()
        .into_iter()
        .map(|(prefix, hops)| (prefix.to_string(), hops.is_some()))
        .collect();
    assert_eq!(removed, [("198.51.100.0/24".to_string(), false)]);
}

/// A routes task deferring for our own graceful restart (networks: `V4`),
/// its FIB observed, and the FIB's deferral the test may end.
fn deferring_routes_task() -> (RoutesHandle, FibCommands, watch::Sender<bool>, watch::Sender<Links>) {
    let (links_tx, links) = watch::channel(links_up(LOCAL_LL));
    let config = RoutesConfig {
        local_asn: LOCAL_ASN,
        router_id: watch::channel(LOCAL_ID).1,
        addresses: watch::channel(HostAddresses::default()).1,
        max_paths: 8,
        networks: vec![V4.parse().expect("test prefix")],
        redistribute_connected: false,
        interfaces: watch::channel(vec!["eth0".to_string()]).1,
        policies: watch::channel(Default::default()).1,
        monitor: Default::default(),
    };
    let (fib, fib_commands, deferring) = FibHandle::observed_deferring();
    let (routes, _task) = spawn(config, fib, links);
    (routes, fib_commands, deferring, links_tx)
}

/// A graceful peer up (R clear), and what the routes task hands its session.
async fn graceful_up(routes: &RoutesHandle, info: PeerInfo) -> Session {
    let (out, sent) = mpsc::unbounded_channel();
    routes
        .peer_up_graceful(info, FOUR_OCTET_AS, out, Some(info.families), false)
        .await;
    Session { sent }
}

/// Our own graceful restart: the FIB's deferral ends once every neighbour
/// behind the adopted routes is back and every peer back sent End-of-RIB
/// for each family it negotiated; only then does each peer get its table
/// and End-of-RIB (RFC 4724 4.1), the routes of peers back later included.
#[tokio::test(start_paused = true)]
async fn our_restart_ends_the_fib_deferral_at_the_last_end_of_rib() {
    use futures::FutureExt;
    let (routes, mut fib_commands, _deferring, _links) = deferring_routes_task();
    let (first, second) = (peer(2), peer(3));
    routes.defer_until_end_of_rib(vec![first, second]).await;
    let mut first_session = graceful_up(&routes, info(first, PEER_ASN + 1, rib::Families::ALL)).await;
    routes.end_of_rib(first, rib::Families::ALL).await;
    routes.counters().await.expect("routes task running");
    assert_eq!(
        fib_commands.next_end_deferral().now_or_never(),
        None,
        "the second is not back"
    );
    assert!(
        first_session.sent.try_recv().is_err(),
        "no table and no End-of-RIB while deferring"
    );

    let v6 = rib::Families {
        ipv4: false,
        ipv6: true,
    };
    let mut second_session = graceful_up(&routes, info(second, PEER_ASN, v6)).await;
    let learned = "2001:db8:2::/48".to_string();
    routes
        .update(second, announce(second, std::slice::from_ref(&learned)))
        .await;
    routes.counters().await.expect("routes task running");
    assert_eq!(
        fib_commands.next_end_deferral().now_or_never(),
        None,
        "no End-of-RIB yet"
    );
    assert!(first_session.sent.try_recv().is_err(), "still deferring");
    assert!(second_session.sent.try_recv().is_err(), "still deferring");
    routes.end_of_rib(second, v6).await;
    let why = tokio::time::timeout(Duration::from_secs(1), fib_commands.next_end_deferral()).await;
    assert_eq!(why, Ok(Some("End-of-RIB from every peer back")));

    let updates = first_session.updates().await;
    let first_end = updates.iter().position(|u| u.end_of_rib.is_some()).expect("End-of-RIB");
    let (table, ends) = updates.split_at(first_end);
    assert_eq!(
        announced(table),
        set(&[V4, &learned]),
        "the whole table, the second's route included"
    );
    assert_eq!(ends.len(), 2, "End-of-RIB for IPv4 and IPv6");
    let updates = second_session.updates().await;
    assert!(
        announced(&updates).is_empty(),
        "no IPv4 to an IPv6-only peer, nothing back"
    );
    assert_eq!(
        updates.iter().map(|u| u.end_of_rib).collect::<Vec<_>>(),
        [Some((AFI_IPV6, SAFI_UNICAST))]
    );
}

/// The FIB's restart-time timer ends the deferral while a neighbour is not
/// back and a peer without the Graceful Restart capability has sent no
/// End-of-RIB (it is waited for): the peers up get their tables then.
#[tokio::test(start_paused = true)]
async fn the_fib_timer_ending_our_deferral_releases_the_held_tables() {
    use futures::FutureExt;
    let (routes, mut fib_commands, deferring, _links) = deferring_routes_task();
    let (plain, gone) = (peer(2), peer(3));
    routes.defer_until_end_of_rib(vec![plain, gone]).await;
    let mut session = Session::up(&routes, info(plain, PEER_ASN, rib::Families::ALL)).await;
    routes.counters().await.expect("routes task running");
    assert!(session.sent.try_recv().is_err(), "held while deferring");

    deferring.send_replace(false);
    let updates = tokio::time::timeout(Duration::from_secs(1), session.updates())
        .await
        .expect("the table once the FIB's deferral is over");
    let first_end = updates.iter().position(|u| u.end_of_rib.is_some()).expect("End-of-RIB");
    assert_eq!(announced(&updates[..first_end]), set(&[V4]));
    assert_eq!(updates.len() - first_end, 2, "End-of-RIB for IPv4 and IPv6");
    routes.end_of_rib(plain, rib::Families::ALL).await;
    routes.counters().await.expect("routes task running");
    assert_eq!(
        fib_commands.next_end_deferral().now_or_never(),
        None,
        "the FIB ended it itself: not told again"
    );
}

/// A peer whose OPEN had R set (restarting too, or FRR 8) gets our table
/// and End-of-RIB at once, so that it sends its own, which is waited for:
/// routes through it stay until its table is in.
#[tokio::test(start_paused = true)]
async fn a_restarting_peer_gets_our_end_of_rib_at_once_and_is_waited_for() {
    use futures::FutureExt;
    let (routes, mut fib_commands, _deferring, _links) = deferring_routes_task();
    let (both, plain) = (peer(2), peer(3));
    routes.defer_until_end_of_rib(vec![both]).await;
    let mut plain_session = graceful_up(&routes, info(plain, PEER_ASN + 1, rib::Families::ALL)).await;
    routes.end_of_rib(plain, rib::Families::ALL).await;
    let (out, sent) = mpsc::unbounded_channel();
    let families = rib::Families::ALL;
    routes
        .peer_up_graceful(info(both, PEER_ASN, families), FOUR_OCTET_AS, out, Some(families), true)
        .await;
    let mut session = Session { sent };
    let updates = session.updates().await;
    let first_end = updates.iter().position(|u| u.end_of_rib.is_some()).expect("End-of-RIB");
    assert_eq!(announced(&updates[..first_end]), set(&[V4]));
    routes.counters().await.expect("routes task running");
    assert_eq!(
        fib_commands.next_end_deferral().now_or_never(),
        None,
        "its End-of-RIB is awaited"
    );
    assert!(plain_session.sent.try_recv().is_err(), "still deferring");
    routes.end_of_rib(both, families).await;
    let why = tokio::time::timeout(Duration::from_secs(1), fib_commands.next_end_deferral()).await;
    assert_eq!(why, Ok(Some("End-of-RIB from every peer back")));
    let updates = plain_session.updates().await;
    assert!(updates.iter().any(|u| u.end_of_rib.is_some()), "the others' now");
}

/// `links_up` with every link-local still in DAD (not usable as a next hop).
fn links_tentative(link_local: std::net::Ipv6Addr) -> Links {
    let mut links = links_up(link_local);
    for link in links.values_mut() {
        for link_local in &mut link.link_locals {
            link_local.tentative = true;
        }
    }
    links
}

/// A session can come up before the watcher shows our link-local on its
/// link: its table then waits for it instead of being dropped.
#[tokio::test(start_paused = true)]
async fn a_peer_up_before_our_link_local_gets_its_table_when_the_link_local_appears() {
    let (links_tx, links) = watch::channel(links_tentative(LOCAL_LL));
    let (routes, _fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[V4, V6], links);
    let mut session = Session::up(&routes, info(peer(10), PEER_ASN, rib::Families::ALL)).await;
    let early = tokio::time::timeout(Duration::from_secs(5), session.sent.recv()).await;
    assert!(early.is_err(), "nothing can be announced without a next hop: {early:?}");
    links_tx.send_replace(links_up(LOCAL_LL));
    let updates = tokio::time::timeout(Duration::from_secs(5), session.updates())
        .await
        .expect("the table once the link-local is usable");
    assert_eq!(
        announced(&updates),
        set(&[V4, V6]),
        "the whole table once the link-local is usable"
    );
    assert_eq!(
        updates.iter().filter(|u| u.end_of_rib.is_some()).count(),
        2,
        "and End-of-RIB"
    );
    for u in updates.iter().filter(|u| !u.update.announced.is_empty()) {
        let attrs = u.update.attributes.as_ref().expect("attributes");
        assert_eq!(attrs.next_hop.link_local, Some(LOCAL_LL), "next hop self");
    }
}

/// Our link-local going away mid-session holds announcements back until
/// one is usable again, but not withdrawals: the peer holds the route
/// from before, and nothing else would ever withdraw it.
#[tokio::test(start_paused = true)]
async fn withdrawals_go_at_once_while_our_link_local_is_away() {
    let (links_tx, links) = watch::channel(links_up(LOCAL_LL));
    let (routes, _fib) = routes_task(LOCAL_ASN, LOCAL_ID, &[V4], links);
    let mut session = Session::up(&routes, info(peer(10), PEER_ASN, rib::Families::ALL)).await;
    assert_eq!(announced(&session.updates().await), set(&[V4]));
    let ask = |prefix: &str, add: bool| {
        let routes = routes.clone();
        let prefix: IpNet = prefix.parse().expect("test prefix");
        async move { routes.runtime_route(prefix, add).await.expect("routes task running") }
    };
    let (gone, later) = ("192.0.2.10/32", "192.0.2.11/32");
    ask(gone, true).await.expect("announced");
    assert_eq!(announced(&session.updates().await), set(&[gone]));

    links_tx.send_replace(links_tentative(LOCAL_LL));
    routes.counters().await.expect("routes task running");
    ask(gone, false).await.expect("withdrawn");
    let updates = tokio::time::timeout(Duration::from_secs(5), session.updates())
        .await
        .expect("the withdrawal without waiting for a next hop");
    assert_eq!((announced(&updates), withdrawn(&updates)), (set(&[]), set(&[gone])));
    ask(later, true).await.expect("announced");
    let early = tokio::time::timeout(Duration::from_secs(5), session.sent.recv()).await;
    assert!(early.is_err(), "an announcement without a next hop: {early:?}");

    links_tx.send_replace(links_up(LOCAL_LL));
    let updates = tokio::time::timeout(Duration::from_secs(5), session.updates())
        .await
        .expect("the table once the link-local is back");
    assert_eq!(announced(&updates), set(&[V4, later]));
    assert!(withdrawn(&updates).is_empty());
}
