//! Lab test: zero packet loss through an ndbgpd fabric (2 spines x 2
//! leaves, every daemon `--graceful-restart`) while each spine's and then a
//! leaf's ndbgpd restarts gracefully (SIGTERM, started again with the same
//! arguments). Pings every 10 ms from one leaf's loopback to the other's
//! cross whichever spine the kernel's hash picks; both spines are restarted,
//! one after the other, so the one carrying them is among them.
//! `scripts/bench-failover.sh` measures the other failures (link down,
//! silent peer) and FRR. Needs root; in CI it never skips.

mod common;

use std::time::{Duration, Instant};

use ndbgp::api::SessionState;
use serde_json::Value;

use common::*;

/// iputils' ping (scripts/test.sh installs it).
const PING: &str = "/usr/bin/ping";
const LONG: Duration = Duration::from_secs(30);

/// The interfaces of `ns`'s IPv4 route to `prefix`, sorted.
fn route_devs(ns: &Netns, prefix: &str) -> Vec<String> {
    let routes: Value = serde_json::from_str(&ns.ip(&["-4", "-j", "route", "show", prefix])).unwrap_or(Value::Null);
    let mut devs: Vec<String> = routes
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| match r["nexthops"].as_array() {
            Some(hops) => hops.iter().filter_map(|h| h["dev"].as_str()).collect::<Vec<_>>(),
            None => r["dev"].as_str().into_iter().collect(),
        })
        .map(String::from)
        .collect();
    devs.sort();
    devs
}

/// Replies missing among the pings up to the last one answered, from
/// ping's output (`... icmp_seq=N ...` per reply): the pings still in
/// flight when it stops are not counted as lost.
fn missing_replies(ping_output: &str) -> (u64, u64) {
    let seqs: std::collections::BTreeSet<u64> = ping_output
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.split("icmp_seq=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    let last = seqs.last().copied().unwrap_or(0);
    (last - seqs.len() as u64, last)
}

// Field order is drop order: the daemon stops before its namespace goes.
struct Node {
    daemon: Option<Ndbgpd>,
    ns: Netns,
    args: Vec<String>,
    starts: u32,
}

impl Node {
    fn start(&mut self, dir: &TempDir) {
        self.starts += 1;
        let tag = format!("{}-{}", self.ns.name, self.starts);
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.daemon = Some(Ndbgpd::start(&self.ns, dir, &tag, &args));
    }

    fn daemon(&self) -> &Ndbgpd {
        self.daemon.as_ref().expect("started")
    }

    fn established(&self) -> usize {
        self.daemon()
            .try_neighbors()
            .unwrap_or_default()
            .iter()
            .filter(|n| n.state == SessionState::Established)
            .count()
    }

    /// SIGTERM (graceful with `--graceful-restart`), wait for the exit,
    /// start again with the same arguments.
    fn restart(&mut self, dir: &TempDir) {
        let mut d = self.daemon.take().expect("started");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(d.process.pid()),
            nix::sys::signal::Signal::SIGTERM,
        );
        wait_for("ndbgpd to exit", Duration::from_secs(10), || {
            d.process.child.try_wait().ok().flatten().map(|_| ())
        });
        let log = d.process.log_text();
        assert!(log.contains("stopping gracefully"), "SIGTERM:\n{}", tail(&log, 20));
        self.start(dir);
    }
}

