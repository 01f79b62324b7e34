//! Writing a dump: every table of one read snapshot, streamed line by line through a hasher,
//! then the trailer with the counts and the SHA-256 of everything before it.

use std::collections::BTreeMap;
use std::io::Write;

use redb::ReadableTable;
use sha2::{Digest, Sha256};

use super::{FORMAT_NAME, FORMAT_VERSION, Line, Summary};
use crate::error::{Error, Result};
use crate::store::records::{Sealed, decode};
use crate::store::tables::*;
use crate::store::{Rx, SCHEMA_VERSION, Snapshot};

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
    for_each(rx, MESSAGES, |_, (id, record)| {
        emit(
            &mut w,
            Line::Message {
                id: hex128(id),
                record: decode(record)?,
            },
        )
    })?;
    // Bodies are stored by seq; the dump names each by its message's id.
    let messages = rx.txn.open_table(MESSAGES)?;
    for_each(rx, BODIES, |seq, body| {
        let id = messages
            .get(seq)?
            .map(|v| v.value().0)
            .ok_or_else(|| Error::Storage(format!("the body at seq {seq} has no message")))?;
        emit(
            &mut w,
            Line::Body {
                id: hex128(id),
                body: Sealed(body.to_vec()),
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
