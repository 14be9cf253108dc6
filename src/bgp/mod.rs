//! The BGP engine: message codec, pure FSM, sessions and their manager.

pub mod collision;
pub mod conn;
pub mod fsm;
pub mod manager;
pub mod msg;
pub mod rib;
pub mod route;
pub mod router_id;
pub mod routes;
pub mod session;
pub mod transport;
pub mod update;
