//! Messages, mailboxes and the deleted-message log.
//!
//! A message is one record (plus its sealed body) referenced from the recipient's inbox index
//! and the sender's sent index, both keyed by (user, seq) so a page is a bounded range scan from
//! the newest end: O(page), whatever the mailbox size. `seq` is a global counter advanced inside
//! the write transaction, so index order is commit order and a poll with `since` misses nothing.
//!
//! Records and bodies are keyed by seq, so new messages append to their trees; the random id a
//! member sees is mapped to its seq by `MESSAGE_IDS`. A lookup by id checks that the record found
//! names the same id.

use redb::ReadableTable;

use super::meta;
use super::records::{DeletedRecord, MessageRecord, Sealed, decode, encode};
use super::tables::{BODIES, DELETED, INBOX, MESSAGE_IDS, MESSAGES, SENT, UNREAD};
use super::{Rx, Tx};
use crate::error::{Error, Result};
use crate::model::Mailbox;

/// A message about to be stored: everything but its id, body and seq.
#[derive(Debug, Clone)]
pub struct MessageDraft {
    pub from: String,
    pub to: String,
    pub sent_at: i64,
    pub title: Sealed,
    /// Listed in the sender's sent box (false for notices the server writes).
    pub in_sent: bool,
}

/// One row of a mailbox listing.
#[derive(Debug, Clone)]
pub struct MailboxEntry {
    pub id: u128,
    pub record: MessageRecord,
    pub read: bool,
}

/// One place in a mailbox index: the message's seq and id, and (in an inbox) whether it was
/// read. Sent boxes have no read mark and report `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub id: u128,
    pub read: bool,
}

/// A message a user may see, with its sealed body.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: u128,
    pub record: MessageRecord,
    pub body: Vec<u8>,
    pub read: bool,
}

impl Rx {
    /// Up to `limit` entries older than `before` (or the newest), newest first, and whether
    /// older ones remain.
    pub fn mailbox_page(
        &self,
        user: &str,
        mailbox: Mailbox,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<MailboxEntry>, bool)> {
        let (positions, more) = self.mailbox_index(user, mailbox, before, limit)?;
        Ok((self.entries_at(&positions)?, more))
    }

    /// The messages at `positions`, in that order.
    pub fn entries_at(&self, positions: &[Position]) -> Result<Vec<MailboxEntry>> {
        self.entries(positions.iter().map(|p| (p.seq, p.id, p.read)).collect())
    }

    /// The index part of [`Rx::mailbox_page`]: the positions a page lists, without reading the
    /// messages themselves (a few index leaves, however large the mailbox).
    pub fn mailbox_index(
        &self,
        user: &str,
        mailbox: Mailbox,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Position>, bool)> {
        let upper = before.unwrap_or(u64::MAX);
        let mut positions: Vec<Position> = Vec::with_capacity(limit);
        let mut more = false;
        match mailbox {
            Mailbox::Inbox => {
                let table = self.txn.open_table(INBOX)?;
                for entry in table.range((user, 0u64)..(user, upper))?.rev() {
                    if positions.len() == limit {
                        more = true;
                        break;
                    }
                    let (key, value) = entry?;
                    let (id, read) = value.value();
                    positions.push(Position {
                        seq: key.value().1,
                        id,
                        read,
                    });
                }
            }
            Mailbox::Sent => {
                let table = self.txn.open_table(SENT)?;
                for entry in table.range((user, 0u64)..(user, upper))?.rev() {
                    if positions.len() == limit {
                        more = true;
                        break;
                    }
                    let (key, value) = entry?;
                    positions.push(Position {
                        seq: key.value().1,
                        id: value.value(),
                        read: true,
                    });
                }
            }
        }
        Ok((positions, more))
    }

    /// Everything that arrived in a mailbox after `after`, oldest first, at most `limit`.
    pub fn mailbox_since(
        &self,
        user: &str,
        mailbox: Mailbox,
        after: u64,
        limit: usize,
    ) -> Result<Vec<MailboxEntry>> {
        let start = after.saturating_add(1);
        let mut rows = Vec::new();
        match mailbox {
            Mailbox::Inbox => {
                let table = self.txn.open_table(INBOX)?;
                for entry in table.range((user, start)..=(user, u64::MAX))?.take(limit) {
                    let (key, value) = entry?;
                    let (id, read) = value.value();
                    rows.push((key.value().1, id, read));
                }
            }
            Mailbox::Sent => {
                let table = self.txn.open_table(SENT)?;
                for entry in table.range((user, start)..=(user, u64::MAX))?.take(limit) {
                    let (key, value) = entry?;
                    rows.push((key.value().1, value.value(), true));
                }
            }
        }
        self.entries(rows)
    }

