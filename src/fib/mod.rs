//! The FIB: installs the routes BGP selected in the kernel and keeps them
//! there.
//!
//! One task owns the desired routes (prefix -> nexthops) and what it last
//! saw the kernel hold of them, and sends only the difference. Changes
//! reach it through a mailbox that keeps the latest per prefix: the RIB
//! hands over a full table without waiting for the kernel, and the kernel
//! is sent each prefix once however often it changed meanwhile.
//!
//! Our routes are marked ours: protocol [`RTPROT_NDBGP`] (201, not bgp's
//! 186, which FRR's zebra uses) in one table with a metric of their own
//! ([`DEFAULT_METRIC`]). A dump keeps only our protocol, a delete names it
//! (the kernel matches it), so start-up cleanup, resync and shutdown never
//! touch another daemon's routes. The kernel replaces a route by prefix,
//! table and metric whatever its protocol, so a route we do not hold is
//! added with NLM_F_EXCL, never NLM_F_REPLACE: another daemon's route at
//! our metric is refused (logged), not overwritten. See docs/ARCHITECTURE.md
//! section 4.
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
//!
//! Nexthop objects (Linux 5.3+, see `nexthop`): routes refer to one object
//! per next-hop set (RTA_NH_ID) instead of carrying their next hops, which
//! the kernel installs several times faster. Objects are made before the
//! first route that uses them and deleted after the last; a kernel that
//! refuses them gets inline next hops (logged once).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::IpNet;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

mod adopt;
mod frame;
mod mailbox;
mod message;
mod nexthop;
mod nexthop_msg;
mod reconcile;
mod socket;
#[cfg(test)]
mod test_util;
pub mod types;

pub use self::adopt::Adopted;
use self::adopt::pass_deferral;
use self::frame::KernelError;
use self::mailbox::Mailbox;
pub use self::message::RTPROT_NDBGP;
use self::message::{KernelRoute, Placement};
use self::nexthop::{KernelNexthop, NhOp, Objects, Support, means_unsupported};
use self::reconcile::{FibTable, Links, Op, SWEEPS, Shortfall, shortfall, sort_deletes_first, sweep_of};
use self::socket::{Conn, MAX_BATCH};
use crate::actor::{self, Commands, Inbox, Stopped, Task};
use crate::monitor::{Event, Monitor};
use crate::time::sleep_until_opt;

pub use self::types::{FibChange, FibNextHop, FibRoute, NextHops};

/// Our routes' metric: not FRR's (zebra installs every route at 20), nor
/// BIRD's default (32), nor the kernel's and static routes' (0; 1024 for
/// IPv6), nor the usual DHCP ones (100 and up). Below the DHCP and RA
/// defaults, so that BGP routes win over them.
pub const DEFAULT_METRIC: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibConfig {
    /// Routing table (254 = main).
    pub table: u32,
    /// Route metric, not 0 (IPv6 would turn 0 into 1024). Ours alone: the
    /// kernel replaces another protocol's route at the same metric.
    pub metric: u32,
    /// Told of the route requests the kernel refuses.
    pub monitor: Monitor,
    /// Graceful restart (`--graceful-restart`): the routes of ours the
    /// start finds are adopted, not removed, and changes to them wait
    /// until [`FibHandle::end_deferral`] or this long, at the most.
    pub adopt_for: Option<Duration>,
    /// Routes refer to kernel nexthop objects (if the kernel has them);
    /// false: every route carries its next hops, as before Linux 5.3.
    pub nexthop_objects: bool,
}

impl Default for FibConfig {
    fn default() -> FibConfig {
        FibConfig {
            table: 254,
            metric: DEFAULT_METRIC,
            monitor: Monitor::default(),
            adopt_for: None,
            nexthop_objects: true,
        }
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

/// What the FIB task has done and holds, for metrics: stored by the task
/// as it goes, read without asking it.
#[derive(Debug, Default)]
struct Counters {
    installed_ipv4: AtomicU64,
    installed_ipv6: AtomicU64,
    wanted: AtomicU64,
    replaced: AtomicU64,
    deleted: AtomicU64,
    failed: AtomicU64,
    netlink_errors: AtomicU64,
    resyncs: AtomicU64,
}

/// A snapshot of the FIB task's [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FibStats {
    /// Our routes the kernel has, as last acknowledged or dumped.
    pub installed_ipv4: u64,
    pub installed_ipv6: u64,
    /// Prefixes we want routes to.
    pub wanted: u64,
    /// Routes added or replaced, removed, and requests the kernel refused,
    /// since the start.
    pub replaced: u64,
    pub deleted: u64,
    pub failed: u64,
    /// Route socket failures (each reopens it and re-dumps).
    pub netlink_errors: u64,
    /// Full reconciliations with a dump of the kernel's routes.
    pub resyncs: u64,
}

impl Counters {
    fn add(&self, report: &FibReport) {
        let add = |counter: &AtomicU64, n: usize| counter.fetch_add(n as u64, Ordering::Relaxed);
        add(&self.replaced, report.replaced);
        add(&self.deleted, report.deleted);
        add(&self.failed, report.failed);
    }

