//! Lab tests for graceful restart, helper side (RFC 4724): FRR's bgpd and
//! BIRD killed (SIGKILL, as a crash) and started again next to ndbgpd. Its
//! routes stay in ndbgpd's kernel the whole time, pings through them lose
//! nothing, a route the peer no longer announces after its restart goes at
//! its End-of-RIB, and a peer that does not come back loses its routes
//! after its restart time. Restarting side: ndbgpd with
//! `--graceful-restart` stopped by SIGTERM and started again next to FRR,
//! BIRD and another ndbgpd as helpers, without a route leaving either
//! kernel. Need root; in CI they never skip.

mod common;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use ndbgp::api::NeighborView;
use serde_json::Value;

use common::peers::*;
use common::*;

/// iputils' ping (scripts/test.sh installs it).
const PING: &str = "/usr/bin/ping";

/// The kernel's route to `prefix` in `ns` if it is ndbgpd's (proto 201)
/// and goes via `gw` on `dev`.
fn route_via(ns: &Netns, prefix: &str, gw: Ipv6Addr, dev: &str) -> bool {
    let mut args = vec![];
    if prefix.contains(':') {
        args.push("-6");
    }
    args.extend(["-j", "route", "show", "proto", "201"]);
    let routes: Vec<Value> = serde_json::from_str::<Value>(&ns.ip(&args))
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    // `ip` shows a host route without its length.
    let host = prefix.trim_end_matches("/32").trim_end_matches("/128");
    routes.iter().any(|r| {
        (r["dst"] == prefix || r["dst"] == host)
            && r["dev"] == dev
            && (r["gateway"] == gw.to_string().as_str() || r["via"]["host"] == gw.to_string().as_str())
    })
}

/// `ip route` in `ns` (both families), for failure messages.
fn kernel_table(ns: &Netns) -> String {
    format!("{}{}", ns.ip(&["route"]), ns.ip(&["-6", "route"]))
}

/// The session on `ifname`, once `ndbgpctl neighbors` answers.
fn neighbor(d: &Ndbgpd, ifname: &str) -> Option<NeighborView> {
    d.try_neighbors()?.into_iter().find(|n| n.interface == ifname)
}

/// A ping every 10 ms from `from` to `to` in `ns`, running until
/// [`Pinger::finish`].
struct Pinger {
    process: Process,
}

impl Pinger {
    fn start(ns: &Netns, dir: &TempDir, tag: &str, from: &str, to: &str) -> Pinger {
        let mut cmd = ns.command(PING);
        cmd.args(["-n", "-i", "0.01", "-W", "1", "-I", from, to]);
        let process = Process::spawn(tag, &mut cmd, Some(dir.join(&format!("{tag}.txt"))));
        Pinger { process }
    }

    /// Stops it (SIGINT: ping prints its summary) and returns (sent,
    /// received).
    fn finish(mut self) -> (u64, u64) {
        use nix::sys::signal::{Signal, kill};
        let _ = kill(nix::unistd::Pid::from_raw(self.process.pid()), Signal::SIGINT);
        wait_for("ping to exit", Duration::from_secs(5), || {
            self.process.child.try_wait().ok().flatten().map(|_| ())
        });
        let text = self.process.log_text();
        let line = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or_else(|| panic!("no ping summary:\n{}", tail(&text, 20)));
        let number = |word: &str| -> u64 {
            let before = line.split(word).next().unwrap_or("");
            before
                .rsplit(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no count before {word:?} in {line:?}"))
        };
        (number(" packets transmitted"), number(" received"))
    }
}

/// While `until` is None, checks every 20 ms that every prefix of `keep` is
/// still in `ns`'s kernel via `gw` on eth0; panics (with `dump`) at the
/// first one missing or at the deadline.
fn hold_routes<T>(
    what: &str,
    ns: &Netns,
    keep: &[&str],
    gw: Ipv6Addr,
    timeout: Duration,
    dump: &dyn Fn() -> String,
    mut until: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        for prefix in keep {
            assert!(
                route_via(ns, prefix, gw, "eth0"),
                "{prefix} left the kernel while waiting for {what}:\n{}{}",
                kernel_table(ns),
                dump()
            );
        }
        if let Some(v) = until() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}{}", dump());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn frr_conf(restart_time: u16, extra_v4: &[&str]) -> String {
    let mut v4 = String::from("  network 10.0.2.1/32\n");
    for prefix in extra_v4 {
        v4 += &format!("  network {prefix}\n");
    }
    format!(
        "frr defaults datacenter\nhostname frr\ndebug bgp neighbor-events\ndebug bgp graceful-restart\n!\n\
interface eth0\n!\nrouter bgp 65002\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n\
 no bgp network import-check\n bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n\
 bgp graceful-restart restart-time {restart_time}\n neighbor eth0 interface remote-as external\n\
 address-family ipv4 unicast\n{v4} exit-address-family\n address-family ipv6 unicast\n\
  neighbor eth0 activate\n  network 2001:db8:2::/48\n exit-address-family\n!\n"
    )
}

/// The ndbgpd that restarts gracefully next to a helper: AS 65001,
/// announcing its loopback 10.0.1.1/32, restart time 30 s.
const RESTARTING: [&str; 11] = [
    "--iface",
    "eth0",
    "--asn",
    "65001",
    "--router-id",
    "10.0.0.1",
    "--network",
    "10.0.1.1/32",
    "--graceful-restart",
    "--restart-time",
    "30",
];

