//! Hostile input from the far end of a fabric port (issue 11's defects):
//! routes through our own addresses, a spoofed RA naming our own
//! link-local, another daemon's routes in the kernel, a malformed
//! NOTIFICATION. The far end is a raw speaker: a TCP connection made from
//! its namespace by this test, writing hand-built BGP bytes, and scapy for
//! ND. Need root; in CI they never skip.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use nix::sched::{CloneFlags, setns};
use serde_json::Value;

const OUR_ASN: u32 = 65001;
const THEIR_ASN: u32 = 65002;
/// ndbgpd's routes in `ip route`: RTPROT_NDBGP.
const OURS: &str = "201";

/// A namespace pair joined by eth0, both ends up and out of DAD: (ndbgpd's
/// side, the raw speaker's side, our link-local, theirs).
fn link() -> (Netns, Netns, Ipv6Addr, Ipv6Addr) {
    let a = Netns::new("hosa");
    let b = Netns::new("hosb");
    veth(&a, "eth0", &b, "eth0");
    a.set_link("eth0", true);
    b.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&a, &b, "eth0");
    (a, b, la, lb)
}

fn start(ns: &Netns, dir: &TempDir) -> Ndbgpd {
    let asn = OUR_ASN.to_string();
    Ndbgpd::start(
        ns,
        dir,
        "a",
        &["--iface", "eth0", "--asn", &asn, "--router-id", "10.0.0.1"],
    )
}

/// A raw BGP speaker: one TCP connection to ndbgpd, made from `from`.
struct Speaker {
    stream: TcpStream,
}

impl Speaker {
    /// Connect to `to`:179 on `from`'s eth0, once ndbgpd listens.
    fn connect(from: &Netns, to: Ipv6Addr) -> Speaker {
        let path = format!("/run/netns/{}", from.name);
        let scope = from.ifindex("eth0");
        let stream = wait_for("ndbgpd to accept a connection", Duration::from_secs(10), || {
            let path = path.clone();
            // A socket belongs to the namespace of the thread that opens it.
            std::thread::spawn(move || {
                setns(File::open(&path).expect("namespace file"), CloneFlags::CLONE_NEWNET).expect("setns");
                let to = SocketAddr::V6(SocketAddrV6::new(to, 179, 0, scope));
                TcpStream::connect_timeout(&to, Duration::from_secs(1)).ok()
            })
            .join()
            .expect("connect thread")
        });
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        Speaker { stream }
    }

    fn send(&mut self, msg_type: u8, body: &[u8]) {
        self.stream.write_all(&message(msg_type, body)).expect("send");
    }

    /// The next message as (type, body); None once ndbgpd closed.
    fn recv(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut header = [0u8; 19];
        match self.stream.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => return None,
            Err(e) => panic!("reading a message: {e}"),
        }
        assert_eq!(header[..16], [0xff; 16], "marker");
        let length = usize::from(u16::from_be_bytes([header[16], header[17]]));
        let mut body = vec![0; length - 19];
        self.stream.read_exact(&mut body).expect("message body");
        Some((header[18], body))
    }

    fn expect(&mut self, msg_type: u8) -> Vec<u8> {
        match self.recv() {
            Some((t, body)) if t == msg_type => body,
            other => panic!("expected message type {msg_type}, got {other:?}"),
        }
    }

    /// OPEN (hold time 0: no KEEPALIVEs to keep up), theirs read, then
    /// KEEPALIVE: Established.
    fn establish(&mut self) {
        self.send(OPEN, &open_body());
        self.expect(OPEN);
        self.expect(KEEPALIVE);
        self.send(KEEPALIVE, &[]);
    }
}

const OPEN: u8 = 1;
const UPDATE: u8 = 2;
const NOTIFICATION: u8 = 3;
const KEEPALIVE: u8 = 4;

fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&u16::try_from(19 + body.len()).expect("length").to_be_bytes());
    out.push(msg_type);
    out.extend_from_slice(body);
    out
}

