use super::*;
use crate::bgp::fsm::collision::{Keep, Speaker, resolve_collision};

const LOCAL_ASN: u32 = 65001;
const PEER_ASN: u32 = 65002;
const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const RETRY: Duration = Duration::from_secs(10);

fn config() -> FsmConfig {
    FsmConfig::new(LOCAL_ASN, LOCAL_ID)
}

fn passive_config() -> FsmConfig {
    FsmConfig {
        passive: true,
        ..config()
    }
}

fn fsm(config: FsmConfig) -> Fsm {
    Fsm::new(config).expect("valid test config")
}

/// An OPEN as FRR would send it from `asn`.
fn peer_open(asn: u32, bgp_id: Ipv4Addr, hold_time: u16) -> Open {
    Open {
        version: 4,
        my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
        hold_time,
        bgp_id,
        capabilities: local_capabilities(asn),
    }
}

fn open_msg(open: Open) -> Event {
    Event::Received(Message::Open(open))
}

fn keepalive() -> Event {
    Event::Received(Message::Keepalive)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn notification(code: u8, subcode: u8) -> Notification {
    Notification {
        code,
        subcode,
        data: Vec::new(),
    }
}

/// The NOTIFICATION among the actions, if any.
fn sent_notification(actions: &[Action]) -> Option<&Notification> {
    actions.iter().find_map(|a| match a {
        Action::Send(Message::Notification(n)) => Some(n),
        _ => None,
    })
}

fn down_reason(actions: &[Action]) -> Option<&DownReason> {
    actions.iter().find_map(|a| match a {
        Action::SessionDown { reason, .. } => Some(reason),
        _ => None,
    })
}

/// An FSM driven to `state` over an outbound connection (OpenConfirm and
/// Established with the peer offering hold time 9).
fn reach(state: State) -> Fsm {
    reach_with(config(), state)
}

fn reach_with(config: FsmConfig, state: State) -> Fsm {
    let passive = config.passive;
    let mut f = fsm(config);
    if state == State::Idle {
        return f;
    }
    f.handle(Event::ManualStart);
    if state == State::Connect {
        assert!(!passive, "a passive FSM never dials");
        return f;
    }
    if state == State::Active {
        if !passive {
            f.handle(Event::TcpConnectionFails);
        }
        assert_eq!(f.state(), State::Active);
        return f;
    }
    let direction = if passive {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    f.handle(Event::TcpConnected(direction));
    if state == State::OpenSent {
        return f;
    }
    f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, 9)));
    if state == State::OpenConfirm {
        return f;
    }
    f.handle(keepalive());
    assert_eq!(f.state(), State::Established);
    f
}

/// The actions of closing with this NOTIFICATION from OpenSent (only the hold
/// timer runs there).
fn closed_from_open_sent(sent: Notification) -> Vec<Action> {
    vec![
        Action::Send(Message::Notification(sent.clone())),
        Action::CloseConnection,
        Action::StopTimer(Timer::Hold),
        Action::SessionDown {
            reason: DownReason::NotificationSent(sent),
            was_established: false,
        },
    ]
}

// ---- configuration and helpers ----

#[test]
fn remote_as_parses_flag_values() {
    assert_eq!("any".parse(), Ok(RemoteAs::Any));
    assert_eq!("external".parse(), Ok(RemoteAs::External));
    assert_eq!("internal".parse(), Ok(RemoteAs::Internal));
    assert_eq!("65002".parse(), Ok(RemoteAs::Asn(65002)));
    assert_eq!("4200000000".parse(), Ok(RemoteAs::Asn(4_200_000_000)));
    assert_eq!("4294967295".parse(), Ok(RemoteAs::Asn(u32::MAX)));
}

#[test]
fn remote_as_refuses_other_values_with_clear_text() {
    for bad in ["", "ANY", "ebgp", "+65002", "-1", "65 002", "4294967296", "1.10"] {
        let err = bad.parse::<RemoteAs>().expect_err(bad);
        assert_eq!(err, ParseRemoteAsError::Invalid(bad.to_owned()));
        let text = err.to_string();
        assert!(
            text.contains("\"any\", \"external\", \"internal\" or an AS number"),
            "{text}"
        );
    }
    assert_eq!("0".parse::<RemoteAs>(), Err(ParseRemoteAsError::Zero));
    assert_eq!("23456".parse::<RemoteAs>(), Err(ParseRemoteAsError::AsTrans));
    assert!(ParseRemoteAsError::AsTrans.to_string().contains("AS_TRANS"));
}

#[test]
fn remote_as_display_round_trips() {
    for value in [
        RemoteAs::Any,
        RemoteAs::External,
        RemoteAs::Internal,
        RemoteAs::Asn(65002),
    ] {
        assert_eq!(value.to_string().parse(), Ok(value));
    }
}

#[test]
fn remote_as_accepts() {
    assert!(RemoteAs::Any.accepts(65001, 65001));
    assert!(RemoteAs::Any.accepts(65001, 65002));
    assert!(RemoteAs::External.accepts(65001, 65002));
    assert!(!RemoteAs::External.accepts(65001, 65001));
    assert!(RemoteAs::Internal.accepts(65001, 65001));
    assert!(!RemoteAs::Internal.accepts(65001, 65002));
    assert!(RemoteAs::Asn(65002).accepts(65001, 65002));
    assert!(!RemoteAs::Asn(65002).accepts(65001, 65003));
}

#[test]
fn config_defaults_are_frr_datacenter() {
    let c = config();
    assert_eq!(c.hold_time, 9);
    assert_eq!(c.keepalive_time, None);
    assert_eq!(keepalive_interval(c.hold_time, c.keepalive_time), Some(secs(3)));
    assert_eq!(c.connect_retry_time, RETRY);
    assert_eq!(c.remote_as, RemoteAs::Any);
    assert!(!c.passive);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn config_validation_refuses_what_the_rfcs_forbid() {
    let cases = [
        (FsmConfig::new(0, LOCAL_ID), ConfigError::LocalAsnZero),
        (FsmConfig::new(23456, LOCAL_ID), ConfigError::LocalAsnTrans),
        (
            FsmConfig::new(LOCAL_ASN, Ipv4Addr::UNSPECIFIED),
            ConfigError::RouterIdZero,
        ),
        (
            FsmConfig {
                hold_time: 1,
                ..config()
            },
            ConfigError::HoldTime(1),
        ),
        (
            FsmConfig {
                hold_time: 2,
                ..config()
            },
            ConfigError::HoldTime(2),
        ),
        (
            FsmConfig {
                keepalive_time: Some(0),
                ..config()
            },
            ConfigError::KeepaliveZero,
        ),
        (
            FsmConfig {
                connect_retry_time: Duration::ZERO,
                ..config()
            },
            ConfigError::ConnectRetryZero,
        ),
        (
            FsmConfig {
                remote_as: RemoteAs::Asn(0),
                ..config()
            },
            ConfigError::RemoteAsReserved(0),
        ),
    ];
    for (bad, expected) in cases {
        assert_eq!(bad.validate(), Err(expected.clone()));
        assert_eq!(Fsm::new(bad).err(), Some(expected));
    }
    for ok in [0, 3, 65535] {
        let c = FsmConfig {
            hold_time: ok,
            ..config()
        };
        assert_eq!(c.validate(), Ok(()), "hold {ok}");
    }
}

#[test]
fn state_display_uses_rfc_names() {
    let names = [
        (State::Idle, "Idle"),
        (State::Connect, "Connect"),
        (State::Active, "Active"),
        (State::OpenSent, "OpenSent"),
        (State::OpenConfirm, "OpenConfirm"),
        (State::Established, "Established"),
    ];
    for (state, name) in names {
        assert_eq!(state.to_string(), name);
    }
}

#[test]
fn hold_time_is_the_smaller_offer() {
    assert_eq!(negotiate_hold_time(9, 90), 9);
    assert_eq!(negotiate_hold_time(90, 9), 9);
    assert_eq!(negotiate_hold_time(9, 0), 0);
    assert_eq!(negotiate_hold_time(0, 9), 0);
}

#[test]
fn keepalive_is_a_third_of_hold_or_the_configured_bound() {
    assert_eq!(keepalive_interval(9, None), Some(secs(3)));
    assert_eq!(keepalive_interval(90, None), Some(secs(30)));
    assert_eq!(keepalive_interval(90, Some(3)), Some(secs(3)));
    assert_eq!(keepalive_interval(9, Some(30)), Some(secs(3)));
    assert_eq!(keepalive_interval(3, None), Some(secs(1)));
    assert_eq!(keepalive_interval(4, None), Some(secs(1)));
    assert_eq!(keepalive_interval(0, None), None);
    assert_eq!(keepalive_interval(0, Some(3)), None);
}

#[test]
fn our_open_carries_our_capabilities() {
    let open = local_open(&config());
    assert_eq!(open.version, 4);
    assert_eq!(open.my_as, 65001);
    assert_eq!(open.hold_time, 9);
    assert_eq!(open.bgp_id, LOCAL_ID);
    assert_eq!(
        open.capabilities,
        vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::Multiprotocol { afi: 2, safi: 1 },
            Capability::RouteRefresh,
            Capability::ExtendedNextHop(vec![ExtendedNextHop {
                afi: 1,
                safi: 1,
                nh_afi: 2,
            }]),
            Capability::FourOctetAs(65001),
        ]
    );
}

