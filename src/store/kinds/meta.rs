//! The `meta` kind: the schema version, the counters and the PIN, as raw bytes under their key.
//!
//! The meaning of each key is `store::meta`'s; this file only moves the rows, stamps a restored
//! file with this binary's schema version, reads the counters other kinds' rules check against,
//! and re-seals the sealed PIN. It must not write any other key.

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
                key,
                value: Sealed(value),
            })
        })
    }

    /// A key is a name of ours: never empty, never holding a NUL (which ends a key's bytes in
    /// PostgreSQL, see `store::table`).
    fn check(row: &MetaRow) -> std::result::Result<(), String> {
        if row.key.is_empty() || row.key.contains('\0') {
            return Err(format!("invalid meta key `{}`", row.key.escape_debug()));
        }
        Ok(())
    }

    fn restore(tx: &Tx<'_>, rows: Vec<MetaRow>) -> Result<()> {
        for MetaRow { key, value } in rows {
            // A dump lists rows, not pages: whatever schema wrote it, they are stored in this
            // binary's tables, so the file gets this binary's schema version.
            let value = if key == SCHEMA_KEY {
                SCHEMA_VERSION.to_le_bytes().to_vec()
            } else {
                value.0
            };
            tx.put(META, &key, &value)?;
        }
        Ok(())
    }

    fn check_restored(rx: &Rx) -> Result<()> {
        match rx.at().get(META, &SCHEMA_KEY.to_string())? {
            Some(v) if v == SCHEMA_VERSION.to_le_bytes() => Ok(()),
            _ => Err(inconsistent(
                "its schema version record is missing or wrong",
            )),
        }
    }

    fn reseal(tx: &Tx<'_>, reseal: &mut Resealer<'_>) -> Result<u64> {
        let Some(pin) = tx.at().get(META, &PIN_SEALED.to_string())? else {
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
        .at()
        .get(META, &key.to_string())?
        .and_then(|v| v.as_slice().try_into().ok().map(u64::from_le_bytes))
        .unwrap_or(1))
}
