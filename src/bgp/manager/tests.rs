//! The manager over in-memory connections, in paused time: sessions start
//! on discovery and on inbound connections, end with their interface's
//! configuration or link, and strangers are refused.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use tokio::time::{sleep, timeout};

use super::*;
use crate::actor::{Ended, Supervisor};
use crate::bfd;
use crate::bgp::testkit::*;
use crate::msg::{Message, code};
use crate::peers::PeerInfo;

struct Rig {
    bgp: BgpHandle,
    /// Holds the manager's task, as main does.
    supervisor: Supervisor,
    dials: mpsc::UnboundedReceiver<DialRequest>,
    accept: mpsc::Sender<(BoxStream, SocketAddr)>,
    events: mpsc::Sender<PeerEvent>,
    interfaces: watch::Sender<Vec<String>>,
    links: watch::Sender<Links>,
    /// What the manager tells the peer table.
    observed: mpsc::Receiver<Observation>,
    _router_id: watch::Sender<Ipv4Addr>,
}

impl Rig {
    fn start() -> Rig {
        Rig::announcing(&[])
    }

    /// With `--bfd`: a BFD task on a port of its own (its packets go
    /// nowhere: its sessions stay Down), and the events the manager
    /// follows from the test instead of from it.
    fn start_with_bfd() -> (Rig, mpsc::UnboundedSender<BfdEvent>) {
        Rig::start_with_bfd_and(FsmConfig::new(LOCAL_ASN, LOCAL_ID))
    }

    fn start_with_bfd_and(fsm: FsmConfig) -> (Rig, mpsc::UnboundedSender<BfdEvent>) {
        let socket = bfd::socket::ReceiveSocket::bind(0).expect("a UDP socket");
        let (unheard, _) = mpsc::unbounded_channel();
        let (handle, task) = bfd::service::spawn(bfd::service::BfdConfig::default(), socket, unheard);
        let (events_tx, events) = mpsc::unbounded_channel();
        let timers = bfd::session::Timers::symmetric(Duration::from_millis(300), 3);
        let mut rig = Rig::with(&[], Some(BfdLink { handle, timers, events }), fsm);
        rig.supervisor.hold(task);
        (rig, events_tx)
    }

    /// The routes task announces `networks`.
    fn announcing(networks: &[&str]) -> Rig {
        Rig::with(networks, None, FsmConfig::new(LOCAL_ASN, LOCAL_ID))
    }

    fn with(networks: &[&str], bfd: Option<BfdLink>, fsm: FsmConfig) -> Rig {
        let (links_tx, links) = watch::channel(links_up(LOCAL_LL));
        let (interfaces_tx, interfaces) = watch::channel(vec![IFNAME.to_string()]);
        let (routes, _) = routes_task(LOCAL_ASN, LOCAL_ID, networks, links.clone());
        let (observations, observed) = mpsc::channel(16);
        let (router_id_tx, router_id) = watch::channel(LOCAL_ID);
        let (dialer, dials) = TestDialer::new();
        let (accept, accepted) = mpsc::channel(4);
        let (events, events_rx) = mpsc::channel(16);
        let config = BgpConfig {
            fsm,
            router_id,
            dialer: Arc::new(dialer),
            routes,
            monitor: Default::default(),
            interfaces,
            policies: watch::channel(Default::default()).1,
            teardown_on_loss: false,
            bfd,
        };
        let (bgp, task) = spawn(config, TestListener(accepted), links, events_rx, observations);
        let mut supervisor = Supervisor::new();
        supervisor.hold(task);
        Rig {
            bgp,
            supervisor,
            dials,
            accept,
            events,
            interfaces: interfaces_tx,
            links: links_tx,
            observed,
            _router_id: router_id_tx,
        }
    }

    async fn discovered(&self) {
        let info = PeerInfo {
            key: PEER,
            interface: IFNAME.to_string(),
            mac: None,
            router: true,
            sources: BTreeSet::new(),
            ra_lifetime: None,
        };
        self.events
            .send(PeerEvent::Discovered(info))
            .await
            .expect("manager running");
    }

    /// A connection to our listener from `from`.
    async fn connect_from(&self, from: SocketAddr) -> TestPeer {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        self.accept.send((Box::new(ours), from)).await.expect("manager running");
        TestPeer::new(theirs, PEER_ASN, HIGHER_ID)
    }

