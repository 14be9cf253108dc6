//! Lab tests for runtime control through the real `ndbgpctl` against FRR
//! 8.4: `announce` / `withdraw` (FRR sees the prefixes come and go),
//! who may change state (root yes, another user no, reading for both),
//! `reload` (the result printed, a broken file an error with exit 1 while
//! the daemon runs on), and `interface add` / `remove` (a second link's
//! session comes up and ends; a reload keeps the runtime change). Need
//! root; in CI they never skip. Synchronised by polling with deadlines.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::peers::*;
use common::*;
use ndbgp::api::{RouteEntry, SessionState};

const LONG: Duration = Duration::from_secs(30);
const V4: &str = "192.0.2.10/32";
const V6: &str = "2001:db8:5::10/128";

/// What one ndbgpctl run gave: exit code, stdout, stderr.
struct Ran {
    code: i32,
    out: String,
    err: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}, stdout {:?}, stderr {:?}", self.code, self.out, self.err)
    }
}

/// `ndbgpctl --socket S ARGS` as the real binary, run through `wrapper`
/// (e.g. setpriv to another user) when given.
fn ndbgpctl(d: &Ndbgpd, wrapper: &[&str], args: &[&str]) -> Ran {
    let mut cmd = match wrapper.split_first() {
        None => Command::new(ndbgpctl_bin()),
        Some((program, rest)) => {
            let mut cmd = Command::new(program);
            cmd.args(rest).arg(ndbgpctl_bin());
            cmd
        }
    };
    let out = cmd
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ndbgpctl {args:?}: {e}"));
    Ran {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ctl(d: &Ndbgpd, args: &[&str]) -> Ran {
    ndbgpctl(d, &[], args)
}

/// Exit 0 and one line on stdout, which is returned.
fn ok_line(ran: Ran) -> String {
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.out.lines().count(), 1, "{ran:?}");
    ran.out.trim_end().to_string()
}

/// Exit 1, nothing on stdout and one line on stderr, which is returned.
fn error_line(ran: Ran) -> String {
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.out.is_empty(), "{ran:?}");
    assert_eq!(ran.err.lines().count(), 1, "{ran:?}");
    ran.err.trim_end().to_string()
}

/// FRR in AS 65002 on `ifaces`, both families, taking what it is sent.
fn frr_conf(ifaces: &[&str]) -> String {
    let mut c = "frr defaults datacenter\nhostname frr\ndebug bgp neighbor-events\n!\n".to_string();
    for ifname in ifaces {
        c += &format!("interface {ifname}\n!\n");
    }
    c += "router bgp 65002\n bgp router-id 10.0.0.2\n no bgp ebgp-requires-policy\n";
    for ifname in ifaces {
        c += &format!(" neighbor {ifname} interface remote-as external\n");
    }
    c += " address-family ipv6 unicast\n";
    for ifname in ifaces {
        c += &format!("  neighbor {ifname} activate\n");
    }
    c += " exit-address-family\n!\n";
    c
}

/// Whether FRR has a path to `prefix` (`show bgp FAMILY unicast PREFIX json`).
fn frr_has(frr: &Frr, prefix: &str) -> bool {
    let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    frr.vtysh_json(&format!("show bgp {family} unicast {prefix} json"))
        .and_then(|v| v.get("paths").and_then(Value::as_array).map(|p| !p.is_empty()))
        .unwrap_or(false)
}

fn established_on(d: &Ndbgpd, ifname: &str) -> bool {
    d.try_neighbors().is_some_and(|n| {
        n.iter()
            .any(|n| n.interface == ifname && n.state == SessionState::Established)
    })
}

/// AS 65001 on `interfaces`, with `extra` lines.
fn write_config(path: &Path, interfaces: &[&str], extra: &str) {
    let list: Vec<String> = interfaces.iter().map(|i| format!("\"{i}\"")).collect();
    let text = format!(
        "asn = 65001\nrouter_id = \"10.0.0.1\"\ninterfaces = [{}]\nnetworks = [\"10.0.1.0/24\"]\n{extra}",
        list.join(", ")
    );
    std::fs::write(path, text).expect("config file");
}

