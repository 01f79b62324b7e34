//! Browser sessions and API tokens. Both are stored under the SHA-256 of their secret (the
//! secret itself never reaches the disk) and indexed by (username, handle) so a user can list
//! and end them, and a password reset can end them all.

use redb::{ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};

use super::records::{SessionRecord, TokenRecord, decode, encode};
use super::tables::{SESSIONS, TOKENS, USER_SESSIONS, USER_TOKENS};
use super::{Rx, Tx};
use crate::error::Result;

type ByHash = TableDefinition<'static, [u8; 32], &'static [u8]>;
type ByUser = TableDefinition<'static, (&'static str, u128), [u8; 32]>;

/// What sessions and tokens have in common, so one set of functions serves both.
pub trait Credential: Serialize + DeserializeOwned {
    const BY_HASH: ByHash;
    const BY_USER: ByUser;
    fn username(&self) -> &str;
    fn handle(&self) -> u128;
}

impl Credential for SessionRecord {
    const BY_HASH: ByHash = SESSIONS;
    const BY_USER: ByUser = USER_SESSIONS;
    fn username(&self) -> &str {
        &self.username
    }
    fn handle(&self) -> u128 {
        self.handle
    }
}

impl Credential for TokenRecord {
    const BY_HASH: ByHash = TOKENS;
    const BY_USER: ByUser = USER_TOKENS;
    fn username(&self) -> &str {
        &self.username
    }
    fn handle(&self) -> u128 {
        self.handle
    }
}

impl Rx {
    pub fn credential<C: Credential>(&self, hash: &[u8; 32]) -> Result<Option<C>> {
        let table = self.txn.open_table(C::BY_HASH)?;
        let value = table.get(hash)?;
        value.map(|v| decode(v.value())).transpose()
    }

    /// A user's sessions or tokens, with the hash each is stored under.
    pub fn credentials_of<C: Credential>(&self, user: &str) -> Result<Vec<([u8; 32], C)>> {
        let by_user = self.txn.open_table(C::BY_USER)?;
        let by_hash = self.txn.open_table(C::BY_HASH)?;
        let mut found = Vec::new();
        for entry in by_user.range((user, 0u128)..=(user, u128::MAX))? {
            let hash = entry?.1.value();
            if let Some(value) = by_hash.get(&hash)? {
                found.push((hash, decode(value.value())?));
            }
        }
        Ok(found)
    }
}

impl Tx<'_> {
    pub fn credential<C: Credential>(&self, hash: &[u8; 32]) -> Result<Option<C>> {
        let table = self.txn.open_table(C::BY_HASH)?;
        let value = table.get(hash)?;
        value.map(|v| decode(v.value())).transpose()
    }

    pub fn put_credential<C: Credential>(&self, hash: &[u8; 32], record: &C) -> Result<()> {
        self.txn
            .open_table(C::BY_HASH)?
            .insert(hash, encode(record)?.as_slice())?;
        self.txn
            .open_table(C::BY_USER)?
            .insert((record.username(), record.handle()), hash)?;
        Ok(())
    }

    /// Removes one session or token by its secret's hash; false if there was none.
    pub fn remove_credential<C: Credential>(&self, hash: &[u8; 32]) -> Result<bool> {
        let removed = self
            .txn
            .open_table(C::BY_HASH)?
            .remove(hash)?
            .map(|v| v.value().to_vec());
        let Some(bytes) = removed else {
            return Ok(false);
        };
        let record: C = decode(&bytes)?;
        self.txn
            .open_table(C::BY_USER)?
            .remove((record.username(), record.handle()))?;
        Ok(true)
    }

    /// Removes a user's session or token by its public handle; false if it is not theirs.
    pub fn remove_credential_by_handle<C: Credential>(
        &self,
        user: &str,
        handle: u128,
    ) -> Result<bool> {
        let hash = self
            .txn
            .open_table(C::BY_USER)?
            .remove((user, handle))?
            .map(|v| v.value());
        let Some(hash) = hash else {
            return Ok(false);
        };
        self.txn.open_table(C::BY_HASH)?.remove(&hash)?;
        Ok(true)
    }

    /// Removes every session or token of a user except `keep`; returns how many went.
    pub fn remove_credentials_of<C: Credential>(
        &self,
        user: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<u64> {
        let mut hashes = Vec::new();
        for entry in self
            .txn
            .open_table(C::BY_USER)?
            .range((user, 0u128)..=(user, u128::MAX))?
        {
            let (key, value) = entry?;
            hashes.push((key.value().1, value.value()));
        }
        let mut n_removed = 0;
        let mut by_user = self.txn.open_table(C::BY_USER)?;
        let mut by_hash = self.txn.open_table(C::BY_HASH)?;
        for (handle, hash) in hashes {
            if Some(&hash) == keep {
                continue;
            }
            by_user.remove((user, handle))?;
            by_hash.remove(&hash)?;
            n_removed += 1;
        }
        Ok(n_removed)
    }

    /// Ends every way a user is signed in: all sessions but `keep_session`, and all API
    /// tokens (password changes and resets, locks, deletions).
    pub fn end_all_sign_ins(&self, user: &str, keep_session: Option<&[u8; 32]>) -> Result<()> {
        self.remove_credentials_of::<SessionRecord>(user, keep_session)?;
        self.remove_credentials_of::<TokenRecord>(user, None)?;
        Ok(())
    }

    /// Removes the sessions or tokens for which `expired` says so; returns how many.
    pub fn purge_credentials<C: Credential>(&self, expired: impl Fn(&C) -> bool) -> Result<u64> {
        let mut doomed = Vec::new();
        for entry in self.txn.open_table(C::BY_HASH)?.iter()? {
            let (key, value) = entry?;
            let record: C = decode(value.value())?;
            if expired(&record) {
                doomed.push((key.value(), record.username().to_string(), record.handle()));
            }
        }
        let mut by_user = self.txn.open_table(C::BY_USER)?;
        let mut by_hash = self.txn.open_table(C::BY_HASH)?;
        for (hash, user, handle) in &doomed {
            by_hash.remove(hash)?;
            by_user.remove((user.as_str(), *handle))?;
        }
        Ok(doomed.len() as u64)
    }
}
