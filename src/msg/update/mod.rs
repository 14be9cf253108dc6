//! UPDATE messages (RFC 4271 4.3) as routes, and routes as UPDATE messages.
//!
//! [`decode`] turns an UPDATE body into an [`Update`] with the revised error
//! handling of RFC 7606: a malformed UPDATE resets the session, is treated
//! as a withdrawal of everything it carries, or loses one attribute, as the
//! RFC says attribute by attribute. [`encode`] packs routes into as few
//! whole messages of at most 4096 octets as it can.
//!
//! Families: IPv4 and IPv6 unicast; IPv4 with an IPv6 next hop (RFC 8950)
//! in MP_REACH_NLRI. 2-octet AS peers get AS4_PATH/AS4_AGGREGATOR (RFC 6793).

use std::fmt;

use ipnet::IpNet;

use crate::msg::Notification;
use crate::msg::code;
mod aspath;
mod attr;
mod decode;
mod encode;
mod nlri;
mod packet;
mod types;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use attr::type_code;
pub use decode::{decode, end_of_rib_family};
pub use encode::{PackError, encode, end_of_rib};
pub use packet::UpdatePacket;
pub use types::*;

/// What the session negotiated that decoding depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeContext {
    /// Both sides sent the 4-octet AS capability (RFC 6793). If not, AS_PATH
    /// and AGGREGATOR carry 2-octet ASNs and AS4_PATH / AS4_AGGREGATOR
    /// restore the real ones (RFC 6793 4.2.3).
    pub four_octet_as: bool,
    /// The peer is in another AS (eBGP): its LOCAL_PREF is ignored (RFC 4271
    /// 5.1.5, RFC 7606 7.5) and confederation segments in its AS_PATH are
    /// malformed (RFC 5065 5; we are in no confederation).
    pub external: bool,
}

/// What the session negotiated that encoding depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeContext {
    /// As [`DecodeContext::four_octet_as`].
    pub four_octet_as: bool,
}

/// A usable UPDATE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    pub update: Update,
    /// Attributes dropped on the way (RFC 7606 "attribute discard", and
    /// duplicates per 7606 3 g): the routes stand without them. Log these.
    pub warnings: Vec<Warning>,
    /// The End-of-RIB marker of this (AFI, SAFI) (RFC 4724 2), see
    /// [`end_of_rib_family`]. Its `update` is empty.
    pub end_of_rib: Option<(u16, u8)>,
}

/// An attribute left out of a usable UPDATE, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub type_code: u8,
    pub reason: &'static str,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attribute {} discarded: {}", self.type_code, self.reason)
    }
}

/// What is wrong with an UPDATE: the NOTIFICATION RFC 4271 6.3 names for
/// it (sent only on a session reset; otherwise for the log, as RFC 7606 6
/// asks), and which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformation {
    pub notification: Notification,
    pub reason: &'static str,
}

impl Malformation {
    fn new(subcode: u8, data: Vec<u8>, reason: &'static str) -> Self {
        Malformation {
            notification: Notification::new(code::UPDATE_MESSAGE, subcode, data),
            reason,
        }
    }
}

impl fmt::Display for Malformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.notification)
    }
}

/// An UPDATE that cannot be used as it is (RFC 7606 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// "Session reset": send `0.notification` and close.
    #[error("malformed UPDATE, session reset: {0}")]
    Reset(Malformation),
    /// "Treat-as-withdraw": the session stays up; every prefix the UPDATE
    /// carried, announced or withdrawn, is to be withdrawn.
    #[error("malformed UPDATE, {} prefixes treated as withdrawn: {reason}", withdrawn.len())]
    TreatAsWithdraw {
        withdrawn: Vec<IpNet>,
        reason: Malformation,
    },
}

impl UpdateError {
    /// The NOTIFICATION to send, for a session reset.
    pub fn notification(&self) -> Option<&Notification> {
        match self {
            UpdateError::Reset(m) => Some(&m.notification),
            UpdateError::TreatAsWithdraw { .. } => None,
        }
    }
}

/// The part of `next_hop` that applies to `prefix`: for IPv4, the NEXT_HOP
/// attribute when there is one, else the MP_REACH_NLRI next hop (RFC 8950);
/// for IPv6, the MP_REACH_NLRI next hop.
pub fn next_hop_for(prefix: &IpNet, next_hop: &NextHop) -> NextHop {
    match (prefix, next_hop.ipv4) {
        (IpNet::V4(_), Some(ipv4)) => NextHop {
            ipv4: Some(ipv4),
            ..NextHop::default()
        },
        _ => NextHop {
            ipv4: None,
            ..*next_hop
        },
    }
}
