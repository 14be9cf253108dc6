//! The peer table: the seam between discovery and BGP.
//!
//! Discovery (ND packets, the kernel neighbour table, inbound BGP
//! connections) feeds [`Observation`]s in. The table keeps one entry per
//! (ifindex, link-local address) and tells the BGP manager, with
//! [`PeerEvent`]s, which neighbours may be dialled and which are gone.
//! Discovery gates new connection attempts only: what BGP does with a
//! `Lost` for an established session is its own business. A static
//! neighbour (`ndbgpctl neighbor add`) is an entry with the `static` source:
//! discovered while its interface is up, never lost for silence.
//!
//! [`table`] is the pure state machine (time is passed in); [`task`] is the
//! actor that owns it and wires it to channels.

mod events;
pub mod observation;
pub mod table;
pub mod task;

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use crate::iface::Mac;

pub use crate::api::{PeerCounters, PeerEntryView, PeerStateName};
pub use observation::{Observation, Source};
pub use table::{PeerEntry, PeerState, PeerTable};
pub use task::{PeerTableHandle, spawn};

/// A neighbour's identity: the link it is on and its fe80:: address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    pub ifindex: u32,
    pub addr: Ipv6Addr,
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%{}", self.addr, self.ifindex)
    }
}

/// What the table knows of a neighbour when it becomes dialable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub key: PeerKey,
    pub interface: String,
    pub mac: Option<Mac>,
    pub router: bool,
    pub sources: BTreeSet<Source>,
    /// Router lifetime of the last RA from it, in seconds.
    pub ra_lifetime: Option<u16>,
}

/// Why a neighbour left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    LinkDown,
    LinkDeleted,
    /// The interface name now belongs to another ifindex (deleted and
    /// re-created): the old scope id is useless for dialling.
    IfindexChanged,
    /// The address became one of ours: never a neighbour.
    OwnAddress,
    /// Nothing heard from it for longer than its hold time; `elapsed` is
    /// the time since it was last heard.
    Silent {
        elapsed: Duration,
    },
    /// `ndbgpctl neighbor remove` of a static neighbour nothing else sees.
    StaticRemoved,
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostReason::LinkDown => f.write_str("link down"),
            LostReason::LinkDeleted => f.write_str("link deleted"),
            LostReason::IfindexChanged => f.write_str("ifindex changed"),
            LostReason::OwnAddress => f.write_str("now our own address"),
            LostReason::Silent { elapsed } => write!(f, "silent for {elapsed:?}"),
            LostReason::StaticRemoved => f.write_str("static neighbour removed"),
        }
    }
}

/// What the table tells the BGP manager. A key gets at most one
/// `Discovered` before its `Lost`, and a `Lost` only after a `Discovered`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A usable neighbour appeared: it may be dialled.
    Discovered(PeerInfo),
    Lost {
        key: PeerKey,
        reason: LostReason,
    },
}

impl PeerEvent {
    pub fn key(&self) -> PeerKey {
        match self {
            PeerEvent::Discovered(info) => info.key,
            PeerEvent::Lost { key, .. } => *key,
        }
    }
}

/// Tunables of the peer table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTableConfig {
    /// Our RA interval. Neighbours are assumed to advertise about as often,
    /// so the default hold is three of them.
    pub ra_interval: Duration,
    /// Overrides 3 x `ra_interval` as the hold time (`--discovery-hold`).
    pub discovery_hold: Option<Duration>,
    /// How long after a DAD NS its target is taken as usable when nothing
    /// else was heard from it: RFC 4862 RetransTimer (1 s) x
    /// DupAddrDetectTransmits (1), plus margin.
    pub dad_time: Duration,
    /// Most entries per interface; past it new addresses are refused.
    pub max_per_interface: usize,
}

impl Default for PeerTableConfig {
    fn default() -> Self {
        PeerTableConfig {
            ra_interval: Duration::from_secs(10),
            discovery_hold: None,
            dad_time: Duration::from_millis(1500),
            max_per_interface: 64,
        }
    }
}

impl PeerTableConfig {
    /// How long a neighbour may stay silent, unless its last RA lifetime
    /// is longer.
    pub fn hold(&self) -> Duration {
        self.discovery_hold
            .unwrap_or_else(|| self.ra_interval.saturating_mul(3))
    }
}
