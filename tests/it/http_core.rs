//! Black-box tests of the connection layer (`messages::http::server`) run in-process with a
//! tiny test `Service`, so each limit can be shown to hold: keep-alive without Nagle stalls,
//! head/body caps, slowloris and slow-reader deadlines, connection and thread bounds, panics,
//! request ids, graceful stop and TLS.
//!
//! Measurements of the whole process (threads, RSS) only make sense one at a time, so every
//! test here takes `SERIAL`. These tests must not depend on the application's routes.

use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use messages::http::server::{Exchange, Limits, Service, Shutdown, bind, load_tls, run};
use rouille::{Request, Response};

use crate::util::client::{self, Client};

const OTHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const PAGE_SIZE: usize = 4096;
/// Much more than socket buffers can hold, so a client that does not read blocks the server.
const BIG_SIZE: usize = 64 * 1024 * 1024;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Routes: `/` small text, `/page` 4 KB, `/panic`, `/echo` (body length), `/sleep` (500 ms),
/// `/big` (64 MiB streamed), `/id` (the id the handler saw, both ways).
#[derive(Default)]
struct TestService {
    sleeping: AtomicBool,
    log: Mutex<Vec<(String, u16)>>,
}

impl TestService {
    fn logged(&self, path: &str) -> usize {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().filter(|(p, _)| p == path).count()
    }
}

impl Service for TestService {
    fn handle(&self, request: &Request, request_id: &str) -> Response {
        match request.url().as_str() {
            "/" => Response::text("ok"),
            "/page" => Response::html("x".repeat(PAGE_SIZE)),
            "/panic" => panic!("the test handler panics on purpose"),
            "/echo" => {
                let mut body = Vec::new();
                if let Some(mut data) = request.data() {
                    data.read_to_end(&mut body).expect("body readable");
                }
                Response::text(body.len().to_string())
            }
            "/sleep" => {
                self.sleeping.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(500));
                Response::text("slept")
            }
            "/big" => Response {
                status_code: 200,
                headers: vec![],
                data: rouille::ResponseBody::from_reader_and_size(
                    io::repeat(b'x').take(BIG_SIZE as u64),
                    BIG_SIZE,
                ),
                upgrade: None,
            },
            "/id" => Response::text(format!(
                "{}|{}|{}",
                request.header("X-Request-Id").unwrap_or(""),
                request_id,
                request.is_secure()
            )),
            _ => Response::empty_404(),
        }
    }

    fn refuse(&self, status: u16, path: Option<&str>, request_id: &str) -> Response {
        Response::text(format!("refused {status} {path:?} {request_id}")).with_status_code(status)
    }

    fn log_exchange(&self, exchange: &Exchange<'_>) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.push((exchange.path.to_string(), exchange.status));
    }
}

struct TestServer {
    addr: SocketAddr,
    service: Arc<TestService>,
    shutdown: Shutdown,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    fn start(limits: Limits) -> TestServer {
        TestServer::start_with(limits, None)
    }

    fn start_with(limits: Limits, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let service = Arc::new(TestService::default());
        let shutdown = Shutdown::new();
        let (dyn_service, stop) = (service.clone() as Arc<dyn Service>, shutdown.clone());
        let thread = std::thread::spawn(move || run(listener, tls, limits, dyn_service, stop));
        TestServer {
            addr,
            service,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Triggers shutdown and returns what `run` returned.
    fn stop(&mut self) -> io::Result<()> {
        self.shutdown.trigger();
        match self.thread.take() {
            Some(thread) => thread.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Short deadlines so the timeout tests finish in seconds.
fn test_limits() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(2),
        shutdown_grace: Duration::from_secs(3),
        ..Limits::default()
    }
}

fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn rss_kib() -> u64 {
    proc_status("VmRSS")
}

fn threads() -> u64 {
    proc_status("Threads")
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// Reads until the server closes (Ok(0) or an error), failing the test after `limit`.
/// Returns the bytes read.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "connection still open after {limit:?}");
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!("connection still open after {limit:?}")
            }
            Err(_) => return seen, // reset: closed too
        }
    }
}

/// True when the connection answered 503 or was closed without an answer.
fn refused(stream: &mut TcpStream) -> bool {
    let seen = read_until_closed(stream, Duration::from_secs(3));
    seen.is_empty() || seen.starts_with(b"HTTP/1.1 503")
}

