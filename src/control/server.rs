//! The daemon's side of the control socket: one connection task per
//! client, one [`Answer`] per request line, gathered from the tasks that
//! own the state.
//!
//! What one client can cost is bounded (docs/ARCHITECTURE.md, "The control
//! socket"): at most [`MAX_CLIENTS`] at once, the others told so and
//! closed; answers are written as they are serialized, `routes` a page of
//! [`ROUTES_PAGE`] routes at a time, so a client holds at most two pages
//! and one chunk of JSON whatever the table's size; a client that takes
//! nothing of its answer for [`WRITE_TIMEOUT`] is dropped.
//!
//! `monitor` is a stream: a first line, then the events as they come, a
//! line each, until the client goes away; the same write timeout drops a
//! monitor that stops reading, and one that falls behind the events is
//! told how many it missed.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tracing::{debug, info, warn};

use super::change::DaemonRequests;
use crate::actor::{Probes, Stopped};
use crate::api::{
    Changed, Event, InterfaceEntry, InterfaceNeighbors, InterfaceView, MonitorEvent, NeighborView, PeerEntryView,
    Request, Response, RoutesPage,
};
use crate::bgp::manager::BgpHandle;
use crate::monitor::{Monitor, unix_ms};
use crate::nd::service::NdHandle;
use crate::peers::PeerTableHandle;
use crate::rib::RoutesJson;
use crate::rib::task::RoutesHandle;

/// A request line longer than this is refused: nothing we answer needs it.
const MAX_REQUEST: usize = 4096;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Clients served at once. ndbgpctl and scripts ask one question and go;
/// more than this at once is a runaway loop or an attack.
pub const MAX_CLIENTS: usize = 16;
/// A client that takes nothing of its answer for this long is dropped
/// (logged): a reader that stopped must not hold a page of routes and a
/// client slot for ever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Routes asked of the routes task at a time: about 0.5 MB with one path
/// each; a client holds two pages at most (one written, the next asked).
pub const ROUTES_PAGE: usize = 1024;
/// Answer bytes gathered before a write.
const WRITE_CHUNK: usize = 64 * 1024;
/// The start of every answer with a result, written by hand so that the
/// result can follow as it is serialized (as serde would write
/// [`Response`]: the tests pin it).
pub(crate) const RESULT_START: &[u8] = br#"{"ok":true,"result":"#;
/// The first line of the `monitor` stream, written at once: the client
/// knows it is connected however long the first event takes.
pub(crate) const MONITOR_START: &[u8] = b"{\"ok\":true}\n";

/// What bounds the clients; [`Limits::default`] in the daemon, smaller in
/// tests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub clients: usize,
    pub write_timeout: Duration,
    pub routes_page: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            clients: MAX_CLIENTS,
            write_timeout: WRITE_TIMEOUT,
            routes_page: ROUTES_PAGE,
        }
    }
}

/// Where the answers come from: the stages' [`Handles`] in the daemon.
pub trait Views: Clone + Send + Sync + 'static {
    /// A page of `routes`: the daemon's writes its JSON straight from the
    /// RIB's data.
    type Page: RoutesPage;
    fn discovery(&self) -> impl Future<Output = Result<Vec<PeerEntryView>, Stopped>> + Send;
    fn neighbors(&self) -> impl Future<Output = Result<Vec<NeighborView>, Stopped>> + Send;
    fn interfaces(&self) -> impl Future<Output = Result<Vec<InterfaceEntry>, Stopped>> + Send;
    /// See [`RoutesHandle::routes_page`].
    fn routes_page(
        &self,
        within: Option<IpNet>,
        after: Option<IpNet>,
        limit: usize,
        rejected: bool,
    ) -> impl Future<Output = Result<Self::Page, Stopped>> + Send;
    /// Applies a request that changes state (see [`super::change`]); the
    /// connection has checked the client may. Refused unless implemented.
    fn change(&self, request: Request) -> impl Future<Output = Result<Changed, String>> + Send {
        async move { Err(format!("{} is not served here", request.name())) }
    }
    /// The events from now on, for `monitor`; None where not served.
    fn monitor(&self) -> Option<broadcast::Receiver<MonitorEvent>> {
        None
    }

    /// Where the server counts its clients (metrics); uncounted by default.
    fn client_counts(&self) -> Arc<ClientCounts> {
        Arc::default()
    }
}

