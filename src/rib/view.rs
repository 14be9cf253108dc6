//! The `routes` view a page at a time, and the text forms of path
//! attributes in `ndbgpctl routes` (the view types themselves are in
//! [`crate::api`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

use super::decision::{self, Kind};
use super::table::{Entry, Rejection, Slot};
use super::{Rib, RouteView};
use crate::api::RoutesPage;
use crate::fib::types::NextHops;
use crate::msg::update::{AsPath, AsSegment, Origin, PathAttributes};
use crate::peers::PeerKey;

impl Rib {
    /// The first `limit` routes equal to or inside `within` (all without
    /// it) past `after`, in prefix order: the control socket walks the
    /// table a page at a time, each page resuming after the last prefix
    /// of the one before, so no answer copies the whole table and the
    /// routes task goes on with its work between pages. `rejected`: the
    /// paths import rejected instead of the eligible ones.
    pub fn routes_page(
        &self,
        within: Option<IpNet>,
        after: Option<IpNet>,
        limit: usize,
        rejected: bool,
    ) -> Vec<RouteView> {
        self.table
            .iter_within_after(within, after)
            .filter_map(|(prefix, entry)| self.route_view(prefix, entry, rejected))
            .take(limit)
            .collect()
    }

    /// [`Rib::routes_page`] as the RIB holds it, for the control socket:
    /// no text is made here (the routes task only copies out references
    /// to the page's attribute sets), each peer and attribute set of the
    /// page is there once, and [`RouteRows::into_json`] writes it.
    pub fn route_rows(&self, within: Option<IpNet>, after: Option<IpNet>, limit: usize, rejected: bool) -> RouteRows {
        let mut rows = RouteRows::default();
        for (prefix, entry) in self.table.iter_within_after(within, after) {
            if rows.routes.len() >= limit {
                break;
            }
            self.push_row(&mut rows, prefix, entry, rejected);
        }
        rows
    }

    fn push_row(&self, rows: &mut RouteRows, prefix: IpNet, entry: &Entry, rejected: bool) {
        let start = rows.paths.len();
        let selected = entry.selected().len();
        for (i, path) in entry.paths().iter().enumerate() {
            if path.eligible() == rejected {
                continue;
            }
            let peer = match rows.peer_slots.iter().position(|&s| s == path.slot) {
                Some(at) => at,
                None => {
                    let state = self.peers.get(path.slot);
                    let kind = self.peers.kind(path.slot);
                    rows.peer_slots.push(path.slot);
                    rows.peers.push(PeerRow {
                        id: state.filter(|_| kind != Kind::Local).map(|s| s.info.id),
                        asn: state.map_or(0, |s| s.info.asn),
                        router_id: state.map_or(Ipv4Addr::UNSPECIFIED, |s| s.info.router_id),
                        kind,
                    });
                    rows.peers.len() - 1
                }
            };
            let key = Arc::as_ptr(&path.attrs) as usize;
            let attrs = *rows.attrs_at.entry(key).or_insert_with(|| {
                rows.attrs.push(Arc::clone(&path.attrs));
                rows.attrs.len() - 1
            });
            rows.paths.push(PathRow {
                peer,
                attrs,
                local_pref: decision::local_pref(rows.peers[peer].kind, &path.attrs),
                best: i == 0 && selected > 0,
                multipath: i < selected,
                rejected: path.rejected,
                stale: path.stale,
            });
        }
        if rows.paths.len() > start {
            rows.routes.push((prefix, rows.paths.len()));
        }
    }
}

/// A page of `routes` as the RIB holds it ([`Rib::route_rows`]).
#[derive(Debug, Default)]
pub struct RouteRows {
    /// Each route's prefix and the end of its paths in `paths`.
    routes: Vec<(IpNet, usize)>,
    paths: Vec<PathRow>,
    peers: Vec<PeerRow>,
    peer_slots: Vec<Slot>,
    attrs: Vec<Arc<PathAttributes>>,
    /// Where each attribute set (interned: by address) is in `attrs`.
    attrs_at: HashMap<usize, usize>,
}

