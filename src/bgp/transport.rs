//! How sessions reach their neighbours: TCP over IPv6 link-local addresses
//! in the daemon, behind two small traits ([`Dialer`], [`Listener`]) that
//! tests implement with in-memory pipes.
//!
//! A link-local is only meaningful with its interface: we dial
//! `[fe80::x%ifindex]:179` from a socket bound to our own link-local on that
//! interface (else the kernel may pick another source and TCP-MD5 or the
//! peer's source check fails) and to the device itself. We accept only
//! link-local sources arriving on a configured interface.
//!
//! Both ends carry the interface's TCP-MD5 key and GTSM check (see
//! [`super::auth`]): the dialling socket gets them before it connects, the
//! listener holds what the manager computes for all interfaces.

use std::future::Future;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::num::NonZeroU32;

use futures::future::BoxFuture;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::auth::{ListenerSecurity, Protection};
use super::sockopt;
use crate::iface::{self, Links, is_link_local};
use crate::policy::{SharedPolicies, TcpMd5Key};

/// RFC 5082 (GTSM) senders use 255 so a receiver can insist on it: we
/// always send it, and check it only with `ttl_security`.
const BGP_HOP_LIMIT: u32 = 255;
/// What a GTSM receiver insists on: one hop, nothing routed.
const GTSM_MIN_HOPS: u8 = 255;

pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// One connection to a neighbour, as a session's reader and writer use it.
pub trait Stream: Send + 'static {
    /// Separate halves for the reader and the writer task.
    fn split(self: Box<Self>) -> (ReadHalf, WriteHalf);

    /// (local, remote) addresses, for logs.
    fn ends(&self) -> Option<(SocketAddr, SocketAddr)> {
        None
    }

    /// TCP-MD5 and GTSM on this connection.
    fn protection(&self) -> Protection {
        Protection::default()
    }
}

pub type BoxStream = Box<dyn Stream>;

/// A TCP connection and how it is protected.
pub struct TcpConn {
    pub stream: TcpStream,
    pub protection: Protection,
}

impl Stream for TcpConn {
    fn split(self: Box<Self>) -> (ReadHalf, WriteHalf) {
        let (read, write) = self.stream.into_split();
        (Box::new(read), Box::new(write))
    }

    fn ends(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.stream.local_addr().ok().zip(self.stream.peer_addr().ok())
    }

    fn protection(&self) -> Protection {
        self.protection
    }
}

/// An in-memory connection (tokio::io::duplex).
impl Stream for DuplexStream {
    fn split(self: Box<Self>) -> (ReadHalf, WriteHalf) {
        let (read, write) = tokio::io::split(*self);
        (Box::new(read), Box::new(write))
    }
}

/// How a session opens its connection to a neighbour.
pub trait Dialer: Send + Sync + 'static {
    /// Connect from our link-local `local` to the neighbour's `peer`, both
    /// on interface `ifindex`.
    fn dial(&self, ifindex: u32, local: Ipv6Addr, peer: Ipv6Addr) -> BoxFuture<'static, io::Result<BoxStream>>;
}

/// How the manager hears connections neighbours open to us.
pub trait Listener: Send + 'static {
    /// The next connection, with the address it comes from.
    fn accept(&mut self) -> impl Future<Output = io::Result<(BoxStream, SocketAddr)>> + Send;

    /// Hold these keys and this hop-count check from now on (connections
    /// already accepted keep theirs). In-memory listeners have none.
    fn secure(&mut self, _want: &ListenerSecurity) {}
}

/// Dials TCP to the neighbour's BGP port, with the TCP-MD5 key and GTSM
/// check of the interface's policy at the time of the dial.
#[derive(Clone)]
pub struct TcpDialer {
    pub port: u16,
    pub policies: watch::Receiver<SharedPolicies>,
    /// For the interface's name, which its policy is found by.
    pub links: watch::Receiver<Links>,
}

/// What a dialling socket carries before its SYN.
#[derive(Debug, Clone, Default)]
pub struct DialSecurity {
    pub tcp_md5: Option<TcpMd5Key>,
    pub ttl_security: bool,
}