    fn snapshot(&self) -> FibStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FibStats {
            installed_ipv4: load(&self.installed_ipv4),
            installed_ipv6: load(&self.installed_ipv6),
            wanted: load(&self.wanted),
            replaced: load(&self.replaced),
            deleted: load(&self.deleted),
            failed: load(&self.failed),
            netlink_errors: load(&self.netlink_errors),
            resyncs: load(&self.resyncs),
        }
    }
}

/// Fold what one drain did into what the next `Settle` reports: counts
/// add up, the shortfall is the latest, and the first error sticks.
fn fold_done(done: &mut Result<FibReport, FibError>, result: Result<FibReport, FibError>) {
    match (&mut *done, result) {
        (Ok(done), Ok(report)) => {
            done.add(&report);
            done.partial = report.partial;
            done.waiting = report.waiting;
        }
        (Ok(_), Err(e)) => *done = Err(e),
        (Err(_), _) => {}
    }
}
/// The FIB task's name, in errors and logs.
const STAGE: &str = "FIB";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    #[error("fib: invalid configuration: {0}")]
    Config(String),
    /// Names the stage: "the FIB task has stopped".
    #[error(transparent)]
    Stopped(#[from] Stopped),
    #[error("fib: netlink: {0}")]
    Netlink(String),
}

/// Prefixes planned and sent at a time: the requests of a full table are
/// never all in memory at once.
const CHUNK: usize = 8 * MAX_BATCH;
/// Changes from this many on are sent sweep by sweep (`apply_swept`).
const SWEEP_MIN: usize = 8 * CHUNK;
/// Resyncs in a row that lost replies before leaving it to the next one.
const MAX_RESYNC_ATTEMPTS: usize = 3;

/// Start the FIB task on the current tokio runtime, in the current
/// network namespace. It first removes the routes of our protocol an
/// earlier run left in its table, then serves the handle. Dropping every handle
/// stops it and leaves the routes in place (`flush` removes them).
pub fn spawn(config: FibConfig) -> Result<(FibHandle, Task), FibError> {
    if config.metric == 0 {
        return Err(FibError::Config("metric 0 (IPv6 would install 1024)".into()));
    }
    if config.table == 0 {
        return Err(FibError::Config("table 0 (unspecified)".into()));
    }
    let conn = Conn::open().map_err(|e| FibError::Netlink(format!("opening a route socket: {e}")))?;
    let (commands, inbox) = actor::channel(STAGE, 64);
    let (deferring_tx, deferring) = watch::channel(config.adopt_for.is_some());
    let fib = Fib {
        at: Placement {
            table: config.table,
            metric: config.metric,
        },
        conn: Some(conn),
        table: FibTable::default(),
        links: Links::default(),
        objects: Objects::new(match config.nexthop_objects {
            true => Support::Unknown,
            false => Support::No,
        }),
        stale: true,
        done: Ok(FibReport::default()),
        inbox,
        counters: Arc::default(),
        monitor: config.monitor,
        deferral: config.adopt_for.map(|d| Instant::now() + d),
        adopted: Adopted::default(),
        created_in_deferral: HashSet::new(),
        deferring: deferring_tx,
    };
    let counters = Arc::clone(&fib.counters);
    let mailbox = Arc::new(Mailbox::default());
    let task = commands.spawn(run(fib, Arc::clone(&mailbox)));
    Ok((
        FibHandle {
            commands,
            mailbox,
            counters,
            deferring,
        },
        task,
    ))
}

/// The way to the FIB task; cheap to clone.
#[derive(Debug, Clone)]
pub struct FibHandle {
    commands: Commands<Command>,
    mailbox: Arc<Mailbox>,
    counters: Arc<Counters>,
    /// True while a graceful restart's deferral holds our adopted routes.
    deferring: watch::Receiver<bool>,
}

type Reply<T> = oneshot::Sender<Result<T, FibError>>;

