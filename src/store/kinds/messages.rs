//! The message kinds: `message` (the record, with the id index), `body`, the mailboxes `inbox`
//! and `sent`, and `unread` (the count per recipient); the family's rule for a restored file;
//! and the re-sealing of titles and bodies.
//!
//! Rows only move between these tables and a dump here; sending, reading and deleting are
//! `store::messages`'s. The id index has no kind of its own: it is rebuilt from the records.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::meta::counter;
use super::{Kind, for_each, hex128, id_of, inconsistent, parse_u128, username};
use crate::error::{Error, Result};
use crate::store::messages::find_record;
use crate::store::meta::NEXT_SEQ;
use crate::store::records::{MessageRecord, Sealed, decode, encode};
use crate::store::reseal::{Resealer, SealedRef, in_steps};
use crate::store::tables::{BODIES, INBOX, MESSAGE_IDS, MESSAGES, SENT, UNREAD};
use crate::store::{Rx, Tx};

pub struct Message;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Message with 2 elements"
)]
pub struct MessageRow {
    pub id: String,
    pub record: MessageRecord,
}

impl Kind for Message {
    type Row = MessageRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(MessageRow) -> Result<()>) -> Result<()> {
        for_each(rx, MESSAGES, |_, (id, record)| {
            emit(MessageRow {
                id: hex128(id),
                record: decode(record)?,
            })
        })
    }

    fn check(row: &MessageRow) -> std::result::Result<(), String> {
        parse_u128(&row.id)?;
        username(&row.record.from)?;
        username(&row.record.to)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<MessageRow>) -> Result<()> {
        let mut messages = tx.txn.open_table(MESSAGES)?;
        let mut message_ids = tx.txn.open_table(MESSAGE_IDS)?;
        for row in rows {
            let (id, seq) = (id_of(&row.id)?, row.record.seq);
            let taken = message_ids.insert(id, seq)?.is_some();
            let encoded = encode(&row.record)?;
            if taken || messages.insert(seq, (id, encoded.as_slice()))?.is_some() {
                return Err(inconsistent(format!(
                    "two messages share the id {id:032x} or the seq {seq}"
                )));
            }
        }
        Ok(())
    }

    /// The rule of the whole family, mailboxes first (the order the reasons were always told
    /// in): every mailbox entry names a message of its owner at the same seq, and every
    /// message has its body and a seq below the counter.
    fn check_restored(rx: &Rx) -> Result<()> {
        let next_seq = counter(rx, NEXT_SEQ)?;
        check_mailboxes(rx, next_seq)?;
        check_messages(rx, next_seq)
    }

    /// Titles and bodies, both bound to the message's id and participants; two a message.
    fn reseal(tx: &Tx<'_>, reseal: &mut Resealer<'_>) -> Result<u64> {
        let mut n_resealed = 0;
        let read = |(id, bytes): (u128, &[u8])| Ok((id, decode::<MessageRecord>(bytes)?));
        in_steps(tx, MESSAGES, read, |step| {
            let mut messages = tx.txn.open_table(MESSAGES)?;
            let mut bodies = tx.txn.open_table(BODIES)?;
            for (seq, (id, mut record)) in step {
                let bound = |field| SealedRef::message(id, &record.from, &record.to, field);
                let title = reseal(bound("title"), &record.title.0)?;
                let body = bodies.get(seq)?.map(|v| v.value().to_vec());
                let body = body.map(|b| reseal(bound("body"), &b)).transpose()?;
                record.title = Sealed(title);
                messages.insert(seq, (id, encode(&record)?.as_slice()))?;
                if let Some(body) = body {
                    bodies.insert(seq, body.as_slice())?;
                }
                n_resealed += 2;
            }
            Ok(())
        })?;
        Ok(n_resealed)
    }
}

fn check_mailboxes(rx: &Rx, next_seq: u64) -> Result<()> {
    let messages = rx.txn.open_table(MESSAGES)?;
    let message_ids = rx.txn.open_table(MESSAGE_IDS)?;
    let check_entry = |user: &str, seq: u64, id: u128, inbox: bool| -> Result<()> {
        // The id index and the records agree: `Message::restore` refused any id or seq twice.
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
    for_each(rx, INBOX, |(user, seq), (id, _)| {
        check_entry(user, seq, id, true)
    })?;
    for_each(rx, SENT, |(user, seq), id| {
        check_entry(user, seq, id, false)
    })
}

fn check_messages(rx: &Rx, next_seq: u64) -> Result<()> {
    let bodies = rx.txn.open_table(BODIES)?;
    for_each(rx, MESSAGES, |seq, (id, bytes)| {
        let record: MessageRecord = decode(bytes)?;
        if bodies.get(seq)?.is_none() {
            return Err(inconsistent(format!("message {id:032x} has no body")));
        }
        if record.seq >= next_seq {
            return Err(inconsistent("the message counter is behind its messages"));
        }
        Ok(())
    })
}

pub struct Body;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Body with 2 elements"
)]
pub struct BodyRow {
    /// Bodies are stored by seq; the dump names each by its message's id.
    pub id: String,
    pub body: Sealed,
}

