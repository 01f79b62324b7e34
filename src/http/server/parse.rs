//! Reading one request off the wire: the head with `httparse` under a byte cap, then the body
//! (Content-Length or chunked) under `max_body_bytes`.
//!
//! Memory never grows past the caps: the head buffer is refilled at most up to
//! `max_head_bytes`, a declared length is checked before a byte of body is read, and chunk sizes
//! are added up before their data is read. A body buffer grows only as its bytes arrive (a
//! declared length reserves nothing), and past a small allowance it must be covered by the
//! server-wide body budget. Deadlines are set by the caller on the transport;
//! this file only turns "timed out" into an error kind. It must not write to the socket.

use std::io::{self, Read};

use super::is_timeout;
use super::slots::BodyHold;
use super::stream::Transport;

/// Most header lines a request may carry; more is answered 431 like an oversized head.
const MAX_HEADERS: usize = 100;
/// Longest chunk-size line (size plus extensions) accepted in a chunked body.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;
/// The most bytes of trailer fields a chunked body may end with (within `--max-body`).
pub(crate) const MAX_TRAILER_BYTES: usize = super::BLOCK;
/// How much a body buffer grows at a time while its bytes arrive.
const BODY_STEP: usize = super::BLOCK;

/// A connection's transport plus the bytes read from it but not yet consumed. Generic over the
/// byte source so that the fuzz entry points (`crate::fuzzing`) can read from memory.
pub(crate) struct Wire<T = Transport> {
    pub transport: T,
    /// Unconsumed input: part of a head, a body, or the next pipelined request.
    pub buf: Vec<u8>,
}

/// Why a request could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The head or body is over its limit (431 or 413).
    TooLarge,
    /// Not HTTP/1.x we accept (400).
    Bad,
    /// The deadline passed (408).
    TimedOut,
    /// The peer closed or the connection broke: nothing can be answered.
    Gone,
    /// The server-wide body budget is spent (503).
    Busy,
}

