//! The control API: every request `ndbgpctl` sends and every answer
//! `ndbgpd` gives, as one JSON line each way on the control socket.
//!
//! ```text
//! request:  {"command":"routes","prefix":"10.0.0.0/8"}
//! response: {"ok":true,"result":[...]}  or  {"ok":false,"error":"..."}
//! ```
//!
//! | request           | result                                |
//! |-------------------|---------------------------------------|
//! | `discovery`       | `[PeerEntryView]`                     |
//! | `interfaces`      | `[InterfaceEntry]`                    |
//! | `neighbors`       | `[NeighborView]`                      |
//! | `routes`          | `[RouteEntry]`                        |
//! | `filtered_routes` | `[RouteEntry]`, paths with `rejected` |
//! | `announce`, `withdraw`, `neighbor_*`, `interface_*`, `reload` | [`Changed`] |
//! | `monitor`         | `{"ok":true}`, then a [`MonitorEvent`] per line until the client leaves |
//!
//! The requests that change state ([`Request::changes_state`]) are taken
//! only from root or from ndbgpd's own user; any client that can open the
//! socket may read (docs/ARCHITECTURE.md, "The control socket").
//!
//! The field names are the JSON keys that `ndbgpctl ... --json` prints and
//! that scripts read: renaming one breaks them (the tests below pin them).
//!
//! This module is a leaf of plain serde types: it imports no other ndbgp
//! module. The stages build their answers in these types directly (peers,
//! nd, bgp and rib re-export the ones they produce), so each view has one
//! definition, a million routes are not converted on their way out, and
//! the daemon, `ndbgpctl` and the tests cannot disagree on a field. The
//! arrow goes one way: the stages import this leaf, [`crate::control::server`]
//! imports the stages' handles, and nothing here imports either.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

mod monitor;
pub use monitor::{Event, MonitorEvent, PREFIXES_NAMED};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// The peer table.
    Discovery,
    /// Configured interfaces with their ND counters.
    Interfaces,
    /// BGP sessions.
    Neighbors,
    /// The Loc-RIB with every path and what is in the kernel: the routes
    /// equal to or inside `prefix`, all without it.
    Routes {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<IpNet>,
    },
    /// As `routes`, but the paths import rejected (kept, not eligible for
    /// best path), each with its reason.
    FilteredRoutes {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<IpNet>,
    },
    /// Announce `prefix` to every peer as a local route, until withdrawn or
    /// until ndbgpd stops (never written to the config file).
    Announce { prefix: IpNet },
    /// Withdraw a prefix `announce` added.
    Withdraw { prefix: IpNet },
    /// Cease / Administrative Shutdown (RFC 9003 `message`) to the target's
    /// sessions; they stay down, with no redial, until `neighbor_enable`.
    NeighborShutdown {
        target: NeighborTarget,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Lets sessions `neighbor_shutdown` stopped come back.
    NeighborEnable { target: NeighborTarget },
    /// Reset the target's sessions; `soft`: ask the peer to send its routes
    /// again (ROUTE-REFRESH) and send ours again, without a reset.
    NeighborClear {
        target: NeighborTarget,
        #[serde(default)]
        soft: bool,
    },
    /// A static neighbour: dialled as if discovered, whatever discovery sees.
    NeighborAdd { neighbor: ScopedAddress },
    /// Removes a neighbour `neighbor_add` added.
    NeighborRemove { neighbor: ScopedAddress },
    /// Run on this interface too, as if added to the file and reloaded
    /// (not written to the file).
    InterfaceAdd { interface: String },
    /// Stop running on this interface (not written to the file).
    InterfaceRemove { interface: String },
    /// Re-read the configuration (as SIGHUP), answering with the result.
    Reload,
    /// A stream of [`MonitorEvent`]s, one JSON line each, after a first
    /// line `{"ok":true}`, until the client goes away.
    Monitor,
}

impl Request {
    /// The request changes the daemon's state (only root or ndbgpd's own
    /// user may send it), as opposed to reading it.
    pub fn changes_state(&self) -> bool {
        !matches!(
            self,
            Request::Discovery
                | Request::Interfaces
                | Request::Neighbors
                | Request::Routes { .. }
                | Request::FilteredRoutes { .. }
                | Request::Monitor
        )
    }

