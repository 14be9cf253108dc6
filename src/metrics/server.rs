//! The metrics endpoint's server: a TCP listener on `--metrics`, one short
//! task per client, each asked for one [`Scrape`].
//!
//! What a client can cost is bounded: at most [`MAX_CLIENTS`] at once (the
//! others get 503 and are closed), a request head of at most [`MAX_HEAD`]
//! bytes arriving within [`READ_TIMEOUT`], an answer taken within
//! [`WRITE_TIMEOUT`]. A scrape asks the stages for their views through
//! their handles, as `ndbgpctl` does; it never walks the route table.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::http::{self, Asked, Status};
use super::render::CONTENT_TYPE;
use crate::actor::Probes;

/// Clients served at once: Prometheus scrapes with one connection; a few
/// more for a second server and an operator's curl.
pub const MAX_CLIENTS: usize = 4;
/// A request head longer than this is refused (431): a scrape's is a few
/// hundred bytes.
pub const MAX_HEAD: usize = 8 * 1024;
/// The whole request head must arrive within this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A client that takes nothing of its answer for this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the answer, what the client still sends is read and dropped for
/// at most this long and this much, so that closing with unread data
/// (which sends a RST) does not destroy the answer on its way.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// What bounds the clients; [`Limits::default`] in the daemon, smaller in
/// tests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub clients: usize,
    pub max_head: usize,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            clients: MAX_CLIENTS,
            max_head: MAX_HEAD,
            read_timeout: READ_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
        }
    }
}

/// Where a scrape's text comes from: the stages in the daemon.
pub trait Scrape: Clone + Send + Sync + 'static {
    fn scrape(&self) -> impl Future<Output = String> + Send;
}

/// Listen on `addr`.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serve each client on a task of its own, answering `probes` between
/// accepts. Never returns.
pub async fn serve(listener: TcpListener, source: impl Scrape, probes: Probes) {
    serve_with(listener, source, probes, Limits::default()).await
}

/// [`serve`] within `limits`.
pub async fn serve_with(listener: TcpListener, source: impl Scrape, mut probes: Probes, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.clients.max(1)));
    let mut refusing = false;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            never = probes.answer() => match never {},
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Once per busy spell: a flood of clients is not a flood of logs.
            if !refusing {
                warn!("metrics: {} clients at once; refusing more", limits.clients);
                refusing = true;
            }
            // Fits in an empty socket buffer: written at once, or not at all.
            let _ = stream.try_write(&http::error(Status::ServiceUnavailable));
            continue;
        };
        refusing = false;
        let source = source.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match connection(stream, source, limits).await {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => warn!("metrics client dropped: {e}"),
                Err(e) => debug!("metrics connection: {e}"),
                Ok(()) => {}
            }
        });
    }
}

/// A request head as it arrived.
enum Head {
    Complete(Vec<u8>),
    TooLarge,
}

async fn connection(mut stream: TcpStream, source: impl Scrape, limits: Limits) -> io::Result<()> {
    let answer = match tokio::time::timeout(limits.read_timeout, read_head(&mut stream, limits.max_head)).await {
        Err(_) => http::error(Status::RequestTimeout),
        Ok(Err(e)) => return Err(e),
        // Closed before a whole head: nobody to answer.
        Ok(Ok(None)) => return Ok(()),
        Ok(Ok(Some(Head::TooLarge))) => http::error(Status::HeaderFieldsTooLarge),
        Ok(Ok(Some(Head::Complete(head)))) => match http::asked(&head) {
            Asked::Metrics { head_only } => {
                let text = source.scrape().await;
                http::response(Status::Ok, CONTENT_TYPE, text.as_bytes(), head_only)
            }
            Asked::Refused(status) => http::error(status),
        },
    };
    let write = async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    };
    match tokio::time::timeout(limits.write_timeout, write).await {
        Ok(written) => written?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("it read nothing of its answer for {:?}", limits.write_timeout),
            ));
        }
    }
    let _ = tokio::time::timeout(LINGER, drain(&mut stream)).await;
    Ok(())
}

