//! Heap cost of the RIB per route, counted by a wrapping global allocator
//! (requested bytes; malloc's own per-allocation overhead comes on top,
//! see the RSS figure). Not a benchmark: run it for the numbers with
//!
//!     cargo test --release --test rib_memory -- --nocapture --test-threads 1
//!
//! Debug builds load 100k prefixes instead of 1M to stay quick (requested
//! bytes per route come out the same). `where_the_bytes_go_...` breaks the
//! daemon's figure (scripts/bench-routes.sh) down per structure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use ipnet::{IpNet, Ipv4Net};
use ndbgp::msg::update::{AsPath, AsSegment, NextHop, Origin, PathAttributes, Update};
use ndbgp::peers::PeerKey;
use ndbgp::prefix_map::PrefixMap;
use ndbgp::rib::{Families, PeerInfo, Rib, RibConfig};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only
// counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> (isize, usize) {
    (LIVE_BYTES.load(Ordering::Relaxed), ALLOCATIONS.load(Ordering::Relaxed))
}

fn rss_kib() -> Option<isize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const ATTRIBUTE_SETS_PER_PEER: u32 = 50;
const PREFIXES_PER_UPDATE: u32 = 500;

/// Peer `n`'s set number `k`: a fabric-like path, a community, a MED.
fn attributes(peer_asn: u32, k: u32) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath {
            segments: vec![AsSegment::Sequence(vec![peer_asn, 65100 + k])],
        },
        next_hop: NextHop {
            link_local: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            ..Default::default()
        },
        med: Some(k),
        communities: vec![(peer_asn << 16) | k],
        ..Default::default()
    }
}

/// Both tests count the global allocator's live bytes: they must not run
/// at the same time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn bytes_per_route_for_a_million_prefixes_from_one_peer() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let bytes = load(&PEERS[..1]);
    // One path per prefix is kept inline: a 5-byte key and a 16-byte
    // entry, in full blocks.
    assert!(bytes < 25.0, "{bytes:.1} bytes per prefix");
}

#[test]
fn bytes_per_route_for_a_million_prefixes_from_two_peers() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let bytes = load(&PEERS);
    // Two paths: behind a pointer, 24 + 2 x 16 bytes more.
    assert!(bytes < 85.0, "{bytes:.1} bytes per prefix");
}

const PEERS: [PeerInfo; 2] = [
    PeerInfo {
        id: PeerKey {
            ifindex: 2,
            addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
        },
        asn: 65010,
        router_id: Ipv4Addr::new(10, 255, 0, 2),
        families: Families::ALL,
    },
    PeerInfo {
        id: PeerKey {
            ifindex: 3,
            addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 3),
        },
        asn: 65020,
        router_id: Ipv4Addr::new(10, 255, 0, 3),
        families: Families::ALL,
    },
];

/// Loads the prefixes from `peers` and prints what they cost; returns the
/// heap bytes per prefix.
fn load(peers: &[PeerInfo]) -> f64 {
    let prefixes: u32 = if cfg!(debug_assertions) { 100_000 } else { 1_000_000 };
    let (bytes_before, allocations_before) = live();
    let rss_before = rss_kib();
    let mut rib = Rib::new(RibConfig::new(65001, Ipv4Addr::new(10, 255, 0, 1)));
    for &info in peers {
        rib.add_peer(info);
        rib.pending_out(&info.id).expect("peer was added");
    }
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    for info in peers {
        for chunk_start in (0..prefixes).step_by(PREFIXES_PER_UPDATE as usize) {
            let k = (chunk_start / PREFIXES_PER_UPDATE) % ATTRIBUTE_SETS_PER_PEER;
            let announced = (chunk_start..(chunk_start + PREFIXES_PER_UPDATE).min(prefixes))
                .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base + i), 32).expect("valid length")))
                .collect();
            let update = Update {
                withdrawn: vec![],
                announced,
                attributes: Some(attributes(info.asn, k)),
            };
            rib.apply(&info.id, &update).expect("peer was added");
        }
    }
    let (bytes_loaded, _) = live();
    let rss_loaded = rss_kib();
    // Take what each peer is to be sent, as sessions would.
    let mut sent = 0;
    for info in peers {
        sent += rib.pending_out(&info.id).expect("peer was added").announced_len();
    }
    let (bytes_after, allocations_after) = live();
    let stats = rib.stats();

    let routes = f64::from(prefixes);
    let paths = stats.paths as f64;
    let steady = (bytes_after - bytes_before) as f64;
    let with_pending = (bytes_loaded - bytes_before) as f64;
    println!(
        "prefixes {}, paths {}, attribute sets {}",
        stats.prefixes, stats.paths, stats.attribute_sets
    );
    println!(
        "heap (requested bytes): {:.1} MB, {:.1} bytes per prefix, {:.1} per path, {} live allocations",
        steady / 1e6,
        steady / routes,
        steady / paths,
        allocations_after - allocations_before
    );
    println!(
        "with Adj-RIB-Out changes not yet taken: {:.1} bytes per prefix ({sent} prefixes sent)",
        with_pending / routes
    );
    if let (Some(before), Some(loaded)) = (rss_before, rss_loaded) {
        println!(
            "RSS growth while loading: {:.1} bytes per prefix",
            (loaded - before) as f64 * 1024.0 / routes
        );
    }

    assert_eq!(stats.prefixes, prefixes as usize);
    assert_eq!(stats.paths, peers.len() * prefixes as usize);
    assert_eq!(stats.attribute_sets, peers.len() * ATTRIBUTE_SETS_PER_PEER as usize);
    // The best paths are the first peer's (lower router ID): split horizon
    // leaves them for the second peer only.
    assert_eq!(sent, (peers.len() - 1) * prefixes as usize);
    steady / routes
}

