//! The FIB: installs the routes BGP selected in the kernel and keeps them
//! there.
//!
//! One task owns the desired routes (prefix -> nexthops) and what it last
//! saw the kernel hold of them, and sends only the difference. Changes
//! reach it through a mailbox that keeps the latest per prefix: the RIB
//! hands over a full table without waiting for the kernel, and the kernel
//! is sent each prefix once however often it changed meanwhile. Our routes
//! are protocol bgp (186) in one table with a metric of their own (20 by
//! default, as FRR): a dump keeps only protocol bgp, a delete names
//! protocol bgp (the kernel matches it), and replacing at our own metric
//! cannot replace another protocol's route to the same prefix (the kernel
//! replaces by prefix and metric, whatever the protocol).
//!
//! Speed: requests are packed many to a datagram, without NLM_F_ACK (the
//! kernel answers only failures), each batch closed by an acknowledged
//! no-op (see `frame`), so there is no round trip per route.
//!
//! Drift: the kernel drops IPv4 routes through a link set down without any
//! RTM_DELROUTE, so nothing we could listen to tells us; `resync` dumps our
//! routes and the links and reconciles (the daemon calls it on link
//! changes). It also runs by itself when replies were lost (ENOBUFS or a
//! truncated datagram on our socket) and after the socket is reopened. A
//! nexthop through a down link cannot be installed (ENETDOWN): it is left
//! out, the route stays desired, and the next resync puts it back.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ipnet::IpNet;
use netlink_packet_core::{
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REPLACE, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::Socket;
use netlink_sys::protocols::NETLINK_ROUTE;
use nix::sys::socket::{setsockopt, sockopt};
use tokio::io::unix::AsyncFd;
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{debug, info, warn};

mod frame;
mod message;
mod reconcile;
pub mod types;

use self::frame::KernelError;
pub use self::message::RTPROT_BGP;
use self::message::{
    KernelRoute, Placement, delete_request, dump_request, link_dump_request, link_from_msg, ours_from_msg,
    replace_request,
};
use self::reconcile::{FibTable, Links, Op, Shortfall, is_normal, normalize, shortfall};
use crate::prefix_map::PrefixMap;

pub use self::types::{FibChange, FibNextHop, FibRoute, NextHops};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibConfig {
    /// Routing table (254 = main).
    pub table: u32,
    /// Route metric, not 0 (IPv6 would turn 0 into 1024). Ours alone: the
    /// kernel replaces another protocol's route at the same metric.
    pub metric: u32,
}

impl Default for FibConfig {
    fn default() -> FibConfig {
        FibConfig { table: 254, metric: 20 }
    }
}

/// What requests did to the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FibReport {
    /// Routes added or replaced.
    pub replaced: usize,
    /// Routes removed.
    pub deleted: usize,
    /// Requests the kernel refused for reasons other than a down link
    /// (logged); the route stays desired and is retried on resync.
    pub failed: usize,
    /// Routes installed without their nexthops through down links.
    pub partial: usize,
    /// Desired routes with no nexthop up: not installed until a resync
    /// finds a link up.
    pub waiting: usize,
}

