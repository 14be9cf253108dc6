//! ndbgpctl: shows what the running ndbgpd knows, through its control socket.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{SignalKind, signal};

use ndbgp::api::{
    Answer, InterfaceEntry, MonitorEvent, NeighborTarget, NeighborView, PeerEntryView, Request, RouteEntry,
    ScopedAddress, SessionState,
};
use ndbgp::control::client;

#[derive(Parser)]
#[command(name = "ndbgpctl", version, about = "Show and change the state of a running ndbgpd")]
struct Cli {
    /// ndbgpd's control socket.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/run/ndbgpd/ndbgpd.sock",
        env = "NDBGPCTL_SOCKET"
    )]
    socket: PathBuf,
    /// Give up when ndbgpd has not begun to answer within this many
    /// seconds (a stopped or wedged daemon would otherwise hang the
    /// caller); a long answer, once begun, is read to its end, and
    /// `monitor`, once begun, waits for events as long as it runs.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_timeout)]
    timeout: f64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Neighbours found by Neighbor Discovery (the peer table).
    Discovery {
        /// Print JSON: an array, one object per neighbour.
        #[arg(long)]
        json: bool,
    },
    /// BGP sessions, one per neighbour.
    Neighbors {
        /// Print JSON: an array, one object per session.
        #[arg(long)]
        json: bool,
    },
    /// The routing table: every prefix with its paths, best first, and
    /// whether ndbgpd installed it in the kernel.
    Routes {
        /// Only the routes equal to or inside this prefix (10.1.0.0/16,
        /// 2001:db8::/32; a bare address is its /32 or /128).
        #[arg(value_name = "PREFIX", value_parser = parse_prefix)]
        prefix: Option<IpNet>,
        /// Print JSON: an array, one object per prefix.
        #[arg(long)]
        json: bool,
        /// Instead, the routes import rejected (kept, never installed),
        /// each with its reason: "first AS" (the AS_PATH does not start
        /// with the peer's AS), "next hop ours" (the next hop is one of our
        /// addresses) or "import filter" (--import), the first that applies.
        #[arg(long)]
        filtered: bool,
    },
    /// Configured interfaces, packet counters and drops by reason.
    Interfaces {
        /// Print JSON: an array, one object per interface.
        #[arg(long)]
        json: bool,
    },
    /// Announce a prefix to every peer (a service's /32 or /128), until
    /// withdrawn or until ndbgpd stops; not written to the config file.
    Announce {
        #[arg(value_name = "PREFIX", value_parser = parse_prefix)]
        prefix: IpNet,
    },
    /// Withdraw a prefix `announce` added.
    Withdraw {
        #[arg(value_name = "PREFIX", value_parser = parse_prefix)]
        prefix: IpNet,
    },
    /// Act on BGP sessions.
    #[command(subcommand)]
    Neighbor(NeighborCommand),
    /// Add or remove an interface at runtime (not written to the config file).
    #[command(subcommand)]
    Interface(InterfaceCommand),
    /// Re-read the configuration (as SIGHUP) and print the result.
    Reload,
    /// Print events as they happen, a line each with its time (UTC), until
    /// interrupted: sessions up and down (with the reason), neighbours
    /// discovered and lost, prefixes peers announced and withdrew (added
    /// up per peer over a second), routes the kernel refused.
    Monitor {
        /// Print JSON: one object per line, keys as in `monitor` events.
        #[arg(long)]
        json: bool,
    },
}

