//! The BFD Control packet (RFC 5880 4.1), without the authentication
//! section: we do not support authentication, so a packet with the A bit
//! is refused (and counted by the caller) like any other bad packet.
//!
//! Pure: bytes in, a typed packet or a typed error out. `decode` makes the
//! checks of RFC 5880 6.8.6 that need nothing but the packet; the ones
//! that need a session (which discriminator is ours, the session state)
//! are the service's and the session's.

use std::fmt;

/// RFC 5880 4.1: the version this codec speaks.
pub const VERSION: u8 = 1;
/// The mandatory section; a packet without authentication is exactly this.
pub const CONTROL_LEN: usize = 24;
/// The shortest packet with an authentication section (RFC 5880 6.8.6).
const CONTROL_WITH_AUTH_MIN_LEN: usize = 26;

const FLAG_POLL: u8 = 0x20;
const FLAG_FINAL: u8 = 0x10;
const FLAG_CPI: u8 = 0x08;
const FLAG_AUTH: u8 = 0x04;
const FLAG_DEMAND: u8 = 0x02;
const FLAG_MULTIPOINT: u8 = 0x01;

/// A session state, as carried in the Sta field (RFC 5880 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    AdminDown,
    Down,
    Init,
    Up,
}

impl State {
    pub fn code(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The two bits of the Sta field: every value is a state.
    fn from_code(code: u8) -> State {
        match code & 0x3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// The diagnostic code (RFC 5880 4.1): why the sender's session last
/// changed state. 9-31 are reserved; they are kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    None,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// 9..=31.
    Reserved(u8),
}

impl Diag {
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(code) => code & 0x1f,
        }
    }

    /// The five bits of the Diag field.
    pub fn from_code(code: u8) -> Diag {
        match code & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            other => Diag::Reserved(other),
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::None => f.write_str("no diagnostic"),
            Diag::ControlDetectionTimeExpired => f.write_str("control detection time expired"),
            Diag::EchoFunctionFailed => f.write_str("echo function failed"),
            Diag::NeighborSignaledSessionDown => f.write_str("neighbor signaled session down"),
            Diag::ForwardingPlaneReset => f.write_str("forwarding plane reset"),
            Diag::PathDown => f.write_str("path down"),
            Diag::ConcatenatedPathDown => f.write_str("concatenated path down"),
            Diag::AdministrativelyDown => f.write_str("administratively down"),
            Diag::ReverseConcatenatedPathDown => f.write_str("reverse concatenated path down"),
            Diag::Reserved(code) => write!(f, "reserved diagnostic {code}"),
        }
    }
}

/// A BFD Control packet (the mandatory section). Intervals are in
/// microseconds, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    /// Control Plane Independent: we never set it (our BFD shares fate
    /// with the control plane, RFC 5880 6.8.7).
    pub cpi: bool,
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discr: u32,
    pub your_discr: u32,
    pub desired_min_tx_us: u32,
    pub required_min_rx_us: u32,
    pub required_min_echo_rx_us: u32,
}

/// Why a received packet is discarded (RFC 5880 6.8.6, the checks that
/// need only the packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("datagram of {0} bytes, shorter than a control packet")]
    Truncated(usize),
    #[error("version {0}, not 1")]
    BadVersion(u8),
    #[error("length field {length}, below the minimum or beyond the {datagram}-byte datagram")]
    BadLength { length: u8, datagram: usize },
    #[error("authentication present: not supported")]
    AuthNotSupported,
    #[error("detect multiplier 0")]
    ZeroDetectMult,
    #[error("multipoint bit set")]
    Multipoint,
    #[error("my discriminator 0")]
    ZeroMyDiscriminator,
    #[error("your discriminator 0 in state {0}")]
    ZeroYourDiscriminator(State),
}

