//! Codec tests: real messages captured from FRR 8.4, BIRD 2.0.12 and
//! GoBGP 3.10 (tests/vectors/bgp/README.md), round trips, and a table of
//! malformed messages with the NOTIFICATION each must produce.

use std::net::Ipv4Addr;

use super::*;

const FRR_BIRD: &str = include_str!("../../tests/vectors/bgp/frr-bird.txt");
const FRR_GOBGP: &str = include_str!("../../tests/vectors/bgp/frr-gobgp.txt");

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// One captured message: who sent it, its TCP stream, extract.py's type
/// name and the bytes.
struct Vector {
    sender: &'static str,
    stream: u32,
    kind: &'static str,
    bytes: Vec<u8>,
}

fn vectors(file: &'static str) -> Vec<Vector> {
    file.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 4, "bad vector line {line}");
            Vector {
                sender: f[0],
                stream: f[1].parse().expect("stream number"),
                kind: f[2],
                bytes: unhex(f[3]),
            }
        })
        .collect()
}

fn all_vectors() -> Vec<Vector> {
    let mut v = vectors(FRR_BIRD);
    v.extend(vectors(FRR_GOBGP));
    v
}

/// The first message of `kind` sent by `sender` in `file`.
fn first(file: &'static str, sender: &str, kind: &str) -> Vec<u8> {
    vectors(file)
        .into_iter()
        .find(|v| v.sender == sender && v.kind == kind)
        .map(|v| v.bytes)
        .expect("vector present")
}

