//! The FIB against a real kernel, in network namespaces of its own: routes
//! installed, replaced and deleted as iproute2 shows them, other
//! protocols' routes never touched, links going down, and the speed of a
//! 100k-route batch. Needs root; skipped otherwise, unless CI=true.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use ipnet::IpNet;
use ndbgp::fib::{self, FibChange, FibConfig, FibHandle, FibNextHop, FibReport, FibRoute};
use nix::sched::{CloneFlags, setns};
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Our routes' protocol, as iproute2 takes it whether or not
/// packaging/rt_protos.d/ndbgp.conf names it.
const OURS: &str = "201";
/// The link-locals of the far ends, our next hops.
const VIA0: &str = "fe80::b0";
const VIA1: &str = "fe80::b1";
/// Routes in the install-rate test: NDBGP_FIB_ROUTES, default 100k.
fn batch_routes() -> u32 {
    match std::env::var("NDBGP_FIB_ROUTES") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("NDBGP_FIB_ROUTES={v:?}: want a number of routes")),
        Err(_) => 100_000,
    }
}

/// A FIB task running in its own thread inside the namespace (its socket
/// belongs to the namespace of the thread that opens it); stopped on drop.
struct FibInNs {
    rt: Runtime,
    handle: FibHandle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FibInNs {
    fn start(ns: &Netns) -> FibInNs {
        FibInNs::start_with(ns, FibConfig::default())
    }

    fn start_with(ns: &Netns, config: FibConfig) -> FibInNs {
        let path = format!("/run/netns/{}", ns.name);
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            setns(File::open(&path).expect("namespace file"), CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                // The task runs on, detached, until `stop`.
                let _ = handle_tx.send(fib::spawn(config).map(|(handle, _task)| handle));
                let _ = stop_rx.await;
            });
        });
        let handle = handle_rx.recv().expect("fib thread").expect("fib::spawn");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test runtime");
        FibInNs {
            rt,
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn apply(&self, changes: Vec<FibChange>) -> FibReport {
        self.rt.block_on(self.handle.apply(changes)).expect("apply")
    }

    fn resync(&self) -> FibReport {
        self.rt.block_on(self.handle.resync()).expect("resync")
    }

    fn flush(&self) -> FibReport {
        self.rt.block_on(self.handle.flush()).expect("flush")
    }

    fn installed(&self) -> Vec<(IpNet, Vec<FibNextHop>)> {
        self.rt.block_on(self.handle.installed()).expect("installed")
    }

    fn recorded(&self, within: Option<&str>) -> Vec<(IpNet, Vec<FibNextHop>)> {
        let within = within.map(net);
        let recorded = self.rt.block_on(self.handle.recorded(within)).expect("recorded");
        recorded.into_iter().map(|(p, n)| (p, n.to_vec())).collect()
    }
}

