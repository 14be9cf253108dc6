//! Lab tests for BFD (`--bfd`, RFC 5880/5881) against FRR's bfdd, BIRD 2
//! and another ndbgpd: the BFD session comes Up with the BGP session; with
//! every packet dropped on the peer's interface (nft, carrier up) the
//! peer's routes leave our kernel within a second, where the hold timer
//! took 8-9 s; the session does not come back while BFD is down, and comes
//! back once it is up. Need root; in CI they never skip. Detection figures
//! are printed (`cargo test --test lab_bfd -- --nocapture`).

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::peers::*;
use common::*;
use ndbgp::api::{NeighborView, SessionState};

const LONG: Duration = Duration::from_secs(40);
const NFT: &str = "/usr/sbin/nft";
/// The detection the issue asks for: 300 ms x 3 plus the withdrawal.
const DETECTION_LIMIT: Duration = Duration::from_secs(1);
/// How long a session must stay down while BFD is down.
const HELD_FOR: Duration = Duration::from_secs(5);

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

/// What the drop rules take on the peer's eth0, both directions.
#[derive(Clone, Copy)]
enum Loss {
    /// Every packet: a silent peer whose carrier stays up.
    Everything,
    /// BFD Control packets only: BGP's TCP still goes through, so only the
    /// BFD hold keeps the session down.
    BfdOnly,
}

