//! Operating the real binary on a hostile, crashing network (issue 6): acknowledged sends
//! survive SIGKILL, SIGTERM lets requests in flight finish, clients that stop reading are
//! dropped by the write timeout without starving anyone, HTTPS end to end with a self-signed
//! certificate, the log files (one fail2ban-matchable line per failed login, no secrets, no
//! forged lines, access lines), and the retention purge of the housekeeping thread.
//!
//! Everything here talks to the `messages` binary over sockets or runs its commands; only the
//! retention test also opens the stopped server's database through the library, to plant
//! records that are already old (the clock cannot be moved from outside).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::util::client::{self, Client, Response};
use crate::util::{self, PIN, Server, files_under, run, stderr, stdout};

const PASSWORD: &str = "copper meadow falcon ridge 4417";

// ---------------------------------------------------------------------------------------------
// Helpers: one API call per fresh connection, from a chosen local address when it matters.

fn request(
    addr: SocketAddr,
    from: Option<IpAddr>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> io::Result<Response> {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if body.is_some() {
        all.push(("Content-Type", "application/json"));
    }
    let mut connection = match from {
        Some(local) => Client::connect_from(local, addr)?,
        None => Client::connect(addr)?,
    };
    connection.send(method, path, &all, &bytes)
}

fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> io::Result<Response> {
    let authorization = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|a| ("Authorization", a.as_str()))
        .collect();
    request(addr, None, method, path, &headers, body)
}

fn expect(response: io::Result<Response>, status: u16) -> Value {
    let response = response.expect("request");
    assert_eq!(response.status, status, "body: {}", response.text());
    if response.body.is_empty() {
        Value::Null
    } else {
        response.json()
    }
}

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

fn registration(username: &str) -> Value {
    json!({"username": username, "name": format!("{username} Example"), "password": PASSWORD, "pin": PIN,
           "security_question": 2, "security_answer": "Ghent"})
}

fn register(addr: SocketAddr, username: &str) {
    expect(
        api(
            addr,
            "POST",
            "/api/v1/users",
            None,
            Some(&registration(username)),
        ),
        201,
    );
}

fn token(addr: SocketAddr, username: &str) -> String {
    let authorization = basic(username, PASSWORD);
    let answer = expect(
        request(
            addr,
            None,
            "POST",
            "/api/v1/tokens",
            &[("Authorization", &authorization)],
            None,
        ),
        201,
    );
    answer["token"].as_str().expect("token").to_string()
}

fn send(addr: SocketAddr, bearer: &str, to: &str, title: &str, body: &str) -> io::Result<Response> {
    api(
        addr,
        "POST",
        "/api/v1/messages",
        Some(bearer),
        Some(&json!({"to": to, "title": title, "body": body})),
    )
}

fn message_id(sent: &Value) -> String {
    sent["id"].as_str().expect("id").to_string()
}

/// Polls `condition` every 50 ms until it holds or `limit` passes; true if it held.
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Crash safety.