#[derive(Debug)]
struct PathRow {
    peer: usize,
    attrs: usize,
    local_pref: u32,
    best: bool,
    multipath: bool,
    rejected: Option<Rejection>,
    stale: bool,
}

#[derive(Debug)]
struct PeerRow {
    /// None for our own (local) paths.
    id: Option<PeerKey>,
    asn: u32,
    router_id: Ipv4Addr,
    kind: Kind,
}

impl RouteRows {
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.routes.iter().map(|(prefix, _)| *prefix)
    }

    /// The page with what the kernel has of each route (`installed`, one
    /// per route) and interface names, ready to write. What routes share
    /// (a peer, an attribute set, a next-hop set) is written as JSON once
    /// here and copied for each; what is left per route is its prefix
    /// and a few numbers.
    pub fn into_json(self, installed: Vec<Option<NextHops>>, names: &HashMap<u32, String>) -> RoutesJson {
        let name = |ifindex: u32| names.get(&ifindex).cloned().unwrap_or_else(|| ifindex.to_string());
        let peers = self.peers.iter().map(|peer| peer_json(peer, &name)).collect();
        let attrs = self.attrs.iter().map(|attrs| attrs_json(attrs)).collect();
        let mut kernel_texts = vec![kernel_json(None, &name)];
        let mut kernel = Vec::with_capacity(self.routes.len());
        let mut last: Option<NextHops> = None;
        for nexthops in installed
            .into_iter()
            .chain(std::iter::repeat(None))
            .take(self.routes.len())
        {
            let at = match nexthops {
                None => 0,
                Some(nexthops) if last.as_ref().is_some_and(|l| **l == *nexthops) => kernel_texts.len() - 1,
                Some(nexthops) => {
                    kernel_texts.push(kernel_json(Some(&nexthops), &name));
                    last = Some(nexthops);
                    kernel_texts.len() - 1
                }
            };
            kernel.push(at);
        }
        RoutesJson {
            rows: self,
            peers,
            attrs,
            kernel,
            kernel_json: kernel_texts,
        }
    }
}

/// A page of `routes` with the JSON of what its routes share
/// ([`RouteRows::into_json`]).
#[derive(Debug)]
pub struct RoutesJson {
    rows: RouteRows,
    /// Per peer: `"peer":...,"router_id":"...",`.
    peers: Vec<Vec<u8>>,
    /// Per attribute set: from `"next_hop_ipv4"` to `"origin"`, and from
    /// `"med"` to `"large_communities"`, each with its trailing comma.
    attrs: Vec<[Vec<u8>; 2]>,
    /// Per route, which of `kernel_json`.
    kernel: Vec<usize>,
    /// `,"installed":...,"kernel_next_hops":[...]}`; the first: none.
    kernel_json: Vec<Vec<u8>>,
}

impl RoutesPage for RoutesJson {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn prefix(&self, i: usize) -> IpNet {
        self.rows.routes[i].0
    }

