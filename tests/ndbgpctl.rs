//! ndbgpctl against control sockets that stand in for ndbgpd: no daemon, a
//! daemon that accepts but never answers (stopped, wedged), one that gives
//! a canned answer, and the daemon's own control server answering from a
//! made-up routes table (streaming, the client cap, the write timeout).
//! No root needed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream as StdUnixStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use ndbgp::actor::{self, Stopped};
use ndbgp::api::{
    InterfaceEntry, InterfaceNeighbors, InterfaceState, InterfaceView, NeighborView, PathView, PeerCounters,
    PeerEntryView, ProbeCounters, Request, Response, RouteEntry, RouteView,
};
use ndbgp::control::{self, ClientCounts, Limits, Views, serve_with};
use ndbgp::monitor::{Event, Monitor, MonitorEvent};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde_json::value::to_raw_value;

fn run_ndbgpctl(socket: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ndbgpctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("run ndbgpctl")
}

fn ndbgpctl(socket: &std::path::Path, args: &[&str]) -> (bool, String, Duration) {
    let start = Instant::now();
    let out = run_ndbgpctl(socket, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed(),
    )
}

/// The server hung up on `client` within `ms`, seen without reading what
/// is queued for it.
fn hung_up_within(client: &StdUnixStream, ms: u16) -> bool {
    // No events asked: POLLHUP (the server closed its end) is always
    // reported, data waiting to be read is not.
    let mut fds = [PollFd::new(client.as_fd(), PollFlags::empty())];
    let ready = poll(&mut fds, PollTimeout::from(ms)).expect("poll");
    ready == 1 && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP))
}

fn temp_socket(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ndbgpctl-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("ndbgpd.sock")
}

#[test]
fn no_daemon_is_named_in_the_error() {
    let socket = temp_socket("none");
    let (ok, err, _) = ndbgpctl(&socket, &["neighbors"]);
    assert!(!ok);
    assert!(err.contains("is ndbgpd running?"), "{err}");
    let _ = std::fs::remove_dir_all(socket.parent().expect("dir"));
}

#[test]
fn a_daemon_that_never_answers_times_out() {
    let socket = temp_socket("silent");
    let listener = UnixListener::bind(&socket).expect("bind");
    // Accept and read without a word, as a SIGSTOPped ndbgpd would (its
    // kernel socket still queues connections), until ndbgpctl hangs up; at
    // most 10 s, after which ndbgpctl sees the connection close instead.
    let silent = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let (mut stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut request = Vec::new();
        let _ = stream.read_to_end(&mut request);
        Ok(request)
    });
    let (ok, err, took) = ndbgpctl(&socket, &["--timeout", "0.5", "neighbors"]);
    assert!(!ok, "ndbgpctl succeeded against a silent socket");
    assert!(err.contains("did not answer") && err.contains("0.5 s"), "{err}");
    assert!(took < Duration::from_secs(5), "gave up only after {took:?}");
    let request = silent.join().expect("silent thread").expect("accept");
    assert!(String::from_utf8_lossy(&request).contains("neighbors"), "{request:?}");
    let _ = std::fs::remove_dir_all(socket.parent().expect("dir"));
}

#[test]
fn a_bad_timeout_is_named() {
    let socket = temp_socket("flag");
    for bad in ["soon", "0", "7200"] {
        let (ok, err, _) = ndbgpctl(&socket, &["--timeout", bad, "neighbors"]);
        assert!(!ok, "--timeout {bad} accepted");
        assert!(err.contains("--timeout") && err.contains(bad), "{err}");
    }
    let _ = std::fs::remove_dir_all(socket.parent().expect("dir"));
}

/// Answers `connections` requests on `socket` with `result`; gives back the
/// requests it read.
fn canned_daemon(
    socket: &std::path::Path,
    result: &impl serde::Serialize,
    connections: usize,
) -> std::thread::JoinHandle<Vec<Request>> {
    let listener = UnixListener::bind(socket).expect("bind");
    let response = Response {
        ok: true,
        result: Some(to_raw_value(result).expect("serialize")),
        error: None,
    };
    let mut line = serde_json::to_vec(&response).expect("serialize");
    line.push(b'\n');
    std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..connections {
            let (stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut request = String::new();
            BufReader::new(&stream).read_line(&mut request).expect("read request");
            requests.push(serde_json::from_str(&request).expect("a request"));
            (&stream).write_all(&line).expect("write answer");
        }
        requests
    })
}

