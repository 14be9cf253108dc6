//! What `ndbgpctl routes` costs in CPU, without a daemon: a RIB of N /24s
//! from one peer (as scripts/bench-ctl-routes.sh feeds), its `routes`
//! answer rendered a page at a time as the control socket does, then read
//! as `ndbgpctl routes --json` and `ndbgpctl routes` read it. Repeatable
//! under `valgrind --tool=callgrind` whatever the machine's load:
//!
//!     cargo run --release --example ctl_routes_cost -- [PREFIXES]

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use ipnet::{IpNet, Ipv4Net};
use ndbgp::api::{RouteEntry, RoutesPage};
use ndbgp::control::client::{Elements, Pretty, ResultSink};
use ndbgp::msg::update::{AsPath, AsSegment, NextHop, Origin, PathAttributes, Update};
use ndbgp::peers::PeerKey;
use ndbgp::rib::{Families, FibNextHop, PeerInfo, Rib, RibConfig};

const PAGE: usize = 1024;

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    // `typed`: as the daemon did before, a RouteEntry per route through serde.
    let typed = std::env::args().nth(2).as_deref() == Some("typed");
    let peer = PeerInfo {
        id: PeerKey {
            ifindex: 2,
            addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 4),
        },
        asn: 65004,
        router_id: Ipv4Addr::new(10, 0, 0, 4),
        families: Families::ALL,
    };
    let mut rib = Rib::new(RibConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1)));
    rib.add_peer(peer);
    let attributes = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath {
            segments: vec![AsSegment::Sequence(vec![65004])],
        },
        next_hop: NextHop {
            link_local: Some(peer.id.addr),
            ..Default::default()
        },
        ..Default::default()
    };
    let base = u32::from(Ipv4Addr::new(11, 0, 0, 0));
    for start in (0..n).step_by(1000) {
        let announced = (start..(start + 1000).min(n))
            .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base + (i << 8)), 24).expect("valid length")))
            .collect();
        let update = Update {
            withdrawn: vec![],
            announced,
            attributes: Some(attributes.clone()),
        };
        rib.apply(&peer.id, &update).expect("peer was added");
    }
    let _ = rib.pending_out(&peer.id);
    let installed: Arc<[FibNextHop]> = Arc::from(vec![FibNextHop {
        ifindex: 2,
        via: peer.id.addr,
    }]);
    let names = HashMap::from([(2u32, "eth0".to_string())]);

    // The daemon's side: pages rendered into 64 KiB chunks; each chunk is
    // handed to the two readers (what ndbgpctl spends).
    let mut pretty = Pretty::new(io::sink());
    let mut rows = 0usize;
    let mut elements = Elements::new(|e: &[u8]| {
        let _route: RouteEntry = serde_json::from_slice(e).map_err(io::Error::other)?;
        rows += 1;
        Ok(())
    });
    let (mut render, mut json, mut table) = (0.0, 0.0, 0.0);
    let mut bytes = 0usize;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut hand = |buf: &mut Vec<u8>, json: &mut f64, table: &mut f64| {
        bytes += buf.len();
        let t = Instant::now();
        pretty.take(buf).expect("pretty");
        *json += t.elapsed().as_secs_f64();
        let t = Instant::now();
        elements.take(buf).expect("elements");
        *table += t.elapsed().as_secs_f64();
        buf.clear();
    };
    buf.push(b'[');
    let mut after = None;
    let mut first = true;
    loop {
        let mut t = Instant::now();
        let page: Box<dyn RoutesPage> = match typed {
            true => Box::new(page(&rib, after, &installed, &names)),
            false => {
                let rows = rib.route_rows(None, after, PAGE, false);
                let kernel = vec![Some(Arc::clone(&installed)); rows.len()];
                Box::new(rows.into_json(kernel, &names))
            }
        };
        let last = page.len() < PAGE;
        after = page.len().checked_sub(1).map(|i| page.prefix(i));
        for i in 0..page.len() {
            if !first {
                buf.push(b',');
            }
            first = false;
            page.write_json(i, &mut buf).expect("serialize");
            if buf.len() >= 64 * 1024 {
                render += t.elapsed().as_secs_f64();
                hand(&mut buf, &mut json, &mut table);
                t = Instant::now();
            }
        }
        render += t.elapsed().as_secs_f64();
        if last {
            break;
        }
    }
    buf.push(b']');
    hand(&mut buf, &mut json, &mut table);
    drop(elements);
    assert_eq!(rows, n as usize);
    println!(
        "{n} routes, {} MB of JSON: daemon renders {render:.3} s; --json prints {json:.3} s; table parses {table:.3} s",
        bytes / 1_000_000
    );
}

/// What `RoutesHandle::routes_page` hands the control socket.
fn page(
    rib: &Rib,
    after: Option<IpNet>,
    installed: &Arc<[FibNextHop]>,
    names: &HashMap<u32, String>,
) -> Vec<RouteEntry> {
    let name = |ifindex: u32| names.get(&ifindex).cloned().unwrap_or_else(|| ifindex.to_string());
    rib.routes_page(None, after, PAGE, false)
        .into_iter()
        .map(|mut route| {
            for path in &mut route.paths {
                path.interface = path.ifindex.map(name);
            }
            let kernel_next_hops = installed
                .iter()
                .map(|nh| format!("{}%{}", nh.via, name(nh.ifindex)))
                .collect();
            RouteEntry {
                route,
                installed: true,
                kernel_next_hops,
            }
        })
        .collect()
}
