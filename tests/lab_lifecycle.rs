//! Lab tests of the daemon's life cycle: SIGHUP reload of the interfaces
//! and SIGTERM's orderly stop. Need root; in CI they never skip.

mod common;

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::*;
use ndbgp::api::{NeighborView, SessionState};

/// The session on `ifname`, if any.
fn session(d: &Ndbgpd, ifname: &str) -> Option<NeighborView> {
    d.neighbors().into_iter().find(|s| s.interface == ifname)
}

fn established(d: &Ndbgpd, ifname: &str) -> Option<NeighborView> {
    session(d, ifname).filter(|s| s.state == SessionState::Established)
}

fn signal(d: &Ndbgpd, signal: Signal) {
    kill(Pid::from_raw(d.process.pid()), signal).expect("kill");
}

/// `n` veth links eth0.. between `a` and `b`, all up.
fn links(a: &Netns, b: &Netns, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("eth{i}")).collect();
    for name in &names {
        veth(a, name, b, name);
        a.set_link(name, true);
        b.set_link(name, true);
    }
    names
}

/// Whether `d` has a path to `prefix`.
fn has_route(d: &Ndbgpd, prefix: &str) -> bool {
    let prefix: ipnet::IpNet = prefix.parse().expect("a prefix");
    d.routes(None).iter().any(|r| r.route.prefix == prefix)
}

const REDISTRIBUTE: &str = "redistribute = [\"connected\"]\n";

/// AS 65001, router ID 10.0.0.1, `interfaces`, then the `extra` lines.
fn config_file(path: &std::path::Path, interfaces: &[&str], extra: &str) {
    let list: Vec<String> = interfaces.iter().map(|i| format!("\"{i}\"")).collect();
    let text = format!(
        "# written by lab_lifecycle\nasn = 65001\nrouter_id = \"10.0.0.1\"\ninterfaces = [{}]\n{extra}",
        list.join(", ")
    );
    std::fs::write(path, text).expect("config file");
}

#[test]
fn sighup_changes_the_log_level() {
    if !lab_enabled("sighup_changes_the_log_level") {
        return;
    }
    let a = Netns::new("ndla");
    let b = Netns::new("ndlb");
    links(&a, &b, 2);
    let dir = TempDir::new("loglevel");
    let file = dir.join("a.toml");
    let write =
        |level: &str, interfaces: &[&str]| config_file(&file, interfaces, &format!("log_level = \"{level}\"\n"));
    write("info", &["eth0"]);
    let file_arg = file.to_str().expect("utf-8 path");
    let da = Ndbgpd::start_exactly(&a, &dir, "a", &[], &["--config", file_arg]);
    let db = Ndbgpd::start(&b, &dir, "b", &["--iface", "eth0", "--iface", "eth1", "--asn", "65002"]);
    let long = Duration::from_secs(20);
    wait_for("eth0 Established", long, || established(&da, "eth0"));
    let log = da.process.log_text();
    assert!(!log.contains(" DEBUG "), "debug lines at level info:\n{log}");

    // Up to debug, and a new interface whose session start logs at debug.
    write("debug", &["eth0", "eth1"]);
    signal(&da, Signal::SIGHUP);
    wait_for("eth1 Established", long, || established(&da, "eth1"));
    let log = da.process.log_text();
    let (_, after) = log
        .split_once("reload: log level info -> debug")
        .unwrap_or_else(|| panic!("no log level line:\n{log}"));
    assert!(after.contains(" DEBUG "), "no debug line after the switch:\n{log}");

    // Down to warn: the interface removal (info, after the switch) is not logged.
    write("warn", &["eth0"]);
    signal(&da, Signal::SIGHUP);
    wait_for("eth1's session to go", Duration::from_secs(5), || {
        session(&da, "eth1").is_none().then_some(())
    });
    let log = da.process.log_text();
    let (_, after) = log
        .split_once("reload: log level debug -> warn")
        .unwrap_or_else(|| panic!("no log level line:\n{log}"));
    assert!(
        !after.contains("interfaces removed"),
        "info logged at level warn:\n{log}"
    );
    assert!(established(&db, "eth0").is_some());
}

