use super::*;

use std::collections::HashSet;

// Captured on a veth pair by tests/vectors/nd/capture.sh (see the README
// there): A ran radvd, FRR zebra, BIRD and the kernel's own ND; B is a
// plain Linux host that also ran ndisc6/rdisc6.
const KERNEL: &str = include_str!("../../../tests/vectors/nd/kernel.txt");
const RADVD: &str = include_str!("../../../tests/vectors/nd/radvd.txt");
const FRR: &str = include_str!("../../../tests/vectors/nd/frr.txt");
const BIRD: &str = include_str!("../../../tests/vectors/nd/bird.txt");

const MAC_A: Mac = [0xe6, 0xa9, 0xf0, 0x5b, 0x19, 0x22];
const MAC_B: Mac = [0x3a, 0x68, 0x9a, 0xa6, 0xac, 0x74];

fn ll_a() -> Ipv6Addr {
    ip("fe80::e4a9:f0ff:fe5b:1922")
}

fn ll_b() -> Ipv6Addr {
    ip("fe80::3868:9aff:fea6:ac74")
}

fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One captured packet: the IPv6 header fields parse needs and the ICMPv6
/// bytes.
struct Vector {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    icmp: Vec<u8>,
}

impl Vector {
    fn parse(&self) -> Result<NdMessage, DropReason> {
        parse(&self.icmp, self.src, self.dst, self.hop_limit)
    }

    /// The bytes as our builders emit them: checksum left to the kernel.
    fn without_checksum(&self) -> Vec<u8> {
        let mut icmp = self.icmp.clone();
        icmp[2] = 0;
        icmp[3] = 0;
        icmp
    }
}

fn vectors(text: &str) -> Vec<Vector> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 4, "bad vector line: {line}");
            Vector {
                src: ip(fields[0]),
                dst: ip(fields[1]),
                hop_limit: fields[2].parse().unwrap(),
                icmp: hex(fields[3]),
            }
        })
        .collect()
}

fn all_vectors() -> Vec<Vector> {
    [KERNEL, RADVD, FRR, BIRD].into_iter().flat_map(vectors).collect()
}

fn ra(router_lifetime: u16, source_lla: Option<Mac>) -> NdMessage {
    NdMessage::RouterAdvertisement {
        cur_hop_limit: 64,
        managed: false,
        other: false,
        router_lifetime,
        reachable_time: 0,
        retrans_timer: 0,
        source_lla,
    }
}

fn ns(target: Ipv6Addr, source_lla: Option<Mac>) -> NdMessage {
    NdMessage::NeighborSolicitation { target, source_lla }
}

fn na(flags: (bool, bool, bool), target: Ipv6Addr, target_lla: Option<Mac>) -> NdMessage {
    let (router, solicited, override_flag) = flags;
    NdMessage::NeighborAdvertisement {
        router,
        solicited,
        override_flag,
        target,
        target_lla,
    }
}

fn rs(source_lla: Option<Mac>) -> NdMessage {
    NdMessage::RouterSolicitation { source_lla }
}

fn assert_parses_to(text: &str, expected: &[NdMessage]) {
    let got: Vec<_> = vectors(text).iter().map(Vector::parse).collect();
    let expected: Vec<_> = expected.iter().copied().map(Ok).collect();
    assert_eq!(got, expected);
}

// Expected values below are tshark's decode of the same pcaps, not our own
// parser's output.

#[test]
fn real_kernel_packets() {
    assert_parses_to(
        KERNEL,
        &[
            // DAD probes (with an RFC 7527 nonce option, type 14, skipped).
            ns(ll_b(), None),
            ns(ll_a(), None),
            rs(Some(MAC_B)),
            // Unsolicited NA at link up (ndisc_notify): router, override.
            na((true, false, true), ll_a(), Some(MAC_A)),
            // ndisc6 from B and the answer from A (a router).
            ns(ll_a(), Some(MAC_B)),
            na((true, true, true), ll_a(), Some(MAC_A)),
            rs(Some(MAC_B)),
        ],
    );
}

#[test]
fn real_radvd_packets() {
    // radvd RAs carry prefix information and MTU options before the SLLA.
    assert_parses_to(
        RADVD,
        &[
            ra(12, Some(MAC_A)),
            // B's DAD for its new SLAAC address.
            ns(ip("2001:db8:1:0:3868:9aff:fea6:ac74"), None),
            ns(ll_b(), Some(MAC_A)),
            // Unicast answers without a target link-layer option.
            na((false, true, false), ll_b(), None),
            ra(12, Some(MAC_A)),
            // rdisc6 sends no SLLA.
            rs(None),
            ra(12, Some(MAC_A)),
            ra(12, Some(MAC_A)),
            ns(ll_a(), Some(MAC_B)),
            na((true, true, false), ll_a(), None),
            // radvd's goodbye on exit.
            ra(0, Some(MAC_A)),
        ],
    );
}