/// Two namespaces joined by their eth0, with 10.0.1.1/32 and 10.0.2.1/32
/// on their loopbacks and, with `blackholes`, the second holding the
/// blackhole routes its daemon announces (10.0.9.0/24, 2001:db8:2::/48);
/// returned once both link-locals have left DAD, with them.
fn loopback_pair(a_name: &str, b_name: &str, blackholes: bool) -> (Netns, Netns, Ipv6Addr, Ipv6Addr) {
    let a = Netns::new(a_name);
    let b = Netns::new(b_name);
    veth(&a, "eth0", &b, "eth0");
    a.ip(&["link", "set", "lo", "up"]);
    b.ip(&["link", "set", "lo", "up"]);
    a.ip(&["addr", "add", "10.0.1.1/32", "dev", "lo"]);
    b.ip(&["addr", "add", "10.0.2.1/32", "dev", "lo"]);
    if blackholes {
        b.ip(&["route", "add", "blackhole", "10.0.9.0/24"]);
        b.ip(&["-6", "route", "add", "blackhole", "2001:db8:2::/48"]);
    }
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    (a, b, la, lb)
}

/// FRR's bgpd killed and started again, twice: the first time it comes
/// back (in time) without 10.0.9.0/24, which is swept at its End-of-RIB;
/// the second time (restart time 5 s) it stays down and its routes go
/// after 5 s. Pings to FRR's loopback through its route lose nothing over
/// the first restart.
#[test]
fn frr_killed_and_restarted_keeps_its_routes() {
    const T: &str = "frr_killed_and_restarted_keeps_its_routes";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) || !have_tool(T, PING) {
        return;
    }
    let (a, b, la, lb) = loopback_pair("gfa", "gfb", true);
    let dir = TempDir::new("gfrr");
    // The way back to our loopback without bgpd: FRR's side of the ping
    // does not depend on FRR's own restart (zebra's handling of it).
    b.ip(&[
        "route",
        "add",
        "10.0.1.1/32",
        "via",
        "inet6",
        &la.to_string(),
        "dev",
        "eth0",
    ]);
    let args = [
        "--iface",
        "eth0",
        "--asn",
        "65001",
        "--router-id",
        "10.0.0.1",
        "--network",
        "10.0.1.1/32",
    ];
    let d = Ndbgpd::start(&a, &dir, "a", &args);
    let mut frr = Frr::start(&b, &dir, &frr_conf(120, &["10.0.9.0/24"]));
    let frr_dir = frr.dir.clone();
    let bgpd_log = move || {
        tail(
            &std::fs::read_to_string(frr_dir.join("bgpd.log")).unwrap_or_default(),
            80,
        )
    };
    let dump = || format!("{}\n--- frr bgpd log ---\n{}", d.report(), bgpd_log());
    let all = ["10.0.2.1/32", "10.0.9.0/24", "2001:db8:2::/48"];
    wait_or_dump(
        "FRR's routes in ndbgpd's kernel",
        Duration::from_secs(40),
        &dump,
        || all.iter().all(|p| route_via(&a, p, lb, "eth0")).then_some(()),
    );
    let n = neighbor(&d, "eth0").expect("the session");
    assert!(n.graceful_restart, "FRR's GR capability negotiated: {n:?}");
    assert_eq!(n.stale_routes, 0, "{n:?}");

    let pinger = Pinger::start(&a, &dir, "ping", "10.0.1.1", "10.0.2.1");
    // Pings go through before bgpd is killed.
    wait_or_dump("pings answered", Duration::from_secs(5), &dump, || {
        pinger.process.log_text().contains("bytes from 10.0.2.1").then_some(())
    });

    // Crash: routes kept, stale.
    let killed = Instant::now();
    frr.kill_bgpd();
    let restarting = hold_routes(
        "the routes to be marked stale",
        &a,
        &all,
        lb,
        Duration::from_secs(20),
        &dump,
        || neighbor(&d, "eth0").filter(|n| n.gr_restarting && n.stale_routes == 3),
    );
    eprintln!(
        "{T}: bgpd killed -> ndbgpd keeps 3 stale routes after {:?}: {restarting:?}",
        killed.elapsed()
    );
    let stale: Vec<bool> = d
        .routes(Some("10.0.2.1/32"))
        .iter()
        .flat_map(|r| r.route.paths.iter().map(|p| p.stale))
        .collect();
    assert_eq!(stale, [true], "ndbgpctl routes shows the path stale");
    // Down a while (two seconds of polling): nothing leaves the kernel.
    let down_until = Instant::now() + Duration::from_secs(2);
    hold_routes("bgpd's downtime", &a, &all, lb, Duration::from_secs(5), &dump, || {
        (Instant::now() >= down_until).then_some(())
    });

    // Back without 10.0.9.0/24, with a restart time of 5 s this time.
    frr.restart_bgpd(&b, &frr_conf(5, &[]));
    let kept = ["10.0.2.1/32", "2001:db8:2::/48"];
    hold_routes(
        "FRR Established again",
        &a,
        &kept,
        lb,
        Duration::from_secs(60),
        &dump,
        || (frr.bgp_state("eth0").as_deref() == Some("Established")).then_some(()),
    );
    let back = killed.elapsed();
    hold_routes(
        "10.0.9.0/24 swept at End-of-RIB",
        &a,
        &kept,
        lb,
        Duration::from_secs(30),
        &dump,
        || (!route_via(&a, "10.0.9.0/24", lb, "eth0")).then_some(()),
    );
    let swept = killed.elapsed();
    let n = hold_routes(
        "no stale route left",
        &a,
        &kept,
        lb,
        Duration::from_secs(10),
        &dump,
        || neighbor(&d, "eth0").filter(|n| !n.gr_restarting && n.stale_routes == 0),
    );
    assert!(n.graceful_restart, "{n:?}");
    let log = d.process.log_text();
    assert!(
        log.lines().any(|l| l.contains("End-of-RIB: 1 stale routes")),
        "10.0.9.0/24 swept by FRR's End-of-RIB (FRR kept forwarding: F bit):\n{}",
        tail(&log, 40)
    );
    let (sent, received) = pinger.finish();
    eprintln!(
        "{T}: Established again {back:?} after the kill, 10.0.9.0/24 swept at {swept:?}; pings {received}/{sent}"
    );
    assert!(sent > 100, "pings sent: {sent}");
    assert_eq!(sent, received, "pings lost while FRR's bgpd restarted");

    // Killed again, not restarted: its routes go after its restart time (5 s).
    let killed = Instant::now();
    frr.kill_bgpd();
    hold_routes(
        "the routes to be stale again",
        &a,
        &kept,
        lb,
        Duration::from_secs(10),
        &dump,
        || neighbor(&d, "eth0").filter(|n| n.gr_restarting),
    );
    wait_or_dump("the stale routes to go", Duration::from_secs(15), &dump, || {
        kept.iter().all(|p| !route_via(&a, p, lb, "eth0")).then_some(())
    });
    let gone = killed.elapsed();
    eprintln!("{T}: killed without coming back: routes gone after {gone:?} (restart time 5 s)");
    assert!(gone >= Duration::from_secs(4), "gone before the restart time: {gone:?}");
    assert!(
        gone <= Duration::from_secs(12),
        "kept long past the restart time: {gone:?}"
    );
}

