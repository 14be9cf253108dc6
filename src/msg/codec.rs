//! Whole messages: bytes to [`Message`] and back.

use super::error::{EncodeError, MsgError};
use super::frame::{Header, msg_type};
use super::notification::NotificationPacket;
use super::open::OpenPacket;
use super::route_refresh::RouteRefreshPacket;
use super::update::UpdatePacket;
use super::{HEADER_LEN, MAX_MESSAGE_LEN, Message, Notification, Open, RouteRefresh};

/// A KEEPALIVE is always these 19 octets (RFC 4271 4.4).
pub const KEEPALIVE: [u8; HEADER_LEN] = [
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0x00,
    0x13,
    msg_type::KEEPALIVE,
];

/// Decodes one whole message, header included, as [`frame`](super::frame)
/// cut it. Every structural error maps to the NOTIFICATION RFC 4271 6 asks
/// for; semantic checks of an OPEN are left to the FSM.
pub fn decode(msg: &[u8]) -> Result<Message, MsgError> {
    let header = Header::new_checked(msg)?;
    if usize::from(header.length()) != msg.len() {
        return Err(MsgError::bad_length(
            header.length(),
            "length field does not match the message",
        ));
    }
    let body = &msg[HEADER_LEN..];
    Ok(match header.msg_type() {
        msg_type::OPEN => Message::Open(Open::parse(&OpenPacket::new_checked(body)?)?),
        msg_type::UPDATE => {
            UpdatePacket::new_checked(body)?;
            Message::Update(body.to_vec())
        }
        msg_type::NOTIFICATION => Message::Notification(Notification::parse(&NotificationPacket::new_checked(body)?)),
        msg_type::KEEPALIVE => Message::Keepalive,
        msg_type::ROUTE_REFRESH => Message::RouteRefresh(RouteRefresh::parse(&RouteRefreshPacket::new_checked(body)?)),
        // Header::check has refused every other type.
        other => return Err(MsgError::bad_type(other)),
    })
}

impl Message {
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::Open(_) => msg_type::OPEN,
            Message::Update(_) => msg_type::UPDATE,
            Message::Notification(_) => msg_type::NOTIFICATION,
            Message::Keepalive => msg_type::KEEPALIVE,
            Message::RouteRefresh(_) => msg_type::ROUTE_REFRESH,
        }
    }

    /// The whole message on the wire. Fails only for values no peer could
    /// receive: longer than 4096 octets, or a capability over 255 octets.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the whole message to `out`; on error `out` is left as it was.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&KEEPALIVE[..16]);
        out.extend_from_slice(&[0, 0, self.msg_type()]);
        let body = match self {
            Message::Open(open) => open.emit(out),
            Message::Update(body) => {
                out.extend_from_slice(body);
                Ok(())
            }
            Message::Notification(notification) => {
                notification.emit(out);
                Ok(())
            }
            Message::Keepalive => Ok(()),
            Message::RouteRefresh(refresh) => {
                refresh.emit(out);
                Ok(())
            }
        };
        let len = out.len() - start;
        let length = match body {
            Ok(()) if len <= MAX_MESSAGE_LEN => u16::try_from(len).ok(),
            _ => None,
        };
        let Some(length) = length else {
            out.truncate(start);
            return Err(body.err().unwrap_or(EncodeError::MessageTooLong(len)));
        };
        out[start + 16..start + 18].copy_from_slice(&length.to_be_bytes());
        Ok(())
    }
}
