//! OPEN (RFC 4271 4.2): optional parameters, with the extended length of
//! RFC 9072, and the capabilities they carry (RFC 5492).
//!
//! The decoder only rejects OPENs it cannot take apart. Whether the version,
//! peer AS, hold time and BGP identifier are acceptable is the FSM's call.

use std::net::Ipv4Addr;

use super::error::{EncodeError, MsgError};
use super::{AS_TRANS, Capability, ExtendedNextHop, GracefulRestart, GracefulRestartFamily, HEADER_LEN, Open, code};

/// Optional parameter types (RFC 5492 4, RFC 9072 2).
pub mod param_type {
    pub const CAPABILITIES: u8 = 2;
    /// As the first type octet: the parameters use 2-octet lengths.
    pub const EXTENDED_LENGTH: u8 = 255;
}

/// Capability codes we parse (IANA "Capability Codes").
pub mod cap_code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
}

/// The Graceful Restart capability's flag bits (RFC 4724 3, RFC 8538 2):
/// the first two in the high nibble of the first octet, F in each family's
/// flags octet.
pub mod gr_flag {
    pub const RESTART_STATE: u8 = 0x80;
    pub const NOTIFICATION: u8 = 0x40;
    pub const FORWARDING_PRESERVED: u8 = 0x80;
}

/// The largest restart time the capability's 12 bits carry, in seconds.
pub const MAX_RESTART_TIME: u16 = 0x0fff;

/// The BGP version we speak (RFC 4271 4.2).
pub const BGP_VERSION: u8 = 4;

mod field {
    use core::ops::Range;
    pub const VERSION: usize = 0;
    pub const MY_AS: Range<usize> = 1..3;
    pub const HOLD_TIME: Range<usize> = 3..5;
    pub const BGP_ID: Range<usize> = 5..9;
    pub const OPT_PARAMS_LEN: usize = 9;
    pub const OPT_PARAMS: usize = 10;
}

/// The OPEN body without optional parameters (29 - 19 octets).
const FIXED_LEN: usize = field::OPT_PARAMS;
/// Capability octets that still fit one 1-octet-length parameter inside a
/// 1-octet Optional Parameters Length (255 - 2).
const MAX_STANDARD_CAPS_LEN: usize = 253;

/// A zero-copy view of an OPEN body (the message after its header).
#[derive(Debug, Clone, Copy)]
pub struct OpenPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> OpenPacket<T> {
    /// Wraps a body without checks; accessors may then panic.
    pub fn new_unchecked(buffer: T) -> Self {
        OpenPacket { buffer }
    }

    /// Wraps a body and checks that the fixed fields are there and that the
    /// optional parameters exactly fill the rest.
    pub fn new_checked(buffer: T) -> Result<Self, MsgError> {
        let packet = OpenPacket::new_unchecked(buffer);
        let len = packet.buffer.as_ref().len();
        if len < FIXED_LEN {
            return Err(MsgError::bad_length(
                u16::try_from(HEADER_LEN + len).unwrap_or(u16::MAX),
                "OPEN body shorter than its fixed fields",
            ));
        }
        packet.params_region()?;
        Ok(packet)
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    pub fn my_as(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MY_AS];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn hold_time(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::HOLD_TIME];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn bgp_id(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::BGP_ID];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The 1-octet Optional Parameters Length ("Non-Ext OP Len." in RFC 9072).
    pub fn opt_params_len(&self) -> u8 {
        self.buffer.as_ref()[field::OPT_PARAMS_LEN]
    }

    /// RFC 9072 2: a non-zero Non-Ext OP Len followed by type 255 means
    /// 2-octet lengths; the Non-Ext OP Len value itself is then ignored.
    pub fn is_extended(&self) -> bool {
        self.opt_params_len() != 0 && self.buffer.as_ref().get(field::OPT_PARAMS) == Some(&param_type::EXTENDED_LENGTH)
    }

    /// The optional parameters, checked to fill the body exactly.
    fn params_region(&self) -> Result<&[u8], MsgError> {
        let rest = self.buffer.as_ref().get(FIXED_LEN..).unwrap_or_default();
        let (declared, params) = if self.is_extended() {
            let Some(&[_, hi, lo]) = rest.get(..3) else {
                return Err(MsgError::open_malformed(
                    "extended optional parameters length is cut short",
                ));
            };
            (usize::from(u16::from_be_bytes([hi, lo])), &rest[3..])
        } else {
            (usize::from(self.opt_params_len()), rest)
        };
        if declared != params.len() {
            return Err(MsgError::open_malformed(
                "optional parameters length does not match the message",
            ));
        }
        Ok(params)
    }

    /// The optional parameters as (type, value) pairs.
    pub fn opt_params(&self) -> Result<OptParamIter<'_>, MsgError> {
        Ok(OptParamIter {
            rest: self.params_region()?,
            extended: self.is_extended(),
        })
    }
}

/// Optional parameters: (type, value), with 1- or 2-octet lengths.
/// Yields one error and then stops.
#[derive(Debug, Clone)]
pub struct OptParamIter<'a> {
    rest: &'a [u8],
    extended: bool,
}