fn timed_get(addr: SocketAddr, path: &str) -> (client::Response, Duration) {
    let started = Instant::now();
    let response = client::get(addr, path);
    (response, started.elapsed())
}

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
    let all_logged = wait_until(Duration::from_secs(2), || {
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
fn slowloris_is_bounded_and_cut_off_at_the_header_deadline() {
    let _serial = serial();
    let limits = Limits {
        max_connections_per_ip: 64,
        ..test_limits()
    };
    let server = TestServer::start(limits);
    let mut tricklers: Vec<TcpStream> = (0..200)
        .map(|_| client::tcp_from(OTHER_IP, server.addr).expect("trickler connects"))
        .collect();
    let started = Instant::now();
    let mut open: Vec<bool> = vec![true; tricklers.len()];
    let mut probed = false;
    // 1 s of trickling a byte per 100 ms on each connection: not enough to finish a head.
    let prefix = b"GET / HTTP/1.1\r\nX:";
    for tick in 0..10 {
        for (stream, alive) in tricklers.iter_mut().zip(open.iter_mut()) {
            let byte = prefix.get(tick).copied().unwrap_or(b'a');
            if *alive && stream.write(&[byte]).is_err() {
                *alive = false;
            }
        }
        if tick == 5 && !probed {
            let (response, took) = timed_get(server.addr, "/");
            assert_eq!(response.status, 200);
            assert!(
                took < Duration::from_secs(1),
                "/ took {took:?} under slowloris"
            );
            probed = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every trickler is closed by header_timeout (2 s) plus a little: the 64 admitted ones
    // with a 408 or a bare close, the others at once with a 503 or a close.
    for stream in &mut tricklers {
        let seen = read_until_closed(stream, Duration::from_secs(4));
        assert!(
            seen.is_empty()
                || seen.starts_with(b"HTTP/1.1 408")
                || seen.starts_with(b"HTTP/1.1 503"),
            "got {:?}",
            String::from_utf8_lossy(&seen)
        );
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "tricklers lived {took:?}");
}

#[test]
fn connection_threads_are_bounded() {
    let _serial = serial();
    let limits = Limits {
        max_connections: 32,
        max_connections_per_ip: 1000,
        header_timeout: Duration::from_secs(10),
        ..test_limits()
    };
    let server = TestServer::start(limits);
    // No request first: its connection could free its slot while the 100 are accepted and
    // let a 33rd in.
    let before = threads();
    let mut idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    // The last 68 are turned away; poll until they all are.
    let mut n_refused = 0;
    for stream in idle[32..].iter_mut() {
        if refused(stream) {
            n_refused += 1;
        }
    }
    assert_eq!(n_refused, 68);
    let grown = threads().saturating_sub(before);
    assert!(
        grown <= 32 + 4,
        "threads grew by {grown} for 32 admitted connections"
    );
    assert!(
        grown >= 16,
        "admitted connections should each have a thread, grew {grown}"
    );
    // The admitted ones are still being served.
    let mut first = Client::from_stream(idle.swap_remove(0), server.addr).expect("client");
    assert_eq!(
        first.send("GET", "/", &[], b"").expect("admitted").status,
        200
    );
}

#[test]
fn connections_per_ip_are_capped() {
    let _serial = serial();
    let limits = Limits {
        max_connections_per_ip: 4,
        ..test_limits()
    };
    let server = TestServer::start(limits);
    let mut admitted: Vec<Client> = (0..4)
        .map(|_| Client::connect_from(OTHER_IP, server.addr).expect("connect"))
        .collect();
    for client in &mut admitted {
        assert_eq!(
            client.send("GET", "/", &[], b"").expect("admitted").status,
            200
        );
    }
    let mut fifth = client::tcp_from(OTHER_IP, server.addr).expect("connect");
    let _ = fifth.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        refused(&mut fifth),
        "fifth connection from 127.0.0.2 was served"
    );
    assert_eq!(
        client::get(server.addr, "/").status,
        200,
        "127.0.0.1 unaffected"
    );
    // A freed slot can be used again.
    drop(admitted.pop());
    let mut again = None;
    wait_until(Duration::from_secs(3), || {
        let response = Client::connect_from(OTHER_IP, server.addr)
            .and_then(|mut c| c.send("GET", "/", &[], b""));
        again = response.ok().map(|r| r.status);
        again == Some(200)
    });
    assert_eq!(again, Some(200));
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
fn slow_readers_are_dropped_after_the_write_timeout() {
    let _serial = serial();
    let server = TestServer::start(test_limits());
    let mut readers: Vec<TcpStream> = (0..50)
        .map(|_| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            socket
                .set_recv_buffer_size(4096)
                .expect("small receive buffer");
            socket.connect(&server.addr.into()).expect("connect");
            let mut stream: TcpStream = socket.into();
            stream
                .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
                .expect("request");
            stream
        })
        .collect();
    let (response, took) = timed_get(server.addr, "/");
    assert_eq!(response.status, 200);
    assert!(
        took < Duration::from_secs(1),
        "/ took {took:?} with 50 stalled readers"
    );
    // Each stalled exchange is logged when the server gives up on it (write_timeout 2 s).
    let all_dropped = wait_until(Duration::from_secs(5), || {
        server.service.logged("/big") == 50
    });
    assert!(
        all_dropped,
        "only {} slow readers dropped",
        server.service.logged("/big")
    );
    for stream in &mut readers {
        let seen = read_until_closed(stream, Duration::from_secs(10));
        assert!(seen.len() < BIG_SIZE, "a slow reader got the whole body");
    }
}

#[test]
fn graceful_stop_finishes_in_flight_requests() {
    let _serial = serial();
    let mut server = TestServer::start(test_limits());
    let addr = server.addr;
    let mut idle = Client::connect(addr).expect("connect");
    assert_eq!(idle.send("GET", "/", &[], b"").expect("idle").status, 200);
    let in_flight = std::thread::spawn(move || {
        Client::connect(addr).and_then(|mut c| c.send("GET", "/sleep", &[], b""))
    });
    assert!(wait_until(Duration::from_secs(3), || server
        .service
        .sleeping
        .load(Ordering::SeqCst)));
    let stopping = Instant::now();
    assert!(server.stop().is_ok(), "run returns Ok");
    let response = in_flight
        .join()
        .expect("client thread")
        .expect("in-flight answer");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "slept");
    assert_eq!(response.header("connection"), Some("close"));
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        stopping.elapsed()
    );
    // The idle keep-alive connection was closed, and nobody new gets in.
    assert!(read_until_closed(idle.stream(), Duration::from_secs(1)).is_empty());
    assert!(
        TcpStream::connect(addr).is_err(),
        "connections are refused after stop"
    );
}

#[test]
fn tls_serves_https_and_load_tls_explains_bad_files() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    let other_key_path = dir.path().join("other-key.pem");
    std::fs::write(&cert_path, issued.cert.pem()).expect("write cert");
    std::fs::write(&key_path, issued.signing_key.serialize_pem()).expect("write key");
    std::fs::write(&other_key_path, other.signing_key.serialize_pem()).expect("write key");

    let missing = dir.path().join("missing.pem");
    let error = load_tls(&missing, &key_path).expect_err("missing cert refused");
    assert!(error.starts_with("cannot read TLS certificate"), "{error}");
    assert!(error.contains("missing.pem"), "{error}");
    let error = load_tls(&cert_path, &other_key_path).expect_err("wrong key refused");
    assert!(error.contains("does not match"), "{error}");
    let error = load_tls(&key_path, &key_path).expect_err("key as cert refused");
    assert!(error.starts_with("no certificate found in"), "{error}");

    let config = load_tls(&cert_path, &key_path).expect("valid cert and key");
    let server = TestServer::start_with(test_limits(), Some(config));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(issued.cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "localhost".try_into().expect("server name");
    let session = rustls::ClientConnection::new(Arc::new(client_config), name).expect("session");
    let tcp = TcpStream::connect(server.addr).expect("connect");
    tcp.set_read_timeout(Some(client::IO_TIMEOUT))
        .expect("timeout");
    let mut tls = BufReader::new(rustls::StreamOwned::new(session, tcp));
    for _ in 0..2 {
        let request = client::render_request("localhost", "GET", "/id", &[], b"");
        tls.get_mut().write_all(&request).expect("request over TLS");
        let response = client::read_response(&mut tls, false).expect("response over TLS");
        assert_eq!(response.status, 200);
        assert!(
            response.text().ends_with("|true"),
            "handler saw HTTPS: {}",
            response.text()
        );
    }
    // Plain HTTP on the TLS port gets nowhere.
    let mut plain = Client::connect(server.addr).expect("connect");
    assert!(plain.send("GET", "/", &[], b"").is_err());
}

#[test]
fn sigterm_stops_the_real_binary_cleanly() {
    let _serial = serial();
    let mut server = crate::util::Server::start();
    let mut idle = Client::connect(server.addr).expect("connect");
    let response = idle.send("GET", "/healthz", &[], b"").expect("healthz");
    assert_eq!(response.status, 200);
    let stopping = Instant::now();
    let status = server.stop();
    assert!(
        status.success(),
        "exit status {status:?}; output: {}",
        server.output()
    );
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "SIGTERM took {:?}",
        stopping.elapsed()
    );
    assert!(read_until_closed(idle.stream(), Duration::from_secs(1)).is_empty());
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "nothing listens after exit"
    );
}
