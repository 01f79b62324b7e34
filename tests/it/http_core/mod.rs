//! Black-box tests of the connection layer (`messages::http::server`) run in-process with a
//! tiny test `Service`, so each limit can be shown to hold: keep-alive without Nagle stalls,
//! head/body caps, slowloris and slow-reader deadlines, connection and thread bounds, panics,
//! request ids, graceful stop, TLS and the `Host` rule of RFC 9112 §3.2.
//!
//! Measurements of the whole process (threads, RSS) only make sense one at a time, so every
//! test here takes `SERIAL`. These tests must not depend on the application's routes, except
//! the second half of `conformance.rs`, which checks the application's side of the same HTTP
//! rules (its 400 text, HEAD wherever GET, methods on `/static/`) on the real binary.

mod conformance;
mod hostile;
mod lifecycle;
mod limits;

use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use messages::http::server::{Exchange, Limits, Service, Shutdown, bind, load_tls, run};
use rouille::{Request, Response};

use crate::util::client::{self, Client};
use crate::util::eventually;

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

    fn refuse_bad_request(&self, reason: &str, path: Option<&str>, _: &str) -> Response {
        Response::text(format!("refused 400 {path:?}: {reason}")).with_status_code(400)
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