impl Drop for FibInNs {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn replace(prefix: &str, nexthops: &[FibNextHop]) -> FibChange {
    FibChange::Replace(FibRoute {
        prefix: net(prefix),
        nexthops: nexthops.into(),
    })
}

fn delete(prefix: &str) -> FibChange {
    FibChange::Delete(net(prefix))
}

/// A namespace with two veth pairs a0-b0 and a1-b1, up, the far ends
/// holding fe80::b0 and fe80::b1; returns the next hops through a0 and a1.
fn lab(prefix: &str) -> (Netns, FibNextHop, FibNextHop) {
    let ns = Netns::new(prefix);
    for i in 0..2 {
        ns.ip(&[
            "link",
            "add",
            &format!("a{i}"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("b{i}"),
        ]);
        ns.ip(&[
            "addr",
            "add",
            &format!("fe80::b{i}/64"),
            "dev",
            &format!("b{i}"),
            "nodad",
        ]);
        ns.set_link(&format!("a{i}"), true);
        ns.set_link(&format!("b{i}"), true);
    }
    let nh0 = FibNextHop {
        ifindex: ns.ifindex("a0"),
        via: VIA0.parse().expect("address"),
    };
    let nh1 = FibNextHop {
        ifindex: ns.ifindex("a1"),
        via: VIA1.parse().expect("address"),
    };
    (ns, nh0, nh1)
}

/// Routes of one protocol as iproute2 shows them: prefix -> sorted live
/// (gateway, device) pairs; dead nexthops left out. Also checks the metric
/// of ours.
fn kernel(ns: &Netns, ipv6: bool, proto: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let family = if ipv6 { "-6" } else { "-4" };
    let out = ns.ip(&["-j", family, "route", "show", "proto", proto]);
    let routes: Value = serde_json::from_str(&out).expect("ip -j route");
    let mut map = BTreeMap::new();
    for r in routes.as_array().expect("array") {
        let dst = r["dst"].as_str().expect("dst").to_string();
        if proto == OURS {
            assert_eq!(r["metric"], fib::DEFAULT_METRIC, "{r}");
        }
        let hops = match r.get("nexthops").and_then(Value::as_array) {
            Some(hops) => hops.clone(),
            None => vec![r.clone()],
        };
        let mut live: Vec<(String, String)> = hops
            .iter()
            .filter(|h| !h["flags"].as_array().is_some_and(|f| f.iter().any(|f| f == "dead")))
            .map(|h| {
                let gw = h["via"]["host"].as_str().or(h["gateway"].as_str()).unwrap_or("");
                if !ipv6 && !gw.is_empty() {
                    assert_eq!(h["via"]["family"], "inet6", "IPv4 via inet6: {h}");
                }
                (gw.to_string(), h["dev"].as_str().unwrap_or("").to_string())
            })
            .collect();
        live.sort();
        map.insert(dst, live);
    }
    map
}

/// Our routes' nexthop objects: prefix -> nhid, for the routes that have
/// one.
fn nhids(ns: &Netns) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    for family in ["-4", "-6"] {
        let out = ns.ip(&["-j", family, "route", "show", "proto", OURS]);
        let routes: Value = serde_json::from_str(&out).expect("ip -j route");
        for r in routes.as_array().expect("array") {
            if let Some(id) = r["nhid"].as_u64() {
                map.insert(r["dst"].as_str().expect("dst").to_string(), id);
            }
        }
    }
    map
}

/// Our nexthop objects (protocol 201): id -> its group's member ids
/// (empty for a single next hop).
fn our_nexthops(ns: &Netns) -> BTreeMap<u64, Vec<u64>> {
    let out = ns.ip(&["-j", "nexthop"]);
    let objects: Value = serde_json::from_str(&out).expect("ip -j nexthop");
    objects
        .as_array()
        .expect("array")
        .iter()
        .filter(|o| o["protocol"] == OURS)
        .map(|o| {
            let members = o["group"]
                .as_array()
                .map(|g| g.iter().filter_map(|m| m["id"].as_u64()).collect());
            (o["id"].as_u64().expect("id"), members.unwrap_or_default())
        })
        .collect()
}

fn hops(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(g, d)| (g.to_string(), d.to_string())).collect()
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("ndbgp=debug")
        .with_test_writer()
        .try_init();
}

