//! Neighbor Discovery packets (RFC 4861): validate and parse what the raw
//! ICMPv6 socket hands us, and build the RS, RA and NS we send.
//!
//! The socket gives the ICMPv6 message without the IPv6 header; the caller
//! passes the IPv6 source, destination and received hop limit alongside. The
//! kernel verifies the checksum on receive and fills it in on send, so the
//! parser ignores it and the builders leave it 0.
//!
//! Every validity check of RFC 4861 6.1.1, 6.1.2, 7.1.1 and 7.1.2 that can be
//! made here is made (IPsec AH and the checksum are the kernel's business).
//! A failed check is a [`DropReason`], one per rule, for counters.

use std::fmt;
use std::net::Ipv6Addr;

use etherparse::icmpv6::{
    NeighborAdvertisementHeader, NeighborAdvertisementPayloadSlice, NeighborSolicitationPayloadSlice,
    RouterAdvertisementHeader, RouterAdvertisementPayloadSlice, TYPE_NEIGHBOR_ADVERTISEMENT,
    TYPE_NEIGHBOR_SOLICITATION, TYPE_ROUTER_ADVERTISEMENT, TYPE_ROUTER_SOLICITATION,
};
use etherparse::{Icmpv6Slice, Icmpv6Type};

use crate::iface::{Mac, is_link_local};

/// The all-nodes and all-routers link-scope groups.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Type, code, checksum and the 4 type-specific bytes.
const ICMP_HEADER_LEN: usize = 8;
/// Option types (RFC 4861 4.6.1).
const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;
/// Option lengths count units of 8 octets, type and length bytes included.
const OPT_UNIT: usize = 8;
/// ND messages must arrive with this hop limit: proof they were not routed.
pub const ND_HOP_LIMIT: u8 = 255;

/// A valid ND message, reduced to the fields ndbgp uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdMessage {
    RouterSolicitation {
        source_lla: Option<Mac>,
    },
    RouterAdvertisement {
        cur_hop_limit: u8,
        managed: bool,
        other: bool,
        /// Seconds; 0 means "not a default router", not "gone".
        router_lifetime: u16,
        /// Milliseconds; 0 means unspecified.
        reachable_time: u32,
        /// Milliseconds; 0 means unspecified.
        retrans_timer: u32,
        source_lla: Option<Mac>,
    },
    NeighborSolicitation {
        target: Ipv6Addr,
        source_lla: Option<Mac>,
    },
    NeighborAdvertisement {
        router: bool,
        solicited: bool,
        override_flag: bool,
        target: Ipv6Addr,
        target_lla: Option<Mac>,
    },
}

/// Why a received packet was discarded. RFC 4861 says "silently discard";
/// we count instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Not an ND message we handle (ICMPv6 type outside 133..=136).
    NotNd,
    /// IPv6 hop limit not 255 (6.1.1, 6.1.2, 7.1.1, 7.1.2).
    HopLimit,
    /// ICMP code not 0 (6.1.1, 6.1.2, 7.1.1, 7.1.2).
    BadCode,
    /// Shorter than the message's fixed part: RS 8, RA 16, NS/NA 24 octets
    /// (6.1.1, 6.1.2, 7.1.1, 7.1.2).
    TooShort,
    /// An option with length 0 (6.1.1, 6.1.2, 7.1.1, 7.1.2).
    OptionZeroLength,
    /// An option runs past the end of the message (4.6: options fill
    /// whole units of 8 octets, so a partial one is malformed).
    OptionOverrun,
    /// IPv6 source is multicast (RFC 4291 2.7: never a valid source).
    SourceMulticast,
    /// RA from a source that is not link-local (6.1.2).
    RaSourceNotLinkLocal,
    /// RA or NA from the unspecified address (6.1.2: an RA source must be
    /// link-local; 4.4: an NA source is an address of the sender).
    UnspecifiedSource,
    /// NS or NA target is multicast (7.1.1, 7.1.2).
    TargetMulticast,
    /// NA with the solicited flag sent to a multicast address (7.1.2).
    NaSolicitedToMulticast,
    /// Source :: with a source link-layer address option, in an NS (a DAD
    /// probe, 7.1.1) or an RS (6.1.1).
    DadWithSourceLla,
    /// NS from :: (DAD) to something other than a solicited-node
    /// multicast address (7.1.1).
    DadNotSolicitedNode,
}