/// Several threads send through the API; the server is SIGKILLed in the middle. After a
/// restart every send that was acknowledged with 201 reads back exactly, the tokens issued
/// before the crash still work, and a dump of the data verifies.
#[test]
fn acknowledged_sends_survive_sigkill() {
    let mut server = Server::start();
    let _temp = server.keep_dir();
    let dir = server.dir.clone();
    let addr = server.addr;
    register(addr, "alice");
    register(addr, "bob");
    let alice = token(addr, "alice");
    let bob = token(addr, "bob");

    // (id, title, body) of every acknowledged send.
    let acknowledged: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..6)
        .map(|thread| {
            let (acknowledged, stop, alice) = (acknowledged.clone(), stop.clone(), alice.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let title = format!("crash {thread}-{i} ✓");
                    let body = format!(
                        "body {thread}-{i}\n{}",
                        "naïve café ".repeat(1 + i * 37 % 400)
                    );
                    match send(addr, &alice, "bob", &title, &body) {
                        Ok(response) if response.status == 201 => {
                            let sent = response.json();
                            assert_eq!(
                                (sent["title"].as_str(), sent["body"].as_str()),
                                (Some(&*title), Some(&*body))
                            );
                            acknowledged
                                .lock()
                                .unwrap()
                                .push((message_id(&sent), title, body));
                        }
                        // 503 under load is an honest refusal, not an acknowledgement.
                        Ok(response) if response.status == 503 => {}
                        Ok(response) => {
                            panic!("send answered {}: {}", response.status, response.text())
                        }
                        // The server died under this request: not acknowledged, and we are done.
                        Err(_) => return,
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let enough = eventually(Duration::from_secs(60), || {
        acknowledged.lock().unwrap().len() >= 60
    });
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().expect("sender thread");
    }
    assert!(
        enough,
        "only {} sends acknowledged in a minute",
        acknowledged.lock().unwrap().len()
    );
    let acknowledged = acknowledged.lock().unwrap().clone();

    // Restart on the same directory: it must open without any manual step.
    let server = Server::start_in(&dir, &[]);
    for (id, title, body) in &acknowledged {
        let message = expect(
            api(
                server.addr,
                "GET",
                &format!("/api/v1/messages/{id}"),
                Some(&bob),
                None,
            ),
            200,
        );
        assert_eq!(
            message["title"].as_str(),
            Some(title.as_str()),
            "message {id}"
        );
        assert_eq!(
            message["body"].as_str(),
            Some(body.as_str()),
            "message {id}"
        );
        assert_eq!(message["from"].as_str(), Some("alice"));
    }
    // The sender's token from before the crash still works too.
    expect(
        api(
            server.addr,
            "GET",
            "/api/v1/messages?box=sent&limit=1",
            Some(&alice),
            None,
        ),
        200,
    );

    // A dump of the crashed-and-recovered data is complete and verifies.
    let dump_path = dir.parent().expect("temp dir").join("after-crash.dump");
    let dumped = run(
        &dir,
        &["dump", "--output", dump_path.to_str().expect("path")],
        b"",
    );
    assert!(dumped.status.success(), "dump failed: {}", stderr(&dumped));
    let verified = run(&dir, &["verify", dump_path.to_str().expect("path")], b"");
    assert!(
        verified.status.success(),
        "verify failed: {}{}",
        stdout(&verified),
        stderr(&verified)
    );
    let dump = std::fs::read_to_string(&dump_path).expect("dump");
    let trailer: Value =
        serde_json::from_str(dump.lines().last().expect("trailer")).expect("trailer JSON");
    let n_messages = trailer["counts"]["message"]
        .as_u64()
        .expect("message count");
    assert!(
        n_messages >= acknowledged.len() as u64,
        "dump has {n_messages} messages, {} acknowledged",
        acknowledged.len()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Graceful stop.

/// Requests whose heads the server has read (it said `100 Continue`) when SIGTERM arrives are
/// finished with 201 even though the bodies arrive after the listener closed; the process
/// exits 0 and the messages are there after a restart.
#[test]
fn sigterm_lets_requests_in_flight_finish() {
    let mut server = Server::start();
    let _temp = server.keep_dir();
    let dir = server.dir.clone();
    let addr = server.addr;
    register(addr, "alice");
    register(addr, "bob");
    let alice = token(addr, "alice");
    let bob = token(addr, "bob");

    const IN_FLIGHT: usize = 8;
    let mut pending = Vec::new();
    for i in 0..IN_FLIGHT {
        let body = json!({"to": "bob", "title": format!("in flight {i}"), "body": format!("finished after SIGTERM {i}")}).to_string();
        let mut connection = Client::connect(addr).expect("connect");
        let head = format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {alice}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        connection
            .stream()
            .write_all(head.as_bytes())
            .expect("head");
        // The interim answer proves the server read the head: this request is in flight.
        let mut interim = [0u8; 25];
        connection
            .stream()
            .read_exact(&mut interim)
            .expect("100 Continue");
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        pending.push((connection, body));
    }

    util::signal(server.pid(), "TERM");
    // Wait until the server has stopped accepting, so the bodies surely arrive after SIGTERM.
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(addr)
            .is_err()),
        "the listener was not closed after SIGTERM"
    );
    for (mut connection, body) in pending {
        connection
            .stream()
            .write_all(body.as_bytes())
            .expect("body");
        let response = connection
            .read_response(false)
            .expect("response after SIGTERM");
        assert_eq!(response.status, 201, "{}", response.text());
        assert_eq!(
            response
                .header("Connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("close")
        );
    }
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; output: {}",
        server.output()
    );

    let server = Server::start_in(&dir, &[]);
    let inbox = expect(
        api(
            server.addr,
            "GET",
            "/api/v1/messages?box=inbox&limit=50",
            Some(&bob),
            None,
        ),
        200,
    );
    let mut titles: Vec<String> = inbox["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["title"].as_str().expect("title").to_string())
        .collect();
    titles.sort();
    let expected: Vec<String> = (0..IN_FLIGHT).map(|i| format!("in flight {i}")).collect();
    assert_eq!(titles, expected);
}

// ---------------------------------------------------------------------------------------------
// 3. Slow readers.

/// 50 clients each pipeline 500 requests for the stylesheet (~6 MB of answers) and never read.
/// While they hang, another client's `/healthz` answers within a second, and the server holds
/// all 50 (a 51st connection from their address is over the per-IP cap). The 2 s write timeout
/// then drops every one of them: 50 fresh connections from their address are served at once,
/// and each hanger's socket ends (EOF or reset) long before all it asked for arrived.
#[test]
fn clients_that_stop_reading_are_dropped_by_the_write_timeout() {
    const HANGERS: usize = 50;
    const PIPELINED: usize = 500;
    let per_ip = HANGERS.to_string();
    let server = Server::start_with(&["--write-timeout", "2", "--max-connections-per-ip", &per_ip]);
    let addr = server.addr;
    // The bystander comes from another loopback address, so the hangers' address has exactly
    // their 50 connections. Static files cost the server no work, so what is measured is the
    // connection layer, not handler time on a busy test machine.
    let (bystander_ip, hanger_ip): (IpAddr, IpAddr) =
        ([127, 0, 0, 2].into(), [127, 0, 0, 1].into());
    let path = "/static/app.css";
    let one_size = request(addr, Some(bystander_ip), "GET", path, &[], None)
        .expect("stylesheet")
        .body
        .len();
    let everything = PIPELINED * one_size;
    let pipelined =
        client::render_request(&addr.to_string(), "GET", path, &[], b"").repeat(PIPELINED);

    let started = Instant::now();
    let mut hangers = Vec::new();
    for _ in 0..HANGERS {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        // A small receive window so the server's writes block sooner.
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        socket
            .bind(&SocketAddr::new(hanger_ip, 0).into())
            .expect("bind");
        socket
            .connect_timeout(&addr.into(), client::IO_TIMEOUT)
            .expect("connect");
        let mut stream: TcpStream = socket.into();
        stream
            .set_write_timeout(Some(client::IO_TIMEOUT))
            .expect("timeout");
        stream.write_all(&pipelined).expect("pipelined requests");
        hangers.push(stream);
    }

    // While they hang: someone else is served promptly, several times over.
    for _ in 0..10 {
        let asked = Instant::now();
        let health =
            request(addr, Some(bystander_ip), "GET", "/healthz", &[], None).expect("healthz");
        assert_eq!(health.status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "/healthz took {:?}",
            asked.elapsed()
        );
    }
    // The server is still holding all 50: their address is at its cap. (Checked before the
    // first write deadline can have passed, or the check would prove nothing.)
    let capped = request(addr, Some(hanger_ip), "GET", "/healthz", &[], None).expect("capped");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "too slow to observe the hang: {:?}",
        started.elapsed()
    );
    assert_eq!(
        capped.status, 503,
        "the hangers were not held open (or the cap is not enforced)"
    );

    // The write timeout frees all of them: 50 connections from their address at once are all
    // served (any hanger still held would push one of them over the cap).
    let all_served = || {
        let probes: Vec<_> = (0..HANGERS)
            .filter_map(|_| Client::connect_from(hanger_ip, addr).ok())
            .collect();
        probes.len() == HANGERS
            && probes.into_iter().all(|mut probe| {
                probe
                    .send("GET", "/healthz", &[], b"")
                    .is_ok_and(|r| r.status == 200)
            })
    };
    assert!(
        eventually(Duration::from_secs(30), all_served),
        "the hangers were not all dropped"
    );
    let freed_after = started.elapsed();
    assert!(
        freed_after >= Duration::from_millis(1500),
        "dropped after {freed_after:?}, before the 2 s write timeout"
    );
    for mut stream in hangers {
        stream
            .set_read_timeout(Some(client::IO_TIMEOUT))
            .expect("timeout");
        let mut received = 0usize;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => received += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    break;
                }
                Err(e) => panic!("hanger not closed by the server ({e}) after {received} bytes"),
            }
        }
        assert!(
            received < everything / 2,
            "a hanger received {received} of {everything} bytes"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. TLS.

struct Tls {
    _dir: tempfile::TempDir,
    cert: rcgen::CertifiedKey<rcgen::KeyPair>,
    cert_path: String,
    key_path: String,
}

fn self_signed() -> Tls {
    let dir = tempfile::tempdir().expect("temp dir");
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("cert");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let text = |p: &Path| p.to_str().expect("path").to_string();
    Tls {
        cert_path: text(&cert_path),
        key_path: text(&key_path),
        _dir: dir,
        cert,
    }
}

/// One request over TLS to `addr`, trusting only `cert`, verifying the name `server_name`.
fn tls_request(
    addr: SocketAddr,
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    server_name: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).expect("name");
    let session = rustls::ClientConnection::new(Arc::new(config), name).expect("session");
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(client::IO_TIMEOUT))
        .expect("timeout");
    let mut tls = io::BufReader::new(rustls::StreamOwned::new(session, tcp));
    let request = client::render_request(server_name, method, path, headers, body);
    tls.get_mut().write_all(&request).expect("request over TLS");
    client::read_response(&mut tls, method == "HEAD").expect("response over TLS")
}