#[test]
fn our_open_uses_as_trans_for_four_octet_as() {
    let open = local_open(&FsmConfig::new(4_200_000_000, LOCAL_ID));
    assert_eq!(open.my_as, AS_TRANS);
    assert!(open.has(&Capability::FourOctetAs(4_200_000_000)));
    assert_eq!(open.asn(), 4_200_000_000);
    // The largest 2-octet AS still goes in My AS.
    assert_eq!(local_open(&FsmConfig::new(65535, LOCAL_ID)).my_as, 65535);
}

#[test]
fn hold_time_is_zero_or_at_least_three_seconds() {
    for (secs, valid) in [
        (0, true),
        (1, false),
        (2, false),
        (3, true),
        (9, true),
        (u16::MAX, true),
    ] {
        assert_eq!(hold_time_is_valid(secs), valid, "{secs}");
    }
}

#[test]
fn manual_stop_without_message_sends_bare_admin_shutdown() {
    let mut f = reach(State::Established);
    let actions = f.handle(Event::ManualStop { shutdown_message: None });
    assert_eq!(sent_notification(&actions), Some(&notification(6, 2)));
}

#[test]
fn negotiated_features_follow_the_peer() {
    let all = Negotiated::from_peer(&local_capabilities(PEER_ASN));
    assert_eq!(
        all,
        Negotiated {
            four_octet_as: true,
            route_refresh: true,
            ipv4_unicast: true,
            ipv6_unicast: true,
            ipv4_next_hop_ipv6: true,
            graceful_restart: None,
        }
    );
    // A plain BGP-4 speaker: IPv4 unicast only, implied.
    assert_eq!(
        Negotiated::from_peer(&[]),
        Negotiated {
            ipv4_unicast: true,
            ..Negotiated::default()
        }
    );
    // IPv6 only: IPv4 is not implied once any MP capability is present.
    let v6 = Negotiated::from_peer(&[Capability::Multiprotocol { afi: 2, safi: 1 }]);
    assert!(v6.ipv6_unicast && !v6.ipv4_unicast);
    // Extended next hop for another family does not count.
    let other = Negotiated::from_peer(&[Capability::ExtendedNextHop(vec![ExtendedNextHop {
        afi: 1,
        safi: 128,
        nh_afi: 2,
    }])]);
    assert!(!other.ipv4_next_hop_ipv6);
}

// ---- Idle ----

#[test]
fn idle_manual_start_dials() {
    let mut f = reach(State::Idle);
    assert_eq!(
        f.handle(Event::ManualStart),
        vec![Action::StartTimer(Timer::ConnectRetry, RETRY), Action::Connect]
    );
    assert_eq!(f.state(), State::Connect);
    assert!(f.timer_running(Timer::ConnectRetry));
}

#[test]
fn idle_automatic_start_dials() {
    let mut f = reach(State::Idle);
    assert_eq!(
        f.handle(Event::AutomaticStart),
        vec![Action::StartTimer(Timer::ConnectRetry, RETRY), Action::Connect]
    );
    assert_eq!(f.state(), State::Connect);
}

#[test]
fn idle_passive_start_only_listens() {
    let mut f = reach_with(passive_config(), State::Idle);
    assert_eq!(f.handle(Event::ManualStart), vec![]);
    assert_eq!(f.state(), State::Active);
    assert!(!f.timer_running(Timer::ConnectRetry));
}

#[test]
fn idle_refuses_connections_and_ignores_the_rest() {
    let mut f = reach(State::Idle);
    for direction in [Direction::Outbound, Direction::Inbound] {
        assert_eq!(f.handle(Event::TcpConnected(direction)), vec![Action::RefuseConnection]);
        assert_eq!(f.state(), State::Idle);
    }
    let ignored = [
        Event::ManualStop { shutdown_message: None },
        Event::AutomaticStop {
            subcode: code::PEER_DECONFIGURED,
        },
        Event::ConnectRetryTimerExpires,
        Event::HoldTimerExpires,
        Event::KeepaliveTimerExpires,
        Event::TcpConnectionFails,
        keepalive(),
        open_msg(peer_open(PEER_ASN, PEER_ID, 9)),
        Event::MessageError(notification(1, 1)),
        Event::OpenCollisionDump,
        Event::LinkDown,
        Event::UpdateSent,
    ];
    for event in ignored {
        assert_eq!(f.handle(event.clone()), vec![], "{event:?}");
        assert_eq!(f.state(), State::Idle, "{event:?}");
    }
}

// ---- Connect ----

#[test]
fn connect_retry_expiry_redials() {
    let mut f = reach(State::Connect);
    assert_eq!(
        f.handle(Event::ConnectRetryTimerExpires),
        vec![
            Action::AbortConnect,
            Action::Connect,
            Action::StartTimer(Timer::ConnectRetry, RETRY)
        ]
    );
    assert_eq!(f.state(), State::Connect);
}

#[test]
fn connect_dial_success_sends_open() {
    let mut f = reach(State::Connect);
    assert_eq!(
        f.handle(Event::TcpConnected(Direction::Outbound)),
        vec![
            Action::StopTimer(Timer::ConnectRetry),
            Action::Send(Message::Open(local_open(&config()))),
            Action::StartTimer(Timer::Hold, secs(240)),
        ]
    );
    assert_eq!(f.state(), State::OpenSent);
    assert_eq!(f.direction(), Some(Direction::Outbound));
}

#[test]
fn connect_takes_an_inbound_connection_and_drops_the_dial() {
    let mut f = reach(State::Connect);
    assert_eq!(
        f.handle(Event::TcpConnected(Direction::Inbound)),
        vec![
            Action::AbortConnect,
            Action::StopTimer(Timer::ConnectRetry),
            Action::Send(Message::Open(local_open(&config()))),
            Action::StartTimer(Timer::Hold, secs(240)),
        ]
    );
    assert_eq!(f.state(), State::OpenSent);
    assert_eq!(f.direction(), Some(Direction::Inbound));
}

#[test]
fn connect_failed_dial_waits_in_active_then_redials() {
    let mut f = reach(State::Connect);
    assert_eq!(
        f.handle(Event::TcpConnectionFails),
        vec![Action::StartTimer(Timer::ConnectRetry, RETRY)]
    );
    assert_eq!(f.state(), State::Active);
    assert_eq!(
        f.handle(Event::ConnectRetryTimerExpires),
        vec![Action::StartTimer(Timer::ConnectRetry, RETRY), Action::Connect]
    );
    assert_eq!(f.state(), State::Connect);
}

#[test]
fn connect_stop_events_abort_the_dial() {
    let cases = [
        (
            Event::ManualStop {
                shutdown_message: Some("bye".into()),
            },
            DownReason::ManualStop,
        ),
        (
            Event::AutomaticStop {
                subcode: code::PEER_DECONFIGURED,
            },
            DownReason::AutomaticStop,
        ),
        (Event::LinkDown, DownReason::LinkDown),
    ];
    for (event, reason) in cases {
        let mut f = reach(State::Connect);
        assert_eq!(
            f.handle(event.clone()),
            vec![
                Action::AbortConnect,
                Action::StopTimer(Timer::ConnectRetry),
                Action::SessionDown {
                    reason,
                    was_established: false
                },
            ],
            "{event:?}"
        );
        assert_eq!(f.state(), State::Idle);
        assert!(!f.timer_running(Timer::ConnectRetry));
    }
}