fn classify(e: &io::Error) -> ReadError {
    if is_timeout(e) {
        ReadError::TimedOut
    } else {
        ReadError::Gone
    }
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

/// The parsed request line and headers.
#[derive(Debug)]
pub struct Head {
    pub method: String,
    /// The request target in origin form (path and query), as rouille expects it.
    pub target: String,
    pub http11: bool,
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
    pub connection_close: bool,
    pub expect_continue: bool,
    /// Exactly one `Host` header with a valid value (or, for HTTP/1.0, none at all). RFC 9112
    /// §3.2 asks for 400 otherwise; conn.rs answers it, knowing the path, so an API client
    /// gets JSON.
    pub host_ok: bool,
}

impl Head {
    /// The target without its query string, for logs and `Service::refuse`.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

impl<T: Read> Wire<T> {
    /// Reads once more into `buf`, never letting it grow past `cap` bytes. Ok(0) means the
    /// peer closed (or `buf` is already full, which callers rule out).
    pub fn read_more(&mut self, cap: usize) -> io::Result<usize> {
        let old = self.buf.len();
        let want = cap.saturating_sub(old).min(16 * 1024);
        if want == 0 {
            return Ok(0);
        }
        self.buf.resize(old + want, 0);
        let result = self.transport.read(&mut self.buf[old..]);
        self.buf.truncate(old + *result.as_ref().unwrap_or(&0));
        result
    }

    /// Reads until `buf` holds at least `n` bytes.
    fn fill_to(&mut self, n: usize) -> Result<(), ReadError> {
        while self.buf.len() < n {
            match self.read_more(n) {
                Ok(0) => return Err(ReadError::Gone),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(classify(&e)),
            }
        }
        Ok(())
    }

    /// Reads and parses a request head of at most `max_head` bytes; the bytes after it stay in
    /// `buf`.
    pub fn read_head(&mut self, max_head: usize) -> Result<Head, ReadError> {
        let mut scanned: usize = 0;
        loop {
            // Empty lines before the request line are skipped (RFC 9112 §2.2), as httparse
            // skips them; they count toward the cap.
            let from = scanned
                .saturating_sub(2)
                .max(leading_empty_lines(&self.buf));
            if let Some(end) = find_head_end(&self.buf, from) {
                if end > max_head {
                    return Err(ReadError::TooLarge);
                }
                let (head, len) = parse_head(&self.buf)?;
                self.buf.drain(..len);
                return Ok(head);
            }
            scanned = self.buf.len();
            if scanned >= max_head {
                return Err(ReadError::TooLarge);
            }
            match self.read_more(max_head) {
                Ok(0) => return Err(ReadError::Gone),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(classify(&e)),
            }
        }
    }

    /// Reads the body announced by `framing`, refusing more than `max_body` bytes, with its
    /// memory covered by `hold`.
    pub fn read_body(
        &mut self,
        framing: Framing,
        max_body: usize,
        hold: &mut BodyHold<'_>,
    ) -> Result<Vec<u8>, ReadError> {
        match framing {
            Framing::Empty => Ok(Vec::new()),
            Framing::Length(n) => {
                let n = usize::try_from(n).map_err(|_| ReadError::TooLarge)?;
                if n > max_body {
                    return Err(ReadError::TooLarge);
                }
                let mut body = Vec::with_capacity(n.min(BODY_STEP));
                self.take_into(&mut body, n, hold)?;
                Ok(body)
            }
            Framing::Chunked => self.read_chunked(max_body, hold),
        }
    }

    /// Moves exactly `n` bytes into `out`: first from `buf`, then straight from the socket,
    /// growing `out` a step at a time as bytes arrive, each step covered by `hold`.
    fn take_into(
        &mut self,
        out: &mut Vec<u8>,
        n: usize,
        hold: &mut BodyHold<'_>,
    ) -> Result<(), ReadError> {
        let end = out.len() + n;
        if !hold.cover(out.len() + n.min(self.buf.len())) {
            return Err(ReadError::Busy);
        }
        let from_buf = n.min(self.buf.len());
        out.extend(self.buf.drain(..from_buf));
        while out.len() < end {
            let start = out.len();
            let step = (end - start).min(BODY_STEP);
            if !hold.cover(start + step) {
                return Err(ReadError::Busy);
            }
            out.reserve_exact(step);
            out.resize(start + step, 0);
            let mut filled = 0;
            let read = loop {
                match self.transport.read(&mut out[start + filled..]) {
                    Ok(0) => break Err(ReadError::Gone),
                    Ok(k) => {
                        filled += k;
                        if filled == step {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(classify(&e)),
                }
            };
            out.truncate(start + filled);
            read?;
        }
        Ok(())
    }

    fn read_chunked(
        &mut self,
        max_body: usize,
        hold: &mut BodyHold<'_>,
    ) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let (consumed, size) = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete(found))
                        if chunk_line_ok(&self.buf[..found.0]) =>
                    {
                        break found;
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() < MAX_CHUNK_LINE => {
                        self.fill_to(self.buf.len() + 1)?;
                    }
                    _ => return Err(ReadError::Bad),
                }
            };
            self.buf.drain(..consumed);
            if size == 0 {
                self.skip_trailers(max_body.min(MAX_TRAILER_BYTES))?;
                return Ok(body);
            }
            let size = usize::try_from(size).map_err(|_| ReadError::TooLarge)?;
            if size > max_body.saturating_sub(body.len()) {
                return Err(ReadError::TooLarge);
            }
            self.take_into(&mut body, size, hold)?;
            self.fill_to(2)?;
            match &self.buf[..2] {
                b"\r\n" => drop(self.buf.drain(..2)),
                [b'\n', _] => drop(self.buf.drain(..1)),
                _ => return Err(ReadError::Bad),
            }
        }
    }

    /// Discards the trailer section after the last chunk (we use no trailers), up to `max`
    /// bytes.
    fn skip_trailers(&mut self, max: usize) -> Result<(), ReadError> {
        let mut skipped = 0;
        loop {
            match self.buf.iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    let empty = newline == 0 || (newline == 1 && self.buf[0] == b'\r');
                    self.buf.drain(..=newline);
                    skipped += newline + 1;
                    if empty {
                        return Ok(());
                    }
                }
                None => self.fill_to(self.buf.len() + 1)?,
            }
            if skipped > max || self.buf.len() > max {
                return Err(ReadError::TooLarge);
            }
        }
    }
}

/// What httparse leaves to us in a chunk-size line it accepted: the size has at least one
/// digit (httparse reads an empty line as size 0, which would end the body), the extension
/// holds no bare LF (a peer that ends lines at LF would read the rest as chunk data: request
/// smuggling), and the line is within `MAX_CHUNK_LINE` whatever the buffering.
fn chunk_line_ok(line: &[u8]) -> bool {
    let Some(content) = line.strip_suffix(b"\r\n") else {
        return false;
    };
    content.first().is_some_and(u8::is_ascii_hexdigit)
        && !content.contains(&b'\n')
        && line.len() <= MAX_CHUNK_LINE
}

/// How many bytes of complete empty lines (CRLF or LF) `buf` starts with.
fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        match &buf[at..] {
            [b'\r', b'\n', ..] => at += 2,
            [b'\n', ..] => at += 1,
            _ => return at,
        }
    }
}

/// The length of the head (through its blank line) if `buf` holds a complete one, looking for
/// the blank line from `from` on. Bare LF line ends are accepted, as httparse accepts them.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len()).find_map(|i| {
        if buf[i] != b'\n' {
            return None;
        }
        match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(b'\n'), _) => Some(i + 2),
            (Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        }
    })
}