#[test]
fn installs_replaces_deletes_and_leaves_other_protocols_alone() {
    if !lab_enabled("fib installs_replaces_deletes") {
        return;
    }
    init_logs();
    let (ns, nh0, nh1) = lab("fib");
    // Other protocols' routes, one to a prefix we will install too.
    ns.ip(&["route", "add", "10.9.9.0/24", "dev", "a0", "proto", "static"]);
    ns.ip(&["route", "add", "10.0.0.0/24", "dev", "a1", "proto", "static"]);
    ns.ip(&["-6", "route", "add", "2001:db8:9::/64", "dev", "a0", "proto", "static"]);
    ns.ip(&[
        "route",
        "add",
        "10.8.8.0/24",
        "via",
        "inet6",
        VIA0,
        "dev",
        "a0",
        "proto",
        "zebra",
        "metric",
        "20",
    ]);
    // FRR's zebra installs proto bgp at metric 20: never ours.
    ns.ip(&[
        "route",
        "add",
        "10.7.7.0/24",
        "via",
        "inet6",
        VIA0,
        "dev",
        "a0",
        "proto",
        "bgp",
        "metric",
        "20",
    ]);
    ns.ip(&[
        "-6",
        "route",
        "add",
        "2001:db8:7::/64",
        "via",
        VIA0,
        "dev",
        "a0",
        "proto",
        "bgp",
        "metric",
        "20",
    ]);
    // Left by an earlier ndbgpd: removed at start, whatever the metric.
    for metric in ["30", "100"] {
        let prefix = format!("10.6.{metric}.0/24");
        ns.ip(&[
            "route", "add", &prefix, "via", "inet6", VIA0, "dev", "a0", "proto", OURS, "metric", metric,
        ]);
    }
    ns.ip(&[
        "-6",
        "route",
        "add",
        "2001:db8:6::/64",
        "via",
        VIA0,
        "dev",
        "a0",
        "proto",
        OURS,
        "metric",
        "30",
    ]);
    let others = |ns: &Netns| {
        (
            kernel(ns, false, "static"),
            kernel(ns, true, "static"),
            kernel(ns, false, "zebra"),
            (kernel(ns, false, "bgp"), kernel(ns, true, "bgp")),
        )
    };
    let before = others(&ns);
    assert_eq!(before.0.len(), 2);
    assert_eq!(((before.3).0.len(), (before.3).1.len()), (1, 1), "{before:?}");

    let fib = FibInNs::start(&ns);
    assert_eq!(fib.installed(), [], "stale routes not removed at start");
    assert!(kernel(&ns, false, OURS).is_empty() && kernel(&ns, true, OURS).is_empty());
    assert_eq!(others(&ns), before);

    // Single path and ECMP, both families; a prefix with host bits set.
    let r = fib.apply(vec![
        replace("10.0.0.0/24", &[nh0]),
        replace("2001:db8::/64", &[nh0]),
        replace("10.1.0.0/16", &[nh1, nh0]),
        replace("2001:db8:1::/48", &[nh0, nh1]),
        replace("10.2.3.4/16", &[nh1]),
    ]);
    assert_eq!((r.replaced, r.failed, r.partial, r.waiting), (5, 0, 0, 0), "{r:?}");
    let both = hops(&[(VIA0, "a0"), (VIA1, "a1")]);
    assert_eq!(
        kernel(&ns, false, OURS),
        BTreeMap::from([
            ("10.0.0.0/24".to_string(), hops(&[(VIA0, "a0")])),
            ("10.1.0.0/16".to_string(), both.clone()),
            ("10.2.0.0/16".to_string(), hops(&[(VIA1, "a1")])),
        ])
    );
    assert_eq!(
        kernel(&ns, true, OURS),
        BTreeMap::from([
            ("2001:db8::/64".to_string(), hops(&[(VIA0, "a0")])),
            ("2001:db8:1::/48".to_string(), both.clone()),
        ])
    );
    // One multipath route, not two routes.
    let shown = ns.ip(&["route", "show", "10.1.0.0/16"]);
    assert_eq!(shown.matches("10.1.0.0/16").count(), 1, "{shown}");
    assert_eq!(
        fib.installed(),
        [
            (net("10.0.0.0/24"), vec![nh0]),
            (net("10.1.0.0/16"), vec![nh0, nh1]),
            (net("10.2.0.0/16"), vec![nh1]),
            (net("2001:db8::/64"), vec![nh0]),
            (net("2001:db8:1::/48"), vec![nh0, nh1]),
        ]
    );
    // What the FIB recorded (shown by `ndbgpctl routes`) is what the kernel has.
    assert_eq!(fib.recorded(None), fib.installed());
    assert_eq!(
        fib.recorded(Some("10.0.0.0/15")),
        [(net("10.0.0.0/24"), vec![nh0]), (net("10.1.0.0/16"), vec![nh0, nh1])]
    );
    // The static route to 10.0.0.0/24 (metric 0) is still there next to ours.
    assert_eq!(others(&ns), before);

    // Unchanged routes are not sent again.
    let r = fib.apply(vec![replace("10.0.0.0/24", &[nh0]), replace("2001:db8::/64", &[nh0])]);
    assert_eq!(r, FibReport::default());

    // Replace: other link, ECMP to single, single to ECMP.
    let r = fib.apply(vec![
        replace("10.0.0.0/24", &[nh1]),
        replace("10.1.0.0/16", &[nh0]),
        replace("2001:db8::/64", &[nh0, nh1]),
        replace("2001:db8:1::/48", &[nh1]),
    ]);
    assert_eq!((r.replaced, r.failed), (4, 0), "{r:?}");
    let v4 = kernel(&ns, false, OURS);
    assert_eq!(v4["10.0.0.0/24"], hops(&[(VIA1, "a1")]));
    assert_eq!(v4["10.1.0.0/16"], hops(&[(VIA0, "a0")]));
    let v6 = kernel(&ns, true, OURS);
    assert_eq!(v6["2001:db8::/64"], both);
    assert_eq!(v6["2001:db8:1::/48"], hops(&[(VIA1, "a1")]));
    assert_eq!(v6.len(), 2, "an IPv6 replace left a sibling behind: {v6:?}");

    // Delete, also by a Replace without nexthops.
    let r = fib.apply(vec![
        delete("10.0.0.0/24"),
        delete("2001:db8::/64"),
        replace("10.2.0.0/16", &[]),
    ]);
    assert_eq!((r.deleted, r.failed), (3, 0), "{r:?}");
    assert_eq!(kernel(&ns, false, OURS).keys().collect::<Vec<_>>(), ["10.1.0.0/16"]);
    assert_eq!(kernel(&ns, true, OURS).keys().collect::<Vec<_>>(), ["2001:db8:1::/48"]);
    assert_eq!(others(&ns), before);

    // Flush removes ours only.
    let r = fib.flush();
    assert_eq!((r.deleted, r.failed), (2, 0), "{r:?}");
    assert!(kernel(&ns, false, OURS).is_empty() && kernel(&ns, true, OURS).is_empty());
    assert_eq!(others(&ns), before);
    assert_eq!(fib.resync(), FibReport::default(), "nothing desired after a flush");
}

