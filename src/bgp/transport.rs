//! How sessions reach their neighbours: TCP over IPv6 link-local addresses
//! in the daemon, behind two small traits ([`Dialer`], [`Listener`]) that
//! tests implement with in-memory pipes.
//!
//! A link-local is only meaningful with its interface: we dial
//! `[fe80::x%ifindex]:179` from a socket bound to our own link-local on that
//! interface (else the kernel may pick another source and TCP-MD5 or the
//! peer's source check fails) and to the device itself. We accept only
//! link-local sources arriving on a configured interface.

use std::future::Future;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::num::NonZeroU32;

use futures::future::BoxFuture;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::iface::is_link_local;

/// RFC 5082 (GTSM) senders use 255 so a receiver can insist on it.
const BGP_HOP_LIMIT: u32 = 255;

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
}

pub type BoxStream = Box<dyn Stream>;

impl Stream for TcpStream {
    fn split(self: Box<Self>) -> (ReadHalf, WriteHalf) {
        let (read, write) = self.into_split();
        (Box::new(read), Box::new(write))
    }

    fn ends(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.local_addr().ok().zip(self.peer_addr().ok())
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
}

/// Dials TCP to the neighbour's BGP port.
#[derive(Debug, Clone, Copy)]
pub struct TcpDialer {
    pub port: u16,
}

impl Dialer for TcpDialer {
    fn dial(&self, ifindex: u32, local: Ipv6Addr, peer: Ipv6Addr) -> BoxFuture<'static, io::Result<BoxStream>> {
        let port = self.port;
        Box::pin(async move {
            let stream = dial(ifindex, local, peer, port).await?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

/// Dial a neighbour's link-local from ours, on one interface.
pub async fn dial(ifindex: u32, local: Ipv6Addr, peer: Ipv6Addr, port: u16) -> io::Result<TcpStream> {
    let sock = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.bind_device_by_index_v6(NonZeroU32::new(ifindex))?;
    sock.set_tcp_nodelay(true)?;
    sock.set_unicast_hops_v6(BGP_HOP_LIMIT)?;
    sock.bind(&SocketAddr::V6(SocketAddrV6::new(local, 0, 0, ifindex)).into())?;
    let sock = TcpSocket::from_std_stream(std::net::TcpStream::from(sock));
    sock.connect(SocketAddr::V6(SocketAddrV6::new(peer, port, 0, ifindex)))
        .await
}

/// Listen on `[::]:port` for every interface.
pub fn listen(port: u16) -> io::Result<TcpListener> {
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

impl Listener for TcpListener {
    async fn accept(&mut self) -> io::Result<(BoxStream, SocketAddr)> {
        let (stream, from) = TcpListener::accept(self).await?;
        // Prepare an accepted connection like a dialed one; a failure here
        // leaves a connection that still works.
        let tuned = stream
            .set_nodelay(true)
            .and_then(|()| socket2::SockRef::from(&stream).set_unicast_hops_v6(BGP_HOP_LIMIT));
        if let Err(e) = tuned {
            tracing::debug!("socket options on the connection from {from}: {e}");
        }
        Ok((Box::new(stream), from))
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
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotIpv6 => "not_ipv6",
            Refusal::NotLinkLocal => "not_link_local",
            Refusal::NotConfiguredInterface => "interface_not_configured",
            Refusal::OwnAddress => "own_address",
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