/// Read until the head's empty line; None if the client closed first.
async fn read_head(stream: &mut TcpStream, max: usize) -> io::Result<Option<Head>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        match http::head_len(&buf) {
            Some(len) if len <= max => {
                buf.truncate(len);
                return Ok(Some(Head::Complete(buf)));
            }
            Some(_) => return Ok(Some(Head::TooLarge)),
            None if buf.len() >= max => return Ok(Some(Head::TooLarge)),
            None => {}
        }
    }
}

/// Read and drop what the client still sends, up to its end or a bound.
async fn drain(stream: &mut TcpStream) {
    let mut chunk = [0u8; 4096];
    let mut read = 0;
    while read < LINGER_BYTES {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{self, Supervisor};

    /// A scrape that counts itself.
    #[derive(Clone, Default)]
    struct Fixed {
        scrapes: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Scrape for Fixed {
        async fn scrape(&self) -> String {
            self.scrapes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            "# HELP up Up.\n# TYPE up gauge\nup 1\n".to_string()
        }
    }

    async fn start(limits: Limits) -> (SocketAddr, Fixed, Supervisor) {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let source = Fixed::default();
        let (probe, probes) = actor::probe("metrics");
        let mut supervisor = Supervisor::new();
        supervisor.hold(probe.spawn(serve_with(listener, source.clone(), probes, limits)));
        (addr, source, supervisor)
    }

    /// Send `request`, read the answer to its end.
    async fn ask(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        String::from_utf8(answer).expect("utf-8")
    }

    #[tokio::test]
    async fn metrics_are_served_and_other_requests_refused() {
        let (addr, source, supervisor) = start(Limits::default()).await;
        let ok = ask(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("\r\nContent-Type: text/plain; version=0.0.4"), "{ok}");
        assert!(ok.ends_with("\r\n\r\n# HELP up Up.\n# TYPE up gauge\nup 1\n"), "{ok}");
        let missing = ask(addr, b"GET /other HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let post = ask(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        let junk = ask(addr, b"hello\r\n\r\n").await;
        assert!(junk.starts_with("HTTP/1.1 400 "), "{junk}");
        assert_eq!(
            source.scrapes.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "refused requests scrape nothing"
        );
        // Held by the supervisor, the accept loop answers its probe.
        assert_eq!(supervisor.silent(Duration::from_secs(5)).await, Vec::<&str>::new());
    }

    #[tokio::test]
    async fn a_head_too_large_is_refused() {
        let limits = Limits {
            max_head: 256,
            ..Limits::default()
        };
        let (addr, source, _supervisor) = start(limits).await;
        let mut request = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
        request.extend(std::iter::repeat_n(b'a', 4096));
        request.extend_from_slice(b"\r\n\r\n");
        let answer = ask(addr, &request).await;
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        assert_eq!(source.scrapes.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_client_that_says_nothing_is_timed_out() {
        let limits = Limits {
            read_timeout: Duration::from_millis(100),
            ..Limits::default()
        };
        let (addr, _source, _supervisor) = start(limits).await;
        // Half a head, then silence.
        let answer = tokio::time::timeout(Duration::from_secs(5), ask(addr, b"GET /metrics HTTP/1.1\r\n"))
            .await
            .expect("answered before the test's deadline");
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    }

    #[tokio::test]
    async fn clients_past_the_limit_are_told_to_come_back() {
        let limits = Limits {
            clients: 1,
            ..Limits::default()
        };
        let (addr, _source, _supervisor) = start(limits).await;
        // Holds the only slot: connected, head not finished.
        let mut first = TcpStream::connect(addr).await.expect("connect");
        first.write_all(b"GET /metrics HTTP/1.1\r\n").await.expect("write");
        // The server takes a client at a time: wait until the first holds
        // its slot (the second connection is refused from then on).
        let mut answer = String::new();
        for _ in 0..100 {
            answer = ask(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
            if answer.starts_with("HTTP/1.1 503 ") {
                break;
            }
        }
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        // The first finishes and is served.
        first.write_all(b"\r\n").await.expect("write");
        let mut rest = Vec::new();
        first.read_to_end(&mut rest).await.expect("read");
        assert!(String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200 "));
    }
}
