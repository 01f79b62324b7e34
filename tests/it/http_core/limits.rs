//! Keep-alive without stalls, head and body limits, request ids, and a handler that panics.

use super::*;

#[test]
fn keep_alive_has_no_per_request_stall() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    let mut client = Client::connect(server.addr).expect("connect");
    let started = Instant::now();
    for _ in 0..200 {
        let response = client
            .send("GET", "/page", &[], b"")
            .expect("keep-alive request");
        assert_eq!(response.status, 200);
        assert_eq!(response.body.len(), PAGE_SIZE);
    }
    let elapsed = started.elapsed();
    // With a Nagle + delayed-ACK stall each request would take ~40 ms: 8 s in total.
    assert!(
        elapsed < Duration::from_secs(2),
        "200 requests took {elapsed:?}"
    );
    // The last exchange is logged just after its response leaves.
    let all_logged = eventually(Duration::from_secs(2), || {
        server.service.logged("/page") == 200
    });
    assert!(
        all_logged,
        "{} of 200 exchanges logged",
        server.service.logged("/page")
    );
}

#[test]
fn head_over_the_limit_is_refused_without_buffering_it() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    let mut client = Client::connect(server.addr).expect("connect");
    let big = "a".repeat(20 * 1024);
    let response = client
        .send("GET", "/", &[("X-Big", &big)], b"")
        .expect("answer");
    assert_eq!(response.status, 431);
    assert_eq!(response.header("connection"), Some("close"));

    // A 200 MiB header streamed: the server answers after 16 KiB and closes; we stop sending
    // at the first write error. Its memory must not follow the header.
    let rss_before = rss_kib();
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .write_all(b"GET / HTTP/1.1\r\nX-Huge: ")
        .expect("request line");
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 200 * 1024 * 1024 {
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(
        sent < 64 * 1024 * 1024,
        "server kept reading: {sent} bytes accepted"
    );
    let seen = read_until_closed(&mut stream, Duration::from_secs(5));
    assert!(
        seen.is_empty() || seen.starts_with(b"HTTP/1.1 431"),
        "got {:?}",
        &seen[..seen.len().min(40)]
    );
    let grown_kib = rss_kib().saturating_sub(rss_before);
    assert!(grown_kib < 8 * 1024, "RSS grew by {grown_kib} KiB");
    assert_eq!(
        client::get(server.addr, "/").status,
        200,
        "server still serves"
    );
}

#[test]
fn body_over_the_limit_is_refused_before_it_is_read() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    // Declared length: answered from the head alone (we never send the body).
    let mut client = Client::connect(server.addr).expect("connect");
    let head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2097152\r\n\r\n";
    client.stream().write_all(head.as_bytes()).expect("head");
    let response = client
        .read_response(false)
        .expect("answer without the body");
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(
        response.text().contains("\"/echo\""),
        "refuse() got the path: {}",
        response.text()
    );

    // Expect: 100-continue over the limit: 413 instead of 100.
    let mut client = Client::connect(server.addr).expect("connect");
    let head =
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2097152\r\nExpect: 100-continue\r\n\r\n";
    client.stream().write_all(head.as_bytes()).expect("head");
    assert_eq!(client.read_response(false).expect("answer").status, 413);

    // Chunked: refused once the chunks add up past 1 MiB; stop sending when the answer comes.
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let head = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).expect("head");
    let mut chunk = b"10000\r\n".to_vec();
    chunk.extend(std::iter::repeat_n(b'a', 0x10000));
    chunk.extend_from_slice(b"\r\n");
    for _ in 0..64 {
        if stream.write_all(&chunk).is_err() {
            break;
        }
        stream.set_nonblocking(true).expect("nonblocking");
        let answered = stream.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0);
        stream.set_nonblocking(false).expect("blocking");
        if answered {
            break;
        }
    }
    let seen = read_until_closed(&mut stream, Duration::from_secs(5));
    assert!(
        seen.starts_with(b"HTTP/1.1 413"),
        "got {:?}",
        String::from_utf8_lossy(&seen)
    );
}