/// HTTPS end to end: the announced URL is https, the API registers and issues a token over
/// TLS (by name and by IP), HSTS is sent, a page login sets `__Host-session` with `Secure`,
/// and plain HTTP on the same port gets no answer.
#[test]
fn serves_https_with_hsts_and_host_prefixed_secure_cookies() {
    let tls = self_signed();
    let server = Server::start_with(&["--tls-cert", &tls.cert_path, "--tls-key", &tls.key_path]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "announced {}",
        server.base
    );
    let addr = server.addr;

    let body = registration("alice").to_string();
    let registered = tls_request(
        addr,
        &tls.cert,
        "localhost",
        "POST",
        "/api/v1/users",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(registered.status, 201, "{}", registered.text());
    let hsts = registered
        .header("Strict-Transport-Security")
        .expect("HSTS on API answers");
    assert!(hsts.contains("max-age="), "{hsts}");
    let authorization = basic("alice", PASSWORD);
    let issued = tls_request(
        addr,
        &tls.cert,
        "127.0.0.1",
        "POST",
        "/api/v1/tokens",
        &[("Authorization", &authorization)],
        b"",
    );
    assert_eq!(issued.status, 201, "{}", issued.text());
    assert!(issued.json()["token"].is_string());

    let page = tls_request(addr, &tls.cert, "localhost", "GET", "/login", &[], b"");
    assert_eq!(page.status, 200);
    assert!(page.header("Strict-Transport-Security").is_some());
    let csrf_cookie = page
        .header_all("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("__Host-csrf="))
        .expect("csrf cookie")
        .to_string();
    let csrf_pair = csrf_cookie.split(';').next().expect("pair").to_string();
    let csrf = util::web::csrf_token(&page.text());
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf_token", csrf.as_str()),
        ])
        .finish();
    let login = tls_request(
        addr,
        &tls.cert,
        "localhost",
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &csrf_pair),
        ],
        form.as_bytes(),
    );
    assert_eq!(login.status, 303, "{}", login.text());
    let session = login
        .header_all("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("__Host-session="))
        .expect("__Host-session cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            session.split(';').any(|part| part.trim() == flag),
            "{session} lacks {flag}"
        );
    }
    let cookie = session.split(';').next().expect("pair");
    assert_eq!(
        tls_request(
            addr,
            &tls.cert,
            "localhost",
            "GET",
            "/inbox",
            &[("Cookie", cookie)],
            b""
        )
        .status,
        200
    );

    // Plain HTTP to the TLS port is not served.
    let plain = Client::connect(addr).and_then(|mut c| c.send("GET", "/healthz", &[], b""));
    assert!(
        plain.is_err() || plain.is_ok_and(|r| r.status >= 400),
        "plain HTTP answered on the TLS port"
    );
}

