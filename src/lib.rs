//! ndbgp: BGP unnumbered driven by IPv6 Neighbor Discovery.
//!
//! Data flows one way (see GUIDE.md section 2): netlink + raw ICMPv6 feed
//! observations into the peer table, which emits Discovered/Lost events for
//! the BGP engine. Each stage is a task that owns its state.

pub mod addresses;
pub mod bgp;
pub mod config;
pub mod control;
pub mod iface;
pub mod intern;
pub mod nd;
pub mod netlink;
pub mod peers;
pub mod prefix_map;
pub mod reload;
pub mod systemd;