#[test]
fn connect_ignores_start_events() {
    let mut f = reach(State::Connect);
    assert_eq!(f.handle(Event::ManualStart), vec![]);
    assert_eq!(f.handle(Event::AutomaticStart), vec![]);
    assert_eq!(f.state(), State::Connect);
}

#[test]
fn connect_other_events_go_idle() {
    // No connection exists to receive messages on: RFC 4271 8.2.2 Connect,
    // "any other event".
    for event in [
        keepalive(),
        Event::MessageError(notification(1, 2)),
        Event::OpenCollisionDump,
    ] {
        let mut f = reach(State::Connect);
        let actions = f.handle(event.clone());
        assert_eq!(actions.first(), Some(&Action::AbortConnect), "{event:?}");
        assert_eq!(down_reason(&actions), Some(&DownReason::UnexpectedEvent));
        assert_eq!(sent_notification(&actions), None);
        assert_eq!(f.state(), State::Idle);
        assert_eq!(f.connect_retry_counter(), 1);
    }
}

// ---- Active ----

#[test]
fn active_accepts_a_connection() {
    let mut f = reach_with(passive_config(), State::Active);
    assert_eq!(
        f.handle(Event::TcpConnected(Direction::Inbound)),
        vec![
            Action::Send(Message::Open(local_open(&passive_config()))),
            Action::StartTimer(Timer::Hold, secs(240)),
        ]
    );
    assert_eq!(f.state(), State::OpenSent);
    assert_eq!(f.direction(), Some(Direction::Inbound));

    // Not passive: the waiting ConnectRetryTimer is stopped.
    let mut f = reach(State::Active);
    let actions = f.handle(Event::TcpConnected(Direction::Inbound));
    assert_eq!(actions[0], Action::StopTimer(Timer::ConnectRetry));
    assert_eq!(f.state(), State::OpenSent);
}

#[test]
fn active_passive_never_dials() {
    let mut f = reach_with(passive_config(), State::Active);
    // No ConnectRetryTimer runs, so an expiry is stale.
    assert_eq!(f.handle(Event::ConnectRetryTimerExpires), vec![]);
    assert_eq!(f.state(), State::Active);
}

#[test]
fn active_ignores_late_dial_failure_and_starts() {
    let mut f = reach(State::Active);
    assert_eq!(f.handle(Event::TcpConnectionFails), vec![]);
    assert_eq!(f.handle(Event::ManualStart), vec![]);
    assert_eq!(f.state(), State::Active);
    assert!(f.timer_running(Timer::ConnectRetry));
}

#[test]
fn active_stop_events_go_idle() {
    let cases = [
        (Event::ManualStop { shutdown_message: None }, DownReason::ManualStop, 0),
        (
            Event::AutomaticStop {
                subcode: code::PEER_DECONFIGURED,
            },
            DownReason::AutomaticStop,
            2,
        ),
        (Event::LinkDown, DownReason::LinkDown, 1),
        (keepalive(), DownReason::UnexpectedEvent, 2),
    ];
    for (event, reason, counter) in cases {
        // Start from one failure to see both the reset and the increments.
        let mut f = reach(State::Active);
        f.connect_retry_counter = 1;
        assert_eq!(
            f.handle(event.clone()),
            vec![
                Action::StopTimer(Timer::ConnectRetry),
                Action::SessionDown {
                    reason,
                    was_established: false
                },
            ],
            "{event:?}"
        );
        assert_eq!(f.state(), State::Idle);
        assert_eq!(f.connect_retry_counter(), counter, "{event:?}");
    }
}

// ---- OpenSent ----

#[test]
fn open_sent_valid_open_goes_open_confirm() {
    let mut f = reach(State::OpenSent);
    assert_eq!(
        f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, 9))),
        vec![
            Action::Send(Message::Keepalive),
            Action::StartTimer(Timer::Keepalive, secs(3)),
            Action::StartTimer(Timer::Hold, secs(9)),
        ]
    );
    assert_eq!(f.state(), State::OpenConfirm);
    let peer = f.peer().expect("peer known after OPEN");
    assert_eq!(peer.asn, PEER_ASN);
    assert_eq!(peer.bgp_id, PEER_ID);
    assert!(!peer.internal);
}

#[test]
fn open_check_version() {
    for version in [3, 5] {
        let mut f = reach(State::OpenSent);
        let open = Open {
            version,
            ..peer_open(PEER_ASN, PEER_ID, 9)
        };
        let expected = Notification {
            code: 2,
            subcode: 1,
            data: vec![0, 4],
        };
        assert_eq!(f.handle(open_msg(open)), closed_from_open_sent(expected));
        assert_eq!(f.state(), State::Idle);
        assert_eq!(f.connect_retry_counter(), 1);
    }
}

#[test]
fn open_check_remote_as() {
    let bad_peer_as = notification(2, 2);
    let cases = [
        (RemoteAs::Any, LOCAL_ASN, true),
        (RemoteAs::Any, PEER_ASN, true),
        (RemoteAs::External, PEER_ASN, true),
        (RemoteAs::External, LOCAL_ASN, false),
        (RemoteAs::Internal, LOCAL_ASN, true),
        (RemoteAs::Internal, PEER_ASN, false),
        (RemoteAs::Asn(PEER_ASN), PEER_ASN, true),
        (RemoteAs::Asn(PEER_ASN), 65003, false),
        (RemoteAs::Asn(4_200_000_000), 4_200_000_000, true),
    ];
    for (remote_as, asn, ok) in cases {
        let mut f = reach_with(FsmConfig { remote_as, ..config() }, State::OpenSent);
        let actions = f.handle(open_msg(peer_open(asn, PEER_ID, 9)));
        if ok {
            assert_eq!(f.state(), State::OpenConfirm, "{remote_as} {asn}");
            assert_eq!(f.peer().map(|p| p.asn), Some(asn));
        } else {
            assert_eq!(actions, closed_from_open_sent(bad_peer_as.clone()), "{remote_as} {asn}");
        }
    }
}

#[test]
fn open_check_as_fields() {
    let as_trans_without_capability = Open {
        my_as: AS_TRANS,
        capabilities: vec![],
        ..peer_open(PEER_ASN, PEER_ID, 9)
    };
    let four_octet_zero = Open {
        capabilities: vec![Capability::FourOctetAs(0)],
        ..peer_open(PEER_ASN, PEER_ID, 9)
    };
    let my_as_zero = Open {
        my_as: 0,
        capabilities: vec![],
        ..peer_open(PEER_ASN, PEER_ID, 9)
    };
    let four_octet_as_trans = Open {
        my_as: AS_TRANS,
        capabilities: vec![Capability::FourOctetAs(u32::from(AS_TRANS))],
        ..peer_open(PEER_ASN, PEER_ID, 9)
    };
    let mismatch = Open {
        my_as: 65002,
        capabilities: vec![Capability::FourOctetAs(65003)],
        ..peer_open(PEER_ASN, PEER_ID, 9)
    };
    for open in [
        as_trans_without_capability,
        four_octet_zero,
        my_as_zero,
        four_octet_as_trans,
        mismatch,
    ] {
        let mut f = reach(State::OpenSent);
        assert_eq!(
            f.handle(open_msg(open.clone())),
            closed_from_open_sent(notification(2, 2)),
            "{open:?}"
        );
    }
    // Accepted: a 2-octet speaker without the capability, and a 4-octet AS
    // behind AS_TRANS.
    let two_octet = Open {
        capabilities: vec![],
        ..peer_open(PEER_ASN, PEER_ID, 9)
    };
    let mut f = reach(State::OpenSent);
    f.handle(open_msg(two_octet));
    assert_eq!(f.peer().map(|p| p.asn), Some(PEER_ASN));
    let mut f = reach(State::OpenSent);
    f.handle(open_msg(peer_open(4_200_000_000, PEER_ID, 9)));
    assert_eq!(f.peer().map(|p| p.asn), Some(4_200_000_000));
}

