//! The two socket options BGP security needs that neither socket2 nor nix
//! offers: TCP-MD5 keys by address prefix (RFC 2385, Linux
//! `TCP_MD5SIG_EXT`) and the IPv6 minimum hop count (RFC 5082 GTSM,
//! `IPV6_MINHOPCOUNT`). The only `unsafe` is the `setsockopt` and
//! `getsockopt` calls, each on a value that lives across the call.
//!
//! Kernel facts these rely on (checked by the tests below, without root):
//! - A key covers a prefix of remote addresses; the most specific key that
//!   covers a segment's source is used. Matching is by address only: a
//!   link-local's scope (the interface) plays no part, so `fe80::1` on two
//!   links is one address to the key table.
//! - `TCP_MD5SIG_FLAG_IFINDEX` binds a key to an L3 master device (VRF),
//!   not to a link: with a plain interface the kernel answers EINVAL.
//! - A listener's key for a peer is copied to the socket `accept` returns,
//!   and so is its minimum hop count.
//! - With a key covering the source, a segment without a signature or with
//!   a wrong one is dropped (TCPMD5NotFound, TCPMD5Failure in
//!   /proc/net/netstat); a SYN below the minimum hop count is dropped
//!   (TCPMinTTLDrop).

use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd};

use crate::policy::TCP_MD5_KEY_MAX;

/// `TCP_MD5SIG_FLAG_PREFIX` from linux/tcp.h: `prefixlen` is valid.
const TCP_MD5SIG_FLAG_PREFIX: u8 = 0x1;
/// `TCP_MD5SIG_FLAG_IFINDEX`: `ifindex` names an L3 master device (not
/// used: we have no VRF; its test shows it cannot scope a link-local).
#[cfg(test)]
const TCP_MD5SIG_FLAG_IFINDEX: u8 = 0x2;

/// `struct tcp_md5sig` from linux/tcp.h.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; TCP_MD5_KEY_MAX],
}

/// Install `key` for the remote addresses in `prefix/prefix_len` on an
/// IPv6 TCP socket, replacing the key the prefix had; `None` deletes the
/// prefix's key (an error if it had none).
pub fn set_tcp_md5(socket: &impl AsFd, prefix: Ipv6Addr, prefix_len: u8, key: Option<&[u8]>) -> io::Result<()> {
    md5sig(socket, prefix, prefix_len, TCP_MD5SIG_FLAG_PREFIX, 0, key)
}

