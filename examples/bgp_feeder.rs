//! bgp_feeder: a BGP speaker that replays N pre-encoded IPv4 prefixes at wire
//! speed, for scripts/bench-routes.sh.
//!
//!   cargo build --release --example bgp_feeder
//!   bgp_feeder --connect fe80::1%eth0 --prefixes 1000000
//!   bgp_feeder --connect 192.168.0.2 --prefixes 100000
//!
//! It dials the daemon under test, encodes every UPDATE into one buffer
//! before the OPEN exchange (encoding is not part of the measurement), and on
//! Established writes the buffer and an End-of-RIB in one go. Then it keeps
//! the session up (KEEPALIVEs, reads and discards) until killed.
//!
//! The encoder is written here by hand, byte by byte, on purpose: ndbgpd's
//! decoder must not be fed by ndbgpd's own encoder and its assumptions.
//!
//! Events (stdout or --events FILE, one line each, flushed at once; times are
//! CLOCK_REALTIME nanoseconds, as `date +%s%N`):
//!   encoded <us> <messages> <bytes>     time to encode the table
//!   open <asn> <hold> <caps>            the peer's OPEN
//!   established <unix_ns>               the peer's KEEPALIVE arrived
//!   sent <unix_ns> <messages> <bytes>   table and End-of-RIB written (to the
//!                                       socket: the kernels' buffers on both
//!                                       sides may hold several MB unread)
//! Diagnostics go to stderr. Exit 1 on a NOTIFICATION or a closed session.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;

const MAX_LEN: usize = 4096;
const HEADER_LEN: usize = 19;
const AS_TRANS: u16 = 23456;
const OPEN: u8 = 1;
const UPDATE: u8 = 2;
const NOTIFICATION: u8 = 3;
const KEEPALIVE: u8 = 4;

#[derive(Parser, Debug)]
#[command(about = "Replays N pre-encoded IPv4 prefixes to a BGP peer at wire speed")]
struct Args {
    /// The peer: an IPv4 address or an IPv6 one, link-local with %IFNAME.
    #[arg(long)]
    connect: String,
    #[arg(long, default_value_t = 179)]
    port: u16,
    #[arg(long, default_value_t = 65004)]
    local_as: u32,
    /// Expected peer AS: a mismatch is reported, not refused.
    #[arg(long, default_value_t = 65001)]
    peer_as: u32,
    #[arg(long, default_value = "10.0.0.4")]
    router_id: Ipv4Addr,
    #[arg(long, default_value_t = 100_000)]
    prefixes: u32,
    /// The first prefix; the others follow it, consecutive, all /len.
    #[arg(long, default_value = "11.0.0.0")]
    first: Ipv4Addr,
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u8).range(1..=32))]
    len: u8,
    /// Our hold time; KEEPALIVEs go every third of the negotiated one.
    #[arg(long, default_value_t = 90)]
    hold_time: u16,
    /// Seconds to keep retrying (every 100 ms) until a session comes up.
    #[arg(long, default_value_t = 30)]
    connect_timeout: u64,
    /// Where event lines go (default: stdout).
    #[arg(long)]
    events: Option<std::path::PathBuf>,
}

/// What the UPDATEs carry besides the prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextHop {
    /// NEXT_HOP attribute, prefixes in the classic NLRI field.
    V4(Ipv4Addr),
    /// MP_REACH_NLRI (AFI 1, SAFI 1) with an IPv6 next hop (RFC 8950):
    /// a link-local goes twice (32 octets, as FRR sends it), a global once.
    V6(Ipv6Addr),
}

/// The consecutive prefixes to announce.
#[derive(Debug, Clone, Copy)]
struct Table {
    first: Ipv4Addr,
    len: u8,
    count: u32,
}

