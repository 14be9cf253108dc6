//! A 2-spine by 2-leaf fabric of ndbgpd in namespaces: routes flow leaf to
//! leaf through both spines, each leaf installs one ECMP route with both
//! spines as next hops, and a spine link going down drops it to one path.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

/// The next hops of our route to `prefix` in `ns`'s kernel, as
/// (interface, gateway) pairs; None if there is no such route.
fn kernel_paths(ns: &Netns, prefix: &str) -> Option<Vec<(String, String)>> {
    let out = ns.ip(&["-j", "route", "show", "proto", "bgp", prefix]);
    let routes: Value = serde_json::from_str(&out).ok()?;
    let route = routes.as_array()?.first()?.clone();
    let hop = |h: &Value| {
        let dev = h["dev"].as_str()?.to_string();
        let via = h["via"]["host"].as_str().or(h["gateway"].as_str())?.to_string();
        Some((dev, via))
    };
    match route.get("nexthops").and_then(Value::as_array) {
        Some(hops) => hops.iter().map(hop).collect(),
        None => hop(&route).map(|h| vec![h]),
    }
}

#[test]
fn fabric_ecmp_two_spines_two_leaves() {
    const T: &str = "fabric_ecmp_two_spines_two_leaves";
    if !lab_enabled(T) {
        return;
    }
    let spines = [Netns::new("fs1"), Netns::new("fs2")];
    let leaves = [Netns::new("fl1"), Netns::new("fl2")];
    // Leaf i port swpJ <-> spine j port swpI.
    for (i, leaf) in leaves.iter().enumerate() {
        for (j, spine) in spines.iter().enumerate() {
            veth(leaf, &format!("swp{}", j + 1), spine, &format!("swp{}", i + 1));
            leaf.set_link(&format!("swp{}", j + 1), true);
            spine.set_link(&format!("swp{}", i + 1), true);
        }
    }
    let dir = TempDir::new("fabric");
    let ports = ["--iface", "swp1", "--iface", "swp2"];
    let start = |ns: &Netns, tag: &str, asn: &str, id: &str, extra: &[&str]| {
        let mut args = ports.to_vec();
        args.extend(["--asn", asn, "--router-id", id]);
        args.extend(extra);
        Ndbgpd::start(ns, &dir, tag, &args)
    };
    let _s1 = start(&spines[0], "s1", "65100", "10.0.0.101", &[]);
    let _s2 = start(&spines[1], "s2", "65101", "10.0.0.102", &[]);
    let l1 = start(&leaves[0], "l1", "65001", "10.0.0.1", &["--network", "10.0.11.0/24"]);
    let _l2 = start(&leaves[1], "l2", "65002", "10.0.0.2", &["--network", "10.0.12.0/24"]);

    let t0 = Instant::now();
    let paths = wait_for(
        "leaf1's ECMP route to leaf2 over both spines",
        Duration::from_secs(20),
        || kernel_paths(&leaves[0], "10.0.12.0/24").filter(|p| p.len() == 2),
    );
    eprintln!(
        "{T}: ECMP route over both spines {:?} after start: {paths:?}",
        t0.elapsed()
    );
    let spine_lls: Vec<String> = (0..2)
        .map(|j| spines[j].link_local("swp1").expect("spine link-local").0.to_string())
        .collect();
    let mut devs: Vec<&str> = paths.iter().map(|(d, _)| d.as_str()).collect();
    devs.sort();
    assert_eq!(devs, ["swp1", "swp2"], "one path per spine link: {paths:?}");
    for (dev, via) in &paths {
        let j = if dev == "swp1" { 0 } else { 1 };
        assert_eq!(
            via,
            &spine_lls[j],
            "path on {dev} goes via spine {}'s link-local",
            j + 1
        );
    }
    // The RIB agrees: two paths, both selected, from two different ASes.
    let routes = l1.ctl(&["routes"]);
    let route = routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["prefix"] == "10.0.12.0/24")
        .cloned()
        .unwrap();
    let selected: Vec<&Value> = route["paths"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["best"] == true || p["multipath"] == true)
        .collect();
    assert_eq!(selected.len(), 2, "{route}");
    assert_eq!(route["installed"], true, "{route}");

    // Spine 1's link down on leaf 1: one path within 100 ms.
    let down = Instant::now();
    leaves[0].set_link("swp1", false);
    let deadline = Instant::now() + Duration::from_secs(2);
    while kernel_paths(&leaves[0], "10.0.12.0/24").is_none_or(|p| p.len() != 1) {
        assert!(
            Instant::now() < deadline,
            "still not one path 2 s after link down: {}\nleaf1 routes: {}\nneighbors: {}\nlog tail: {}",
            leaves[0].ip(&["route", "show", "proto", "bgp"]),
            l1.ctl(&["routes"]),
            l1.ctl(&["neighbors"]),
            l1.process
                .log_text()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = down.elapsed();
    let left = kernel_paths(&leaves[0], "10.0.12.0/24").unwrap();
    eprintln!("{T}: down to one path {took:?} after link down: {left:?}");
    assert!(took <= Duration::from_millis(100), "took {took:?}, want <= 100 ms");
    assert_eq!(left[0].0, "swp2", "the remaining path is via spine 2: {left:?}");

    // And back to two when it returns.
    let up = Instant::now();
    leaves[0].set_link("swp1", true);
    wait_for("both paths back", Duration::from_secs(20), || {
        kernel_paths(&leaves[0], "10.0.12.0/24").filter(|p| p.len() == 2)
    });
    eprintln!("{T}: two paths again {:?} after link up", up.elapsed());

    // The other leaf learned ours the same way, and a leaf's own prefix is
    // never installed from the fabric.
    assert!(kernel_paths(&leaves[1], "10.0.11.0/24").is_some_and(|p| p.len() == 2));
    assert!(
        kernel_paths(&leaves[0], "10.0.11.0/24").is_none(),
        "own prefix not learned back"
    );
}
