//! Hostile and secure networks: clients that stop reading, HTTPS, bad TLS files.

use super::*;

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
    let one_size = try_request(addr, Some(bystander_ip), "GET", path, &[], None)
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
            try_request(addr, Some(bystander_ip), "GET", "/healthz", &[], None).expect("healthz");
        assert_eq!(health.status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "/healthz took {:?}",
            asked.elapsed()
        );
    }
    // The server is still holding all 50: their address is at its cap. (Checked before the
    // first write deadline can have passed, or the check would prove nothing.)
    let capped = try_request(addr, Some(hanger_ip), "GET", "/healthz", &[], None).expect("capped");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "too slow to observe the hang: {:?}",
        started.elapsed()
    );
    assert_eq!(
        capped.status, 503,
        "the hangers were not held open (or the cap is not enforced)"
    );
    assert_eq!(capped.header("retry-after"), Some("1"));

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

/// `serve` on a port another socket holds: one line on stderr, exit 1, and neither a data
/// directory nor a PIN left behind (the port is taken before anything is created).
#[test]
fn a_busy_port_fails_before_the_data_directory_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let output = run(&data, &["serve", "--listen", &port], b"");
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "stderr: {error}");
    assert!(stdout(&output).is_empty(), "announced: {}", stdout(&output));
    let lines: Vec<&str> = error.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {error:?}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(&port),
        "{error}"
    );
    assert!(
        !data.exists(),
        "a refused start must not create the data directory"
    );
}
