//! Lab tests for route exchange: ndbgpd against FRR 8.4, BIRD 2.0.12 and
//! GoBGP (prefixes both ways, installed in the kernel with proto 201, gone
//! on session down and at SIGTERM), and a 2 x 2 leaf/spine fabric of
//! ndbgpd with ECMP. Need root; in CI they never skip. Everything is
//! synchronised by polling with deadlines; figures are printed.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ndbgp::api::{NeighborView, PathView, RouteEntry, SessionState};
use serde_json::Value;

use common::peers::*;
use common::*;

const EST: &str = "Established";

// ---------------------------------------------------------------- helpers

fn wait_link_locals_ready(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> (Ipv6Addr, Ipv6Addr) {
    let (_, la, lb) = wait_link_locals_ready_on(a, a_if, b, b_if);
    (la, lb)
}

/// An ndbgpd's neighbors and routes views, its namespace's bgp routes and its log tail.
fn report(d: &Ndbgpd, ns: &Netns) -> String {
    let view = |what: &str| {
        d.try_ctl_json(&[what])
            .unwrap_or_else(|| format!("(ndbgpctl {what} --json failed)"))
    };
    format!(
        "\n--- {}: neighbors = {}\n--- routes = {}\n--- kernel v4 = {:?}\n--- kernel v6 = {:?}\n--- log (tail) ---\n{}\n",
        d.process.name,
        view("neighbors"),
        view("routes"),
        bgp_routes(ns, false),
        bgp_routes(ns, true),
        tail(&d.process.log_text(), 120)
    )
}

fn frr_report(frr: &Frr) -> String {
    format!(
        "\n--- frr {}: show bgp summary ---\n{}\n--- show bgp ipv4 ---\n{}\n{}",
        frr.name,
        frr.vtysh("show bgp summary").unwrap_or_default(),
        frr.vtysh("show bgp ipv4 unicast").unwrap_or_default(),
        tail(&frr.logs(), 80)
    )
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

/// `ip [-6] -j route show proto P` in `ns`, for P bgp (FRR's zebra) and
/// ndbgpd's own protocol (201).
fn bgp_routes(ns: &Netns, v6: bool) -> Vec<Value> {
    let mut routes = Vec::new();
    for proto in ["bgp", "201"] {
        let mut args = vec![];
        if v6 {
            args.push("-6");
        }
        args.extend(["-j", "route", "show", "proto", proto]);
        let out = ns.ip(&args);
        routes.extend(
            serde_json::from_str::<Value>(&out)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default(),
        );
    }
    routes
}

/// The kernel's BGP route (FRR's or ndbgpd's) to `prefix` in `ns`.
fn kernel_route(ns: &Netns, prefix: &str) -> Option<Value> {
    bgp_routes(ns, prefix.contains(':'))
        .into_iter()
        .find(|r| r["dst"] == prefix)
}

/// A route's next hops as (gateway, device): one for a plain route, one per
/// entry of "nexthops" for a multipath one.
fn next_hops(r: &Value) -> Vec<(String, String)> {
    let one = |h: &Value| {
        (
            h["via"]["host"]
                .as_str()
                .or(h["gateway"].as_str())
                .unwrap_or("")
                .to_string(),
            h["dev"].as_str().unwrap_or("").to_string(),
        )
    };
    match r["nexthops"].as_array() {
        Some(hops) => hops.iter().map(one).collect(),
        None => vec![one(r)],
    }
}

/// The route to `prefix` in `ns` if it goes via exactly (`gw`, `dev`), inet6 for IPv4 prefixes.
fn route_via(ns: &Netns, prefix: &str, gw: Ipv6Addr, dev: &str) -> Option<Value> {
    let r = kernel_route(ns, prefix)?;
    if !prefix.contains(':') && r["via"]["family"] != "inet6" {
        return None;
    }
    (next_hops(&r) == vec![(gw.to_string(), dev.to_string())]).then_some(r)
}

fn ndbgpd_route<'a>(routes: &'a [RouteEntry], prefix: &str) -> Option<&'a RouteEntry> {
    routes.iter().find(|r| r.route.prefix.to_string() == prefix)
}

fn sigterm(pid: i32) {
    use nix::sys::signal::{Signal, kill};
    kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM");
}

/// Wait for `p` to exit (it was sent SIGTERM).
fn wait_exit(p: &mut Process, timeout: Duration) {
    wait_for(&format!("{} to exit", p.name), timeout, || {
        p.child.try_wait().ok().flatten().map(|_| ())
    });
}

