//! Accounts and inboxes of the end-to-end chat protocol ("woosh", `app::woosh`): the
//! `WOOSH_ACCOUNTS` table and the few typed operations the protocol needs on top of the
//! product's own users, public keys and mailboxes.
//!
//! A woosh account is an ordinary account (`USERS`, keyed by the lower-cased name, so one
//! namespace with every other member) plus a row here: the exact spelling the client
//! registered, the protocol's integer id, and the client's private-key blob and `info`, both
//! sealed by `app` (this module never sees the key). Its public key is in `PUBLIC_KEYS` like
//! anyone's. Its messages are ordinary messages. Nothing here knows HTTP or the protocol's
//! wire format.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::messages::Position;
use super::meta;
use super::records::{MessageRecord, Sealed, UserRecord, decode, encode};
use super::tables::{INBOX, MESSAGES, PUBLIC_KEYS, WOOSH_ACCOUNTS};
use super::{Rx, Tx};
use crate::error::{Error, Result};
use crate::model::Username;

/// The counter of woosh account ids in `META`: 1, 2, 3... never reused.
pub const NEXT_WOOSH_ID: &str = "next_woosh_id";

/// The fields a woosh row's sealed values are bound to, with the account's lower-cased name
/// (never handed out again once retired) as both participants and id 0: no message has id 0
/// (theirs are random 128-bit ids), and these field names are no message field's.
pub const PRIVATE_KEY_FIELD: &str = "woosh_private_key";
pub const INFO_FIELD: &str = "woosh_info";

/// What the protocol keeps of an account besides its `UserRecord` and public key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WooshRecord {
    /// The name exactly as registered (the table key is its lower-cased form).
    pub spelling: String,
    /// The protocol's user id (from [`NEXT_WOOSH_ID`]).
    pub id: u64,
    /// The client-encrypted private key, sealed again at rest.
    pub private_key: Sealed,
    /// The free-text `info`, sealed.
    pub info: Sealed,
}

/// An account as the protocol looks it up: its record, its woosh row (none for a member who
/// registered on the web) and its published public key (if any).
#[derive(Debug, Clone)]
pub struct WooshMember {
    pub user: UserRecord,
    pub woosh: Option<WooshRecord>,
    pub public_key: Option<Vec<u8>>,
}

/// Bulk deletes look this many seconds past `until` before they stop: a message's time is
/// taken just before its commit, so inbox (seq) order and time order can differ by the time
/// a commit takes, never by more.
const TIME_ORDER_SLACK: i64 = 60;

impl Rx {
    pub fn woosh_account(&self, username: &Username) -> Result<Option<WooshRecord>> {
        let table = self.txn.open_table(WOOSH_ACCOUNTS)?;
        let value = table.get(username.as_str())?;
        value.map(|v| decode(v.value())).transpose()
    }

    /// The account, its woosh row and its public key, read together.
    pub fn woosh_member(&self, username: &Username) -> Result<Option<WooshMember>> {
        let Some(user) = self.user(username)? else {
            return Ok(None);
        };
        Ok(Some(WooshMember {
            user,
            woosh: self.woosh_account(username)?,
            public_key: self.public_key(username)?,
        }))
    }

    /// The oldest `limit` positions of `user`'s inbox, oldest first.
    pub fn inbox_oldest(&self, user: &str, limit: usize) -> Result<Vec<Position>> {
        let table = self.txn.open_table(INBOX)?;
        let mut positions = Vec::with_capacity(limit);
        for entry in table.range((user, 0u64)..=(user, u64::MAX))?.take(limit) {
            let (key, value) = entry?;
            let (id, read) = value.value();
            positions.push(Position {
                seq: key.value().1,
                id,
                read,
            });
        }
        Ok(positions)
    }

    /// The record of the message at `seq`, if it is still stored.
    pub fn message_at(&self, seq: u64) -> Result<Option<MessageRecord>> {
        let table = self.txn.open_table(MESSAGES)?;
        let value = table.get(seq)?;
        value.map(|v| decode(v.value().1)).transpose()
    }
}

impl Tx<'_> {
    /// Adds a woosh account: the account record (refused if the name is in use or retired),
    /// its row here with the next id, and its public key. Returns the id.
    pub fn insert_woosh_account(
        &self,
        username: &Username,
        user: &UserRecord,
        woosh: &WooshRecord,
        public_key: &[u8],
    ) -> Result<u64> {
        self.insert_user(username, user)?;
        let id = meta::next(self, NEXT_WOOSH_ID)?;
        let record = WooshRecord {
            id,
            ..woosh.clone()
        };
        self.txn
            .open_table(WOOSH_ACCOUNTS)?
            .insert(username.as_str(), encode(&record)?.as_slice())?;
        self.txn
            .open_table(PUBLIC_KEYS)?
            .insert(username.as_str(), public_key)?;
        Ok(id)
    }

    /// Replaces the sealed `info` of a woosh account as stored now; `NotFound` if it is gone.
    pub fn set_woosh_info(&self, username: &Username, info: &Sealed) -> Result<WooshRecord> {
        let mut table = self.txn.open_table(WOOSH_ACCOUNTS)?;
        let mut record: WooshRecord = match table.get(username.as_str())? {
            Some(value) => decode(value.value())?,
            None => return Err(Error::NotFound),
        };
        record.info = info.clone();
        table.insert(username.as_str(), encode(&record)?.as_slice())?;
        Ok(record)
    }

    /// Drops the woosh row of an account being deleted (nothing if it has none).
    pub(super) fn remove_woosh_account(&self, username: &Username) -> Result<()> {
        self.txn
            .open_table(WOOSH_ACCOUNTS)?
            .remove(username.as_str())?;
        Ok(())
    }

    /// Deletes every message of `user`'s inbox sent strictly before `until` (seconds), each
    /// through the ordinary deletion (so each goes to the deleted-message log); returns how
    /// many. The inbox is read from its oldest end and the walk stops once times are well past
    /// `until`, so a drained inbox costs what is deleted, not what remains.
    pub fn delete_inbox_before(&self, user: &str, until: i64, now: i64) -> Result<u64> {
        let mut candidates = Vec::new();
        {
            let inbox = self.txn.open_table(INBOX)?;
            let messages = self.txn.open_table(MESSAGES)?;
            for entry in inbox.range((user, 0u64)..=(user, u64::MAX))? {
                let (key, value) = entry?;
                let (seq, id) = (key.value().1, value.value().0);
                let Some(stored) = messages.get(seq)? else {
                    continue;
                };
                let record: MessageRecord = decode(stored.value().1)?;
                if record.sent_at >= until.saturating_add(TIME_ORDER_SLACK) {
                    break;
                }
                if record.sent_at < until {
                    candidates.push(id);
                }
            }
        }
        let mut n_deleted = 0;
        for id in candidates {
            if self.delete_message_for(user, id, now)? {
                n_deleted += 1;
            }
        }
        Ok(n_deleted)
    }
}
