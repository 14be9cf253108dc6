//! The addresses of this namespace's interfaces, read with getifaddrs: one
//! reader for the router ID (IPv4 addresses, a MAC) and for the routes
//! task (next hop self, redistribution of connected prefixes).

use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use nix::net::if_::InterfaceFlags;

use crate::iface::Mac;

/// One address on one interface, with its prefix length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddress {
    pub interface: String,
    pub loopback: bool,
    pub net: IpNet,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostAddresses {
    /// IPv4 and IPv6 addresses, in the kernel's order.
    pub addresses: Vec<HostAddress>,
    /// Interface name -> hardware address, for those that have one.
    pub macs: Vec<(String, Mac)>,
}

impl HostAddresses {
    pub fn mac_of(&self, interface: &str) -> Option<Mac> {
        self.macs
            .iter()
            .find(|(name, _)| name == interface)
            .map(|(_, mac)| *mac)
    }
}

/// Addresses without a netmask (none on Linux) are left out.
pub fn read() -> io::Result<HostAddresses> {
    let mut out = HostAddresses::default();
    for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        let Some(address) = ifa.address else { continue };
        if let Some(mac) = address.as_link_addr().and_then(|l| l.addr()) {
            out.macs.push((ifa.interface_name, mac));
            continue;
        }
        let Some(mask) = ifa.netmask else { continue };
        let net = if let (Some(a), Some(m)) = (address.as_sockaddr_in(), mask.as_sockaddr_in()) {
            IpNet::new(IpAddr::V4(a.ip()), u32::from(m.ip()).count_ones() as u8)
        } else if let (Some(a), Some(m)) = (address.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            IpNet::new(IpAddr::V6(a.ip()), u128::from(m.ip()).count_ones() as u8)
        } else {
            continue;
        };
        if let Ok(net) = net {
            out.addresses.push(HostAddress {
                interface: ifa.interface_name,
                loopback: ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                net,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every IPv6 address the kernel lists in /proc/net/if_inet6 (no root
    /// needed) is read, on its interface, with its prefix length.
    #[test]
    fn reads_what_the_kernel_lists() {
        let host = read().expect("getifaddrs");
        let Ok(listed) = std::fs::read_to_string("/proc/net/if_inet6") else {
            return; // IPv6 disabled: nothing to compare with
        };
        for line in listed.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let hex = u128::from_str_radix(f[0], 16).expect("address");
            let len = u8::from_str_radix(f[2], 16).expect("prefix length");
            let net = IpNet::new(IpAddr::V6(hex.into()), len).expect("prefix");
            assert!(
                host.addresses.iter().any(|a| a.net == net && a.interface == f[5]),
                "{net} on {} not read: {host:?}",
                f[5]
            );
        }
    }
}
