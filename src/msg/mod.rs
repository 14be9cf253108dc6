//! BGP-4 messages (RFC 4271 section 4) as typed values.
//!
//! These types are the `Repr` side: what the FSM and the session work with.
//! Decoding from and encoding to bytes lives in the submodules.

use std::net::Ipv4Addr;

mod codec;
mod error;
mod frame;
mod notification;
mod open;
mod route_refresh;
pub mod update;

#[cfg(test)]
mod tests;

pub use codec::{KEEPALIVE, decode};
pub use error::{EncodeError, MsgError};
pub use frame::{Header, frame, msg_type};
pub use notification::{NotificationPacket, code_name, subcode_name};
pub use open::{
    BGP_VERSION, CapabilityIter, MAX_RESTART_TIME, OpenPacket, OptParamIter, cap_code, gr_flag, param_type,
};
pub use route_refresh::RouteRefreshPacket;
pub use update::UpdatePacket;

/// The well-known BGP port.
pub const BGP_PORT: u16 = 179;
/// RFC 6793: the 2-octet stand-in for an ASN that needs 4 octets.
pub const AS_TRANS: u16 = 23456;
/// RFC 4271: header length (16 marker + 2 length + 1 type).
pub const HEADER_LEN: usize = 19;
/// RFC 4271: maximum message length without RFC 8654 extended messages.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Address family identifiers (IANA).
pub const AFI_IPV4: u16 = 1;
pub const AFI_IPV6: u16 = 2;
/// Subsequent address family: unicast.
pub const SAFI_UNICAST: u8 = 1;

/// A whole BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    /// The UPDATE body (everything after the header), parsed by the routes code.
    Update(Vec<u8>),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

/// OPEN (RFC 4271 4.2) with its capabilities (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    /// The 2-octet My AS field: AS_TRANS when the real ASN needs 4 octets.
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The speaker's ASN: from the 4-octet AS capability when present.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    pub fn has(&self, cap: &Capability) -> bool {
        self.capabilities.contains(cap)
    }
}

/// Capabilities we understand; anything else is kept as `Unknown` and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// RFC 4760 (code 1).
    Multiprotocol {
        afi: u16,
        safi: u8,
    },
    /// RFC 2918 (code 2).
    RouteRefresh,
    /// RFC 8950 (code 5): NLRI of (afi, safi) may carry a next hop of nh_afi.
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// RFC 6793 (code 65).
    FourOctetAs(u32),
    /// RFC 4724 (code 64), with the N bit of RFC 8538.
    GracefulRestart(GracefulRestart),
    Unknown {
        code: u8,
        data: Vec<u8>,
    },
}

/// The Graceful Restart capability (RFC 4724 3, RFC 8538 2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GracefulRestart {
    /// R: the sender has restarted (its peers must not wait for its
    /// End-of-RIB before sending their own).
    pub restarting: bool,
    /// N (RFC 8538): the sender keeps routes through a NOTIFICATION other
    /// than Cease / Hard Reset, as through a lost connection.
    pub notification: bool,
    /// Seconds the sender asks its routes to be kept while it restarts
    /// (12 bits: at most 4095).
    pub restart_time: u16,
    /// The families it keeps forwarding state for through a restart.
    pub families: Vec<GracefulRestartFamily>,
}

/// One (AFI, SAFI) of [`GracefulRestart`] and its F bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartFamily {
    pub afi: u16,
    pub safi: u8,
    /// F: forwarding state was preserved through the restart.
    pub forwarding_preserved: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedNextHop {
    pub afi: u16,
    pub safi: u16,
    pub nh_afi: u16,
}

/// NOTIFICATION (RFC 4271 4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// ROUTE-REFRESH (RFC 2918, subtype from RFC 7313).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRefresh {
    pub afi: u16,
    pub subtype: u8,
    pub safi: u8,
}

/// NOTIFICATION error codes (RFC 4271 4.5) and the subcodes we send.
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;

    // Message header errors.
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;

    // OPEN message errors.
    pub const UNSUPPORTED_VERSION: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;

    // FSM errors (RFC 6608).
    pub const FSM_UNEXPECTED_IN_OPENSENT: u8 = 1;
    pub const FSM_UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
    pub const FSM_UNEXPECTED_IN_ESTABLISHED: u8 = 3;

    // Cease (RFC 4486).
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;

    // OPEN message error for a malformed optional parameter or capability
    // (RFC 4271 6.2, RFC 5492 3: "Unspecific").
    pub const UNSPECIFIC: u8 = 0;
    // RFC 9234.
    pub const ROLE_MISMATCH: u8 = 11;

    // UPDATE message errors (RFC 4271 4.5, 6.3).
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;

    // FSM error without a more specific subcode (RFC 6608).
    pub const FSM_UNSPECIFIED: u8 = 0;

    // More Cease subcodes (RFC 4486, RFC 8538, RFC 9384).
    pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const HARD_RESET: u8 = 9;
    pub const BFD_DOWN: u8 = 10;

    // ROUTE-REFRESH message error (RFC 7313 5).
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}
