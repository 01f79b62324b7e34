//! The numbered logs: `deleted` (the deleted-message log, still sealed) and `event` (security
//! events), each keyed by a number its counter in `meta` hands out.
//!
//! Rows only move between these tables and a dump here; writing and purging the logs is
//! `store::messages`'s and `store::events`'s.

use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::meta::counter;
use super::{Kind, for_each, inconsistent};
use crate::error::Result;
use crate::store::meta::{NEXT_DELETED, NEXT_EVENT};
use crate::store::records::{DeletedRecord, EventRecord, Sealed, decode, encode};
use crate::store::reseal::{Resealer, SealedRef, in_steps};
use crate::store::table::{Def, Order};
use crate::store::tables::{DELETED, EVENTS};
use crate::store::{Rx, Tx};

type Numbered = Def<u64, Vec<u8>>;

pub struct Deleted;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Deleted with 2 elements"
)]
pub struct DeletedRow {
    pub number: u64,
    pub record: DeletedRecord,
}

impl Kind for Deleted {
    type Row = DeletedRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(DeletedRow) -> Result<()>) -> Result<()> {
        for_each(rx, DELETED, |number, record| {
            emit(DeletedRow {
                number,
                record: decode(&record)?,
            })
        })
    }

    fn restore(tx: &Tx<'_>, rows: Vec<DeletedRow>) -> Result<()> {
        restore_numbered(tx, DELETED, rows.iter().map(|r| (r.number, &r.record)))
    }

    fn check_restored(rx: &Rx) -> Result<()> {
        check_counter(rx, DELETED, NEXT_DELETED, "deleted-log")
    }

    /// The title and body of each entry, bound as they were in the message; two an entry.
    fn reseal(tx: &Tx<'_>, reseal: &mut Resealer<'_>) -> Result<u64> {
        let mut n_resealed = 0;
        in_steps(
            tx,
            DELETED,
            |bytes| decode::<DeletedRecord>(&bytes),
            |step| {
                for (number, mut record) in step {
                    let id = record.message_id;
                    let bound = |field| SealedRef::message(id, &record.from, &record.to, field);
                    let title = reseal(bound("title"), &record.title.0)?;
                    let body = reseal(bound("body"), &record.body.0)?;
                    (record.title, record.body) = (Sealed(title), Sealed(body));
                    tx.put(DELETED, &number, &encode(&record)?)?;
                    n_resealed += 2;
                }
                Ok(())
            },
        )?;
        Ok(n_resealed)
    }
}

pub struct Event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Event with 2 elements"
)]
pub struct EventRow {
    pub number: u64,
    pub record: EventRecord,
}

impl Kind for Event {
    type Row = EventRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(EventRow) -> Result<()>) -> Result<()> {
        for_each(rx, EVENTS, |number, record| {
            emit(EventRow {
                number,
                record: decode(&record)?,
            })
        })
    }

    fn restore(tx: &Tx<'_>, rows: Vec<EventRow>) -> Result<()> {
        restore_numbered(tx, EVENTS, rows.iter().map(|r| (r.number, &r.record)))
    }

    fn check_restored(rx: &Rx) -> Result<()> {
        check_counter(rx, EVENTS, NEXT_EVENT, "event")
    }
}

fn restore_numbered<'a, R: Serialize + 'a>(
    tx: &Tx<'_>,
    table: Numbered,
    rows: impl Iterator<Item = (u64, &'a R)>,
) -> Result<()> {
    for (number, record) in rows {
        tx.put(table, &number, &encode(record)?)?;
    }
    Ok(())
}

/// The log's counter `key` is past its last number, so the next entry cannot overwrite one.
fn check_counter(rx: &Rx, table: Numbered, key: &str, what: &str) -> Result<()> {
    let last = rx
        .at()
        .range(table, Bound::Unbounded, Bound::Unbounded, Order::Newest, 1)?;
    match last.first() {
        Some((number, _)) if *number >= counter(rx, key)? => Err(inconsistent(format!(
            "the {what} counter is behind its entries"
        ))),
        _ => Ok(()),
    }
}
