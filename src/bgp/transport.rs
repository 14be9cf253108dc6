//! TCP for BGP over IPv6 link-local addresses.
//!
//! A link-local is only meaningful with its interface: we dial
//! `[fe80::x%ifindex]:179` from a socket bound to our own link-local on that
//! interface (else the kernel may pick another source and TCP-MD5 or the
//! peer's source check fails) and to the device itself. We accept only
//! link-local sources arriving on a configured interface.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::num::NonZeroU32;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::iface::is_link_local;

/// RFC 5082 (GTSM) senders use 255 so a receiver can insist on it.
const BGP_HOP_LIMIT: u32 = 255;

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

/// Prepare an accepted connection like a dialed one.
pub fn tune_accepted(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    socket2::SockRef::from(stream).set_unicast_hops_v6(BGP_HOP_LIMIT)
}

/// Why an inbound connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    NotIpv6,
    NotLinkLocal,
    NotConfiguredInterface,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotIpv6 => "not_ipv6",
            Refusal::NotLinkLocal => "not_link_local",
            Refusal::NotConfiguredInterface => "interface_not_configured",
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