impl Table {
    fn check(&self) -> Result<()> {
        let step = 1u64 << (32 - self.len);
        let first = u64::from(u32::from(self.first));
        if first % step != 0 {
            bail!("{}/{} is not a prefix boundary", self.first, self.len);
        }
        if first + step * u64::from(self.count) > 1 << 32 {
            bail!(
                "{} /{} prefixes from {} run past 255.255.255.255",
                self.count,
                self.len,
                self.first
            );
        }
        Ok(())
    }

    fn prefix(&self, i: u32) -> u32 {
        // check() keeps this in range; a /32 step is 1.
        u32::from(self.first) + (u64::from(i) << (32 - self.len)) as u32
    }
}

fn header(out: &mut Vec<u8>, msg_type: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&[0, 0]); // length, filled in by finish()
    out.push(msg_type);
    start
}

fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u16;
    out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
}

/// OPEN (RFC 4271 4.2) with one Capabilities parameter (RFC 5492).
fn encode_open(local_as: u32, hold_time: u16, router_id: Ipv4Addr, ipv6_next_hop: bool) -> Vec<u8> {
    let mut caps = vec![
        1, 4, 0, 1, 0, 1, // Multiprotocol IPv4 unicast (RFC 4760)
        2, 0, // Route Refresh (RFC 2918)
        65, 4, // 4-octet AS (RFC 6793)
    ];
    caps.extend_from_slice(&local_as.to_be_bytes());
    if ipv6_next_hop {
        // Extended Next Hop (RFC 8950): AFI 1, SAFI 1 (2 octets), NH AFI 2.
        caps.extend_from_slice(&[5, 6, 0, 1, 0, 1, 0, 2]);
    }
    let my_as = u16::try_from(local_as).unwrap_or(AS_TRANS);
    let mut out = Vec::with_capacity(64);
    let start = header(&mut out, OPEN);
    out.push(4);
    out.extend_from_slice(&my_as.to_be_bytes());
    out.extend_from_slice(&hold_time.to_be_bytes());
    out.extend_from_slice(&router_id.octets());
    out.push(caps.len() as u8 + 2);
    out.push(2); // parameter type: Capabilities
    out.push(caps.len() as u8);
    out.extend_from_slice(&caps);
    finish(&mut out, start);
    out
}

fn keepalive() -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    let start = header(&mut out, KEEPALIVE);
    finish(&mut out, start);
    out
}

/// End-of-RIB for IPv4 unicast (RFC 4724 2): an UPDATE with nothing in it.
fn end_of_rib() -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 4);
    let start = header(&mut out, UPDATE);
    out.extend_from_slice(&[0, 0, 0, 0]);
    finish(&mut out, start);
    out
}

/// The path attributes every UPDATE carries, ready to copy; for MP_REACH the
/// attribute header is left out (its length depends on the NLRI).
fn common_attrs(local_as: u32, four_octet_as: bool, next_hop: NextHop) -> Vec<u8> {
    let mut a = vec![0x40, 1, 1, 0]; // ORIGIN IGP, well-known transitive
    if four_octet_as {
        a.extend_from_slice(&[0x40, 2, 6, 2, 1]); // AS_PATH: one AS_SEQUENCE of one ASN
        a.extend_from_slice(&local_as.to_be_bytes());
    } else {
        a.extend_from_slice(&[0x40, 2, 4, 2, 1]);
        a.extend_from_slice(&(local_as as u16).to_be_bytes());
    }
    if let NextHop::V4(nh) = next_hop {
        a.extend_from_slice(&[0x40, 3, 4]);
        a.extend_from_slice(&nh.octets());
    }
    a
}

/// MP_REACH_NLRI value up to the NLRI: AFI 1, SAFI 1, next hop, reserved.
fn mp_reach_head(nh: Ipv6Addr) -> Vec<u8> {
    let mut v = vec![0, 1, 1];
    if nh.is_unicast_link_local() {
        v.push(32);
        v.extend_from_slice(&nh.octets());
        v.extend_from_slice(&nh.octets());
    } else {
        v.push(16);
        v.extend_from_slice(&nh.octets());
    }
    v.push(0);
    v
}