/// AS 65002, hold time 0, ID 10.0.0.2; IPv4 and IPv6 unicast, IPv4 with
/// an IPv6 next hop (RFC 8950), 4-octet AS.
fn open_body() -> Vec<u8> {
    let caps: Vec<u8> = [
        &[1, 4, 0, 1, 0, 1][..],
        &[1, 4, 0, 2, 0, 1],
        &[5, 6, 0, 1, 0, 1, 0, 2],
        &[65, 4],
        &THEIR_ASN.to_be_bytes(),
    ]
    .concat();
    let mut body = vec![4];
    body.extend_from_slice(&23456u16.to_be_bytes());
    body.extend_from_slice(&[0, 0, 10, 0, 0, 2]);
    body.push(u8::try_from(caps.len() + 2).expect("params"));
    body.extend_from_slice(&[2, u8::try_from(caps.len()).expect("caps")]);
    body.extend_from_slice(&caps);
    body
}

/// An attribute with flags and type.
fn attribute(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    [
        &[flags, code, u8::try_from(value.len()).expect("short attribute")][..],
        value,
    ]
    .concat()
}

/// ORIGIN IGP, AS_PATH [65002] (4-octet).
fn origin_and_path() -> Vec<u8> {
    let path = [&[2, 1][..], &THEIR_ASN.to_be_bytes()].concat();
    [attribute(0x40, 1, &[0]), attribute(0x40, 2, &path)].concat()
}

fn nlri(prefix: &str) -> Vec<u8> {
    let net: ipnet::IpNet = prefix.parse().expect("prefix");
    let octets: Vec<u8> = match net.network() {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    let len = usize::from(net.prefix_len()).div_ceil(8);
    [&[net.prefix_len()][..], &octets[..len]].concat()
}

fn update_body(attributes: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attributes.len()).expect("attributes").to_be_bytes());
    body.extend_from_slice(attributes);
    body.extend_from_slice(nlri);
    body
}

/// An IPv4 UPDATE with a NEXT_HOP attribute.
fn ipv4_update(prefix: &str, next_hop: [u8; 4]) -> Vec<u8> {
    let attributes = [origin_and_path(), attribute(0x40, 3, &next_hop)].concat();
    update_body(&attributes, &nlri(prefix))
}

/// An MP_REACH_NLRI UPDATE (AFI 1 with an IPv6 next hop, or AFI 2) with a
/// 32-octet next hop.
fn mp_update(prefix: &str, global: Ipv6Addr, link_local: Ipv6Addr) -> Vec<u8> {
    let afi: u16 = if prefix.contains(':') { 2 } else { 1 };
    let mut reach = afi.to_be_bytes().to_vec();
    reach.extend_from_slice(&[1, 32]);
    reach.extend_from_slice(&global.octets());
    reach.extend_from_slice(&link_local.octets());
    reach.push(0);
    reach.extend_from_slice(&nlri(prefix));
    let attributes = [origin_and_path(), attribute(0x80, 14, &reach)].concat();
    update_body(&attributes, &[])
}

/// Routes of protocol `proto` in `ns`, both families: prefix -> (metric,
/// gateway).
fn kernel(ns: &Netns, proto: &str) -> BTreeMap<String, (u64, String)> {
    let mut out = BTreeMap::new();
    for family in ["-4", "-6"] {
        let json = ns.ip(&["-j", family, "route", "show", "proto", proto]);
        let routes: Value = serde_json::from_str(&json).expect("ip -j route");
        for r in routes.as_array().expect("array") {
            let gateway = r["via"]["host"].as_str().or(r["gateway"].as_str()).unwrap_or("");
            out.insert(
                r["dst"].as_str().expect("dst").to_string(),
                (r["metric"].as_u64().unwrap_or(0), gateway.to_string()),
            );
        }
    }
    out
}

/// Whether ndbgpd's RIB has `prefix` itself (not only more specifics).
fn in_rib(d: &Ndbgpd, prefix: &str) -> bool {
    let prefix: ipnet::IpNet = prefix.parse().expect("prefix");
    d.routes(Some(&prefix.to_string()))
        .iter()
        .any(|r| r.route.prefix == prefix)
}