fn decoded(bytes: &[u8]) -> Message {
    decode(bytes).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

fn encoded(msg: &Message) -> Vec<u8> {
    msg.encode().unwrap_or_else(|e| panic!("encode failed: {e}"))
}

/// A message with a correct header around `body`.
fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(HEADER_LEN + body.len()).unwrap().to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

/// An OPEN body: version 4, AS 65001, hold 90, id 192.0.2.9, then `params`
/// as given (the Optional Parameters Length octet included).
fn open_body(params: &[u8]) -> Vec<u8> {
    let mut b = vec![4, 0xfd, 0xe9, 0, 90, 192, 0, 2, 9];
    b.extend_from_slice(params);
    b
}

/// An OPEN with one Capabilities parameter holding `caps`.
fn open_with_caps(caps: &[u8]) -> Vec<u8> {
    let len = u8::try_from(caps.len()).unwrap();
    let mut params = vec![len + 2, 2, len];
    params.extend_from_slice(caps);
    message(msg_type::OPEN, &open_body(&params))
}

// ---- captured vectors ----

#[test]
fn vectors_cover_every_message_type_from_every_daemon() {
    let v = all_vectors();
    for sender in ["frr", "bird", "gobgp"] {
        for kind in ["OPEN", "UPDATE", "KEEPALIVE", "NOTIFICATION"] {
            assert!(
                v.iter().any(|x| x.sender == sender && x.kind == kind),
                "no {kind} from {sender}"
            );
        }
    }
    for sender in ["frr", "bird"] {
        assert!(v.iter().any(|x| x.sender == sender && x.kind == "ROUTE-REFRESH"));
    }
}

#[test]
fn every_captured_message_frames_decodes_and_round_trips() {
    for v in all_vectors() {
        assert_eq!(frame(&v.bytes), Ok(Some(v.bytes.len())), "{} {}", v.sender, v.kind);
        let msg = decoded(&v.bytes);
        let want = match v.kind {
            "OPEN" => msg_type::OPEN,
            "UPDATE" => msg_type::UPDATE,
            "NOTIFICATION" => msg_type::NOTIFICATION,
            "KEEPALIVE" => msg_type::KEEPALIVE,
            "ROUTE-REFRESH" => msg_type::ROUTE_REFRESH,
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(msg.msg_type(), want);
        let again = encoded(&msg);
        assert_eq!(decoded(&again), msg, "decode(encode(x)) != x");
        // FRR puts each capability in its own parameter; we merge them, so
        // only its OPENs are not byte-identical after a round trip.
        if v.sender == "frr" && v.kind == "OPEN" {
            assert!(again.len() < v.bytes.len());
        } else {
            assert_eq!(again, v.bytes, "{} {} stream {}", v.sender, v.kind, v.stream);
        }
    }
}

#[test]
fn captured_streams_reframe_when_fed_in_small_pieces() {
    for file in [FRR_BIRD, FRR_GOBGP] {
        let all = vectors(file);
        let first_stream = all[0].stream;
        let sent: Vec<Vec<u8>> = all
            .into_iter()
            .filter(|v| v.sender == "frr" && v.stream == first_stream)
            .map(|v| v.bytes)
            .collect();
        let stream: Vec<u8> = sent.concat();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for chunk in stream.chunks(7) {
            buf.extend_from_slice(chunk);
            while let Some(n) = frame(&buf).expect("valid stream") {
                got.push(buf[..n].to_vec());
                buf.drain(..n);
            }
        }
        assert!(buf.is_empty());
        assert!(!got.is_empty());
        assert_eq!(got, sent);
    }
}

#[test]
fn bird_open_with_four_octet_asn() {
    let Message::Open(open) = decoded(&first(FRR_BIRD, "bird", "OPEN")) else {
        panic!("not an OPEN");
    };
    assert_eq!(open.version, 4);
    assert_eq!(open.my_as, AS_TRANS);
    assert_eq!(open.asn(), 4_200_000_002);
    assert_eq!(open.hold_time, 240);
    assert_eq!(open.bgp_id, Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(
        open.capabilities,
        vec![
            Capability::Multiprotocol {
                afi: AFI_IPV4,
                safi: SAFI_UNICAST
            },
            Capability::Multiprotocol {
                afi: AFI_IPV6,
                safi: SAFI_UNICAST
            },
            Capability::RouteRefresh,
            Capability::ExtendedNextHop(vec![ExtendedNextHop {
                afi: 1,
                safi: 1,
                nh_afi: 2
            }]),
            // BIRD's default: helper, 120 s.
            Capability::GracefulRestart(super::GracefulRestart {
                restart_time: 120,
                ..Default::default()
            }),
            Capability::FourOctetAs(4_200_000_002),
            Capability::Unknown { code: 70, data: vec![] },
            Capability::Unknown { code: 71, data: vec![] },
        ]
    );
}

#[test]
fn frr_open_with_one_capability_per_parameter() {
    let bytes = first(FRR_BIRD, "frr", "OPEN");
    let Message::Open(open) = decoded(&bytes) else {
        panic!("not an OPEN");
    };
    assert_eq!((open.my_as, open.asn(), open.hold_time), (65001, 65001, 9));
    assert_eq!(open.bgp_id, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(
        open.capabilities,
        vec![
            Capability::Multiprotocol {
                afi: AFI_IPV4,
                safi: SAFI_UNICAST
            },
            Capability::ExtendedNextHop(vec![ExtendedNextHop {
                afi: 1,
                safi: 1,
                nh_afi: 2
            }]),
            Capability::Multiprotocol {
                afi: AFI_IPV6,
                safi: SAFI_UNICAST
            },
            Capability::Unknown {
                code: 128,
                data: vec![]
            },
            Capability::RouteRefresh,
            Capability::Unknown { code: 70, data: vec![] },
            Capability::FourOctetAs(65001),
            Capability::Unknown { code: 6, data: vec![] },
            Capability::Unknown {
                code: 69,
                data: vec![0, 1, 1, 1, 0, 2, 1, 1]
            },
            Capability::Unknown {
                code: 73,
                data: b"\x03frr\x00".to_vec()
            },
            // FRR's default: helper (no families), R and N set, 120 s.
            Capability::GracefulRestart(super::GracefulRestart {
                restarting: true,
                notification: true,
                restart_time: 120,
                families: vec![],
            }),
            Capability::Unknown {
                code: 71,
                data: vec![0, 1, 1, 0x80, 0, 0, 0, 0, 2, 1, 0x80, 0, 0, 0],
            },
        ]
    );
    let packet = OpenPacket::new_checked(&bytes[HEADER_LEN..]).unwrap();
    assert!(!packet.is_extended());
    assert_eq!(packet.opt_params().unwrap().count(), open.capabilities.len());
}

#[test]
fn frr_open_without_extended_next_hop_towards_gobgp() {
    let Message::Open(open) = decoded(&first(FRR_GOBGP, "frr", "OPEN")) else {
        panic!("not an OPEN");
    };
    assert!(open.has(&Capability::Multiprotocol {
        afi: AFI_IPV6,
        safi: SAFI_UNICAST
    }));
    assert!(
        !open
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::ExtendedNextHop(_)))
    );
}

#[test]
fn gobgp_open() {
    let Message::Open(open) = decoded(&first(FRR_GOBGP, "gobgp", "OPEN")) else {
        panic!("not an OPEN");
    };
    assert_eq!((open.my_as, open.hold_time), (65003, 90));
    assert_eq!(open.bgp_id, Ipv4Addr::new(192, 0, 2, 3));
    assert_eq!(
        open.capabilities,
        vec![
            Capability::RouteRefresh,
            Capability::Unknown {
                code: 73,
                data: b"\x02vm\x00".to_vec()
            },
            Capability::Multiprotocol {
                afi: AFI_IPV4,
                safi: SAFI_UNICAST
            },
            Capability::Multiprotocol {
                afi: AFI_IPV6,
                safi: SAFI_UNICAST
            },
            Capability::FourOctetAs(65003),
            Capability::ExtendedNextHop(vec![ExtendedNextHop {
                afi: 1,
                safi: 1,
                nh_afi: 2
            }]),
        ]
    );
}

#[test]
fn captured_shutdown_notifications() {
    let cases = [
        (FRR_BIRD, "bird", "bird maintenance"),
        (FRR_BIRD, "frr", "frr maintenance to bird"),
        (FRR_GOBGP, "gobgp", "gobgp maintenance"),
        (FRR_GOBGP, "frr", "frr maintenance to gobgp"),
    ];
    for (file, sender, text) in cases {
        let Message::Notification(n) = decoded(&first(file, sender, "NOTIFICATION")) else {
            panic!("not a NOTIFICATION");
        };
        assert_eq!((n.code, n.subcode), (code::CEASE, code::ADMINISTRATIVE_SHUTDOWN));
        assert_eq!(n.shutdown_text(), Some(text));
        assert_eq!(n.to_string(), format!("Cease/Administrative Shutdown: \"{text}\""));
        assert_eq!(Notification::shutdown(code::ADMINISTRATIVE_SHUTDOWN, text), n);
    }
}

#[test]
fn gobgp_stopped_by_sigterm_sends_peer_deconfigured() {
    let last = vectors(FRR_GOBGP).pop().expect("vectors");
    assert_eq!((last.sender, last.kind), ("gobgp", "NOTIFICATION"));
    let Message::Notification(n) = decoded(&last.bytes) else {
        panic!("not a NOTIFICATION");
    };
    assert_eq!(n, Notification::new(code::CEASE, code::PEER_DECONFIGURED, vec![]));
    assert_eq!(n.shutdown_text(), None);
    assert_eq!(n.to_string(), "Cease/Peer De-configured");
}

#[test]
fn captured_route_refreshes_including_enhanced_subtypes() {
    let refreshes = |sender: &str| -> Vec<RouteRefresh> {
        vectors(FRR_BIRD)
            .iter()
            .filter(|v| v.sender == sender && v.kind == "ROUTE-REFRESH")
            .map(|v| match decoded(&v.bytes) {
                Message::RouteRefresh(r) => r,
                other => panic!("not a ROUTE-REFRESH: {other:?}"),
            })
            .collect()
    };
    let rr = |afi, subtype| RouteRefresh {
        afi,
        subtype,
        safi: SAFI_UNICAST,
    };
    // FRR asks for IPv4; BIRD answers with BoRR/EoRR (RFC 7313 4), then asks
    // for both families and FRR answers in kind.
    assert_eq!(refreshes("frr"), vec![rr(1, 0), rr(1, 1), rr(2, 1), rr(1, 2), rr(2, 2)]);
    assert_eq!(refreshes("bird"), vec![rr(1, 1), rr(1, 2), rr(1, 0), rr(2, 0)]);
    assert_eq!(RouteRefresh::request(AFI_IPV4, SAFI_UNICAST), rr(1, 0));
}

#[test]
fn captured_updates_expose_their_fields() {
    // GoBGP: plain IPv4 UPDATE for 203.0.113.128/25 (RFC 4271 4.3 NLRI).
    let Message::Update(body) = decoded(&first(FRR_GOBGP, "gobgp", "UPDATE")) else {
        panic!("not an UPDATE");
    };
    let update = UpdatePacket::new_checked(&body[..]).unwrap();
    assert!(update.withdrawn_routes().is_empty());
    assert_eq!(update.path_attributes().len(), 0x14);
    assert_eq!(update.nlri(), &[25, 203, 0, 113, 128]);

    // FRR withdrawing 203.0.113.0/24 from GoBGP.
    let withdraw = vectors(FRR_GOBGP)
        .into_iter()
        .find(|v| v.sender == "frr" && v.bytes.len() == 27)
        .expect("withdraw vector");
    let Message::Update(body) = decoded(&withdraw.bytes) else {
        panic!("not an UPDATE");
    };
    let update = UpdatePacket::new_checked(&body[..]).unwrap();
    assert_eq!(update.withdrawn_routes(), &[24, 203, 0, 113]);
    assert!(update.path_attributes().is_empty() && update.nlri().is_empty());

    // BIRD: IPv4 End-of-RIB is an empty UPDATE (RFC 4724 2).
    let eor = vectors(FRR_BIRD)
        .into_iter()
        .find(|v| v.sender == "bird" && v.kind == "UPDATE" && v.bytes.len() == 23)
        .expect("End-of-RIB vector");
    assert_eq!(decoded(&eor.bytes), Message::Update(vec![0, 0, 0, 0]));
}

// ---- framing ----

#[test]
fn frame_waits_for_header_and_body() {
    let open = first(FRR_GOBGP, "gobgp", "OPEN");
    assert_eq!(frame(&[]), Ok(None));
    assert_eq!(frame(&open[..18]), Ok(None));
    assert_eq!(frame(&open[..19]), Ok(None));
    assert_eq!(frame(&open[..open.len() - 1]), Ok(None));
    assert_eq!(frame(&open), Ok(Some(open.len())));
    let mut two = open.clone();
    two.extend_from_slice(&KEEPALIVE);
    assert_eq!(frame(&two), Ok(Some(open.len())));
}

#[test]
fn frame_judges_the_header_before_the_body_arrives() {
    let mut head = vec![0xff; 16];
    head.extend_from_slice(&[0x10, 0x00, 9]);
    let err = frame(&head).unwrap_err();
    assert_eq!((err.code, err.subcode, err.data), (1, 3, vec![9]));
}

#[test]
fn header_view_reads_fields() {
    let h = Header::new_checked(&KEEPALIVE[..]).unwrap();
    assert!(h.marker_ok());
    assert_eq!((h.length(), h.msg_type()), (19, msg_type::KEEPALIVE));
    assert_eq!(decoded(&KEEPALIVE), Message::Keepalive);
}

// ---- malformed messages ----

/// Sets the header length field of `m` to `len` without changing its size.
fn with_length(mut m: Vec<u8>, len: u16) -> Vec<u8> {
    m[16..18].copy_from_slice(&len.to_be_bytes());
    m
}

/// (what is wrong, message, expected (code, subcode), expected data if the
/// RFC fixes it).
type MalformedCase = (&'static str, Vec<u8>, (u8, u8), Option<Vec<u8>>);

#[test]
fn malformed_messages_map_to_their_notification() {
    let ka = KEEPALIVE.to_vec();
    let mut bad_marker = ka.clone();
    bad_marker[3] = 0xfe;
    let mut long = message(msg_type::UPDATE, &[0; 4078]);
    long.truncate(19);
    let borr_24 = message(msg_type::ROUTE_REFRESH, &[0, 1, 1, 1, 0]);
    let rr_24 = message(msg_type::ROUTE_REFRESH, &[0, 1, 0, 1, 0]);
    let mp = |len: u8, value: &[u8]| {
        let mut c = vec![1, len];
        c.extend_from_slice(value);
        open_with_caps(&c)
    };
    let ext = |params: &[u8]| message(msg_type::OPEN, &open_body(params));

    #[rustfmt::skip]
    let table: Vec<MalformedCase> = vec![
        // RFC 4271 6.1 message header errors.
        ("bad marker", bad_marker, (1, 1), Some(vec![])),
        ("length below 19", with_length(ka.clone(), 18), (1, 2), Some(vec![0, 18])),
        ("length above 4096", long, (1, 2), Some(vec![0x10, 0x01])),
        ("length field disagrees with buffer", with_length(message(4, &[0]), 19), (1, 2), Some(vec![0, 19])),
        ("message shorter than a header", ka[..18].to_vec(), (1, 2), Some(vec![0, 18])),
        ("KEEPALIVE of 20", message(msg_type::KEEPALIVE, &[0]), (1, 2), Some(vec![0, 20])),
        ("OPEN of 28", message(msg_type::OPEN, &[4, 0, 1, 0, 90, 1, 2, 3, 4]), (1, 2), Some(vec![0, 28])),
        ("UPDATE of 22", message(msg_type::UPDATE, &[0, 0, 0]), (1, 2), Some(vec![0, 22])),
        ("NOTIFICATION of 20", message(msg_type::NOTIFICATION, &[6]), (1, 2), Some(vec![0, 20])),
        ("ROUTE-REFRESH of 22", message(msg_type::ROUTE_REFRESH, &[0, 1, 0]), (1, 2), Some(vec![0, 22])),
        ("ROUTE-REFRESH of 24", rr_24, (1, 2), Some(vec![0, 24])),
        // RFC 7313 5: BoRR/EoRR of the wrong length, data is the message.
        ("BoRR of 24", borr_24.clone(), (7, 1), Some(borr_24)),
        ("type 0", message(0, &[]), (1, 3), Some(vec![0])),
        ("type 6", message(6, &[0; 10]), (1, 3), Some(vec![6])),
        // RFC 4271 6.2 / RFC 5492 3 OPEN errors.
        ("opt params length overruns message", message(1, &open_body(&[5])), (2, 0), Some(vec![])),
        ("opt params length short of message", message(1, &open_body(&[2, 2, 0, 0, 0])), (2, 0), None),
        ("opt param header cut", message(1, &open_body(&[1, 2])), (2, 0), None),
        ("opt param length overruns", message(1, &open_body(&[4, 2, 5, 2, 0])), (2, 0), None),
        ("non-capability parameter", message(1, &open_body(&[4, 1, 2, 0, 0])), (2, 4), Some(vec![])),
        ("capability header cut", open_with_caps(&[65]), (2, 0), None),
        ("capability length overrun", open_with_caps(&[1, 4, 0]), (2, 0), None),
        ("MP capability of 3", mp(3, &[0, 1, 0]), (2, 0), None),
        ("MP capability of 5", mp(5, &[0, 1, 0, 1, 0]), (2, 0), None),
        ("AS4 capability of 2", open_with_caps(&[65, 2, 0xfd, 0xe9]), (2, 0), None),
        ("route refresh capability with value", open_with_caps(&[2, 1, 0]), (2, 0), None),
        ("ENH capability of 5", open_with_caps(&[5, 5, 0, 1, 0, 1, 0]), (2, 0), None),
        // RFC 9072 extended optional parameters.
        ("extended length cut", ext(&[255, 255, 0]), (2, 0), None),
        ("extended length mismatch", ext(&[255, 255, 0, 9, 2, 0, 0]), (2, 0), None),
        ("extended param header cut", ext(&[255, 255, 0, 2, 2, 0]), (2, 0), None),
        ("extended param overrun", ext(&[255, 255, 0, 5, 2, 0, 9, 2, 0]), (2, 0), None),
        // RFC 4271 6.3: lengths overrun the UPDATE.
        ("withdrawn length overrun", message(2, &[0, 9, 0, 0]), (3, 1), Some(vec![])),
        ("withdrawn routes leave no attribute length", message(2, &[0, 2, 0, 0]), (3, 1), None),
        ("attribute length overrun", message(2, &[0, 0, 0, 1]), (3, 1), None),
    ];
    for (name, bytes, (code, subcode), data) in table {
        let err = decode(&bytes).expect_err(name);
        assert_eq!((err.code, err.subcode), (code, subcode), "{name}: {err}");
        if let Some(data) = data {
            assert_eq!(err.data, data, "{name}");
        }
        // Whatever frame() says must agree with decode().
        if let Err(frame_err) = frame(&bytes) {
            assert_eq!(frame_err, err, "{name}");
        }
    }
}

#[test]
fn structurally_sound_but_odd_messages_are_accepted() {
    // No optional parameters at all.
    let bare = message(msg_type::OPEN, &open_body(&[0]));
    let Message::Open(open) = decoded(&bare) else { panic!() };
    assert!(open.capabilities.is_empty());
    assert_eq!(encoded(&Message::Open(open)), bare);

    // Semantics are the FSM's: version 3, hold time 1, id 0 decode fine.
    let odd = message(msg_type::OPEN, &[3, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    let Message::Open(open) = decoded(&odd) else { panic!() };
    assert_eq!(
        (open.version, open.hold_time, open.bgp_id),
        (3, 1, Ipv4Addr::UNSPECIFIED)
    );

    // Empty Capabilities parameter, unknown and empty-ENH capabilities.
    let caps = message(msg_type::OPEN, &open_body(&[8, 2, 0, 2, 4, 200, 2, 5, 0]));
    let Message::Open(open) = decoded(&caps) else { panic!() };
    assert_eq!(
        open.capabilities,
        vec![Capability::Unknown {
            code: 200,
            data: vec![5, 0]
        }]
    );
    let enh = open_with_caps(&[5, 0]);
    assert!(matches!(decoded(&enh), Message::Open(o) if o.capabilities == vec![Capability::ExtendedNextHop(vec![])]));

    // MP reserved octet is ignored on receipt (RFC 4760 8).
    let res = open_with_caps(&[1, 4, 0, 2, 7, 1]);
    assert!(
        matches!(decoded(&res), Message::Open(o) if o.capabilities == vec![Capability::Multiprotocol { afi: 2, safi: 1 }])
    );

    // RFC 9072: any non-zero Non-Ext OP Len with type 255 is extended.
    let ext = message(
        msg_type::OPEN,
        &open_body(&[7, 255, 0, 9, 2, 0, 6, 65, 4, 0, 0, 0xfd, 0xe9]),
    );
    let Message::Open(open) = decoded(&ext) else { panic!() };
    assert_eq!(open.capabilities, vec![Capability::FourOctetAs(65001)]);
    assert!(OpenPacket::new_checked(&ext[HEADER_LEN..]).unwrap().is_extended());

    // Unknown ROUTE-REFRESH subtype passes to the FSM, which ignores it.
    let rr = message(msg_type::ROUTE_REFRESH, &[0, 2, 9, 1]);
    assert_eq!(
        decoded(&rr),
        Message::RouteRefresh(RouteRefresh {
            afi: 2,
            subtype: 9,
            safi: 1
        })
    );

    // UPDATE whose fields exactly fill it.
    let upd = message(msg_type::UPDATE, &[0, 1, 0, 0, 1, 0x40]);
    let Message::Update(body) = decoded(&upd) else { panic!() };
    let u = UpdatePacket::new_checked(&body[..]).unwrap();
    assert_eq!(
        (u.withdrawn_routes(), u.path_attributes(), u.nlri()),
        (&[0][..], &[0x40][..], &[][..])
    );
}

// ---- encoding ----

#[test]
fn open_new_sets_my_as_and_four_octet_as() {
    let id = Ipv4Addr::new(192, 0, 2, 1);
    let big = Open::new(
        4_200_000_001,
        9,
        id,
        vec![Capability::FourOctetAs(1), Capability::RouteRefresh],
    );
    assert_eq!(big.my_as, AS_TRANS);
    assert_eq!(big.asn(), 4_200_000_001);
    assert_eq!(
        big.capabilities,
        vec![Capability::RouteRefresh, Capability::FourOctetAs(4_200_000_001)]
    );
    let small = Open::new(65_535, 9, id, vec![]);
    assert_eq!((small.my_as, small.version), (65_535, 4));
    assert_eq!(Open::new(65_536, 9, id, vec![]).my_as, AS_TRANS);
}

#[test]
fn our_open_encodes_in_one_capability_parameter() {
    let open = Open::new(
        65001,
        9,
        Ipv4Addr::new(192, 0, 2, 1),
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
            Capability::ExtendedNextHop(vec![ExtendedNextHop {
                afi: 1,
                safi: 1,
                nh_afi: 2,
            }]),
        ],
    );
    let bytes = encoded(&Message::Open(open.clone()));
    let want = [
        "ffffffffffffffffffffffffffffffff003b01", // header, length 59
        "04fde90009c0000201",                     // version, AS, hold, id
        "1e021c",                                 // one Capabilities parameter
        "0104000100010104000200010200",           // MP v4, MP v6, route refresh
        "0506000100010002",                       // ENH: IPv4 unicast via IPv6
        "41040000fde9",                           // four-octet AS 65001
    ];
    assert_eq!(bytes, unhex(&want.concat()));
    assert_eq!(decoded(&bytes), Message::Open(open));
}

#[test]
fn large_capability_lists_use_extended_parameters() {
    let caps: Vec<Capability> = (0..30)
        .map(|i| Capability::Unknown {
            code: 200 + i,
            data: vec![i; 8],
        })
        .collect();
    let open = Open {
        version: 4,
        my_as: 1,
        hold_time: 3,
        bgp_id: Ipv4Addr::new(1, 2, 3, 4),
        capabilities: caps,
    };
    let bytes = encoded(&Message::Open(open.clone()));
    let body = &bytes[HEADER_LEN..];
    // 30 * 10 = 300 capability octets: RFC 9072 2 layout.
    assert_eq!(&body[9..13], &[255, 255, 0x01, 0x2f]);
    assert_eq!(&body[13..16], &[2, 0x01, 0x2c]);
    assert!(OpenPacket::new_checked(body).unwrap().is_extended());
    assert_eq!(decoded(&bytes), Message::Open(open));
}

#[test]
fn encoding_refuses_what_does_not_fit() {
    let cap = Capability::Unknown {
        code: 99,
        data: vec![0; 256],
    };
    let open = Open::new(1, 3, Ipv4Addr::new(1, 2, 3, 4), vec![cap]);
    assert_eq!(
        Message::Open(open).encode(),
        Err(EncodeError::CapabilityTooLong { code: 99, len: 256 })
    );

    let mut out = vec![7];
    let big = Message::Update(vec![0; MAX_MESSAGE_LEN - HEADER_LEN + 1]);
    assert_eq!(big.encode_into(&mut out), Err(EncodeError::MessageTooLong(4097)));
    assert_eq!(out, vec![7], "output left as it was");

    let max = Message::Update(vec![0; MAX_MESSAGE_LEN - HEADER_LEN]);
    assert_eq!(encoded(&max).len(), MAX_MESSAGE_LEN);
    let notif = Message::Notification(Notification::new(6, 2, vec![0; MAX_MESSAGE_LEN - 20]));
    assert_eq!(notif.encode(), Err(EncodeError::MessageTooLong(4097)));
}

#[test]
fn keepalive_and_route_refresh_encode() {
    assert_eq!(encoded(&Message::Keepalive), KEEPALIVE);
    let rr = Message::RouteRefresh(RouteRefresh::request(AFI_IPV6, SAFI_UNICAST));
    assert_eq!(encoded(&rr), unhex("ffffffffffffffffffffffffffffffff00170500020001"));
}

// ---- NOTIFICATION helpers ----

#[test]
fn shutdown_communication_is_cut_at_255_octets_on_a_char_boundary() {
    let text = format!("{}é", "a".repeat(254));
    let n = Notification::shutdown(code::ADMINISTRATIVE_RESET, &text);
    assert_eq!(n.data[0], 254);
    assert_eq!(n.data.len(), 255);
    assert_eq!(n.shutdown_text(), Some("a".repeat(254).as_str()));
    // 100 three-octet characters: 300 octets; 85 of them fit in 255.
    let n = Notification::shutdown(code::ADMINISTRATIVE_SHUTDOWN, &"€".repeat(100));
    assert_eq!((n.data[0], n.data.len()), (255, 256));
    assert_eq!(n.shutdown_text(), Some("€".repeat(85).as_str()));

    let exact = "b".repeat(255);
    let n = Notification::shutdown(code::ADMINISTRATIVE_SHUTDOWN, &exact);
    assert_eq!((n.data[0], n.shutdown_text()), (255, Some(exact.as_str())));
    assert_eq!(
        decoded(&encoded(&Message::Notification(n.clone()))),
        Message::Notification(n)
    );
}

#[test]
fn shutdown_without_text_or_outside_subcodes_2_and_4_has_no_data() {
    assert_eq!(
        Notification::shutdown(code::ADMINISTRATIVE_SHUTDOWN, ""),
        Notification::new(6, 2, vec![])
    );
    assert_eq!(
        Notification::shutdown(code::PEER_DECONFIGURED, "bye"),
        Notification::new(6, 3, vec![])
    );
    assert_eq!(Notification::new(6, 2, vec![0]).shutdown_text(), None);
    assert_eq!(Notification::new(6, 3, b"\x03bye".to_vec()).shutdown_text(), None);
    assert_eq!(Notification::new(2, 2, b"\x03bye".to_vec()).shutdown_text(), None);
}

#[test]
fn malformed_shutdown_communication_is_not_shown_as_text() {
    let overrun = Notification::new(6, 2, b"\x0abye".to_vec());
    assert_eq!(overrun.shutdown_text(), None);
    assert_eq!(
        overrun.to_string(),
        "Cease/Administrative Shutdown (malformed shutdown communication, data 0a627965)"
    );
    let not_utf8 = Notification::new(6, 4, vec![2, 0xc3, 0x28]);
    assert_eq!(not_utf8.shutdown_text(), None);
    // Octets after the communication are ignored.
    assert_eq!(Notification::new(6, 2, b"\x02hi!".to_vec()).shutdown_text(), Some("hi"));
}

#[test]
fn notification_display_names_codes_and_escapes_text() {
    let cases = [
        (
            Notification::new(1, 2, vec![0, 18]),
            "Message Header Error/Bad Message Length (data 0012)",
        ),
        (Notification::new(2, 0, vec![]), "OPEN Message Error/Unspecific"),
        (
            Notification::new(2, 7, vec![]),
            "OPEN Message Error/Unsupported Capability",
        ),
        (
            Notification::new(3, 11, vec![]),
            "UPDATE Message Error/Malformed AS_PATH",
        ),
        (Notification::new(4, 0, vec![]), "Hold Timer Expired"),
        (
            Notification::new(5, 2, vec![]),
            "Finite State Machine Error/Receive Unexpected Message in OpenConfirm State",
        ),
        (Notification::new(6, 7, vec![]), "Cease/Connection Collision Resolution"),
        (Notification::new(6, 42, vec![]), "Cease/subcode 42"),
        (
            Notification::new(7, 1, vec![]),
            "ROUTE-REFRESH Message Error/Invalid Message Length",
        ),
        (
            Notification::shutdown(2, "a\"b\n"),
            "Cease/Administrative Shutdown: \"a\\\"b\\n\"",
        ),
    ];
    for (n, want) in cases {
        assert_eq!(n.to_string(), want);
    }
    let unknown = Notification::new(9, 1, vec![0xab; 40]);
    let want = format!("code 9/subcode 1 (data {}... (40 octets))", "ab".repeat(32));
    assert_eq!(unknown.to_string(), want);
}

#[test]
fn every_code_and_subcode_constant_has_a_name() {
    for c in 1..=7 {
        assert!(code_name(c).is_some(), "code {c}");
    }
    assert_eq!(code_name(0), None);
    let named = [
        (code::MESSAGE_HEADER, code::CONNECTION_NOT_SYNCHRONIZED),
        (code::MESSAGE_HEADER, code::BAD_MESSAGE_LENGTH),
        (code::MESSAGE_HEADER, code::BAD_MESSAGE_TYPE),
        (code::OPEN_MESSAGE, code::UNSPECIFIC),
        (code::OPEN_MESSAGE, code::UNSUPPORTED_VERSION),
        (code::OPEN_MESSAGE, code::BAD_PEER_AS),
        (code::OPEN_MESSAGE, code::BAD_BGP_IDENTIFIER),
        (code::OPEN_MESSAGE, code::UNSUPPORTED_OPTIONAL_PARAMETER),
        (code::OPEN_MESSAGE, code::UNACCEPTABLE_HOLD_TIME),
        (code::OPEN_MESSAGE, code::UNSUPPORTED_CAPABILITY),
        (code::OPEN_MESSAGE, code::ROLE_MISMATCH),
        (code::UPDATE_MESSAGE, code::MALFORMED_ATTRIBUTE_LIST),
        (code::UPDATE_MESSAGE, code::MALFORMED_AS_PATH),
        (code::FSM, code::FSM_UNSPECIFIED),
        (code::FSM, code::FSM_UNEXPECTED_IN_OPENSENT),
        (code::FSM, code::FSM_UNEXPECTED_IN_ESTABLISHED),
        (code::CEASE, code::MAXIMUM_PREFIXES_REACHED),
        (code::CEASE, code::OUT_OF_RESOURCES),
        (code::CEASE, code::BFD_DOWN),
        (code::ROUTE_REFRESH, code::INVALID_MESSAGE_LENGTH),
    ];
    for (c, s) in named {
        assert!(subcode_name(c, s).is_some(), "{c}/{s}");
    }
    assert_eq!(subcode_name(code::HOLD_TIMER_EXPIRED, 0), None);
}

#[test]
fn msg_error_converts_and_displays() {
    let err = decode(&with_length(KEEPALIVE.to_vec(), 18)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "length outside 19..=4096: Message Header Error/Bad Message Length (data 0012)"
    );
    assert_eq!(err.notification(), Notification::new(1, 2, vec![0, 18]));
    assert_eq!(Notification::from(err), Notification::new(1, 2, vec![0, 18]));
}

#[test]
fn graceful_restart_capability_reads_flags_time_and_families() {
    use super::{GracefulRestart, GracefulRestartFamily};
    // As FRR sends it with `bgp graceful-restart` after a restart: R and N
    // set, 120 s, IPv4 and IPv6 unicast with F.
    let value = [0xc0, 0x78, 0, 1, 1, 0x80, 0, 2, 1, 0x80];
    let gr = Capability::parse(64, &value).expect("parses");
    let want = GracefulRestart {
        restarting: true,
        notification: true,
        restart_time: 120,
        families: vec![
            GracefulRestartFamily {
                afi: 1,
                safi: 1,
                forwarding_preserved: true,
            },
            GracefulRestartFamily {
                afi: 2,
                safi: 1,
                forwarding_preserved: true,
            },
        ],
    };
    assert_eq!(gr, Capability::GracefulRestart(want.clone()));
    let mut out = Vec::new();
    gr.emit(&mut out).expect("emits");
    assert_eq!(out[..2], [64, 10]);
    assert_eq!(out[2..], value);
    // A helper that keeps no forwarding state: no families, time only.
    let helper = Capability::parse(64, &[0x00, 0x5a]).expect("parses");
    assert_eq!(
        helper,
        Capability::GracefulRestart(GracefulRestart {
            restart_time: 90,
            ..GracefulRestart::default()
        })
    );
    // 12 bits of restart time: a larger one is sent as the most it can be.
    let mut out = Vec::new();
    Capability::GracefulRestart(GracefulRestart {
        restart_time: 5000,
        ..GracefulRestart::default()
    })
    .emit(&mut out)
    .expect("emits");
    assert_eq!(out, [64, 2, 0x0f, 0xff]);
    for bad in [&[][..], &[0x00], &[0, 120, 0, 1, 1]] {
        assert!(Capability::parse(64, bad).is_err(), "{bad:?}");
    }
}
