//! ndbgpctl against control sockets that do not behave: no daemon, and a
//! daemon that accepts but never answers (stopped, wedged). No root needed.

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::{Duration, Instant};

fn ndbgpctl(socket: &std::path::Path, args: &[&str]) -> (bool, String, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ndbgpctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("run ndbgpctl");
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
