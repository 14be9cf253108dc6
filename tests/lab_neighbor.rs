//! Lab tests for `ndbgpctl neighbor ...` against real peers: FRR 8.4 sees
//! the shutdown text and stays down until `neighbor enable`; a soft clear
//! sends it a ROUTE-REFRESH without resetting the session, a hard clear
//! resets it; a static neighbour (`neighbor add`) finds a passive ExaBGP
//! that sends no RA, with the echo probe off. (`--teardown-on-loss` is
//! covered by the BGP manager's unit tests: silencing a neighbour whose
//! TCP session keeps its kernel neighbour entry fresh is not a quick lab.)
//! Need root; in CI they never skip. Synchronised by polling with deadlines.

mod common;

use std::net::Ipv6Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::peers::*;
use common::*;
use ndbgp::api::{NeighborView, SessionState};

const LONG: Duration = Duration::from_secs(30);
/// How long a shut-down session is watched not to come back: longer than
/// FRR's connect-retry (10 s, datacenter) and our first backoffs.
const STAYS_DOWN: Duration = Duration::from_secs(12);
const SHUTDOWN_TEXT: &str = "maintenance: ndbgp lab, back at 14:00";

/// `ndbgpctl ARGS` on `d`'s socket: exit code, stdout, stderr.
fn ctl(d: &Ndbgpd, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ndbgpctl_bin())
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .output()
        .expect("ndbgpctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ndbgpctl ARGS`, which must succeed: its line.
fn ctl_ok(d: &Ndbgpd, args: &[&str]) -> String {
    let (code, out, err) = ctl(d, args);
    assert_eq!(code, 0, "ndbgpctl {args:?}: {out}{err}\n{}", d.report());
    out
}

fn session(d: &Ndbgpd) -> Option<NeighborView> {
    d.try_neighbors()?.into_iter().find(|n| n.interface == "eth0")
}

fn established(d: &Ndbgpd) -> Option<NeighborView> {
    session(d).filter(|n| n.state == SessionState::Established)
}

/// A counter of FRR's neighbour on eth0 (`connectionsEstablished`, or one
/// of `messageStats`).
fn frr_count(frr: &Frr, path: &[&str]) -> Option<u64> {
    let mut v = frr.neighbor("eth0")?;
    for key in path {
        v = v.get(*key)?.clone();
    }
    v.as_u64()
}

/// Two namespaces joined by eth0, link-locals ready.
fn pair(tag: &str) -> (Netns, Netns) {
    let a = Netns::new(&format!("{tag}a"));
    let b = Netns::new(&format!("{tag}b"));
    veth(&a, "eth0", &b, "eth0");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    wait_link_locals_ready(&a, &b, "eth0");
    (a, b)
}

#[test]
fn shutdown_enable_and_clear_with_frr() {
    const T: &str = "shutdown_enable_and_clear_with_frr";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let (a, b) = pair("nbc");
    let dir = TempDir::new("nbclear");
    #[rustfmt::skip]
    let args = ["--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1", "--network", "10.0.1.0/24"];
    let d = Ndbgpd::start(&a, &dir, "a", &args);
    let frr = Frr::start(
        &b,
        &dir,
        &frr_unnumbered_conf("frr", 65002, "10.0.0.2", &["eth0"], FrrProfile::Datacenter),
    );
    let dump = || format!("{}{}", d.report(), frr.report());
    wait_or_dump("Established both ways", LONG, &dump, || {
        (established(&d).is_some() && frr.bgp_state("eth0").as_deref() == Some("Established")).then_some(())
    });

    // Soft clear: FRR gets a ROUTE-REFRESH and the session stays up.
    let connections = frr_count(&frr, &["connectionsEstablished"]).expect("connectionsEstablished");
    let refreshes = frr_count(&frr, &["messageStats", "routeRefreshRecv"]).unwrap_or(0);
    let line = ctl_ok(&d, &["neighbor", "clear", "eth0", "--soft"]);
    assert!(
        line.contains("sent ROUTE-REFRESH (IPv4 unicast) to 1 session on eth0"),
        "{line}"
    );
    wait_or_dump("FRR to receive a ROUTE-REFRESH", LONG, &dump, || {
        (frr_count(&frr, &["messageStats", "routeRefreshRecv"])? > refreshes).then_some(())
    });
    assert_eq!(
        frr_count(&frr, &["connectionsEstablished"]),
        Some(connections),
        "{}",
        dump()
    );
    assert_eq!(established(&d).map(|n| n.established_count), Some(1), "{}", dump());

    // Hard clear: reset, and a new session.
    let line = ctl_ok(&d, &["neighbor", "clear", "eth0"]);
    assert!(
        line.contains("sent Cease/Administrative Reset to 1 session on eth0"),
        "{line}"
    );
    wait_or_dump("FRR to establish a second time", LONG, &dump, || {
        let again = frr_count(&frr, &["connectionsEstablished"])? > connections;
        let ours = established(&d).is_some_and(|n| n.established_count == 2);
        (again && ours && frr.bgp_state("eth0").as_deref() == Some("Established")).then_some(())
    });
    assert_eq!(
        established(&d).and_then(|n| n.last_down).as_deref(),
        Some("reset by operator"),
        "{}",
        dump()
    );

    // Shutdown with a text: FRR has it, and the session stays down.
    let line = ctl_ok(&d, &["neighbor", "shutdown", "eth0", "--message", SHUTDOWN_TEXT]);
    assert!(
        line.contains("sent Cease/Administrative Shutdown to 1 session on eth0"),
        "{line}"
    );
    wait_or_dump("FRR to record the shutdown text", LONG, &dump, || {
        let down = frr.bgp_state("eth0").as_deref() != Some("Established");
        let said = frr.neighbor("eth0")?.get("lastShutdownDescription")?.as_str()? == SHUTDOWN_TEXT;
        (down && said).then_some(())
    });
    let until = Instant::now() + STAYS_DOWN;
    while Instant::now() < until {
        let ours = session(&d);
        assert!(
            ours.as_ref()
                .is_some_and(|n| n.admin_down && n.state == SessionState::Idle),
            "not held down: {ours:?}{}",
            dump()
        );
        assert_ne!(frr.bgp_state("eth0").as_deref(), Some("Established"), "{}", dump());
        std::thread::sleep(Duration::from_millis(200));
    }
    let table = d.ctl_text(&["neighbors"]);
    assert!(table.contains("Idle (admin down)"), "{table}");

    // Enable: back up.
    let line = ctl_ok(&d, &["neighbor", "enable", "eth0"]);
    assert_eq!(line.trim(), "enabled 1 session on eth0: dialing again");
    wait_or_dump("Established after enable", LONG, &dump, || {
        (established(&d).is_some_and(|n| !n.admin_down && n.established_count == 3)
            && frr.bgp_state("eth0").as_deref() == Some("Established"))
        .then_some(())
    });

    // Unknown targets: one line naming it, exit 1; the daemon keeps running.
    let (code, out, err) = ctl(&d, &["neighbor", "shutdown", "eth9"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no session on eth9"), "{err}");
    let (code, _, err) = ctl(&d, &["neighbor", "clear", "fe80::99%eth0"]);
    assert_eq!(code, 1);
    assert!(err.contains("no neighbour fe80::99%eth0"), "{err}");
    let long = "x".repeat(256);
    let (code, _, err) = ctl(&d, &["neighbor", "shutdown", "eth0", "--message", &long]);
    assert_eq!(code, 1);
    assert!(err.contains("RFC 9003 allows at most 255 bytes"), "{err}");
    assert!(established(&d).is_some(), "{}", dump());
}

const SERVER_AS: u32 = 65002;
const SERVER_PREFIX: &str = "10.99.2.0/24";

fn established_with(d: &Ndbgpd, peer: Ipv6Addr) -> bool {
    d.try_neighbors()
        .unwrap_or_default()
        .iter()
        .any(|n| n.address == peer && n.state == SessionState::Established && n.remote_asn == Some(SERVER_AS))
}

/// A passive ExaBGP that sends no RA, with the echo probe off: nothing
/// finds it until `neighbor add`; then Established, its route installed.
#[test]
fn a_static_neighbour_reaches_a_silent_passive_exabgp() {
    const T: &str = "a_static_neighbour_reaches_a_silent_passive_exabgp";
    if !lab_enabled(T) {
        return;
    }
    let exabgp = exabgp_bin();
    let exabgp = exabgp.to_str().expect("utf-8 path");
    if !have_tool(T, exabgp) {
        return;
    }
    let dir = TempDir::new("nbstatic");
    // The server's link first: its RS and DAD happen with nobody listening.
    let (leaf, _server, server_ll, mut exa) =
        passive_exabgp_server(("nbs-l", "nbs-s"), &dir, exabgp, SERVER_AS, SERVER_PREFIX);
    let d = Ndbgpd::start(
        &leaf,
        &dir,
        "leaf",
        &["--iface", "eth0", "--asn", "65001", "--probe-interval", "0"],
    );
    let dump = || format!("{}\n--- exabgp ---\n{}", d.report(), tail(&exa.log_text(), 40));
    // A few seconds: no neighbour, no session.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert!(d.neighbors().is_empty(), "found the silent server{}", dump());
        std::thread::sleep(Duration::from_millis(200));
    }

    let target = format!("{server_ll}%eth0");
    let started = Instant::now();
    let line = ctl_ok(&d, &["neighbor", "add", &target]);
    assert!(
        line.contains(&format!("added static neighbour {target} (not persisted)")),
        "{line}"
    );
    let (code, _, err) = ctl(&d, &["neighbor", "add", &target]);
    assert_eq!(code, 1);
    assert!(err.contains("already a static neighbour"), "{err}");
    let (code, _, err) = ctl(&d, &["neighbor", "add", "fe80::5%eth9"]);
    assert_eq!(code, 1);
    assert!(err.contains("eth9 is not a configured interface"), "{err}");
    wait_or_dump("Established with the static neighbour", LONG, &dump, || {
        established_with(&d, server_ll).then_some(())
    });
    eprintln!("lab_neighbor: Established {:?} after neighbor add", started.elapsed());
    wait_or_dump("ExaBGP's route in the kernel", LONG, &dump, || {
        d.routes(Some(SERVER_PREFIX))
            .iter()
            .any(|r| r.route.prefix.to_string() == SERVER_PREFIX && r.installed)
            .then_some(())
    });
    let entry = d.find_neighbour("eth0", server_ll).expect("in discovery");
    assert!(entry.sources.iter().any(|s| s == "static"), "{:?}", entry.sources);
    assert_eq!(entry.expires_in_ms, None, "a static neighbour never expires");

    // Removed: unless the kernel's table saw it meanwhile (our dial made
    // the kernel resolve it), its session ends.
    let line = ctl_ok(&d, &["neighbor", "remove", &target]);
    assert!(line.contains(&format!("removed static neighbour {target}")), "{line}");
    let (code, _, err) = ctl(&d, &["neighbor", "remove", &target]);
    assert_eq!(code, 1);
    assert!(err.contains("not a static neighbour"), "{err}");
    match d.find_neighbour("eth0", server_ll) {
        None => {
            assert!(line.contains("its session ends"), "{line}");
            wait_or_dump("the session to end", LONG, &dump, || {
                d.neighbors().is_empty().then_some(())
            });
        }
        Some(entry) => {
            assert!(entry.sources.iter().all(|s| s != "static"), "{:?}", entry.sources);
            assert!(line.contains("discovery still sees it"), "{line}");
            assert!(established_with(&d, server_ll), "{}", dump());
        }
    }
    exa.assert_running();
}
