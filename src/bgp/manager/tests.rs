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
        Rig::start_with(None)
    }

    /// With `--bfd`: a BFD task on a port of its own (its packets go
    /// nowhere: its sessions stay Down), and the events the manager
    /// follows from the test instead of from it.
    fn start_with_bfd() -> (Rig, mpsc::UnboundedSender<BfdEvent>) {
        let socket = bfd::socket::ReceiveSocket::bind(0).expect("a UDP socket");
        let (unheard, _) = mpsc::unbounded_channel();
        let (handle, task) = bfd::service::spawn(bfd::service::BfdConfig::default(), socket, unheard);
        let (events_tx, events) = mpsc::unbounded_channel();
        let timers = bfd::session::Timers::symmetric(Duration::from_millis(300), 3);
        let mut rig = Rig::start_with(Some(BfdLink { handle, timers, events }));
        rig.supervisor.hold(task);
        (rig, events_tx)
    }

    fn start_with(bfd: Option<BfdLink>) -> Rig {
        let (links_tx, links) = watch::channel(links_up(LOCAL_LL));
        let (interfaces_tx, interfaces) = watch::channel(vec![IFNAME.to_string()]);
        let (routes, _) = routes_task(LOCAL_ASN, LOCAL_ID, &[], links.clone());
        let (observations, observed) = mpsc::channel(16);
        let (router_id_tx, router_id) = watch::channel(LOCAL_ID);
        let (dialer, dials) = TestDialer::new();
        let (accept, accepted) = mpsc::channel(4);
        let (events, events_rx) = mpsc::channel(16);
        let config = BgpConfig {
            fsm: FsmConfig::new(LOCAL_ASN, LOCAL_ID),
            router_id,
            dialer: Arc::new(dialer),
            routes,
            monitor: Default::default(),
            interfaces,
            policies: watch::channel(Default::default()).1,
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