/// TARGET: an interface (all its sessions) or one neighbour, fe80::1%eth0.
#[derive(Subcommand)]
enum NeighborCommand {
    /// Cease / Administrative Shutdown to the target's sessions; they stay
    /// down (no redial, connections refused) until `neighbor enable`.
    Shutdown {
        target: NeighborTarget,
        /// Shown to the peer's operator (RFC 9003), at most 255 bytes.
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Let the target's sessions come back after `neighbor shutdown`.
    Enable { target: NeighborTarget },
    /// Reset the target's sessions.
    Clear {
        target: NeighborTarget,
        /// Instead, ask the peer to send its routes again (ROUTE-REFRESH)
        /// and send ours again, without a reset.
        #[arg(long)]
        soft: bool,
    },
    /// A static neighbour, for a peer that sends no RA and is not in the
    /// kernel's neighbour table; dialled until removed (not written to the
    /// config file).
    Add { neighbor: ScopedAddress },
    /// Remove a static neighbour.
    Remove { neighbor: ScopedAddress },
}

#[derive(Subcommand)]
enum InterfaceCommand {
    /// Run on this interface too, as if added to the file and reloaded.
    Add { interface: String },
    /// Stop running on this interface.
    Remove { interface: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (request, json) = match cli.command {
        Command::Discovery { json } => (Request::Discovery, json),
        Command::Interfaces { json } => (Request::Interfaces, json),
        Command::Neighbors { json } => (Request::Neighbors, json),
        Command::Routes {
            prefix,
            json,
            filtered: false,
        } => (Request::Routes { prefix }, json),
        Command::Routes {
            prefix,
            json,
            filtered: true,
        } => (Request::FilteredRoutes { prefix }, json),
        Command::Announce { prefix } => (Request::Announce { prefix }, false),
        Command::Withdraw { prefix } => (Request::Withdraw { prefix }, false),
        Command::Neighbor(NeighborCommand::Shutdown {
            ref target,
            ref message,
        }) => (
            Request::NeighborShutdown {
                target: target.clone(),
                message: message.clone(),
            },
            false,
        ),
        Command::Neighbor(NeighborCommand::Enable { ref target }) => {
            (Request::NeighborEnable { target: target.clone() }, false)
        }
        Command::Neighbor(NeighborCommand::Clear { ref target, soft }) => (
            Request::NeighborClear {
                target: target.clone(),
                soft,
            },
            false,
        ),
        Command::Neighbor(NeighborCommand::Add { ref neighbor }) => (
            Request::NeighborAdd {
                neighbor: neighbor.clone(),
            },
            false,
        ),
        Command::Neighbor(NeighborCommand::Remove { ref neighbor }) => (
            Request::NeighborRemove {
                neighbor: neighbor.clone(),
            },
            false,
        ),
        Command::Interface(InterfaceCommand::Add { ref interface }) => (
            Request::InterfaceAdd {
                interface: interface.clone(),
            },
            false,
        ),
        Command::Interface(InterfaceCommand::Remove { ref interface }) => (
            Request::InterfaceRemove {
                interface: interface.clone(),
            },
            false,
        ),
        Command::Reload => (Request::Reload, false),
        Command::Monitor { json } => (Request::Monitor, json),
    };
    let done = match request {
        Request::Monitor => monitor(&cli, json),
        _ => run(&cli, request, json),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (| head) is not an error worth a message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            eprintln!("ndbgpctl: {e} (--timeout {} s)", cli.timeout);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("ndbgpctl: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ask, then print the answer as it streams in: a full table's answer is
/// hundreds of MB, never held whole.
fn run(cli: &Cli, request: Request, json: bool) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let answer_within = Duration::from_secs_f64(cli.timeout);
    let mut answer = runtime.block_on(client::send(&cli.socket, &request, answer_within))?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    if json {
        let mut pretty = client::Pretty::new(&mut out);
        client::read_result(&mut answer, &mut pretty)?;
        out.write_all(b"\n")?;
        return out.flush();
    }
    if let Request::Routes { .. } | Request::FilteredRoutes { .. } = request {
        let filtered = matches!(request, Request::FilteredRoutes { .. });
        let mut table = RoutesTable::new(filtered);
        let mut rows = client::Elements::new(|element: &[u8]| {
            let route: RouteLine = serde_json::from_slice(element).map_err(bad_answer)?;
            table.push(route, &mut out)
        });
        client::read_result(&mut answer, &mut rows)?;
        table.finish(&mut out)?;
        return out.flush();
    }
    // The other answers are a line per neighbour or interface: read whole.
    let mut pretty = client::Pretty::new(Vec::new());
    client::read_result(&mut answer, &mut pretty)?;
    let answer = Answer::from_json(&request, &String::from_utf8_lossy(&pretty.into_inner())).map_err(bad_answer)?;
    out.write_all(table(&answer).as_bytes())?;
    out.flush()
}

/// Print the `monitor` stream until Ctrl-C (exit 0), a closed pipe (exit
/// 0, see `main`) or the daemon's end (an error).
fn monitor(cli: &Cli, json: bool) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut events = client::monitor(&cli.socket, Duration::from_secs_f64(cli.timeout)).await?;
        let mut out = io::stdout().lock();
        let mut line = String::new();
        loop {
            line.clear();
            let read = tokio::select! {
                _ = interrupt.recv() => return Ok(()),
                read = events.read_line(&mut line) => read?,
            };
            if read == 0 || !line.ends_with('\n') {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "ndbgpd ended the monitor stream (stopped?)",
                ));
            }
            match serde_json::from_str::<MonitorEvent>(&line) {
                Ok(event) if !json => writeln!(out, "{event}")?,
                // JSON as it came; an event this ndbgpctl does not know, too.
                _ => out.write_all(line.as_bytes())?,
            }
            // A line at a time: `| grep` sees each event as it happens.
            out.flush()?;
        }
    })
}

