//! Routes as the UPDATE codec, the RIB and the FIB share them.
//!
//! These are values (the `Repr` side); `decode` and `encode` beside them
//! do the wire format. Path attributes are shared between many prefixes, so the
//! RIB keeps them behind an `Arc`.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// ORIGIN (RFC 4271 4.3 / 5.1.1); the order is the decision-process order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// One AS_PATH segment (RFC 4271 4.3, 4-octet ASNs per RFC 6793).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AsSegment {
    Sequence(Vec<u32>),
    Set(Vec<u32>),
    /// RFC 5065 confederation segments: parsed and kept, not counted.
    ConfedSequence(Vec<u32>),
    ConfedSet(Vec<u32>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// Length for the decision process (RFC 4271 9.1.2.2 a): a set counts
    /// as one, confederation segments not at all.
    pub fn len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s {
                AsSegment::Sequence(v) => v.len(),
                AsSegment::Set(_) => 1,
                AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => 0,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| match s {
            AsSegment::Sequence(v) | AsSegment::Set(v) | AsSegment::ConfedSequence(v) | AsSegment::ConfedSet(v) => {
                v.contains(&asn)
            }
        })
    }

    /// The neighbouring AS: the first AS of the first sequence (RFC 4271
    /// 9.1.2.2 c compares MED only between routes from the same one).
    pub fn first_as(&self) -> Option<u32> {
        match self.segments.first() {
            Some(AsSegment::Sequence(v)) => v.first().copied(),
            _ => None,
        }
    }

    /// Our AS in front, as an eBGP speaker does when it sends (RFC 4271 5.1.2).
    pub fn prepend(&self, asn: u32) -> AsPath {
        let mut segments = self.segments.clone();
        match segments.first_mut() {
            Some(AsSegment::Sequence(v)) if v.len() < 255 => v.insert(0, asn),
            _ => segments.insert(0, AsSegment::Sequence(vec![asn])),
        }
        AsPath { segments }
    }
}

/// Where a route's traffic goes, as learned from NEXT_HOP or MP_REACH_NLRI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// NEXT_HOP attribute (IPv4 NLRI with an IPv4 next hop).
    pub ipv4: Option<Ipv4Addr>,
    /// MP_REACH next hop: the global address (or, alone, whatever was sent).
    pub global: Option<Ipv6Addr>,
    /// MP_REACH next hop: the second, link-local address (32-byte form).
    pub link_local: Option<Ipv6Addr>,
}

/// An attribute we do not interpret, passed on if optional transitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    pub flags: u8,
    pub type_code: u8,
    pub value: Vec<u8>,
}

/// The path attributes of one UPDATE (everything but the NLRI).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    pub origin: Option<Origin>,
    pub as_path: AsPath,
    pub next_hop: NextHop,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    /// AGGREGATOR (ASN, address), 4-octet form after AS4 reconciliation.
    pub aggregator: Option<(u32, Ipv4Addr)>,
    pub communities: Vec<u32>,
    pub large_communities: Vec<[u32; 3]>,
    /// Unrecognised optional transitive attributes, passed on with the
    /// partial bit set (RFC 4271 5).
    pub unknown: Vec<RawAttribute>,
}

/// A decoded UPDATE, all address families together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// Withdrawn prefixes (IPv4 field and MP_UNREACH_NLRI).
    pub withdrawn: Vec<IpNet>,
    /// Announced prefixes (IPv4 NLRI field and MP_REACH_NLRI), all with `attributes`.
    pub announced: Vec<IpNet>,
    pub attributes: Option<PathAttributes>,
}
