//! The Prometheus text exposition format (0.0.4) of one [`Snapshot`]:
//! pure, no I/O, no clock.
//!
//! Every scrape is rendered from the views as they are now: a session or
//! an interface that is gone has no series, and no label set is
//! remembered between scrapes. Label values come from the configuration
//! (interface names), addresses and numbers, or fixed sets (states,
//! message types, reasons), so the number of series is bounded by the
//! interfaces and their neighbours.

use std::collections::BTreeMap;
use std::fmt::{Display, Write};

use super::process::ProcessStats;
use crate::api::{DOWN_REASONS, InterfaceEntry, InterfaceState, NeighborView, SessionState};
use crate::fib::FibStats;
use crate::rib::RouteCounts;

/// The Content-Type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// ND message types always shown, even before the first one.
const ND_TYPES: [&str; 4] = ["rs", "ra", "ns", "na"];

/// Everything one scrape shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: String,
    /// The BGP sessions; None when the BGP manager did not answer in time.
    pub neighbors: Option<Vec<NeighborView>>,
    /// The configured interfaces; None when the ND task or the peer table
    /// did not answer in time.
    pub interfaces: Option<Vec<InterfaceEntry>>,
    /// The Loc-RIB's size.
    pub rib: RouteCounts,
    pub fib: FibStats,
    pub control: ControlClients,
    /// None when /proc could not be read.
    pub process: Option<ProcessStats>,
}

/// The control socket's clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControlClients {
    /// Connected now.
    pub connected: u64,
    /// Accepted since the start, and of those refused (too many at once).
    pub accepted: u64,
    pub refused: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One metric family being written: its HELP and TYPE lines come with the
/// first sample, so a family without samples writes nothing.
struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
    kind: Kind,
    help: &'a str,
    started: bool,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: impl Display) {
        if !self.started {
            self.started = true;
            let _ = writeln!(self.out, "# HELP {} {}", self.name, escape_help(self.help));
            let _ = writeln!(self.out, "# TYPE {} {}", self.name, self.kind.as_str());
        }
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

struct Writer {
    out: String,
}

impl Writer {
    fn family<'a>(&'a mut self, name: &'a str, kind: Kind, help: &'a str) -> Family<'a> {
        Family {
            out: &mut self.out,
            name,
            kind,
            help,
            started: false,
        }
    }

    fn gauge<'a>(&'a mut self, name: &'a str, help: &'a str) -> Family<'a> {
        self.family(name, Kind::Gauge, help)
    }

    fn counter<'a>(&'a mut self, name: &'a str, help: &'a str) -> Family<'a> {
        debug_assert!(name.ends_with("_total"), "{name}");
        self.family(name, Kind::Counter, help)
    }
}

/// A label value as the format wants it: backslash, double quote and line
/// feed escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text as the format wants it: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The scrape's text.
pub fn render(snapshot: &Snapshot) -> String {
    let mut w = Writer { out: String::new() };
    w.gauge("ndbgp_build_info", "The running ndbgpd's version (value 1).")
        .sample(&[("version", &snapshot.version)], 1);
    sources(&mut w, snapshot);
    if let Some(neighbors) = &snapshot.neighbors {
        sessions(&mut w, neighbors);
    }
    routes(&mut w, snapshot);
    if let Some(interfaces) = &snapshot.interfaces {
        discovery(&mut w, interfaces);
    }
    control(&mut w, &snapshot.control);
    if let Some(process) = &snapshot.process {
        self::process(&mut w, process);
    }
    w.out
}

/// Whether each stage asked answered: a stage that did not has no series
/// this scrape.
fn sources(w: &mut Writer, snapshot: &Snapshot) {
    let mut f = w.gauge(
        "ndbgp_metrics_source_up",
        "1 if the stage answered this scrape in time; 0: its series are missing from it.",
    );
    f.sample(&[("source", "bgp")], u8::from(snapshot.neighbors.is_some()));
    f.sample(&[("source", "interfaces")], u8::from(snapshot.interfaces.is_some()));
    f.sample(&[("source", "process")], u8::from(snapshot.process.is_some()));
}

const STATES: [(SessionState, &str); 6] = [
    (SessionState::Idle, "idle"),
    (SessionState::Connect, "connect"),
    (SessionState::Active, "active"),
    (SessionState::OpenSent, "open_sent"),
    (SessionState::OpenConfirm, "open_confirm"),
    (SessionState::Established, "established"),
];