    /// Poll the neighbour list until `ok` holds.
    async fn neighbors_until(&self, what: &str, ok: impl Fn(&[NeighborView]) -> bool) -> Vec<NeighborView> {
        let polled = timeout(Duration::from_secs(60), async {
            loop {
                let neighbors = self.bgp.neighbors().await.expect("manager running");
                if ok(&neighbors) {
                    return neighbors;
                }
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        polled.unwrap_or_else(|_| panic!("neighbours never {what}"))
    }

    async fn established(&self) -> NeighborView {
        let neighbors = self
            .neighbors_until("Established", |n| {
                n.iter().any(|v| v.state == SessionState::Established)
            })
            .await;
        neighbors[0].clone()
    }

    /// Discovery finds the neighbour; it answers our dial and the session
    /// gets Established. `hold_time` 0: no keepalives to keep up with.
    async fn established_peer(&mut self, hold_time: u16) -> TestPeer {
        self.discovered().await;
        let mut peer = self.dials.recv().await.expect("dial").connect(PEER_ASN, HIGHER_ID);
        peer.hold_time = hold_time;
        peer.establish().await;
        self.established().await;
        peer
    }

    async fn gone(&self) {
        self.neighbors_until("gone", |n| n.is_empty()).await;
    }

    /// `ip link set ndtest0 name <to>`: the same link (ifindex) under a new
    /// name, which the watcher publishes only if it is configured.
    fn rename(&self, to: &str) {
        let configured = self.interfaces.borrow().iter().any(|n| n == to);
        self.links.send_modify(|links| {
            if let Some(mut link) = links.remove(IFNAME) {
                link.name = to.to_string();
                if configured {
                    links.insert(to.to_string(), link);
                }
            }
        });
    }
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn removing_the_interface_from_the_configuration_ends_its_session_with_cease() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(9).await;
    let view = rig.established().await;
    assert_eq!((view.interface.as_str(), view.address), (IFNAME, PEER_LL));
    rig.interfaces.send_replace(Vec::new());
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::PEER_DECONFIGURED));
    peer.expect_closed().await;
    rig.gone().await;
    assert!(rig.dials.try_recv().is_err(), "dialed after deconfiguration");
}

#[tokio::test(start_paused = true)]
async fn link_down_ends_the_session_with_cease_at_once() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(9).await;
    let start = tokio::time::Instant::now();
    rig.links.send_modify(|links| {
        for link in links.values_mut() {
            link.up = false;
        }
    });
    let cease = peer.expect_notification().await;
    assert_eq!(cease.code, code::CEASE);
    peer.expect_closed().await;
    rig.gone().await;
    assert!(start.elapsed() < Duration::from_millis(100), "{:?}", start.elapsed());
}

/// The session starts, and the peer table is told on the observation
/// channel every discovery source uses.
#[tokio::test(start_paused = true)]
async fn a_connection_from_an_undiscovered_neighbour_starts_its_session() {
    let mut rig = Rig::start();
    let mut peer = rig.connect_from(source(PEER_LL)).await;
    peer.establish().await;
    let view = rig.established().await;
    assert_eq!(view.address, PEER_LL);
    assert_eq!(view.direction, Some(Direction::Inbound));
    let seen = rig.observed.try_recv().expect("an observation for the peer table");
    assert_eq!((seen.ifindex, seen.addr, seen.source), (IFINDEX, PEER_LL, Source::Tcp));
    assert!(!seen.tentative);
    assert!(rig.observed.try_recv().is_err(), "one connection, one observation");
}

#[tokio::test(start_paused = true)]
async fn connections_from_elsewhere_are_refused_and_counted() {
    let mut rig = Rig::start();
    let global = SocketAddr::V6(std::net::SocketAddrV6::new(
        "2001:db8::2".parse().expect("address"),
        40000,
        0,
        IFINDEX,
    ));
    let other_interface = SocketAddr::V6(std::net::SocketAddrV6::new(PEER_LL, 40000, 0, IFINDEX + 1));
    // Our own link-local: we would be our own neighbour.
    for from in [global, other_interface, source(LOCAL_LL)] {
        let mut peer = rig.connect_from(from).await;
        peer.expect_closed().await;
    }
    let refused = rig.bgp.refused().await.expect("manager running");
    assert_eq!(
        refused,
        BTreeMap::from([
            ("interface_not_configured", 1),
            ("not_link_local", 1),
            ("own_address", 1)
        ])
    );
    assert!(rig.bgp.neighbors().await.expect("manager running").is_empty());
    assert!(rig.observed.try_recv().is_err(), "told the peer table of a stranger");
}

