//! The client's side of the control socket, for `ndbgpctl`: one request,
//! one response, the result read as it streams in, never whole: a full
//! table's answer is hundreds of MB. `monitor` is a stream of lines
//! instead ([`monitor`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::server::{RESULT_START, not_a_directory};
use crate::api::{Request, Response};

/// Sends one request and waits for its answer to begin; the answer is then
/// read with [`read_result`]. A daemon that has not begun to answer within
/// `answer_within` (stopped, wedged) is a `TimedOut` error; once it has,
/// a long answer (a full table) is read to its end.
pub async fn send(path: &Path, request: &Request, answer_within: Duration) -> io::Result<BufReader<StdUnixStream>> {
    let (stream, sent) = within(path, answer_within, ask(path, request)).await??;
    // The answer is read blocking, a buffer at a time, as it is printed.
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    if reader.fill_buf()?.is_empty() {
        sent?;
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "ndbgpd closed the connection without answering",
        ));
    }
    Ok(reader)
}

/// Why connecting to the control socket failed, with what to do about it:
/// only a socket that is not there (or that no one listens on) means that
/// ndbgpd may not be running.
pub fn connect_error(path: &Path, e: &io::Error) -> String {
    let at = path.display();
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "permission denied on {at}: run ndbgpctl as root or as a member of the group of the socket \
             and its folder (ndbgpd makes the socket mode 0660)"
        ),
        io::ErrorKind::NotADirectory => match not_a_directory(path) {
            Some(file) => format!("cannot connect to {at}: {} is not a directory", file.display()),
            None => format!("cannot connect to {at}: {e}"),
        },
        _ => format!("cannot connect to {at}: {e} (is ndbgpd running?)"),
    }
}

/// Connects, sends `request` and waits until the answer begins: the
/// stream, and whether the request was written.
async fn ask(path: &Path, request: &Request) -> io::Result<(UnixStream, io::Result<()>)> {
    let mut stream = UnixStream::connect(path)
        .await
        .map_err(|e| io::Error::new(e.kind(), connect_error(path, &e)))?;
    let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
    line.push(b'\n');
    // A daemon with all its client slots taken answers and closes at
    // once, maybe before the request is written: its answer is still
    // there to read.
    let sent = stream.write_all(&line).await;
    stream.readable().await?;
    Ok((stream, sent))
}

/// `step` within `answer_within`, else a `TimedOut` error naming `path`.
async fn within<T>(path: &Path, answer_within: Duration, step: impl Future<Output = T>) -> io::Result<T> {
    tokio::time::timeout(answer_within, step).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("ndbgpd did not answer on {} within {answer_within:?}", path.display()),
        )
    })
}

/// Asks for the `monitor` stream and reads its first line within
/// `answer_within`; then the events come a line each, for as long as they
/// come: a quiet daemon is not a timeout once the stream has begun.
pub async fn monitor(path: &Path, answer_within: Duration) -> io::Result<tokio::io::BufReader<UnixStream>> {
    let started = async {
        let (stream, sent) = ask(path, &Request::Monitor).await?;
        let mut reader = tokio::io::BufReader::new(stream);
        let mut first = Vec::new();
        reader.read_until(b'\n', &mut first).await?;
        if first.is_empty() {
            sent?;
        }
        monitor_started(&first)?;
        io::Result::Ok(reader)
    };
    within(path, answer_within, started).await?
}

/// The first line of the `monitor` answer: `{"ok":true}` once the daemon
/// streams, else its error.
pub fn monitor_started(line: &[u8]) -> io::Result<()> {
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "ndbgpd closed the connection without answering",
        ));
    }
    if !line.ends_with(b"\n") {
        return Err(cut_short());
    }
    let response: Response = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    match (response.ok, response.error) {
        (true, _) => Ok(()),
        (false, Some(err)) => Err(io::Error::other(err)),
        (false, None) => Err(io::Error::other("empty response from ndbgpd")),
    }
}

/// Takes a result's JSON text as it comes.
pub trait ResultSink {
    /// The next bytes of the result; `Some(n)` once the result (a JSON
    /// array or object) ended with the `n`th of them.
    fn take(&mut self, bytes: &[u8]) -> io::Result<Option<usize>>;
}

/// Reads one response line from `reader`, handing its result to `sink` as
/// it comes; a response that says `ok: false` is its error's text.
pub fn read_result(reader: &mut impl BufRead, sink: &mut impl ResultSink) -> io::Result<()> {
    let mut head = Vec::with_capacity(RESULT_START.len());
    while head.len() < RESULT_START.len() && RESULT_START.starts_with(&head) {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(RESULT_START.len() - head.len());
        head.extend_from_slice(&buf[..n]);
        reader.consume(n);
    }
    if head != RESULT_START {
        // An error, or a result laid out otherwise: read whole.
        let mut line = head;
        reader.read_until(b'\n', &mut line)?;
        return whole_response(&line, sink);
    }
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Err(cut_short());
        }
        let len = buf.len();
        match sink.take(buf)? {
            Some(n) => {
                reader.consume(n);
                break;
            }
            None => reader.consume(len),
        }
    }
    // What is left of the line closes the envelope.
    let mut rest = Vec::new();
    reader.take(64).read_until(b'\n', &mut rest)?;
    match rest.trim_ascii() {
        b"}" if rest.ends_with(b"\n") => Ok(()),
        _ if !rest.ends_with(b"\n") => Err(cut_short()),
        other => Err(bad(format!("{:?} after the result", String::from_utf8_lossy(other)))),
    }
}

