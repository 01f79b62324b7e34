//! The dump format: a versioned, line-oriented JSON file written from one read snapshot, and
//! the reader that verifies it and restores it into a new database file.
//!
//! Layout (documented in README.md): a `header` line, one line per stored row, then a `trailer`
//! line with the count of each kind and the SHA-256 (hex) of every byte before the trailer.
//! Memory stays bounded both ways: rows are streamed, and restore commits in batches into a new
//! file that replaces the old one only after the trailer and a consistency check pass.
//!
//! `write.rs` streams a snapshot out, `read.rs` parses and verifies a dump line by line, and
//! `restore.rs` builds a new database file from a verified stream. What a row of each kind
//! looks like, and how it is checked and stored, is the kind's own (`store::kinds`); this
//! module only frames the rows: the header, the order, the counts and the checksum.

#[cfg(test)]
mod golden;
#[cfg(test)]
mod proptests;
mod read;
mod restore;
mod write;

use std::collections::BTreeMap;

use crate::error::Error;

pub use super::kinds::Line;
pub use read::read_dump;
pub use restore::{restore_into, restore_into_pg};
pub use write::write_dump;

pub const FORMAT_NAME: &str = "messages-dump";
pub const FORMAT_VERSION: u32 = 1;
/// No line of a valid dump comes near this (a 64 KiB body is ~88 KiB of base64).
pub(super) const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Rows per restore transaction: bounds the memory of uncommitted pages.
pub(super) const RESTORE_BATCH: usize = 20_000;

/// A failure of the dump code's own file (the dump it writes, the file it restores into), the
/// cause kept, so a full disk is told as one (and `restore` fails with nothing replaced).
pub(super) fn file_error(context: String, cause: impl Into<Error>) -> Error {
    match cause.into() {
        Error::Store(error) => Error::Store(error.context(context)),
        other => other,
    }
}

/// What a dump holds, as its trailer counts it.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub key_fingerprint: String,
    pub created_at: String,
    pub counts: BTreeMap<String, u64>,
}

impl Summary {
    pub fn n_records(&self) -> u64 {
        self.counts.values().sum()
    }
}
