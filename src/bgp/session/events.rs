//! What a session tells `ndbgpctl monitor`: up, and down with the reason
//! `neighbors` shows as `last_down`.

use super::Session;
use crate::api::Direction;
use crate::bgp::fsm::{self, PeerInfo};
use crate::iface;
use crate::monitor::Event;

impl Session {
    /// The interface's current name (empty once the link is gone).
    fn interface(&self) -> String {
        iface::name_of(&self.links.borrow(), self.params.key.ifindex)
            .unwrap_or_default()
            .to_string()
    }

    pub(super) fn up_event(&self, peer: &PeerInfo) -> Event {
        Event::SessionUp {
            interface: self.interface(),
            ifindex: self.params.key.ifindex,
            peer: self.params.key.addr,
            remote_asn: peer.asn,
            remote_id: peer.bgp_id,
            direction: match peer.direction {
                fsm::Direction::Inbound => Direction::Inbound,
                fsm::Direction::Outbound => Direction::Outbound,
            },
        }
    }

    pub(super) fn down_event(&self) -> Event {
        Event::SessionDown {
            interface: self.interface(),
            ifindex: self.params.key.ifindex,
            peer: self.params.key.addr,
            reason: self.status.last_down.clone().unwrap_or_default(),
        }
    }
}