#[test]
fn interfaces_show_the_neighbour_count_and_json_keeps_every_field() {
    let socket = temp_socket("interfaces");
    let answer = vec![InterfaceEntry {
        nd: InterfaceView {
            interface: "eth0".into(),
            ifindex: Some(7),
            state: InterfaceState::Up,
            mac: Some("02:00:00:00:00:01".into()),
            link_local: Some("fe80::1".parse().expect("address")),
            tentative: false,
            rx: BTreeMap::from([("ra".into(), 3)]),
            tx: BTreeMap::from([("ra".into(), 4), ("rs".into(), 1)]),
            tx_errors: 0,
            dropped: BTreeMap::new(),
            probes: Some(ProbeCounters {
                sent: 9,
                answers: 4,
                skipped: 0,
            }),
        },
        neighbors: InterfaceNeighbors {
            count: 3,
            counters: PeerCounters {
                refused: 1,
                ignored_down: 2,
                ignored_own: 0,
            },
        },
    }];
    let daemon = canned_daemon(&socket, &answer, 2);

    let table = run_ndbgpctl(&socket, &["interfaces"]);
    assert!(table.status.success(), "{table:?}");
    let text = String::from_utf8_lossy(&table.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with("eth0"))
        .unwrap_or_else(|| panic!("no eth0 row:\n{text}"));
    assert!(row.ends_with("3 refused=1"), "NEIGHBORS column: {row}");
    assert!(row.contains("sent=9 answers=4"), "PROBES column: {row}");

    let json = run_ndbgpctl(&socket, &["interfaces", "--json"]);
    assert!(json.status.success(), "{json:?}");
    let back: Vec<InterfaceEntry> = serde_json::from_slice(&json.stdout).expect("typed --json");
    assert_eq!(back, answer);
    let keys: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(keys[0]["neighbors"]["count"], 3, "{keys}");
    assert_eq!(keys[0]["neighbors"]["refused"], 1, "{keys}");
    assert_eq!(keys[0]["probes"]["answers"], 4, "{keys}");

    let requests = daemon.join().expect("daemon thread");
    assert_eq!(requests, [Request::Interfaces, Request::Interfaces]);
    let _ = std::fs::remove_dir_all(socket.parent().expect("dir"));
}

#[test]
fn an_answer_of_the_wrong_shape_is_named() {
    let socket = temp_socket("shape");
    let daemon = canned_daemon(&socket, &serde_json::json!([{"interface": "eth0"}]), 1);
    let (ok, err, _) = ndbgpctl(&socket, &["neighbors"]);
    assert!(!ok, "a neighbour without its fields was printed");
    assert!(err.contains("bad answer from ndbgpd"), "{err}");
    assert_eq!(daemon.join().expect("daemon thread"), [Request::Neighbors]);
    let _ = std::fs::remove_dir_all(socket.parent().expect("dir"));
}

/// A page asked for: (within, after).
type PageAsked = (Option<IpNet>, Option<IpNet>);

/// A routes table made up as it is asked for, served by the daemon's
/// control server: pages asked are recorded. `monitor` streams what the
/// test emits.
#[derive(Clone)]
struct MadeUpTable {
    routes: u32,
    asked: Arc<Mutex<Vec<PageAsked>>>,
    /// The routes task "stops" when asked for a page from this route on.
    stops_from: Option<u32>,
    /// What the server counts of its clients.
    clients: Arc<ClientCounts>,
    monitor: Monitor,
}

impl MadeUpTable {
    fn new(routes: u32) -> Self {
        MadeUpTable {
            routes,
            asked: Arc::default(),
            stops_from: None,
            clients: Arc::default(),
            monitor: Monitor::new(),
        }
    }

