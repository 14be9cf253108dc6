//! The BGP finite state machine (RFC 4271 section 8) as a pure state machine.
//!
//! [`Fsm::handle`] takes one [`Event`] and returns the [`Action`]s the caller
//! must carry out, in order. There are no sockets, clocks, tasks or randomness
//! in here: the session task dials, reads, writes and sleeps, and feeds what
//! happened back in as events. Timers are values: [`Action::StartTimer`]
//! (re)arms a timer, [`Action::StopTimer`] disarms it, and the expiry comes
//! back as an event. The FSM remembers which timers it has armed, so an expiry
//! of a timer it has since stopped (the caller's sleep raced the stop) is stale
//! and ignored instead of ending a session.
//!
//! # One FSM per transport connection
//!
//! RFC 4271 8.2.1.2: "There is one FSM per BGP connection." A session task
//! (one per neighbour) owns a *primary* FSM, which dials (unless passive) and
//! retries, and at most one *secondary* FSM, for a connection the neighbour
//! opened while the primary already had one of its own. Both speakers dialing
//! at once is routine in an unnumbered fabric, so the secondary is common.
//! Which of the two survives is decided by the pure
//! [`crate::bgp::fsm::collision::resolve_collision`] when an OPEN arrives; the
//! loser is told [`Event::OpenCollisionDump`] and is then dropped.
//!
//! ```ignore
//! // Session start.
//! let mut primary = Fsm::new(cfg.clone())?;
//! run(primary.handle(Event::ManualStart));          // StartTimer(ConnectRetry), Connect
//!
//! // Our dial completed or failed.
//! run(primary.handle(Event::TcpConnected(Direction::Outbound)));
//! run(primary.handle(Event::TcpConnectionFails));   // -> Active, redials on ConnectRetry
//!
//! // The manager hands us a connection the neighbour opened.
//! match primary.state() {
//!     State::Idle => drop(stream),                  // not started: refuse
//!     State::Connect | State::Active => {
//!         // No connection yet: the primary takes it (AbortConnect drops our dial).
//!         run(primary.handle(Event::TcpConnected(Direction::Inbound)));
//!     }
//!     _ => {
//!         // The primary has a connection: track this one in its own FSM, which
//!         // never dials (passive) and is dropped once it closes.
//!         let mut secondary = Fsm::new(FsmConfig { passive: true, ..cfg.clone() })?;
//!         secondary.handle(Event::ManualStart);     // -> Active, no actions
//!         run(secondary.handle(Event::TcpConnected(Direction::Inbound)));
//!     }
//! }
//!
//! // A message decoded on connection `this`; `other` is the other FSM, if any.
//! if let (Message::Open(open), Some(existing)) = (&msg, other.connection()) {
//!     let local = Speaker { bgp_id: cfg.router_id, asn: cfg.local_asn };
//!     let remote = Speaker { bgp_id: open.bgp_id, asn: open.asn() };
//!     match resolve_collision(local, remote, existing, this.direction()?) {
//!         Keep::Both => {}                          // the other has no connection yet
//!         Keep::Existing => { run(this.handle(Event::OpenCollisionDump)); return; }
//!         Keep::New => run(other.handle(Event::OpenCollisionDump)),
//!     }
//! }
//! run(this.handle(Event::Received(msg)));
//! // A decode error instead: this.handle(Event::MessageError(notification)).
//!
//! // Timers: on StartTimer(t, d) (re)arm a sleep, on StopTimer(t) drop it, on
//! // expiry feed t.expiry_event(). After each UPDATE we write: Event::UpdateSent.
//! // Link down: Event::LinkDown. Operator: Event::ManualStop { shutdown_message }.
//! // SessionDown means the FSM is Idle: drop a secondary; restart the primary
//! // (Event::AutomaticStart) after a delay while the neighbour is still known.
//! ```
//!
//! # Where this follows FRR rather than the letter of RFC 4271 8.2.2
//!
//! - A failed dial (TcpConnectionFails in Connect) goes to Active and redials
//!   when the ConnectRetryTimer expires, as FRR does, instead of to Idle: the
//!   neighbour's BGP may simply not listen yet.
//! - A NOTIFICATION received in any state closes the connection without a
//!   reply (RFC 4271 4.5, 6.4); 8.2.2 OpenSent would answer event 25 with an
//!   FSM Error.
//! - `passive` means never dial (FRR and BIRD `passive`), not RFC 4271's
//!   PassiveTcpEstablishment (listen first, dial after ConnectRetry).
//! - The FSM never leaves Idle by itself: the session decides when to restart
//!   (AutomaticStart), since only it knows whether the neighbour is still there
//!   and whether this FSM lost a collision.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

pub mod collision;
pub mod graceful;

use self::collision::Connection;
use self::graceful::{LocalGracefulRestart, PeerGracefulRestart};
use crate::msg::{
    AFI_IPV4, AFI_IPV6, AS_TRANS, BGP_VERSION, Capability, ExtendedNextHop, Message, Notification, Open, RouteRefresh,
    SAFI_UNICAST, code,
};

#[cfg(test)]
mod tests;

/// Hold time we offer by default: FRR's datacenter profile (keepalive 3 s).
pub const DEFAULT_HOLD_TIME: u16 = 9;
/// ConnectRetryTime by default: FRR's datacenter profile.
pub const DEFAULT_CONNECT_RETRY_TIME: Duration = Duration::from_secs(10);
/// The "large value" the HoldTimer gets while we wait for the peer's OPEN
/// (RFC 4271 8.2.2: "A HoldTimer value of 4 minutes is suggested").
pub const OPEN_SENT_HOLD_TIME: Duration = Duration::from_secs(240);
/// FSM Error subcode 0: an unexpected event that is not a message (RFC 6608 3).
const FSM_UNSPECIFIED: u8 = 0;

/// Which peer AS numbers we accept in an OPEN (docs/ARCHITECTURE.md section 4: the peer's AS is
/// usually not known in advance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteAs {
    /// Any AS.
    #[default]
    Any,
    /// Any AS other than ours (eBGP).
    External,
    /// Only our own AS (iBGP).
    Internal,
    /// Exactly this AS.
    Asn(u32),
}