/// BIRD with `graceful restart on`, killed (SIGKILL) and started again:
/// its routes stay in ndbgpd's kernel while it is down; back, it does not
/// claim to have kept forwarding (no F bit), so they are replaced by what
/// it sends again (RFC 4724 4.2).
#[test]
fn bird_killed_and_restarted_keeps_its_routes() {
    const T: &str = "bird_killed_and_restarted_keeps_its_routes";
    if !lab_enabled(T) || !have_tool(T, BIRD) || !have_tool(T, BIRDC) {
        return;
    }
    let a = Netns::new("gba");
    let b = Netns::new("gbb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("gbird");
    let conf = |routes: &str| {
        format!(
            r#"router id 10.0.0.3;
log stderr all;
protocol device {{ }}
protocol radv {{ interface "eth0" {{ max ra interval 4; min ra interval 3; }}; }}
protocol static st4 {{ ipv4; {routes} }}
protocol bgp dyn {{
  local as 65003;
  neighbor range fe80::/10 external;
  interface "eth0";
  hold time 9;
  keepalive time 3;
  graceful restart on;
  ipv4 {{ extended next hop on; import all; export where proto = "st4"; }};
  ipv6 {{ import all; export none; }};
}}
"#
        )
    };
    let mut bird = Bird::start(
        &b,
        &dir,
        "bird",
        &conf("route 10.0.3.0/24 blackhole; route 10.0.8.0/24 blackhole;"),
    );
    let d = Ndbgpd::start(
        &a,
        &dir,
        "a",
        &["--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1"],
    );
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, _, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let dump = || format!("{}{}", d.report(), bird.report());
    let all = ["10.0.3.0/24", "10.0.8.0/24"];
    wait_or_dump(
        "BIRD's routes in ndbgpd's kernel",
        Duration::from_secs(40),
        &dump,
        || all.iter().all(|p| route_via(&a, p, lb, "eth0")).then_some(()),
    );
    let n = neighbor(&d, "eth0").expect("the session");
    assert!(n.graceful_restart, "BIRD's GR capability negotiated: {n:?}");

    let killed = Instant::now();
    let _ = bird.process.child.kill();
    let _ = bird.process.child.wait();
    let dump = || d.report();
    hold_routes(
        "the routes to be stale",
        &a,
        &all,
        lb,
        Duration::from_secs(20),
        &dump,
        || neighbor(&d, "eth0").filter(|n| n.gr_restarting && n.stale_routes == 2),
    );
    // Down a while (two seconds of polling): nothing leaves the kernel.
    let down_until = Instant::now() + Duration::from_secs(2);
    hold_routes("BIRD's downtime", &a, &all, lb, Duration::from_secs(5), &dump, || {
        (Instant::now() >= down_until).then_some(())
    });
    // BIRD 2.0.12 back (without 10.0.8.0/24) does not set the F bit, even
    // with -R: per RFC 4724 4.2 its stale routes go as soon as its session
    // is back, and what it sends again comes back.
    let bird = Bird::start_with(&b, &dir, "bird2", &conf("route 10.0.3.0/24 blackhole;"), &["-R"]);
    let dump = || format!("{}{}", d.report(), bird.report());
    hold_routes("BIRD to start", &a, &all, lb, Duration::from_secs(10), &dump, || {
        bird.birdc("show status").map(|_| ())
    });
    wait_or_dump(
        "10.0.3.0/24 back, 10.0.8.0/24 gone",
        Duration::from_secs(60),
        &dump,
        || (route_via(&a, "10.0.3.0/24", lb, "eth0") && !route_via(&a, "10.0.8.0/24", lb, "eth0")).then_some(()),
    );
    let n = wait_or_dump("no stale route left", Duration::from_secs(10), &dump, || {
        neighbor(&d, "eth0")
            .filter(|n| n.state == ndbgp::api::SessionState::Established && !n.gr_restarting && n.stale_routes == 0)
    });
    eprintln!("{T}: BIRD killed and back after {:?}; {n:?}", killed.elapsed());
    let log = d.process.log_text();
    let swept: Vec<&str> = log.lines().filter(|l| l.contains("stale")).collect();
    eprintln!("{T}: {swept:#?}");
    assert!(
        swept.iter().any(|l| l.contains("keeping its 2 routes, stale")),
        "BIRD's routes were kept through its restart: {swept:#?}"
    );
}

/// The kernel's route to `prefix` in `ns` of FRR's (proto bgp), if any.
fn frr_route(ns: &Netns, prefix: &str) -> bool {
    let host = prefix.trim_end_matches("/32");
    ns.ip(&["route", "show", prefix, "proto", "bgp"])
        .lines()
        .any(|l| l.starts_with(host))
}

/// Whether FRR's path to `prefix` is marked stale (it keeps it for a
/// peer in a graceful restart).
fn frr_stale(frr: &Frr, prefix: &str) -> Option<bool> {
    let v = frr.vtysh_json(&format!("show bgp ipv4 unicast {prefix} json"))?;
    let paths = v.get("paths")?.as_array()?;
    Some(
        paths
            .iter()
            .any(|p| p.get("stale").and_then(Value::as_bool) == Some(true)),
    )
}

/// Several vtysh commands in one session (a configuration change).
fn vtysh_all(frr: &Frr, commands: &[&str]) {
    let mut cmd = std::process::Command::new(VTYSH);
    cmd.arg("--vty_socket").arg(&frr.dir);
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd.output().expect("vtysh runs");
    assert!(out.status.success(), "vtysh {commands:?}: {out:?}");
}

/// Sends `signal` to ndbgpd and waits until it has exited.
fn signal_and_wait(d: &mut Ndbgpd, signal: nix::sys::signal::Signal) -> Instant {
    let sent = Instant::now();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.process.pid()), signal);
    wait_for("ndbgpd to exit", Duration::from_secs(30), || {
        d.process.child.try_wait().ok().flatten().map(|_| ())
    });
    sent
}

