//! The operator's first hour: what ndbgpd and ndbgpctl say when the setup is
//! wrong (an interface name with a typo, a missing capability, a control
//! socket that cannot be reached) and what --help tells. The tests that run
//! the binaries without a daemon need no root; those that start ndbgpd are
//! lab tests (root, network namespaces; in CI they never skip).

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::*;

/// stdout and stderr of a finished command, in that order.
fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_config_warns_of_an_interface_that_does_not_exist() {
    let out = Command::new(ndbgpd_bin())
        .args(["--check-config", "--iface", "eht0", "--iface", "lo", "--asn", "65001"])
        .output()
        .expect("ndbgpd");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.starts_with("ndbgpd: configuration OK: "), "{said}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: interface eht0 does not exist (yet)"),
        "{said}"
    );
    // lo exists in every namespace: only the typo is named.
    assert_eq!(stderr.matches("warning:").count(), 1, "{said}");
}

/// The daemon logs the missing interface at WARN when it starts and again
/// at each reload, and goes on (it waits for the interface).
#[test]
fn the_daemon_warns_of_a_missing_interface_at_start_and_reload() {
    if !lab_enabled("the_daemon_warns_of_a_missing_interface_at_start_and_reload") {
        return;
    }
    let ns = Netns::new("ndmi");
    let dir = TempDir::new("missing");
    let mut d = Ndbgpd::start(&ns, &dir, "a", &["--iface", "eht0", "--asn", "65001"]);
    let warned = |d: &Ndbgpd| {
        d.process
            .log_text()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("interface eht0 does not exist (yet)"))
            .count()
    };
    wait_for("the warning at start", Duration::from_secs(10), || {
        (warned(&d) == 1).then_some(())
    });
    kill(Pid::from_raw(d.process.pid()), Signal::SIGHUP).expect("SIGHUP");
    wait_for("the warning again at the reload", Duration::from_secs(10), || {
        (warned(&d) == 2).then_some(())
    });
    d.process.assert_running();
}

/// ndbgpd's exit code and output when started in `ns` as root without
/// `cap` (dropped from the bounding and inheritable sets, so the exec does
/// not get it back); it must stop by itself within 10 s.
fn run_without(ns: &Netns, dir: &TempDir, cap: &str) -> (Option<i32>, String) {
    let socket = dir.join(&format!("{cap}.sock"));
    let mut cmd = ns.command("setpriv");
    cmd.arg(format!("--inh-caps=-{cap}"))
        .arg(format!("--bounding-set=-{cap}"))
        .arg(ndbgpd_bin())
        .args(["--iface", "eth0", "--asn", "65001", "--control-socket"])
        .arg(&socket);
    let mut process = Process::spawn(
        &format!("ndbgpd without {cap}"),
        &mut cmd,
        Some(dir.join(&format!("{cap}.log"))),
    );
    let status = wait_for(
        &format!("ndbgpd without {cap} to exit"),
        Duration::from_secs(10),
        || process.child.try_wait().ok().flatten(),
    );
    (status.code(), process.log_text())
}

/// Each capability ndbgpd needs, missing, stops it at start (exit 2, never
/// "ready") with a message that names it.
#[test]
fn a_missing_capability_is_named_at_start() {
    if !lab_enabled("a_missing_capability_is_named_at_start")
        || !have_tool("a_missing_capability_is_named_at_start", "/usr/bin/setpriv")
    {
        return;
    }
    let ns = Netns::new("ndcap");
    // No eth0 there: the checks come before any interface matters.
    let dir = TempDir::new("caps");
    for (cap, named) in [
        ("net_admin", "CAP_NET_ADMIN"),
        ("net_raw", "CAP_NET_RAW"),
        ("net_bind_service", "CAP_NET_BIND_SERVICE"),
    ] {
        let (code, log) = run_without(&ns, &dir, cap);
        // 2: systemd does not restart what a restart cannot fix.
        assert_eq!(code, Some(2), "without {cap}:\n{log}");
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
        assert!(
            errors.iter().any(|l| l.contains(named)),
            "without {cap}, no error names {named}:\n{log}"
        );
        assert!(!log.contains("ready"), "without {cap}:\n{log}");
    }
}

fn run_ndbgpctl(wrapper: &[&str], socket: &std::path::Path) -> Output {
    let mut cmd = match wrapper.split_first() {
        None => Command::new(ndbgpctl_bin()),
        Some((program, rest)) => {
            let mut cmd = Command::new(program);
            cmd.args(rest).arg(ndbgpctl_bin());
            cmd
        }
    };
    cmd.arg("--socket")
        .arg(socket)
        .arg("neighbors")
        .output()
        .expect("ndbgpctl")
}

#[test]
fn ndbgpctl_names_a_socket_path_under_a_file() {
    let dir = TempDir::new("ctlfile");
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "").expect("file");
    let out = run_ndbgpctl(&[], &file.join("ndbgpd.sock"));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("{} is not a directory", file.display())),
        "{said}"
    );
    assert!(!said.contains("is ndbgpd running?"), "{said}");
}