#[derive(Debug)]
enum Command {
    Settle(Reply<FibReport>),
    Resync(Reply<FibReport>),
    Flush(Reply<FibReport>),
    Installed(Reply<Vec<(IpNet, Vec<FibNextHop>)>>),
    Recorded(Option<IpNet>, Reply<Vec<(IpNet, NextHops)>>),
    RecordedOf(Vec<IpNet>, Reply<Vec<Option<NextHops>>>),
    Adopted(Reply<Adopted>),
    EndDeferral(&'static str),
}

impl FibHandle {
    /// Queue changes for the kernel and return at once; the FIB task
    /// applies them as soon as it is free, merged with whatever else was
    /// queued meanwhile. Failures are logged and retried at the next
    /// resync.
    pub fn submit(&self, changes: impl IntoIterator<Item = FibChange>) {
        let mut queued = self.mailbox.lock();
        for change in changes {
            queued.push(change);
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

    /// Our routes as the kernel has them now (our protocol in our table),
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

    /// [`FibHandle::recorded`] for each of `prefixes` (a page of the
    /// `routes` view): None where the kernel has none of ours.
    pub async fn recorded_of(&self, prefixes: Vec<IpNet>) -> Result<Vec<Option<NextHops>>, FibError> {
        self.ask(|reply| Command::RecordedOf(prefixes, reply)).await
    }

    /// The routes of ours the start found and adopted (graceful restart;
    /// empty without it or when there were none): answered once the
    /// start's dump is done.
    pub async fn adopted(&self) -> Result<Adopted, FibError> {
        self.ask(Command::Adopted).await
    }

    /// End a graceful restart's deferral now (`why`, for the log): our
    /// routes are brought to what the RIB wants, adopted ones nothing
    /// re-learned removed. Nothing when there is none.
    pub async fn end_deferral(&self, why: &'static str) {
        let _ = self.commands.tell(Command::EndDeferral(why)).await;
    }

    /// Follows the deferral: true while it lasts, false once it is over
    /// (or there was none).
    pub fn deferring(&self) -> watch::Receiver<bool> {
        self.deferring.clone()
    }

    /// What the FIB task holds and has done, as it last stored it: a few
    /// loads, the task is not asked (metrics).
    pub fn stats(&self) -> FibStats {
        self.counters.snapshot()
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, FibError> {
        self.commands.ask(command).await?
    }
}

/// A FIB without the kernel, for tests of the tasks that feed it.
#[cfg(test)]
impl FibHandle {
    /// A handle no task serves: changes stay in its mailbox for
    /// [`FibHandle::take_submitted`]; requests answer [`FibError::Stopped`].
    pub(crate) fn detached() -> FibHandle {
        let (commands, _) = actor::channel(STAGE, 1);
        FibHandle {
            commands,
            mailbox: Arc::default(),
            counters: Arc::default(),
            deferring: watch::channel(false).1,
        }
    }

    /// A handle whose commands the test reads (see [`FibCommands`]).
    pub(crate) fn observed() -> (FibHandle, FibCommands) {
        let (commands, inbox) = actor::channel(STAGE, 16);
        let handle = FibHandle {
            commands,
            mailbox: Arc::default(),
            counters: Arc::default(),
            deferring: watch::channel(false).1,
        };
        (handle, FibCommands(inbox))
    }

    /// [`FibHandle::observed`] deferring until the test sends `false`
    /// (as the FIB's restart-time timer does).
    pub(crate) fn observed_deferring() -> (FibHandle, FibCommands, watch::Sender<bool>) {
        let (mut handle, commands) = FibHandle::observed();
        let (deferring_tx, deferring) = watch::channel(true);
        handle.deferring = deferring;
        (handle, commands, deferring_tx)
    }

    /// The changes submitted since the last call, the latest per prefix
    /// (no next hops: delete).
    pub(crate) fn take_submitted(&self) -> Vec<(IpNet, Option<NextHops>)> {
        self.mailbox.take().into_routes().collect()
    }
}

/// The commands sent to an [`FibHandle::observed`] handle.
#[cfg(test)]
pub(crate) struct FibCommands(Inbox<Command>);

#[cfg(test)]
impl FibCommands {
    /// The reason of the next `end_deferral`, skipping other commands;
    /// None once every handle is gone.
    pub(crate) async fn next_end_deferral(&mut self) -> Option<&'static str> {
        loop {
            if let Command::EndDeferral(why) = self.0.recv().await? {
                return Some(why);
            }
        }
    }
}

async fn run(mut fib: Fib, mailbox: Arc<Mailbox>) {
    match fib.resync().await {
        Ok(r) if r.deleted > 0 => info!("fib: removed {} routes left by an earlier run", r.deleted),
        Ok(_) => {}
        Err(e) => warn!("{e} (cleaning up at start; retried with the next request)"),
    }
    fib.adopt();
    loop {
        tokio::select! {
            () = sleep_until_opt(fib.deferral) => fib.end_deferral("the restart time is over").await,
            command = fib.inbox.recv() => {
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
                    Command::RecordedOf(prefixes, reply) => {
                        let _ = reply.send(fib.recorded_of(&prefixes).await);
                    }
                    Command::Adopted(reply) => {
                        let _ = reply.send(Ok(fib.adopted.clone()));
                    }
                    Command::EndDeferral(why) => fib.end_deferral(why).await,
                }
            }
            () = mailbox.wake.notified() => fib.drain(&mailbox).await,
        }
        fib.publish();
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
    /// Our nexthop objects in the kernel, and whether it has them.
    objects: Objects,
    /// The installed state cannot be trusted (replies lost, socket
    /// reopened, start): resync before the next change.
    stale: bool,
    /// What submitted changes did since the last `Settle`.
    done: Result<FibReport, FibError>,
    /// Commands from the handles. Liveness probes are answered between
    /// batches too: a full table takes the kernel seconds.
    inbox: Inbox<Command>,
    /// What [`FibHandle::stats`] reads.
    counters: Arc<Counters>,
    monitor: Monitor,
    /// Graceful restart: until then at the latest, our routes in the
    /// kernel are neither replaced nor deleted (see `adopt`).
    deferral: Option<Instant>,
    /// What the start adopted.
    adopted: Adopted,
    /// Prefixes added during the deferral: not adopted, so their changes
    /// (a better path, a withdrawal) go through at once.
    created_in_deferral: HashSet<IpNet>,
    /// Whether `deferral` is set, for [`FibHandle::deferring`].
    deferring: watch::Sender<bool>,
}

impl Fib {
    /// After the start's resync: with a deferral, what it kept is adopted;
    /// with nothing kept there is nothing to defer.
    fn adopt(&mut self) {
        let Some(until) = self.deferral else { return };
        self.adopted = Adopted::from_table(&self.table);
        if self.adopted.is_empty() {
            info!("fib: graceful restart: no routes of ours in the kernel to adopt (the last stop was clean)");
            self.deferral = None;
            self.deferring.send_replace(false);
            return;
        }
        info!(
            "fib: graceful restart: adopted {} IPv4 and {} IPv6 routes through {} neighbours; \
             kept as they are until the peers' End-of-RIB, {} s at most",
            self.adopted.ipv4,
            self.adopted.ipv6,
            self.adopted.neighbours.len(),
            until.saturating_duration_since(Instant::now()).as_secs()
        );
    }

    /// The deferral is over: one resync installs what the RIB wants and
    /// removes the adopted routes nothing re-learned.
    async fn end_deferral(&mut self, why: &str) {
        if self.deferral.take().is_none() {
            return;
        }
        self.created_in_deferral = HashSet::new();
        self.deferring.send_replace(false);
        let before = self.table.installed_len();
        match self.resync().await {
            Ok(r) => info!(
                "fib: graceful restart over ({why}): {} routes replaced or added, {} removed; {} of ours were kept through it",
                r.replaced,
                r.deleted,
                before[0] + before[1],
            ),
            Err(e) => warn!("fib: graceful restart over ({why}): {e}; retried with the next request"),
        }
        self.publish();
    }

    /// Store the table's size for [`FibHandle::stats`].
    fn publish(&self) {
        let [ipv4, ipv6] = self.table.installed_len();
        let counters = &self.counters;
        counters.installed_ipv4.store(ipv4 as u64, Ordering::Relaxed);
        counters.installed_ipv6.store(ipv6 as u64, Ordering::Relaxed);
        counters.wanted.store(self.table.wanted_len() as u64, Ordering::Relaxed);
    }

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
        self.counters.netlink_errors.fetch_add(1, Ordering::Relaxed);
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
        let swept = queued.routes.len() >= SWEEP_MIN;
        let mut routes = queued.into_routes();
        let result = self.apply(&mut routes, resync, swept).await;
        if let Err(e) = &result {
            // What the error left unread is still wanted: the resync that
            // follows a socket error must bring it in too.
            self.want(routes);
            warn!("{e}; retried at the next resync");
            self.monitor.emit(|| Event::FibError {
                count: 1,
                error: e.to_string(),
            });
        }
        fold_done(&mut self.done, result);
    }

    /// Take `routes` as wanted and bring the kernel to them, a chunk at a
    /// time: the drained map is freed as it is consumed, so a full table
    /// is never held twice.
    async fn apply(
        &mut self,
        mut routes: impl Iterator<Item = (IpNet, Option<NextHops>)>,
        resync: bool,
        swept: bool,
    ) -> Result<FibReport, FibError> {
        if resync || self.stale || self.conn.is_none() {
            // A full resync covers these changes too.
            self.want(routes);
            return self.resync().await;
        }
        if swept {
            return self.apply_swept(routes).await;
        }
        let mut report = FibReport::default();
        let mut short = Shortfall::default();
        loop {
            let chunk = self.take_wanted(&mut routes);
            if chunk.is_empty() {
                break;
            }
            if names_unknown_link(&chunk, &self.links) {
                self.refresh_links().await?;
            }
            self.create_objects().await?;
            let ops = self.plan_for(chunk.iter().map(|(prefix, _)| *prefix));
            report.add(&self.run(ops).await?);
            self.delete_objects(None).await?;
            if self.stale {
                return self.resync_after_loss(routes, report).await;
            }
            short.merge(self.shortfall_of(chunk.iter().map(|(prefix, _)| *prefix)));
        }
        self.note_shortfall(&mut report, short);
        Ok(report)
    }

    /// [`Fib::apply`] for a large change: every route is wanted first and
    /// the removals go out as they come (highest prefix first, see
    /// `Queued::into_routes`); then the other requests go out in
    /// [`SWEEPS`] sweeps (`sweep_of`), each in prefix order, so that
    /// consecutive requests are spread over the kernel's table. The
    /// kernel's IPv4 trie (an LC-trie) takes a table about twice as fast
    /// that way: in prefix order every new leaf lands next to the last one
    /// and their node is inflated again and again (`resize`, `put_child`,
    /// `replace`: 45 % of the install in perf). Our own record is still
    /// filled in prefix order, which keeps its blocks full; the sweeps
    /// hold the prefixes only (5 bytes an IPv4 one) until sent.
    async fn apply_swept(
        &mut self,
        mut routes: impl Iterator<Item = (IpNet, Option<NextHops>)>,
    ) -> Result<FibReport, FibError> {
        let mut report = FibReport::default();
        let mut unknown_link = false;
        let mut sweeps: Vec<Sweep> = (0..SWEEPS).map(|_| Sweep::default()).collect();
        loop {
            let chunk = self.take_wanted(&mut routes);
            if chunk.is_empty() {
                break;
            }
            for (prefix, _) in chunk.iter().filter(|(_, nexthops)| nexthops.is_some()) {
                sweeps[sweep_of(prefix) as usize].push(*prefix);
            }
            unknown_link |= names_unknown_link(&chunk, &self.links);
            let ops = self.plan_for(chunk.iter().filter(|(_, n)| n.is_none()).map(|(prefix, _)| *prefix));
            report.add(&self.run(ops).await?);
            if self.stale {
                return self.resync_after_loss(routes, report).await;
            }
        }
        if unknown_link {
            self.refresh_links().await?;
        }
        self.create_objects().await?;
        for sweep in sweeps {
            let prefixes = sweep.into_prefixes();
            for chunk in prefixes.chunks(CHUNK) {
                let ops = self.plan_for(chunk.iter().copied());
                report.add(&self.run(ops).await?);
                if self.stale {
                    // What is left is wanted already: the resync sends it.
                    return self.resync_after_loss(std::iter::empty(), report).await;
                }
            }
        }
        self.delete_objects(None).await?;
        let short = shortfall(self.table.wanted_routes(), &self.links);
        self.note_shortfall(&mut report, short);
        Ok(report)
    }

    /// Replies were lost while applying changes: want the `rest` of them,
    /// and re-dump to find out what was installed.
    async fn resync_after_loss(
        &mut self,
        rest: impl Iterator<Item = (IpNet, Option<NextHops>)>,
        done: FibReport,
    ) -> Result<FibReport, FibError> {
        warn!("fib: kernel replies were lost (ENOBUFS); re-dumping to find out what was installed");
        self.want(rest);
        let mut total = self.resync().await?;
        total.add(&done);
        Ok(total)
    }

    /// The next chunk of `routes` (empty at their end), taken as wanted.
    fn take_wanted(
        &mut self,
        routes: &mut impl Iterator<Item = (IpNet, Option<NextHops>)>,
    ) -> Vec<(IpNet, Option<NextHops>)> {
        let chunk: Vec<(IpNet, Option<NextHops>)> = routes.take(CHUNK).collect();
        for (prefix, nexthops) in &chunk {
            self.table.set_wanted(*prefix, nexthops.as_deref());
        }
        chunk
    }

    fn want(&mut self, routes: impl Iterator<Item = (IpNet, Option<NextHops>)>) {
        for (prefix, nexthops) in routes {
            self.table.set_wanted(prefix, nexthops.as_deref());
        }
    }

    async fn resync(&mut self) -> Result<FibReport, FibError> {
        let mut total = FibReport::default();
        for attempt in 1..=MAX_RESYNC_ATTEMPTS {
            let (links, nexthops, routes) = match self.dump_kernel().await {
                Ok(dumped) => dumped,
                // The socket is reopened by the next attempt.
                Err(_) if attempt < MAX_RESYNC_ATTEMPTS => continue,
                Err(e) => return Err(e),
            };
            self.stale = false;
            self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
            self.set_links(links);
            if let Some(nexthops) = nexthops {
                self.objects.reconcile(nexthops);
            }
            let referenced: HashSet<u32> = routes.iter().filter_map(|r| r.object).collect();
            let mut ops = self.table.record_dump(routes, self.at.metric, &self.objects);
            // Objects the kernel dropped with a link come back, groups get
            // their leaves back, before the routes that need them.
            self.create_objects().await?;
            ops.extend(self.table.plan_all(self.at.metric, &self.links, &self.objects));
            sort_deletes_first(&mut ops);
            for chunk in ops.chunks(CHUNK) {
                total.add(&self.run(chunk.to_vec()).await?);
            }
            self.delete_objects(Some(&referenced)).await?;
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
                "fib: resync: {} routes replaced, {} deleted, {} refused; {} desired ({} next-hop sets, {} nexthop objects)",
                total.replaced,
                total.deleted,
                total.failed,
                self.table.wanted_len(),
                self.table.sets_in_use(),
                self.objects.len(),
            );
        }
        Ok(total)
    }