    /// Route `i`: 10.0.0.0/24 upwards.
    fn prefix(i: u32) -> IpNet {
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).expect("prefix"))
    }

    fn entry(prefix: IpNet) -> RouteEntry {
        RouteEntry {
            route: RouteView {
                prefix,
                paths: vec![PathView {
                    peer: "fe80::2%7".into(),
                    ifindex: Some(7),
                    interface: Some("eth0".into()),
                    peer_address: Some("fe80::2".parse().expect("address")),
                    peer_asn: 65002,
                    router_id: Ipv4Addr::new(10, 0, 0, 2),
                    next_hop_ipv4: None,
                    next_hop_global: None,
                    next_hop_link_local: Some("fe80::2".parse().expect("address")),
                    as_path: "65002 65003".into(),
                    origin: "igp".into(),
                    local_pref: 100,
                    med: None,
                    communities: vec!["65002:1".into()],
                    large_communities: vec![],
                    best: true,
                    multipath: true,
                    rejected: None,
                    stale: false,
                }],
            },
            installed: true,
            kernel_next_hops: vec!["fe80::2%eth0".into()],
        }
    }

    fn all(&self) -> Vec<RouteEntry> {
        (0..self.routes).map(|i| Self::entry(Self::prefix(i))).collect()
    }

    fn pages_asked(&self) -> Vec<PageAsked> {
        self.asked.lock().expect("lock").clone()
    }
}

impl Views for MadeUpTable {
    type Page = Vec<RouteEntry>;

    async fn discovery(&self) -> Result<Vec<PeerEntryView>, Stopped> {
        Ok(vec![])
    }

    async fn neighbors(&self) -> Result<Vec<NeighborView>, Stopped> {
        Ok(vec![])
    }

    async fn interfaces(&self) -> Result<Vec<InterfaceEntry>, Stopped> {
        Ok(vec![])
    }

    async fn routes_page(
        &self,
        within: Option<IpNet>,
        after: Option<IpNet>,
        limit: usize,
        _rejected: bool,
    ) -> Result<Vec<RouteEntry>, Stopped> {
        self.asked.lock().expect("lock").push((within, after));
        let from = after.map_or(0, |a| {
            (0..self.routes).take_while(|i| Self::prefix(*i) <= a).count() as u32
        });
        if self.stops_from.is_some_and(|stop| from >= stop) {
            return Err(Stopped { stage: "routes" });
        }
        Ok((0..self.routes)
            .map(Self::prefix)
            .filter(|p| within.is_none_or(|w| w.contains(p)) && after.is_none_or(|a| *p > a))
            .take(limit)
            .map(Self::entry)
            .collect())
    }

    fn client_counts(&self) -> Arc<ClientCounts> {
        Arc::clone(&self.clients)
    }

    fn monitor(&self) -> Option<tokio::sync::broadcast::Receiver<MonitorEvent>> {
        Some(self.monitor.subscribe())
    }
}

/// The daemon's control server on `socket`, answering from `table`.
struct Server {
    _runtime: tokio::runtime::Runtime,
    socket: PathBuf,
}

impl Server {
    fn start(name: &str, table: MadeUpTable, limits: Limits) -> Server {
        let socket = temp_socket(name);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime.block_on(control::bind(&socket)).expect("bind");
        let (_probe, probes) = actor::probe("control server");
        runtime.spawn(serve_with(listener, table, probes, limits));
        Server {
            _runtime: runtime,
            socket,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.socket.parent().expect("dir"));
    }
}

fn limits(clients: usize, write_timeout: Duration, routes_page: usize) -> Limits {
    Limits {
        clients,
        write_timeout,
        routes_page,
    }
}

/// `routes` comes a page at a time, each asked after the last prefix of
/// the one before; `--json` and the table both carry every route.
#[test]
fn routes_stream_a_page_at_a_time() {
    let table = MadeUpTable::new(1050);
    let server = Server::start("pages", table.clone(), limits(4, Duration::from_secs(10), 100));

    let json = run_ndbgpctl(&server.socket, &["routes", "--json"]);
    assert!(json.status.success(), "{json:?}");
    let routes: Vec<RouteEntry> = serde_json::from_slice(&json.stdout).expect("typed --json");
    assert_eq!(routes, table.all());
    let asked = table.pages_asked();
    let afters: Vec<Option<IpNet>> = asked.iter().map(|(_, after)| *after).collect();
    let expected: Vec<Option<IpNet>> = [None]
        .into_iter()
        .chain((1..=10).map(|page| Some(MadeUpTable::prefix(page * 100 - 1))))
        .collect();
    assert_eq!(
        afters, expected,
        "11 pages, each after the last prefix of the one before"
    );

    let text = run_ndbgpctl(&server.socket, &["routes"]);
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8_lossy(&text.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 1050, "a header and a line per route");
    assert!(
        lines[0].contains("PREFIX") && lines[0].contains("KERNEL"),
        "{}",
        lines[0]
    );
    assert!(lines[1050].starts_with("*  10.4.25.0/24 "), "{}", lines[1050]);

    let one = run_ndbgpctl(&server.socket, &["routes", "10.0.7.0/24", "--json"]);
    let one: Vec<RouteEntry> = serde_json::from_slice(&one.stdout).expect("typed --json");
    assert_eq!(one, vec![MadeUpTable::entry(MadeUpTable::prefix(7))]);
    assert_eq!(table.pages_asked().last(), Some(&(Some(MadeUpTable::prefix(7)), None)));
}

