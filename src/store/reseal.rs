//! Re-encrypting every sealed value (key rotation) inside the caller's one write transaction:
//! each stored kind re-seals its own values (`Kind::reseal`: message titles and bodies, the
//! deleted-message log, the sealed PIN), walking its tables in steps with [`in_steps`].
//!
//! The store does not know the keys; it walks the sealed values and hands each, with what
//! binds it (the associated data's parts), to a closure that opens it with the old key and
//! seals it with the new one. Nothing here writes a value that was not sealed.

use std::ops::Bound;

use super::table::{Column, Def, Order};
use super::{Tx, kinds};
use crate::error::Result;

/// What a sealed value is bound to.
pub enum SealedRef<'a> {
    /// A message's (or a deleted message's) `field` ("title" or "body").
    Message {
        id: u128,
        from: &'a str,
        to: &'a str,
        field: &'static str,
    },
    Pin,
}

impl<'a> SealedRef<'a> {
    pub fn message(id: u128, from: &'a str, to: &'a str, field: &'static str) -> Self {
        SealedRef::Message {
            id,
            from,
            to,
            field,
        }
    }
}

/// Opens one sealed value with the old key and seals it with the new one.
pub type Resealer<'a> = dyn FnMut(SealedRef<'_>, &[u8]) -> Result<Vec<u8>> + 'a;

/// How many records are read per step while walking a table (bounds the memory of the walk).
const STEP: usize = 1000;

impl Tx<'_> {
    /// Re-seals everything; returns how many values were re-sealed.
    pub fn reseal_all(&self, reseal: &mut Resealer<'_>) -> Result<u64> {
        kinds::reseal_all(self, reseal)
    }
}

/// Walks `table` in key order, [`STEP`] entries at a time: each step is read (`read` turns a
/// value into an owned one) and closed before `write` gets it, so `write` may open the table
/// to change the entries it was handed.
pub(super) fn in_steps<V: Column, T>(
    tx: &Tx<'_>,
    table: Def<u64, V>,
    read: impl Fn(V) -> Result<T>,
    mut write: impl FnMut(Vec<(u64, T)>) -> Result<()>,
) -> Result<()> {
    let mut from = 0u64;
    loop {
        let step = tx
            .at()
            .range(
                table,
                Bound::Included(&from),
                Bound::Unbounded,
                Order::Oldest,
                STEP,
            )?
            .into_iter()
            .map(|(key, value)| Ok((key, read(value)?)))
            .collect::<Result<Vec<_>>>()?;
        let Some(last) = step.last().map(|(key, _)| *key) else {
            return Ok(());
        };
        write(step)?;
        let Some(next) = last.checked_add(1) else {
            return Ok(());
        };
        from = next;
    }
}