    /// The seq of the newest message in a mailbox, 0 if it is empty.
    pub fn newest_seq(&self, user: &str, mailbox: Mailbox) -> Result<u64> {
        let newest = match mailbox {
            Mailbox::Inbox => {
                let table = self.txn.open_table(INBOX)?;
                let last = table.range((user, 0u64)..=(user, u64::MAX))?.next_back();
                last.transpose()?.map(|(key, _)| key.value().1)
            }
            Mailbox::Sent => {
                let table = self.txn.open_table(SENT)?;
                let last = table.range((user, 0u64)..=(user, u64::MAX))?.next_back();
                last.transpose()?.map(|(key, _)| key.value().1)
            }
        };
        Ok(newest.unwrap_or(0))
    }

    /// The messages of mailbox rows given as (seq, id, read).
    fn entries(&self, rows: Vec<(u64, u128, bool)>) -> Result<Vec<MailboxEntry>> {
        let messages = self.txn.open_table(MESSAGES)?;
        let mut entries = Vec::with_capacity(rows.len());
        for (seq, id, read) in rows {
            let value = messages.get(seq)?;
            let record = match value.as_ref().map(|v| v.value()) {
                Some((stored, bytes)) if stored == id => decode(bytes)?,
                _ => {
                    return Err(Error::corrupt(format!(
                        "mailbox names a missing message {id:032x}"
                    )));
                }
            };
            entries.push(MailboxEntry { id, record, read });
        }
        Ok(entries)
    }

    /// The message `id` if `user` may see it (its recipient with it in the inbox, or its sender
    /// with it in the sent box); `None` otherwise, whether or not it exists.
    pub fn message_for(&self, user: &str, id: u128) -> Result<Option<StoredMessage>> {
        let ids = self.txn.open_table(MESSAGE_IDS)?;
        let messages = self.txn.open_table(MESSAGES)?;
        let Some(record) = find_record(&ids, &messages, id)? else {
            return Ok(None);
        };
        let as_recipient = record.to == user && record.in_inbox;
        let as_sender = record.from == user && record.in_sent;
        if !as_recipient && !as_sender {
            return Ok(None);
        }
        let read = if as_recipient {
            let inbox = self.txn.open_table(INBOX)?;
            let entry = inbox.get((user, record.seq))?;
            entry.map(|v| v.value().1).unwrap_or(true)
        } else {
            true
        };
        let bodies = self.txn.open_table(BODIES)?;
        let body = bodies
            .get(record.seq)?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        Ok(Some(StoredMessage {
            id,
            record,
            body,
            read,
        }))
    }

    pub fn unread_count(&self, user: &str) -> Result<u64> {
        let table = self.txn.open_table(UNREAD)?;
        let value = table.get(user)?;
        Ok(value.map(|v| v.value()).unwrap_or(0))
    }

    /// The deleted-message log from `since` on, oldest first, optionally for one user.
    pub fn deleted_log(&self, since: i64, user: Option<&str>) -> Result<Vec<DeletedRecord>> {
        let table = self.txn.open_table(DELETED)?;
        let mut found = Vec::new();
        for entry in table.iter()? {
            let (_, value) = entry?;
            let record: DeletedRecord = decode(value.value())?;
            let concerns_user =
                user.is_none_or(|u| record.from == u || record.to == u || record.deleted_by == u);
            if record.deleted_at >= since && concerns_user {
                found.push(record);
            }
        }
        Ok(found)
    }
}