fn bad_answer(e: serde_json::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad answer from ndbgpd: {e}"))
}

fn parse_prefix(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .map(|p| p.trunc())
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?}: want a prefix such as 10.1.0.0/16 or 2001:db8::/32"))
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 3600.0 => Ok(t),
        _ => Err(format!("{s:?}: want seconds, more than 0 and at most 3600")),
    }
}

fn table(answer: &Answer) -> String {
    match answer {
        Answer::Discovery(rows) => discovery_table(rows),
        Answer::Interfaces(rows) => interfaces_table(rows),
        Answer::Neighbors(rows) => neighbors_table(rows),
        Answer::Routes(rows) => routes_table(rows),
        Answer::Changed(changed) => format!("{}\n", changed.message),
    }
}

/// A value as its JSON shows it, unquoted; `-` for none.
fn text(value: impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) | Err(_) => "-".into(),
        Ok(other) => other.to_string(),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// `{"ra":3,"ns":1}` as `ns=1 ra=3`, or `-`.
fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".into();
    }
    map.iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn discovery_table(rows: &[PeerEntryView]) -> String {
    let header = ["INTERFACE", "ADDRESS", "MAC", "SOURCES", "ROUTER", "STATE", "LAST SEEN"];
    let body = rows
        .iter()
        .map(|r| {
            vec![
                r.interface.clone(),
                r.address.to_string(),
                text(&r.mac),
                r.sources.join(","),
                yes_no(r.router),
                text(r.state),
                seconds(r.last_seen_ms),
            ]
        })
        .collect();
    format_table(&header, body)
}

