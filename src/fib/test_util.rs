//! Builders shared by the FIB's unit tests.

use std::sync::Arc;

use ipnet::IpNet;

use super::frame::HEADER_LEN;
use super::message::LinkState;
use super::types::{FibNextHop, NextHops};

pub fn nh(ifindex: u32, via: &str) -> FibNextHop {
    FibNextHop {
        ifindex,
        via: via.parse().expect("address"),
    }
}

pub fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

pub fn set(nexthops: &[FibNextHop]) -> NextHops {
    Arc::from(nexthops)
}

/// Link `ifindex` named eth<ifindex>.
pub fn link(ifindex: u32, up: bool) -> LinkState {
    LinkState {
        ifindex,
        name: format!("eth{ifindex}"),
        up,
        carrier: up,
    }
}

/// The NLMSG_ERROR the kernel sends for request `seq`, with the echoed
/// header only (NETLINK_CAP_ACK): `errno` 0 is an ack.
pub fn error_reply(seq: u32, errno: i32) -> Vec<u8> {
    let len = HEADER_LEN + 4 + HEADER_LEN;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&netlink_packet_core::NLMSG_ERROR.to_ne_bytes());
    msg.extend_from_slice(&netlink_packet_core::NLM_F_CAPPED.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&(-errno).to_ne_bytes());
    msg.extend_from_slice(&[0; HEADER_LEN]);
    msg
}
