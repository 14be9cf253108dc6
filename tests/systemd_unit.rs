//! systemd/: the unit passes `systemd-analyze verify`, its exposure score
//! stays low, the example files are valid, and ndbgpd works with nothing
//! but the capabilities the unit grants, as an unprivileged user.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use ndbgp::api::SessionState;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// systemd-analyze, or a skip outside CI (scripts/test.sh installs it).
fn have_systemd_analyze(test: &str) -> bool {
    have_tool(test, "/usr/bin/systemd-analyze")
}

/// The unit with its binaries pointed at the ones cargo built, in `dir`.
fn unit_for_test(dir: &TempDir) -> PathBuf {
    let unit = read("systemd/ndbgpd.service").replace("/usr/local/bin/ndbgpd", ndbgpd_bin());
    let path = dir.join("ndbgpd.service");
    std::fs::write(&path, unit).expect("write unit");
    path
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if !have_systemd_analyze("unit_passes_systemd_analyze_verify") {
        return;
    }
    let dir = TempDir::new("unit");
    let unit = unit_for_test(&dir);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed: {stderr}");
    assert!(
        !stderr.contains("ndbgpd.service"),
        "verify has something to say about the unit: {stderr}"
    );
}

#[test]
fn unit_exposure_score_stays_low() {
    if !have_systemd_analyze("unit_exposure_score_stays_low") {
        return;
    }
    let dir = TempDir::new("unit");
    let unit = unit_for_test(&dir);
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for ndbgpd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}{}", String::from_utf8_lossy(&out.stderr)));
    eprintln!("systemd-analyze security: exposure {score}");
    // 1.5 when written; what is left is what a router needs (host network,
    // netlink, three network capabilities).
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}

/// The unit's directives that matter to the daemon are there.
#[test]
fn unit_declares_notify_watchdog_reload_and_three_capabilities() {
    let unit = read("systemd/ndbgpd.service");
    let has = |line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/ndbgpd $NDBGPD_ARGS",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "EnvironmentFile=-/etc/default/ndbgpd",
        "RuntimeDirectory=ndbgpd",
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "SystemCallFilter=@system-service",
        // A bad configuration (exit 2) is not restarted forever.
        "RestartPreventExitStatus=2",
        // Link-locals and ND, and loopback for a --metrics scrape.
        "IPAddressAllow=fe80::/10 multicast ::/128 localhost",
        // /proc/sys read-only but the per-interface IPv6 settings, which
        // ndbgpd writes for optimistic DAD and --no-dad.
        "ProtectKernelTunables=yes",
        "ReadWritePaths=/proc/sys/net/ipv6/conf",
    ] {
        assert!(has(line), "missing {line:?}");
    }
    // ProcSubset=pid would hide /proc/sys altogether.
    assert!(!has("ProcSubset=pid"), "ProcSubset=pid hides /proc/sys/net/ipv6/conf");
    // systemd applies RestartPreventExitStatus= to the main process only: a
    // --check-config in ExecStartPre= failing would be restarted again.
    assert!(
        !unit.lines().any(|l| l.starts_with("ExecStartPre=")),
        "ExecStartPre= defeats RestartPreventExitStatus=2"
    );
    let documentation = format!("Documentation={}", env!("CARGO_PKG_REPOSITORY"));
    assert!(
        has(&documentation),
        "{documentation} (the URL in Cargo.toml), not a file that is not installed"
    );
    assert!(unit.lines().any(|l| l.starts_with("WatchdogSec=")));
    assert_eq!(
        unit_capabilities(&unit),
        ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]
    );
}

