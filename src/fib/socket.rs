//! The FIB's netlink socket: requests packed in batches, each closed by a
//! barrier (see `frame`), the kernel's answers matched back to them, and
//! dumps of our routes and of the links. The FIB task (`super`) owns one.

use std::io;
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::Socket;
use netlink_sys::protocols::NETLINK_ROUTE;
use nix::sys::socket::{setsockopt, sockopt};
use tokio::io::unix::AsyncFd;
use tracing::{debug, warn};

use super::frame::{self, Frame, KernelError};
use super::message::{
    KernelRoute, Placement, Short, dump_request, link_dump_request, link_from_msg, ours_from_msg, push_short,
    replace_request,
};
use super::nexthop::{KernelNexthop, NhOp};
use super::nexthop_msg;
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

/// The next request number after `seq`, which it becomes.
fn next_seq(seq: &mut u32) -> u32 {
    *seq = seq.wrapping_add(1);
    *seq
}

/// A request the socket sends in batches: a route or a nexthop object.
pub(super) trait Request {
    /// Append it as message `seq`.
    fn push(&self, out: &mut Vec<u8>, at: Placement, seq: u32);
}

impl Request for Op {
    fn push(&self, out: &mut Vec<u8>, at: Placement, seq: u32) {
        match self {
            Op::Replace {
                prefix,
                nexthops,
                object,
                create_only,
            } => {
                let how = if *create_only { NLM_F_EXCL } else { NLM_F_REPLACE };
                let flags = NLM_F_REQUEST | NLM_F_CREATE | how;
                match object {
                    Some(id) => push_short(out, Short::NewVia(*id), *prefix, at, flags, seq),
                    None => frame::push(out, replace_request(*prefix, nexthops, None, at), flags, seq),
                }
            }
            Op::Delete { prefix, metric } => {
                let at = Placement {
                    table: at.table,
                    metric: *metric,
                };
                push_short(out, Short::Delete, *prefix, at, NLM_F_REQUEST, seq)
            }
        }
    }
}

impl Request for NhOp {
    fn push(&self, out: &mut Vec<u8>, _: Placement, seq: u32) {
        nexthop_msg::push_request(out, self, seq);
    }
}

/// Fill `out` with the requests of the first of `ops`, numbered on from
/// `seq`, until a datagram is full: [`MAX_BATCH`] requests, or past
/// [`MAX_BATCH_BYTES`]. Returns how many it took: at least one, unless
/// `ops` is empty.
fn pack_batch(out: &mut Vec<u8>, ops: &[impl Request], at: Placement, seq: &mut u32) -> usize {
    out.clear();
    let mut packed = 0;
    for op in ops.iter().take(MAX_BATCH) {
        if out.len() >= MAX_BATCH_BYTES {
            break;
        }
        op.push(out, at, next_seq(seq));
        packed += 1;
    }
    packed
}

