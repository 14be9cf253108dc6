//! Lab tests of optimistic DAD (RFC 4429): ndbgpd gives the interfaces it
//! manages net.ipv6.conf.IF.optimistic_dad and use_optimistic before their
//! link-local is made, so a pair peers while DAD still runs; with
//! --no-optimistic-dad the link-local waits for DAD. On a forwarding host
//! the kernel makes no link-local optimistic: there --no-dad (accept_dad 0)
//! makes it usable at once. Needs root.

mod common;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use common::*;
use ndbgp::api::SessionState;
use serde_json::Value;

/// DAD probes per address in these namespaces: 5 s of DAD (one probe a
/// second), so "Established before DAD ends" has seconds of margin on a
/// loaded machine. The default, 1, gives about 1 s.
const DAD_TRANSMITS: &str = "5";

/// The interface's link-local and its flags (optimistic, tentative).
fn link_local_flags(ns: &Netns, ifname: &str) -> Option<(Ipv6Addr, bool, bool)> {
    let out = ns.ip(&["-j", "-6", "addr", "show", "dev", ifname, "scope", "link"]);
    let v: Value = serde_json::from_str(&out).ok()?;
    let info = v.get(0)?.get("addr_info")?.as_array()?;
    info.iter().find_map(|a| {
        let addr: Ipv6Addr = a.get("local")?.as_str()?.parse().ok()?;
        let flag = |name: &str| a.get(name).and_then(Value::as_bool).unwrap_or(false);
        Some((addr, flag("optimistic"), flag("tentative")))
    })
}

/// A setting of the namespace's net.ipv6.conf.IF, as read inside it.
fn conf(ns: &Netns, ifname: &str, key: &str) -> String {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/{key}");
    run(ns.command("cat").arg(path)).trim().to_string()
}

fn set_conf(ns: &Netns, ifname: &str, key: &str, value: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/{key}");
    run(ns.command("sh").args(["-c", &format!("echo {value} > {path}")]));
}

fn established(d: &Ndbgpd) -> bool {
    d.try_neighbors()
        .is_some_and(|v| v.iter().any(|s| s.state == SessionState::Established))
}

/// Two namespaces joined by eth0 (down), DAD lengthened on both ends.
fn pair(prefix: &str) -> (Netns, Netns) {
    let a = Netns::new(&format!("{prefix}a"));
    let b = Netns::new(&format!("{prefix}b"));
    veth(&a, "eth0", &b, "eth0");
    for ns in [&a, &b] {
        set_conf(ns, "eth0", "dad_transmits", DAD_TRANSMITS);
    }
    (a, b)
}

#[test]
fn optimistic_link_locals_peer_before_dad_ends() {
    if !lab_enabled("optimistic_link_locals_peer_before_dad_ends") {
        return;
    }
    let (a, b) = pair("nddo");
    let dir = TempDir::new("dado");
    let da = Ndbgpd::start(&a, &dir, "a", &["--iface", "eth0", "--asn", "65001"]);
    let db = Ndbgpd::start(&b, &dir, "b", &["--iface", "eth0", "--asn", "65002"]);
    let dump = || format!("{}{}", da.report(), db.report());
    for ns in [&a, &b] {
        wait_or_dump(
            "optimistic_dad and use_optimistic set",
            Duration::from_secs(5),
            &dump,
            || (conf(ns, "eth0", "optimistic_dad") == "1" && conf(ns, "eth0", "use_optimistic") == "1").then_some(()),
        );
    }
    let up = Instant::now();
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    for ns in [&a, &b] {
        let (addr, optimistic, _) = wait_for("the link-local", Duration::from_secs(5), || {
            link_local_flags(ns, "eth0")
        });
        assert!(optimistic, "{addr} on {} is not optimistic", ns.name);
    }
    wait_or_dump("Established on both", Duration::from_secs(5), &dump, || {
        (established(&da) && established(&db)).then_some(())
    });
    let took = up.elapsed();
    // Established while DAD still runs: the link-locals are still optimistic.
    for ns in [&a, &b] {
        let (addr, optimistic, tentative) = link_local_flags(ns, "eth0").expect("link-local");
        assert!(
            optimistic && tentative,
            "{addr} on {} left DAD before the session came up ({took:?} after link up){}",
            ns.name,
            dump()
        );
    }
    eprintln!("Established {took:?} after link up, DAD still running");
}

