//! Lab tests for route policy: import and export prefix filters against
//! FRR 8.4 (flags, then a config file with an `[interface.NAME]` table that
//! a SIGHUP changes without resetting the session), and the first-AS check
//! against BIRD 2 as a route-server (`rs client`: it does not prepend its
//! own AS). Need root; in CI they never skip. Synchronised by polling with
//! deadlines.

mod common;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use common::peers::*;
use common::*;
use ndbgp::api::{NeighborView, RouteEntry, SessionState};

const LONG: Duration = Duration::from_secs(30);

/// FRR in AS 65002 announcing a default route and three others.
fn frr_conf() -> String {
    "frr defaults datacenter\nhostname frr\ndebug bgp neighbor-events\ndebug bgp updates\n!\ninterface eth0\n!\n\
router bgp 65002\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n\
 neighbor eth0 interface remote-as external\n address-family ipv4 unicast\n  network 0.0.0.0/0\n\
  network 10.0.2.0/24\n  network 10.0.3.0/24\n  network 198.51.100.0/24\n exit-address-family\n!\n"
        .to_string()
}

/// ndbgpd's routes in `ns` (`ip -j route show proto 201`): the destinations.
fn kernel_prefixes(ns: &Netns) -> Vec<String> {
    let out = ns.ip(&["-j", "route", "show", "proto", &common::ndbgp_proto()]);
    let routes: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
    let mut dsts: Vec<String> = routes
        .iter()
        .filter_map(|r| r["dst"].as_str())
        .map(|d| if d == "default" { "0.0.0.0/0".into() } else { d.into() })
        .collect();
    dsts.sort();
    dsts
}

/// The IPv4 prefixes FRR has a path to from ndbgpd (AS 65001).
fn frr_learned(frr: &Frr) -> Vec<String> {
    let bgp = frr.vtysh_json("show bgp ipv4 unicast json").unwrap_or(Value::Null);
    let mut prefixes: Vec<String> = bgp["routes"]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .filter(|(_, paths)| {
                    paths.as_array().is_some_and(|p| {
                        p.iter()
                            .any(|p| p["path"].as_str().is_some_and(|s| s.starts_with("65001")))
                    })
                })
                .map(|(prefix, _)| prefix.clone())
                .collect()
        })
        .unwrap_or_default();
    prefixes.sort();
    prefixes
}

fn session(d: &Ndbgpd) -> Option<NeighborView> {
    d.try_neighbors()?
        .into_iter()
        .find(|n| n.interface == "eth0" && n.state == SessionState::Established)
}

