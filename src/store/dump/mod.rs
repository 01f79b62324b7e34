//! The dump format: a versioned, line-oriented JSON file written from one read snapshot, and
//! the reader that verifies it and restores it into a new database file.
//!
//! Layout (documented in README.md): a `header` line, one line per stored row, then a `trailer`
//! line with the count of each kind and the SHA-256 (hex) of every byte before the trailer.
//! Memory stays bounded both ways: rows are streamed, and restore commits in batches into a new
//! file that replaces the old one only after the trailer and a consistency check pass.
//!
//! `write.rs` streams a snapshot out, `read.rs` parses and verifies a dump line by line, and
//! `restore.rs` builds a new database file from a verified stream.

#[cfg(test)]
mod golden;
#[cfg(test)]
mod proptests;
mod read;
mod restore;
mod write;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::records::{
    DeletedRecord, EventRecord, MessageRecord, Sealed, SessionRecord, TokenRecord, UserRecord,
};

pub use read::read_dump;
pub use restore::restore_into;
pub use write::write_dump;

pub const FORMAT_NAME: &str = "messages-dump";
pub const FORMAT_VERSION: u32 = 1;
/// No line of a valid dump comes near this (a 64 KiB body is ~88 KiB of base64).
pub(super) const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Rows per restore transaction: bounds the memory of uncommitted pages.
pub(super) const RESTORE_BATCH: usize = 20_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    Header {
        format: String,
        version: u32,
        schema_version: u64,
        key_fingerprint: String,
        created_at: String,
    },
    Meta {
        key: String,
        value: Sealed,
    },
    User {
        username: String,
        record: UserRecord,
    },
    Retired {
        username: String,
        deleted_at: i64,
    },
    PublicKey {
        username: String,
        key: Sealed,
    },
    Message {
        id: String,
        record: MessageRecord,
    },
    Body {
        id: String,
        body: Sealed,
    },
    Inbox {
        user: String,
        seq: u64,
        id: String,
        read: bool,
    },
    Sent {
        user: String,
        seq: u64,
        id: String,
    },
    Unread {
        user: String,
        count: u64,
    },
    Deleted {
        number: u64,
        record: DeletedRecord,
    },
    Session {
        hash: String,
        record: SessionRecord,
    },
    UserSession {
        user: String,
        handle: String,
        hash: String,
    },
    Token {
        hash: String,
        record: TokenRecord,
    },
    UserToken {
        user: String,
        handle: String,
        hash: String,
    },
    Event {
        number: u64,
        record: EventRecord,
    },
    Trailer {
        counts: BTreeMap<String, u64>,
        sha256: String,
    },
}

impl Line {
    fn kind(&self) -> &'static str {
        match self {
            Line::Header { .. } => "header",
            Line::Meta { .. } => "meta",
            Line::User { .. } => "user",
            Line::Retired { .. } => "retired",
            Line::PublicKey { .. } => "public_key",
            Line::Message { .. } => "message",
            Line::Body { .. } => "body",
            Line::Inbox { .. } => "inbox",
            Line::Sent { .. } => "sent",
            Line::Unread { .. } => "unread",
            Line::Deleted { .. } => "deleted",
            Line::Session { .. } => "session",
            Line::UserSession { .. } => "user_session",
            Line::Token { .. } => "token",
            Line::UserToken { .. } => "user_token",
            Line::Event { .. } => "event",
            Line::Trailer { .. } => "trailer",
        }
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