    /// The links, the nexthop objects (None: the kernel has none) and our
    /// routes as the kernel has them now.
    async fn dump_kernel(&mut self) -> Result<KernelDump, FibError> {
        let table = self.at.table;
        let links = self.conn()?.dump_links().await;
        let links = links.map_err(|e| self.failed("dumping links", e))?;
        let nexthops = self.dump_nexthops().await?;
        let routes = self.conn()?.dump_routes(table).await;
        let routes = routes.map_err(|e| self.failed("dumping routes", e))?;
        Ok((links, nexthops, routes))
    }

    /// Every nexthop object, if the kernel has them (the first refusal
    /// turns them off, logged).
    async fn dump_nexthops(&mut self) -> Result<Option<Vec<KernelNexthop>>, FibError> {
        if !self.objects.enabled() {
            return Ok(None);
        }
        match self.conn()?.dump_nexthops().await {
            Ok(nexthops) => Ok(Some(nexthops)),
            Err(e) if e.raw_os_error().is_some_and(means_unsupported) => {
                warn!(
                    "fib: the kernel has no nexthop objects (dump refused: {e}); routes carry their next hops inline"
                );
                self.objects.disable();
                self.links.need_carrier = false;
                Ok(None)
            }
            Err(e) => Err(self.failed("dumping nexthop objects", e)),
        }
    }

