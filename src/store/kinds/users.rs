//! The account kinds: `user` (the account record), `retired` (usernames of deleted accounts,
//! never handed out again) and `public_key` (an end-to-end client's published key).
//!
//! Rows only move between these tables and a dump here; what an account may do, and how a
//! record changes, is `store::users`'s.

use serde::{Deserialize, Serialize};

use super::{Kind, for_each, username};
use crate::error::Result;
use crate::store::records::{Sealed, UserRecord, decode, encode};
use crate::store::tables::{PUBLIC_KEYS, RETIRED, USERS};
use crate::store::{Rx, Tx};

pub struct User;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::User with 2 elements"
)]
pub struct UserRow {
    pub username: String,
    pub record: UserRecord,
}

impl Kind for User {
    type Row = UserRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(UserRow) -> Result<()>) -> Result<()> {
        for_each(rx, USERS, |name, record| {
            emit(UserRow {
                username: name,
                record: decode(&record)?,
            })
        })
    }

    fn check(row: &UserRow) -> std::result::Result<(), String> {
        username(&row.username)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<UserRow>) -> Result<()> {
        for row in rows {
            tx.put(USERS, &row.username, &encode(&row.record)?)?;
        }
        Ok(())
    }
}

pub struct Retired;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Retired with 2 elements"
)]
pub struct RetiredRow {
    pub username: String,
    pub deleted_at: i64,
}

impl Kind for Retired {
    type Row = RetiredRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(RetiredRow) -> Result<()>) -> Result<()> {
        for_each(rx, RETIRED, |name, deleted_at| {
            emit(RetiredRow {
                username: name,
                deleted_at,
            })
        })
    }

    fn check(row: &RetiredRow) -> std::result::Result<(), String> {
        username(&row.username)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<RetiredRow>) -> Result<()> {
        for row in rows {
            tx.put(RETIRED, &row.username, &row.deleted_at)?;
        }
        Ok(())
    }
}

pub struct PublicKey;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::PublicKey with 2 elements"
)]
pub struct PublicKeyRow {
    pub username: String,
    /// Not sealed (a public key is public): `Sealed` only for its base64 form in a dump.
    pub key: Sealed,
}

impl Kind for PublicKey {
    type Row = PublicKeyRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(PublicKeyRow) -> Result<()>) -> Result<()> {
        for_each(rx, PUBLIC_KEYS, |name, key| {
            emit(PublicKeyRow {
                username: name,
                key: Sealed(key),
            })
        })
    }

    fn check(row: &PublicKeyRow) -> std::result::Result<(), String> {
        username(&row.username)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<PublicKeyRow>) -> Result<()> {
        for row in rows {
            tx.put(PUBLIC_KEYS, &row.username, &row.key.0)?;
        }
        Ok(())
    }
}