/// A missing certificate and a key that is not the certificate's each stop `serve` with one
/// line on stderr and exit code 1, before anything listens.
#[test]
fn bad_tls_files_are_one_line_errors_with_exit_1() {
    let tls = self_signed();
    let other = self_signed();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            missing.to_str().expect("path").to_string(),
            tls.key_path.clone(),
            "missing.pem",
        ),
        (
            tls.cert_path.clone(),
            other.key_path.clone(),
            "does not match",
        ),
    ];
    for (cert, key, mentions) in cases {
        let output = run(
            &data,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--pin",
                PIN,
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
            ],
            b"",
        );
        let error = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "stderr: {error}");
        assert!(
            stdout(&output).is_empty(),
            "nothing may be announced: {}",
            stdout(&output)
        );
        let lines: Vec<&str> = error.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line expected: {error:?}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(mentions),
            "{error}"
        );
        assert!(
            !error.contains("panicked") && !error.contains("backtrace"),
            "{error}"
        );
        assert!(
            !data.exists(),
            "a refused start must not create the data directory"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Logs.

/// Every line of every file under `dir`.
fn log_lines(dir: &Path) -> Vec<String> {
    files_under(dir)
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What a fail2ban `failregex` would do with `^.* security event=login_failed user=\S+ ip=<HOST>( |$)`:
/// the host of a matching line, if it matches.
fn fail2ban_host(line: &str) -> Option<String> {
    let rest = &line[line.find(" security event=login_failed user=")?
        + " security event=login_failed user=".len()..];
    let (user, rest) = rest.split_once(' ')?;
    if user.is_empty() || user.chars().any(char::is_whitespace) {
        return None;
    }
    let host = rest.strip_prefix("ip=")?;
    Some(host.split(' ').next().unwrap_or("").to_string())
}

/// A failed login writes exactly one stable security line with user and IP; hostile usernames
/// cannot split a line or add an `ip=`; access lines carry method, path (no query), status,
/// bytes, time and request id; no password, token, PIN or message text reaches the log files,
/// the data directory or the server's output.
#[test]
fn logs_have_one_matchable_line_per_failed_login_and_no_secrets() {
    let temp = tempfile::tempdir().expect("temp dir");
    let log_dir = temp.path().join("logs");
    let mut server = Server::start_with(&["--log-dir", log_dir.to_str().expect("path")]);
    let addr = server.addr;
    register(addr, "alice");
    register(addr, "bob");
    let alice = token(addr, "alice");
    let title = "quarterly-secret-title-8841";
    let text = "the eagle lands at midnight 5521";
    let sent = expect(send(addr, &alice, "bob", title, text), 201);
    let id = message_id(&sent);
    // A query string that carries something secret-looking must not be logged.
    let query_secret = "cursorsecret0042";
    // Any answer will do (the cursor is bogus); only the access line matters.
    let listed = api(
        addr,
        "GET",
        &format!("/api/v1/messages?box=inbox&limit=5&cursor={query_secret}"),
        Some(&alice),
        None,
    )
    .expect("list");
    assert!(listed.status < 500, "{}", listed.text());

    // One failed login with a plain wrong password.
    let wrong = "wrong horse battery staple 77";
    let bad = basic("alice", wrong);
    assert_eq!(
        request(
            addr,
            None,
            "POST",
            "/api/v1/tokens",
            &[("Authorization", &bad)],
            None
        )
        .expect("token")
        .status,
        401
    );
    // Hostile usernames: a newline that would start a forged line, spaces that would add a
    // second ip=, and a carriage return.
    let forged_host = "203.0.113.66";
    for hostile in [
        format!(
            "mallory\n2030-01-01T00:00:00Z  WARN security: security event=login_failed user=root ip={forged_host}"
        ),
        format!("mallory ip={forged_host}"),
        format!("mallory\rip={forged_host}\u{2028}x\u{85}y"),
    ] {
        let bad = basic(&hostile, wrong);
        assert_eq!(
            request(
                addr,
                None,
                "POST",
                "/api/v1/tokens",
                &[("Authorization", &bad)],
                None
            )
            .expect("token")
            .status,
            401
        );
    }
    // The classic leak: a password typed into the username field.
    let misplaced = basic(PASSWORD, wrong);
    assert_eq!(
        request(
            addr,
            None,
            "POST",
            "/api/v1/tokens",
            &[("Authorization", &misplaced)],
            None
        )
        .expect("token")
        .status,
        401
    );
    let status = server.stop();
    assert!(status.success(), "server exit: {status:?}");

    let lines = log_lines(&log_dir);
    assert!(
        !lines.is_empty(),
        "no log files under {}",
        log_dir.display()
    );
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("event=login_failed"))
        .collect();
    assert_eq!(
        failures.len(),
        5,
        "one line per failed login: {failures:#?}"
    );
    let invalid = failures
        .iter()
        .filter(|l| l.contains(" user=(invalid) "))
        .count();
    assert_eq!(
        invalid, 4,
        "names that cannot be usernames are not logged: {failures:#?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("meadow")),
        "the misplaced password reached the log (escaped or not)"
    );
    let alice_lines: Vec<&&String> = failures
        .iter()
        .filter(|l| l.contains(" user=alice "))
        .collect();
    assert_eq!(
        alice_lines.len(),
        1,
        "exactly one line for alice's failure: {failures:#?}"
    );
    assert_eq!(
        fail2ban_host(alice_lines[0]).as_deref(),
        Some("127.0.0.1"),
        "{}",
        alice_lines[0]
    );
    // Every line a fail2ban filter matches names the real client, never the forged host.
    let hosts: Vec<Option<String>> = failures.iter().map(|l| fail2ban_host(l)).collect();
    assert!(
        hosts.iter().all(|h| h.as_deref() == Some("127.0.0.1")),
        "{failures:#?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains(forged_host)),
        "the forged host reached the log"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains('\u{2028}') && !l.contains('\u{85}') && !l.contains('\r')),
        "an unescaped line separator reached the log"
    );
    assert!(
        lines.iter().all(|l| !l.starts_with("2030-")),
        "a forged line reached the log"
    );

    // Access lines: method, path without the query, status, bytes, milliseconds, request id.
    let access: Vec<&String> = lines.iter().filter(|l| l.contains(" access: ")).collect();
    let sent_line = access
        .iter()
        .find(|l| l.contains(" POST /api/v1/messages 201 "))
        .unwrap_or_else(|| panic!("no access line for the send: {access:#?}"));
    let fields: Vec<&str> = sent_line.split_whitespace().collect();
    assert!(fields.contains(&"127.0.0.1"), "{sent_line}");
    assert!(
        fields.iter().any(|f| f
            .strip_suffix('B')
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0))),
        "bytes: {sent_line}"
    );
    assert!(
        fields.iter().any(|f| f
            .strip_suffix("ms")
            .is_some_and(|n| n.parse::<u64>().is_ok())),
        "ms: {sent_line}"
    );
    assert!(
        fields
            .iter()
            .any(|f| f.strip_prefix("id=").is_some_and(|id| id.len() == 32)),
        "request id: {sent_line}"
    );
    assert!(fields[0].ends_with('Z'), "UTC time first: {sent_line}");
    assert!(
        access.iter().any(|l| l.contains(" GET /api/v1/messages ")),
        "{access:#?}"
    );

    // No secret anywhere: log files, data directory (database, key, default logs), output.
    let output = server.output();
    for secret in [
        PASSWORD,
        wrong,
        alice.as_str(),
        title,
        text,
        query_secret,
        PIN,
        "Ghent",
    ] {
        for place in [&log_dir, &server.dir] {
            assert_eq!(
                util::dir_contains(place, secret.as_bytes()),
                None,
                "{secret:?} found under {}",
                place.display()
            );
        }
        assert!(
            !output.contains(secret),
            "{secret:?} in the server's output"
        );
    }
    // The message is there (encrypted), so the search above looked at a database holding it.
    assert!(id.len() == 32);
}