    /// Take a dump of the links; next hops need carrier too when they are
    /// objects.
    fn set_links(&mut self, mut links: Links) {
        links.need_carrier = self.objects.enabled();
        self.links = links;
    }

    /// Make or change the objects the routes we want or have need, before
    /// their routes are sent.
    async fn create_objects(&mut self) -> Result<(), FibError> {
        let ops = self.objects.plan_creates(self.table.sets(), &self.links);
        self.run_objects(ops).await
    }

    /// Delete the objects of ours no route wants or has any more, and the
    /// orphans not in `referenced` (None: keep orphans).
    async fn delete_objects(&mut self, referenced: Option<&HashSet<u32>>) -> Result<(), FibError> {
        let ops = self.objects.plan_deletes(self.table.sets(), referenced);
        self.run_objects(ops).await
    }

    async fn run_objects(&mut self, ops: Vec<NhOp>) -> Result<(), FibError> {
        if ops.is_empty() {
            return Ok(());
        }
        let at = self.at;
        let done = self.conn()?.execute(&ops, at).await;
        let done = done.map_err(|e| self.failed("changing nexthop objects", e))?;
        self.stale |= done.lost;
        let answers = self.objects.record(&ops, done.errors);
        if let Some(e) = answers.fell_back {
            warn!("fib: the kernel refused a nexthop object ({e}); routes carry their next hops inline");
            self.links.need_carrier = false;
        }
        let mut by_errno: BTreeMap<i32, (usize, String)> = BTreeMap::new();
        for (op, e) in answers.refused {
            let entry = by_errno.entry(e.errno).or_insert_with(|| (0, format!("{op:?}: {e}")));
            entry.0 += 1;
        }
        for (errno, (count, first)) in by_errno {
            if (KernelError { errno, message: None }).is_link_problem() {
                debug!(
                    "fib: {count} nexthop object requests refused for a link (first: {first}); retried at the next resync"
                );
            } else {
                warn!(
                    "fib: the kernel refused {count} nexthop object requests (first: {first}); retried at the next resync"
                );
            }
        }
        Ok(())
    }

