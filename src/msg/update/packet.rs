//! UPDATE (RFC 4271 4.3): only the outer lengths are checked here; the
//! routes code parses attributes and NLRI.

use core::ops::Range;

use crate::msg::HEADER_LEN;
use crate::msg::MsgError;

/// Withdrawn Routes Length plus Total Path Attribute Length.
const MIN_BODY_LEN: usize = 4;

/// A zero-copy view of an UPDATE body.
#[derive(Debug, Clone, Copy)]
pub struct UpdatePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UpdatePacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        UpdatePacket { buffer }
    }

    /// Wraps a body whose withdrawn routes and path attributes fit in it
    /// (RFC 4271 6.3: else UPDATE Message Error / Malformed Attribute List).
    pub fn new_checked(buffer: T) -> Result<Self, MsgError> {
        let len = buffer.as_ref().len();
        if len < MIN_BODY_LEN {
            return Err(MsgError::bad_length(
                u16::try_from(HEADER_LEN + len).unwrap_or(u16::MAX),
                "UPDATE body shorter than its two length fields",
            ));
        }
        let packet = UpdatePacket::new_unchecked(buffer);
        let attrs_len_at = 2 + packet.withdrawn_len();
        let Some(&[hi, lo]) = packet.buffer.as_ref().get(attrs_len_at..attrs_len_at + 2) else {
            return Err(MsgError::malformed_attribute_list(
                "withdrawn routes length overruns the message",
            ));
        };
        if attrs_len_at + 2 + usize::from(u16::from_be_bytes([hi, lo])) > len {
            return Err(MsgError::malformed_attribute_list(
                "path attribute length overruns the message",
            ));
        }
        Ok(packet)
    }

    fn withdrawn_len(&self) -> usize {
        let b = self.buffer.as_ref();
        usize::from(u16::from_be_bytes([b[0], b[1]]))
    }

    fn attrs_range(&self) -> Range<usize> {
        let b = self.buffer.as_ref();
        let at = 2 + self.withdrawn_len();
        let len = usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
        at + 2..at + 2 + len
    }

    /// The Withdrawn Routes field.
    pub fn withdrawn_routes(&self) -> &[u8] {
        &self.buffer.as_ref()[2..2 + self.withdrawn_len()]
    }

    /// The Path Attributes field.
    pub fn path_attributes(&self) -> &[u8] {
        &self.buffer.as_ref()[self.attrs_range()]
    }

    /// The NLRI: whatever follows the path attributes.
    pub fn nlri(&self) -> &[u8] {
        &self.buffer.as_ref()[self.attrs_range().end..]
    }
}
