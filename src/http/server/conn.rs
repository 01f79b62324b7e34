//! One connection's life on its own thread: TLS handshake, then request after request (head,
//! body, handler under a permit, response) until the client, a limit, an error or shutdown
//! ends it.
//!
//! Every decision about deadlines, refusals (400 including a missing Host, 408/413/431/503/500) and keep-alive is made
//! here; parsing and writing are delegated to parse.rs and respond.rs. It must not hold a
//! handler permit while reading or writing the socket.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rustls::{ServerConnection, StreamOwned};

use super::parse::{Framing, Head, ReadError, Wire};
use super::respond::{self, Answer};
use super::stream::{DeadlineStream, Transport};
use super::{Exchange, SHUTDOWN_POLL, Shared, is_timeout, new_request_id};

/// How a connection ends.
enum Ending {
    /// Nothing more to say (peer gone, idle timeout, broken socket): just drop it.
    Quiet,
    /// We sent a last response; close politely so the client can read it.
    Linger,
}

/// Serves one accepted connection until it ends. Never panics out: a panic anywhere below
/// (including in application code outside `handle`) ends only this connection.
pub(crate) fn serve(shared: &Shared, tcp: TcpStream, remote: SocketAddr) {
    let accepted = Instant::now();
    let limits = &shared.limits;
    // Best effort: a socket that refuses options still works, just less well.
    let _ = tcp.set_nodelay(true);
    let first_deadline = accepted + limits.header_timeout;
    let stream = DeadlineStream::new(tcp, first_deadline);
    let transport = match &shared.tls {
        None => Transport::Plain(stream),
        Some(config) => match ServerConnection::new(config.clone()) {
            Ok(session) => Transport::Tls(Box::new(StreamOwned::new(session, stream))),
            Err(e) => {
                tracing::error!(error = %e, "cannot start a TLS session");
                return;
            }
        },
    };
    let mut wire = Wire {
        transport,
        buf: Vec::new(),
    };
    let ending = catch_unwind(AssertUnwindSafe(|| {
        if let Err(e) = wire.transport.handshake() {
            tracing::debug!(%remote, error = %e, "TLS handshake failed");
            return Ending::Quiet;
        }
        serve_requests(shared, &mut wire, remote, first_deadline)
    }));
    match ending {
        Ok(Ending::Linger) => wire.transport.close_lingering(),
        Ok(Ending::Quiet) => {}
        Err(_) => tracing::error!(%remote, "connection thread panicked; connection closed"),
    }
}

fn serve_requests(
    shared: &Shared,
    wire: &mut Wire,
    remote: SocketAddr,
    first_deadline: Instant,
) -> Ending {
    let limits = &shared.limits;
    let mut first = true;
    loop {
        // Phase 1: wait for the first byte of the next request (idle keep-alive), looking at
        // the shutdown switch every SHUTDOWN_POLL.
        if wire.buf.is_empty() {
            let idle_deadline = if first {
                first_deadline
            } else {
                Instant::now() + limits.idle_timeout
            };
            if !wait_for_request(shared, wire, idle_deadline) {
                return Ending::Quiet;
            }
        }
        // Phase 2: the whole head within header_timeout of its first byte (of the accept, for
        // the first request, so the TLS handshake counts too).
        let started = Instant::now();
        let head_deadline = if first {
            first_deadline
        } else {
            started + limits.header_timeout
        };
        first = false;
        wire.transport.set_read_slice(None);
        wire.transport.set_deadline(head_deadline);
        let head = match wire.read_head(limits.max_head_bytes) {
            Ok(head) => head,
            Err(e) => return refuse_read_error(shared, wire, remote, None, e, started),
        };
        match exchange(shared, wire, remote, &head, started) {
            Ok(true) if !shared.shutdown.is_triggered() => {}
            Ok(_) => return Ending::Linger,
            Err(ending) => return ending,
        }
    }
}

/// Waits until at least one byte of a request is buffered. False: the connection should close
/// quietly (peer closed, idle deadline passed, server shutting down, socket error).
fn wait_for_request(shared: &Shared, wire: &mut Wire, deadline: Instant) -> bool {
    wire.transport.set_deadline(deadline);
    wire.transport.set_read_slice(Some(SHUTDOWN_POLL));
    loop {
        if shared.shutdown.is_triggered() {
            return false;
        }
        match wire.read_more(shared.limits.max_head_bytes.max(1)) {
            Ok(n) => return n > 0,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
            Err(_) => return false,
        }
    }
}

/// Serves one request whose head has been read. Ok(keep_alive) when a response was sent.
fn exchange(
    shared: &Shared,
    wire: &mut Wire,
    remote: SocketAddr,
    head: &Head,
    started: Instant,
) -> Result<bool, Ending> {
    admit(shared, wire, remote, head, started)?;
    let limits = &shared.limits;
    wire.transport
        .set_deadline(Instant::now() + limits.body_timeout);
    // Held until the handler is done with the body (the request owning it is dropped first).
    let mut hold = shared.body_budget.hold();
    let body = wire
        .read_body(head.framing, limits.max_body_bytes, &mut hold)
        .map_err(|e| refuse_read_error(shared, wire, remote, Some(head), e, started))?;
    let request_id = new_request_id();
    // A saturated server answers 503 rather than queueing without bound: waiting as long as a
    // head may take is the patience we promise a client anyway.
    let Some(permit) = shared.permits.acquire(limits.header_timeout) else {
        return Err(refuse(shared, wire, remote, Some(head), 503, started));
    };
    let response = handle(
        shared,
        wire.transport.is_tls(),
        remote,
        head,
        body,
        &request_id,
    );
    drop(permit);
    drop(hold);
    answer(shared, wire, remote, head, response, &request_id, started)
}

