//! The dump format: a versioned, line-oriented JSON file written from one read snapshot, and
//! the reader that verifies it and restores it into a new database file.
//!
//! Layout (documented in README.md): a `header` line, one line per stored row, then a `trailer`
//! line with the count of each kind and the SHA-256 (hex) of every byte before the trailer.
//! Memory stays bounded both ways: rows are streamed, and restore commits in batches into a new
//! file that replaces the old one only after the trailer and a consistency check pass.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use redb::{Database, Durability, ReadableTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::records::{
    DeletedRecord, EventRecord, MessageRecord, Sealed, SessionRecord, TokenRecord, UserRecord,
    decode, encode,
};
use super::tables::*;
use super::{Rx, SCHEMA_VERSION, Snapshot};
use crate::error::{Error, Result};

pub const FORMAT_NAME: &str = "messages-dump";
pub const FORMAT_VERSION: u32 = 1;
/// No line of a valid dump comes near this (a 64 KiB body is ~88 KiB of base64).
const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Rows per restore transaction: bounds the memory of uncommitted pages.
const RESTORE_BATCH: usize = 20_000;

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

struct HashingWriter<W: Write> {
    out: W,
    hasher: Sha256,
    counts: BTreeMap<String, u64>,
    buffer: Vec<u8>,
}

impl<W: Write> HashingWriter<W> {
    fn line(&mut self, line: &Line) -> Result<()> {
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, line)
            .map_err(|e| Error::Internal(format!("dump encode: {e}")))?;
        self.buffer.push(b'\n');
        self.hasher.update(&self.buffer);
        self.out.write_all(&self.buffer).map_err(write_error)?;
        if !matches!(line, Line::Header { .. }) {
            *self.counts.entry(line.kind().to_string()).or_default() += 1;
        }
        Ok(())
    }
}

fn write_error(e: std::io::Error) -> Error {
    Error::Storage(format!("cannot write the dump: {e}"))
}

fn hex128(value: u128) -> String {
    format!("{value:032x}")
}

