//! Routes to UPDATE messages: a packer that puts as many prefixes in each
//! message as fit in 4096 octets (RFC 4271 4.1).
//!
//! One message carries one kind of NLRI: IPv4 in the NLRI field with a
//! NEXT_HOP, IPv4 in MP_REACH_NLRI with an IPv6 next hop (RFC 8950), or
//! IPv6 in MP_REACH_NLRI; withdrawals go in messages of their own. Attributes
//! go MP_(UN)REACH_NLRI first, as RFC 7606 5.1 asks so that a receiver can
//! still find the NLRI if a later attribute is malformed, then by type code.

use std::borrow::Borrow;

use ipnet::IpNet;

use crate::msg::update::{NextHop, Origin, PathAttributes};
use crate::msg::{AFI_IPV4, AFI_IPV6, HEADER_LEN, KEEPALIVE, MAX_MESSAGE_LEN, SAFI_UNICAST, msg_type};

use super::EncodeContext;
use super::aspath::{self, AsnWidth};
use super::attr::{self, flag, type_code as tc};
use super::nlri;

/// Withdrawn Routes Length and Total Path Attribute Length.
const LENGTH_FIELDS: usize = 4;
/// Flags, type and a 2-octet length: MP attributes always use the extended
/// length, as FRR and BIRD do, so their header size does not depend on the
/// NLRI.
const MP_ATTR_HEADER: usize = 4;
/// AFI, SAFI, Length of Next Hop, and Reserved.
const MP_REACH_FIXED: usize = 5;
/// AFI and SAFI.
const MP_UNREACH_FIXED: usize = 3;

/// Routes that cannot be put in an UPDATE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("attributes of announcement group {group} take {len} octets: no prefix fits beside them in 4096")]
    AttributesTooLong { group: usize, len: usize },
    #[error("announcement group {group}: no next hop that can carry {prefix}")]
    NoNextHop { group: usize, prefix: IpNet },
}

/// Packs withdrawals and announcements into whole UPDATE messages, header
/// included, each at most 4096 octets: first the withdrawals, then each
/// group of prefixes that share attributes, in the order given.
///
/// An IPv4 prefix goes in the NLRI field when `next_hop.ipv4` is set, else
/// in MP_REACH_NLRI with the IPv6 next hop (RFC 8950: the peer must have
/// sent the extended next hop capability). An IPv6 prefix needs an IPv6 next
/// hop: global and link-local in 32 octets, or either alone in 16 (RFC 2545
/// 3). IPv4 withdrawals use the Withdrawn Routes field, IPv6 ones
/// MP_UNREACH_NLRI. Prefixes are sent with their host bits cleared, each as
/// often as it is given.
///
/// Attributes are sent as they are: ORIGIN must be set; LOCAL_PREF only
/// belongs to internal peers (RFC 4271 5.1.5). `unknown` attributes go out
/// optional transitive with the Partial bit set (RFC 4271 5), except those
/// whose type this codec writes itself.
pub fn encode<A, P>(announce: &[(A, P)], withdraw: &[IpNet], ctx: &EncodeContext) -> Result<Vec<Vec<u8>>, PackError>
where
    A: Borrow<PathAttributes>,
    P: AsRef<[IpNet]>,
{
    let mut out = Vec::new();
    let v4 = withdraw.iter().filter(|p| matches!(p, IpNet::V4(_)));
    for run in runs(v4, MAX_MESSAGE_LEN - HEADER_LEN - LENGTH_FIELDS).unwrap_or_default() {
        out.push(message(&run, &[], &[]));
    }
    let v6 = withdraw.iter().filter(|p| matches!(p, IpNet::V6(_)));
    let room = MAX_MESSAGE_LEN - HEADER_LEN - LENGTH_FIELDS - MP_ATTR_HEADER - MP_UNREACH_FIXED;
    for run in runs(v6, room).unwrap_or_default() {
        out.push(message(&[], &mp_unreach(AFI_IPV6, SAFI_UNICAST, &run), &[]));
    }

    for (group, (attrs, prefixes)) in announce.iter().enumerate() {
        let attrs: &PathAttributes = attrs.borrow();
        let prefixes = prefixes.as_ref();
        let nh = &attrs.next_hop;
        let v6_next_hop = mp_next_hop(nh);
        if let Some(prefix) = prefixes.iter().find(|p| match p {
            IpNet::V4(_) => nh.ipv4.is_none() && v6_next_hop.is_empty(),
            IpNet::V6(_) => v6_next_hop.is_empty(),
        }) {
            return Err(PackError::NoNextHop { group, prefix: *prefix });
        }
        let common = attributes(attrs, ctx);
        let too_long = |len| PackError::AttributesTooLong { group, len };

        if let Some(ipv4) = nh.ipv4 {
            let mut parts = common.clone();
            parts.push(part(flag::WELL_KNOWN, tc::NEXT_HOP, &ipv4.octets()));
            let attrs = join(None, parts);
            let fixed = HEADER_LEN + LENGTH_FIELDS + attrs.len();
            let classic = prefixes.iter().filter(|p| matches!(p, IpNet::V4(_)));
            let room = MAX_MESSAGE_LEN.checked_sub(fixed).ok_or(too_long(fixed))?;
            for run in runs(classic, room).ok_or(too_long(fixed))? {
                out.push(message(&[], &attrs, &run));
            }
        }

        // RFC 8950 for IPv4 without an IPv4 next hop; IPv6 always.
        let mp_v4 = prefixes
            .iter()
            .filter(|p| nh.ipv4.is_none() && matches!(p, IpNet::V4(_)));
        let mp_v6 = prefixes.iter().filter(|p| matches!(p, IpNet::V6(_)));
        let rest = join(None, common);
        let fixed = HEADER_LEN + LENGTH_FIELDS + MP_ATTR_HEADER + MP_REACH_FIXED + v6_next_hop.len() + rest.len();
        for (afi, family) in [(AFI_IPV4, mp_v4.collect::<Vec<_>>()), (AFI_IPV6, mp_v6.collect())] {
            if family.is_empty() {
                continue;
            }
            let room = MAX_MESSAGE_LEN.checked_sub(fixed).ok_or(too_long(fixed))?;
            for run in runs(family.into_iter(), room).ok_or(too_long(fixed))? {
                let mut attrs = mp_reach(afi, SAFI_UNICAST, &v6_next_hop, &run);
                attrs.extend_from_slice(&rest);
                out.push(message(&[], &attrs, &[]));
            }
        }
    }
    Ok(out)
}

