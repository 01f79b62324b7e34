//! Accounts: the users table, retired usernames, and published public keys.

use redb::ReadableTable;

use super::records::{UserRecord, decode, encode};
use super::tables::{PUBLIC_KEYS, RETIRED, USERS};
use super::{Rx, Tx};
use crate::error::{Error, Result};
use crate::model::Username;

impl Rx {
    pub fn user(&self, username: &Username) -> Result<Option<UserRecord>> {
        let table = self.txn.open_table(USERS)?;
        let value = table.get(username.as_str())?;
        value.map(|v| decode(v.value())).transpose()
    }

    /// Usernames starting with `prefix`, in order, at most `limit`.
    pub fn usernames_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let table = self.txn.open_table(USERS)?;
        let mut found = Vec::new();
        for entry in table.range(prefix..)? {
            let (key, value) = entry?;
            let username = key.value();
            if !username.starts_with(prefix) || found.len() >= limit {
                break;
            }
            let record: UserRecord = decode(value.value())?;
            found.push((username.to_string(), record.name));
        }
        Ok(found)
    }

    /// Every account, in username order.
    pub fn all_users(&self) -> Result<Vec<(String, UserRecord)>> {
        let table = self.txn.open_table(USERS)?;
        let mut users = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            users.push((key.value().to_string(), decode(value.value())?));
        }
        Ok(users)
    }

    pub fn public_key(&self, username: &Username) -> Result<Option<Vec<u8>>> {
        let table = self.txn.open_table(PUBLIC_KEYS)?;
        let value = table.get(username.as_str())?;
        Ok(value.map(|v| v.value().to_vec()))
    }
}

impl Tx<'_> {
    pub fn user(&self, username: &Username) -> Result<Option<UserRecord>> {
        let table = self.txn.open_table(USERS)?;
        let value = table.get(username.as_str())?;
        value.map(|v| decode(v.value())).transpose()
    }

    pub fn user_exists(&self, username: &str) -> Result<bool> {
        let table = self.txn.open_table(USERS)?;
        Ok(table.get(username)?.is_some())
    }

    /// Adds an account; refuses a name in use or retired.
    pub fn insert_user(&self, username: &Username, record: &UserRecord) -> Result<()> {
        let retired = self
            .txn
            .open_table(RETIRED)?
            .get(username.as_str())?
            .is_some();
        let mut table = self.txn.open_table(USERS)?;
        if retired || table.get(username.as_str())?.is_some() {
            return Err(Error::UsernameTaken);
        }
        table.insert(username.as_str(), encode(record)?.as_slice())?;
        Ok(())
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
        let mut table = self.txn.open_table(USERS)?;
        let mut record: UserRecord = match table.get(username.as_str())? {
            Some(value) => decode(value.value())?,
            None => return Err(Error::NotFound),
        };
        change(&mut record)?;
        table.insert(username.as_str(), encode(&record)?.as_slice())?;
        Ok(())
    }

    /// Removes the account row and retires the name; the caller clears sessions and mailboxes.
    pub fn remove_user(&self, username: &Username, now: i64) -> Result<bool> {
        let removed = self
            .txn
            .open_table(USERS)?
            .remove(username.as_str())?
            .is_some();
        if removed {
            self.txn
                .open_table(RETIRED)?
                .insert(username.as_str(), now)?;
            self.txn
                .open_table(PUBLIC_KEYS)?
                .remove(username.as_str())?;
            self.remove_woosh_account(username)?;
        }
        Ok(removed)
    }

    pub fn put_public_key(&self, username: &Username, key: &[u8]) -> Result<()> {
        self.txn
            .open_table(PUBLIC_KEYS)?
            .insert(username.as_str(), key)?;
        Ok(())
    }
}