#[test]
fn open_check_bgp_identifier() {
    let bad_id = notification(2, 3);
    // Zero, from anyone.
    for asn in [PEER_ASN, LOCAL_ASN] {
        let mut f = reach(State::OpenSent);
        assert_eq!(
            f.handle(open_msg(peer_open(asn, Ipv4Addr::UNSPECIFIED, 9))),
            closed_from_open_sent(bad_id.clone())
        );
    }
    // Ours, from our own AS (RFC 6286 2.2).
    let mut f = reach(State::OpenSent);
    assert_eq!(
        f.handle(open_msg(peer_open(LOCAL_ASN, LOCAL_ID, 9))),
        closed_from_open_sent(bad_id)
    );
    // Ours, from another AS: allowed (RFC 6286, FRR).
    let mut f = reach(State::OpenSent);
    f.handle(open_msg(peer_open(PEER_ASN, LOCAL_ID, 9)));
    assert_eq!(f.state(), State::OpenConfirm);
    // iBGP with a different identifier is fine.
    let mut f = reach(State::OpenSent);
    f.handle(open_msg(peer_open(LOCAL_ASN, PEER_ID, 9)));
    assert_eq!(f.state(), State::OpenConfirm);
    assert_eq!(f.peer().map(|p| p.internal), Some(true));
}

#[test]
fn open_check_hold_time() {
    for hold in [1, 2] {
        let mut f = reach(State::OpenSent);
        assert_eq!(
            f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, hold))),
            closed_from_open_sent(notification(2, 6)),
            "hold {hold}"
        );
    }
    for hold in [0, 3, 65535] {
        let mut f = reach(State::OpenSent);
        f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, hold)));
        assert_eq!(f.state(), State::OpenConfirm, "hold {hold}");
    }
}

#[test]
fn open_checks_run_in_rfc_order() {
    // Version comes first: the other fields may mean something else.
    let everything_wrong = Open {
        version: 3,
        my_as: 0,
        hold_time: 1,
        bgp_id: Ipv4Addr::UNSPECIFIED,
        capabilities: vec![],
    };
    assert_eq!(
        validate_open(&config(), &everything_wrong).map_err(|n| n.subcode),
        Err(code::UNSUPPORTED_VERSION)
    );
    let bad_id_and_hold = Open {
        hold_time: 1,
        bgp_id: Ipv4Addr::UNSPECIFIED,
        ..peer_open(PEER_ASN, PEER_ID, 9)
    };
    assert_eq!(
        validate_open(&config(), &bad_id_and_hold).map_err(|n| n.subcode),
        Err(code::BAD_BGP_IDENTIFIER)
    );
}

#[test]
fn open_sent_hold_timer_expiry() {
    let mut f = reach(State::OpenSent);
    let expired = notification(4, 0);
    assert_eq!(
        f.handle(Event::HoldTimerExpires),
        vec![
            Action::Send(Message::Notification(expired)),
            Action::CloseConnection,
            Action::SessionDown {
                reason: DownReason::HoldTimerExpired,
                was_established: false
            },
        ]
    );
    assert_eq!(f.state(), State::Idle);
    assert_eq!(f.connect_retry_counter(), 1);
}

#[test]
fn open_sent_unexpected_messages() {
    let unexpected = [
        Message::Keepalive,
        Message::Update(vec![0, 0, 0, 0]),
        Message::RouteRefresh(RouteRefresh {
            afi: 1,
            subtype: 0,
            safi: 1,
        }),
    ];
    for message in unexpected {
        let mut f = reach(State::OpenSent);
        assert_eq!(
            f.handle(Event::Received(message.clone())),
            closed_from_open_sent(notification(5, 1)),
            "{message:?}"
        );
        assert_eq!(f.state(), State::Idle);
    }
}

#[test]
fn open_sent_notification_closes_without_reply() {
    let cease = notification(6, 2);
    let mut f = reach(State::OpenSent);
    assert_eq!(
        f.handle(Event::Received(Message::Notification(cease.clone()))),
        vec![
            Action::CloseConnection,
            Action::StopTimer(Timer::Hold),
            Action::SessionDown {
                reason: DownReason::NotificationReceived(cease),
                was_established: false
            },
        ]
    );
    assert_eq!(f.state(), State::Idle);
    assert_eq!(f.connect_retry_counter(), 1);
}

#[test]
fn open_sent_version_error_notification_is_not_a_failure() {
    // RFC 4271 8.2.2 OpenSent, event 24: no ConnectRetryCounter increment.
    let version_error = Notification {
        code: 2,
        subcode: 1,
        data: vec![0, 3],
    };
    let mut f = reach(State::OpenSent);
    let actions = f.handle(Event::Received(Message::Notification(version_error.clone())));
    assert_eq!(sent_notification(&actions), None);
    assert!(actions.contains(&Action::CloseConnection));
    assert_eq!(
        down_reason(&actions),
        Some(&DownReason::NotificationReceived(version_error))
    );
    assert_eq!(f.state(), State::Idle);
    assert_eq!(f.connect_retry_counter(), 0);
}

#[test]
fn open_sent_connection_failure_goes_active() {
    let mut f = reach(State::OpenSent);
    assert_eq!(
        f.handle(Event::TcpConnectionFails),
        vec![
            Action::CloseConnection,
            Action::StopTimer(Timer::Hold),
            Action::StartTimer(Timer::ConnectRetry, RETRY),
        ]
    );
    assert_eq!(f.state(), State::Active);
    assert_eq!(f.direction(), None);

    // Passive: back to listening, no redial.
    let mut f = reach_with(passive_config(), State::OpenSent);
    assert_eq!(
        f.handle(Event::TcpConnectionFails),
        vec![Action::CloseConnection, Action::StopTimer(Timer::Hold)]
    );
    assert_eq!(f.state(), State::Active);
}

#[test]
fn open_sent_message_error_sends_the_codec_notification() {
    let bad_length = Notification {
        code: 1,
        subcode: 2,
        data: vec![0, 18],
    };
    let mut f = reach(State::OpenSent);
    assert_eq!(
        f.handle(Event::MessageError(bad_length.clone())),
        closed_from_open_sent(bad_length)
    );
}

#[test]
fn open_sent_collision_dump_sends_cease_7() {
    let mut f = reach(State::OpenSent);
    let actions = f.handle(Event::OpenCollisionDump);
    assert_eq!(sent_notification(&actions), Some(&notification(6, 7)));
    assert_eq!(down_reason(&actions), Some(&DownReason::CollisionLost));
    assert!(actions.contains(&Action::CloseConnection));
    assert_eq!(f.state(), State::Idle);
}

#[test]
fn open_sent_ignores_stale_timers_and_second_connections() {
    let mut f = reach(State::OpenSent);
    assert_eq!(f.handle(Event::KeepaliveTimerExpires), vec![]);
    assert_eq!(f.handle(Event::ConnectRetryTimerExpires), vec![]);
    assert_eq!(f.handle(Event::UpdateSent), vec![]);
    assert_eq!(f.handle(Event::ManualStart), vec![]);
    assert_eq!(
        f.handle(Event::TcpConnected(Direction::Inbound)),
        vec![Action::RefuseConnection]
    );
    assert_eq!(f.state(), State::OpenSent);
    assert_eq!(f.direction(), Some(Direction::Outbound));
}

// ---- stop events wherever there is a connection ----

#[test]
fn manual_stop_sends_admin_shutdown_with_message() {
    for state in [State::OpenSent, State::OpenConfirm, State::Established] {
        let mut f = reach(state);
        f.connect_retry_counter = 3;
        let actions = f.handle(Event::ManualStop {
            shutdown_message: Some("maintenance".into()),
        });
        let sent = sent_notification(&actions).expect("Cease sent");
        assert_eq!((sent.code, sent.subcode), (6, 2), "{state}");
        assert_eq!(sent.shutdown_text(), Some("maintenance"));
        // The NOTIFICATION goes out before the close.
        assert!(matches!(actions[0], Action::Send(_)));
        assert_eq!(actions[1], Action::CloseConnection);
        assert_eq!(
            actions.last(),
            Some(&Action::SessionDown {
                reason: DownReason::ManualStop,
                was_established: state == State::Established
            })
        );
        assert_eq!(f.state(), State::Idle);
        assert_eq!(f.connect_retry_counter(), 0);
        for timer in Timer::ALL {
            assert!(!f.timer_running(timer), "{state} {timer:?}");
        }
    }
}