impl FibReport {
    /// Add the counts of requests; `partial` and `waiting` describe the
    /// state after, and are computed again.
    fn add(&mut self, other: &FibReport) {
        self.replaced += other.replaced;
        self.deleted += other.deleted;
        self.failed += other.failed;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    #[error("fib: invalid configuration: {0}")]
    Config(String),
    #[error("fib: the FIB task has stopped")]
    Stopped,
    #[error("fib: netlink: {0}")]
    Netlink(String),
}

/// Requests packed into one datagram at most: their errors must fit in
/// the receive buffer even if all fail (about 1 KiB of buffer each).
const MAX_BATCH: usize = 1024;
/// Bytes packed into one datagram before closing it (the kernel refuses a
/// datagram larger than the socket's send buffer, 208 KiB by default).
const MAX_BATCH_BYTES: usize = 96 * 1024;
/// Prefixes planned and sent at a time: the requests of a full table are
/// never all in memory at once.
const CHUNK: usize = 8 * MAX_BATCH;
/// Receive buffer asked for (SO_RCVBUFFORCE, we have CAP_NET_ADMIN anyway).
const RECV_BUFFER: usize = 8 << 20;
/// One received datagram: dump replies come in datagrams of at most 32 KiB.
const DATAGRAM: usize = 64 * 1024;
/// How long the kernel may take to answer a batch or a dump datagram.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Dumps interrupted by concurrent changes (NLM_F_DUMP_INTR) in a row
/// before giving up.
const MAX_DUMP_ATTEMPTS: usize = 5;
/// Resyncs in a row that lost replies before leaving it to the next one.
const MAX_RESYNC_ATTEMPTS: usize = 3;

/// Start the FIB task on the current tokio runtime, in the current
/// network namespace. It first removes the protocol-bgp routes an earlier
/// run left in its table, then serves the handle. Dropping every handle
/// stops it and leaves the routes in place (`flush` removes them).
pub fn spawn(config: FibConfig) -> Result<FibHandle, FibError> {
    if config.metric == 0 {
        return Err(FibError::Config("metric 0 (IPv6 would install 1024)".into()));
    }
    if config.table == 0 {
        return Err(FibError::Config("table 0 (unspecified)".into()));
    }
    let conn = Conn::open().map_err(|e| FibError::Netlink(format!("opening a route socket: {e}")))?;
    let fib = Fib {
        at: Placement {
            table: config.table,
            metric: config.metric,
        },
        conn: Some(conn),
        table: FibTable::default(),
        links: Links::default(),
        stale: true,
        done: Ok(FibReport::default()),
    };
    let (tx, rx) = mpsc::channel(64);
    let mailbox = Arc::new(Mailbox::default());
    tokio::spawn(run(fib, rx, Arc::clone(&mailbox)));
    Ok(FibHandle { tx, mailbox })
}

/// The way to the FIB task; cheap to clone.
#[derive(Debug, Clone)]
pub struct FibHandle {
    tx: mpsc::Sender<Command>,
    mailbox: Arc<Mailbox>,
}

/// Changes waiting for the FIB task. A later change to a prefix replaces
/// an earlier one: the kernel only ever needs the latest, so a burst
/// costs one entry per prefix however long the task is busy, and whoever
/// submits never waits for the kernel.
#[derive(Debug, Default)]
struct Mailbox {
    queued: Mutex<Queued>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct Queued {
    /// Prefix -> index in `sets` of the nexthops wanted, or [`NO_ROUTE`].
    /// Four bytes a prefix, not a 16-byte pointer: during a full table's
    /// burst the mailbox holds nearly every prefix, and what it frees
    /// afterwards stays in the allocator.
    routes: PrefixMap<u32>,
    /// The sets `routes` refers to, each once per `Arc` (the RIB side
    /// interns them, so a handful).
    sets: Vec<NextHops>,
    by_pointer: HashMap<usize, u32>,
    resync: bool,
}

const NO_ROUTE: u32 = u32::MAX;

impl Queued {
    fn insert(&mut self, prefix: IpNet, nexthops: Option<NextHops>) {
        let index = match nexthops {
            None => NO_ROUTE,
            Some(set) => *self
                .by_pointer
                .entry(Arc::as_ptr(&set) as *const FibNextHop as usize)
                .or_insert_with(|| {
                    self.sets.push(set);
                    u32::try_from(self.sets.len() - 1).unwrap_or(NO_ROUTE)
                }),
        };
        self.routes.insert(prefix, index);
    }

