//! BFD, Bidirectional Forwarding Detection (RFC 5880), single hop over
//! IPv6 link-locals (RFC 5881): the packet codec and the session state
//! machine (pure), the UDP socket and the task that runs the sessions.
//!
//! Asynchronous mode only: no Demand mode, no Echo function, no
//! authentication (see `session.rs`).

pub mod packet;
pub mod service;
pub mod session;
pub mod socket;