/// ndbgpd (`--graceful-restart`) restarted next to FRR (helper, `bgp
/// graceful-restart`): SIGTERM leaves its routes in the kernel and FRR
/// keeps ours (stale); started again, it adopts them, nothing leaves either
/// kernel and pings both ways through them lose nothing; a route FRR
/// withdrew meanwhile goes once the deferral ends (FRR's End-of-RIB). Then
/// SIGINT stops cleanly: our routes leave our kernel and FRR's at once.
#[test]
fn ndbgpd_restarts_gracefully_next_to_frr() {
    use nix::sys::signal::Signal;
    const T: &str = "ndbgpd_restarts_gracefully_next_to_frr";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) || !have_tool(T, PING) {
        return;
    }
    let (a, b, _, lb) = loopback_pair("gra", "grb", true);
    let dir = TempDir::new("grestart");
    let args = RESTARTING;
    let mut d = Ndbgpd::start(&a, &dir, "first", &args);
    let frr = Frr::start(&b, &dir, &frr_conf(120, &["10.0.9.0/24"]));
    let frr_dir = frr.dir.clone();
    let bgpd_log = move || {
        tail(
            &std::fs::read_to_string(frr_dir.join("bgpd.log")).unwrap_or_default(),
            60,
        )
    };
    let all = ["10.0.2.1/32", "10.0.9.0/24", "2001:db8:2::/48"];
    {
        let dump = || format!("{}\n--- frr bgpd log ---\n{}", d.report(), bgpd_log());
        wait_or_dump(
            "FRR's routes in our kernel, ours in FRR's",
            Duration::from_secs(40),
            &dump,
            || (all.iter().all(|p| route_via(&a, p, lb, "eth0")) && frr_route(&b, "10.0.1.1/32")).then_some(()),
        );
    }
    let n = neighbor(&d, "eth0").expect("the session");
    assert!(n.graceful_restart, "{n:?}");

    // Pings from our loopback to FRR's: out through FRR's route in our
    // kernel, back through ours in FRR's.
    let pinger = Pinger::start(&a, &dir, "ping", "10.0.1.1", "10.0.2.1");
    wait_for("pings answered", Duration::from_secs(5), || {
        pinger.process.log_text().contains("bytes from 10.0.2.1").then_some(())
    });

    // Graceful stop.
    let stopped = signal_and_wait(&mut d, Signal::SIGTERM);
    let first_log = d.process.log_text();
    assert!(
        first_log.contains("stopping gracefully"),
        "SIGTERM with --graceful-restart:\n{}",
        tail(&first_log, 30)
    );
    let dump = || {
        format!(
            "--- ndbgpd (stopped) ---\n{}\n--- frr bgpd log ---\n{}",
            tail(&first_log, 40),
            bgpd_log()
        )
    };
    hold_routes(
        "FRR to keep ours, stale",
        &a,
        &all,
        lb,
        Duration::from_secs(20),
        &dump,
        || (frr_route(&b, "10.0.1.1/32") && frr_stale(&frr, "10.0.1.1/32") == Some(true)).then_some(()),
    );
    // While we are down FRR stops announcing 10.0.9.0/24.
    vtysh_all(
        &frr,
        &[
            "configure terminal",
            "router bgp 65002",
            "address-family ipv4 unicast",
            "no network 10.0.9.0/24",
        ],
    );
    let down_until = Instant::now() + Duration::from_secs(2);
    hold_routes("ndbgpd's downtime", &a, &all, lb, Duration::from_secs(5), &dump, || {
        assert!(
            frr_route(&b, "10.0.1.1/32"),
            "FRR dropped our route while we were down{}",
            dump()
        );
        (Instant::now() >= down_until).then_some(())
    });

    // Started again, same configuration: it adopts and defers.
    let restarted = Instant::now();
    let downtime = restarted - stopped;
    let d = Ndbgpd::start(&a, &dir, "second", &args);
    let dump = || format!("{}\n--- frr bgpd log ---\n{}", d.report(), bgpd_log());
    let established = hold_routes("the session back", &a, &all, lb, Duration::from_secs(40), &dump, || {
        assert!(frr_route(&b, "10.0.1.1/32"), "FRR dropped our route{}", dump());
        neighbor(&d, "eth0")
            .filter(|n| n.state == ndbgp::api::SessionState::Established)
            .map(|_| restarted.elapsed())
    });
    // FRR saw our restart: R set, F set for both families.
    let gr = frr.neighbor("eth0").map(|n| n["gracefulRestartInfo"].to_string());
    let gr = gr.unwrap_or_default();
    assert!(gr.contains("\"rBit\":true"), "FRR's view of our GR capability: {gr}");
    assert!(!gr.contains("\"fBit\":false"), "F for both families: {gr}");
    let kept = ["10.0.2.1/32", "2001:db8:2::/48"];
    let converged = hold_routes(
        "10.0.9.0/24 swept after the deferral",
        &a,
        &kept,
        lb,
        Duration::from_secs(40),
        &dump,
        || {
            assert!(frr_route(&b, "10.0.1.1/32"), "FRR dropped our route{}", dump());
            (!route_via(&a, "10.0.9.0/24", lb, "eth0")).then(|| restarted.elapsed())
        },
    );
    wait_or_dump("FRR's path to ours fresh again", Duration::from_secs(20), &dump, || {
        (frr_stale(&frr, "10.0.1.1/32") == Some(false)).then_some(())
    });
    let log = d.process.log_text();
    assert!(
        log.contains("adopted 2 IPv4 and 1 IPv6 routes through 1 neighbours"),
        "{}",
        tail(&log, 40)
    );
    assert!(
        log.contains("graceful restart over (End-of-RIB from every peer back)"),
        "the deferral ends at FRR's End-of-RIB, not the timer:\n{}",
        tail(&log, 40)
    );
    let (sent, received) = pinger.finish();
    eprintln!(
        "{T}: down {downtime:?}; back: Established {established:?}, converged (10.0.9.0/24 swept) {converged:?} \
         after the start; pings {received}/{sent} ({} lost)",
        sent - received
    );
    assert!(sent > 100, "pings sent: {sent}");
    assert_eq!(sent, received, "pings lost while ndbgpd restarted");

    // Clean stop: our routes leave our kernel, and FRR withdraws ours.
    let mut d = d;
    let stopped = signal_and_wait(&mut d, Signal::SIGINT);
    let dump = || {
        format!(
            "{}\n--- frr bgpd log ---\n{}",
            tail(&d.process.log_text(), 30),
            bgpd_log()
        )
    };
    assert!(
        a.ip(&["route", "show", "proto", "201"]).trim().is_empty()
            && a.ip(&["-6", "route", "show", "proto", "201"]).trim().is_empty(),
        "SIGINT leaves no route of ours:\n{}",
        kernel_table(&a)
    );
    wait_or_dump("FRR to withdraw ours", Duration::from_secs(3), &dump, || {
        (!frr_route(&b, "10.0.1.1/32")).then_some(())
    });
    eprintln!(
        "{T}: SIGINT: FRR withdrew ours {:?} after the signal",
        stopped.elapsed()
    );
}