#[test]
fn administrative_reset_sends_cease_reset_with_its_text_and_goes_idle() {
    for state in [State::OpenSent, State::OpenConfirm, State::Established] {
        let mut f = reach(state);
        f.connect_retry_counter = 2;
        let actions = f.handle(Event::AdministrativeReset {
            message: Some("clearing".into()),
        });
        let sent = sent_notification(&actions).expect("Cease sent");
        assert_eq!(
            (sent.code, sent.subcode),
            (code::CEASE, code::ADMINISTRATIVE_RESET),
            "{state}"
        );
        assert_eq!(sent.shutdown_text(), Some("clearing"));
        assert!(matches!(actions[0], Action::Send(_)));
        assert_eq!(actions[1], Action::CloseConnection);
        assert_eq!(
            actions.last(),
            Some(&Action::SessionDown {
                reason: DownReason::AdministrativeReset,
                was_established: state == State::Established
            })
        );
        assert_eq!(f.state(), State::Idle);
        assert_eq!(f.connect_retry_counter(), 0);
    }
    // Without a connection: the dial is dropped, nothing is sent.
    let mut f = reach(State::Connect);
    let actions = f.handle(Event::AdministrativeReset { message: None });
    assert_eq!(actions[0], Action::AbortConnect);
    assert_eq!(sent_notification(&actions), None);
    assert_eq!(down_reason(&actions), Some(&DownReason::AdministrativeReset));
    assert_eq!(DownReason::AdministrativeReset.to_string(), "reset by operator");
}

fn sent_refreshes(actions: &[Action]) -> Vec<(u16, u8)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(Message::RouteRefresh(rr)) => Some((rr.afi, rr.safi)),
            _ => None,
        })
        .collect()
}

#[test]
fn request_route_refresh_asks_for_each_negotiated_family_in_established_only() {
    let mut f = reach(State::Established);
    assert_eq!(
        f.refreshable_families(),
        vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)]
    );
    let actions = f.handle(Event::RequestRouteRefresh);
    assert_eq!(
        sent_refreshes(&actions),
        vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)]
    );
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(f.state(), State::Established);
    // Before Established there is nothing to refresh: nothing happens.
    for state in [
        State::Idle,
        State::Connect,
        State::Active,
        State::OpenSent,
        State::OpenConfirm,
    ] {
        let mut f = reach(state);
        assert!(f.refreshable_families().is_empty(), "{state}");
        assert_eq!(f.handle(Event::RequestRouteRefresh), Vec::new(), "{state}");
        assert_eq!(f.state(), state);
    }
}

#[test]
fn request_route_refresh_sends_nothing_to_a_peer_without_the_capability() {
    let mut f = reach(State::OpenSent);
    let mut open = peer_open(PEER_ASN, PEER_ID, 9);
    open.capabilities.retain(|c| *c != Capability::RouteRefresh);
    f.handle(open_msg(open));
    f.handle(keepalive());
    assert_eq!(f.state(), State::Established);
    assert!(f.refreshable_families().is_empty());
    assert_eq!(f.handle(Event::RequestRouteRefresh), Vec::new());
    // An IPv6-only peer with the capability: one family.
    let mut f = reach(State::OpenSent);
    let mut open = peer_open(PEER_ASN, PEER_ID, 9);
    open.capabilities.retain(|c| {
        *c != Capability::Multiprotocol {
            afi: AFI_IPV4,
            safi: SAFI_UNICAST,
        }
    });
    f.handle(open_msg(open));
    f.handle(keepalive());
    assert_eq!(
        sent_refreshes(&f.handle(Event::RequestRouteRefresh)),
        vec![(AFI_IPV6, SAFI_UNICAST)]
    );
}

#[test]
fn automatic_stop_sends_the_given_cease() {
    for state in [State::OpenSent, State::OpenConfirm, State::Established] {
        let mut f = reach(state);
        let actions = f.handle(Event::AutomaticStop {
            subcode: code::PEER_DECONFIGURED,
        });
        assert_eq!(sent_notification(&actions), Some(&notification(6, 3)));
        assert_eq!(down_reason(&actions), Some(&DownReason::AutomaticStop));
        assert_eq!(f.state(), State::Idle);
    }
}

#[test]
fn max_prefix_exceeded_sends_cease_1_with_family_and_limit() {
    let mut f = reach(State::Established);
    let actions = f.handle(Event::MaxPrefixExceeded {
        afi: AFI_IPV6,
        safi: SAFI_UNICAST,
        limit: 1000,
    });
    // RFC 4486 4: AFI 2, SAFI 1, upper bound 1000 as 4 octets.
    let cease = Notification {
        code: code::CEASE,
        subcode: code::MAXIMUM_PREFIXES_REACHED,
        data: vec![0, 2, 1, 0, 0, 0x03, 0xe8],
    };
    assert_eq!(actions[0], Action::Send(Message::Notification(cease.clone())));
    assert_eq!(actions[1], Action::CloseConnection);
    assert_eq!(
        actions.last(),
        Some(&Action::SessionDown {
            reason: DownReason::NotificationSent(cease.clone()),
            was_established: true,
        })
    );
    assert_eq!(f.state(), State::Idle);
    assert_eq!(
        cease.to_string(),
        "Cease/Maximum Number of Prefixes Reached (data 000201000003e8)"
    );
}

#[test]
fn link_down_closes_at_once() {
    for state in [State::OpenSent, State::OpenConfirm, State::Established] {
        let mut f = reach(state);
        let actions = f.handle(Event::LinkDown);
        assert_eq!(sent_notification(&actions), Some(&notification(6, 0)));
        assert_eq!(actions[1], Action::CloseConnection);
        assert_eq!(down_reason(&actions), Some(&DownReason::LinkDown));
        assert_eq!(f.state(), State::Idle);
        for timer in Timer::ALL {
            assert!(!f.timer_running(timer), "{state} {timer:?}");
        }
    }
}

// ---- OpenConfirm ----

#[test]
fn open_confirm_keepalive_establishes() {
    let mut f = reach(State::OpenConfirm);
    let actions = f.handle(keepalive());
    assert_eq!(f.state(), State::Established);
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0], Action::StartTimer(Timer::Hold, secs(9)));
    let Action::SessionEstablished(info) = &actions[1] else {
        panic!("expected SessionEstablished, got {actions:?}");
    };
    assert_eq!(info.asn, PEER_ASN);
    assert_eq!(info.bgp_id, PEER_ID);
    assert_eq!(info.hold_time, 9);
    assert_eq!(info.keepalive, Some(secs(3)));
    assert_eq!(info.capabilities, local_capabilities(PEER_ASN));
    assert!(info.negotiated.ipv4_next_hop_ipv6);
    assert_eq!(info.direction, Direction::Outbound);
    assert!(!info.internal);
}

#[test]
fn open_confirm_sends_keepalives() {
    let mut f = reach(State::OpenConfirm);
    assert_eq!(
        f.handle(Event::KeepaliveTimerExpires),
        vec![
            Action::Send(Message::Keepalive),
            Action::StartTimer(Timer::Keepalive, secs(3))
        ]
    );
    assert_eq!(f.state(), State::OpenConfirm);
}

#[test]
fn open_confirm_hold_timer_expiry() {
    let mut f = reach(State::OpenConfirm);
    assert_eq!(
        f.handle(Event::HoldTimerExpires),
        vec![
            Action::Send(Message::Notification(notification(4, 0))),
            Action::CloseConnection,
            Action::StopTimer(Timer::Keepalive),
            Action::SessionDown {
                reason: DownReason::HoldTimerExpired,
                was_established: false
            },
        ]
    );
    assert_eq!(f.state(), State::Idle);
}

