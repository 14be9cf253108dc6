//! The state of one configured interface as the netlink watcher sees it.
//!
//! The watcher owns this state and publishes whole snapshots on a
//! `tokio::sync::watch` channel; every other stage only reads them.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

/// A MAC address.
pub type Mac = [u8; 6];

/// One link-local address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLocal {
    pub addr: Ipv6Addr,
    /// Still in duplicate address detection: must not be used as a source.
    pub tentative: bool,
}

/// What we know of one configured interface that exists in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub name: String,
    pub ifindex: u32,
    /// Operationally up (IFF_UP and carrier; oper state UP or UNKNOWN).
    pub up: bool,
    pub mac: Option<Mac>,
    pub link_locals: Vec<LinkLocal>,
}

impl LinkState {
    /// The link-local address we may send from and bind to: the first one
    /// that has left duplicate address detection.
    pub fn usable_link_local(&self) -> Option<Ipv6Addr> {
        self.link_locals.iter().find(|ll| !ll.tentative).map(|ll| ll.addr)
    }
}

/// All configured interfaces present in the kernel, keyed by name. A
/// configured interface that does not exist (yet) is simply absent.
pub type Links = BTreeMap<String, LinkState>;

/// Format a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(mac: &Mac) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// True for fe80::/10.
pub fn is_link_local(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_range() {
        assert!(is_link_local(&"fe80::1".parse().unwrap()));
        assert!(is_link_local(&"febf::1".parse().unwrap()));
        assert!(!is_link_local(&"fec0::1".parse().unwrap()));
        assert!(!is_link_local(&"2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn usable_skips_tentative() {
        let st = LinkState {
            name: "eth0".into(),
            ifindex: 2,
            up: true,
            mac: None,
            link_locals: vec![
                LinkLocal {
                    addr: "fe80::1".parse().unwrap(),
                    tentative: true,
                },
                LinkLocal {
                    addr: "fe80::2".parse().unwrap(),
                    tentative: false,
                },
            ],
        };
        assert_eq!(st.usable_link_local(), Some("fe80::2".parse().unwrap()));
        assert_eq!(fmt_mac(&[0, 1, 0xab, 3, 4, 5]), "00:01:ab:03:04:05");
    }
}
