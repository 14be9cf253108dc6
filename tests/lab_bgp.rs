//! Lab tests for BGP sessions: ndbgpd against itself and against FRR 8.4 on
//! veth links and a bridge, in namespaces made per test. Need root; in CI
//! they never skip. Everything is synchronised by polling with deadlines;
//! the only fixed durations are the stability checks (marked LONG), which
//! watch a session for three hold times and fail if it ever flaps.
//!
//! On a failure the panic message carries each daemon's `neighbors` view and
//! the tail of its log.

mod common;

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ndbgp::api::{Direction, NeighborView, SessionState};
use serde_json::Value;

use common::peers::*;
use common::*;

/// FRR's, BIRD's and GoBGP's name for it.
const EST: &str = "Established";

// ---------------------------------------------------------------- helpers

fn reports(ds: &[&Ndbgpd]) -> String {
    ds.iter().map(|d| d.report()).collect()
}

/// The sessions ndbgpd shows; None while `ndbgpctl neighbors` cannot answer.
fn sessions(d: &Ndbgpd) -> Option<Vec<NeighborView>> {
    d.try_neighbors()
}

fn is_established(s: &NeighborView) -> bool {
    s.state == SessionState::Established
}

/// The session to `addr` on `ifname`, whatever its state.
fn session_to(d: &Ndbgpd, ifname: &str, addr: Ipv6Addr) -> Option<NeighborView> {
    sessions(d)?
        .into_iter()
        .find(|s| s.interface == ifname && s.address == addr)
}

fn established_to(d: &Ndbgpd, ifname: &str, addr: Ipv6Addr) -> Option<NeighborView> {
    session_to(d, ifname, addr).filter(is_established)
}

fn established_count(d: &Ndbgpd) -> Option<usize> {
    Some(sessions(d)?.iter().filter(|s| is_established(s)).count())
}

fn ndbgpd(ns: &Netns, dir: &TempDir, tag: &str, ifaces: &[&str], asn: u32, router_id: &str, extra: &[&str]) -> Ndbgpd {
    let asn = asn.to_string();
    let mut args: Vec<&str> = Vec::new();
    for i in ifaces {
        args.extend(["--iface", i]);
    }
    args.extend(["--asn", &asn, "--router-id", router_id]);
    args.extend(extra);
    Ndbgpd::start(ns, dir, tag, &args)
}

/// Checks one Established session's fields against what we configured.
fn assert_session(
    s: &NeighborView,
    ns: &Netns,
    ifname: &str,
    peer: Ipv6Addr,
    remote_asn: u32,
    remote_id: &str,
    hold: u16,
) {
    assert_eq!(s.state, SessionState::Established, "{s:?}");
    assert_eq!(s.interface, ifname, "{s:?}");
    assert_eq!(s.ifindex, ns.ifindex(ifname), "ifindex: {s:?}");
    assert_eq!(s.address, peer, "address is the peer's link-local: {s:?}");
    assert_eq!(s.remote_asn, Some(remote_asn), "remote_asn: {s:?}");
    assert_eq!(
        s.remote_id.map(|id| id.to_string()).as_deref(),
        Some(remote_id),
        "remote_id: {s:?}"
    );
    assert_eq!(s.hold_time, hold, "negotiated hold_time: {s:?}");
    assert!(s.direction.is_some(), "direction: {s:?}");
}

/// Start tcpdump in `ns` on `ifname` (line-buffered text, epoch time stamps)
/// and wait until it listens.
fn tcpdump_text(ns: &Netns, dir: &TempDir, tag: &str, ifname: &str, filter: &str) -> Process {
    let mut cmd = ns.command("tcpdump");
    cmd.args(["-i", ifname, "-n", "-l", "-tt", filter]);
    let mut p = Process::spawn(tag, &mut cmd, Some(dir.join(&format!("{tag}.txt"))));
    wait_for("tcpdump to listen", Duration::from_secs(5), || {
        p.assert_running();
        p.log_text().contains("listening on").then_some(())
    });
    p
}

/// A TCP segment in `tcpdump -n -tt` text: (time, source, destination, payload length).
fn tcp_segments(text: &str) -> Vec<(f64, Ipv6Addr, Ipv6Addr, usize)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 5 || f[1] != "IP6" {
                return None;
            }
            let t: f64 = f[0].parse().ok()?;
            let src: Ipv6Addr = f[2].rsplit_once('.')?.0.parse().ok()?;
            let dst: Ipv6Addr = f[4].trim_end_matches(':').rsplit_once('.')?.0.parse().ok()?;
            let len_text = l.rsplit_once("length ")?.1;
            let len: usize = len_text.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
            Some((t, src, dst, len))
        })
        .collect()
}

