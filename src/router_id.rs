//! Choosing the BGP identifier when none is configured.
//!
//! Order (like FRR's zebra): the highest IPv4 address on the loopback, else
//! the highest on any interface, else four bytes of the first configured
//! interface's MAC. Router IDs must be unique in a fabric: MACs are, and
//! collision detection (RFC 4271 6.8) depends on it.

use std::net::{IpAddr, Ipv4Addr};

use tracing::warn;

use crate::iface::Mac;
use crate::links::addresses;

/// Where the router ID came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Configured,
    Loopback,
    Interface,
    Mac,
}

impl Origin {
    pub fn describe(self, iface: &str) -> String {
        match self {
            Origin::Configured => "from --router-id".into(),
            Origin::Loopback => "highest IPv4 address on the loopback".into(),
            Origin::Interface => "highest IPv4 address on an interface".into(),
            Origin::Mac => format!("derived from the MAC of {iface}"),
        }
    }
}

/// `addrs` are (interface name, is loopback, IPv4 address); `mac` is that of
/// the first configured interface if known.
pub fn choose(
    configured: Option<Ipv4Addr>,
    addrs: &[(String, bool, Ipv4Addr)],
    mac: Option<Mac>,
) -> Option<(Ipv4Addr, Origin)> {
    if let Some(id) = configured {
        return Some((id, Origin::Configured));
    }
    let usable = |a: &Ipv4Addr| !a.is_loopback() && !a.is_unspecified() && !a.is_link_local() && !a.is_multicast();
    let highest = |on_loopback: bool| {
        addrs
            .iter()
            .filter(|(_, lo, a)| (!on_loopback || *lo) && usable(a))
            .map(|(_, _, a)| *a)
            .max()
    };
    if let Some(id) = highest(true) {
        return Some((id, Origin::Loopback));
    }
    if let Some(id) = highest(false) {
        return Some((id, Origin::Interface));
    }
    // The low four bytes of the MAC carry the most entropy (the high ones are
    // the vendor OUI). Avoid 0.0.0.0, which RFC 4271 6.2 forbids.
    let m = mac?;
    let id = Ipv4Addr::new(m[2], m[3], m[4], m[5]);
    (!id.is_unspecified()).then_some((id, Origin::Mac))
}

/// IPv4 addresses of this namespace's interfaces, and the MAC of `first_iface`.
pub fn system_addresses(first_iface: &str) -> (Vec<(String, bool, Ipv4Addr)>, Option<Mac>) {
    let host = match addresses::read() {
        Ok(host) => host,
        Err(e) => {
            warn!("cannot read interface addresses for the router ID: {e}");
            return (Vec::new(), None);
        }
    };
    let v4 = host
        .addresses
        .iter()
        .filter_map(|a| match a.net.addr() {
            IpAddr::V4(ip) => Some((a.interface.clone(), a.loopback, ip)),
            IpAddr::V6(_) => None,
        })
        .collect();
    (v4, host.mac_of(first_iface))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str, lo: bool, ip: &str) -> (String, bool, Ipv4Addr) {
        (name.into(), lo, ip.parse().unwrap())
    }

    #[test]
    fn preference_order() {
        let addrs = vec![
            a("lo", true, "127.0.0.1"),
            a("lo", true, "10.0.0.1"),
            a("lo", true, "10.0.0.9"),
            a("eth0", false, "192.0.2.200"),
        ];
        let mac = Some([2, 0, 1, 2, 3, 4]);
        assert_eq!(
            choose(Some("1.1.1.1".parse().unwrap()), &addrs, mac),
            Some(("1.1.1.1".parse().unwrap(), Origin::Configured))
        );
        assert_eq!(
            choose(None, &addrs, mac),
            Some(("10.0.0.9".parse().unwrap(), Origin::Loopback))
        );
        let no_lo = vec![
            a("lo", true, "127.0.0.1"),
            a("eth0", false, "192.0.2.200"),
            a("eth1", false, "169.254.1.1"),
        ];
        assert_eq!(
            choose(None, &no_lo, mac),
            Some(("192.0.2.200".parse().unwrap(), Origin::Interface))
        );
        assert_eq!(choose(None, &[], mac), Some(("1.2.3.4".parse().unwrap(), Origin::Mac)));
        assert_eq!(choose(None, &[], None), None);
        assert_eq!(choose(None, &[], Some([2, 0, 0, 0, 0, 0])), None);
    }
}
