//! Prefixes as the Withdrawn Routes and NLRI fields and MP_(UN)REACH_NLRI
//! carry them: a length in bits, then as few octets as hold it (RFC 4271
//! 4.3, RFC 4760 5).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::msg::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST};

use super::attr::Reader;

/// The address family of a run of prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// The family of an (AFI, SAFI) we carry: IPv4 or IPv6 unicast.
    pub fn carried(afi: u16, safi: u8) -> Option<Family> {
        match (afi, safi) {
            (AFI_IPV4, SAFI_UNICAST) => Some(Family::Ipv4),
            (AFI_IPV6, SAFI_UNICAST) => Some(Family::Ipv6),
            _ => None,
        }
    }
}

/// Reads prefixes until `field` ends. A prefix longer than its family allows
/// or one that overruns the field makes the whole field syntactically
/// incorrect (RFC 7606 5.3). Host bits past the length are cleared.
pub fn read(field: &[u8], family: Family, out: &mut Vec<IpNet>) -> Result<(), &'static str> {
    let mut r = Reader::new(field);
    while !r.is_empty() {
        let bits = r.u8().ok_or("prefix length missing")?;
        let octets = usize::from(bits).div_ceil(8);
        let net = match family {
            Family::Ipv4 => {
                if bits > 32 {
                    return Err("IPv4 prefix longer than 32 bits");
                }
                let mut addr = [0u8; 4];
                addr[..octets].copy_from_slice(r.take(octets).ok_or("IPv4 prefix overruns its field")?);
                Ipv4Net::new(Ipv4Addr::from(addr), bits)
                    .map(|n| IpNet::V4(n.trunc()))
                    .map_err(|_| "IPv4 prefix longer than 32 bits")?
            }
            Family::Ipv6 => {
                if bits > 128 {
                    return Err("IPv6 prefix longer than 128 bits");
                }
                let mut addr = [0u8; 16];
                addr[..octets].copy_from_slice(r.take(octets).ok_or("IPv6 prefix overruns its field")?);
                Ipv6Net::new(Ipv6Addr::from(addr), bits)
                    .map(|n| IpNet::V6(n.trunc()))
                    .map_err(|_| "IPv6 prefix longer than 128 bits")?
            }
        };
        out.push(net);
    }
    Ok(())
}

/// Octets `net` takes on the wire.
pub fn wire_len(net: &IpNet) -> usize {
    1 + usize::from(net.prefix_len()).div_ceil(8)
}

/// Appends `net` with its host bits cleared.
pub fn write(out: &mut Vec<u8>, net: &IpNet) {
    let octets = usize::from(net.prefix_len()).div_ceil(8);
    out.push(net.prefix_len());
    match net.trunc() {
        IpNet::V4(n) => out.extend_from_slice(&n.addr().octets()[..octets]),
        IpNet::V6(n) => out.extend_from_slice(&n.addr().octets()[..octets]),
    }
}
