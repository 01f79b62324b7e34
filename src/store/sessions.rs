//! Browser sessions and API tokens. Both are stored under the SHA-256 of their secret (the
//! secret itself never reaches the disk) and indexed by (username, handle) so a user can list
//! and end them, and a password reset can end them all.

use std::ops::Bound;

use serde::{Serialize, de::DeserializeOwned};

use super::records::{SessionRecord, TokenRecord, decode, encode};
use super::table::{Def, Order};
use super::tables::{SESSIONS, TOKENS, USER_SESSIONS, USER_TOKENS};
use super::{Rx, Tx};
use crate::error::Result;

type ByHash = Def<[u8; 32], Vec<u8>>;
type ByUser = Def<(String, u128), [u8; 32]>;

/// The (username, handle) index entries of `user`, in handle order.
fn of_user(
    at: super::table::Reading<'_>,
    table: ByUser,
    user: &str,
) -> Result<Vec<(u128, [u8; 32])>> {
    let from = (user.to_string(), 0u128);
    let to = (user.to_string(), u128::MAX);
    let rows = at.range(
        table,
        Bound::Included(&from),
        Bound::Included(&to),
        Order::Oldest,
        usize::MAX,
    )?;
    Ok(rows
        .into_iter()
        .map(|((_, handle), hash)| (handle, hash))
        .collect())
}

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
        let value = self.at().get(C::BY_HASH, hash)?;
        value.map(|v| decode(&v)).transpose()
    }

    /// A user's sessions or tokens, with the hash each is stored under.
    pub fn credentials_of<C: Credential>(&self, user: &str) -> Result<Vec<([u8; 32], C)>> {
        let hashes: Vec<[u8; 32]> = of_user(self.at(), C::BY_USER, user)?
            .into_iter()
            .map(|(_, hash)| hash)
            .collect();
        let values = self.at().get_many(C::BY_HASH, &hashes)?;
        let mut found = Vec::new();
        for (hash, value) in hashes.into_iter().zip(values) {
            if let Some(value) = value {
                found.push((hash, decode(&value)?));
            }
        }
        Ok(found)
    }
}

impl Tx<'_> {
    pub fn credential<C: Credential>(&self, hash: &[u8; 32]) -> Result<Option<C>> {
        let value = self.at().get(C::BY_HASH, hash)?;
        value.map(|v| decode(&v)).transpose()
    }

    pub fn put_credential<C: Credential>(&self, hash: &[u8; 32], record: &C) -> Result<()> {
        self.put(C::BY_HASH, hash, &encode(record)?)?;
        let by_user = (record.username().to_string(), record.handle());
        self.put(C::BY_USER, &by_user, hash)
    }

    /// Removes one session or token by its secret's hash; false if there was none.
    pub fn remove_credential<C: Credential>(&self, hash: &[u8; 32]) -> Result<bool> {
        let Some(bytes) = self.remove(C::BY_HASH, hash)? else {
            return Ok(false);
        };
        let record: C = decode(&bytes)?;
        self.remove(
            C::BY_USER,
            &(record.username().to_string(), record.handle()),
        )?;
        Ok(true)
    }

    /// Removes a user's session or token by its public handle; false if it is not theirs.
    pub fn remove_credential_by_handle<C: Credential>(
        &self,
        user: &str,
        handle: u128,
    ) -> Result<bool> {
        let Some(hash) = self.remove(C::BY_USER, &(user.to_string(), handle))? else {
            return Ok(false);
        };
        self.remove(C::BY_HASH, &hash)?;
        Ok(true)
    }

    /// Removes every session or token of a user except `keep`; returns how many went.
    pub fn remove_credentials_of<C: Credential>(
        &self,
        user: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<u64> {
        let mut n_removed = 0;
        for (handle, hash) in of_user(self.at(), C::BY_USER, user)? {
            if Some(&hash) == keep {
                continue;
            }
            self.remove(C::BY_USER, &(user.to_string(), handle))?;
            self.remove(C::BY_HASH, &hash)?;
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
        self.at().each(C::BY_HASH, |hash, value| {
            let record: C = decode(&value)?;
            if expired(&record) {
                doomed.push((hash, record.username().to_string(), record.handle()));
            }
            Ok(())
        })?;
        for (hash, user, handle) in doomed.iter().cloned() {
            self.remove(C::BY_HASH, &hash)?;
            self.remove(C::BY_USER, &(user, handle))?;
        }
        Ok(doomed.len() as u64)
    }
}