#[test]
fn graceful_restarts_of_spines_and_a_leaf_lose_no_packet() {
    const T: &str = "graceful_restarts_of_spines_and_a_leaf_lose_no_packet";
    if !lab_enabled(T) || !have_tool(T, PING) {
        return;
    }
    let dir = TempDir::new("fabricfo");
    let node = |prefix: &str, asn: &str, id: &str, leaf: bool| {
        let ns = Netns::new(prefix);
        run(ns
            .command("sysctl")
            .args(["-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]));
        let mut args: Vec<String> = ["--iface", "swp1", "--iface", "swp2", "--asn", asn, "--router-id", id]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push("--graceful-restart".into());
        if leaf {
            ns.ip(&["addr", "add", &format!("{id}/32"), "dev", "lo"]);
            args.extend(["--network".to_string(), format!("{id}/32")]);
        }
        Node {
            ns,
            args,
            daemon: None,
            starts: 0,
        }
    };
    let mut spines = [
        node("ffs1", "65100", "10.0.0.101", false),
        node("ffs2", "65100", "10.0.0.102", false),
    ];
    let mut leaves = [
        node("ffl1", "65001", "10.0.0.1", true),
        node("ffl2", "65002", "10.0.0.2", true),
    ];
    // Leaf lI's swpJ is spine sJ's swpI.
    for (i, leaf) in leaves.iter().enumerate() {
        for (j, spine) in spines.iter().enumerate() {
            let (leaf_if, spine_if) = (format!("swp{}", j + 1), format!("swp{}", i + 1));
            veth(&leaf.ns, &leaf_if, &spine.ns, &spine_if);
            leaf.ns.set_link(&leaf_if, true);
            spine.ns.set_link(&spine_if, true);
        }
    }
    for n in spines.iter_mut().chain(leaves.iter_mut()) {
        n.start(&dir);
    }
    let both = vec!["swp1".to_string(), "swp2".to_string()];
    let converged = |spines: &[Node], leaves: &[Node]| {
        spines.iter().chain(leaves).all(|n| n.established() == 2)
            && route_devs(&leaves[0].ns, "10.0.0.2/32") == both
            && route_devs(&leaves[1].ns, "10.0.0.1/32") == both
    };
    let report = |spines: &[Node], leaves: &[Node]| {
        spines
            .iter()
            .chain(leaves)
            .filter_map(|n| n.daemon.as_ref())
            .map(Ndbgpd::report)
            .collect::<String>()
    };
    wait_or_dump(
        "every session Established, both leaves' routes through both spines",
        LONG,
        &|| report(&spines, &leaves),
        || converged(&spines, &leaves).then_some(()),
    );

    let mut ping = leaves[0].ns.command(PING);
    ping.args(["-n", "-i", "0.01", "-I", "10.0.0.1", "10.0.0.2"]);
    let mut pinger = Process::spawn("ping", &mut ping, Some(dir.join("ping.txt")));
    wait_for("pings answered", Duration::from_secs(5), || {
        pinger.log_text().contains("bytes from 10.0.0.2").then_some(())
    });

    let started = Instant::now();
    for (kind, index) in [("spine", 0), ("spine", 1), ("leaf", 0)] {
        let restarted = Instant::now();
        match kind {
            "spine" => spines[index].restart(&dir),
            _ => leaves[index].restart(&dir),
        }
        wait_or_dump(
            &format!("{kind} {} back, both routes through both spines", index + 1),
            LONG,
            &|| report(&spines, &leaves),
            || converged(&spines, &leaves).then_some(()),
        );
        let converged_after = restarted.elapsed();
        // A spine's routes: both leaves' loopbacks; a leaf's: the other's.
        let (node, adopted) = match kind {
            "spine" => (&spines[index], "adopted 2 IPv4"),
            _ => (&leaves[index], "adopted 1 IPv4"),
        };
        // It adopted the routes it left in the kernel, and its deferral ended
        // (End-of-RIB from both neighbours): the moment a wrong sweep would
        // drop them.
        let log = wait_or_dump(
            &format!("{kind} {}: the end of its graceful restart", index + 1),
            LONG,
            &|| report(&spines, &leaves),
            || {
                let log = node.daemon().process.log_text();
                log.contains("fib: graceful restart over").then_some(log)
            },
        );
        assert!(
            log.contains(&format!("fib: graceful restart: {adopted}")),
            "{kind} {}: no routes adopted:\n{}",
            index + 1,
            tail(&log, 40)
        );
        eprintln!(
            "{T}: {kind} {} restarted: converged after {converged_after:?}, restart over after {:?}",
            index + 1,
            restarted.elapsed()
        );
        // A second of pings before the next restart and after the last.
        std::thread::sleep(Duration::from_secs(1));
    }
    pinger.stop();
    let (lost, last) = missing_replies(&pinger.log_text());
    eprintln!("{T}: {lost} of {last} pings lost over {:?}", started.elapsed());
    assert!(last > 150, "too few pings: {last}\n{}", tail(&pinger.log_text(), 20));
    assert_eq!(
        lost,
        0,
        "pings lost through graceful restarts\n{}",
        report(&spines, &leaves)
    );
}
