//! What the peer table tells `ndbgpctl monitor`: neighbours discovered and
//! lost.

use std::collections::HashMap;

use super::{PeerEvent, PeerKey};
use crate::monitor::{Event, Monitor};

/// Tells the monitor of the table's events, naming the interface as it
/// was when the neighbour was discovered: a lost neighbour's link may be
/// gone from the kernel already.
#[derive(Debug, Default)]
pub struct NeighborEvents {
    monitor: Monitor,
    /// Each neighbour in the table and its interface's name.
    names: HashMap<PeerKey, String>,
}

impl NeighborEvents {
    pub fn new(monitor: Monitor) -> NeighborEvents {
        NeighborEvents {
            monitor,
            names: HashMap::new(),
        }
    }

    pub fn tell(&mut self, event: &PeerEvent) {
        match event {
            PeerEvent::Discovered(info) => {
                self.names.insert(info.key, info.interface.clone());
                self.monitor.emit(|| Event::NeighborDiscovered {
                    interface: info.interface.clone(),
                    ifindex: info.key.ifindex,
                    peer: info.key.addr,
                    sources: info.sources.iter().map(|s| s.as_str().to_string()).collect(),
                });
            }
            PeerEvent::Lost { key, reason } => {
                let interface = self.names.remove(key).unwrap_or_default();
                self.monitor.emit(|| Event::NeighborLost {
                    interface,
                    ifindex: key.ifindex,
                    peer: key.addr,
                    reason: reason.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;
    use crate::peers::{LostReason, PeerInfo, Source};

    #[test]
    fn a_lost_neighbour_keeps_the_name_it_was_discovered_under() {
        let monitor = Monitor::new();
        let mut events = monitor.subscribe();
        let mut tell = NeighborEvents::new(monitor);
        let key = PeerKey {
            ifindex: 7,
            addr: "fe80::2".parse().unwrap(),
        };
        tell.tell(&PeerEvent::Discovered(PeerInfo {
            key,
            interface: "swp1".into(),
            mac: None,
            router: true,
            sources: BTreeSet::from([Source::Ra]),
            ra_lifetime: Some(1800),
        }));
        let silent = LostReason::Silent {
            elapsed: Duration::from_secs(30),
        };
        tell.tell(&PeerEvent::Lost { key, reason: silent });
        tell.tell(&PeerEvent::Lost {
            key,
            reason: LostReason::LinkDeleted,
        });
        let seen: Vec<Event> = std::iter::from_fn(|| events.try_recv().ok()).map(|e| e.event).collect();
        let peer = key.addr;
        assert_eq!(
            seen,
            [
                Event::NeighborDiscovered {
                    interface: "swp1".into(),
                    ifindex: 7,
                    peer,
                    sources: vec!["ra".into()]
                },
                Event::NeighborLost {
                    interface: "swp1".into(),
                    ifindex: 7,
                    peer,
                    reason: "silent for 30s".into()
                },
                // Never discovered again: no name to give.
                Event::NeighborLost {
                    interface: String::new(),
                    ifindex: 7,
                    peer,
                    reason: "link deleted".into()
                },
            ]
        );
        assert!(tell.names.is_empty());
    }
}
