//! The netlink watcher against a real kernel, inside a network namespace of
//! its own. Needs root (creates a namespace and veth links); skipped
//! otherwise, unless CI=true, where skipping would hide a missing check.

use std::fs::File;
use std::net::Ipv6Addr;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use ndbgp::iface::{HostAddresses, Links, Mac};
use ndbgp::peers::{Observation, Source};
use nix::sched::{CloneFlags, setns};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot, watch};

/// Generous: a loaded 2-core machine, and DAD takes 1 to 2 s.
const DEADLINE: Duration = Duration::from_secs(10);
/// veth pairs created at once to overflow the watcher's socket.
const BURST_PAIRS: usize = 150;
/// The link-down budget the watcher must meet.
const LINK_DOWN_BUDGET: Duration = Duration::from_millis(100);

/// Run a command, fail the test with its stderr if it fails.
fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop (also when the test panics).
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        let name = format!("nlw-{}", std::process::id());
        run("ip", &["netns", "add", &name]);
        Netns { name }
    }

    /// `ip -n NAME args...`
    fn ip(&self, args: &str) -> String {
        let mut full = vec!["-n", &self.name];
        full.extend(args.split_whitespace());
        run("ip", &full)
    }

    /// Ifindex and MAC of a link, as iproute2 sees them.
    fn link_info(&self, name: &str) -> (u32, Mac) {
        let out = self.ip(&format!("-o link show dev {name}"));
        let ifindex = out
            .split(':')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ifindex in {out:?}"));
        let mac = out
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .and_then(parse_mac)
            .unwrap_or_else(|| panic!("no mac in {out:?}"));
        (ifindex, mac)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn parse_mac(s: &str) -> Option<Mac> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    bytes.try_into().ok()
}

/// The watcher, running in its own thread inside the namespace.
struct Watcher {
    rt: Runtime,
    links: watch::Receiver<Links>,
    addresses: watch::Receiver<HostAddresses>,
    neighbours: mpsc::Receiver<Observation>,
    stop: Option<oneshot::Sender<()>>,
    /// Asks the watcher's thread to block for a while (see `stall`).
    stall: mpsc::UnboundedSender<(Duration, std::sync::mpsc::Sender<()>)>,
    thread: Option<JoinHandle<anyhow::Result<OneOff>>>,
}

/// What the one-off dumps saw in the namespace once the watcher stopped.
#[derive(Debug)]
struct OneOff {
    links: Links,
    addresses: HostAddresses,
    neighbours: Vec<Observation>,
}