/// Two namespaces joined by `links` (same name at both ends), link-locals ready.
fn namespaces(tag: &str, links: &[&str]) -> (Netns, Netns) {
    let a = Netns::new(&format!("{tag}a"));
    let b = Netns::new(&format!("{tag}b"));
    for link in links {
        veth(&a, link, &b, link);
        a.set_link(link, true);
        b.set_link(link, true);
    }
    for link in links {
        wait_link_locals_ready(&a, &b, link);
    }
    (a, b)
}

#[test]
fn announce_and_withdraw_reach_frr_and_only_root_may_change_state() {
    const T: &str = "announce_and_withdraw_reach_frr_and_only_root_may_change_state";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let (a, b) = namespaces("rta", &["eth0"]);
    let dir = TempDir::new("rtann");
    let file = dir.join("a.toml");
    write_config(&file, &["eth0"], "");
    let da = Ndbgpd::start(&a, &dir, "a", &["--config", file.to_str().expect("utf-8 path")]);
    let frr = Frr::start(&b, &dir, &frr_conf(&["eth0"]));
    let dump = || format!("{}{}", da.report(), frr.report());
    wait_or_dump("FRR to learn the configured network", LONG, &dump, || {
        frr_has(&frr, "10.0.1.0/24").then_some(())
    });

    for prefix in [V4, V6] {
        let said = ok_line(ctl(&da, &["announce", prefix]));
        assert!(said.starts_with(&format!("announcing {prefix}")), "{said}");
    }
    wait_or_dump("FRR to have both runtime prefixes", LONG, &dump, || {
        (frr_has(&frr, V4) && frr_has(&frr, V6)).then_some(())
    });
    // Shown as local, not installed (ours).
    let routes: Vec<RouteEntry> = da.ctl(&["routes"]);
    for prefix in [V4, V6] {
        let route = routes
            .iter()
            .find(|r| r.route.prefix.to_string() == prefix)
            .unwrap_or_else(|| panic!("{prefix} not in routes: {routes:?}"));
        assert_eq!(route.route.paths[0].peer, "local", "{route:?}");
        assert!(route.route.paths[0].best, "{route:?}");
    }
    let again = ok_line(ctl(&da, &["announce", V4]));
    assert!(again.contains("nothing changed"), "{again}");

    // Another user: reads, but may not change anything.
    std::fs::set_permissions(&da.socket, std::fs::Permissions::from_mode(0o666)).expect("chmod socket");
    let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    let read = ndbgpctl(&da, &nobody, &["routes"]);
    assert_eq!(read.code, 0, "{read:?}");
    assert!(read.out.contains(V4), "{read:?}");
    for change in [
        &["withdraw", V4][..],
        &["announce", "198.51.100.1/32"],
        &["reload"],
        &["interface", "add", "eth9"],
    ] {
        let refused = error_line(ndbgpctl(&da, &nobody, change));
        assert!(refused.contains("permission denied"), "{change:?}: {refused}");
    }
    assert!(frr_has(&frr, V4), "{}", dump());
    // Root still reads.
    assert!(ctl(&da, &["neighbors"]).out.contains("eth0"));

    let said = ok_line(ctl(&da, &["withdraw", V4]));
    assert_eq!(said, format!("withdrew {V4}"));
    wait_or_dump("FRR to lose 192.0.2.10/32", LONG, &dump, || {
        (!frr_has(&frr, V4)).then_some(())
    });
    assert!(frr_has(&frr, V6), "the other one stays: {}", dump());
    let unknown = error_line(ctl(&da, &["withdraw", V4]));
    assert!(unknown.contains(V4) && unknown.contains("not announced"), "{unknown}");
    let network = error_line(ctl(&da, &["withdraw", "10.0.1.0/24"]));
    assert!(network.contains("configured network"), "{network}");

    // A reload applies the file and keeps the runtime route.
    write_config(&file, &["eth0"], "max_prefix = 1000\n");
    let reloaded = ok_line(ctl(&da, &["reload"]));
    assert!(
        reloaded.starts_with("reloaded") && reloaded.contains("limits"),
        "{reloaded}"
    );
    std::fs::write(&file, "asn = \"not a number\"\n").expect("config file");
    let broken = error_line(ctl(&da, &["reload"]));
    assert!(broken.contains("keeping the running configuration"), "{broken}");
    let mut da = da;
    da.process.assert_running();
    let routes: Vec<RouteEntry> = da.ctl(&["routes"]);
    assert!(routes.iter().any(|r| r.route.prefix.to_string() == V6), "{routes:?}");
    assert!(established_on(&da, "eth0"), "{}", da.report());
    assert!(frr_has(&frr, V6), "{}", frr.report());
}

