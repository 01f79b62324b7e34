//! Reading a dump: structure, header, per-row field checks (each kind's own, `Kind::check`),
//! counts and checksum. Nothing a dump says is trusted until `read_dump` returns Ok.

use std::collections::BTreeMap;
use std::io::BufRead;

use sha2::{Digest, Sha256};

use super::{FORMAT_NAME, FORMAT_VERSION, Line, MAX_LINE_BYTES, Summary};
use crate::error::{Error, Result};
use crate::store::SCHEMA_VERSION;

fn bad(line_number: u64, reason: impl std::fmt::Display) -> Error {
    Error::BadDump(format!("line {line_number}: {reason}"))
}

/// Reads a whole dump, checking structure, header, counts and checksum, and hands each row to
/// `sink` in order. Nothing is trusted until this returns Ok: callers that write must write to
/// a place they can throw away.
pub fn read_dump<R: BufRead>(
    mut input: R,
    mut on_header: impl FnMut(&Summary) -> Result<()>,
    mut sink: impl FnMut(Line) -> Result<()>,
) -> Result<Summary> {
    let mut hasher = Sha256::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut summary: Option<Summary> = None;
    let mut line_number = 0u64;
    let mut buffer = Vec::with_capacity(4096);
    loop {
        buffer.clear();
        let n_read = <&mut R as std::io::Read>::take(&mut input, MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .map_err(|e| Error::BadDump(format!("cannot read the dump: {e}")))?;
        line_number += 1;
        if n_read == 0 {
            return Err(Error::BadDump(if summary.is_none() {
                "the dump is empty".to_string()
            } else {
                "the dump is truncated: it ends without its trailer line".to_string()
            }));
        }
        if buffer.len() > MAX_LINE_BYTES {
            return Err(bad(line_number, "line is too long"));
        }
        if buffer.last() != Some(&b'\n') {
            return Err(Error::BadDump(
                "the dump is truncated: its last line is incomplete".into(),
            ));
        }
        let line: Line = serde_json::from_slice(&buffer[..buffer.len() - 1]).map_err(|e| {
            if line_number == 1 {
                Error::BadDump(
                    "this is not a messages dump (its first line is not a dump header)".into(),
                )
            } else {
                bad(line_number, format!("not a valid record: {e}"))
            }
        })?;
        match (&mut summary, line) {
            (
                None,
                Line::Header {
                    format,
                    version,
                    schema_version,
                    key_fingerprint,
                    created_at,
                },
            ) => {
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
                let header = Summary {
                    key_fingerprint,
                    created_at,
                    counts: BTreeMap::new(),
                };
                on_header(&header)?;
                summary = Some(header);
                hasher.update(&buffer);
            }
            (None, _) => {
                return Err(Error::BadDump(
                    "this is not a messages dump (its first line is not a dump header)".into(),
                ));
            }
            (Some(_), Line::Header { .. }) => return Err(bad(line_number, "a second header")),
            (
                Some(found),
                Line::Trailer {
                    counts: claimed,
                    sha256,
                },
            ) => {
                let actual = hex::encode(hasher.clone().finalize());
                if !crate::crypto::ct_eq(actual.as_bytes(), sha256.as_bytes()) {
                    return Err(Error::BadDump(
                        "the checksum does not match: the dump was altered or damaged".into(),
                    ));
                }
                if claimed != counts {
                    return Err(Error::BadDump(
                        "the record counts in the trailer do not match the records".into(),
                    ));
                }
                let mut rest = Vec::new();
                input
                    .read_until(b'\n', &mut rest)
                    .map_err(|e| Error::BadDump(format!("cannot read the dump: {e}")))?;
                if !rest.is_empty() {
                    return Err(bad(line_number + 1, "data after the trailer"));
                }
                found.counts = counts;
                return Ok(found.clone());
            }
            (Some(_), row) => {
                hasher.update(&buffer);
                *counts.entry(row.kind().to_string()).or_default() += 1;
                row.check().map_err(|reason| bad(line_number, reason))?;
                sink(row).map_err(|e| match e {
                    Error::BadDump(reason) => bad(line_number, reason),
                    other => other,
                })?;
            }
        }
    }
}
