//! The peer-table actor: owns a [`PeerTable`] and drives it from the
//! observation channel, the Links watch, its own deadline and commands.

use std::collections::HashMap;

use tokio::sync::{mpsc, watch};
use tracing::debug;

use super::events::NeighborEvents;
use super::{PeerEntryView, PeerEvent, PeerTable, PeerTableConfig};
use crate::actor::{self, Commands, Inbox, Reply, Stopped, Task};
use crate::api::{InterfaceNeighbors, ScopedAddress};
use crate::iface::Links;
use crate::monitor::Monitor;
use crate::peers::Observation;
use crate::time::{now, sleep_until_opt};

/// Commands are rare (control requests).
const COMMAND_QUEUE: usize = 16;
const STAGE: &str = "peer table";

#[derive(Debug)]
enum Command {
    Snapshot(Reply<Vec<PeerEntryView>>),
    Neighbors(Reply<HashMap<String, InterfaceNeighbors>>),
    /// `neighbor add` (`add`) or `neighbor remove`.
    Static {
        neighbor: ScopedAddress,
        add: bool,
        reply: Reply<Result<String, String>>,
    },
}

/// A way to talk to the running peer table.
#[derive(Debug, Clone)]
pub struct PeerTableHandle {
    commands: Commands<Command>,
}

impl PeerTableHandle {
    /// All entries, sorted by interface then address.
    pub async fn snapshot(&self) -> Result<Vec<PeerEntryView>, Stopped> {
        self.commands.ask(Command::Snapshot).await
    }

    /// Per interface: its entries counted, and its counters.
    pub async fn neighbors(&self) -> Result<HashMap<String, InterfaceNeighbors>, Stopped> {
        self.commands.ask(Command::Neighbors).await
    }

    /// Add (`add`) or remove a static neighbour: the line for the operator,
    /// or why not.
    pub async fn set_static(&self, neighbor: ScopedAddress, add: bool) -> Result<Result<String, String>, Stopped> {
        self.commands
            .ask(|reply| Command::Static { neighbor, add, reply })
            .await
    }
}

/// Start the peer-table task. It runs until nothing can reach it any more:
/// the observation channel is closed and every handle is dropped. Its
/// events go to `events` and, for `ndbgpctl monitor`, to `monitor`.
pub fn spawn(
    config: PeerTableConfig,
    links: watch::Receiver<Links>,
    observations: mpsc::Receiver<Observation>,
    events: mpsc::Sender<PeerEvent>,
    monitor: Monitor,
) -> (PeerTableHandle, Task) {
    let (commands_tx, commands) = actor::channel(STAGE, COMMAND_QUEUE);
    let actor = Actor {
        table: PeerTable::new(config),
        events,
        events_open: true,
        monitor: NeighborEvents::new(monitor),
    };
    let task = commands_tx.spawn(actor.run(links, observations, commands));
    (PeerTableHandle { commands: commands_tx }, task)
}

struct Actor {
    table: PeerTable,
    events: mpsc::Sender<PeerEvent>,
    events_open: bool,
    monitor: NeighborEvents,
}

impl Actor {
    async fn run(
        mut self,
        mut links: watch::Receiver<Links>,
        mut observations: mpsc::Receiver<Observation>,
        mut commands: Inbox<Command>,
    ) {
        // The table is empty, so the first snapshot yields no events.
        let _ = self.table.links_changed(&links.borrow_and_update());
        let mut links_open = true;
        let mut observations_open = true;
        let mut commands_open = true;

        while observations_open || commands_open {
            let deadline = self.table.next_deadline();
            // Biased: link changes first so that Lost on link down is never
            // queued behind an observation burst; then due expiries, so that
            // events come out in time order.
            tokio::select! {
                biased;
                changed = links.changed(), if links_open => match changed {
                    Ok(()) => {
                        let mut events = self.table.links_changed(&links.borrow_and_update());
                        // A link that came up gets its static neighbours back.
                        events.extend(self.table.restore_statics(now()));
                        self.emit(events).await;
                    }
                    // The watcher is gone: keep the last snapshot.
                    Err(_) => links_open = false,
                },
                () = sleep_until_opt(deadline), if deadline.is_some() => {
                    let events = self.table.expire(now());
                    self.emit(events).await;
                }
                command = commands.recv(), if commands_open => match command {
                    Some(command) => self.command(command).await,
                    None => commands_open = false,
                },
                obs = observations.recv(), if observations_open => match obs {
                    Some(obs) => {
                        let events = self.table.observe(&obs, now());
                        self.emit(events).await;
                    }
                    None => observations_open = false,
                },
            }
        }
        debug!("peer table stopped: no more inputs");
    }