/// The End-of-RIB marker of (AFI, SAFI) as a whole message (RFC 4724 2):
/// an empty UPDATE for IPv4 unicast, else one with an empty MP_UNREACH_NLRI.
pub fn end_of_rib(afi: u16, safi: u8) -> Vec<u8> {
    if (afi, safi) == (AFI_IPV4, SAFI_UNICAST) {
        return message(&[], &[], &[]);
    }
    let mut attrs = Vec::new();
    let [hi, lo] = afi.to_be_bytes();
    attr::write(&mut attrs, flag::OPTIONAL, tc::MP_UNREACH_NLRI, &[hi, lo, safi]);
    message(&[], &attrs, &[])
}

/// Cuts prefixes into runs of encoded NLRI of at most `room` octets; `None`
/// if not even one prefix fits.
fn runs<'a>(prefixes: impl Iterator<Item = &'a IpNet>, room: usize) -> Option<Vec<Vec<u8>>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for p in prefixes {
        let len = nlri::wire_len(p);
        if len > room {
            return None;
        }
        if run.len() + len > room {
            runs.push(std::mem::take(&mut run));
        }
        nlri::write(&mut run, p);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    Some(runs)
}

/// A whole UPDATE message; the packer keeps it within 4096 octets.
fn message(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let len = HEADER_LEN + LENGTH_FIELDS + withdrawn.len() + attrs.len() + nlri.len();
    debug_assert!(len <= MAX_MESSAGE_LEN, "packer overfilled an UPDATE: {len}");
    let field_len = |n: usize| u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&KEEPALIVE[..16]);
    m.extend_from_slice(&field_len(len));
    m.push(msg_type::UPDATE);
    m.extend_from_slice(&field_len(withdrawn.len()));
    m.extend_from_slice(withdrawn);
    m.extend_from_slice(&field_len(attrs.len()));
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    m
}

/// One encoded attribute, keyed by type code for sorting.
type Part = (u8, Vec<u8>);

fn part(flags: u8, type_code: u8, value: &[u8]) -> Part {
    let mut out = Vec::with_capacity(value.len() + 4);
    attr::write(&mut out, flags, type_code, value);
    (type_code, out)
}

/// `first`, then `parts` by type code.
fn join(first: Option<Vec<u8>>, mut parts: Vec<Part>) -> Vec<u8> {
    parts.sort_by_key(|(type_code, _)| *type_code);
    let mut out = first.unwrap_or_default();
    for (_, bytes) in parts {
        out.extend_from_slice(&bytes);
    }
    out
}

