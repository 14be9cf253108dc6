//! Graceful restart (RFC 4724, with the N bit of RFC 8538), the FSM's part:
//! the capability we advertise, what the peer's says, and which ways down
//! keep the peer's routes (stale) instead of withdrawing them. Pure; the
//! routes task keeps the stale routes and their timers
//! (docs/ARCHITECTURE.md, "Graceful restart").

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::DownReason;
use crate::msg::{
    AFI_IPV4, AFI_IPV6, Capability, GracefulRestart, GracefulRestartFamily, Notification, SAFI_UNICAST, code,
};

/// Seconds we ask a peer to keep our routes while we restart, by default
/// (FRR's and BIRD's default too).
pub const DEFAULT_RESTART_TIME: u16 = 120;

/// What our OPEN's Graceful Restart capability says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalGracefulRestart {
    /// Seconds (12 bits; larger values are sent as 4095).
    pub restart_time: u16,
    /// `--graceful-restart`: we keep our routes in the kernel through our
    /// own restart, so IPv4 and IPv6 unicast are listed (a helper alone
    /// lists no family, RFC 4724 3).
    pub restarting_role: bool,
    /// We restarted with our routes kept in the kernel: the R bit, and F on
    /// the families whose routes were kept. Shared and cleared once this
    /// start's deferral is over: later OPENs say R=0 (RFC 4724 4.1).
    pub restarted: Restarted,
}

/// The families whose routes our start found in the kernel and adopted
/// (F bits), while its deferral lasts; R is set while any is. One value
/// shared by every session's configuration and the daemon, which clears
/// it when the FIB's deferral ends.
#[derive(Debug, Clone, Default)]
pub struct Restarted(Arc<AtomicU8>);

const IPV4_KEPT: u8 = 1;
const IPV6_KEPT: u8 = 2;

impl Restarted {
    pub fn new(ipv4: bool, ipv6: bool) -> Restarted {
        let bits = if ipv4 { IPV4_KEPT } else { 0 } | if ipv6 { IPV6_KEPT } else { 0 };
        Restarted(Arc::new(AtomicU8::new(bits)))
    }

    /// The deferral is over: OPENs from now on say R=0, F=0.
    pub fn end(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// Forwarding kept for IPv4, IPv6.
    pub fn families(&self) -> (bool, bool) {
        let bits = self.0.load(Ordering::Relaxed);
        (bits & IPV4_KEPT != 0, bits & IPV6_KEPT != 0)
    }

    /// R: we restarted and are still deferring.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }
}

impl PartialEq for Restarted {
    fn eq(&self, other: &Restarted) -> bool {
        self.families() == other.families()
    }
}

impl Eq for Restarted {}

impl LocalGracefulRestart {
    /// Helper only: no family listed, R and F clear.
    pub fn helper(restart_time: u16) -> Self {
        LocalGracefulRestart {
            restart_time,
            restarting_role: false,
            restarted: Restarted::default(),
        }
    }

    /// The capability: N always (RFC 8538: we keep routes through a
    /// NOTIFICATION other than Hard Reset, as through a lost connection).
    pub fn capability(&self) -> Capability {
        let (ipv4, ipv6) = self.restarted.families();
        let families = match self.restarting_role {
            true => [(AFI_IPV4, ipv4), (AFI_IPV6, ipv6)]
                .into_iter()
                .map(|(afi, forwarding_preserved)| GracefulRestartFamily {
                    afi,
                    safi: SAFI_UNICAST,
                    forwarding_preserved,
                })
                .collect(),
            false => Vec::new(),
        };
        Capability::GracefulRestart(GracefulRestart {
            restarting: ipv4 || ipv6,
            notification: true,
            restart_time: self.restart_time,
            families,
        })
    }
}

/// The peer's Graceful Restart capability, as both sides use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerGracefulRestart {
    /// Seconds to keep its routes while it restarts.
    pub restart_time: u16,
    /// R: it has just restarted.
    pub restarted: bool,
    /// N on both sides (we always send it): a NOTIFICATION other than
    /// Cease / Hard Reset keeps its routes too (RFC 8538 4).
    pub notification: bool,
    /// IPv4 unicast listed, with its F bit (forwarding kept through the
    /// restart); `None`: not listed.
    pub ipv4: Option<bool>,
    /// IPv6 unicast, likewise.
    pub ipv6: Option<bool>,
}

impl PeerGracefulRestart {
    /// The families its capability listed, F bit or not: the only ones
    /// whose routes a graceful restart keeps (RFC 4724 4.2).
    pub fn listed_families(&self) -> crate::rib::Families {
        crate::rib::Families {
            ipv4: self.ipv4.is_some(),
            ipv6: self.ipv6.is_some(),
        }
    }

