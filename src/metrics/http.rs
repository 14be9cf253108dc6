//! The little of HTTP/1.1 (RFC 9112) the metrics endpoint speaks, pure:
//! where a request's head ends, what it asks for, and the bytes of an
//! answer. One request per connection, answered with `Connection: close`;
//! a request body is never read (GET has none).

/// The answers we give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    HeaderFieldsTooLarge,
    ServiceUnavailable,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::HeaderFieldsTooLarge => "431 Request Header Fields Too Large",
            Status::ServiceUnavailable => "503 Service Unavailable",
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// GET /metrics; HEAD wants the same head without the body.
    Metrics { head_only: bool },
    /// Anything else, answered with this status.
    Refused(Status),
}

/// The path the metrics are served on.
pub const PATH: &str = "/metrics";

/// The length of the request head in `buf` (through the empty line that
/// ends it), once it has arrived. A bare LF ends lines too (RFC 9112 2.2).
pub fn head_len(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the request line of `head` asks for.
pub fn asked(head: &[u8]) -> Asked {
    // Empty lines before the request line are ignored (RFC 9112 2.2).
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    let head = &head[start..];
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Asked::Refused(Status::BadRequest);
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Asked::Refused(Status::BadRequest);
    };
    // The absolute form (`http://host/metrics`) is accepted too (RFC 9112
    // 3.2.2): its path is what counts.
    let target = match target.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            rest.find('/').map_or("/", |i| &rest[i..])
        }
        _ => target,
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") || !target.starts_with('/') {
        return Asked::Refused(Status::BadRequest);
    }
    let path = target.split_once('?').map_or(target, |(path, _query)| path);
    if path != PATH {
        return Asked::Refused(Status::NotFound);
    }
    match method {
        "GET" => Asked::Metrics { head_only: false },
        "HEAD" => Asked::Metrics { head_only: true },
        _ => Asked::Refused(Status::MethodNotAllowed),
    }
}

/// A whole answer: status line, headers, and the body unless `head_only`.
pub fn response(status: Status, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        status.line(),
        body.len()
    );
    if status == Status::MethodNotAllowed {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// An error answer with a one-line text body.
pub fn error(status: Status) -> Vec<u8> {
    let body = format!("{}\n", status.line());
    response(status, "text/plain; charset=utf-8", body.as_bytes(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_ends_at_the_first_empty_line() {
        assert_eq!(head_len(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nbody"), Some(34));
        assert_eq!(head_len(b"GET /metrics HTTP/1.1\nHost: x\n\n"), Some(31));
        assert_eq!(head_len(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_len(b""), None);
    }

    #[test]
    fn only_get_and_head_of_metrics_are_served() {
        let ask = |line: &str| asked(format!("{line}\r\nHost: [::1]:9179\r\n\r\n").as_bytes());
        assert_eq!(ask("GET /metrics HTTP/1.1"), Asked::Metrics { head_only: false });
        assert_eq!(
            ask("GET /metrics?name[]=x HTTP/1.0"),
            Asked::Metrics { head_only: false }
        );
        assert_eq!(ask("HEAD /metrics HTTP/1.1"), Asked::Metrics { head_only: true });
        assert_eq!(ask("POST /metrics HTTP/1.1"), Asked::Refused(Status::MethodNotAllowed));
        assert_eq!(
            ask("DELETE /metrics HTTP/1.1"),
            Asked::Refused(Status::MethodNotAllowed)
        );
        assert_eq!(ask("GET / HTTP/1.1"), Asked::Refused(Status::NotFound));
        assert_eq!(ask("GET /metrics/x HTTP/1.1"), Asked::Refused(Status::NotFound));
        assert_eq!(ask("GET /metrics HTTP/2"), Asked::Refused(Status::BadRequest));
        assert_eq!(ask("GET /metrics"), Asked::Refused(Status::BadRequest));
        assert_eq!(ask("GET  /metrics HTTP/1.1"), Asked::Refused(Status::BadRequest));
        // The absolute form is a path too (RFC 9112 3.2.2).
        assert_eq!(
            ask("GET http://[::1]:9179/metrics HTTP/1.1"),
            Asked::Metrics { head_only: false }
        );
        assert_eq!(ask("GET http://x HTTP/1.1"), Asked::Refused(Status::NotFound));
        assert_eq!(ask("GET ftp://x/metrics HTTP/1.1"), Asked::Refused(Status::BadRequest));
        // Empty lines before the request line are skipped (RFC 9112 2.2).
        assert_eq!(
            asked(b"\r\nGET /metrics HTTP/1.1\r\n\r\n"),
            Asked::Metrics { head_only: false }
        );
        assert_eq!(
            asked(b"\xff\xfe /metrics HTTP/1.1\r\n\r\n"),
            Asked::Refused(Status::BadRequest)
        );
    }

    #[test]
    fn an_answer_says_its_length_and_closes() {
        let ok = response(Status::Ok, "text/plain; version=0.0.4", b"a 1\n", false);
        assert_eq!(
            String::from_utf8(ok).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 4\r\nConnection: close\r\n\r\na 1\n"
        );
        let head = response(Status::Ok, "text/plain", b"a 1\n", true);
        assert!(
            String::from_utf8(head)
                .unwrap()
                .ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n")
        );
        let refused = String::from_utf8(error(Status::MethodNotAllowed)).unwrap();
        assert!(refused.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{refused}");
        assert!(refused.contains("\r\nAllow: GET, HEAD\r\n"), "{refused}");
    }
}
