//! Writing a dump: the header, every row of one read snapshot kind after kind (each kind
//! writes its own rows, `store::kinds`), streamed line by line through a hasher, then the
//! trailer with the counts and the SHA-256 of everything before it. Only reads the snapshot.

use std::collections::BTreeMap;
use std::io::Write;

use sha2::{Digest, Sha256};

use super::{FORMAT_NAME, FORMAT_VERSION, Line, Summary};
use crate::error::{Error, Result, StorageError};
use crate::store::{SCHEMA_VERSION, Snapshot, kinds};

/// Rows between two calls of the progress callback.
const PROGRESS_EVERY: u64 = 50_000;

/// Streams every row of the snapshot to `out`. `progress` is called now and then with the
/// number of rows written so far.
pub fn write_dump(
    snapshot: &Snapshot,
    key_fingerprint: &str,
    created_at: &str,
    out: impl Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary> {
    let mut w = HashingWriter::new(out);
    w.line(&Line::Header {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        schema_version: SCHEMA_VERSION,
        key_fingerprint: key_fingerprint.into(),
        created_at: created_at.into(),
    })?;
    let mut n_rows = 0u64;
    kinds::dump_all(snapshot.rx(), &mut |line| {
        w.line(&line)?;
        n_rows += 1;
        if n_rows.is_multiple_of(PROGRESS_EVERY) {
            progress(n_rows);
        }
        Ok(())
    })?;
    Ok(Summary {
        key_fingerprint: key_fingerprint.into(),
        created_at: created_at.into(),
        counts: w.finish()?,
    })
}

/// Writes lines to `out`, hashing each and counting the rows of each kind.
struct HashingWriter<W: Write> {
    out: W,
    hasher: Sha256,
    counts: BTreeMap<String, u64>,
    buffer: Vec<u8>,
}

impl<W: Write> HashingWriter<W> {
    fn new(out: W) -> Self {
        HashingWriter {
            out,
            hasher: Sha256::new(),
            counts: BTreeMap::new(),
            buffer: Vec::with_capacity(4096),
        }
    }

    fn line(&mut self, line: &Line) -> Result<()> {
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, line).map_err(encode_error)?;
        self.buffer.push(b'\n');
        self.hasher.update(&self.buffer);
        self.out.write_all(&self.buffer).map_err(write_error)?;
        if !matches!(line, Line::Header { .. }) {
            *self.counts.entry(line.kind().to_string()).or_default() += 1;
        }
        Ok(())
    }

    /// Writes the trailer (which is not hashed and not counted) and flushes; returns the counts.
    fn finish(mut self) -> Result<BTreeMap<String, u64>> {
        let trailer = serde_json::to_string(&Line::Trailer {
            counts: self.counts.clone(),
            sha256: hex::encode(self.hasher.finalize()),
        })
        .map_err(encode_error)?;
        self.out
            .write_all(trailer.as_bytes())
            .and_then(|_| self.out.write_all(b"\n"))
            .and_then(|_| self.out.flush())
            .map_err(write_error)?;
        Ok(self.counts)
    }
}

fn encode_error(e: serde_json::Error) -> Error {
    Error::Internal(format!("dump encode: {e}"))
}

fn write_error(e: std::io::Error) -> Error {
    let fault = crate::store::io_fault(&e);
    Error::Store(StorageError::new(fault, "cannot write the dump").caused_by(e))
}