/// The kernel's route to `prefix` in `ns` if BIRD installed it (proto bird).
fn bird_route(ns: &Netns, prefix: &str) -> bool {
    let host = prefix.trim_end_matches("/32");
    ns.ip(&["route", "show", prefix, "proto", "bird"])
        .lines()
        .any(|l| l.starts_with(host))
}

/// BIRD 2.0.12's configuration for the restarting-role test: an explicit
/// neighbour (our link-local `peer` on eth0), `graceful restart on` (helper
/// and restarting), its static 10.0.2.1/32 exported to us, what it learns
/// by BGP installed in its kernel.
fn bird_helper_conf(peer: Ipv6Addr) -> String {
    format!(
        r#"router id 10.0.0.2;
log stderr all;
debug protocols {{ states, events }};
protocol device {{ }}
protocol radv {{ interface "eth0" {{ max ra interval 4; min ra interval 3; }}; }}
protocol static st4 {{ ipv4; route 10.0.2.1/32 blackhole; }}
protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; }}
protocol bgp ours {{
  local as 65002;
  neighbor {peer} as 65001;
  interface "eth0";
  hold time 9;
  keepalive time 3;
  graceful restart on;
  ipv4 {{ extended next hop on; import all; export where proto = "st4"; }};
  ipv6 {{ import all; export none; }};
}}
"#
    )
}