/// Every attribute but NEXT_HOP and MP_REACH_NLRI.
fn attributes(attrs: &PathAttributes, ctx: &EncodeContext) -> Vec<Part> {
    let width = if ctx.four_octet_as {
        AsnWidth::Four
    } else {
        AsnWidth::Two
    };
    let mut parts = Vec::new();
    if let Some(origin) = attrs.origin {
        let value = match origin {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        };
        parts.push(part(flag::WELL_KNOWN, tc::ORIGIN, &[value]));
    }
    let mut path = Vec::new();
    aspath::write(&mut path, &attrs.as_path, width);
    parts.push(part(flag::WELL_KNOWN, tc::AS_PATH, &path));
    if let Some(med) = attrs.med {
        parts.push(part(flag::OPTIONAL, tc::MULTI_EXIT_DISC, &med.to_be_bytes()));
    }
    if let Some(local_pref) = attrs.local_pref {
        parts.push(part(flag::WELL_KNOWN, tc::LOCAL_PREF, &local_pref.to_be_bytes()));
    }
    if attrs.atomic_aggregate {
        parts.push(part(flag::WELL_KNOWN, tc::ATOMIC_AGGREGATE, &[]));
    }
    let optional_transitive = flag::OPTIONAL | flag::TRANSITIVE;
    if let Some((asn, addr)) = attrs.aggregator {
        let mut value = Vec::with_capacity(8);
        match width {
            AsnWidth::Four => value.extend_from_slice(&asn.to_be_bytes()),
            AsnWidth::Two => value.extend_from_slice(&aspath::two_octet(asn).to_be_bytes()),
        }
        value.extend_from_slice(&addr.octets());
        parts.push(part(optional_transitive, tc::AGGREGATOR, &value));
        // RFC 6793 4.2.2.
        if width == AsnWidth::Two && asn > u32::from(u16::MAX) {
            let mut value = asn.to_be_bytes().to_vec();
            value.extend_from_slice(&addr.octets());
            parts.push(part(optional_transitive, tc::AS4_AGGREGATOR, &value));
        }
    }
    if !attrs.communities.is_empty() {
        let value: Vec<u8> = attrs.communities.iter().flat_map(|c| c.to_be_bytes()).collect();
        parts.push(part(optional_transitive, tc::COMMUNITIES, &value));
    }
    if width == AsnWidth::Two
        && let Some(as4_path) = aspath::as4_path_for(&attrs.as_path)
    {
        let mut value = Vec::new();
        aspath::write(&mut value, &as4_path, AsnWidth::Four);
        parts.push(part(optional_transitive, tc::AS4_PATH, &value));
    }
    if !attrs.large_communities.is_empty() {
        let value: Vec<u8> = attrs
            .large_communities
            .iter()
            .flat_map(|lc| lc.iter().flat_map(|w| w.to_be_bytes()))
            .collect();
        parts.push(part(optional_transitive, tc::LARGE_COMMUNITIES, &value));
    }
    for raw in &attrs.unknown {
        let ours = tc::INTERPRETED.contains(&raw.type_code);
        if !ours && !parts.iter().any(|(t, _)| *t == raw.type_code) {
            parts.push(part(optional_transitive | flag::PARTIAL, raw.type_code, &raw.value));
        }
    }
    parts
}

/// The Network Address of Next Hop field for an IPv6 next hop; empty if
/// there is none.
fn mp_next_hop(nh: &NextHop) -> Vec<u8> {
    [nh.global, nh.link_local]
        .iter()
        .flatten()
        .flat_map(|a| a.octets())
        .collect()
}

fn mp_reach(afi: u16, safi: u8, next_hop: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(MP_REACH_FIXED + next_hop.len() + nlri.len());
    value.extend_from_slice(&afi.to_be_bytes());
    value.push(safi);
    value.push(u8::try_from(next_hop.len()).unwrap_or(u8::MAX));
    value.extend_from_slice(next_hop);
    value.push(0);
    value.extend_from_slice(nlri);
    mp_attr(tc::MP_REACH_NLRI, &value)
}

fn mp_unreach(afi: u16, safi: u8, nlri: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(MP_UNREACH_FIXED + nlri.len());
    value.extend_from_slice(&afi.to_be_bytes());
    value.push(safi);
    value.extend_from_slice(nlri);
    mp_attr(tc::MP_UNREACH_NLRI, &value)
}

/// An MP attribute, always with the Extended Length bit (see MP_ATTR_HEADER).
fn mp_attr(type_code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MP_ATTR_HEADER + value.len());
    out.extend_from_slice(&[flag::OPTIONAL | flag::EXTENDED_LENGTH, type_code]);
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(value);
    out
}
