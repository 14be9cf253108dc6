//! The BGP engine: message codec, pure FSM, sessions and their manager.

pub mod conn;
pub mod fsm;
pub mod manager;
pub mod msg;
pub mod session;
pub mod transport;