/// The control socket's clients, counted by the server for the metrics.
#[derive(Debug, Default)]
pub struct ClientCounts {
    connected: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
}

impl ClientCounts {
    /// Connected now.
    pub fn connected(&self) -> u64 {
        self.connected.load(Ordering::Relaxed)
    }

    /// Accepted since the start, refused ones included.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Refused for being one too many.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// One connected client, counted while it lives.
struct Connected(Arc<ClientCounts>);

impl Connected {
    fn new(counts: &Arc<ClientCounts>) -> Connected {
        counts.connected.fetch_add(1, Ordering::Relaxed);
        Connected(Arc::clone(counts))
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Handles to the tasks whose state the control socket shows.
#[derive(Clone)]
pub struct Handles {
    pub peers: PeerTableHandle,
    pub nd: NdHandle,
    pub bgp: BgpHandle,
    pub routes: RoutesHandle,
    /// To `main`, for what changes the running configuration.
    pub daemon: DaemonRequests,
    /// Counted by the server, read by the metrics.
    pub clients: Arc<ClientCounts>,
    /// The stages' events, for `monitor`.
    pub monitor: Monitor,
}

impl Views for Handles {
    type Page = RoutesJson;

    async fn discovery(&self) -> Result<Vec<PeerEntryView>, Stopped> {
        self.peers.snapshot().await
    }

    async fn neighbors(&self) -> Result<Vec<NeighborView>, Stopped> {
        self.bgp.neighbors().await
    }

    async fn interfaces(&self) -> Result<Vec<InterfaceEntry>, Stopped> {
        let interfaces = self.nd.interfaces().await?;
        let neighbors = self.peers.neighbors().await?;
        Ok(interface_entries(interfaces, &neighbors))
    }

    async fn routes_page(
        &self,
        within: Option<IpNet>,
        after: Option<IpNet>,
        limit: usize,
        rejected: bool,
    ) -> Result<RoutesJson, Stopped> {
        self.routes.routes_page(within, after, limit, rejected).await
    }

    async fn change(&self, request: Request) -> Result<Changed, String> {
        super::change::apply(self, request).await
    }

    fn client_counts(&self) -> Arc<ClientCounts> {
        Arc::clone(&self.clients)
    }

    fn monitor(&self) -> Option<broadcast::Receiver<MonitorEvent>> {
        Some(self.monitor.subscribe())
    }
}

/// Bind the socket, refusing to steal it from a running daemon.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(file) = not_a_directory(path) {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", file.display()),
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use: is another ndbgpd running?", path.display()),
            ));
        }
        // A stale socket from a daemon that died.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// The first of `path`'s folders that exists and is not a folder (a
/// socket path under a regular file).
pub fn not_a_directory(path: &Path) -> Option<&Path> {
    let mut folders: Vec<&Path> = path.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()).collect();
    folders.reverse();
    folders.into_iter().find(|p| p.exists() && !p.is_dir())
}

/// Serve each client on a task of its own, answering `probes` between
/// accepts. Never returns.
pub async fn serve(listener: UnixListener, handles: Handles, probes: Probes) {
    serve_with(listener, handles, probes, Limits::default()).await
}

/// [`serve`] from any [`Views`], within `limits`.
pub async fn serve_with(listener: UnixListener, views: impl Views, probes: Probes, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.clients.max(1)));
    // Monitors stay connected: half the slots at most, so that the
    // commands always find one.
    let monitors = Arc::new(Semaphore::new((limits.clients / 2).max(1)));
    let mut refusing = false;
    let counts = views.client_counts();
    accept_each(listener, probes, |stream| {
        counts.accepted.fetch_add(1, Ordering::Relaxed);
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            counts.refused.fetch_add(1, Ordering::Relaxed);
            // Once per busy spell: a flood of clients is not a flood of logs.
            if !refusing {
                warn!("control socket: {} clients at once; refusing more", limits.clients);
                refusing = true;
            }
            refuse(&stream, limits.clients);
            return;
        };
        refusing = false;
        let views = views.clone();
        let monitors = Arc::clone(&monitors);
        let connected = Connected::new(&counts);
        tokio::spawn(async move {
            let _slot = slot;
            let _connected = connected;
            match connection(stream, views, limits, monitors).await {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => warn!("control client dropped: {e}"),
                Err(e) => debug!("control connection: {e}"),
                Ok(()) => {}
            }
        });
    })
    .await
}

