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

use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::messages::{Position, index_rows};
use super::meta;
use super::records::{MessageRecord, Sealed, UserRecord, decode, encode};
use super::table::Order;
use super::tables::{MESSAGES, PUBLIC_KEYS, WOOSH_ACCOUNTS};
use super::{Rx, Tx};
use crate::error::{Error, Result};
use crate::model::{Mailbox, Username};

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

/// Inbox entries a bulk delete reads at a time.
const STEP: usize = 500;

fn key(username: &Username) -> String {
    username.as_str().to_string()
}

impl Rx {
    pub fn woosh_account(&self, username: &Username) -> Result<Option<WooshRecord>> {
        let value = self.at().get(WOOSH_ACCOUNTS, &key(username))?;
        value.map(|v| decode(&v)).transpose()
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
        let (lower, upper) = ((user.to_string(), 0u64), (user.to_string(), u64::MAX));
        let (from, to) = (Bound::Included(&lower), Bound::Included(&upper));
        index_rows(
            self.at(),
            user,
            Mailbox::Inbox,
            from,
            to,
            Order::Oldest,
            limit,
        )
    }

    /// The record of the message at `seq`, if it is still stored.
    pub fn message_at(&self, seq: u64) -> Result<Option<MessageRecord>> {
        let value = self.at().get(MESSAGES, &seq)?;
        value.map(|(_, bytes)| decode(&bytes)).transpose()
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
        self.put(WOOSH_ACCOUNTS, &key(username), &encode(&record)?)?;
        self.put(PUBLIC_KEYS, &key(username), &public_key.to_vec())?;
        Ok(id)
    }

    /// Replaces the sealed `info` of a woosh account as stored now; `NotFound` if it is gone.
    pub fn set_woosh_info(&self, username: &Username, info: &Sealed) -> Result<WooshRecord> {
        let mut record: WooshRecord = match self.at().get(WOOSH_ACCOUNTS, &key(username))? {
            Some(value) => decode(&value)?,
            None => return Err(Error::NotFound),
        };
        record.info = info.clone();
        self.put(WOOSH_ACCOUNTS, &key(username), &encode(&record)?)?;
        Ok(record)
    }

    /// Drops the woosh row of an account being deleted (nothing if it has none).
    pub(super) fn remove_woosh_account(&self, username: &Username) -> Result<()> {
        self.remove(WOOSH_ACCOUNTS, &key(username))?;
        Ok(())
    }

    /// Deletes every message of `user`'s inbox sent strictly before `until` (seconds), each
    /// through the ordinary deletion (so each goes to the deleted-message log); returns how
    /// many. The inbox is read from its oldest end and the walk stops once times are well past
    /// `until`, so a drained inbox costs what is deleted, not what remains.
    pub fn delete_inbox_before(&self, user: &str, until: i64, now: i64) -> Result<u64> {
        let mut candidates = Vec::new();
        let mut lower = (user.to_string(), 0u64);
        let upper = (user.to_string(), u64::MAX);
        'walk: loop {
            let (from, to) = (Bound::Included(&lower), Bound::Included(&upper));
            let step = index_rows(
                self.at(),
                user,
                Mailbox::Inbox,
                from,
                to,
                Order::Oldest,
                STEP,
            )?;
            let seqs: Vec<u64> = step.iter().map(|p| p.seq).collect();
            let records = self.at().get_many(MESSAGES, &seqs)?;
            for (position, stored) in step.iter().zip(records) {
                let Some((_, bytes)) = stored else {
                    continue;
                };
                let record: MessageRecord = decode(&bytes)?;
                if record.sent_at >= until.saturating_add(TIME_ORDER_SLACK) {
                    break 'walk;
                }
                if record.sent_at < until {
                    candidates.push(position.id);
                }
            }
            match step.last() {
                Some(last) if step.len() == STEP && last.seq < u64::MAX => {
                    lower = (user.to_string(), last.seq + 1);
                }
                _ => break,
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