/// A socket ndbgpctl may not open is a permission problem, not a daemon
/// that is not running. Root opens any socket, so as root ndbgpctl runs as
/// nobody.
#[test]
fn ndbgpctl_says_permission_denied_on_the_socket() {
    use std::os::unix::fs::PermissionsExt;
    let root = nix::unistd::geteuid().is_root();
    if root && !have_tool("ndbgpctl_says_permission_denied_on_the_socket", "/usr/bin/setpriv") {
        return;
    }
    let dir = TempDir::new("ctlperm");
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let socket = dir.join("ndbgpd.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o000)).expect("chmod socket");
    let nobody: &[&str] = if root {
        &["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    } else {
        &[]
    };
    let out = run_ndbgpctl(nobody, &socket);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("permission denied on {}", socket.display())),
        "{said}"
    );
    assert!(said.contains("group"), "the group hint: {said}");
    assert!(!said.contains("is ndbgpd running?"), "{said}");
}

/// A control socket path under a regular file stops ndbgpd at start with
/// the path named (exit 1).
#[test]
fn the_daemon_names_a_control_socket_path_under_a_file() {
    if !lab_enabled("the_daemon_names_a_control_socket_path_under_a_file") {
        return;
    }
    let ns = Netns::new("ndsf");
    let dir = TempDir::new("sockfile");
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "").expect("file");
    let socket = file.join("ndbgpd.sock");
    let mut cmd = ns.command(ndbgpd_bin());
    cmd.args(["--iface", "eth0", "--asn", "65001", "--control-socket"])
        .arg(&socket);
    let mut process = Process::spawn("ndbgpd", &mut cmd, Some(dir.join("ndbgpd.log")));
    let status = wait_for("ndbgpd to exit", Duration::from_secs(10), || {
        process.child.try_wait().ok().flatten()
    });
    let log = process.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    let error = log.lines().find(|l| l.contains("ERROR")).unwrap_or_default();
    assert!(error.contains(&socket.display().to_string()), "{log}");
    assert!(
        error.contains(&format!("{} is not a directory", file.display())),
        "{log}"
    );
}

/// Every bad configuration ends ndbgpd with exit 2 at start, before it
/// opens anything (the unit's RestartPreventExitStatus=2 relies on it).
#[test]
fn a_bad_configuration_at_start_exits_2() {
    let dir = TempDir::new("badconf");
    let bad_key = dir.join("bad-key.toml");
    std::fs::write(&bad_key, "asn = 65001\ninterfaces = [\"eth0\"]\nbogus = 1\n").expect("write");
    let bad_key = bad_key.to_str().expect("utf-8 path");
    let missing = dir.join("missing.toml");
    let missing = missing.to_str().expect("utf-8 path");
    for args in [
        &["--config", missing][..],
        &["--config", bad_key],
        &["--iface", "eth0", "--asn", "23456"],
        &["--iface", "eth0"],
    ] {
        let out = Command::new(ndbgpd_bin()).args(args).output().expect("ndbgpd");
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.starts_with("ndbgpd: error: "), "{args:?}: {said}");
        assert_eq!(said.lines().count(), 1, "one line: {said}");
    }
}

/// With stderr on the journal (JOURNAL_STREAM names its device and inode)
/// the lines carry no time of their own; with the variable inherited but
/// stderr elsewhere, they do. ndbgpd stops at start here, with an ERROR
/// line: as root in a namespace, at a control socket path under a file;
/// without root, at the missing capabilities.
#[test]
fn log_lines_carry_no_time_when_stderr_is_the_journal() {
    use std::os::unix::fs::MetadataExt;
    let ns = nix::unistd::geteuid().is_root().then(|| Netns::new("ndjs"));
    let dir = TempDir::new("journal");
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "").expect("file");
    let first_error_line = |journal_stream: &dyn Fn(&std::fs::Metadata) -> String| -> String {
        let log = dir.join("ndbgpd.log");
        // Process::spawn truncates this same file: its inode stays.
        std::fs::write(&log, "").expect("log");
        let meta = std::fs::metadata(&log).expect("log metadata");
        let mut cmd = match &ns {
            Some(ns) => ns.command(ndbgpd_bin()),
            None => Command::new(ndbgpd_bin()),
        };
        cmd.env("JOURNAL_STREAM", journal_stream(&meta))
            .args(["--iface", "eth0", "--asn", "65001", "--control-socket"])
            .arg(file.join("ndbgpd.sock"));
        let mut process = Process::spawn("ndbgpd", &mut cmd, Some(log));
        wait_for("ndbgpd to exit", Duration::from_secs(10), || {
            process.child.try_wait().ok().flatten()
        });
        let text = process.log_text();
        text.lines()
            .find(|l| l.contains("ERROR"))
            .unwrap_or_else(|| panic!("no ERROR line: {text}"))
            .to_string()
    };
    let journal = first_error_line(&|m| format!("{}:{}", m.dev(), m.ino()));
    assert!(journal.starts_with("ERROR "), "no time before the level: {journal:?}");
    let elsewhere = first_error_line(&|m| format!("{}:{}", m.dev(), m.ino() + 1));
    assert!(
        elsewhere.starts_with(|c: char| c.is_ascii_digit()) && elsewhere.contains(" ERROR "),
        "a time first: {elsewhere:?}"
    );
}

#[test]
fn help_shows_an_example_the_privileges_and_the_signals() {
    let out = Command::new(ndbgpd_bin()).arg("--help").output().expect("ndbgpd");
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for wanted in ["Example:", "ndbgpd --iface eth0", "CAP_NET_ADMIN", "SIGHUP", "SIGTERM"] {
        assert!(help.contains(wanted), "--help lacks {wanted}:\n{help}");
    }
}
