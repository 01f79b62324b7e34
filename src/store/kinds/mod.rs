//! The registry of stored kinds: every kind of row the database keeps, in one list that names
//! each kind in the dump, orders the dump and says which tables the kind keeps; and for each
//! kind one impl of [`Kind`] that says how its rows are dumped, checked and restored, what a
//! restored file must satisfy, and how its sealed values are re-sealed.
//!
//! The list below is the only place that names a kind in the dump or a table to create: the
//! dump writer, reader, restore, the table creation of `Store`'s migration and key rotation
//! all iterate over it. Adding a kind is one line here plus its impl in its family's file.
//! This module moves whole rows in and out of tables; the live operations on them (sending,
//! signing in...) stay in `store::users`, `store::messages` and the other family modules.

#[macro_use]
mod registry;
mod logs;
mod messages;
mod meta;
mod sessions;
mod users;
mod woosh;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::reseal::Resealer;
use super::table::{Column, Def};
use super::{Rx, Tx};
use crate::error::{Error, Result};

/// One kind of stored row: what `registry!` needs to dump, check, restore and re-seal it (its
/// tables are named in the registry, which creates them).
///
/// Every method works on whole tables of one transaction. A kind may read another kind's
/// tables (a body is dumped under its message's id) but writes only its own, except that
/// `Message::reseal` re-seals each body with its title, bound to the same participants.
pub trait Kind {
    /// One line of this kind in a dump, without its `kind` field. Its serde form is the dump
    /// format: it denies unknown fields and is `expecting` "struct variant Line::<Variant> with
    /// <number of fields> elements", the words serde used while rows were struct variants of
    /// `Line`, so a crafted dump is told what it always was.
    type Row: Serialize + DeserializeOwned;

    /// Hands every row of the snapshot to `emit`, in the tables' key order.
    fn dump(rx: &Rx, emit: &mut dyn FnMut(Self::Row) -> Result<()>) -> Result<()>;

    /// The field checks a row of a crafted dump must pass before anything is written; the
    /// reason is told with the row's line number.
    fn check(_row: &Self::Row) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Stores consecutive rows of this kind from a checked dump (opening the tables once).
    fn restore(tx: &Tx<'_>, rows: Vec<Self::Row>) -> Result<()>;

    /// What the restored file must satisfy once every row is in (cross-table rules).
    fn check_restored(_rx: &Rx) -> Result<()> {
        Ok(())
    }

    /// Re-seals every sealed value of this kind with `reseal` (key rotation); returns how many
    /// were re-sealed. A kind that stores values sealed with the data key must override this
    /// (`Sealed` in a row says only that its bytes are base64 in a dump).
    fn reseal(_tx: &Tx<'_>, _reseal: &mut Resealer<'_>) -> Result<u64> {
        Ok(0)
    }
}

// The stored kinds, in dump order:
// `"its name in the dump" => its Line variant(its Kind) in [the tables it keeps, in tables.rs]`.
registry! {
    "meta" => Meta(meta::Meta) in [META],
    "user" => User(users::User) in [USERS],
    "retired" => Retired(users::Retired) in [RETIRED],
    "public_key" => PublicKey(users::PublicKey) in [PUBLIC_KEYS],
    "woosh_account" => WooshAccount(woosh::WooshAccount) in [WOOSH_ACCOUNTS],
    "message" => Message(messages::Message) in [MESSAGES, MESSAGE_IDS],
    "body" => Body(messages::Body) in [BODIES],
    "inbox" => Inbox(messages::Inbox) in [INBOX],
    "sent" => Sent(messages::Sent) in [SENT],
    "unread" => Unread(messages::Unread) in [UNREAD],
    "deleted" => Deleted(logs::Deleted) in [DELETED],
    "session" => Session(sessions::Session) in [SESSIONS],
    "user_session" => UserSession(sessions::UserSession) in [USER_SESSIONS],
    "token" => Token(sessions::Token) in [TOKENS],
    "user_token" => UserToken(sessions::UserToken) in [USER_TOKENS],
    "event" => Event(logs::Event) in [EVENTS],
}

/// Visits every entry of `table` in key order.
fn for_each<K: Column + Clone, V: Column>(
    rx: &Rx,
    table: Def<K, V>,
    visit: impl FnMut(K, V) -> Result<()>,
) -> Result<()>
where
    K::Redb: redb::Key,
{
    rx.at().each(table, visit)
}

/// A username field: valid, and in the lower-cased form keys are stored under.
fn username(name: &str) -> std::result::Result<(), String> {
    match crate::model::Username::parse(name) {
        Ok(parsed) if parsed.as_str() == name => Ok(()),
        _ => Err(format!("invalid username `{}`", name.escape_debug())),
    }
}

/// A 128-bit id or handle as a dump writes it: 32 hex digits.
fn hex128(value: u128) -> String {
    format!("{value:032x}")
}

fn parse_u128(text: &str) -> std::result::Result<u128, String> {
    if text.len() != 32 {
        return Err(format!("invalid id `{}`", text.escape_debug()));
    }
    u128::from_str_radix(text, 16).map_err(|_| format!("invalid id `{}`", text.escape_debug()))
}

fn parse_hash(text: &str) -> std::result::Result<[u8; 32], String> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash)
        .map_err(|_| format!("invalid hash `{}`", text.escape_debug()))?;
    Ok(hash)
}

/// Parses an id of a row `check` already accepted (so this never fails on a checked dump).
fn id_of(text: &str) -> Result<u128> {
    parse_u128(text).map_err(Error::BadDump)
}

/// Parses a hash of a row `check` already accepted.
fn hash_of(text: &str) -> Result<[u8; 32]> {
    parse_hash(text).map_err(Error::BadDump)
}

/// A restored file that breaks a rule of the schema: the dump cannot be used.
fn inconsistent(what: impl std::fmt::Display) -> Error {
    Error::BadDump(format!("the dump is inconsistent: {what}"))
}

#[cfg(test)]
mod tests {
    use super::{KINDS, Line};

    /// Each row type names itself as its variant did (see `Kind::Row`), which an array that is
    /// too short shows. (The golden tests in `store::dump` pin each kind's whole message.)
    #[test]
    fn every_row_names_itself_as_its_line_variant() {
        for (name, variant) in KINDS {
            let line = format!(r#"["{name}"]"#);
            let error = serde_json::from_str::<Line>(&line)
                .expect_err(name)
                .to_string();
            let prefix = format!("invalid length 0, expected struct variant Line::{variant} with ");
            let n_fields = error
                .strip_prefix(&prefix)
                .and_then(|e| e.strip_suffix(" elements"));
            assert!(
                n_fields.is_some_and(|n| n.parse::<u32>().is_ok()),
                "{name}: {error}"
            );
        }
    }
}
