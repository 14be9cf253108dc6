//! ROUTE-REFRESH (RFC 2918 3; the reserved octet is the subtype of
//! RFC 7313 3).

use super::error::MsgError;
use super::{HEADER_LEN, MAX_MESSAGE_LEN, RouteRefresh, code};

mod field {
    use core::ops::Range;
    pub const AFI: Range<usize> = 0..2;
    pub const SUBTYPE: usize = 2;
    pub const SAFI: usize = 3;
}

/// The body is exactly AFI, subtype, SAFI.
const BODY_LEN: usize = 4;

/// RFC 7313 4: subtypes 1 (BoRR) and 2 (EoRR) of enhanced route refresh.
const SUBTYPE_BORR: u8 = 1;
const SUBTYPE_EORR: u8 = 2;

/// A zero-copy view of a ROUTE-REFRESH body.
#[derive(Debug, Clone, Copy)]
pub struct RouteRefreshPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RouteRefreshPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        RouteRefreshPacket { buffer }
    }

    /// Wraps a body of exactly 4 octets. Otherwise: for BoRR and EoRR a
    /// ROUTE-REFRESH Message Error / Invalid Message Length carrying the
    /// message (RFC 7313 5, cut to what a NOTIFICATION can hold), else a
    /// Bad Message Length (RFC 4271 6.1).
    pub fn new_checked(buffer: T) -> Result<Self, MsgError> {
        let body = buffer.as_ref();
        if body.len() == BODY_LEN {
            return Ok(RouteRefreshPacket::new_unchecked(buffer));
        }
        let length = u16::try_from(HEADER_LEN + body.len()).unwrap_or(u16::MAX);
        match body.get(field::SUBTYPE) {
            Some(&(SUBTYPE_BORR | SUBTYPE_EORR)) => {
                let mut message = Vec::with_capacity(HEADER_LEN + body.len());
                message.extend_from_slice(&[0xff; 16]);
                message.extend_from_slice(&length.to_be_bytes());
                message.push(super::msg_type::ROUTE_REFRESH);
                message.extend_from_slice(body);
                // The NOTIFICATION header and code/subcode take 21 octets.
                message.truncate(MAX_MESSAGE_LEN - HEADER_LEN - 2);
                Err(MsgError::new(
                    code::ROUTE_REFRESH,
                    code::INVALID_MESSAGE_LENGTH,
                    message,
                    "BoRR/EoRR ROUTE-REFRESH length is not 23",
                ))
            }
            _ => Err(MsgError::bad_length(length, "ROUTE-REFRESH length is not 23")),
        }
    }

    pub fn afi(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::AFI];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn subtype(&self) -> u8 {
        self.buffer.as_ref()[field::SUBTYPE]
    }

    pub fn safi(&self) -> u8 {
        self.buffer.as_ref()[field::SAFI]
    }
}

impl RouteRefresh {
    /// A plain route refresh request (subtype 0).
    pub fn request(afi: u16, safi: u8) -> RouteRefresh {
        RouteRefresh { afi, subtype: 0, safi }
    }

    /// Subtypes other than 0 to 2 are passed through: RFC 7313 5 says to
    /// ignore such a message, which is the FSM's business.
    pub fn parse<T: AsRef<[u8]>>(packet: &RouteRefreshPacket<T>) -> RouteRefresh {
        RouteRefresh {
            afi: packet.afi(),
            subtype: packet.subtype(),
            safi: packet.safi(),
        }
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.afi.to_be_bytes());
        out.extend_from_slice(&[self.subtype, self.safi]);
    }
}
