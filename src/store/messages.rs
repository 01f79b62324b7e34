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

use std::ops::Bound;

use super::meta;
use super::records::{DeletedRecord, MessageRecord, Sealed, decode, encode};
use super::table::{Order, Reading};
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
        entries(self.at(), positions)
    }

    /// The messages at `positions` with their sealed bodies, in that order (for search, which
    /// opens and matches them in memory; nothing is written).
    pub fn stored_at(&self, positions: &[Position]) -> Result<Vec<StoredMessage>> {
        let seqs: Vec<u64> = positions.iter().map(|p| p.seq).collect();
        let bodies = self.at().get_many(BODIES, &seqs)?;
        let found = self.entries_at(positions)?;
        Ok(found
            .into_iter()
            .zip(bodies)
            .map(|(entry, body)| StoredMessage {
                id: entry.id,
                record: entry.record,
                body: body.unwrap_or_default(),
                read: entry.read,
            })
            .collect())
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
        let upper = (user.to_string(), before.unwrap_or(u64::MAX));
        let lower = (user.to_string(), 0u64);
        let (from, to) = (Bound::Included(&lower), Bound::Excluded(&upper));
        let mut positions = index_rows(
            self.at(),
            user,
            mailbox,
            from,
            to,
            Order::Newest,
            limit.saturating_add(1),
        )?;
        let more = positions.len() > limit;
        positions.truncate(limit);
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
        let lower = (user.to_string(), after.saturating_add(1));
        let upper = (user.to_string(), u64::MAX);
        let (from, to) = (Bound::Included(&lower), Bound::Included(&upper));
        let positions = index_rows(self.at(), user, mailbox, from, to, Order::Oldest, limit)?;
        self.entries_at(&positions)
    }

    /// The seq of the newest message in a mailbox, 0 if it is empty.
    pub fn newest_seq(&self, user: &str, mailbox: Mailbox) -> Result<u64> {
        let lower = (user.to_string(), 0u64);
        let upper = (user.to_string(), u64::MAX);
        let (from, to) = (Bound::Included(&lower), Bound::Included(&upper));
        let newest = index_rows(self.at(), user, mailbox, from, to, Order::Newest, 1)?;
        Ok(newest.first().map_or(0, |p| p.seq))
    }

    /// The message `id` if `user` may see it (its recipient with it in the inbox, or its sender
    /// with it in the sent box); `None` otherwise, whether or not it exists.
    pub fn message_for(&self, user: &str, id: u128) -> Result<Option<StoredMessage>> {
        let Some(record) = find_record(self.at(), id)? else {
            return Ok(None);
        };
        let as_recipient = record.to == user && record.in_inbox;
        let as_sender = record.from == user && record.in_sent;
        if !as_recipient && !as_sender {
            return Ok(None);
        }
        let read = if as_recipient {
            let entry = self.at().get(INBOX, &(user.to_string(), record.seq))?;
            entry.map(|(_, read)| read).unwrap_or(true)
        } else {
            true
        };
        let body = self.at().get(BODIES, &record.seq)?.unwrap_or_default();
        Ok(Some(StoredMessage {
            id,
            record,
            body,
            read,
        }))
    }

    pub fn unread_count(&self, user: &str) -> Result<u64> {
        Ok(self.at().get(UNREAD, &user.to_string())?.unwrap_or(0))
    }

    /// The deleted-message log from `since` on, oldest first, optionally for one user.
    pub fn deleted_log(&self, since: i64, user: Option<&str>) -> Result<Vec<DeletedRecord>> {
        let mut found = Vec::new();
        self.at().each(DELETED, |_, value| {
            let record: DeletedRecord = decode(&value)?;
            let concerns_user =
                user.is_none_or(|u| record.from == u || record.to == u || record.deleted_by == u);
            if record.deleted_at >= since && concerns_user {
                found.push(record);
            }
            Ok(())
        })?;
        Ok(found)
    }
}

/// Up to `limit` positions of a mailbox index between two bounds, walked in `order`.
pub(super) fn index_rows(
    at: Reading<'_>,
    user: &str,
    mailbox: Mailbox,
    from: Bound<&(String, u64)>,
    to: Bound<&(String, u64)>,
    order: Order,
    limit: usize,
) -> Result<Vec<Position>> {
    debug_assert!(matches!(from, Bound::Included((u, _)) if u == user));
    Ok(match mailbox {
        Mailbox::Inbox => at
            .range(INBOX, from, to, order, limit)?
            .into_iter()
            .map(|((_, seq), (id, read))| Position { seq, id, read })
            .collect(),
        Mailbox::Sent => at
            .range(SENT, from, to, order, limit)?
            .into_iter()
            .map(|((_, seq), id)| Position {
                seq,
                id,
                read: true,
            })
            .collect(),
    })
}

