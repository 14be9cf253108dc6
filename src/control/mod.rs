//! The control socket: a Unix stream socket carrying one JSON request per
//! line and one JSON response per line. `ndbgpctl` is its client.
//!
//! [`api`] holds the types on the wire, [`server`] the daemon's side,
//! [`client`] `ndbgpctl`'s.

pub mod api;
pub mod client;
pub mod server;

pub use api::{Answer, Request, Response};
pub use server::{Handles, bind, serve};
