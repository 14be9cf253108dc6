//! Lab test for `--metrics`: two ndbgpd peer over a veth pair, each
//! announcing an IPv4 and an IPv6 prefix; once the session is Established
//! and the routes installed, a scrape of one of them shows the session,
//! its messages and prefixes, the routes in the RIB and the kernel by
//! family, ND and process figures, and passes `promtool check metrics`.
//! A second daemon asking for the same metrics address stops at start
//! with an error naming --metrics. Needs root; in CI it never skips.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ndbgp::api::SessionState;
use nix::sched::{CloneFlags, setns};

use common::*;

const PROMTOOL: &str = "/usr/bin/promtool";
const METRICS: &str = "[::1]:9179";

/// `request` sent to `addr` from inside `ns`; the whole answer.
fn http(ns: &Netns, addr: &str, request: &str) -> String {
    let netns = format!("/run/netns/{}", ns.name);
    std::thread::scope(|s| {
        // A thread of its own enters the namespace: the test's stays out.
        s.spawn(|| {
            let file = File::open(&netns).expect("namespace file");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            stream.write_all(request.as_bytes()).expect("request");
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).expect("answer");
            String::from_utf8(answer).expect("utf-8 answer")
        })
        .join()
        .expect("scrape thread")
    })
}

/// A scrape: the head and the body.
fn scrape(ns: &Netns) -> (String, String) {
    let answer = http(ns, METRICS, "GET /metrics HTTP/1.1\r\nHost: ndbgpd\r\n\r\n");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_string(), body.to_string())
}

