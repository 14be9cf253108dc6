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

/// The primary's dial, from `Action::Connect` until its connection is
/// attached or the dial is given up.
pub(super) struct Dial {
    /// Its outcome, awaited by the session's loop (`outcome`); None once
    /// taken. Aborted with the dial, so that a dial given up on
    /// (ConnectRetry, an inbound connection taken) never connects later
    /// behind our back and leaves the neighbour a connection we dropped.
    /// Awaiting the task itself rather than a channel per session saves a
    /// channel (its first block and shared state, about 1.5 kB) on each
    /// of a thousand sessions.
    task: Option<JoinHandle<Result<BoxStream, String>>>,
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

/// The outcome of the dial under way; pending while there is none (or
/// it was taken). A task that panicked is a failed dial.
pub(super) async fn outcome(dial: &mut Option<Dial>) -> Result<BoxStream, String> {
    let Some(task) = dial.as_mut().and_then(|d| d.task.as_mut()) else {
        return std::future::pending().await;
    };
    let result = task.await.unwrap_or_else(|e| Err(format!("dial task: {e}")));
    if let Some(d) = dial.as_mut() {
        d.task = None;
    }
    result
}

impl Session {
    /// Give up the dial, and the connection it may have made.
    pub(super) fn abort_dial(&mut self) {
        if let Some(task) = self.dial.take().and_then(|d| d.task) {
            task.abort();
        }
    }

    pub(super) fn dial(&mut self) {
        self.abort_dial();
        let dialing = connect(self.params.key, Arc::clone(&self.params.dialer), self.links.clone());
        self.dial = Some(Dial {
            task: Some(tokio::spawn(dialing)),
            connected: None,
        });
    }

    /// What the dial under way did; the dial given up with the session's
    /// `dial` never answers.
    pub(super) fn dialed(&mut self, result: Result<BoxStream, String>) {
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