#[test]
fn sighup_adds_and_removes_interfaces_without_touching_the_others() {
    if !lab_enabled("sighup_adds_and_removes_interfaces") {
        return;
    }
    let a = Netns::new("ndha");
    let b = Netns::new("ndhb");
    links(&a, &b, 2);
    // Redistributed while eth1 is not a fabric interface, not once it is.
    const ETH1_NET: &str = "2001:db8:e1::/64";
    a.ip(&["addr", "add", "2001:db8:e1::1/64", "dev", "eth1", "nodad"]);
    let dir = TempDir::new("hup");
    let file = dir.join("a.toml");
    config_file(&file, &["eth0"], REDISTRIBUTE);
    let file_arg = file.to_str().expect("utf-8 path");
    let mut da = Ndbgpd::start(&a, &dir, "a", &["--config", file_arg]);
    let db = Ndbgpd::start(
        &b,
        &dir,
        "b",
        &[
            "--iface",
            "eth0",
            "--iface",
            "eth1",
            "--asn",
            "65002",
            "--router-id",
            "10.0.0.2",
        ],
    );
    let long = Duration::from_secs(20);
    let before = wait_for("eth0 Established", long, || established(&da, "eth0"));
    assert!(session(&da, "eth1").is_none(), "eth1 is not configured yet");
    wait_for("b to learn eth1's connected prefix", long, || {
        has_route(&db, ETH1_NET).then_some(())
    });

    // Add eth1: its session comes up, eth0's is not reset.
    config_file(&file, &["eth0", "eth1"], REDISTRIBUTE);
    signal(&da, Signal::SIGHUP);
    wait_for("eth1 Established after SIGHUP", long, || established(&da, "eth1"));
    let after = established(&da, "eth0").expect("eth0 still Established");
    assert_eq!(after.established_count, 1, "eth0's session was not reset: {after:?}");
    assert_eq!(after.address, before.address);
    assert!(
        after.uptime_s >= before.uptime_s,
        "uptime goes on: {before:?} -> {after:?}"
    );
    let b_eth0 = established(&db, "eth0").expect("b's eth0 Established");
    assert_eq!(b_eth0.established_count, 1, "{b_eth0:?}");
    wait_for("eth1's prefix to be withdrawn now eth1 is fabric", long, || {
        (!has_route(&db, ETH1_NET)).then_some(())
    });

    // A bad file is logged and ignored: nothing changes.
    std::fs::write(&file, "asn = 65001\ninterfaces = [\"eth0\"]\nbogus = 1\n").expect("write");
    signal(&da, Signal::SIGHUP);
    wait_for("the bad file to be reported", Duration::from_secs(5), || {
        da.process
            .log_text()
            .contains(":3:1: unknown key `bogus`")
            .then_some(())
    });
    da.process.assert_running();
    assert!(established(&da, "eth1").is_some(), "the bad file changed nothing");

    // Remove eth1: its session ends with Cease / Peer De-configured.
    config_file(&file, &["eth0"], REDISTRIBUTE);
    signal(&da, Signal::SIGHUP);
    wait_for("eth1's session to go", Duration::from_secs(5), || {
        session(&da, "eth1").is_none().then_some(())
    });
    let b_eth1 = wait_for("b to see the Cease", Duration::from_secs(5), || {
        session(&db, "eth1").filter(|s| s.state != SessionState::Established)
    });
    let why = b_eth1.last_down.as_deref().unwrap_or_default();
    assert!(why.contains("Peer De-configured"), "b's eth1 session: {b_eth1:?}");
    let eth0 = established(&da, "eth0").expect("eth0 still Established");
    assert_eq!(eth0.established_count, 1, "{eth0:?}");
    wait_for("eth1's prefix to be redistributed again", long, || {
        has_route(&db, ETH1_NET).then_some(())
    });
    let log = da.process.log_text();
    assert!(log.contains("reload: interfaces added: eth1"), "{log}");
    assert!(log.contains("reload: interfaces removed: eth1"), "{log}");

    // A setting that only a restart applies is reported as such.
    std::fs::write(
        &file,
        "asn = 65001\nrouter_id = \"10.0.0.1\"\ninterfaces = [\"eth0\"]\nhold_time = 30\n",
    )
    .expect("write");
    signal(&da, Signal::SIGHUP);
    wait_for("needs a restart", Duration::from_secs(5), || {
        da.process
            .log_text()
            .contains("needs a restart: hold_time")
            .then_some(())
    });
    assert!(established(&da, "eth0").is_some());
}

#[test]
fn sigterm_ceases_every_session_and_exits_0_within_2_s() {
    if !lab_enabled("sigterm_ceases_every_session") {
        return;
    }
    const LINKS: usize = 16;
    let a = Netns::new("ndta");
    let b = Netns::new("ndtb");
    let names = links(&a, &b, LINKS);
    let ifaces = |asn: &str, id: &str| {
        let mut args: Vec<String> = names.iter().flat_map(|n| ["--iface".to_string(), n.clone()]).collect();
        args.extend(["--asn", asn, "--router-id", id].map(String::from));
        args
    };
    let dir = TempDir::new("term");
    let a_args = ifaces("65001", "10.0.0.1");
    let b_args = ifaces("65002", "10.0.0.2");
    let mut da = Ndbgpd::start(&a, &dir, "a", &a_args.iter().map(String::as_str).collect::<Vec<_>>());
    let db = Ndbgpd::start(&b, &dir, "b", &b_args.iter().map(String::as_str).collect::<Vec<_>>());
    wait_for("every session Established", Duration::from_secs(30), || {
        let up = db
            .neighbors()
            .iter()
            .filter(|s| s.state == SessionState::Established)
            .count();
        (up == LINKS).then_some(())
    });

    let start = Instant::now();
    signal(&da, Signal::SIGTERM);
    let status = wait_for("ndbgpd a to exit", Duration::from_secs(5), || {
        da.process.child.try_wait().expect("try_wait")
    });
    let took = start.elapsed();
    eprintln!("ndbgpd with {LINKS} sessions exited {took:?} after SIGTERM: {status}");
    assert_eq!(status.code(), Some(0), "exit status; log:\n{}", da.process.log_text());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(!da.socket.exists(), "the control socket is removed");

    wait_for(
        "every peer to see the Administrative Shutdown",
        Duration::from_secs(5),
        || {
            let told = db
                .neighbors()
                .iter()
                .filter(|s| {
                    // last_down: the redials that follow overwrite last_error.
                    let why = s.last_down.as_deref().unwrap_or_default();
                    why.contains("Administrative Shutdown") && why.contains("ndbgpd shutting down")
                })
                .count();
            (told == LINKS).then_some(())
        },
    );
}
