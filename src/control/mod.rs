//! The control socket: a Unix stream socket carrying one JSON request per
//! line and one JSON response per line. `ndbgpctl` is its client.
//!
//! Request:  `{"command":"discovery"}`, `{"command":"routes","prefix":"10.0.0.0/8"}`
//! Response: `{"ok":true,"result":...}` or `{"ok":false,"error":"..."}`
//!
//! Routes are serialized straight from the daemon's view, not through a
//! `serde_json::Value`: for a full table (1M routes, some 450 MB of JSON) a
//! `Value` tree took the daemon to 4 GB of RSS.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::value::{RawValue, to_raw_value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use crate::bgp::manager::BgpHandle;
use crate::nd::service::NdHandle;
use crate::peers::PeerTableHandle;
use crate::rib::task::RoutesHandle;

/// A request line longer than this is refused: nothing we answer needs it.
const MAX_REQUEST: usize = 4096;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// The peer table.
    Discovery,
    /// Configured interfaces with their ND counters.
    Interfaces,
    /// BGP sessions.
    Neighbors,
    /// The Loc-RIB with every path and what is in the kernel: the routes
    /// equal to or inside `prefix`, all without it.
    Routes {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<IpNet>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

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

pub async fn serve(listener: UnixListener, handles: Handles) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let handles = handles.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, handles).await {
                        debug!("control connection: {e}");
                    }
                });
            }
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
        let response = if line.len() > MAX_REQUEST {
            error(format!("request longer than {MAX_REQUEST} bytes"))
        } else {
            match serde_json::from_str::<Request>(line.trim()) {
                Ok(request) => answer(request, &handles).await,
                Err(e) => error(format!("bad request: {e}")),
            }
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

fn error(text: String) -> Response {
    Response {
        ok: false,
        result: None,
        error: Some(text),
    }
}

async fn answer(request: Request, handles: &Handles) -> Response {
    match result(request, handles).await {
        Ok(value) => Response {
            ok: true,
            result: Some(value),
            error: None,
        },
        // A stage that has stopped says which.
        Err(e) => error(format!("{e:#}")),
    }
}

async fn result(request: Request, handles: &Handles) -> anyhow::Result<Box<RawValue>> {
    let result = match request {
        Request::Discovery => to_raw_value(&handles.peers.snapshot().await?),
        Request::Neighbors => to_raw_value(&handles.bgp.neighbors().await?),
        Request::Routes { prefix } => {
            // Seconds of work for a full table: off the runtime's workers.
            let routes = handles.routes.routes(prefix).await?;
            let serialized = tokio::task::spawn_blocking(move || to_raw_value(&routes)).await;
            serialized.context("internal error")?
        }
        Request::Interfaces => {
            let mut views = serde_json::to_value(handles.nd.interfaces().await?);
            let counters = handles.peers.counters().await?;
            if let Ok(serde_json::Value::Array(items)) = &mut views {
                for item in items {
                    let name = item
                        .get("interface")
                        .and_then(|n| n.as_str())
                        .unwrap_or_default()
                        .to_string();
                    let peer_counters = counters.get(&name).cloned().unwrap_or_default();
                    if let Some(obj) = item.as_object_mut() {
                        obj.insert(
                            "neighbors".into(),
                            serde_json::to_value(peer_counters).unwrap_or_default(),
                        );
                    }
                }
            }
            views.and_then(|v| to_raw_value(&v))
        }
    };
    result.context("internal error")
}

/// The client side: send one request, read one response. A daemon that
/// has not begun to answer within `answer_within` (stopped, wedged) is a
/// `TimedOut` error; once it has, a long answer (a full table) is read to
/// its end.
pub async fn request(path: &PathBuf, request: Request, answer_within: Duration) -> io::Result<Box<RawValue>> {
    let start = async {
        let stream = UnixStream::connect(path).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot connect to {}: {e} (is ndbgpd running?)", path.display()),
            )
        })?;
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_vec(&request).map_err(io::Error::other)?;
        line.push(b'\n');
        write.write_all(&line).await?;
        let mut reader = BufReader::new(read);
        reader.fill_buf().await?;
        io::Result::Ok(reader)
    };
    let mut reader = tokio::time::timeout(answer_within, start).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("ndbgpd did not answer on {} within {answer_within:?}", path.display()),
        )
    })??;
    let mut reply = String::new();
    reader.read_line(&mut reply).await?;
    let response: Response = serde_json::from_str(&reply)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad response from ndbgpd: {e}")))?;
    match (response.ok, response.result, response.error) {
        (true, Some(result), _) => Ok(result),
        (_, _, Some(err)) => Err(io::Error::other(err)),
        _ => Err(io::Error::other("empty response from ndbgpd")),
    }
}

/// Writes compact JSON indented as `serde_json::to_string_pretty` would,
/// without building a tree: a full table's answer is hundreds of MB.
pub fn write_pretty(json: &str, out: &mut impl io::Write) -> io::Result<()> {
    let bytes = json.as_bytes();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut dyn io::Write, depth: usize| -> io::Result<()> {
        out.write_all(b"\n")?;
        for _ in 0..depth {
            out.write_all(b"  ")?;
        }
        Ok(())
    };
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        i += 1;
        if in_string {
            out.write_all(&[c])?;
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                out.write_all(b"\"")?;
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                let next = bytes[i..].iter().position(|b| !b.is_ascii_whitespace());
                if let Some(n) = next.filter(|&n| bytes[i + n] == close) {
                    out.write_all(&[c, close])?;
                    i += n + 1;
                } else {
                    out.write_all(&[c])?;
                    depth += 1;
                    newline(out, depth)?;
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth)?;
                out.write_all(&[c])?;
            }
            b',' => {
                out.write_all(b",")?;
                newline(out, depth)?;
            }
            b':' => out.write_all(b": ")?,
            c if c.is_ascii_whitespace() => {}
            c => out.write_all(&[c])?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_as_serde_json_writes_it() {
        let values = [
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([{"a": [], "b": {}, "c": [1, 2.5, -3], "d": null, "e": true}]),
            serde_json::json!({"s": "a \"quoted\" {brace}, [bracket]: colon \\", "u": "é\u{1}", "n": {"m": [[], [{}]]}}),
        ];
        for v in values {
            let mut out = Vec::new();
            write_pretty(&serde_json::to_string(&v).unwrap(), &mut out).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string_pretty(&v).unwrap()
            );
        }
    }

    #[test]
    fn requests_on_the_wire() {
        let parse = |s: &str| serde_json::from_str::<Request>(s).map_err(|e| e.to_string());
        assert_eq!(parse(r#"{"command":"neighbors"}"#), Ok(Request::Neighbors));
        assert_eq!(parse(r#"{"command":"routes"}"#), Ok(Request::Routes { prefix: None }));
        assert_eq!(
            parse(r#"{"command":"routes","prefix":"10.1.0.0/16"}"#),
            Ok(Request::Routes {
                prefix: Some("10.1.0.0/16".parse().unwrap())
            })
        );
        assert!(parse(r#"{"command":"routes","prefix":"10.1.0.0/33"}"#).is_err());
        assert!(parse(r#"{"command":"reboot"}"#).is_err());
        let line = serde_json::to_string(&Request::Routes { prefix: None }).unwrap();
        assert_eq!(line, r#"{"command":"routes"}"#);
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
}
