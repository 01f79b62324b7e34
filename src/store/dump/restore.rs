//! Restoring: rows from a verified stream go into a new database file in batches, then a
//! consistency pass over the new file; the caller swaps it in only if all of this succeeds.

use std::io::BufRead;
use std::path::Path;

use redb::{Database, Durability, ReadableTable};

use super::read::{parse_hash, parse_u128, read_dump};
use super::{Line, RESTORE_BATCH, Summary};
use crate::error::{Error, Result};
use crate::store::SCHEMA_VERSION;
use crate::store::messages::find_record;
use crate::store::records::{MessageRecord, decode, encode};
use crate::store::tables::*;

/// Restores a dump into a new database file at `target` (which must not exist, or be empty),
/// checking the header's key fingerprint against `expected_fingerprint`, if given, before
/// writing anything. On error the caller deletes `target`.
pub fn restore_into(
    target: &Path,
    input: impl BufRead,
    expected_fingerprint: Option<&str>,
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
        |header| match expected_fingerprint {
            Some(expected) if header.key_fingerprint != expected => Err(Error::BadDump(format!(
                "the dump was made with another key ({}) than the key file given ({expected}); pass the right one with --key-file",
                header.key_fingerprint
            ))),
            _ => Ok(()),
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
        let mut message_ids = txn.open_table(MESSAGE_IDS)?;
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
                // A dump lists rows, not pages: whatever schema wrote it, they are stored in
                // this binary's tables, so the file gets this binary's schema version.
                Line::Meta { key, .. } if key == crate::store::meta::SCHEMA_KEY => {
                    drop(meta.insert(key.as_str(), SCHEMA_VERSION.to_le_bytes().as_slice())?)
                }
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
                Line::Message { id, record } => {
                    let id = parse_u128(&id).map_err(bad_value)?;
                    let taken = message_ids.insert(id, record.seq)?.is_some();
                    let encoded = encode(&record)?;
                    if taken
                        || messages
                            .insert(record.seq, (id, encoded.as_slice()))?
                            .is_some()
                    {
                        return Err(Error::BadDump(format!(
                            "the dump is inconsistent: two messages share the id {id:032x} or the seq {}",
                            record.seq
                        )));
                    }
                }
                Line::Body { id, body } => {
                    let id = parse_u128(&id).map_err(bad_value)?;
                    let Some(seq) = message_ids.get(id)?.map(|v| v.value()) else {
                        return Err(Error::BadDump(format!(
                            "the dump is inconsistent: a body names no message ({id:032x})"
                        )));
                    };
                    drop(bodies.insert(seq, body.0.as_slice())?)
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
    let message_ids = txn.open_table(MESSAGE_IDS)?;
    let meta = txn.open_table(META)?;
    let counter = |key: &str| -> Result<u64> {
        Ok(meta
            .get(key)?
            .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(1))
    };
    let inconsistent = |what: String| Error::BadDump(format!("the dump is inconsistent: {what}"));
    match meta.get(crate::store::meta::SCHEMA_KEY)? {
        Some(v) if v.value() == SCHEMA_VERSION.to_le_bytes() => {}
        _ => {
            return Err(inconsistent(
                "its schema version record is missing or wrong".into(),
            ));
        }
    }
    let next_seq = counter(crate::store::meta::NEXT_SEQ)?;
    let check_entry = |user: &str, seq: u64, id: u128, inbox: bool| -> Result<()> {
        // The id index and the records agree: `insert_batch` refused any id or seq twice.
        let Some(record) = find_record(&message_ids, &messages, id)? else {
            return Err(inconsistent(format!(
                "mailbox of {user} names a missing message"
            )));
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
        let (id, bytes) = value.value();
        let record: MessageRecord = decode(bytes)?;
        if bodies.get(key.value())?.is_none() {
            return Err(inconsistent(format!("message {id:032x} has no body")));
        }
        if record.seq >= next_seq {
            return Err(inconsistent(
                "the message counter is behind its messages".into(),
            ));
        }
    }
    if let Some(last) = txn.open_table(DELETED)?.last()?
        && last.0.value() >= counter(crate::store::meta::NEXT_DELETED)?
    {
        return Err(inconsistent(
            "the deleted-log counter is behind its entries".into(),
        ));
    }
    if let Some(last) = txn.open_table(EVENTS)?.last()?
        && last.0.value() >= counter(crate::store::meta::NEXT_EVENT)?
    {
        return Err(inconsistent(
            "the event counter is behind its entries".into(),
        ));
    }
    Ok(())
}
