//! The `meta` kind: the schema version, the counters and the PIN, as raw bytes under their key.
//!
//! The meaning of each key is `store::meta`'s; this file only moves the rows, stamps a restored
//! file with this binary's schema version, reads the counters other kinds' rules check against,
//! and re-seals the sealed PIN. It must not write any other key.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::{Kind, for_each, inconsistent};
use crate::error::Result;
use crate::store::meta::{PIN_SEALED, SCHEMA_KEY, set_bytes};
use crate::store::records::Sealed;
use crate::store::reseal::{Resealer, SealedRef};
use crate::store::tables::META;
use crate::store::{Rx, SCHEMA_VERSION, Tx};

pub struct Meta;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "struct variant Line::Meta with 2 elements"
)]
pub struct MetaRow {
    pub key: String,
    /// Raw bytes (only the PIN's are sealed): `Sealed` for their base64 form in a dump.
    pub value: Sealed,
}

impl Kind for Meta {
    type Row = MetaRow;

    fn dump(rx: &Rx, emit: &mut dyn FnMut(MetaRow) -> Result<()>) -> Result<()> {
        for_each(rx, META, |key, value| {
            emit(MetaRow {
                key: key.to_string(),
                value: Sealed(value.to_vec()),
            })
        })
    }

    fn restore(tx: &Tx<'_>, rows: Vec<MetaRow>) -> Result<()> {
        let mut table = tx.txn.open_table(META)?;
        for MetaRow { key, value } in rows {
            // A dump lists rows, not pages: whatever schema wrote it, they are stored in this
            // binary's tables, so the file gets this binary's schema version.
            let value = if key == SCHEMA_KEY {
                SCHEMA_VERSION.to_le_bytes().to_vec()
            } else {
                value.0
            };
            table.insert(key.as_str(), value.as_slice())?;
        }
        Ok(())
    }

    fn check_restored(rx: &Rx) -> Result<()> {
        match rx.txn.open_table(META)?.get(SCHEMA_KEY)? {
            Some(v) if v.value() == SCHEMA_VERSION.to_le_bytes() => Ok(()),
            _ => Err(inconsistent(
                "its schema version record is missing or wrong",
            )),
        }
    }

    fn reseal(tx: &Tx<'_>, reseal: &mut Resealer<'_>) -> Result<u64> {
        let pin = tx
            .txn
            .open_table(META)?
            .get(PIN_SEALED)?
            .map(|v| v.value().to_vec());
        let Some(pin) = pin else {
            return Ok(0);
        };
        set_bytes(tx, PIN_SEALED, &reseal(SealedRef::Pin, &pin)?)?;
        Ok(1)
    }
}

/// The next number of the counter `key` of a restored file; 1 (where counters start) when it
/// is missing or not eight bytes.
pub(super) fn counter(rx: &Rx, key: &str) -> Result<u64> {
    Ok(rx
        .txn
        .open_table(META)?
        .get(key)?
        .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
        .unwrap_or(1))
}
