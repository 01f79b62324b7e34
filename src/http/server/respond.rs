//! Writing a `rouille::Response` to the wire: status line, the application's headers (minus
//! the framing headers this layer owns), `X-Request-Id`, `Date`, framing, body.
//!
//! A head and a body of up to `SMALL_BODY` bytes leave in one write, so a keep-alive exchange
//! never waits on Nagle + delayed ACK. It must not read from the socket and must not decide
//! whether to keep the connection beyond what the framing forces (conn.rs decides).

use std::borrow::Cow;
use std::io::{self, BufWriter, Read, Write};

/// Bodies up to this size are sent in the same write as the head.
const SMALL_BODY: usize = super::BLOCK;

/// Headers the layer sets itself; the application's values for them are dropped.
const OWNED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "trailer",
    "server",
    "date",
    "x-request-id",
];

/// What happened on the wire, for the access log and the keep-alive decision.
pub(crate) struct Written {
    pub bytes: u64,
    /// False when the connection must close after this response.
    pub keep_alive: bool,
}

/// How the request asked to be answered.
#[derive(Clone, Copy)]
pub(crate) struct Answer<'a> {
    pub request_id: &'a str,
    pub head_only: bool,
    pub http11: bool,
    pub keep_alive: bool,
}

/// Writes `response`; an Err means the connection is broken (or the write deadline passed)
/// and must be dropped.
pub(crate) fn write_response<W: Write>(
    out: &mut W,
    response: rouille::Response,
    answer: Answer<'_>,
) -> io::Result<Written> {
    let status = response.status_code;
    if response.upgrade.is_some() {
        tracing::warn!(
            status,
            "protocol upgrade is not supported; answering without it"
        );
    }
    let (mut reader, size) = response.data.into_reader_and_size();
    let mut keep_alive = answer.keep_alive;
    let mut head = render_head(status, &response.headers, answer.request_id);
    let no_body = status < 200 || status == 204 || status == 304;

    if no_body {
        finish_head(&mut head, None, keep_alive);
        out.write_all(&head)?;
        out.flush()?;
        return Ok(Written {
            bytes: 0,
            keep_alive,
        });
    }
    if let Some(size) = size.filter(|&n| n <= SMALL_BODY) {
        let mut body = Vec::with_capacity(size);
        if !answer.head_only {
            if let Err(e) = reader.by_ref().take(size as u64).read_to_end(&mut body) {
                tracing::error!(error = %e, "response body could not be read");
            }
            if body.len() != size {
                tracing::error!(declared = size, actual = body.len(), "short response body");
            }
        }
        let length = if answer.head_only { size } else { body.len() };
        finish_head(&mut head, Some(Framing::Length(length as u64)), keep_alive);
        write_all_both(out, &head, &body)?;
        out.flush()?;
        return Ok(Written {
            bytes: body.len() as u64,
            keep_alive,
        });
    }
    let framing = match size {
        Some(n) => Framing::Length(n as u64),
        None if answer.head_only => Framing::Omitted,
        None if answer.http11 => Framing::Chunked,
        None => {
            keep_alive = false;
            Framing::UntilClose
        }
    };
    finish_head(&mut head, Some(framing), keep_alive);
    let mut out = BufWriter::with_capacity(SMALL_BODY, out);
    out.write_all(&head)?;
    let mut bytes = 0;
    if !answer.head_only {
        let (sent, complete) = copy_body(&mut reader, &mut out, framing)?;
        bytes = sent;
        // A body shorter than announced leaves the client waiting for bytes that never come:
        // only closing the connection tells it the response ended.
        keep_alive &= complete;
    }
    out.flush()?;
    Ok(Written { bytes, keep_alive })
}