// ---------------------------------------------------------------- FRR

fn frr_routes_conf() -> String {
    "frr defaults datacenter\nhostname frr\ndebug bgp neighbor-events\ndebug bgp updates\n!\ninterface eth0\n!\n\
router bgp 65002\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n\
 neighbor eth0 interface remote-as external\n address-family ipv4 unicast\n  network 10.0.2.0/24\n exit-address-family\n\
 address-family ipv6 unicast\n  neighbor eth0 activate\n  network 2001:db8:2::/48\n exit-address-family\n!\n"
        .to_string()
}

#[test]
fn routes_with_frr_both_ways() {
    const T: &str = "routes_with_frr_both_ways";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let a = Netns::new("rfa");
    let b = Netns::new("rfb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("rfrr");
    b.ip(&["route", "add", "blackhole", "10.0.2.0/24"]);
    b.ip(&["-6", "route", "add", "blackhole", "2001:db8:2::/48"]);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (la, lb) = wait_link_locals_ready(&a, "eth0", &b, "eth0");
    let nets = ["--network", "10.0.1.0/24", "--network", "2001:db8:1::/48"];
    let mut da = ndbgpd(&a, &dir, "a", &["eth0"], 65001, "10.0.0.1", &nets);
    let started = Instant::now();
    let mut frr = Frr::start(&b, &dir, &frr_routes_conf());
    {
        let dump = || format!("{}{}", report(&da, &a), frr_report(&frr));
        wait_or_dump("FRR Established", Duration::from_secs(30), &dump, || {
            (frr.bgp_state("eth0").as_deref() == Some(EST)).then_some(())
        });
        let est = started.elapsed();
        // ndbgpd's kernel: FRR's prefixes via FRR's link-local on eth0.
        let r4 = wait_or_dump(
            "10.0.2.0/24 via FRR in ndbgpd's kernel",
            Duration::from_secs(10),
            &dump,
            || route_via(&a, "10.0.2.0/24", lb, "eth0"),
        );
        let r6 = wait_or_dump(
            "2001:db8:2::/48 via FRR in ndbgpd's kernel",
            Duration::from_secs(10),
            &dump,
            || route_via(&a, "2001:db8:2::/48", lb, "eth0"),
        );
        let t_a = started.elapsed();
        // FRR's kernel: ours via ndbgpd's link-local.
        wait_or_dump(
            "10.0.1.0/24 via ndbgpd in FRR's kernel",
            Duration::from_secs(10),
            &dump,
            || route_via(&b, "10.0.1.0/24", la, "eth0"),
        );
        wait_or_dump(
            "2001:db8:1::/48 via ndbgpd in FRR's kernel",
            Duration::from_secs(10),
            &dump,
            || route_via(&b, "2001:db8:1::/48", la, "eth0"),
        );
        eprintln!(
            "{T}: FRR started -> Established {est:?}, FRR's prefixes in ndbgpd's kernel {t_a:?}, both ways {:?}",
            started.elapsed()
        );
        eprintln!("{T}: ndbgpd's kernel: {r4}\n{T}: {r6}");
        let bgp = frr
            .vtysh_json("show bgp ipv4 unicast json")
            .expect("show bgp ipv4 unicast json");
        let paths = bgp["routes"]["10.0.1.0/24"].as_array().cloned().unwrap_or_default();
        assert!(
            paths.iter().any(|p| p["path"] == "65001"),
            "FRR's path to 10.0.1.0/24 is AS 65001: {paths:?}{}",
            dump()
        );
        // ndbgpd's own view.
        let routes = da.routes(None);
        let r = ndbgpd_route(&routes, "10.0.2.0/24")
            .unwrap_or_else(|| panic!("10.0.2.0/24 in ndbgpctl routes: {routes:?}"));
        let p = r.route.paths.first().unwrap_or_else(|| panic!("no path: {r:?}"));
        assert_eq!(p.peer_asn, 65002, "{r:?}");
        assert_eq!(p.peer_address, Some(lb), "{r:?}");
        assert!(p.best, "{r:?}");
        assert!(r.installed, "{r:?}");
        // A prefix narrows the view to what lies inside it.
        let narrowed = da.routes(Some("10.0.2.0/23"));
        let prefixes: Vec<String> = narrowed.iter().map(|r| r.route.prefix.to_string()).collect();
        assert_eq!(prefixes, ["10.0.2.0/24"], "ndbgpctl routes 10.0.2.0/23: {narrowed:?}");
        assert!(narrowed[0].installed, "{narrowed:?}");
        let n = da.neighbors();
        eprintln!("{T}: ndbgpd neighbors: {n:?}");
        assert!(n[0].prefixes_received >= 2, "prefixes_received: {n:?}");
        assert!(n[0].prefixes_sent >= 2, "prefixes_sent: {n:?}");
    }

    // SIGTERM ndbgpd: FRR withdraws 10.0.1.0/24 within 1 s; ndbgpd's namespace is clean.
    let t0 = Instant::now();
    sigterm(da.process.pid());
    wait_or_dump(
        "FRR's kernel to lose 10.0.1.0/24",
        Duration::from_secs(5),
        &|| frr_report(&frr),
        || kernel_route(&b, "10.0.1.0/24").is_none().then_some(()),
    );
    let withdraw = t0.elapsed();
    wait_exit(&mut da.process, Duration::from_secs(5));
    let exit = t0.elapsed();
    let left: Vec<Value> = [bgp_routes(&a, false), bgp_routes(&a, true)].concat();
    eprintln!("{T}: ndbgpd SIGTERM -> FRR's kernel lost 10.0.1.0/24 in {withdraw:?}; ndbgpd exited in {exit:?}");
    assert!(
        left.is_empty(),
        "ndbgpd left its routes at SIGTERM: {left:?}\n{}",
        tail(&da.process.log_text(), 60)
    );
    assert!(withdraw <= Duration::from_secs(1), "FRR withdrew after {withdraw:?}");

    // Restart ndbgpd, then stop FRR's bgpd: ndbgpd drops 10.0.2.0/24 within 1 s.
    frr.assert_running();
    let da = ndbgpd(&a, &dir, "a2", &["eth0"], 65001, "10.0.0.1", &nets);
    let dump = || format!("{}{}", report(&da, &a), frr_report(&frr));
    let t1 = Instant::now();
    wait_or_dump(
        "10.0.2.0/24 back in ndbgpd's kernel",
        Duration::from_secs(30),
        &dump,
        || route_via(&a, "10.0.2.0/24", lb, "eth0"),
    );
    eprintln!("{T}: ndbgpd restarted -> 10.0.2.0/24 back in {:?}", t1.elapsed());
    let t2 = Instant::now();
    sigterm(frr.bgpd_pid());
    wait_or_dump(
        "ndbgpd's kernel to lose 10.0.2.0/24",
        Duration::from_secs(15),
        &dump,
        || (kernel_route(&a, "10.0.2.0/24").is_none() && kernel_route(&a, "2001:db8:2::/48").is_none()).then_some(()),
    );
    let dropped = t2.elapsed();
    eprintln!("{T}: FRR bgpd SIGTERM -> ndbgpd's kernel lost FRR's prefixes in {dropped:?}");
    assert!(
        dropped <= Duration::from_secs(1),
        "ndbgpd withdrew after {dropped:?}{}",
        dump()
    );
}

// ---------------------------------------------------------------- fabric

/// Two ndbgpd spines (AS 65100, 65101) and two ndbgpd leaves (65001 with
/// 10.0.11.0/24, 65002 with 10.0.12.0/24), each leaf linked to each spine.
/// leaf1 has one route to 10.0.12.0/24 with a next hop via each spine;
/// a link down drops to one next hop, link up restores two.
#[test]
fn fabric_ecmp_two_spines_two_leaves() {
    const T: &str = "fabric_ecmp_two_spines_two_leaves";
    if !lab_enabled(T) {
        return;
    }
    let s1 = Netns::new("rs1");
    let s2 = Netns::new("rs2");
    let l1 = Netns::new("rl1");
    let l2 = Netns::new("rl2");
    // On a leaf the link to spine N is "sN"; on a spine the link to leaf N is "lN".
    veth(&l1, "s1", &s1, "l1");
    veth(&l1, "s2", &s2, "l1");
    veth(&l2, "s1", &s1, "l2");
    veth(&l2, "s2", &s2, "l2");
    for (ns, ifs) in [
        (&l1, ["s1", "s2"]),
        (&l2, ["s1", "s2"]),
        (&s1, ["l1", "l2"]),
        (&s2, ["l1", "l2"]),
    ] {
        for i in ifs {
            ns.set_link(i, true);
        }
    }
    let dir = TempDir::new("fabric");
    let sp1 = ndbgpd(&s1, &dir, "spine1", &["l1", "l2"], 65100, "10.0.100.1", &[]);
    let sp2 = ndbgpd(&s2, &dir, "spine2", &["l1", "l2"], 65101, "10.0.100.2", &[]);
    let started = Instant::now();
    let lf1 = ndbgpd(
        &l1,
        &dir,
        "leaf1",
        &["s1", "s2"],
        65001,
        "10.0.0.11",
        &["--network", "10.0.11.0/24"],
    );
    let lf2 = ndbgpd(
        &l2,
        &dir,
        "leaf2",
        &["s1", "s2"],
        65002,
        "10.0.0.12",
        &["--network", "10.0.12.0/24"],
    );
    let (_, s1_ll) = wait_link_locals_ready(&l1, "s1", &s1, "l1");
    let (_, s2_ll) = wait_link_locals_ready(&l1, "s2", &s2, "l1");
    let dump = || {
        format!(
            "{}{}{}{}",
            report(&lf1, &l1),
            report(&lf2, &l2),
            report(&sp1, &s1),
            report(&sp2, &s2)
        )
    };
    let both = {
        let mut want = vec![
            (s1_ll.to_string(), "s1".to_string()),
            (s2_ll.to_string(), "s2".to_string()),
        ];
        want.sort();
        want
    };
    let hops = |ns: &Netns, p: &str| {
        kernel_route(ns, p).map(|r| {
            let mut h = next_hops(&r);
            h.sort();
            (h, r)
        })
    };
    let r = wait_or_dump(
        "leaf1: 10.0.12.0/24 via both spines",
        Duration::from_secs(30),
        &dump,
        || hops(&l1, "10.0.12.0/24").filter(|(h, _)| *h == both).map(|(_, r)| r),
    );
    eprintln!(
        "{T}: leaves started -> ECMP route in leaf1 {:?}: {r}",
        started.elapsed()
    );
    assert_eq!(
        bgp_routes(&l1, false)
            .iter()
            .filter(|r| r["dst"] == "10.0.12.0/24")
            .count(),
        1,
        "one multipath route, not two routes"
    );
    assert_eq!(r["nexthops"].as_array().map(Vec::len), Some(2), "multipath: {r}");
    // leaf2 sees leaf1's prefix the same way.
    wait_or_dump(
        "leaf2: 10.0.11.0/24 via both spines",
        Duration::from_secs(10),
        &dump,
        || hops(&l2, "10.0.11.0/24").filter(|(h, _)| h.len() == 2),
    );
    let routes = lf1.routes(None);
    let mine = ndbgpd_route(&routes, "10.0.12.0/24").unwrap_or_else(|| panic!("leaf1 routes: {routes:?}"));
    eprintln!("{T}: leaf1 ndbgpctl routes 10.0.12.0/24: {mine:?}");
    let paths = &mine.route.paths;
    assert_eq!(paths.len(), 2, "{mine:?}");
    assert!(paths.iter().all(|p| p.multipath), "{mine:?}");

    // leaf1's link to spine1 down: one next hop via spine2 within 100 ms.
    // The kernel keeps the s1 nexthop in the route, marked dead/linkdown:
    // the FIB must still replace the route with the s2 path alone (this
    // caught a bug where a dead path compared equal to a missing one).
    let t0 = Instant::now();
    l1.set_link("s1", false);
    let one = vec![(s2_ll.to_string(), "s2".to_string())];
    wait_or_dump(
        "leaf1: one next hop after s1 down",
        Duration::from_secs(5),
        &dump,
        || hops(&l1, "10.0.12.0/24").filter(|(h, _)| *h == one),
    );
    let down = t0.elapsed();
    // Link up: both next hops again.
    let t1 = Instant::now();
    l1.set_link("s1", true);
    wait_or_dump(
        "leaf1: two next hops after s1 up",
        Duration::from_secs(30),
        &dump,
        || hops(&l1, "10.0.12.0/24").filter(|(h, _)| *h == both),
    );
    let up = t1.elapsed();
    eprintln!("{T}: s1 down -> one next hop in {down:?}; s1 up -> two next hops in {up:?}");
    assert!(
        down <= Duration::from_millis(100),
        "ECMP failover took {down:?}{}",
        dump()
    );
    assert!(up <= Duration::from_secs(10), "ECMP restore took {up:?}");
}

// ---------------------------------------------------------------- addresses

/// ndbgpd's local path to `prefix`, from `ndbgpctl routes`.
fn local_path(d: &Ndbgpd, prefix: &str) -> Option<PathView> {
    let routes: Vec<RouteEntry> = d.try_ctl(&["routes"])?;
    let route = ndbgpd_route(&routes, prefix)?;
    route.route.paths.iter().find(|p| p.peer == "local").cloned()
}

/// The Established session on `ifname`, from `ndbgpctl neighbors`.
fn established_on(d: &Ndbgpd, ifname: &str) -> Option<NeighborView> {
    d.try_neighbors()?
        .into_iter()
        .find(|s| s.interface == ifname && s.state == SessionState::Established)
}

/// Without --router-id and with no IPv4 address, ndbgpd derives its router
/// ID from eth0's MAC, and the RIB's local paths carry it (not 0.0.0.0).
/// Addresses added later, read from netlink events: an IPv4 address on the
/// loopback becomes the router ID (local paths follow; the established
/// session is not reset; a new session uses it) and is redistributed; a
/// global IPv6 address on the fabric interface becomes next hop self and is
/// not redistributed.
#[test]
fn addresses_drive_router_id_next_hop_self_and_redistribution() {
    const T: &str = "addresses_drive_router_id_next_hop_self_and_redistribution";
    if !lab_enabled(T) {
        return;
    }
    let a = Netns::new("raa");
    let b = Netns::new("rab");
    veth(&a, "eth0", &b, "eth0");
    a.ip(&["link", "set", "eth0", "address", "02:00:0a:0b:0c:0d"]);
    let dir = TempDir::new("raddr");
    let a_args = [
        "--iface",
        "eth0",
        "--asn",
        "65001",
        "--network",
        "2001:db8:1::/48",
        "--redistribute",
        "connected",
    ];
    let da = Ndbgpd::start(&a, &dir, "a", &a_args);
    let db = ndbgpd(&b, &dir, "b", &["eth0"], 65002, "10.0.0.2", &[]);
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (la, _) = wait_link_locals_ready(&a, "eth0", &b, "eth0");
    let dump = || format!("{}{}", report(&da, &a), report(&db, &b));
    let long = Duration::from_secs(30);

    let mac_id: Ipv4Addr = "10.11.12.13".parse().expect("address");
    let id_9: Ipv4Addr = "10.9.9.9".parse().expect("address");
    let id_8: Ipv4Addr = "10.9.9.8".parse().expect("address");
    wait_or_dump("a's local path with the MAC-derived router ID", long, &dump, || {
        local_path(&da, "2001:db8:1::/48").filter(|p| p.router_id == mac_id)
    });
    wait_or_dump("b Established with a, router ID from a's MAC", long, &dump, || {
        established_on(&db, "eth0").filter(|s| s.remote_id == Some(mac_id))
    });

    // Both are read from RTM_NEWADDR, not from a poll.
    a.ip(&["-6", "addr", "add", "2001:db8:a::1/64", "dev", "eth0", "nodad"]);
    a.ip(&["addr", "add", "10.9.9.9/32", "dev", "lo"]);
    let t0 = Instant::now();
    wait_or_dump("a's local path with router ID 10.9.9.9", long, &dump, || {
        local_path(&da, "2001:db8:1::/48").filter(|p| p.router_id == id_9)
    });
    wait_or_dump("10.9.9.9/32 in b's kernel via a", long, &dump, || {
        // iproute2 shows a host route without its /32.
        route_via(&b, "10.9.9.9", la, "eth0")
    });
    eprintln!(
        "{T}: addresses added -> 10.9.9.9/32 in b's kernel in {:?}",
        t0.elapsed()
    );
    let a_routes = da.routes(None);
    assert!(
        local_path(&da, "10.9.9.9/32").is_some_and(|p| p.router_id == id_9),
        "{a_routes:?}"
    );
    assert!(
        ndbgpd_route(&a_routes, "2001:db8:a::/64").is_none(),
        "the fabric interface's prefix is not redistributed: {a_routes:?}"
    );
    // Not reset by the change: b still knows a by the ID of its OPEN.
    let session = established_on(&da, "eth0").unwrap_or_else(|| panic!("a's session went{}", dump()));
    assert_eq!(session.established_count, 1, "{session:?}");
    assert_eq!(established_on(&db, "eth0").and_then(|s| s.remote_id), Some(mac_id));

    // Removed: withdrawn from b.
    a.ip(&["addr", "del", "10.9.9.9/32", "dev", "lo"]);
    wait_or_dump("10.9.9.9/32 withdrawn from b's kernel", long, &dump, || {
        kernel_route(&b, "10.9.9.9").is_none().then_some(())
    });
    // Back to the MAC; then another loopback address.
    wait_or_dump("a's local path back on the MAC-derived router ID", long, &dump, || {
        local_path(&da, "2001:db8:1::/48").filter(|p| p.router_id == mac_id)
    });
    a.ip(&["addr", "add", "10.9.9.8/32", "dev", "lo"]);
    wait_or_dump("a's local path with router ID 10.9.9.8", long, &dump, || {
        local_path(&da, "2001:db8:1::/48").filter(|p| p.router_id == id_8)
    });
    // Announced now, long after eth0's global address came (the kernel may
    // report an IPv6 address after an IPv4 one added later).
    let global: Ipv6Addr = "2001:db8:a::1".parse().expect("address");
    let r = wait_or_dump("10.9.9.8/32 at b, next hop a's global", long, &dump, || {
        let routes: Vec<RouteEntry> = db.try_ctl(&["routes"])?;
        let path = ndbgpd_route(&routes, "10.9.9.8/32")?.route.paths.first()?.clone();
        (path.next_hop_global == Some(global)).then_some(path)
    });
    assert_eq!(r.next_hop_link_local, Some(la), "{r:?}");
    // a's link bounces: its session task ends, the new one has the new ID.
    a.set_link("eth0", false);
    wait_or_dump("a's session task to end", long, &dump, || {
        da.try_neighbors()?.is_empty().then_some(())
    });
    a.set_link("eth0", true);
    wait_or_dump("a new session, with a's router ID 10.9.9.8", long, &dump, || {
        established_on(&db, "eth0").filter(|s| s.remote_id == Some(id_8))
    });
}

// ---------------------------------------------------------------- BIRD, GoBGP

/// BIRD 2.0.12 (RAdv + passive dynamic BGP) exports a static 10.0.3.0/24
/// (IPv4 over extended next hop); ndbgpd announces 10.0.1.0/24.
#[test]
fn routes_with_bird() {
    const T: &str = "routes_with_bird";
    if !lab_enabled(T) || !have_tool(T, BIRD) || !have_tool(T, BIRDC) {
        return;
    }
    let a = Netns::new("rba");
    let b = Netns::new("rbb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("rbird");
    let conf = r#"router id 10.0.0.3;
log stderr all;
protocol device { }
protocol radv { interface "eth0" { max ra interval 4; min ra interval 3; }; }
protocol static st4 { ipv4; route 10.0.3.0/24 blackhole; }
protocol bgp dyn {
  local as 65003;
  neighbor range fe80::/10 external;
  interface "eth0";
  hold time 9;
  keepalive time 3;
  ipv4 { extended next hop on; import all; export where proto = "st4"; };
  ipv6 { import all; export none; };
}
"#;
    let bird = Bird::start(&b, &dir, "bird", conf);
    let da = ndbgpd(
        &a,
        &dir,
        "a",
        &["eth0"],
        65001,
        "10.0.0.1",
        &["--network", "10.0.1.0/24"],
    );
    let up = Instant::now();
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, lb) = wait_link_locals_ready(&a, "eth0", &b, "eth0");
    let dump = || {
        format!(
            "{}\n--- bird: show protocols all ---\n{}\n--- show route all ---\n{}\n--- bird log ---\n{}",
            report(&da, &a),
            bird.birdc("show protocols all").unwrap_or_default(),
            bird.birdc("show route all").unwrap_or_default(),
            tail(&bird.process.log_text(), 60)
        )
    };
    let r = wait_or_dump(
        "10.0.3.0/24 via BIRD in ndbgpd's kernel",
        Duration::from_secs(30),
        &dump,
        || route_via(&a, "10.0.3.0/24", lb, "eth0"),
    );
    let t_in = up.elapsed();
    let shown = wait_or_dump(
        "10.0.1.0/24 from ndbgpd in BIRD",
        Duration::from_secs(10),
        &dump,
        || {
            bird.birdc("show route 10.0.1.0/24 all")
                .filter(|t| t.contains("10.0.1.0/24") && t.contains("65001"))
        },
    );
    eprintln!(
        "{T}: link up -> BIRD's prefix in ndbgpd's kernel {t_in:?}, ours in BIRD {:?}\n{T}: {r}\n{shown}",
        up.elapsed()
    );
    // BIRD stops: ndbgpd drops 10.0.3.0/24.
    let mut bird = bird;
    let t0 = Instant::now();
    sigterm(bird.process.pid());
    wait_or_dump(
        "ndbgpd's kernel to lose 10.0.3.0/24",
        Duration::from_secs(15),
        &|| report(&da, &a),
        || kernel_route(&a, "10.0.3.0/24").is_none().then_some(()),
    );
    let dropped = t0.elapsed();
    wait_exit(&mut bird.process, Duration::from_secs(5));
    eprintln!("{T}: BIRD SIGTERM -> ndbgpd's kernel lost 10.0.3.0/24 in {dropped:?}");
    assert!(dropped <= Duration::from_secs(1), "withdraw took {dropped:?}");
}

/// GoBGP with ipv4- and ipv6-unicast on an unnumbered neighbour; 10.0.4.0/24
/// added to its global RIB; ndbgpd announces 10.0.1.0/24.
#[test]
fn routes_with_gobgp() {
    const T: &str = "routes_with_gobgp";
    if !lab_enabled(T) || !have_tool(T, GOBGPD) || !have_tool(T, GOBGP) {
        return;
    }
    let a = Netns::new("rga");
    let b = Netns::new("rgb");
    veth(&a, "eth0", &b, "eth0");
    let dir = TempDir::new("rgobgp");
    let da = ndbgpd(
        &a,
        &dir,
        "a",
        &["eth0"],
        65001,
        "10.0.0.1",
        &["--network", "10.0.1.0/24"],
    );
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (la, lb) = wait_link_locals_ready(&a, "eth0", &b, "eth0");
    wait_for(
        "ndbgpd's link-local in b's neighbour table",
        Duration::from_secs(5),
        || {
            let _ = b
                .command("ping")
                .args(["-6", "-c", "1", "-W", "1", &format!("{la}%eth0")])
                .output();
            b.ip(&["-6", "neigh", "show", "dev", "eth0"])
                .contains(&la.to_string())
                .then_some(())
        },
    );
    let conf = gobgp_unnumbered_conf(65004, "10.0.0.4", "eth0", 65001)
        + "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n\
  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv6-unicast\"\n";
    let started = Instant::now();
    let mut g = Gobgp::start(&b, &dir, "gobgp", &conf);
    g.gobgp(&["global", "rib", "add", "10.0.4.0/24", "-a", "ipv4"])
        .expect("gobgp global rib add");
    let dump = || {
        format!(
            "{}\n--- gobgp neighbor ---\n{}\n--- gobgp global rib ---\n{}\n--- gobgpd log ---\n{}",
            report(&da, &a),
            g.gobgp(&["neighbor"]).unwrap_or_default(),
            g.gobgp(&["global", "rib", "-a", "ipv4"]).unwrap_or_default(),
            tail(&g.process.log_text(), 60)
        )
    };
    let shown = wait_or_dump(
        "10.0.1.0/24 from ndbgpd in GoBGP",
        Duration::from_secs(30),
        &dump,
        || {
            g.gobgp(&["global", "rib", "-a", "ipv4"])
                .filter(|t| t.contains("10.0.1.0/24") && t.contains("65001"))
        },
    );
    eprintln!(
        "{T}: gobgpd started -> our prefix in GoBGP {:?}\n{shown}",
        started.elapsed()
    );
    let r = wait_or_dump(
        "10.0.4.0/24 via GoBGP in ndbgpd's kernel",
        Duration::from_secs(10),
        &dump,
        || route_via(&a, "10.0.4.0/24", lb, "eth0"),
    );
    eprintln!("{T}: GoBGP's prefix in ndbgpd's kernel {:?}: {r}", started.elapsed());
    let t0 = Instant::now();
    sigterm(g.process.pid());
    wait_or_dump(
        "ndbgpd's kernel to lose 10.0.4.0/24",
        Duration::from_secs(15),
        &|| report(&da, &a),
        || kernel_route(&a, "10.0.4.0/24").is_none().then_some(()),
    );
    let dropped = t0.elapsed();
    wait_exit(&mut g.process, Duration::from_secs(5));
    eprintln!("{T}: gobgpd SIGTERM -> ndbgpd's kernel lost 10.0.4.0/24 in {dropped:?}");
    assert!(dropped <= Duration::from_secs(1), "withdraw took {dropped:?}");
}

/// The same fabric with FRR 8.4 spines (both AS 65100, datacenter profile)
/// and ndbgpd leaves: FRR re-advertises each leaf's prefix to the other
/// leaf, which installs one route with a next hop via each spine.
#[test]
fn fabric_ecmp_frr_spines() {
    const T: &str = "fabric_ecmp_frr_spines";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let s1 = Netns::new("rfs1");
    let s2 = Netns::new("rfs2");
    let l1 = Netns::new("rfl1");
    let l2 = Netns::new("rfl2");
    veth(&l1, "s1", &s1, "l1");
    veth(&l1, "s2", &s2, "l1");
    veth(&l2, "s1", &s1, "l2");
    veth(&l2, "s2", &s2, "l2");
    for (ns, ifs) in [
        (&l1, ["s1", "s2"]),
        (&l2, ["s1", "s2"]),
        (&s1, ["l1", "l2"]),
        (&s2, ["l1", "l2"]),
    ] {
        for i in ifs {
            ns.set_link(i, true);
        }
    }
    let dir = TempDir::new("ffabric");
    let conf = |id: &str| {
        frr_unnumbered_conf(
            &format!("spine{id}"),
            65100,
            &format!("10.0.100.{id}"),
            &["l1", "l2"],
            FrrProfile::Datacenter,
        )
        .replace(" bgp router-id", " no bgp ebgp-requires-policy\n bgp router-id")
    };
    let f1 = Frr::start(&s1, &dir, &conf("1"));
    let f2 = Frr::start(&s2, &dir, &conf("2"));
    let started = Instant::now();
    let lf1 = ndbgpd(
        &l1,
        &dir,
        "leaf1",
        &["s1", "s2"],
        65001,
        "10.0.0.11",
        &["--network", "10.0.11.0/24"],
    );
    let lf2 = ndbgpd(
        &l2,
        &dir,
        "leaf2",
        &["s1", "s2"],
        65002,
        "10.0.0.12",
        &["--network", "10.0.12.0/24"],
    );
    let (_, s1_ll) = wait_link_locals_ready(&l1, "s1", &s1, "l1");
    let (_, s2_ll) = wait_link_locals_ready(&l1, "s2", &s2, "l1");
    let dump = || {
        format!(
            "{}{}{}{}",
            report(&lf1, &l1),
            report(&lf2, &l2),
            frr_report(&f1),
            frr_report(&f2)
        )
    };
    let mut both = vec![
        (s1_ll.to_string(), "s1".to_string()),
        (s2_ll.to_string(), "s2".to_string()),
    ];
    both.sort();
    let hops = |ns: &Netns, p: &str| {
        kernel_route(ns, p).map(|r| {
            let mut h = next_hops(&r);
            h.sort();
            (h, r)
        })
    };
    let r = wait_or_dump(
        "leaf1: 10.0.12.0/24 via both FRR spines",
        Duration::from_secs(40),
        &dump,
        || hops(&l1, "10.0.12.0/24").filter(|(h, _)| *h == both).map(|(_, r)| r),
    );
    eprintln!(
        "{T}: leaves started -> ECMP route in leaf1 {:?}: {r}",
        started.elapsed()
    );
    assert_eq!(r["nexthops"].as_array().map(Vec::len), Some(2), "multipath: {r}");
    wait_or_dump(
        "leaf2: 10.0.11.0/24 via both FRR spines",
        Duration::from_secs(10),
        &dump,
        || hops(&l2, "10.0.11.0/24").filter(|(h, _)| h.len() == 2),
    );
    let routes = lf1.routes(None);
    let mine = ndbgpd_route(&routes, "10.0.12.0/24").unwrap_or_else(|| panic!("leaf1 routes: {routes:?}"));
    let paths = &mine.route.paths;
    assert!(
        paths.len() == 2 && paths.iter().all(|p| p.as_path == "65100 65002" && p.multipath),
        "two multipath paths with AS path 65100 65002: {mine:?}"
    );
    // Failover, as with ndbgpd spines.
    let t0 = Instant::now();
    l1.set_link("s1", false);
    let one = vec![(s2_ll.to_string(), "s2".to_string())];
    wait_or_dump(
        "leaf1: one next hop after s1 down",
        Duration::from_secs(5),
        &dump,
        || hops(&l1, "10.0.12.0/24").filter(|(h, _)| *h == one),
    );
    let down = t0.elapsed();
    eprintln!("{T}: s1 down -> one next hop in {down:?}");
    assert!(down <= Duration::from_millis(100), "ECMP failover took {down:?}");
}
