//! IPv6 Neighbor Discovery: packet codec, raw socket, RS/RA speaker, the
//! probe for silent neighbours and the task that turns received packets
//! into peer-table observations.

pub mod echo;
pub mod log_limit;
pub mod packet;
pub mod probe;
pub mod service;
pub mod socket;
pub mod speaker;
