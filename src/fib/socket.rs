//! The FIB's netlink socket: requests packed in batches, each closed by a
//! barrier (see `frame`), the kernel's answers matched back to them, and
//! dumps of our routes and of the links. The FIB task (`super`) owns one.

use std::io;
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REPLACE, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::Socket;
use netlink_sys::protocols::NETLINK_ROUTE;
use nix::sys::socket::{setsockopt, sockopt};
use tokio::io::unix::AsyncFd;
use tracing::{debug, warn};

use super::frame::{self, KernelError};
use super::message::{
    KernelRoute, Placement, delete_request, dump_request, link_dump_request, link_from_msg, ours_from_msg,
    replace_request,
};
use super::reconcile::{Links, Op};

/// Requests packed into one datagram at most: their errors must fit in
/// the receive buffer even if all fail (about 1 KiB of buffer each).
pub(super) const MAX_BATCH: usize = 1024;
/// Bytes packed into one datagram before closing it (the kernel refuses a
/// datagram larger than the socket's send buffer, 208 KiB by default).
const MAX_BATCH_BYTES: usize = 96 * 1024;
/// Receive buffer asked for (SO_RCVBUFFORCE, we have CAP_NET_ADMIN anyway).
const RECV_BUFFER: usize = 8 << 20;
/// One received datagram: dump replies come in datagrams of at most 32 KiB.
const DATAGRAM: usize = 64 * 1024;
/// How long the kernel may take to answer a batch or a dump datagram.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Dumps interrupted by concurrent changes (NLM_F_DUMP_INTR) in a row
/// before giving up.
const MAX_DUMP_ATTEMPTS: usize = 5;

/// The kernel's answers to one `execute`.
pub(super) struct Executed {
    /// Per op: None if done.
    pub errors: Vec<Option<KernelError>>,
    /// Some replies were lost: an op without an error may have failed.
    pub lost: bool,
}

/// What one receive got.
enum Received {
    /// A datagram, in `Conn::datagram`.
    Datagram,
    /// Replies were dropped (ENOBUFS) or cut (a datagram larger than our
    /// buffer).
    Lost,
}

/// The FIB's own rtnetlink socket: no multicast groups, only the answers
/// to our requests.
pub(super) struct Conn {
    fd: AsyncFd<Socket>,
    seq: u32,
    outgoing: Vec<u8>,
    datagram: Vec<u8>,
}

