//! The daemon's side of the control socket: one connection task per
//! client, one [`Answer`] per request line, gathered from the tasks that
//! own the state.
//!
//! Answers are serialized straight from the typed views, not through a
//! `serde_json::Value`: for a full table (1M routes, some 450 MB of JSON) a
//! `Value` tree took the daemon to 4 GB of RSS.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::value::to_raw_value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use crate::actor::{Probes, Stopped};
use crate::api::{Answer, InterfaceEntry, InterfaceNeighbors, InterfaceView, Request, Response};
use crate::bgp::manager::BgpHandle;
use crate::nd::service::NdHandle;
use crate::peers::PeerTableHandle;
use crate::rib::task::RoutesHandle;

/// A request line longer than this is refused: nothing we answer needs it.
const MAX_REQUEST: usize = 4096;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Handles to the tasks whose state the control socket shows.
#[derive(Clone)]
pub struct Handles {
    pub peers: PeerTableHandle,
    pub nd: NdHandle,
    pub bgp: BgpHandle,
    pub routes: RoutesHandle,
}

/// Bind the socket, refusing to steal it from a running daemon.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use: is another ndbgpd running?", path.display()),
            ));
        }
        // A stale socket from a daemon that died.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Serve each client on a task of its own, answering `probes` between
/// accepts. Never returns.
pub async fn serve(listener: UnixListener, handles: Handles, probes: Probes) {
    accept_each(listener, probes, |stream| {
        let handles = handles.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, handles).await {
                debug!("control connection: {e}");
            }
        });
    })
    .await
}