impl DecodeError {
    /// A short name to count the discards by.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Truncated(_) => "truncated",
            DecodeError::BadVersion(_) => "bad_version",
            DecodeError::BadLength { .. } => "bad_length",
            DecodeError::AuthNotSupported => "auth_not_supported",
            DecodeError::ZeroDetectMult => "zero_detect_mult",
            DecodeError::Multipoint => "multipoint",
            DecodeError::ZeroMyDiscriminator => "zero_my_discriminator",
            DecodeError::ZeroYourDiscriminator(_) => "zero_your_discriminator",
        }
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl ControlPacket {
    /// Decode one UDP payload. Bytes past the Length field are ignored;
    /// a Length beyond the datagram is an error.
    pub fn decode(bytes: &[u8]) -> Result<ControlPacket, DecodeError> {
        if bytes.len() < CONTROL_LEN {
            return Err(DecodeError::Truncated(bytes.len()));
        }
        let version = bytes[0] >> 5;
        if version != VERSION {
            return Err(DecodeError::BadVersion(version));
        }
        let flags = bytes[1];
        let length = bytes[3];
        let min = if flags & FLAG_AUTH != 0 {
            CONTROL_WITH_AUTH_MIN_LEN
        } else {
            CONTROL_LEN
        };
        if usize::from(length) < min || usize::from(length) > bytes.len() {
            return Err(DecodeError::BadLength {
                length,
                datagram: bytes.len(),
            });
        }
        // A well-formed packet we cannot check: without authentication
        // configured, RFC 5880 6.8.6 discards it.
        if flags & FLAG_AUTH != 0 {
            return Err(DecodeError::AuthNotSupported);
        }
        let detect_mult = bytes[2];
        if detect_mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        if flags & FLAG_MULTIPOINT != 0 {
            return Err(DecodeError::Multipoint);
        }
        let my_discr = be32(bytes, 4);
        if my_discr == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        let state = State::from_code(flags >> 6);
        let your_discr = be32(bytes, 8);
        if your_discr == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(DecodeError::ZeroYourDiscriminator(state));
        }
        Ok(ControlPacket {
            diag: Diag::from_code(bytes[0]),
            state,
            poll: flags & FLAG_POLL != 0,
            final_: flags & FLAG_FINAL != 0,
            cpi: flags & FLAG_CPI != 0,
            demand: flags & FLAG_DEMAND != 0,
            detect_mult,
            my_discr,
            your_discr,
            desired_min_tx_us: be32(bytes, 12),
            required_min_rx_us: be32(bytes, 16),
            required_min_echo_rx_us: be32(bytes, 20),
        })
    }

    pub fn encode(&self) -> [u8; CONTROL_LEN] {
        let mut out = [0u8; CONTROL_LEN];
        out[0] = (VERSION << 5) | self.diag.code();
        out[1] = (self.state.code() << 6)
            | if self.poll { FLAG_POLL } else { 0 }
            | if self.final_ { FLAG_FINAL } else { 0 }
            | if self.cpi { FLAG_CPI } else { 0 }
            | if self.demand { FLAG_DEMAND } else { 0 };
        out[2] = self.detect_mult;
        out[3] = CONTROL_LEN as u8;
        out[4..8].copy_from_slice(&self.my_discr.to_be_bytes());
        out[8..12].copy_from_slice(&self.your_discr.to_be_bytes());
        out[12..16].copy_from_slice(&self.desired_min_tx_us.to_be_bytes());
        out[16..20].copy_from_slice(&self.required_min_rx_us.to_be_bytes());
        out[20..24].copy_from_slice(&self.required_min_echo_rx_us.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What FRR's bfdd sends first: Down, no discriminator of ours yet,
    /// 1 s slow TX, 300 ms RX, detect mult 3, echo 50 ms.
    const FRR_DOWN: [u8; 24] = [
        0x20, 0x40, 0x03, 0x18, // v1 diag 0, Down, mult 3, length 24
        0x12, 0x34, 0x56, 0x78, // my discriminator
        0x00, 0x00, 0x00, 0x00, // your discriminator
        0x00, 0x0f, 0x42, 0x40, // desired min TX 1 000 000 us
        0x00, 0x04, 0x93, 0xe0, // required min RX 300 000 us
        0x00, 0x00, 0xc3, 0x50, // required min echo RX 50 000 us
    ];

    fn up() -> ControlPacket {
        ControlPacket {
            diag: Diag::None,
            state: State::Up,
            poll: false,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_discr: 7,
            your_discr: 9,
            desired_min_tx_us: 300_000,
            required_min_rx_us: 300_000,
            required_min_echo_rx_us: 0,
        }
    }

    #[test]
    fn decodes_a_down_packet_as_frr_sends_it() {
        let packet = ControlPacket::decode(&FRR_DOWN).unwrap();
        assert_eq!(packet.state, State::Down);
        assert_eq!(packet.diag, Diag::None);
        assert_eq!(packet.detect_mult, 3);
        assert_eq!(packet.my_discr, 0x1234_5678);
        assert_eq!(packet.your_discr, 0);
        assert_eq!(packet.desired_min_tx_us, 1_000_000);
        assert_eq!(packet.required_min_rx_us, 300_000);
        assert_eq!(packet.required_min_echo_rx_us, 50_000);
        assert!(!packet.poll && !packet.final_ && !packet.demand && !packet.cpi);
        assert_eq!(packet.encode(), FRR_DOWN);
    }

    #[test]
    fn encodes_flags_state_and_diag_where_rfc_5880_puts_them() {
        let packet = ControlPacket {
            diag: Diag::NeighborSignaledSessionDown,
            state: State::Init,
            poll: true,
            cpi: true,
            ..up()
        };
        let bytes = packet.encode();
        assert_eq!(bytes[0], 0x23, "version 1, diag 3");
        assert_eq!(bytes[1], 0x80 | 0x20 | 0x08, "Init, P, C");
        assert_eq!(bytes[3], 24);
        let fin = ControlPacket {
            final_: true,
            demand: true,
            ..up()
        }
        .encode();
        assert_eq!(fin[1], 0xc0 | 0x10 | 0x02, "Up, F, D");
    }

    #[test]
    fn trailing_bytes_past_the_length_are_ignored() {
        let mut bytes = up().encode().to_vec();
        bytes.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(ControlPacket::decode(&bytes), Ok(up()));
    }

    #[test]
    fn the_reception_checks_of_rfc_5880_6_8_6() {
        let good = up().encode();
        let with = |edit: &dyn Fn(&mut [u8; 24])| {
            let mut bytes = good;
            edit(&mut bytes);
            ControlPacket::decode(&bytes)
        };
        assert_eq!(ControlPacket::decode(&good[..23]), Err(DecodeError::Truncated(23)));
        assert_eq!(with(&|b| b[0] = 0x00), Err(DecodeError::BadVersion(0)));
        assert_eq!(with(&|b| b[0] = 0x40), Err(DecodeError::BadVersion(2)));
        assert_eq!(
            with(&|b| b[3] = 23),
            Err(DecodeError::BadLength {
                length: 23,
                datagram: 24
            })
        );
        assert_eq!(
            with(&|b| b[3] = 25),
            Err(DecodeError::BadLength {
                length: 25,
                datagram: 24
            }),
            "a length beyond the datagram"
        );
        assert_eq!(
            with(&|b| b[1] |= FLAG_AUTH),
            Err(DecodeError::BadLength {
                length: 24,
                datagram: 24
            }),
            "with the A bit, 24 is too short"
        );
        let mut auth = good.to_vec();
        auth.extend_from_slice(&[1, 5, 0, 0, 0]); // simple password, key 0
        auth[1] |= FLAG_AUTH;
        auth[3] = 29;
        assert_eq!(ControlPacket::decode(&auth), Err(DecodeError::AuthNotSupported));
        assert_eq!(with(&|b| b[2] = 0), Err(DecodeError::ZeroDetectMult));
        assert_eq!(with(&|b| b[1] |= FLAG_MULTIPOINT), Err(DecodeError::Multipoint));
        assert_eq!(with(&|b| b[4..8].fill(0)), Err(DecodeError::ZeroMyDiscriminator));
        assert_eq!(
            with(&|b| b[8..12].fill(0)),
            Err(DecodeError::ZeroYourDiscriminator(State::Up))
        );
        let init = with(&|b| {
            b[1] = 0x80;
            b[8..12].fill(0)
        });
        assert_eq!(init, Err(DecodeError::ZeroYourDiscriminator(State::Init)));
        let admin_down = with(&|b| {
            b[1] = 0x00;
            b[8..12].fill(0)
        });
        assert_eq!(admin_down.map(|p| p.state), Ok(State::AdminDown));
    }

    #[test]
    fn every_diag_code_survives() {
        for code in 0..32 {
            assert_eq!(Diag::from_code(code).code(), code);
        }
        assert_eq!(Diag::from_code(7), Diag::AdministrativelyDown);
        assert_eq!(Diag::from_code(9), Diag::Reserved(9));
    }

    fn state() -> impl Strategy<Value = State> {
        prop_oneof![
            Just(State::AdminDown),
            Just(State::Down),
            Just(State::Init),
            Just(State::Up)
        ]
    }

    /// Any packet `decode` accepts: your discriminator 0 only in Down and
    /// AdminDown.
    fn valid_packet() -> impl Strategy<Value = ControlPacket> {
        (
            (0u8..32, state(), any::<[bool; 4]>(), 1u8..=255),
            (1u32.., any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        )
            .prop_map(
                |((diag, state, [poll, final_, cpi, demand], detect_mult), (my, your, tx, rx, echo))| {
                    let your_discr = if your == 0 && matches!(state, State::Init | State::Up) {
                        1
                    } else {
                        your
                    };
                    ControlPacket {
                        diag: Diag::from_code(diag),
                        state,
                        poll,
                        final_,
                        cpi,
                        demand,
                        detect_mult,
                        my_discr: my,
                        your_discr,
                        desired_min_tx_us: tx,
                        required_min_rx_us: rx,
                        required_min_echo_rx_us: echo,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn a_valid_packet_survives_encode_and_decode(packet in valid_packet()) {
            prop_assert_eq!(ControlPacket::decode(&packet.encode()), Ok(packet));
        }

        #[test]
        fn random_bytes_decode_or_fail_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(packet) = ControlPacket::decode(&bytes) {
                // What was accepted re-encodes to the same mandatory section
                // (with the length of the section alone).
                let mut section = bytes[..CONTROL_LEN].to_vec();
                section[3] = CONTROL_LEN as u8;
                prop_assert_eq!(&packet.encode()[..], &section[..]);
                prop_assert!(bytes[3] as usize >= CONTROL_LEN && bytes[1] & (FLAG_AUTH | FLAG_MULTIPOINT) == 0);
            }
        }
    }
}