fn whole_response(line: &[u8], sink: &mut impl ResultSink) -> io::Result<()> {
    if !line.ends_with(b"\n") {
        return Err(cut_short());
    }
    let response: Response = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    match (response.ok, response.result, response.error) {
        (true, Some(result), _) => match sink.take(result.get().as_bytes())? {
            Some(_) => Ok(()),
            None => Err(bad("a result that is not an array or object".into())),
        },
        (_, _, Some(err)) => Err(io::Error::other(err)),
        _ => Err(io::Error::other("empty response from ndbgpd")),
    }
}

fn cut_short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "ndbgpd's answer was cut short (the connection closed)",
    )
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad response from ndbgpd: {what}"))
}

/// A result written out as `serde_json::to_string_pretty` would write it,
/// as it comes, without building a tree.
pub struct Pretty<W> {
    out: W,
    /// Output gathered per [`ResultSink::take`], written at its end.
    buf: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// A bracket opened and not yet written: `[]` and `{}` stay on one line.
    open: Option<u8>,
}

impl<W: Write> Pretty<W> {
    pub fn new(out: W) -> Self {
        Pretty {
            out,
            buf: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            open: None,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn newline(&mut self) {
        self.buf.push(b'\n');
        for _ in 0..self.depth {
            self.buf.extend_from_slice(b"  ");
        }
    }

    /// One byte outside strings; true when it ends the value.
    fn structural(&mut self, c: u8) -> io::Result<bool> {
        if c.is_ascii_whitespace() {
            return Ok(false);
        }
        if let Some(open) = self.open.take() {
            if c == closing(open) {
                self.buf.extend_from_slice(&[open, c]);
                return Ok(self.depth == 0);
            }
            self.buf.push(open);
            self.depth += 1;
            self.newline();
        } else if self.depth == 0 && c != b'[' && c != b'{' {
            return Err(bad("a result that is not an array or object".into()));
        }
        match c {
            b'{' | b'[' => self.open = Some(c),
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                self.newline();
                self.buf.push(c);
                return Ok(self.depth == 0);
            }
            b',' => {
                self.buf.push(b',');
                self.newline();
            }
            b':' => self.buf.extend_from_slice(b": "),
            b'"' => {
                self.in_string = true;
                self.buf.push(c);
            }
            c => self.buf.push(c),
        }
        Ok(false)
    }
}

impl<W: Write> ResultSink for Pretty<W> {
    fn take(&mut self, bytes: &[u8]) -> io::Result<Option<usize>> {
        let mut i = 0;
        let mut ended = None;
        while i < bytes.len() {
            if self.in_string {
                // Strings are copied a run at a time, up to a quote or an escape.
                let rest = &bytes[i..];
                let run = rest.iter().position(|&b| b == b'"' || b == b'\\').unwrap_or(rest.len());
                let run = if self.escaped { run.max(1) } else { run };
                self.buf.extend_from_slice(&rest[..run]);
                i += run;
                if self.escaped {
                    self.escaped = false;
                    continue;
                }
                if let Some(&c) = bytes.get(i) {
                    self.buf.push(c);
                    i += 1;
                    match c {
                        b'\\' => self.escaped = true,
                        _ => self.in_string = false,
                    }
                }
                continue;
            }
            // Numbers and literals are copied a run at a time too.
            let rest = &bytes[i..];
            let run = rest.iter().position(|&b| !plain(b)).unwrap_or(rest.len());
            if run > 0 && self.open.is_none() && self.depth > 0 {
                self.buf.extend_from_slice(&rest[..run]);
                i += run;
                continue;
            }
            let c = bytes[i];
            i += 1;
            if self.structural(c)? {
                ended = Some(i);
                break;
            }
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(ended)
    }
}

/// A byte of a number or a literal (`true`, `false`, `null`).
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
}

fn closing(open: u8) -> u8 {
    if open == b'{' { b'}' } else { b']' }
}

/// A result that is an array, handed to `each` an element's JSON text at
/// a time: a table printed as its rows come.
pub struct Elements<F> {
    each: F,
    element: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl<F: FnMut(&[u8]) -> io::Result<()>> Elements<F> {
    pub fn new(each: F) -> Self {
        Elements {
            each,
            element: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    fn element_done(&mut self) -> io::Result<()> {
        if !self.element.trim_ascii().is_empty() {
            (self.each)(&self.element)?;
        }
        self.element.clear();
        Ok(())
    }
}

impl<F: FnMut(&[u8]) -> io::Result<()>> ResultSink for Elements<F> {
    fn take(&mut self, bytes: &[u8]) -> io::Result<Option<usize>> {
        for (i, &c) in bytes.iter().enumerate() {
            if self.in_string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                self.element.push(c);
                continue;
            }
            match (self.depth, c) {
                (0, b'[') => self.depth = 1,
                (0, c) if c.is_ascii_whitespace() => {}
                (0, _) => return Err(bad("a result that is not an array".into())),
                (1, b',') => self.element_done()?,
                (1, b']') => {
                    self.element_done()?;
                    return Ok(Some(i + 1));
                }
                (_, c) => {
                    match c {
                        b'"' => self.in_string = true,
                        b'[' | b'{' => self.depth += 1,
                        b']' | b'}' => self.depth -= 1,
                        _ => {}
                    }
                    self.element.push(c);
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<serde_json::Value> {
        vec![
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([{"a": [], "b": {}, "c": [1, 2.5, -3], "d": null, "e": true}]),
            serde_json::json!({"s": "a \"quoted\" {brace}, [bracket]: colon \\", "u": "é\u{1}", "n": {"m": [[], [{}]]}}),
            serde_json::json!([{"t": "\\\\\"", "x": ["]", "[", "\\"]}, [], "end\\"]),
        ]
    }

    /// A response line, fed to `sink` in reads of `chunk` bytes.
    fn read_in_chunks(line: &[u8], chunk: usize, sink: &mut impl ResultSink) -> io::Result<()> {
        let mut reader = BufReader::with_capacity(chunk, line);
        read_result(&mut reader, sink)
    }

    fn response(result: &serde_json::Value) -> Vec<u8> {
        let mut line = RESULT_START.to_vec();
        line.extend_from_slice(serde_json::to_string(result).unwrap().as_bytes());
        line.extend_from_slice(b"}\n");
        line
    }

    #[test]
    fn pretty_as_serde_json_writes_it_whatever_the_reads() {
        for v in values() {
            let line = response(&v);
            for chunk in [1, 2, 3, 7, 64, 4096] {
                let mut pretty = Pretty::new(Vec::new());
                read_in_chunks(&line, chunk, &mut pretty).unwrap();
                assert_eq!(
                    String::from_utf8(pretty.into_inner()).unwrap(),
                    serde_json::to_string_pretty(&v).unwrap(),
                    "reads of {chunk}"
                );
            }
        }
    }

    #[test]
    fn elements_come_one_at_a_time_whatever_the_reads() {
        let v = serde_json::json!([{"a": "],[\\\"", "b": [1, {"c": []}]}, [], 3, "x,y"]);
        let line = response(&v);
        for chunk in [1, 2, 5, 4096] {
            let mut seen = Vec::new();
            let mut elements = Elements::new(|e: &[u8]| {
                seen.push(serde_json::from_slice::<serde_json::Value>(e).map_err(io::Error::other)?);
                Ok(())
            });
            read_in_chunks(&line, chunk, &mut elements).unwrap();
            assert_eq!(serde_json::Value::Array(seen), v, "reads of {chunk}");
        }
    }

    #[test]
    fn an_answer_cut_short_is_an_error() {
        let line = response(&serde_json::json!([{"a": 1}, {"a": 2}]));
        for end in [
            RESULT_START.len() - 3,
            RESULT_START.len() + 5,
            line.len() - 2,
            line.len() - 1,
        ] {
            let mut pretty = Pretty::new(Vec::new());
            let err = read_in_chunks(&line[..end], 4, &mut pretty).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "cut at {end}: {err}");
        }
        let mut pretty = Pretty::new(Vec::new());
        read_in_chunks(&line, 4, &mut pretty).unwrap();
    }

    #[test]
    fn the_monitor_stream_begins_with_its_first_line_or_an_error() {
        assert!(monitor_started(crate::control::server::MONITOR_START).is_ok());
        let refused = br#"{"ok":false,"error":"too many control clients (16 at once); try again later"}"#;
        let err = monitor_started(&[&refused[..], b"\n"].concat()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "too many control clients (16 at once); try again later"
        );
        assert_eq!(monitor_started(b"").unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            monitor_started(b"{\"ok\":tr").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(monitor_started(b"[]\n").unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn an_error_answer_is_its_text() {
        let line = br#"{"ok":false,"error":"too many control clients (16 at once); try again later"}"#.to_vec();
        let mut pretty = Pretty::new(Vec::new());
        let err = read_in_chunks(&[line, b"\n".to_vec()].concat(), 3, &mut pretty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "too many control clients (16 at once); try again later"
        );
        assert!(pretty.into_inner().is_empty());
    }
}