impl<'a> Iterator for OptParamIter<'a> {
    type Item = Result<(u8, &'a [u8]), MsgError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (ptype, len, header) = match (self.extended, self.rest) {
            (false, &[t, l, ..]) => (t, usize::from(l), 2),
            (true, &[t, hi, lo, ..]) => (t, usize::from(u16::from_be_bytes([hi, lo])), 3),
            _ => {
                self.rest = &[];
                return Some(Err(MsgError::open_malformed("optional parameter header is cut short")));
            }
        };
        let Some(value) = self.rest.get(header..header + len) else {
            self.rest = &[];
            return Some(Err(MsgError::open_malformed(
                "optional parameter length overruns the parameters",
            )));
        };
        self.rest = &self.rest[header + len..];
        Some(Ok((ptype, value)))
    }
}

/// The capabilities in one Capabilities parameter: (code, value).
/// Yields one error and then stops.
#[derive(Debug, Clone)]
pub struct CapabilityIter<'a> {
    rest: &'a [u8],
}

impl<'a> CapabilityIter<'a> {
    pub fn new(param_value: &'a [u8]) -> Self {
        CapabilityIter { rest: param_value }
    }
}

impl<'a> Iterator for CapabilityIter<'a> {
    type Item = Result<(u8, &'a [u8]), MsgError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (code, len) = match self.rest {
            [] => return None,
            &[code, len, ..] => (code, usize::from(len)),
            _ => {
                self.rest = &[];
                return Some(Err(MsgError::open_malformed("capability header is cut short")));
            }
        };
        let Some(value) = self.rest.get(2..2 + len) else {
            self.rest = &[];
            return Some(Err(MsgError::open_malformed(
                "capability length overruns its parameter",
            )));
        };
        self.rest = &self.rest[2 + len..];
        Some(Ok((code, value)))
    }
}

impl Capability {
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol { .. } => cap_code::MULTIPROTOCOL,
            Capability::RouteRefresh => cap_code::ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => cap_code::EXTENDED_NEXT_HOP,
            Capability::FourOctetAs(_) => cap_code::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => cap_code::GRACEFUL_RESTART,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Parses one capability value. A capability we know with a length its
    /// RFC does not allow is malformed (RFC 5492 3: OPEN Message Error,
    /// subcode 0); an unknown one is kept as it is.
    pub fn parse(code: u8, value: &[u8]) -> Result<Capability, MsgError> {
        match (code, value) {
            // RFC 4760 8: AFI, reserved (ignored on receipt), SAFI.
            (cap_code::MULTIPROTOCOL, &[a0, a1, _reserved, safi]) => Ok(Capability::Multiprotocol {
                afi: u16::from_be_bytes([a0, a1]),
                safi,
            }),
            (cap_code::MULTIPROTOCOL, _) => Err(MsgError::open_malformed("multiprotocol capability length is not 4")),
            // RFC 2918 2: no value.
            (cap_code::ROUTE_REFRESH, []) => Ok(Capability::RouteRefresh),
            (cap_code::ROUTE_REFRESH, _) => Err(MsgError::open_malformed("route refresh capability has a value")),
            // RFC 8950 3: tuples of NLRI AFI (2), NLRI SAFI (2), next hop AFI (2).
            (cap_code::EXTENDED_NEXT_HOP, v) if v.len().is_multiple_of(6) => Ok(Capability::ExtendedNextHop(
                v.chunks_exact(6)
                    .map(|t| ExtendedNextHop {
                        afi: u16::from_be_bytes([t[0], t[1]]),
                        safi: u16::from_be_bytes([t[2], t[3]]),
                        nh_afi: u16::from_be_bytes([t[4], t[5]]),
                    })
                    .collect(),
            )),
            (cap_code::EXTENDED_NEXT_HOP, _) => Err(MsgError::open_malformed(
                "extended next hop capability length is not a multiple of 6",
            )),
            // RFC 6793 3: the 4-octet ASN.
            (cap_code::FOUR_OCTET_AS, &[a, b, c, d]) => Ok(Capability::FourOctetAs(u32::from_be_bytes([a, b, c, d]))),
            (cap_code::FOUR_OCTET_AS, _) => Err(MsgError::open_malformed("four-octet AS capability length is not 4")),
            // RFC 4724 3: flags (4 bits) and restart time (12 bits), then
            // AFI (2), SAFI (1), flags (1) per family.
            (cap_code::GRACEFUL_RESTART, &[hi, lo, ref tuples @ ..]) if tuples.len().is_multiple_of(4) => {
                Ok(Capability::GracefulRestart(GracefulRestart {
                    restarting: hi & gr_flag::RESTART_STATE != 0,
                    notification: hi & gr_flag::NOTIFICATION != 0,
                    restart_time: u16::from_be_bytes([hi & 0x0f, lo]),
                    families: tuples
                        .chunks_exact(4)
                        .map(|t| GracefulRestartFamily {
                            afi: u16::from_be_bytes([t[0], t[1]]),
                            safi: t[2],
                            forwarding_preserved: t[3] & gr_flag::FORWARDING_PRESERVED != 0,
                        })
                        .collect(),
                }))
            }
            (cap_code::GRACEFUL_RESTART, _) => Err(MsgError::open_malformed(
                "graceful restart capability length is not 2 plus a multiple of 4",
            )),
            (code, data) => Ok(Capability::Unknown {
                code,
                data: data.to_vec(),
            }),
        }
    }