    /// The queued routes, highest prefix first, freed as they are
    /// consumed. The kernel's trie recomputes a node's suffix length by
    /// scanning its children from the first: deleting lowest first rescans
    /// ever more empty slots. Measured with 1M /24s (tests/fib.rs,
    /// NDBGP_FIB_ROUTES=1000000), deleting half then flushing the rest
    /// took 6.0 and 25.3 s in ascending order, 2.2 and 4.0 s in
    /// descending; installs run at the same rate either way.
    fn into_routes(self) -> impl Iterator<Item = (IpNet, Option<NextHops>)> {
        let sets = self.sets;
        self.routes
            .into_iter()
            .rev()
            .map(move |(prefix, index)| (prefix, sets.get(index as usize).cloned()))
    }
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Queued> {
        // The lock is held only to move entries in or out; a panic there
        // leaves a usable map.
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Queued {
        mem::take(&mut *self.lock())
    }
}

type Reply<T> = oneshot::Sender<Result<T, FibError>>;

#[derive(Debug)]
enum Command {
    Settle(Reply<FibReport>),
    Resync(Reply<FibReport>),
    Flush(Reply<FibReport>),
    Installed(Reply<Vec<(IpNet, Vec<FibNextHop>)>>),
    Recorded(Option<IpNet>, Reply<Vec<(IpNet, NextHops)>>),
}

impl FibHandle {
    /// Queue changes for the kernel and return at once; the FIB task
    /// applies them as soon as it is free, merged with whatever else was
    /// queued meanwhile. Failures are logged and retried at the next
    /// resync.
    pub fn submit(&self, changes: impl IntoIterator<Item = FibChange>) {
        let mut queued = self.mailbox.lock();
        for change in changes {
            let (prefix, nexthops) = match change {
                FibChange::Replace(route) => (route.prefix, Some(route.nexthops)),
                FibChange::Delete(prefix) => (prefix, None),
            };
            let nexthops = nexthops.map(|n| match is_normal(&n) {
                true => n,
                false => normalize(n.to_vec()).into(),
            });
            queued.insert(prefix.trunc(), nexthops);
        }
        drop(queued);
        self.mailbox.wake.notify_one();
    }

    /// Ask for a resync (see [`FibHandle::resync`]) and return at once.
    pub fn resync_soon(&self) {
        self.mailbox.lock().resync = true;
        self.mailbox.wake.notify_one();
    }

    /// Submit changes and wait until the kernel has answered them; returns
    /// what was done since the last such call (every submit included).
    pub async fn apply(&self, changes: Vec<FibChange>) -> Result<FibReport, FibError> {
        self.submit(changes);
        self.ask(Command::Settle).await
    }

    /// Re-dump our routes and the links and reconcile: routes the kernel
    /// dropped with a link come back, nexthops through links that came up
    /// are added, through links that went down are left out. Call it on
    /// every link change.
    pub async fn resync(&self) -> Result<FibReport, FibError> {
        self.ask(Command::Resync).await
    }

    /// Remove all our routes from the kernel and forget the desired ones
    /// (at shutdown), after applying what was submitted.
    pub async fn flush(&self) -> Result<FibReport, FibError> {
        self.ask(Command::Flush).await
    }

    /// Our routes as the kernel has them now (protocol bgp in our table),
    /// by prefix, with their live nexthops (a path the kernel marks dead
    /// is left out).
    pub async fn installed(&self) -> Result<Vec<(IpNet, Vec<FibNextHop>)>, FibError> {
        self.ask(Command::Installed).await
    }

    /// Our routes equal to or inside `within` (all without it) as the
    /// kernel acknowledged them, after applying what was submitted: the
    /// record that resyncs (link changes, lost replies) keep true to the
    /// kernel, without a dump of the whole table.
    pub async fn recorded(&self, within: Option<IpNet>) -> Result<Vec<(IpNet, NextHops)>, FibError> {
        self.ask(|reply| Command::Recorded(within, reply)).await
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, FibError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(command(reply)).await.map_err(|_| FibError::Stopped)?;
        answer.await.map_err(|_| FibError::Stopped)?
    }
}

/// A FIB without the kernel, for tests of the tasks that feed it.
#[cfg(test)]
impl FibHandle {
    /// A handle no task serves: changes stay in its mailbox for
    /// [`FibHandle::take_submitted`]; requests answer [`FibError::Stopped`].
    pub(crate) fn detached() -> FibHandle {
        let (tx, _) = mpsc::channel(1);
        FibHandle {
            tx,
            mailbox: Arc::default(),
        }
    }

