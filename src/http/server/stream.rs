//! The byte stream under one connection: a `TcpStream` whose reads and writes obey total
//! deadlines (`SO_RCVTIMEO`/`SO_SNDTIMEO` re-armed to the time left before every call),
//! optionally wrapped in a rustls server session.
//!
//! This is where "a byte every 100 ms" stops working: per-read timeouts would let a trickler
//! live forever, a deadline does not. It knows nothing about HTTP and must not buffer
//! application bytes itself (parse.rs owns the buffer and its limits).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};

/// A `TcpStream` whose reads fail with `TimedOut` once `deadline` has passed, and whose writes
/// fail once `write_deadline` has passed.
pub(crate) struct DeadlineStream {
    tcp: TcpStream,
    deadline: Instant,
    write_deadline: Instant,
    /// Reads wait at most this long at a time, so a caller can look at the shutdown switch.
    slice: Option<Duration>,
    armed: Option<Duration>,
    armed_write: Option<Duration>,
}

/// The time left until `deadline` as a socket timeout: whole milliseconds, at least one (a zero
/// timeout would mean "block forever"), None when the deadline has passed.
fn time_left(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return None;
    }
    Some(Duration::from_millis((left.as_millis() as u64).max(1)))
}

fn deadline_passed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} deadline passed"))
}

impl DeadlineStream {
    pub fn new(tcp: TcpStream, deadline: Instant) -> Self {
        DeadlineStream {
            tcp,
            deadline,
            write_deadline: deadline,
            slice: None,
            armed: None,
            armed_write: None,
        }
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "read deadline passed",
            ));
        }
        // Whole milliseconds, at least one: a zero timeout would mean "block forever".
        let mut wait = Duration::from_millis((left.as_millis() as u64).max(1));
        if let Some(slice) = self.slice {
            wait = wait.min(slice);
        }
        // Skips the syscall when the timeout is unchanged (the common case with a slice).
        if self.armed != Some(wait) {
            self.tcp.set_read_timeout(Some(wait))?;
            self.armed = Some(wait);
        }
        self.tcp.read(buf)
    }
}

impl Write for DeadlineStream {
    /// A per-call SO_SNDTIMEO alone would let a client that reads a byte now and then (or whose
    /// kernel accepts zero-window probes) hold a response forever; the deadline bounds the whole
    /// response.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let wait = time_left(self.write_deadline).ok_or_else(|| deadline_passed("write"))?;
        if self.armed_write != Some(wait) {
            self.tcp.set_write_timeout(Some(wait))?;
            self.armed_write = Some(wait);
        }
        self.tcp.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let wait = time_left(self.write_deadline).ok_or_else(|| deadline_passed("write"))?;
        if self.armed_write != Some(wait) {
            self.tcp.set_write_timeout(Some(wait))?;
            self.armed_write = Some(wait);
        }
        self.tcp.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Plain TCP or TLS over TCP; both read under the same deadline.
pub(crate) enum Transport {
    Plain(DeadlineStream),
    Tls(Box<StreamOwned<ServerConnection, DeadlineStream>>),
}

impl Transport {
    fn inner(&mut self) -> &mut DeadlineStream {
        match self {
            Transport::Plain(stream) => stream,
            Transport::Tls(stream) => &mut stream.sock,
        }
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(stream) => &stream.tcp,
            Transport::Tls(stream) => &stream.sock.tcp,
        }
    }

    /// Reads from now on fail once `deadline` passes.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.inner().deadline = deadline;
    }

    /// Writes from now on fail once `deadline` passes.
    pub fn set_write_deadline(&mut self, deadline: Instant) {
        self.inner().write_deadline = deadline;
    }

    /// With Some, a read waits at most `slice` before returning a timeout error even when the
    /// deadline is further away.
    pub fn set_read_slice(&mut self, slice: Option<Duration>) {
        self.inner().slice = slice;
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Finishes the TLS handshake (a no-op for plain TCP) under the current deadline.
    pub fn handshake(&mut self) -> io::Result<()> {
        if let Transport::Tls(stream) = self {
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock)?;
            }
        }
        Ok(())
    }

    /// Closes politely: TLS close_notify, FIN, then drains what the client is still sending
    /// (bounded in bytes and time) so that closing does not reset the connection before the
    /// client has read our last response.
    pub fn close_lingering(mut self) {
        let linger = Instant::now() + Duration::from_secs(1);
        self.set_write_deadline(linger);
        if let Transport::Tls(stream) = &mut self {
            stream.conn.send_close_notify();
            let _ = stream.conn.complete_io(&mut stream.sock);
        }
        let _ = self.tcp().shutdown(Shutdown::Write);
        self.set_read_slice(None);
        self.set_deadline(linger);
        let mut sink = [0u8; 8192];
        let mut drained = 0usize;
        while drained < 512 * 1024 {
            match self.inner().read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.read(buf),
            Transport::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write(buf),
            Transport::Tls(stream) => stream.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write_vectored(bufs),
            Transport::Tls(stream) => stream.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.flush(),
            Transport::Tls(stream) => stream.flush(),
        }
    }
}