impl RemoteAs {
    /// Whether a peer announcing `peer_asn` is acceptable to a speaker in `local_asn`.
    pub fn accepts(self, local_asn: u32, peer_asn: u32) -> bool {
        match self {
            RemoteAs::Any => true,
            RemoteAs::External => peer_asn != local_asn,
            RemoteAs::Internal => peer_asn == local_asn,
            RemoteAs::Asn(asn) => peer_asn == asn,
        }
    }
}

impl fmt::Display for RemoteAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAs::Any => f.write_str("any"),
            RemoteAs::External => f.write_str("external"),
            RemoteAs::Internal => f.write_str("internal"),
            RemoteAs::Asn(asn) => write!(f, "{asn}"),
        }
    }
}

/// Why a `--remote-as` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseRemoteAsError {
    #[error(
        "invalid remote AS {0:?}: expected \"any\", \"external\", \"internal\" or an AS number from 1 to 4294967295"
    )]
    Invalid(String),
    #[error("invalid remote AS 0: AS 0 is reserved and never used by a peer (RFC 7607)")]
    Zero,
    #[error(
        "invalid remote AS 23456: that is AS_TRANS, a placeholder for 4-octet AS numbers (RFC 6793), not a peer's AS"
    )]
    AsTrans,
}

impl FromStr for RemoteAs {
    type Err = ParseRemoteAsError;

    /// Parses the flag values `any`, `external`, `internal` or an AS number.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "any" => Ok(RemoteAs::Any),
            "external" => Ok(RemoteAs::External),
            "internal" => Ok(RemoteAs::Internal),
            // Digits only: u32::from_str would also take "+65001".
            _ if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => match s.parse::<u32>() {
                Ok(0) => Err(ParseRemoteAsError::Zero),
                Ok(asn) if asn == u32::from(AS_TRANS) => Err(ParseRemoteAsError::AsTrans),
                Ok(asn) => Ok(RemoteAs::Asn(asn)),
                Err(_) => Err(ParseRemoteAsError::Invalid(s.to_owned())),
            },
            _ => Err(ParseRemoteAsError::Invalid(s.to_owned())),
        }
    }
}

/// What one FSM needs to know about us and the session we want.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsmConfig {
    /// Our AS number; sent as AS_TRANS plus the 4-octet AS capability when it
    /// does not fit in 2 octets (RFC 6793).
    pub local_asn: u32,
    /// Our BGP identifier (non-zero, RFC 6286).
    pub router_id: Ipv4Addr,
    /// Hold time we offer, in seconds: 0 (no keepalives) or at least 3.
    pub hold_time: u16,
    /// Upper bound on the keepalive interval in seconds; `None` means one third
    /// of the negotiated hold time (RFC 4271 4.4). FRR uses the smaller of the two.
    pub keepalive_time: Option<u16>,
    /// Time between dial attempts (RFC 4271 ConnectRetryTime).
    pub connect_retry_time: Duration,
    /// Which peer AS numbers are acceptable.
    pub remote_as: RemoteAs,
    /// Never dial; only take connections the neighbour opens.
    pub passive: bool,
    /// The Graceful Restart capability we advertise; `None`: none, and the
    /// peer's is ignored (not negotiated).
    pub graceful_restart: Option<LocalGracefulRestart>,
}

impl FsmConfig {
    /// A configuration with FRR's datacenter timers (hold 9 s, keepalive 3 s,
    /// connect retry 10 s), any remote AS, dialing.
    pub fn new(local_asn: u32, router_id: Ipv4Addr) -> Self {
        FsmConfig {
            local_asn,
            router_id,
            hold_time: DEFAULT_HOLD_TIME,
            keepalive_time: None,
            connect_retry_time: DEFAULT_CONNECT_RETRY_TIME,
            remote_as: RemoteAs::Any,
            passive: false,
            graceful_restart: None,
        }
    }

    /// Checks the values against the RFCs before any OPEN is built from them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.local_asn == 0 {
            return Err(ConfigError::LocalAsnZero);
        }
        if self.local_asn == u32::from(AS_TRANS) {
            return Err(ConfigError::LocalAsnTrans);
        }
        if self.router_id.is_unspecified() {
            return Err(ConfigError::RouterIdZero);
        }
        if !hold_time_is_valid(self.hold_time) {
            return Err(ConfigError::HoldTime(self.hold_time));
        }
        if self.keepalive_time == Some(0) {
            return Err(ConfigError::KeepaliveZero);
        }
        if self.connect_retry_time.is_zero() {
            return Err(ConfigError::ConnectRetryZero);
        }
        if let RemoteAs::Asn(asn) = self.remote_as
            && (asn == 0 || asn == u32::from(AS_TRANS))
        {
            return Err(ConfigError::RemoteAsReserved(asn));
        }
        Ok(())
    }
}

/// A configuration value the RFCs do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("local AS 0 is reserved (RFC 7607)")]
    LocalAsnZero,
    #[error("local AS 23456 is AS_TRANS, reserved (RFC 6793)")]
    LocalAsnTrans,
    #[error("router ID 0.0.0.0 is not a valid BGP identifier (RFC 6286)")]
    RouterIdZero,
    #[error("hold time {0} s is invalid: use 0 or at least 3 s (RFC 4271 4.2)")]
    HoldTime(u16),
    #[error("keepalive time 0 is invalid: at least 1 s (RFC 4271 4.4)")]
    KeepaliveZero,
    #[error("connect retry time must be more than 0")]
    ConnectRetryZero,
    #[error("remote AS {0} is reserved (RFC 7607, RFC 6793)")]
    RemoteAsReserved(u32),
}

/// The six states of RFC 4271 8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        })
    }
}

/// Who opened a TCP connection (RFC 4271 8.2.1.1 "active" and "passive" side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialed it (RFC 4271 event 16, Tcp_CR_Acked).
    Outbound,
    /// The neighbour dialed it (RFC 4271 event 17, TcpConnectionConfirmed).
    Inbound,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        })
    }
}

/// The timers the caller runs for the FSM (RFC 4271 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
}

impl Timer {
    /// Every timer, by `index`.
    pub const ALL: [Timer; 3] = [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive];