    fn write_json(&self, i: usize, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let (prefix, end) = self.rows.routes[i];
        let start = i.checked_sub(1).map_or(0, |before| self.rows.routes[before].1);
        out.extend_from_slice(br#"{"prefix":""#);
        write_prefix(prefix, out);
        out.extend_from_slice(br#"","paths":["#);
        for (n, path) in self.rows.paths[start..end].iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let [head, tail] = &self.attrs[path.attrs];
            out.push(b'{');
            out.extend_from_slice(&self.peers[path.peer]);
            out.extend_from_slice(head);
            out.extend_from_slice(br#""local_pref":"#);
            write_u32(path.local_pref, out);
            out.push(b',');
            out.extend_from_slice(tail);
            out.extend_from_slice(match (path.best, path.multipath) {
                (true, true) => br#""best":true,"multipath":true"#,
                (true, false) => br#""best":true,"multipath":false"#,
                (false, true) => br#""best":false,"multipath":true"#,
                (false, false) => br#""best":false,"multipath":false"#,
            });
            if let Some(rejected) = path.rejected {
                out.extend_from_slice(br#","rejected":"#);
                serde_json::to_writer(&mut *out, rejected.reason())?;
            }
            if path.stale {
                out.extend_from_slice(br#","stale":true"#);
            }
            out.push(b'}');
        }
        out.push(b']');
        out.extend_from_slice(&self.kernel_json[self.kernel[i]]);
        Ok(())
    }
}

/// `"key":value,` as serde_json writes the field.
fn field(out: &mut Vec<u8>, key: &str, value: &impl Serialize) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    // Plain values into a Vec: serializing them cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
    out.push(b',');
}

fn peer_json(peer: &PeerRow, name: &impl Fn(u32) -> String) -> Vec<u8> {
    let mut out = Vec::new();
    let text = peer.id.map_or_else(|| "local".to_string(), |id| id.to_string());
    field(&mut out, "peer", &text);
    field(&mut out, "ifindex", &peer.id.map(|id| id.ifindex));
    if let Some(id) = peer.id {
        field(&mut out, "interface", &name(id.ifindex));
    }
    field(&mut out, "peer_address", &peer.id.map(|id| id.addr));
    field(&mut out, "peer_asn", &peer.asn);
    field(&mut out, "router_id", &peer.router_id);
    out
}

fn attrs_json(attrs: &PathAttributes) -> [Vec<u8>; 2] {
    let mut head = Vec::new();
    field(&mut head, "next_hop_ipv4", &attrs.next_hop.ipv4);
    field(&mut head, "next_hop_global", &attrs.next_hop.global);
    field(&mut head, "next_hop_link_local", &attrs.next_hop.link_local);
    field(&mut head, "as_path", &as_path_text(&attrs.as_path));
    field(&mut head, "origin", &origin_text(attrs.origin));
    let mut tail = Vec::new();
    field(&mut tail, "med", &attrs.med);
    let communities: Vec<String> = attrs.communities.iter().map(|c| community_text(*c)).collect();
    field(&mut tail, "communities", &communities);
    let large: Vec<String> = attrs.large_communities.iter().map(large_community_text).collect();
    field(&mut tail, "large_communities", &large);
    [head, tail]
}

fn kernel_json(nexthops: Option<&NextHops>, name: &impl Fn(u32) -> String) -> Vec<u8> {
    let texts: Vec<String> = nexthops
        .iter()
        .flat_map(|nhs| nhs.iter())
        .map(|nh| format!("{}%{}", nh.via, name(nh.ifindex)))
        .collect();
    let mut out = b",".to_vec();
    field(&mut out, "installed", &nexthops.is_some());
    field(&mut out, "kernel_next_hops", &texts);
    // The last field closes the route instead.
    out.pop();
    out.push(b'}');
    out
}

/// A prefix as its Display writes it (ASCII, nothing to escape).
fn write_prefix(prefix: IpNet, out: &mut Vec<u8>) {
    match prefix {
        IpNet::V4(net) => {
            for (i, octet) in net.addr().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                write_u32(u32::from(octet), out);
            }
        }
        IpNet::V6(net) => write_ipv6(net.addr(), out),
    }
    out.push(b'/');
    write_u32(u32::from(prefix.prefix_len()), out);
}

fn write_ipv6(addr: Ipv6Addr, out: &mut Vec<u8>) {
    use std::io::Write;
    // Rare next to IPv4 in a full table; Display's zero compression.
    let _ = write!(out, "{addr}");
}

fn write_u32(mut n: u32, out: &mut Vec<u8>) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

pub(super) fn as_path_text(path: &AsPath) -> String {
    let mut text = String::new();
    for segment in &path.segments {
        let (open, sep, close, asns) = match segment {
            AsSegment::Sequence(v) => ("", " ", "", v),
            AsSegment::Set(v) => ("{", ",", "}", v),
            AsSegment::ConfedSequence(v) => ("(", " ", ")", v),
            AsSegment::ConfedSet(v) => ("[", ",", "]", v),
        };
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(open);
        let list: Vec<String> = asns.iter().map(u32::to_string).collect();
        text.push_str(&list.join(sep));
        text.push_str(close);
    }
    text
}

pub(super) fn origin_text(origin: Option<Origin>) -> String {
    match origin {
        Some(Origin::Igp) => "igp",
        Some(Origin::Egp) => "egp",
        Some(Origin::Incomplete) => "incomplete",
        None => "none",
    }
    .to_string()
}

pub(super) fn community_text(community: u32) -> String {
    format!("{}:{}", community >> 16, community & 0xffff)
}

pub(super) fn large_community_text(community: &[u32; 3]) -> String {
    format!("{}:{}:{}", community[0], community[1], community[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RouteEntry;
    use crate::fib::types::FibNextHop;
    use crate::msg::update::{NextHop, Update};
    use crate::policy::{PrefixFilter, RoutePolicy};
    use crate::rib::{Families, PeerInfo, RibConfig};

    fn peer(n: u8, asn: u32) -> PeerInfo {
        PeerInfo {
            id: PeerKey {
                ifindex: u32::from(n),
                addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(n)),
            },
            asn,
            router_id: Ipv4Addr::new(10, 0, 0, n),
            families: Families::ALL,
        }
    }

    fn attrs(path: Vec<AsSegment>, med: Option<u32>, communities: Vec<u32>) -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: AsPath { segments: path },
            next_hop: NextHop {
                ipv4: Some(Ipv4Addr::new(192, 0, 2, 1)),
                link_local: Some("fe80::99".parse().unwrap()),
                ..Default::default()
            },
            med,
            communities,
            large_communities: vec![[65001, 1, 2]],
            ..Default::default()
        }
    }

    /// A table with what the JSON can hold: multipath, a local path, a
    /// rejected path, stale paths, IPv6, confederations, communities.
    fn table() -> Rib {
        let mut rib = Rib::new(RibConfig::new(65001, Ipv4Addr::new(10, 0, 0, 100)));
        for info in [peer(1, 65002), peer(2, 65003), peer(3, 65004)] {
            rib.add_peer(info);
        }
        let deny = PrefixFilter::new(vec!["deny 10.9.0.0/16".parse().unwrap()]);
        let policy = RoutePolicy {
            import: deny,
            ..RoutePolicy::default()
        };
        rib.set_policy(&peer(3, 65004).id, policy).unwrap();
        let announce = |rib: &mut Rib, n: u8, asn: u32, prefixes: &[&str], attrs: PathAttributes| {
            let update = Update {
                withdrawn: vec![],
                announced: prefixes.iter().map(|p| p.parse().unwrap()).collect(),
                attributes: Some(attrs),
            };
            rib.apply(&peer(n, asn).id, &update).unwrap();
        };
        let plain = |asn| attrs(vec![AsSegment::Sequence(vec![asn, 65100])], None, vec![]);
        announce(
            &mut rib,
            1,
            65002,
            &["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/48"],
            plain(65002),
        );
        announce(&mut rib, 2, 65003, &["10.1.0.0/16", "10.2.0.0/24"], plain(65003));
        let odd = attrs(
            vec![
                AsSegment::ConfedSequence(vec![64512]),
                AsSegment::Sequence(vec![65004]),
                AsSegment::Set(vec![1, 2]),
            ],
            Some(7),
            vec![0xFDE9_0064, 1],
        );
        announce(&mut rib, 3, 65004, &["10.2.0.0/24", "10.9.1.0/24", "0.0.0.0/0"], odd);
        rib.originate("192.0.2.0/24".parse().unwrap(), plain(65001));
        // Peer 2 restarting: its paths are stale.
        rib.retain_stale(&peer(2, 65003).id);
        rib
    }

    /// The route as `ndbgpctl` reads it: the typed view, with what the
    /// kernel has and interface names as the routes handle fills them in.
    fn entry(route: RouteView, kernel: Option<&NextHops>, names: &HashMap<u32, String>) -> RouteEntry {
        let name = |ifindex: u32| names.get(&ifindex).cloned().unwrap_or_else(|| ifindex.to_string());
        let mut route = route;
        for path in &mut route.paths {
            path.interface = path.ifindex.map(name);
        }
        RouteEntry {
            route,
            installed: kernel.is_some(),
            kernel_next_hops: kernel
                .iter()
                .flat_map(|nhs| nhs.iter())
                .map(|nh| format!("{}%{}", nh.via, name(nh.ifindex)))
                .collect(),
        }
    }

    /// The JSON written from the RIB's data is, byte for byte, what
    /// serde_json writes for the typed view, page by page.
    #[test]
    fn route_rows_write_the_json_of_the_typed_view() {
        let rib = table();
        let names = HashMap::from([(1, "eth0".to_string()), (2, "we\"ird\u{1}".to_string())]);
        let one: NextHops = Arc::from(vec![FibNextHop {
            ifindex: 1,
            via: "fe80::1".parse().unwrap(),
        }]);
        let two: NextHops = Arc::from(vec![
            FibNextHop {
                ifindex: 1,
                via: "fe80::1".parse().unwrap(),
            },
            FibNextHop {
                ifindex: 9,
                via: "fe80::9".parse().unwrap(),
            },
        ]);
        let kernel = |i: usize| match i % 4 {
            0 => None,
            1 | 2 => Some(Arc::clone(&one)),
            _ => Some(Arc::clone(&two)),
        };
        for rejected in [false, true] {
            let views = match rejected {
                false => rib.routes_within(None),
                true => rib.rejected_within(None),
            };
            assert!(!views.is_empty());
            for limit in [1, 2, 100] {
                let mut after = None;
                let mut seen = 0;
                loop {
                    let rows = rib.route_rows(None, after, limit, rejected);
                    let installed: Vec<_> = (seen..seen + rows.len()).map(kernel).collect();
                    let page = rows.into_json(installed, &names);
                    for i in 0..page.len() {
                        let mut json = Vec::new();
                        page.write_json(i, &mut json).unwrap();
                        let view = entry(views[seen + i].clone(), kernel(seen + i).as_ref(), &names);
                        assert_eq!(page.prefix(i), view.route.prefix);
                        assert_eq!(String::from_utf8(json).unwrap(), serde_json::to_string(&view).unwrap());
                    }
                    seen += page.len();
                    after = page.len().checked_sub(1).map(|last| page.prefix(last));
                    if page.len() < limit {
                        break;
                    }
                }
                assert_eq!(seen, views.len(), "rejected {rejected}, pages of {limit}");
            }
        }
    }

    #[test]
    fn as_path_formats_every_segment_kind() {
        let path = AsPath {
            segments: vec![
                AsSegment::ConfedSequence(vec![64512, 64513]),
                AsSegment::Sequence(vec![65001, 65002]),
                AsSegment::Set(vec![65003, 65004]),
                AsSegment::ConfedSet(vec![64514]),
            ],
        };
        assert_eq!(as_path_text(&path), "(64512 64513) 65001 65002 {65003,65004} [64514]");
        assert_eq!(as_path_text(&AsPath::default()), "");
    }

    #[test]
    fn communities_format_as_pairs() {
        assert_eq!(community_text(0xFDE9_0064), "65001:100");
        assert_eq!(large_community_text(&[65001, 1, 2]), "65001:1:2");
        assert_eq!(origin_text(Some(Origin::Egp)), "egp");
    }
}
