//! ndbgpctl against control sockets that stand in for ndbgpd: no daemon, a
//! daemon that accepts but never answers (stopped, wedged), and one that
//! gives a canned answer. No root needed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ndbgp::api::{
    InterfaceEntry, InterfaceNeighbors, InterfaceState, InterfaceView, PeerCounters, ProbeCounters, Request, Response,
};
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
            probes: Some(ProbeCounters { sent: 9, answers: 4 }),
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