/// Tell a client over the limit why it is closed. The line fits in an
/// empty socket buffer: written without waiting, or not at all.
fn refuse(stream: &UnixStream, clients: usize) {
    let line = error_line(format!("too many control clients ({clients} at once); try again later"));
    let _ = stream.try_write(&line);
}

/// Hand each client accepted to `each`, answering `probes` meanwhile.
async fn accept_each(listener: UnixListener, mut probes: Probes, mut each: impl FnMut(UnixStream)) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            never = probes.answer() => match never {},
        };
        match accepted {
            Ok((stream, _)) => each(stream),
            Err(e) => {
                warn!("control socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: UnixStream, views: impl Views, limits: Limits, monitors: Arc<Semaphore>) -> io::Result<()> {
    let may_change = stream
        .peer_cred()
        .is_ok_and(|client| may_change(client.uid(), nix::unistd::geteuid().as_raw()));
    let (read, write) = stream.into_split();
    let mut out = Out {
        write,
        buf: Vec::with_capacity(WRITE_CHUNK),
        timeout: limits.write_timeout,
    };
    let mut lines = BufReader::new(read.take(MAX_REQUEST as u64 * 64));
    loop {
        let mut line = String::new();
        let n = match tokio::time::timeout(IDLE_TIMEOUT, lines.read_line(&mut line)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        match parse_request(&line) {
            Ok(Request::Routes { prefix }) => routes(&views, prefix, false, &mut out, limits.routes_page).await?,
            Ok(Request::FilteredRoutes { prefix }) => {
                routes(&views, prefix, true, &mut out, limits.routes_page).await?
            }
            Ok(Request::Discovery) => out.answer(views.discovery().await)?,
            Ok(Request::Neighbors) => out.answer(views.neighbors().await)?,
            Ok(Request::Interfaces) => out.answer(views.interfaces().await)?,
            // The rest of the connection is the stream.
            Ok(Request::Monitor) => match Arc::clone(&monitors).try_acquire_owned() {
                Ok(_monitor) => return monitor(views.monitor(), &mut lines, &mut out).await,
                Err(_) => out.error(format!(
                    "too many monitors ({} at once, half the control clients); try again later",
                    (limits.clients / 2).max(1)
                )),
            },
            Ok(change) if !may_change => out.error(format!(
                "permission denied: {} changes ndbgpd's state and needs root or ndbgpd's own user \
                 (the socket's group may only read)",
                change.name()
            )),
            Ok(change) => {
                let name = change.name();
                match views.change(change).await {
                    Ok(changed) => {
                        info!("control: {name}: {}", changed.message);
                        out.answer(Ok::<_, Stopped>(changed))?
                    }
                    Err(refused) => out.error(refused),
                }
            }
            Err(e) => out.error(e),
        }
        out.flush().await?;
    }
}

/// Write the `routes` answer a page at a time. The next page is asked for
/// while this one is written (the routes task and the FIB build it
/// meanwhile), and not before: a client that reads slowly slows its own
/// walk, and holds two pages at most.
async fn routes(
    views: &impl Views,
    within: Option<IpNet>,
    rejected: bool,
    out: &mut Out,
    page: usize,
) -> io::Result<()> {
    let page = page.max(1);
    let mut routes = match views.routes_page(within, None, page, rejected).await {
        Ok(routes) => routes,
        // Nothing written yet: a plain error answer.
        Err(stopped) => {
            out.error(stopped.to_string());
            return Ok(());
        }
    };
    out.buf.extend_from_slice(RESULT_START);
    out.buf.push(b'[');
    let mut first = true;
    loop {
        let after = routes.len().checked_sub(1).map(|last| routes.prefix(last));
        let last_page = routes.len() < page;
        let next = async {
            match last_page {
                true => Ok(None),
                false => views.routes_page(within, after, page, rejected).await.map(Some),
            }
        };
        let written = async {
            for i in 0..routes.len() {
                if !first {
                    out.buf.push(b',');
                }
                first = false;
                routes.write_json(i, &mut out.buf).map_err(io::Error::other)?;
                out.write_if_full().await?;
            }
            io::Result::Ok(())
        };
        let (next, written) = tokio::join!(next, written);
        written?;
        if last_page {
            break;
        }
        routes = match next {
            Ok(Some(routes)) => routes,
            Ok(None) => break,
            // Half an answer is written: ending the connection without the
            // end of the line is how the client learns it is cut short.
            Err(stopped) => {
                warn!("control: routes answer cut short: {stopped}");
                return Err(io::Error::other(stopped));
            }
        };
    }
    out.buf.extend_from_slice(b"]}\n");
    Ok(())
}

/// Write `events` a line each as they come, until the client goes away
/// or stops reading for the write timeout.
/// A client that falls behind gets a `missed` line instead of the events
/// it lost.
async fn monitor(
    events: Option<broadcast::Receiver<MonitorEvent>>,
    client: &mut (impl AsyncRead + Unpin),
    out: &mut Out,
) -> io::Result<()> {
    let Some(mut events) = events else {
        out.error("monitor is not served here".into());
        return out.flush().await;
    };
    out.buf.extend_from_slice(MONITOR_START);
    out.flush().await?;
    debug!("control: a monitor stream started");
    let mut ignored = [0; 64];
    loop {
        let mut next = tokio::select! {
            // Watched so that a client gone from a quiet stream frees its
            // slot at once (so does one that shuts its sending side down);
            // what it sends is ignored.
            read = client.read(&mut ignored) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => continue,
            },
            next = events.recv() => next,
        };
        // Then whatever else is queued, a chunk at most, in one write.
        loop {
            let event = match next {
                Ok(event) => event,
                Err(RecvError::Lagged(count)) => MonitorEvent {
                    time_ms: unix_ms(),
                    event: Event::Missed { count },
                },
                Err(RecvError::Closed) => return out.flush().await,
            };
            serde_json::to_writer(&mut out.buf, &event).map_err(io::Error::other)?;
            out.buf.push(b'\n');
            if out.buf.len() >= WRITE_CHUNK {
                break;
            }
            next = match events.try_recv() {
                Ok(event) => Ok(event),
                Err(TryRecvError::Lagged(count)) => Err(RecvError::Lagged(count)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
                Err(TryRecvError::Empty) => break,
            };
        }
        out.flush().await?;
    }
}

/// A client's answers on their way out: gathered into a chunk, written
/// with a deadline.
struct Out {
    write: OwnedWriteHalf,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Out {
    fn answer<T: Serialize>(&mut self, answer: Result<T, Stopped>) -> io::Result<()> {
        match answer {
            Ok(result) => {
                self.buf.extend_from_slice(RESULT_START);
                serde_json::to_writer(&mut self.buf, &result).map_err(io::Error::other)?;
                self.buf.extend_from_slice(b"}\n");
            }
            // A stage that has stopped says which.
            Err(stopped) => self.error(stopped.to_string()),
        }
        Ok(())
    }

    fn error(&mut self, text: String) {
        self.buf.extend_from_slice(&error_line(text));
    }

    async fn write_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= WRITE_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(self.timeout, self.write.write_all(&self.buf)).await {
            Ok(written) => written?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("it read nothing of its answer for {:?}", self.timeout),
                ));
            }
        }
        self.buf.clear();
        Ok(())
    }
}