/// Streams every row of the snapshot to `out`. `progress` is called now and then with the
/// number of rows written so far.
pub fn write_dump(
    snapshot: &Snapshot,
    key_fingerprint: &str,
    created_at: &str,
    out: impl Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary> {
    let rx = snapshot.rx();
    let mut w = HashingWriter {
        out,
        hasher: Sha256::new(),
        counts: BTreeMap::new(),
        buffer: Vec::with_capacity(4096),
    };
    w.line(&Line::Header {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        schema_version: SCHEMA_VERSION,
        key_fingerprint: key_fingerprint.into(),
        created_at: created_at.into(),
    })?;
    let mut n_rows = 0u64;
    let mut emit = |w: &mut HashingWriter<_>, line: Line| -> Result<()> {
        w.line(&line)?;
        n_rows += 1;
        if n_rows.is_multiple_of(50_000) {
            progress(n_rows);
        }
        Ok(())
    };
    for_each(rx, META, |k, v| {
        emit(
            &mut w,
            Line::Meta {
                key: k.to_string(),
                value: Sealed(v.to_vec()),
            },
        )
    })?;
    for_each(rx, USERS, |k, v| {
        emit(
            &mut w,
            Line::User {
                username: k.to_string(),
                record: decode(v)?,
            },
        )
    })?;
    for_each(rx, RETIRED, |k, v| {
        emit(
            &mut w,
            Line::Retired {
                username: k.to_string(),
                deleted_at: v,
            },
        )
    })?;
    for_each(rx, PUBLIC_KEYS, |k, v| {
        emit(
            &mut w,
            Line::PublicKey {
                username: k.to_string(),
                key: Sealed(v.to_vec()),
            },
        )
    })?;
    for_each(rx, MESSAGES, |k, v| {
        emit(
            &mut w,
            Line::Message {
                id: hex128(k),
                record: decode(v)?,
            },
        )
    })?;
    for_each(rx, BODIES, |k, v| {
        emit(
            &mut w,
            Line::Body {
                id: hex128(k),
                body: Sealed(v.to_vec()),
            },
        )
    })?;
    for_each(rx, INBOX, |(user, seq), (id, read)| {
        emit(
            &mut w,
            Line::Inbox {
                user: user.to_string(),
                seq,
                id: hex128(id),
                read,
            },
        )
    })?;
    for_each(rx, SENT, |(user, seq), id| {
        emit(
            &mut w,
            Line::Sent {
                user: user.to_string(),
                seq,
                id: hex128(id),
            },
        )
    })?;
    for_each(rx, UNREAD, |user, count| {
        emit(
            &mut w,
            Line::Unread {
                user: user.to_string(),
                count,
            },
        )
    })?;
    for_each(rx, DELETED, |number, v| {
        emit(
            &mut w,
            Line::Deleted {
                number,
                record: decode(v)?,
            },
        )
    })?;
    for_each(rx, SESSIONS, |hash, v| {
        emit(
            &mut w,
            Line::Session {
                hash: hex::encode(hash),
                record: decode(v)?,
            },
        )
    })?;
    for_each(rx, USER_SESSIONS, |(user, handle), hash| {
        emit(
            &mut w,
            Line::UserSession {
                user: user.to_string(),
                handle: hex128(handle),
                hash: hex::encode(hash),
            },
        )
    })?;
    for_each(rx, TOKENS, |hash, v| {
        emit(
            &mut w,
            Line::Token {
                hash: hex::encode(hash),
                record: decode(v)?,
            },
        )
    })?;
    for_each(rx, USER_TOKENS, |(user, handle), hash| {
        emit(
            &mut w,
            Line::UserToken {
                user: user.to_string(),
                handle: hex128(handle),
                hash: hex::encode(hash),
            },
        )
    })?;
    for_each(rx, EVENTS, |number, v| {
        emit(
            &mut w,
            Line::Event {
                number,
                record: decode(v)?,
            },
        )
    })?;
    let digest = hex::encode(w.hasher.clone().finalize());
    let counts = w.counts.clone();
    let trailer = serde_json::to_string(&Line::Trailer {
        counts: counts.clone(),
        sha256: digest,
    })
    .map_err(|e| Error::Internal(format!("dump encode: {e}")))?;
    w.out
        .write_all(trailer.as_bytes())
        .and_then(|_| w.out.write_all(b"\n"))
        .and_then(|_| w.out.flush())
        .map_err(write_error)?;
    Ok(Summary {
        key_fingerprint: key_fingerprint.into(),
        created_at: created_at.into(),
        counts,
    })
}

fn for_each<K, V>(
    rx: &Rx,
    table: redb::TableDefinition<K, V>,
    mut visit: impl FnMut(K::SelfType<'_>, V::SelfType<'_>) -> Result<()>,
) -> Result<()>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    let table = rx.txn.open_table(table)?;
    for entry in table.iter()? {
        let (key, value) = entry?;
        visit(key.value(), value.value())?;
    }
    Ok(())
}

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
                check_row(&row).map_err(|reason| bad(line_number, reason))?;
                sink(row).map_err(|e| match e {
                    Error::BadDump(reason) => bad(line_number, reason),
                    other => other,
                })?;
            }
        }
    }
}

/// Field-level checks a crafted dump must pass before anything is written.
fn check_row(row: &Line) -> std::result::Result<(), String> {
    let username = |name: &str| -> std::result::Result<(), String> {
        match crate::model::Username::parse(name) {
            Ok(u) if u.as_str() == name => Ok(()),
            _ => Err(format!("invalid username `{}`", name.escape_debug())),
        }
    };
    let id = |text: &str| parse_u128(text).map(|_| ());
    let hash = |text: &str| parse_hash(text).map(|_| ());
    match row {
        Line::User { username: name, .. }
        | Line::Retired { username: name, .. }
        | Line::PublicKey { username: name, .. } => username(name),
        Line::Message { id: i, record } => {
            id(i).and(username(&record.from)).and(username(&record.to))
        }
        Line::Body { id: i, .. } => id(i),
        Line::Inbox { user, id: i, .. } | Line::Sent { user, id: i, .. } => {
            username(user).and(id(i))
        }
        Line::Unread { user, .. } => username(user),
        Line::Session { hash: h, record } => hash(h).and(username(&record.username)),
        Line::Token { hash: h, record } => hash(h).and(username(&record.username)),
        Line::UserSession {
            user,
            handle,
            hash: h,
        }
        | Line::UserToken {
            user,
            handle,
            hash: h,
        } => username(user).and(id(handle)).and(hash(h)),
        Line::Meta { .. }
        | Line::Deleted { .. }
        | Line::Event { .. }
        | Line::Header { .. }
        | Line::Trailer { .. } => Ok(()),
    }
}