/// The ifindex is the session's identity: a rename keeps the session, which
/// shows the new name and ends only once that name is deconfigured.
#[tokio::test(start_paused = true)]
async fn a_renamed_interface_keeps_its_session_under_its_new_name() {
    let mut rig = Rig::start();
    rig.interfaces.send_replace(names(&[IFNAME, "swp1"]));
    let mut peer = rig.established_peer(0).await;
    rig.rename("swp1");
    let views = rig
        .neighbors_until("renamed", |n| n.iter().any(|v| v.interface == "swp1"))
        .await;
    assert_eq!((views[0].ifindex, views[0].state), (IFINDEX, SessionState::Established));
    // A reload drops the old name: the session's interface is still configured.
    rig.interfaces.send_replace(names(&["swp1"]));
    let reset = timeout(Duration::from_secs(5), peer.expect_notification()).await;
    assert!(reset.is_err(), "ended with the old name: {reset:?}");
    assert_eq!(rig.established().await.established_count, 1);
    // Its new name goes.
    rig.interfaces.send_replace(Vec::new());
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::PEER_DECONFIGURED));
    rig.gone().await;
}

/// Renamed to a name not configured, the link is no longer a configured
/// interface: its session ends as a reload that removed it would end it.
#[tokio::test(start_paused = true)]
async fn an_interface_renamed_to_a_name_not_configured_ends_its_session_as_deconfigured() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(9).await;
    rig.rename("swp1");
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::PEER_DECONFIGURED));
    peer.expect_closed().await;
    rig.gone().await;
    // The neighbour dials again on the link under its new name: refused.
    let mut again = rig.connect_from(source(PEER_LL)).await;
    again.expect_closed().await;
    let refused = rig.bgp.refused().await.expect("manager running");
    assert_eq!(refused, BTreeMap::from([("interface_not_configured", 1)]));
}

/// A session task that panics is a bug: the manager ends with an error
/// naming the neighbour (the daemon stops, non-zero), and the sessions left
/// end with a Cease rather than silently.
#[tokio::test(start_paused = true)]
async fn a_session_task_that_panics_fails_the_manager_and_the_others_cease() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(9).await;
    let broken = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 3);
    rig.accept
        .send((Box::new(PanickingStream), source(broken)))
        .await
        .expect("manager running");
    let ended = timeout(Duration::from_secs(5), rig.supervisor.ended()).await;
    let (name, ended) = ended.expect("the manager did not end");
    assert_eq!(name, "BGP manager");
    let Ended::Failed(e) = ended else {
        panic!("the manager ended but did not fail: {ended}");
    };
    assert_eq!(
        e.to_string(),
        format!("{IFNAME}: the session task of neighbour {broken} panicked: the test's stream breaks the session task")
    );
    assert!(rig.bgp.neighbors().await.is_err(), "a failed manager still answers");
    let cease = peer.expect_notification().await;
    assert_eq!(
        (cease.code, cease.subcode),
        (code::CEASE, code::ADMINISTRATIVE_SHUTDOWN)
    );
    peer.expect_closed().await;
}

const BFD_PEER: bfd::service::PeerKey = bfd::service::PeerKey {
    ifindex: IFINDEX,
    addr: PEER_LL,
};

