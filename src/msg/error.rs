//! Errors of the codec: a received message we must answer with a NOTIFICATION
//! (RFC 4271 6), or one of our own values that does not fit on the wire.

use std::fmt;

use super::{Notification, code};

/// A received message is malformed. Carries the NOTIFICATION to send
/// (RFC 4271 6.1 to 6.3) and, for logs, which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgError {
    pub code: u8,
    pub subcode: u8,
    /// The NOTIFICATION data the RFC asks for (e.g. the bad length field).
    pub data: Vec<u8>,
    /// Which check failed, in words; never sent on the wire.
    pub reason: &'static str,
}

impl MsgError {
    pub(crate) fn new(code: u8, subcode: u8, data: Vec<u8>, reason: &'static str) -> Self {
        MsgError {
            code,
            subcode,
            data,
            reason,
        }
    }

    /// RFC 4271 6.1: the marker is not all ones.
    pub(crate) fn not_synchronized() -> Self {
        Self::new(
            code::MESSAGE_HEADER,
            code::CONNECTION_NOT_SYNCHRONIZED,
            Vec::new(),
            "marker is not all ones",
        )
    }

    /// RFC 4271 6.1: the data is the erroneous Length field.
    pub(crate) fn bad_length(length: u16, reason: &'static str) -> Self {
        Self::new(
            code::MESSAGE_HEADER,
            code::BAD_MESSAGE_LENGTH,
            length.to_be_bytes().to_vec(),
            reason,
        )
    }

    /// RFC 4271 6.1: the data is the erroneous Type field.
    pub(crate) fn bad_type(msg_type: u8) -> Self {
        Self::new(
            code::MESSAGE_HEADER,
            code::BAD_MESSAGE_TYPE,
            vec![msg_type],
            "unknown message type",
        )
    }

    /// A malformed optional parameter or capability: OPEN Message Error with
    /// subcode 0, as RFC 5492 3 asks for capabilities and as FRR
    /// (bgp_open.c, BGP_NOTIFY_OPEN_MALFORMED_ATTR = 0) and BIRD
    /// (packets.c, bgp_read_options) send for both.
    pub(crate) fn open_malformed(reason: &'static str) -> Self {
        Self::new(code::OPEN_MESSAGE, code::UNSPECIFIC, Vec::new(), reason)
    }

    /// RFC 4271 6.3: the withdrawn routes or path attributes overrun the
    /// message.
    pub(crate) fn malformed_attribute_list(reason: &'static str) -> Self {
        Self::new(code::UPDATE_MESSAGE, code::MALFORMED_ATTRIBUTE_LIST, Vec::new(), reason)
    }

    /// The NOTIFICATION to send in answer.
    pub fn notification(&self) -> Notification {
        Notification {
            code: self.code,
            subcode: self.subcode,
            data: self.data.clone(),
        }
    }
}

impl fmt::Display for MsgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.notification())
    }
}

impl std::error::Error for MsgError {}

impl From<MsgError> for Notification {
    fn from(err: MsgError) -> Self {
        Notification {
            code: err.code,
            subcode: err.subcode,
            data: err.data,
        }
    }
}

/// One of our own values cannot be put on the wire as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {0} octets exceeds the 4096-octet maximum (RFC 4271 4.1)")]
    MessageTooLong(usize),
    #[error("capability {code} has {len} octets of value, more than its 1-octet length can say")]
    CapabilityTooLong { code: u8, len: usize },
    #[error("optional parameters of {0} octets exceed the 2-octet length of RFC 9072")]
    OptionalParametersTooLong(usize),
}