/// All UPDATEs for `table`, back to back, each as full as 4096 octets allow.
/// Returns the buffer and the number of messages.
fn encode_updates(table: &Table, local_as: u32, four_octet_as: bool, next_hop: NextHop) -> (Vec<u8>, usize) {
    let attrs = common_attrs(local_as, four_octet_as, next_hop);
    let mp = match next_hop {
        NextHop::V6(nh) => Some(mp_reach_head(nh)),
        NextHop::V4(_) => None,
    };
    // Header, withdrawn length, attributes length, attributes (MP_REACH with
    // an extended 2-octet length: it outgrows 255 octets).
    let fixed = HEADER_LEN + 2 + 2 + attrs.len() + mp.as_ref().map_or(0, |m| 4 + m.len());
    let octets = usize::from(self::octets(table.len));
    let per_msg = (MAX_LEN - fixed) / (1 + octets);
    let total = table.count as usize;
    let messages = total.div_ceil(per_msg);
    let mut out = Vec::with_capacity(messages * MAX_LEN);
    let mut i = 0;
    while i < total {
        let n = per_msg.min(total - i);
        let nlri_len = n * (1 + octets);
        let start = header(&mut out, UPDATE);
        out.extend_from_slice(&[0, 0]); // no withdrawn routes
        let attrs_len = attrs.len() + mp.as_ref().map_or(0, |m| 4 + m.len() + nlri_len);
        out.extend_from_slice(&(attrs_len as u16).to_be_bytes());
        out.extend_from_slice(&attrs);
        if let Some(m) = &mp {
            // Optional non-transitive, extended length; type 14.
            out.extend_from_slice(&[0x90, 14]);
            out.extend_from_slice(&((m.len() + nlri_len) as u16).to_be_bytes());
            out.extend_from_slice(m);
        }
        for j in i..i + n {
            out.push(table.len);
            out.extend_from_slice(&table.prefix(j as u32).to_be_bytes()[..octets]);
        }
        finish(&mut out, start);
        i += n;
    }
    (out, messages)
}

/// Octets a prefix of this length takes in NLRI (RFC 4271 4.3).
fn octets(len: u8) -> u8 {
    len.div_ceil(8)
}

/// "192.168.0.2", "fe80::1%eth0" or "fe80::1%2" to a socket address.
fn parse_peer(s: &str, port: u16) -> Result<SocketAddr> {
    let (addr, scope) = match s.split_once('%') {
        Some((a, ifname)) => {
            let index = match ifname.parse::<u32>() {
                Ok(i) => i,
                Err(_) => nix::net::if_::if_nametoindex(ifname).with_context(|| format!("interface {ifname}"))?,
            };
            (a, Some(index))
        }
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().with_context(|| format!("--connect {s}: not an address"))?;
    Ok(match (ip, scope) {
        (IpAddr::V6(v6), scope) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope.unwrap_or(0))),
        (IpAddr::V4(_), Some(_)) => bail!("--connect {s}: a scope only goes with IPv6"),
        (IpAddr::V4(v4), None) => SocketAddr::new(IpAddr::V4(v4), port),
    })
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// A message as read: its type and body (the header stripped).
struct Msg {
    msg_type: u8,
    body: Vec<u8>,
}

fn read_msg(r: &mut impl Read) -> io::Result<Msg> {
    let mut h = [0u8; HEADER_LEN];
    r.read_exact(&mut h)?;
    if h[..16] != [0xff; 16] {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad marker"));
    }
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    if !(HEADER_LEN..=MAX_LEN).contains(&len) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad length {len}")));
    }
    let mut body = vec![0u8; len - HEADER_LEN];
    r.read_exact(&mut body)?;
    Ok(Msg { msg_type: h[18], body })
}

fn notification_text(body: &[u8]) -> String {
    let hex: String = body.iter().skip(2).map(|b| format!("{b:02x}")).collect();
    format!(
        "NOTIFICATION code {} subcode {} data [{hex}]",
        body.first().copied().unwrap_or(0),
        body.get(1).copied().unwrap_or(0)
    )
}