    /// The peer's capability, if its OPEN has one.
    pub fn from_peer(capabilities: &[Capability]) -> Option<Self> {
        let gr = capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr),
            _ => None,
        })?;
        let forwarding = |want: u16| {
            gr.families
                .iter()
                .find(|f| f.afi == want && f.safi == SAFI_UNICAST)
                .map(|f| f.forwarding_preserved)
        };
        Some(PeerGracefulRestart {
            restart_time: gr.restart_time,
            restarted: gr.restarting,
            notification: gr.notification,
            ipv4: forwarding(AFI_IPV4),
            ipv6: forwarding(AFI_IPV6),
        })
    }

    /// Whether a session that ended this way keeps the peer's routes as
    /// stale (RFC 4724 4.2, RFC 8538 4): a lost connection or hold timer
    /// expiry always; with N, a NOTIFICATION other than Cease / Hard Reset,
    /// received or sent, but not a Cease we chose to send (a stop, a
    /// de-configured neighbour, the prefix limit). A link down is not: the
    /// next hops are gone with it. And only if it listed a family: a peer
    /// whose capability lists none (a helper alone, as ndbgpd without
    /// `--graceful-restart`) keeps no forwarding state through a restart, and
    /// its routes are retained for no family (RFC 4724 4.2): they go at once.
    pub fn keeps_routes(&self, reason: &DownReason) -> bool {
        if self.ipv4.is_none() && self.ipv6.is_none() {
            return false;
        }
        match reason {
            DownReason::ConnectionLost | DownReason::HoldTimerExpired => true,
            // BFD Down (RFC 9384): the peer saw the path to us fail, and its
            // routes through it with it (FRR sends it as a Hard Reset).
            DownReason::NotificationReceived(n) => {
                self.notification && !(n.code == code::CEASE && matches!(n.subcode, code::HARD_RESET | code::BFD_DOWN))
            }
            DownReason::NotificationSent(n) => self.notification && n.code != code::CEASE,
            DownReason::MalformedNotificationReceived => self.notification,
            DownReason::ManualStop
            | DownReason::AdministrativeReset
            | DownReason::AutomaticStop
            | DownReason::LinkDown
            | DownReason::CollisionLost
            | DownReason::UnexpectedEvent => false,
        }
    }
}

/// Whether a Cease we send must be a Hard Reset when N was negotiated
/// (RFC 8538 5): those that mean "forget my routes" (a stop, a
/// de-configured neighbour, a reset, the prefix limit). Any other Cease
/// would let the peer keep our routes, stale, for our restart time.
pub fn needs_hard_reset(n: &Notification) -> bool {
    n.code == code::CEASE
        && matches!(
            n.subcode,
            code::MAXIMUM_PREFIXES_REACHED
                | code::ADMINISTRATIVE_SHUTDOWN
                | code::PEER_DECONFIGURED
                | code::ADMINISTRATIVE_RESET
        )
}

