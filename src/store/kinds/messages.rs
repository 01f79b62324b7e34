//! The message kinds: `message` (the record, with the id index), `body`, the mailboxes `inbox`
//! and `sent`, and `unread` (the count per recipient); the family's rule for a restored file;
//! and the re-sealing of titles and bodies.
//!
//! Rows only move between these tables and a dump here; sending, reading and deleting are
//! `store::messages`'s. The id index has no kind of its own: it is rebuilt from the records.

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
                record: decode(&record)?,
            })
        })
    }

    fn check(row: &MessageRow) -> std::result::Result<(), String> {
        parse_u128(&row.id)?;
        username(&row.record.from)?;
        username(&row.record.to)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<MessageRow>) -> Result<()> {
        for row in rows {
            let (id, seq) = (id_of(&row.id)?, row.record.seq);
            let taken =
                tx.at().get(MESSAGE_IDS, &id)?.is_some() || tx.at().get(MESSAGES, &seq)?.is_some();
            tx.put(MESSAGE_IDS, &id, &seq)?;
            tx.put(MESSAGES, &seq, &(id, encode(&row.record)?))?;
            if taken {
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
        let read = |(id, bytes): (u128, Vec<u8>)| Ok((id, decode::<MessageRecord>(&bytes)?));
        in_steps(tx, MESSAGES, read, |step| {
            for (seq, (id, mut record)) in step {
                let bound = |field| SealedRef::message(id, &record.from, &record.to, field);
                let title = reseal(bound("title"), &record.title.0)?;
                let body = tx.at().get(BODIES, &seq)?;
                let body = body.map(|b| reseal(bound("body"), &b)).transpose()?;
                record.title = Sealed(title);
                tx.put(MESSAGES, &seq, &(id, encode(&record)?))?;
                if let Some(body) = body {
                    tx.put(BODIES, &seq, &body)?;
                }
                n_resealed += 2;
            }
            Ok(())
        })?;
        Ok(n_resealed)
    }
}

fn check_mailboxes(rx: &Rx, next_seq: u64) -> Result<()> {
    let check_entry = |user: &str, seq: u64, id: u128, inbox: bool| -> Result<()> {
        // The id index and the records agree: `Message::restore` refused any id or seq twice.
        let Some(record) = find_record(rx.at(), id)? else {
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
        check_entry(&user, seq, id, true)
    })?;
    for_each(rx, SENT, |(user, seq), id| {
        check_entry(&user, seq, id, false)
    })
}

fn check_messages(rx: &Rx, next_seq: u64) -> Result<()> {
    for_each(rx, MESSAGES, |seq, (id, bytes)| {
        let record: MessageRecord = decode(&bytes)?;
        if rx.at().get(BODIES, &seq)?.is_none() {
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
        for_each(rx, BODIES, |seq, body| {
            let id = rx
                .at()
                .get(MESSAGES, &seq)?
                .map(|(id, _)| id)
                .ok_or_else(|| Error::corrupt(format!("the body at seq {seq} has no message")))?;
            emit(BodyRow {
                id: hex128(id),
                body: Sealed(body),
            })
        })
    }

    fn check(row: &BodyRow) -> std::result::Result<(), String> {
        parse_u128(&row.id).map(|_| ())
    }

    fn restore(tx: &Tx<'_>, rows: Vec<BodyRow>) -> Result<()> {
        for row in rows {
            let id = id_of(&row.id)?;
            let Some(seq) = tx.at().get(MESSAGE_IDS, &id)? else {
                return Err(inconsistent(format!("a body names no message ({id:032x})")));
            };
            tx.put(BODIES, &seq, &row.body.0)?;
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
                user,
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
        for row in rows {
            let id = id_of(&row.id)?;
            tx.put(INBOX, &(row.user, row.seq), &(id, row.read))?;
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
                user,
                seq,
                id: hex128(id),
            })
        })
    }

    fn check(row: &SentRow) -> std::result::Result<(), String> {
        username(&row.user).and(parse_u128(&row.id).map(|_| ()))
    }

    fn restore(tx: &Tx<'_>, rows: Vec<SentRow>) -> Result<()> {
        for row in rows {
            let id = id_of(&row.id)?;
            tx.put(SENT, &(row.user, row.seq), &id)?;
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
        for_each(rx, UNREAD, |user, count| emit(UnreadRow { user, count }))
    }

    fn check(row: &UnreadRow) -> std::result::Result<(), String> {
        username(&row.user)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<UnreadRow>) -> Result<()> {
        for row in rows {
            tx.put(UNREAD, &row.user, &row.count)?;
        }
        Ok(())
    }
}