fn md5sig(
    socket: &impl AsFd,
    prefix: Ipv6Addr,
    prefix_len: u8,
    flags: u8,
    ifindex: u32,
    key: Option<&[u8]>,
) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > TCP_MD5_KEY_MAX || prefix_len > 128 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    // SAFETY: sockaddr_storage is larger than, and aligned for,
    // sockaddr_in6 (that is its purpose).
    let sin6 = unsafe { &mut *(&mut sig.addr as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_addr.s6_addr = prefix.octets();
    sig.flags = flags;
    sig.prefixlen = prefix_len;
    sig.keylen = key.len() as u16; // <= 80: checked above
    sig.ifindex = ifindex as libc::c_int;
    sig.key[..key.len()].copy_from_slice(key);
    set(socket, libc::IPPROTO_TCP, libc::TCP_MD5SIG_EXT, &sig)
}

/// Drop segments arriving with a hop limit below `hops` (0: accept all).
pub fn set_min_hop_count(socket: &impl AsFd, hops: u8) -> io::Result<()> {
    set(
        socket,
        libc::IPPROTO_IPV6,
        libc::IPV6_MINHOPCOUNT,
        &libc::c_int::from(hops),
    )
}

/// `setsockopt` with `value` as the option's plain C value.
fn set<T>(socket: &impl AsFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is borrowed for the call and the length given is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The socket's minimum hop count (0: none).
pub fn min_hop_count(socket: &impl AsFd) -> io::Result<u8> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` outlive the call; `len` is `value`'s size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MINHOPCOUNT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    u8::try_from(value).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

#[cfg(test)]
mod tests {
    //! On loopback TCP sockets, without root: a connection the listener
    //! must refuse is one whose handshake never completes, so each such
    //! check waits a bounded time for a handshake that must not come.

    use std::net::{SocketAddr, SocketAddrV6};
    use std::time::Duration;

    use socket2::{Domain, Protocol, Socket, Type};
    use tokio::net::{TcpListener, TcpSocket, TcpStream};

    use super::*;

    const LOOPBACK: Ipv6Addr = Ipv6Addr::LOCALHOST;
    /// Far longer than a loopback handshake (microseconds); a dropped SYN
    /// is retried only after 1 s, so a refused one cannot slip through.
    const REFUSED_WITHIN: Duration = Duration::from_millis(700);

    fn listener() -> TcpListener {
        let sock = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).unwrap();
        sock.set_nonblocking(true).unwrap();
        sock.bind(&SocketAddr::V6(SocketAddrV6::new(LOOPBACK, 0, 0, 0)).into())
            .unwrap();
        sock.listen(8).unwrap();
        TcpListener::from_std(std::net::TcpListener::from(sock)).unwrap()
    }

    /// A client socket with `key` for the loopback and the given hop limit.
    fn client(key: Option<&[u8]>, hops: u32) -> TcpSocket {
        let sock = TcpSocket::new_v6().unwrap();
        if key.is_some() {
            set_tcp_md5(&sock, LOOPBACK, 128, key).unwrap();
        }
        socket2::SockRef::from(&sock).set_unicast_hops_v6(hops).unwrap();
        sock
    }

    /// Connect and be accepted, within the bound; None if not.
    async fn handshake(listener: &TcpListener, client: TcpSocket) -> Option<(TcpStream, TcpStream)> {
        let addr = listener.local_addr().unwrap();
        let both = async { tokio::join!(client.connect(addr), listener.accept()) };
        match tokio::time::timeout(REFUSED_WITHIN, both).await {
            Ok((Ok(c), Ok((s, _)))) => Some((c, s)),
            Ok((c, s)) => panic!("connect {c:?}, accept {s:?}"),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn a_prefix_key_admits_only_signed_connections() {
        let l = listener();
        set_tcp_md5(&l, "::".parse().unwrap(), 96, Some(b"s3cret")).unwrap();
        assert!(handshake(&l, client(Some(b"s3cret"), 64)).await.is_some());
        assert!(handshake(&l, client(None, 64)).await.is_none(), "unsigned admitted");
        assert!(
            handshake(&l, client(Some(b"wrong"), 64)).await.is_none(),
            "wrong key admitted"
        );
    }

    #[tokio::test]
    async fn the_most_specific_key_wins_and_a_deleted_key_is_gone() {
        let l = listener();
        set_tcp_md5(&l, "::".parse().unwrap(), 96, Some(b"wide")).unwrap();
        set_tcp_md5(&l, LOOPBACK, 128, Some(b"narrow")).unwrap();
        assert!(handshake(&l, client(Some(b"wide"), 64)).await.is_none());
        assert!(handshake(&l, client(Some(b"narrow"), 64)).await.is_some());
        // Replaced in place.
        set_tcp_md5(&l, LOOPBACK, 128, Some(b"newer")).unwrap();
        assert!(handshake(&l, client(Some(b"newer"), 64)).await.is_some());
        set_tcp_md5(&l, LOOPBACK, 128, None).unwrap();
        assert!(handshake(&l, client(Some(b"wide"), 64)).await.is_some());
        set_tcp_md5(&l, "::".parse().unwrap(), 96, None).unwrap();
        assert!(handshake(&l, client(None, 64)).await.is_some());
        // Deleting what is not there is an error, not a silent success.
        assert!(set_tcp_md5(&l, LOOPBACK, 128, None).is_err());
    }

    #[tokio::test]
    async fn an_accepted_socket_keeps_its_key() {
        let l = listener();
        set_tcp_md5(&l, LOOPBACK, 128, Some(b"s3cret")).unwrap();
        let (mut c, mut s) = handshake(&l, client(Some(b"s3cret"), 64)).await.unwrap();
        // The listener's key goes; the connection still signs and checks.
        set_tcp_md5(&l, LOOPBACK, 128, None).unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        c.write_all(b"open").await.unwrap();
        let mut buf = [0; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"open");
        // The accepted socket holds its own key: deleting it succeeds.
        set_tcp_md5(&s, LOOPBACK, 128, None).unwrap();
    }

    #[tokio::test]
    async fn the_ifindex_flag_is_for_vrf_devices_not_links() {
        let l = listener();
        // ifindex 1 is the loopback: a link, not an L3 master device.
        let err = md5sig(
            &l,
            "fe80::".parse().unwrap(),
            10,
            TCP_MD5SIG_FLAG_PREFIX | TCP_MD5SIG_FLAG_IFINDEX,
            1,
            Some(b"k"),
        )
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        // Without it, the link-local range takes a key.
        set_tcp_md5(&l, "fe80::".parse().unwrap(), 10, Some(b"k")).unwrap();
        assert!(set_tcp_md5(&l, LOOPBACK, 129, Some(b"k")).is_err());
        assert!(set_tcp_md5(&l, LOOPBACK, 128, Some(&[b'k'; 81])).is_err());
    }

    #[tokio::test]
    async fn min_hop_count_drops_low_hop_limits_and_is_inherited() {
        let l = listener();
        set_min_hop_count(&l, 255).unwrap();
        assert_eq!(min_hop_count(&l).unwrap(), 255);
        assert!(
            handshake(&l, client(None, 254)).await.is_none(),
            "hop limit 254 admitted"
        );
        let (_c, s) = handshake(&l, client(None, 255)).await.unwrap();
        assert_eq!(min_hop_count(&s).unwrap(), 255, "the accepted socket keeps it");
        set_min_hop_count(&l, 0).unwrap();
        assert!(handshake(&l, client(None, 1)).await.is_some());
    }
}