impl Dialer for TcpDialer {
    fn dial(&self, ifindex: u32, local: Ipv6Addr, peer: Ipv6Addr) -> BoxFuture<'static, io::Result<BoxStream>> {
        let port = self.port;
        let security = {
            let links = self.links.borrow();
            let policies = self.policies.borrow();
            let policy = iface::name_of(&links, ifindex).map(|name| policies.for_interface(name));
            DialSecurity {
                tcp_md5: policy.and_then(|p| p.tcp_md5.clone()),
                ttl_security: policy.is_some_and(|p| p.ttl_security),
            }
        };
        Box::pin(async move {
            let conn = dial(ifindex, local, peer, port, &security).await?;
            Ok(Box::new(conn) as BoxStream)
        })
    }
}

/// Dial a neighbour's link-local from ours, on one interface, with the key
/// for the neighbour and the hop-count check in place before the SYN.
pub async fn dial(
    ifindex: u32,
    local: Ipv6Addr,
    peer: Ipv6Addr,
    port: u16,
    security: &DialSecurity,
) -> io::Result<TcpConn> {
    let sock = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.bind_device_by_index_v6(NonZeroU32::new(ifindex))?;
    sock.set_tcp_nodelay(true)?;
    sock.set_unicast_hops_v6(BGP_HOP_LIMIT)?;
    if let Some(key) = &security.tcp_md5 {
        sockopt::set_tcp_md5(&sock, peer, 128, Some(key.as_bytes()))?;
    }
    if security.ttl_security {
        sockopt::set_min_hop_count(&sock, GTSM_MIN_HOPS)?;
    }
    sock.bind(&SocketAddr::V6(SocketAddrV6::new(local, 0, 0, ifindex)).into())?;
    let sock = TcpSocket::from_std_stream(std::net::TcpStream::from(sock));
    let stream = sock
        .connect(SocketAddr::V6(SocketAddrV6::new(peer, port, 0, ifindex)))
        .await?;
    Ok(TcpConn {
        stream,
        protection: Protection {
            tcp_md5: security.tcp_md5.is_some(),
            ttl_security: security.ttl_security,
        },
    })
}

/// The BGP listening socket and the keys and check it holds.
pub struct BgpListener {
    listener: TcpListener,
    installed: ListenerSecurity,
}

/// Listen on `[::]:port` for every interface; no key or check until the
/// manager asks (it does before it accepts the first connection).
pub fn listen(port: u16) -> io::Result<BgpListener> {
    Ok(BgpListener {
        listener: listen_socket(port)?,
        installed: ListenerSecurity::default(),
    })
}

fn listen_socket(port: u16) -> io::Result<TcpListener> {
    let sock = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_reuse_address(true)?;
    // Only IPv6: an IPv4-mapped source can never be a link-local neighbour.
    sock.set_only_v6(true)?;
    sock.set_unicast_hops_v6(BGP_HOP_LIMIT)?;
    sock.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)).into())?;
    sock.listen(64)?;
    TcpListener::from_std(std::net::TcpListener::from(sock))
}

impl Listener for BgpListener {
    async fn accept(&mut self) -> io::Result<(BoxStream, SocketAddr)> {
        let (stream, from) = self.listener.accept().await?;
        // Prepare an accepted connection like a dialed one; a failure here
        // leaves a connection that still works.
        let tuned = stream
            .set_nodelay(true)
            .and_then(|()| socket2::SockRef::from(&stream).set_unicast_hops_v6(BGP_HOP_LIMIT));
        if let Err(e) = tuned {
            debug!("socket options on the connection from {from}: {e}");
        }
        let (addr, ifindex) = match from {
            SocketAddr::V6(v6) => (*v6.ip(), v6.scope_id()),
            SocketAddr::V4(_) => (Ipv6Addr::UNSPECIFIED, 0),
        };
        let security = &self.installed;
        // GTSM on some links only: the listener cannot drop their SYNs, so
        // the check starts here, before any BGP message is read (a peer
        // sending below 255 gets the handshake, and then nothing through).
        let mut ttl_security = security.gtsm_listener;
        if !ttl_security && security.gtsm_links.contains(&ifindex) {
            match sockopt::set_min_hop_count(&stream, GTSM_MIN_HOPS) {
                Ok(()) => ttl_security = true,
                Err(e) => warn!("GTSM on the connection from {from}: {e}"),
            }
        }
        let protection = Protection {
            // The kernel checked every segment against the key that
            // covered the source when the SYN came.
            tcp_md5: security.key_for(addr).is_some(),
            ttl_security,
        };
        Ok((Box::new(TcpConn { stream, protection }), from))
    }