fn uptime(n: &NeighborView) -> String {
    if n.state != SessionState::Established {
        return "-".into();
    }
    let s = n.uptime_s;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `routes` as a table printed as its rows come: the column widths are
/// those of the first [`RoutesTable::HEAD`] rows (at least a full IPv4
/// prefix wide once there are more); a wider cell after them pushes only
/// its own line. `routes --filtered` shows why each path was rejected
/// instead of whether the prefix is in the kernel.
#[derive(Default)]
struct RoutesTable {
    filtered: bool,
    head: Vec<Vec<String>>,
    /// Set once the head is printed.
    widths: Option<Vec<usize>>,
}

impl RoutesTable {
    const HEAD: usize = 1000;

    fn new(filtered: bool) -> RoutesTable {
        RoutesTable {
            filtered,
            ..RoutesTable::default()
        }
    }

    fn header(&self) -> [&'static str; 8] {
        let last = if self.filtered { "REJECTED" } else { "KERNEL" };
        ["", "PREFIX", "FROM", "AS PATH", "ORIGIN", "LOCPRF", "MED", last]
    }

    fn push<'a>(&mut self, route: impl Into<RouteLine<'a>>, out: &mut impl Write) -> io::Result<()> {
        for row in route_rows(&route.into(), self.filtered) {
            match &self.widths {
                Some(widths) => out.write_all(table_line(&row, widths).as_bytes())?,
                None => self.head.push(row),
            }
        }
        if self.widths.is_none() && self.head.len() >= Self::HEAD {
            let mut widths = column_widths(&self.header(), &self.head);
            widths[1] = widths[1].max("255.255.255.255/32".len());
            self.print_head(widths, out)?;
        }
        Ok(())
    }

    fn finish(mut self, out: &mut impl Write) -> io::Result<()> {
        if self.widths.is_none() {
            let widths = column_widths(&self.header(), &self.head);
            self.print_head(widths, out)?;
        }
        Ok(())
    }

    fn print_head(&mut self, widths: Vec<usize>, out: &mut impl Write) -> io::Result<()> {
        let header: Vec<String> = self.header().iter().map(|h| h.to_string()).collect();
        out.write_all(table_line(&header, &widths).as_bytes())?;
        for row in self.head.drain(..) {
            out.write_all(table_line(&row, &widths).as_bytes())?;
        }
        self.widths = Some(widths);
        Ok(())
    }
}

/// What the table shows of a route, read straight from its JSON: a
/// [`RouteEntry`] is read through a buffered tree (its view is
/// flattened into it), and its strings would each be allocated.
#[derive(Deserialize)]
struct RouteLine<'a> {
    #[serde(borrow)]
    prefix: Cow<'a, str>,
    #[serde(borrow)]
    paths: Vec<PathLine<'a>>,
    installed: bool,
}

#[derive(Deserialize)]
struct PathLine<'a> {
    #[serde(borrow)]
    peer: Cow<'a, str>,
    #[serde(borrow, default)]
    interface: Option<Cow<'a, str>>,
    #[serde(borrow)]
    peer_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    as_path: Cow<'a, str>,
    #[serde(borrow)]
    origin: Cow<'a, str>,
    local_pref: u32,
    med: Option<u32>,
    best: bool,
    multipath: bool,
    #[serde(borrow, default)]
    rejected: Option<Cow<'a, str>>,
}

impl<'a> From<&'a RouteEntry> for RouteLine<'a> {
    fn from(r: &'a RouteEntry) -> Self {
        RouteLine {
            prefix: r.route.prefix.to_string().into(),
            paths: r
                .route
                .paths
                .iter()
                .map(|p| PathLine {
                    peer: p.peer.as_str().into(),
                    interface: p.interface.as_deref().map(Cow::from),
                    peer_address: p.peer_address.map(|a| a.to_string().into()),
                    as_path: p.as_path.as_str().into(),
                    origin: p.origin.as_str().into(),
                    local_pref: p.local_pref,
                    med: p.med,
                    best: p.best,
                    multipath: p.multipath,
                    rejected: p.rejected.as_deref().map(Cow::from),
                })
                .collect(),
            installed: r.installed,
        }
    }
}

/// One line per path: `*` best, `=` multipath (installed together).
fn route_rows(r: &RouteLine, filtered: bool) -> Vec<Vec<String>> {
    r.paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mark = match (p.best, p.multipath) {
                (true, _) => "*",
                (_, true) => "=",
                _ => "",
            };
            let first = i == 0;
            vec![
                mark.to_string(),
                if first { r.prefix.to_string() } else { String::new() },
                // The peer by interface name, as an operator knows it.
                match (&p.peer_address, &p.interface) {
                    (Some(address), Some(name)) => format!("{address}%{name}"),
                    _ => p.peer.to_string(),
                },
                p.as_path.to_string(),
                p.origin.to_string(),
                p.local_pref.to_string(),
                p.med.map_or_else(|| "-".to_string(), |med| med.to_string()),
                match (&p.rejected, first) {
                    (Some(reason), _) => reason.to_string(),
                    (None, true) if !filtered => yes_no(r.installed),
                    (None, _) => String::new(),
                },
            ]
        })
        .collect()
}

