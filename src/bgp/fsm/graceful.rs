//! Graceful restart (RFC 4724, with the N bit of RFC 8538), the FSM's part:
//! the capability we advertise, what the peer's says, and which ways down
//! keep the peer's routes (stale) instead of withdrawing them. Pure; the
//! routes task keeps the stale routes and their timers
//! (docs/ARCHITECTURE.md, "Graceful restart").

use super::DownReason;
use crate::msg::{AFI_IPV4, AFI_IPV6, Capability, GracefulRestart, GracefulRestartFamily, SAFI_UNICAST, code};

/// Seconds we ask a peer to keep our routes while we restart, by default
/// (FRR's and BIRD's default too).
pub const DEFAULT_RESTART_TIME: u16 = 120;

/// What our OPEN's Graceful Restart capability says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalGracefulRestart {
    /// Seconds (12 bits; larger values are sent as 4095).
    pub restart_time: u16,
    /// `--graceful-restart`: we keep our routes in the kernel through our
    /// own restart, so IPv4 and IPv6 unicast are listed (a helper alone
    /// lists no family, RFC 4724 3).
    pub restarting_role: bool,
    /// We restarted with our routes kept in the kernel: the R bit, and F on
    /// the families listed.
    pub restarted: bool,
}

impl LocalGracefulRestart {
    /// Helper only: no family listed, R and F clear.
    pub fn helper(restart_time: u16) -> Self {
        LocalGracefulRestart {
            restart_time,
            restarting_role: false,
            restarted: false,
        }
    }

    /// The capability: N always (RFC 8538: we keep routes through a
    /// NOTIFICATION other than Hard Reset, as through a lost connection).
    pub fn capability(&self) -> Capability {
        let families = match self.restarting_role {
            true => [AFI_IPV4, AFI_IPV6]
                .into_iter()
                .map(|afi| GracefulRestartFamily {
                    afi,
                    safi: SAFI_UNICAST,
                    forwarding_preserved: self.restarted,
                })
                .collect(),
            false => Vec::new(),
        };
        Capability::GracefulRestart(GracefulRestart {
            restarting: self.restarted,
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
    /// next hops are gone with it.
    pub fn keeps_routes(&self, reason: &DownReason) -> bool {
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

    #[test]
    fn the_restarting_role_lists_both_families_with_f_only_after_a_restart() {
        let role = LocalGracefulRestart {
            restart_time: 90,
            restarting_role: true,
            restarted: false,
        };
        for restarted in [false, true] {
            let Capability::GracefulRestart(gr) = LocalGracefulRestart { restarted, ..role }.capability() else {
                panic!("not a GR capability");
            };
            assert_eq!(gr.restarting, restarted);
            let families: Vec<(u16, u8, bool)> = gr
                .families
                .iter()
                .map(|f| (f.afi, f.safi, f.forwarding_preserved))
                .collect();
            assert_eq!(families, [(1, 1, restarted), (2, 1, restarted)]);
        }
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
    fn which_ways_down_keep_the_routes() {
        let without_n = PeerGracefulRestart::default();
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
}
