//! What the routes task tells `ndbgpctl monitor`: the prefixes each peer
//! announced and withdrew in its UPDATEs, added up over [`WINDOW`], so
//! that a full table is a few lines per peer, not a line per prefix or per
//! UPDATE. While nobody listens an UPDATE costs one look at the
//! subscriber count (docs/ARCHITECTURE.md, "The control socket").

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use tokio::time::Instant;

use crate::iface::{self, Links};
use crate::monitor::{Event, Monitor};
use crate::msg::update::Update;
use crate::peers::PeerKey;

/// How long a peer's counts add up before they are told: the first
/// UPDATE after a quiet spell is told this much later at most.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Prefixes named per event, of each kind.
const NAMED: usize = crate::api::PREFIXES_NAMED;

#[derive(Debug, Default)]
pub struct PrefixEvents {
    monitor: Monitor,
    /// Per peer, what it sent since its last event.
    pending: BTreeMap<PeerKey, Tally>,
    /// When `pending` is told.
    due: Option<Instant>,
}

#[derive(Debug, Default)]
struct Tally {
    announced: u64,
    withdrawn: u64,
    first_announced: Vec<IpNet>,
    first_withdrawn: Vec<IpNet>,
}

impl PrefixEvents {
    pub fn new(monitor: Monitor) -> PrefixEvents {
        PrefixEvents {
            monitor,
            ..PrefixEvents::default()
        }
    }

    /// Count an UPDATE `key` sent (applied to the RIB); nothing while
    /// nobody listens.
    pub fn add(&mut self, key: PeerKey, update: &Update) {
        if (update.announced.is_empty() && update.withdrawn.is_empty()) || !self.monitor.watched() {
            return;
        }
        let tally = self.pending.entry(key).or_default();
        tally.announced += update.announced.len() as u64;
        tally.withdrawn += update.withdrawn.len() as u64;
        let room = NAMED.saturating_sub(tally.first_announced.len());
        tally.first_announced.extend(update.announced.iter().take(room));
        let room = NAMED.saturating_sub(tally.first_withdrawn.len());
        tally.first_withdrawn.extend(update.withdrawn.iter().take(room));
        self.due.get_or_insert_with(|| Instant::now() + WINDOW);
    }

    /// When [`PrefixEvents::flush`] is due, if anything waits.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Tell what each peer sent, under its interface's current name.
    pub fn flush(&mut self, links: &Links) {
        self.due = None;
        for (key, tally) in std::mem::take(&mut self.pending) {
            self.monitor.emit(|| Event::Prefixes {
                interface: iface::name_of(links, key.ifindex).unwrap_or_default().to_string(),
                ifindex: key.ifindex,
                peer: key.addr,
                announced: tally.announced,
                withdrawn: tally.withdrawn,
                first_announced: tally.first_announced,
                first_withdrawn: tally.first_withdrawn,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(announced: &[&str], withdrawn: &[&str]) -> Update {
        let parse = |p: &&str| p.parse::<IpNet>().unwrap();
        Update {
            announced: announced.iter().map(parse).collect(),
            withdrawn: withdrawn.iter().map(parse).collect(),
            attributes: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_peers_updates_add_up_to_one_event_per_window() {
        let monitor = Monitor::new();
        let mut prefixes = PrefixEvents::new(monitor.clone());
        let key = PeerKey {
            ifindex: 2,
            addr: "fe80::2".parse().unwrap(),
        };
        // Nobody listens: nothing kept, nothing due.
        prefixes.add(key, &update(&["10.0.0.0/24"], &[]));
        assert_eq!(prefixes.due(), None);

        let mut events = monitor.subscribe();
        let start = Instant::now();
        prefixes.add(key, &update(&["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"], &[]));
        prefixes.add(key, &update(&[], &[]));
        prefixes.add(key, &update(&["10.0.4.0/24", "10.0.5.0/24"], &["192.0.2.0/24"]));
        assert_eq!(prefixes.due(), Some(start + WINDOW));
        prefixes.flush(&Links::new());
        assert_eq!(prefixes.due(), None);
        let event = events.try_recv().expect("one event").event;
        let nets = |ps: &[&str]| ps.iter().map(|p| p.parse().unwrap()).collect::<Vec<IpNet>>();
        assert_eq!(
            event,
            Event::Prefixes {
                interface: String::new(),
                ifindex: 2,
                peer: key.addr,
                announced: 5,
                withdrawn: 1,
                first_announced: nets(&["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24", "10.0.4.0/24"]),
                first_withdrawn: nets(&["192.0.2.0/24"]),
            }
        );
        assert!(events.try_recv().is_err(), "one event per peer and window");
        prefixes.flush(&Links::new());
        assert!(events.try_recv().is_err(), "nothing pending: nothing told");
    }
}