/// The parts of the peer's OPEN we need.
#[derive(Debug, PartialEq, Eq)]
struct PeerOpen {
    asn: u32,
    hold_time: u16,
    caps: Vec<u8>,
    four_octet_as: bool,
}

/// Parses an OPEN body, including RFC 9072 extended optional parameters.
fn parse_open(b: &[u8]) -> Result<PeerOpen> {
    let short = || anyhow!("OPEN too short");
    if b.len() < 10 {
        return Err(short());
    }
    if b[0] != 4 {
        bail!("OPEN version {}", b[0]);
    }
    let mut open = PeerOpen {
        asn: u32::from(u16::from_be_bytes([b[1], b[2]])),
        hold_time: u16::from_be_bytes([b[3], b[4]]),
        caps: Vec::new(),
        four_octet_as: false,
    };
    let (extended, mut params) = if b[9] == 255 && b.get(10) == Some(&255) {
        let len = usize::from(u16::from_be_bytes([
            *b.get(11).ok_or_else(short)?,
            *b.get(12).ok_or_else(short)?,
        ]));
        (true, b.get(13..13 + len).ok_or_else(short)?)
    } else {
        (false, b.get(10..10 + usize::from(b[9])).ok_or_else(short)?)
    };
    while !params.is_empty() {
        let hl = if extended { 3 } else { 2 };
        let head = params.get(..hl).ok_or_else(short)?;
        let len = if extended {
            usize::from(u16::from_be_bytes([head[1], head[2]]))
        } else {
            usize::from(head[1])
        };
        let value = params.get(hl..hl + len).ok_or_else(short)?;
        if head[0] == 2 {
            let mut caps = value;
            while let [code, len, rest @ ..] = caps {
                let data = rest.get(..usize::from(*len)).ok_or_else(short)?;
                open.caps.push(*code);
                if *code == 65 && data.len() == 4 {
                    open.four_octet_as = true;
                    open.asn = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                }
                caps = &rest[usize::from(*len)..];
            }
        }
        params = &params[hl + len..];
    }
    Ok(open)
}

/// Why a session attempt failed: worth another try, or not.
enum Failure {
    Retry(String),
    Fatal(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Fatal(e.into())
    }
}

struct Events(Box<dyn Write>);

impl Events {
    fn line(&mut self, s: &str) {
        // The script tails this file: each line must be out at once.
        if writeln!(self.0, "{s}").and_then(|()| self.0.flush()).is_err() {
            eprintln!("bgp_feeder: cannot write event: {s}");
        }
    }
}

