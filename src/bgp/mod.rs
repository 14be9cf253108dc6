//! The BGP engine: the pure FSM, sessions and their manager. The message
//! codec they speak is `crate::msg`, shared with the RIB.

pub mod auth;
pub mod conn;
pub mod fsm;
pub mod manager;
pub mod session;
pub mod sockopt;
#[cfg(test)]
pub(crate) mod testkit;
pub mod transport;
