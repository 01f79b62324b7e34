//! A small raw HTTP/1.1 client for the integration tests: it writes requests byte for byte and
//! reads responses (Content-Length, chunked, or until close) so tests see exactly what the
//! server put on the wire, keep-alive included.
//!
//! It is deliberately dumb: no redirects, no cookies jar, no retries. Tests that need a cookie
//! pass it as a header. It must not depend on anything in the crate under test, so it works
//! against the real binary and the in-process server alike.

#![allow(dead_code)] // Each test module uses a different subset of the helpers.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long any single read or write may block before the test fails instead of hanging.
/// Generous: a request that hashes a password waits behind the one-hash-per-core gate, and
/// the race tests queue several such requests at once; on a loaded 2-core machine one of them
/// was seen waiting past 10 s. Only a failing test ever waits this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One response as it came off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// In order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (e.g. several `Set-Cookie`).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }
}

/// One connection, reused for as many requests as the server keeps it open.
pub struct Client {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        Client::from_stream(TcpStream::connect(addr)?, addr)
    }

    /// Connects from a chosen local address, e.g. 127.0.0.2, to look like another client IP.
    pub fn connect_from(local: IpAddr, addr: SocketAddr) -> io::Result<Client> {
        Client::from_stream(tcp_from(local, addr)?, addr)
    }

    pub fn from_stream(stream: TcpStream, addr: SocketAddr) -> io::Result<Client> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    /// The socket, for tests that write raw bytes or tune timeouts.
    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    /// Sends one request and reads its response. `Host` and `Content-Length` are added unless
    /// given in `headers`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let request = render_request(&self.host, method, path, headers, body);
        self.stream().write_all(&request)?;
        self.read_response(method == "HEAD")
    }

    /// Reads the next response (skipping `100 Continue`); `head_only` for answers to HEAD.
    pub fn read_response(&mut self, head_only: bool) -> io::Result<Response> {
        read_response(&mut self.reader, head_only)
    }
}

/// A TCP connection whose local address is `local` (any port).
pub fn tcp_from(local: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(local, 0).into())?;
    socket.connect_timeout(&addr.into(), IO_TIMEOUT)?;
    Ok(socket.into())
}

/// The bytes of a request, with `Host` and `Content-Length` filled in unless given.
pub fn render_request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        out.push_str(&format!("Host: {host}\r\n"));
    }
    let wants_length = !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH");
    if wants_length && !has("content-length") && !has("transfer-encoding") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one response from any stream (plain or TLS), skipping interim 1xx answers.
pub fn read_response(reader: &mut impl BufRead, head_only: bool) -> io::Result<Response> {
    loop {
        let status_line = read_line(reader)?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(reader)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("bad header line {line:?}")))?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        if (100..200).contains(&status) {
            continue;
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 204 || status == 304 {
            return Ok(response);
        }
        if response
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            response.body = read_chunked(reader)?;
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().map_err(|_| bad("bad content-length"))?;
            response.body = vec![0; length];
            reader.read_exact(&mut response.body)?;
        } else {
            reader.read_to_end(&mut response.body)?;
        }
        return Ok(response);
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers, then the blank line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.is_empty() {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
}

/// One line without its CRLF; EOF before a line is an `UnexpectedEof` error.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a complete response",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// GET on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    Client::connect(addr)
        .and_then(|mut c| c.send("GET", path, &[], b""))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// POST of an urlencoded form on a fresh connection, with an optional `Cookie` header value.
pub fn post_form(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(cookie) = cookie {
        headers.push(("Cookie", cookie));
    }
    Client::connect(addr)
        .and_then(|mut c| c.send("POST", path, &headers, body.as_bytes()))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}
