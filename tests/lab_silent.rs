//! Lab test: a neighbour that says nothing. ExaBGP 5 (from PyPI; scripts/test.sh
//! installs it) in passive mode on a server namespace never dials and sends
//! no RA, and its link came up (link-local out of DAD, its RS long gone)
//! before ndbgpd started. Without probes ndbgpd never hears it; with the
//! echo probe to ff02::1 the session comes up and ExaBGP's route arrives.
//! Needs root; in CI it never skips.

mod common;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use ndbgp::api::{InterfaceEntry, SessionState};

use common::peers::{exabgp_bin, passive_exabgp_server};
use common::*;

/// How long ndbgpd gets to reach Established with the silent server, and
/// how long it is watched not to without probes: the first probe leaves at
/// once, so a few seconds are enough and the margin is for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(15);
const PREFIX: &str = "10.99.1.0/24";
const SERVER_AS: u32 = 65002;

fn established_with(d: &Ndbgpd, peer: Ipv6Addr) -> bool {
    d.try_neighbors()
        .unwrap_or_default()
        .iter()
        .any(|n| n.address == peer && n.state == SessionState::Established && n.remote_asn == Some(SERVER_AS))
}

fn report(d: &Ndbgpd, exabgp: &Process) -> String {
    format!(
        "\n--- interfaces: {}\n--- discovery: {}\n--- neighbors: {}\n--- ndbgpd log ---\n{}\n--- exabgp log ---\n{}\n",
        d.try_ctl_json(&["interfaces"]).unwrap_or_default(),
        d.try_ctl_json(&["discovery"]).unwrap_or_default(),
        d.try_ctl_json(&["neighbors"]).unwrap_or_default(),
        tail(&d.process.log_text(), 60),
        tail(&exabgp.log_text(), 40)
    )
}

#[test]
fn a_silent_passive_exabgp_is_found_by_the_probe_and_not_without_it() {
    if !lab_enabled("lab_silent") {
        return;
    }
    let exabgp = exabgp_bin();
    let exabgp = exabgp.to_str().expect("utf-8 path");
    if !have_tool("lab_silent", exabgp) {
        return;
    }
    let dir = TempDir::new("silent");
    // The server's link first: its RS and DAD happen with nobody listening.
    let (leaf, _server, server_ll, mut exa) =
        passive_exabgp_server(("sil-l", "sil-s"), &dir, exabgp, SERVER_AS, PREFIX);
    let in_leaf_table = || run(leaf.command("ip").args(["-6", "neigh", "show", "dev", "eth0"]));
    assert!(
        !in_leaf_table().contains(&server_ll.to_string()),
        "the server is already in the leaf's neighbour table: not silent\n{}",
        in_leaf_table()
    );

    // Probes off: nothing makes the server speak, so no neighbour and no
    // session for the whole deadline.
    let mut quiet = Ndbgpd::start(
        &leaf,
        &dir,
        "off",
        &["--iface", "eth0", "--asn", "65001", "--probe-interval", "0"],
    );
    let until = Instant::now() + DEADLINE;
    while Instant::now() < until {
        quiet.process.assert_running();
        let seen = quiet.discovery().into_iter().any(|e| e.address == server_ll);
        let sessions = quiet.neighbors();
        assert!(
            !seen && sessions.is_empty(),
            "found the silent server without probing{}",
            report(&quiet, &exa)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let off: Vec<InterfaceEntry> = quiet.interfaces();
    assert_eq!(off[0].nd.probes, None, "probing off shows as off");
    quiet.process.stop();
    exa.assert_running();

    // Probes on (the default): Established and the route within the deadline.
    let d = Ndbgpd::start(&leaf, &dir, "on", &["--iface", "eth0", "--asn", "65001"]);
    let started = Instant::now();
    wait_or_dump(
        "Established with the silent ExaBGP",
        DEADLINE,
        &|| report(&d, &exa),
        || established_with(&d, server_ll).then_some(()),
    );
    let took = started.elapsed();
    wait_or_dump(
        "ExaBGP's route in the RIB and the kernel",
        DEADLINE.saturating_sub(took),
        &|| report(&d, &exa),
        || {
            d.routes(Some(PREFIX))
                .iter()
                .any(|r| r.route.prefix.to_string() == PREFIX && r.installed)
                .then_some(())
        },
    );
    eprintln!("lab_silent: Established {took:?} after ndbgpd started");
    let on: Vec<InterfaceEntry> = d.interfaces();
    let probes = on[0].nd.probes.expect("probing on by default");
    assert!(probes.sent >= 1 && probes.answers >= 1, "{probes:?}");
    let entry = d.find_neighbour("eth0", server_ll).expect("the server in discovery");
    assert!(entry.sources.iter().any(|s| s == "echo"), "{:?}", entry.sources);
    exa.assert_running();
}

/// The other way round: a neighbour that sends RAs of its own needs no
/// steady probes. A probes every 2 s, B sends an RA every second: past the
/// burst A puts its probes off, and B stays in A's discovery from its RAs.
/// A silent neighbour keeps them going (the unit tests of `nd/probe.rs`).
#[test]
fn probes_are_put_off_for_a_neighbour_that_sends_ras() {
    if !lab_enabled("lab_silent_put_off") {
        return;
    }
    let a = Netns::new("pofa");
    let b = Netns::new("pofb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("putoff");
    let da = Ndbgpd::start(
        &a,
        &dir,
        "a",
        &["--iface", "eth0", "--asn", "65001", "--probe-interval", "2"],
    );
    let db = Ndbgpd::start(
        &b,
        &dir,
        "b",
        &[
            "--iface",
            "eth0",
            "--asn",
            "65002",
            "--ra-interval",
            "1",
            "--probe-interval",
            "0",
        ],
    );
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, _, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let report = || {
        format!(
            "\n--- a interfaces: {}\n--- a discovery: {}\n--- a log ---\n{}\n--- b log ---\n{}\n",
            da.try_ctl_json(&["interfaces"]).unwrap_or_default(),
            da.try_ctl_json(&["discovery"]).unwrap_or_default(),
            tail(&da.process.log_text(), 40),
            tail(&db.process.log_text(), 20)
        )
    };
    let probes = || da.interfaces()[0].nd.probes.expect("probing on");
    wait_or_dump("B's answer to a probe", Duration::from_secs(10), &report, || {
        (probes().answers >= 1).then_some(())
    });
    // Steady from 3 s on: within a few intervals the first is put off.
    let skipped = wait_or_dump("a probe put off", Duration::from_secs(15), &report, || {
        let p = probes();
        (p.skipped >= 1).then_some(p)
    });
    // Watched for 8 s (4 intervals): no probe leaves while B keeps sending
    // RAs (but the one every PROBE_PUT_OFF_MAX = 6 intervals, 12 s), and B
    // stays in discovery.
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let now = probes();
        assert!(now.sent <= skipped.sent + 1, "{skipped:?} then {now:?}{}", report());
        let entry = da
            .find_neighbour("eth0", lb)
            .unwrap_or_else(|| panic!("B in discovery{}", report()));
        assert!(entry.sources.iter().any(|s| s == "ra"), "{entry:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let later = probes();
    assert!(
        later.skipped > skipped.skipped,
        "{skipped:?} then {later:?}{}",
        report()
    );
}