    /// The request as ndbgpctl's user typed it, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Discovery => "discovery",
            Request::Interfaces => "interfaces",
            Request::Neighbors => "neighbors",
            Request::Routes { .. } => "routes",
            Request::FilteredRoutes { .. } => "routes --filtered",
            Request::Announce { .. } => "announce",
            Request::Withdraw { .. } => "withdraw",
            Request::NeighborShutdown { .. } => "neighbor shutdown",
            Request::NeighborEnable { .. } => "neighbor enable",
            Request::NeighborClear { .. } => "neighbor clear",
            Request::NeighborAdd { .. } => "neighbor add",
            Request::NeighborRemove { .. } => "neighbor remove",
            Request::InterfaceAdd { .. } => "interface add",
            Request::InterfaceRemove { .. } => "interface remove",
            Request::Reload => "reload",
            Request::Monitor => "monitor",
        }
    }
}

/// A link-local neighbour on one interface: `fe80::1%eth0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopedAddress {
    pub address: Ipv6Addr,
    pub interface: String,
}

impl std::str::FromStr for ScopedAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: want a link-local neighbour such as fe80::1%eth0");
        let (address, interface) = s.split_once('%').ok_or_else(bad)?;
        let address: Ipv6Addr = address.parse().map_err(|_| bad())?;
        if !is_link_local(address) {
            return Err(format!("{s:?}: {address} is not a link-local (fe80::/10) address"));
        }
        valid_interface_name(interface).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(ScopedAddress {
            address,
            interface: interface.to_string(),
        })
    }
}

impl std::fmt::Display for ScopedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%{}", self.address, self.interface)
    }
}

impl TryFrom<String> for ScopedAddress {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ScopedAddress> for String {
    fn from(a: ScopedAddress) -> String {
        a.to_string()
    }
}

/// What a `neighbor` command acts on: every session of an interface
/// (`eth0`), or one neighbour (`fe80::1%eth0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NeighborTarget {
    Interface(String),
    Neighbor(ScopedAddress),
}

impl std::str::FromStr for NeighborTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains('%') {
            return s.parse().map(NeighborTarget::Neighbor);
        }
        valid_interface_name(s)
            .map(|()| NeighborTarget::Interface(s.to_string()))
            .map_err(|e| format!("{s:?}: {e}; want an interface (eth0) or a neighbour (fe80::1%eth0)"))
    }
}

impl std::fmt::Display for NeighborTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NeighborTarget::Interface(name) => f.write_str(name),
            NeighborTarget::Neighbor(neighbor) => neighbor.fmt(f),
        }
    }
}

impl TryFrom<String> for NeighborTarget {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<NeighborTarget> for String {
    fn from(t: NeighborTarget) -> String {
        t.to_string()
    }
}

fn is_link_local(address: Ipv6Addr) -> bool {
    address.segments()[0] & 0xffc0 == 0xfe80
}

/// A Linux interface name: 1 to 15 bytes, no '/', whitespace, ':' or '%'.
pub fn valid_interface_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == b'%' || b.is_ascii_whitespace() || b.is_ascii_control());
    match bad {
        true => Err("not an interface name (1 to 15 bytes, no '/', ':', '%' or spaces)".to_string()),
        false => Ok(()),
    }
}

/// The answer to a request that changes state: what was done, in a line
/// for the operator (`ndbgpctl` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub message: String,
}

/// The envelope of every answer. `result` stays serialized text: the
/// server writes it out as it was serialized and the client can print it
/// without parsing (a full table is hundreds of MB).
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A `result`, typed by the request it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Discovery(Vec<PeerEntryView>),
    Interfaces(Vec<InterfaceEntry>),
    Neighbors(Vec<NeighborView>),
    Routes(Vec<RouteEntry>),
    Changed(Changed),
}