/// A stage that stops halfway through `routes` cuts the answer short:
/// ndbgpctl says so and fails; stopped before the first page, the error
/// names it.
#[test]
fn a_routes_answer_cut_short_fails() {
    let mut table = MadeUpTable::new(500);
    table.stops_from = Some(200);
    let server = Server::start("cut", table, limits(4, Duration::from_secs(10), 100));
    for args in [&["routes", "--json"][..], &["routes"]] {
        let (ok, err, _) = ndbgpctl(&server.socket, args);
        assert!(!ok, "ndbgpctl {args:?} succeeded on half an answer");
        assert!(err.contains("cut short"), "{err}");
    }
    let mut table = MadeUpTable::new(500);
    table.stops_from = Some(0);
    let server = Server::start("stopped", table, limits(4, Duration::from_secs(10), 100));
    let (ok, err, _) = ndbgpctl(&server.socket, &["routes"]);
    assert!(!ok);
    assert!(err.contains("the routes task has stopped"), "{err}");
}

/// Past the cap, a client is told in one line and closed; ndbgpctl
/// prints it and fails. A slot freed is taken again.
#[test]
fn clients_past_the_cap_are_told_and_closed() {
    let table = MadeUpTable::new(10);
    let server = Server::start("cap", table.clone(), limits(2, Duration::from_secs(10), 100));
    let held: Vec<StdUnixStream> = (0..2)
        .map(|_| StdUnixStream::connect(&server.socket).expect("connect"))
        .collect();
    let (ok, err, _) = ndbgpctl(&server.socket, &["neighbors"]);
    assert!(!ok, "a third client was served with a cap of 2");
    assert_eq!(
        err.trim(),
        "ndbgpctl: too many control clients (2 at once); try again later"
    );
    // Counted for the metrics: the two held, the one refused.
    let clients = &table.clients;
    assert_eq!((clients.connected(), clients.accepted(), clients.refused()), (2, 3, 1));
    drop(held);
    // The slots come back once the server has seen those clients go.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, err, _) = ndbgpctl(&server.socket, &["neighbors"]);
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came back: {err}");
    }
    // Every client gone once its task has seen it go.
    while clients.connected() != 0 {
        assert!(
            Instant::now() < deadline,
            "{} clients still counted",
            clients.connected()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A client that asks for `routes` and reads nothing is dropped after the
/// write timeout, having made the server walk only a few pages (what
/// fits in the socket's buffer); its slot is free again.
#[test]
fn a_client_that_never_reads_is_dropped() {
    let table = MadeUpTable::new(100_000);
    let timeout = Duration::from_millis(300);
    let server = Server::start("stall", table.clone(), limits(1, timeout, 100));
    let mut client = StdUnixStream::connect(&server.socket).expect("connect");
    client.write_all(b"{\"command\":\"routes\"}\n").expect("request");
    let asked = Instant::now();
    // Hung up on, while nothing was read.
    assert!(hung_up_within(&client, 10_000), "not dropped within 10 s");
    let waited = asked.elapsed();
    assert!(waited >= timeout, "dropped after {waited:?}, before the write timeout");
    let pages = table.pages_asked().len();
    assert!(
        pages < 100,
        "{pages} pages of 100 walked for a client that read nothing"
    );
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).expect("read");
    assert!(
        answer.starts_with(b"{\"ok\":true,\"result\":[{"),
        "{}",
        String::from_utf8_lossy(&answer[..64])
    );
    assert!(!answer.ends_with(b"\n"), "a whole answer after a timeout");
    // Its one slot is free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ndbgpctl(&server.socket, &["neighbors"]).0 {
        assert!(Instant::now() < deadline, "the slot did not come back");
    }
}