/// File the errors among `frames` under the requests they answer, those
/// numbered from `first_seq` (wrapping) in `errors`. True when the ack of
/// `barrier` is among them: every request before it has been answered.
fn file_answers(frames: &[Frame<'_>], barrier: u32, first_seq: u32, errors: &mut [Option<KernelError>]) -> bool {
    let mut done = false;
    for f in frames.iter().filter(|f| f.kind == NLMSG_ERROR) {
        if f.seq == barrier {
            done = true;
        } else if let Some(slot) = errors.get_mut(f.seq.wrapping_sub(first_seq) as usize) {
            *slot = frame::error_of(f);
        }
    }
    done
}

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
        next_seq(&mut self.seq)
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
    pub(super) async fn execute(&mut self, ops: &[impl Request], at: Placement) -> io::Result<Executed> {
        let mut errors = vec![None; ops.len()];
        let mut lost = false;
        let mut start = 0;
        while start < ops.len() {
            let first_seq = self.seq.wrapping_add(1);
            let end = start + pack_batch(&mut self.outgoing, &ops[start..], at, &mut self.seq);
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
            if file_answers(&frames, barrier, first_seq, errors) {
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

    /// Every nexthop object (all protocols: the ids others hold matter
    /// too). A kernel without them refuses: the error has its errno.
    pub(super) async fn dump_nexthops(&mut self) -> io::Result<Vec<KernelNexthop>> {
        self.dump_frames(nexthop_msg::push_dump, |f| Ok(nexthop_msg::nexthop_from_frame(f)))
            .await
    }

    /// Run a dump, keeping what `read` returns.
    async fn dump<T>(
        &mut self,
        request: RouteNetlinkMessage,
        mut read: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        let push = |out: &mut Vec<u8>, seq| frame::push(out, request.clone(), NLM_F_REQUEST | NLM_F_DUMP, seq);
        self.dump_frames(push, |f| {
            match NetlinkMessage::<RouteNetlinkMessage>::deserialize(f.bytes) {
                Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(m),
                    ..
                }) => Ok(read(m)),
                Ok(_) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    }

    /// Run a dump that `push` asks for, keeping what `read` makes of each
    /// message, again if the kernel marks it interrupted by a change. A
    /// lost or cut reply fails it (the socket is then reopened: a dump
    /// still running would refuse a new one).
    async fn dump_frames<T>(
        &mut self,
        push: impl Fn(&mut Vec<u8>, u32),
        mut read: impl FnMut(&Frame<'_>) -> Result<Option<T>, String>,
    ) -> io::Result<Vec<T>> {
        for _ in 0..MAX_DUMP_ATTEMPTS {
            let seq = self.next_seq();
            self.outgoing.clear();
            push(&mut self.outgoing, seq);
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
                                // The errno itself: the caller may expect it
                                // (a kernel without nexthop objects).
                                return Err(io::Error::from_raw_os_error(e.errno));
                            }
                        }
                        _ => match read(f) {
                            Ok(item) => items.extend(item),
                            Err(e) => {
                                undecodable.0 += 1;
                                if undecodable.1.is_empty() {
                                    undecodable.1 = e;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_util::{error_reply, net, nh, set};
    use super::super::types::FibNextHop;
    use super::*;

    const MAIN: Placement = Placement { table: 254, metric: 20 };

    fn deletes(n: u32) -> Vec<Op> {
        (0..n)
            .map(|i| Op::Delete {
                prefix: net(&format!("10.{}.{}.0/24", i / 256, i % 256)),
                metric: 20,
            })
            .collect()
    }

    fn seqs(datagram: &[u8]) -> Vec<u32> {
        let (frames, cut) = frame::split(datagram);
        assert!(!cut);
        frames.iter().map(|f| f.seq).collect()
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_requests() {
        let ops = deletes(1500);
        let mut out = Vec::new();
        let mut seq = 10;
        assert_eq!(pack_batch(&mut out, &ops, MAIN, &mut seq), MAX_BATCH);
        assert!(out.len() < MAX_BATCH_BYTES, "the count limit came first");
        assert_eq!(seqs(&out), (11..11 + MAX_BATCH as u32).collect::<Vec<_>>());
        assert_eq!(seq, 10 + MAX_BATCH as u32);
        // The next batch takes the rest, in a cleared buffer.
        assert_eq!(
            pack_batch(&mut out, &ops[MAX_BATCH..], MAIN, &mut seq),
            1500 - MAX_BATCH
        );
        assert_eq!(seqs(&out).first(), Some(&(11 + MAX_BATCH as u32)));
        assert_eq!(pack_batch(&mut out, &[] as &[Op], MAIN, &mut seq), 0);
        assert!(out.is_empty());
    }

    /// A route we do not hold is added with NLM_F_EXCL: another daemon's
    /// route at our metric is refused (EEXIST), never replaced.
    #[test]
    fn only_our_own_routes_are_replaced() {
        let a = set(&[nh(1, "fe80::1")]);
        let op = |create_only| Op::Replace {
            prefix: net("10.0.0.0/24"),
            nexthops: Arc::clone(&a),
            object: None,
            create_only,
        };
        let mut out = Vec::new();
        let mut seq = 0;
        let flags = |out: &[u8]| u16::from_ne_bytes([out[6], out[7]]);
        pack_batch(&mut out, &[op(true)], MAIN, &mut seq);
        assert_eq!(flags(&out), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
        pack_batch(&mut out, &[op(false)], MAIN, &mut seq);
        assert_eq!(flags(&out), NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE);
    }

    #[test]
    fn a_batch_closes_once_past_max_batch_bytes() {
        let wide: Vec<FibNextHop> = (1..=64).map(|i| nh(i, &format!("fe80::{i:x}"))).collect();
        let wide = set(&wide);
        let ops: Vec<Op> = (0..200u32)
            .map(|i| Op::Replace {
                prefix: net(&format!("2001:db8:{i:x}::/48")),
                nexthops: Arc::clone(&wide),
                object: None,
                create_only: i % 2 == 0,
            })
            .collect();
        let mut out = Vec::new();
        let mut seq = 0;
        let packed = pack_batch(&mut out, &ops, MAIN, &mut seq);
        assert!(packed > 1 && packed < ops.len(), "{packed}");
        assert_eq!(seqs(&out).len(), packed);
        assert!(out.len() >= MAX_BATCH_BYTES);
        // The limit is checked before each request: one fewer fits under it.
        let mut fewer = Vec::new();
        pack_batch(&mut fewer, &ops[..packed - 1], MAIN, &mut 0);
        assert!(fewer.len() < MAX_BATCH_BYTES);
    }

    #[test]
    fn request_numbers_wrap() {
        let mut out = Vec::new();
        let mut seq = u32::MAX - 1;
        assert_eq!(pack_batch(&mut out, &deletes(3), MAIN, &mut seq), 3);
        assert_eq!(seqs(&out), [u32::MAX, 0, 1]);
        assert_eq!(seq, 1);
    }

    /// Files the errors of a datagram made of `replies` into three slots
    /// for the requests numbered from `first_seq`.
    fn filed(replies: &[Vec<u8>], barrier: u32, first_seq: u32) -> (Vec<Option<i32>>, bool) {
        let datagram = replies.concat();
        let (frames, _) = frame::split(&datagram);
        let mut errors = vec![None; 3];
        let done = file_answers(&frames, barrier, first_seq, &mut errors);
        (errors.into_iter().map(|e| e.map(|e| e.errno)).collect(), done)
    }

    #[test]
    fn answers_are_filed_under_their_requests() {
        let replies = [error_reply(101, libc::ENETDOWN), error_reply(102, libc::EEXIST)];
        assert_eq!(
            filed(&replies, 103, 100),
            (vec![None, Some(libc::ENETDOWN), Some(libc::EEXIST)], false)
        );
        let with_barrier = [error_reply(100, libc::ESRCH), error_reply(103, 0)];
        assert_eq!(
            filed(&with_barrier, 103, 100),
            (vec![Some(libc::ESRCH), None, None], true)
        );
    }

    #[test]
    fn answers_past_the_wrap_and_strays_are_handled() {
        // Requests u32::MAX, 0, 1; barrier 2.
        let replies = [error_reply(1, libc::ENODEV), error_reply(2, 0)];
        assert_eq!(
            filed(&replies, 2, u32::MAX),
            (vec![None, None, Some(libc::ENODEV)], true)
        );
        // An answer to an earlier batch (or a number past ours) is ignored.
        let strays = [error_reply(95, libc::EINVAL), error_reply(250, libc::EINVAL)];
        assert_eq!(filed(&strays, 103, 100), (vec![None, None, None], false));
    }
}