#[test]
fn open_confirm_unexpected_messages() {
    let unexpected = [
        Message::Open(peer_open(PEER_ASN, PEER_ID, 9)),
        Message::Update(vec![0, 0, 0, 0]),
        Message::RouteRefresh(RouteRefresh {
            afi: 2,
            subtype: 0,
            safi: 1,
        }),
    ];
    for message in unexpected {
        let mut f = reach(State::OpenConfirm);
        let actions = f.handle(Event::Received(message.clone()));
        assert_eq!(sent_notification(&actions), Some(&notification(5, 2)), "{message:?}");
        assert!(actions.contains(&Action::CloseConnection));
        assert_eq!(f.state(), State::Idle);
    }
}

#[test]
fn open_confirm_notification_and_connection_loss_close() {
    let mut f = reach(State::OpenConfirm);
    let actions = f.handle(Event::Received(Message::Notification(notification(6, 4))));
    assert_eq!(sent_notification(&actions), None);
    assert_eq!(actions[0], Action::CloseConnection);
    assert_eq!(f.state(), State::Idle);

    let mut f = reach(State::OpenConfirm);
    assert_eq!(
        f.handle(Event::TcpConnectionFails),
        vec![
            Action::CloseConnection,
            Action::StopTimer(Timer::Hold),
            Action::StopTimer(Timer::Keepalive),
            Action::SessionDown {
                reason: DownReason::ConnectionLost,
                was_established: false
            },
        ]
    );
    assert_eq!(f.state(), State::Idle);
}

#[test]
fn open_confirm_collision_dump_and_decode_error() {
    let mut f = reach(State::OpenConfirm);
    let actions = f.handle(Event::OpenCollisionDump);
    assert_eq!(sent_notification(&actions), Some(&notification(6, 7)));
    assert_eq!(f.state(), State::Idle);

    let mut f = reach(State::OpenConfirm);
    let bad_type = Notification {
        code: 1,
        subcode: 3,
        data: vec![9],
    };
    let actions = f.handle(Event::MessageError(bad_type.clone()));
    assert_eq!(sent_notification(&actions), Some(&bad_type));
    assert_eq!(down_reason(&actions), Some(&DownReason::NotificationSent(bad_type)));
}

#[test]
fn open_confirm_refuses_a_second_connection() {
    let mut f = reach(State::OpenConfirm);
    assert_eq!(
        f.handle(Event::TcpConnected(Direction::Inbound)),
        vec![Action::RefuseConnection]
    );
    assert_eq!(f.handle(Event::UpdateSent), vec![]);
    assert_eq!(f.handle(Event::AutomaticStart), vec![]);
    assert_eq!(f.state(), State::OpenConfirm);
}

// ---- Established ----

#[test]
fn established_keepalive_restarts_hold_timer() {
    let mut f = reach(State::Established);
    assert_eq!(f.handle(keepalive()), vec![Action::StartTimer(Timer::Hold, secs(9))]);
    assert_eq!(f.state(), State::Established);
}

#[test]
fn established_update_is_passed_up() {
    let body = vec![0, 0, 0, 0];
    let mut f = reach(State::Established);
    assert_eq!(
        f.handle(Event::Received(Message::Update(body.clone()))),
        vec![Action::StartTimer(Timer::Hold, secs(9)), Action::Update(body)]
    );
    assert_eq!(f.state(), State::Established);
}

#[test]
fn established_route_refresh_is_passed_up() {
    let request = RouteRefresh {
        afi: 2,
        subtype: 0,
        safi: 1,
    };
    let mut f = reach(State::Established);
    assert_eq!(
        f.handle(Event::Received(Message::RouteRefresh(request))),
        vec![Action::StartTimer(Timer::Hold, secs(9)), Action::RouteRefresh(request)]
    );
}

#[test]
fn established_keepalive_scheduling() {
    let mut f = reach(State::Established);
    assert_eq!(
        f.handle(Event::KeepaliveTimerExpires),
        vec![
            Action::Send(Message::Keepalive),
            Action::StartTimer(Timer::Keepalive, secs(3))
        ]
    );
    // An UPDATE we wrote counts as a keepalive (RFC 4271 8.2.2).
    assert_eq!(
        f.handle(Event::UpdateSent),
        vec![Action::StartTimer(Timer::Keepalive, secs(3))]
    );
    assert!(f.timer_running(Timer::Keepalive));
}

#[test]
fn established_hold_timer_expiry() {
    let mut f = reach(State::Established);
    assert_eq!(
        f.handle(Event::HoldTimerExpires),
        vec![
            Action::Send(Message::Notification(notification(4, 0))),
            Action::CloseConnection,
            Action::StopTimer(Timer::Keepalive),
            Action::SessionDown {
                reason: DownReason::HoldTimerExpired,
                was_established: true
            },
        ]
    );
    assert_eq!(f.state(), State::Idle);
    // The last peer stays visible after the session is down.
    assert_eq!(f.peer().map(|p| p.bgp_id), Some(PEER_ID));
}

#[test]
fn established_unexpected_open() {
    let mut f = reach(State::Established);
    let actions = f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, 9)));
    assert_eq!(sent_notification(&actions), Some(&notification(5, 3)));
    assert_eq!(
        actions.last(),
        Some(&Action::SessionDown {
            reason: DownReason::NotificationSent(notification(5, 3)),
            was_established: true
        })
    );
    assert_eq!(f.state(), State::Idle);
}

#[test]
fn established_notification_closes_without_reply() {
    let cease = Notification::shutdown(code::ADMINISTRATIVE_SHUTDOWN, "upgrade");
    let mut f = reach(State::Established);
    let actions = f.handle(Event::Received(Message::Notification(cease.clone())));
    assert_eq!(sent_notification(&actions), None);
    assert_eq!(
        actions,
        vec![
            Action::CloseConnection,
            Action::StopTimer(Timer::Hold),
            Action::StopTimer(Timer::Keepalive),
            Action::SessionDown {
                reason: DownReason::NotificationReceived(cease.clone()),
                was_established: true
            },
        ]
    );
    assert_eq!(
        DownReason::NotificationReceived(cease).to_string(),
        "NOTIFICATION received: 6/2 \"upgrade\""
    );
}

#[test]
fn established_connection_loss_and_decode_error() {
    let mut f = reach(State::Established);
    let actions = f.handle(Event::TcpConnectionFails);
    assert_eq!(actions[0], Action::CloseConnection);
    assert_eq!(
        actions.last(),
        Some(&Action::SessionDown {
            reason: DownReason::ConnectionLost,
            was_established: true
        })
    );

    let malformed = Notification {
        code: 3,
        subcode: 1,
        data: vec![],
    };
    let mut f = reach(State::Established);
    let actions = f.handle(Event::MessageError(malformed.clone()));
    assert_eq!(sent_notification(&actions), Some(&malformed));
    assert_eq!(f.state(), State::Idle);
}

/// RFC 4271 6.4: an error in a NOTIFICATION cannot be reported with one.
#[test]
fn a_malformed_notification_closes_without_an_answer() {
    for state in [State::OpenSent, State::OpenConfirm, State::Established] {
        let mut f = reach(state);
        let counter = f.connect_retry_counter();
        let actions = f.handle(Event::MalformedNotification);
        assert_eq!(sent_notification(&actions), None, "{state}: {actions:?}");
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Send(_))),
            "{state}: nothing is sent: {actions:?}"
        );
        assert!(actions.contains(&Action::CloseConnection), "{state}: {actions:?}");
        assert_eq!(
            down_reason(&actions),
            Some(&DownReason::MalformedNotificationReceived),
            "{state}"
        );
        assert_eq!(f.state(), State::Idle);
        assert_eq!(f.connect_retry_counter(), counter + 1, "{state}");
    }
}

#[test]
fn established_refuses_a_second_connection_and_ignores_starts() {
    let mut f = reach(State::Established);
    assert_eq!(
        f.handle(Event::TcpConnected(Direction::Inbound)),
        vec![Action::RefuseConnection]
    );
    assert_eq!(f.handle(Event::ManualStart), vec![]);
    assert_eq!(f.handle(Event::ConnectRetryTimerExpires), vec![]);
    assert_eq!(f.state(), State::Established);
}

// ---- every state against every event class ----