// ---------------------------------------------------------------------------------------------
// 6. Retention.

/// Records that are already old are planted in a stopped server's database through the
/// library; the restarted binary's housekeeping pass (which runs at start and then every five
/// minutes) purges the deleted-log entries and events past `--deleted-keep-days` and
/// `--audit-keep-days`, and the expired session and token, and keeps everything recent.
#[test]
fn housekeeping_purges_old_log_entries_events_and_expired_credentials() {
    use messages::store::Store;
    use messages::store::records::{EventRecord, SessionRecord, TokenRecord};

    let mut server = Server::start();
    let _temp = server.keep_dir();
    let dir = server.dir.clone();
    let addr = server.addr;
    register(addr, "alice");
    register(addr, "bob");
    let alice = token(addr, "alice");
    let bob = token(addr, "bob");
    let old = message_id(&expect(
        send(addr, &alice, "bob", "old-deleted-title", "old body"),
        201,
    ));
    let recent = message_id(&expect(
        send(addr, &alice, "bob", "recent-deleted-title", "recent body"),
        201,
    ));
    expect(
        api(
            addr,
            "DELETE",
            &format!("/api/v1/messages/{recent}"),
            Some(&bob),
            None,
        ),
        204,
    );
    let wrong = basic("alice", "not the password at all 1");
    assert_eq!(
        request(
            addr,
            None,
            "POST",
            "/api/v1/tokens",
            &[("Authorization", &wrong)],
            None
        )
        .expect("token")
        .status,
        401
    );
    assert!(server.stop().success());

    let day = 24 * 60 * 60;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (expired_session, live_session, expired_token) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    {
        let store = Store::open(&dir).expect("open the stopped server's store");
        let old_id = u128::from_str_radix(&old, 16).expect("hex id");
        store
            .write(move |tx| {
                assert!(
                    tx.delete_message_for("bob", old_id, now - 10 * day)?,
                    "planted deletion"
                );
                tx.record_event(&EventRecord {
                    at: now - 5 * day,
                    kind: "login_failed".into(),
                    username: Some("ancient".into()),
                    ip: Some("192.0.2.1".into()),
                    detail: String::new(),
                })?;
                let session = |created_at: i64, handle: u128| SessionRecord {
                    username: "alice".into(),
                    handle,
                    created_at,
                    last_seen: created_at,
                    ip: "127.0.0.1".into(),
                    user_agent: String::new(),
                };
                tx.put_credential(&expired_session, &session(now - 13 * 60 * 60, 11))?;
                tx.put_credential(&live_session, &session(now, 12))?;
                tx.put_credential(
                    &expired_token,
                    &TokenRecord {
                        username: "alice".into(),
                        handle: 13,
                        created_at: now - 2 * 60 * 60,
                        expires_at: now - 60 * 60,
                    },
                )?;
                Ok(())
            })
            .expect("plant old records");
    }
    // The plants are visible before the purge (so the checks below can fail).
    let deleted = |dir: &Path| stdout(&run(dir, &["deleted"], b""));
    let audit = |dir: &Path| stdout(&run(dir, &["audit"], b""));
    assert!(deleted(&dir).contains("old-deleted-title"));
    assert!(audit(&dir).contains("user=ancient"));

    let mut server = Server::start_in(
        &dir,
        &["--deleted-keep-days", "7", "--audit-keep-days", "3"],
    );
    assert!(
        eventually(Duration::from_secs(20), || !deleted(&dir)
            .contains("old-deleted-title")),
        "the old deleted-log entry was not purged"
    );
    let log = deleted(&dir);
    assert!(
        log.contains("recent-deleted-title"),
        "recent entry kept: {log}"
    );
    let events = audit(&dir);
    assert!(
        !events.contains("user=ancient"),
        "old event purged: {events}"
    );
    assert!(
        events.contains("login_failed") && events.contains("user=alice"),
        "recent events kept: {events}"
    );
    // Live credentials still work.
    expect(api(server.addr, "GET", "/api/v1/me", Some(&bob), None), 200);
    assert!(server.stop().success());

    let store = Store::open(&dir).expect("reopen");
    let present = |hash: [u8; 32], token: bool| {
        store
            .read(move |rx| {
                Ok(if token {
                    rx.credential::<TokenRecord>(&hash)?.is_some()
                } else {
                    rx.credential::<SessionRecord>(&hash)?.is_some()
                })
            })
            .expect("read")
    };
    assert!(!present(expired_session, false), "expired session purged");
    assert!(!present(expired_token, true), "expired token purged");
    assert!(present(live_session, false), "live session kept");
}
