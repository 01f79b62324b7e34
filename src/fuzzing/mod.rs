//! The stable entry points for the fuzz targets (`tests/fuzz/`) and the property tests: each
//! runs one decoder of untrusted input from memory, with the code the server runs, and returns
//! what that decoder decided. The server itself never calls this module.
//!
//! The wrappers are thin on purpose: a fuzz finding here is a finding in the server's own
//! code path, not in a copy of it. They must not add checks of their own, and must not touch
//! a socket, a database or the disk. What the decoders promise is checked in [`checks`], shared
//! by the fuzz targets and the property tests so both hold the code to the same invariants.

pub mod checks;
#[cfg(test)]
mod regressions;

use std::io::{self, Read};

use crate::http::server::parse::Wire;
use crate::http::server::slots::BodyBudget;

pub use crate::app::cursor::{cursor_seq, cursor_token};
pub use crate::http::server::parse::{Framing, Head, ReadError};
pub use crate::store::dump::Summary;

/// The head cap the server uses by default (`--max-head-bytes`).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A byte source that hands out at most `max_read` bytes per read, the way a socket delivers
/// a request in pieces; so the decoders' refill paths run, not only their buffered ones.
struct Pieces<'a> {
    rest: &'a [u8],
    max_read: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.rest.len()).min(self.max_read.max(1));
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// How the bytes reach a decoder: the first `buffered` are already in the connection's buffer
/// (read with the head, as a pipelined request or a body often is), the rest arrive at most
/// `max_read` at a time.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub buffered: usize,
    pub max_read: usize,
}

impl Delivery {
    /// Everything at once, in one read.
    pub const WHOLE: Delivery = Delivery {
        buffered: 0,
        max_read: usize::MAX,
    };

    /// A delivery chosen by two bytes of fuzz input: up to 255 bytes buffered, reads of 1 to
    /// 256 bytes.
    pub fn from_bytes(buffered: u8, max_read: u8) -> Delivery {
        Delivery {
            buffered: usize::from(buffered),
            max_read: usize::from(max_read) + 1,
        }
    }
}

fn wire(input: &[u8], delivery: Delivery) -> Wire<Pieces<'_>> {
    let (buffered, rest) = input.split_at(delivery.buffered.min(input.len()));
    Wire {
        transport: Pieces {
            rest,
            max_read: delivery.max_read,
        },
        buf: buffered.to_vec(),
    }
}

/// How many bytes of `input` the decoder took: read from the source and not left buffered.
fn consumed(input: &[u8], wire: &Wire<Pieces<'_>>) -> usize {
    input.len() - wire.transport.rest.len() - wire.buf.len()
}

/// Reads one request head from `input` under the head cap `max_head`, as a connection does;
/// returns it and the bytes it took.
pub fn request_head(
    input: &[u8],
    delivery: Delivery,
    max_head: usize,
) -> Result<(Head, usize), ReadError> {
    let mut wire = wire(input, delivery);
    let head = wire.read_head(max_head)?;
    Ok((head, consumed(input, &wire)))
}

/// Decodes a chunked body from `input` under the body limit `max_body`, as a connection does;
/// returns the body and the bytes it took.
pub fn chunked_body(
    input: &[u8],
    delivery: Delivery,
    max_body: usize,
) -> Result<(Vec<u8>, usize), ReadError> {
    let mut wire = wire(input, delivery);
    let budget = BodyBudget::new(max_body);
    let mut hold = budget.hold();
    let body = wire.read_body(Framing::Chunked, max_body, &mut hold)?;
    Ok((body, consumed(input, &wire)))
}

/// The fields of an `application/x-www-form-urlencoded` body, as the pages decode it.
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    crate::http::pages::forms::Form::decode(body)
        .fields()
        .to_vec()
}

/// Reads and verifies a whole dump (structure, header, rows, counts, checksum) and returns
/// its summary; the rows themselves are dropped.
pub fn read_dump(input: &[u8]) -> crate::error::Result<Summary> {
    crate::store::dump::read_dump(input, |_| Ok(()), |_| Ok(()))
}

/// The proptests' configuration: `cases` cases, and the seeds of what they find kept in
/// `file` under tests/ (proptest's default is a new directory at the top level).
#[cfg(test)]
pub(crate) fn proptest_config(cases: u32, file: &'static str) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(file),
        )),
        ..proptest::test_runner::Config::with_cases(cases)
    }
}
