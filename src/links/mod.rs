//! rtnetlink: links, link-locals and neighbours of the configured
//! interfaces, and the addresses of every interface (the one source of the
//! router ID, next hop self and `--redistribute connected`).
//!
//! The netlink crates break their API often, so their types stay inside this
//! module: `convert` turns messages into our types, `state` keeps the tables
//! and computes snapshots and changes, `sync` rebuilds the state from dumps
//! while events keep coming (all three pure, unit-tested without root), and
//! `watch` does the socket I/O. Callers see only `iface::Links`,
//! `iface::HostAddresses` and `peers::Observation`.
//!
//! Overruns: netlink-proto 0.14 turns ENOBUFS from recv() into an
//! NLMSG_OVERRUN message on the multicast stream; we re-dump on it. It
//! cannot tell us about messages it fails to decode (logged through the
//! `log` crate and dropped; a bad header drops the rest of its datagram) nor
//! why the socket died (the stream just ends; we reopen and re-dump).

mod convert;
mod state;
mod sync;
mod watch;

pub use watch::{dump_addresses, dump_links, dump_neighbours, watch, watch_interfaces};