/// Bodies are re-sealed with their message's title (`Message::reseal`), which knows the
/// participants a body is bound to.
impl Kind for Body {
    type Row = BodyRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(BodyRow) -> Result<()>) -> Result<()> {
        let messages = rx.txn.open_table(MESSAGES)?;
        for_each(rx, BODIES, |seq, body| {
            let id = messages
                .get(seq)?
                .map(|v| v.value().0)
                .ok_or_else(|| Error::corrupt(format!("the body at seq {seq} has no message")))?;
            emit(BodyRow {
                id: hex128(id),
                body: Sealed(body.to_vec()),
            })
        })
    }

    fn check(row: &BodyRow) -> std::result::Result<(), String> {
        parse_u128(&row.id).map(|_| ())
    }

    fn restore(tx: &Tx<'_>, rows: Vec<BodyRow>) -> Result<()> {
        let message_ids = tx.txn.open_table(MESSAGE_IDS)?;
        let mut bodies = tx.txn.open_table(BODIES)?;
        for row in rows {
            let id = id_of(&row.id)?;
            let Some(seq) = message_ids.get(id)?.map(|v| v.value()) else {
                return Err(inconsistent(format!("a body names no message ({id:032x})")));
            };
            bodies.insert(seq, row.body.0.as_slice())?;
        }
        Ok(())
    }
}

pub struct Inbox;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Inbox with 4 elements"
)]
pub struct InboxRow {
    pub user: String,
    pub seq: u64,
    pub id: String,
    pub read: bool,
}

/// Checked against the messages by `Message::check_restored`.
impl Kind for Inbox {
    type Row = InboxRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(InboxRow) -> Result<()>) -> Result<()> {
        for_each(rx, INBOX, |(user, seq), (id, read)| {
            emit(InboxRow {
                user: user.to_string(),
                seq,
                id: hex128(id),
                read,
            })
        })
    }

    fn check(row: &InboxRow) -> std::result::Result<(), String> {
        username(&row.user).and(parse_u128(&row.id).map(|_| ()))
    }

    fn restore(tx: &Tx<'_>, rows: Vec<InboxRow>) -> Result<()> {
        let mut table = tx.txn.open_table(INBOX)?;
        for row in rows {
            table.insert((row.user.as_str(), row.seq), (id_of(&row.id)?, row.read))?;
        }
        Ok(())
    }
}

pub struct Sent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Sent with 3 elements"
)]
pub struct SentRow {
    pub user: String,
    pub seq: u64,
    pub id: String,
}

/// Checked against the messages by `Message::check_restored`.
impl Kind for Sent {
    type Row = SentRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(SentRow) -> Result<()>) -> Result<()> {
        for_each(rx, SENT, |(user, seq), id| {
            emit(SentRow {
                user: user.to_string(),
                seq,
                id: hex128(id),
            })
        })
    }

    fn check(row: &SentRow) -> std::result::Result<(), String> {
        username(&row.user).and(parse_u128(&row.id).map(|_| ()))
    }

    fn restore(tx: &Tx<'_>, rows: Vec<SentRow>) -> Result<()> {
        let mut table = tx.txn.open_table(SENT)?;
        for row in rows {
            table.insert((row.user.as_str(), row.seq), id_of(&row.id)?)?;
        }
        Ok(())
    }
}

pub struct Unread;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Unread with 2 elements"
)]
pub struct UnreadRow {
    pub user: String,
    pub count: u64,
}

impl Kind for Unread {
    type Row = UnreadRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(UnreadRow) -> Result<()>) -> Result<()> {
        for_each(rx, UNREAD, |user, count| {
            emit(UnreadRow {
                user: user.to_string(),
                count,
            })
        })
    }

    fn check(row: &UnreadRow) -> std::result::Result<(), String> {
        username(&row.user)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<UnreadRow>) -> Result<()> {
        let mut table = tx.txn.open_table(UNREAD)?;
        for row in rows {
            table.insert(row.user.as_str(), row.count)?;
        }
        Ok(())
    }
}
