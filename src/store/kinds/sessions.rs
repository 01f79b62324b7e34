//! The sign-in kinds: `session` and `token` (a record under the SHA-256 of its secret), and
//! their per-user indexes `user_session` and `user_token` ((user, handle) -> that SHA-256).
//!
//! Sessions and tokens have the same two shapes, so each pair shares the helpers below. Rows
//! only move between these tables and a dump here; creating, checking and ending a session or
//! token is `store::sessions`'s. No secret is here: only its hash.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Kind, for_each, hash_of, hex128, id_of, parse_hash, parse_u128, username};
use crate::error::Result;
use crate::store::records::{SessionRecord, TokenRecord, decode, encode};
use crate::store::table::Def;
use crate::store::tables::{SESSIONS, TOKENS, USER_SESSIONS, USER_TOKENS};
use crate::store::{Rx, Tx};

type ByHash = Def<[u8; 32], Vec<u8>>;
type ByUser = Def<(String, u128), [u8; 32]>;

pub struct Session;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Session with 2 elements"
)]
pub struct SessionRow {
    pub hash: String,
    pub record: SessionRecord,
}

impl Kind for Session {
    type Row = SessionRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(SessionRow) -> Result<()>) -> Result<()> {
        dump_by_hash(rx, SESSIONS, |hash, record| {
            emit(SessionRow { hash, record })
        })
    }

    fn check(row: &SessionRow) -> std::result::Result<(), String> {
        parse_hash(&row.hash)?;
        username(&row.record.username)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<SessionRow>) -> Result<()> {
        restore_by_hash(tx, SESSIONS, rows.iter().map(|r| (&r.hash, &r.record)))
    }
}

pub struct Token;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Token with 2 elements"
)]
pub struct TokenRow {
    pub hash: String,
    pub record: TokenRecord,
}

impl Kind for Token {
    type Row = TokenRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(TokenRow) -> Result<()>) -> Result<()> {
        dump_by_hash(rx, TOKENS, |hash, record| emit(TokenRow { hash, record }))
    }

    fn check(row: &TokenRow) -> std::result::Result<(), String> {
        parse_hash(&row.hash)?;
        username(&row.record.username)
    }

    fn restore(tx: &Tx<'_>, rows: Vec<TokenRow>) -> Result<()> {
        restore_by_hash(tx, TOKENS, rows.iter().map(|r| (&r.hash, &r.record)))
    }
}

fn dump_by_hash<R: DeserializeOwned>(
    rx: &Rx,
    table: ByHash,
    mut emit: impl FnMut(String, R) -> Result<()>,
) -> Result<()> {
    for_each(rx, table, |hash, record| {
        emit(hex::encode(hash), decode(&record)?)
    })
}

fn restore_by_hash<'a, R: Serialize + 'a>(
    tx: &Tx<'_>,
    table: ByHash,
    rows: impl Iterator<Item = (&'a String, &'a R)>,
) -> Result<()> {
    for (hash, record) in rows {
        tx.put(table, &hash_of(hash)?, &encode(record)?)?;
    }
    Ok(())
}

pub struct UserSession;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::UserSession with 3 elements"
)]
pub struct UserSessionRow {
    pub user: String,
    pub handle: String,
    pub hash: String,
}

impl Kind for UserSession {
    type Row = UserSessionRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(UserSessionRow) -> Result<()>) -> Result<()> {
        dump_by_user(rx, USER_SESSIONS, |[user, handle, hash]| {
            emit(UserSessionRow { user, handle, hash })
        })
    }

    fn check(row: &UserSessionRow) -> std::result::Result<(), String> {
        check_by_user([&row.user, &row.handle, &row.hash])
    }

    fn restore(tx: &Tx<'_>, rows: Vec<UserSessionRow>) -> Result<()> {
        let rows = rows.iter().map(|r| [&r.user, &r.handle, &r.hash]);
        restore_by_user(tx, USER_SESSIONS, rows)
    }
}

pub struct UserToken;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::UserToken with 3 elements"
)]
pub struct UserTokenRow {
    pub user: String,
    pub handle: String,
    pub hash: String,
}

impl Kind for UserToken {
    type Row = UserTokenRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(UserTokenRow) -> Result<()>) -> Result<()> {
        dump_by_user(rx, USER_TOKENS, |[user, handle, hash]| {
            emit(UserTokenRow { user, handle, hash })
        })
    }

    fn check(row: &UserTokenRow) -> std::result::Result<(), String> {
        check_by_user([&row.user, &row.handle, &row.hash])
    }

    fn restore(tx: &Tx<'_>, rows: Vec<UserTokenRow>) -> Result<()> {
        let rows = rows.iter().map(|r| [&r.user, &r.handle, &r.hash]);
        restore_by_user(tx, USER_TOKENS, rows)
    }
}

/// Hands each entry of a per-user index to `emit` as [user, handle, hash] in dump form.
fn dump_by_user(
    rx: &Rx,
    table: ByUser,
    mut emit: impl FnMut([String; 3]) -> Result<()>,
) -> Result<()> {
    for_each(rx, table, |(user, handle), hash| {
        emit([user, hex128(handle), hex::encode(hash)])
    })
}

fn check_by_user([user, handle, hash]: [&String; 3]) -> std::result::Result<(), String> {
    username(user)?;
    parse_u128(handle)?;
    parse_hash(hash).map(|_| ())
}

fn restore_by_user<'a>(
    tx: &Tx<'_>,
    table: ByUser,
    rows: impl Iterator<Item = [&'a String; 3]>,
) -> Result<()> {
    for [user, handle, hash] in rows {
        tx.put(table, &(user.clone(), id_of(handle)?), &hash_of(hash)?)?;
    }
    Ok(())
}