    /// Remove all our routes: a resync with nothing desired.
    async fn flush(&mut self) -> Result<FibReport, FibError> {
        // A clean stop removes adopted routes too.
        if self.deferral.take().is_some() {
            self.deferring.send_replace(false);
        }
        self.table.clear_wanted();
        // Our objects deleted first take every route through them out of
        // the kernel at once, instead of a request per route.
        let mut removed = 0;
        if !self.stale && self.objects.len() > 0 {
            let through_objects = self.table.installed_within(None).filter(|(_, (_, via))| *via).count();
            let ops = self.objects.plan_deletes(std::iter::empty(), Some(&HashSet::new()));
            self.run_objects(ops).await?;
            if self.objects.len() == 0 {
                removed = through_objects;
            }
        }
        let mut report = self.resync().await?;
        report.deleted += removed;
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
            .map(|(prefix, route)| (prefix, Arc::clone(self.live(route))))
            .collect())
    }

    /// The next hops a route of ours has in the kernel: through an object,
    /// the object's (a group keeps only the leaves whose link is up).
    fn live<'a>(&'a self, (nexthops, via_object): (&'a NextHops, bool)) -> &'a NextHops {
        match via_object {
            true => self.objects.content_of_set(nexthops).unwrap_or(nexthops),
            false => nexthops,
        }
    }

    async fn recorded_of(&mut self, prefixes: &[IpNet]) -> Result<Vec<Option<NextHops>>, FibError> {
        if self.stale {
            self.resync().await?;
        }
        Ok(prefixes
            .iter()
            .map(|p| self.table.installed_route(p).map(|route| Arc::clone(self.live(route))))
            .collect())
    }

    async fn dump_installed(&mut self) -> Result<Vec<(IpNet, Vec<FibNextHop>)>, FibError> {
        let table = self.at.table;
        let routes = self.conn()?.dump_routes(table).await;
        let routes = routes.map_err(|e| self.failed("dumping routes", e))?;
        let mut by_id = HashMap::new();
        if routes.iter().any(|r| r.object.is_some()) {
            let nexthops = self.conn()?.dump_nexthops().await;
            by_id = nexthop::next_hops_by_id(&nexthops.map_err(|e| self.failed("dumping nexthop objects", e))?);
        }
        Ok(routes
            .into_iter()
            .map(|r| match r.object {
                Some(id) => (r.prefix, by_id.get(&id).cloned().unwrap_or_default()),
                None => (r.prefix, r.nexthops),
            })
            .collect())
    }

    async fn refresh_links(&mut self) -> Result<(), FibError> {
        let links = self.conn()?.dump_links().await;
        let links = links.map_err(|e| self.failed("dumping links", e))?;
        self.set_links(links);
        Ok(())
    }

    /// A fresh look at the links and the objects (one may have gone with
    /// its link), and the objects the routes need made again.
    async fn look_again(&mut self) -> Result<(), FibError> {
        self.refresh_links().await?;
        if let Some(nexthops) = self.dump_nexthops().await? {
            self.objects.reconcile(nexthops);
            self.create_objects().await?;
        }
        Ok(())
    }

    fn plan_for(&self, prefixes: impl Iterator<Item = IpNet>) -> Vec<Op> {
        prefixes
            .filter_map(|p| self.table.plan(p, self.at.metric, &self.links, &self.objects))
            .collect()
    }

    /// Send `ops` and record the kernel's answers. Replaces refused because
    /// a link went down since the last look (ENETDOWN, ENODEV, ...) are
    /// planned again after a fresh look at the links, once.
    async fn run(&mut self, mut ops: Vec<Op>) -> Result<FibReport, FibError> {
        self.inbox.answer_probes();
        if self.deferral.is_some() {
            ops = pass_deferral(ops, self.at.metric, &mut self.created_in_deferral);
        }
        let mut report = FibReport::default();
        for round in 0..2 {
            if ops.is_empty() {
                break;
            }
            let at = self.at;
            let done = self.conn()?.execute(&ops, at).await;
            let done = done.map_err(|e| self.failed("installing routes", e))?;
            self.stale |= done.lost;
            let answers = self.record(&ops, done.errors, round == 0);
            self.counters.add(&answers.report);
            report.add(&answers.report);
            answers.refused.log(&self.monitor);
            if answers.link_trouble.is_empty() {
                break;
            }
            self.look_again().await?;
            ops = self.plan_for(answers.link_trouble.into_iter());
        }
        Ok(report)
    }

    /// Record the kernel's answers to `ops` (per op, None if done) in the
    /// table. With `retry_links`, replaces refused for a link problem are
    /// not failures yet but `link_trouble`, to plan again.
    fn record(&mut self, ops: &[Op], errors: Vec<Option<KernelError>>, retry_links: bool) -> Answers {
        let mut answers = Answers::default();
        let report = &mut answers.report;
        for (op, error) in ops.iter().zip(errors) {
            match (op, error) {
                (
                    Op::Replace {
                        prefix,
                        nexthops,
                        object,
                        ..
                    },
                    None,
                ) => {
                    self.table.set_installed_via(*prefix, Some(nexthops), object.is_some());
                    report.replaced += 1;
                }
                (Op::Delete { prefix, metric }, None) => {
                    if *metric == self.at.metric {
                        self.table.set_installed(*prefix, None);
                    }
                    report.deleted += 1;
                }
                // Already gone (the kernel dropped it with its link).
                (Op::Delete { prefix, metric }, Some(e)) if e.errno == libc::ESRCH => {
                    if *metric == self.at.metric {
                        self.table.set_installed(*prefix, None);
                    }
                }
                // A link problem, or an object gone with its link (the
                // kernel says EINVAL, "Nexthop id does not exist").
                (Op::Replace { prefix, object, .. }, Some(e))
                    if retry_links && (e.is_link_problem() || (object.is_some() && e.errno == libc::EINVAL)) =>
                {
                    debug!("fib: {prefix}: {e}; looking at the links again");
                    answers.link_trouble.push(*prefix);
                }
                (op, Some(e)) => {
                    report.failed += 1;
                    answers.refused.note(op, e);
                }
            }
        }
        answers
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

/// The links, the nexthop objects (if the kernel has them) and our routes.
type KernelDump = (Links, Option<Vec<KernelNexthop>>, Vec<KernelRoute>);

/// The prefixes of one sweep of [`Fib::apply_swept`], as they come
/// (highest first), IPv4 ones in 5 bytes.
#[derive(Default)]
struct Sweep {
    ipv4: Vec<ipnet::Ipv4Net>,
    ipv6: Vec<ipnet::Ipv6Net>,
}

impl Sweep {
    fn push(&mut self, prefix: IpNet) {
        match prefix {
            IpNet::V4(p) => self.ipv4.push(p),
            IpNet::V6(p) => self.ipv6.push(p),
        }
    }

    /// In prefix order, IPv4 first.
    fn into_prefixes(self) -> Vec<IpNet> {
        let ipv4 = self.ipv4.into_iter().rev().map(IpNet::V4);
        let ipv6 = self.ipv6.into_iter().rev().map(IpNet::V6);
        let mut prefixes: Vec<IpNet> = ipv4.chain(ipv6).collect();
        if !prefixes.is_sorted() {
            prefixes.sort_unstable();
        }
        prefixes
    }
}

/// Whether a route of `chunk` goes through a link the last dump did not
/// have: the links are looked at again before planning.
fn names_unknown_link(chunk: &[(IpNet, Option<NextHops>)], links: &Links) -> bool {
    chunk
        .iter()
        .filter_map(|(_, nexthops)| nexthops.as_deref())
        .flatten()
        .any(|nh| !links.knows(nh.ifindex))
}

/// What the kernel's answers to one round of requests came to.
#[derive(Default)]
struct Answers {
    /// Requests done or refused (`replaced`, `deleted`, `failed` only).
    report: FibReport,
    refused: Refusals,
    /// Replaces refused because of a link, to plan again after a look at
    /// the links.
    link_trouble: Vec<IpNet>,
}

/// Refused requests, grouped by error for one log line each.
#[derive(Default)]
struct Refusals {
    by_errno: BTreeMap<i32, (usize, String)>,
}

impl Refusals {
    fn note(&mut self, op: &Op, e: KernelError) {
        let entry = self.by_errno.entry(e.errno).or_insert_with(|| {
            let (what, why) = match op {
                Op::Replace { create_only: true, .. } if e.errno == libc::EEXIST => (
                    "installing",
                    "; another daemon's route has our metric there, left alone",
                ),
                Op::Replace { .. } => ("installing", ""),
                Op::Delete { .. } => ("removing", ""),
            };
            (0, format!("{what} {}: {e}{why}", op.prefix()))
        });
        entry.0 += 1;
    }

    fn log(&self, monitor: &Monitor) {
        for &(count, ref first) in self.by_errno.values() {
            warn!("fib: the kernel refused {count} route requests (first: {first}); retried at the next resync");
            monitor.emit(|| Event::FibError {
                count: count as u64,
                error: first.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