/// BGP4-MIB's bgpPeerState numbering (RFC 4273): idle 1 ... established 6.
fn state_number(state: SessionState) -> usize {
    STATES.iter().position(|(s, _)| *s == state).map_or(0, |i| i + 1)
}

fn sessions(w: &mut Writer, neighbors: &[NeighborView]) {
    let mut f = w.gauge("ndbgp_sessions", "BGP sessions by FSM state.");
    for (state, name) in STATES {
        let count = neighbors.iter().filter(|n| n.state == state).count();
        f.sample(&[("state", name)], count);
    }
    let peers: Vec<(&NeighborView, PeerLabels)> = neighbors.iter().map(|n| (n, PeerLabels::of(n))).collect();
    // The peer's AS is known only once its OPEN is in: as a label of every
    // series it would start them afresh at each flap (and hide the down
    // from rate()), so it has a series of its own to join on.
    let mut f = w.gauge(
        "ndbgp_session_info",
        "1 per session; remote_as is the peer's AS, empty until its OPEN is in.",
    );
    for (n, labels) in &peers {
        let remote_as = n.remote_asn.map(|a| a.to_string()).unwrap_or_default();
        f.sample(&labels.with(Some(("remote_as", remote_as.as_str()))), 1);
    }

    type Gauge = fn(&NeighborView) -> u64;
    let gauges: [(&str, &str, Gauge); 7] = [
        (
            "ndbgp_session_state",
            "The session's FSM state, numbered as BGP4-MIB's bgpPeerState: 1 idle, 2 connect, 3 active, 4 open_sent, 5 open_confirm, 6 established.",
            |n| state_number(n.state) as u64,
        ),
        (
            "ndbgp_session_uptime_seconds",
            "Seconds since the session reached Established; 0 when it is not.",
            |n| n.uptime_s,
        ),
        (
            "ndbgp_session_prefixes_received",
            "Prefixes in the peer's Adj-RIB-In, rejected ones included.",
            |n| n.prefixes_received as u64,
        ),
        (
            "ndbgp_session_prefixes_accepted",
            "Prefixes received that import accepts: eligible for best path.",
            |n| n.prefixes_accepted as u64,
        ),
        (
            "ndbgp_session_prefixes_filtered",
            "Prefixes received that the interface's import filter rejects.",
            |n| n.prefixes_filtered as u64,
        ),
        (
            "ndbgp_session_prefixes_first_as_rejected",
            "Prefixes received treated as withdrawn because their AS_PATH does not start with the peer's AS.",
            |n| n.prefixes_first_as_rejected as u64,
        ),
        (
            "ndbgp_session_prefixes_sent",
            "Prefixes announced to the peer now.",
            |n| n.prefixes_sent as u64,
        ),
    ];
    for (name, help, value) in gauges {
        let mut f = w.gauge(name, help);
        for (n, labels) in &peers {
            f.sample(&labels.with(None), value(n));
        }
    }
    let mut f = w.counter(
        "ndbgp_session_established_total",
        "Times the session reached Established.",
    );
    for (n, labels) in &peers {
        f.sample(&labels.with(None), n.established_count);
    }
    let directions = [
        (
            "ndbgp_session_messages_received_total",
            "BGP messages received, by type.",
        ),
        ("ndbgp_session_messages_sent_total", "BGP messages sent, by type."),
    ];
    for (received, (name, help)) in [true, false].into_iter().zip(directions) {
        let mut f = w.counter(name, help);
        for (n, labels) in &peers {
            let counts = match received {
                true => n.messages_by_type.received,
                false => n.messages_by_type.sent,
            };
            for (kind, count) in counts.by_type() {
                f.sample(&labels.with(Some(("type", kind))), count);
            }
        }
    }
    let mut f = w.counter(
        "ndbgp_session_downs_total",
        "Established sessions that ended, by reason class (the text is in `ndbgpctl neighbors`).",
    );
    for (n, labels) in &peers {
        for reason in DOWN_REASONS {
            let count = n.downs.get(reason).copied().unwrap_or(0);
            f.sample(&labels.with(Some(("reason", reason))), count);
        }
    }
}

