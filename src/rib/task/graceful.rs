//! The helper side of graceful restart (RFC 4724 4.2) in the routes task:
//! when a peer's session ends in a graceful restart its routes stay,
//! stale (the RIB marks them, see `rib::stale`), for its restart time;
//! once it is back, families it did not keep forwarding for are swept at
//! once, the others at its End-of-RIB for them, or after the stale-path
//! time should it never send one.
//!
//! And the end of our own restart's deferral (`rib::restart`), which holds
//! every peer's table and End-of-RIB until then.

use std::time::Duration;

use tokio::time::Instant;
use tracing::info;

use super::Routes;
use crate::peers::PeerKey;
use crate::rib::restart::Deferral;
use crate::rib::{self, Changes, PeerInfo};

/// How long stale routes wait for End-of-RIB once the peer is back (FRR's
/// `bgp graceful-restart stalepath-time` default).
pub const STALE_PATH_TIME: Duration = Duration::from_secs(360);

impl Routes {
    /// Graceful restart, our side: once every neighbour we had is back and
    /// every peer back sent its table, the FIB may stop deferring.
    /// Then every peer up is sent its table and End-of-RIB.
    pub(super) async fn end_deferral_if_complete(&mut self) {
        if self.deferral.as_ref().is_some_and(Deferral::is_complete) {
            self.deferral = None;
            self.fib.end_deferral("End-of-RIB from every peer back").await;
            self.send_held_tables().await;
        }
    }

    /// The FIB ended its deferral itself (its restart-time timer): what we
    /// still waited for is not waited for any more.
    pub(super) async fn fib_deferral_over(&mut self) {
        if let Some(d) = self.deferral.take() {
            let (neighbours, peers) = d.waiting_for();
            info!(
                "graceful restart: deferral over without {neighbours} neighbours back and End-of-RIB from {peers} peers"
            );
            self.send_held_tables().await;
        }
    }

    /// RFC 4724 4.1: while our deferral is on, a peer is sent nothing (the
    /// RIB keeps what is pending for it): a helper would sweep its stale
    /// routes through us at our End-of-RIB, against a partial table. Except
    /// a peer whose OPEN set R: restarting too, it waits for our End-of-RIB
    /// before sending its own, which we wait for; it has no stale routes of
    /// ours to sweep.
    pub(super) fn holds_table(&self, key: &PeerKey) -> bool {
        self.deferral.is_some() && self.peers.get(key).is_some_and(|peer| !peer.restarting)
    }

    /// Once our deferral is over, each peer up gets its table (what the
    /// RIB holds for it) and End-of-RIB.
    async fn send_held_tables(&mut self) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            if let Ok(batch) = self.rib.pending_out(&key) {
                self.send(key, batch).await;
            }
        }
    }

    /// `key`'s session ended (it was known: it had come up). With `keep`,
    /// in a graceful restart: its routes stay, stale, for that long.
    pub(super) fn peer_down(&mut self, key: PeerKey, keep: Option<(Duration, rib::Families)>, changes: &mut Changes) {
        let keep = keep.filter(|(t, families)| !t.is_zero() && (families.ipv4 || families.ipv6));
        let Some((restart_time, families)) = keep else {
            self.stale_until.remove(&key);
            changes.append(self.rib.remove_peer(&key));
            return;
        };
        let mut stale = self.rib.retain_stale(&key);
        // RFC 4724 4.2: only the families its capability listed are kept
        // (FRR's helper-only capability lists none).
        let unlisted = rib::Families {
            ipv4: !families.ipv4,
            ipv6: !families.ipv6,
        };
        if unlisted.ipv4 || unlisted.ipv6 {
            let swept = self.rib.sweep_stale(&key, unlisted);
            stale = stale.saturating_sub(swept.routes.len());
            changes.append(swept);
        }
        if stale == 0 {
            self.stale_until.remove(&key);
            changes.append(self.rib.remove_peer(&key));
            return;
        }
        info!(
            "{}: graceful restart: keeping its {stale} routes, stale, for up to {} s",
            self.peer_name(key),
            restart_time.as_secs()
        );
        self.stale_until.insert(key, Instant::now() + restart_time);
    }

    /// A peer came up: if it holds stale routes, sweep those of the
    /// families it did not keep forwarding for (or did not negotiate) now,
    /// and give the others until its End-of-RIB, bounded.
    pub(super) fn stale_peer_up(
        &mut self,
        info: &PeerInfo,
        forwarding_kept: Option<rib::Families>,
        changes: &mut Changes,
    ) {
        let key = info.id;
        if !self.stale_until.contains_key(&key) {
            return;
        }
        let kept = forwarding_kept.unwrap_or(rib::Families {
            ipv4: false,
            ipv6: false,
        });
        let drop = rib::Families {
            ipv4: !(kept.ipv4 && info.families.ipv4),
            ipv6: !(kept.ipv6 && info.families.ipv6),
        };
        if drop.ipv4 || drop.ipv6 {
            let swept = self.rib.sweep_stale(&key, drop);
            if !swept.routes.is_empty() {
                info!(
                    "{}: back from a graceful restart: {} stale routes of families it did not keep forwarding for removed",
                    self.peer_name(key),
                    swept.routes.len()
                );
            }
            changes.append(swept);
        }
        let left = self.rib.peer_stats(&key).map_or(0, |s| s.stale);
        if left == 0 {
            self.stale_until.remove(&key);
            return;
        }
        info!(
            "{}: back from a graceful restart: {left} stale routes wait for its End-of-RIB (at most {} s)",
            self.peer_name(key),
            STALE_PATH_TIME.as_secs()
        );
        self.stale_until.insert(key, Instant::now() + STALE_PATH_TIME);
    }

    /// End-of-RIB from `key`: its stale routes of those families that it
    /// did not send again are removed.
    pub(super) fn stale_end_of_rib(&mut self, key: PeerKey, families: rib::Families, changes: &mut Changes) {
        if !self.stale_until.contains_key(&key) || !self.peers.contains_key(&key) {
            return;
        }
        let swept = self.rib.sweep_stale(&key, families);
        info!(
            "{}: End-of-RIB: {} stale routes it did not send again removed",
            self.peer_name(key),
            swept.routes.len()
        );
        changes.append(swept);
        if self.rib.peer_stats(&key).is_none_or(|s| s.stale == 0) {
            self.stale_until.remove(&key);
        }
    }

    /// The peers whose time ran out: a peer still down loses every route
    /// (and leaves the RIB), a peer back its stale ones.
    pub(super) fn stale_timers_due(&mut self, changes: &mut Changes) {
        let now = Instant::now();
        let due: Vec<PeerKey> = self
            .stale_until
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            self.stale_until.remove(&key);
            let down = self.rib.is_restarting(&key);
            let swept = self.rib.sweep_stale(&key, rib::Families::ALL);
            info!(
                "{}: graceful restart: {} stale routes removed ({})",
                self.peer_name(key),
                swept.routes.len(),
                match down {
                    true => "its restart time is over and it is not back",
                    false => "no End-of-RIB within the stale-path time",
                }
            );
            changes.append(swept);
        }
    }
}
