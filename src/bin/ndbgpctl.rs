//! ndbgpctl: shows what the running ndbgpd knows, through its control socket.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ipnet::IpNet;
use serde_json::Value;

use ndbgp::control::{self, Request};

#[derive(Parser)]
#[command(name = "ndbgpctl", version, about = "Show the state of a running ndbgpd")]
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
    /// caller); a long answer, once begun, is read to its end.
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
    },
    /// Configured interfaces, packet counters and drops by reason.
    Interfaces {
        /// Print JSON: an array, one object per interface.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (request, json) = match cli.command {
        Command::Discovery { json } => (Request::Discovery, json),
        Command::Interfaces { json } => (Request::Interfaces, json),
        Command::Neighbors { json } => (Request::Neighbors, json),
        Command::Routes { prefix, json } => (Request::Routes { prefix }, json),
    };
    let result = match control::request(&cli.socket, request, Duration::from_secs_f64(cli.timeout)).await {
        Ok(result) => result,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            eprintln!("ndbgpctl: {e} (--timeout {} s)", cli.timeout);
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("ndbgpctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        // Indented as it streams out: a full table's answer is hundreds of
        // MB, too big to parse into a tree first.
        let mut out = io::BufWriter::new(io::stdout().lock());
        let written = control::write_pretty(result.get(), &mut out)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        return match written {
            Ok(()) => ExitCode::SUCCESS,
            // A closed pipe (| head) is not an error worth a message.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ndbgpctl: writing the answer: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let rows: Vec<Value> = match serde_json::from_str(result.get()) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("ndbgpctl: bad answer from ndbgpd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let table = match request {
        Request::Discovery => discovery_table(&rows),
        Request::Interfaces => interfaces_table(&rows),
        Request::Neighbors => neighbors_table(&rows),
        Request::Routes { .. } => routes_table(&rows),
    };
    print!("{table}");
    ExitCode::SUCCESS
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

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// `{"ra":3,"ns":1}` as `ra=3 ns=1`, or `-`.
fn counts(v: &Value, key: &str) -> String {
    let Some(map) = v.get(key).and_then(Value::as_object) else {
        return "-".into();
    };
    if map.is_empty() {
        return "-".into();
    }
    map.iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn seconds_ago(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_u64)
        .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
}

fn discovery_table(rows: &[Value]) -> String {
    let header = ["INTERFACE", "ADDRESS", "MAC", "SOURCES", "ROUTER", "STATE", "LAST SEEN"];
    let body = rows
        .iter()
        .map(|r| {
            vec![
                text(r, "interface"),
                text(r, "address"),
                text(r, "mac"),
                text(r, "sources"),
                text(r, "router"),
                text(r, "state"),
                seconds_ago(r, "last_seen_ms"),
            ]
        })
        .collect();
    format_table(&header, body)
}

fn uptime(v: &Value) -> String {
    let s = v.get("uptime_s").and_then(Value::as_u64).unwrap_or(0);
    if v.get("state").and_then(Value::as_str) != Some("Established") {
        return "-".into();
    }
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// One line per path: `*` best, `=` multipath (installed together).
fn routes_table(rows: &[Value]) -> String {
    let header = ["", "PREFIX", "FROM", "AS PATH", "ORIGIN", "LOCPRF", "MED", "KERNEL"];
    let mut body = Vec::new();
    for r in rows {
        let paths = r.get("paths").and_then(Value::as_array).cloned().unwrap_or_default();
        let kernel = if r.get("installed").and_then(Value::as_bool) == Some(true) {
            "yes"
        } else {
            "no"
        };
        for (i, p) in paths.iter().enumerate() {
            let mark = match (
                p.get("best").and_then(Value::as_bool),
                p.get("multipath").and_then(Value::as_bool),
            ) {
                (Some(true), _) => "*",
                (_, Some(true)) => "=",
                _ => "",
            };
            let first = i == 0;
            body.push(vec![
                mark.to_string(),
                if first { text(r, "prefix") } else { String::new() },
                // The peer by interface name, as an operator knows it.
                match (
                    p.get("peer_address").and_then(Value::as_str),
                    p.get("interface").and_then(Value::as_str),
                ) {
                    (Some(address), Some(name)) => format!("{address}%{name}"),
                    _ => text(p, "peer"),
                },
                text(p, "as_path"),
                text(p, "origin"),
                text(p, "local_pref"),
                text(p, "med"),
                if first { kernel.to_string() } else { String::new() },
            ]);
        }
    }
    format_table(&header, body)
}

fn neighbors_table(rows: &[Value]) -> String {
    let header = [
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
        "LAST ERROR",
        "LAST DOWN",
    ];
    let body = rows
        .iter()
        .map(|r| {
            vec![
                text(r, "interface"),
                text(r, "address"),
                text(r, "state"),
                text(r, "remote_asn"),
                text(r, "remote_id"),
                text(r, "direction"),
                uptime(r),
                text(r, "hold_time"),
                text(r, "prefixes_received"),
                text(r, "prefixes_sent"),
                text(r, "last_error"),
                text(r, "last_down"),
            ]
        })
        .collect();
    format_table(&header, body)
}

fn interfaces_table(rows: &[Value]) -> String {
    let header = [
        "INTERFACE",
        "IFINDEX",
        "STATE",
        "LINK-LOCAL",
        "MAC",
        "RX",
        "TX",
        "DROPPED",
        "NEIGHBORS",
    ];
    let body = rows
        .iter()
        .map(|r| {
            let mut link_local = text(r, "link_local");
            if r.get("tentative").and_then(Value::as_bool) == Some(true) {
                link_local.push_str(" (tentative)");
            }
            vec![
                text(r, "interface"),
                text(r, "ifindex"),
                text(r, "state"),
                link_local,
                text(r, "mac"),
                counts(r, "rx"),
                counts(r, "tx"),
                counts(r, "dropped"),
                r.get("neighbors").map_or("-".into(), |n| {
                    format!("{} refused={}", text(n, "count"), text(n, "refused"))
                }),
            ]
        })
        .collect();
    format_table(&header, body)
}

fn format_table(header: &[&str], body: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &body {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
