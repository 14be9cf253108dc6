//! NOTIFICATION (RFC 4271 4.5), its code names and the shutdown
//! communication of RFC 9003.

use std::fmt;

use super::error::MsgError;
use super::{HEADER_LEN, Notification, code};

mod field {
    pub const CODE: usize = 0;
    pub const SUBCODE: usize = 1;
    pub const DATA: usize = 2;
}

/// RFC 9003 2: the shutdown communication is at most 255 octets of UTF-8.
const MAX_SHUTDOWN_COMMUNICATION: usize = 255;
/// Data octets shown by `Display` before it cuts the rest.
const MAX_DATA_SHOWN: usize = 32;

/// A zero-copy view of a NOTIFICATION body.
#[derive(Debug, Clone, Copy)]
pub struct NotificationPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NotificationPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        NotificationPacket { buffer }
    }

    /// Wraps a body that holds at least the code and subcode.
    pub fn new_checked(buffer: T) -> Result<Self, MsgError> {
        let len = buffer.as_ref().len();
        if len < field::DATA {
            return Err(MsgError::bad_length(
                u16::try_from(HEADER_LEN + len).unwrap_or(u16::MAX),
                "NOTIFICATION body shorter than code and subcode",
            ));
        }
        Ok(NotificationPacket::new_unchecked(buffer))
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn subcode(&self) -> u8 {
        self.buffer.as_ref()[field::SUBCODE]
    }

    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }
}

/// What the data of a Cease NOTIFICATION says as a shutdown communication.
enum Communication<'a> {
    Absent,
    Text(&'a str),
    /// Length overruns the data or the text is not UTF-8 (RFC 9003 5).
    Malformed,
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Notification {
        Notification { code, subcode, data }
    }

    pub fn parse<T: AsRef<[u8]>>(packet: &NotificationPacket<T>) -> Notification {
        Notification::new(packet.code(), packet.subcode(), packet.data().to_vec())
    }

    /// Appends the NOTIFICATION body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.code, self.subcode]);
        out.extend_from_slice(&self.data);
    }

    /// A Cease with an RFC 9003 shutdown communication. `subcode` should be
    /// [`code::ADMINISTRATIVE_SHUTDOWN`] or [`code::ADMINISTRATIVE_RESET`],
    /// the two that define one; for any other the text is left out. Text past
    /// 255 octets is cut at a character boundary; empty text sends no data.
    pub fn shutdown(subcode: u8, text: &str) -> Notification {
        let mut data = Vec::new();
        if is_shutdown_subcode(subcode) && !text.is_empty() {
            let mut end = text.len().min(MAX_SHUTDOWN_COMMUNICATION);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            // `end` <= 255, so the length octet cannot be cut.
            data.push(u8::try_from(end).unwrap_or(u8::MAX));
            data.extend_from_slice(&text.as_bytes()[..end]);
        }
        Notification::new(code::CEASE, subcode, data)
    }

    /// The NOTIFICATION a Cease/Hard Reset stands for (RFC 8538 3: its
    /// data is that one's code, subcode and data).
    pub fn hard_reset_inner(&self) -> Option<Notification> {
        if self.code != code::CEASE || self.subcode != code::HARD_RESET {
            return None;
        }
        match self.data.as_slice() {
            [inner_code, subcode, data @ ..] => Some(Notification::new(*inner_code, *subcode, data.to_vec())),
            _ => None,
        }
    }

    /// The RFC 9003 shutdown communication of a Cease/Administrative Shutdown
    /// or Reset (or of a Hard Reset standing for one), if it has a
    /// well-formed, non-empty one. Octets after the communication are
    /// ignored.
    pub fn shutdown_text(&self) -> Option<&str> {
        if self.code == code::CEASE && self.subcode == code::HARD_RESET {
            let [code::CEASE, subcode, len, rest @ ..] = self.data.as_slice() else {
                return None;
            };
            if !is_shutdown_subcode(*subcode) {
                return None;
            }
            return rest
                .get(..usize::from(*len))
                .and_then(|t| std::str::from_utf8(t).ok())
                .filter(|t| !t.is_empty());
        }
        match self.communication() {
            Communication::Text(text) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    fn communication(&self) -> Communication<'_> {
        if self.code != code::CEASE || !is_shutdown_subcode(self.subcode) {
            return Communication::Absent;
        }
        let Some((&len, rest)) = self.data.split_first() else {
            return Communication::Absent;
        };
        match rest.get(..usize::from(len)).map(std::str::from_utf8) {
            Some(Ok(text)) => Communication::Text(text),
            _ => Communication::Malformed,
        }
    }
}

fn is_shutdown_subcode(subcode: u8) -> bool {
    subcode == code::ADMINISTRATIVE_SHUTDOWN || subcode == code::ADMINISTRATIVE_RESET
}

