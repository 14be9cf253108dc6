//! Session behaviour over in-memory connections, in paused time: backoff,
//! hold timer, collisions (RFC 4271 6.8) and what a new session is sent.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, timeout};

use super::backoff::{BACKOFF_MAX, BACKOFF_MIN};
use super::*;
use crate::bgp::testkit::*;
use crate::fib::FibHandle;
use crate::iface::Links;
use crate::msg::update::{AsPath, AsSegment, NextHop, Origin, PathAttributes};
use crate::msg::{AFI_IPV6, Capability, Notification, SAFI_UNICAST, decode};
use crate::policy::{Policies, SessionPolicy};

/// One session under test, its dials handed to the test.
struct Rig {
    session: SessionHandle,
    task: tokio::task::JoinHandle<()>,
    dials: mpsc::UnboundedReceiver<DialRequest>,
    router_id: watch::Sender<Ipv4Addr>,
    _links: watch::Sender<Links>,
}

impl Rig {
    fn start(router_id: Ipv4Addr) -> Rig {
        Rig::start_with(router_id, &[], LOCAL_LL, PEER, None)
    }

    fn start_with(
        router_id: Ipv4Addr,
        networks: &[&str],
        local: Ipv6Addr,
        peer: PeerKey,
        inbound: Option<BoxStream>,
    ) -> Rig {
        let policies = watch::channel(Default::default()).1;
        Rig::start_full(router_id, networks, local, peer, inbound, policies).0
    }

    /// A session under `--max-prefix limit` and `--max-prefix-restart`,
    /// with its routes task and the FIB that task feeds.
    fn start_limited(limit: u32, restart: Duration) -> (Rig, RoutesHandle, FibHandle) {
        let policies = Policies {
            default: SessionPolicy {
                max_prefix: Some(limit),
                max_prefix_restart: restart,
                ..SessionPolicy::default()
            },
            ..Policies::default()
        };
        let policies = watch::channel(Arc::new(policies)).1;
        Rig::start_full(LOCAL_ID, &[], LOCAL_LL, PEER, None, policies)
    }

    fn start_full(
        router_id: Ipv4Addr,
        networks: &[&str],
        local: Ipv6Addr,
        peer: PeerKey,
        inbound: Option<BoxStream>,
        policies: watch::Receiver<SharedPolicies>,
    ) -> (Rig, RoutesHandle, FibHandle) {
        let (links_tx, links) = watch::channel(links_up(local));
        let (routes, fib) = routes_task_with_policies(LOCAL_ASN, router_id, networks, links.clone(), policies.clone());
        let (dialer, dials) = TestDialer::new();
        let (router_id_tx, router_id) = watch::channel(router_id);
        let params = SessionParams {
            key: peer,
            fsm: FsmConfig::new(LOCAL_ASN, Ipv4Addr::UNSPECIFIED),
            router_id,
            dialer: Arc::new(dialer),
            routes: routes.clone(),
            monitor: Default::default(),
            policies,
            hold: None,
            admin_down: false,
            bfd_held: false,
        };
        let (session, task) = new(params, links, inbound);
        let rig = Rig {
            session,
            task: tokio::spawn(task),
            dials,
            router_id: router_id_tx,
            _links: links_tx,
        };
        (rig, routes, fib)
    }

    async fn dial(&mut self) -> DialRequest {
        self.dials.recv().await.expect("the session dials")
    }

    /// The neighbour dials us.
    async fn inbound(&self) -> TestPeer {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        self.command(SessionCommand::Inbound(Box::new(ours))).await;
        TestPeer::new(theirs, PEER_ASN, HIGHER_ID)
    }

    /// Our dial is in OpenConfirm (the neighbour's OPEN read, our KEEPALIVE
    /// sent) when the neighbour also connects and sends its OPEN there:
    /// (rig, our dial's connection, the neighbour's).
    async fn open_confirm_then_inbound() -> (Rig, TestPeer, TestPeer) {
        let mut rig = Rig::start(LOCAL_ID);
        let mut outbound = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
        outbound.expect_open().await;
        let open = outbound.open();
        outbound.send(&open).await;
        outbound.expect_keepalive().await;
        let mut inbound = rig.inbound().await;
        inbound.send(&open).await;
        (rig, outbound, inbound)
    }

    async fn command(&self, command: SessionCommand) {
        self.session.commands.send(command).await.expect("session running");
    }