#[test]
fn real_frr_packets() {
    // zebra: 4 fast RAs at start, lifetime 3 * ra-interval, lifetime 0 on
    // shutdown.
    let r9 = ra(9, Some(MAC_A));
    assert_parses_to(FRR, &[r9, r9, r9, r9, r9, rs(None), r9, r9, ra(0, Some(MAC_A))]);
}

#[test]
fn real_bird_packets() {
    // BIRD 2.0.12 sends no source link-layer address option.
    let r12 = ra(12, None);
    assert_parses_to(BIRD, &[r12, r12, rs(None), r12, r12, ra(0, None)]);
}

#[test]
fn every_truncation_of_real_packets_is_handled() {
    for v in all_vectors() {
        let fixed = match v.icmp[0] {
            133 => 8,
            134 => 16,
            _ => 24,
        };
        // Where each whole option of the full packet ends.
        let mut option_ends = vec![fixed];
        while let Some(&units) = v.icmp.get(option_ends[option_ends.len() - 1] + 1) {
            option_ends.push(option_ends[option_ends.len() - 1] + usize::from(units) * 8);
        }
        assert_eq!(option_ends.last(), Some(&v.icmp.len()));
        for len in 0..v.icmp.len() {
            let got = parse(&v.icmp[..len], v.src, v.dst, v.hop_limit);
            if len < fixed {
                assert_eq!(got, Err(DropReason::TooShort), "len {len}");
            } else if option_ends.contains(&len) {
                // Whole options dropped: still a valid message.
                assert!(got.is_ok(), "len {len}: {got:?}");
            } else {
                assert_eq!(got, Err(DropReason::OptionOverrun), "len {len}");
            }
        }
    }
}

#[test]
fn checksum_is_not_checked() {
    for v in all_vectors() {
        let expected = v.parse();
        assert!(expected.is_ok());
        let zeroed = v.without_checksum();
        assert_eq!(parse(&zeroed, v.src, v.dst, v.hop_limit), expected);
    }
}

// --- builders ---

#[test]
fn build_ra_matches_frr_bytes() {
    let frr = &vectors(FRR)[0];
    assert_eq!(build_ra(&RaParams::new(9, Some(MAC_A))), frr.without_checksum());
}

#[test]
fn build_ra_without_lla_matches_bird_bytes() {
    let bird = &vectors(BIRD)[0];
    assert_eq!(build_ra(&RaParams::new(12, None)), bird.without_checksum());
}

#[test]
fn build_rs_matches_kernel_and_rdisc6_bytes() {
    let kernel_rs = &vectors(KERNEL)[2];
    assert_eq!(build_rs(Some(MAC_B)), kernel_rs.without_checksum());
    let rdisc6_rs = &vectors(FRR)[5];
    assert_eq!(build_rs(None), rdisc6_rs.without_checksum());
}

#[test]
fn build_ns_matches_kernel_bytes() {
    let kernel_ns = &vectors(KERNEL)[4];
    assert_eq!(build_ns(ll_a(), Some(MAC_B)), kernel_ns.without_checksum());
}

#[test]
fn built_ra_round_trips_every_field() {
    let params = RaParams {
        cur_hop_limit: 0,
        managed: true,
        other: true,
        router_lifetime: 0xfedc,
        reachable_time: 0x0102_0304,
        retrans_timer: 0xa0b0_c0d0,
        source_lla: Some(MAC_A),
    };
    let msg = build_ra(&params);
    assert_eq!(&msg[2..4], &[0, 0], "checksum is left to the kernel");
    assert_eq!(
        parse(&msg, ll_a(), ip("ff02::1"), 255),
        Ok(NdMessage::RouterAdvertisement {
            cur_hop_limit: 0,
            managed: true,
            other: true,
            router_lifetime: 0xfedc,
            reachable_time: 0x0102_0304,
            retrans_timer: 0xa0b0_c0d0,
            source_lla: Some(MAC_A),
        })
    );
    let only_other = RaParams {
        managed: false,
        ..params
    };
    assert_eq!(build_ra(&only_other)[5], 0x40);
}