#[test]
fn no_optimistic_dad_leaves_link_locals_tentative() {
    if !lab_enabled("no_optimistic_dad_leaves_link_locals_tentative") {
        return;
    }
    let (a, b) = pair("nddn");
    // As an earlier run with optimistic DAD on would have left them.
    set_conf(&a, "eth0", "optimistic_dad", "1");
    set_conf(&a, "eth0", "use_optimistic", "1");
    let dir = TempDir::new("dadn");
    let da = Ndbgpd::start(
        &a,
        &dir,
        "a",
        &["--iface", "eth0", "--asn", "65001", "--no-optimistic-dad"],
    );
    let db = Ndbgpd::start(
        &b,
        &dir,
        "b",
        &["--iface", "eth0", "--asn", "65002", "--no-optimistic-dad"],
    );
    let dump = || format!("{}{}", da.report(), db.report());
    wait_or_dump(
        "optimistic_dad and use_optimistic back to 0",
        Duration::from_secs(5),
        &dump,
        || (conf(&a, "eth0", "optimistic_dad") == "0" && conf(&a, "eth0", "use_optimistic") == "0").then_some(()),
    );
    assert_eq!(conf(&b, "eth0", "optimistic_dad"), "0");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (addr, optimistic, tentative) = wait_for("the link-local", Duration::from_secs(5), || {
        link_local_flags(&a, "eth0")
    });
    assert!(
        !optimistic && tentative,
        "{addr}: optimistic {optimistic}, tentative {tentative}"
    );
    // No session while DAD runs (nothing may use a tentative address).
    wait_for("the link-local out of DAD", Duration::from_secs(15), || {
        if established(&da) {
            let (_, _, tentative) = link_local_flags(&a, "eth0")?;
            assert!(!tentative, "Established while {addr} was tentative{}", dump());
        }
        link_local_flags(&a, "eth0").filter(|(_, _, tentative)| !tentative)
    });
    wait_or_dump("Established after DAD", Duration::from_secs(10), &dump, || {
        established(&da).then_some(())
    });
}

/// On a router (net.ipv6.conf.all.forwarding=1) optimistic DAD does
/// nothing: by default the link-local is tentative after link up, and
/// ndbgpd warns naming --no-dad. With --no-dad the link-local is usable at
/// once and the pair is Established while the default pair's link-locals,
/// brought up at the same moment, are still tentative (10 s of DAD).
#[test]
fn no_dad_makes_link_locals_usable_at_once_on_a_forwarding_host() {
    if !lab_enabled("no_dad_makes_link_locals_usable_at_once_on_a_forwarding_host") {
        return;
    }
    let (da_ns, db_ns) = pair("nddf");
    let (na_ns, nb_ns) = pair("nddg");
    for ns in [&da_ns, &db_ns, &na_ns, &nb_ns] {
        set_conf(ns, "all", "forwarding", "1");
        // Twice lab_dad's usual DAD: the margin the --no-dad pair has.
        set_conf(ns, "eth0", "dad_transmits", "10");
    }
    let kernel_accept_dad = conf(&da_ns, "eth0", "accept_dad");
    assert_ne!(kernel_accept_dad, "0", "the kernel's default runs DAD");
    let dir = TempDir::new("dadf");
    let da = Ndbgpd::start(&da_ns, &dir, "da", &["--iface", "eth0", "--asn", "65001"]);
    let db = Ndbgpd::start(&db_ns, &dir, "db", &["--iface", "eth0", "--asn", "65002"]);
    let na = Ndbgpd::start(&na_ns, &dir, "na", &["--iface", "eth0", "--asn", "65001", "--no-dad"]);
    let nb = Ndbgpd::start(&nb_ns, &dir, "nb", &["--iface", "eth0", "--asn", "65002", "--no-dad"]);
    let dump = || format!("{}{}{}{}", da.report(), db.report(), na.report(), nb.report());
    for ns in [&na_ns, &nb_ns] {
        wait_or_dump("accept_dad 0 with --no-dad", Duration::from_secs(5), &dump, || {
            (conf(ns, "eth0", "accept_dad") == "0").then_some(())
        });
    }
    for ns in [&da_ns, &db_ns] {
        wait_or_dump("optimistic_dad set by default", Duration::from_secs(5), &dump, || {
            (conf(ns, "eth0", "optimistic_dad") == "1").then_some(())
        });
    }
    wait_or_dump(
        "the forwarding warning naming --no-dad",
        Duration::from_secs(5),
        &dump,
        || {
            let log = da.process.log_text();
            (log.contains("all.forwarding is 1") && log.contains("--no-dad")).then_some(())
        },
    );
    // Without the flag accept_dad is the kernel's.
    assert_eq!(conf(&da_ns, "eth0", "accept_dad"), kernel_accept_dad);

    for ns in [&da_ns, &db_ns, &na_ns, &nb_ns] {
        ns.set_link("eth0", true);
    }
    let up = Instant::now();
    for ns in [&da_ns, &db_ns] {
        let (addr, optimistic, tentative) =
            wait_or_dump("the default link-local", Duration::from_secs(5), &dump, || {
                link_local_flags(ns, "eth0")
            });
        assert!(
            tentative && !optimistic,
            "{addr} on {}: tentative {tentative}, optimistic {optimistic} (forwarding: expected tentative only)",
            ns.name
        );
    }
    for ns in [&na_ns, &nb_ns] {
        // The kernel clears the flag from its DAD work, right after making it.
        wait_or_dump("the --no-dad link-local usable", Duration::from_secs(5), &dump, || {
            link_local_flags(ns, "eth0").filter(|&(_, optimistic, tentative)| !optimistic && !tentative)
        });
    }
    wait_or_dump(
        "Established on the --no-dad pair",
        Duration::from_secs(5),
        &dump,
        || (established(&na) && established(&nb)).then_some(()),
    );
    let took = up.elapsed();
    // Still in DAD next to it: the default pair cannot have peered.
    for ns in [&da_ns, &db_ns] {
        let (addr, _, tentative) = link_local_flags(ns, "eth0").expect("link-local");
        assert!(
            tentative,
            "{addr} on {} left DAD before the --no-dad pair came up ({took:?} after link up){}",
            ns.name,
            dump()
        );
    }
    assert!(!established(&da), "Established from a tentative link-local{}", dump());
    let log = na.process.log_text();
    assert!(
        !log.contains("all.forwarding is 1"),
        "--no-dad still warns about forwarding:\n{log}"
    );
    eprintln!("--no-dad pair Established {took:?} after link up, the default pair still in DAD");
}

