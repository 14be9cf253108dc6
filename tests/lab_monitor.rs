//! Lab test for `ndbgpctl monitor --json` against FRR 8.4: the events of a
//! session's life come as JSON lines, in order, while it happens: up,
//! prefixes announced and withdrawn, down with the reason, the neighbour
//! lost with its link and discovered again. Needs
//! root; in CI it never skips. Synchronised by polling with deadlines.

mod common;

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::peers::*;
use common::*;
use ndbgp::api::{Event, MonitorEvent};

const LONG: Duration = Duration::from_secs(30);

/// FRR in AS 65002 announcing nothing yet.
fn frr_conf() -> String {
    "frr defaults datacenter\nhostname frr\ndebug bgp neighbor-events\ndebug bgp updates\n!\ninterface eth0\n!\n\
router bgp 65002\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n\
 neighbor eth0 interface remote-as external\n!\n"
        .to_string()
}

/// The events `ndbgpctl monitor --json` wrote so far, in order; a line
/// that is not an event fails the test.
fn events(monitor: &Process) -> Vec<MonitorEvent> {
    monitor
        .log_text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not an event: {e}: {line:?}")))
        .collect()
}

/// The index of the first event after `after` that `matches`.
fn find(events: &[MonitorEvent], after: Option<usize>, matches: impl Fn(&Event) -> bool) -> Option<usize> {
    let from = after.map_or(0, |i| i + 1);
    events
        .iter()
        .skip(from)
        .position(|e| matches(&e.event))
        .map(|i| i + from)
}

fn frr_configure(frr: &Frr, lines: &str) {
    frr.vtysh(&format!("configure terminal\nrouter bgp 65002\n{lines}\nend"))
        .unwrap_or_else(|| panic!("vtysh: {lines}"));
}

#[test]
fn monitor_shows_a_sessions_life_in_order() {
    const T: &str = "monitor_shows_a_sessions_life_in_order";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let a = Netns::new("mona");
    let b = Netns::new("monb");
    veth(&a, "eth0", &b, "eth0");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, _, frr_ll) = wait_link_locals_ready(&a, &b, "eth0");
    let dir = TempDir::new("monitor");
    let da = Ndbgpd::start(
        &a,
        &dir,
        "a",
        &["--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1"],
    );

    // Its stdout and stderr in a file, read as it grows.
    let mut cmd = Command::new(ndbgpctl_bin());
    cmd.arg("--socket").arg(&da.socket).args(["monitor", "--json"]);
    let mut monitor = Process::spawn("ndbgpctl monitor", &mut cmd, Some(dir.join("monitor.log")));
    // Subscribed before anything happens: ndbgpd logs the stream's start.
    wait_for("the monitor stream to start", LONG, || {
        monitor.assert_running();
        da.process.log_text().contains("monitor stream started").then_some(())
    });

    let frr = Frr::start(&b, &dir, &frr_conf());
    let dump = || {
        format!(
            "\n--- monitor ---\n{}{}{}",
            monitor.log_text(),
            da.report(),
            frr.report()
        )
    };
    let on_eth0 = |interface: &str, peer: &std::net::Ipv6Addr| interface == "eth0" && *peer == frr_ll;

    let up = wait_or_dump("session_up", LONG, &dump, || {
        let seen = events(&monitor);
        find(
            &seen,
            None,
            |e| matches!(e, Event::SessionUp { interface, peer, remote_asn: 65002, .. } if on_eth0(interface, peer)),
        )
    });

    let prefix: ipnet::IpNet = "10.9.0.0/24".parse().expect("prefix");
    frr_configure(&frr, "address-family ipv4 unicast\nnetwork 10.9.0.0/24");
    let announced = wait_or_dump("10.9.0.0/24 announced", LONG, &dump, || {
        find(&events(&monitor), Some(up), |e| {
            matches!(e, Event::Prefixes { interface, peer, announced: 1.., first_announced, .. }
                if on_eth0(interface, peer) && first_announced.contains(&prefix))
        })
    });

    frr_configure(&frr, "address-family ipv4 unicast\nno network 10.9.0.0/24");
    let withdrawn = wait_or_dump("10.9.0.0/24 withdrawn", LONG, &dump, || {
        find(&events(&monitor), Some(announced), |e| {
            matches!(e, Event::Prefixes { interface, peer, withdrawn: 1.., first_withdrawn, .. }
                if on_eth0(interface, peer) && first_withdrawn.contains(&prefix))
        })
    });

    frr_configure(&frr, "neighbor eth0 shutdown message maintenance");
    let down = wait_or_dump("session_down", LONG, &dump, || {
        let seen = events(&monitor);
        let i = find(&seen, Some(withdrawn), |e| matches!(e, Event::SessionDown { .. }))?;
        Some((i, seen[i].clone()))
    });
    match &down.1.event {
        Event::SessionDown {
            interface,
            peer,
            reason,
            ..
        } => {
            assert!(on_eth0(interface, peer), "{down:?}");
            assert!(
                reason.contains("Administrative Shutdown") && reason.contains("maintenance"),
                "{reason}{}",
                dump()
            );
        }
        other => panic!("{other:?}"),
    }

    // The link goes away on ndbgpd's side: discovery loses FRR at once.
    a.set_link("eth0", false);
    let lost = wait_or_dump("neighbor_lost", LONG, &dump, || {
        let seen = events(&monitor);
        let i = find(&seen, Some(down.0), |e| {
            matches!(e, Event::NeighborLost { interface, peer, reason, .. }
                if on_eth0(interface, peer) && reason == "link down")
        })?;
        Some((i, seen[i].clone()))
    });
    // And back: found again (ndbgpd probes a link that comes up).
    a.set_link("eth0", true);
    wait_or_dump("neighbor_discovered", LONG, &dump, || {
        find(
            &events(&monitor),
            Some(lost.0),
            |e| matches!(e, Event::NeighborDiscovered { interface, peer, .. } if on_eth0(interface, peer)),
        )
    });
    // One clock: the times never go backwards.
    let seen = events(&monitor);
    assert!(seen.windows(2).all(|w| w[0].time_ms <= w[1].time_ms), "{}", dump());
    assert!(lost.1.time_ms >= down.1.time_ms);

    // Ctrl-C ends it with exit 0.
    let report = dump();
    kill(Pid::from_raw(monitor.pid()), Signal::SIGINT).expect("SIGINT");
    let status = wait_for("ndbgpctl monitor to exit", LONG, || {
        monitor.child.try_wait().ok().flatten()
    });
    assert!(status.success(), "{status:?}{report}");
}
