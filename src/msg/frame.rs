//! The message header (RFC 4271 4.1) and framing of a TCP byte stream.
//!
//! BGP has no length prefix a generic codec understands: the length sits
//! after a 16-octet marker and counts the header itself. So we frame here.

use super::error::MsgError;
use super::{HEADER_LEN, MAX_MESSAGE_LEN};

/// Message type codes (RFC 4271 4.1, RFC 2918 3).
pub mod msg_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// Minimum whole-message lengths (RFC 4271 4.2 to 4.5, RFC 2918 3).
const MIN_OPEN_LEN: u16 = 29;
const MIN_UPDATE_LEN: u16 = 23;
const MIN_NOTIFICATION_LEN: u16 = 21;
const ROUTE_REFRESH_LEN: u16 = 23;

mod field {
    use core::ops::Range;
    pub const MARKER: Range<usize> = 0..16;
    pub const LENGTH: Range<usize> = 16..18;
    pub const TYPE: usize = 18;
}

/// A zero-copy view of a message header.
#[derive(Debug, Clone, Copy)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checks; accessors may then panic if it is
    /// shorter than [`HEADER_LEN`].
    pub fn new_unchecked(buffer: T) -> Self {
        Header { buffer }
    }

    /// Wraps a buffer of at least [`HEADER_LEN`] octets and checks the header
    /// fields (see [`Header::check`]).
    pub fn new_checked(buffer: T) -> Result<Self, MsgError> {
        let header = Header::new_unchecked(buffer);
        let len = header.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(MsgError::bad_length(
                u16::try_from(len).unwrap_or(u16::MAX),
                "message shorter than the 19-octet header",
            ));
        }
        header.check()?;
        Ok(header)
    }

    pub fn marker_ok(&self) -> bool {
        self.buffer.as_ref()[field::MARKER].iter().all(|&b| b == 0xff)
    }

    /// The whole message length, header included.
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The RFC 4271 6.1 checks, in its order: marker, length range, type,
    /// then the length the type needs. A ROUTE-REFRESH longer than 23 octets
    /// passes here: its error depends on the subtype (RFC 7313 5), so
    /// `decode` reports it.
    pub fn check(&self) -> Result<(), MsgError> {
        if !self.marker_ok() {
            return Err(MsgError::not_synchronized());
        }
        let length = self.length();
        if usize::from(length) < HEADER_LEN || usize::from(length) > MAX_MESSAGE_LEN {
            return Err(MsgError::bad_length(length, "length outside 19..=4096"));
        }
        let fits = match self.msg_type() {
            msg_type::OPEN => length >= MIN_OPEN_LEN,
            msg_type::UPDATE => length >= MIN_UPDATE_LEN,
            msg_type::NOTIFICATION => length >= MIN_NOTIFICATION_LEN,
            msg_type::KEEPALIVE => usize::from(length) == HEADER_LEN,
            msg_type::ROUTE_REFRESH => length >= ROUTE_REFRESH_LEN,
            other => return Err(MsgError::bad_type(other)),
        };
        if fits {
            Ok(())
        } else {
            Err(MsgError::bad_length(length, "length does not fit the message type"))
        }
    }
}

/// Finds the first message in a receive buffer.
///
/// `Ok(Some(n))`: `buf[..n]` is one whole message with a valid header; pass
/// it to [`decode`](super::decode) and drop it from the buffer.
/// `Ok(None)`: read more. `Err`: send the NOTIFICATION and close.
/// The header is judged as soon as its 19 octets are in, so a bad length is
/// reported without waiting for the body.
///
/// ```
/// use ndbgp::msg::{decode, frame, Message, KEEPALIVE};
/// let mut buf: Vec<u8> = KEEPALIVE.to_vec();
/// buf.extend_from_slice(&KEEPALIVE[..5]);
/// let n = frame(&buf).unwrap().unwrap();
/// assert_eq!(decode(&buf[..n]).unwrap(), Message::Keepalive);
/// buf.drain(..n);
/// assert_eq!(frame(&buf).unwrap(), None);
/// ```
pub fn frame(buf: &[u8]) -> Result<Option<usize>, MsgError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let header = Header::new_unchecked(head);
    header.check()?;
    let length = usize::from(header.length());
    Ok((buf.len() >= length).then_some(length))
}