    /// Appends code, length and value.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&[self.code(), 0]);
        match self {
            Capability::Multiprotocol { afi, safi } => {
                out.extend_from_slice(&afi.to_be_bytes());
                out.extend_from_slice(&[0, *safi]);
            }
            Capability::RouteRefresh => {}
            Capability::ExtendedNextHop(tuples) => {
                for t in tuples {
                    out.extend_from_slice(&t.afi.to_be_bytes());
                    out.extend_from_slice(&t.safi.to_be_bytes());
                    out.extend_from_slice(&t.nh_afi.to_be_bytes());
                }
            }
            Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Capability::GracefulRestart(gr) => {
                let mut flags = 0;
                if gr.restarting {
                    flags |= gr_flag::RESTART_STATE;
                }
                if gr.notification {
                    flags |= gr_flag::NOTIFICATION;
                }
                let [hi, lo] = gr.restart_time.min(MAX_RESTART_TIME).to_be_bytes();
                out.extend_from_slice(&[flags | hi, lo]);
                for family in &gr.families {
                    out.extend_from_slice(&family.afi.to_be_bytes());
                    let f = match family.forwarding_preserved {
                        true => gr_flag::FORWARDING_PRESERVED,
                        false => 0,
                    };
                    out.extend_from_slice(&[family.safi, f]);
                }
            }
            Capability::Unknown { data, .. } => out.extend_from_slice(data),
        }
        let len = out.len() - start - 2;
        let Ok(len8) = u8::try_from(len) else {
            out.truncate(start);
            return Err(EncodeError::CapabilityTooLong { code: self.code(), len });
        };
        out[start + 1] = len8;
        Ok(())
    }
}

impl Open {
    /// Our OPEN: version 4, My AS set to AS_TRANS when `asn` needs 4 octets
    /// (RFC 6793 4.1), and exactly one FourOctetAs capability carrying `asn`
    /// (appended after `capabilities`, replacing any given).
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Open {
        let mut capabilities: Vec<Capability> = capabilities
            .into_iter()
            .filter(|c| !matches!(c, Capability::FourOctetAs(_)))
            .collect();
        capabilities.push(Capability::FourOctetAs(asn));
        Open {
            version: BGP_VERSION,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// Takes a checked OPEN body apart. Every Capabilities parameter counts;
    /// any other parameter type is refused (RFC 4271 6.2: Unsupported
    /// Optional Parameter).
    pub fn parse<T: AsRef<[u8]>>(packet: &OpenPacket<T>) -> Result<Open, MsgError> {
        let mut capabilities = Vec::new();
        for param in packet.opt_params()? {
            let (ptype, value) = param?;
            if ptype != param_type::CAPABILITIES {
                return Err(MsgError::new(
                    code::OPEN_MESSAGE,
                    code::UNSUPPORTED_OPTIONAL_PARAMETER,
                    Vec::new(),
                    "optional parameter is not Capabilities",
                ));
            }
            for cap in CapabilityIter::new(value) {
                let (code, value) = cap?;
                capabilities.push(Capability::parse(code, value)?);
            }
        }
        Ok(Open {
            version: packet.version(),
            my_as: packet.my_as(),
            hold_time: packet.hold_time(),
            bgp_id: packet.bgp_id(),
            capabilities,
        })
    }

    /// Appends the OPEN body. All capabilities go into one Capabilities
    /// parameter; past 253 octets of them it takes the extended encoding of
    /// RFC 9072 2 (which the RFC allows only when needed).
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let mut caps = Vec::new();
        for cap in &self.capabilities {
            cap.emit(&mut caps)?;
        }
        if caps.is_empty() {
            out.push(0);
        } else if let Ok(len) = u8::try_from(caps.len())
            && caps.len() <= MAX_STANDARD_CAPS_LEN
        {
            out.extend_from_slice(&[len + 2, param_type::CAPABILITIES, len]);
        } else {
            let too_long = || EncodeError::OptionalParametersTooLong(caps.len() + 3);
            let params_len = u16::try_from(caps.len() + 3).map_err(|_| too_long())?;
            let caps_len = u16::try_from(caps.len()).map_err(|_| too_long())?;
            out.extend_from_slice(&[255, param_type::EXTENDED_LENGTH]);
            out.extend_from_slice(&params_len.to_be_bytes());
            out.push(param_type::CAPABILITIES);
            out.extend_from_slice(&caps_len.to_be_bytes());
        }
        out.extend_from_slice(&caps);
        Ok(())
    }
}