fn epoch_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Resumes a SIGSTOPped process when dropped, so that its guard can end it.
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        let _ = kill(nix::unistd::Pid::from_raw(self.0), Signal::SIGCONT);
    }
}

fn frr_tools(test: &str) -> bool {
    have_tool(test, FRR_BGPD) && have_tool(test, VTYSH)
}

// ---------------------------------------------------------------- harness

/// Proves the FRR harness alone: two FRR 8.4 unnumbered on a veth reach
/// Established (no ndbgpd involved).
#[test]
fn frr_pair_reaches_established_harness_check() {
    const T: &str = "frr_pair_reaches_established_harness_check";
    if !lab_enabled(T) || !frr_tools(T) {
        return;
    }
    let a = Netns::new("bfpa");
    let b = Netns::new("bfpb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("frrpair");
    let fa = Frr::start(
        &a,
        &dir,
        &frr_unnumbered_conf("fa", 65001, "10.0.0.1", &["eth0"], FrrProfile::Datacenter),
    );
    let fb = Frr::start(
        &b,
        &dir,
        &frr_unnumbered_conf("fb", 65002, "10.0.0.2", &["eth0"], FrrProfile::Datacenter),
    );
    let up = Instant::now();
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let dump = || format!("{}{}", fa.report(), fb.report());
    let (na, nb) = wait_or_dump("both FRR Established", Duration::from_secs(20), &dump, || {
        let na = fa.neighbor("eth0").filter(|n| n["bgpState"] == EST)?;
        let nb = fb.neighbor("eth0").filter(|n| n["bgpState"] == EST)?;
        Some((na, nb))
    });
    eprintln!("{T}: FRR<->FRR Established {:?} after link up", up.elapsed());
    assert_eq!(na["remoteAs"], 65002, "{na}");
    assert_eq!(na["remoteRouterId"], "10.0.0.2", "{na}");
    assert_eq!(na["bgpNeighborAddr"], lb.to_string(), "{na}");
    assert_eq!(nb["remoteAs"], 65001, "{nb}");
    assert_eq!(nb["bgpNeighborAddr"], la.to_string(), "{nb}");
    assert_eq!(na["bgpTimerHoldTimeMsecs"], 9000, "datacenter hold time: {na}");
}

// ---------------------------------------------------------------- 1

#[test]
fn two_ndbgpd_reach_established() {
    const T: &str = "two_ndbgpd_reach_established";
    if !lab_enabled(T) {
        return;
    }
    let a = Netns::new("b2a");
    let b = Netns::new("b2b");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("bgp2");
    let da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &[]);
    let db = ndbgpd(&b, &dir, "b", &["eth0"], 65002, "10.0.0.2", &[]);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (ready, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let dump = || reports(&[&da, &db]);
    wait_or_dump("both ndbgpd Established", Duration::from_secs(20), &dump, || {
        Some((established_to(&da, "eth0", lb)?, established_to(&db, "eth0", la)?))
    });
    eprintln!(
        "{T}: Established on both sides {:?} after both link-locals left tentative",
        ready.elapsed()
    );

    // Both dial at once: the collision must leave one session per side.
    let (all_a, all_b) = wait_or_dump("exactly one session per side", Duration::from_secs(5), &dump, || {
        let sa = sessions(&da)?;
        let sb = sessions(&db)?;
        (sa.len() == 1 && sb.len() == 1).then_some((sa, sb))
    });
    let (sa, sb) = (&all_a[0], &all_b[0]);
    eprintln!("{T}: a sees {sa:?}\n{T}: b sees {sb:?}");
    assert_session(sa, &a, "eth0", lb, 65002, "10.0.0.2", 9);
    assert_session(sb, &b, "eth0", la, 65001, "10.0.0.1", 9);
    assert_ne!(
        sa.direction, sb.direction,
        "one TCP connection: outbound on one side is inbound on the other"
    );
    // The router ID is logged once, where it came from included.
    let log = da.process.log_text();
    let said: Vec<&str> = log.lines().filter(|l| l.contains("INFO router ID")).collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].ends_with("router ID 10.0.0.1 (from --router-id)"), "{said:?}");
}

// ---------------------------------------------------------------- 2