/// The labels of a session's series: what stays the same across its flaps.
struct PeerLabels {
    interface: String,
    peer: String,
}

impl PeerLabels {
    fn of(n: &NeighborView) -> PeerLabels {
        PeerLabels {
            interface: n.interface.clone(),
            peer: n.address.to_string(),
        }
    }

    fn with<'a>(&'a self, extra: Option<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
        let mut labels = vec![("interface", self.interface.as_str()), ("peer", self.peer.as_str())];
        labels.extend(extra);
        labels
    }
}

fn routes(w: &mut Writer, snapshot: &Snapshot) {
    let (rib, fib) = (&snapshot.rib, &snapshot.fib);
    let mut f = w.gauge(
        "ndbgp_rib_routes",
        "Prefixes in the Loc-RIB (with a selected path), local ones included, by family.",
    );
    f.sample(&[("family", "ipv4")], rib.ipv4);
    f.sample(&[("family", "ipv6")], rib.ipv6);
    let mut f = w.gauge("ndbgp_fib_routes", "Our routes installed in the kernel, by family.");
    f.sample(&[("family", "ipv4")], fib.installed_ipv4);
    f.sample(&[("family", "ipv6")], fib.installed_ipv6);
    w.gauge(
        "ndbgp_fib_routes_wanted",
        "Prefixes the FIB task wants routes to (some wait for a link to come up).",
    )
    .sample(&[], fib.wanted);
    let mut f = w.counter(
        "ndbgp_fib_operations_total",
        "Route requests the kernel carried out: replace (add or change) and delete.",
    );
    f.sample(&[("op", "replace")], fib.replaced);
    f.sample(&[("op", "delete")], fib.deleted);
    let mut f = w.counter(
        "ndbgp_fib_errors_total",
        "FIB failures: route requests the kernel refused (retried at the next resync), and route socket failures.",
    );
    f.sample(&[("error", "refused")], fib.failed);
    f.sample(&[("error", "socket")], fib.netlink_errors);
    w.counter(
        "ndbgp_fib_resyncs_total",
        "Reconciliations against a dump of the kernel's routes (start, link changes, lost replies).",
    )
    .sample(&[], fib.resyncs);
}

fn discovery(w: &mut Writer, interfaces: &[InterfaceEntry]) {
    let mut f = w.gauge(
        "ndbgp_interface_up",
        "1 if the configured interface is up; 0 if it is down or missing.",
    );
    for i in interfaces {
        f.sample(
            &[("interface", &i.nd.interface)],
            u8::from(i.nd.state == InterfaceState::Up),
        );
    }
    let mut f = w.gauge(
        "ndbgp_neighbors",
        "Neighbours in the peer table, usable or tentative, per interface.",
    );
    for i in interfaces {
        f.sample(&[("interface", &i.nd.interface)], i.neighbors.count);
    }
    let mut f = w.counter(
        "ndbgp_neighbor_observations_ignored_total",
        "Observations the peer table did not take: limit (--max-neighbors reached), link_down, own_address.",
    );
    for i in interfaces {
        let c = &i.neighbors.counters;
        for (reason, count) in [
            ("limit", c.refused),
            ("link_down", c.ignored_down),
            ("own_address", c.ignored_own),
        ] {
            f.sample(&[("interface", &i.nd.interface), ("reason", reason)], count);
        }
    }
    let directions = [
        ("ndbgp_nd_packets_received_total", "ND packets received, by type."),
        ("ndbgp_nd_packets_sent_total", "ND packets sent, by type."),
    ];
    for (received, (name, help)) in [true, false].into_iter().zip(directions) {
        let mut f = w.counter(name, help);
        for entry in interfaces {
            let counts = match received {
                true => &entry.nd.rx,
                false => &entry.nd.tx,
            };
            for (kind, count) in with_fixed_keys(counts, &ND_TYPES) {
                f.sample(&[("interface", &entry.nd.interface), ("type", &kind)], count);
            }
        }
    }
    let mut f = w.counter(
        "ndbgp_nd_packets_dropped_total",
        "ND packets received and dropped, by reason.",
    );
    for entry in interfaces {
        for (reason, count) in &entry.nd.dropped {
            f.sample(&[("interface", &entry.nd.interface), ("reason", reason)], count);
        }
    }
    let mut f = w.counter(
        "ndbgp_nd_send_errors_total",
        "ND and probe packets the kernel refused to send.",
    );
    for entry in interfaces {
        f.sample(&[("interface", &entry.nd.interface)], entry.nd.tx_errors);
    }
    let mut f = w.counter(
        "ndbgp_nd_probes_sent_total",
        "Echo requests to ff02::1 sent to make silent neighbours answer.",
    );
    let probing: Vec<_> = interfaces
        .iter()
        .filter_map(|e| e.nd.probes.map(|p| (&e.nd.interface, p)))
        .collect();
    for (name, probes) in &probing {
        f.sample(&[("interface", name)], probes.sent);
    }
    let mut f = w.counter(
        "ndbgp_nd_probe_answers_total",
        "Echo replies to our probes from a link-local neighbour.",
    );
    for (name, probes) in &probing {
        f.sample(&[("interface", name)], probes.answers);
    }
}