/// Hand each client accepted to `each`, answering `probes` meanwhile.
async fn accept_each(listener: UnixListener, mut probes: Probes, mut each: impl FnMut(UnixStream)) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            never = probes.answer() => match never {},
        };
        match accepted {
            Ok((stream, _)) => each(stream),
            Err(e) => {
                warn!("control socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: UnixStream, handles: Handles) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read.take(MAX_REQUEST as u64 * 64));
    loop {
        let mut line = String::new();
        let n = match tokio::time::timeout(IDLE_TIMEOUT, lines.read_line(&mut line)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        let response = match parse_request(&line) {
            Ok(request) => respond(request, &handles).await,
            Err(e) => error(e),
        };
        match &response {
            // A result goes out as serialized, not copied into a second
            // buffer (a full table is hundreds of MB).
            Response {
                ok: true,
                result: Some(result),
                error: None,
            } => {
                write.write_all(br#"{"ok":true,"result":"#).await?;
                write.write_all(result.get().as_bytes()).await?;
                write.write_all(b"}\n").await?;
            }
            _ => {
                let mut out = serde_json::to_vec(&response).map_err(io::Error::other)?;
                out.push(b'\n');
                write.write_all(&out).await?;
            }
        }
    }
}

/// One request line as a client sent it, or why it is refused (public for
/// the fuzz target `control_request`).
pub fn parse_request(line: &str) -> Result<Request, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!("request longer than {MAX_REQUEST} bytes"));
    }
    serde_json::from_str::<Request>(line.trim()).map_err(|e| format!("bad request: {e}"))
}

fn error(text: String) -> Response {
    Response {
        ok: false,
        result: None,
        error: Some(text),
    }
}

async fn respond(request: Request, handles: &Handles) -> Response {
    let answer = match answer(request, handles).await {
        Ok(answer) => answer,
        // A stage that has stopped says which.
        Err(stopped) => return error(stopped.to_string()),
    };
    // Seconds of work for a full table: off the runtime's workers.
    match tokio::task::spawn_blocking(move || to_raw_value(&answer)).await {
        Ok(Ok(result)) => Response {
            ok: true,
            result: Some(result),
            error: None,
        },
        Ok(Err(e)) => error(format!("internal error: {e}")),
        Err(e) => error(format!("internal error: {e}")),
    }
}

/// The answer to `request`, from the tasks that own its state.
async fn answer(request: Request, handles: &Handles) -> Result<Answer, Stopped> {
    Ok(match request {
        Request::Discovery => Answer::Discovery(handles.peers.snapshot().await?),
        Request::Neighbors => Answer::Neighbors(handles.bgp.neighbors().await?),
        Request::Routes { prefix } => Answer::Routes(handles.routes.routes(prefix).await?),
        Request::Interfaces => {
            let interfaces = handles.nd.interfaces().await?;
            let neighbors = handles.peers.neighbors().await?;
            Answer::Interfaces(interface_entries(interfaces, &neighbors))
        }
    })
}

/// Each ND interface view with the peer table's part for it (none yet:
/// nothing counted).
fn interface_entries(
    interfaces: Vec<InterfaceView>,
    neighbors: &HashMap<String, InterfaceNeighbors>,
) -> Vec<InterfaceEntry> {
    interfaces
        .into_iter()
        .map(|nd| {
            let neighbors = neighbors.get(&nd.interface).copied().unwrap_or_default();
            InterfaceEntry { nd, neighbors }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{self, Supervisor};
    use crate::api::PeerCounters;

    /// Held by the supervisor, the accept loop answers its probe, before
    /// and after a client.
    #[tokio::test]
    async fn the_server_answers_probes_between_clients() {
        let path = std::env::temp_dir().join(format!("ndbgp-control-test-{}.sock", std::process::id()));
        let listener = bind(&path).await.expect("bind");
        let (probe, probes) = actor::probe("control server");
        let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
        let mut supervisor = Supervisor::new();
        supervisor.hold(probe.spawn(accept_each(listener, probes, move |stream| {
            let _ = accepted_tx.send(stream);
        })));
        let deadline = Duration::from_secs(5);
        assert_eq!(supervisor.silent(deadline).await, Vec::<&str>::new());
        let _client = UnixStream::connect(&path).await.expect("connect");
        assert!(accepted.recv().await.is_some(), "no client accepted");
        assert_eq!(supervisor.silent(deadline).await, Vec::<&str>::new());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_result_is_written_as_it_was_serialized() {
        // The envelope `connection` writes by hand is the derived one.
        let response = Response {
            ok: true,
            result: to_raw_value(&vec![1, 2]).ok(),
            error: None,
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"ok":true,"result":[1,2]}"#
        );
        let back: Response = serde_json::from_str(r#"{"ok":true,"result":[ {"a": 1} ]}"#).unwrap();
        assert_eq!(back.result.map(|r| r.get().to_string()), Some(r#"[ {"a": 1} ]"#.into()));
    }

    #[test]
    fn interfaces_get_the_peer_tables_part_by_name() {
        let interfaces = ["eth0", "eth1", "eth2"].map(|name| InterfaceView {
            interface: name.into(),
            ..InterfaceView::default()
        });
        let refused = PeerCounters {
            refused: 3,
            ignored_down: 1,
        };
        let neighbors = |count, counters| InterfaceNeighbors { count, counters };
        let table = HashMap::from([
            ("eth0".to_string(), neighbors(1, PeerCounters::default())),
            ("eth1".to_string(), neighbors(2, refused)),
            ("eth9".to_string(), neighbors(1, PeerCounters::default())),
        ]);
        let out = interface_entries(interfaces.to_vec(), &table);
        let seen: Vec<(&str, InterfaceNeighbors)> =
            out.iter().map(|e| (e.nd.interface.as_str(), e.neighbors)).collect();
        assert_eq!(
            seen,
            [
                ("eth0", neighbors(1, PeerCounters::default())),
                ("eth1", neighbors(2, refused)),
                ("eth2", InterfaceNeighbors::default()),
            ]
        );
    }

    #[test]
    fn a_request_line_parses_or_says_why_not() {
        assert_eq!(parse_request("{\"command\":\"neighbors\"}\n"), Ok(Request::Neighbors));
        let bad = parse_request("{\"command\":\"reboot\"}").unwrap_err();
        assert!(bad.starts_with("bad request: "), "{bad}");
        let long = format!("{{\"command\":\"neighbors\"}}{}", " ".repeat(MAX_REQUEST));
        assert_eq!(
            parse_request(&long),
            Err(format!("request longer than {MAX_REQUEST} bytes"))
        );
    }
}
