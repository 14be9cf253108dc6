//! Feed arbitrary ICMPv6 payloads to the ND parser. The first byte picks
//! the IPv6 source, destination and hop limit so every validation path is
//! reachable; the rest is the message. Whatever parses must survive a trip
//! through our builders unchanged.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use ndbgp::nd::packet::{NdMessage, RaParams, build_ns, build_ra, build_rs, parse, solicited_node};

const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1, 0x2, 0x3, 0x4);

fuzz_target!(|data: &[u8]| {
    let Some((&selector, icmp)) = data.split_first() else {
        return;
    };
    let src = match selector & 0b11 {
        0 => LINK_LOCAL,
        1 => Ipv6Addr::UNSPECIFIED,
        2 => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        _ => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
    };
    let dst = match (selector >> 2) & 0b11 {
        0 => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        1 => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff03, 0x4),
        2 => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9),
        _ => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2),
    };
    // Mostly 255, or nothing past the hop limit check would be reached.
    let hop_limit = if selector & 0b1111_0000 == 0b1111_0000 { 64 } else { 255 };

    let Ok(msg) = parse(icmp, src, dst, hop_limit) else {
        return;
    };
    // Rebuild what we can build and parse it back from a plain link-local
    // sender: the fields must come back the same.
    let rebuilt = match msg {
        NdMessage::RouterAdvertisement {
            cur_hop_limit,
            managed,
            other,
            router_lifetime,
            reachable_time,
            retrans_timer,
            source_lla,
        } => {
            let params = RaParams {
                cur_hop_limit,
                managed,
                other,
                router_lifetime,
                reachable_time,
                retrans_timer,
                source_lla,
            };
            parse(&build_ra(&params), LINK_LOCAL, dst, 255)
        }
        NdMessage::RouterSolicitation { source_lla } => parse(&build_rs(source_lla), LINK_LOCAL, dst, 255),
        NdMessage::NeighborSolicitation { target, source_lla } => {
            parse(&build_ns(target, source_lla), LINK_LOCAL, solicited_node(&target), 255)
        }
        NdMessage::NeighborAdvertisement { .. } => return,
    };
    assert_eq!(rebuilt, Ok(msg));
});
