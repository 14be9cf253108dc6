//! Builders shared by the FIB's unit tests.

use std::sync::Arc;

use ipnet::IpNet;

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
    }
}