/// Many clients each send most of a near-limit body and stall: past the first 64 KiB of each,
/// bodies draw on one server-wide budget, so the stalled bodies cannot add up to connections
/// times the body limit. Those that find it spent get 503 and are closed; small requests are
/// still served meanwhile, and the budget comes back when the stalled clients go.
#[test]
fn stalled_bodies_cannot_add_up_past_the_body_budget() {
    let _serial = serial();
    let budget = 2 * 1024 * 1024;
    let server = TestServer::start(Limits {
        max_body_bytes: 1024 * 1024,
        max_body_memory: budget,
        ..test_limits()
    });
    let rss_before = rss_kib();
    let head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n";
    let most = vec![b'b'; 960 * 1024];
    let stalled: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            stream
                .set_write_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            stream.write_all(head.as_bytes()).expect("head");
            // The server may refuse and close while this is in flight.
            let _ = stream.write_all(&most);
            stream
        })
        .collect();
    // Everything sent has been read or refused by now: the server reads as fast as it can.
    std::thread::sleep(Duration::from_millis(500));
    let grown_kib = rss_kib().saturating_sub(rss_before);
    let refused: Vec<Vec<u8>> = stalled
        .iter()
        .filter_map(|stream| {
            let mut stream = stream.try_clone().expect("clone");
            stream.set_nonblocking(true).expect("nonblocking");
            let mut seen = [0u8; 4096];
            match stream.read(&mut seen) {
                Ok(n) if n > 0 => Some(seen[..n].to_vec()),
                _ => None,
            }
        })
        .collect();
    // About budget / (960 - 64) KiB of them fit; the rest are refused.
    assert!(
        refused.len() >= 26,
        "{} of 32 stalled bodies were refused",
        refused.len()
    );
    for answer in &refused {
        let text = String::from_utf8_lossy(answer).to_lowercase();
        assert!(text.starts_with("http/1.1 503"), "{text}");
        assert!(text.contains("connection: close"), "{text}");
    }
    // Without the budget the held bodies alone would be 30 MiB (36 MiB of growth measured, with
    // the threads and this test's own buffer); with it, 7-12 MiB. The bound leaves room for
    // other tests of this process allocating meanwhile.
    assert!(
        grown_kib < 24 * 1024,
        "RSS grew by {grown_kib} KiB with {} bodies held",
        32 - refused.len()
    );
    // Small bodies need no budget: still served while it is spent.
    let mut client = Client::connect(server.addr).expect("connect");
    let response = client
        .send("POST", "/echo", &[], &[7u8; 1000])
        .expect("post");
    assert_eq!(response.text(), "1000");
    // When the stalled clients go, their share comes back: a whole 1 MiB body is read again.
    drop(stalled);
    let full = vec![b'c'; 1024 * 1024];
    let served = eventually(Duration::from_secs(3), || {
        Client::connect(server.addr)
            .and_then(|mut c| c.send("POST", "/echo", &[], &full))
            .is_ok_and(|r| r.text() == "1048576")
    });
    assert!(
        served,
        "a 1 MiB body was not served after the budget came back"
    );
}

#[test]
fn bodies_within_the_limit_arrive_whole() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    let mut client = Client::connect(server.addr).expect("connect");
    let response = client
        .send("POST", "/echo", &[], &[7u8; 1000])
        .expect("post");
    assert_eq!(response.text(), "1000");
    let chunked = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let headers = [("Transfer-Encoding", "chunked")];
    let response = client
        .send("POST", "/echo", &headers, chunked)
        .expect("chunked post");
    assert_eq!(response.text(), "11");
    // Expect: 100-continue within the limit: 100 first, then the body is read.
    let head =
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    client.stream().write_all(head.as_bytes()).expect("head");
    let mut interim = [0u8; 25];
    client
        .stream()
        .read_exact(&mut interim)
        .expect("100 continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    client.stream().write_all(b"abc").expect("body");
    assert_eq!(client.read_response(false).expect("answer").text(), "3");
    // HEAD: length announced, no body (the next request on the connection still parses).
    let response = client.send("HEAD", "/page", &[], b"").expect("head");
    assert_eq!(response.header("content-length"), Some("4096"));
    assert_eq!(
        client
            .send("GET", "/", &[], b"")
            .expect("after head")
            .text(),
        "ok"
    );
    // Two pipelined requests in one write: two answers, in order.
    let pipelined = b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi";
    client.stream().write_all(pipelined).expect("pipelined");
    assert_eq!(client.read_response(false).expect("first").text(), "0");
    assert_eq!(client.read_response(false).expect("second").text(), "2");
    // Not HTTP: 400, then closed.
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.write_all(b"HELLO THERE\r\n\r\n").expect("garbage");
    let seen = read_until_closed(&mut stream, Duration::from_secs(3));
    assert!(
        seen.starts_with(b"HTTP/1.1 400"),
        "got {:?}",
        String::from_utf8_lossy(&seen)
    );
    // HTTP/1.0: answered, then closed.
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .expect("request");
    let seen = read_until_closed(&mut stream, Duration::from_secs(3));
    assert!(seen.starts_with(b"HTTP/1.1 200"));
    assert!(
        !String::from_utf8_lossy(&seen)
            .to_lowercase()
            .contains("\r\nserver:")
    );
}

#[test]
fn every_response_has_its_own_request_id() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    let mut client = Client::connect(server.addr).expect("connect");
    let headers = [("X-Request-Id", "chosen-by-the-client")];
    let first = client.send("GET", "/id", &headers, b"").expect("first");
    let second = client.send("GET", "/id", &headers, b"").expect("second");
    let id1 = first.header("x-request-id").expect("id").to_string();
    let id2 = second.header("x-request-id").expect("id").to_string();
    assert_ne!(id1, id2);
    for id in [&id1, &id2] {
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    // The handler sees the layer's id in the request, not the client's.
    assert_eq!(first.text(), format!("{id1}|{id1}|false"));
    let refused = client
        .send("POST", "/echo", &[("Content-Length", "99999999")], b"")
        .expect("413");
    assert_eq!(refused.header_all("x-request-id").len(), 1);
}

#[test]
fn a_panicking_handler_gets_500_and_the_server_lives_on() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    let mut client = Client::connect(server.addr).expect("connect");
    let response = client.send("GET", "/panic", &[], b"").expect("answer");
    assert_eq!(response.status, 500);
    let id = response
        .header("x-request-id")
        .expect("X-Request-Id on a 500");
    assert!(
        response.text().contains(id),
        "refuse() got the same id: {}",
        response.text()
    );
    assert!(response.text().contains("\"/panic\""));
    // The same connection and a new one both still work.
    assert_eq!(
        client
            .send("GET", "/", &[], b"")
            .expect("same connection")
            .status,
        200
    );
    assert_eq!(client::get(server.addr, "/").status, 200);
}
