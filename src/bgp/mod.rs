//! The BGP engine: message codec, pure FSM, sessions and their manager.

pub mod collision;
pub mod fsm;
pub mod msg;
pub mod router_id;
pub mod transport;
