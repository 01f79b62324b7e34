//! The wire: our own HTTP/1.1 connection layer that carries requests to rouille handlers.
//!
//! This module owns sockets, threads, timeouts and byte limits, and nothing else: it knows no
//! page, route, cookie or database. It parses requests with `httparse`, hands each one to the
//! application as a `rouille::Request` built with `Request::fake_http_from` (or
//! `fake_https_from` under TLS) through the [`Service`] trait, and writes the returned
//! `rouille::Response` itself. It must not import anything from the rest of the crate.
//!
//! # Design
//!
//! * **Why not tiny_http.** rouille's own server (tiny_http) never sets `TCP_NODELAY`, so
//!   keep-alive responses above ~1 KB stall ~40 ms on Nagle + delayed ACK; it runs one unbounded
//!   thread per connection with no read timeout (slowloris keeps hundreds of threads alive); it
//!   has no limit on the request head (a 200 MiB header is buffered whole); and its TLS feature
//!   pulls a vulnerable rustls 0.20. Our layer is ~2,100 lines on `httparse`, `socket2` and
//!   rustls 0.23, and each of those failures is now a test in `tests/it/http_core/`.
//! * **Threads.** One acceptor thread (the caller of [`run`]) and one thread per open
//!   connection. Connections are bounded in total (`max_connections`) and per client IP
//!   (`max_connections_per_ip`); a connection over either bound gets a best-effort, non-blocking
//!   `503` with `Connection: close` written by the acceptor itself and is closed, so a flood never
//!   spawns threads. Handler execution is bounded separately by a counting semaphore of
//!   `threads` permits: an idle or slow connection costs a parked thread, never a CPU. The permit
//!   is held only while `Service::handle` runs, not while the body is read or the response is
//!   written.
//! * **Deadlines, not per-read timeouts.** The whole request head must arrive within
//!   `header_timeout` (for the first request this includes the TLS handshake); before every
//!   read `SO_RCVTIMEO` is re-armed to the time left, so a client trickling a byte at a time is
//!   closed when the deadline passes. Between keep-alive requests the connection may be idle for
//!   `idle_timeout`; the body must arrive within `body_timeout`; and each response must be
//!   delivered within `write_timeout` (`SO_SNDTIMEO` re-armed the same way), which drops a
//!   client that stops reading or reads a byte now and then to stay alive.
//! * **Bytes.** Head bytes are counted as they arrive and the buffer never grows past
//!   `max_head_bytes` (over it: 431 and close). A `Content-Length` over `max_body_bytes` is
//!   answered 413 before a byte of body is read (also instead of `100 Continue`); chunked bodies
//!   are decoded under the same limit. A body buffer grows only as its bytes arrive, and beyond
//!   its first 64 KiB it draws on a server-wide budget (`max_body_memory`); a body that finds
//!   the budget spent is answered 503 and the connection closed, so stalled near-limit bodies
//!   on every connection cannot add up. Requests with both `Content-Length` and
//!   `Transfer-Encoding`, or any coding other than `chunked`, are refused 400 (no smuggling).
//! * **Responses.** Known size: `Content-Length`, head and a small body in one write (no Nagle
//!   stall; `TCP_NODELAY` is also set on every socket). Unknown size: chunked on HTTP/1.1, close
//!   on HTTP/1.0. HEAD sends no body. HTTP/1.0 and `Connection: close` end the connection. No
//!   `Server` header.
//! * **Host.** An HTTP/1.1 request without exactly one `Host` header with a valid value, or
//!   any request with a repeated or invalid one, is answered 400 ([`MISSING_HOST`]) and the
//!   connection closed, as RFC 9112 §3.2 requires; HTTP/1.0 may leave `Host` out.
//! * **Request ids.** 16 random bytes in hex, set as `X-Request-Id` on the request handed to the
//!   application (replacing any value the client sent) and on every response.
//! * **Failures.** A panic in `handle` is caught and answered with `Service::refuse(500)`; the
//!   connection thread lives on. No `unwrap` on anything derived from input; a poisoned mutex is
//!   recovered, not propagated.
//! * **Shutdown.** [`Shutdown::trigger`] makes [`run`] stop accepting and close the listener,
//!   idle keep-alive connections close within a quarter second, and in-flight requests get up to
//!   `shutdown_grace` to finish (answered with `Connection: close`) before `run` returns.

mod conn;
pub(crate) mod parse;
#[cfg(test)]
mod proptests;
mod respond;
pub(crate) mod slots;
mod stream;
mod tls;

pub use tls::load_tls;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use slots::{BodyBudget, ConnectionSlots, HandlerPermits};

