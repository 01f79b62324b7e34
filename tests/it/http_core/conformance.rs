//! RFC 9112 §3.2 at the connection layer: an HTTP/1.1 request without exactly one valid `Host`
//! is refused 400 and its connection closed; HTTP/1.0 may leave `Host` out.

use super::*;

/// Writes `request` raw on a fresh connection and returns everything the server sent before
/// closing it (the test fails if it stays open).
fn raw_until_closed(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request.as_bytes()).expect("write");
    String::from_utf8_lossy(&read_until_closed(&mut stream, Duration::from_secs(3))).into_owned()
}

/// Writes `request` raw on a fresh connection and reads one response.
fn raw_response(addr: SocketAddr, request: &str) -> client::Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(client::IO_TIMEOUT))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    client::read_response(&mut BufReader::new(stream), false).expect("a response")
}

#[test]
fn http11_without_exactly_one_valid_host_is_refused_and_closed() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    let refused = [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost:\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example/path\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: user@a.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example:80:80\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example:port\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n",
        "GET http://a.example/ HTTP/1.1\r\n\r\n",
        // HTTP/1.0 may omit Host, but one it sends must still be single and valid.
        "GET / HTTP/1.0\r\nHost: a b\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    ];
    for request in refused {
        let seen = raw_until_closed(server.addr, request);
        assert!(seen.starts_with("HTTP/1.1 400"), "{request:?} got {seen:?}");
        assert!(
            seen.contains("Host"),
            "{request:?}: the answer names Host: {seen:?}"
        );
        assert!(
            seen.to_ascii_lowercase().contains("connection: close"),
            "{request:?} got {seen:?}"
        );
    }
}

#[test]
fn a_valid_host_and_http10_without_one_are_served() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    for host in [
        "a.example",
        "localhost:8080",
        "127.0.0.1:1",
        "[::1]:8080",
        "[::1]",
        "xn--bcher-kva.example",
        "a.example:",
    ] {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let response = raw_response(server.addr, &request);
        assert_eq!(
            (response.status, response.text()),
            (200, "ok".into()),
            "{host}"
        );
    }
    let response = raw_response(server.addr, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!((response.status, response.text()), (200, "ok".into()));
}

// ---------------------------------------------------------------------------------------------
// The application's side of the same rules, on the real binary: its 400 text for a missing
// Host, HEAD wherever GET (API included), and GET/HEAD only on `/static/`.

use crate::util::Server;
use crate::util::api::{call, expect, member};

#[test]
fn the_application_says_why_a_host_is_refused() {
    let server = Server::start();
    for path in ["/inbox", "/api/v1/me"] {
        let seen = raw_until_closed(server.addr, &format!("GET {path} HTTP/1.1\r\n\r\n"));
        assert!(seen.starts_with("HTTP/1.1 400"), "{seen}");
        assert!(seen.contains("exactly one valid Host header"), "{seen}");
    }
}

#[test]
fn head_is_answered_wherever_get_is_without_a_body() {
    let server = Server::start();
    let addr = server.addr;
    let token = member(addr, "alice");
    let key = serde_json::json!({"key": "AAEC"});
    expect(
        &call(addr, "PUT", "/api/v1/me/key", Some(&token), Some(&key)),
        200,
    );
    let message = serde_json::json!({"to": "alice", "title": "hello", "body": "there"});
    let sent = expect(
        &call(
            addr,
            "POST",
            "/api/v1/messages",
            Some(&token),
            Some(&message),
        ),
        201,
    );
    let message_path = format!("/api/v1/messages/{}", sent["id"].as_str().expect("id"));
    let authorization = format!("Bearer {token}");
    let mut connection = Client::connect(addr).expect("connect");
    for path in [
        "/api/v1/me",
        "/api/v1/users?q=al",
        "/api/v1/users/alice/key",
        "/api/v1/messages?box=inbox",
        message_path.as_str(),
        "/api/v1/security-questions",
        "/api/v1/openapi.json",
        "/healthz",
        "/static/app.css",
        "/login",
    ] {
        let headers = [("Authorization", authorization.as_str())];
        let got = connection.send("GET", path, &headers, b"").expect("GET");
        // On the same connection: a HEAD answer with a body would garble the next response.
        let head = connection.send("HEAD", path, &headers, b"").expect("HEAD");
        assert_eq!(
            (got.status, head.status),
            (200, 200),
            "{path}: {}",
            got.text()
        );
        assert_eq!(
            head.header("Content-Length"),
            Some(got.body.len().to_string().as_str()),
            "{path}"
        );
        assert_eq!(
            head.header("Content-Type"),
            got.header("Content-Type"),
            "{path}"
        );
    }
    let after = connection
        .send("GET", "/healthz", &[], b"")
        .expect("GET after HEADs");
    assert_eq!(after.status, 200);
}

#[test]
fn allow_lists_name_head_wherever_they_name_get() {
    let server = Server::start();
    let token = member(server.addr, "alice");
    for (method, path, allow) in [
        ("DELETE", "/api/v1/me", "GET, HEAD, PATCH"),
        ("PUT", "/api/v1/messages", "GET, HEAD, POST"),
        ("PUT", "/api/v1/users", "GET, HEAD, POST"),
        ("POST", "/api/v1/messages/00", "GET, HEAD, DELETE"),
        ("POST", "/api/v1/users/alice/key", "GET, HEAD"),
        ("POST", "/api/v1/security-questions", "GET, HEAD"),
        ("DELETE", "/api/v1/openapi.json", "GET, HEAD"),
        ("HEAD", "/api/v1/tokens", "POST, DELETE"),
        ("HEAD", "/api/v1/me/key", "PUT"),
        ("POST", "/healthz", "GET, HEAD"),
    ] {
        let response = call(server.addr, method, path, Some(&token), None);
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.header("Allow"), Some(allow), "{method} {path}");
    }
}

#[test]
fn static_files_answer_only_get_and_head() {
    let server = Server::start();
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for path in ["/static/app.css", "/static/no-such-file"] {
            let response = client::Client::connect(server.addr)
                .and_then(|mut c| c.send(method, path, &[], b""))
                .expect("request");
            assert_eq!(response.status, 405, "{method} {path}");
            assert_eq!(
                response.header("Allow"),
                Some("GET, HEAD"),
                "{method} {path}"
            );
        }
    }
    assert_eq!(client::get(server.addr, "/static/app.css").status, 200);
    assert_eq!(client::get(server.addr, "/static/no-such-file").status, 404);
}