/// ndbgpd (`--graceful-restart`) restarted next to BIRD 2.0.12 (`graceful
/// restart on`, the helper): SIGTERM closes our connection without a
/// NOTIFICATION and BIRD keeps our route (stale) in its RIB and kernel;
/// started again, nothing leaves either kernel and pings through both
/// lose nothing; the deferral ends at BIRD's End-of-RIB. SIGINT then stops
/// cleanly: BIRD withdraws our route at once.
#[test]
fn ndbgpd_restarts_gracefully_next_to_bird() {
    use nix::sys::signal::Signal;
    const T: &str = "ndbgpd_restarts_gracefully_next_to_bird";
    if !lab_enabled(T) || !have_tool(T, BIRD) || !have_tool(T, BIRDC) || !have_tool(T, PING) {
        return;
    }
    let (a, b, la, lb) = loopback_pair("gia", "gib", false);
    let dir = TempDir::new("grbird");
    let args = RESTARTING;
    let mut d = Ndbgpd::start(&a, &dir, "first", &args);
    let bird = Bird::start(&b, &dir, "bird", &bird_helper_conf(la));
    let ours = ["10.0.2.1/32"];
    {
        let dump = || format!("{}{}", d.report(), bird.report());
        wait_or_dump(
            "BIRD's route in our kernel, ours in BIRD's",
            Duration::from_secs(40),
            &dump,
            || (route_via(&a, "10.0.2.1/32", lb, "eth0") && bird_route(&b, "10.0.1.1/32")).then_some(()),
        );
    }
    let n = neighbor(&d, "eth0").expect("the session");
    assert!(n.graceful_restart, "{n:?}");

    let pinger = Pinger::start(&a, &dir, "ping", "10.0.1.1", "10.0.2.1");
    wait_for("pings answered", Duration::from_secs(5), || {
        pinger.process.log_text().contains("bytes from 10.0.2.1").then_some(())
    });

    // Graceful stop: no NOTIFICATION, BIRD keeps our route.
    let stopped = signal_and_wait(&mut d, Signal::SIGTERM);
    let first_log = d.process.log_text();
    assert!(first_log.contains("stopping gracefully"), "{}", tail(&first_log, 30));
    let dump = || format!("--- ndbgpd (stopped) ---\n{}{}", tail(&first_log, 40), bird.report());
    hold_routes(
        "BIRD to start its helper side",
        &a,
        &ours,
        lb,
        Duration::from_secs(20),
        &dump,
        || {
            assert!(bird_route(&b, "10.0.1.1/32"), "BIRD dropped our route{}", dump());
            bird.process
                .log_text()
                .contains("Neighbor graceful restart detected")
                .then_some(())
        },
    );
    let route = bird.birdc("show route all 10.0.1.1/32").unwrap_or_default();
    // BIRD 2.0.12 shows no stale flag: the route is there, unchanged.
    assert!(
        route.contains("10.0.1.1/32"),
        "BIRD keeps our route:\n{route}{}",
        dump()
    );
    let down_until = Instant::now() + Duration::from_secs(2);
    hold_routes(
        "ndbgpd's downtime",
        &a,
        &ours,
        lb,
        Duration::from_secs(5),
        &dump,
        || {
            assert!(bird_route(&b, "10.0.1.1/32"), "BIRD dropped our route{}", dump());
            (Instant::now() >= down_until).then_some(())
        },
    );

    // Started again: adopts, defers until BIRD's End-of-RIB.
    let restarted = Instant::now();
    let downtime = restarted - stopped;
    let d = Ndbgpd::start(&a, &dir, "second", &args);
    let dump = || format!("{}{}", d.report(), bird.report());
    let established = hold_routes(
        "the session back",
        &a,
        &ours,
        lb,
        Duration::from_secs(40),
        &dump,
        || {
            assert!(bird_route(&b, "10.0.1.1/32"), "BIRD dropped our route{}", dump());
            neighbor(&d, "eth0")
                .filter(|n| n.state == ndbgp::api::SessionState::Established)
                .map(|_| restarted.elapsed())
        },
    );
    let converged = hold_routes(
        "the deferral over",
        &a,
        &ours,
        lb,
        Duration::from_secs(40),
        &dump,
        || {
            assert!(bird_route(&b, "10.0.1.1/32"), "BIRD dropped our route{}", dump());
            d.process
                .log_text()
                .contains("graceful restart over")
                .then(|| restarted.elapsed())
        },
    );
    let helper_done = hold_routes(
        "BIRD's helper side done",
        &a,
        &ours,
        lb,
        Duration::from_secs(20),
        &dump,
        || {
            assert!(bird_route(&b, "10.0.1.1/32"), "BIRD dropped our route{}", dump());
            bird.process
                .log_text()
                .contains("Neighbor graceful restart done")
                .then(|| restarted.elapsed())
        },
    );
    let log = d.process.log_text();
    assert!(
        log.contains("adopted 1 IPv4 and 0 IPv6 routes through 1 neighbours"),
        "{}",
        tail(&log, 40)
    );
    assert!(
        log.contains("graceful restart over (End-of-RIB from every peer back)"),
        "the deferral ends at BIRD's End-of-RIB, not the timer:\n{}",
        tail(&log, 40)
    );
    let caps = bird.birdc("show protocols all ours").unwrap_or_default();
    let theirs = caps.split("Neighbor capabilities").nth(1).unwrap_or_default();
    assert!(
        theirs.contains("Restart recovery") && theirs.contains("AF preserved: ipv4"),
        "BIRD saw R and F (IPv4, the adopted family) in our OPEN:\n{caps}"
    );
    let (sent, received) = pinger.finish();
    eprintln!(
        "{T}: down {downtime:?}; back: Established {established:?}, deferral over {converged:?}, \
         BIRD's helper done {helper_done:?} after the start; pings {received}/{sent} ({} lost)",
        sent - received
    );
    assert!(sent > 100, "pings sent: {sent}");
    assert_eq!(sent, received, "pings lost while ndbgpd restarted");

    // Clean stop: BIRD withdraws ours at once.
    let mut d = d;
    let stopped = signal_and_wait(&mut d, Signal::SIGINT);
    let dump = || format!("{}{}", tail(&d.process.log_text(), 30), bird.report());
    wait_or_dump("BIRD to withdraw ours", Duration::from_secs(3), &dump, || {
        (!bird_route(&b, "10.0.1.1/32")).then_some(())
    });
    let withdrawn = stopped.elapsed();
    let blog = bird.process.log_text();
    let received: Vec<&str> = blog.lines().filter(|l| l.contains("Received:")).collect();
    eprintln!("{T}: SIGINT: BIRD withdrew ours {withdrawn:?} after the signal; BIRD: {received:?}");
    // BIRD 2.0.12 has no N bit (RFC 8538; its OPEN's Graceful Restart
    // capability never sets it): our Cease is a plain Administrative
    // Shutdown, not a Hard Reset, and any NOTIFICATION ends the session
    // without a graceful restart on its side.
    let after = &blog[blog.rfind("Received:").unwrap_or(0)..];
    assert!(
        after.contains("Received: Administrative shutdown") && !after.contains("graceful restart detected"),
        "SIGINT: a plain Cease, no graceful restart on BIRD's side:\n{}",
        tail(&blog, 20)
    );
}