/// The counts of `map`, with every key of `fixed` present (0 if absent).
fn with_fixed_keys(map: &BTreeMap<String, u64>, fixed: &[&str]) -> Vec<(String, u64)> {
    let mut all: BTreeMap<String, u64> = fixed.iter().map(|k| (k.to_string(), 0)).collect();
    all.extend(map.iter().map(|(k, v)| (k.clone(), *v)));
    all.into_iter().collect()
}

fn control(w: &mut Writer, clients: &ControlClients) {
    w.gauge("ndbgp_control_clients", "Clients connected to the control socket now.")
        .sample(&[], clients.connected);
    w.counter(
        "ndbgp_control_connections_total",
        "Connections accepted on the control socket, refused ones included.",
    )
    .sample(&[], clients.accepted);
    w.counter(
        "ndbgp_control_refused_total",
        "Control connections refused because too many clients were connected.",
    )
    .sample(&[], clients.refused);
}

fn process(w: &mut Writer, p: &ProcessStats) {
    w.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
        .sample(&[], p.resident_memory_bytes);
    w.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")
        .sample(&[], p.virtual_memory_bytes);
    w.gauge("process_open_fds", "Number of open file descriptors.")
        .sample(&[], p.open_fds);
    if let Some(max) = p.max_fds {
        w.gauge("process_max_fds", "Maximum number of open file descriptors.")
            .sample(&[], max);
    }
    w.counter(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
    )
    .sample(&[], p.cpu_seconds);
    if let Some(start) = p.start_time_seconds {
        w.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )
        .sample(&[], start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{InterfaceNeighbors, InterfaceView, MessageCounts, MessagesByType, ProbeCounters};

    fn neighbor(interface: &str, address: &str, state: SessionState) -> NeighborView {
        NeighborView {
            interface: interface.into(),
            ifindex: 2,
            address: address.parse().unwrap(),
            state,
            remote_asn: Some(65002),
            remote_id: None,
            direction: None,
            uptime_s: 42,
            last_error: None,
            last_down: Some("hold timer expired".into()),
            hold_time: 9,
            keepalive_s: Some(3),
            messages_received: 10,
            messages_sent: 11,
            established_count: 2,
            updates_received: 2,
            updates_sent: 3,
            prefixes_received: 5,
            prefixes_sent: 4,
            prefixes_filtered: 1,
            prefixes_first_as_rejected: 1,
            next_hop_ours: 0,
            as_loop: 0,
            tcp_md5: false,
            ttl_security: false,
            max_prefix: None,
            max_prefix_held: false,
            max_prefix_retry_s: None,
            prefixes_accepted: 3,
            messages_by_type: MessagesByType {
                received: MessageCounts {
                    open: 1,
                    update: 2,
                    notification: 0,
                    keepalive: 7,
                    route_refresh: 0,
                },
                sent: MessageCounts {
                    open: 1,
                    update: 3,
                    notification: 1,
                    keepalive: 6,
                    route_refresh: 0,
                },
            },
            downs: BTreeMap::from([("hold_timer_expired".into(), 1)]),
            bfd: None,
            bfd_held: false,
            admin_down: false,
            graceful_restart: false,
            gr_restarting: false,
            stale_routes: 0,
        }
    }

    fn interface(name: &str) -> InterfaceEntry {
        InterfaceEntry {
            nd: InterfaceView {
                interface: name.into(),
                ifindex: Some(2),
                state: InterfaceState::Up,
                rx: BTreeMap::from([("ra".into(), 3), ("ns".into(), 1)]),
                tx: BTreeMap::from([("ra".into(), 4)]),
                tx_errors: 1,
                dropped: BTreeMap::from([("hop_limit".into(), 2)]),
                probes: Some(ProbeCounters {
                    sent: 6,
                    answers: 2,
                    skipped: 0,
                }),
                ..InterfaceView::default()
            },
            neighbors: InterfaceNeighbors {
                count: 2,
                ..InterfaceNeighbors::default()
            },
        }
    }

    fn snapshot(neighbors: Vec<NeighborView>) -> Snapshot {
        Snapshot {
            version: "0.1.0".into(),
            neighbors: Some(neighbors),
            interfaces: Some(vec![interface("eth0")]),
            rib: RouteCounts { ipv4: 3, ipv6: 1 },
            fib: FibStats {
                installed_ipv4: 2,
                installed_ipv6: 1,
                replaced: 5,
                failed: 1,
                ..FibStats::default()
            },
            control: ControlClients {
                connected: 1,
                accepted: 9,
                refused: 0,
            },
            process: Some(ProcessStats {
                resident_memory_bytes: 4096,
                virtual_memory_bytes: 8192,
                open_fds: 12,
                max_fds: Some(1024),
                cpu_seconds: 1.5,
                start_time_seconds: Some(1_700_000_000.25),
            }),
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    /// A session that goes down keeps its series (same labels), so that
    /// rate() and increase() see the down; only the info series changes.
    #[test]
    fn a_sessions_series_keep_their_labels_across_a_flap() {
        let up = neighbor("eth0", "fe80::2", SessionState::Established);
        let mut down = neighbor("eth0", "fe80::2", SessionState::Active);
        down.remote_asn = None;
        down.downs.insert("hold_timer_expired".into(), 2);
        let series = |n: NeighborView| -> Vec<String> {
            lines(&render(&snapshot(vec![n])))
                .into_iter()
                .filter(|l| l.starts_with("ndbgp_session_") && !l.starts_with("ndbgp_session_info"))
                .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
                .collect()
        };
        assert_eq!(series(up), series(down.clone()));
        let text = render(&snapshot(vec![down]));
        assert!(
            text.contains(r#"ndbgp_session_info{interface="eth0",peer="fe80::2",remote_as=""} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ndbgp_session_downs_total{interface="eth0",peer="fe80::2",reason="hold_timer_expired"} 2"#
            ),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), r"two\nlines");
        assert_eq!(escape_label("eth0"), "eth0");
        // An interface name with a quote (Linux allows it) stays one label.
        let mut s = snapshot(vec![neighbor("we\"ird\\", "fe80::2", SessionState::Established)]);
        s.interfaces = None;
        let text = render(&s);
        assert!(
            text.contains(r#"ndbgp_session_uptime_seconds{interface="we\"ird\\",peer="fe80::2"} 42"#),
            "{text}"
        );
    }

    #[test]
    fn every_family_has_help_and_type_once_before_its_samples() {
        let text = render(&snapshot(vec![
            neighbor("eth0", "fe80::2", SessionState::Established),
            neighbor("eth1", "fe80::3", SessionState::Active),
        ]));
        let mut declared: Vec<String> = Vec::new();
        let mut current = String::new();
        for line in lines(&text) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(!declared.contains(&name), "{name} declared twice");
                declared.push(name.clone());
                current = name;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(name, current, "TYPE right after HELP");
                assert!(kind == "gauge" || kind == "counter", "{line}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "a sample of the family last declared: {line}");
            }
        }
        for name in [
            "ndbgp_sessions",
            "ndbgp_session_state",
            "ndbgp_session_messages_received_total",
            "ndbgp_rib_routes",
            "ndbgp_fib_routes",
            "ndbgp_nd_packets_received_total",
            "ndbgp_neighbors",
            "ndbgp_control_clients",
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
        ] {
            assert!(declared.iter().any(|d| d == name), "{name} missing:\n{text}");
        }
    }

    #[test]
    fn sessions_are_counted_by_state_and_described_per_peer() {
        let text = render(&snapshot(vec![
            neighbor("eth0", "fe80::2", SessionState::Established),
            neighbor("eth1", "fe80::3", SessionState::Active),
        ]));
        let have = lines(&text);
        let peer = r#"interface="eth0",peer="fe80::2""#;
        for line in [
            r#"ndbgp_sessions{state="established"} 1"#.to_string(),
            r#"ndbgp_sessions{state="active"} 1"#.to_string(),
            r#"ndbgp_sessions{state="idle"} 0"#.to_string(),
            format!("ndbgp_session_state{{{peer}}} 6"),
            r#"ndbgp_session_state{interface="eth1",peer="fe80::3"} 3"#.to_string(),
            format!("ndbgp_session_info{{{peer},remote_as=\"65002\"}} 1"),
            format!("ndbgp_session_prefixes_received{{{peer}}} 5"),
            format!("ndbgp_session_prefixes_accepted{{{peer}}} 3"),
            format!("ndbgp_session_prefixes_filtered{{{peer}}} 1"),
            format!("ndbgp_session_prefixes_sent{{{peer}}} 4"),
            format!("ndbgp_session_established_total{{{peer}}} 2"),
            format!("ndbgp_session_messages_received_total{{{peer},type=\"keepalive\"}} 7"),
            format!("ndbgp_session_messages_sent_total{{{peer},type=\"notification\"}} 1"),
            format!("ndbgp_session_messages_sent_total{{{peer},type=\"route_refresh\"}} 0"),
            format!("ndbgp_session_downs_total{{{peer},reason=\"hold_timer_expired\"}} 1"),
            format!("ndbgp_session_downs_total{{{peer},reason=\"notification_received\"}} 0"),
            r#"ndbgp_rib_routes{family="ipv4"} 3"#.to_string(),
            r#"ndbgp_fib_routes{family="ipv6"} 1"#.to_string(),
            r#"ndbgp_fib_operations_total{op="replace"} 5"#.to_string(),
            r#"ndbgp_fib_errors_total{error="refused"} 1"#.to_string(),
            r#"ndbgp_nd_packets_received_total{interface="eth0",type="ra"} 3"#.to_string(),
            r#"ndbgp_nd_packets_received_total{interface="eth0",type="rs"} 0"#.to_string(),
            r#"ndbgp_nd_packets_dropped_total{interface="eth0",reason="hop_limit"} 2"#.to_string(),
            r#"ndbgp_nd_probes_sent_total{interface="eth0"} 6"#.to_string(),
            r#"ndbgp_neighbors{interface="eth0"} 2"#.to_string(),
            "ndbgp_control_clients 1".to_string(),
            "process_cpu_seconds_total 1.5".to_string(),
            "process_start_time_seconds 1700000000.25".to_string(),
        ] {
            assert!(have.contains(&line.as_str()), "missing {line}:\n{text}");
        }
    }

    #[test]
    fn a_session_that_is_gone_has_no_series() {
        let both = render(&snapshot(vec![
            neighbor("eth0", "fe80::2", SessionState::Established),
            neighbor("eth1", "fe80::3", SessionState::Established),
        ]));
        assert!(both.contains(r#"peer="fe80::3""#));
        let one = render(&snapshot(vec![neighbor("eth0", "fe80::2", SessionState::Established)]));
        assert!(!one.contains("fe80::3"), "{one}");
        assert!(one.contains(r#"ndbgp_sessions{state="established"} 1"#));
        // No session at all: the per-session families are left out whole,
        // the count by state stays.
        let none = render(&snapshot(Vec::new()));
        assert!(!none.contains("ndbgp_session_state"), "{none}");
        assert!(none.contains(r#"ndbgp_sessions{state="established"} 0"#));
    }

    #[test]
    fn a_stage_that_did_not_answer_is_said_and_its_series_left_out() {
        let mut s = snapshot(vec![neighbor("eth0", "fe80::2", SessionState::Established)]);
        s.neighbors = None;
        s.process = None;
        let text = render(&s);
        assert!(text.contains(r#"ndbgp_metrics_source_up{source="bgp"} 0"#));
        assert!(text.contains(r#"ndbgp_metrics_source_up{source="interfaces"} 1"#));
        assert!(!text.contains("ndbgp_sessions"), "{text}");
        assert!(!text.contains("process_"), "{text}");
        assert!(text.contains("ndbgp_rib_routes"), "counters read without a task stay");
    }

    #[test]
    fn help_text_is_escaped() {
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }
}
