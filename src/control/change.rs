//! The requests that change the daemon's state (`announce`, `neighbor
//! ...`, `interface ...`, `reload`): each goes to the task that owns what it
//! changes, and comes back as one line for the operator, or the reason it
//! was refused.

use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};

use super::server::Handles;
use crate::api::{Changed, NeighborTarget, Request, ScopedAddress};
use crate::bgp::manager::AdminRequest;

/// What `main` alone can do, because it owns the running configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonChange {
    Reload,
    InterfaceAdd(String),
    InterfaceRemove(String),
}

/// A [`DaemonChange`] for `main`, which answers `done`.
#[derive(Debug)]
pub struct DaemonRequest {
    pub change: DaemonChange,
    pub done: oneshot::Sender<Result<String, String>>,
}

/// Sends [`DaemonRequest`]s to `main`.
pub type DaemonRequests = mpsc::Sender<DaemonRequest>;

/// Applies `request` (one for which [`Request::changes_state`] holds).
pub async fn apply(handles: &Handles, request: Request) -> Result<Changed, String> {
    let message = match request {
        Request::Announce { prefix } => announce(handles, prefix, true).await,
        Request::Withdraw { prefix } => announce(handles, prefix, false).await,
        Request::NeighborShutdown { .. } | Request::NeighborEnable { .. } | Request::NeighborClear { .. } => {
            neighbor(handles, request).await
        }
        Request::NeighborAdd { neighbor } => static_neighbor(handles, neighbor, true).await,
        Request::NeighborRemove { neighbor } => static_neighbor(handles, neighbor, false).await,
        Request::InterfaceAdd { interface } => daemon(&handles.daemon, DaemonChange::InterfaceAdd(interface)).await,
        Request::InterfaceRemove { interface } => {
            daemon(&handles.daemon, DaemonChange::InterfaceRemove(interface)).await
        }
        Request::Reload => daemon(&handles.daemon, DaemonChange::Reload).await,
        Request::Discovery
        | Request::Interfaces
        | Request::Neighbors
        | Request::Routes { .. }
        | Request::FilteredRoutes { .. }
        | Request::Monitor => Err(format!("{} changes nothing", request.name())),
    }?;
    Ok(Changed { message })
}

/// `announce` (`add`) or `withdraw` a runtime local route.
/// The routes task owns them (`rib/task/runtime.rs` has the rules: host
/// bits refused, announcing twice changes nothing, at most 10000).
async fn announce(handles: &Handles, prefix: IpNet, add: bool) -> Result<String, String> {
    handles
        .routes
        .runtime_route(prefix, add)
        .await
        .map_err(|stopped| stopped.to_string())?
}

/// RFC 9003: the shutdown communication is at most 255 octets of UTF-8.
const MAX_SHUTDOWN_MESSAGE: usize = 255;

/// `neighbor shutdown`, `neighbor enable` and `neighbor clear`: the BGP
/// manager acts on the target's sessions. A shutdown text longer than RFC
/// 9003 allows is refused, not cut.
async fn neighbor(handles: &Handles, request: Request) -> Result<String, String> {
    let (target, request) = admin_request(request)?;
    let stopped = |e: crate::actor::Stopped| e.to_string();
    handles.bgp.admin(target, request).await.map_err(stopped)?
}

/// The target and what to do to it, the shutdown text checked.
fn admin_request(request: Request) -> Result<(NeighborTarget, AdminRequest), String> {
    match request {
        Request::NeighborShutdown { target, message } => {
            let message = message.filter(|m| !m.is_empty());
            if let Some(m) = &message
                && m.len() > MAX_SHUTDOWN_MESSAGE
            {
                return Err(format!(
                    "the shutdown message is {} bytes; RFC 9003 allows at most {MAX_SHUTDOWN_MESSAGE} bytes of UTF-8",
                    m.len()
                ));
            }
            Ok((target, AdminRequest::Shutdown { message }))
        }
        Request::NeighborEnable { target } => Ok((target, AdminRequest::Enable)),
        Request::NeighborClear { target, soft } => Ok((target, AdminRequest::Clear { soft })),
        other => Err(format!("{} is not a neighbor command", other.name())),
    }
}

/// `neighbor add` (`add`) or `neighbor remove` a static neighbour: the peer
/// table treats it as discovered while it is configured (not persisted).
async fn static_neighbor(handles: &Handles, neighbor: ScopedAddress, add: bool) -> Result<String, String> {
    let stopped = |e: crate::actor::Stopped| e.to_string();
    handles.peers.set_static(neighbor, add).await.map_err(stopped)?
}

/// Asks `main` and waits for its answer.
async fn daemon(daemon: &DaemonRequests, change: DaemonChange) -> Result<String, String> {
    let (done, answer) = oneshot::channel();
    let gone = || "ndbgpd is stopping".to_string();
    daemon.send(DaemonRequest { change, done }).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shutdown(message: &str) -> Request {
        Request::NeighborShutdown {
            target: NeighborTarget::Interface("eth0".into()),
            message: Some(message.to_string()),
        }
    }

    #[test]
    fn a_shutdown_text_longer_than_rfc_9003_allows_is_refused() {
        // 85 three-byte characters: 255 bytes, the most allowed.
        let most = "€".repeat(85);
        assert_eq!(
            admin_request(shutdown(&most)).map(|(_, r)| r),
            Ok(AdminRequest::Shutdown { message: Some(most) })
        );
        assert_eq!(
            admin_request(shutdown(&"a".repeat(256))).map(|(_, r)| r),
            Err("the shutdown message is 256 bytes; RFC 9003 allows at most 255 bytes of UTF-8".into())
        );
        // An empty text is no text.
        assert_eq!(
            admin_request(shutdown("")).map(|(_, r)| r),
            Ok(AdminRequest::Shutdown { message: None })
        );
    }
}