/// The name of an error code (RFC 4271 4.5, RFC 7313 5).
pub fn code_name(code: u8) -> Option<&'static str> {
    Some(match code {
        code::MESSAGE_HEADER => "Message Header Error",
        code::OPEN_MESSAGE => "OPEN Message Error",
        code::UPDATE_MESSAGE => "UPDATE Message Error",
        code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
        code::FSM => "Finite State Machine Error",
        code::CEASE => "Cease",
        code::ROUTE_REFRESH => "ROUTE-REFRESH Message Error",
        _ => return None,
    })
}

/// The name of an error subcode: RFC 4271 6.1 to 6.3, RFC 5492 (unsupported
/// capability), RFC 6608 (FSM), RFC 4486, 8538 and 9384 (Cease), RFC 7313,
/// RFC 9234 (role).
pub fn subcode_name(code: u8, subcode: u8) -> Option<&'static str> {
    Some(match (code, subcode) {
        (code::MESSAGE_HEADER, 1) => "Connection Not Synchronized",
        (code::MESSAGE_HEADER, 2) => "Bad Message Length",
        (code::MESSAGE_HEADER, 3) => "Bad Message Type",
        (code::OPEN_MESSAGE, 0) => "Unspecific",
        (code::OPEN_MESSAGE, 1) => "Unsupported Version Number",
        (code::OPEN_MESSAGE, 2) => "Bad Peer AS",
        (code::OPEN_MESSAGE, 3) => "Bad BGP Identifier",
        (code::OPEN_MESSAGE, 4) => "Unsupported Optional Parameter",
        (code::OPEN_MESSAGE, 5) => "Authentication Failure (deprecated)",
        (code::OPEN_MESSAGE, 6) => "Unacceptable Hold Time",
        (code::OPEN_MESSAGE, 7) => "Unsupported Capability",
        (code::OPEN_MESSAGE, 11) => "Role Mismatch",
        (code::UPDATE_MESSAGE, 1) => "Malformed Attribute List",
        (code::UPDATE_MESSAGE, 2) => "Unrecognized Well-known Attribute",
        (code::UPDATE_MESSAGE, 3) => "Missing Well-known Attribute",
        (code::UPDATE_MESSAGE, 4) => "Attribute Flags Error",
        (code::UPDATE_MESSAGE, 5) => "Attribute Length Error",
        (code::UPDATE_MESSAGE, 6) => "Invalid ORIGIN Attribute",
        (code::UPDATE_MESSAGE, 7) => "AS Routing Loop (deprecated)",
        (code::UPDATE_MESSAGE, 8) => "Invalid NEXT_HOP Attribute",
        (code::UPDATE_MESSAGE, 9) => "Optional Attribute Error",
        (code::UPDATE_MESSAGE, 10) => "Invalid Network Field",
        (code::UPDATE_MESSAGE, 11) => "Malformed AS_PATH",
        (code::FSM, 0) => "Unspecified Error",
        (code::FSM, 1) => "Receive Unexpected Message in OpenSent State",
        (code::FSM, 2) => "Receive Unexpected Message in OpenConfirm State",
        (code::FSM, 3) => "Receive Unexpected Message in Established State",
        (code::CEASE, 1) => "Maximum Number of Prefixes Reached",
        (code::CEASE, 2) => "Administrative Shutdown",
        (code::CEASE, 3) => "Peer De-configured",
        (code::CEASE, 4) => "Administrative Reset",
        (code::CEASE, 5) => "Connection Rejected",
        (code::CEASE, 6) => "Other Configuration Change",
        (code::CEASE, 7) => "Connection Collision Resolution",
        (code::CEASE, 8) => "Out of Resources",
        (code::CEASE, 9) => "Hard Reset",
        (code::CEASE, 10) => "BFD Down",
        (code::ROUTE_REFRESH, 1) => "Invalid Message Length",
        _ => return None,
    })
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().take(MAX_DATA_SHOWN) {
            write!(f, "{b:02x}")?;
        }
        if self.0.len() > MAX_DATA_SHOWN {
            write!(f, "... ({} octets)", self.0.len())?;
        }
        Ok(())
    }
}

/// E.g. `Cease/Administrative Shutdown: "maintenance"`,
/// `Message Header Error/Bad Message Length (data 0012)`, `code 9/subcode 1`.
/// The shutdown text is shown escaped, as RFC 9003 6 warns it may hold
/// control characters.
impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // RFC 8538 3: a Hard Reset carries the Cease it stands for.
        if let Some(inner) = self.hard_reset_inner() {
            return write!(f, "Cease/Hard Reset ({inner})");
        }
        match code_name(self.code) {
            Some(name) => f.write_str(name)?,
            None => write!(f, "code {}", self.code)?,
        }
        match subcode_name(self.code, self.subcode) {
            Some(name) => write!(f, "/{name}")?,
            None if self.subcode == 0 => {}
            None => write!(f, "/subcode {}", self.subcode)?,
        }
        match self.communication() {
            Communication::Text("") => Ok(()),
            Communication::Text(text) => write!(f, ": {text:?}"),
            Communication::Malformed => write!(f, " (malformed shutdown communication, data {})", Hex(&self.data)),
            Communication::Absent if self.data.is_empty() => Ok(()),
            Communication::Absent => write!(f, " (data {})", Hex(&self.data)),
        }
    }
}
