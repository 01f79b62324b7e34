//! A minimal HTTP/1.1 client for the benchmark: one keep-alive TCP connection, requests written
//! as raw bytes, responses read with `httparse` (Content-Length or chunked bodies). It also has
//! the few one-off steps the scenarios need first: log in, fetch a form's CSRF token, get an API
//! token. Never used by the server or the tests.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Response headers as (name, value) pairs.
type Headers = Vec<(String, String)>;

/// One response, as much as the benchmark needs of it.
pub struct Reply {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The server said `Connection: close`: reconnect before the next request.
    pub close: bool,
}

impl Reply {
    /// The value of cookie `name` from the response's `Set-Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next()?.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(15)))?;
            stream.set_write_timeout(Some(Duration::from_secs(15)))?;
            self.buf.clear();
            self.stream = Some(stream);
        }
        // Just set above when it was None.
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no connection"))
    }

    /// Sends one complete request and reads its response. On any error the connection is
    /// dropped so the next call starts a fresh one.
    pub fn send(&mut self, request: &[u8]) -> io::Result<Reply> {
        let result = self.exchange(request);
        match &result {
            Ok(reply) if !reply.close => {}
            _ => self.stream = None,
        }
        result
    }

    fn exchange(&mut self, request: &[u8]) -> io::Result<Reply> {
        self.stream()?.write_all(request)?;
        let (status, headers, head_len) = self.read_head()?;
        self.buf.drain(..head_len);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            self.read_chunked()?
        } else {
            let length: usize = header("content-length")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            self.read_exact_buffered(length)?
        };
        Ok(Reply {
            status,
            headers,
            body,
            close,
        })
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("no connection"))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn read_head(&mut self) -> io::Result<(u16, Headers, usize)> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = response.code.unwrap_or(0);
                    let headers = response
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    return Ok((status, headers, len));
                }
                Ok(httparse::Status::Partial) => self.fill()?,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
        }
    }

    fn read_exact_buffered(&mut self, length: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < length {
            self.fill()?;
        }
        Ok(self.buf.drain(..length).collect())
    }

    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_exact_buffered(size)?);
            self.read_line()?;
        }
    }
}

/// A GET request with extra header lines (each ending in `\r\n`).
pub fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{extra}\r\n").into_bytes()
}

/// A POST request with a body of `content_type`.
pub fn post(path: &str, extra: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish().into_bytes()
}

/// The value of the first hidden `csrf_token` input of a page.
pub fn csrf_token(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\"")?;
    let rest = &html[at..];
    let value = rest.find("value=\"")? + "value=\"".len();
    let end = rest[value..].find('"')?;
    Some(rest[value..value + end].to_string())
}

fn expect(reply: &Reply, status: u16, what: &str) -> anyhow::Result<()> {
    if reply.status != status {
        anyhow::bail!(
            "{what}: expected {status}, got {} ({})",
            reply.status,
            reply.text().chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

/// Logs in through the login form (as a browser does); returns the session cookie value.
pub fn login(addr: SocketAddr, username: &str, password: &str) -> anyhow::Result<String> {
    let mut conn = Conn::new(addr);
    let page = conn.send(&get("/login", ""))?;
    expect(&page, 200, "GET /login")?;
    let csrf_cookie = page
        .cookie("csrf")
        .ok_or_else(|| anyhow::anyhow!("the login page set no csrf cookie"))?;
    let token = csrf_token(&page.text())
        .ok_or_else(|| anyhow::anyhow!("the login page has no csrf_token"))?;
    let body = form(&[
        ("username", username),
        ("password", password),
        ("csrf_token", &token),
    ]);
    let reply = conn.send(&post(
        "/login",
        &format!("Cookie: csrf={csrf_cookie}\r\n"),
        "application/x-www-form-urlencoded",
        &body,
    ))?;
    expect(&reply, 303, "POST /login")?;
    reply
        .cookie("session")
        .ok_or_else(|| anyhow::anyhow!("the login set no session cookie"))
}

/// The CSRF token of a signed-in form page.
pub fn session_csrf(addr: SocketAddr, session: &str, path: &str) -> anyhow::Result<String> {
    let reply = Conn::new(addr).send(&get(path, &format!("Cookie: session={session}\r\n")))?;
    expect(&reply, 200, path)?;
    csrf_token(&reply.text()).ok_or_else(|| anyhow::anyhow!("{path} has no csrf_token"))
}

/// An API bearer token by HTTP Basic credentials.
pub fn api_token(addr: SocketAddr, username: &str, password: &str) -> anyhow::Result<String> {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let reply = Conn::new(addr).send(&post(
        "/api/v1/tokens",
        &format!("Authorization: Basic {basic}\r\n"),
        "application/json",
        b"",
    ))?;
    expect(&reply, 201, "POST /api/v1/tokens")
        .or_else(|_| expect(&reply, 200, "POST /api/v1/tokens"))?;
    let json: serde_json::Value = serde_json::from_slice(&reply.body)?;
    json["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no token in the answer"))
}

/// A JSON GET with a bearer token, parsed.
pub fn api_get(addr: SocketAddr, token: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    let reply = Conn::new(addr).send(&get(path, &format!("Authorization: Bearer {token}\r\n")))?;
    expect(&reply, 200, path)?;
    Ok(serde_json::from_slice(&reply.body)?)
}

/// alice's browser session, its compose form token, an API token, and her inbox.
pub struct Credentials {
    session: String,
    pub compose_csrf: String,
    token: String,
    pub message_ids: Vec<String>,
    pub cursor: String,
}

impl Credentials {
    pub fn sign_in(addr: SocketAddr, users: &[(String, String)]) -> anyhow::Result<Self> {
        let (username, password) = users
            .iter()
            .find(|(u, _)| u == "alice")
            .ok_or_else(|| anyhow::anyhow!("no demo user alice"))?;
        let session = login(addr, username, password)?;
        let compose_csrf = session_csrf(addr, &session, "/compose")?;
        let token = api_token(addr, username, password)?;
        let list = api_get(addr, &token, "/api/v1/messages?box=inbox&limit=50")?;
        let message_ids: Vec<String> = list["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect();
        if message_ids.is_empty() {
            anyhow::bail!("alice's inbox is empty");
        }
        let cursor = list["cursor"].as_str().unwrap_or("0").to_string();
        Ok(Credentials {
            session,
            compose_csrf,
            token,
            message_ids,
            cursor,
        })
    }

    pub fn cookie_header(&self) -> String {
        format!("Cookie: session={}\r\n", self.session)
    }

    pub fn bearer_header(&self) -> String {
        format!("Authorization: Bearer {}\r\n", self.token)
    }
}