#[test]
fn ra_params_defaults() {
    let params = RaParams::new(30, None);
    assert_eq!(params.cur_hop_limit, 64);
    assert!(!params.managed && !params.other);
    assert_eq!((params.reachable_time, params.retrans_timer), (0, 0));
    assert_eq!(build_ra(&params).len(), 16);
}

#[test]
fn built_rs_and_ns_are_accepted() {
    let all_routers = ip("ff02::2");
    assert_eq!(
        parse(&build_rs(Some(MAC_A)), ll_a(), all_routers, 255),
        Ok(rs(Some(MAC_A)))
    );
    // An RS from :: must not carry a link-layer address; without one it is
    // valid.
    assert_eq!(
        parse(&build_rs(None), Ipv6Addr::UNSPECIFIED, all_routers, 255),
        Ok(rs(None))
    );
    let target = ll_b();
    assert_eq!(
        parse(&build_ns(target, Some(MAC_A)), ll_a(), solicited_node(&target), 255),
        Ok(ns(target, Some(MAC_A)))
    );
    // A DAD probe as we would build it.
    assert_eq!(
        parse(
            &build_ns(target, None),
            Ipv6Addr::UNSPECIFIED,
            solicited_node(&target),
            255
        ),
        Ok(ns(target, None))
    );
}

#[test]
fn solicited_node_groups() {
    // As seen on the wire: the kernel's DAD for ll_a went to this group.
    assert_eq!(solicited_node(&ll_a()), ip("ff02::1:ff5b:1922"));
    assert!(is_solicited_node(&ip("ff02::1:ff5b:1922")));
    assert!(is_solicited_node(&ip("ff02::1:ff00:0")));
    assert!(!is_solicited_node(&ip("ff02::1")));
    assert!(!is_solicited_node(&ip("ff02::1:fe5b:1922")));
    assert!(!is_solicited_node(&ip("ff05::1:ff5b:1922")));
    assert!(!is_solicited_node(&ll_a()));
}

// --- drop reasons, one test per class ---

/// A minimal valid message of each type, for mutation.
fn base_ra() -> Vec<u8> {
    build_ra(&RaParams::new(1800, Some(MAC_A)))
}

fn base_na(flags: u8, target: Ipv6Addr, tlla: Option<Mac>) -> Vec<u8> {
    let mut msg = vec![136, 0, 0, 0, flags, 0, 0, 0];
    msg.extend_from_slice(&target.octets());
    if let Some(mac) = tlla {
        msg.extend_from_slice(&[2, 1]);
        msg.extend_from_slice(&mac);
    }
    msg
}

const NA_ROUTER: u8 = 0x80;
const NA_SOLICITED: u8 = 0x40;
const NA_OVERRIDE: u8 = 0x20;

fn all_nodes() -> Ipv6Addr {
    ip("ff02::1")
}

#[test]
fn accepts_base_messages() {
    assert_eq!(parse(&base_ra(), ll_a(), all_nodes(), 255), Ok(ra(1800, Some(MAC_A))));
    assert_eq!(
        parse(
            &base_na(NA_ROUTER | NA_OVERRIDE, ll_a(), Some(MAC_A)),
            ll_a(),
            all_nodes(),
            255
        ),
        Ok(na((true, false, true), ll_a(), Some(MAC_A)))
    );
}

#[test]
fn drops_not_nd() {
    let mut echo = base_ra();
    for t in [0u8, 1, 128, 129, 132, 137, 255] {
        echo[0] = t;
        assert_eq!(
            parse(&echo, ll_a(), all_nodes(), 255),
            Err(DropReason::NotNd),
            "type {t}"
        );
    }
}

#[test]
fn drops_hop_limit() {
    for hop_limit in [0u8, 1, 64, 254] {
        assert_eq!(
            parse(&base_ra(), ll_a(), all_nodes(), hop_limit),
            Err(DropReason::HopLimit)
        );
    }
}

#[test]
fn drops_bad_code() {
    let mut msg = base_ra();
    msg[1] = 1;
    assert_eq!(parse(&msg, ll_a(), all_nodes(), 255), Err(DropReason::BadCode));
    let mut msg = build_ns(ll_b(), None);
    msg[1] = 0xff;
    assert_eq!(
        parse(&msg, ll_a(), solicited_node(&ll_b()), 255),
        Err(DropReason::BadCode)
    );
}