/// Waits (polling, within 10 s) until a monitor client has subscribed.
fn wait_watched(monitor: &Monitor) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !monitor.watched() {
        assert!(Instant::now() < deadline, "no monitor client subscribed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn session_up(n: u32) -> Event {
    Event::SessionUp {
        interface: "eth0".into(),
        ifindex: n,
        peer: "fe80::2".parse().expect("address"),
        remote_asn: 65002,
        remote_id: Ipv4Addr::new(10, 0, 0, 2),
        direction: ndbgp::api::Direction::Outbound,
    }
}

/// A child's stdout read a line at a time on a thread, so that a test can
/// wait for a line with a deadline; the pipe is closed after `lines`.
fn stdout_lines(child: &mut std::process::Child, lines: usize) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..lines {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn spawn_monitor(socket: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ndbgpctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ndbgpctl monitor")
}

/// Waits (within 10 s) for `child` to exit; kills it if it does not.
fn exit_status(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `monitor --json` prints each event as a JSON line as it comes, stays
/// connected through a quiet spell longer than `--timeout`, and exits 0
/// on Ctrl-C.
#[test]
fn monitor_streams_json_lines_until_interrupted() {
    let table = MadeUpTable::new(0);
    let server = Server::start("monitor", table.clone(), limits(4, Duration::from_secs(10), 100));
    let mut child = spawn_monitor(&server.socket, &["--timeout", "0.5", "monitor", "--json"]);
    let lines = stdout_lines(&mut child, 10);
    wait_watched(&table.monitor);
    table.monitor.emit(|| session_up(1));
    let line = lines.recv_timeout(Duration::from_secs(10)).expect("an event line");
    let event: MonitorEvent = serde_json::from_str(&line).expect("an event");
    assert_eq!(event.event, session_up(1));
    assert!(line.starts_with(r#"{"time_ms":"#) && line.ends_with("}\n"), "{line}");

    // Quiet for three times --timeout: still there.
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(1500) {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "ndbgpctl left a quiet stream"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    table.monitor.emit(|| session_up(2));
    let line = lines.recv_timeout(Duration::from_secs(10)).expect("a second line");
    assert_eq!(
        serde_json::from_str::<MonitorEvent>(&line).expect("an event").event,
        session_up(2)
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let status = exit_status(&mut child).expect("ndbgpctl did not exit on SIGINT");
    assert!(status.success(), "{status:?}");
}

/// Without `--json`, a readable line with the time; a reader that goes
/// away (`| head -1`) ends ndbgpctl with exit 0.
#[test]
fn monitor_lines_are_readable_and_a_closed_pipe_exits_0() {
    let table = MadeUpTable::new(0);
    let server = Server::start("monitor-text", table.clone(), limits(4, Duration::from_secs(10), 100));
    let mut child = spawn_monitor(&server.socket, &["monitor"]);
    let lines = stdout_lines(&mut child, 1);
    wait_watched(&table.monitor);
    table.monitor.emit(|| session_up(1));
    let line = lines.recv_timeout(Duration::from_secs(10)).expect("an event line");
    let (time, rest) = line.split_once(' ').expect("a time first");
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{line}"
    );
    assert_eq!(
        rest,
        "session_up eth0 fe80::2: AS 65002, router ID 10.0.0.2, outbound\n"
    );
    // The reader closed the pipe after its line: the next event's write fails.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        table.monitor.emit(|| session_up(2));
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "ndbgpctl kept writing to a closed pipe");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    let _ = child.stderr.take().expect("stderr").read_to_string(&mut err);
    assert!(status.success(), "{status:?}: {err}");
}

/// Connects and asks for the monitor stream; returns once its first line
/// came.
fn raw_monitor(socket: &std::path::Path) -> StdUnixStream {
    let mut client = StdUnixStream::connect(socket).expect("connect");
    client.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    client.write_all(b"{\"command\":\"monitor\"}\n").expect("request");
    let mut first = [0; 12];
    client.read_exact(&mut first).expect("first line");
    assert_eq!(&first, b"{\"ok\":true}\n");
    client
}

/// Monitors take half the client slots at most: the commands still find
/// one while the others wait.
#[test]
fn monitors_leave_room_for_the_commands() {
    let table = MadeUpTable::new(0);
    let server = Server::start("monitor-slots", table, limits(4, Duration::from_secs(10), 100));
    let _first = raw_monitor(&server.socket);
    let _second = raw_monitor(&server.socket);
    let (ok, err, _) = ndbgpctl(&server.socket, &["monitor"]);
    assert!(!ok, "a third monitor was taken");
    assert!(err.contains("too many monitors (2 at once"), "{err}");
    let (ok, err, _) = ndbgpctl(&server.socket, &["neighbors"]);
    assert!(ok, "a command found no slot: {err}");
}

/// A monitor client that stops reading is dropped after the write timeout
/// however many events come, and its slot is free again; the stages that
/// emit never wait for it.
#[test]
fn a_monitor_that_stops_reading_is_dropped() {
    let table = MadeUpTable::new(0);
    let timeout = Duration::from_millis(300);
    let server = Server::start("monitor-stall", table.clone(), limits(1, timeout, 100));
    let client = raw_monitor(&server.socket);
    let start = Instant::now();
    let mut emitted = 0u32;
    let hung_up = loop {
        let emitting = Instant::now();
        for _ in 0..200 {
            emitted += 1;
            table.monitor.emit(|| session_up(emitted));
        }
        assert!(
            emitting.elapsed() < Duration::from_secs(1),
            "emitting waited on the client"
        );
        if hung_up_within(&client, 20) {
            break start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "not dropped within 10 s");
    };
    assert!(
        hung_up >= timeout,
        "dropped after {hung_up:?}, before the write timeout"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ndbgpctl(&server.socket, &["neighbors"]).0 {
        assert!(Instant::now() < deadline, "the slot did not come back");
    }
}

/// A monitor client gone from a quiet stream frees its slot at once, not
/// at the next event.
#[test]
fn a_monitor_that_leaves_a_quiet_stream_frees_its_slot() {
    let table = MadeUpTable::new(0);
    let server = Server::start("monitor-leave", table.clone(), limits(1, Duration::from_secs(10), 100));
    let client = raw_monitor(&server.socket);
    let (ok, err, _) = ndbgpctl(&server.socket, &["neighbors"]);
    assert!(!ok && err.contains("too many control clients"), "{err}");
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ndbgpctl(&server.socket, &["neighbors"]).0 {
        assert!(Instant::now() < deadline, "the slot did not come back");
    }
    assert!(!table.monitor.watched(), "still subscribed");
}

/// A monitor client that falls behind loses the oldest events and is told
/// how many, in `missed` lines; it stays connected, and what it got plus
/// what it missed is every event.
#[test]
fn a_monitor_that_falls_behind_is_told_what_it_missed() {
    let table = MadeUpTable::new(0);
    let server = Server::start("monitor-lag", table.clone(), limits(1, Duration::from_secs(10), 100));
    let client = raw_monitor(&server.socket);
    const EVENTS: u64 = 20_000;
    let error = "x".repeat(100);
    for count in 0..EVENTS {
        table.monitor.emit(|| Event::FibError {
            count,
            error: error.clone(),
        });
    }
    let (mut got, mut missed, mut missed_lines) = (0, 0, 0);
    let mut reader = BufReader::new(client);
    while got + missed < EVENTS {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "closed after {got} + {missed}"
        );
        match serde_json::from_str::<MonitorEvent>(&line).expect("an event").event {
            Event::FibError { .. } => got += 1,
            Event::Missed { count } => {
                missed += count;
                missed_lines += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got + missed, EVENTS);
    assert!(missed_lines >= 1 && missed > 0, "{got} got, {missed} missed");
    // Still connected: the next event comes.
    table.monitor.emit(|| session_up(1));
    let mut line = String::new();
    reader.read_line(&mut line).expect("read");
    assert_eq!(
        serde_json::from_str::<MonitorEvent>(&line).expect("an event").event,
        session_up(1)
    );
    drop(server);
}
