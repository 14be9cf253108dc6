//! Lab test for `--max-prefix` against FRR 8.4: the warning at 90 %, the
//! NOTIFICATION FRR receives past the limit (Cease / Maximum Number of
//! Prefixes Reached), its routes gone from ndbgpd's kernel, no session
//! during `--max-prefix-restart`, then a normal one; another neighbour's
//! session is untouched throughout. Needs root; in CI it never skips.

mod common;

use std::time::{Duration, Instant};

use ndbgp::api::{NeighborView, SessionState};
use serde_json::Value;

use common::peers::*;
use common::*;

const EST: &str = "Established";
const LIMIT: usize = 10;
const RESTART: Duration = Duration::from_secs(3);

/// FRR in AS `asn` announcing `networks` to its neighbour on eth0.
fn frr_conf(asn: u32, router_id: &str, networks: &[String]) -> String {
    let mut c = format!(
        "frr defaults datacenter\nhostname frr{asn}\ndebug bgp neighbor-events\n!\ninterface eth0\n!\n\
router bgp {asn}\n bgp router-id {router_id}\n no bgp ebgp-requires-policy\n no bgp network import-check\n\
 neighbor eth0 interface remote-as external\n address-family ipv4 unicast\n"
    );
    for n in networks {
        c += &format!("  network {n}\n");
    }
    c += " exit-address-family\n!\n";
    c
}

fn v4_prefixes(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("10.1.{i}.0/24")).collect()
}

/// ndbgpd's IPv4 routes through `dev`.
fn routes_via(ns: &Netns, dev: &str) -> Vec<String> {
    let out = ns.ip(&["-j", "route", "show", "proto", &common::ndbgp_proto(), "dev", dev]);
    serde_json::from_str::<Value>(&out)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["dst"].as_str().map(String::from))
        .collect()
}

fn neighbour_on(d: &Ndbgpd, ifname: &str) -> Option<NeighborView> {
    d.try_neighbors()?.into_iter().find(|n| n.interface == ifname)
}

