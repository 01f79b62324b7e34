//! The `woosh_account` kind: what the end-to-end chat protocol keeps of an account besides its
//! `user` and `public_key` rows (exact spelling, integer id, sealed private key and info).
//!
//! Rows only move between `WOOSH_ACCOUNTS` and a dump here; the live operations are
//! `store::woosh`'s.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::meta::counter;
use super::{Kind, for_each, inconsistent, username};
use crate::error::Result;
use crate::model::is_woosh_spelling;
use crate::store::records::{decode, encode};
use crate::store::reseal::{Resealer, SealedRef};
use crate::store::tables::{USERS, WOOSH_ACCOUNTS};
use crate::store::woosh::{INFO_FIELD, NEXT_WOOSH_ID, PRIVATE_KEY_FIELD, WooshRecord};
use crate::store::{Rx, Tx};

pub struct WooshAccount;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::WooshAccount with 2 elements"
)]
pub struct WooshAccountRow {
    pub username: String,
    pub record: WooshRecord,
}

impl Kind for WooshAccount {
    type Row = WooshAccountRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(WooshAccountRow) -> Result<()>) -> Result<()> {
        for_each(rx, WOOSH_ACCOUNTS, |name, record| {
            emit(WooshAccountRow {
                username: name,
                record: decode(&record)?,
            })
        })
    }

    fn check(row: &WooshAccountRow) -> std::result::Result<(), String> {
        username(&row.username)?;
        let spelling = &row.record.spelling;
        if !is_woosh_spelling(spelling) || spelling.to_ascii_lowercase() != row.username {
            return Err(format!(
                "the woosh spelling `{}` is not one of `{}`",
                spelling.escape_debug(),
                row.username
            ));
        }
        if row.record.id == 0 {
            return Err("a woosh account id is at least 1".into());
        }
        Ok(())
    }

    fn restore(tx: &Tx<'_>, rows: Vec<WooshAccountRow>) -> Result<()> {
        for row in rows {
            tx.put(WOOSH_ACCOUNTS, &row.username, &encode(&row.record)?)?;
        }
        Ok(())
    }

    /// Every woosh row belongs to an account, ids are unique, and the id counter is past them
    /// all (so no id is handed out twice).
    fn check_restored(rx: &Rx) -> Result<()> {
        let mut ids = BTreeSet::new();
        for_each(rx, WOOSH_ACCOUNTS, |name, value| {
            let record: WooshRecord = decode(&value)?;
            if rx.at().get(USERS, &name)?.is_none() {
                return Err(inconsistent(format_args!(
                    "woosh account `{name}` has no user"
                )));
            }
            if !ids.insert(record.id) {
                return Err(inconsistent(format_args!(
                    "woosh id {} is used twice",
                    record.id
                )));
            }
            Ok(())
        })?;
        if let Some(&highest) = ids.last()
            && counter(rx, NEXT_WOOSH_ID)? <= highest
        {
            return Err(inconsistent(format_args!(
                "the woosh id counter is not past id {highest}"
            )));
        }
        Ok(())
    }

    fn reseal(tx: &Tx<'_>, reseal: &mut Resealer<'_>) -> Result<u64> {
        // Woosh accounts are few (one per registration): read them all, then write them back.
        let mut rows = Vec::new();
        tx.at().each(WOOSH_ACCOUNTS, |name, value| {
            rows.push((name, decode::<WooshRecord>(&value)?));
            Ok(())
        })?;
        let mut n_resealed = 0;
        for (name, mut record) in rows {
            let bound = |field| SealedRef::message(0, &name, &name, field);
            record.private_key.0 = reseal(bound(PRIVATE_KEY_FIELD), &record.private_key.0)?;
            record.info.0 = reseal(bound(INFO_FIELD), &record.info.0)?;
            tx.put(WOOSH_ACCOUNTS, &name, &encode(&record)?)?;
            n_resealed += 2;
        }
        Ok(n_resealed)
    }
}
