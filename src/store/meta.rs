//! The `meta` table: schema version, counters that order records, and the registration PIN
//! (as a scrypt hash for the gate and sealed for the password policy's context).

use super::tables::META;
use super::{Rx, Tx};
use crate::error::{Error, Result};

pub const SCHEMA_KEY: &str = "schema_version";
pub const NEXT_SEQ: &str = "next_seq";
pub const NEXT_DELETED: &str = "next_deleted";
pub const NEXT_EVENT: &str = "next_event";
pub const PIN_PHC: &str = "pin_phc";
pub const PIN_SEALED: &str = "pin_sealed";
/// The fingerprint of the key the sealed values were made with, to catch a wrong key file.
pub const KEY_FINGERPRINT: &str = "key_fingerprint";

fn decode_u64(bytes: &[u8]) -> Result<u64> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::corrupt("malformed counter in meta"))?;
    Ok(u64::from_le_bytes(array))
}

fn key(name: &str) -> String {
    name.to_string()
}

pub fn schema_version(tx: &Tx<'_>) -> Result<Option<u64>> {
    let value = tx.at().get(META, &key(SCHEMA_KEY))?;
    value.map(|v| decode_u64(&v)).transpose()
}

/// The schema version of a snapshot; `None` for a file that has no `meta` table yet.
pub fn schema_version_read(rx: &Rx) -> Result<Option<u64>> {
    match rx.at().get(META, &key(SCHEMA_KEY)) {
        Ok(value) => value.map(|v| decode_u64(&v)).transpose(),
        Err(Error::Store(e)) if rx.lacks_table(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The health check's probe, first step: stores a value as large as the largest request body,
/// so its durable commit tells whether the disk has room for any one request (a small write
/// could still fit in pages the file already has while real sends are refused).
pub fn probe_store(tx: &Tx<'_>) -> Result<()> {
    tx.put(META, &key(PROBE_KEY), &vec![0x5a; PROBE_BYTES])
}

/// The probe's second step: removes what the first stored (also run on open, in case a
/// process stopped between the two).
pub fn probe_clear(tx: &Tx<'_>) -> Result<()> {
    tx.remove(META, &key(PROBE_KEY))?;
    Ok(())
}

const PROBE_KEY: &str = "health_probe";
const PROBE_BYTES: usize = 1 << 20;

pub fn set_u64(tx: &Tx<'_>, name: &str, value: u64) -> Result<()> {
    tx.put(META, &key(name), &value.to_le_bytes().to_vec())
}

/// Returns the next number of a counter and advances it (numbers start at 1).
pub fn next(tx: &Tx<'_>, name: &str) -> Result<u64> {
    let current = match tx.at().get(META, &key(name))? {
        Some(v) => decode_u64(&v)?,
        None => 1,
    };
    set_u64(tx, name, current + 1)?;
    Ok(current)
}

/// The key fingerprint the database was sealed with, if recorded.
pub fn key_fingerprint(rx: &Rx) -> Result<Option<String>> {
    Ok(get_bytes(rx, KEY_FINGERPRINT)?.and_then(|b| String::from_utf8(b).ok()))
}

pub fn get_bytes(rx: &Rx, name: &str) -> Result<Option<Vec<u8>>> {
    rx.at().get(META, &key(name))
}

pub fn set_bytes(tx: &Tx<'_>, name: &str, value: &[u8]) -> Result<()> {
    tx.put(META, &key(name), &value.to_vec())
}

/// The stored PIN: its PHC hash and its sealed form, if a PIN was set.
pub struct StoredPin {
    pub phc: String,
    pub sealed: Vec<u8>,
}

pub fn pin(rx: &Rx) -> Result<Option<StoredPin>> {
    let phc = get_bytes(rx, PIN_PHC)?;
    let sealed = get_bytes(rx, PIN_SEALED)?;
    match (phc, sealed) {
        (Some(phc), Some(sealed)) => Ok(Some(StoredPin {
            phc: String::from_utf8(phc).map_err(|_| Error::corrupt("malformed PIN hash"))?,
            sealed,
        })),
        _ => Ok(None),
    }
}

pub fn set_pin(tx: &Tx<'_>, phc: &str, sealed: &[u8]) -> Result<()> {
    set_bytes(tx, PIN_PHC, phc.as_bytes())?;
    set_bytes(tx, PIN_SEALED, sealed)
}

/// Associated data for the sealed PIN.
pub const PIN_AAD: &[u8] = b"registration-pin\0";