impl Watcher {
    fn start(ns: &Netns, names: &[&str]) -> Watcher {
        let (links_tx, links) = watch::channel(Links::new());
        let (addresses_tx, addresses) = watch::channel(HostAddresses::default());
        let (neigh_tx, neighbours) = mpsc::channel(64);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (stall, mut stall_rx) = mpsc::unbounded_channel::<(Duration, std::sync::mpsc::Sender<()>)>();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let path = format!("/run/netns/{}", ns.name);
        let thread = std::thread::spawn(move || -> anyhow::Result<OneOff> {
            // setns moves only this thread; the netlink socket is opened
            // here, so it belongs to the namespace.
            setns(File::open(&path)?, CloneFlags::CLONE_NEWNET)?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            // Blocks the whole (single-threaded) runtime on request, so that
            // events pile up in the socket as they would behind a busy daemon.
            rt.spawn(async move {
                while let Some((how_long, started)) = stall_rx.recv().await {
                    let _ = started.send(());
                    std::thread::sleep(how_long);
                }
            });
            rt.block_on(async {
                tokio::select! {
                    r = ndbgp::links::watch(names.clone(), links_tx, addresses_tx, neigh_tx) => {
                        r?;
                        anyhow::bail!("watch returned while its receivers were alive");
                    }
                    _ = stop_rx => {}
                }
                Ok(OneOff {
                    links: ndbgp::links::dump_links(&names).await?,
                    addresses: ndbgp::links::dump_addresses().await?,
                    neighbours: ndbgp::links::dump_neighbours(&names).await?,
                })
            })
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test runtime");
        Watcher {
            rt,
            links,
            addresses,
            neighbours,
            stop: Some(stop),
            stall,
            thread: Some(thread),
        }
    }

    /// Block the watcher's thread for `how_long`, from when this returns.
    fn stall(&self, how_long: Duration) {
        let (started, started_rx) = std::sync::mpsc::channel();
        self.stall.send((how_long, started)).expect("watcher thread gone");
        started_rx.recv_timeout(DEADLINE).expect("watcher thread did not stall");
    }

    /// Wait until the published snapshot satisfies `pred`; return it.
    fn wait_links(&mut self, what: &str, pred: impl FnMut(&Links) -> bool) -> Links {
        self.wait_links_for(what, DEADLINE, pred)
    }

    fn wait_links_for(&mut self, what: &str, deadline: Duration, pred: impl FnMut(&Links) -> bool) -> Links {
        wait_on(&self.rt, &mut self.links, what, deadline, pred)
            .unwrap_or_else(|| panic!("watcher stopped while waiting for {what}: {:?}", self.join()))
    }

    /// Wait until the published address snapshot satisfies `pred`; return it.
    fn wait_addresses(&mut self, what: &str, pred: impl FnMut(&HostAddresses) -> bool) -> HostAddresses {
        wait_on(&self.rt, &mut self.addresses, what, DEADLINE, pred)
            .unwrap_or_else(|| panic!("watcher stopped while waiting for {what}: {:?}", self.join()))
    }

    /// Wait for a neighbour observation satisfying `pred`, skipping others.
    fn wait_neighbour(&mut self, what: &str, mut pred: impl FnMut(&Observation) -> bool) -> Observation {
        let res = self.rt.block_on(async {
            tokio::time::timeout(DEADLINE, async {
                while let Some(o) = self.neighbours.recv().await {
                    if pred(&o) {
                        return Some(o);
                    }
                }
                None
            })
            .await
        });
        match res {
            Ok(Some(o)) => o,
            Ok(None) => panic!("watcher stopped while waiting for {what}: {:?}", self.join()),
            Err(_) => panic!("no {what} within {DEADLINE:?}"),
        }
    }

    /// Stop the watcher, run the one-off dumps, return what they saw.
    fn join(&mut self) -> anyhow::Result<OneOff> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("watcher thread panicked"))),
            None => Err(anyhow::anyhow!("watcher already joined")),
        }
    }
}

/// Wait until the value on `rx` satisfies `pred`; return it, or None if the
/// watcher stopped.
fn wait_on<T: Clone + std::fmt::Debug>(
    rt: &Runtime,
    rx: &mut watch::Receiver<T>,
    what: &str,
    deadline: Duration,
    pred: impl FnMut(&T) -> bool,
) -> Option<T> {
    let res = rt.block_on(async {
        tokio::time::timeout(deadline, rx.wait_for(pred))
            .await
            .map(|r| r.map(|v| v.clone()))
    });
    match res {
        Ok(Ok(v)) => Some(v),
        Ok(Err(_)) => None,
        Err(_) => panic!("no {what} within {deadline:?}; last snapshot: {:#?}", *rx.borrow()),
    }
}

/// Whether `host` has `net` on the link `name`.
fn has_address(host: &HostAddresses, name: &str, net: &str) -> bool {
    let net: IpNet = net.parse().expect("test prefix");
    host.links.get(name).is_some_and(|l| l.addresses.contains(&net))
}

fn is_up(links: &Links, name: &str) -> bool {
    links.get(name).is_some_and(|s| s.up)
}

fn may_run() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("netlink_watch needs root to create a network namespace, and CI=true");
    }
    println!("SKIPPED netlink_watch: needs root to create a network namespace");
    false
}