/// Writes `head` then `body` with as few calls as the stream allows (one `writev` on plain TCP),
/// so a small response still leaves in one segment without first being copied into one buffer.
fn write_all_both<W: Write>(out: &mut W, head: &[u8], body: &[u8]) -> io::Result<()> {
    let mut slices = [io::IoSlice::new(head), io::IoSlice::new(body)];
    let mut left: &mut [io::IoSlice<'_>] = &mut slices;
    while !left.is_empty() {
        match out.write_vectored(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A whole response in memory, for the acceptor's over-capacity answer (always
/// `Connection: close`); the body is cut at `max_body` bytes.
pub(crate) fn render_small(
    response: rouille::Response,
    request_id: &str,
    max_body: usize,
) -> Vec<u8> {
    let status = response.status_code;
    let (reader, _) = response.data.into_reader_and_size();
    let mut body = Vec::new();
    let _ = reader.take(max_body as u64).read_to_end(&mut body);
    let mut head = render_head(status, &response.headers, request_id);
    finish_head(&mut head, Some(Framing::Length(body.len() as u64)), false);
    head.extend_from_slice(&body);
    head
}

#[derive(Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
    /// HEAD answer of unknown length: no framing header at all.
    Omitted,
}

type HeaderList = [(Cow<'static, str>, Cow<'static, str>)];

fn render_head(status: u16, headers: &HeaderList, request_id: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(1024);
    head.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (name, value) in headers {
        if OWNED_HEADERS
            .iter()
            .any(|owned| name.eq_ignore_ascii_case(owned))
        {
            continue;
        }
        // Guards against a header injected through application data.
        let clean = |s: &str| !s.is_empty() && !s.bytes().any(|b| b == b'\r' || b == b'\n');
        if !clean(name) || !value.bytes().all(|b| b != b'\r' && b != b'\n') {
            tracing::error!(header = %name.escape_debug(), "dropped a response header with a line break");
            continue;
        }
        push_header(&mut head, name, value);
    }
    push_header(&mut head, "X-Request-Id", request_id);
    if let Some(date) = http_date() {
        push_header(&mut head, "Date", &date);
    }
    head
}

fn finish_head(head: &mut Vec<u8>, framing: Option<Framing>, keep_alive: bool) {
    match framing {
        Some(Framing::Length(n)) => push_header(head, "Content-Length", &n.to_string()),
        Some(Framing::Chunked) => push_header(head, "Transfer-Encoding", "chunked"),
        Some(Framing::UntilClose | Framing::Omitted) | None => {}
    }
    if !keep_alive {
        push_header(head, "Connection", "close");
    }
    head.extend_from_slice(b"\r\n");
}

fn push_header(head: &mut Vec<u8>, name: &str, value: &str) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value.as_bytes());
    head.extend_from_slice(b"\r\n");
}

/// Copies the body; returns the bytes sent and whether the body was complete. Errors are write
/// errors only: a failing application reader ends the body early instead.
fn copy_body<W: Write>(
    reader: &mut dyn Read,
    out: &mut W,
    framing: Framing,
) -> io::Result<(u64, bool)> {
    let limit = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    let mut chunk = vec![0u8; 32 * 1024];
    let mut sent = 0u64;
    while sent < limit {
        let want = chunk
            .len()
            .min(usize::try_from(limit - sent).unwrap_or(usize::MAX));
        let n = match reader.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "response body could not be read");
                return Ok((sent, false));
            }
        };
        if matches!(framing, Framing::Chunked) {
            out.write_all(format!("{n:x}\r\n").as_bytes())?;
            out.write_all(&chunk[..n])?;
            out.write_all(b"\r\n")?;
        } else {
            out.write_all(&chunk[..n])?;
        }
        sent += n as u64;
    }
    match framing {
        Framing::Chunked => {
            out.write_all(b"0\r\n\r\n")?;
            Ok((sent, true))
        }
        Framing::Length(n) => Ok((sent, sent == n)),
        Framing::UntilClose | Framing::Omitted => Ok((sent, true)),
    }
}

/// The IMF-fixdate of now, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date() -> Option<String> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc().format(&format).ok()
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}