#[test]
fn state_after_each_event_class() {
    use State::*;
    let states = [Idle, Connect, Active, OpenSent, OpenConfirm, Established];
    let refresh = RouteRefresh {
        afi: 1,
        subtype: 0,
        safi: 1,
    };
    // The state each state goes to on each event. Hold and Keepalive timers do
    // not run before OpenSent, nor ConnectRetry after it: those expiries are
    // stale and change nothing.
    #[rustfmt::skip]
    let table: Vec<(&str, Event, [State; 6])> = vec![
        //                                                        Idle     Connect   Active    OpenSent     OpenConfirm  Established
        ("ManualStart", Event::ManualStart,                       [Connect, Connect,  Active,   OpenSent,    OpenConfirm, Established]),
        ("AutomaticStart", Event::AutomaticStart,                 [Connect, Connect,  Active,   OpenSent,    OpenConfirm, Established]),
        ("ManualStop", Event::ManualStop { shutdown_message: None },
                                                                  [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("AutomaticStop", Event::AutomaticStop { subcode: 3 },    [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("AdminReset", Event::AdministrativeReset { message: None },
                                                                  [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("RequestRefresh", Event::RequestRouteRefresh,            [Idle,    Connect,  Active,   OpenSent,    OpenConfirm, Established]),
        ("MaxPrefix", Event::MaxPrefixExceeded { afi: 1, safi: 1, limit: 5 },
                                                                  [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("ConnectRetry", Event::ConnectRetryTimerExpires,         [Idle,    Connect,  Connect,  OpenSent,    OpenConfirm, Established]),
        ("Hold", Event::HoldTimerExpires,                         [Idle,    Connect,  Active,   Idle,        Idle,        Idle]),
        ("KeepaliveTimer", Event::KeepaliveTimerExpires,          [Idle,    Connect,  Active,   OpenSent,    OpenConfirm, Established]),
        ("TcpConnected", Event::TcpConnected(Direction::Inbound), [Idle,    OpenSent, OpenSent, OpenSent,    OpenConfirm, Established]),
        ("TcpFails", Event::TcpConnectionFails,                   [Idle,    Active,   Active,   Active,      Idle,        Idle]),
        ("Open", open_msg(peer_open(PEER_ASN, PEER_ID, 9)),       [Idle,    Idle,     Idle,     OpenConfirm, Idle,        Idle]),
        ("Keepalive", keepalive(),                                [Idle,    Idle,     Idle,     Idle,        Established, Established]),
        ("Update", Event::Received(Message::Update(vec![])),      [Idle,    Idle,     Idle,     Idle,        Idle,        Established]),
        ("RouteRefresh", Event::Received(Message::RouteRefresh(refresh)),
                                                                  [Idle,    Idle,     Idle,     Idle,        Idle,        Established]),
        ("Notification", Event::Received(Message::Notification(notification(6, 2))),
                                                                  [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("MessageError", Event::MessageError(notification(1, 1)), [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("BadNotification", Event::MalformedNotification,         [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("CollisionDump", Event::OpenCollisionDump,               [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("LinkDown", Event::LinkDown,                             [Idle,    Idle,     Idle,     Idle,        Idle,        Idle]),
        ("UpdateSent", Event::UpdateSent,                         [Idle,    Connect,  Active,   OpenSent,    OpenConfirm, Established]),
    ];
    for (name, event, expected) in table {
        for (from, to) in states.into_iter().zip(expected) {
            let mut f = reach(from);
            f.handle(event.clone());
            assert_eq!(f.state(), to, "{from} + {name}");
        }
    }
}

// ---- hold time negotiation through the FSM ----

#[test]
fn peer_hold_time_zero_runs_no_timers() {
    let mut f = reach(State::OpenSent);
    assert_eq!(
        f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, 0))),
        vec![Action::Send(Message::Keepalive), Action::StopTimer(Timer::Hold)]
    );
    assert_eq!(f.state(), State::OpenConfirm);
    assert!(!f.timer_running(Timer::Hold));
    assert!(!f.timer_running(Timer::Keepalive));

    let actions = f.handle(keepalive());
    assert_eq!(actions.len(), 1);
    let Action::SessionEstablished(info) = &actions[0] else {
        panic!("expected SessionEstablished, got {actions:?}");
    };
    assert_eq!(info.hold_time, 0);
    assert_eq!(info.keepalive, None);

    // Nothing restarts or fires a timer, and stray expiries are stale.
    assert_eq!(f.handle(keepalive()), vec![]);
    assert_eq!(f.handle(Event::UpdateSent), vec![]);
    assert_eq!(f.handle(Event::HoldTimerExpires), vec![]);
    assert_eq!(f.handle(Event::KeepaliveTimerExpires), vec![]);
    assert_eq!(f.state(), State::Established);
}

#[test]
fn our_hold_time_zero_wins_too() {
    let mut f = reach_with(
        FsmConfig {
            hold_time: 0,
            ..config()
        },
        State::OpenSent,
    );
    let actions = f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, 90)));
    assert_eq!(
        actions,
        vec![Action::Send(Message::Keepalive), Action::StopTimer(Timer::Hold)]
    );
    assert_eq!(f.peer().map(|p| p.hold_time), Some(0));
}

#[test]
fn smaller_hold_time_and_keepalive_bound_apply() {
    // They offer 3: keepalive every second.
    let mut f = reach(State::OpenSent);
    assert_eq!(
        f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, 3))),
        vec![
            Action::Send(Message::Keepalive),
            Action::StartTimer(Timer::Keepalive, secs(1)),
            Action::StartTimer(Timer::Hold, secs(3)),
        ]
    );
    // We offer 180 with keepalive 10, they 240: hold 180, keepalive 10.
    let mut f = reach_with(
        FsmConfig {
            hold_time: 180,
            keepalive_time: Some(10),
            ..config()
        },
        State::OpenSent,
    );
    assert_eq!(
        f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, 240))),
        vec![
            Action::Send(Message::Keepalive),
            Action::StartTimer(Timer::Keepalive, secs(10)),
            Action::StartTimer(Timer::Hold, secs(180)),
        ]
    );
}

#[test]
fn stale_timer_after_stop_is_ignored() {
    // The hold timer was stopped by a NOTIFICATION; its sleep fires anyway.
    let mut f = reach(State::Established);
    f.handle(Event::Received(Message::Notification(notification(6, 2))));
    f.handle(Event::ManualStart);
    assert_eq!(f.state(), State::Connect);
    assert_eq!(f.handle(Event::HoldTimerExpires), vec![]);
    assert_eq!(f.handle(Event::KeepaliveTimerExpires), vec![]);
    assert_eq!(f.state(), State::Connect);
}

// ---- whole sessions ----

#[test]
fn happy_path_dialing_side() {
    let mut f = fsm(config());
    assert_eq!(
        f.handle(Event::ManualStart),
        vec![Action::StartTimer(Timer::ConnectRetry, RETRY), Action::Connect]
    );
    assert_eq!(
        f.handle(Event::TcpConnected(Direction::Outbound)),
        vec![
            Action::StopTimer(Timer::ConnectRetry),
            Action::Send(Message::Open(local_open(&config()))),
            Action::StartTimer(Timer::Hold, secs(240)),
        ]
    );
    assert_eq!(
        f.handle(open_msg(peer_open(PEER_ASN, PEER_ID, 9))),
        vec![
            Action::Send(Message::Keepalive),
            Action::StartTimer(Timer::Keepalive, secs(3)),
            Action::StartTimer(Timer::Hold, secs(9)),
        ]
    );
    let actions = f.handle(keepalive());
    assert!(matches!(
        &actions[..],
        [
            Action::StartTimer(Timer::Hold, _),
            Action::SessionEstablished(PeerInfo {
                direction: Direction::Outbound,
                asn: PEER_ASN,
                ..
            })
        ]
    ));
    assert_eq!(f.state(), State::Established);
    assert_eq!(f.connect_retry_counter(), 0);
}

#[test]
fn happy_path_accepting_side() {
    let mut f = fsm(passive_config());
    assert_eq!(f.handle(Event::ManualStart), vec![]);
    assert_eq!(f.state(), State::Active);
    assert_eq!(
        f.handle(Event::TcpConnected(Direction::Inbound)),
        vec![
            Action::Send(Message::Open(local_open(&passive_config()))),
            Action::StartTimer(Timer::Hold, secs(240)),
        ]
    );
    assert_eq!(f.state(), State::OpenSent);
    // FRR offers 9 s from AS 4200000000 behind AS_TRANS.
    f.handle(open_msg(peer_open(4_200_000_000, PEER_ID, 9)));
    assert_eq!(f.state(), State::OpenConfirm);
    let actions = f.handle(keepalive());
    let Some(Action::SessionEstablished(info)) = actions.last() else {
        panic!("expected SessionEstablished, got {actions:?}");
    };
    assert_eq!(info.direction, Direction::Inbound);
    assert_eq!(info.asn, 4_200_000_000);
    assert_eq!(f.connection().map(|c| c.direction), Some(Direction::Inbound));
}

/// Both sides dial at once; the session resolves as sketched in the module
/// documentation. Returns which FSM survives.
fn collide(local_id: Ipv4Addr, remote_id: Ipv4Addr) -> (Fsm, Fsm, Vec<Action>) {
    let cfg = FsmConfig::new(LOCAL_ASN, local_id);
    let mut outbound = fsm(cfg.clone());
    outbound.handle(Event::ManualStart);
    outbound.handle(Event::TcpConnected(Direction::Outbound));
    // Their connection arrives while ours is in OpenSent: a secondary FSM.
    let mut inbound = fsm(FsmConfig {
        passive: true,
        ..cfg.clone()
    });
    inbound.handle(Event::ManualStart);
    assert_eq!(
        outbound.handle(Event::TcpConnected(Direction::Inbound)),
        vec![Action::RefuseConnection],
        "the primary does not take a second connection"
    );
    inbound.handle(Event::TcpConnected(Direction::Inbound));

    // Their OPEN on our connection first: the other FSM is only in OpenSent,
    // which FRR and we resolve already.
    let open = peer_open(PEER_ASN, remote_id, 9);
    let local = Speaker {
        bgp_id: cfg.router_id,
        asn: cfg.local_asn,
    };
    let remote = Speaker {
        bgp_id: open.bgp_id,
        asn: open.asn(),
    };
    let existing = inbound.connection().expect("inbound has a connection");
    let dumped = match resolve_collision(local, remote, existing, Direction::Outbound) {
        Keep::Both => panic!("both have connections"),
        Keep::Existing => outbound.handle(Event::OpenCollisionDump),
        Keep::New => {
            let dumped = inbound.handle(Event::OpenCollisionDump);
            outbound.handle(open_msg(open.clone()));
            dumped
        }
    };
    (outbound, inbound, dumped)
}

#[test]
fn collision_our_id_higher_keeps_our_dial() {
    let (outbound, inbound, dumped) = collide(PEER_ID, LOCAL_ID);
    assert_eq!(sent_notification(&dumped), Some(&notification(6, 7)));
    assert_eq!(down_reason(&dumped), Some(&DownReason::CollisionLost));
    assert_eq!(inbound.state(), State::Idle);
    assert_eq!(outbound.state(), State::OpenConfirm);
}

#[test]
fn collision_our_id_lower_keeps_their_dial() {
    let (outbound, inbound, dumped) = collide(LOCAL_ID, PEER_ID);
    assert_eq!(sent_notification(&dumped), Some(&notification(6, 7)));
    assert_eq!(outbound.state(), State::Idle);
    assert_eq!(inbound.state(), State::OpenSent);
    assert_eq!(inbound.direction(), Some(Direction::Inbound));
}

#[test]
fn collision_with_established_keeps_established() {
    let mut established = reach(State::Established);
    let mut late = fsm(passive_config());
    late.handle(Event::ManualStart);
    late.handle(Event::TcpConnected(Direction::Inbound));
    let local = Speaker {
        bgp_id: LOCAL_ID,
        asn: LOCAL_ASN,
    };
    let remote = Speaker {
        bgp_id: PEER_ID,
        asn: PEER_ASN,
    };
    let existing = established.connection().expect("established connection");
    assert_eq!(
        resolve_collision(local, remote, existing, Direction::Inbound),
        Keep::Existing
    );
    let actions = late.handle(Event::OpenCollisionDump);
    assert_eq!(sent_notification(&actions), Some(&notification(6, 7)));
    assert_eq!(late.state(), State::Idle);
    assert_eq!(established.handle(keepalive()).len(), 1);
    assert_eq!(established.state(), State::Established);
}

#[test]
fn restart_after_session_down() {
    let mut f = reach(State::Established);
    f.handle(Event::HoldTimerExpires);
    assert_eq!(f.state(), State::Idle);
    assert_eq!(f.connect_retry_counter(), 1);
    assert_eq!(
        f.handle(Event::AutomaticStart),
        vec![Action::StartTimer(Timer::ConnectRetry, RETRY), Action::Connect]
    );
    // AutomaticStart keeps the failure count; ManualStart resets it.
    assert_eq!(f.connect_retry_counter(), 1);
    f.handle(Event::ManualStop { shutdown_message: None });
    f.handle(Event::ManualStart);
    assert_eq!(f.connect_retry_counter(), 0);
    // A new connection forgets the old peer.
    f.handle(Event::TcpConnected(Direction::Outbound));
    assert_eq!(f.peer(), None);
}

#[test]
fn a_new_router_id_is_taken_only_before_an_open_went_out() {
    let new_id = Ipv4Addr::new(10, 0, 0, 9);
    for state in [State::Idle, State::Connect, State::Active] {
        let mut f = reach(state);
        assert!(f.set_router_id(new_id), "{state}");
        assert!(!f.set_router_id(Ipv4Addr::UNSPECIFIED), "{state}");
        assert_eq!(f.config().router_id, new_id, "{state}");
    }
    let mut f = reach(State::Connect);
    f.set_router_id(new_id);
    let actions = f.handle(Event::TcpConnected(Direction::Outbound));
    let sent = actions.iter().find_map(|a| match a {
        Action::Send(Message::Open(open)) => Some(open.bgp_id),
        _ => None,
    });
    assert_eq!(sent, Some(new_id));
    for state in [State::OpenSent, State::OpenConfirm, State::Established] {
        let mut f = reach(state);
        assert!(!f.set_router_id(new_id), "{state}");
        assert_eq!(f.config().router_id, LOCAL_ID, "{state}");
    }
}

#[test]
fn every_down_reason_has_a_bounded_class() {
    let cease = Notification::new(6, 2, Vec::new());
    let reasons = [
        DownReason::ManualStop,
        DownReason::AutomaticStop,
        DownReason::LinkDown,
        DownReason::CollisionLost,
        DownReason::HoldTimerExpired,
        DownReason::ConnectionLost,
        DownReason::NotificationReceived(cease.clone()),
        DownReason::NotificationSent(cease),
        DownReason::MalformedNotificationReceived,
        DownReason::UnexpectedEvent,
    ];
    for reason in &reasons {
        assert!(
            crate::api::DOWN_REASONS.contains(&reason.class()),
            "{reason}: {}",
            reason.class()
        );
    }
    assert_eq!(DownReason::HoldTimerExpired.class(), "hold_timer_expired");
}

#[test]
fn graceful_restart_is_advertised_and_negotiated_only_when_configured() {
    use crate::bgp::fsm::graceful::{LocalGracefulRestart, PeerGracefulRestart};
    let gr = LocalGracefulRestart::helper(120);
    let with_gr = FsmConfig {
        graceful_restart: Some(gr),
        ..config()
    };
    let ours = local_open(&with_gr);
    assert!(ours.capabilities.contains(&gr.capability()), "{ours:?}");
    assert!(
        !local_open(&config())
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::GracefulRestart(_)))
    );

    let mut open = peer_open(PEER_ASN, PEER_ID, 9);
    open.capabilities.push(LocalGracefulRestart::helper(5).capability());
    for (config, expected) in [
        (
            with_gr,
            Some(PeerGracefulRestart {
                restart_time: 5,
                notification: true,
                ..PeerGracefulRestart::default()
            }),
        ),
        (config(), None),
    ] {
        let mut f = reach_with(config, State::OpenSent);
        f.handle(open_msg(open.clone()));
        let peer = f.peer().expect("OPEN accepted");
        assert_eq!(peer.negotiated.graceful_restart, expected);
    }
}