/// The routes task's and the FIB's structures at a full table of /24s
/// from one peer (as scripts/bench-routes.sh feeds it: one attribute set,
/// about 1000 prefixes per UPDATE), each measured on its own, in requested
/// bytes and in RSS growth (malloc's overhead and rounding included).
#[test]
fn where_the_bytes_go_for_a_million_slash24s_from_one_peer() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let prefixes: u32 = if cfg!(debug_assertions) { 100_000 } else { 1_000_000 };
    let routes = f64::from(prefixes);
    let slash24 = |i: u32| IpNet::V4(Ipv4Net::new(Ipv4Addr::from((11 << 24) + (i << 8)), 24).expect("valid length"));
    let measure = |what: &str, build: &mut dyn FnMut()| -> f64 {
        let (bytes_before, _) = live();
        let rss_before = rss_kib();
        build();
        let bytes = (live().0 - bytes_before) as f64 / routes;
        let rss = match (rss_before, rss_kib()) {
            (Some(before), Some(after)) => format!("{:.1}", (after - before) as f64 * 1024.0 / routes),
            _ => "?".to_string(),
        };
        println!("{what:<58} {bytes:>6.1} requested, {rss:>6} RSS bytes per route");
        bytes
    };

    // The RIB: Adj-RIB-In and Loc-RIB in one table, the peer's (empty:
    // split horizon) out state, the interned attributes.
    let (at_start, _) = live();
    let mut rib = Rib::new(RibConfig::new(65001, Ipv4Addr::new(10, 255, 0, 1)));
    let peer = PEERS[0];
    rib.add_peer(peer);
    rib.pending_out(&peer.id).expect("peer was added");
    let mut largest_changes = 0isize;
    let loc_rib = measure("RIB (table, out state, attributes)", &mut || {
        for chunk_start in (0..prefixes).step_by(1000) {
            let update = Update {
                withdrawn: vec![],
                announced: (chunk_start..(chunk_start + 1000).min(prefixes)).map(slash24).collect(),
                attributes: Some(attributes(peer.asn, 0)),
            };
            let (before, _) = live();
            let changes = rib.apply(&peer.id, &update).expect("peer was added");
            largest_changes = largest_changes.max(live().0 - before);
            assert_eq!(changes.routes.len(), update.announced.len());
        }
    });
    println!(
        "  one UPDATE's changes (1000 routes, freed after the commit): {:.0} kB",
        largest_changes as f64 / 1e3
    );
    assert_eq!(rib.stats().prefixes, prefixes as usize);
    assert_eq!(rib.selected_counts().ipv4, prefixes as usize);

    // The FIB task's record per prefix: wanted and installed next-hop-set
    // ids (src/fib/reconcile.rs FibEntry, 8 bytes), in the same map.
    let mut fib: PrefixMap<(Option<NonZeroU32>, Option<NonZeroU32>)> = PrefixMap::new();
    let one = NonZeroU32::new(1);
    let fib_bytes = measure("FIB record (PrefixMap of two next-hop-set ids)", &mut || {
        for i in 0..prefixes {
            fib.insert(slash24(i), (one, one));
        }
    });
    // Its mailbox while the kernel is busy: a 4-byte set index per prefix,
    // up to the whole table during a full table's burst (transient).
    let mut mailbox: PrefixMap<u32> = PrefixMap::new();
    let mailbox_bytes = measure("FIB mailbox at its fullest (transient)", &mut || {
        for i in 0..prefixes {
            mailbox.insert(slash24(i), 0);
        }
    });
    let drained = mailbox.into_iter().rev().count();
    assert_eq!(drained, prefixes as usize);
    assert_eq!(fib.len(), prefixes as usize);

    // A key (5 bytes) and a value, in blocks that a table loaded in order
    // fills: little more than the bytes themselves.
    assert!(loc_rib < 5.0 + 16.0 + 3.0, "RIB: {loc_rib:.1} bytes per route");
    assert!(
        fib_bytes < 5.0 + 8.0 + 2.0,
        "FIB record: {fib_bytes:.1} bytes per route"
    );
    assert!(
        mailbox_bytes < 5.0 + 4.0 + 2.0,
        "FIB mailbox: {mailbox_bytes:.1} bytes per route"
    );
    // The peer goes down: its table is withdrawn in order, and what the
    // RIB held is given back (the attribute set and the peer table stay).
    drop(fib);
    let started = std::time::Instant::now();
    let changes = rib.remove_peer(&peer.id);
    let took = started.elapsed().as_secs_f64();
    assert_eq!(changes.routes.len(), prefixes as usize);
    drop(changes);
    let left = live().0 - at_start;
    println!("peer down: withdrawn in {took:.3} s; the RIB keeps {left} bytes");
    assert_eq!(rib.stats().prefixes, 0);
    assert!(left < 64 * 1024, "{left} bytes left after the peer went down");
}