/// The value of the series `series` (name and labels as written).
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// `promtool check metrics` on `body`: its complaints, if any.
fn promtool_check(body: &str) -> Result<(), String> {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

#[test]
fn a_scrape_of_a_live_daemon_shows_its_session_and_routes_and_passes_promtool() {
    const T: &str = "a_scrape_of_a_live_daemon_shows_its_session_and_routes_and_passes_promtool";
    if !lab_enabled(T) || !have_tool(T, PROMTOOL) {
        return;
    }
    let a = Netns::new("meta");
    let b = Netns::new("metb");
    veth(&a, "eth0", &b, "eth0");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, _, b_ll) = wait_link_locals_ready(&a, &b, "eth0");
    let dir = TempDir::new("metrics");
    let common = ["--iface", "eth0", "--hold-time", "9"];
    let mut args_a = common.to_vec();
    args_a.extend([
        "--asn",
        "65001",
        "--router-id",
        "10.0.0.1",
        "--network",
        "10.0.1.0/24",
        "--network",
        "2001:db8:1::/48",
        "--metrics",
        METRICS,
    ]);
    let mut args_b = common.to_vec();
    args_b.extend([
        "--asn",
        "65002",
        "--router-id",
        "10.0.0.2",
        "--network",
        "10.0.2.0/24",
        "--network",
        "2001:db8:2::/48",
    ]);
    let da = Ndbgpd::start(&a, &dir, "a", &args_a);
    let db = Ndbgpd::start(&b, &dir, "b", &args_b);
    let dump = || format!("{}{}", da.report(), db.report());

    // Established, and both of b's routes in a's kernel.
    wait_or_dump(
        "the session and b's routes in a's kernel",
        Duration::from_secs(30),
        &dump,
        || {
            let established = da.try_neighbors()?.iter().any(|n| n.state == SessionState::Established);
            let routes = da.routes(None);
            let installed = |p: &str| routes.iter().any(|r| r.route.prefix.to_string() == p && r.installed);
            (established && installed("10.0.2.0/24") && installed("2001:db8:2::/48")).then_some(())
        },
    );

    let peer = format!(r#"interface="eth0",peer="{b_ll}""#);
    // The routes task and the FIB publish as they go: poll until the scrape
    // has caught up with what ndbgpctl showed.
    let started = Instant::now();
    let (head, body) = wait_or_dump(
        "a scrape showing the session and the routes",
        Duration::from_secs(10),
        &dump,
        || {
            let (head, body) = scrape(&a);
            let caught_up = value(&body, r#"ndbgp_sessions{state="established"}"#) == Some(1.0)
                && value(&body, r#"ndbgp_fib_routes{family="ipv4"}"#) == Some(1.0)
                && value(&body, r#"ndbgp_fib_routes{family="ipv6"}"#) == Some(1.0)
                && value(&body, &format!("ndbgp_session_prefixes_sent{{{peer}}}")) == Some(2.0);
            caught_up.then_some((head, body))
        },
    );
    let took = started.elapsed();
    let context = || format!("scrape:\n{body}{}", dump());

    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4"), "{head}");
    let expect = |series: &str, want: f64| {
        assert_eq!(value(&body, series), Some(want), "{series}\n{}", context());
    };
    let at_least = |series: &str, least: f64| {
        let got = value(&body, series);
        assert!(
            got.is_some_and(|v| v >= least),
            "{series} = {got:?}, want >= {least}\n{}",
            context()
        );
    };
    // The session.
    expect(&format!("ndbgp_session_state{{{peer}}}"), 6.0);
    expect(&format!("ndbgp_session_established_total{{{peer}}}"), 1.0);
    at_least(&format!("ndbgp_session_uptime_seconds{{{peer}}}"), 0.0);
    expect(&format!("ndbgp_session_prefixes_received{{{peer}}}"), 2.0);
    expect(&format!("ndbgp_session_prefixes_accepted{{{peer}}}"), 2.0);
    expect(&format!("ndbgp_session_prefixes_filtered{{{peer}}}"), 0.0);
    expect(&format!("ndbgp_session_prefixes_sent{{{peer}}}"), 2.0);
    for direction in ["received", "sent"] {
        let series = |kind: &str| format!("ndbgp_session_messages_{direction}_total{{{peer},type=\"{kind}\"}}");
        at_least(&series("open"), 1.0);
        at_least(&series("update"), 1.0);
        at_least(&series("keepalive"), 1.0);
        expect(&series("route_refresh"), 0.0);
    }
    expect(
        &format!(r#"ndbgp_session_downs_total{{{peer},reason="hold_timer_expired"}}"#),
        0.0,
    );
    // Routes: ours (local) and b's in the RIB, b's alone in the kernel.
    expect(r#"ndbgp_rib_routes{family="ipv4"}"#, 2.0);
    expect(r#"ndbgp_rib_routes{family="ipv6"}"#, 2.0);
    at_least(r#"ndbgp_fib_operations_total{op="replace"}"#, 2.0);
    expect(r#"ndbgp_fib_errors_total{error="refused"}"#, 0.0);
    // Discovery, the control socket (ndbgpctl was used above), the process.
    expect(r#"ndbgp_interface_up{interface="eth0"}"#, 1.0);
    expect(r#"ndbgp_neighbors{interface="eth0"}"#, 1.0);
    at_least(r#"ndbgp_nd_packets_sent_total{interface="eth0",type="ra"}"#, 1.0);
    at_least(r#"ndbgp_nd_packets_received_total{interface="eth0",type="ra"}"#, 1.0);
    at_least("ndbgp_control_connections_total", 1.0);
    for source in ["bgp", "interfaces", "process"] {
        expect(&format!(r#"ndbgp_metrics_source_up{{source="{source}"}}"#), 1.0);
    }
    at_least("process_resident_memory_bytes", 1.0e6);
    at_least("process_open_fds", 5.0);
    at_least("process_cpu_seconds_total", 0.0);
    at_least("process_start_time_seconds", 1.0e9);
    // The format, checked by Prometheus's own tool.
    if let Err(complaints) = promtool_check(&body) {
        panic!("promtool check metrics:\n{complaints}\n{}", context());
    }
    eprintln!(
        "scrape: {} bytes, {} series, caught up in {took:?}",
        body.len(),
        body.lines().filter(|l| !l.starts_with('#')).count()
    );

    // Other paths and methods.
    let missing = http(&a, METRICS, "GET / HTTP/1.1\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
    let post = http(&a, METRICS, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");

    // The address taken: a second daemon in the namespace stops at start,
    // naming the flag (another port, so that BGP's socket opens first).
    let mut second = Process::spawn(
        "ndbgpd second",
        a.command(ndbgpd_bin()).args([
            "--iface",
            "eth0",
            "--asn",
            "65009",
            "--port",
            "1179",
            "--control-socket",
            dir.join("second.sock").to_str().expect("utf-8 path"),
            "--metrics",
            METRICS,
        ]),
        Some(dir.join("second.log")),
    );
    let status = wait_for("the second daemon to stop", Duration::from_secs(10), || {
        second.child.try_wait().expect("wait")
    });
    assert!(!status.success(), "started on a taken metrics address");
    let log = second.log_text();
    assert!(log.contains(&format!("--metrics {METRICS}: cannot listen")), "{log}");
    // The first one still serves.
    let (head, _) = scrape(&a);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
}