/// The rejected paths as (prefix, reason).
fn filtered(d: &Ndbgpd) -> Vec<(String, String)> {
    let routes: Vec<RouteEntry> = d.try_ctl(&["routes", "--filtered"]).unwrap_or_default();
    routes
        .iter()
        .flat_map(|r| {
            r.route
                .paths
                .iter()
                .map(move |p| (r.route.prefix.to_string(), p.rejected.clone().unwrap_or_default()))
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn report(d: &Ndbgpd, ns: &Netns) -> String {
    format!(
        "\n--- neighbors = {}\n--- routes = {}\n--- filtered = {}\n--- kernel = {:?}\n--- log ---\n{}",
        d.try_ctl_json(&["neighbors"]).unwrap_or_default(),
        d.try_ctl_json(&["routes"]).unwrap_or_default(),
        d.try_ctl_json(&["routes", "--filtered"]).unwrap_or_default(),
        kernel_prefixes(ns),
        tail(&d.process.log_text(), 80)
    )
}

fn frr_report(frr: &Frr) -> String {
    format!(
        "\n--- frr: show bgp ipv4 ---\n{}\n{}",
        frr.vtysh("show bgp ipv4 unicast").unwrap_or_default(),
        tail(&frr.logs(), 40)
    )
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
fn import_and_export_filters_from_flags_with_frr() {
    const T: &str = "import_and_export_filters_from_flags_with_frr";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let (a, b) = pair("pfl");
    let dir = TempDir::new("pflags");
    #[rustfmt::skip]
    let args = [
        "--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1",
        "--network", "10.0.1.0/24", "--network", "192.0.2.0/24",
        "--import", "deny 0.0.0.0/0", "--import", "permit 10.0.0.0/8 le 32",
        "--export", "permit 10.0.1.0/24",
    ];
    let da = Ndbgpd::start(&a, &dir, "a", &args);
    let frr = Frr::start(&b, &dir, &frr_conf());
    let dump = || format!("{}{}", report(&da, &a), frr_report(&frr));

    // Only the 10.x routes reach the kernel; the other two are counted.
    let n = wait_or_dump("4 received, 2 filtered", LONG, &dump, || {
        session(&da).filter(|n| n.prefixes_received == 4 && n.prefixes_filtered == 2)
    });
    assert_eq!(n.prefixes_first_as_rejected, 0, "{n:?}");
    wait_or_dump("10.0.2.0/24 and 10.0.3.0/24 in the kernel", LONG, &dump, || {
        (kernel_prefixes(&a) == strings(&["10.0.2.0/24", "10.0.3.0/24"])).then_some(())
    });
    assert_eq!(
        filtered(&da),
        [
            ("0.0.0.0/0".to_string(), "import filter".to_string()),
            ("198.51.100.0/24".to_string(), "import filter".to_string())
        ],
        "{}",
        dump()
    );
    let routes = da.routes(None);
    assert!(
        routes
            .iter()
            .all(|r| !r.route.prefix.to_string().starts_with("0.0.0.0")),
        "routes shows no rejected path: {routes:?}"
    );
    let text = da.ctl_text(&["routes", "--filtered"]);
    assert!(
        text.contains("REJECTED") && text.contains("0.0.0.0/0") && text.contains("import filter"),
        "{text}"
    );
    let text = da.ctl_text(&["neighbors"]);
    assert!(text.contains("PFX FILTERED"), "{text}");

    // FRR gets 10.0.1.0/24, never 192.0.2.0/24.
    wait_or_dump("FRR to learn 10.0.1.0/24", LONG, &dump, || {
        frr_learned(&frr).contains(&"10.0.1.0/24".to_string()).then_some(())
    });
    // Both would have gone out in the same initial table.
    assert_eq!(frr_learned(&frr), strings(&["10.0.1.0/24"]), "{}", dump());
    assert_eq!(session(&da).map(|n| n.prefixes_sent), Some(1), "{}", dump());
}

/// AS 65001 on eth0 with the given policy lines.
fn write_config(path: &std::path::Path, policy: &str) {
    let text = format!(
        "asn = 65001\nrouter_id = \"10.0.0.1\"\ninterfaces = [\"eth0\"]\n\
         networks = [\"10.0.1.0/24\", \"192.0.2.0/24\"]\n{policy}"
    );
    std::fs::write(path, text).expect("config file");
}

#[test]
fn a_sighup_changes_an_interface_policy_without_resetting_the_session() {
    const T: &str = "a_sighup_changes_an_interface_policy_without_resetting_the_session";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let (a, b) = pair("phu");
    let dir = TempDir::new("phup");
    let file = dir.join("a.toml");
    // The default exports nothing; eth0's table overrides it.
    write_config(
        &file,
        "import = [\"deny 0.0.0.0/0\", \"permit 10.0.0.0/8 le 32\"]\nexport = [\"deny 0.0.0.0/0 le 32\"]\n\
         [interface.eth0]\nexport = [\"permit 10.0.1.0/24\"]\n",
    );
    let da = Ndbgpd::start(&a, &dir, "a", &["--config", file.to_str().expect("utf-8 path")]);
    let frr = Frr::start(&b, &dir, &frr_conf());
    let dump = || format!("{}{}", report(&da, &a), frr_report(&frr));

    wait_or_dump("the 10.x routes in the kernel", LONG, &dump, || {
        (kernel_prefixes(&a) == strings(&["10.0.2.0/24", "10.0.3.0/24"])).then_some(())
    });
    wait_or_dump("FRR to learn only 10.0.1.0/24 (eth0's export)", LONG, &dump, || {
        (frr_learned(&frr) == strings(&["10.0.1.0/24"])).then_some(())
    });
    let before = session(&da).expect("Established");
    let frr_before = frr.neighbor("eth0").expect("FRR's neighbour")["connectionsEstablished"].clone();

    // eth0 now takes everything and sends only 192.0.2.0/24.
    write_config(
        &file,
        "import = [\"deny 0.0.0.0/0\", \"permit 10.0.0.0/8 le 32\"]\nexport = [\"deny 0.0.0.0/0 le 32\"]\n\
         [interface.eth0]\nimport = []\nexport = [\"permit 192.0.2.0/24\"]\n",
    );
    kill(Pid::from_raw(da.process.pid()), Signal::SIGHUP).expect("SIGHUP");
    wait_or_dump(
        "the default route and 198.51.100.0/24 in the kernel",
        LONG,
        &dump,
        || {
            let want = strings(&["0.0.0.0/0", "10.0.2.0/24", "10.0.3.0/24", "198.51.100.0/24"]);
            (kernel_prefixes(&a) == want).then_some(())
        },
    );
    wait_or_dump("FRR to have 192.0.2.0/24 instead of 10.0.1.0/24", LONG, &dump, || {
        (frr_learned(&frr) == strings(&["192.0.2.0/24"])).then_some(())
    });
    let after = session(&da).expect("still Established");
    assert_eq!(after.established_count, before.established_count, "{after:?}");
    assert!(after.uptime_s >= before.uptime_s, "{before:?} -> {after:?}");
    assert_eq!(after.prefixes_filtered, 0, "{after:?}");
    assert!(filtered(&da).is_empty(), "{}", dump());
    let frr_after = frr.neighbor("eth0").expect("FRR's neighbour")["connectionsEstablished"].clone();
    assert_eq!(frr_after, frr_before, "FRR's session was not reset");
    assert!(
        da.process.log_text().contains("applied without resetting sessions"),
        "{}",
        dump()
    );
}

/// BIRD as a route server for ndbgpd: its own AS 65003 is not prepended, so
/// 10.0.5.0/24 arrives with AS_PATH 65099 and 10.0.7.0/24 with an empty
/// one; 10.0.6.0/24 is given 65003 by hand and passes.
fn bird_rs_conf() -> String {
    r#"router id 10.0.0.3;
log stderr all;
protocol device { }
protocol radv {
  interface "eth0" { max ra interval 4; min ra interval 3; };
}
protocol static st4 {
  ipv4;
  route 10.0.5.0/24 blackhole;
  route 10.0.6.0/24 blackhole;
  route 10.0.7.0/24 blackhole;
}
filter set_paths {
  if net = 10.0.5.0/24 then bgp_path.prepend(65099);
  if net = 10.0.6.0/24 then bgp_path.prepend(65003);
  accept;
}
protocol bgp dyn {
  local as 65003;
  neighbor range fe80::/10 external;
  interface "eth0";
  hold time 9;
  keepalive time 3;
  rs client;
  ipv4 { extended next hop on; import all; export filter set_paths; };
  ipv6 { import all; export none; };
}
"#
    .to_string()
}

#[test]
fn routes_whose_first_as_is_not_the_peers_are_not_installed() {
    const T: &str = "routes_whose_first_as_is_not_the_peers_are_not_installed";
    if !lab_enabled(T) || !have_tool(T, BIRD) || !have_tool(T, BIRDC) {
        return;
    }
    let (a, b) = pair("pfa");
    let dir = TempDir::new("pfirst");
    let da = Ndbgpd::start(
        &a,
        &dir,
        "a",
        &["--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1"],
    );
    let bird = Bird::start(&b, &dir, "bird", &bird_rs_conf());
    let dump = || {
        format!(
            "{}\n--- bird routes ---\n{}\n--- bird log ---\n{}",
            report(&da, &a),
            bird.birdc("show route all").unwrap_or_default(),
            tail(&bird.process.log_text(), 40)
        )
    };
    let n = wait_or_dump("3 received, 2 rejected for their first AS", LONG, &dump, || {
        session(&da).filter(|n| n.prefixes_received == 3 && n.prefixes_first_as_rejected == 2)
    });
    assert_eq!(n.prefixes_filtered, 0, "{n:?}");
    wait_or_dump("10.0.6.0/24 in the kernel", LONG, &dump, || {
        (kernel_prefixes(&a) == strings(&["10.0.6.0/24"])).then_some(())
    });
    assert_eq!(
        filtered(&da),
        [
            ("10.0.5.0/24".to_string(), "first AS".to_string()),
            ("10.0.7.0/24".to_string(), "first AS".to_string())
        ],
        "{}",
        dump()
    );
    let log = da.process.log_text();
    let warned = log.matches("AS_PATH does not start with the peer's AS").count();
    assert_eq!(warned, 1, "logged once per session:\n{log}");
}

#[test]
fn the_first_as_check_can_be_turned_off() {
    const T: &str = "the_first_as_check_can_be_turned_off";
    if !lab_enabled(T) || !have_tool(T, BIRD) || !have_tool(T, BIRDC) {
        return;
    }
    let (a, b) = pair("pfo");
    let dir = TempDir::new("pfoff");
    #[rustfmt::skip]
    let args = [
        "--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1",
        "--enforce-first-as", "false",
    ];
    let da = Ndbgpd::start(&a, &dir, "a", &args);
    let bird = Bird::start(&b, &dir, "bird", &bird_rs_conf());
    let dump = || format!("{}\n{}", report(&da, &a), tail(&bird.process.log_text(), 40));
    wait_or_dump("all three in the kernel", LONG, &dump, || {
        (kernel_prefixes(&a) == strings(&["10.0.5.0/24", "10.0.6.0/24", "10.0.7.0/24"])).then_some(())
    });
    let n = session(&da).expect("Established");
    assert_eq!(n.prefixes_first_as_rejected, 0, "{n:?}");
}