    /// The changes submitted since the last call, the latest per prefix
    /// (no next hops: delete).
    pub(crate) fn take_submitted(&self) -> Vec<(IpNet, Option<NextHops>)> {
        self.mailbox.take().into_routes().collect()
    }
}

async fn run(mut fib: Fib, mut commands: mpsc::Receiver<Command>, mailbox: Arc<Mailbox>) {
    match fib.resync().await {
        Ok(r) if r.deleted > 0 => info!("fib: removed {} routes left by an earlier run", r.deleted),
        Ok(_) => {}
        Err(e) => warn!("{e} (cleaning up at start; retried with the next request)"),
    }
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else {
                    debug!("fib: all handles dropped, stopping");
                    return;
                };
                // What was submitted before the command comes first.
                fib.drain(&mailbox).await;
                match command {
                    Command::Settle(reply) => {
                        let _ = reply.send(mem::replace(&mut fib.done, Ok(FibReport::default())));
                    }
                    Command::Resync(reply) => {
                        let _ = reply.send(fib.resync().await);
                    }
                    Command::Flush(reply) => {
                        let _ = reply.send(fib.flush().await);
                    }
                    Command::Installed(reply) => {
                        let _ = reply.send(fib.dump_installed().await);
                    }
                    Command::Recorded(within, reply) => {
                        let _ = reply.send(fib.recorded(within).await);
                    }
                }
            }
            () = mailbox.wake.notified() => fib.drain(&mailbox).await,
        }
    }
}

struct Fib {
    at: Placement,
    /// None after a socket failure: reopened by the next request.
    conn: Option<Conn>,
    /// What we want installed, and what the kernel last had of ours at our
    /// metric (by live nexthops), kept current from its answers.
    table: FibTable,
    links: Links,
    /// The installed state cannot be trusted (replies lost, socket
    /// reopened, start): resync before the next change.
    stale: bool,
    /// What submitted changes did since the last `Settle`.
    done: Result<FibReport, FibError>,
}