/// Add (or, with `no`, remove) IPv4 networks in a running FRR.
fn frr_networks(frr: &Frr, asn: u32, networks: &[String], no: bool) {
    let mut cmd = format!("configure terminal\nrouter bgp {asn}\naddress-family ipv4 unicast\n");
    for n in networks {
        cmd += &format!("{}network {n}\n", if no { "no " } else { "" });
    }
    let lines: Vec<&str> = cmd.lines().collect();
    let mut args = Vec::new();
    for l in &lines {
        args.push("-c");
        args.push(l);
    }
    let out = std::process::Command::new(VTYSH)
        .arg("--vty_socket")
        .arg(&frr.dir)
        .args(&args)
        .output()
        .expect("vtysh");
    assert!(
        out.status.success(),
        "vtysh {cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn max_prefix_closes_the_session_withdraws_and_comes_back_after_the_restart_time() {
    const T: &str = "max_prefix_closes_the_session_withdraws_and_comes_back_after_the_restart_time";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let a = Netns::new("mpa");
    let b = Netns::new("mpb");
    let c = Netns::new("mpc");
    veth(&a, "eth0", &b, "eth0");
    veth(&a, "eth1", &c, "eth0");
    for (ns, ifname) in [(&a, "eth0"), (&a, "eth1"), (&b, "eth0"), (&c, "eth0")] {
        ns.set_link(ifname, true);
    }
    wait_link_locals_ready_on(&a, "eth0", &b, "eth0");
    wait_link_locals_ready_on(&a, "eth1", &c, "eth0");
    let dir = TempDir::new("mpfx");
    let limit = LIMIT.to_string();
    let restart = RESTART.as_secs().to_string();
    let args = [
        "--iface",
        "eth0",
        "--iface",
        "eth1",
        "--asn",
        "65001",
        "--router-id",
        "10.0.0.1",
        "--max-prefix",
        &limit,
        "--max-prefix-restart",
        &restart,
    ];
    let d = Ndbgpd::start(&a, &dir, "a", &args);
    // 9 of 10: the warning, no more.
    let first = v4_prefixes(0..LIMIT - 1);
    let frr = Frr::start(&b, &dir, &frr_conf(65002, "10.0.0.2", &first));
    let other = Frr::start(&c, &dir, &frr_conf(65003, "10.0.0.3", &["10.3.0.0/24".to_string()]));
    let dump = || {
        format!(
            "\n--- ndbgpd neighbors ---\n{}\n--- ndbgpd log ---\n{}\n--- FRR eth0 ---\n{:#?}\n{}",
            d.try_ctl_json(&["neighbors"]).unwrap_or_default(),
            tail(&d.process.log_text(), 80),
            frr.neighbor("eth0"),
            tail(&frr.logs(), 40)
        )
    };
    wait_or_dump(
        "FRR's 9 prefixes in ndbgpd's kernel",
        Duration::from_secs(30),
        &dump,
        || (routes_via(&a, "eth0").len() == LIMIT - 1).then_some(()),
    );
    wait_or_dump("the other neighbour's route", Duration::from_secs(30), &dump, || {
        routes_via(&a, "eth1")
            .contains(&"10.3.0.0/24".to_string())
            .then_some(())
    });
    wait_or_dump("the 90 % warning in the log", Duration::from_secs(5), &dump, || {
        d.process
            .log_text()
            .contains("9 prefixes received, 90 % of the limit of 10")
            .then_some(())
    });
    let n = neighbour_on(&d, "eth0").expect("eth0 neighbour");
    assert_eq!(
        (n.max_prefix, n.prefixes_received),
        (Some(LIMIT as u32), LIMIT - 1),
        "{n:?}"
    );
    let other_before = neighbour_on(&d, "eth1").expect("eth1 neighbour");
    assert_eq!(other_before.state, SessionState::Established);

    // Two more: 11 > 10.
    let added_at = Instant::now();
    frr_networks(&frr, 65002, &v4_prefixes(LIMIT - 1..LIMIT + 1), false);
    let notification = wait_or_dump(
        "FRR to receive Cease / Maximum Number of Prefixes Reached",
        Duration::from_secs(10),
        &dump,
        || {
            let n = frr.neighbor("eth0")?;
            let said = format!(
                "{} {} {}",
                n["lastNotificationReason"].as_str().unwrap_or_default(),
                n["lastResetDueTo"].as_str().unwrap_or_default(),
                n["lastErrorCodeSubcode"].as_str().unwrap_or_default()
            );
            (said.contains("Maximum Number of Prefixes Reached") || said.contains("0601")).then_some(said)
        },
    );
    let closed_seen = added_at.elapsed();
    eprintln!("{T}: FRR: {notification} ({closed_seen:?} after the two prefixes were added)");
    wait_or_dump(
        "FRR's routes gone from ndbgpd's kernel",
        Duration::from_secs(2),
        &dump,
        || routes_via(&a, "eth0").is_empty().then_some(()),
    );
    let withdrawn = added_at.elapsed();
    let held = wait_or_dump("ndbgpctl to show the hold", Duration::from_secs(2), &dump, || {
        neighbour_on(&d, "eth0").filter(|n| n.max_prefix_held)
    });
    assert_eq!(held.state, SessionState::Idle, "{held:?}");
    assert!(
        held.max_prefix_retry_s.is_some_and(|s| s <= RESTART.as_secs()),
        "{held:?}"
    );
    assert!(
        held.last_down.as_deref().is_some_and(|d| d.starts_with("max-prefix")),
        "{held:?}"
    );
    let table = d.ctl_text(&["neighbors"]);
    assert!(table.contains("(max-prefix, retry in"), "{table}");
    eprintln!("{T}: routes withdrawn {withdrawn:?} after the two were added\n{table}");

    // FRR goes back to 9 while held; the session comes back after the
    // restart time, not before, and stays.
    frr_networks(&frr, 65002, &v4_prefixes(LIMIT - 1..LIMIT + 1), true);
    let back = wait_or_dump("FRR Established again", Duration::from_secs(30), &dump, || {
        let n = neighbour_on(&d, "eth0")?;
        if n.state == SessionState::Established {
            return Some(added_at.elapsed());
        }
        None
    });
    eprintln!("{T}: Established again {back:?} after the two were added (restart {RESTART:?})");
    assert!(
        back >= RESTART,
        "back after {back:?}, before --max-prefix-restart {RESTART:?}"
    );
    wait_or_dump(
        "FRR's 9 prefixes back in ndbgpd's kernel",
        Duration::from_secs(10),
        &dump,
        || (routes_via(&a, "eth0").len() == LIMIT - 1).then_some(()),
    );
    assert_eq!(frr.bgp_state("eth0").as_deref(), Some(EST), "{}", dump());
    let n = neighbour_on(&d, "eth0").expect("eth0 neighbour");
    assert!(!n.max_prefix_held && n.established_count == 2, "{n:?}");

    // The other session never went down.
    let other_after = neighbour_on(&d, "eth1").expect("eth1 neighbour");
    assert_eq!(other_after.state, SessionState::Established, "{other_after:?}");
    assert_eq!(other_after.established_count, 1, "{other_after:?}");
    assert!(routes_via(&a, "eth1").contains(&"10.3.0.0/24".to_string()));
    assert_eq!(other.bgp_state("eth0").as_deref(), Some(EST));
}
