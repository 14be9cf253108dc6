//! The BGP engine: message codec, pure FSM, sessions and their manager.

pub mod conn;
pub mod fsm;
pub mod manager;
pub mod msg;
pub mod session;
#[cfg(test)]
pub(crate) mod testkit;
pub mod transport;