    /// The event to feed when this timer fires.
    pub fn expiry_event(self) -> Event {
        match self {
            Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
            Timer::Hold => Event::HoldTimerExpires,
            Timer::Keepalive => Event::KeepaliveTimerExpires,
        }
    }

    /// 0, 1, 2: where to keep this timer in an array of three.
    pub fn index(self) -> usize {
        match self {
            Timer::ConnectRetry => 0,
            Timer::Hold => 1,
            Timer::Keepalive => 2,
        }
    }
}

/// Inputs to the FSM (RFC 4271 8.1, trimmed to the options we implement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Event 1: the operator (or session start) wants the session up.
    ManualStart,
    /// Event 3: restart after the session went down.
    AutomaticStart,
    /// Event 2: the operator stops the session. The message, if any, goes to
    /// the peer in the Cease/Administrative Shutdown NOTIFICATION (RFC 9003).
    ManualStop { shutdown_message: Option<String> },
    /// Event 8: we stop the session ourselves, with this Cease subcode
    /// (RFC 4486, e.g. [`code::PEER_DECONFIGURED`] when the neighbour is gone).
    AutomaticStop { subcode: u8 },
    /// The peer has more prefixes accepted than `limit`: an AutomaticStop
    /// whose Cease / Maximum Number of Prefixes Reached carries the family
    /// that crossed it and the limit (RFC 4486 4).
    MaxPrefixExceeded { afi: u16, safi: u8, limit: u32 },
    /// Event 9.
    ConnectRetryTimerExpires,
    /// Event 10.
    HoldTimerExpires,
    /// Event 11.
    KeepaliveTimerExpires,
    /// Events 16/17: a TCP connection is up and handed to this FSM.
    TcpConnected(Direction),
    /// Event 18: our dial failed, or the connection broke or was closed.
    TcpConnectionFails,
    /// Events 19, 25-27 and the unexpected ones: a message decoded from the peer.
    Received(Message),
    /// Events 21, 22, 28: the peer's bytes did not decode; the codec says
    /// which NOTIFICATION tells the peer why.
    MessageError(Notification),
    /// A NOTIFICATION from the peer did not decode: RFC 4271 6.4 forbids
    /// answering it with one, so the connection just closes.
    MalformedNotification,
    /// Event 23: this connection lost a collision (RFC 4271 6.8).
    OpenCollisionDump,
    /// The interface went down: end the session now rather than at hold time
    /// (docs/ARCHITECTURE.md section 4). Not an RFC 4271 event.
    LinkDown,
    /// We wrote an UPDATE: it restarts the KeepaliveTimer (RFC 4271 8.2.2,
    /// Established).
    UpdateSent,
    /// The operator resets the session (`neighbor clear`): Cease /
    /// Administrative Reset (RFC 4486, subcode 4) with an optional RFC 9003
    /// text, then Idle; the session redials as after any other down. Not an
    /// RFC 4271 event (ManualStop with another subcode).
    AdministrativeReset { message: Option<String> },
    /// The operator asks the peer to send its routes again (`neighbor clear
    /// --soft`): a ROUTE-REFRESH (RFC 2918) per negotiated family, if the
    /// peer advertised the capability; only meaningful in Established,
    /// ignored elsewhere.
    RequestRouteRefresh,
}

impl Event {
    fn expired_timer(&self) -> Option<Timer> {
        match self {
            Event::ConnectRetryTimerExpires => Some(Timer::ConnectRetry),
            Event::HoldTimerExpires => Some(Timer::Hold),
            Event::KeepaliveTimerExpires => Some(Timer::Keepalive),
            _ => None,
        }
    }
}

/// What the caller must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this message to the connection.
    Send(Message),
    /// Start dialing the neighbour; report the outcome as
    /// `TcpConnected(Outbound)` or `TcpConnectionFails`.
    Connect,
    /// Give up the dial in flight (if it still completes, close it unused).
    AbortConnect,
    /// Close the connection just offered with `TcpConnected`: this FSM did not
    /// take it (Idle refuses connections; a second one needs its own FSM).
    RefuseConnection,
    /// Close this FSM's connection, after writing what was queued before.
    CloseConnection,
    /// Arm the timer to fire after the duration, replacing a running one.
    StartTimer(Timer, Duration),
    /// Disarm the timer.
    StopTimer(Timer),
    /// The session is Established with this peer.
    SessionEstablished(PeerInfo),
    /// The FSM went to Idle. `was_established`: routes learned on this
    /// connection must be withdrawn (RFC 4271 8.2.2 "deletes all routes").
    SessionDown { reason: DownReason, was_established: bool },
    /// An UPDATE body for the routes code (only in Established).
    Update(Vec<u8>),
    /// The peer asks us to resend our routes (RFC 2918; only in Established).
    RouteRefresh(RouteRefresh),
}

/// Why the FSM went to Idle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    ManualStop,
    /// The operator reset the session (Cease / Administrative Reset sent).
    AdministrativeReset,
    AutomaticStop,
    LinkDown,
    /// This connection lost a collision (RFC 4271 6.8).
    CollisionLost,
    /// The peer was silent for the hold time.
    HoldTimerExpired,
    /// The TCP connection failed or the peer closed it.
    ConnectionLost,
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// We found an error and sent this NOTIFICATION (OPEN check, unexpected
    /// message, malformed message).
    NotificationSent(Notification),
    /// The peer sent a NOTIFICATION that did not decode; none was sent back.
    MalformedNotificationReceived,
    /// An event that has no meaning in a state without a connection to report
    /// it on (RFC 4271 8.2.2 Connect/Active "any other event").
    UnexpectedEvent,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::ManualStop => f.write_str("stopped by operator"),
            DownReason::AdministrativeReset => f.write_str("reset by operator"),
            DownReason::AutomaticStop => f.write_str("stopped"),
            DownReason::LinkDown => f.write_str("link down"),
            DownReason::CollisionLost => f.write_str("connection collision lost"),
            DownReason::HoldTimerExpired => f.write_str("hold timer expired"),
            DownReason::ConnectionLost => f.write_str("connection lost"),
            DownReason::NotificationReceived(n) => {
                write!(f, "NOTIFICATION received: {}/{}", n.code, n.subcode)?;
                match n.shutdown_text() {
                    Some(text) => write!(f, " {text:?}"),
                    None => Ok(()),
                }
            }
            DownReason::NotificationSent(n) => {
                write!(f, "NOTIFICATION sent: {}/{}", n.code, n.subcode)
            }
            DownReason::MalformedNotificationReceived => f.write_str("malformed NOTIFICATION received"),
            DownReason::UnexpectedEvent => f.write_str("unexpected event"),
        }
    }
}