impl Answer {
    /// Reads the `result` of a response to `request`.
    pub fn from_json(request: &Request, result: &str) -> serde_json::Result<Answer> {
        Ok(match request {
            Request::Discovery => Answer::Discovery(serde_json::from_str(result)?),
            Request::Interfaces => Answer::Interfaces(serde_json::from_str(result)?),
            Request::Neighbors => Answer::Neighbors(serde_json::from_str(result)?),
            Request::Routes { .. } | Request::FilteredRoutes { .. } => Answer::Routes(serde_json::from_str(result)?),
            _ => Answer::Changed(serde_json::from_str(result)?),
        })
    }
}

/// A peer-table entry's state: "usable" or "tentative".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerStateName {
    Usable,
    Tentative,
}

/// One peer-table entry (`discovery`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEntryView {
    pub interface: String,
    pub ifindex: u32,
    pub address: Ipv6Addr,
    /// `aa:bb:cc:dd:ee:ff`, or null when unknown.
    pub mac: Option<String>,
    /// e.g. `["ra", "ns"]`.
    pub sources: Vec<String>,
    pub router: bool,
    pub state: PeerStateName,
    /// Milliseconds since it was last heard.
    pub last_seen_ms: u64,
    /// Milliseconds since it was first heard.
    pub first_seen_ms: u64,
    /// Router lifetime of its last RA, in seconds.
    pub ra_lifetime: Option<u16>,
    /// Milliseconds until it is dropped if nothing more is heard; null when
    /// that is beyond what a clock can hold.
    pub expires_in_ms: Option<u64>,
}

/// Per-interface counts of observations the peer table did not take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCounters {
    /// New addresses refused because the interface had
    /// `max_per_interface` entries.
    pub refused: u64,
    /// Observations on a link that was down or not in the Links snapshot.
    pub ignored_down: u64,
    /// Observations of one of our own addresses (a spoofed RA, our own
    /// packets looped back, a kernel neighbour entry for us): never a
    /// neighbour.
    #[serde(default)]
    pub ignored_own: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceState {
    Up,
    Down,
    /// Configured but not in the kernel.
    #[default]
    Missing,
}

/// A configured interface as the ND task sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceView {
    pub interface: String,
    pub ifindex: Option<u32>,
    pub state: InterfaceState,
    pub mac: Option<String>,
    pub link_local: Option<Ipv6Addr>,
    /// The link-local is still in duplicate address detection: nothing sent yet.
    pub tentative: bool,
    /// ND packets by type ("rs", "ra", "ns", "na").
    pub rx: BTreeMap<String, u64>,
    pub tx: BTreeMap<String, u64>,
    pub tx_errors: u64,
    /// Received packets dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Echo probes for silent neighbours; None when probing is off.
    #[serde(default)]
    pub probes: Option<ProbeCounters>,
}

/// The probes an interface sent (echo requests to ff02::1), the answers
/// to them (echo replies from a link-local), and the steady probes skipped
/// because every neighbour answering them also speaks ND on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCounters {
    pub sent: u64,
    pub answers: u64,
    #[serde(default)]
    pub skipped: u64,
}

/// One line of `interfaces`: the ND view and the peer table's part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceEntry {
    #[serde(flatten)]
    pub nd: InterfaceView,
    pub neighbors: InterfaceNeighbors,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceNeighbors {
    /// Entries in the peer table on this interface, usable or tentative.
    pub count: usize,
    #[serde(flatten)]
    pub counters: PeerCounters,
}

/// A BGP session's FSM state (RFC 4271 8.2.2), as the FSM names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

