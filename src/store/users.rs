//! Accounts: the users table, retired usernames, and published public keys.

use std::ops::Bound;

use super::records::{UserRecord, decode, encode};
use super::table::Order;
use super::tables::{PUBLIC_KEYS, RETIRED, USERS};
use super::{Rx, Tx};
use crate::error::{Error, Result};
use crate::model::Username;

fn key(username: &Username) -> String {
    username.as_str().to_string()
}

impl Rx {
    pub fn user(&self, username: &Username) -> Result<Option<UserRecord>> {
        let value = self.at().get(USERS, &key(username))?;
        value.map(|v| decode(&v)).transpose()
    }

    /// Usernames starting with `prefix`, in order, at most `limit`.
    pub fn usernames_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let from = prefix.to_string();
        let rows = self.at().range(
            USERS,
            Bound::Included(&from),
            Bound::Unbounded,
            Order::Oldest,
            limit,
        )?;
        let mut found = Vec::new();
        for (username, value) in rows {
            if !username.starts_with(prefix) {
                break;
            }
            let record: UserRecord = decode(&value)?;
            found.push((username, record.name));
        }
        Ok(found)
    }

    /// Every account, in username order.
    pub fn all_users(&self) -> Result<Vec<(String, UserRecord)>> {
        let mut users = Vec::new();
        self.at().each(USERS, |username, value| {
            users.push((username, decode(&value)?));
            Ok(())
        })?;
        Ok(users)
    }

    pub fn public_key(&self, username: &Username) -> Result<Option<Vec<u8>>> {
        self.at().get(PUBLIC_KEYS, &key(username))
    }
}

impl Tx<'_> {
    pub fn user(&self, username: &Username) -> Result<Option<UserRecord>> {
        let value = self.at().get(USERS, &key(username))?;
        value.map(|v| decode(&v)).transpose()
    }

    pub fn user_exists(&self, username: &str) -> Result<bool> {
        Ok(self.at().get(USERS, &username.to_string())?.is_some())
    }

    /// Adds an account; refuses a name in use or retired.
    pub fn insert_user(&self, username: &Username, record: &UserRecord) -> Result<()> {
        let retired = self.at().get(RETIRED, &key(username))?.is_some();
        if retired || self.at().get(USERS, &key(username))?.is_some() {
            return Err(Error::UsernameTaken);
        }
        self.put(USERS, &key(username), &encode(record)?)
    }

    /// Changes an account as it is stored now: reads the record inside this transaction,
    /// lets `change` decide (it may refuse with an error, and then nothing is written) and
    /// writes what it made of it. A missing account (never there, or deleted meanwhile) is
    /// `NotFound` and is never written back. There is deliberately no operation that puts a
    /// whole record read earlier: that would undo whatever changed in between.
    pub fn update_user(
        &self,
        username: &Username,
        change: impl FnOnce(&mut UserRecord) -> Result<()>,
    ) -> Result<()> {
        let mut record: UserRecord = match self.at().get(USERS, &key(username))? {
            Some(value) => decode(&value)?,
            None => return Err(Error::NotFound),
        };
        change(&mut record)?;
        self.put(USERS, &key(username), &encode(&record)?)
    }

    /// Removes the account row and retires the name; the caller clears sessions and mailboxes.
    pub fn remove_user(&self, username: &Username, now: i64) -> Result<bool> {
        let removed = self.remove(USERS, &key(username))?.is_some();
        if removed {
            self.put(RETIRED, &key(username), &now)?;
            self.remove(PUBLIC_KEYS, &key(username))?;
            self.remove_woosh_account(username)?;
        }
        Ok(removed)
    }

    pub fn put_public_key(&self, username: &Username, key: &[u8]) -> Result<()> {
        self.put(PUBLIC_KEYS, &username.as_str().to_string(), &key.to_vec())
    }
}