impl Tx<'_> {
    /// Stores a new message and lists it in the recipient's inbox and, if `draft.in_sent`, the
    /// sender's sent box; returns its seq. The caller has checked that both participants exist.
    pub fn insert_message(&self, id: u128, draft: &MessageDraft, body: &[u8]) -> Result<u64> {
        let seq = meta::next(self, meta::NEXT_SEQ)?;
        let MessageDraft {
            from,
            to,
            sent_at,
            title,
            in_sent,
        } = draft;
        let (from, to, in_sent) = (from.as_str(), to.as_str(), *in_sent);
        let record = MessageRecord {
            seq,
            from: from.to_string(),
            to: to.to_string(),
            sent_at: *sent_at,
            title: title.clone(),
            in_inbox: true,
            in_sent,
        };
        {
            let mut ids = self.txn.open_table(MESSAGE_IDS)?;
            if ids.get(id)?.is_some() {
                return Err(Error::Internal("message id collision".into()));
            }
            ids.insert(id, seq)?;
        }
        self.txn
            .open_table(MESSAGES)?
            .insert(seq, (id, encode(&record)?.as_slice()))?;
        self.txn.open_table(BODIES)?.insert(seq, body)?;
        self.txn.open_table(INBOX)?.insert((to, seq), (id, false))?;
        if in_sent {
            self.txn.open_table(SENT)?.insert((from, seq), id)?;
        }
        self.add_unread(to, 1)?;
        Ok(seq)
    }

    fn add_unread(&self, user: &str, delta: i64) -> Result<()> {
        let mut table = self.txn.open_table(UNREAD)?;
        let current = table.get(user)?.map(|v| v.value()).unwrap_or(0);
        let updated = current.saturating_add_signed(delta);
        if updated == 0 {
            table.remove(user)?;
        } else {
            table.insert(user, updated)?;
        }
        Ok(())
    }

    fn record(&self, id: u128) -> Result<Option<MessageRecord>> {
        let ids = self.txn.open_table(MESSAGE_IDS)?;
        let messages = self.txn.open_table(MESSAGES)?;
        find_record(&ids, &messages, id)
    }

    /// Marks the message read in `user`'s inbox; false if it is not there or already read.
    pub fn mark_read(&self, user: &str, id: u128) -> Result<bool> {
        let Some(record) = self.record(id)? else {
            return Ok(false);
        };
        if record.to != user || !record.in_inbox {
            return Ok(false);
        }
        let mut inbox = self.txn.open_table(INBOX)?;
        let already = inbox.get((user, record.seq))?.map(|v| v.value().1);
        if already != Some(false) {
            return Ok(false);
        }
        inbox.insert((user, record.seq), (id, true))?;
        drop(inbox);
        self.add_unread(user, -1)?;
        Ok(true)
    }

    /// Removes the message from `user`'s own mailbox(es) and writes it, still sealed, to the
    /// deleted-message log. Returns false (changing nothing) if `user` cannot see it.
    pub fn delete_message_for(&self, user: &str, id: u128, now: i64) -> Result<bool> {
        let Some(mut record) = self.record(id)? else {
            return Ok(false);
        };
        let as_recipient = record.to == user && record.in_inbox;
        let as_sender = record.from == user && record.in_sent;
        if !as_recipient && !as_sender {
            return Ok(false);
        }
        if as_recipient {
            let removed = self
                .txn
                .open_table(INBOX)?
                .remove((user, record.seq))?
                .map(|v| v.value().1);
            if removed == Some(false) {
                self.add_unread(user, -1)?;
            }
            record.in_inbox = false;
        }
        if as_sender {
            self.txn.open_table(SENT)?.remove((user, record.seq))?;
            record.in_sent = false;
        }
        let body = self
            .txn
            .open_table(BODIES)?
            .get(record.seq)?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        let logged = DeletedRecord {
            message_id: id,
            from: record.from.clone(),
            to: record.to.clone(),
            sent_at: record.sent_at,
            title: record.title.clone(),
            body: Sealed(body),
            deleted_by: user.to_string(),
            deleted_at: now,
        };
        let number = meta::next(self, meta::NEXT_DELETED)?;
        self.txn
            .open_table(DELETED)?
            .insert(number, encode(&logged)?.as_slice())?;
        if record.in_inbox || record.in_sent {
            self.txn
                .open_table(MESSAGES)?
                .insert(record.seq, (id, encode(&record)?.as_slice()))?;
        } else {
            self.txn.open_table(MESSAGES)?.remove(record.seq)?;
            self.txn.open_table(BODIES)?.remove(record.seq)?;
            self.txn.open_table(MESSAGE_IDS)?.remove(id)?;
        }
        Ok(true)
    }

    /// Deletes every message of `user`'s inbox and sent box (account deletion); returns how many.
    pub fn delete_mailboxes(&self, user: &str, deleted_by: &str, now: i64) -> Result<u64> {
        let mut ids = Vec::new();
        for entry in self
            .txn
            .open_table(INBOX)?
            .range((user, 0u64)..=(user, u64::MAX))?
        {
            ids.push(entry?.1.value().0);
        }
        for entry in self
            .txn
            .open_table(SENT)?
            .range((user, 0u64)..=(user, u64::MAX))?
        {
            ids.push(entry?.1.value());
        }
        ids.sort_unstable();
        ids.dedup();
        let mut n_deleted = 0;
        for id in ids {
            if self.delete_message_logged_by(user, id, deleted_by, now)? {
                n_deleted += 1;
            }
        }
        Ok(n_deleted)
    }

    fn delete_message_logged_by(
        &self,
        user: &str,
        id: u128,
        deleted_by: &str,
        now: i64,
    ) -> Result<bool> {
        if !self.delete_message_for(user, id, now)? {
            return Ok(false);
        }
        if deleted_by != user {
            // Rewrite the log entry just written so it names who really deleted it.
            let mut table = self.txn.open_table(DELETED)?;
            let last = table.last()?.map(|(k, v)| (k.value(), v.value().to_vec()));
            if let Some((number, bytes)) = last {
                let mut record: DeletedRecord = decode(&bytes)?;
                record.deleted_by = deleted_by.to_string();
                table.insert(number, encode(&record)?.as_slice())?;
            }
        }
        Ok(true)
    }

    /// Drops deleted-log entries older than `before`; returns how many.
    pub fn purge_deleted_before(&self, before: i64) -> Result<u64> {
        self.purge_log::<DeletedRecord>(DELETED, |r| r.deleted_at < before)
    }
}