/// Who opened a session's TCP connection: "outbound" we did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// One BGP session (`neighbors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborView {
    /// The interface's current name; empty once the link is gone (the
    /// session is ending).
    pub interface: String,
    pub ifindex: u32,
    pub address: Ipv6Addr,
    pub state: SessionState,
    pub remote_asn: Option<u32>,
    pub remote_id: Option<Ipv4Addr>,
    pub direction: Option<Direction>,
    /// Seconds since Established; 0 in any other state.
    pub uptime_s: u64,
    pub last_error: Option<String>,
    /// Why the last Established session ended.
    pub last_down: Option<String>,
    /// Negotiated once Established, else ours.
    pub hold_time: u16,
    pub keepalive_s: Option<u64>,
    /// BGP messages of every type, since the session task started.
    pub messages_received: u64,
    pub messages_sent: u64,
    /// Times this session reached Established.
    pub established_count: u64,
    /// UPDATE messages (each counted in `messages_*` too).
    pub updates_received: u64,
    pub updates_sent: u64,
    /// Prefixes in its Adj-RIB-In (rejected ones too), and announced to it now.
    pub prefixes_received: usize,
    pub prefixes_sent: usize,
    /// Of those received, how many its import filter rejects now.
    #[serde(default)]
    pub prefixes_filtered: usize,
    /// Of those received, how many are rejected (treated as withdrawn)
    /// because their AS_PATH does not start with its AS.
    #[serde(default)]
    pub prefixes_first_as_rejected: usize,
    /// Announcements whose next hop was one of our addresses (RFC 4271
    /// 5.1.3) since the session came up, plus held routes whose next hop
    /// became ours: cumulative. Such routes are kept rejected ("next hop
    /// ours" in `filtered_routes`) while the address is ours.
    #[serde(default)]
    pub next_hop_ours: u64,
    /// Announcements treated as withdrawn since the session came up
    /// because our AS is in their AS_PATH (RFC 4271 9.1.2).
    #[serde(default)]
    pub as_loop: u64,
    /// The connection shown is signed with TCP-MD5 (RFC 2385).
    #[serde(default)]
    pub tcp_md5: bool,
    /// The connection shown drops segments below hop limit 255 (RFC 5082).
    #[serde(default)]
    pub ttl_security: bool,
    /// `--max-prefix` on its interface, if any.
    #[serde(default)]
    pub max_prefix: Option<u32>,
    /// Closed for having more prefixes than `max_prefix`: no session until
    /// `max_prefix_retry_s` from now (None: until a reload).
    #[serde(default)]
    pub max_prefix_held: bool,
    #[serde(default)]
    pub max_prefix_retry_s: Option<u64>,
    /// Of those received, how many are eligible for best path now.
    #[serde(default)]
    pub prefixes_accepted: usize,
    /// Messages received and sent, by type, since the session task started.
    #[serde(default)]
    pub messages_by_type: MessagesByType,
    /// Established sessions that ended, by [`DOWN_REASONS`] class.
    #[serde(default)]
    pub downs: BTreeMap<String, u64>,
    /// Held down by `neighbor shutdown`: no session until `neighbor enable`.
    #[serde(default)]
    pub admin_down: bool,
    /// The last OPENs, its and ours, had the Graceful Restart capability
    /// (RFC 4724): we keep its routes when it restarts.
    #[serde(default)]
    pub graceful_restart: bool,
    /// Its session ended in a graceful restart and is not back yet: its
    /// routes are kept, stale, for its restart time.
    #[serde(default)]
    pub gr_restarting: bool,
    /// Routes kept from a session that ended in a graceful restart and not
    /// sent again yet (swept at its End-of-RIB or when the time is over).
    #[serde(default)]
    pub stale_routes: usize,
    /// The BFD session's state ("up", "down", "init", "admin-down"); None
    /// when `--bfd` is off.
    #[serde(default)]
    pub bfd: Option<String>,
    /// BFD failed: no session until it is up again.
    #[serde(default)]
    pub bfd_held: bool,
}

impl NeighborView {
    /// A neighbour with no session (yet): Idle, nothing counted, nothing
    /// negotiated; its hold time is the one we offer.
    pub fn idle(interface: String, ifindex: u32, address: Ipv6Addr, hold_time: u16) -> NeighborView {
        NeighborView {
            interface,
            ifindex,
            address,
            state: SessionState::Idle,
            remote_asn: None,
            remote_id: None,
            direction: None,
            uptime_s: 0,
            last_error: None,
            last_down: None,
            hold_time,
            keepalive_s: None,
            messages_received: 0,
            messages_sent: 0,
            established_count: 0,
            updates_received: 0,
            updates_sent: 0,
            prefixes_received: 0,
            prefixes_sent: 0,
            prefixes_filtered: 0,
            prefixes_first_as_rejected: 0,
            next_hop_ours: 0,
            as_loop: 0,
            tcp_md5: false,
            ttl_security: false,
            max_prefix: None,
            max_prefix_held: false,
            max_prefix_retry_s: None,
            prefixes_accepted: 0,
            messages_by_type: MessagesByType::default(),
            downs: BTreeMap::new(),
            admin_down: false,
            graceful_restart: false,
            gr_restarting: false,
            stale_routes: 0,
            bfd: None,
            bfd_held: false,
        }
    }
}

