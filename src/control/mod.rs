//! The control socket: a Unix stream socket carrying one JSON request per
//! line and one JSON response per line. `ndbgpctl` is its client.
//!
//! [`crate::api`] holds the types on the wire, [`server`] the daemon's
//! side, [`client`] `ndbgpctl`'s.

pub mod change;
pub mod client;
pub mod server;

pub use crate::api::{Answer, Request, Response};
pub use change::{DaemonChange, DaemonRequest, DaemonRequests};
pub use server::{
    ClientCounts, Handles, Limits, MAX_CLIENTS, ROUTES_PAGE, Views, WRITE_TIMEOUT, bind, serve, serve_with,
};
