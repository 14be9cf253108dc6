//! Graceful restart, restarting side (RFC 4724 4.1): after a start that
//! adopted our routes in the kernel, when the RIB is complete enough to
//! end the FIB's deferral. Pure; the routes task feeds it sessions and
//! End-of-RIB markers (docs/ARCHITECTURE.md, "We restart gracefully").
//!
//! Peers are discovered, not configured, so "every peer" (RFC 4724 4.1)
//! is: the neighbours the adopted routes go through, each back, and every
//! peer back within the deferral having sent End-of-RIB for each family
//! its session negotiated. A peer without the capability is waited for
//! too: FRR, GoBGP, BIRD and ndbgpd send End-of-RIB regardless, and its
//! routes must be in before the FIB's sweep. So is a peer whose OPEN set
//! R (restarting too, or FRR 8, which sets R whenever `bgp
//! graceful-restart` is on): the routes task sends it our End-of-RIB at
//! once, so neither side waits for the other. A neighbour that never comes back, or never sends
//! End-of-RIB, leaves it to the timer (the FIB's, the restart time).

use std::collections::{BTreeSet, HashMap};

use super::{Families, PeerId};

#[derive(Debug, Clone, Default)]
pub struct Deferral {
    /// Neighbours behind adopted routes that are not back yet.
    expected: BTreeSet<PeerId>,
    /// Peers back and the families whose End-of-RIB they still owe.
    owing: HashMap<PeerId, Families>,
}

impl Deferral {
    /// `neighbours`: the next hops of the adopted routes.
    pub fn new(neighbours: impl IntoIterator<Item = PeerId>) -> Deferral {
        Deferral {
            expected: neighbours.into_iter().collect(),
            owing: HashMap::new(),
        }
    }

    /// A session came up with `families`: its End-of-RIB for each is
    /// awaited, with the capability or without, R set or not.
    pub fn peer_up(&mut self, peer: PeerId, families: Families) {
        self.expected.remove(&peer);
        if families.ipv4 || families.ipv6 {
            self.owing.insert(peer, families);
        } else {
            self.owing.remove(&peer);
        }
    }

    /// Its session ended: not waited for until it is back again.
    pub fn peer_down(&mut self, peer: PeerId) {
        self.owing.remove(&peer);
    }

    pub fn end_of_rib(&mut self, peer: PeerId, families: Families) {
        let Some(owed) = self.owing.get_mut(&peer) else { return };
        owed.ipv4 &= !families.ipv4;
        owed.ipv6 &= !families.ipv6;
        if !owed.ipv4 && !owed.ipv6 {
            self.owing.remove(&peer);
        }
    }

    /// Every neighbour we had is back and every peer back has sent its
    /// table.
    pub fn is_complete(&self) -> bool {
        self.expected.is_empty() && self.owing.is_empty()
    }

    /// Neighbours not back, peers whose End-of-RIB is awaited (for logs).
    pub fn waiting_for(&self) -> (usize, usize) {
        (self.expected.len(), self.owing.len())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn peer(ifindex: u32) -> PeerId {
        PeerId {
            ifindex,
            addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, ifindex as u16),
        }
    }

    const V4: Families = Families {
        ipv4: true,
        ipv6: false,
    };
    const V6: Families = Families {
        ipv4: false,
        ipv6: true,
    };

    #[test]
    fn complete_once_every_neighbour_is_back_and_sent_end_of_rib_per_family() {
        let mut d = Deferral::new([peer(1), peer(2)]);
        d.peer_up(peer(1), Families::ALL);
        d.end_of_rib(peer(1), Families::ALL);
        // Neighbour 2 is not back yet.
        assert!(!d.is_complete());
        assert_eq!(d.waiting_for(), (1, 0));
        d.peer_up(peer(2), Families::ALL);
        d.end_of_rib(peer(2), V4);
        assert!(!d.is_complete(), "IPv6 End-of-RIB still owed");
        d.end_of_rib(peer(2), V6);
        assert!(d.is_complete());
    }

    #[test]
    fn a_new_peer_back_within_the_deferral_is_waited_for_too() {
        let mut d = Deferral::new([peer(1)]);
        d.peer_up(peer(3), V6);
        d.peer_up(peer(1), V6);
        d.end_of_rib(peer(1), V6);
        assert!(!d.is_complete());
        // End-of-RIB of a family it did not negotiate, or from a stranger,
        // changes nothing.
        d.end_of_rib(peer(3), V4);
        d.end_of_rib(peer(9), Families::ALL);
        assert!(!d.is_complete());
        d.end_of_rib(peer(3), V6);
        assert!(d.is_complete());
    }

    #[test]
    fn peers_gone_again_are_not_waited_for() {
        let mut d = Deferral::new([peer(1), peer(2)]);
        d.peer_up(peer(1), Families::ALL);
        d.end_of_rib(peer(1), Families::ALL);
        d.peer_up(peer(2), Families::ALL);
        assert!(!d.is_complete());
        d.peer_down(peer(2));
        assert!(d.is_complete());
        // Back again: owes its End-of-RIB again.
        d.peer_up(peer(2), V4);
        assert!(!d.is_complete());
    }

    #[test]
    fn a_peer_without_the_capability_is_waited_for_until_its_end_of_rib() {
        let mut d = Deferral::new([peer(1)]);
        d.peer_up(peer(1), Families::ALL);
        assert!(!d.is_complete(), "its UPDATEs may still be on the way");
        assert_eq!(d.waiting_for(), (0, 1));
        d.end_of_rib(peer(1), Families::ALL);
        assert!(d.is_complete());
    }
}
