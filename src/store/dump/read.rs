//! Reading a dump: structure, header, per-row field checks (each kind's own, `Kind::check`),
//! counts and checksum. Nothing a dump says is trusted until `read_dump` returns Ok; this file
//! writes nothing itself, it hands rows to the caller's sink.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use sha2::{Digest, Sha256};

use super::{FORMAT_NAME, FORMAT_VERSION, Line, MAX_LINE_BYTES, Summary};
use crate::error::{Error, Result};
use crate::store::SCHEMA_VERSION;

const NOT_A_DUMP: &str = "this is not a messages dump (its first line is not a dump header)";

fn bad(line_number: u64, reason: impl std::fmt::Display) -> Error {
    Error::BadDump(format!("line {line_number}: {reason}"))
}

/// Reads a whole dump, checking structure, header, counts and checksum, and hands each row to
/// `sink` in order. Nothing is trusted until this returns Ok: callers that write must write to
/// a place they can throw away.
pub fn read_dump<R: BufRead>(
    input: R,
    mut on_header: impl FnMut(&Summary) -> Result<()>,
    mut sink: impl FnMut(Line) -> Result<()>,
) -> Result<Summary> {
    let mut reader = Reader {
        input,
        hasher: Sha256::new(),
        counts: BTreeMap::new(),
        line_number: 0,
        buffer: Vec::with_capacity(4096),
    };
    let mut summary = reader.header()?;
    on_header(&summary)?;
    loop {
        match reader.next_line(true)? {
            Line::Header { .. } => return Err(bad(reader.line_number, "a second header")),
            Line::Trailer { counts, sha256 } => {
                summary.counts = reader.trailer(counts, &sha256)?;
                return Ok(summary);
            }
            row => reader.row(row, &mut sink)?,
        }
    }
}

/// The state of one pass over a dump: where it is, and what it has hashed and counted.
struct Reader<R> {
    input: R,
    hasher: Sha256,
    counts: BTreeMap<String, u64>,
    line_number: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> Reader<R> {
    /// Reads the next line into the buffer and parses it; `started` says a header was read (so a
    /// dump that ends is truncated, not empty).
    fn next_line(&mut self, started: bool) -> Result<Line> {
        self.buffer.clear();
        let n_read = (&mut self.input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buffer)
            .map_err(read_error)?;
        self.line_number += 1;
        if n_read == 0 {
            return Err(Error::BadDump(if started {
                "the dump is truncated: it ends without its trailer line".to_string()
            } else {
                "the dump is empty".to_string()
            }));
        }
        if self.buffer.len() > MAX_LINE_BYTES {
            return Err(bad(self.line_number, "line is too long"));
        }
        let Some(text) = self.buffer.strip_suffix(b"\n") else {
            return Err(Error::BadDump(
                "the dump is truncated: its last line is incomplete".into(),
            ));
        };
        serde_json::from_slice(text).map_err(|e| {
            if self.line_number == 1 {
                Error::BadDump(NOT_A_DUMP.into())
            } else {
                bad(self.line_number, format!("not a valid record: {e}"))
            }
        })
    }

    /// The first line, which must be a header this binary reads.
    fn header(&mut self) -> Result<Summary> {
        let Line::Header {
            format,
            version,
            schema_version,
            key_fingerprint,
            created_at,
        } = self.next_line(false)?
        else {
            return Err(Error::BadDump(NOT_A_DUMP.into()));
        };
        check_header(&format, version, schema_version)?;
        self.hasher.update(&self.buffer);
        Ok(Summary {
            key_fingerprint,
            created_at,
            counts: BTreeMap::new(),
        })
    }

    /// A row: hashed, counted, checked by its kind, then handed to `sink`, whose complaints
    /// about the dump are told with this line's number.
    fn row(&mut self, row: Line, sink: &mut impl FnMut(Line) -> Result<()>) -> Result<()> {
        self.hasher.update(&self.buffer);
        *self.counts.entry(row.kind().to_string()).or_default() += 1;
        row.check()
            .map_err(|reason| bad(self.line_number, reason))?;
        sink(row).map_err(|e| match e {
            Error::BadDump(reason) => bad(self.line_number, reason),
            other => other,
        })
    }

    /// The trailer: the checksum and counts must match, and nothing may follow. Returns the
    /// counts.
    fn trailer(
        mut self,
        claimed: BTreeMap<String, u64>,
        sha256: &str,
    ) -> Result<BTreeMap<String, u64>> {
        let actual = hex::encode(self.hasher.finalize());
        if !crate::crypto::ct_eq(actual.as_bytes(), sha256.as_bytes()) {
            return Err(Error::BadDump(
                "the checksum does not match: the dump was altered or damaged".into(),
            ));
        }
        if claimed != self.counts {
            return Err(Error::BadDump(
                "the record counts in the trailer do not match the records".into(),
            ));
        }
        let mut rest = Vec::new();
        self.input
            .read_until(b'\n', &mut rest)
            .map_err(read_error)?;
        if !rest.is_empty() {
            return Err(bad(self.line_number + 1, "data after the trailer"));
        }
        Ok(self.counts)
    }
}

fn check_header(format: &str, version: u32, schema_version: u64) -> Result<()> {
    if format != FORMAT_NAME {
        return Err(Error::BadDump(format!(
            "this is not a messages dump (format `{format}`)"
        )));
    }
    if version > FORMAT_VERSION {
        return Err(Error::BadDump(format!(
            "the dump has format version {version}, newer than this binary reads ({FORMAT_VERSION}); use a newer messages binary"
        )));
    }
    if schema_version > SCHEMA_VERSION {
        return Err(Error::BadDump(format!(
            "the dump has schema version {schema_version}, newer than this binary understands ({SCHEMA_VERSION})"
        )));
    }
    Ok(())
}

fn read_error(e: std::io::Error) -> Error {
    Error::BadDump(format!("cannot read the dump: {e}"))
}