impl DownReason {
    /// Its class, one of [`crate::api::DOWN_REASONS`]: a metric label,
    /// where the text (with the peer's shutdown message) would be unbounded.
    pub fn class(&self) -> &'static str {
        match self {
            DownReason::ManualStop | DownReason::AdministrativeReset => "admin_stop",
            DownReason::AutomaticStop => "stopped",
            DownReason::LinkDown => "link_down",
            DownReason::HoldTimerExpired => "hold_timer_expired",
            DownReason::ConnectionLost => "connection_lost",
            DownReason::NotificationReceived(_) => "notification_received",
            DownReason::NotificationSent(_) => "notification_sent",
            DownReason::MalformedNotificationReceived => "malformed_notification",
            DownReason::CollisionLost | DownReason::UnexpectedEvent => "other",
        }
    }
}

/// What we learned from the peer's OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's AS (from the 4-octet AS capability when present).
    pub asn: u32,
    pub bgp_id: Ipv4Addr,
    /// Negotiated hold time in seconds: min(ours, theirs); 0 = no hold timer.
    pub hold_time: u16,
    /// Our keepalive interval; `None` when the hold time is 0.
    pub keepalive: Option<Duration>,
    /// The capabilities as the peer sent them.
    pub capabilities: Vec<Capability>,
    /// What both sides support.
    pub negotiated: Negotiated,
    /// Who opened the connection.
    pub direction: Direction,
    /// Same AS as ours (iBGP).
    pub internal: bool,
}

/// Features in use on the session. We always advertise all of them (see
/// [`local_capabilities`]), so each is on when the peer advertised it (RFC 5492).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// 4-octet AS numbers in AS_PATH (RFC 6793).
    pub four_octet_as: bool,
    /// ROUTE-REFRESH may be sent (RFC 2918).
    pub route_refresh: bool,
    /// IPv4 unicast: advertised, or implied by an OPEN without any
    /// Multiprotocol capability (a plain BGP-4 speaker, RFC 4760 1).
    pub ipv4_unicast: bool,
    /// IPv6 unicast (RFC 4760).
    pub ipv6_unicast: bool,
    /// IPv4 unicast routes may carry an IPv6 next hop (RFC 8950).
    pub ipv4_next_hop_ipv6: bool,
    /// The peer's Graceful Restart capability (RFC 4724), when both sides
    /// advertise one.
    pub graceful_restart: Option<PeerGracefulRestart>,
}

impl Negotiated {
    /// What the peer's capabilities allow, given that we advertise everything.
    pub fn from_peer(capabilities: &[Capability]) -> Self {
        let multiprotocol = |want_afi: u16| {
            capabilities.iter().any(
                |c| matches!(c, Capability::Multiprotocol { afi, safi } if *afi == want_afi && *safi == SAFI_UNICAST),
            )
        };
        let any_multiprotocol = capabilities
            .iter()
            .any(|c| matches!(c, Capability::Multiprotocol { .. }));
        Negotiated {
            four_octet_as: capabilities.iter().any(|c| matches!(c, Capability::FourOctetAs(_))),
            route_refresh: capabilities.contains(&Capability::RouteRefresh),
            ipv4_unicast: multiprotocol(AFI_IPV4) || !any_multiprotocol,
            ipv6_unicast: multiprotocol(AFI_IPV6),
            ipv4_next_hop_ipv6: capabilities.iter().any(|c| match c {
                Capability::ExtendedNextHop(entries) => entries.contains(&IPV4_UNICAST_OVER_IPV6),
                _ => false,
            }),
            graceful_restart: PeerGracefulRestart::from_peer(capabilities),
        }
    }
}

/// RFC 8950: IPv4 unicast NLRI with an IPv6 next hop.
const IPV4_UNICAST_OVER_IPV6: ExtendedNextHop = ExtendedNextHop {
    afi: AFI_IPV4,
    safi: SAFI_UNICAST as u16,
    nh_afi: AFI_IPV6,
};

/// The capabilities of our OPEN: MP IPv4 and IPv6 unicast (RFC 4760), route
/// refresh (RFC 2918), IPv4 over IPv6 next hop (RFC 8950), 4-octet AS (RFC 6793).
pub fn local_capabilities(local_asn: u32) -> Vec<Capability> {
    vec![
        Capability::Multiprotocol {
            afi: AFI_IPV4,
            safi: SAFI_UNICAST,
        },
        Capability::Multiprotocol {
            afi: AFI_IPV6,
            safi: SAFI_UNICAST,
        },
        Capability::RouteRefresh,
        Capability::ExtendedNextHop(vec![IPV4_UNICAST_OVER_IPV6]),
        Capability::FourOctetAs(local_asn),
    ]
}

/// Our OPEN message. My AS is AS_TRANS when our AS needs 4 octets (RFC 6793 4.1).
/// The Graceful Restart capability follows the others when configured.
pub fn local_open(config: &FsmConfig) -> Open {
    let mut capabilities = local_capabilities(config.local_asn);
    capabilities.extend(config.graceful_restart.map(|gr| gr.capability()));
    Open::new(config.local_asn, config.hold_time, config.router_id, capabilities)
}

/// Whether a hold time may be offered or accepted: 0 (no keepalives) or at
/// least 3 seconds (RFC 4271 4.2).
pub fn hold_time_is_valid(secs: u16) -> bool {
    secs == 0 || secs >= 3
}

/// The hold time both sides use: the smaller of the two offers (RFC 4271 4.2).
pub fn negotiate_hold_time(ours: u16, theirs: u16) -> u16 {
    ours.min(theirs)
}