/// Parses a complete head; returns it and its length in bytes.
fn parse_head(buf: &[u8]) -> Result<(Head, usize), ReadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut slots);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err(ReadError::Bad),
        Err(httparse::Error::TooManyHeaders) => return Err(ReadError::TooLarge),
        Err(_) => return Err(ReadError::Bad),
    };
    let (Some(method), Some(raw_target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(ReadError::Bad);
    };
    let target = origin_form(raw_target).ok_or(ReadError::Bad)?;
    let mut head = Head {
        method: method.to_string(),
        target,
        http11: version >= 1,
        headers: Vec::with_capacity(request.headers.len()),
        framing: Framing::Empty,
        connection_close: version == 0,
        expect_continue: false,
        host_ok: true,
    };
    let mut n_hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for header in request.headers.iter() {
        let value = String::from_utf8_lossy(header.value).trim().to_string();
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(&value).ok_or(ReadError::Bad)?;
            // Differing duplicate lengths are a smuggling attempt or a broken client.
            if content_length.is_some_and(|seen| seen != n) {
                return Err(ReadError::Bad);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only a lone `chunked` is understood; anything else cannot be framed safely.
            if chunked || !value.eq_ignore_ascii_case("chunked") || !head.http11 {
                return Err(ReadError::Bad);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.connection_close = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("host") {
            n_hosts += 1;
            head.host_ok &= valid_host(&value);
        }
        head.headers.push((name.to_string(), value));
    }
    head.host_ok &= n_hosts == 1 || (n_hosts == 0 && !head.http11);
    head.framing = match (content_length, chunked) {
        (Some(_), true) => return Err(ReadError::Bad),
        (Some(0) | None, false) => Framing::Empty,
        (Some(n), false) => Framing::Length(n),
        (None, true) => Framing::Chunked,
    };
    Ok((head, len))
}

/// Digits only: `+5`, `-1`, `0x10` and empty values are refused, as RFC 9110 asks.
fn parse_content_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// `uri-host [ ":" port ]` of RFC 9110 §7.2: a bracketed IP literal or a non-empty reg-name
/// (unreserved, sub-delims, percent-encoded octets; dotted IPv4 is one), then an optional port
/// of digits. An empty host is refused because an `http` URI must have one (RFC 9110 §4.2.1).
fn valid_host(value: &str) -> bool {
    let (host, port) = match value.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((literal, after)) => {
                let literal_ok = !literal.is_empty()
                    && literal
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b":.-_~".contains(&b));
                if !literal_ok {
                    return false;
                }
                ("", after)
            }
            None => return false,
        },
        None => match value.find(':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, ""),
        },
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
    port_ok && (value.starts_with('[') || valid_reg_name(host))
}

fn valid_reg_name(host: &str) -> bool {
    let bytes = host.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) => i += 1,
            _ => return false,
        }
    }
    !bytes.is_empty()
}

/// Turns the request target into origin form (`/path?query`). Absolute form
/// (`http://host/path`) is accepted as RFC 9112 requires; `*` is kept for `OPTIONS *`.
fn origin_form(target: &str) -> Option<String> {
    if target.starts_with('/') || target == "*" {
        return Some(target.to_string());
    }
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return None;
    };
    Some(match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => rest[i..].to_string(),
        Some(i) => format!("/{}", &rest[i..]),
        None => "/".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_is_found_with_crlf_and_lf() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let both = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_head(both).err(), Some(ReadError::Bad));
        let two = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(parse_head(two).err(), Some(ReadError::Bad));
        let signed = b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n";
        assert_eq!(parse_head(signed).err(), Some(ReadError::Bad));
        let gzip = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(parse_head(gzip).err(), Some(ReadError::Bad));
    }

    #[test]
    fn hosts_are_checked_against_the_uri_grammar() {
        for good in [
            "a.example",
            "a.example:8080",
            "127.0.0.1",
            "[::1]:80",
            "[v1.x]",
            "a%41",
            "h:",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "", ":80", "a b", "a/b", "u@h", "h:1:2", "h:x", "[::1", "[]", "[::1]x", "a%4",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
        let host_ok = |head: &[u8]| parse_head(head).map(|(h, _)| h.host_ok);
        assert_eq!(host_ok(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), Ok(true));
        assert_eq!(host_ok(b"GET / HTTP/1.1\r\n\r\n"), Ok(false));
        assert_eq!(
            host_ok(b"GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n"),
            Ok(false)
        );
        assert_eq!(host_ok(b"GET / HTTP/1.0\r\n\r\n"), Ok(true));
        assert_eq!(host_ok(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n"), Ok(false));
    }

    #[test]
    fn targets_become_origin_form() {
        assert_eq!(origin_form("/a?b").as_deref(), Some("/a?b"));
        assert_eq!(origin_form("http://h/a?b").as_deref(), Some("/a?b"));
        assert_eq!(origin_form("HTTPS://h?b").as_deref(), Some("/?b"));
        assert_eq!(origin_form("http://h").as_deref(), Some("/"));
        assert_eq!(origin_form("a/b"), None);
    }
}