/// One try: connect, encode, exchange OPENs; the stream on Established and
/// the encoded table.
fn establish(
    args: &Args,
    peer: SocketAddr,
    table: &Table,
    deadline: Instant,
    ev: &mut Events,
) -> Result<(TcpStream, Vec<u8>, usize, u16), Failure> {
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .min(Duration::from_secs(1));
    let mut s = match TcpStream::connect_timeout(&peer, wait.max(Duration::from_millis(10))) {
        Ok(s) => s,
        Err(e) => return Err(Failure::Retry(format!("connect {peer}: {e}"))),
    };
    // A connection the peer resets before Established is worth a retry.
    let retry = |e: io::Error| Failure::Retry(format!("session with {peer}: {e}"));
    s.set_nodelay(true).map_err(retry)?;
    let local = s.local_addr().map_err(retry)?;
    let next_hop = match local.ip() {
        IpAddr::V4(a) => NextHop::V4(a),
        IpAddr::V6(a) => NextHop::V6(a),
    };
    // Encode before the OPEN goes out, assuming 4-octet AS; re-done below in
    // the rare case the peer does not have it.
    let t = Instant::now();
    let (mut buf, mut messages) = encode_updates(table, args.local_as, true, next_hop);
    ev.line(&format!("encoded {} {messages} {}", t.elapsed().as_micros(), buf.len()));

    let v6 = matches!(next_hop, NextHop::V6(_));
    s.write_all(&encode_open(args.local_as, args.hold_time, args.router_id, v6))
        .map_err(retry)?;
    let msg = read_msg(&mut s).map_err(|e| Failure::Retry(format!("reading OPEN: {e}")))?;
    match msg.msg_type {
        OPEN => {}
        // Cease (6) before Established: the peer is busy with its own
        // connection to us (collision) or not ready; try again.
        NOTIFICATION if msg.body.first() == Some(&6) => return Err(Failure::Retry(notification_text(&msg.body))),
        NOTIFICATION => return Err(Failure::Fatal(anyhow!("{}", notification_text(&msg.body)))),
        t => return Err(Failure::Fatal(anyhow!("expected OPEN, got message type {t}"))),
    }
    let open = parse_open(&msg.body)?;
    ev.line(&format!("open {} {} {:?}", open.asn, open.hold_time, open.caps));
    if open.asn != args.peer_as {
        eprintln!("bgp_feeder: peer AS {} (expected {})", open.asn, args.peer_as);
    }
    if !open.four_octet_as {
        if args.local_as > 65535 {
            return Err(Failure::Fatal(anyhow!(
                "peer lacks 4-octet AS and local AS > 65535: not supported"
            )));
        }
        let t = Instant::now();
        (buf, messages) = encode_updates(table, args.local_as, false, next_hop);
        ev.line(&format!("encoded {} {messages} {}", t.elapsed().as_micros(), buf.len()));
    }
    s.write_all(&keepalive()).map_err(retry)?;
    let msg = read_msg(&mut s).map_err(|e| Failure::Retry(format!("reading KEEPALIVE: {e}")))?;
    match msg.msg_type {
        KEEPALIVE => {}
        NOTIFICATION if msg.body.first() == Some(&6) => return Err(Failure::Retry(notification_text(&msg.body))),
        NOTIFICATION => return Err(Failure::Fatal(anyhow!("{}", notification_text(&msg.body)))),
        t => return Err(Failure::Fatal(anyhow!("expected KEEPALIVE, got message type {t}"))),
    }
    let hold = args.hold_time.min(open.hold_time);
    Ok((s, buf, messages, hold))
}

/// Reads and discards until the session ends; exits the process then.
fn drain(mut s: TcpStream) -> ! {
    let mut updates = 0u64;
    loop {
        match read_msg(&mut s) {
            Ok(m) if m.msg_type == UPDATE => updates += 1,
            Ok(m) if m.msg_type == NOTIFICATION => {
                eprintln!(
                    "bgp_feeder: peer sent {} ({updates} UPDATEs read)",
                    notification_text(&m.body)
                );
                std::process::exit(1);
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("bgp_feeder: session closed: {e} ({updates} UPDATEs read)");
                std::process::exit(1);
            }
        }
    }
}