/// An interface that is already up when ndbgpd starts keeps its link-local
/// (no flap; the log says when the settings apply); one added at runtime
/// or created later gets the settings too.
#[test]
fn settings_reach_interfaces_up_already_added_or_created_later() {
    if !lab_enabled("settings_reach_interfaces_up_already_added_or_created_later") {
        return;
    }
    let a = Netns::new("nddl");
    let b = Netns::new("nddm");
    veth(&a, "eth0", &b, "eth0");
    veth(&a, "eth1", &b, "eth1");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (before, optimistic, _) = wait_for("eth0's link-local", Duration::from_secs(5), || {
        link_local_flags(&a, "eth0")
    });
    assert!(!optimistic);
    let dir = TempDir::new("dadl");
    let mut da = Ndbgpd::start(&a, &dir, "a", &["--iface", "eth0", "--iface", "eth2", "--asn", "65001"]);
    wait_for("eth0's settings", Duration::from_secs(5), || {
        (conf(&a, "eth0", "optimistic_dad") == "1").then_some(())
    });
    wait_for("the log line for eth0", Duration::from_secs(5), || {
        da.process
            .log_text()
            .contains("eth0: optimistic DAD on from the next link up")
            .then_some(())
    });
    // The link was not flapped: same link-local, made without it.
    assert_eq!(link_local_flags(&a, "eth0").map(|l| (l.0, l.1)), Some((before, false)));
    // The next link up makes an optimistic one.
    a.set_link("eth0", false);
    a.set_link("eth0", true);
    let (_, optimistic, _) = wait_for("eth0's new link-local", Duration::from_secs(5), || {
        link_local_flags(&a, "eth0")
    });
    assert!(optimistic, "eth0's link-local after a link flap is not optimistic");

    // eth1 exists but is not configured: untouched until `interface add`.
    assert_eq!(conf(&a, "eth1", "optimistic_dad"), "0");
    da.ctl_text(&["interface", "add", "eth1"]);
    wait_for("eth1's settings after interface add", Duration::from_secs(5), || {
        (conf(&a, "eth1", "optimistic_dad") == "1" && conf(&a, "eth1", "use_optimistic") == "1").then_some(())
    });
    // eth2 is configured but created only now.
    veth(&a, "eth2", &b, "eth2");
    wait_for("eth2's settings once created", Duration::from_secs(5), || {
        (conf(&a, "eth2", "optimistic_dad") == "1").then_some(())
    });
    da.process.assert_running();
}
