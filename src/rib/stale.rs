//! Graceful restart in the RIB (RFC 4724 4.2): a peer whose session ended
//! in a graceful restart keeps its slot and its paths, marked stale. They
//! stay selected, installed and advertised; a path the peer sends again
//! loses its mark; the rest is swept when the peer says its table is
//! complete (End-of-RIB) or a timer runs out. The timers are the routes
//! task's; this is the pure part.

use ipnet::IpNet;

use super::table::Slot;
use super::{Changes, Families, OutState, PeerId, PeerInfo, Rib};

impl Rib {
    /// `peer`'s session ended in a graceful restart: its paths are kept,
    /// marked stale, and it is sent nothing until it is back. Returns how
    /// many paths it has (all stale now); 0 for an unknown peer.
    pub fn retain_stale(&mut self, peer: &PeerId) -> usize {
        let Some(slot) = self.peers.slot(peer) else { return 0 };
        let Some(state) = self.peers.get_mut(slot) else {
            return 0;
        };
        state.restarting = true;
        // Its next session starts from the whole table again.
        state.out = OutState::Initial;
        state.stats.prefixes_sent = 0;
        if state.stats.stale == state.stats.prefixes {
            return state.stats.stale;
        }
        for (_, entry) in self.table.iter_mut() {
            if let Some(path) = entry.get_mut(slot) {
                path.stale = true;
            }
        }
        state.stats.stale = state.stats.prefixes;
        state.stats.stale
    }

    /// Whether `peer`'s session ended in a graceful restart and it is not
    /// back yet.
    pub fn is_restarting(&self, peer: &PeerId) -> bool {
        self.peers
            .slot(peer)
            .and_then(|slot| self.peers.get(slot))
            .is_some_and(|state| state.restarting)
    }

    /// Removes `peer`'s stale paths in `families` (End-of-RIB for a family,
    /// a family the new session does not keep, a timer). A restarting peer
    /// left with no path is removed.
    pub fn sweep_stale(&mut self, peer: &PeerId, families: Families) -> Changes {
        let mut changes = Changes::default();
        let Some(slot) = self.peers.slot(peer) else {
            return changes;
        };
        let Some(state) = self.peers.get(slot) else {
            return changes;
        };
        if state.stats.stale > 0 {
            let swept: Vec<IpNet> = self
                .table
                .iter()
                .filter(|(prefix, entry)| families.carries(prefix) && entry.get(slot).is_some_and(|p| p.stale))
                .map(|(prefix, _)| prefix)
                .collect();
            for prefix in swept {
                self.set_path(prefix, slot, None, None, false, &mut changes);
            }
            self.interner.sweep();
        }
        if self
            .peers
            .get(slot)
            .is_some_and(|s| s.restarting && s.stats.prefixes == 0)
        {
            changes.append(self.remove_peer(peer));
        }
        changes
    }

    /// The stale paths `peer` holds, by family.
    pub fn stale_families(&self, peer: &PeerId) -> Families {
        let slot = self.peers.slot(peer);
        let stale = |v6: bool| {
            slot.is_some_and(|slot| {
                self.table
                    .iter()
                    .any(|(prefix, entry)| prefix_is_v6(&prefix) == v6 && entry.get(slot).is_some_and(|p| p.stale))
            })
        };
        Families {
            ipv4: stale(false),
            ipv6: stale(true),
        }
    }

    /// `add_peer` for a peer restarting in the same AS: the new session
    /// takes its slot over, stale paths and policy included; `None` when
    /// there is no such peer (it is added afresh).
    pub(super) fn resume_peer(&mut self, info: PeerInfo) -> Option<Changes> {
        let slot: Slot = self.peers.slot(&info.id)?;
        let state = self.peers.get_mut(slot)?;
        if !state.restarting || state.info.asn != info.asn {
            return None;
        }
        state.info = info;
        state.restarting = false;
        state.out = OutState::Initial;
        state.stats.prefixes_sent = 0;
        state.stats.loop_dropped = 0;
        state.stats.next_hop_ours = 0;
        let mut changes = Changes::default();
        changes.out_ready.push(info.id);
        Some(changes)
    }
}

fn prefix_is_v6(prefix: &IpNet) -> bool {
    matches!(prefix, IpNet::V6(_))
}