fn routes_table(rows: &[RouteEntry]) -> String {
    let filtered = rows.iter().flat_map(|r| &r.route.paths).any(|p| p.rejected.is_some());
    let mut table = RoutesTable::new(filtered);
    let mut out = Vec::new();
    let printed = rows
        .iter()
        .try_for_each(|r| table.push(r, &mut out))
        .and_then(|()| table.finish(&mut out));
    match printed {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("{e}"),
    }
}

/// TCP-MD5 and GTSM on a session's connection: "md5", "gtsm", both, or "-".
fn protection(r: &NeighborView) -> &'static str {
    match (r.tcp_md5, r.ttl_security) {
        (true, true) => "md5+gtsm",
        (true, false) => "md5",
        (false, true) => "gtsm",
        (false, false) => "-",
    }
}

/// The FSM state, and why an Idle session does not dial.
fn session_state(n: &NeighborView) -> String {
    let state = text(n.state);
    if n.admin_down {
        return format!("{state} (admin down)");
    }
    if n.bfd_held {
        return format!("{state} (BFD down)");
    }
    if !n.max_prefix_held {
        return state;
    }
    match n.max_prefix_retry_s {
        Some(s) => format!("{state} (max-prefix, retry in {s} s)"),
        None => format!("{state} (max-prefix, until reload)"),
    }
}

/// PFX RCVD is "received/limit" under `--max-prefix`; a BFD column after
/// STATE under `--bfd`.
fn neighbors_table(rows: &[NeighborView]) -> String {
    let mut header = vec![
        "INTERFACE",
        "ADDRESS",
        "STATE",
        "AS",
        "ROUTER ID",
        "DIR",
        "UPTIME",
        "HOLD",
        "PFX RCVD",
        "PFX SENT",
        "PFX FILTERED",
        "AUTH",
        "GR",
        "LAST ERROR",
        "LAST DOWN",
    ];
    let bfd = rows.iter().any(|r| r.bfd.is_some());
    if bfd {
        header.insert(3, "BFD");
    }
    let body = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.interface.clone(),
                r.address.to_string(),
                session_state(r),
                text(r.remote_asn),
                text(r.remote_id),
                text(r.direction),
                uptime(r),
                r.hold_time.to_string(),
                match r.max_prefix {
                    Some(max) => format!("{}/{max}", r.prefixes_received),
                    None => r.prefixes_received.to_string(),
                },
                r.prefixes_sent.to_string(),
                match r.prefixes_first_as_rejected {
                    0 => r.prefixes_filtered.to_string(),
                    n => format!("{} first-AS={n}", r.prefixes_filtered),
                },
                protection(r).to_string(),
                graceful_restart(r),
                text(&r.last_error),
                text(&r.last_down),
            ];
            if bfd {
                row.insert(3, text(&r.bfd));
            }
            row
        })
        .collect();
    format_table(&header, body)
}

/// The GR column: "-" without graceful restart, "yes" with it, and what
/// is kept of a restarting peer's routes.
fn graceful_restart(r: &NeighborView) -> String {
    match (r.gr_restarting, r.stale_routes, r.graceful_restart) {
        (true, n, _) => format!("restarting ({n} stale)"),
        (false, n, _) if n > 0 => format!("{n} stale"),
        (false, _, true) => "yes".into(),
        (false, _, false) => "-".into(),
    }
}