/// `inner` as a Cease / Hard Reset (RFC 8538 3): its code and subcode,
/// then its data (an RFC 9003 shutdown communication stays readable).
pub fn hard_reset(inner: Notification) -> Notification {
    let mut data = Vec::with_capacity(2 + inner.data.len());
    data.extend_from_slice(&[inner.code, inner.subcode]);
    data.extend_from_slice(&inner.data);
    Notification {
        code: code::CEASE,
        subcode: code::HARD_RESET,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Notification;

    fn notification(code: u8, subcode: u8) -> Notification {
        Notification {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    #[test]
    fn a_helper_lists_no_family_and_sets_n() {
        let Capability::GracefulRestart(gr) = LocalGracefulRestart::helper(120).capability() else {
            panic!("not a GR capability");
        };
        assert_eq!(
            gr,
            GracefulRestart {
                restarting: false,
                notification: true,
                restart_time: 120,
                families: Vec::new(),
            }
        );
    }

    fn bits(gr: &LocalGracefulRestart) -> (bool, Vec<(u16, u8, bool)>) {
        let Capability::GracefulRestart(gr) = gr.capability() else {
            panic!("not a GR capability");
        };
        let families = gr
            .families
            .iter()
            .map(|f| (f.afi, f.safi, f.forwarding_preserved))
            .collect();
        (gr.restarting, families)
    }

    #[test]
    fn the_restarting_role_lists_both_families_with_f_only_after_a_restart() {
        for (ipv4, ipv6) in [(false, false), (true, true), (true, false), (false, true)] {
            let role = LocalGracefulRestart {
                restart_time: 90,
                restarting_role: true,
                restarted: Restarted::new(ipv4, ipv6),
            };
            assert_eq!(bits(&role), (ipv4 || ipv6, vec![(1, 1, ipv4), (2, 1, ipv6)]));
        }
    }

    #[test]
    fn r_and_f_are_cleared_for_every_session_when_the_deferral_ends() {
        let restarted = Restarted::new(true, true);
        let role = LocalGracefulRestart {
            restart_time: 90,
            restarting_role: true,
            restarted: restarted.clone(),
        };
        let session_copy = role.clone();
        assert_eq!(bits(&session_copy), (true, vec![(1, 1, true), (2, 1, true)]));
        restarted.end();
        assert!(!restarted.is_set());
        assert_eq!(bits(&session_copy), (false, vec![(1, 1, false), (2, 1, false)]));
    }

    #[test]
    fn the_peers_capability_is_read_per_family() {
        let caps = [
            Capability::RouteRefresh,
            Capability::GracefulRestart(GracefulRestart {
                restarting: true,
                notification: false,
                restart_time: 5,
                families: vec![
                    GracefulRestartFamily {
                        afi: AFI_IPV6,
                        safi: SAFI_UNICAST,
                        forwarding_preserved: true,
                    },
                    // Not unicast: ignored.
                    GracefulRestartFamily {
                        afi: AFI_IPV4,
                        safi: 128,
                        forwarding_preserved: true,
                    },
                ],
            }),
        ];
        assert_eq!(
            PeerGracefulRestart::from_peer(&caps),
            Some(PeerGracefulRestart {
                restart_time: 5,
                restarted: true,
                notification: false,
                ipv4: None,
                ipv6: Some(true),
            })
        );
        assert_eq!(PeerGracefulRestart::from_peer(&[Capability::RouteRefresh]), None);
    }

    #[test]
    fn deliberate_ceases_become_hard_resets_wrapping_the_reason() {
        let shutdown = Notification::shutdown(code::ADMINISTRATIVE_SHUTDOWN, "bye");
        assert!(needs_hard_reset(&shutdown));
        assert!(needs_hard_reset(&notification(
            code::CEASE,
            code::MAXIMUM_PREFIXES_REACHED
        )));
        assert!(!needs_hard_reset(&notification(code::CEASE, code::HARD_RESET)));
        assert!(!needs_hard_reset(&notification(code::HOLD_TIMER_EXPIRED, 0)));
        let wrapped = hard_reset(shutdown);
        assert_eq!((wrapped.code, wrapped.subcode), (code::CEASE, code::HARD_RESET));
        assert_eq!(
            wrapped.data,
            [&[code::CEASE, code::ADMINISTRATIVE_SHUTDOWN, 3][..], b"bye"].concat()
        );
        // And a Hard Reset received keeps nothing.
        let n = PeerGracefulRestart {
            notification: true,
            ..PeerGracefulRestart::default()
        };
        assert!(!n.keeps_routes(&DownReason::NotificationReceived(wrapped)));
    }

    #[test]
    fn which_ways_down_keep_the_routes() {
        let without_n = PeerGracefulRestart {
            ipv4: Some(true),
            ..PeerGracefulRestart::default()
        };
        let with_n = PeerGracefulRestart {
            notification: true,
            ..without_n
        };
        let cases = [
            (DownReason::ConnectionLost, true, true),
            (DownReason::HoldTimerExpired, true, true),
            (
                DownReason::NotificationReceived(notification(code::CEASE, code::ADMINISTRATIVE_SHUTDOWN)),
                false,
                true,
            ),
            (
                DownReason::NotificationReceived(notification(code::CEASE, code::HARD_RESET)),
                false,
                false,
            ),
            (
                DownReason::NotificationReceived(notification(code::CEASE, code::BFD_DOWN)),
                false,
                false,
            ),
            (
                DownReason::NotificationReceived(notification(code::UPDATE_MESSAGE, 1)),
                false,
                true,
            ),
            (
                DownReason::NotificationSent(notification(code::UPDATE_MESSAGE, 1)),
                false,
                true,
            ),
            (
                DownReason::NotificationSent(notification(code::CEASE, code::MAXIMUM_PREFIXES_REACHED)),
                false,
                false,
            ),
            (DownReason::MalformedNotificationReceived, false, true),
            (DownReason::ManualStop, false, false),
            (DownReason::AutomaticStop, false, false),
            (DownReason::LinkDown, false, false),
            (DownReason::CollisionLost, false, false),
        ];
        for (reason, plain, n) in cases {
            assert_eq!(without_n.keeps_routes(&reason), plain, "{reason:?} without N");
            assert_eq!(with_n.keeps_routes(&reason), n, "{reason:?} with N");
        }
    }

    #[test]
    fn a_peer_listing_no_family_keeps_nothing() {
        // A helper alone (FRR's default, ndbgpd without --graceful-restart):
        // its hold timer expiring or connection lost withdraws at once.
        let helper = PeerGracefulRestart {
            notification: true,
            restart_time: 120,
            ..PeerGracefulRestart::default()
        };
        assert!(!helper.keeps_routes(&DownReason::HoldTimerExpired));
        assert!(!helper.keeps_routes(&DownReason::ConnectionLost));
        let ipv6_listed = PeerGracefulRestart {
            ipv6: Some(false),
            ..helper
        };
        assert!(ipv6_listed.keeps_routes(&DownReason::HoldTimerExpired));
    }
}
