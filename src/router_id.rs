//! The router ID's one owner.
//!
//! `--router-id` if given; else, like FRR's zebra, the highest IPv4 address
//! on the loopback, else the highest on any interface; else four bytes of
//! the MAC of the first configured interface that has one. Router IDs must
//! be unique in a fabric: MACs are, and collision detection (RFC 4271 6.8)
//! depends on it.
//!
//! [`follow`] recomputes it from the links watcher's address snapshot and
//! publishes it on a `watch` channel, which the BGP sessions (for their
//! next connection) and the routes task (for the RIB's local paths) read.

use std::net::{IpAddr, Ipv4Addr};

use tokio::sync::watch;
use tracing::info;

use crate::actor::Probes;
use crate::iface::HostAddresses;

/// Where the router ID came from, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Configured,
    Loopback,
    Interface,
    Mac { interface: String },
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::Configured => "from --router-id".into(),
            Origin::Loopback => "highest IPv4 address on the loopback".into(),
            Origin::Interface => "highest IPv4 address on an interface".into(),
            Origin::Mac { interface } => format!("derived from the MAC of {interface}"),
        }
    }
}

/// The router ID for `host`'s addresses, `interfaces` being the configured
/// ones in order; None while there is nothing to derive it from.
pub fn choose(configured: Option<Ipv4Addr>, host: &HostAddresses, interfaces: &[String]) -> Option<(Ipv4Addr, Origin)> {
    if let Some(id) = configured {
        return Some((id, Origin::Configured));
    }
    // The watcher publishes routable unicast addresses only.
    let highest = |on_loopback: bool| {
        host.addresses()
            .filter(|(_, link, _)| !on_loopback || link.loopback)
            .filter_map(|(_, _, net)| match net.addr() {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .max()
    };
    if let Some(id) = highest(true) {
        return Some((id, Origin::Loopback));
    }
    if let Some(id) = highest(false) {
        return Some((id, Origin::Interface));
    }
    let (interface, m) = interfaces
        .iter()
        .find_map(|name| host.links.get(name).and_then(|l| l.mac).map(|mac| (name, mac)))?;
    // The low four bytes of the MAC carry the most entropy (the high ones are
    // the vendor OUI). Avoid 0.0.0.0, which RFC 4271 6.2 forbids.
    let id = Ipv4Addr::new(m[2], m[3], m[4], m[5]);
    let origin = Origin::Mac {
        interface: interface.clone(),
    };
    (!id.is_unspecified()).then_some((id, origin))
}

/// Keep `out` set to the router ID [`choose`] picks from the latest
/// `addresses` and `interfaces`, logging it once chosen (whatever its
/// origin) and at each change. Once chosen it never goes back to
/// unspecified: when nothing to derive it from is left, the last one
/// stays. Without `configured`, nothing is chosen before the first address
/// snapshot. Returns when the `addresses` sender is gone. Answers `probes`
/// while it waits.
///
/// Established sessions are not reset on a change (FRR resets them): a
/// derived ID changes when an operator adds an address, which should not
/// flap the fabric. A session keeps its ID while it holds a connection (its
/// OPENs and collision checks must agree) and takes the current one with
/// the next connection it takes while holding none: a new session, or a
/// reconnection after the peer reset it or a dial failed.
pub async fn follow(
    configured: Option<Ipv4Addr>,
    mut interfaces: watch::Receiver<Vec<String>>,
    mut addresses: watch::Receiver<HostAddresses>,
    out: watch::Sender<Ipv4Addr>,
    mut probes: Probes,
) {
    if configured.is_none() {
        let first = tokio::select! {
            changed = addresses.changed() => changed,
            never = probes.answer() => match never {},
        };
        if first.is_err() {
            return;
        }
    }
    let mut interfaces_open = true;
    let mut said_waiting = false;
    // The router ID last logged: the first is logged whatever its origin.
    let mut logged = None;
    loop {
        let chosen = {
            let host = addresses.borrow_and_update();
            let names = interfaces.borrow_and_update();
            choose(configured, &host, &names)
        };
        let current = *out.borrow();
        match chosen {
            Some((id, origin)) if logged != Some(id) => {
                match logged {
                    None => info!("router ID {id} ({})", origin.describe()),
                    Some(was) => info!(
                        "router ID {id} ({}), was {was}: connected sessions keep {was} until their connection ends",
                        origin.describe()
                    ),
                }
                logged = Some(id);
                if id != current {
                    out.send_replace(id);
                }
            }
            Some(_) => {}
            None if current.is_unspecified() && !said_waiting => {
                said_waiting = true;
                info!("router ID: no IPv4 address here and no configured interface with a MAC yet; waiting");
            }
            None => {}
        }
        tokio::select! {
            changed = addresses.changed() => if changed.is_err() {
                return;
            },
            changed = interfaces.changed(), if interfaces_open => if changed.is_err() {
                interfaces_open = false;
            },
            never = probes.answer() => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::actor::{self, Supervisor};
    use crate::iface::{HostLink, Mac};

    fn link(ifindex: u32, loopback: bool, mac: Option<Mac>, nets: &[&str]) -> HostLink {
        HostLink {
            ifindex,
            loopback,
            mac,
            addresses: nets.iter().map(|n| n.parse().expect("test prefix")).collect(),
        }
    }

    fn host(links: Vec<(&str, HostLink)>) -> HostAddresses {
        HostAddresses {
            links: links.into_iter().map(|(n, l)| (n.to_string(), l)).collect(),
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test address")
    }

    const MAC: Mac = [2, 0, 1, 2, 3, 4];

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn preference_order() {
        let all = host(vec![
            ("lo", link(1, true, None, &["10.0.0.1/32", "10.0.0.9/32"])),
            ("eth0", link(2, false, Some(MAC), &["192.0.2.200/24"])),
        ]);
        let eth0 = names(&["eth0"]);
        assert_eq!(
            choose(Some(ip("1.1.1.1")), &all, &eth0),
            Some((ip("1.1.1.1"), Origin::Configured))
        );
        assert_eq!(choose(None, &all, &eth0), Some((ip("10.0.0.9"), Origin::Loopback)));
        let no_lo = host(vec![
            ("lo", link(1, true, None, &[])),
            ("eth0", link(2, false, Some(MAC), &["192.0.2.200/24"])),
        ]);
        assert_eq!(
            choose(None, &no_lo, &eth0),
            Some((ip("192.0.2.200"), Origin::Interface))
        );
        let macs = host(vec![
            ("lo", link(1, true, None, &[])),
            ("eth0", link(2, false, Some(MAC), &["2001:db8::1/64"])),
            ("eth1", link(3, false, Some([2, 0, 9, 9, 9, 9]), &[])),
            ("gre0", link(4, false, None, &[])),
        ]);
        let mac_of = |interface: &str| Origin::Mac {
            interface: interface.into(),
        };
        assert_eq!(choose(None, &macs, &eth0), Some((ip("1.2.3.4"), mac_of("eth0"))));
        // The first configured interface that is present with a MAC.
        assert_eq!(
            choose(None, &macs, &names(&["absent", "gre0", "eth1", "eth0"])),
            Some((ip("9.9.9.9"), mac_of("eth1")))
        );
        assert_eq!(choose(None, &macs, &names(&["absent"])), None);
        let zero = host(vec![("eth0", link(2, false, Some([2, 0, 0, 0, 0, 0]), &[]))]);
        assert_eq!(choose(None, &zero, &eth0), None);
    }

    /// Waits (in paused time, so at once) until `rx` holds `want`.
    async fn expect(rx: &mut watch::Receiver<Ipv4Addr>, want: Ipv4Addr) {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|id| *id == want)).await;
        assert!(
            got.is_ok_and(|r| r.is_ok()),
            "router ID {} instead of {want}",
            *rx.borrow()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn follows_the_addresses_and_never_goes_back_to_unspecified() {
        let (names_tx, names_rx) = watch::channel(names(&["eth0", "eth1"]));
        let (host_tx, host_rx) = watch::channel(HostAddresses::default());
        let (out_tx, mut out) = watch::channel(Ipv4Addr::UNSPECIFIED);
        let (probe, probes) = actor::probe("router ID");
        let mut supervisor = Supervisor::new();
        supervisor.hold(probe.spawn(follow(None, names_rx, host_rx, out_tx, probes)));
        // Its loop answers probes, before the first snapshot too.
        let deadline = Duration::from_secs(1);
        assert_eq!(supervisor.silent(deadline).await, Vec::<&str>::new());

        // Only eth1 has a MAC yet.
        host_tx.send_replace(host(vec![("eth1", link(3, false, Some([2, 0, 9, 9, 9, 9]), &[]))]));
        expect(&mut out, ip("9.9.9.9")).await;
        // eth0 appears: the first configured interface wins.
        host_tx.send_replace(host(vec![
            ("eth0", link(2, false, Some(MAC), &[])),
            ("eth1", link(3, false, Some([2, 0, 9, 9, 9, 9]), &[])),
        ]));
        expect(&mut out, ip("1.2.3.4")).await;
        // A reload that puts eth1 first.
        names_tx.send_replace(names(&["eth1", "eth0"]));
        expect(&mut out, ip("9.9.9.9")).await;
        // An IPv4 address on the loopback beats any MAC.
        host_tx.send_replace(host(vec![
            ("lo", link(1, true, None, &["10.0.0.7/32"])),
            ("eth0", link(2, false, Some(MAC), &[])),
        ]));
        expect(&mut out, ip("10.0.0.7")).await;
        assert_eq!(supervisor.silent(deadline).await, Vec::<&str>::new());
        // Nothing left to derive it from: the last one stays.
        host_tx.send_replace(HostAddresses::default());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(*out.borrow(), ip("10.0.0.7"));

        drop(host_tx);
        let ended = tokio::time::timeout(Duration::from_secs(5), supervisor.ended()).await;
        assert!(
            matches!(ended, Ok(("router ID", actor::Ended::Returned))),
            "follow did not return when the addresses sender went: {ended:?}"
        );
    }

    /// (That it is logged once, with its origin, is checked on the daemon's
    /// log in lab_bgp: a log captured here can lose events to tracing's
    /// callsite cache while other tests run.)
    #[tokio::test(start_paused = true)]
    async fn configured_is_published_before_any_snapshot() {
        let (_names_tx, names_rx) = watch::channel(names(&["eth0"]));
        let (host_tx, host_rx) = watch::channel(HostAddresses::default());
        // As the daemon starts it: already holding the configured one.
        let (out_tx, mut out) = watch::channel(ip("10.9.9.9"));
        let (_probe, probes) = actor::probe("router ID");
        tokio::spawn(follow(Some(ip("10.9.9.9")), names_rx, host_rx, out_tx, probes));
        expect(&mut out, ip("10.9.9.9")).await;
        host_tx.send_replace(host(vec![("lo", link(1, true, None, &["10.0.0.7/32"]))]));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(*out.borrow(), ip("10.9.9.9"));
    }
}
