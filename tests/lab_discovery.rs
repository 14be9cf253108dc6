//! Lab tests for neighbour discovery: real namespaces, veth links, ndbgpd,
//! radvd, rdisc6, tcpdump and scapy. Need root; in CI they never skip.

mod common;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use ndbgp::api::{InterfaceState, PeerEntryView, PeerStateName};

fn is_usable(entry: &PeerEntryView) -> bool {
    entry.state == PeerStateName::Usable
}

/// The NEIGHBORS cell of `ndbgpctl interfaces` for `ifname`.
fn neighbors_column(d: &Ndbgpd, ifname: &str) -> String {
    let text = d.ctl_text(&["interfaces"]);
    let row = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(ifname))
        .unwrap_or_else(|| panic!("no {ifname} row:\n{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    cells[cells.len().saturating_sub(2)..].join(" ")
}

#[test]
fn two_ndbgpd_find_each_other_and_link_down_loses_peer() {
    if !lab_enabled("two_ndbgpd_find_each_other") {
        return;
    }
    let a = Netns::new("nd2a");
    let b = Netns::new("nd2b");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("two");
    let da = Ndbgpd::start(&a, &dir, "a", &["--iface", "eth0", "--asn", "65001"]);
    let db = Ndbgpd::start(&b, &dir, "b", &["--iface", "eth0", "--asn", "65002"]);
    a.set_link("eth0", true);
    b.set_link("eth0", true);

    let (ready, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    wait_for("each ndbgpd to find the other", Duration::from_secs(5), || {
        let ab = da.find_neighbour("eth0", lb).filter(is_usable)?;
        let ba = db.find_neighbour("eth0", la).filter(is_usable)?;
        Some((ab, ba))
    });
    let took = ready.elapsed();
    eprintln!("found each other {took:?} after both link-locals left tentative");
    assert!(took <= Duration::from_millis(500), "took {took:?}, want <= 500 ms");

    let entry = da.find_neighbour("eth0", lb).expect("entry");
    assert!(
        entry.sources.iter().any(|s| s == "ra"),
        "learned from its RA: {entry:?}"
    );
    assert!(entry.router, "{entry:?}");
    assert_eq!(entry.ifindex, a.ifindex("eth0"));
    let mac = a.ip(&["-j", "link", "show", "dev", "eth0"]);
    assert!(!mac.is_empty());
    let b_mac: serde_json::Value = serde_json::from_str(&b.ip(&["-j", "link", "show", "dev", "eth0"])).unwrap();
    assert_eq!(
        entry.mac.as_deref(),
        b_mac[0]["address"].as_str(),
        "MAC from the RA's source link-layer option"
    );

    // The peer table's count per interface, in the JSON and in the table.
    let ifs = da.interfaces();
    assert_eq!(ifs.len(), 1, "{ifs:?}");
    assert_eq!(ifs[0].neighbors.count, 1, "{ifs:?}");
    assert_eq!(neighbors_column(&da, "eth0"), "1 refused=0");

    // Link down on A: B's entry must go within 100 ms.
    let down = Instant::now();
    a.set_link("eth0", false);
    wait_for("the peer to be lost after link down", Duration::from_secs(2), || {
        da.find_neighbour("eth0", lb).is_none().then_some(())
    });
    let took = down.elapsed();
    eprintln!("peer removed {took:?} after link down");
    assert!(took <= Duration::from_millis(100), "took {took:?}, want <= 100 ms");
    assert_eq!(da.interfaces()[0].neighbors.count, 0);
    assert_eq!(neighbors_column(&da, "eth0"), "0 refused=0");
    assert!(
        da.process.log_text().contains(&format!("{lb} lost")),
        "a Lost event is logged"
    );
}

/// Start tcpdump in `ns` on `ifname` and wait until it listens.
fn tcpdump(ns: &Netns, dir: &TempDir, tag: &str, ifname: &str, filter: &str) -> Process {
    let log = dir.join(&format!("{tag}.pcap.txt"));
    let mut cmd = ns.command("tcpdump");
    cmd.args(["-i", ifname, "-n", "-l", "-tt", "-v", filter]);
    let mut p = Process::spawn(tag, &mut cmd, Some(log));
    wait_for("tcpdump to listen", Duration::from_secs(5), || {
        p.assert_running();
        p.log_text().contains("listening on").then_some(())
    });
    p
}

/// The first line of a `tcpdump -v` capture showing an RA from `src`.
fn ra_line(capture: &Process, src: Ipv6Addr) -> Option<String> {
    let text = capture.log_text();
    let line = text
        .lines()
        .find(|l| l.contains(&format!("{src} > ")) && l.contains("router advertisement"))?;
    Some(line.to_string())
}

#[test]
fn discovers_radvd_within_one_second_of_its_first_ra() {
    if !lab_enabled("discovers_radvd") || !have_tool("discovers_radvd", "/usr/sbin/radvd") {
        return;
    }
    if !have_tool("discovers_radvd", "/usr/bin/tcpdump") {
        return;
    }
    let a = Netns::new("ndra");
    let b = Netns::new("ndrb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("radvd");
    let da = Ndbgpd::start(&a, &dir, "a", &["--iface", "eth0", "--asn", "65001"]);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, _, lb) = wait_link_locals_ready(&a, &b, "eth0");
    let capture = tcpdump(&a, &dir, "cap", "eth0", "icmp6 and ip6[40] == 134");

    let conf = dir.join("radvd.conf");
    std::fs::write(
        &conf,
        "interface eth0 {\n AdvSendAdvert on;\n MinRtrAdvInterval 3;\n MaxRtrAdvInterval 4;\n};\n",
    )
    .unwrap();
    let mut cmd = b.command("/usr/sbin/radvd");
    cmd.args([
        "-n",
        "-C",
        conf.to_str().unwrap(),
        "-p",
        dir.join("radvd.pid").to_str().unwrap(),
        "-m",
        "stderr",
    ]);
    let mut radvd = Process::spawn("radvd", &mut cmd, Some(dir.join("radvd.log")));

    let found_at = wait_for("ndbgpd to discover radvd", Duration::from_secs(20), || {
        radvd.assert_running();
        let e = da.find_neighbour("eth0", lb)?;
        e.sources.iter().any(|s| s == "ra").then(SystemTime::now)
    });
    // The first RA from radvd's address in the capture: its timestamp is the
    // start of the 1 s budget.
    let first_ra = wait_for("radvd's RA in the capture", Duration::from_secs(3), || {
        ra_line(&capture, lb)
    });
    let stamp: f64 = first_ra
        .split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .expect("tcpdump -tt timestamp");
    let found: f64 = found_at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let lag = found - stamp;
    eprintln!("radvd discovered {lag:.3} s after its first RA");
    assert!(lag <= 1.0, "discovered {lag:.3} s after radvd's first RA, want <= 1 s");
    assert!(da.find_neighbour("eth0", lb).expect("radvd's entry").router);
}

#[test]
fn rdisc6_gets_our_ra_with_hop_limit_255_from_our_link_local() {
    if !lab_enabled("rdisc6_gets_our_ra") || !have_tool("rdisc6_gets_our_ra", "/usr/bin/rdisc6") {
        return;
    }
    if !have_tool("rdisc6_gets_our_ra", "/usr/bin/tcpdump") {
        return;
    }
    let a = Netns::new("ndsa");
    let b = Netns::new("ndsb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("rdisc6");
    let _da = Ndbgpd::start(
        &a,
        &dir,
        "a",
        &["--iface", "eth0", "--asn", "65001", "--ra-interval", "30"],
    );
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, _) = wait_link_locals_ready(&a, &b, "eth0");
    let capture = tcpdump(&b, &dir, "cap", "eth0", "icmp6 and ip6[40] == 134");

    // rdisc6 solicits and prints the first RA it accepts; it discards RAs
    // whose hop limit is not 255 (RFC 4861 6.1.2).
    let out = run(b.command("rdisc6").args(["-1", "-n", "-w", "1000", "-r", "3", "eth0"]));
    assert!(
        out.contains(&format!("from {la}")),
        "RA from ndbgpd's link-local {la}:\n{out}"
    );
    assert!(out.contains("Router lifetime"), "{out}");

    let header = wait_for("our RA in the capture", Duration::from_secs(3), || {
        ra_line(&capture, la)
    });
    assert!(header.contains("hlim 255"), "IPv6 hop limit 255: {header}");
}

#[test]
fn malformed_nd_is_counted_and_dropped() {
    if !lab_enabled("malformed_nd") || !have_tool("malformed_nd", "/usr/bin/python3") {
        return;
    }
    let scapy_ok = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import scapy"])
        .status()
        .is_ok_and(|s| s.success());
    if !scapy_ok && !have_tool("malformed_nd", "/usr/lib/python3/dist-packages/scapy") {
        return;
    }
    let a = Netns::new("ndma");
    let b = Netns::new("ndmb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("malformed");
    let da = Ndbgpd::start(&a, &dir, "a", &["--iface", "eth0", "--asn", "65001"]);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    wait_link_locals_ready(&a, &b, "eth0");

    // Three bad RAs from addresses that must not be learned: hop limit 64,
    // a zero-length option, a global source. Then one good RA.
    let script = r#"
import sys
from scapy.all import Ether, IPv6, ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, Raw, sendp
dst = Ether(dst='33:33:00:00:00:01')
sendp(dst/IPv6(src='fe80::bad:1', dst='ff02::1', hlim=64)/ICMPv6ND_RA(), iface='eth0', verbose=0)
sendp(dst/IPv6(src='fe80::bad:2', dst='ff02::1', hlim=255)/ICMPv6ND_RA()/Raw(b'\x01\x00\x00\x00\x00\x00\x00\x00'), iface='eth0', verbose=0)
sendp(dst/IPv6(src='2001:db8::bad:3', dst='ff02::1', hlim=255)/ICMPv6ND_RA(), iface='eth0', verbose=0)
sendp(dst/IPv6(src='fe80::600d', dst='ff02::1', hlim=255)/ICMPv6ND_RA(routerlifetime=0)/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:60:0d'), iface='eth0', verbose=0)
"#;
    run(b.command("/usr/bin/python3").args(["-c", script]));

    let good: Ipv6Addr = "fe80::600d".parse().unwrap();
    let entry = wait_for("the good RA's sender", Duration::from_secs(3), || {
        da.find_neighbour("eth0", good)
    });
    assert_eq!(entry.mac.as_deref(), Some("02:00:00:00:60:0d"));
    let dropped = wait_for("three drops counted", Duration::from_secs(3), || {
        let d = da.interfaces().first()?.nd.dropped.clone();
        (d.values().sum::<u64>() >= 3).then_some(d)
    });
    let count = |reason: &str| dropped.get(reason).copied();
    assert_eq!(count("hop_limit"), Some(1), "{dropped:?}");
    assert_eq!(count("option_zero_length"), Some(1), "{dropped:?}");
    assert_eq!(count("ra_source_not_link_local"), Some(1), "{dropped:?}");
    for bad in ["fe80::bad:1", "fe80::bad:2", "2001:db8::bad:3"] {
        assert!(
            da.find_neighbour("eth0", bad.parse().unwrap()).is_none(),
            "{bad} must not be learned"
        );
    }
}

#[test]
fn missing_interface_is_waited_for_and_recreated_interface_followed() {
    if !lab_enabled("missing_interface") {
        return;
    }
    let a = Netns::new("ndwa");
    let b = Netns::new("ndwb");
    let dir = TempDir::new("missing");
    let da = Ndbgpd::start(&a, &dir, "a", &["--iface", "eth0", "--asn", "65001"]);
    let db = Ndbgpd::start(&b, &dir, "b", &["--iface", "eth0", "--asn", "65002"]);
    let ifs = da.interfaces();
    assert_eq!(ifs[0].nd.state, InterfaceState::Missing, "{ifs:?}");

    for round in 0..2 {
        veth(&a, "eth0", &b, "eth0");
        a.set_link("eth0", true);
        b.set_link("eth0", true);
        let (_, _, lb) = wait_link_locals_ready(&a, &b, "eth0");
        let ifindex = a.ifindex("eth0");
        let e = wait_for("discovery on the new interface", Duration::from_secs(5), || {
            da.find_neighbour("eth0", lb).filter(is_usable)
        });
        assert_eq!(e.ifindex, ifindex, "round {round}: {e:?}");
        a.ip(&["link", "del", "eth0"]);
        wait_for("the peer to go with the interface", Duration::from_secs(2), || {
            da.find_neighbour("eth0", lb).is_none().then_some(())
        });
    }
    assert!(da.process.log_text().contains("eth0"), "{}", da.process.log_text());
    drop(db);
}