impl Fib {
    /// The socket, reopened (and the state marked stale) if it failed.
    fn conn(&mut self) -> Result<&mut Conn, FibError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                self.stale = true;
                Conn::open().map_err(|e| FibError::Netlink(format!("reopening the route socket: {e}")))?
            }
        };
        Ok(self.conn.insert(conn))
    }

    /// A socket error: drop the socket, the next request reopens it.
    fn failed(&mut self, what: &str, e: io::Error) -> FibError {
        self.conn = None;
        self.stale = true;
        warn!("fib: netlink: {what}: {e}; the socket will be reopened and the kernel re-dumped");
        FibError::Netlink(format!("{what}: {e}"))
    }

    /// Apply what is queued in the mailbox, if anything.
    async fn drain(&mut self, mailbox: &Mailbox) {
        let queued = mailbox.take();
        if queued.routes.is_empty() && !queued.resync {
            return;
        }
        let resync = queued.resync;
        let result = self.apply(queued.into_routes(), resync).await;
        match (&mut self.done, result) {
            (Ok(done), Ok(report)) => {
                done.add(&report);
                done.partial = report.partial;
                done.waiting = report.waiting;
            }
            (Ok(_), Err(e)) => {
                warn!("{e}; retried at the next resync");
                self.done = Err(e);
            }
            (Err(_), Err(e)) => warn!("{e}; retried at the next resync"),
            (Err(_), Ok(_)) => {}
        }
    }

    /// Take `routes` as wanted and bring the kernel to them, a chunk at a
    /// time: the drained map is freed as it is consumed, so a full table
    /// is never held twice.
    async fn apply(
        &mut self,
        mut routes: impl Iterator<Item = (IpNet, Option<NextHops>)>,
        resync: bool,
    ) -> Result<FibReport, FibError> {
        if resync || self.stale || self.conn.is_none() {
            // A full resync covers these changes too.
            self.want(routes);
            return self.resync().await;
        }
        let mut report = FibReport::default();
        let mut short = Shortfall::default();
        loop {
            let chunk: Vec<(IpNet, Option<NextHops>)> = routes.by_ref().take(CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            let mut new_link = false;
            for (prefix, nexthops) in &chunk {
                self.table.set_wanted(*prefix, nexthops.as_deref());
                new_link |= nexthops
                    .iter()
                    .flat_map(|n| n.iter())
                    .any(|nh| !self.links.knows(nh.ifindex));
            }
            if new_link {
                self.refresh_links().await?;
            }
            let ops = self.plan_for(chunk.iter().map(|(prefix, _)| *prefix));
            report.add(&self.run(ops).await?);
            if self.stale {
                warn!("fib: kernel replies were lost (ENOBUFS); re-dumping to find out what was installed");
                self.want(routes);
                let mut total = self.resync().await?;
                total.add(&report);
                return Ok(total);
            }
            short.merge(self.shortfall_of(chunk.iter().map(|(prefix, _)| *prefix)));
        }
        self.note_shortfall(&mut report, short);
        Ok(report)
    }

    fn want(&mut self, routes: impl Iterator<Item = (IpNet, Option<NextHops>)>) {
        for (prefix, nexthops) in routes {
            self.table.set_wanted(prefix, nexthops.as_deref());
        }
    }

    async fn resync(&mut self) -> Result<FibReport, FibError> {
        let mut total = FibReport::default();
        for attempt in 1..=MAX_RESYNC_ATTEMPTS {
            let (links, routes) = match self.dump_kernel().await {
                Ok(dumped) => dumped,
                // The socket is reopened by the next attempt.
                Err(_) if attempt < MAX_RESYNC_ATTEMPTS => continue,
                Err(e) => return Err(e),
            };
            self.stale = false;
            self.links = links;
            let ops = self.table.resync(routes, self.at.metric, &self.links);
            for chunk in ops.chunks(CHUNK) {
                total.add(&self.run(chunk.to_vec()).await?);
            }
            if !self.stale {
                break;
            }
            if attempt == MAX_RESYNC_ATTEMPTS {
                warn!("fib: kernel replies lost in {attempt} resyncs in a row; the next request resyncs again");
            } else {
                warn!("fib: kernel replies lost during a resync (ENOBUFS); resyncing again");
            }
        }
        let short = shortfall(self.table.wanted_routes(), &self.links);
        self.note_shortfall(&mut total, short);
        if total.replaced + total.deleted + total.failed > 0 {
            info!(
                "fib: resync: {} routes replaced, {} deleted, {} refused; {} desired ({} next-hop sets)",
                total.replaced,
                total.deleted,
                total.failed,
                self.table.wanted_len(),
                self.table.sets_in_use(),
            );
        }
        Ok(total)
    }

    /// The links and our routes as the kernel has them now.
    async fn dump_kernel(&mut self) -> Result<(Links, Vec<KernelRoute>), FibError> {
        let table = self.at.table;
        let conn = self.conn()?;
        let dumped = async {
            let links = conn.dump_links().await?;
            let routes = conn.dump_routes(table).await?;
            io::Result::Ok((links, routes))
        }
        .await;
        dumped.map_err(|e| self.failed("dumping routes and links", e))
    }

    /// Remove all our routes: a resync with nothing desired.
    async fn flush(&mut self) -> Result<FibReport, FibError> {
        self.table.clear_wanted();
        let report = self.resync().await?;
        info!("fib: flushed, {} routes removed", report.deleted);
        Ok(report)
    }

    async fn recorded(&mut self, within: Option<IpNet>) -> Result<Vec<(IpNet, NextHops)>, FibError> {
        if self.stale {
            self.resync().await?;
        }
        Ok(self
            .table
            .installed_within(within)
            .map(|(prefix, nexthops)| (prefix, Arc::clone(nexthops)))
            .collect())
    }

    async fn dump_installed(&mut self) -> Result<Vec<(IpNet, Vec<FibNextHop>)>, FibError> {
        let table = self.at.table;
        let routes = self.conn()?.dump_routes(table).await;
        let routes = routes.map_err(|e| self.failed("dumping routes", e))?;
        Ok(routes.into_iter().map(|r| (r.prefix, r.nexthops)).collect())
    }

    async fn refresh_links(&mut self) -> Result<(), FibError> {
        let links = self.conn()?.dump_links().await;
        self.links = links.map_err(|e| self.failed("dumping links", e))?;
        Ok(())
    }

    fn plan_for(&self, prefixes: impl Iterator<Item = IpNet>) -> Vec<Op> {
        prefixes
            .filter_map(|p| self.table.plan(p, self.at.metric, &self.links))
            .collect()
    }

    /// Send `ops` and record the kernel's answers. Replaces refused because
    /// a link went down since the last look (ENETDOWN, ENODEV, ...) are
    /// planned again after a fresh look at the links, once.
    async fn run(&mut self, mut ops: Vec<Op>) -> Result<FibReport, FibError> {
        let mut report = FibReport::default();
        for round in 0..2 {
            if ops.is_empty() {
                break;
            }
            let at = self.at;
            let done = self.conn()?.execute(&ops, at).await;
            let done = done.map_err(|e| self.failed("installing routes", e))?;
            self.stale |= done.lost;
            let mut link_trouble = Vec::new();
            let mut refused = Refusals::default();
            for (op, error) in ops.iter().zip(done.errors) {
                match (op, error) {
                    (Op::Replace { prefix, nexthops }, None) => {
                        self.table.set_installed(*prefix, Some(nexthops));
                        report.replaced += 1;
                    }
                    (Op::Delete { prefix, metric }, None) => {
                        if *metric == at.metric {
                            self.table.set_installed(*prefix, None);
                        }
                        report.deleted += 1;
                    }
                    // Already gone (the kernel dropped it with its link).
                    (Op::Delete { prefix, metric }, Some(e)) if e.errno == libc::ESRCH => {
                        if *metric == at.metric {
                            self.table.set_installed(*prefix, None);
                        }
                    }
                    (Op::Replace { prefix, .. }, Some(e)) if round == 0 && e.is_link_problem() => {
                        debug!("fib: {prefix}: {e}; looking at the links again");
                        link_trouble.push(*prefix);
                    }
                    (op, Some(e)) => {
                        report.failed += 1;
                        refused.note(op, e);
                    }
                }
            }
            refused.log();
            if link_trouble.is_empty() {
                break;
            }
            self.refresh_links().await?;
            ops = self.plan_for(link_trouble.into_iter());
        }
        Ok(report)
    }

    /// The routes among `prefixes` that lack nexthops because of down
    /// links.
    fn shortfall_of(&self, prefixes: impl Iterator<Item = IpNet>) -> Shortfall {
        let routes = prefixes.filter_map(|p| self.table.wanted(&p).map(|n| (p, n)));
        shortfall(routes, &self.links)
    }

    /// Put a shortfall in the report and log it, a line per down link.
    fn note_shortfall(&self, report: &mut FibReport, s: Shortfall) {
        report.partial = s.partial;
        report.waiting = s.waiting;
        for (ifindex, l) in s.by_link {
            let example = l.example.map(|p| p.to_string()).unwrap_or_default();
            warn!(
                "fib: {}: {} routes installed without their nexthop through it, {} routes \
                 with no other nexthop not installed (e.g. {example}); kept, retried at the next resync",
                self.links.describe_down(ifindex),
                l.partial,
                l.waiting,
            );
        }
    }
}