/// How often we send KEEPALIVE: a third of the negotiated hold time (RFC 4271
/// 4.4), or the configured keepalive time when that is smaller (as FRR does);
/// never more often than once a second. `None` when the hold time is 0.
pub fn keepalive_interval(negotiated_hold_time: u16, keepalive_time: Option<u16>) -> Option<Duration> {
    if negotiated_hold_time == 0 {
        return None;
    }
    let third = negotiated_hold_time / 3;
    let secs = keepalive_time.map_or(third, |k| k.min(third)).max(1);
    Some(Duration::from_secs(u64::from(secs)))
}

/// Checks a received OPEN (RFC 4271 6.2) and returns the NOTIFICATION for the
/// first error found.
///
/// - Version other than 4: Unsupported Version Number, data = 4 as 2 octets,
///   the only version we have (both the "largest lower" and "smallest higher"
///   cases of 6.2 name it).
/// - AS: My AS 0 or a 4-octet AS of 0 (RFC 7607); My AS = AS_TRANS without a
///   4-octet AS capability (the real AS is unknown; FRR lets this pass as AS
///   23456, we refuse); a 4-octet AS of AS_TRANS; a My AS that is neither
///   AS_TRANS nor equal to the 4-octet AS (FRR does the same three); then
///   [`RemoteAs::accepts`]. All: Bad Peer AS.
/// - BGP identifier 0, or equal to ours from a peer in our own AS: Bad BGP
///   Identifier (RFC 6286 2.2). An eBGP peer may share our identifier (FRR
///   agrees); a collision between us is then resolved by AS (RFC 6286 2.3).
/// - Hold time 1 or 2: Unacceptable Hold Time (RFC 4271 6.2 MUST).
///
/// The data field is empty except for the version error: RFC 4271 6 ("Unless
/// specified explicitly, the Data field ... is empty"); FRR adds the offending
/// field, which the peer does not need.
pub fn validate_open(config: &FsmConfig, open: &Open) -> Result<(), Notification> {
    if open.version != BGP_VERSION {
        return Err(open_error(
            code::UNSUPPORTED_VERSION,
            u16::from(BGP_VERSION).to_be_bytes().to_vec(),
        ));
    }
    let asn = peer_asn(open).ok_or_else(|| open_error(code::BAD_PEER_AS, Vec::new()))?;
    if !config.remote_as.accepts(config.local_asn, asn) {
        return Err(open_error(code::BAD_PEER_AS, Vec::new()));
    }
    if open.bgp_id.is_unspecified() || (asn == config.local_asn && open.bgp_id == config.router_id) {
        return Err(open_error(code::BAD_BGP_IDENTIFIER, Vec::new()));
    }
    if !hold_time_is_valid(open.hold_time) {
        return Err(open_error(code::UNACCEPTABLE_HOLD_TIME, Vec::new()));
    }
    Ok(())
}

/// The peer's AS, or `None` when the AS fields are inconsistent (see
/// [`validate_open`]).
fn peer_asn(open: &Open) -> Option<u32> {
    let as_trans = u32::from(AS_TRANS);
    let four_octet = open.capabilities.iter().find_map(|c| match c {
        Capability::FourOctetAs(asn) => Some(*asn),
        _ => None,
    });
    match four_octet {
        Some(0) => None,
        Some(asn) if asn == as_trans => None,
        Some(asn) if open.my_as == AS_TRANS || u32::from(open.my_as) == asn => Some(asn),
        Some(_) => None,
        None if open.my_as == 0 || open.my_as == AS_TRANS => None,
        None => Some(u32::from(open.my_as)),
    }
}

fn open_error(subcode: u8, data: Vec<u8>) -> Notification {
    Notification {
        code: code::OPEN_MESSAGE,
        subcode,
        data,
    }
}

/// A Cease NOTIFICATION with this subcode (RFC 4486) and no data.
pub fn cease(subcode: u8) -> Notification {
    Notification {
        code: code::CEASE,
        subcode,
        data: Vec::new(),
    }
}

/// Cease / Maximum Number of Prefixes Reached with the data RFC 4486 4
/// gives it: AFI (2 octets), SAFI (1), the upper bound (4), as FRR sends.
pub fn max_prefix_cease(afi: u16, safi: u8, limit: u32) -> Notification {
    let mut data = Vec::with_capacity(7);
    data.extend_from_slice(&afi.to_be_bytes());
    data.push(safi);
    data.extend_from_slice(&limit.to_be_bytes());
    Notification {
        code: code::CEASE,
        subcode: code::MAXIMUM_PREFIXES_REACHED,
        data,
    }
}

fn is_version_error(notification: &Notification) -> bool {
    notification.code == code::OPEN_MESSAGE && notification.subcode == code::UNSUPPORTED_VERSION
}

fn fsm_error(subcode: u8) -> Notification {
    Notification {
        code: code::FSM,
        subcode,
        data: Vec::new(),
    }
}

/// The RFC 4271 8 state machine for one transport connection (see the module
/// documentation for how a session drives one or two of them).
#[derive(Debug, Clone)]
pub struct Fsm {
    config: FsmConfig,
    state: State,
    /// Who opened the connection this FSM has (set from OpenSent on).
    direction: Option<Direction>,
    /// From the peer's OPEN; kept after the session goes down, for display.
    peer: Option<PeerInfo>,
    /// Which timers we asked the caller to run, by [`Timer::index`].
    running: [bool; 3],
    /// RFC 4271 8 ConnectRetryCounter: failures since the last manual start/stop.
    connect_retry_counter: u32,
}

impl Fsm {
    /// A new FSM in Idle. Nothing happens until [`Event::ManualStart`].
    pub fn new(config: FsmConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Fsm {
            config,
            state: State::Idle,
            direction: None,
            peer: None,
            running: [false; 3],
            connect_retry_counter: 0,
        })
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &FsmConfig {
        &self.config
    }

    /// Use `router_id` from the next OPEN on. Refused (false) once an OPEN
    /// has gone out (past Active): both OPENs of one connection, and the
    /// collision checks on it, must agree on our identifier.
    pub fn set_router_id(&mut self, router_id: Ipv4Addr) -> bool {
        let taken = matches!(self.state, State::Idle | State::Connect | State::Active) && !router_id.is_unspecified();
        if taken {
            self.config.router_id = router_id;
        }
        taken
    }

