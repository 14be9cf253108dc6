//! What discovery tells the peer table: one sighting of a neighbour.

use std::net::Ipv6Addr;

use crate::iface::Mac;

/// How a neighbour was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Ra,
    Ns,
    Na,
    Rs,
    /// The kernel neighbour table (rtnetlink).
    Kernel,
    /// An inbound BGP connection.
    Tcp,
    /// An echo reply to our probe (nd/echo.rs).
    Echo,
    /// Configured by the operator (`ndbgpctl neighbor add`): never expires.
    Static,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ra => "ra",
            Source::Ns => "ns",
            Source::Na => "na",
            Source::Rs => "rs",
            Source::Kernel => "kernel",
            Source::Tcp => "tcp",
            Source::Echo => "echo",
            Source::Static => "static",
        }
    }
}

/// One sighting of a neighbour, sent to the peer table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub ifindex: u32,
    pub addr: Ipv6Addr,
    pub mac: Option<Mac>,
    pub source: Source,
    /// Some(true) from an RA or an NA with the router flag, Some(false) from
    /// an NA without it, None when the packet says nothing.
    pub router: Option<bool>,
    /// Router lifetime in seconds, from an RA.
    pub ra_lifetime: Option<u16>,
    /// The address is the target of a DAD NS: not dialable yet.
    pub tentative: bool,
}