fn interfaces_table(rows: &[InterfaceEntry]) -> String {
    let header = [
        "INTERFACE",
        "IFINDEX",
        "STATE",
        "LINK-LOCAL",
        "MAC",
        "RX",
        "TX",
        "DROPPED",
        "PROBES",
        "NEIGHBORS",
    ];
    let body = rows
        .iter()
        .map(|r| {
            let nd = &r.nd;
            let mut link_local = text(nd.link_local);
            if nd.tentative {
                link_local.push_str(" (tentative)");
            }
            vec![
                nd.interface.clone(),
                text(nd.ifindex),
                text(nd.state),
                link_local,
                text(&nd.mac),
                counts(&nd.rx),
                counts(&nd.tx),
                counts(&nd.dropped),
                nd.probes
                    .map_or_else(|| "off".into(), |p| format!("sent={} answers={}", p.sent, p.answers)),
                format!("{} refused={}", r.neighbors.count, r.neighbors.counters.refused),
            ]
        })
        .collect();
    format_table(&header, body)
}

fn format_table(header: &[&str], body: Vec<Vec<String>>) -> String {
    let widths = column_widths(header, &body);
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = table_line(&header, &widths);
    for row in &body {
        out.push_str(&table_line(row, &widths));
    }
    out
}

fn column_widths(header: &[&str], body: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    widths
}