impl Conn {
    pub(super) fn open() -> io::Result<Conn> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.set_non_blocking(true)?;
        // Options that older kernels lack only make errors longer or dumps
        // unfiltered (ours_from_msg filters anyway): not fatal.
        if let Err(e) = socket.set_cap_ack(true) {
            debug!("fib: NETLINK_CAP_ACK: {e}");
        }
        if let Err(e) = socket.set_ext_ack(true) {
            debug!("fib: NETLINK_EXT_ACK: {e}");
        }
        if let Err(e) = socket.set_netlink_get_strict_chk(true) {
            debug!("fib: NETLINK_GET_STRICT_CHK: {e}");
        }
        if setsockopt(&socket, sockopt::RcvBufForce, &RECV_BUFFER).is_err() {
            socket.set_rx_buf_sz(RECV_BUFFER as libc::c_int)?;
        }
        // SAFETY: the netlink `Socket` owns its descriptor, keeps it open
        // and unchanged until dropped, and the AsyncFd owns the Socket.
        let fd = unsafe { AsyncFd::register(socket) }.map_err(|e| e.into_parts().1)?;
        Ok(Conn {
            fd,
            seq: 0,
            outgoing: Vec::with_capacity(MAX_BATCH_BYTES + 4096),
            datagram: Vec::with_capacity(DATAGRAM),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Send `outgoing` as one datagram. The kernel handles every request
    /// in it before send() returns.
    async fn send(&self) -> io::Result<()> {
        loop {
            let mut ready = self.fd.writable().await?;
            match ready.try_io(|fd| fd.get_ref().send(&self.outgoing, 0)) {
                Ok(Ok(n)) if n == self.outgoing.len() => return Ok(()),
                Ok(Ok(n)) => return Err(io::Error::other(format!("short send: {n} of {}", self.outgoing.len()))),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one datagram into `datagram`, waiting at most REPLY_TIMEOUT.
    async fn recv(&mut self) -> io::Result<Received> {
        tokio::time::timeout(REPLY_TIMEOUT, self.recv_forever())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer from the kernel"))?
    }

    async fn recv_forever(&mut self) -> io::Result<Received> {
        let fd = &self.fd;
        let datagram = &mut self.datagram;
        loop {
            let mut ready = fd.readable().await?;
            datagram.clear();
            // MSG_TRUNC: the datagram's real length, to notice a cut one.
            match ready.try_io(|fd| fd.get_ref().recv(datagram, libc::MSG_TRUNC)) {
                Ok(Ok(len)) if len > datagram.len() => return Ok(Received::Lost),
                Ok(Ok(_)) => return Ok(Received::Datagram),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Received::Lost),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Send `ops` in batches and collect the kernel's answers.
    pub(super) async fn execute(&mut self, ops: &[Op], at: Placement) -> io::Result<Executed> {
        let mut errors = vec![None; ops.len()];
        let mut lost = false;
        let mut start = 0;
        while start < ops.len() {
            self.outgoing.clear();
            let first_seq = self.seq.wrapping_add(1);
            let mut end = start;
            while end < ops.len() && end - start < MAX_BATCH && self.outgoing.len() < MAX_BATCH_BYTES {
                let seq = self.next_seq();
                match &ops[end] {
                    Op::Replace { prefix, nexthops } => frame::push(
                        &mut self.outgoing,
                        replace_request(*prefix, nexthops, at),
                        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
                        seq,
                    ),
                    Op::Delete { prefix, metric } => frame::push(
                        &mut self.outgoing,
                        delete_request(*prefix, at.table, *metric),
                        NLM_F_REQUEST,
                        seq,
                    ),
                }
                end += 1;
            }
            let barrier = self.next_seq();
            frame::push_barrier(&mut self.outgoing, barrier);
            self.send().await?;
            lost |= self.await_barrier(barrier, first_seq, &mut errors[start..end]).await?;
            start = end;
            // send() kept this thread busy while the kernel worked.
            tokio::task::yield_now().await;
        }
        Ok(Executed { errors, lost })
    }

    /// Read answers until the ack of `barrier`; errors for the requests
    /// numbered from `first_seq` go into `errors`. True if replies were
    /// lost on the way.
    async fn await_barrier(
        &mut self,
        mut barrier: u32,
        first_seq: u32,
        errors: &mut [Option<KernelError>],
    ) -> io::Result<bool> {
        let mut lost = false;
        loop {
            if let Received::Lost = self.recv().await? {
                // The barrier's ack may be among the lost: ask again.
                lost = true;
                barrier = self.next_seq();
                self.outgoing.clear();
                frame::push_barrier(&mut self.outgoing, barrier);
                self.send().await?;
                continue;
            }
            let (frames, cut) = frame::split(&self.datagram);
            lost |= cut;
            let mut done = false;
            for f in frames.iter().filter(|f| f.kind == NLMSG_ERROR) {
                if f.seq == barrier {
                    done = true;
                } else if let Some(slot) = errors.get_mut(f.seq.wrapping_sub(first_seq) as usize) {
                    *slot = frame::error_of(f);
                }
            }
            if done {
                return Ok(lost);
            }
        }
    }

    pub(super) async fn dump_routes(&mut self, table: u32) -> io::Result<Vec<KernelRoute>> {
        let mut routes = Vec::new();
        for ipv6 in [false, true] {
            routes.extend(
                self.dump(dump_request(ipv6, table), |msg| match msg {
                    RouteNetlinkMessage::NewRoute(m) => ours_from_msg(&m, table),
                    _ => None,
                })
                .await?,
            );
        }
        Ok(routes)
    }

    pub(super) async fn dump_links(&mut self) -> io::Result<Links> {
        let links = self
            .dump(link_dump_request(), |msg| match msg {
                RouteNetlinkMessage::NewLink(m) => link_from_msg(&m),
                _ => None,
            })
            .await?;
        Ok(Links::new(links))
    }

    /// Run a dump, keeping what `read` returns, again if the kernel marks
    /// it interrupted by a change. A lost or cut reply fails it (the socket
    /// is then reopened: a dump still running would refuse a new one).
    async fn dump<T>(
        &mut self,
        request: RouteNetlinkMessage,
        mut read: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        for _ in 0..MAX_DUMP_ATTEMPTS {
            let seq = self.next_seq();
            self.outgoing.clear();
            frame::push(&mut self.outgoing, request.clone(), NLM_F_REQUEST | NLM_F_DUMP, seq);
            self.send().await?;
            let mut items = Vec::new();
            let mut interrupted = false;
            let mut undecodable = (0, String::new());
            'datagrams: loop {
                if let Received::Lost = self.recv().await? {
                    return Err(io::Error::other("dump replies lost (ENOBUFS or truncated)"));
                }
                let (frames, cut) = frame::split(&self.datagram);
                if cut {
                    return Err(io::Error::other("malformed dump reply"));
                }
                for f in frames.iter().filter(|f| f.seq == seq) {
                    interrupted |= f.flags & NLM_F_DUMP_INTR != 0;
                    match f.kind {
                        NLMSG_DONE => match frame::done_error(f) {
                            Some(e) => return Err(io::Error::other(format!("dump failed: {e}"))),
                            None => break 'datagrams,
                        },
                        NLMSG_ERROR => {
                            if let Some(e) = frame::error_of(f) {
                                return Err(io::Error::other(format!("dump refused: {e}")));
                            }
                        }
                        _ => match NetlinkMessage::<RouteNetlinkMessage>::deserialize(f.bytes) {
                            Ok(NetlinkMessage {
                                payload: NetlinkPayload::InnerMessage(m),
                                ..
                            }) => items.extend(read(m)),
                            Ok(_) => {}
                            Err(e) => {
                                undecodable.0 += 1;
                                if undecodable.1.is_empty() {
                                    undecodable.1 = e.to_string();
                                }
                            }
                        },
                    }
                }
            }
            if undecodable.0 > 0 {
                warn!(
                    "fib: {} dumped messages could not be decoded and were skipped (first: {})",
                    undecodable.0, undecodable.1
                );
            }
            if !interrupted {
                return Ok(items);
            }
            debug!("fib: dump interrupted by a concurrent change; dumping again");
        }
        Err(io::Error::other(format!(
            "dump interrupted {MAX_DUMP_ATTEMPTS} times in a row"
        )))
    }
}