    async fn command(&mut self, command: Command) {
        match command {
            // A requester that went away needs no answer.
            Command::Snapshot(reply) => {
                let _ = reply.send(self.table.view(now()));
            }
            Command::Neighbors(reply) => {
                let _ = reply.send(self.table.neighbors());
            }
            Command::Static { neighbor, add, reply } => {
                let ScopedAddress { address, interface } = neighbor;
                let done = match add {
                    true => self.table.add_static(&interface, address, now()),
                    false => self.table.remove_static(&interface, address),
                };
                let answer = match done {
                    Ok((line, events)) => {
                        self.emit(events).await;
                        Ok(line)
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(answer);
            }
        }
    }

    async fn emit(&mut self, events: Vec<PeerEvent>) {
        for event in events {
            self.monitor.tell(&event);
            if self.events_open && self.events.send(event).await.is_err() {
                // The BGP side is gone (shutting down); keep serving the
                // control socket.
                debug!("peer events receiver dropped");
                self.events_open = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::iface::LinkState;
    use crate::peers::Source;
    use crate::peers::{LostReason, PeerKey, PeerStateName};

    const ETH0: u32 = 2;

    fn eth0(up: bool) -> Links {
        let link = LinkState {
            name: "eth0".into(),
            ifindex: ETH0,
            up,
            mac: None,
            link_locals: Vec::new(),
        };
        [("eth0".to_owned(), link)].into()
    }

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().expect("test address")
    }

    fn key(a: &str) -> PeerKey {
        PeerKey {
            ifindex: ETH0,
            addr: addr(a),
        }
    }

    fn seen(a: &str, source: Source, tentative: bool) -> Observation {
        Observation {
            ifindex: ETH0,
            addr: addr(a),
            mac: None,
            source,
            router: None,
            ra_lifetime: None,
            tentative,
        }
    }

    async fn next(events: &mut mpsc::Receiver<PeerEvent>) -> PeerEvent {
        events.recv().await.expect("peer table stopped")
    }

    fn discovered(event: &PeerEvent) -> PeerKey {
        match event {
            PeerEvent::Discovered(info) => info.key,
            PeerEvent::Lost { .. } => panic!("expected Discovered, got {event:?}"),
        }
    }

    // Paused time: when every task waits, the clock jumps to the next
    // timer, so the hold time passes at once and elapsed time is exact.
    #[tokio::test(start_paused = true)]
    async fn events_flow_and_snapshot_works() {
        let (links_tx, links) = watch::channel(eth0(true));
        let (observations_tx, observations) = mpsc::channel(8);
        let (events_tx, mut events) = mpsc::channel(8);
        let (handle, _task) = spawn(
            PeerTableConfig::default(),
            links,
            observations,
            events_tx,
            Monitor::new(),
        );

        let start = Instant::now();
        observations_tx
            .send(seen("fe80::1", Source::Ra, false))
            .await
            .expect("send");
        assert_eq!(discovered(&next(&mut events).await), key("fe80::1"));
        let snapshot = handle.snapshot().await.expect("snapshot");
        assert_eq!(snapshot.len(), 1);
        assert_eq!(snapshot[0].address, addr("fe80::1"));
        assert_eq!(snapshot[0].state, PeerStateName::Usable);
        assert_eq!(snapshot[0].sources, vec!["ra".to_owned()]);

        // Silent for the hold time (3 x 10 s): lost.
        assert_eq!(
            next(&mut events).await,
            PeerEvent::Lost {
                key: key("fe80::1"),
                reason: LostReason::Silent {
                    elapsed: Duration::from_secs(30)
                },
            }
        );
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        assert!(handle.snapshot().await.expect("snapshot").is_empty());

        // A DAD probe, then its DAD time passes: discovered.
        let probe_at = Instant::now();
        observations_tx
            .send(seen("fe80::2", Source::Ns, true))
            .await
            .expect("send");
        assert_eq!(discovered(&next(&mut events).await), key("fe80::2"));
        assert_eq!(probe_at.elapsed(), Duration::from_millis(1500));

        // Link down: lost at once, not at some timer.
        let down_at = Instant::now();
        links_tx.send(eth0(false)).expect("links");
        assert_eq!(
            next(&mut events).await,
            PeerEvent::Lost {
                key: key("fe80::2"),
                reason: LostReason::LinkDown,
            }
        );
        assert!(down_at.elapsed() < Duration::from_millis(100));

        // While down, observations are counted, not taken. (Commands go
        // before observations: wait for it to be taken in.)
        observations_tx
            .send(seen("fe80::3", Source::Tcp, false))
            .await
            .expect("send");
        let counted = tokio::time::timeout(Duration::from_secs(5), async {
            while handle.neighbors().await.expect("neighbors")["eth0"]
                .counters
                .ignored_down
                == 0
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(counted.is_ok(), "the observation while down was not counted");
        let neighbors = handle.neighbors().await.expect("neighbors");
        assert_eq!(
            (neighbors["eth0"].count, neighbors["eth0"].counters.ignored_down),
            (0, 1)
        );
        assert!(handle.snapshot().await.expect("snapshot").is_empty());

        // Back up: the BGP listener's observation discovers.
        links_tx.send(eth0(true)).expect("links");
        observations_tx
            .send(seen("fe80::3", Source::Tcp, false))
            .await
            .expect("send");
        assert_eq!(discovered(&next(&mut events).await), key("fe80::3"));
        assert_eq!(
            handle.snapshot().await.expect("snapshot")[0].sources,
            vec!["tcp".to_owned()]
        );

        // With no way left to reach it, the task stops.
        drop(handle);
        drop(observations_tx);
        assert_eq!(events.recv().await, None);
    }
}