/// Cells left-aligned in their columns, two spaces apart (as `{:<w$}`
/// pads: by characters).
fn table_line(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::with_capacity(widths.iter().sum::<usize>() + 2 * widths.len());
    for (i, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        line.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
    }
    line.truncate(line.trim_end().len());
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use ndbgp::api::{
        Direction, InterfaceNeighbors, InterfaceState, InterfaceView, PathView, PeerCounters, PeerStateName,
        ProbeCounters, RouteView,
    };

    use super::*;

    fn lines(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn interfaces_show_the_neighbour_count() {
        let up = InterfaceEntry {
            nd: InterfaceView {
                interface: "eth0".into(),
                ifindex: Some(2),
                state: InterfaceState::Up,
                mac: Some("02:00:00:00:00:01".into()),
                link_local: Some("fe80::1".parse().unwrap()),
                tentative: true,
                rx: BTreeMap::from([("ra".into(), 3), ("ns".into(), 1)]),
                tx: BTreeMap::new(),
                tx_errors: 0,
                dropped: BTreeMap::new(),
                probes: Some(ProbeCounters {
                    sent: 5,
                    answers: 2,
                    skipped: 0,
                }),
            },
            neighbors: InterfaceNeighbors {
                count: 2,
                counters: PeerCounters {
                    refused: 1,
                    ignored_down: 4,
                    ignored_own: 0,
                },
            },
        };
        let missing = InterfaceEntry {
            nd: InterfaceView {
                interface: "eth1".into(),
                ..InterfaceView::default()
            },
            neighbors: InterfaceNeighbors::default(),
        };
        assert_eq!(
            table(&Answer::Interfaces(vec![up, missing])),
            lines(&[
                "INTERFACE  IFINDEX  STATE    LINK-LOCAL           MAC                RX         TX  DROPPED  PROBES            NEIGHBORS",
                "eth0       2        up       fe80::1 (tentative)  02:00:00:00:00:01  ns=1 ra=3  -   -        sent=5 answers=2  2 refused=1",
                "eth1       -        missing  -                    -                  -          -   -        off               0 refused=0",
            ])
        );
    }

    fn session(interface: &str, state: SessionState) -> NeighborView {
        NeighborView {
            state,
            remote_asn: Some(65002),
            remote_id: Some("10.0.0.2".parse().unwrap()),
            direction: Some(Direction::Outbound),
            uptime_s: 3725,
            last_down: Some("hold timer expired".into()),
            keepalive_s: Some(3),
            established_count: 1,
            prefixes_received: 4,
            prefixes_sent: 5,
            tcp_md5: interface == "eth0",
            ttl_security: interface == "eth0",
            prefixes_filtered: 1,
            ..NeighborView::idle(interface.into(), 2, "fe80::2".parse().unwrap(), 9)
        }
    }

    #[test]
    fn neighbors_show_uptime_while_established() {
        let rows = vec![
            NeighborView {
                graceful_restart: true,
                ..session("eth0", SessionState::Established)
            },
            NeighborView {
                prefixes_first_as_rejected: 2,
                graceful_restart: true,
                gr_restarting: true,
                stale_routes: 4,
                ..session("eth1", SessionState::OpenSent)
            },
        ];
        assert_eq!(
            table(&Answer::Neighbors(rows)),
            lines(&[
                "INTERFACE  ADDRESS  STATE        AS     ROUTER ID  DIR       UPTIME    HOLD  PFX RCVD  PFX SENT  PFX FILTERED  AUTH      GR                    LAST ERROR  LAST DOWN",
                "eth0       fe80::2  Established  65002  10.0.0.2   outbound  01:02:05  9     4         5         1             md5+gtsm  yes                   -           hold timer expired",
                "eth1       fe80::2  OpenSent     65002  10.0.0.2   outbound  -         9     4         5         1 first-AS=2  -         restarting (4 stale)  -           hold timer expired",
            ])
        );
    }

    #[test]
    fn neighbors_show_the_prefix_limit_and_a_max_prefix_hold() {
        let mut held = session("eth0", SessionState::Idle);
        held.max_prefix = Some(100);
        held.max_prefix_held = true;
        held.max_prefix_retry_s = Some(42);
        held.last_down = Some("max-prefix".into());
        let mut until_reload = held.clone();
        until_reload.interface = "eth1".into();
        until_reload.max_prefix_retry_s = None;
        assert_eq!(
            table(&Answer::Neighbors(vec![held, until_reload])),
            lines(&[
                "INTERFACE  ADDRESS  STATE                             AS     ROUTER ID  DIR       UPTIME  HOLD  PFX RCVD  PFX SENT  PFX FILTERED  AUTH      GR  LAST ERROR  LAST DOWN",
                "eth0       fe80::2  Idle (max-prefix, retry in 42 s)  65002  10.0.0.2   outbound  -       9     4/100     5         1             md5+gtsm  -   -           max-prefix",
                "eth1       fe80::2  Idle (max-prefix, until reload)   65002  10.0.0.2   outbound  -       9     4/100     5         1             md5+gtsm  -   -           max-prefix",
            ])
        );
    }

    #[test]
    fn neighbors_show_bfd_under_bfd_and_a_bfd_hold() {
        let mut up = session("eth0", SessionState::Established);
        up.bfd = Some("up".into());
        let mut held = session("eth1", SessionState::Idle);
        held.bfd = Some("down".into());
        held.bfd_held = true;
        held.last_down = Some("BFD down".into());
        assert_eq!(
            table(&Answer::Neighbors(vec![up, held])),
            lines(&[
                "INTERFACE  ADDRESS  STATE            BFD   AS     ROUTER ID  DIR       UPTIME    HOLD  PFX RCVD  PFX SENT  PFX FILTERED  AUTH      GR  LAST ERROR  LAST DOWN",
                "eth0       fe80::2  Established      up    65002  10.0.0.2   outbound  01:02:05  9     4         5         1             md5+gtsm  -   -           hold timer expired",
                "eth1       fe80::2  Idle (BFD down)  down  65002  10.0.0.2   outbound  -         9     4         5         1             -         -   -           BFD down",
            ])
        );
    }

    fn path(peer: Option<(&str, &str)>, best: bool) -> PathView {
        PathView {
            peer: peer.map_or("local".into(), |(address, _)| format!("{address}%2")),
            ifindex: peer.map(|_| 2),
            interface: peer.map(|(_, name)| name.into()),
            peer_address: peer.map(|(address, _)| address.parse().unwrap()),
            peer_asn: 65002,
            router_id: "10.0.0.2".parse().unwrap(),
            next_hop_ipv4: None,
            next_hop_global: None,
            next_hop_link_local: None,
            as_path: if peer.is_some() { "65002 65003" } else { "" }.into(),
            origin: "igp".into(),
            local_pref: 100,
            med: peer.map(|_| 20),
            communities: vec![],
            large_communities: vec![],
            best,
            multipath: best,
            rejected: None,
            stale: false,
        }
    }

    #[test]
    fn routes_show_one_line_per_path() {
        let rows = vec![RouteEntry {
            route: RouteView {
                prefix: "10.0.2.0/24".parse().unwrap(),
                paths: vec![path(Some(("fe80::2", "eth0")), true), path(None, false)],
            },
            installed: true,
            kernel_next_hops: vec!["fe80::2%eth0".into()],
        }];
        assert_eq!(
            table(&Answer::Routes(rows)),
            lines(&[
                "   PREFIX       FROM          AS PATH      ORIGIN  LOCPRF  MED  KERNEL",
                "*  10.0.2.0/24  fe80::2%eth0  65002 65003  igp     100     20   yes",
                "                local                      igp     100     -",
            ])
        );
    }

    /// Past its head the table streams: one header, the head's widths (a
    /// full IPv4 prefix wide) for every later line.
    #[test]
    fn a_long_routes_table_streams_with_the_heads_widths() {
        let route = |i: u32| RouteEntry {
            route: RouteView {
                prefix: format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap(),
                paths: vec![path(Some(("fe80::2", "eth0")), true)],
            },
            installed: true,
            kernel_next_hops: vec![],
        };
        let n = RoutesTable::HEAD as u32 + 500;
        let mut table = RoutesTable::new(false);
        let mut out = Vec::new();
        for i in 0..RoutesTable::HEAD as u32 {
            table.push(&route(i), &mut out).unwrap();
        }
        let head = out.len();
        assert!(head > 0, "nothing printed after {} rows", RoutesTable::HEAD);
        for i in RoutesTable::HEAD as u32..n {
            table.push(&route(i), &mut out).unwrap();
            assert!(out.len() > head, "row {i} held back");
        }
        table.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + n as usize);
        assert_eq!(text.matches("PREFIX").count(), 1);
        let from = |line: &str| line.find("fe80::2%eth0");
        assert_eq!(from(lines[1]), Some(3 + 18 + 2), "{}", lines[1]);
        assert!(lines[1..].iter().all(|l| from(l) == from(lines[1])), "columns moved");
    }

    #[test]
    fn filtered_routes_show_their_reason() {
        let rejected = |reason: &str| PathView {
            rejected: Some(reason.into()),
            stale: false,
            ..path(Some(("fe80::2", "eth0")), false)
        };
        let rows = vec![
            RouteEntry {
                route: RouteView {
                    prefix: "0.0.0.0/0".parse().unwrap(),
                    paths: vec![rejected("import filter")],
                },
                installed: false,
                kernel_next_hops: vec![],
            },
            RouteEntry {
                route: RouteView {
                    prefix: "10.0.2.0/24".parse().unwrap(),
                    paths: vec![rejected("first AS")],
                },
                installed: true,
                kernel_next_hops: vec!["fe80::3%eth1".into()],
            },
        ];
        assert_eq!(
            table(&Answer::Routes(rows)),
            lines(&[
                "  PREFIX       FROM          AS PATH      ORIGIN  LOCPRF  MED  REJECTED",
                "  0.0.0.0/0    fe80::2%eth0  65002 65003  igp     100     20   import filter",
                "  10.0.2.0/24  fe80::2%eth0  65002 65003  igp     100     20   first AS",
            ])
        );
    }

    #[test]
    fn discovery_shows_the_peer_table() {
        let rows = vec![PeerEntryView {
            interface: "eth0".into(),
            ifindex: 2,
            address: "fe80::2".parse().unwrap(),
            mac: None,
            sources: vec!["ra".into(), "ns".into()],
            router: true,
            state: PeerStateName::Tentative,
            last_seen_ms: 1250,
            first_seen_ms: 9000,
            ra_lifetime: None,
            expires_in_ms: None,
        }];
        assert_eq!(
            table(&Answer::Discovery(rows)),
            lines(&[
                "INTERFACE  ADDRESS  MAC  SOURCES  ROUTER  STATE      LAST SEEN",
                "eth0       fe80::2  -    ra,ns    yes     tentative  1.2s",
            ])
        );
    }
}