/// ndbgpd in one namespace, FRR in the other with the given defaults;
/// `frr_first` decides which is running and advertising before the other
/// starts. Either way the negotiated hold time is ours (9 s): FRR's
/// traditional profile offers 180 s.
fn ndbgpd_and_frr(test: &str, frr_first: bool, profile: FrrProfile) {
    let a = Netns::new(if frr_first { "bffa" } else { "bfna" });
    let b = Netns::new(if frr_first { "bffb" } else { "bfnb" });
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("frr");
    let conf = frr_unnumbered_conf("frr", 65002, "10.0.0.2", &["eth0"], profile);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&a, &b, "eth0");

    let (frr, da, second_started) = if frr_first {
        let cap = tcpdump_text(&a, &dir, "ra", "eth0", "icmp6 and ip6[40] == 134");
        let frr = Frr::start(&b, &dir, &conf);
        // FRR's start-up burst of RAs is over: ndbgpd joins a running FRR
        // and cannot rely on it.
        wait_or_dump(
            "FRR's 4 start-up RAs",
            Duration::from_secs(15),
            &|| frr.report(),
            || {
                let n = cap
                    .log_text()
                    .lines()
                    .filter(|l| l.contains(&format!("IP6 {lb} >")))
                    .count();
                (n >= 4).then_some(())
            },
        );
        drop(cap);
        let started = Instant::now();
        let da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &[]);
        (frr, da, started)
    } else {
        let da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &[]);
        // ndbgpd's start-up RAs are out before FRR starts.
        wait_or_dump(
            "ndbgpd's start-up RAs",
            Duration::from_secs(15),
            &|| da.report(),
            || {
                let ifs = da.try_interfaces()?;
                (*ifs.first()?.nd.tx.get("ra")? >= 3).then_some(())
            },
        );
        let started = Instant::now();
        let frr = Frr::start(&b, &dir, &conf);
        (frr, da, started)
    };
    let dump = || format!("{}{}", da.report(), frr.report());
    let (s, n) = wait_or_dump("ndbgpd and FRR Established", Duration::from_secs(30), &dump, || {
        let n = frr.neighbor("eth0").filter(|n| n["bgpState"] == EST)?;
        Some((established_to(&da, "eth0", lb)?, n))
    });
    eprintln!(
        "{test}: Established on both sides {:?} after the second daemon started",
        second_started.elapsed()
    );
    assert_session(&s, &a, "eth0", lb, 65002, "10.0.0.2", 9);
    assert_eq!(n["remoteAs"], 65001, "FRR's view: {n}");
    assert_eq!(n["remoteRouterId"], "10.0.0.1", "FRR's view: {n}");
    assert_eq!(n["bgpNeighborAddr"], la.to_string(), "FRR's view: {n}");
    assert_eq!(n["bgpTimerHoldTimeMsecs"], 9000, "FRR's view: {n}");

    // LONG (27 s): three hold times without ever leaving Established. FRR's
    // counters catch a flap that falls between two polls.
    let stats = |n: &Value, k: &str| n["messageStats"][k].as_u64().unwrap_or(0);
    let (est0, drop0, notif0, ka0) = (
        n["connectionsEstablished"].as_u64(),
        n["connectionsDropped"].as_u64(),
        stats(&n, "notificationsRecv"),
        stats(&n, "keepalivesRecv"),
    );
    let up0 = s.uptime_s;
    let start = Instant::now();
    let mut polls = 0;
    while start.elapsed() < Duration::from_secs(27) {
        let ours = session_to(&da, "eth0", lb);
        let theirs = frr.bgp_state("eth0");
        polls += 1;
        assert!(
            ours.as_ref().is_some_and(is_established) && theirs.as_deref() == Some(EST),
            "left Established {:?} into the stability check: ndbgpd {ours:?}, FRR {theirs:?}{}",
            start.elapsed(),
            dump()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let n = frr.neighbor("eth0").expect("FRR neighbour");
    let s = session_to(&da, "eth0", lb).expect("ndbgpd session");
    let keepalives = stats(&n, "keepalivesRecv") - ka0;
    let uptime = s.uptime_s;
    eprintln!(
        "{test}: stable for 27 s ({polls} polls); FRR received {keepalives} keepalives; ndbgpd uptime {up0} -> {uptime} s"
    );
    assert_eq!(n["connectionsEstablished"].as_u64(), est0, "FRR re-established: {n}");
    assert_eq!(n["connectionsDropped"].as_u64(), drop0, "FRR dropped the session: {n}");
    assert_eq!(
        stats(&n, "notificationsRecv"),
        notif0,
        "ndbgpd sent a NOTIFICATION: {n}"
    );
    assert!(keepalives >= 3, "keepalives flow to FRR: {keepalives} in 27 s");
    assert!(
        uptime >= up0 + 25,
        "ndbgpd's uptime_s grows without reset: {up0} -> {uptime}: {s:?}"
    );
}

#[test]
fn ndbgpd_and_frr_reach_established_frr_first() {
    const T: &str = "ndbgpd_and_frr_reach_established_frr_first";
    if lab_enabled(T) && frr_tools(T) && have_tool(T, "/usr/bin/tcpdump") {
        ndbgpd_and_frr(T, true, FrrProfile::Datacenter);
    }
}

#[test]
fn ndbgpd_and_frr_traditional_defaults_ndbgpd_first() {
    const T: &str = "ndbgpd_and_frr_traditional_defaults_ndbgpd_first";
    if lab_enabled(T) && frr_tools(T) {
        ndbgpd_and_frr(T, false, FrrProfile::Traditional);
    }
}

#[test]
fn ndbgpd_and_frr_reach_established_ndbgpd_first() {
    const T: &str = "ndbgpd_and_frr_reach_established_ndbgpd_first";
    if lab_enabled(T) && frr_tools(T) {
        ndbgpd_and_frr(T, false, FrrProfile::Datacenter);
    }
}

// ---------------------------------------------------------------- 3

#[test]
fn frozen_peer_is_dropped_at_hold_time() {
    const T: &str = "frozen_peer_is_dropped_at_hold_time";
    if !lab_enabled(T) || !have_tool(T, "/usr/bin/tcpdump") {
        return;
    }
    let a = Netns::new("bza");
    let b = Netns::new("bzb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("frozen");
    let hold = ["--hold-time", "9"];
    let da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &hold);
    let db = ndbgpd(&b, &dir, "b", &["eth0"], 65002, "10.0.0.2", &hold);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let dump = || reports(&[&da, &db]);
    wait_or_dump("both ndbgpd Established", Duration::from_secs(20), &dump, || {
        Some((established_to(&da, "eth0", lb)?, established_to(&db, "eth0", la)?))
    });

    // The hold timer runs from the last message a received from b on the
    // session: watch the wire for it, so the figure does not depend on
    // where in b's keepalive interval the freeze falls. Wait for a KEEPALIVE
    // that a counted, captured: b's OPEN on a connection a refused as a
    // collision (RFC 4271 6.8) also goes from b to a, and comes only while
    // the session is new.
    let cap = tcpdump_text(&a, &dir, "bgp", "eth0", "tcp port 179");
    let from_b = |text: &str| -> Vec<f64> {
        tcp_segments(text)
            .into_iter()
            .filter(|&(_, src, dst, len)| src == lb && dst == la && len > 0)
            .map(|(t, ..)| t)
            .collect()
    };
    let received = || Some(session_to(&da, "eth0", lb)?.messages_received);
    let before = received().expect("a's session to b");
    wait_or_dump(
        "a KEEPALIVE from b on the session, in the capture",
        Duration::from_secs(10),
        &dump,
        || (received()? > before && !from_b(&cap.log_text()).is_empty()).then_some(()),
    );

    let _resume = Resume(db.process.pid());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(db.process.pid()),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("SIGSTOP");
    let stopped = Instant::now();
    let (left, left_at) = wait_or_dump("a to leave Established", Duration::from_secs(20), &dump, || {
        let s = session_to(&da, "eth0", lb);
        match &s {
            Some(s) if is_established(s) => None,
            _ => Some((s, epoch_now())),
        }
    });
    let since_stop = stopped.elapsed();
    let text = cap.log_text();
    let last_b = from_b(&text)
        .into_iter()
        .filter(|&t| t <= left_at)
        .fold(f64::NAN, f64::max);
    let held = left_at - last_b;
    eprintln!(
        "{T}: a left Established {held:.3} s after b's last message ({:.3} s after SIGSTOP); now {left:?}",
        since_stop.as_secs_f64()
    );
    assert!(
        (8.0..=12.0).contains(&held),
        "left Established {held:.3} s after b's last message, want 8..12 s (hold 9 s){}",
        dump()
    );

    // RFC 4271 6.5: a NOTIFICATION (Hold Timer Expired: 21 bytes) goes out.
    let notification = wait_or_dump("a's NOTIFICATION in the capture", Duration::from_secs(3), &dump, || {
        tcp_segments(&cap.log_text())
            .into_iter()
            .find(|&(t, src, dst, len)| src == la && dst == lb && len == 21 && t > last_b)
    });
    eprintln!(
        "{T}: NOTIFICATION sent {:.3} s after b's last message",
        notification.0 - last_b
    );
    let err = wait_or_dump(
        "last_error to name the hold timer",
        Duration::from_secs(3),
        &dump,
        || {
            let s = session_to(&da, "eth0", lb)?;
            let e = s.last_error?;
            e.to_lowercase().contains("hold").then_some(e)
        },
    );
    eprintln!("{T}: last_error = {err:?}");
}

// ---------------------------------------------------------------- 4

#[test]
fn link_down_ends_session_within_100ms() {
    const T: &str = "link_down_ends_session_within_100ms";
    if !lab_enabled(T) {
        return;
    }
    let a = Netns::new("bla");
    let b = Netns::new("blb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("linkdown");
    let da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &[]);
    let db = ndbgpd(&b, &dir, "b", &["eth0"], 65002, "10.0.0.2", &[]);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let dump = || reports(&[&da, &db]);
    wait_or_dump("both ndbgpd Established", Duration::from_secs(20), &dump, || {
        Some((established_to(&da, "eth0", lb)?, established_to(&db, "eth0", la)?))
    });

    let down = Instant::now();
    a.set_link("eth0", false);
    let cmd_took = down.elapsed();
    // Tight polling: one ndbgpctl round trip per iteration, no sleep.
    let mut polls = 0;
    let took = loop {
        polls += 1;
        if established_to(&da, "eth0", lb).is_none() {
            break down.elapsed();
        }
        if down.elapsed() > Duration::from_secs(5) {
            panic!("a still Established 5 s after link down{}", dump());
        }
    };
    eprintln!(
        "{T}: a left Established {took:?} after `ip link set eth0 down` (the command took {cmd_took:?}; {polls} polls)"
    );
    // The peer's side sees only carrier loss; measured, not asserted.
    let b_took = (|| {
        while down.elapsed() < Duration::from_secs(3) {
            if established_to(&db, "eth0", la).is_none() {
                return Some(down.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    })();
    eprintln!("{T}: b (carrier lost) left Established after {b_took:?} (None: not within 3 s)");
    assert!(
        took <= Duration::from_millis(100),
        "a left Established {took:?} after link down, want <= 100 ms{}",
        dump()
    );
}

// ---------------------------------------------------------------- 5

#[test]
fn several_interfaces_and_shared_segment() {
    const T: &str = "several_interfaces_and_shared_segment";
    if !lab_enabled(T) {
        return;
    }
    // Part 1: one ndbgpd on two interfaces, one peer on each.
    let dir = TempDir::new("several");
    {
        let h = Netns::new("bsh");
        let x = Netns::new("bsx");
        let y = Netns::new("bsy");
        veth(&h, "eth0", &x, "eth0");
        veth(&h, "eth1", &y, "eth0");
        let dh = ndbgpd(&h, &dir, "h", &["eth0", "eth1"], 65001, "10.0.0.1", &[]);
        let dx = ndbgpd(&x, &dir, "x", &["eth0"], 65002, "10.0.0.2", &[]);
        let dy = ndbgpd(&y, &dir, "y", &["eth0"], 65003, "10.0.0.3", &[]);
        let start = Instant::now();
        for (ns, ifname) in [(&h, "eth0"), (&h, "eth1"), (&x, "eth0"), (&y, "eth0")] {
            ns.set_link(ifname, true);
        }
        let (_, _, lx) = wait_link_locals_ready(&h, &x, "eth0");
        let ly = wait_for("y's link-local", Duration::from_secs(10), || {
            match y.link_local("eth0") {
                Some((l, false)) => Some(l),
                _ => None,
            }
        });
        let dump = || reports(&[&dh, &dx, &dy]);
        let (s0, s1) = wait_or_dump("h Established on eth0 and eth1", Duration::from_secs(20), &dump, || {
            Some((established_to(&dh, "eth0", lx)?, established_to(&dh, "eth1", ly)?))
        });
        wait_or_dump("x and y Established", Duration::from_secs(5), &dump, || {
            (established_count(&dx)? == 1 && established_count(&dy)? == 1).then_some(())
        });
        eprintln!(
            "{T}: two interfaces: both sessions Established {:?} after link up",
            start.elapsed()
        );
        assert_eq!(s0.remote_asn, Some(65002), "{s0:?}");
        assert_eq!(s1.remote_asn, Some(65003), "{s1:?}");
        assert_eq!(established_count(&dh), Some(2), "{}", dump());
    }

    // Part 2: three ndbgpd on one bridge: a full mesh, 2 sessions each.
    let br = Netns::new("bsbr");
    br.ip(&["link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
    let hosts: Vec<Netns> = (0..3).map(|_| Netns::new("bsl")).collect();
    for (i, ns) in hosts.iter().enumerate() {
        let port = format!("p{i}");
        veth(ns, "eth0", &br, &port);
        br.ip(&["link", "set", &port, "master", "br0"]);
        br.set_link(&port, true);
    }
    br.set_link("br0", true);
    let ds: Vec<Ndbgpd> = hosts
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let id = format!("10.0.1.{}", i + 1);
            ndbgpd(ns, &dir, &format!("lan{i}"), &["eth0"], 65011 + i as u32, &id, &[])
        })
        .collect();
    let start = Instant::now();
    for ns in &hosts {
        ns.set_link("eth0", true);
    }
    let dump = || reports(&ds.iter().collect::<Vec<_>>());
    let views = wait_or_dump(
        "2 Established sessions on each LAN member",
        Duration::from_secs(20),
        &dump,
        || {
            ds.iter()
                .map(|d| {
                    let s: Vec<NeighborView> = sessions(d)?.into_iter().filter(is_established).collect();
                    (s.len() == 2).then_some(s)
                })
                .collect::<Option<Vec<_>>>()
        },
    );
    eprintln!(
        "{T}: shared segment: full mesh Established {:?} after link up",
        start.elapsed()
    );
    for (i, est) in views.iter().enumerate() {
        let mut asns: Vec<u32> = est.iter().filter_map(|s| s.remote_asn).collect();
        asns.sort();
        let want: Vec<u32> = (0..3u32).filter(|&j| j != i as u32).map(|j| 65011 + j).collect();
        assert_eq!(asns, want, "member {i} peers with the two others: {est:?}");
        let lls: Vec<Ipv6Addr> = est.iter().map(|s| s.address).collect();
        let mut uniq = lls.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 2, "two distinct peer addresses: {lls:?}");
    }
}

// ---------------------------------------------------------------- 6

/// `tshark -r FILE -d tcp.port==179,bgp ARGS` output.
fn tshark(file: &Path, args: &[&str]) -> String {
    run(Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-d", "tcp.port==179,bgp"])
        .args(args))
}

/// A `tcpdump -w` capture on `ifname` in `ns`, listening when returned.
fn pcap_capture(ns: &Netns, dir: &TempDir, ifname: &str) -> (Process, PathBuf) {
    let pcap = dir.join("session.pcap");
    let mut cmd = ns.command("tcpdump");
    cmd.args(["-i", ifname, "-n", "-U", "-w"]).arg(&pcap);
    let mut p = Process::spawn("tcpdump -w", &mut cmd, Some(dir.join("tcpdump.log")));
    wait_for("tcpdump to listen", Duration::from_secs(5), || {
        p.assert_running();
        p.log_text().contains("listening on").then_some(())
    });
    (p, pcap)
}

/// LONG (27 s): three hold times in which neither side leaves Established.
fn stays_established(test: &str, da: &Ndbgpd, peer: Ipv6Addr, theirs: &dyn Fn() -> bool, dump: &dyn Fn() -> String) {
    let start = Instant::now();
    let up0 = session_to(da, "eth0", peer).map_or(0, |s| s.uptime_s);
    while start.elapsed() < Duration::from_secs(27) {
        let ours = session_to(da, "eth0", peer);
        assert!(
            ours.as_ref().is_some_and(is_established) && theirs(),
            "left Established {:?} into the stability check: ndbgpd {ours:?}{}",
            start.elapsed(),
            dump()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let up = session_to(da, "eth0", peer).map_or(0, |s| s.uptime_s);
    eprintln!("{test}: stable for 27 s; ndbgpd uptime {up0} -> {up} s");
    assert!(up >= up0 + 25, "uptime grows without reset: {up0} -> {up}");
}

/// The capture decodes without malformed frames and holds an OPEN from each side.
fn assert_clean_capture(test: &str, pcap: &Path, ours: Ipv6Addr, theirs: Ipv6Addr) {
    let bad = tshark(pcap, &["-Y", "_ws.malformed || _ws.expert.severity >= error"]);
    assert!(
        bad.trim().is_empty(),
        "{test}: tshark flags malformed or error frames:\n{bad}"
    );
    let opens = tshark(pcap, &["-Y", "bgp.type==1", "-T", "fields", "-e", "ipv6.src"]);
    for side in [ours, theirs] {
        assert!(
            opens.contains(&side.to_string()),
            "{test}: an OPEN from {side} in the capture:\n{opens}"
        );
    }
    let frames = tshark(pcap, &[]).lines().count();
    eprintln!("{test}: capture of {frames} frames decodes cleanly");
}

#[test]
fn tshark_decodes_session_without_malformed() {
    const T: &str = "tshark_decodes_session_without_malformed";
    if !lab_enabled(T) || !frr_tools(T) || !have_tool(T, "/usr/bin/tshark") || !have_tool(T, "/usr/bin/tcpdump") {
        return;
    }
    let a = Netns::new("bta");
    let b = Netns::new("btb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("tshark");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let pcap = dir.join("session.pcap");
    let mut cap = {
        let mut cmd = a.command("tcpdump");
        cmd.args(["-i", "eth0", "-n", "-U", "-w"]).arg(&pcap);
        let mut p = Process::spawn("tcpdump -w", &mut cmd, Some(dir.join("tcpdump.log")));
        wait_for("tcpdump to listen", Duration::from_secs(5), || {
            p.assert_running();
            p.log_text().contains("listening on").then_some(())
        });
        p
    };
    let frr = Frr::start(
        &b,
        &dir,
        &frr_unnumbered_conf("frr", 65002, "10.0.0.2", &["eth0"], FrrProfile::Datacenter),
    );
    let da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &[]);
    let dump = || format!("{}{}", da.report(), frr.report());
    let n = wait_or_dump("ndbgpd and FRR Established", Duration::from_secs(30), &dump, || {
        established_to(&da, "eth0", lb)?;
        frr.neighbor("eth0").filter(|n| n["bgpState"] == EST)
    });
    let ka = |n: &Value, k: &str| n["messageStats"][k].as_u64().unwrap_or(0);
    let (r0, s0) = (ka(&n, "keepalivesRecv"), ka(&n, "keepalivesSent"));
    wait_or_dump(
        "3 keepalives each way after Established",
        Duration::from_secs(20),
        &dump,
        || {
            let n = frr.neighbor("eth0")?;
            (ka(&n, "keepalivesRecv") >= r0 + 3 && ka(&n, "keepalivesSent") >= s0 + 3).then_some(())
        },
    );
    cap.stop();

    let bad = tshark(&pcap, &["-Y", "_ws.malformed || _ws.expert.severity >= error"]);
    let frames = tshark(&pcap, &[]).lines().count();
    let bgp_msgs = tshark(&pcap, &["-Y", "bgp", "-T", "fields", "-e", "bgp.type"]);
    let types: Vec<&str> = bgp_msgs.lines().flat_map(|l| l.split(',')).collect();
    let count = |t: &str| types.iter().filter(|&&x| x == t).count();
    eprintln!(
        "{T}: {frames} frames; BGP messages: {} OPEN, {} UPDATE, {} NOTIFICATION, {} KEEPALIVE",
        count("1"),
        count("2"),
        count("3"),
        count("4")
    );
    assert!(bad.trim().is_empty(), "tshark flags malformed or error frames:\n{bad}");
    let notifications = tshark(
        &pcap,
        &[
            "-Y",
            "bgp.type==3",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "ipv6.src",
            "-e",
            "bgp.notify.major_error",
            "-e",
            "bgp.notify.minor_error_cease",
            "-e",
            "bgp.notify.communication",
        ],
    );
    for l in notifications.lines() {
        eprintln!("{T}: NOTIFICATION (stream, source, code, cease subcode, text): {l}");
    }

    // OPENs per TCP connection: the one that carries the keepalives at the
    // end is the session; it has exactly one OPEN from each side. (A
    // collision may add a second connection with its own OPENs.)
    let opens = tshark(
        &pcap,
        &[
            "-Y",
            "bgp.type==1",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "ipv6.src",
            "-e",
            "bgp.type",
        ],
    );
    let keepalives = tshark(&pcap, &["-Y", "bgp.type==4", "-T", "fields", "-e", "tcp.stream"]);
    let session_stream = keepalives.lines().last().map(str::trim).unwrap_or("").to_string();
    let mut open_srcs: Vec<Ipv6Addr> = Vec::new();
    let mut total_opens = 0;
    for l in opens.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        let n_open = f
            .get(2)
            .map(|t| t.split(',').filter(|&x| x == "1").count())
            .unwrap_or(0);
        total_opens += n_open;
        if f.first().map(|s| s.trim()) == Some(session_stream.as_str()) {
            for _ in 0..n_open {
                open_srcs.push(f[1].parse().expect("ipv6.src"));
            }
        }
    }
    eprintln!("{T}: {total_opens} OPENs in all; session is TCP stream {session_stream} with OPENs from {open_srcs:?}");
    open_srcs.sort();
    let mut want = vec![la, lb];
    want.sort();
    assert_eq!(
        open_srcs, want,
        "the session's connection has one OPEN from each side:\n{opens}"
    );
}

// ---------------------------------------------------------------- BIRD, GoBGP

/// BIRD 2.0.12 sends RAs (RAdv) and accepts any link-local on eth0 with a
/// passive dynamic BGP: ndbgpd must learn it from its RAs and dial it.
#[test]
fn ndbgpd_and_bird_reach_established() {
    const T: &str = "ndbgpd_and_bird_reach_established";
    if !lab_enabled(T) || !have_tool(T, BIRD) || !have_tool(T, BIRDC) {
        return;
    }
    let a = Netns::new("bba");
    let b = Netns::new("bbb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("bird");
    let bird = Bird::start(&b, &dir, "bird", &bird_unnumbered_conf(65003, "10.0.0.3", "eth0"));
    let da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &[]);
    let up = Instant::now();
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    // Capture from link up: the session cannot start before DAD ends.
    let capturing = have_tool(T, "/usr/bin/tcpdump") && have_tool(T, "/usr/bin/tshark");
    let mut cap = capturing.then(|| pcap_capture(&a, &dir, "eth0"));
    let (_, _, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let dump = || {
        format!(
            "{}\n--- bird: show protocols ---\n{}\n--- bird log ---\n{}",
            da.report(),
            bird.birdc("show protocols all").unwrap_or_default(),
            tail(&bird.process.log_text(), 80)
        )
    };
    let s = wait_or_dump("ndbgpd and BIRD Established", Duration::from_secs(20), &dump, || {
        let s = established_to(&da, "eth0", lb)?;
        (bird.established() == 1).then_some(s)
    });
    eprintln!("{T}: Established on both sides {:?} after link up", up.elapsed());
    assert_session(&s, &a, "eth0", lb, 65003, "10.0.0.3", 9);
    assert_eq!(
        s.direction,
        Some(Direction::Outbound),
        "BIRD 2.0.12's dynamic BGP is passive: {s:?}"
    );
    stays_established(T, &da, lb, &|| bird.established() == 1, &dump);
    if let Some((p, pcap)) = cap.as_mut() {
        p.stop();
        assert_clean_capture(T, pcap, a.link_local("eth0").expect("ours").0, lb);
    }
}

/// GoBGP resolves `neighbor-interface` once from the kernel neighbour table
/// and sends no RA: ndbgpd must accept its dial from an address it has not
/// learned from an RA.
#[test]
fn ndbgpd_and_gobgp_reach_established() {
    const T: &str = "ndbgpd_and_gobgp_reach_established";
    if !lab_enabled(T) || !have_tool(T, GOBGPD) || !have_tool(T, GOBGP) {
        return;
    }
    let a = Netns::new("bga");
    let b = Netns::new("bgb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("gobgp");
    let da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &[]);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    // Put ndbgpd's link-local in b's neighbour table (GoBGP's only source).
    wait_for(
        "ndbgpd's link-local in b's neighbour table",
        Duration::from_secs(5),
        || {
            let _ = b
                .command("ping")
                .args(["-6", "-c", "1", "-W", "1", &format!("{la}%eth0")])
                .output();
            let neigh = b.ip(&["-6", "neigh", "show", "dev", "eth0"]);
            neigh.contains(&la.to_string()).then_some(())
        },
    );
    let capturing = have_tool(T, "/usr/bin/tcpdump") && have_tool(T, "/usr/bin/tshark");
    let mut cap = capturing.then(|| pcap_capture(&a, &dir, "eth0"));
    let started = Instant::now();
    let g = Gobgp::start(
        &b,
        &dir,
        "gobgp",
        &gobgp_unnumbered_conf(65004, "10.0.0.4", "eth0", 65001),
    );
    let dump = || {
        format!(
            "{}\n--- gobgp neighbor ---\n{}\n--- gobgpd log ---\n{}",
            da.report(),
            g.gobgp(&["neighbor"]).unwrap_or_default(),
            tail(&g.process.log_text(), 80)
        )
    };
    let s = wait_or_dump("ndbgpd and GoBGP Established", Duration::from_secs(20), &dump, || {
        let s = established_to(&da, "eth0", lb)?;
        (g.established() == 1).then_some(s)
    });
    eprintln!(
        "{T}: Established on both sides {:?} after gobgpd started",
        started.elapsed()
    );
    assert_session(&s, &a, "eth0", lb, 65004, "10.0.0.4", 9);
    stays_established(T, &da, lb, &|| g.established() == 1, &dump);
    if let Some((p, pcap)) = cap.as_mut() {
        p.stop();
        assert_clean_capture(T, pcap, la, lb);
    }
}
