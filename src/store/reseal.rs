//! Re-encrypting every sealed value (key rotation): message titles and bodies, the
//! deleted-message log, and the sealed PIN, inside the caller's one write transaction.
//!
//! The store does not know the keys; it walks the sealed values and hands each, with what
//! binds it (the associated data's parts), to a closure that opens it with the old key and
//! seals it with the new one.

use redb::ReadableTable;

use super::Tx;
use super::meta;
use super::records::{DeletedRecord, MessageRecord, Sealed, decode, encode};
use super::tables::{BODIES, DELETED, MESSAGES};
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

/// Opens one sealed value with the old key and seals it with the new one.
pub type Resealer<'a> = dyn FnMut(SealedRef<'_>, &[u8]) -> Result<Vec<u8>> + 'a;

/// How many records are read per step while walking a table (bounds the memory of the walk).
const STEP: usize = 1000;

impl Tx<'_> {
    /// Re-seals everything; returns how many values were re-sealed.
    pub fn reseal_all(&self, reseal: &mut Resealer<'_>) -> Result<u64> {
        let mut n_resealed = 0u64;
        let mut after_seq = 0u64;
        loop {
            let batch: Vec<(u64, u128, MessageRecord)> = {
                let table = self.txn.open_table(MESSAGES)?;
                let mut batch = Vec::with_capacity(STEP);
                for entry in table.range(after_seq..)?.take(STEP) {
                    let (key, value) = entry?;
                    let (id, bytes) = value.value();
                    batch.push((key.value(), id, decode(bytes)?));
                }
                batch
            };
            let Some(last) = batch.last().map(|(seq, _, _)| *seq) else {
                break;
            };
            let mut messages = self.txn.open_table(MESSAGES)?;
            let mut bodies = self.txn.open_table(BODIES)?;
            for (seq, id, mut record) in batch {
                let title = reseal(
                    SealedRef::Message {
                        id,
                        from: &record.from,
                        to: &record.to,
                        field: "title",
                    },
                    &record.title.0,
                )?;
                record.title = Sealed(title);
                messages.insert(seq, (id, encode(&record)?.as_slice()))?;
                let body = bodies.get(seq)?.map(|v| v.value().to_vec());
                if let Some(body) = body {
                    let body = reseal(
                        SealedRef::Message {
                            id,
                            from: &record.from,
                            to: &record.to,
                            field: "body",
                        },
                        &body,
                    )?;
                    bodies.insert(seq, body.as_slice())?;
                }
                n_resealed += 2;
            }
            let Some(next) = last.checked_add(1) else {
                break;
            };
            after_seq = next;
        }
        let mut after_number = 0u64;
        loop {
            let batch: Vec<(u64, DeletedRecord)> = {
                let table = self.txn.open_table(DELETED)?;
                let mut batch = Vec::with_capacity(STEP);
                for entry in table.range(after_number..)?.take(STEP) {
                    let (key, value) = entry?;
                    batch.push((key.value(), decode(value.value())?));
                }
                batch
            };
            let Some(last) = batch.last().map(|(n, _)| *n) else {
                break;
            };
            let mut table = self.txn.open_table(DELETED)?;
            for (number, mut record) in batch {
                let id = record.message_id;
                record.title = Sealed(reseal(
                    SealedRef::Message {
                        id,
                        from: &record.from,
                        to: &record.to,
                        field: "title",
                    },
                    &record.title.0,
                )?);
                record.body = Sealed(reseal(
                    SealedRef::Message {
                        id,
                        from: &record.from,
                        to: &record.to,
                        field: "body",
                    },
                    &record.body.0,
                )?);
                table.insert(number, encode(&record)?.as_slice())?;
                n_resealed += 2;
            }
            after_number = last + 1;
        }
        let pin = self
            .txn
            .open_table(super::tables::META)?
            .get(meta::PIN_SEALED)?
            .map(|v| v.value().to_vec());
        if let Some(pin) = pin {
            let resealed = reseal(SealedRef::Pin, &pin)?;
            meta::set_bytes(self, meta::PIN_SEALED, &resealed)?;
            n_resealed += 1;
        }
        Ok(n_resealed)
    }
}