#[test]
fn drops_too_short() {
    assert_eq!(parse(&[], ll_a(), all_nodes(), 255), Err(DropReason::TooShort));
    assert_eq!(parse(&[134], ll_a(), all_nodes(), 255), Err(DropReason::TooShort));
    // One byte short of each fixed part: RS 8, RA 16, NS 24, NA 24.
    for (msg_type, fixed) in [(133u8, 8usize), (134, 16), (135, 24), (136, 24)] {
        let mut msg = vec![0; fixed - 1];
        msg[0] = msg_type;
        assert_eq!(
            parse(&msg, ll_a(), ll_b(), 255),
            Err(DropReason::TooShort),
            "type {msg_type}"
        );
    }
}

#[test]
fn drops_option_zero_length() {
    let mut msg = base_ra();
    msg.extend_from_slice(&[99, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(parse(&msg, ll_a(), all_nodes(), 255), Err(DropReason::OptionZeroLength));
    // Also when it is the first option, and in an NS.
    let mut msg = build_ns(ll_b(), None);
    msg.extend_from_slice(&[1, 0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(parse(&msg, ll_a(), ll_b(), 255), Err(DropReason::OptionZeroLength));
}

#[test]
fn drops_option_overrun() {
    // Length 2 (16 octets) with only 8 present.
    let mut msg = build_rs(None);
    msg.extend_from_slice(&[1, 2, 1, 2, 3, 4, 5, 6]);
    assert_eq!(parse(&msg, ll_a(), ip("ff02::2"), 255), Err(DropReason::OptionOverrun));
    // A lone trailing byte cannot hold an option header.
    let mut msg = base_ra();
    msg.push(1);
    assert_eq!(parse(&msg, ll_a(), all_nodes(), 255), Err(DropReason::OptionOverrun));
    // Maximum length 255 units on a short message.
    let mut msg = base_na(0, ll_a(), None);
    msg.extend_from_slice(&[2, 255, 0, 0, 0, 0, 0, 0]);
    assert_eq!(parse(&msg, ll_a(), ll_b(), 255), Err(DropReason::OptionOverrun));
}

#[test]
fn drops_source_multicast() {
    assert_eq!(
        parse(&build_ns(ll_b(), Some(MAC_A)), all_nodes(), ll_b(), 255),
        Err(DropReason::SourceMulticast)
    );
}

#[test]
fn drops_ra_source_not_link_local() {
    for src in ["2001:db8::1", "fec0::1", "::1", "::ffff:10.0.0.1"] {
        assert_eq!(
            parse(&base_ra(), ip(src), all_nodes(), 255),
            Err(DropReason::RaSourceNotLinkLocal),
            "{src}"
        );
    }
    // The top of fe80::/10 is still link-local.
    assert!(parse(&base_ra(), ip("febf::1"), all_nodes(), 255).is_ok());
}

#[test]
fn drops_unspecified_source_ra_and_na() {
    assert_eq!(
        parse(&base_ra(), Ipv6Addr::UNSPECIFIED, all_nodes(), 255),
        Err(DropReason::UnspecifiedSource)
    );
    assert_eq!(
        parse(
            &base_na(NA_OVERRIDE, ll_a(), Some(MAC_A)),
            Ipv6Addr::UNSPECIFIED,
            all_nodes(),
            255
        ),
        Err(DropReason::UnspecifiedSource)
    );
}

#[test]
fn drops_target_multicast() {
    assert_eq!(
        parse(&build_ns(all_nodes(), Some(MAC_A)), ll_a(), all_nodes(), 255),
        Err(DropReason::TargetMulticast)
    );
    assert_eq!(
        parse(&base_na(0, ip("ff02::2"), None), ll_a(), ll_b(), 255),
        Err(DropReason::TargetMulticast)
    );
}

#[test]
fn drops_na_solicited_to_multicast() {
    let solicited = base_na(NA_SOLICITED, ll_a(), Some(MAC_A));
    assert_eq!(
        parse(&solicited, ll_a(), all_nodes(), 255),
        Err(DropReason::NaSolicitedToMulticast)
    );
    // Solicited to unicast is how an answer goes.
    assert_eq!(
        parse(&solicited, ll_a(), ll_b(), 255),
        Ok(na((false, true, false), ll_a(), Some(MAC_A)))
    );
}

#[test]
fn drops_dad_with_source_lla() {
    let target = ll_b();
    assert_eq!(
        parse(
            &build_ns(target, Some(MAC_B)),
            Ipv6Addr::UNSPECIFIED,
            solicited_node(&target),
            255
        ),
        Err(DropReason::DadWithSourceLla)
    );
    // 6.1.1: the same rule for an RS from ::.
    assert_eq!(
        parse(&build_rs(Some(MAC_B)), Ipv6Addr::UNSPECIFIED, ip("ff02::2"), 255),
        Err(DropReason::DadWithSourceLla)
    );
    // Any source LLA option counts, even one that is not a MAC.
    let mut msg = build_ns(target, None);
    msg.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        parse(&msg, Ipv6Addr::UNSPECIFIED, solicited_node(&target), 255),
        Err(DropReason::DadWithSourceLla)
    );
}

#[test]
fn drops_dad_not_solicited_node() {
    let target = ll_b();
    let probe = build_ns(target, None);
    for dst in [all_nodes(), ll_b(), ip("ff02::2")] {
        assert_eq!(
            parse(&probe, Ipv6Addr::UNSPECIFIED, dst, 255),
            Err(DropReason::DadNotSolicitedNode),
            "{dst}"
        );
    }
    // 7.1.1 asks for "a" solicited-node address, not the target's own.
    assert_eq!(
        parse(&probe, Ipv6Addr::UNSPECIFIED, ip("ff02::1:ff00:1"), 255),
        Ok(ns(target, None))
    );
    // The same packet from a real address may go anywhere.
    assert_eq!(parse(&probe, ll_a(), ll_b(), 255), Ok(ns(target, None)));
}

// --- options ---

#[test]
fn unknown_options_are_skipped() {
    let mut msg = build_ra(&RaParams::new(30, None));
    // RFC 4191 route information (24), then a 3-unit unknown option.
    msg.extend_from_slice(&[24, 1, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(&[200, 3]);
    msg.extend_from_slice(&[0xaa; 22]);
    msg.extend_from_slice(&[1, 1]);
    msg.extend_from_slice(&MAC_B);
    assert_eq!(parse(&msg, ll_a(), all_nodes(), 255), Ok(ra(30, Some(MAC_B))));
}

#[test]
fn first_link_layer_option_wins() {
    let mut msg = build_ns(ll_a(), Some(MAC_B));
    msg.extend_from_slice(&[1, 1]);
    msg.extend_from_slice(&MAC_A);
    assert_eq!(
        parse(&msg, ll_b(), solicited_node(&ll_a()), 255),
        Ok(ns(ll_a(), Some(MAC_B)))
    );
}

#[test]
fn non_ethernet_lla_is_not_a_mac() {
    // A 2-unit option (e.g. a 14-byte address): valid, but no MAC.
    let mut msg = build_rs(None);
    msg.extend_from_slice(&[1, 2]);
    msg.extend_from_slice(&[0x11; 14]);
    assert_eq!(parse(&msg, ll_a(), ip("ff02::2"), 255), Ok(rs(None)));
}

#[test]
fn options_for_other_messages_are_ignored() {
    // 7.1.1/7.1.2: an NS's target LLA and an NA's source LLA mean nothing.
    let mut msg = build_ns(ll_a(), None);
    msg.extend_from_slice(&[2, 1]);
    msg.extend_from_slice(&MAC_A);
    assert_eq!(parse(&msg, ll_b(), ll_a(), 255), Ok(ns(ll_a(), None)));
    let mut msg = base_na(0, ll_a(), None);
    msg.extend_from_slice(&[1, 1]);
    msg.extend_from_slice(&MAC_A);
    assert_eq!(
        parse(&msg, ll_a(), ll_b(), 255),
        Ok(na((false, false, false), ll_a(), None))
    );
}

#[test]
fn reserved_bits_are_ignored() {
    // 6.1.x, 7.1.x: reserved fields MUST be ignored: RA Prf/H/P bits, NA
    // reserved bits.
    let mut msg = base_ra();
    msg[5] = 0x3f;
    assert_eq!(parse(&msg, ll_a(), all_nodes(), 255), Ok(ra(1800, Some(MAC_A))));
    let mut msg = base_na(0x1f, ll_a(), None);
    msg[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    assert_eq!(
        parse(&msg, ll_a(), ll_b(), 255),
        Ok(na((false, false, false), ll_a(), None))
    );
}

// --- drop reason names ---

#[test]
fn drop_reason_names_are_unique_snake_case() {
    let names: HashSet<&str> = DropReason::ALL.iter().map(DropReason::as_str).collect();
    assert_eq!(names.len(), DropReason::ALL.len());
    for reason in DropReason::ALL {
        let name = reason.as_str();
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{name}");
        assert_eq!(reason.to_string(), name);
    }
}