/// What is decided from the head alone, before a byte of the body is read: a missing or bad
/// `Host` (400), a declared body over the limit (413), and the `100 Continue` a client that
/// asked for one waits for.
fn admit(
    shared: &Shared,
    wire: &mut Wire,
    remote: SocketAddr,
    head: &Head,
    started: Instant,
) -> Result<(), Ending> {
    if !head.host_ok {
        let request_id = new_request_id();
        let response =
            shared
                .service
                .refuse_bad_request(super::MISSING_HOST, Some(head.path()), &request_id);
        let ending = send_refusal(
            shared,
            wire,
            remote,
            Some(head),
            response,
            &request_id,
            started,
        );
        return Err(ending);
    }
    if let Framing::Length(n) = head.framing
        && n > shared.limits.max_body_bytes as u64
    {
        return Err(refuse(shared, wire, remote, Some(head), 413, started));
    }
    if head.expect_continue && head.http11 && head.framing != Framing::Empty {
        wire.transport
            .set_write_deadline(Instant::now() + shared.limits.write_timeout);
        let sent = wire
            .transport
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| wire.transport.flush());
        if sent.is_err() {
            return Err(Ending::Quiet);
        }
    }
    Ok(())
}

/// Runs the service on one request; a panic becomes a 500 carrying the request id. The
/// request, and with it the body, is dropped before this returns.
fn handle(
    shared: &Shared,
    tls: bool,
    remote: SocketAddr,
    head: &Head,
    body: Vec<u8>,
    request_id: &str,
) -> rouille::Response {
    let mut headers = head.headers.clone();
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("x-request-id"));
    headers.push(("X-Request-Id".to_string(), request_id.to_string()));
    let request = if tls {
        rouille::Request::fake_https_from(remote, &head.method, &head.target, headers, body)
    } else {
        rouille::Request::fake_http_from(remote, &head.method, &head.target, headers, body)
    };
    let handled = catch_unwind(AssertUnwindSafe(|| {
        shared.service.handle(&request, request_id)
    }));
    handled.unwrap_or_else(|_| {
        tracing::error!(request_id, path = head.path(), "request handler panicked");
        shared.service.refuse(500, Some(head.path()), request_id)
    })
}

/// Writes the response within the write deadline and logs the exchange. Ok(keep_alive) when
/// it was sent.
fn answer(
    shared: &Shared,
    wire: &mut Wire,
    remote: SocketAddr,
    head: &Head,
    response: rouille::Response,
    request_id: &str,
    started: Instant,
) -> Result<bool, Ending> {
    let keep_alive = !head.connection_close && !shared.shutdown.is_triggered();
    wire.transport
        .set_write_deadline(Instant::now() + shared.limits.write_timeout);
    let answer = Answer {
        request_id,
        head_only: head.method == "HEAD",
        http11: head.http11,
        keep_alive,
    };
    let status = response.status_code;
    let written = respond::write_response(&mut wire.transport, response, answer);
    let bytes = written.as_ref().map_or(0, |w| w.bytes);
    shared.service.log_exchange(&Exchange {
        remote,
        method: &head.method,
        path: head.path(),
        status,
        bytes,
        elapsed: started.elapsed(),
        request_id,
    });
    written.map(|w| w.keep_alive).map_err(|_| Ending::Quiet)
}

/// Answers a request that could not be read, or closes quietly when nobody is listening.
fn refuse_read_error(
    shared: &Shared,
    wire: &mut Wire,
    remote: SocketAddr,
    head: Option<&Head>,
    error: ReadError,
    started: Instant,
) -> Ending {
    let status = match error {
        ReadError::TooLarge if head.is_some() => 413,
        ReadError::TooLarge => 431,
        ReadError::Bad => 400,
        ReadError::TimedOut => 408,
        ReadError::Busy => 503,
        ReadError::Gone => return Ending::Quiet,
    };
    refuse(shared, wire, remote, head, status, started)
}

/// Sends the application's refusal with `Connection: close` and logs it.
fn refuse(
    shared: &Shared,
    wire: &mut Wire,
    remote: SocketAddr,
    head: Option<&Head>,
    status: u16,
    started: Instant,
) -> Ending {
    let request_id = new_request_id();
    let response = shared
        .service
        .refuse(status, head.map(Head::path), &request_id);
    send_refusal(shared, wire, remote, head, response, &request_id, started)
}

/// Writes a refusal built by the application with `Connection: close` and logs it.
fn send_refusal(
    shared: &Shared,
    wire: &mut Wire,
    remote: SocketAddr,
    head: Option<&Head>,
    response: rouille::Response,
    request_id: &str,
    started: Instant,
) -> Ending {
    let path = head.map(Head::path);
    let status = response.status_code;
    wire.transport
        .set_write_deadline(Instant::now() + shared.limits.write_timeout);
    let answer = Answer {
        request_id,
        head_only: head.is_some_and(|h| h.method == "HEAD"),
        http11: head.is_none_or(|h| h.http11),
        keep_alive: false,
    };
    let written = respond::write_response(&mut wire.transport, response, answer);
    shared.service.log_exchange(&Exchange {
        remote,
        method: head.map_or("-", |h| h.method.as_str()),
        path: path.unwrap_or("-"),
        status,
        bytes: written.as_ref().map_or(0, |w| w.bytes),
        elapsed: started.elapsed(),
        request_id,
    });
    match written {
        Ok(_) => Ending::Linger,
        Err(_) => Ending::Quiet,
    }
}