    fn status(&self) -> SessionStatus {
        self.session.status.borrow().clone()
    }

    async fn wait_for(&self, what: &str, ok: impl FnMut(&SessionStatus) -> bool) -> SessionStatus {
        let mut status = self.session.status.clone();
        match timeout(Duration::from_secs(60), status.wait_for(ok)).await {
            Ok(Ok(s)) => s.clone(),
            _ => panic!("session never {what}: {:?}", self.status()),
        }
    }

    async fn established(&self) -> SessionStatus {
        self.wait_for("Established", |s| s.state == State::Established).await
    }
}

fn within(gap: Duration, base: Duration) -> bool {
    gap >= base.mul_f64(0.8) && gap <= base.mul_f64(1.2).min(BACKOFF_MAX)
}

#[tokio::test(start_paused = true)]
async fn refused_dials_are_retried_after_1_s_doubling_to_30_s_with_jitter() {
    let mut rig = Rig::start(LOCAL_ID);
    let start = Instant::now();
    let mut dial = rig.dial().await;
    assert_eq!(start.elapsed(), Duration::ZERO, "the first dial goes out at once");
    let mut gaps = Vec::new();
    for _ in 0..8 {
        let refused_at = Instant::now();
        dial.refuse();
        dial = rig.dial().await;
        gaps.push(refused_at.elapsed());
    }
    for (i, gap) in gaps.iter().enumerate() {
        let base = (BACKOFF_MIN * 2u32.pow(i as u32)).min(BACKOFF_MAX);
        assert!(within(*gap, base), "retry {i} after {gap:?}, base {base:?}: {gaps:?}");
    }
    assert!(
        gaps.iter().take(5).any(|g| g.as_millis() % 1000 != 0),
        "no jitter: {gaps:?}"
    );
    assert!(rig.status().last_error.is_some_and(|e| e.contains("refused")));
}

/// A NOTIFICATION of 20 octets: shorter than any NOTIFICATION (21).
const SHORT_NOTIFICATION: [u8; 20] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 20, 3, 6,
];

/// RFC 4271 6.4: a malformed NOTIFICATION is not answered with one, in
/// OpenSent as in Established.
#[tokio::test(start_paused = true)]
async fn a_malformed_notification_is_not_answered() {
    let mut rig = Rig::start(LOCAL_ID);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.expect_open().await;
    peer.send_raw(&SHORT_NOTIFICATION).await;
    peer.expect_closed().await;
    let status = rig.wait_for("down", |s| s.state != State::OpenSent).await;
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("malformed NOTIFICATION")),
        "{status:?}"
    );

    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    rig.established().await;
    peer.send_raw(&SHORT_NOTIFICATION).await;
    // End-of-RIB and KEEPALIVEs may come first; never a NOTIFICATION.
    while let Some(msg) = peer.recv().await {
        assert!(!matches!(msg, Message::Notification(_)), "answered with {msg:?}");
    }
    rig.wait_for("down", |s| s.state != State::Established).await;
}