#[test]
fn link_down_then_resync_inline_next_hops() {
    if !lab_enabled("fib link_down_then_resync_inline_next_hops") {
        return;
    }
    link_down_then_resync("fibld", false);
}

/// The same through nexthop objects: the kernel flushes a link's objects
/// with it (shrinking the groups, deleting the routes of emptied ones), a
/// resync brings them back, and a link made again after its deletion gets
/// objects of its own.
#[test]
fn link_down_then_resync_through_nexthop_objects() {
    if !lab_enabled("fib link_down_then_resync_through_nexthop_objects") {
        return;
    }
    link_down_then_resync("fibnh", true);
}

fn link_down_then_resync(prefix: &str, objects: bool) {
    init_logs();
    let (ns, nh0, nh1) = lab(prefix);
    ns.ip(&["route", "add", "10.9.9.0/24", "dev", "a0", "proto", "static"]);
    let fib = FibInNs::start_with(
        &ns,
        FibConfig {
            nexthop_objects: objects,
            ..FibConfig::default()
        },
    );
    let r = fib.apply(vec![
        replace("10.0.0.0/24", &[nh1]),
        replace("10.1.0.0/24", &[nh0, nh1]),
        replace("10.2.0.0/24", &[nh0]),
        replace("2001:db8::/64", &[nh1]),
        replace("2001:db8:1::/64", &[nh0, nh1]),
    ]);
    assert_eq!((r.replaced, r.failed), (5, 0), "{r:?}");
    let ids = nhids(&ns);
    if objects {
        // Every route through an object: one per next hop, one group for
        // both, shared by the IPv4 and the IPv6 multipath route.
        assert_eq!(ids.len(), 5, "{ids:?}");
        assert_eq!(ids["10.1.0.0/24"], ids["2001:db8:1::/64"]);
        assert_eq!(ids["10.0.0.0/24"], ids["2001:db8::/64"]);
        let ours = our_nexthops(&ns);
        assert_eq!(ours.len(), 3, "{ours:?}");
        let mut members = ours[&ids["10.1.0.0/24"]].clone();
        members.sort();
        let mut leaves = vec![ids["10.0.0.0/24"], ids["10.2.0.0/24"]];
        leaves.sort();
        assert_eq!(members, leaves);
    } else {
        assert!(ids.is_empty() && our_nexthops(&ns).is_empty(), "{ids:?}");
    }

    // Down: the kernel drops the single-path routes through a1 (the IPv4
    // one without telling anyone) and marks a1's paths dead; the resync
    // replaces the two multipath routes without their dead paths (the
    // kernel would revive them on link up, before BGP is back there).
    // Through objects the kernel shrinks the group itself: nothing to send.
    ns.set_link("a1", false);
    assert!(!kernel(&ns, false, OURS).contains_key("10.0.0.0/24"));
    let r = fib.resync();
    let replaced = if objects { 0 } else { 2 };
    assert_eq!((r.replaced, r.deleted, r.failed), (replaced, 0, 0), "{r:?}");
    assert_eq!((r.partial, r.waiting), (2, 2), "{r:?}");
    let only0 = hops(&[(VIA0, "a0")]);
    assert_eq!(
        kernel(&ns, false, OURS),
        BTreeMap::from([
            ("10.1.0.0/24".to_string(), only0.clone()),
            ("10.2.0.0/24".to_string(), only0.clone()),
        ])
    );
    assert_eq!(
        kernel(&ns, true, OURS),
        BTreeMap::from([("2001:db8:1::/64".to_string(), only0.clone())])
    );
    let installed: BTreeMap<IpNet, Vec<FibNextHop>> = fib.installed().into_iter().collect();
    assert_eq!(installed[&net("10.1.0.0/24")], [nh0], "dead path reported live");
    assert_eq!(fib.recorded(None), fib.installed(), "the record after a link went down");

    // A new route through the down link waits; one with another path
    // goes in without it.
    let r = fib.apply(vec![
        replace("10.3.0.0/24", &[nh1]),
        replace("10.4.0.0/24", &[nh0, nh1]),
    ]);
    assert_eq!((r.replaced, r.partial, r.waiting, r.failed), (1, 1, 1, 0), "{r:?}");
    assert!(!kernel(&ns, false, OURS).contains_key("10.3.0.0/24"));
    assert_eq!(kernel(&ns, false, OURS)["10.4.0.0/24"], only0);

    // Up again: the resync puts everything back as desired (through
    // objects: a new leaf, the group given it back, and the three routes
    // the kernel deleted with the old leaf).
    ns.set_link("a1", true);
    let r = fib.resync();
    assert_eq!((r.partial, r.waiting, r.failed), (0, 0, 0), "{r:?}");
    if objects {
        assert_eq!(r.replaced, 3, "{r:?}");
        let ids = nhids(&ns);
        assert_eq!(ids.len(), 7, "{ids:?}");
        assert_eq!(our_nexthops(&ns)[&ids["10.4.0.0/24"]].len(), 2);
    }
    let both = hops(&[(VIA0, "a0"), (VIA1, "a1")]);
    let only1 = hops(&[(VIA1, "a1")]);
    assert_eq!(
        kernel(&ns, false, OURS),
        BTreeMap::from([
            ("10.0.0.0/24".to_string(), only1.clone()),
            ("10.1.0.0/24".to_string(), both.clone()),
            ("10.2.0.0/24".to_string(), only0.clone()),
            ("10.3.0.0/24".to_string(), only1.clone()),
            ("10.4.0.0/24".to_string(), both.clone()),
        ])
    );
    assert_eq!(
        kernel(&ns, true, OURS),
        BTreeMap::from([
            ("2001:db8::/64".to_string(), only1.clone()),
            ("2001:db8:1::/64".to_string(), both.clone()),
        ])
    );
    assert_eq!(fib.resync(), FibReport::default(), "a second resync changes nothing");

    // Down without a resync: the kernel refuses a1 (ENETDOWN); the FIB
    // looks at the links again and installs what it can.
    ns.set_link("a1", false);
    let r = fib.apply(vec![
        replace("10.5.0.0/24", &[nh0, nh1]),
        replace("10.6.0.0/24", &[nh1]),
        replace("2001:db8:5::/64", &[nh0, nh1]),
    ]);
    assert_eq!((r.replaced, r.partial, r.waiting, r.failed), (2, 2, 1, 0), "{r:?}");
    assert_eq!(kernel(&ns, false, OURS)["10.5.0.0/24"], only0);
    assert!(!kernel(&ns, false, OURS).contains_key("10.6.0.0/24"));
    assert_eq!(kernel(&ns, true, OURS)["2001:db8:5::/64"], only0);

    // A deleted link is like a down one.
    ns.set_link("a1", true);
    ns.ip(&["link", "del", "a1"]);
    let r = fib.resync();
    assert_eq!(r.failed, 0, "{r:?}");
    assert_eq!((r.partial, r.waiting), (5, 4), "{r:?}");
    assert!(!kernel(&ns, false, OURS).contains_key("10.0.0.0/24"));
    assert_eq!(kernel(&ns, false, OURS)["10.1.0.0/24"], only0);
    assert_eq!(
        fib.recorded(None),
        fib.installed(),
        "the record after a link was deleted"
    );

    // The link made again (another ifindex): routes through it as new.
    ns.ip(&["link", "add", "a1", "type", "veth", "peer", "name", "b1"]);
    ns.ip(&["addr", "add", "fe80::b1/64", "dev", "b1", "nodad"]);
    ns.set_link("a1", true);
    ns.set_link("b1", true);
    let nh1 = FibNextHop {
        ifindex: ns.ifindex("a1"),
        via: VIA1.parse().expect("address"),
    };
    let mut again = Vec::new();
    for p in [
        "10.1.0.0/24",
        "10.4.0.0/24",
        "10.5.0.0/24",
        "2001:db8:1::/64",
        "2001:db8:5::/64",
    ] {
        again.push(replace(p, &[nh0, nh1]));
    }
    for p in ["10.0.0.0/24", "10.3.0.0/24", "10.6.0.0/24", "2001:db8::/64"] {
        again.push(replace(p, &[nh1]));
    }
    let r = fib.apply(again);
    assert_eq!((r.replaced, r.partial, r.waiting, r.failed), (9, 0, 0, 0), "{r:?}");
    let both = hops(&[(VIA0, "a0"), (VIA1, "a1")]);
    assert_eq!(kernel(&ns, false, OURS)["10.5.0.0/24"], both);
    assert_eq!(kernel(&ns, true, OURS)["2001:db8::/64"], hops(&[(VIA1, "a1")]));
    assert_eq!(
        fib.recorded(None),
        fib.installed(),
        "the record after the link came back"
    );
    if objects {
        // The objects of the sets through the deleted link are gone.
        assert_eq!(our_nexthops(&ns).len(), 3, "{:?}", our_nexthops(&ns));
        assert_eq!(nhids(&ns).len(), 10);
    }

    fib.flush();
    assert!(kernel(&ns, false, OURS).is_empty() && kernel(&ns, true, OURS).is_empty());
    assert!(our_nexthops(&ns).is_empty(), "objects removed after their routes");
    assert_eq!(kernel(&ns, false, "static").keys().collect::<Vec<_>>(), ["10.9.9.0/24"]);
}