/// The record of message `id`: its seq from the id index, then the record at that seq, which
/// must name the same id.
pub(in crate::store) fn find_record(
    ids: &impl ReadableTable<u128, u64>,
    messages: &impl ReadableTable<u64, (u128, &'static [u8])>,
    id: u128,
) -> Result<Option<MessageRecord>> {
    let Some(seq) = ids.get(id)?.map(|v| v.value()) else {
        return Ok(None);
    };
    let value = messages.get(seq)?;
    match value.as_ref().map(|v| v.value()) {
        Some((stored, bytes)) if stored == id => Ok(Some(decode(bytes)?)),
        _ => Err(Error::corrupt(format!(
            "the id index names a missing message {id:032x}"
        ))),
    }
}

impl Tx<'_> {
    /// One step of the migration from schema 1 (records and bodies keyed by id) to 2 (keyed by
    /// seq): moves up to `step` messages; true once none are left, when the old tables are
    /// dropped. Each message moves whole (record, body, index entry) within this transaction.
    pub(super) fn messages_v1_to_v2(&self, step: usize) -> Result<bool> {
        use super::tables::v1;
        let moving: Vec<(u128, Vec<u8>)> = {
            let old = self.txn.open_table(v1::MESSAGES)?;
            let mut moving = Vec::with_capacity(step);
            for entry in old.iter()?.take(step) {
                let (key, value) = entry?;
                moving.push((key.value(), value.value().to_vec()));
            }
            moving
        };
        if moving.is_empty() {
            self.txn.delete_table(v1::MESSAGES)?;
            self.txn.delete_table(v1::BODIES)?;
            return Ok(true);
        }
        let mut old_messages = self.txn.open_table(v1::MESSAGES)?;
        let mut old_bodies = self.txn.open_table(v1::BODIES)?;
        let mut messages = self.txn.open_table(MESSAGES)?;
        let mut bodies = self.txn.open_table(BODIES)?;
        let mut ids = self.txn.open_table(MESSAGE_IDS)?;
        for (id, bytes) in moving {
            let record: MessageRecord = decode(&bytes)?;
            let body = old_bodies.remove(id)?.map(|v| v.value().to_vec());
            if messages.get(record.seq)?.is_some() || ids.get(id)?.is_some() {
                return Err(Error::corrupt(format!(
                    "cannot migrate message {id:032x}: its seq {} is taken",
                    record.seq
                )));
            }
            messages.insert(record.seq, (id, bytes.as_slice()))?;
            bodies.insert(record.seq, body.unwrap_or_default().as_slice())?;
            ids.insert(id, record.seq)?;
            old_messages.remove(id)?;
        }
        Ok(false)
    }
}