/// A BFD session that never came Up (the neighbour does not run BFD) holds
/// nothing; one that fails after Up ends the session with Cease / BFD
/// Down, and none comes back (no dial, its connection refused) until BFD
/// is Up again; the neighbour's AdminDown leaves BGP alone.
#[tokio::test(start_paused = true)]
async fn a_bfd_failure_ends_the_session_and_holds_it_until_bfd_is_up() {
    let (mut rig, bfd) = Rig::start_with_bfd();
    let mut peer = rig.established_peer(0).await;
    let view = rig
        .neighbors_until("with a BFD session", |n| n.iter().any(|v| v.bfd.is_some()))
        .await;
    assert_eq!(view[0].state, SessionState::Established, "BFD never Up blocks nothing");
    assert_eq!((view[0].bfd.as_deref(), view[0].bfd_held), (Some("down"), false));

    bfd.send(BfdEvent::Up(BFD_PEER)).unwrap();
    bfd.send(BfdEvent::Down {
        peer: BFD_PEER,
        diag: bfd::packet::Diag::NeighborSignaledSessionDown,
        failure: false,
    })
    .unwrap();
    // Hold time 0: no KEEPALIVE; End-of-RIB may come, no NOTIFICATION.
    let quiet = timeout(Duration::from_secs(5), async {
        loop {
            match peer.recv().await {
                Some(Message::Update(_)) => {}
                other => return other,
            }
        }
    });
    assert!(quiet.await.is_err(), "AdminDown ended BGP");
    assert!(!rig.established().await.bfd_held);
    bfd.send(BfdEvent::Up(BFD_PEER)).unwrap();
    let start = tokio::time::Instant::now();
    bfd.send(BfdEvent::Down {
        peer: BFD_PEER,
        diag: bfd::packet::Diag::ControlDetectionTimeExpired,
        failure: true,
    })
    .unwrap();
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::BFD_DOWN));
    peer.expect_closed().await;
    assert!(start.elapsed() < Duration::from_millis(100), "{:?}", start.elapsed());
    let view = rig
        .neighbors_until("held by BFD", |n| n.iter().any(|v| v.bfd_held))
        .await;
    assert_ne!(view[0].state, SessionState::Established);
    let last_down = view[0].last_down.clone().unwrap_or_default();
    assert!(
        last_down.contains("BFD down: control detection time expired"),
        "{last_down}"
    );
    assert_eq!(view[0].downs.get("bfd_down"), Some(&1), "{:?}", view[0].downs);

    // Held: no dial for a minute, and the neighbour's connection refused.
    sleep(Duration::from_secs(60)).await;
    assert!(rig.dials.try_recv().is_err(), "dialed while BFD is down");
    let mut inbound = rig.connect_from(source(PEER_LL)).await;
    inbound.expect_closed().await;

    bfd.send(BfdEvent::Up(BFD_PEER)).unwrap();
    let mut peer = timeout(Duration::from_secs(1), rig.dials.recv())
        .await
        .expect("a dial at once once BFD is up")
        .expect("dial")
        .connect(PEER_ASN, HIGHER_ID);
    peer.hold_time = 0;
    peer.establish().await;
    let view = rig.established().await;
    assert!(!view.bfd_held);
}

/// With the N bit of graceful restart on both sides, a plain Cease would
/// have the peer keep our routes as through a restart: BFD Down goes as
/// Cease / Hard Reset carrying Cease / BFD Down (RFC 8538), as FRR sends.
#[tokio::test(start_paused = true)]
async fn a_bfd_failure_with_the_n_bit_sends_a_hard_reset() {
    let mut fsm = FsmConfig::new(LOCAL_ASN, LOCAL_ID);
    let helper = crate::bgp::fsm::graceful::LocalGracefulRestart::helper(120);
    fsm.graceful_restart = Some(helper.clone());
    let (mut rig, bfd) = Rig::start_with_bfd_and(fsm);
    rig.discovered().await;
    let mut peer = rig.dials.recv().await.expect("dial").connect(PEER_ASN, HIGHER_ID);
    peer.hold_time = 0;
    peer.capabilities.push(helper.capability());
    peer.establish().await;
    rig.established().await;
    bfd.send(BfdEvent::Up(BFD_PEER)).unwrap();
    bfd.send(BfdEvent::Down {
        peer: BFD_PEER,
        diag: bfd::packet::Diag::ControlDetectionTimeExpired,
        failure: true,
    })
    .unwrap();
    let reset = peer.expect_notification().await;
    assert_eq!(
        (reset.code, reset.subcode, reset.data),
        (code::CEASE, code::HARD_RESET, vec![code::CEASE, code::BFD_DOWN])
    );
    let view = rig
        .neighbors_until("held by BFD", |n| n.iter().any(|v| v.bfd_held))
        .await;
    assert_eq!(
        view[0].last_down.as_deref(),
        Some("BFD down: control detection time expired (sent Cease/Hard Reset (BFD Down))")
    );
    assert_eq!(view[0].downs.get("bfd_down"), Some(&1));
}