#[test]
fn interface_add_and_remove_start_and_end_a_session_and_outlive_a_reload() {
    const T: &str = "interface_add_and_remove_start_and_end_a_session_and_outlive_a_reload";
    if !lab_enabled(T) || !have_tool(T, FRR_BGPD) || !have_tool(T, VTYSH) {
        return;
    }
    let (a, b) = namespaces("rti", &["eth0", "eth1"]);
    let dir = TempDir::new("rtif");
    let file = dir.join("a.toml");
    write_config(&file, &["eth0"], "");
    let da = Ndbgpd::start(&a, &dir, "a", &["--config", file.to_str().expect("utf-8 path")]);
    let frr = Frr::start(&b, &dir, &frr_conf(&["eth0", "eth1"]));
    let dump = || format!("{}{}", da.report(), frr.report());
    wait_or_dump("the session on eth0", LONG, &dump, || {
        established_on(&da, "eth0").then_some(())
    });
    assert!(!established_on(&da, "eth1"));

    let added = ok_line(ctl(&da, &["interface", "add", "eth1"]));
    assert!(
        added.starts_with("interface eth1 added") && added.contains("not written to the config file"),
        "{added}"
    );
    assert!(!added.contains("warning"), "{added}");
    wait_or_dump("the session on eth1", LONG, &dump, || {
        (established_on(&da, "eth1") && frr.bgp_state("eth1").as_deref() == Some("Established")).then_some(())
    });

    // The file does not name eth1: a reload keeps it all the same.
    let reloaded = ok_line(ctl(&da, &["reload"]));
    assert!(
        reloaded.contains("nothing changed") && reloaded.contains("added at runtime: eth1"),
        "{reloaded}"
    );
    let names: Vec<String> = da.interfaces().into_iter().map(|i| i.nd.interface).collect();
    assert!(names.contains(&"eth1".to_string()), "{names:?}");
    assert!(established_on(&da, "eth1"), "{}", dump());

    let already = ok_line(ctl(&da, &["interface", "add", "eth0"]));
    assert!(already.contains("configured already"), "{already}");
    let missing = ok_line(ctl(&da, &["interface", "add", "nosuch0"]));
    assert!(missing.contains("warning") && missing.contains("nosuch0"), "{missing}");
    ok_line(ctl(&da, &["interface", "remove", "nosuch0"]));
    let unknown = error_line(ctl(&da, &["interface", "remove", "eth9"]));
    assert!(unknown.contains("eth9 is not a configured interface"), "{unknown}");

    let removed = ok_line(ctl(&da, &["interface", "remove", "eth1"]));
    assert!(removed.starts_with("interface eth1 removed"), "{removed}");
    wait_or_dump("the session on eth1 to end", LONG, &dump, || {
        (!established_on(&da, "eth1") && frr.bgp_state("eth1").as_deref() != Some("Established")).then_some(())
    });
    assert!(established_on(&da, "eth0"), "{}", dump());
}
