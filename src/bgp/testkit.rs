//! In-memory neighbours for tests of sessions, the manager and the routes
//! task, without sockets or root: a [`Dialer`] whose dials the test
//! answers, a [`Listener`] the test feeds, a scripted BGP [`TestPeer`] on the
//! far end of a `tokio::io::duplex` pipe, and a [`wire`] with latency.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::fsm::local_capabilities;
use super::transport::{BoxStream, Dialer, Listener, ReadHalf, Stream, WriteHalf};
use crate::fib::FibHandle;
use crate::iface::{HostAddresses, LinkLocal, LinkState, Links};
use crate::msg::update::{self, DecodeContext, Decoded};
use crate::msg::{Capability, Message, Notification, Open, decode, frame};
use crate::peers::PeerKey;
use crate::policy::SharedPolicies;
use crate::rib::task::{self as routes, RoutesConfig, RoutesHandle};

/// The test interface and the two link-locals on it.
pub const IFNAME: &str = "ndtest0";
pub const IFINDEX: u32 = 7;
pub const LOCAL_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
pub const PEER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
pub const PEER: PeerKey = PeerKey {
    ifindex: IFINDEX,
    addr: PEER_LL,
};
pub const LOCAL_ASN: u32 = 65001;
pub const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Router IDs below and above ours, for both outcomes of a collision.
pub const LOWER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const HIGHER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
pub const PEER_ASN: u32 = 65002;
/// Bytes a pipe buffers each way, like a socket buffer.
const PIPE: usize = 64 * 1024;

/// Links with the test interface up and its link-local out of DAD.
pub fn links_up(link_local: Ipv6Addr) -> Links {
    let link = LinkState {
        name: IFNAME.to_string(),
        ifindex: IFINDEX,
        up: true,
        mac: Some([2, 0, 0, 0, 0, 1]),
        link_locals: vec![LinkLocal {
            addr: link_local,
            tentative: false,
            optimistic: false,
        }],
    };
    BTreeMap::from([(IFNAME.to_string(), link)])
}

/// A routes task on a FIB that only records, announcing `networks`.
pub fn routes_task(
    asn: u32,
    router_id: Ipv4Addr,
    networks: &[&str],
    links: watch::Receiver<Links>,
) -> (RoutesHandle, FibHandle) {
    routes_task_with_policies(asn, router_id, networks, links, watch::channel(Default::default()).1)
}

/// [`routes_task`] following the policies the test sends.
pub fn routes_task_with_policies(
    asn: u32,
    router_id: Ipv4Addr,
    networks: &[&str],
    links: watch::Receiver<Links>,
    policies: watch::Receiver<SharedPolicies>,
) -> (RoutesHandle, FibHandle) {
    let fib = FibHandle::detached();
    let (_, interfaces) = watch::channel(vec![IFNAME.to_string()]);
    let config = RoutesConfig {
        local_asn: asn,
        router_id: watch::channel(router_id).1,
        addresses: watch::channel(HostAddresses::default()).1,
        max_paths: 8,
        networks: networks.iter().map(|n| n.parse().expect("test prefix")).collect(),
        redistribute_connected: false,
        interfaces,
        policies,
        monitor: Default::default(),
    };
    let (routes, _task) = routes::spawn(config, fib.clone(), links);
    (routes, fib)
}

/// One dial a session made, for the test to answer.
pub struct DialRequest {
    pub local: Ipv6Addr,
    pub peer: Ipv6Addr,
    answer: oneshot::Sender<io::Result<BoxStream>>,
}

impl DialRequest {
    /// The neighbour answers: a speaker on the other end of the connection.
    pub fn connect(self, asn: u32, bgp_id: Ipv4Addr) -> TestPeer {
        let (ours, theirs) = tokio::io::duplex(PIPE);
        self.accept(Box::new(ours));
        TestPeer::new(theirs, asn, bgp_id)
    }

    /// The dial connects on this stream.
    pub fn accept(self, stream: BoxStream) {
        let _ = self.answer.send(Ok(stream));
    }

    /// Nothing listens there.
    pub fn refuse(self) {
        let _ = self.answer.send(Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "refused by the test",
        )));
    }
}

/// A dialer that hands every dial to the test. A dial the test drops
/// unanswered fails; one it keeps hangs.
pub struct TestDialer(mpsc::UnboundedSender<DialRequest>);

impl TestDialer {
    pub fn new() -> (TestDialer, mpsc::UnboundedReceiver<DialRequest>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (TestDialer(tx), rx)
    }
}

impl Dialer for TestDialer {
    fn dial(&self, _ifindex: u32, local: Ipv6Addr, peer: Ipv6Addr) -> BoxFuture<'static, io::Result<BoxStream>> {
        let (answer, answered) = oneshot::channel();
        let _ = self.0.send(DialRequest { local, peer, answer });
        Box::pin(async move {
            answered
                .await
                .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::ConnectionRefused, "dial dropped")))
        })
    }
}

/// A listener the test feeds with (stream, source) pairs.
pub struct TestListener(pub mpsc::Receiver<(BoxStream, SocketAddr)>);

