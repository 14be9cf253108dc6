//! The events broadcast for `ndbgpctl monitor`: the stages that see them
//! (sessions, the peer table, the routes task, the FIB) [`Monitor::emit`]
//! them; each monitor client of the control socket subscribes.
//!
//! Cheap when nobody listens: an event is built only while a client
//! subscribes (one lock to count the receivers), so an emit point may sit
//! on the route path. A client that reads too slowly loses the oldest
//! events, never slows the stages: it is told how many it missed (see
//! docs/ARCHITECTURE.md, "The control socket").

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

pub use crate::api::{Event, MonitorEvent};

/// Events a client may be behind before it misses some: a burst of
/// session and neighbour changes on a large box fits.
pub const BACKLOG: usize = 1024;

/// The sending side of the events; cheap to clone, one per stage.
#[derive(Debug, Clone)]
pub struct Monitor {
    events: broadcast::Sender<MonitorEvent>,
}

impl Monitor {
    pub fn new() -> Monitor {
        Monitor {
            events: broadcast::Sender::new(BACKLOG),
        }
    }

    /// A client's stream: every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MonitorEvent> {
        self.events.subscribe()
    }

    /// Somebody listens: worth building an event for.
    pub fn watched(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Stamp the event `build` makes with the time and send it to every
    /// subscriber; nothing is built while nobody listens.
    pub fn emit(&self, build: impl FnOnce() -> Event) {
        if self.watched() {
            // Err: the last subscriber left meanwhile.
            let _ = self.events.send(MonitorEvent {
                time_ms: unix_ms(),
                event: build(),
            });
        }
    }
}

/// A monitor nobody subscribes to unless asked: the stages' tests use it.
impl Default for Monitor {
    fn default() -> Monitor {
        Monitor::new()
    }
}

/// Two monitors are the same when they send on the same channel.
impl PartialEq for Monitor {
    fn eq(&self, other: &Monitor) -> bool {
        self.events.same_channel(&other.events)
    }
}

impl Eq for Monitor {}

/// Milliseconds since the Unix epoch; 0 for a clock before it.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_built_only_while_someone_listens() {
        let monitor = Monitor::new();
        let mut built = 0;
        monitor.emit(|| {
            built += 1;
            Event::Missed { count: 1 }
        });
        assert_eq!(built, 0);
        let mut events = monitor.subscribe();
        let before = unix_ms();
        monitor.clone().emit(|| {
            built += 1;
            Event::Missed { count: 2 }
        });
        assert_eq!(built, 1);
        let event = events.try_recv().expect("an event");
        assert_eq!(event.event, Event::Missed { count: 2 });
        assert!(event.time_ms >= before && event.time_ms <= unix_ms(), "{event:?}");
        drop(events);
        assert!(!monitor.watched());
    }

    #[test]
    fn a_slow_subscriber_lags_instead_of_blocking() {
        let monitor = Monitor::new();
        let mut events = monitor.subscribe();
        for count in 0..BACKLOG as u64 + 5 {
            monitor.emit(|| Event::Missed { count });
        }
        assert!(matches!(
            events.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(5))
        ));
        assert_eq!(events.try_recv().map(|e| e.event), Ok(Event::Missed { count: 5 }));
        assert_eq!(monitor, monitor.clone());
        assert_ne!(monitor, Monitor::new());
    }
}