#[test]
fn watcher_follows_links_addresses_and_neighbours() {
    if !may_run() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter("ndbgp=debug")
        .with_test_writer()
        .try_init();

    let ns = Netns::create();
    let mut names = vec!["v0".to_string(), "v1".into(), "vr".into(), "absent0".into()];
    for i in 0..BURST_PAIRS {
        names.push(format!("a{i}"));
        names.push(format!("b{i}"));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut w = Watcher::start(&ns, &names);

    // Appears, with the kernel's ifindex and MAC, down.
    ns.ip("link add name v0 type veth peer name v1");
    let (v0_index, v0_mac) = ns.link_info("v0");
    let (v1_index, v1_mac) = ns.link_info("v1");
    let links = w.wait_links("v0 and v1", |l| l.contains_key("v0") && l.contains_key("v1"));
    assert_eq!(links["v0"].ifindex, v0_index);
    assert_eq!(links["v0"].mac, Some(v0_mac));
    assert_eq!(links["v1"].ifindex, v1_index);
    assert_eq!(links["v1"].mac, Some(v1_mac));
    assert!(!links["v0"].up && !links["v1"].up);
    assert!(!links.contains_key("absent0"));

    // A veth end is not up until its peer is: whatever has been published
    // by now must show v0 down.
    ns.ip("link set v0 up");
    assert!(!is_up(&w.links.borrow(), "v0"), "v0 up without its peer");
    ns.ip("link set v1 up");
    let up_at = Instant::now();
    w.wait_links("v0 and v1 up", |l| is_up(l, "v0") && is_up(l, "v1"));

    // The kernel's own link-local: it sends no RTM_NEWADDR while such an
    // address is in DAD (addrconf_dad_begin notifies only optimistic ones),
    // so it first shows up ready.
    let links = w.wait_links("v0 link-local", |l| {
        l.get("v0").is_some_and(|s| !s.link_locals.is_empty())
    });
    let auto_ll = links["v0"].link_locals[0];
    assert!(!auto_ll.tentative);
    assert_eq!(auto_ll.addr.segments()[0], 0xfe80, "{auto_ll:?}");
    println!(
        "DAD: v0 link-local {} usable {:?} after link up",
        auto_ll.addr,
        up_at.elapsed()
    );
    let shown = ns.ip("-6 addr show dev v0 scope link");
    assert!(shown.contains(&auto_ll.addr.to_string()), "{shown}");

    // An added link-local is announced tentative, then again when DAD ends.
    let fe80_1: Ipv6Addr = "fe80::1".parse().expect("address");
    let dad_of = |l: &Links, name: &str| {
        l.get(name)
            .and_then(|s| s.link_locals.iter().find(|ll| ll.addr == fe80_1))
            .map(|ll| ll.tentative)
    };
    let added_at = Instant::now();
    ns.ip("-6 addr add fe80::1/64 dev v1");
    w.wait_links("v1 fe80::1 tentative", |l| dad_of(l, "v1") == Some(true));
    w.wait_links("v1 fe80::1 ready", |l| dad_of(l, "v1") == Some(false));
    println!("DAD: v1 fe80::1 usable {:?} after adding it", added_at.elapsed());

    // The same address on the other end fails DAD (v1 answers for it) and
    // must never be published usable: DADFAILED keeps it tentative.
    ns.ip("-6 addr add fe80::1/64 dev v0");
    w.wait_links("v0 fe80::1 tentative", |l| dad_of(l, "v0") == Some(true));
    let deadline = Instant::now() + DEADLINE;
    while !ns.ip("-6 addr show dev v0").contains("dadfailed") {
        assert!(Instant::now() < deadline, "v0 fe80::1 never failed DAD");
        std::thread::sleep(Duration::from_millis(50));
    }
    let links = w.links.borrow().clone();
    assert_eq!(dad_of(&links, "v0"), Some(true));
    assert_eq!(links["v0"].usable_link_local(), Some(auto_ll.addr));

    // A kernel neighbour becomes an observation.
    ns.ip("-6 neigh add fe80::99 lladdr 02:00:00:00:00:99 dev v0 nud permanent");
    let target: Ipv6Addr = "fe80::99".parse().expect("address");
    let o = w.wait_neighbour("kernel neighbour fe80::99", |o| o.addr == target);
    assert_eq!(o.ifindex, v0_index);
    assert_eq!(o.mac, Some([2, 0, 0, 0, 0, 0x99]));
    assert_eq!(o.source, Source::Kernel);
    assert_eq!(o.router, None);
    assert!(!o.tentative);
    assert_eq!(o.ra_lifetime, None);

    // Addresses on any link, configured or not, IPv4 and IPv6, come and go
    // in the address snapshot, with the link's ifindex, loopback flag and
    // MAC; loopback and link-local addresses are not in it.
    let host = w.wait_addresses("the first address snapshot", |h| h.links.contains_key("lo"));
    assert!(host.links["lo"].loopback, "{host:?}");
    assert!(
        host.links["lo"].addresses.is_empty(),
        "127.0.0.1 and ::1 are not ours: {host:?}"
    );
    assert!(
        host.links["v0"].addresses.is_empty(),
        "link-locals are not addresses: {host:?}"
    );
    assert_eq!(host.links["v0"].mac, Some(v0_mac));
    ns.ip("link add name u0 type veth peer name u1");
    ns.ip("addr add 192.0.2.1/24 dev u0");
    ns.ip("-6 addr add 2001:db8:1::1/64 dev u0 nodad");
    ns.ip("addr add 10.0.0.1/32 dev lo");
    ns.ip("-6 addr add 2001:db8:5::1/64 dev v1");
    let host = w.wait_addresses("addresses on u0, lo and v1", |h| {
        has_address(h, "u0", "192.0.2.1/24")
            && has_address(h, "u0", "2001:db8:1::1/64")
            && has_address(h, "lo", "10.0.0.1/32")
            && has_address(h, "v1", "2001:db8:5::1/64")
    });
    assert_eq!(host.links["u0"].ifindex, ns.link_info("u0").0);
    assert_eq!(host.links["u0"].mac, Some(ns.link_info("u0").1));
    assert!(!host.links["u0"].loopback);
    assert_eq!(host.links["v1"].ifindex, v1_index);
    assert_eq!(
        host.links["v1"].global_ipv6(),
        Some("2001:db8:5::1".parse().expect("address"))
    );
    ns.ip("addr del 192.0.2.1/24 dev u0");
    ns.ip("-6 addr del 2001:db8:5::1/64 dev v1");
    let host = w.wait_addresses("192.0.2.1 and 2001:db8:5::1 removed", |h| {
        !has_address(h, "u0", "192.0.2.1/24") && !has_address(h, "v1", "2001:db8:5::1/64")
    });
    assert!(has_address(&host, "u0", "2001:db8:1::1/64"), "{host:?}");
    assert!(has_address(&host, "lo", "10.0.0.1/32"), "{host:?}");

    // Link down is seen quickly, on both ends; the link-local goes with it.
    let start = Instant::now();
    ns.ip("link set v0 down");
    let command_took = start.elapsed();
    w.wait_links_for("v0 down", Duration::from_secs(2), |l| !is_up(l, "v0"));
    let latency = start.elapsed();
    println!("link down seen {latency:?} after starting `ip link set v0 down` (the command took {command_took:?})");
    assert!(latency < LINK_DOWN_BUDGET, "link down took {latency:?}");
    w.wait_links("v1 down (peer down)", |l| !is_up(l, "v1"));
    w.wait_links("v0 link-local removed", |l| {
        l.get("v0").is_some_and(|s| s.link_locals.is_empty())
    });

    // Renamed: the old name goes, the new one (configured) comes, same link.
    ns.ip("link set v1 down");
    ns.ip("link set v1 name vr");
    let links = w.wait_links("v1 renamed vr", |l| !l.contains_key("v1") && l.contains_key("vr"));
    assert_eq!(links["vr"].ifindex, v1_index);

    // Deleted (both veth ends), then created again: a new ifindex.
    ns.ip("link del v0");
    w.wait_links("v0 and vr deleted", |l| l.is_empty());
    ns.ip("link add name v0 type veth peer name v1");
    let links = w.wait_links("v0 recreated", |l| l.contains_key("v0"));
    assert_ne!(links["v0"].ifindex, v0_index);
    assert_eq!(links["v0"].ifindex, ns.link_info("v0").0);
    // Neighbours are reported on a down link too.
    ns.ip("-6 neigh add fe80::98 lladdr 02:00:00:00:00:98 dev v0 nud permanent");
    let fe80_98: Ipv6Addr = "fe80::98".parse().expect("address");
    let o = w.wait_neighbour("kernel neighbour fe80::98", |o| o.addr == fe80_98);
    assert_eq!(o.ifindex, links["v0"].ifindex);

    // A burst while the watcher is stalled overflows its socket (ENOBUFS;
    // net.core.rmem_max is 4 MiB here): links created and set up, then set
    // down again. The "up" events fit in the socket, the "down" ones are
    // lost: a resync that applied the queued events after its dump would
    // leave links up that are down. The snapshot must match the kernel.
    w.stall(Duration::from_secs(3));
    let mut batch = String::new();
    for i in 0..BURST_PAIRS {
        batch += &format!("link add name a{i} type veth peer name b{i}\nlink set a{i} up\nlink set b{i} up\n");
    }
    for i in 0..BURST_PAIRS {
        batch += &format!("link set a{i} down\n");
    }
    let batch_file = std::env::temp_dir().join(format!("{}.batch", ns.name));
    std::fs::write(&batch_file, batch).expect("batch file");
    let batch_path = batch_file.to_string_lossy().into_owned();
    ns.ip(&format!("-batch {batch_path}"));
    let _ = std::fs::remove_file(&batch_file);
    let burst_down = |l: &Links| {
        (0..BURST_PAIRS).all(|i| {
            [format!("a{i}"), format!("b{i}")]
                .iter()
                .all(|n| l.get(n).is_some_and(|s| !s.up))
        })
    };
    let links = w.wait_links_for("the burst of links, down", 3 * DEADLINE, burst_down);
    let kernel = ns.ip("-o link show");
    for line in kernel.lines() {
        let mut words = line.split(": ");
        let (Some(index), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        if let Some(s) = links.get(name) {
            assert_eq!(index.trim().parse::<u32>().ok(), Some(s.ifindex), "{name}");
        }
    }
    match netlink_drops(&ns) {
        0 => println!("burst: no socket overflow here; the resync path was not exercised"),
        n => println!("burst: the kernel dropped {n} messages for the watcher's socket"),
    }

    // The one-off dumps agree with what the watcher published (v0 and v1
    // have not changed since the burst began; the burst links are down).
    let one_off = w.join().expect("watcher ended with an error");
    for name in ["v0", "v1"] {
        assert_eq!(one_off.links.get(name), links.get(name), "{name}");
    }
    assert!(burst_down(&one_off.links));
    // The addresses survived the resync, and agree with the one-off dump.
    let host = w.addresses.borrow().clone();
    assert_eq!(one_off.addresses, host);
    assert!(has_address(&host, "u0", "2001:db8:1::1/64"), "{host:?}");
    assert!(has_address(&host, "lo", "10.0.0.1/32"), "{host:?}");
    let o = one_off
        .neighbours
        .iter()
        .find(|o| o.addr == fe80_98)
        .expect("fe80::98 in the neighbour dump");
    assert_eq!(o.mac, Some([2, 0, 0, 0, 0, 0x98]));
    assert_eq!(o.source, Source::Kernel);
}

/// Messages the kernel dropped for route sockets subscribed to link events
/// in the namespace (/proc/net/netlink, column Drops): evidence that the
/// burst did overflow the watcher's socket.
fn netlink_drops(ns: &Netns) -> u64 {
    let table = run("ip", &["netns", "exec", &ns.name, "cat", "/proc/net/netlink"]);
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let protocol = cols.get(1)?.parse::<u32>().ok()?;
            let groups = u32::from_str_radix(cols.get(3)?, 16).ok()?;
            let drops = cols.get(8)?.parse::<u64>().ok()?;
            (protocol == 0 && groups & 1 != 0).then_some(drops)
        })
        .sum()
}
