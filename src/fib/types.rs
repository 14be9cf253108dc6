//! What the FIB is asked to install: pure types, shared with the RIB that
//! selects the routes.

use std::net::Ipv6Addr;
use std::sync::Arc;

use ipnet::IpNet;

/// A kernel next hop: the neighbour's link-local address on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FibNextHop {
    pub ifindex: u32,
    pub via: Ipv6Addr,
}

/// A next-hop set, sorted and without repeats; shared.
pub type NextHops = Arc<[FibNextHop]>;

/// A route to install; more than one nexthop makes it ECMP. The set is
/// shared: a sender that interns its sets hands a million routes over
/// without a million allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibRoute {
    pub prefix: IpNet,
    pub nexthops: NextHops,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibChange {
    /// Install or change the route to this prefix (no nexthop: delete it).
    Replace(FibRoute),
    /// Remove the route to this prefix.
    Delete(IpNet),
}
