//! The client's side of the control socket, for `ndbgpctl`: one request,
//! one response, and the answer printed as indented JSON without parsing it.

use std::io;
use std::path::Path;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::api::{Request, Response};

/// Sends one request and reads its response's result. A daemon that
/// has not begun to answer within `answer_within` (stopped, wedged) is a
/// `TimedOut` error; once it has, a long answer (a full table) is read to
/// its end.
pub async fn request(path: &Path, request: Request, answer_within: Duration) -> io::Result<Box<RawValue>> {
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
}