/// The messages at `positions`, in that order: one read of all their records.
fn entries(at: Reading<'_>, positions: &[Position]) -> Result<Vec<MailboxEntry>> {
    let seqs: Vec<u64> = positions.iter().map(|p| p.seq).collect();
    let records = at.get_many(MESSAGES, &seqs)?;
    let mut entries = Vec::with_capacity(positions.len());
    for (position, value) in positions.iter().zip(records) {
        let record = match value {
            Some((stored, bytes)) if stored == position.id => decode(&bytes)?,
            _ => {
                return Err(Error::corrupt(format!(
                    "mailbox names a missing message {:032x}",
                    position.id
                )));
            }
        };
        entries.push(MailboxEntry {
            id: position.id,
            record,
            read: position.read,
        });
    }
    Ok(entries)
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
        let record = MessageRecord {
            seq,
            from: from.to_string(),
            to: to.to_string(),
            sent_at: *sent_at,
            title: title.clone(),
            in_inbox: true,
            in_sent: *in_sent,
        };
        if self.at().get(MESSAGE_IDS, &id)?.is_some() {
            return Err(Error::Internal("message id collision".into()));
        }
        self.put(MESSAGE_IDS, &id, &seq)?;
        self.put(MESSAGES, &seq, &(id, encode(&record)?))?;
        self.put(BODIES, &seq, &body.to_vec())?;
        self.put(INBOX, &(to.clone(), seq), &(id, false))?;
        if *in_sent {
            self.put(SENT, &(from.clone(), seq), &id)?;
        }
        self.add_unread(to, 1)?;
        Ok(seq)
    }

    fn add_unread(&self, user: &str, delta: i64) -> Result<()> {
        let user = user.to_string();
        let current = self.at().get(UNREAD, &user)?.unwrap_or(0);
        let updated = current.saturating_add_signed(delta);
        if updated == 0 {
            self.remove(UNREAD, &user)?;
        } else {
            self.put(UNREAD, &user, &updated)?;
        }
        Ok(())
    }

    fn record(&self, id: u128) -> Result<Option<MessageRecord>> {
        find_record(self.at(), id)
    }

    /// Marks the message read in `user`'s inbox; false if it is not there or already read.
    pub fn mark_read(&self, user: &str, id: u128) -> Result<bool> {
        let Some(record) = self.record(id)? else {
            return Ok(false);
        };
        if record.to != user || !record.in_inbox {
            return Ok(false);
        }
        let place = (user.to_string(), record.seq);
        let already = self.at().get(INBOX, &place)?.map(|(_, read)| read);
        if already != Some(false) {
            return Ok(false);
        }
        self.put(INBOX, &place, &(id, true))?;
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
        let place = (user.to_string(), record.seq);
        if as_recipient {
            let removed = self.remove(INBOX, &place)?.map(|(_, read)| read);
            if removed == Some(false) {
                self.add_unread(user, -1)?;
            }
            record.in_inbox = false;
        }
        if as_sender {
            self.remove(SENT, &place)?;
            record.in_sent = false;
        }
        let body = self.at().get(BODIES, &record.seq)?.unwrap_or_default();
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
        self.put(DELETED, &number, &encode(&logged)?)?;
        if record.in_inbox || record.in_sent {
            self.put(MESSAGES, &record.seq, &(id, encode(&record)?))?;
        } else {
            self.remove(MESSAGES, &record.seq)?;
            self.remove(BODIES, &record.seq)?;
            self.remove(MESSAGE_IDS, &id)?;
        }
        Ok(true)
    }

    /// Deletes every message of `user`'s inbox and sent box (account deletion); returns how many.
    pub fn delete_mailboxes(&self, user: &str, deleted_by: &str, now: i64) -> Result<u64> {
        let lower = (user.to_string(), 0u64);
        let upper = (user.to_string(), u64::MAX);
        let (from, to) = (Bound::Included(&lower), Bound::Included(&upper));
        let mut ids: Vec<u128> = Vec::new();
        for mailbox in [Mailbox::Inbox, Mailbox::Sent] {
            let rows = index_rows(
                self.at(),
                user,
                mailbox,
                from,
                to,
                Order::Oldest,
                usize::MAX,
            )?;
            ids.extend(rows.iter().map(|p| p.id));
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
            let last = self.at().range(
                DELETED,
                Bound::Unbounded,
                Bound::Unbounded,
                Order::Newest,
                1,
            )?;
            if let Some((number, bytes)) = last.into_iter().next() {
                let mut record: DeletedRecord = decode(&bytes)?;
                record.deleted_by = deleted_by.to_string();
                self.put(DELETED, &number, &encode(&record)?)?;
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
pub(in crate::store) fn find_record(at: Reading<'_>, id: u128) -> Result<Option<MessageRecord>> {
    let Some(seq) = at.get(MESSAGE_IDS, &id)? else {
        return Ok(None);
    };
    match at.get(MESSAGES, &seq)? {
        Some((stored, bytes)) if stored == id => Ok(Some(decode(&bytes)?)),
        _ => Err(Error::corrupt(format!(
            "the id index names a missing message {id:032x}"
        ))),
    }
}

impl Tx<'_> {
    /// One step of the migration from schema 1 (records and bodies keyed by id) to 2 (keyed by
    /// seq): moves up to `step` messages; true once none are left, when the old tables are
    /// dropped. Each message moves whole (record, body, index entry) within this transaction.
    /// Only redb files have schema 1.
    pub(super) fn messages_v1_to_v2(&self, step: usize) -> Result<bool> {
        use super::tables::v1;
        let txn = self.redb()?;
        let moving = self.at().range(
            v1::MESSAGES,
            Bound::Unbounded,
            Bound::Unbounded,
            Order::Oldest,
            step,
        )?;
        if moving.is_empty() {
            txn.delete_table(v1::MESSAGES.redb())?;
            txn.delete_table(v1::BODIES.redb())?;
            return Ok(true);
        }
        for (id, bytes) in moving {
            let record: MessageRecord = decode(&bytes)?;
            let body = self.remove(v1::BODIES, &id)?;
            if self.at().get(MESSAGES, &record.seq)?.is_some()
                || self.at().get(MESSAGE_IDS, &id)?.is_some()
            {
                return Err(Error::corrupt(format!(
                    "cannot migrate message {id:032x}: its seq {} is taken",
                    record.seq
                )));
            }
            self.put(MESSAGES, &record.seq, &(id, bytes))?;
            self.put(BODIES, &record.seq, &body.unwrap_or_default())?;
            self.put(MESSAGE_IDS, &id, &record.seq)?;
            self.remove(v1::MESSAGES, &id)?;
        }
        Ok(false)
    }
}