/// Drop packets in and out of `ns`'s eth0 with nft (this kernel has no netem).
fn drop_on(ns: &Netns, loss: Loss) {
    let matching = match loss {
        Loss::Everything => "",
        Loss::BfdOnly => "udp dport 3784 ",
    };
    let rules = format!(
        "table inet ndbgp_bfd_loss {{\n\
         chain input {{ type filter hook input priority -300; policy accept; iifname \"eth0\" {matching}drop; }}\n\
         chain output {{ type filter hook output priority -300; policy accept; oifname \"eth0\" {matching}drop; }}\n\
         }}\n"
    );
    let mut cmd = ns.command(NFT);
    cmd.args(["-f", "-"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("nft");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(rules.as_bytes())
        .expect("nft rules");
    let out = child.wait_with_output().expect("nft");
    assert!(out.status.success(), "nft -f: {}", String::from_utf8_lossy(&out.stderr));
}

fn undrop(ns: &Netns) {
    run(ns.command(NFT).args(["delete", "table", "inet", "ndbgp_bfd_loss"]));
}

/// ndbgpd's kernel routes in `ns`: the destinations.
fn kernel_prefixes(ns: &Netns) -> Vec<String> {
    let out = ns.ip(&["-j", "route", "show", "proto", &common::ndbgp_proto()]);
    let routes: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
    routes
        .iter()
        .filter_map(|r| r["dst"].as_str().map(String::from))
        .collect()
}

fn has_route(ns: &Netns, prefix: &str) -> bool {
    kernel_prefixes(ns).iter().any(|p| p == prefix)
}

fn neighbour(d: &Ndbgpd) -> Option<NeighborView> {
    d.try_neighbors()?.into_iter().find(|n| n.interface == "eth0")
}

/// Established with BFD Up.
fn up(d: &Ndbgpd) -> Option<NeighborView> {
    neighbour(d).filter(|n| n.state == SessionState::Established && n.bfd.as_deref() == Some("up"))
}

fn report(d: &Ndbgpd, ns: &Netns) -> String {
    format!(
        "\n--- neighbors = {}\n--- kernel = {:?}\n--- log ---\n{}",
        d.try_ctl_json(&["neighbors"]).unwrap_or_default(),
        kernel_prefixes(ns),
        tail(&d.process.log_text(), 80)
    )
}

/// How long after the drop `prefix` left `ns`'s kernel, polled every 5 ms.
fn time_until_withdrawn(ns: &Netns, prefix: &str, dump: &dyn Fn() -> String) -> Duration {
    let start = Instant::now();
    while has_route(ns, prefix) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{prefix} still in the kernel{}",
            dump()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

/// While BFD is down the session is held: never Established for `HELD_FOR`,
/// BFD hold shown, the last down says why: our BFD (`BFD down: ...`), or,
/// when only BFD is lost and TCP still goes through, the peer's BFD may be
/// first and its Cease / BFD Down arrive before ours goes (FRR sends it in
/// a Cease / Hard Reset, RFC 8538, when both sides have the N bit: data
/// 06 0a).
fn assert_held(d: &Ndbgpd, dump: &dyn Fn() -> String) {
    let n = wait_or_dump("the BFD hold", LONG, dump, || neighbour(d).filter(|n| n.bfd_held));
    let last_down = n.last_down.clone().unwrap_or_default();
    assert!(
        last_down.starts_with("BFD down")
            || last_down.contains("Cease/BFD Down")
            || last_down.contains("Cease/Hard Reset (data 060a)"),
        "{last_down}{}",
        dump()
    );
    let start = Instant::now();
    while start.elapsed() < HELD_FOR {
        let n = neighbour(d);
        assert!(
            n.as_ref().is_none_or(|n| n.state != SessionState::Established),
            "re-established while BFD is down{}",
            dump()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = d.ctl_text(&["neighbors"]);
    assert!(text.contains("BFD") && text.contains("(BFD down)"), "{text}");
}

/// Everything dropped on `b`'s side of the link: `route` (through `b`)
/// leaves `a`'s kernel within DETECTION_LIMIT and the session stays held;
/// the drop lifted, BFD, BGP and the route come back. Prints both figures.
fn silent_peer_is_detected_and_back(
    who: &str,
    a: &Netns,
    b: &Netns,
    da: &Ndbgpd,
    route: &str,
    dump: &dyn Fn() -> String,
) {
    drop_on(b, Loss::Everything);
    let took = time_until_withdrawn(a, route, dump);
    println!("BFD vs {who}: silent peer, route withdrawn from the kernel after {took:?}");
    assert!(took < DETECTION_LIMIT, "{took:?}{}", dump());
    assert_held(da, dump);
    undrop(b);
    let back = Instant::now();
    wait_or_dump("BFD and BGP back", LONG, dump, || up(da));
    wait_or_dump(&format!("{route} back"), LONG, dump, || {
        has_route(a, route).then_some(())
    });
    println!(
        "BFD vs {who}: drop removed, BFD and BGP back, route installed after {:?}",
        back.elapsed()
    );
}

fn frr_conf() -> String {
    "frr defaults datacenter\nhostname frr\ndebug bgp neighbor-events\n!\ninterface eth0\n!\n\
router bgp 65002\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n\
 neighbor eth0 interface remote-as external\n neighbor eth0 bfd\n\
 address-family ipv4 unicast\n  network 10.0.2.0/24\n exit-address-family\n!\n"
        .to_string()
}

/// FRR's BFD peer on eth0: its status ("up", "down", "init").
fn frr_bfd_status(frr: &Frr) -> Option<String> {
    let peers = frr.vtysh_json("show bfd peers json")?;
    let peer = peers.as_array()?.iter().find(|p| p["interface"] == "eth0")?.clone();
    peer["status"].as_str().map(String::from)
}

#[test]
fn bfd_with_frr_detects_a_silent_peer_within_a_second_and_holds_the_session() {
    const T: &str = "bfd_with_frr_detects_a_silent_peer_within_a_second_and_holds_the_session";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) || !have_tool(T, NFT) {
        return;
    }
    let (a, b) = pair("bff");
    let dir = TempDir::new("bfdfrr");
    #[rustfmt::skip]
    let args = [
        "--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1", "--network", "10.0.1.0/24",
        "--bfd", "--bfd-interval", "300", "--bfd-multiplier", "3",
    ];
    let da = Ndbgpd::start(&a, &dir, "a", &args);
    let frr = Frr::start_with(&b, &dir, &frr_conf(), &["bfdd"]);
    let dump = || {
        format!(
            "{}\n--- frr: show bfd peers ---\n{}\n{}",
            report(&da, &a),
            frr.vtysh("show bfd peers").unwrap_or_default(),
            frr.report()
        )
    };

    // (a) Established, BFD Up on both sides, FRR's route in our kernel.
    wait_or_dump("Established with BFD up", LONG, &dump, || up(&da));
    wait_or_dump("FRR's BFD peer up", LONG, &dump, || {
        (frr_bfd_status(&frr).as_deref() == Some("up")).then_some(())
    });
    wait_or_dump("10.0.2.0/24 in the kernel", LONG, &dump, || {
        has_route(&a, "10.0.2.0/24").then_some(())
    });

    // (b) Everything dropped: the route goes within a second.
    silent_peer_is_detected_and_back("FRR", &a, &b, &da, "10.0.2.0/24", &dump);

    // BFD alone dropped: TCP goes through, FRR redials, the hold refuses it.
    drop_on(&b, Loss::BfdOnly);
    let took = time_until_withdrawn(&a, "10.0.2.0/24", &dump);
    println!("BFD vs FRR: BFD packets dropped, route withdrawn after {took:?}");
    assert!(took < DETECTION_LIMIT, "{took:?}{}", dump());
    assert_held(&da, &dump);
    undrop(&b);
    wait_or_dump("BFD and BGP back after the BFD-only loss", LONG, &dump, || up(&da));
    wait_or_dump("FRR's BFD peer up again", LONG, &dump, || {
        (frr_bfd_status(&frr).as_deref() == Some("up")).then_some(())
    });
}

/// BIRD 2 with `protocol bfd` and `bfd on` in its dynamic BGP protocol,
/// announcing 10.0.9.0/24. After a BFD down BIRD's protocol waits out its
/// `error wait time` (60 s by default) and refuses connections meanwhile:
/// 2 s here.
fn bird_conf() -> String {
    r#"router id 10.0.0.3;
log stderr all;
protocol device { }
protocol radv {
  interface "eth0" { max ra interval 4; min ra interval 3; };
}
protocol bfd {
  interface "eth0" { interval 300 ms; multiplier 3; };
}
protocol static st4 { ipv4; route 10.0.9.0/24 blackhole; }
protocol bgp dyn {
  local as 65003;
  neighbor range fe80::/10 external;
  interface "eth0";
  hold time 9;
  keepalive time 3;
  bfd on;
  error wait time 2, 10;
  ipv4 { extended next hop on; import all; export all; };
  ipv6 { import all; export none; };
}
"#
    .to_string()
}

#[test]
fn bfd_with_bird_detects_a_silent_peer_within_a_second() {
    const T: &str = "bfd_with_bird_detects_a_silent_peer_within_a_second";
    if !lab_enabled(T) || !have_tool(T, BIRD) || !have_tool(T, NFT) {
        return;
    }
    let (a, b) = pair("bfb");
    let dir = TempDir::new("bfdbird");
    #[rustfmt::skip]
    let args = [
        "--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1", "--bfd",
    ];
    let da = Ndbgpd::start(&a, &dir, "a", &args);
    let bird = Bird::start(&b, &dir, "b", &bird_conf());
    let dump = || {
        format!(
            "{}\n--- bird: show bfd sessions ---\n{}\n{}",
            report(&da, &a),
            bird.birdc("show bfd sessions").unwrap_or_default(),
            bird.report()
        )
    };

    wait_or_dump("Established with BFD up", LONG, &dump, || up(&da));
    wait_or_dump("BIRD's BFD session Up", LONG, &dump, || {
        bird.birdc("show bfd sessions")
            .filter(|s| s.lines().any(|l| l.contains("eth0") && l.contains("Up")))
    });
    wait_or_dump("10.0.9.0/24 in the kernel", LONG, &dump, || {
        has_route(&a, "10.0.9.0/24").then_some(())
    });

    silent_peer_is_detected_and_back("BIRD", &a, &b, &da, "10.0.9.0/24", &dump);
}

#[test]
fn bfd_between_two_ndbgpd_detects_a_silent_peer_within_a_second() {
    const T: &str = "bfd_between_two_ndbgpd_detects_a_silent_peer_within_a_second";
    if !lab_enabled(T) || !have_tool(T, NFT) {
        return;
    }
    let (a, b) = pair("bfn");
    let dir = TempDir::new("bfdpair");
    #[rustfmt::skip]
    let da = Ndbgpd::start(&a, &dir, "a", &[
        "--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1", "--network", "10.0.1.0/24", "--bfd",
    ]);
    #[rustfmt::skip]
    let db = Ndbgpd::start(&b, &dir, "b", &[
        "--iface", "eth0", "--asn", "65002", "--router-id", "10.0.0.2", "--network", "10.0.2.0/24", "--bfd",
    ]);
    let dump = || format!("{}{}", report(&da, &a), report(&db, &b));

    wait_or_dump("a: Established with BFD up", LONG, &dump, || up(&da));
    wait_or_dump("b: Established with BFD up", LONG, &dump, || up(&db));
    wait_or_dump("routes both ways", LONG, &dump, || {
        (has_route(&a, "10.0.2.0/24") && has_route(&b, "10.0.1.0/24")).then_some(())
    });

    drop_on(&b, Loss::Everything);
    let took = time_until_withdrawn(&a, "10.0.2.0/24", &dump);
    println!("BFD ndbgpd pair: silent peer, route withdrawn from the kernel after {took:?}");
    assert!(took < DETECTION_LIMIT, "{took:?}{}", dump());
    // The silent side sees the same from its end.
    wait_or_dump(
        "b: its route through a withdrawn",
        Duration::from_secs(2),
        &dump,
        || (!has_route(&b, "10.0.1.0/24")).then_some(()),
    );
    assert_held(&da, &dump);
    assert_held(&db, &dump);
    undrop(&b);
    let back = Instant::now();
    wait_or_dump("a: BFD and BGP back", LONG, &dump, || up(&da));
    wait_or_dump("b: BFD and BGP back", LONG, &dump, || up(&db));
    wait_or_dump("routes both ways again", LONG, &dump, || {
        (has_route(&a, "10.0.2.0/24") && has_route(&b, "10.0.1.0/24")).then_some(())
    });
    println!(
        "BFD ndbgpd pair: drop removed, routes both ways after {:?}",
        back.elapsed()
    );

    // BFD alone lost: TCP goes through, and whichever side detects first
    // sends Cease / Hard Reset (BFD Down): graceful restart (on by default,
    // N bit) must not keep the routes stale on the other.
    drop_on(&b, Loss::BfdOnly);
    let took = time_until_withdrawn(&a, "10.0.2.0/24", &dump);
    println!("BFD ndbgpd pair: BFD packets dropped, route withdrawn after {took:?}");
    assert!(took < DETECTION_LIMIT, "{took:?}{}", dump());
    wait_or_dump(
        "b: its route through a withdrawn",
        Duration::from_secs(2),
        &dump,
        || (!has_route(&b, "10.0.1.0/24")).then_some(()),
    );
    assert_held(&da, &dump);
    assert_held(&db, &dump);
    undrop(&b);
    wait_or_dump("a: back after the BFD-only loss", LONG, &dump, || up(&da));
    wait_or_dump("b: back after the BFD-only loss", LONG, &dump, || up(&db));

    // UDP 3784 taken (b's daemon): a second one with --bfd stops at start
    // and says which port (another BGP port, so that socket opens first).
    #[rustfmt::skip]
    let mut second = Process::spawn("ndbgpd second", b.command(ndbgpd_bin()).args([
        "--iface", "eth0", "--asn", "65009", "--port", "1179", "--bfd",
        "--control-socket", dir.join("second.sock").to_str().expect("utf-8 path"),
    ]), Some(dir.join("second.log")));
    let status = wait_for("the second daemon to stop", Duration::from_secs(10), || {
        second.child.try_wait().expect("wait")
    });
    assert!(!status.success(), "started with UDP 3784 taken");
    let log = second.log_text();
    assert!(log.contains("--bfd: cannot listen on UDP [::]:3784"), "{log}");
    assert!(up(&db).is_some(), "the first daemon still runs{}", dump());
}