/// The one block size of the layer's memory, 64 KiB: what a request may buffer before it draws
/// on the shared body budget, the step a body buffer grows by, the most trailer bytes a chunked
/// body may carry, and the largest response written in one piece with its head. A form or a
/// send fits one block at every step, so the common request never meets a second limit.
pub(crate) const BLOCK: usize = 64 * 1024;

/// The bounds the layer enforces; see the module documentation for what each one protects.
/// The defaults below are the command line's too (`cli.rs` names them, never repeats them).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Handlers running at once (default: 32 x available parallelism, at least 64). A handler
    /// that writes spends most of its time waiting for the group commit, not on a CPU; a small
    /// bound capped how many sends could share one commit (measured: 16 permits held 64
    /// connections to half the sends per second of 64 permits).
    pub threads: usize,
    /// Open connections in total.
    pub max_connections: usize,
    /// Open connections from one client IP address.
    pub max_connections_per_ip: usize,
    /// Request line plus headers, in bytes (default 16 KiB); over it: 431, then close.
    pub max_head_bytes: usize,
    /// Request body, in bytes; over it: 413 before reading the body, then close.
    pub max_body_bytes: usize,
    /// Request-body bytes all connections together may hold in memory beyond the first 64 KiB
    /// of each request; a body that finds it spent: 503, then close.
    pub max_body_memory: usize,
    /// The whole request head must arrive within this.
    pub header_timeout: Duration,
    /// Keep-alive idle time between requests.
    pub idle_timeout: Duration,
    /// The whole request body must arrive within this (default 30 s).
    pub body_timeout: Duration,
    /// Each response must be delivered within this, or the client is dropped.
    pub write_timeout: Duration,
    /// How long in-flight requests may take after shutdown is triggered (default 10 s).
    pub shutdown_grace: Duration,
}

impl Limits {
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 64;
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    pub const DEFAULT_MAX_BODY_MEMORY: usize = 32 * 1024 * 1024;
    pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
    pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 30;
    pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 30;
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Limits {
            threads: (32 * cores).max(64),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: Self::DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_head_bytes: 16 * 1024,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            max_body_memory: Self::DEFAULT_MAX_BODY_MEMORY,
            header_timeout: Duration::from_secs(Self::DEFAULT_HEADER_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(Self::DEFAULT_IDLE_TIMEOUT_SECS),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(Self::DEFAULT_WRITE_TIMEOUT_SECS),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What the application provides; the layer knows nothing about pages or the API.
pub trait Service: Send + Sync + 'static {
    /// Answers one parsed request. `request_id` is the id the layer assigned (also sent as
    /// X-Request-Id).
    fn handle(&self, request: &rouille::Request, request_id: &str) -> rouille::Response;
    /// The response for a request the layer refuses itself (400 bad request, 408, 413, 431,
    /// 503 when over capacity) or for a handler that panicked (500). `path` is Some when the
    /// request line was parsed. The app uses it to answer in HTML or JSON with its security
    /// headers.
    fn refuse(&self, status: u16, path: Option<&str>, request_id: &str) -> rouille::Response;
    /// The 400 for a request the layer refuses for a reason it can name (`reason`, a short
    /// sentence such as [`MISSING_HOST`]); by default the plain 400 of [`Service::refuse`].
    fn refuse_bad_request(
        &self,
        reason: &str,
        path: Option<&str>,
        request_id: &str,
    ) -> rouille::Response {
        let _ = reason;
        self.refuse(400, path, request_id)
    }
    /// Called once per finished exchange, for the access log.
    fn log_exchange(&self, exchange: &Exchange<'_>);
}

/// Why an HTTP/1.1 request without exactly one valid `Host` header is refused (RFC 9112 §3.2).
pub const MISSING_HOST: &str = "The request needs exactly one valid Host header.";

/// One finished request/response exchange, as handed to [`Service::log_exchange`].
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    pub remote: SocketAddr,
    /// The request method, or `-` when the request line could not be parsed.
    pub method: &'a str,
    /// The request path without its query, or `-` when the request line could not be parsed.
    pub path: &'a str,
    pub status: u16,
    /// Body bytes written (not counting the head).
    pub bytes: u64,
    pub elapsed: Duration,
    pub request_id: &'a str,
}

/// Binds a listening socket with `SO_REUSEADDR`, `TCP_NODELAY` and a backlog of 1024.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    // Inherited by accepted sockets on Linux; set again on each accepted socket in any case.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A cloneable switch that asks [`run`] to stop.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    triggered: Arc<AtomicBool>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the server to stop; idempotent and safe from any thread (not from a signal handler:
    /// use signal-hook's iterator thread to call it).
    pub fn trigger(&self) {
        self.triggered.store(true, Ordering::SeqCst);
    }

    pub fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::SeqCst)
    }
}