/// The i-th /24 from 10.0.0.0, as a feed of consecutive subnets gives
/// them (the kernel's trie is denser, and slower to empty, than for /32s).
fn subnet(i: u32) -> String {
    format!(
        "{}/24",
        Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + (i << 8))
    )
}

#[test]
fn batch_install_rate_against_ip_batch() {
    if !lab_enabled("fib batch_install_rate") {
        return;
    }
    let (ns, nh0, nh1) = lab("fibrate");
    let fib = FibInNs::start(&ns);
    let count = |ns: &Netns| {
        let out = ns.ip(&["-4", "route", "show", "proto", OURS]);
        out.lines().filter(|l| l.contains("/24 ")).count()
    };
    let rate = |n: u32, d: Duration| f64::from(n) / d.as_secs_f64();
    let n = batch_routes();

    let changes: Vec<FibChange> = (0..n).map(|i| replace(&subnet(i), &[nh0])).collect();
    let start = Instant::now();
    let r = fib.apply(changes);
    let ours = start.elapsed();
    assert_eq!((r.replaced, r.failed), (n as usize, 0), "{r:?}");
    assert_eq!(count(&ns), n as usize);

    let changes: Vec<FibChange> = (0..n).map(|i| replace(&subnet(i), &[nh0, nh1])).collect();
    let start = Instant::now();
    let r = fib.apply(changes);
    let ours_ecmp = start.elapsed();
    assert_eq!(r.replaced, n as usize, "{r:?}");

    // Half withdrawn (a peer gone), the rest flushed (our shutdown).
    let half = n / 2;
    let changes: Vec<FibChange> = (0..half).map(|i| delete(&subnet(i))).collect();
    let start = Instant::now();
    let r = fib.apply(changes);
    let ours_delete = start.elapsed();
    assert_eq!(r.deleted, half as usize, "{r:?}");
    let start = Instant::now();
    let r = fib.flush();
    let ours_flush = start.elapsed();
    assert_eq!(r.deleted, (n - half) as usize, "{r:?}");
    assert_eq!(count(&ns), 0);

    let dir = TempDir::new("fibrate");
    let batch = dir.join("routes.batch");
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "route add {} via inet6 {VIA0} dev a0 proto {OURS} metric 20\n",
                subnet(i)
            )
        })
        .collect();
    std::fs::write(&batch, lines).expect("batch file");
    let batch_path = batch.to_string_lossy().into_owned();
    let start = Instant::now();
    ns.ip(&["-batch", &batch_path]);
    let iproute = start.elapsed();
    assert_eq!(count(&ns), n as usize);
    ns.ip(&["-4", "route", "flush", "proto", OURS]);

    println!(
        "{n} IPv4 routes, one next hop: ndbgp {:.0} routes/s ({ours:?}), `ip -batch` {:.0} routes/s \
         ({iproute:?}); ndbgp replace to 2-way ECMP {:.0} routes/s ({ours_ecmp:?}); ndbgp delete {:.0} routes/s \
         ({ours_delete:?}); ndbgp flush (dump + delete) {:.0} routes/s ({ours_flush:?})",
        rate(n, ours),
        rate(n, iproute),
        rate(n, ours_ecmp),
        rate(half, ours_delete),
        rate(n - half, ours_flush),
    );
}