// ---- neighbor shutdown | enable | clear, teardown-on-loss ----

fn on_interface() -> NeighborTarget {
    NeighborTarget::Interface(IFNAME.to_string())
}

fn the_peer() -> NeighborTarget {
    NeighborTarget::Neighbor(crate::api::ScopedAddress {
        address: PEER_LL,
        interface: IFNAME.to_string(),
    })
}

impl Rig {
    async fn admin(&self, target: NeighborTarget, request: AdminRequest) -> Result<String, String> {
        self.bgp.admin(target, request).await.expect("manager running")
    }

    async fn lost(&self, reason: LostReason) {
        let lost = PeerEvent::Lost { key: PEER, reason };
        self.events.send(lost).await.expect("manager running");
    }
}

/// Shutdown: Cease / Administrative Shutdown with the text, then no dial,
/// no connection taken, not even on rediscovery, until enable.
#[tokio::test(start_paused = true)]
async fn shutdown_holds_the_session_down_until_enable() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(0).await;
    let shutdown = AdminRequest::Shutdown {
        message: Some("maintenance until 14:00".into()),
    };
    assert_eq!(
        rig.admin(on_interface(), shutdown.clone()).await,
        Ok(format!(
            "sent Cease/Administrative Shutdown to 1 session on {IFNAME}; no session until `ndbgpctl neighbor enable {IFNAME}`"
        ))
    );
    let cease = peer.expect_notification().await;
    assert_eq!(
        (cease.code, cease.subcode),
        (code::CEASE, code::ADMINISTRATIVE_SHUTDOWN)
    );
    assert_eq!(cease.shutdown_text(), Some("maintenance until 14:00"));
    peer.expect_closed().await;
    let views = rig
        .neighbors_until("admin down", |n| {
            n.iter().any(|v| v.admin_down && v.state == SessionState::Idle)
        })
        .await;
    assert_eq!(views.len(), 1);
    // Past every backoff: no dial; the neighbour's own connection is closed.
    sleep(Duration::from_secs(120)).await;
    assert!(rig.dials.try_recv().is_err(), "dialed while shut down");
    let mut inbound = rig.connect_from(source(PEER_LL)).await;
    inbound.expect_closed().await;
    rig.discovered().await;
    sleep(Duration::from_secs(5)).await;
    assert!(rig.dials.try_recv().is_err(), "dialed on rediscovery while shut down");
    // Twice: said so.
    let again = rig.admin(the_peer(), shutdown).await.expect("answered");
    assert!(
        again.starts_with(&format!("{PEER_LL}%{IFNAME} already shut down")),
        "{again}"
    );

    assert_eq!(
        rig.admin(the_peer(), AdminRequest::Enable).await,
        Ok(format!("enabled {PEER_LL}%{IFNAME}: dialing again"))
    );
    let mut peer = rig.dials.recv().await.expect("dial").connect(PEER_ASN, HIGHER_ID);
    peer.hold_time = 0;
    peer.establish().await;
    let view = rig.established().await;
    assert_eq!((view.established_count, view.admin_down), (2, false));
    assert_eq!(
        rig.admin(on_interface(), AdminRequest::Enable).await,
        Ok(format!("{IFNAME} not shut down: nothing to enable"))
    );
}

/// The hold outlives the session: discovery losing the neighbour ends the
/// held session, and its next one starts held.
#[tokio::test(start_paused = true)]
async fn a_shut_down_neighbour_stays_down_across_its_sessions() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(0).await;
    let shutdown = AdminRequest::Shutdown { message: None };
    rig.admin(the_peer(), shutdown).await.expect("shut down");
    let cease = peer.expect_notification().await;
    assert_eq!(cease.shutdown_text(), None);
    rig.lost(LostReason::Silent {
        elapsed: Duration::from_secs(30),
    })
    .await;
    // Still listed, held, without a session.
    rig.neighbors_until("held without a session", |n| {
        n.len() == 1 && n[0].admin_down && n[0].messages_sent == 0
    })
    .await;
    rig.discovered().await;
    sleep(Duration::from_secs(60)).await;
    assert!(rig.dials.try_recv().is_err(), "the next session dialed");
    rig.admin(on_interface(), AdminRequest::Enable).await.expect("enabled");
    let mut peer = rig.dials.recv().await.expect("dial").connect(PEER_ASN, HIGHER_ID);
    peer.establish().await;
    rig.established().await;
}

