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