/// The classes of why an Established session ended: a fixed set, so that
/// a metric labelled by it stays small. The text of each is in `last_down`.
pub const DOWN_REASONS: [&str; 10] = [
    "admin_stop",
    "stopped",
    "link_down",
    "hold_timer_expired",
    "connection_lost",
    "notification_received",
    "notification_sent",
    "malformed_notification",
    // BFD failed (`--bfd`): set by the session, not the FSM.
    "bfd_down",
    "other",
];

/// BGP messages by type (RFC 4271 4.1, RFC 2918).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    pub open: u64,
    pub update: u64,
    pub notification: u64,
    pub keepalive: u64,
    pub route_refresh: u64,
}

impl MessageCounts {
    /// Each type with its count, as metrics label them.
    pub fn by_type(&self) -> [(&'static str, u64); 5] {
        [
            ("open", self.open),
            ("update", self.update),
            ("notification", self.notification),
            ("keepalive", self.keepalive),
            ("route_refresh", self.route_refresh),
        ]
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesByType {
    pub received: MessageCounts,
    pub sent: MessageCounts,
}

/// One prefix and every path to it, as the RIB holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    pub prefix: IpNet,
    /// Selected paths first (best first), then the others.
    pub paths: Vec<PathView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathView {
    /// "local", or the peer as "fe80::1%ifindex".
    pub peer: String,
    pub ifindex: Option<u32>,
    /// The name of `ifindex`, filled in for `ndbgpctl routes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    pub peer_address: Option<Ipv6Addr>,
    pub peer_asn: u32,
    pub router_id: Ipv4Addr,
    /// The received NEXT_HOP / MP_REACH next hops (FIB uses the peer).
    pub next_hop_ipv4: Option<Ipv4Addr>,
    pub next_hop_global: Option<Ipv6Addr>,
    pub next_hop_link_local: Option<Ipv6Addr>,
    /// AS_PATH as "65001 65002 {65003,65004}"; confederation segments in
    /// parentheses (sequence) or brackets (set).
    pub as_path: String,
    /// "igp", "egp", "incomplete", or "none" when absent.
    pub origin: String,
    /// The degree of preference used (RFC 4271 9.1.1), not necessarily
    /// the received attribute.
    pub local_pref: u32,
    pub med: Option<u32>,
    /// "ASN:value".
    pub communities: Vec<String>,
    /// "global:local1:local2".
    pub large_communities: Vec<String>,
    pub best: bool,
    pub multipath: bool,
    /// Why import rejected it ("first AS", "next hop ours", "import
    /// filter": one reason, the first that applies, in that order): only in
    /// `routes --filtered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// Kept from a session that ended in a graceful restart (RFC 4724):
    /// still used, not sent again by the peer yet.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stale: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One prefix of `routes`: the RIB's view plus what the FIB task recorded
/// the kernel accepting (taken a moment after the RIB's view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteEntry {
    #[serde(flatten)]
    pub route: RouteView,
    pub installed: bool,
    /// The installed next hops, as "fe80::x%IF".
    pub kernel_next_hops: Vec<String>,
}

/// A page of the `routes` answer, written out a route at a time by the
/// control socket. The daemon's pages write their JSON straight from the
/// RIB's data (no [`RouteEntry`] built); whatever writes it, a route's
/// JSON is exactly what serde_json writes for its [`RouteEntry`].
pub trait RoutesPage: Send + Sync {
    /// Routes in the page.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The prefix of route `i` (`i < len`): the last one is where the
    /// next page starts after.
    fn prefix(&self, i: usize) -> IpNet;
    /// Appends route `i` (`i < len`) as JSON.
    fn write_json(&self, i: usize, out: &mut Vec<u8>) -> serde_json::Result<()>;
}

impl RoutesPage for Vec<RouteEntry> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn prefix(&self, i: usize) -> IpNet {
        self[i].route.prefix
    }

    fn write_json(&self, i: usize, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &self[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_on_the_wire() {
        let parse = |s: &str| serde_json::from_str::<Request>(s).map_err(|e| e.to_string());
        assert_eq!(parse(r#"{"command":"neighbors"}"#), Ok(Request::Neighbors));
        assert_eq!(parse(r#"{"command":"routes"}"#), Ok(Request::Routes { prefix: None }));
        assert_eq!(
            parse(r#"{"command":"routes","prefix":"10.1.0.0/16"}"#),
            Ok(Request::Routes {
                prefix: Some("10.1.0.0/16".parse().unwrap())
            })
        );
        assert!(parse(r#"{"command":"routes","prefix":"10.1.0.0/33"}"#).is_err());
        assert!(parse(r#"{"command":"reboot"}"#).is_err());
        let line = serde_json::to_string(&Request::Routes { prefix: None }).unwrap();
        assert_eq!(line, r#"{"command":"routes"}"#);
        assert_eq!(
            parse(r#"{"command":"filtered_routes","prefix":"0.0.0.0/0"}"#),
            Ok(Request::FilteredRoutes {
                prefix: Some("0.0.0.0/0".parse().unwrap())
            })
        );
    }

    #[test]
    fn change_requests_on_the_wire() {
        let parse = |s: &str| serde_json::from_str::<Request>(s).map_err(|e| e.to_string());
        let eth0 = ScopedAddress {
            address: "fe80::1".parse().unwrap(),
            interface: "eth0".into(),
        };
        assert_eq!(
            parse(r#"{"command":"neighbor_shutdown","target":"fe80::1%eth0","message":"maintenance"}"#),
            Ok(Request::NeighborShutdown {
                target: NeighborTarget::Neighbor(eth0.clone()),
                message: Some("maintenance".into())
            })
        );
        assert_eq!(
            parse(r#"{"command":"neighbor_clear","target":"swp1"}"#),
            Ok(Request::NeighborClear {
                target: NeighborTarget::Interface("swp1".into()),
                soft: false
            })
        );
        let add = Request::NeighborAdd { neighbor: eth0 };
        let line = serde_json::to_string(&add).unwrap();
        assert_eq!(line, r#"{"command":"neighbor_add","neighbor":"fe80::1%eth0"}"#);
        assert_eq!(parse(&line), Ok(add));
        assert_eq!(parse(r#"{"command":"reload"}"#), Ok(Request::Reload));
        // Checked on the daemon's side too, not only by ndbgpctl.
        assert!(parse(r#"{"command":"neighbor_add","neighbor":"2001:db8::1%eth0"}"#).is_err());
        assert!(parse(r#"{"command":"neighbor_add","neighbor":"fe80::1"}"#).is_err());
        assert!(parse(r#"{"command":"neighbor_enable","target":"a/b"}"#).is_err());
        assert!(parse(r#"{"command":"interface_add","interface":"eth0"}"#).is_ok());
        assert!(Request::Reload.changes_state());
        assert!(!Request::Routes { prefix: None }.changes_state());
    }

    #[test]
    fn targets_read_as_typed() {
        assert_eq!("eth0".parse(), Ok(NeighborTarget::Interface("eth0".into())));
        let t: NeighborTarget = "fe80::a:b%swp12".parse().unwrap();
        assert_eq!(t.to_string(), "fe80::a:b%swp12");
        for bad in [
            "",
            "fe80::1%",
            "%eth0",
            "fe80::1%a b",
            "10.0.0.1%eth0",
            "averyveryverylongname",
        ] {
            assert!(bad.parse::<NeighborTarget>().is_err(), "{bad:?}");
        }
    }

    fn neighbor() -> NeighborView {
        NeighborView {
            interface: "eth0".into(),
            ifindex: 2,
            address: "fe80::2".parse().unwrap(),
            state: SessionState::Established,
            remote_asn: Some(65002),
            remote_id: Some(Ipv4Addr::new(10, 0, 0, 2)),
            direction: Some(Direction::Outbound),
            uptime_s: 3725,
            last_error: None,
            last_down: Some("hold timer expired".into()),
            hold_time: 9,
            keepalive_s: Some(3),
            messages_received: 10,
            messages_sent: 11,
            established_count: 1,
            updates_received: 2,
            updates_sent: 3,
            prefixes_received: 4,
            prefixes_sent: 5,
            tcp_md5: true,
            ttl_security: false,
            max_prefix: None,
            max_prefix_held: false,
            max_prefix_retry_s: None,
            admin_down: false,
            prefixes_filtered: 6,
            prefixes_first_as_rejected: 7,
            next_hop_ours: 8,
            as_loop: 9,
            prefixes_accepted: 3,
            messages_by_type: MessagesByType {
                received: MessageCounts {
                    open: 1,
                    update: 2,
                    notification: 0,
                    keepalive: 7,
                    route_refresh: 0,
                },
                sent: MessageCounts::default(),
            },
            downs: BTreeMap::from([("hold_timer_expired".into(), 1)]),
            graceful_restart: false,
            gr_restarting: false,
            stale_routes: 0,
            bfd: None,
            bfd_held: false,
        }
    }

    fn interface() -> InterfaceEntry {
        InterfaceEntry {
            nd: InterfaceView {
                interface: "eth0".into(),
                ifindex: Some(2),
                state: InterfaceState::Up,
                mac: Some("02:00:00:00:00:01".into()),
                link_local: Some("fe80::1".parse().unwrap()),
                tentative: false,
                rx: BTreeMap::from([("ra".into(), 3), ("ns".into(), 1)]),
                tx: BTreeMap::from([("ra".into(), 4)]),
                tx_errors: 0,
                dropped: BTreeMap::from([("hop_limit".into(), 1)]),
                probes: Some(ProbeCounters {
                    sent: 6,
                    answers: 2,
                    skipped: 1,
                }),
            },
            neighbors: InterfaceNeighbors {
                count: 2,
                counters: PeerCounters {
                    refused: 1,
                    ignored_down: 0,
                    ignored_own: 0,
                },
            },
        }
    }

    fn route() -> RouteEntry {
        RouteEntry {
            route: RouteView {
                prefix: "10.0.2.0/24".parse().unwrap(),
                paths: vec![PathView {
                    peer: "fe80::2%2".into(),
                    ifindex: Some(2),
                    interface: Some("eth0".into()),
                    peer_address: Some("fe80::2".parse().unwrap()),
                    peer_asn: 65002,
                    router_id: Ipv4Addr::new(10, 0, 0, 2),
                    next_hop_ipv4: None,
                    next_hop_global: None,
                    next_hop_link_local: Some("fe80::2".parse().unwrap()),
                    as_path: "65002".into(),
                    origin: "igp".into(),
                    local_pref: 100,
                    med: None,
                    communities: vec!["65002:1".into()],
                    large_communities: vec![],
                    best: true,
                    multipath: true,
                    rejected: None,
                    stale: false,
                }],
            },
            installed: true,
            kernel_next_hops: vec!["fe80::2%eth0".into()],
        }
    }

    fn peer() -> PeerEntryView {
        PeerEntryView {
            interface: "eth0".into(),
            ifindex: 2,
            address: "fe80::2".parse().unwrap(),
            mac: Some("02:00:00:00:00:02".into()),
            sources: vec!["ra".into(), "ns".into()],
            router: true,
            state: PeerStateName::Usable,
            last_seen_ms: 1500,
            first_seen_ms: 9000,
            ra_lifetime: Some(1800),
            expires_in_ms: Some(28500),
        }
    }

    /// The JSON keys and values scripts read: a rename fails here first.
    #[test]
    fn answers_on_the_wire() {
        let cases = [
            (
                Answer::Discovery(vec![peer()]),
                r#"[{"interface":"eth0","ifindex":2,"address":"fe80::2","mac":"02:00:00:00:00:02","sources":["ra","ns"],"router":true,"state":"usable","last_seen_ms":1500,"first_seen_ms":9000,"ra_lifetime":1800,"expires_in_ms":28500}]"#,
            ),
            (
                Answer::Interfaces(vec![interface()]),
                r#"[{"interface":"eth0","ifindex":2,"state":"up","mac":"02:00:00:00:00:01","link_local":"fe80::1","tentative":false,"rx":{"ns":1,"ra":3},"tx":{"ra":4},"tx_errors":0,"dropped":{"hop_limit":1},"probes":{"sent":6,"answers":2,"skipped":1},"neighbors":{"count":2,"refused":1,"ignored_down":0,"ignored_own":0}}]"#,
            ),
            (
                Answer::Neighbors(vec![neighbor()]),
                r#"[{"interface":"eth0","ifindex":2,"address":"fe80::2","state":"Established","remote_asn":65002,"remote_id":"10.0.0.2","direction":"outbound","uptime_s":3725,"last_error":null,"last_down":"hold timer expired","hold_time":9,"keepalive_s":3,"messages_received":10,"messages_sent":11,"established_count":1,"updates_received":2,"updates_sent":3,"prefixes_received":4,"prefixes_sent":5,"prefixes_filtered":6,"prefixes_first_as_rejected":7,"next_hop_ours":8,"as_loop":9,"tcp_md5":true,"ttl_security":false,"max_prefix":null,"max_prefix_held":false,"max_prefix_retry_s":null,"prefixes_accepted":3,"messages_by_type":{"received":{"open":1,"update":2,"notification":0,"keepalive":7,"route_refresh":0},"sent":{"open":0,"update":0,"notification":0,"keepalive":0,"route_refresh":0}},"downs":{"hold_timer_expired":1},"admin_down":false,"graceful_restart":false,"gr_restarting":false,"stale_routes":0,"bfd":null,"bfd_held":false}]"#,
            ),
            (
                Answer::Routes(vec![route()]),
                r#"[{"prefix":"10.0.2.0/24","paths":[{"peer":"fe80::2%2","ifindex":2,"interface":"eth0","peer_address":"fe80::2","peer_asn":65002,"router_id":"10.0.0.2","next_hop_ipv4":null,"next_hop_global":null,"next_hop_link_local":"fe80::2","as_path":"65002","origin":"igp","local_pref":100,"med":null,"communities":["65002:1"],"large_communities":[],"best":true,"multipath":true}],"installed":true,"kernel_next_hops":["fe80::2%eth0"]}]"#,
            ),
        ];
        let requests = [
            Request::Discovery,
            Request::Interfaces,
            Request::Neighbors,
            Request::Routes { prefix: None },
        ];
        for ((answer, json), request) in cases.into_iter().zip(requests) {
            assert_eq!(serde_json::to_string(&answer).unwrap(), json);
            assert_eq!(Answer::from_json(&request, json).unwrap(), answer);
        }
    }

    #[test]
    fn a_rejected_path_says_why() {
        let mut entry = route();
        entry.route.paths[0].rejected = Some("import filter".into());
        let json = serde_json::to_string(&Answer::Routes(vec![entry.clone()])).unwrap();
        assert!(
            json.contains(r#""multipath":true,"rejected":"import filter"}"#),
            "{json}"
        );
        let request = Request::FilteredRoutes { prefix: None };
        assert_eq!(Answer::from_json(&request, &json).unwrap(), Answer::Routes(vec![entry]));
    }

    #[test]
    fn every_session_state_reads_back() {
        use SessionState::*;
        for state in [Idle, Connect, Active, OpenSent, OpenConfirm, Established] {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state:?}\""));
            assert_eq!(serde_json::from_str::<SessionState>(&json).unwrap(), state);
        }
    }

    #[test]
    fn an_answer_of_the_wrong_kind_is_an_error() {
        let routes = serde_json::to_string(&Answer::Routes(vec![route()])).unwrap();
        assert!(Answer::from_json(&Request::Neighbors, &routes).is_err());
        assert_eq!(
            Answer::from_json(&Request::Neighbors, "[]").unwrap(),
            Answer::Neighbors(vec![])
        );
    }
}