#[tokio::test(start_paused = true)]
async fn neighbor_commands_name_a_target_without_sessions() {
    let rig = Rig::start();
    assert_eq!(
        rig.admin(on_interface(), AdminRequest::Clear { soft: false }).await,
        Err(format!("no session on {IFNAME}"))
    );
    assert_eq!(
        rig.admin(the_peer(), AdminRequest::Enable).await,
        Err(format!("no neighbour {PEER_LL}%{IFNAME}"))
    );
    assert_eq!(
        rig.admin(NeighborTarget::Interface("eth9".into()), AdminRequest::Enable)
            .await,
        Err("no session on eth9: eth9 is not a configured interface that exists".into())
    );
}

/// Hard clear: Cease / Administrative Reset, then a new session as after
/// any down.
#[tokio::test(start_paused = true)]
async fn hard_clear_resets_the_session_and_redials() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(0).await;
    assert_eq!(
        rig.admin(the_peer(), AdminRequest::Clear { soft: false }).await,
        Ok(format!(
            "sent Cease/Administrative Reset to {PEER_LL}%{IFNAME}; redialing"
        ))
    );
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::ADMINISTRATIVE_RESET));
    peer.expect_closed().await;
    let start = tokio::time::Instant::now();
    let mut peer = rig.dials.recv().await.expect("redial").connect(PEER_ASN, HIGHER_ID);
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    peer.establish().await;
    let view = rig.established().await;
    assert_eq!(view.established_count, 2);
    assert_eq!(view.last_down.as_deref(), Some("reset by operator"));
}

/// The ROUTE-REFRESHes and re-sent routes after a soft clear.
async fn refreshes_then_routes(peer: &mut TestPeer, prefix: &str) -> Vec<(u16, u8)> {
    let mut refreshes = Vec::new();
    // Until our routes again: what came before them is the refreshes (and
    // End-of-RIBs of the first table).
    loop {
        match peer.expect("ROUTE-REFRESH or UPDATE").await {
            Message::RouteRefresh(rr) => refreshes.push((rr.afi, rr.safi)),
            Message::Update(body) => {
                let ctx = crate::msg::update::DecodeContext {
                    four_octet_as: true,
                    external: true,
                };
                let decoded = crate::msg::update::decode(&body, &ctx).expect("decodes");
                if decoded.update.announced.iter().any(|p| p.to_string() == prefix) {
                    assert!(!refreshes.is_empty(), "routes re-sent before the ROUTE-REFRESH");
                    return refreshes;
                }
            }
            Message::Keepalive => {}
            other => panic!("expected ROUTE-REFRESH or UPDATE, got {other:?}"),
        }
    }
}

/// Soft clear: a ROUTE-REFRESH per family and our routes again, on the
/// same connection.
#[tokio::test(start_paused = true)]
async fn soft_clear_sends_route_refresh_and_our_routes_again_without_a_reset() {
    let mut rig = Rig::announcing(&["2001:db8:1::/48"]);
    let mut peer = rig.established_peer(0).await;
    peer.updates_until(|u| u.update.announced.iter().any(|p| p.to_string() == "2001:db8:1::/48"))
        .await;
    assert_eq!(
        rig.admin(on_interface(), AdminRequest::Clear { soft: true }).await,
        Ok(format!(
            "sent ROUTE-REFRESH (IPv4 unicast, IPv6 unicast) to 1 session on {IFNAME} and re-sent our routes"
        ))
    );
    let refreshes = refreshes_then_routes(&mut peer, "2001:db8:1::/48").await;
    assert_eq!(refreshes, vec![(1, 1), (2, 1)]);
    let view = rig.established().await;
    assert_eq!(view.established_count, 1, "reset");
}

#[tokio::test(start_paused = true)]
async fn soft_clear_of_a_peer_without_route_refresh_only_resends_ours() {
    let mut rig = Rig::announcing(&["2001:db8:1::/48"]);
    rig.discovered().await;
    let mut peer = rig.dials.recv().await.expect("dial").connect(PEER_ASN, HIGHER_ID);
    peer.hold_time = 0;
    peer.capabilities.retain(|c| *c != crate::msg::Capability::RouteRefresh);
    peer.establish().await;
    rig.established().await;
    peer.updates_until(|u| u.update.announced.iter().any(|p| p.to_string() == "2001:db8:1::/48"))
        .await;
    assert_eq!(
        rig.admin(the_peer(), AdminRequest::Clear { soft: true }).await,
        Ok(format!(
            "{PEER_LL}%{IFNAME} does not advertise ROUTE-REFRESH: only our routes re-sent"
        ))
    );
    peer.updates_until(|u| u.update.announced.iter().any(|p| p.to_string() == "2001:db8:1::/48"))
        .await;
}

