//! The primary FSM's dial: at most one at a time, known by an id so that
//! the result of a dial given up on is recognised as stale.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::{Session, Which};
use crate::bgp::fsm::{Direction, Event};
use crate::bgp::transport::{BoxStream, Dialer};
use crate::iface::{self, Links};
use crate::peers::PeerKey;

/// A dial that has not connected by now has failed (the neighbour is one
/// link away: a live one answers in milliseconds).
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

/// A dial's outcome, as its task reports it: (dial id, stream or why not).
pub(super) type Dialed = (u64, Result<BoxStream, String>);

/// The primary's dial, from `Action::Connect` until its connection is
/// attached or the dial is given up.
pub(super) struct Dial {
    id: u64,
    /// Aborted with the dial, so that a dial given up on (ConnectRetry, an
    /// inbound connection taken) never connects later behind our back and
    /// leaves the neighbour a connection we dropped.
    task: JoinHandle<()>,
    /// Connected while another connection was in OpenConfirm: waits for
    /// that one's outcome, as an inbound one does (see `offer`).
    pub(super) connected: Option<BoxStream>,
}

/// Dial `key`'s neighbour from our usable link-local on its link.
async fn connect(
    key: PeerKey,
    dialer: Arc<dyn Dialer>,
    mut links: watch::Receiver<Links>,
) -> Result<BoxStream, String> {
    // Our link-local may still be in DAD when the neighbour is found:
    // dial the moment it is usable rather than fail and back off.
    let usable = |links: &Links| {
        iface::by_ifindex(links, key.ifindex)
            .filter(|l| l.up)
            .and_then(|l| l.usable_link_local())
    };
    let local = tokio::time::timeout(DIAL_TIMEOUT, links.wait_for(|l| usable(l).is_some()))
        .await
        .ok()
        .and_then(|r| r.ok().and_then(|l| usable(&l)));
    match local {
        None => Err("no usable link-local address".to_string()),
        Some(src) => match tokio::time::timeout(DIAL_TIMEOUT, dialer.dial(key.ifindex, src, key.addr)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("connect: {e}")),
            Err(_) => Err(format!("connect: no answer in {DIAL_TIMEOUT:?}")),
        },
    }
}

impl Session {
    /// Give up the dial, and the connection it may have made.
    pub(super) fn abort_dial(&mut self) {
        if let Some(dial) = self.dial.take() {
            dial.task.abort();
        }
    }

    pub(super) fn dial(&mut self) {
        self.abort_dial();
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        let dialing = connect(self.params.key, Arc::clone(&self.params.dialer), self.links.clone());
        let tx = self.dial_tx.clone();
        let task = tokio::spawn(async move {
            let _ = tx.send((id, dialing.await)).await;
        });
        self.dial = Some(Dial {
            id,
            task,
            connected: None,
        });
    }

    pub(super) fn dialed(&mut self, id: u64, result: Result<BoxStream, String>) {
        if self.dial.as_ref().is_none_or(|d| d.id != id) {
            return; // aborted: a stale dial's stream is dropped here
        }
        let confirming = self.confirming();
        match result {
            Ok(stream) if confirming => {
                debug!("{}: our connection waits for the one in OpenConfirm", self.name());
                if let Some(dial) = self.dial.as_mut() {
                    dial.connected = Some(stream);
                }
            }
            Ok(stream) => {
                self.dial = None;
                self.attach(Which::Primary, stream, Direction::Outbound);
            }
            Err(e) => {
                self.dial = None;
                debug!("{}: {e}", self.name());
                self.status.last_error = Some(e);
                self.feed(Which::Primary, Event::TcpConnectionFails);
            }
        }
    }
}
