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

pub fn read() -> io::Result<HostAddresses> {
    let mut out = HostAddresses::default();
    for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        let Some(address) = ifa.address else { continue };
        let loopback = ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK);
        let mask = ifa.netmask;
        let net = if let Some(a) = address.as_sockaddr_in() {
            let len = mask.and_then(|m| m.as_sockaddr_in().map(|m| u32::from(m.ip()).count_ones()));
            IpNet::new(IpAddr::V4(a.ip()), len.unwrap_or(32) as u8).ok()
        } else if let Some(a) = address.as_sockaddr_in6() {
            let len = mask.and_then(|m| m.as_sockaddr_in6().map(|m| u128::from(m.ip()).count_ones()));
            IpNet::new(IpAddr::V6(a.ip()), len.unwrap_or(128) as u8).ok()
        } else {
            if let Some(mac) = address.as_link_addr().and_then(|l| l.addr()) {
                out.macs.push((ifa.interface_name, mac));
            }
            continue;
        };
        if let Some(net) = net {
            out.addresses.push(HostAddress {
                interface: ifa.interface_name,
                loopback,
                net,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every namespace has a loopback with 127.0.0.1/8 and a MAC-less lo.
    #[test]
    fn reads_the_loopback() {
        let host = read().expect("getifaddrs");
        let lo = host
            .addresses
            .iter()
            .find(|a| a.net == "127.0.0.1/8".parse::<IpNet>().unwrap())
            .expect("127.0.0.1/8");
        assert!(lo.loopback, "{lo:?}");
        assert!(
            host.addresses
                .iter()
                .all(|a| a.net.prefix_len() <= a.net.max_prefix_len())
        );
    }
}
