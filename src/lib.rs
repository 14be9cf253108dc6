//! ndbgp: BGP unnumbered driven by IPv6 Neighbor Discovery.
//!
//! Data flows one way (docs/ARCHITECTURE.md): `links` (rtnetlink) and `nd`
//! (raw ICMPv6) feed observations into `peers`, whose Discovered/Lost
//! events drive `bgp`; sessions hand routes to `rib`, whose selection goes
//! to `fib`. `msg` is the BGP message codec both sessions and the RIB use;
//! `control` serves the stages' views to `ndbgpctl`. Each stage is a task
//! that owns its state.

pub mod actor;
pub mod api;
pub mod bfd;
pub mod bgp;
pub mod config;
pub mod control;
pub mod fib;
pub mod iface;
pub mod intern;
pub mod links;
pub mod metrics;
pub mod monitor;
pub mod msg;
pub mod nd;
pub mod optimistic_dad;
pub mod peers;
pub mod policy;
pub mod prefix_map;
pub mod preflight;
pub mod reload;
pub mod rib;
pub mod router_id;
pub mod systemd;
pub mod time;