    fn secure(&mut self, want: &ListenerSecurity) {
        // `installed` records what the kernel holds: a key that could not
        // be set or removed stays as it was, is shown as it is, and is
        // tried again at the next change.
        let l = &self.listener;
        let stale: Vec<_> = self
            .installed
            .keys
            .keys()
            .filter(|net| !want.keys.contains_key(net))
            .copied()
            .collect();
        for net in stale {
            match sockopt::set_tcp_md5(l, net.addr(), net.prefix_len(), None) {
                Ok(()) => {
                    self.installed.keys.remove(&net);
                }
                Err(e) => warn!("cannot remove the TCP-MD5 key for {net} from the BGP listener: {e}"),
            }
        }
        for (net, key) in &want.keys {
            if self.installed.keys.get(net) == Some(key) {
                continue;
            }
            match sockopt::set_tcp_md5(l, net.addr(), net.prefix_len(), Some(key.as_bytes())) {
                Ok(()) => {
                    self.installed.keys.insert(*net, key.clone());
                }
                Err(e) => warn!("cannot install the TCP-MD5 key for {net} on the BGP listener: {e}"),
            }
        }
        if want.gtsm_listener != self.installed.gtsm_listener {
            let hops = if want.gtsm_listener { GTSM_MIN_HOPS } else { 0 };
            match sockopt::set_min_hop_count(l, hops) {
                Ok(()) => self.installed.gtsm_listener = want.gtsm_listener,
                Err(e) => warn!("cannot set the minimum hop count {hops} on the BGP listener: {e}"),
            }
        }
        // Decided in user space at accept: nothing for the kernel to refuse.
        self.installed.gtsm_links = want.gtsm_links.clone();
        self.installed.required = want.required.clone();
        self.installed.conflicts = want.conflicts.clone();
    }
}

/// Why an inbound connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    NotIpv6,
    NotLinkLocal,
    NotConfiguredInterface,
    /// From one of our own link-locals: we would be our own neighbour.
    OwnAddress,
    /// Not signed with its interface's TCP-MD5 key.
    TcpMd5KeyMismatch,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotIpv6 => "not_ipv6",
            Refusal::NotLinkLocal => "not_link_local",
            Refusal::NotConfiguredInterface => "interface_not_configured",
            Refusal::OwnAddress => "own_address",
            Refusal::TcpMd5KeyMismatch => "tcp_md5_key_mismatch",
        }
    }
}

/// Accept a source only if it is a link-local whose scope is one of our
/// configured interfaces (docs/ARCHITECTURE.md section 4). Returns (ifindex, address).
pub fn check_source(peer: SocketAddr, configured: &[u32]) -> Result<(u32, Ipv6Addr), Refusal> {
    let SocketAddr::V6(v6) = peer else {
        return Err(Refusal::NotIpv6);
    };
    if !is_link_local(v6.ip()) {
        return Err(Refusal::NotLinkLocal);
    }
    if !configured.contains(&v6.scope_id()) {
        return Err(Refusal::NotConfiguredInterface);
    }
    Ok((v6.scope_id(), *v6.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(addr: &str, scope: u32) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(addr.parse().unwrap(), 40000, 0, scope))
    }

    #[test]
    fn source_checks() {
        let configured = [3, 5];
        assert_eq!(
            check_source(v6("fe80::1", 3), &configured),
            Ok((3, "fe80::1".parse().unwrap()))
        );
        assert_eq!(
            check_source(v6("fe80::1", 4), &configured),
            Err(Refusal::NotConfiguredInterface)
        );
        assert_eq!(
            check_source(v6("2001:db8::1", 3), &configured),
            Err(Refusal::NotLinkLocal)
        );
        assert_eq!(
            check_source(v6("::ffff:10.0.0.1", 0), &configured),
            Err(Refusal::NotLinkLocal)
        );
        assert_eq!(
            check_source("10.0.0.1:179".parse().unwrap(), &configured),
            Err(Refusal::NotIpv6)
        );
    }
}
