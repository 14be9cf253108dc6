//! The UDP sockets of single-hop BFD over IPv6 (RFC 5881).
//!
//! One socket receives for every session, on port 3784: each datagram
//! comes with its interface and hop limit (IPV6_RECVPKTINFO,
//! IPV6_RECVHOPLIMIT), read as the ND socket reads them. Each session sends
//! from a socket of its own, bound to a source port in 49152-65535 (RFC
//! 5881 4: one port per session, unique on the system) with hop limit 255
//! (RFC 5881 5, the GTSM check the receiver makes). socket2 and nix cover
//! every option; the one `unsafe` is tokio's registration of the
//! descriptor, as in the ND socket.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::ops::RangeInclusive;

use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

pub use crate::nd::socket::Received;
use crate::nd::socket::recv_ready;

/// RFC 5881 4: single-hop Control packets go to this port.
pub const CONTROL_PORT: u16 = 3784;
/// RFC 5881 4: the source ports of Control packets.
pub const SOURCE_PORTS: RangeInclusive<u16> = 49152..=65535;
/// RFC 5881 5: sent with, and received only with, hop limit 255.
pub const HOP_LIMIT: u8 = 255;
/// A send socket never reads: a small buffer bounds what datagrams sent
/// to its port can make the kernel hold for it.
const SEND_SOCKET_RECV_BUFFER: usize = 2048;

fn udp6() -> io::Result<Socket> {
    let sock = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_only_v6(true)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// The socket every session's packets arrive on.
pub struct ReceiveSocket {
    fd: AsyncFd<Socket>,
}

impl ReceiveSocket {
    /// Listen on `[::]:port` (0: a port the kernel picks, for tests).
    pub fn bind(port: u16) -> io::Result<ReceiveSocket> {
        let sock = udp6()?;
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)?;
        setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true)?;
        sock.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)).into())?;
        // SAFETY: `Socket` owns its descriptor and keeps it open, unchanged,
        // for as long as the AsyncFd owns the Socket.
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)?;
        Ok(ReceiveSocket { fd })
    }

    pub fn local_port(&self) -> io::Result<u16> {
        let addr = self.fd.get_ref().local_addr()?;
        addr.as_socket()
            .map(|a| a.port())
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
    }

    /// The next datagram, with its interface and hop limit.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        recv_ready(&self.fd, buf).await
    }
}

/// One session's sending socket.
pub struct SendSocket {
    sock: Socket,
    port: u16,
    /// The neighbour it is connected to, if `connect` succeeded.
    peer: Option<SocketAddrV6>,
}

impl SendSocket {
    /// Bind the first free port of [`SOURCE_PORTS`] from `first` on
    /// (wrapping around), with hop limit 255.
    pub fn bind(first: u16) -> io::Result<SendSocket> {
        let sock = udp6()?;
        sock.set_unicast_hops_v6(u32::from(HOP_LIMIT))?;
        sock.set_recv_buffer_size(SEND_SOCKET_RECV_BUFFER)?;
        let (low, high) = (*SOURCE_PORTS.start(), *SOURCE_PORTS.end());
        let first = first.clamp(low, high);
        let ports = (first..=high).chain(low..first);
        for port in ports {
            let addr = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0));
            match sock.bind(&addr.into()) {
                Ok(()) => return Ok(SendSocket { sock, port, peer: None }),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every BFD source port (49152-65535) is in use",
        ))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connect to the session's neighbour: the kernel looks its route up
    /// once, not for every packet (with hundreds of interfaces, fe80::/64
    /// has as many routes, and that lookup was the largest cost of a send),
    /// and picks the source link-local once.
    pub fn connect(&mut self, to: SocketAddrV6) -> io::Result<()> {
        self.sock.connect(&SocketAddr::V6(to).into())?;
        self.peer = Some(to);
        Ok(())
    }

    /// Send without waiting: a full socket buffer loses this packet (the
    /// next is due within an interval), it never delays the other sessions.
    /// `to` carries the interface as its scope id.
    pub fn try_send(&self, to: SocketAddrV6, bytes: &[u8]) -> io::Result<()> {
        if self.peer != Some(to) {
            return self.sock.send_to(bytes, &SocketAddr::V6(to).into()).map(|_| ());
        }
        match self.sock.send(bytes) {
            // A connected socket reports a port unreachable (a neighbour
            // that runs no BFD) on the next send, which it fails: once more.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => self.sock.send(bytes).map(|_| ()),
            sent => sent.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_packet_sent_to_loopback_arrives_with_hop_limit_255_and_its_interface() {
        let rx = ReceiveSocket::bind(0).unwrap();
        let port = rx.local_port().unwrap();
        let tx = SendSocket::bind(*SOURCE_PORTS.start()).unwrap();
        assert!(SOURCE_PORTS.contains(&tx.port()));
        let lo = nix::net::if_::if_nametoindex("lo").unwrap();
        tx.try_send(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, lo), b"bfd")
            .unwrap();
        let mut buf = [0u8; 64];
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv(&mut buf))
            .await
            .expect("a datagram within 5 s")
            .unwrap();
        assert_eq!(&buf[..got.len], b"bfd");
        assert_eq!(
            (got.src, got.ifindex, got.hop_limit),
            (Ipv6Addr::LOCALHOST, lo, HOP_LIMIT)
        );
    }

    #[tokio::test]
    async fn a_connected_socket_sends_to_its_peer_and_a_port_unreachable_loses_no_packet() {
        let lo = nix::net::if_::if_nametoindex("lo").unwrap();
        // Nobody listens here: each packet draws a port unreachable.
        let closed = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let nobody = SocketAddrV6::new(Ipv6Addr::LOCALHOST, closed.local_addr().unwrap().port(), 0, lo);
        drop(closed);
        let mut tx = SendSocket::bind(*SOURCE_PORTS.start()).unwrap();
        tx.connect(nobody).unwrap();
        for _ in 0..3 {
            tx.try_send(nobody, b"bfd").unwrap();
        }
        let rx = ReceiveSocket::bind(0).unwrap();
        let to = SocketAddrV6::new(Ipv6Addr::LOCALHOST, rx.local_port().unwrap(), 0, lo);
        let mut tx = SendSocket::bind(*SOURCE_PORTS.start()).unwrap();
        tx.connect(to).unwrap();
        tx.try_send(to, b"bfd").unwrap();
        let mut buf = [0u8; 64];
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv(&mut buf))
            .await
            .expect("a datagram within 5 s")
            .unwrap();
        assert_eq!((&buf[..got.len], got.hop_limit), (&b"bfd"[..], HOP_LIMIT));
    }

    #[test]
    fn a_taken_source_port_is_skipped() {
        let first = SendSocket::bind(65535).unwrap();
        let second = SendSocket::bind(first.port()).unwrap();
        assert_ne!(first.port(), second.port());
        assert!(SOURCE_PORTS.contains(&second.port()));
    }
}