fn parse_u128(text: &str) -> std::result::Result<u128, String> {
    if text.len() != 32 {
        return Err(format!("invalid id `{}`", text.escape_debug()));
    }
    u128::from_str_radix(text, 16).map_err(|_| format!("invalid id `{}`", text.escape_debug()))
}

fn parse_hash(text: &str) -> std::result::Result<[u8; 32], String> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash)
        .map_err(|_| format!("invalid hash `{}`", text.escape_debug()))?;
    Ok(hash)
}

/// Restores a dump into a new database file at `target` (which must not exist), checking the
/// header's key fingerprint against `expected_fingerprint` before writing anything. On error
/// the caller deletes `target`.
pub fn restore_into(
    target: &Path,
    input: impl BufRead,
    expected_fingerprint: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary> {
    let db = Database::builder()
        .set_cache_size(16 * 1024 * 1024)
        .create(target)
        .map_err(|e| Error::Storage(format!("cannot create {}: {e}", target.display())))?;
    let mut pending: Vec<Line> = Vec::with_capacity(RESTORE_BATCH);
    let mut n_rows = 0u64;
    let summary = read_dump(
        input,
        |header| {
            if header.key_fingerprint != expected_fingerprint {
                return Err(Error::BadDump(format!(
                    "the dump was made with another key ({}) than the key file given ({expected_fingerprint}); pass the right one with --key-file",
                    header.key_fingerprint
                )));
            }
            Ok(())
        },
        |row| {
            pending.push(row);
            if pending.len() >= RESTORE_BATCH {
                n_rows += pending.len() as u64;
                insert_batch(&db, std::mem::take(&mut pending), Durability::None)?;
                progress(n_rows);
            }
            Ok(())
        },
    )?;
    insert_batch(&db, pending, Durability::Immediate)?;
    check_consistency(&db)?;
    drop(db);
    Ok(summary)
}

fn insert_batch(db: &Database, rows: Vec<Line>, durability: Durability) -> Result<()> {
    let mut txn = db.begin_write()?;
    txn.set_durability(durability)
        .map_err(|e| Error::Storage(e.to_string()))?;
    {
        let mut meta = txn.open_table(META)?;
        let mut users = txn.open_table(USERS)?;
        let mut retired = txn.open_table(RETIRED)?;
        let mut keys = txn.open_table(PUBLIC_KEYS)?;
        let mut messages = txn.open_table(MESSAGES)?;
        let mut bodies = txn.open_table(BODIES)?;
        let mut inbox = txn.open_table(INBOX)?;
        let mut sent = txn.open_table(SENT)?;
        let mut unread = txn.open_table(UNREAD)?;
        let mut deleted = txn.open_table(DELETED)?;
        let mut sessions = txn.open_table(SESSIONS)?;
        let mut user_sessions = txn.open_table(USER_SESSIONS)?;
        let mut tokens = txn.open_table(TOKENS)?;
        let mut user_tokens = txn.open_table(USER_TOKENS)?;
        let mut events = txn.open_table(EVENTS)?;
        let bad_value = |e: String| Error::BadDump(e);
        for row in rows {
            match row {
                Line::Meta { key, value } => drop(meta.insert(key.as_str(), value.0.as_slice())?),
                Line::User { username, record } => {
                    drop(users.insert(username.as_str(), encode(&record)?.as_slice())?)
                }
                Line::Retired {
                    username,
                    deleted_at,
                } => drop(retired.insert(username.as_str(), deleted_at)?),
                Line::PublicKey { username, key } => {
                    drop(keys.insert(username.as_str(), key.0.as_slice())?)
                }
                Line::Message { id, record } => drop(messages.insert(
                    parse_u128(&id).map_err(bad_value)?,
                    encode(&record)?.as_slice(),
                )?),
                Line::Body { id, body } => {
                    drop(bodies.insert(parse_u128(&id).map_err(bad_value)?, body.0.as_slice())?)
                }
                Line::Inbox {
                    user,
                    seq,
                    id,
                    read,
                } => drop(inbox.insert(
                    (user.as_str(), seq),
                    (parse_u128(&id).map_err(bad_value)?, read),
                )?),
                Line::Sent { user, seq, id } => {
                    drop(sent.insert((user.as_str(), seq), parse_u128(&id).map_err(bad_value)?)?)
                }
                Line::Unread { user, count } => drop(unread.insert(user.as_str(), count)?),
                Line::Deleted { number, record } => {
                    drop(deleted.insert(number, encode(&record)?.as_slice())?)
                }
                Line::Session { hash, record } => drop(sessions.insert(
                    parse_hash(&hash).map_err(bad_value)?,
                    encode(&record)?.as_slice(),
                )?),
                Line::UserSession { user, handle, hash } => drop(user_sessions.insert(
                    (user.as_str(), parse_u128(&handle).map_err(bad_value)?),
                    parse_hash(&hash).map_err(bad_value)?,
                )?),
                Line::Token { hash, record } => drop(tokens.insert(
                    parse_hash(&hash).map_err(bad_value)?,
                    encode(&record)?.as_slice(),
                )?),
                Line::UserToken { user, handle, hash } => drop(user_tokens.insert(
                    (user.as_str(), parse_u128(&handle).map_err(bad_value)?),
                    parse_hash(&hash).map_err(bad_value)?,
                )?),
                Line::Event { number, record } => {
                    drop(events.insert(number, encode(&record)?.as_slice())?)
                }
                Line::Header { .. } | Line::Trailer { .. } => {}
            }
        }
    }
    txn.commit()?;
    Ok(())
}

/// Cross-checks a restored file: every mailbox entry names a message of the right participant
/// with the same seq, every message has a body, and the counters are past every number used.
fn check_consistency(db: &Database) -> Result<()> {
    use redb::ReadableDatabase;
    let txn = db.begin_read()?;
    let messages = txn.open_table(MESSAGES)?;
    let bodies = txn.open_table(BODIES)?;
    let meta = txn.open_table(META)?;
    let counter = |key: &str| -> Result<u64> {
        Ok(meta
            .get(key)?
            .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(1))
    };
    let inconsistent = |what: String| Error::BadDump(format!("the dump is inconsistent: {what}"));
    match meta.get(super::meta::SCHEMA_KEY)? {
        Some(v) if v.value() == SCHEMA_VERSION.to_le_bytes() => {}
        _ => {
            return Err(inconsistent(
                "its schema version record is missing or wrong".into(),
            ));
        }
    }
    let next_seq = counter(super::meta::NEXT_SEQ)?;
    let check_entry = |user: &str, seq: u64, id: u128, inbox: bool| -> Result<()> {
        let record: MessageRecord = match messages.get(id)? {
            Some(v) => decode(v.value())?,
            None => {
                return Err(inconsistent(format!(
                    "mailbox of {user} names a missing message"
                )));
            }
        };
        let owner_ok = if inbox {
            record.to == user && record.in_inbox
        } else {
            record.from == user && record.in_sent
        };
        if !owner_ok || record.seq != seq || seq >= next_seq {
            return Err(inconsistent(format!(
                "mailbox entry {seq} of {user} does not match its message"
            )));
        }
        Ok(())
    };
    for entry in txn.open_table(INBOX)?.iter()? {
        let (key, value) = entry?;
        let (user, seq) = key.value();
        check_entry(user, seq, value.value().0, true)?;
    }
    for entry in txn.open_table(SENT)?.iter()? {
        let (key, value) = entry?;
        let (user, seq) = key.value();
        check_entry(user, seq, value.value(), false)?;
    }
    for entry in messages.iter()? {
        let (key, value) = entry?;
        let record: MessageRecord = decode(value.value())?;
        if bodies.get(key.value())?.is_none() {
            return Err(inconsistent(format!(
                "message {:032x} has no body",
                key.value()
            )));
        }
        if record.seq >= next_seq {
            return Err(inconsistent(
                "the message counter is behind its messages".into(),
            ));
        }
    }
    if let Some(last) = txn.open_table(DELETED)?.last()?
        && last.0.value() >= counter(super::meta::NEXT_DELETED)?
    {
        return Err(inconsistent(
            "the deleted-log counter is behind its entries".into(),
        ));
    }
    if let Some(last) = txn.open_table(EVENTS)?.last()?
        && last.0.value() >= counter(super::meta::NEXT_EVENT)?
    {
        return Err(inconsistent(
            "the event counter is behind its entries".into(),
        ));
    }
    Ok(())
}