/// Who may send requests that change state: root, and the user ndbgpd runs
/// as. Others who can open the socket (its group) may only read.
fn may_change(client_uid: u32, own_uid: u32) -> bool {
    client_uid == 0 || client_uid == own_uid
}

/// One request line as a client sent it, or why it is refused (public for
/// the fuzz target `control_request`).
pub fn parse_request(line: &str) -> Result<Request, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!("request longer than {MAX_REQUEST} bytes"));
    }
    serde_json::from_str::<Request>(line.trim()).map_err(|e| format!("bad request: {e}"))
}

fn error_line(text: String) -> Vec<u8> {
    let response = Response {
        ok: false,
        result: None,
        error: Some(text),
    };
    // A struct of a bool and a string always serializes.
    let mut line = serde_json::to_vec(&response).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Each ND interface view with the peer table's part for it (none yet:
/// nothing counted).
fn interface_entries(
    interfaces: Vec<InterfaceView>,
    neighbors: &HashMap<String, InterfaceNeighbors>,
) -> Vec<InterfaceEntry> {
    interfaces
        .into_iter()
        .map(|nd| {
            let neighbors = neighbors.get(&nd.interface).copied().unwrap_or_default();
            InterfaceEntry { nd, neighbors }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{self, Supervisor};
    use crate::api::PeerCounters;

    /// Held by the supervisor, the accept loop answers its probe, before
    /// and after a client.
    #[tokio::test]
    async fn the_server_answers_probes_between_clients() {
        let path = std::env::temp_dir().join(format!("ndbgp-control-test-{}.sock", std::process::id()));
        let listener = bind(&path).await.expect("bind");
        let (probe, probes) = actor::probe("control server");
        let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
        let mut supervisor = Supervisor::new();
        supervisor.hold(probe.spawn(accept_each(listener, probes, move |stream| {
            let _ = accepted_tx.send(stream);
        })));
        let deadline = Duration::from_secs(5);
        assert_eq!(supervisor.silent(deadline).await, Vec::<&str>::new());
        let _client = UnixStream::connect(&path).await.expect("connect");
        assert!(accepted.recv().await.is_some(), "no client accepted");
        assert_eq!(supervisor.silent(deadline).await, Vec::<&str>::new());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_result_is_written_as_it_was_serialized() {
        // The envelope `connection` writes by hand is the derived one.
        let response = Response {
            ok: true,
            result: serde_json::value::to_raw_value(&vec![1, 2]).ok(),
            error: None,
        };
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(json, r#"{"ok":true,"result":[1,2]}"#);
        assert!(json.as_bytes().starts_with(RESULT_START));
        let back: Response = serde_json::from_str(r#"{"ok":true,"result":[ {"a": 1} ]}"#).unwrap();
        assert_eq!(back.result.map(|r| r.get().to_string()), Some(r#"[ {"a": 1} ]"#.into()));
    }

    #[test]
    fn interfaces_get_the_peer_tables_part_by_name() {
        let interfaces = ["eth0", "eth1", "eth2"].map(|name| InterfaceView {
            interface: name.into(),
            ..InterfaceView::default()
        });
        let refused = PeerCounters {
            refused: 3,
            ignored_down: 1,
            ignored_own: 0,
        };
        let neighbors = |count, counters| InterfaceNeighbors { count, counters };
        let table = HashMap::from([
            ("eth0".to_string(), neighbors(1, PeerCounters::default())),
            ("eth1".to_string(), neighbors(2, refused)),
            ("eth9".to_string(), neighbors(1, PeerCounters::default())),
        ]);
        let out = interface_entries(interfaces.to_vec(), &table);
        let seen: Vec<(&str, InterfaceNeighbors)> =
            out.iter().map(|e| (e.nd.interface.as_str(), e.neighbors)).collect();
        assert_eq!(
            seen,
            [
                ("eth0", neighbors(1, PeerCounters::default())),
                ("eth1", neighbors(2, refused)),
                ("eth2", InterfaceNeighbors::default()),
            ]
        );
    }

    #[test]
    fn only_root_and_our_user_change_state() {
        assert!(may_change(0, 998));
        assert!(may_change(998, 998));
        assert!(!may_change(1000, 998));
        assert!(may_change(0, 0));
        assert!(!may_change(65534, 0));
    }

    #[test]
    fn a_request_line_parses_or_says_why_not() {
        assert_eq!(parse_request("{\"command\":\"neighbors\"}\n"), Ok(Request::Neighbors));
        let bad = parse_request("{\"command\":\"reboot\"}").unwrap_err();
        assert!(bad.starts_with("bad request: "), "{bad}");
        let long = format!("{{\"command\":\"neighbors\"}}{}", " ".repeat(MAX_REQUEST));
        assert_eq!(
            parse_request(&long),
            Err(format!("request longer than {MAX_REQUEST} bytes"))
        );
    }
}