/// Why `prefix`'s paths are rejected, per `ndbgpctl routes --filtered`.
fn rejected_for(d: &Ndbgpd, prefix: &str) -> Vec<String> {
    let prefix: ipnet::IpNet = prefix.parse().expect("prefix");
    let routes: Vec<ndbgp::api::RouteEntry> = d.ctl(&["routes", "--filtered"]);
    routes
        .into_iter()
        .filter(|r| r.route.prefix == prefix)
        .flat_map(|r| r.route.paths.into_iter().filter_map(|p| p.rejected))
        .collect()
}

fn dump(d: &Ndbgpd, ns: &Netns) -> String {
    format!(
        "--- kernel: ours {:?}, bgp {:?}\n--- ndbgpd log:\n{}",
        kernel(ns, OURS),
        kernel(ns, "bgp"),
        tail(&d.process.log_text(), 60)
    )
}

/// Defect 1: a route whose next hop is one of our addresses (RFC 4271
/// 5.1.3) is not installed, only kept rejected ("next hop ours"): NEXT_HOP
/// our loopback, MP_REACH next hop our eth0 link-local (IPv4 and IPv6
/// NLRI); a route through an address that becomes ours later leaves the
/// kernel then, and comes back when the address is gone again.
#[test]
fn routes_through_our_own_addresses_are_not_installed() {
    if !lab_enabled("routes_through_our_own_addresses") {
        return;
    }
    let (a, b, la, lb) = link();
    a.ip(&["addr", "add", "10.0.0.1/32", "dev", "lo"]);
    let dir = TempDir::new("hostile-nh");
    let d = start(&a, &dir);
    let mut speaker = Speaker::connect(&b, la);
    speaker.establish();

    let global: Ipv6Addr = "2001:db8::2".parse().expect("address");
    for body in [
        ipv4_update("10.1.0.0/16", [10, 0, 0, 1]),
        mp_update("10.0.0.0/8", la, la),
        mp_update("2001:db8:99::/48", global, la),
        // Not ours yet.
        ipv4_update("10.3.0.0/16", [192, 0, 2, 99]),
        // Through the speaker: the control, sent last.
        mp_update("10.2.0.0/16", lb, lb),
    ] {
        speaker.send(UPDATE, &body);
    }
    let lb_text = lb.to_string();
    let installed = |prefix: &str| kernel(&a, OURS).get(prefix).is_some_and(|(_, gw)| *gw == lb_text);
    wait_or_dump(
        "the control route installed",
        Duration::from_secs(10),
        &|| dump(&d, &a),
        || (installed("10.2.0.0/16") && installed("10.3.0.0/16")).then_some(()),
    );
    // UPDATEs are taken in order: the ones before the control are done.
    let ours = kernel(&a, OURS);
    for prefix in ["10.1.0.0/16", "10.0.0.0/8", "2001:db8:99::/48"] {
        assert!(!ours.contains_key(prefix), "{prefix} installed: {ours:?}");
        assert!(!in_rib(&d, prefix), "{prefix} selected in the RIB");
        assert_eq!(rejected_for(&d, prefix), ["next hop ours"], "{prefix}");
    }
    assert!(
        d.process.log_text().contains("with our own address as next hop"),
        "{}",
        dump(&d, &a)
    );

    // 192.0.2.99 becomes ours: the route through it goes.
    a.ip(&["addr", "add", "192.0.2.99/32", "dev", "lo"]);
    wait_or_dump(
        "10.3.0.0/16 withdrawn",
        Duration::from_secs(10),
        &|| dump(&d, &a),
        || (!installed("10.3.0.0/16") && !in_rib(&d, "10.3.0.0/16")).then_some(()),
    );
    assert!(installed("10.2.0.0/16"), "{}", dump(&d, &a));
    let session = d.neighbors();
    assert_eq!(session.len(), 1, "{session:?}");
    assert_eq!(session[0].state, ndbgp::api::SessionState::Established, "{session:?}");
    // Three announcements through our addresses, one through an address
    // that became ours: counted on the session.
    assert_eq!(session[0].next_hop_ours, 4, "{session:?}");
    assert_eq!(rejected_for(&d, "10.3.0.0/16"), ["next hop ours"]);

    // The addresses go away (a moving VIP): the routes through them come
    // back without the speaker sending them again.
    a.ip(&["addr", "del", "192.0.2.99/32", "dev", "lo"]);
    a.ip(&["addr", "del", "10.0.0.1/32", "dev", "lo"]);
    wait_or_dump(
        "10.3.0.0/16 and 10.1.0.0/16 installed again",
        Duration::from_secs(10),
        &|| dump(&d, &a),
        || (installed("10.3.0.0/16") && installed("10.1.0.0/16")).then_some(()),
    );
    assert!(rejected_for(&d, "10.1.0.0/16").is_empty());
    assert_eq!(d.neighbors()[0].next_hop_ours, 4, "cumulative");
}