/// By default a neighbour discovery lost keeps its Established session;
/// with teardown-on-loss (a reload may turn it on) the session ends.
#[tokio::test(start_paused = true)]
async fn teardown_on_loss_ends_the_established_session_of_a_lost_neighbour() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(0).await;
    let silent = LostReason::Silent {
        elapsed: Duration::from_secs(30),
    };
    rig.lost(silent).await;
    let kept = timeout(Duration::from_secs(10), peer.expect_notification()).await;
    assert!(kept.is_err(), "ended without teardown-on-loss: {kept:?}");
    assert_eq!(rig.established().await.established_count, 1);

    rig.bgp.set_teardown_on_loss(true).await.expect("manager running");
    rig.discovered().await;
    rig.lost(silent).await;
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::PEER_DECONFIGURED));
    peer.expect_closed().await;
    rig.gone().await;
    sleep(Duration::from_secs(60)).await;
    assert!(rig.dials.try_recv().is_err(), "dialed a lost neighbour");
}

/// A neighbour found again while its session ends (teardown-on-loss) gets
/// a new session: the peer table says it once, not again at the end.
#[tokio::test(start_paused = true)]
async fn a_neighbour_found_again_while_its_session_ends_gets_a_new_one() {
    let mut rig = Rig::start();
    rig.bgp.set_teardown_on_loss(true).await.expect("manager running");
    let mut peer = rig.established_peer(0).await;
    rig.lost(LostReason::Silent {
        elapsed: Duration::from_secs(30),
    })
    .await;
    rig.discovered().await;
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::PEER_DECONFIGURED));
    let again = timeout(Duration::from_secs(30), rig.dials.recv()).await;
    assert!(matches!(again, Ok(Some(_))), "not dialled again");
}

/// `neighbor remove` of a static neighbour nothing else sees ends its session.
#[tokio::test(start_paused = true)]
async fn a_removed_static_neighbour_loses_its_session() {
    let mut rig = Rig::start();
    let mut peer = rig.established_peer(0).await;
    rig.lost(LostReason::StaticRemoved).await;
    let cease = peer.expect_notification().await;
    assert_eq!((cease.code, cease.subcode), (code::CEASE, code::PEER_DECONFIGURED));
    rig.gone().await;
}

/// A neighbour found again while its BFD-held session ends gets a new
/// session held too (its BFD session, kept, is still Down after Up): no
/// dial until BFD is Up again.
#[tokio::test(start_paused = true)]
async fn a_neighbour_found_again_while_bfd_is_down_gets_a_held_session() {
    let (mut rig, bfd) = Rig::start_with_bfd();
    rig.bgp.set_teardown_on_loss(true).await.expect("manager running");
    let mut peer = rig.established_peer(0).await;
    bfd.send(BfdEvent::Up(BFD_PEER)).unwrap();
    bfd.send(BfdEvent::Down {
        peer: BFD_PEER,
        diag: bfd::packet::Diag::ControlDetectionTimeExpired,
        failure: true,
    })
    .unwrap();
    peer.expect_notification().await;
    rig.neighbors_until("held by BFD", |n| n.iter().any(|v| v.bfd_held))
        .await;
    rig.lost(LostReason::Silent {
        elapsed: Duration::from_secs(30),
    })
    .await;
    rig.discovered().await;
    sleep(Duration::from_secs(60)).await;
    assert!(rig.dials.try_recv().is_err(), "dialed while BFD is down");
    let view = rig.neighbors_until("a session", |n| !n.is_empty()).await;
    assert!(view[0].bfd_held, "{view:?}");

    bfd.send(BfdEvent::Up(BFD_PEER)).unwrap();
    let dial = timeout(Duration::from_secs(1), rig.dials.recv()).await;
    assert!(matches!(dial, Ok(Some(_))), "no dial once BFD is up");
}
