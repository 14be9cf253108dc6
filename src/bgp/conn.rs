//! One BGP transport connection: a reader task that frames and decodes, a
//! writer task that drains a queue. Both report to the owning session over
//! one channel, tagged with the connection's id so that events of a
//! connection already dropped are recognised and ignored.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::transport::{BoxStream, ReadHalf, WriteHalf};
use crate::msg::{HEADER_LEN, Message, MsgError, decode, frame, msg_type};

/// Messages queued for writing before the connection counts as stuck. A
/// healthy peer drains this; a frozen one trips the hold timer long before.
const WRITE_QUEUE: usize = 16384;
const READ_CHUNK: usize = 8192;
/// A connection that has read all there was waits for its next bytes in
/// a buffer this small, kept in its task: a KEEPALIVE is 19 bytes, and a
/// thousand idle sessions each waiting on a zeroed READ_CHUNK held 8 MB.
const IDLE_READ: usize = 64;

/// What a connection's tasks report.
#[derive(Debug)]
pub enum ConnEvent {
    Message(Message),
    /// The peer's bytes did not frame or decode: send its NOTIFICATION.
    Malformed(MsgError),
    /// A NOTIFICATION that did not frame or decode: close without an
    /// answer (RFC 4271 6.4).
    MalformedNotification(MsgError),
    /// The connection is gone: closed by the peer or failed.
    Closed(String),
}

/// The session's handle on a live connection. Dropping it closes the
/// connection after the queued messages are written.
pub struct Conn {
    pub id: u64,
    writer: Option<mpsc::Sender<Vec<u8>>>,
    reader: JoinHandle<()>,
    writer_task: Option<JoinHandle<()>>,
}

impl Conn {
    pub fn start(id: u64, stream: BoxStream, events: mpsc::Sender<(u64, ConnEvent)>) -> Conn {
        let (read, write) = stream.split();
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_loop(id, read, events.clone()));
        let writer_task = tokio::spawn(write_loop(id, write, queue, events));
        Conn {
            id,
            writer: Some(writer),
            reader,
            writer_task: Some(writer_task),
        }
    }

    /// Queue a message. A full queue means the peer stopped reading: the
    /// connection is reported broken rather than buffering without bound.
    pub fn send(&self, msg: &Message) -> Result<(), String> {
        let bytes = msg.encode().map_err(|e| format!("cannot encode {msg:?}: {e}"))?;
        let writer = self.writer.as_ref().ok_or("connection closing")?;
        writer
            .try_send(bytes)
            .map_err(|_| "write queue full: peer not reading".to_string())
    }

    /// Queue an already encoded message (UPDATEs from the routes task).
    pub fn send_raw(&self, bytes: Vec<u8>) -> Result<(), String> {
        let writer = self.writer.as_ref().ok_or("connection closing")?;
        writer
            .try_send(bytes)
            .map_err(|_| "write queue full: peer not reading".to_string())
    }

    /// Write what is queued, then FIN; `is_finished` tells when done.
    pub fn close(&mut self) {
        self.writer = None;
    }

    /// The writer has ended: everything queued is written (or failed).
    pub fn is_finished(&self) -> bool {
        self.writer_task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Close after writing everything queued; returns once written.
    pub async fn finish(mut self) {
        self.writer = None;
        if let Some(task) = self.writer_task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The writer ends by itself once its queue is drained and closed.
        self.reader.abort();
    }
}

async fn read_loop(id: u64, mut read: ReadHalf, events: mpsc::Sender<(u64, ConnEvent)>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut idle = [0u8; IDLE_READ];
    // The last read took all the socket had: the next one likely waits.
    let mut drained = true;
    let event = loop {
        // Hand over every whole message already buffered.
        match frame(&buf) {
            Ok(Some(len)) => {
                let event = match decode(&buf[..len]) {
                    Ok(msg) => ConnEvent::Message(msg),
                    Err(e) => break malformed(&buf, e),
                };
                buf.drain(..len);
                if events.send((id, event)).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => break malformed(&buf, e),
        }
        let result = if buf.is_empty() && drained {
            if buf.capacity() > IDLE_READ {
                buf = Vec::new();
            }
            let result = read.read(&mut idle).await;
            if let Ok(n) = result {
                buf.extend_from_slice(&idle[..n]);
                drained = n < IDLE_READ;
            }
            result
        } else {
            let start = buf.len();
            buf.resize(start + READ_CHUNK, 0);
            let result = read.read(&mut buf[start..]).await;
            let n = *result.as_ref().unwrap_or(&0);
            buf.truncate(start + n);
            drained = n < READ_CHUNK;
            result
        };
        match result {
            Ok(0) => break ConnEvent::Closed("peer closed the connection".into()),
            Ok(_) => {}
            Err(e) => break ConnEvent::Closed(format!("read: {e}")),
        }
    };
    let _ = events.send((id, event)).await;
}

/// The event for a message at the start of `buf` that failed `error`.
fn malformed(buf: &[u8], error: MsgError) -> ConnEvent {
    if is_notification(buf) {
        ConnEvent::MalformedNotification(error)
    } else {
        ConnEvent::Malformed(error)
    }
}

/// Whether `buf` starts with a header (marker all ones) of a NOTIFICATION.
/// With a bad marker the type octet means nothing: that error is answered.
fn is_notification(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN && buf[..16].iter().all(|&b| b == 0xff) && buf[18] == msg_type::NOTIFICATION
}

async fn write_loop(
    id: u64,
    mut write: WriteHalf,
    mut queue: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<(u64, ConnEvent)>,
) {
    while let Some(bytes) = queue.recv().await {
        if let Err(e) = write.write_all(&bytes).await {
            let _ = events.send((id, ConnEvent::Closed(format!("write: {e}")))).await;
            return;
        }
    }
    // The session dropped the connection: FIN after the last queued message.
    let _: io::Result<()> = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(length: u16, kind: u8) -> Vec<u8> {
        let mut bytes = vec![0xff; 16];
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.push(kind);
        bytes
    }

    #[test]
    fn a_malformed_notification_is_told_apart() {
        // Length 20: shorter than any NOTIFICATION (21).
        let short = header(20, msg_type::NOTIFICATION);
        let error = frame(&short).expect_err("too short for a NOTIFICATION");
        assert!(matches!(malformed(&short, error), ConnEvent::MalformedNotification(_)));

        let short_open = header(20, msg_type::OPEN);
        let error = frame(&short_open).expect_err("too short for an OPEN");
        assert!(matches!(malformed(&short_open, error), ConnEvent::Malformed(_)));

        // A bad marker: the type octet says nothing.
        let mut bad_marker = header(21, msg_type::NOTIFICATION);
        bad_marker[0] = 0;
        let error = frame(&bad_marker).expect_err("bad marker");
        assert!(matches!(malformed(&bad_marker, error), ConnEvent::Malformed(_)));
    }
}
