//! IPv6 Neighbor Discovery: packet codec, raw socket, RS/RA speaker and the
//! task that turns received packets into peer-table observations.

pub mod packet;
pub mod service;
pub mod socket;
pub mod speaker;