/// Defect 2: a spoofed RA with our own link-local as its source (hop limit
/// 255, a source link-layer option) puts our address in the kernel's
/// neighbour table; it must never become a neighbour, so never be dialled.
#[test]
fn a_spoofed_ra_from_our_own_link_local_never_makes_us_our_own_neighbour() {
    if !lab_enabled("spoofed_ra_own_link_local") || !have_tool("spoofed_ra_own_link_local", "/usr/bin/python3") {
        return;
    }
    let (a, b, la, _) = link();
    let dir = TempDir::new("hostile-ra");
    let d = start(&a, &dir);
    let script = format!(
        r#"
from scapy.all import Ether, IPv6, ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, get_if_hwaddr, sendp
mac = get_if_hwaddr('eth0')
for _ in range(3):
    sendp(Ether(src=mac, dst='33:33:00:00:00:01')/IPv6(src='{la}', dst='ff02::1', hlim=255)
          /ICMPv6ND_RA(routerlifetime=1800)/ICMPv6NDOptSrcLLAddr(lladdr=mac), iface='eth0', verbose=0)
"#
    );
    run(b.command("/usr/bin/python3").args(["-c", &script]));

    // The kernel learned "us" from the RA, and the peer table refused it.
    let ignored = wait_or_dump(
        "our own address refused by the peer table",
        Duration::from_secs(10),
        &|| {
            format!(
                "--- kernel neighbours: {}\n{}",
                a.ip(&["-6", "neigh", "show", "dev", "eth0"]),
                dump(&d, &a)
            )
        },
        || {
            let counters = d.interfaces().first()?.neighbors.counters;
            (counters.ignored_own > 0).then_some(counters.ignored_own)
        },
    );
    assert!(ignored >= 1);
    // For a while (the kernel entry stays, RA refreshes come): never a
    // neighbour, never a session, never a dial.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert!(d.find_neighbour("eth0", la).is_none(), "{:?}", d.discovery());
        let sessions = d.neighbors();
        assert!(sessions.iter().all(|s| s.address != la), "{sessions:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.process.log_text();
    assert!(!log.contains(&format!("starting BGP session with {la}")), "{log}");
    assert!(log.contains("it is our own address"), "{log}");
}

/// Defect 4: other daemons' routes (FRR's zebra installs proto bgp at
/// metric 20) are never removed or replaced, at start, while running or at
/// stop; one at our own metric is left in place of ours.
#[test]
fn other_daemons_routes_are_left_alone() {
    if !lab_enabled("other_daemons_routes") {
        return;
    }
    let (a, b, la, lb) = link();
    let lb_text = lb.to_string();
    let via = |prefix: &str, gw: &str, metric: &str| {
        let family = if prefix.contains(':') { "-6" } else { "-4" };
        let mut args = vec![family, "route", "add", prefix, "via"];
        if !prefix.contains(':') {
            args.push("inet6");
        }
        args.extend([gw, "dev", "eth0", "proto", "bgp", "metric", metric]);
        a.ip(&args);
    };
    // As zebra: the prefix ndbgpd installs too, one it does not, IPv6.
    via("10.21.0.0/16", "fe80::99", "20");
    via("10.29.0.0/16", "fe80::99", "20");
    via("2001:db8:21::/48", "fe80::99", "20");
    // Another daemon at ndbgpd's metric: the kernel would replace it.
    let metric = ndbgp::fib::DEFAULT_METRIC.to_string();
    via("10.22.0.0/16", "fe80::99", &metric);
    let before = kernel(&a, "bgp");
    assert_eq!(before.len(), 4, "{before:?}");

    let dir = TempDir::new("hostile-fib");
    let mut d = start(&a, &dir);
    let mut speaker = Speaker::connect(&b, la);
    speaker.establish();
    for prefix in ["10.22.0.0/16", "10.21.0.0/16", "2001:db8:21::/48", "10.23.0.0/16"] {
        speaker.send(UPDATE, &mp_update(prefix, lb, lb));
    }
    let want: BTreeMap<String, (u64, String)> = ["10.21.0.0/16", "2001:db8:21::/48", "10.23.0.0/16"]
        .iter()
        .map(|p| (p.to_string(), (u64::from(ndbgp::fib::DEFAULT_METRIC), lb_text.clone())))
        .collect();
    wait_or_dump(
        "ndbgpd's routes installed",
        Duration::from_secs(10),
        &|| dump(&d, &a),
        || (kernel(&a, OURS) == want).then_some(()),
    );
    assert_eq!(kernel(&a, "bgp"), before, "{}", dump(&d, &a));
    let log = d.process.log_text();
    assert!(log.contains("another daemon's route has our metric there"), "{log}");

    // Withdrawn by the speaker: ours go, theirs stay.
    let withdrawn = nlri("10.21.0.0/16");
    let withdraw = [&[0, withdrawn.len() as u8][..], &withdrawn, &[0, 0]].concat();
    speaker.send(UPDATE, &withdraw);
    wait_or_dump(
        "10.21.0.0/16 withdrawn",
        Duration::from_secs(10),
        &|| dump(&d, &a),
        || (!kernel(&a, OURS).contains_key("10.21.0.0/16")).then_some(()),
    );
    assert_eq!(kernel(&a, "bgp"), before);

    // SIGTERM: all of ours removed, none of theirs.
    d.process.stop();
    assert_eq!(kernel(&a, OURS), BTreeMap::new());
    assert_eq!(kernel(&a, "bgp"), before);
}

/// Defect 5: RFC 4271 6.4: a NOTIFICATION with an error is not answered
/// with a NOTIFICATION: the connection closes with nothing sent, in
/// OpenConfirm as in Established.
#[test]
fn a_malformed_notification_is_not_answered() {
    if !lab_enabled("malformed_notification") {
        return;
    }
    let (a, b, la, _) = link();
    let dir = TempDir::new("hostile-notif");
    let d = start(&a, &dir);
    // 20 octets: shorter than any NOTIFICATION (21).
    let short_notification = message(NOTIFICATION, &[6]);
    assert_eq!(short_notification.len(), 20);

    // OpenConfirm: our OPEN read, its KEEPALIVE read, ours not sent.
    let mut speaker = Speaker::connect(&b, la);
    speaker.send(OPEN, &open_body());
    speaker.expect(OPEN);
    speaker.expect(KEEPALIVE);
    speaker.stream.write_all(&short_notification).expect("send");
    let mut after = Vec::new();
    let read = speaker.stream.read_to_end(&mut after);
    assert!(read.is_ok(), "not closed within the read timeout: {read:?}");
    assert!(after.is_empty(), "answered with {after:02x?}");
    wait_or_dump(
        "the malformed NOTIFICATION logged",
        Duration::from_secs(5),
        &|| dump(&d, &a),
        || d.process.log_text().contains("malformed NOTIFICATION").then_some(()),
    );

    // Established: whatever comes (End-of-RIB), never a NOTIFICATION.
    let mut speaker = Speaker::connect(&b, la);
    speaker.establish();
    speaker.stream.write_all(&short_notification).expect("send");
    while let Some((msg_type, body)) = speaker.recv() {
        assert_ne!(msg_type, NOTIFICATION, "answered with a NOTIFICATION {body:02x?}");
    }
    let log = d.process.log_text();
    assert!(log.matches("closing without an answer").count() >= 2, "{log}");
}