/// How often blocked threads (the acceptor, idle keep-alive connections) look at the shutdown
/// switch. `accept` and `read` honour `SO_RCVTIMEO` on Linux, so this costs no busy loop.
pub(crate) const SHUTDOWN_POLL: Duration = Duration::from_millis(250);

/// Everything a connection thread shares with the acceptor.
pub(crate) struct Shared {
    pub limits: Limits,
    pub service: Arc<dyn Service>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub shutdown: Shutdown,
    pub permits: HandlerPermits,
    pub slots: ConnectionSlots,
    pub body_budget: BodyBudget,
}

/// Serves until `shutdown` is triggered: stops accepting, lets in-flight requests finish
/// (bounded by `limits.shutdown_grace`), closes idle keep-alive connections, then returns Ok(()).
pub fn run(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    service: Arc<dyn Service>,
    shutdown: Shutdown,
) -> io::Result<()> {
    // accept(2) honours SO_RCVTIMEO on Linux: the acceptor wakes up to look at the switch
    // without a busy loop and without delaying any connection.
    listener.set_nonblocking(false)?;
    SockRef::from(&listener).set_read_timeout(Some(SHUTDOWN_POLL))?;
    let shared = Arc::new(Shared {
        permits: HandlerPermits::new(limits.threads.max(1)),
        slots: ConnectionSlots::new(limits.max_connections, limits.max_connections_per_ip),
        body_budget: BodyBudget::new(limits.max_body_memory),
        limits,
        service,
        tls,
        shutdown,
    });
    while !shared.shutdown.is_triggered() {
        match listener.accept() {
            Ok((stream, remote)) => {
                // Application code (refuse, log_exchange) runs here for refusals; a panic in it
                // must not stop the acceptor.
                let dispatched = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    dispatch(&shared, stream, remote)
                }));
                if dispatched.is_err() {
                    tracing::error!(%remote, "panic while dispatching a connection");
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE, ENOBUFS, ECONNABORTED...: the listener itself is fine; back off a
                // little so a descriptor shortage does not become a hot loop.
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    // Closing the listener first makes new connections fail at once instead of queueing.
    drop(listener);
    let deadline = Instant::now() + shared.limits.shutdown_grace;
    let left = shared.slots.wait_until_empty(deadline);
    if left > 0 {
        tracing::warn!(
            connections = left,
            "shutdown grace passed with requests in flight"
        );
    }
    Ok(())
}

/// Starts a connection thread, or refuses the connection when a bound is reached.
fn dispatch(shared: &Arc<Shared>, stream: TcpStream, remote: SocketAddr) {
    let Some(slot) = shared.slots.try_acquire(remote.ip()) else {
        refuse_over_capacity(shared, stream, remote);
        return;
    };
    let thread_shared = Arc::clone(shared);
    let spawned = std::thread::Builder::new()
        .name("http-conn".into())
        .spawn(move || {
            let _slot = slot;
            conn::serve(&thread_shared, stream, remote);
        });
    if let Err(e) = spawned {
        // The stream and slot were moved into the closure and are dropped with it.
        tracing::error!(error = %e, "cannot start a connection thread");
    }
}

/// Answers 503 without a thread: one non-blocking write of the application's refusal (plain
/// HTTP only; a TLS client just sees the connection close), then close.
fn refuse_over_capacity(shared: &Shared, mut stream: TcpStream, remote: SocketAddr) {
    let started = Instant::now();
    let request_id = new_request_id();
    if shared.tls.is_none() && stream.set_nonblocking(true).is_ok() {
        let response = shared.service.refuse(503, None, &request_id);
        let head_and_body = respond::render_small(response, &request_id, BLOCK);
        // Best effort: a full socket buffer or a reset is the client's problem.
        let _ = stream.write_all(&head_and_body);
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    shared.service.log_exchange(&Exchange {
        remote,
        method: "-",
        path: "-",
        status: 503,
        bytes: 0,
        elapsed: started.elapsed(),
        request_id: &request_id,
    });
}

/// Whether an IO error is what `SO_RCVTIMEO`/`SO_SNDTIMEO` expiry looks like.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// 16 random bytes in hex. The OS generator does not fail on supported systems; if it ever
/// does, a time-and-counter id still keeps log lines apart (ids are not secrets).
pub(crate) fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        bytes[8..].copy_from_slice(&(nanos as u64).to_be_bytes());
    }
    hex::encode(bytes)
}