    /// Who opened this FSM's connection; `None` before it has one.
    pub fn direction(&self) -> Option<Direction> {
        self.direction
    }

    /// The connection this FSM holds, for collision resolution: `Some` in
    /// OpenSent, OpenConfirm and Established.
    pub fn connection(&self) -> Option<Connection> {
        match self.state {
            State::OpenSent | State::OpenConfirm | State::Established => self.direction.map(|direction| Connection {
                direction,
                state: self.state,
            }),
            State::Idle | State::Connect | State::Active => None,
        }
    }

    /// What the peer's OPEN said; `None` until one was accepted on the current
    /// or last connection.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// RFC 4271 ConnectRetryCounter: failures since the last manual start or stop.
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// Whether the caller should currently be running this timer.
    pub fn timer_running(&self, timer: Timer) -> bool {
        self.running[timer.index()]
    }

    /// Processes one event; returns the actions to carry out in order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(timer) = event.expired_timer() {
            // A timer we stopped cannot expire: the caller's sleep fired before
            // our StopTimer reached it.
            if !self.running[timer.index()] {
                return out;
            }
            self.running[timer.index()] = false;
        }
        match self.state {
            State::Idle => self.idle(event, &mut out),
            State::Connect => self.connect(event, &mut out),
            State::Active => self.active(event, &mut out),
            State::OpenSent => self.open_sent(event, &mut out),
            State::OpenConfirm => self.open_confirm(event, &mut out),
            State::Established => self.established(event, &mut out),
        }
        out
    }

    /// RFC 4271 8.2.2 Idle: only start events do anything.
    fn idle(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::ManualStart => {
                self.connect_retry_counter = 0;
                self.start(out);
            }
            Event::AutomaticStart => self.start(out),
            Event::TcpConnected(_) => out.push(Action::RefuseConnection),
            _ => {}
        }
    }

    fn start(&mut self, out: &mut Vec<Action>) {
        if self.config.passive {
            self.state = State::Active;
        } else {
            self.start_timer(out, Timer::ConnectRetry, self.config.connect_retry_time);
            out.push(Action::Connect);
            self.state = State::Connect;
        }
    }

    /// RFC 4271 8.2.2 Connect: a dial is in flight.
    fn connect(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::ManualStart | Event::AutomaticStart | Event::UpdateSent | Event::RequestRouteRefresh => {}
            Event::ManualStop { .. } => {
                out.push(Action::AbortConnect);
                self.connect_retry_counter = 0;
                self.enter_idle(out, DownReason::ManualStop);
            }
            Event::AdministrativeReset { .. } => {
                out.push(Action::AbortConnect);
                self.connect_retry_counter = 0;
                self.enter_idle(out, DownReason::AdministrativeReset);
            }
            Event::ConnectRetryTimerExpires => {
                out.push(Action::AbortConnect);
                out.push(Action::Connect);
                self.start_timer(out, Timer::ConnectRetry, self.config.connect_retry_time);
            }
            Event::TcpConnected(Direction::Outbound) => {
                self.connection_up(out, Direction::Outbound);
            }
            Event::TcpConnected(Direction::Inbound) => {
                // The neighbour's connection is as good as ours: take it.
                out.push(Action::AbortConnect);
                self.connection_up(out, Direction::Inbound);
            }
            Event::TcpConnectionFails => {
                // As FRR: wait in Active and redial on ConnectRetry; the
                // neighbour may just not be listening yet.
                self.start_timer(out, Timer::ConnectRetry, self.config.connect_retry_time);
                self.state = State::Active;
            }
            Event::LinkDown => {
                out.push(Action::AbortConnect);
                self.enter_idle(out, DownReason::LinkDown);
            }
            Event::AutomaticStop { .. } | Event::MaxPrefixExceeded { .. } => {
                out.push(Action::AbortConnect);
                self.connect_retry_counter += 1;
                self.enter_idle(out, DownReason::AutomaticStop);
            }
            Event::HoldTimerExpires
            | Event::KeepaliveTimerExpires
            | Event::Received(_)
            | Event::MessageError(_)
            | Event::MalformedNotification
            | Event::OpenCollisionDump => {
                out.push(Action::AbortConnect);
                self.connect_retry_counter += 1;
                self.enter_idle(out, DownReason::UnexpectedEvent);
            }
        }
    }

    /// RFC 4271 8.2.2 Active: listening, redialing when ConnectRetry expires.
    fn active(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            // TcpConnectionFails: no dial of ours is in flight in Active; this
            // reports one we already gave up.
            Event::ManualStart
            | Event::AutomaticStart
            | Event::UpdateSent
            | Event::TcpConnectionFails
            | Event::RequestRouteRefresh => {}
            Event::ManualStop { .. } => {
                self.connect_retry_counter = 0;
                self.enter_idle(out, DownReason::ManualStop);
            }
            Event::AdministrativeReset { .. } => {
                self.connect_retry_counter = 0;
                self.enter_idle(out, DownReason::AdministrativeReset);
            }
            Event::ConnectRetryTimerExpires => {
                // Only armed when not passive.
                self.start_timer(out, Timer::ConnectRetry, self.config.connect_retry_time);
                out.push(Action::Connect);
                self.state = State::Connect;
            }
            Event::TcpConnected(direction) => self.connection_up(out, direction),
            Event::LinkDown => self.enter_idle(out, DownReason::LinkDown),
            Event::AutomaticStop { .. } | Event::MaxPrefixExceeded { .. } => {
                self.connect_retry_counter += 1;
                self.enter_idle(out, DownReason::AutomaticStop);
            }
            Event::HoldTimerExpires
            | Event::KeepaliveTimerExpires
            | Event::Received(_)
            | Event::MessageError(_)
            | Event::MalformedNotification
            | Event::OpenCollisionDump => {
                self.connect_retry_counter += 1;
                self.enter_idle(out, DownReason::UnexpectedEvent);
            }
        }
    }

    /// RFC 4271 8.2.2 Connect/Active on events 16/17: send OPEN, wait for theirs.
    fn connection_up(&mut self, out: &mut Vec<Action>, direction: Direction) {
        self.stop_timer(out, Timer::ConnectRetry);
        self.direction = Some(direction);
        self.peer = None;
        out.push(Action::Send(Message::Open(local_open(&self.config))));
        self.start_timer(out, Timer::Hold, OPEN_SENT_HOLD_TIME);
        self.state = State::OpenSent;
    }

    /// RFC 4271 8.2.2 OpenSent: our OPEN is out, theirs is awaited.
    fn open_sent(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::TcpConnectionFails => {
                // RFC 4271 8.2.2 OpenSent: close, restart ConnectRetry, Active.
                out.push(Action::CloseConnection);
                self.stop_timer(out, Timer::Hold);
                self.direction = None;
                if !self.config.passive {
                    self.start_timer(out, Timer::ConnectRetry, self.config.connect_retry_time);
                }
                self.state = State::Active;
            }
            Event::Received(Message::Open(open)) => self.open_received(out, open),
            Event::Received(Message::Keepalive | Message::Update(_) | Message::RouteRefresh(_)) => {
                self.connect_retry_counter += 1;
                let error = fsm_error(code::FSM_UNEXPECTED_IN_OPENSENT);
                self.notify_and_close(out, error.clone(), DownReason::NotificationSent(error));
            }
            Event::KeepaliveTimerExpires | Event::UpdateSent => {}
            other => self.common(other, out),
        }
    }

    /// RFC 4271 8.2.2 OpenSent on event 19: check the OPEN, send KEEPALIVE.
    fn open_received(&mut self, out: &mut Vec<Action>, open: Open) {
        if let Err(error) = validate_open(&self.config, &open) {
            self.connect_retry_counter += 1;
            self.notify_and_close(out, error.clone(), DownReason::NotificationSent(error));
            return;
        }
        let Some(direction) = self.direction else {
            // Unreachable: OpenSent is only entered through connection_up.
            self.enter_idle(out, DownReason::UnexpectedEvent);
            return;
        };
        let asn = open.asn();
        let hold_time = negotiate_hold_time(self.config.hold_time, open.hold_time);
        let keepalive = keepalive_interval(hold_time, self.config.keepalive_time);
        out.push(Action::Send(Message::Keepalive));
        match keepalive {
            Some(interval) => {
                self.start_timer(out, Timer::Keepalive, interval);
                self.start_timer(out, Timer::Hold, hold_duration(hold_time));
            }
            // RFC 4271 8.2.2: a negotiated hold time of 0 runs neither timer.
            None => self.stop_timer(out, Timer::Hold),
        }
        let mut negotiated = Negotiated::from_peer(&open.capabilities);
        if self.config.graceful_restart.is_none() {
            negotiated.graceful_restart = None;
        }
        self.peer = Some(PeerInfo {
            asn,
            bgp_id: open.bgp_id,
            hold_time,
            keepalive,
            capabilities: open.capabilities,
            negotiated,
            direction,
            internal: asn == self.config.local_asn,
        });
        self.state = State::OpenConfirm;
    }

    /// RFC 4271 8.2.2 OpenConfirm: OPENs exchanged, their KEEPALIVE awaited.
    fn open_confirm(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::KeepaliveTimerExpires => self.send_keepalive(out),
            Event::TcpConnectionFails => {
                self.connect_retry_counter += 1;
                self.close(out, DownReason::ConnectionLost);
            }
            Event::Received(Message::Keepalive) => {
                self.restart_hold_timer(out);
                self.state = State::Established;
                if let Some(peer) = &self.peer {
                    out.push(Action::SessionEstablished(peer.clone()));
                }
            }
            // An OPEN on this connection is a protocol error; a colliding one
            // on another connection goes to collision::resolve_collision first.
            Event::Received(Message::Open(_) | Message::Update(_) | Message::RouteRefresh(_)) => {
                self.connect_retry_counter += 1;
                let error = fsm_error(code::FSM_UNEXPECTED_IN_OPENCONFIRM);
                self.notify_and_close(out, error.clone(), DownReason::NotificationSent(error));
            }
            Event::UpdateSent => {}
            other => self.common(other, out),
        }
    }

    /// RFC 4271 8.2.2 Established.
    fn established(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::KeepaliveTimerExpires => self.send_keepalive(out),
            Event::UpdateSent => self.restart_keepalive_timer(out),
            Event::TcpConnectionFails => {
                self.connect_retry_counter += 1;
                self.close(out, DownReason::ConnectionLost);
            }
            Event::Received(Message::Keepalive) => self.restart_hold_timer(out),
            Event::Received(Message::Update(body)) => {
                self.restart_hold_timer(out);
                out.push(Action::Update(body));
            }
            Event::Received(Message::RouteRefresh(request)) => {
                // RFC 4271 names KEEPALIVE and UPDATE; a ROUTE-REFRESH shows
                // the peer alive just as well.
                self.restart_hold_timer(out);
                out.push(Action::RouteRefresh(request));
            }
            Event::Received(Message::Open(_)) => {
                self.connect_retry_counter += 1;
                let error = fsm_error(code::FSM_UNEXPECTED_IN_ESTABLISHED);
                self.notify_and_close(out, error.clone(), DownReason::NotificationSent(error));
            }
            Event::RequestRouteRefresh => self.request_route_refresh(out),
            other => self.common(other, out),
        }
    }

    /// Events handled alike in OpenSent, OpenConfirm and Established, where
    /// there is a connection to send a NOTIFICATION on.
    fn common(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            // Before Established there is nothing to refresh yet.
            Event::ManualStart | Event::AutomaticStart | Event::RequestRouteRefresh => {}
            Event::ManualStop { shutdown_message } => {
                self.connect_retry_counter = 0;
                let text = shutdown_message.as_deref().unwrap_or_default();
                let cease = Notification::shutdown(code::ADMINISTRATIVE_SHUTDOWN, text);
                self.notify_and_close(out, cease, DownReason::ManualStop);
            }
            Event::AdministrativeReset { message } => {
                self.connect_retry_counter = 0;
                let text = message.as_deref().unwrap_or_default();
                let cease = Notification::shutdown(code::ADMINISTRATIVE_RESET, text);
                self.notify_and_close(out, cease, DownReason::AdministrativeReset);
            }
            Event::AutomaticStop { subcode } => {
                self.connect_retry_counter += 1;
                self.notify_and_close(out, cease(subcode), DownReason::AutomaticStop);
            }
            Event::MaxPrefixExceeded { afi, safi, limit } => {
                self.connect_retry_counter += 1;
                let cease = max_prefix_cease(afi, safi, limit);
                self.notify_and_close(out, cease.clone(), DownReason::NotificationSent(cease));
            }
            Event::HoldTimerExpires => {
                self.connect_retry_counter += 1;
                let expired = Notification {
                    code: code::HOLD_TIMER_EXPIRED,
                    subcode: 0,
                    data: Vec::new(),
                };
                self.notify_and_close(out, expired, DownReason::HoldTimerExpired);
            }
            // A second connection needs its own FSM (RFC 4271 8.2.1.2).
            Event::TcpConnected(_) => out.push(Action::RefuseConnection),
            Event::Received(Message::Notification(notification)) => {
                // RFC 4271 8.2.2: a version error does not count as a failure.
                if !is_version_error(&notification) {
                    self.connect_retry_counter += 1;
                }
                self.close(out, DownReason::NotificationReceived(notification));
            }
            Event::MessageError(error) => {
                self.connect_retry_counter += 1;
                self.notify_and_close(out, error.clone(), DownReason::NotificationSent(error));
            }
            Event::MalformedNotification => {
                self.connect_retry_counter += 1;
                self.close(out, DownReason::MalformedNotificationReceived);
            }
            Event::OpenCollisionDump => {
                self.connect_retry_counter += 1;
                let cease = cease(code::CONNECTION_COLLISION_RESOLUTION);
                self.notify_and_close(out, cease, DownReason::CollisionLost);
            }
            Event::LinkDown => {
                // Best effort: should the link come back before TCP gives up,
                // the peer learns at once that this session is over and does
                // not refuse our next connection as a collision with it.
                self.notify_and_close(out, cease(0), DownReason::LinkDown);
            }
            // Not armed in this state (stale expiries were dropped in handle)
            // or not meaningful here: RFC 4271 8.2.2 "any other event".
            Event::ConnectRetryTimerExpires
            | Event::KeepaliveTimerExpires
            | Event::UpdateSent
            | Event::TcpConnectionFails
            | Event::Received(_) => {
                self.connect_retry_counter += 1;
                let error = fsm_error(FSM_UNSPECIFIED);
                self.notify_and_close(out, error.clone(), DownReason::NotificationSent(error));
            }
        }
    }

    /// RFC 2918 3: a ROUTE-REFRESH only to a peer that advertised the
    /// capability, one per family the session carries (RFC 4760).
    fn request_route_refresh(&mut self, out: &mut Vec<Action>) {
        for (afi, safi) in self.refreshable_families() {
            out.push(Action::Send(Message::RouteRefresh(RouteRefresh::request(afi, safi))));
        }
    }

    /// The (AFI, SAFI) a ROUTE-REFRESH may ask for now: the negotiated
    /// unicast families if Established and the peer advertised the
    /// capability; none otherwise.
    pub fn refreshable_families(&self) -> Vec<(u16, u8)> {
        let Some(peer) = self.peer.as_ref().filter(|_| self.state == State::Established) else {
            return Vec::new();
        };
        let n = peer.negotiated;
        if !n.route_refresh {
            return Vec::new();
        }
        [(n.ipv4_unicast, AFI_IPV4), (n.ipv6_unicast, AFI_IPV6)]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, afi)| (afi, SAFI_UNICAST))
            .collect()
    }

    fn send_keepalive(&mut self, out: &mut Vec<Action>) {
        out.push(Action::Send(Message::Keepalive));
        self.restart_keepalive_timer(out);
    }

    /// RFC 4271 8.2.2: sending KEEPALIVE or UPDATE restarts the KeepaliveTimer
    /// unless the hold time is 0.
    fn restart_keepalive_timer(&mut self, out: &mut Vec<Action>) {
        if let Some(interval) = self.peer.as_ref().and_then(|p| p.keepalive) {
            self.start_timer(out, Timer::Keepalive, interval);
        }
    }

    /// Restarts the HoldTimer with the negotiated value, unless it is 0.
    fn restart_hold_timer(&mut self, out: &mut Vec<Action>) {
        let hold_time = self.peer.as_ref().map_or(0, |p| p.hold_time);
        if hold_time != 0 {
            self.start_timer(out, Timer::Hold, hold_duration(hold_time));
        }
    }

    /// Sends the NOTIFICATION, then closes (RFC 4271 6: the connection is
    /// closed after the NOTIFICATION is sent).
    fn notify_and_close(&mut self, out: &mut Vec<Action>, notification: Notification, reason: DownReason) {
        out.push(Action::Send(Message::Notification(notification)));
        self.close(out, reason);
    }

    fn close(&mut self, out: &mut Vec<Action>, reason: DownReason) {
        out.push(Action::CloseConnection);
        self.enter_idle(out, reason);
    }

    /// Releases everything (stops the timers) and reports the way down.
    fn enter_idle(&mut self, out: &mut Vec<Action>, reason: DownReason) {
        for timer in Timer::ALL {
            self.stop_timer(out, timer);
        }
        let was_established = self.state == State::Established;
        self.state = State::Idle;
        self.direction = None;
        out.push(Action::SessionDown {
            reason,
            was_established,
        });
    }

    fn start_timer(&mut self, out: &mut Vec<Action>, timer: Timer, after: Duration) {
        self.running[timer.index()] = true;
        out.push(Action::StartTimer(timer, after));
    }

    fn stop_timer(&mut self, out: &mut Vec<Action>, timer: Timer) {
        if self.running[timer.index()] {
            self.running[timer.index()] = false;
            out.push(Action::StopTimer(timer));
        }
    }
}

fn hold_duration(hold_time: u16) -> Duration {
    Duration::from_secs(u64::from(hold_time))
}