fn main() {
    // One line, no backtrace (even with RUST_BACKTRACE set): the script
    // shows the log's last lines.
    if let Err(e) = run(Args::parse()) {
        eprintln!("bgp_feeder: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let table = Table {
        first: args.first,
        len: args.len,
        count: args.prefixes,
    };
    table.check()?;
    let peer = parse_peer(&args.connect, args.port)?;
    let mut ev = Events(match &args.events {
        Some(p) => Box::new(File::create(p).with_context(|| format!("{}", p.display()))?),
        None => Box::new(io::stdout()),
    });

    let deadline = Instant::now() + Duration::from_secs(args.connect_timeout);
    let (mut s, buf, messages, hold) = loop {
        match establish(&args, peer, &table, deadline, &mut ev) {
            Ok(done) => break done,
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Retry(why)) if Instant::now() < deadline => {
                eprintln!("bgp_feeder: {why}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(Failure::Retry(why)) => bail!("no session within {} s: {why}", args.connect_timeout),
        }
    };
    ev.line(&format!("established {}", unix_ns()));

    // Read from the start: the peer's own UPDATEs and KEEPALIVEs must not
    // back up while we write, and a NOTIFICATION must show at once.
    let reader = s.try_clone()?;
    std::thread::spawn(move || drain(reader));

    s.write_all(&buf)?;
    let eor = end_of_rib();
    s.write_all(&eor)?;
    ev.line(&format!(
        "sent {} {} {}",
        unix_ns(),
        messages + 1,
        buf.len() + eor.len()
    ));
    drop(buf);

    // Only this thread writes from here on (two writers could interleave
    // the bytes of their messages). The UPDATEs themselves restarted the
    // peer's hold timer, so the first KEEPALIVE can wait a third of it.
    if hold == 0 {
        loop {
            std::thread::park();
        }
    }
    let every = Duration::from_secs(u64::from(hold / 3).max(1));
    loop {
        std::thread::sleep(every);
        s.write_all(&keepalive()).context("sending KEEPALIVE")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndbgp::msg::update::{self, DecodeContext};
    use ndbgp::msg::{Capability, Message, decode};

    /// Splits a buffer of back-to-back messages, checking each length field.
    fn split(mut buf: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
            assert!((HEADER_LEN..=MAX_LEN).contains(&len));
            out.push(&buf[..len]);
            buf = &buf[len..];
        }
        out
    }

    fn routes(buf: &[u8], four_octet_as: bool) -> Vec<(Vec<ipnet::IpNet>, ndbgp::msg::update::PathAttributes)> {
        let ctx = DecodeContext {
            four_octet_as,
            external: true,
        };
        split(buf)
            .into_iter()
            .map(|m| match decode(m) {
                Ok(Message::Update(body)) => {
                    let d = update::decode(&body, &ctx).expect("a usable UPDATE");
                    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
                    (d.update.announced, d.update.attributes.expect("attributes"))
                }
                other => panic!("not an UPDATE: {other:?}"),
            })
            .collect()
    }

    fn table(count: u32) -> Table {
        Table {
            first: Ipv4Addr::new(11, 0, 0, 0),
            len: 24,
            count,
        }
    }

    #[test]
    fn numbered_updates_pack_1013_prefixes_and_decode() {
        let nh = Ipv4Addr::new(192, 168, 0, 1);
        let (buf, messages) = encode_updates(&table(2500), 65004, true, NextHop::V4(nh));
        // 4096 - 19 header - 4 length fields - 20 attributes = 4053 = 1013 * 4 + 1.
        let msgs = split(&buf);
        assert_eq!((messages, msgs.len()), (3, 3));
        assert_eq!(msgs[0].len(), 19 + 4 + 20 + 1013 * 4);
        let decoded = routes(&buf, true);
        let counts: Vec<usize> = decoded.iter().map(|(p, _)| p.len()).collect();
        assert_eq!(counts, [1013, 1013, 474]);
        let all: Vec<_> = decoded.iter().flat_map(|(p, _)| p.clone()).collect();
        assert_eq!(all[0], "11.0.0.0/24".parse::<ipnet::IpNet>().unwrap());
        assert_eq!(all[2499], "11.9.195.0/24".parse::<ipnet::IpNet>().unwrap());
        let attrs = &decoded[0].1;
        assert_eq!(attrs.next_hop.ipv4, Some(nh));
        assert_eq!(attrs.as_path.first_as(), Some(65004));
        assert_eq!(attrs.as_path.len(), 1);
    }

    #[test]
    fn unnumbered_updates_carry_mp_reach_with_the_link_local_twice() {
        let ll: Ipv6Addr = "fe80::1:2".parse().unwrap();
        let (buf, messages) = encode_updates(&table(1005), 65004, true, NextHop::V6(ll));
        // 4096 - 23 - ORIGIN 4 - AS_PATH 9 - MP_REACH 4 + 37 = 4019 = 1004 * 4 + 3.
        assert_eq!(messages, 2);
        let msgs = split(&buf);
        assert_eq!(msgs[0].len(), 23 + 54 + 1004 * 4);
        // Extended length on MP_REACH, next hop length 32.
        assert_eq!(&msgs[0][23 + 13..23 + 13 + 8], &[0x90, 14, 0x0f, 0xd5, 0, 1, 1, 32]);
        let decoded = routes(&buf, true);
        assert_eq!(decoded[0].0.len(), 1004);
        assert_eq!(decoded[1].0, ["11.3.236.0/24".parse::<ipnet::IpNet>().unwrap()]);
        let nh = decoded[0].1.next_hop;
        assert_eq!((nh.ipv4, nh.global, nh.link_local), (None, None, Some(ll)));
    }

    #[test]
    fn two_octet_as_path_and_odd_lengths() {
        let t = Table {
            first: Ipv4Addr::new(10, 0, 0, 0),
            len: 17,
            count: 3,
        };
        t.check().unwrap();
        let (buf, _) = encode_updates(&t, 65004, false, NextHop::V4(Ipv4Addr::new(1, 2, 3, 4)));
        let decoded = routes(&buf, false);
        let want: Vec<ipnet::IpNet> = ["10.0.0.0/17", "10.0.128.0/17", "10.1.0.0/17"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(decoded[0].0, want);
        assert_eq!(decoded[0].1.as_path.first_as(), Some(65004));
    }

    #[test]
    fn table_bounds() {
        let bad = |first: [u8; 4], len, count| {
            Table {
                first: Ipv4Addr::from(first),
                len,
                count,
            }
            .check()
            .is_err()
        };
        assert!(bad([11, 0, 0, 1], 24, 1));
        assert!(bad([255, 255, 255, 0], 24, 2));
        assert!(!bad([255, 255, 255, 0], 24, 1));
        assert!(!bad([255, 255, 255, 255], 32, 1));
    }

    #[test]
    fn end_of_rib_is_ipv4_unicast() {
        let eor = end_of_rib();
        let Ok(Message::Update(body)) = decode(&eor) else {
            panic!("not an UPDATE")
        };
        assert_eq!(update::end_of_rib_family(&body), Some((1, 1)));
    }

    #[test]
    fn open_decodes_with_the_crate_and_with_our_parser() {
        let open = encode_open(4_200_000_000, 90, Ipv4Addr::new(10, 0, 0, 4), true);
        let Ok(Message::Open(o)) = decode(&open) else {
            panic!("not an OPEN")
        };
        assert_eq!((o.my_as, o.hold_time, o.asn()), (AS_TRANS, 90, 4_200_000_000));
        assert!(o.has(&Capability::RouteRefresh));
        assert!(o.has(&Capability::Multiprotocol { afi: 1, safi: 1 }));
        assert!(o.capabilities.iter().any(|c| matches!(c, Capability::ExtendedNextHop(v)
            if v.iter().any(|e| (e.afi, e.safi, e.nh_afi) == (1, 1, 2)))));
        let ours = parse_open(&open[HEADER_LEN..]).unwrap();
        assert_eq!(
            ours,
            PeerOpen {
                asn: 4_200_000_000,
                hold_time: 90,
                caps: vec![1, 2, 65, 5],
                four_octet_as: true
            }
        );
        // A truncated OPEN is an error, not a panic.
        for cut in 0..open.len() - HEADER_LEN {
            let _ = parse_open(&open[HEADER_LEN..HEADER_LEN + cut]);
        }
    }

    #[test]
    fn peers() {
        assert_eq!(
            parse_peer("192.168.0.2", 179).unwrap(),
            "192.168.0.2:179".parse().unwrap()
        );
        assert_eq!(
            parse_peer("fe80::1%1", 1179).unwrap(),
            "[fe80::1%1]:1179".parse().unwrap()
        );
        assert_eq!(
            parse_peer("fe80::1%lo", 179).unwrap(),
            "[fe80::1%1]:179".parse().unwrap()
        );
        assert!(parse_peer("1.2.3.4%lo", 179).is_err());
        assert!(parse_peer("fe80::1%no-such-if", 179).is_err());
    }
}
