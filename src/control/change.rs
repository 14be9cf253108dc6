//! The requests that change the daemon's state (`announce`, `neighbor
//! ...`, `interface ...`, `reload`): each goes to the task that owns what it
//! changes, and comes back as one line for the operator, or the reason it
//! was refused.

use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};

use super::server::Handles;
use crate::api::{Changed, NeighborTarget, Request, ScopedAddress};

/// What `main` alone can do, because it owns the running configuration:
/// reload it, add or remove an interface. It answers `done`.
#[derive(Debug)]
pub struct DaemonRequest {
    pub request: Request,
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
        Request::InterfaceAdd { .. } | Request::InterfaceRemove { .. } | Request::Reload => {
            daemon(&handles.daemon, request).await
        }
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

/// `neighbor shutdown`, `neighbor enable` and `neighbor clear`.
async fn neighbor(handles: &Handles, request: Request) -> Result<String, String> {
    let _ = (&handles.bgp, request, NeighborTarget::Interface(String::new()));
    Err("not implemented yet".into())
}

/// `neighbor add` (`add`) or `neighbor remove` a static neighbour.
async fn static_neighbor(handles: &Handles, neighbor: ScopedAddress, add: bool) -> Result<String, String> {
    let _ = (&handles.peers, neighbor, add);
    Err("not implemented yet".into())
}

/// Asks `main` and waits for its answer.
async fn daemon(daemon: &DaemonRequests, request: Request) -> Result<String, String> {
    let (done, answer) = oneshot::channel();
    let gone = || "ndbgpd is stopping".to_string();
    daemon.send(DaemonRequest { request, done }).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}