/// The capabilities of the unit's AmbientCapabilities= (which must equal
/// its CapabilityBoundingSet=), sorted.
fn unit_capabilities(unit: &str) -> Vec<String> {
    let caps = |key: &str| {
        let mut v: Vec<String> = unit
            .lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .flat_map(|rest| rest.split_whitespace().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    let ambient = caps("AmbientCapabilities=");
    assert_eq!(ambient, caps("CapabilityBoundingSet="), "ambient = bounding set");
    ambient
}

#[test]
fn example_config_files_are_valid() {
    let check = |args: &[&str]| {
        let out = Command::new(ndbgpd_bin())
            .arg("--check-config")
            .args(args)
            .output()
            .expect("ndbgpd");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        assert!(text.starts_with("ndbgpd: configuration OK: "), "{text}");
        text
    };
    let toml = repo("systemd/ndbgpd.toml");
    let toml = toml.to_str().expect("utf-8 path");
    check(&["--config", toml]);
    // Every commented-out key, switched on, is valid too.
    let dir = TempDir::new("examples");
    let all: String = read("systemd/ndbgpd.toml")
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.split(" = ").count() == 2 && !rest.starts_with(' ') => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("\nrouter_id = "), "the commented keys were switched on");
    let all_path = dir.join("all.toml");
    std::fs::write(&all_path, all).expect("write");
    let text = check(&["--config", all_path.to_str().expect("utf-8 path")]);
    assert!(text.contains("router ID 10.0.0.1"), "{text}");
    // Every NDBGPD_ARGS of the EnvironmentFile example (the one pointing
    // at /etc, with the example file in its place).
    let default = read("systemd/ndbgpd.default");
    let mut seen = 0;
    for line in default.lines() {
        let Some(args) = line.trim_start_matches('#').strip_prefix("NDBGPD_ARGS=") else {
            continue;
        };
        let args = args.trim_matches('"').replace("/etc/ndbgp/ndbgpd.toml", toml);
        check(&args.split_whitespace().collect::<Vec<_>>());
        seen += 1;
    }
    assert!(seen >= 2, "examples of NDBGPD_ARGS in ndbgpd.default");
}

/// ndbgpd as nobody with only the unit's capabilities (ambient, bounding
/// set, no new privileges, as systemd sets them): discovery and a BGP
/// session on port 179 work.
#[test]
fn runs_unprivileged_with_only_the_units_capabilities() {
    if !lab_enabled("runs_unprivileged_with_only_the_units_capabilities")
        || !have_tool("runs_unprivileged", "/usr/bin/setpriv")
    {
        return;
    }
    let caps: Vec<String> = unit_capabilities(&read("systemd/ndbgpd.service"))
        .iter()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let caps = caps.join(",");
    let a = Netns::new("ndua");
    let b = Netns::new("ndub");
    veth(&a, "eth0", &b, "eth0");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let dir = TempDir::new("unpriv");
    // nobody must create its control socket there.
    run(Command::new("chmod").arg("0777").arg(&dir.path));
    let inh = format!("--inh-caps=-all,{caps}");
    let amb = format!("--ambient-caps=-all,{caps}");
    let bnd = format!("--bounding-set=-all,{caps}");
    let setpriv = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        inh.as_str(),
        amb.as_str(),
        bnd.as_str(),
        "--no-new-privs",
    ];
    let da = Ndbgpd::start_wrapped(
        &a,
        &dir,
        "a",
        &setpriv,
        &["--iface", "eth0", "--asn", "65001", "--no-dad"],
    );
    let db = Ndbgpd::start(&b, &dir, "b", &["--iface", "eth0", "--asn", "65002"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", da.process.pid())).expect("status");
    assert!(status.contains("Uid:\t65534"), "runs as nobody: {status}");
    assert!(
        status.contains("CapEff:\t0000000000003400"),
        "NET_BIND_SERVICE|NET_ADMIN|NET_RAW only: {status}"
    );
    // CAP_NET_ADMIN is enough to write the namespace's IPv6 settings
    // (optimistic DAD, and accept_dad for --no-dad) as nobody.
    wait_for(
        "optimistic_dad and accept_dad written by the unprivileged ndbgpd",
        Duration::from_secs(5),
        || {
            let read = |key: &str| run(a.command("cat").arg(format!("/proc/sys/net/ipv6/conf/eth0/{key}")));
            (read("optimistic_dad").trim() == "1" && read("accept_dad").trim() == "0").then_some(())
        },
    );
    wait_for(
        "the unprivileged ndbgpd's session Established",
        Duration::from_secs(20),
        || {
            da.neighbors()
                .into_iter()
                .find(|s| s.state == SessionState::Established)
        },
    );
    assert!(!db.neighbors().is_empty());
}

/// The sd_notify(3) protocol as systemd sees it, on a datagram socket of
/// ours: READY=1 with a STATUS=, the STATUS updated when a session comes
/// up, watchdog pings, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1.
#[test]
fn notifies_ready_status_watchdog_reload_and_stop() {
    use std::os::unix::net::UnixDatagram;
    if !lab_enabled("notifies_ready_status_watchdog_reload_and_stop") {
        return;
    }
    let a = Netns::new("ndna");
    let b = Netns::new("ndnb");
    veth(&a, "eth0", &b, "eth0");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let dir = TempDir::new("notify");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let notify_socket = format!("NOTIFY_SOCKET={}", path.display());
    // 200 ms: pings every 100 ms.
    let env = ["env", notify_socket.as_str(), "WATCHDOG_USEC=200000"];
    let da = Ndbgpd::start_wrapped(&a, &dir, "a", &env, &["--iface", "eth0", "--asn", "65001"]);
    let next = |what: &str, want: &dyn Fn(&str) -> bool| -> String {
        wait_for(what, Duration::from_secs(20), || {
            let mut buf = [0u8; 4096];
            let n = sock.recv(&mut buf).ok()?;
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            want(&msg).then_some(msg)
        })
    };
    let ready = next("READY=1", &|m| m.contains("READY=1"));
    assert!(
        ready.contains("STATUS=0 neighbours, 0 Established"),
        "READY with a first STATUS: {ready:?}"
    );
    next("a watchdog ping", &|m| m.contains("WATCHDOG=1"));
    let _db = Ndbgpd::start(&b, &dir, "b", &["--iface", "eth0", "--asn", "65002"]);
    next("STATUS with the session Established", &|m| {
        m.contains("STATUS=1 neighbour, 1 Established")
    });
    // Pings go on.
    next("a watchdog ping after the STATUS", &|m| m.contains("WATCHDOG=1"));

    let pid = nix::unistd::Pid::from_raw(da.process.pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    let reloading = next("RELOADING=1", &|m| m.contains("RELOADING=1"));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    next("READY=1 after the reload", &|m| m.contains("READY=1"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    next("STOPPING=1", &|m| m.contains("STOPPING=1"));
}