impl DropReason {
    /// Every reason, for initialising counters.
    pub const ALL: [DropReason; 13] = [
        DropReason::NotNd,
        DropReason::HopLimit,
        DropReason::BadCode,
        DropReason::TooShort,
        DropReason::OptionZeroLength,
        DropReason::OptionOverrun,
        DropReason::SourceMulticast,
        DropReason::RaSourceNotLinkLocal,
        DropReason::UnspecifiedSource,
        DropReason::TargetMulticast,
        DropReason::NaSolicitedToMulticast,
        DropReason::DadWithSourceLla,
        DropReason::DadNotSolicitedNode,
    ];

    /// Stable snake_case name for counters and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::NotNd => "not_nd",
            DropReason::HopLimit => "hop_limit",
            DropReason::BadCode => "bad_code",
            DropReason::TooShort => "too_short",
            DropReason::OptionZeroLength => "option_zero_length",
            DropReason::OptionOverrun => "option_overrun",
            DropReason::SourceMulticast => "source_multicast",
            DropReason::RaSourceNotLinkLocal => "ra_source_not_link_local",
            DropReason::UnspecifiedSource => "unspecified_source",
            DropReason::TargetMulticast => "target_multicast",
            DropReason::NaSolicitedToMulticast => "na_solicited_to_multicast",
            DropReason::DadWithSourceLla => "dad_with_source_lla",
            DropReason::DadNotSolicitedNode => "dad_not_solicited_node",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validate and parse one received ICMPv6 message.
///
/// `src`, `dst` and `hop_limit` come from the IPv6 header (ancillary data on
/// the raw socket). Never panics, whatever the input.
pub fn parse(icmp: &[u8], src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Result<NdMessage, DropReason> {
    let (header, body) = check_common(icmp, src, hop_limit)?;
    match header.icmp_type() {
        Icmpv6Type::RouterSolicitation => parse_rs(body, src),
        Icmpv6Type::RouterAdvertisement(ra) => parse_ra(&ra, body, src),
        Icmpv6Type::NeighborSolicitation => parse_ns(body, src, dst),
        Icmpv6Type::NeighborAdvertisement(na) => parse_na(&na, body, src, dst),
        // The type is 133..=136 and the code 0, so etherparse has decoded
        // one of the above; a future change there must not panic here.
        _ => Err(DropReason::NotNd),
    }
}

/// The checks every ND message shares (RFC 4861 6.1.1, 6.1.2, 7.1.1,
/// 7.1.2), in the order their drop reasons are counted; then the ICMPv6
/// header and the body after it.
fn check_common(icmp: &[u8], src: Ipv6Addr, hop_limit: u8) -> Result<(Icmpv6Slice<'_>, &[u8]), DropReason> {
    let &msg_type = icmp.first().ok_or(DropReason::TooShort)?;
    let min_len = match msg_type {
        TYPE_ROUTER_SOLICITATION => 8,
        TYPE_ROUTER_ADVERTISEMENT => 16,
        TYPE_NEIGHBOR_SOLICITATION | TYPE_NEIGHBOR_ADVERTISEMENT => 24,
        _ => return Err(DropReason::NotNd),
    };
    // Only 255 proves the sender is on link.
    if hop_limit != ND_HOP_LIMIT {
        return Err(DropReason::HopLimit);
    }
    // ICMP code is 0.
    match icmp.get(1) {
        Some(0) => {}
        Some(_) => return Err(DropReason::BadCode),
        None => return Err(DropReason::TooShort),
    }
    // ICMP length is at least the fixed part.
    if icmp.len() < min_len {
        return Err(DropReason::TooShort);
    }
    // RFC 4291 2.7; the kernel drops these too, but the parser must not
    // learn a multicast "neighbour" if it ever sees one.
    if src.is_multicast() {
        return Err(DropReason::SourceMulticast);
    }
    let (header, body) = icmp.split_at_checked(ICMP_HEADER_LEN).ok_or(DropReason::TooShort)?;
    let header = Icmpv6Slice::from_slice(header).map_err(|_| DropReason::TooShort)?;
    Ok((header, body))
}

/// Router Solicitation: the body is only options (after 4 reserved bytes,
/// which are part of the 8-byte header here).
fn parse_rs(body: &[u8], src: Ipv6Addr) -> Result<NdMessage, DropReason> {
    let options = LinkLayerOptions::read(body)?;
    // 6.1.1: from :: there is no source link-layer address option.
    if src.is_unspecified() && options.source.is_some() {
        return Err(DropReason::DadWithSourceLla);
    }
    Ok(NdMessage::RouterSolicitation {
        source_lla: options.source_mac(),
    })
}

fn parse_ra(ra: &RouterAdvertisementHeader, body: &[u8], src: Ipv6Addr) -> Result<NdMessage, DropReason> {
    let payload = RouterAdvertisementPayloadSlice::from_slice(body).map_err(|_| DropReason::TooShort)?;
    // 6.1.2: the source is link-local, so hosts can tell routers apart; ::
    // gets its own counter since it is a different bug.
    if src.is_unspecified() {
        return Err(DropReason::UnspecifiedSource);
    }
    if !is_link_local(&src) {
        return Err(DropReason::RaSourceNotLinkLocal);
    }
    let options = LinkLayerOptions::read(payload.options())?;
    Ok(NdMessage::RouterAdvertisement {
        cur_hop_limit: ra.cur_hop_limit,
        managed: ra.managed_address_config,
        other: ra.other_config,
        router_lifetime: ra.router_lifetime,
        reachable_time: payload.reachable_time(),
        retrans_timer: payload.retrans_timer(),
        source_lla: options.source_mac(),
    })
}

fn parse_ns(body: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<NdMessage, DropReason> {
    let payload = NeighborSolicitationPayloadSlice::from_slice(body).map_err(|_| DropReason::TooShort)?;
    let target = payload.target_address();
    // 7.1.1: target is not multicast.
    if target.is_multicast() {
        return Err(DropReason::TargetMulticast);
    }
    let options = LinkLayerOptions::read(payload.options())?;
    if src.is_unspecified() {
        // 7.1.1: a DAD probe goes to a solicited-node group (the RFC does
        // not insist on the target's own) and carries no source link-layer
        // address.
        if !is_solicited_node(&dst) {
            return Err(DropReason::DadNotSolicitedNode);
        }
        if options.source.is_some() {
            return Err(DropReason::DadWithSourceLla);
        }
    }
    Ok(NdMessage::NeighborSolicitation {
        target,
        source_lla: options.source_mac(),
    })
}

fn parse_na(
    na: &NeighborAdvertisementHeader,
    body: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
) -> Result<NdMessage, DropReason> {
    let payload = NeighborAdvertisementPayloadSlice::from_slice(body).map_err(|_| DropReason::TooShort)?;
    let target = payload.target_address();
    // 7.1.2: target is not multicast.
    if target.is_multicast() {
        return Err(DropReason::TargetMulticast);
    }
    // 7.1.2: a solicited NA answers one node, so is never multicast.
    if dst.is_multicast() && na.solicited {
        return Err(DropReason::NaSolicitedToMulticast);
    }
    let options = LinkLayerOptions::read(payload.options())?;
    // 4.4: the source is an address assigned to the sender's interface,
    // which :: never is.
    if src.is_unspecified() {
        return Err(DropReason::UnspecifiedSource);
    }
    Ok(NdMessage::NeighborAdvertisement {
        router: na.router,
        solicited: na.solicited,
        override_flag: na.r#override,
        target,
        target_lla: options.target_mac(),
    })
}

/// True for the solicited-node multicast group ff02::1:ff00:0/104
/// (RFC 4291 2.7.1).
pub fn is_solicited_node(addr: &Ipv6Addr) -> bool {
    addr.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// The solicited-node multicast group of `addr` (RFC 4291 2.7.1): where an
/// NS for `addr` is sent.
pub fn solicited_node(addr: &Ipv6Addr) -> Ipv6Addr {
    let [.., a, b, c] = addr.octets();
    Ipv6Addr::from([0xff02, 0, 0, 0, 0, 1, 0xff00 | u16::from(a), u16::from_be_bytes([b, c])])
}

/// The link-layer address options of a message, after checking that every
/// option is well formed.
#[derive(Debug, Default)]
struct LinkLayerOptions<'a> {
    /// Address bytes of the first source link-layer address option.
    source: Option<&'a [u8]>,
    /// Address bytes of the first target link-layer address option.
    target: Option<&'a [u8]>,
}

impl<'a> LinkLayerOptions<'a> {
    /// Walk all options (4.6). Every one must have a non-zero length
    /// (6.1.x, 7.1.x) and end inside the message; unknown ones are skipped
    /// (6.1.1, 6.1.2, 7.1.1, 7.1.2: "MUST be ignored"). A repeated
    /// link-layer option is ignored after the first, as Linux does.
    fn read(mut rest: &'a [u8]) -> Result<Self, DropReason> {
        let mut found = LinkLayerOptions::default();
        while !rest.is_empty() {
            let &[kind, units, ..] = rest else {
                return Err(DropReason::OptionOverrun);
            };
            if units == 0 {
                return Err(DropReason::OptionZeroLength);
            }
            let (option, tail) = rest
                .split_at_checked(usize::from(units) * OPT_UNIT)
                .ok_or(DropReason::OptionOverrun)?;
            let [_, _, address @ ..] = option else {
                return Err(DropReason::OptionOverrun);
            };
            match kind {
                OPT_SOURCE_LLA => {
                    found.source.get_or_insert(address);
                }
                OPT_TARGET_LLA => {
                    found.target.get_or_insert(address);
                }
                _ => {}
            }
            rest = tail;
        }
        Ok(found)
    }

    fn source_mac(&self) -> Option<Mac> {
        self.source.and_then(as_mac)
    }

    fn target_mac(&self) -> Option<Mac> {
        self.target.and_then(as_mac)
    }
}

/// An Ethernet link-layer address option is exactly one unit: 2 header
/// bytes and a 6-byte MAC (RFC 2464 8). Other sizes belong to other link
/// types and are not a MAC: the message stays valid, the MAC unknown.
fn as_mac(address: &[u8]) -> Option<Mac> {
    Mac::try_from(address).ok()
}

/// What we put in our Router Advertisements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaParams {
    pub cur_hop_limit: u8,
    pub managed: bool,
    pub other: bool,
    /// Seconds. BIRD only dials a neighbour whose RAs carry a non-zero
    /// lifetime (docs/ARCHITECTURE.md section 5); FRR dials either way.
    pub router_lifetime: u16,
    /// Milliseconds, 0 = unspecified.
    pub reachable_time: u32,
    /// Milliseconds, 0 = unspecified.
    pub retrans_timer: u32,
    pub source_lla: Option<Mac>,
}

impl RaParams {
    /// An RA as FRR, BIRD and radvd send it by default: hop limit 64, no
    /// M/O flags, reachable time and retransmit timer unspecified.
    pub fn new(router_lifetime: u16, source_lla: Option<Mac>) -> Self {
        RaParams {
            cur_hop_limit: 64,
            managed: false,
            other: false,
            router_lifetime,
            reachable_time: 0,
            retrans_timer: 0,
            source_lla,
        }
    }
}

/// Build a Router Advertisement (RFC 4861 4.2), checksum 0.
pub fn build_ra(params: &RaParams) -> Vec<u8> {
    let mut flags = 0u8;
    if params.managed {
        flags |= 0x80;
    }
    if params.other {
        flags |= 0x40;
    }
    let mut msg = Vec::with_capacity(16 + OPT_UNIT);
    msg.extend_from_slice(&[TYPE_ROUTER_ADVERTISEMENT, 0, 0, 0]);
    msg.push(params.cur_hop_limit);
    msg.push(flags);
    msg.extend_from_slice(&params.router_lifetime.to_be_bytes());
    msg.extend_from_slice(&params.reachable_time.to_be_bytes());
    msg.extend_from_slice(&params.retrans_timer.to_be_bytes());
    push_lla_option(&mut msg, OPT_SOURCE_LLA, params.source_lla);
    msg
}

/// Build a Router Solicitation (RFC 4861 4.1), checksum 0. Pass no MAC when
/// sending from :: (6.1.1).
pub fn build_rs(source_lla: Option<Mac>) -> Vec<u8> {
    let mut msg = Vec::with_capacity(ICMP_HEADER_LEN + OPT_UNIT);
    msg.extend_from_slice(&[TYPE_ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0]);
    push_lla_option(&mut msg, OPT_SOURCE_LLA, source_lla);
    msg
}

/// Build a Neighbor Solicitation for `target` (RFC 4861 4.3), checksum 0.
/// Pass no MAC for a DAD probe from :: (7.1.1).
pub fn build_ns(target: Ipv6Addr, source_lla: Option<Mac>) -> Vec<u8> {
    let mut msg = Vec::with_capacity(24 + OPT_UNIT);
    msg.extend_from_slice(&[TYPE_NEIGHBOR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(&target.octets());
    push_lla_option(&mut msg, OPT_SOURCE_LLA, source_lla);
    msg
}

/// Append a one-unit Ethernet link-layer address option (4.6.1).
fn push_lla_option(msg: &mut Vec<u8>, kind: u8, mac: Option<Mac>) {
    if let Some(mac) = mac {
        msg.extend_from_slice(&[kind, 1]);
        msg.extend_from_slice(&mac);
    }
}

#[cfg(test)]
mod tests;