impl Listener for TestListener {
    async fn accept(&mut self) -> io::Result<(BoxStream, SocketAddr)> {
        match self.0.recv().await {
            Some(accepted) => Ok(accepted),
            None => std::future::pending().await,
        }
    }
}

/// A connection that panics when the session starts using it: a bug in a
/// session task, for the manager's supervision.
pub struct PanickingStream;

impl Stream for PanickingStream {
    fn split(self: Box<Self>) -> (ReadHalf, WriteHalf) {
        panic!("the test's stream breaks the session task")
    }
}

/// Where a connection from `addr` on the test interface comes from.
pub fn source(addr: Ipv6Addr) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(addr, 40000, 0, IFINDEX))
}

/// A connection with `latency` each way: every chunk written arrives that
/// much later. Two connections with different latencies reorder what was
/// sent on them, as two sockets read by two tasks can.
pub fn wire(latency: Duration) -> (DuplexStream, DuplexStream) {
    let (a, a_relay) = tokio::io::duplex(PIPE);
    let (b_relay, b) = tokio::io::duplex(PIPE);
    let (a_read, a_write) = tokio::io::split(a_relay);
    let (b_read, b_write) = tokio::io::split(b_relay);
    tokio::spawn(relay(a_read, b_write, latency));
    tokio::spawn(relay(b_read, a_write, latency));
    (a, b)
}

async fn relay(
    mut from: tokio::io::ReadHalf<DuplexStream>,
    mut to: tokio::io::WriteHalf<DuplexStream>,
    latency: Duration,
) {
    let mut buf = vec![0; PIPE];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tokio::time::sleep(latency).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    tokio::time::sleep(latency).await;
    let _ = to.shutdown().await;
}

/// A scripted BGP neighbour on one connection.
pub struct TestPeer {
    io: DuplexStream,
    buf: Vec<u8>,
    pub asn: u32,
    pub bgp_id: Ipv4Addr,
    pub hold_time: u16,
    pub capabilities: Vec<Capability>,
}

impl TestPeer {
    pub fn new(io: DuplexStream, asn: u32, bgp_id: Ipv4Addr) -> TestPeer {
        TestPeer {
            io,
            buf: Vec::new(),
            asn,
            bgp_id,
            hold_time: 9,
            capabilities: local_capabilities(asn),
        }
    }

    pub fn open(&self) -> Message {
        Message::Open(Open::new(
            self.asn,
            self.hold_time,
            self.bgp_id,
            self.capabilities.clone(),
        ))
    }

    pub async fn send(&mut self, msg: &Message) {
        let bytes = msg.encode().expect("test message encodes");
        // The session may have closed the connection already: what it does
        // is what the tests look at.
        let _ = self.io.write_all(&bytes).await;
    }

    /// Bytes as they are, for malformed messages.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.io.write_all(bytes).await;
    }

    /// The next message, or None once the session closed the connection.
    pub async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(len) = frame(&self.buf).expect("the session frames its messages") {
                let msg = decode(&self.buf[..len]).expect("the session's message decodes");
                self.buf.drain(..len);
                return Some(msg);
            }
            let mut chunk = [0; 4096];
            match self.io.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn expect(&mut self, what: &str) -> Message {
        match self.recv().await {
            Some(msg) => msg,
            None => panic!("connection closed while waiting for {what}"),
        }
    }

    pub async fn expect_open(&mut self) -> Open {
        match self.expect("OPEN").await {
            Message::Open(open) => open,
            other => panic!("expected OPEN, got {other:?}"),
        }
    }

    pub async fn expect_keepalive(&mut self) {
        let msg = self.expect("KEEPALIVE").await;
        assert_eq!(msg, Message::Keepalive);
    }

    /// The next NOTIFICATION, past KEEPALIVEs and UPDATEs.
    pub async fn expect_notification(&mut self) -> Notification {
        loop {
            match self.expect("NOTIFICATION").await {
                Message::Notification(n) => return n,
                Message::Keepalive | Message::Update(_) => {}
                other => panic!("expected NOTIFICATION, got {other:?}"),
            }
        }
    }

    /// The session closes the connection with nothing more to say.
    pub async fn expect_closed(&mut self) {
        if let Some(msg) = self.recv().await {
            panic!("expected the connection closed, got {msg:?}");
        }
    }

    /// OPENs both ways, then KEEPALIVEs both ways: Established.
    pub async fn establish(&mut self) -> Open {
        let open = self.open();
        self.send(&open).await;
        let theirs = self.expect_open().await;
        self.send(&Message::Keepalive).await;
        self.expect_keepalive().await;
        theirs
    }

    /// The UPDATEs the session sends, decoded, until `until` says stop.
    pub async fn updates_until(&mut self, mut until: impl FnMut(&Decoded) -> bool) -> Vec<Decoded> {
        let ctx = DecodeContext {
            four_octet_as: true,
            external: true,
        };
        let mut got = Vec::new();
        loop {
            match self.expect("UPDATE").await {
                Message::Update(body) => {
                    let decoded = update::decode(&body, &ctx).expect("the session's UPDATE decodes");
                    let done = until(&decoded);
                    got.push(decoded);
                    if done {
                        return got;
                    }
                }
                Message::Keepalive => {}
                other => panic!("expected UPDATE, got {other:?}"),
            }
        }
    }
}
