//! The raw ICMPv6 socket that carries Neighbor Discovery and our probes.
//!
//! One socket serves every configured interface: each received packet comes
//! with its interface index and hop limit (IPV6_RECVPKTINFO,
//! IPV6_RECVHOPLIMIT), and each sent packet names its interface and source
//! address (IPV6_PKTINFO). The kernel fills and checks the ICMPv6 checksum.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, sendmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::packet::ALL_ROUTERS;

/// ICMPv6 types we let through the kernel filter: the ND ones (RFC 4861
/// 4.1-4.4) and echo replies, the answers to our probes (`echo.rs`).
const PASSED_TYPES: [u8; 5] = [133, 134, 135, 136, super::echo::ECHO_REPLY];

/// ND requires hop limit 255 on send so receivers can tell the packet was
/// not forwarded (RFC 4861 6.1, 7.1): the one the parser checks for.
const ND_HOP_LIMIT: u32 = super::packet::ND_HOP_LIMIT as u32;

/// A packet as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub ifindex: u32,
    pub hop_limit: u8,
}

pub struct IcmpSocket {
    fd: AsyncFd<Socket>,
}

/// `struct icmp6_filter` from <netinet/icmp6.h>: a set bit blocks a type.
#[repr(C)]
struct Icmp6Filter {
    data: [u32; 8],
}

const ICMP6_FILTER: libc::c_int = 1;

/// Block every ICMPv6 type but ND and echo replies, so the daemon never
/// wakes for echo requests (the kernel answers them) or MLD.
fn set_nd_filter(sock: &Socket) -> io::Result<()> {
    let mut filter = Icmp6Filter { data: [u32::MAX; 8] };
    for t in PASSED_TYPES {
        filter.data[usize::from(t >> 5)] &= !(1u32 << (t & 31));
    }
    // SAFETY: the pointer and length describe a live, properly sized
    // icmp6_filter for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_ICMPV6,
            ICMP6_FILTER,
            (&filter as *const Icmp6Filter).cast(),
            std::mem::size_of::<Icmp6Filter>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl IcmpSocket {
    pub fn open() -> io::Result<Self> {
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        sock.set_nonblocking(true)?;
        set_nd_filter(&sock)?;
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)?;
        setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true)?;
        sock.set_unicast_hops_v6(ND_HOP_LIMIT)?;
        // The default multicast hop limit is 1: ND to ff02::1 must be 255.
        sock.set_multicast_hops_v6(ND_HOP_LIMIT)?;
        // Our own multicast RAs must not come back to us as a "neighbour".
        sock.set_multicast_loop_v6(false)?;
        // SAFETY: `Socket` owns its descriptor and keeps it open, unchanged,
        // for as long as the AsyncFd owns the Socket.
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)?;
        Ok(IcmpSocket { fd })
    }

    /// Join the all-routers group on an interface so RSs reach us (the host
    /// is already in all-nodes). Joining twice is not an error.
    pub fn join(&self, ifindex: u32) -> io::Result<()> {
        match self.fd.get_ref().join_multicast_v6(&ALL_ROUTERS, ifindex) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(()),
            other => other,
        }
    }

    /// Leave the group; an interface that is gone has left it already.
    pub fn leave(&self, ifindex: u32) {
        let _ = self.fd.get_ref().leave_multicast_v6(&ALL_ROUTERS, ifindex);
    }

    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        recv_ready(&self.fd, buf).await
    }

    /// Send an ICMPv6 message out of `ifindex` from `src` to `dst`.
    pub async fn send(&self, ifindex: u32, src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|inner| send_once(inner.get_ref(), ifindex, src, dst, msg)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// The next datagram on `fd` ([`recv_once`] once it is readable), with
/// its interface and hop limit; the BFD socket (`bfd/socket.rs`) reads the
/// same way.
pub async fn recv_ready(fd: &AsyncFd<Socket>, buf: &mut [u8]) -> io::Result<Received> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|inner| recv_once(inner.get_ref(), buf)) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

/// One datagram from a socket with IPV6_RECVPKTINFO and IPV6_RECVHOPLIMIT
/// set, without waiting.
fn recv_once(sock: &Socket, buf: &mut [u8]) -> io::Result<Received> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
    let msg = recvmsg::<SockaddrIn6>(
        sock.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let src = msg.address.map(|a| a.ip()).unwrap_or(Ipv6Addr::UNSPECIFIED);
    let mut received = Received {
        len: msg.bytes,
        src,
        dst: Ipv6Addr::UNSPECIFIED,
        ifindex: 0,
        hop_limit: 0,
    };
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                received.dst = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                received.ifindex = info.ipi6_ifindex;
            }
            ControlMessageOwned::Ipv6HopLimit(h) => {
                received.hop_limit = u8::try_from(h).unwrap_or(0);
            }
            _ => {}
        }
    }
    Ok(received)
}

fn send_once(sock: &Socket, ifindex: u32, src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> io::Result<()> {
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr { s6_addr: src.octets() },
        ipi6_ifindex: ifindex,
    };
    let cmsgs = [ControlMessage::Ipv6PacketInfo(&info)];
    let to = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, ifindex));
    let iov = [IoSlice::new(msg)];
    sendmsg(sock.as_fd().as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), Some(&to)).map_err(io::Error::from)?;
    Ok(())
}