/// A change this large goes out sweep by sweep (`Fib::apply_swept`): with
/// removals, replaces of routes we hold, new routes and routes that stay,
/// the kernel ends up with exactly what we want, and the record with what
/// the kernel has.
#[test]
fn a_large_change_goes_out_sweep_by_sweep() {
    if !lab_enabled("fib a_large_change_goes_out_sweep_by_sweep") {
        return;
    }
    let (ns, nh0, nh1) = lab("fibsweep");
    let fib = FibInNs::start(&ns);
    // More than one apply's worth of a sweep (8 x 8192 changes and up).
    let n = 80_000u32;
    let r = fib.apply((0..n).map(|i| replace(&subnet(i), &[nh0])).collect());
    assert_eq!((r.replaced, r.failed), (n as usize, 0), "{r:?}");
    let via0 = vec![(VIA0.to_string(), "a0".to_string())];
    let both = vec![
        (VIA0.to_string(), "a0".to_string()),
        (VIA1.to_string(), "a1".to_string()),
    ];
    let installed = kernel(&ns, false, OURS);
    assert_eq!(installed.len(), n as usize);
    assert!(installed.values().all(|hops| *hops == via0));

    // One change of 80k: a quarter removed, a quarter to two paths, a
    // quarter left alone (sent again, the same), and 20k new ones.
    let quarter = n / 4;
    let changes: Vec<FibChange> = (0..n + 20_000)
        .map(|i| match i / quarter {
            0 => delete(&subnet(i)),
            1 => replace(&subnet(i), &[nh0, nh1]),
            _ => replace(&subnet(i), &[nh0]),
        })
        .collect();
    let r = fib.apply(changes);
    assert_eq!(
        (r.deleted, r.replaced, r.failed),
        (quarter as usize, (quarter + 20_000) as usize, 0),
        "{r:?}"
    );
    let installed = kernel(&ns, false, OURS);
    assert_eq!(installed.len(), (n - quarter + 20_000) as usize);
    for i in 0..n + 20_000 {
        let want = match i / quarter {
            0 => None,
            1 => Some(&both),
            _ => Some(&via0),
        };
        assert_eq!(installed.get(&subnet(i)), want, "{}", subnet(i));
    }
    assert_eq!(fib.recorded(None), fib.installed(), "the record is the kernel's");
    fib.flush();
    assert!(kernel(&ns, false, OURS).is_empty());
}