#[tokio::test(start_paused = true)]
async fn backoff_starts_again_at_1_s_after_an_established_session() {
    let mut rig = Rig::start(LOCAL_ID);
    for _ in 0..4 {
        rig.dial().await.refuse();
    }
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    rig.established().await;
    let lost_at = Instant::now();
    drop(peer);
    let dial = rig.dial().await;
    assert!(
        within(lost_at.elapsed(), BACKOFF_MIN),
        "redial after {:?}",
        lost_at.elapsed()
    );
    let status = rig.status();
    assert_eq!(status.established_count, 1);
    assert_eq!(status.last_down.as_deref(), Some("connection lost"));
    // Counted by class for the metrics; the refused dials are no downs.
    assert_eq!(status.downs, std::collections::BTreeMap::from([("connection_lost", 1)]));
    drop(dial);
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_gets_hold_timer_expired_after_the_hold_time() {
    let mut rig = Rig::start(LOCAL_ID);
    let dial = rig.dial().await;
    assert_eq!((dial.local, dial.peer), (LOCAL_LL, PEER_LL));
    let mut peer = dial.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    rig.established().await;
    let silent_since = Instant::now();
    let mut keepalives = 0;
    let notification = loop {
        match peer.expect("hold timer expiry").await {
            Message::Keepalive => keepalives += 1,
            Message::Update(_) => {} // End-of-RIB
            Message::Notification(n) => break n,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(notification.code, code::HOLD_TIMER_EXPIRED);
    assert_eq!(silent_since.elapsed(), Duration::from_secs(9), "hold time 9 s");
    // Every 3 s (a third of the hold time) while it waited.
    assert_eq!(keepalives, 2);
    peer.expect_closed().await;
    let status = rig.wait_for("down", |s| s.state != State::Established).await;
    assert_eq!(status.last_down.as_deref(), Some("hold timer expired"));
    assert_eq!(status.downs.get("hold_timer_expired"), Some(&1));
    // Messages by type: our OPEN, the KEEPALIVE that confirmed it and the
    // two while waiting, End-of-RIB, the NOTIFICATION; its OPEN and KEEPALIVE.
    let sent = status.messages_by_type.sent;
    assert_eq!((sent.open, sent.keepalive, sent.notification), (1, 3, 1), "{sent:?}");
    assert!(sent.update >= 1, "End-of-RIB: {sent:?}");
    let received = status.messages_by_type.received;
    assert_eq!(
        (received.open, received.keepalive, received.update),
        (1, 1, 0),
        "{received:?}"
    );
}

/// Both sides dial at once; the OPENs cross in either order. RFC 4271 6.8:
/// the connection opened by the higher BGP identifier survives.
#[tokio::test(start_paused = true)]
async fn a_collision_keeps_the_connection_opened_by_the_higher_identifier() {
    for peer_id in [LOWER_ID, HIGHER_ID] {
        for outbound_open_first in [true, false] {
            let case = format!("peer {peer_id}, OPEN on our dial first: {outbound_open_first}");
            let mut rig = Rig::start(LOCAL_ID);
            let dial = rig.dial().await;
            // The neighbour's dial arrives while ours is in flight.
            let mut inbound = rig.inbound().await;
            inbound.bgp_id = peer_id;
            let mut outbound = dial.connect(PEER_ASN, peer_id);
            inbound.expect_open().await;
            outbound.expect_open().await;
            let (first, second) = match outbound_open_first {
                true => (&mut outbound, &mut inbound),
                false => (&mut inbound, &mut outbound),
            };
            let open = first.open();
            first.send(&open).await;
            second.send(&open).await;
            let (mut kept, mut dumped) = match peer_id > LOCAL_ID {
                true => (inbound, outbound),
                false => (outbound, inbound),
            };
            let cease = dumped.expect_notification().await;
            assert_eq!(
                (cease.code, cease.subcode),
                (code::CEASE, code::CONNECTION_COLLISION_RESOLUTION),
                "{case}"
            );
            dumped.expect_closed().await;
            kept.expect_keepalive().await;
            kept.send(&Message::Keepalive).await;
            let status = rig.established().await;
            let expected = match peer_id > LOCAL_ID {
                true => Direction::Inbound,
                false => Direction::Outbound,
            };
            assert_eq!(status.direction, Some(expected), "{case}");
            assert_eq!(status.last_error, None, "a collision is no error: {case}");
        }
    }
}

/// The neighbour dials while our own connection already waits in
/// OpenConfirm for its KEEPALIVE. An OPEN sent on the new connection now
/// could reach the neighbour before that KEEPALIVE and make it dump the
/// connection we are about to keep: the new one waits for the outcome.
#[tokio::test(start_paused = true)]
async fn a_connection_arriving_in_open_confirm_waits_and_is_closed_once_established() {
    let (rig, mut outbound, mut inbound) = Rig::open_confirm_then_inbound().await;
    assert!(
        timeout(Duration::from_millis(100), inbound.recv()).await.is_err(),
        "no OPEN on the new connection while the first is in OpenConfirm"
    );
    outbound.send(&Message::Keepalive).await;
    let status = rig.established().await;
    assert_eq!(status.direction, Some(Direction::Outbound));
    inbound.expect_closed().await;
    // The kept connection lives on.
    let ended = timeout(Duration::from_secs(5), outbound.expect_notification()).await;
    assert!(ended.is_err(), "{ended:?}");
    assert_eq!(rig.status().established_count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_arriving_in_open_confirm_takes_over_if_the_first_is_dumped() {
    let (rig, mut outbound, mut inbound) = Rig::open_confirm_then_inbound().await;
    // The neighbour resolved the collision the other way.
    let start = Instant::now();
    outbound
        .send(&Message::Notification(Notification::new(
            code::CEASE,
            code::CONNECTION_COLLISION_RESOLUTION,
            Vec::new(),
        )))
        .await;
    drop(outbound);
    inbound.expect_open().await;
    inbound.expect_keepalive().await;
    inbound.send(&Message::Keepalive).await;
    let status = rig.established().await;
    assert_eq!(status.direction, Some(Direction::Inbound));
    assert!(
        start.elapsed() < Duration::from_millis(10),
        "no backoff: {:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_connection_while_established_is_closed_without_an_open() {
    let mut rig = Rig::start(LOCAL_ID);
    let mut outbound = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    outbound.establish().await;
    rig.established().await;
    let mut inbound = rig.inbound().await;
    inbound.expect_closed().await;
    assert_eq!(rig.status().direction, Some(Direction::Outbound));
}

/// Established on the neighbour's connection, the session stops dialing.
#[tokio::test(start_paused = true)]
async fn established_on_the_neighbours_connection_no_more_dials() {
    let mut rig = Rig::start(LOCAL_ID);
    let hung = rig.dial().await;
    let mut inbound = rig.inbound().await;
    // No keepalives to keep up with for two minutes.
    inbound.hold_time = 0;
    inbound.establish().await;
    rig.established().await;
    sleep(Duration::from_secs(120)).await;
    assert!(rig.dials.try_recv().is_err(), "dialed again while Established");
    drop(hung);
    assert_eq!(rig.status().state, State::Established);
}

/// The neighbour's connection won, then failed before its OPEN: the
/// session dials again (the FSM that took it over never would).
#[tokio::test(start_paused = true)]
async fn after_the_neighbours_connection_fails_the_session_dials_again() {
    let mut rig = Rig::start(LOCAL_ID);
    let dial = rig.dial().await;
    let mut inbound = rig.inbound().await;
    inbound.expect_open().await;
    let mut outbound = dial.connect(PEER_ASN, HIGHER_ID);
    outbound.expect_open().await;
    let reset = Notification::new(code::CEASE, code::ADMINISTRATIVE_RESET, Vec::new());
    outbound.send(&Message::Notification(reset)).await;
    outbound.expect_closed().await;
    let failed_at = Instant::now();
    drop(inbound);
    let redial = timeout(Duration::from_secs(60), rig.dial()).await;
    assert!(redial.is_ok(), "no redial");
    assert!(within(failed_at.elapsed(), BACKOFF_MIN), "{:?}", failed_at.elapsed());
}

#[tokio::test(start_paused = true)]
async fn an_ipv6_only_peer_gets_the_table_then_end_of_rib_for_ipv6_only() {
    let mut rig = Rig::start_with(LOCAL_ID, &["192.0.2.0/24", "2001:db8:1::/48"], LOCAL_LL, PEER, None);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.capabilities = vec![
        Capability::Multiprotocol {
            afi: AFI_IPV6,
            safi: SAFI_UNICAST,
        },
        Capability::FourOctetAs(PEER_ASN),
    ];
    peer.establish().await;
    let updates = peer.updates_until(|u| u.end_of_rib.is_some()).await;
    let (table, end) = updates.split_at(updates.len() - 1);
    let announced: Vec<String> = table
        .iter()
        .flat_map(|u| &u.update.announced)
        .map(|p| p.to_string())
        .collect();
    assert_eq!(announced, ["2001:db8:1::/48"]);
    assert_eq!(end[0].end_of_rib, Some((AFI_IPV6, SAFI_UNICAST)));
    // Nothing more: no IPv4 End-of-RIB, only KEEPALIVEs.
    let more = timeout(Duration::from_secs(5), async {
        loop {
            match peer.expect("more").await {
                Message::Keepalive => {}
                other => return other,
            }
        }
    })
    .await;
    assert!(more.is_err(), "sent after End-of-RIB: {more:?}");
}

#[tokio::test(start_paused = true)]
async fn deconfigured_ends_with_cease_peer_deconfigured() {
    let mut rig = Rig::start(LOCAL_ID);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    rig.established().await;
    rig.command(SessionCommand::Deconfigured).await;
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::PEER_DECONFIGURED));
    peer.expect_closed().await;
    let ended = timeout(Duration::from_secs(5), &mut rig.task).await;
    assert!(matches!(ended, Ok(Ok(()))), "the task did not end: {ended:?}");
    assert!(rig.dials.try_recv().is_err(), "no redial after the end");
}

/// A new router ID reaches the next connection the session takes while it
/// holds none, never the one it holds (router_id::follow): the OPENs and
/// collision checks of one connection agree on one ID.
#[tokio::test(start_paused = true)]
async fn a_new_router_id_is_used_from_the_next_connection_on() {
    let first = Ipv4Addr::new(10, 0, 0, 20);
    let second = Ipv4Addr::new(10, 0, 0, 30);
    let mut rig = Rig::start(LOCAL_ID);
    let dial = rig.dial().await;
    // Changed while the first dial is in flight: no OPEN of ours is out yet.
    rig.router_id.send_replace(first);
    let mut peer = dial.connect(PEER_ASN, HIGHER_ID);
    // No keepalives to keep up with while we wait.
    peer.hold_time = 0;
    assert_eq!(peer.establish().await.bgp_id, first);
    rig.established().await;
    rig.router_id.send_replace(second);
    let reset = timeout(Duration::from_secs(30), peer.expect_notification()).await;
    assert!(reset.is_err(), "an Established session was reset: {reset:?}");
    assert_eq!(rig.status().state, State::Established);
    // The peer resets the session: the reconnection uses the new ID.
    drop(peer);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    assert_eq!(peer.establish().await.bgp_id, second);
    assert_eq!(rig.established().await.established_count, 2);
}

/// Two sessions, each the other's neighbour, as two ndbgpd at link up.
struct Pair {
    a: Rig,
    b: Rig,
}

const A_LL: Ipv6Addr = LOCAL_LL;
const B_LL: Ipv6Addr = PEER_LL;

/// How the two dials meet: when each session's dial connects, how long
/// the other side takes to accept it, and the latency of each connection.
#[derive(Debug, Clone, Copy)]
struct Timing {
    connect: [Duration; 2],
    accept: [Duration; 2],
    latency: [Duration; 2],
}

impl Pair {
    fn start(timing: Timing) -> Pair {
        let a_key = PeerKey {
            ifindex: IFINDEX,
            addr: B_LL,
        };
        let b_key = PeerKey {
            ifindex: IFINDEX,
            addr: A_LL,
        };
        let mut a = Rig::start_with(LOWER_ID, &[], A_LL, a_key, None);
        let mut b = Rig::start_with(HIGHER_ID, &[], B_LL, b_key, None);
        let a_dials = std::mem::replace(&mut a.dials, mpsc::unbounded_channel().1);
        let b_dials = std::mem::replace(&mut b.dials, mpsc::unbounded_channel().1);
        tokio::spawn(connect_dials(a_dials, b.session.commands.clone(), 0, timing));
        tokio::spawn(connect_dials(b_dials, a.session.commands.clone(), 1, timing));
        Pair { a, b }
    }
}

/// Connect every dial of side `side` to the other side's session.
async fn connect_dials(
    mut dials: mpsc::UnboundedReceiver<DialRequest>,
    other: mpsc::Sender<SessionCommand>,
    side: usize,
    timing: Timing,
) {
    while let Some(dial) = dials.recv().await {
        let other = other.clone();
        tokio::spawn(async move {
            sleep(timing.connect[side]).await;
            let (ours, theirs) = wire(timing.latency[side]);
            dial.accept(Box::new(ours));
            sleep(timing.accept[1 - side]).await;
            let _ = other.send(SessionCommand::Inbound(Box::new(theirs))).await;
        });
    }
}

/// Two ndbgpd that dial each other at once agree on one connection and
/// reach Established within a few round trips, whatever the timing: a
/// disagreement (each keeps the connection the other dumped) costs a
/// backoff of at least 800 ms.
#[tokio::test(start_paused = true)]
async fn simultaneous_dials_agree_on_one_connection_whatever_the_timing() {
    let ms = Duration::from_millis;
    let mut cases = 0;
    for connect_a in [ms(0), ms(4), ms(10)] {
        for connect_b in [ms(0), ms(2), ms(5), ms(7), ms(10), ms(12), ms(15)] {
            for accept in [[ms(0), ms(0)], [ms(0), ms(3)], [ms(3), ms(0)]] {
                for latency in [[ms(1), ms(1)], [ms(5), ms(1)], [ms(1), ms(5)]] {
                    let timing = Timing {
                        connect: [connect_a, connect_b],
                        accept,
                        latency,
                    };
                    let pair = Pair::start(timing);
                    let start = Instant::now();
                    let a = pair.a.established().await;
                    let b = pair.b.established().await;
                    let took = start.elapsed();
                    assert!(took < ms(200), "{timing:?}: Established after {took:?}");
                    assert_ne!(a.direction, b.direction, "{timing:?}: not the same connection");
                    sleep(Duration::from_secs(5)).await;
                    for (side, rig) in [("a", &pair.a), ("b", &pair.b)] {
                        let s = rig.status();
                        assert_eq!(s.state, State::Established, "{timing:?} {side}: {s:?}");
                        assert_eq!(s.established_count, 1, "{timing:?} {side}: {s:?}");
                        rig.command(SessionCommand::Stop { message: None }).await;
                    }
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 3 * 7 * 3 * 3);
}

// ---- --max-prefix ----

/// The neighbour announces these IPv6 /48s (2001:db8:N::/48) in one UPDATE.
async fn announce(peer: &mut TestPeer, range: std::ops::Range<u16>) {
    for bytes in encoded_updates(range) {
        let msg = decode(&bytes).expect("UPDATE decodes");
        peer.send(&msg).await;
    }
}

/// UPDATEs announcing 2001:db8:<i>::/48 for each i in `range`.
fn encoded_updates(range: std::ops::Range<u16>) -> Vec<Vec<u8>> {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath {
            segments: vec![AsSegment::Sequence(vec![PEER_ASN])],
        },
        next_hop: NextHop {
            ipv4: None,
            global: None,
            link_local: Some(PEER_LL),
        },
        ..PathAttributes::default()
    };
    let prefixes: Vec<ipnet::IpNet> = range
        .map(|i| format!("2001:db8:{i:x}::/48").parse().expect("prefix"))
        .collect();
    let ctx = EncodeContext { four_octet_as: true };
    update::encode(&[(attrs, prefixes)], &[], &ctx).expect("UPDATE encodes")
}

/// Past the limit: Cease / Maximum Number of Prefixes Reached with AFI,
/// SAFI and the limit (RFC 4486 4), every route of the peer withdrawn
/// (a burst already on the wire puts none back), no dial and no inbound
/// connection taken until --max-prefix-restart, then a normal session.
#[tokio::test(start_paused = true)]
async fn past_max_prefix_cease_withdraws_and_holds_off_for_the_restart_time() {
    const RESTART: Duration = Duration::from_secs(30);
    let (mut rig, routes, fib) = Rig::start_limited(5, RESTART);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    announce(&mut peer, 0..4).await;
    announce(&mut peer, 4..6).await; // 6 > 5
    announce(&mut peer, 6..9).await; // already sent when the limit is crossed
    let cease = peer.expect_notification().await;
    let closed_at = Instant::now();
    assert_eq!(
        (cease.code, cease.subcode, cease.data.as_slice()),
        (6, 1, &[0, 2, 1, 0, 0, 0, 5][..]),
        "Cease / Maximum Number of Prefixes Reached, AFI 2, SAFI 1, limit 5"
    );
    peer.expect_closed().await;

    let status = rig
        .wait_for("held", |s| s.state == State::Idle && s.max_prefix_hold.is_some())
        .await;
    let last_down = status.last_down.unwrap_or_default();
    assert!(last_down.starts_with("max-prefix: 6 prefixes, limit 5"), "{last_down}");
    let counters = routes.counters().await.expect("routes task running");
    assert!(!counters.contains_key(&PEER), "peer still in the RIB: {counters:?}");
    let kernel = fib.take_submitted();
    assert!(kernel.len() >= 6, "the first six went to the kernel: {kernel:?}");
    assert!(
        kernel.iter().all(|(_, hops)| hops.is_none()),
        "every route of the peer is gone from the kernel: {kernel:?}"
    );

    // The neighbour's own connection is closed unanswered.
    let mut inbound = rig.inbound().await;
    inbound.send(&inbound.open()).await;
    inbound.expect_closed().await;
    assert!(
        timeout(RESTART - Duration::from_secs(1), rig.dial()).await.is_err(),
        "dialled again before --max-prefix-restart"
    );
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    let waited = closed_at.elapsed();
    assert!(
        waited >= RESTART && waited < RESTART + Duration::from_secs(1),
        "{waited:?}"
    );
    peer.establish().await;
    let status = rig.established().await;
    assert_eq!(status.max_prefix_hold, None);
    assert_eq!(status.established_count, 2);
}

/// The neighbour closes right after the UPDATE that crosses the limit, so
/// the session is down before the routes task's signal arrives: the hold
/// is set all the same, and no dial comes before --max-prefix-restart.
#[tokio::test(start_paused = true)]
async fn a_session_down_before_the_max_prefix_signal_is_still_held() {
    const RESTART: Duration = Duration::from_secs(30);
    let (mut rig, routes, _fib) = Rig::start_limited(5, RESTART);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    rig.established().await;
    // The UPDATE and a Cease in one write: the session reads both before
    // the routes task has run.
    let mut bytes: Vec<u8> = encoded_updates(0..6).concat();
    let cease = Message::Notification(Notification::new(6, 2, Vec::new()));
    bytes.extend(cease.encode().expect("NOTIFICATION encodes"));
    peer.send_raw(&bytes).await;
    drop(peer);

    let status = rig.wait_for("held", |s| s.max_prefix_hold.is_some()).await;
    let last_down = status.last_down.unwrap_or_default();
    assert!(
        last_down.starts_with("received"),
        "down for the neighbour's Cease: {last_down}"
    );
    let counters = routes.counters().await.expect("routes task running");
    assert!(!counters.contains_key(&PEER), "peer still in the RIB: {counters:?}");
    assert!(
        timeout(RESTART - Duration::from_secs(1), rig.dial()).await.is_err(),
        "dialled again before --max-prefix-restart"
    );
    rig.dial().await;
}

/// --max-prefix-restart 0: held until cleared (a reload), then at once.
#[tokio::test(start_paused = true)]
async fn with_restart_zero_the_hold_lasts_until_cleared() {
    let (mut rig, _routes, _fib) = Rig::start_limited(2, Duration::ZERO);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    announce(&mut peer, 0..3).await;
    assert_eq!(peer.expect_notification().await.subcode, 1);
    let status = rig.wait_for("held", |s| s.max_prefix_hold.is_some()).await;
    assert_eq!(status.max_prefix_hold.and_then(|h| h.until), None);
    assert!(
        timeout(Duration::from_secs(3600), rig.dial()).await.is_err(),
        "dialled again without a reload"
    );
    rig.command(SessionCommand::ClearMaxPrefixHold).await;
    let cleared_at = Instant::now();
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    assert_eq!(cleared_at.elapsed(), Duration::ZERO, "dials at once once cleared");
    peer.establish().await;
    rig.established().await;
}

/// `neighbor clear` (hard) lifts a max-prefix hold and dials at once, as
/// FRR's `clear bgp` does.
#[tokio::test(start_paused = true)]
async fn a_hard_clear_lifts_the_max_prefix_hold() {
    let (mut rig, _routes, _fib) = Rig::start_limited(2, Duration::ZERO);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    announce(&mut peer, 0..3).await;
    peer.expect_notification().await;
    rig.wait_for("held", |s| s.max_prefix_hold.is_some()).await;
    let (done, answer) = tokio::sync::oneshot::channel();
    rig.command(SessionCommand::Clear { soft: false, done }).await;
    assert_eq!(answer.await.expect("answered"), Cleared::Redialing);
    let cleared_at = Instant::now();
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    assert_eq!(cleared_at.elapsed(), Duration::ZERO, "dials at once once cleared");
    peer.establish().await;
    let status = rig.established().await;
    assert_eq!(status.max_prefix_hold, None);
}

/// Discovery losing the neighbour does not end a hold (the next session
/// would not know of it): the session stays, held, and ends at its end.
#[tokio::test(start_paused = true)]
async fn a_neighbour_lost_while_held_ends_the_session_when_the_hold_is_over() {
    const RESTART: Duration = Duration::from_secs(20);
    let (mut rig, _routes, _fib) = Rig::start_limited(2, RESTART);
    let mut peer = rig.dial().await.connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    announce(&mut peer, 0..3).await;
    peer.expect_notification().await;
    rig.wait_for("held", |s| s.max_prefix_hold.is_some()).await;
    rig.command(SessionCommand::NeighbourLost).await;
    sleep(RESTART - Duration::from_secs(1)).await;
    assert!(!rig.task.is_finished(), "ended while held");
    timeout(Duration::from_secs(2), &mut rig.task)
        .await
        .expect("ends once the hold is over")
        .expect("no panic");
    assert!(rig.dials.try_recv().is_err(), "dialled a lost neighbour");
}