/// Refused requests, grouped by error for one log line each.
#[derive(Default)]
struct Refusals {
    by_errno: BTreeMap<i32, (usize, String)>,
}

impl Refusals {
    fn note(&mut self, op: &Op, e: KernelError) {
        let entry = self.by_errno.entry(e.errno).or_insert_with(|| {
            let what = match op {
                Op::Replace { .. } => "installing",
                Op::Delete { .. } => "removing",
            };
            (0, format!("{what} {}: {e}", op.prefix()))
        });
        entry.0 += 1;
    }

    fn log(&self) {
        for (count, first) in self.by_errno.values() {
            warn!("fib: the kernel refused {count} route requests (first: {first}); retried at the next resync");
        }
    }
}

/// The kernel's answers to one `execute`.
struct Executed {
    /// Per op: None if done.
    errors: Vec<Option<KernelError>>,
    /// Some replies were lost: an op without an error may have failed.
    lost: bool,
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
struct Conn {
    fd: AsyncFd<Socket>,
    seq: u32,
    outgoing: Vec<u8>,
    datagram: Vec<u8>,
}

impl Conn {
    fn open() -> io::Result<Conn> {
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
    async fn execute(&mut self, ops: &[Op], at: Placement) -> io::Result<Executed> {
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

    async fn dump_routes(&mut self, table: u32) -> io::Result<Vec<KernelRoute>> {
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

    async fn dump_links(&mut self) -> io::Result<Links> {
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