/// An ndbgpd pair: `a` (`--graceful-restart`) restarted by SIGTERM next to
/// `b`, an ndbgpd in its default helper role. `b` keeps a's routes, stale
/// (`ndbgpctl neighbors`: gr_restarting, stale_routes), a keeps b's
/// (adopted); nothing leaves either kernel and pings through both lose
/// nothing. Back without 10.0.7.0/24, a's End-of-RIB makes b sweep it,
/// and b's ends a's deferral.
#[test]
fn ndbgpd_restarts_gracefully_next_to_ndbgpd() {
    use nix::sys::signal::Signal;
    const T: &str = "ndbgpd_restarts_gracefully_next_to_ndbgpd";
    if !lab_enabled(T) || !have_tool(T, PING) {
        return;
    }
    let (a, b, la, lb) = loopback_pair("gna", "gnb", false);
    let dir = TempDir::new("grpair");
    let a_args = |networks: &[&'static str]| {
        let mut args = vec![
            "--iface",
            "eth0",
            "--asn",
            "65001",
            "--router-id",
            "10.0.0.1",
            "--graceful-restart",
            "--restart-time",
            "30",
        ];
        for n in networks {
            args.extend(["--network", n]);
        }
        args
    };
    let mut da = Ndbgpd::start(&a, &dir, "a1", &a_args(&["10.0.1.1/32", "10.0.7.0/24"]));
    let db = Ndbgpd::start(
        &b,
        &dir,
        "b",
        &[
            "--iface",
            "eth0",
            "--asn",
            "65002",
            "--router-id",
            "10.0.0.2",
            "--network",
            "10.0.2.1/32",
        ],
    );
    let ours = ["10.0.1.1/32", "10.0.7.0/24"];
    let theirs = ["10.0.2.1/32"];
    {
        let dump = || format!("{}{}", da.report(), db.report());
        wait_or_dump("routes both ways", Duration::from_secs(40), &dump, || {
            (theirs.iter().all(|p| route_via(&a, p, lb, "eth0")) && ours.iter().all(|p| route_via(&b, p, la, "eth0")))
                .then_some(())
        });
    }
    let n = neighbor(&db, "eth0").expect("b's session");
    assert!(n.graceful_restart, "{n:?}");

    let pinger = Pinger::start(&a, &dir, "ping", "10.0.1.1", "10.0.2.1");
    wait_for("pings answered", Duration::from_secs(5), || {
        pinger.process.log_text().contains("bytes from 10.0.2.1").then_some(())
    });
    // b's kernel keeps a's routes: checked at every poll of a's.
    let b_keeps = |keep: &[&str], dump: &dyn Fn() -> String| {
        for p in keep {
            assert!(
                route_via(&b, p, la, "eth0"),
                "{p} left b's kernel:\n{}{}",
                kernel_table(&b),
                dump()
            );
        }
    };

    let stopped = signal_and_wait(&mut da, Signal::SIGTERM);
    let first_log = da.process.log_text();
    assert!(first_log.contains("stopping gracefully"), "{}", tail(&first_log, 30));
    let dump = || format!("--- a (stopped) ---\n{}{}", tail(&first_log, 40), db.report());
    hold_routes(
        "b to keep a's routes, stale",
        &a,
        &theirs,
        lb,
        Duration::from_secs(20),
        &dump,
        || {
            b_keeps(&ours, &dump);
            neighbor(&db, "eth0").filter(|n| n.gr_restarting && n.stale_routes == 2)
        },
    );
    let stale_seen = stopped.elapsed();
    let stale: Vec<bool> = db
        .routes(Some("10.0.1.1/32"))
        .iter()
        .flat_map(|r| r.route.paths.iter().map(|p| p.stale))
        .collect();
    assert_eq!(stale, [true], "b's ndbgpctl routes shows a's path stale");
    let table = db.ctl_text(&["neighbors"]);
    assert!(table.contains("restarting (2 stale)"), "b's neighbors table:\n{table}");
    let down_until = Instant::now() + Duration::from_secs(2);
    hold_routes("a's downtime", &a, &theirs, lb, Duration::from_secs(5), &dump, || {
        b_keeps(&ours, &dump);
        (Instant::now() >= down_until).then_some(())
    });

    // a back without 10.0.7.0/24.
    let restarted = Instant::now();
    let downtime = restarted - stopped;
    let da = Ndbgpd::start(&a, &dir, "a2", &a_args(&["10.0.1.1/32"]));
    let dump = || format!("{}{}", da.report(), db.report());
    let established = hold_routes(
        "the session back",
        &a,
        &theirs,
        lb,
        Duration::from_secs(40),
        &dump,
        || {
            b_keeps(&["10.0.1.1/32"], &dump);
            neighbor(&da, "eth0")
                .filter(|n| n.state == ndbgp::api::SessionState::Established)
                .map(|_| restarted.elapsed())
        },
    );
    let swept = hold_routes(
        "b to sweep 10.0.7.0/24",
        &a,
        &theirs,
        lb,
        Duration::from_secs(40),
        &dump,
        || {
            b_keeps(&["10.0.1.1/32"], &dump);
            (!route_via(&b, "10.0.7.0/24", la, "eth0")).then(|| restarted.elapsed())
        },
    );
    let helper_done = hold_routes(
        "b's helper side done",
        &a,
        &theirs,
        lb,
        Duration::from_secs(20),
        &dump,
        || {
            b_keeps(&["10.0.1.1/32"], &dump);
            neighbor(&db, "eth0")
                .filter(|n| n.state == ndbgp::api::SessionState::Established && !n.gr_restarting && n.stale_routes == 0)
                .map(|_| restarted.elapsed())
        },
    );
    let deferral = hold_routes(
        "a's deferral over",
        &a,
        &theirs,
        lb,
        Duration::from_secs(40),
        &dump,
        || {
            b_keeps(&["10.0.1.1/32"], &dump);
            da.process
                .log_text()
                .contains("graceful restart over")
                .then(|| restarted.elapsed())
        },
    );
    let a_log = da.process.log_text();
    assert!(
        a_log.contains("adopted 1 IPv4 and 0 IPv6 routes through 1 neighbours"),
        "{}",
        tail(&a_log, 40)
    );
    assert!(
        a_log.contains("graceful restart over (End-of-RIB from every peer back)"),
        "a's deferral ends at b's End-of-RIB, not the timer:\n{}",
        tail(&a_log, 40)
    );
    let b_log = db.process.log_text();
    assert!(
        b_log.lines().any(|l| l.contains("End-of-RIB: 1 stale routes")),
        "b swept 10.0.7.0/24 at a's End-of-RIB:\n{}",
        tail(&b_log, 40)
    );
    let stale: Vec<bool> = db
        .routes(Some("10.0.1.1/32"))
        .iter()
        .flat_map(|r| r.route.paths.iter().map(|p| p.stale))
        .collect();
    assert_eq!(stale, [false], "a's path fresh again at b");
    let (sent, received) = pinger.finish();
    eprintln!(
        "{T}: b kept 2 stale routes {stale_seen:?} after SIGTERM; down {downtime:?}; back: \
         Established {established:?}, 10.0.7.0/24 swept at b {swept:?}, b's helper done {helper_done:?}, \
         a's deferral over {deferral:?} after the start; pings {received}/{sent} ({} lost)",
        sent - received
    );
    assert!(sent > 100, "pings sent: {sent}");
    assert_eq!(sent, received, "pings lost while ndbgpd restarted");

    // Clean stop: with N on both sides a's Cease is a Hard Reset, so b
    // keeps nothing stale and withdraws at once.
    let mut da = da;
    let stopped = signal_and_wait(&mut da, Signal::SIGINT);
    let dump = || format!("{}{}", tail(&da.process.log_text(), 30), db.report());
    wait_or_dump("b to withdraw a's route", Duration::from_secs(3), &dump, || {
        (!route_via(&b, "10.0.1.1/32", la, "eth0")).then_some(())
    });
    let withdrawn = stopped.elapsed();
    let n = neighbor(&db, "eth0").expect("b's session");
    assert!(
        !n.gr_restarting && n.stale_routes == 0,
        "a Hard Reset is no restart: {n:?}"
    );
    eprintln!(
        "{T}: SIGINT: b withdrew a's route {withdrawn:?} after the signal ({:?})",
        n.last_down
    );
}
