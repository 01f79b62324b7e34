//! Restoring: rows from a verified stream go into a new database file in batches, each kind
//! storing its own rows (`Kind::restore`), then every kind's rule for the new file
//! (`Kind::check_restored`); the caller swaps it in only if all of this succeeds. Nothing here
//! opens the live database: only the new file at `target`.

use std::io::BufRead;
use std::path::Path;

use redb::{Database, Durability, ReadableDatabase};

use super::read::read_dump;
use super::{RESTORE_BATCH, Summary, file_error};
use crate::error::{Error, Result};
use crate::store::kinds::{self, Line, Run};
use crate::store::{Rx, Tx};

/// Restores a dump into a new database file at `target` (which must not exist, or be empty),
/// checking the header's key fingerprint against `expected_fingerprint`, if given, before
/// writing anything. On error the caller deletes `target`.
pub fn restore_into(
    target: &Path,
    input: impl BufRead,
    expected_fingerprint: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary> {
    let db = Database::builder()
        .set_cache_size(16 * 1024 * 1024)
        .create(target)
        .map_err(|e| file_error(format!("cannot create {}", target.display()), e))?;
    let mut batch = Batch::default();
    let mut n_rows = 0u64;
    let summary = read_dump(
        input,
        |header| check_fingerprint(&header.key_fingerprint, expected_fingerprint),
        |row| {
            batch.push(row);
            if batch.n_rows >= RESTORE_BATCH {
                n_rows += batch.n_rows as u64;
                std::mem::take(&mut batch).insert(&db, Durability::None)?;
                progress(n_rows);
            }
            Ok(())
        },
    )?;
    batch.insert(&db, Durability::Immediate)?;
    check_restored(&db)?;
    drop(db);
    Ok(summary)
}

fn check_fingerprint(found: &str, expected: Option<&str>) -> Result<()> {
    match expected {
        Some(expected) if found != expected => Err(Error::BadDump(format!(
            "the dump was made with another key ({found}) than the key file given ({expected}); pass the right one with --key-file"
        ))),
        _ => Ok(()),
    }
}

/// Rows waiting for one restore transaction, as runs of one kind in dump order.
#[derive(Default)]
struct Batch {
    runs: Vec<Run>,
    n_rows: usize,
}

impl Batch {
    fn push(&mut self, row: Line) {
        Run::push_onto(&mut self.runs, row);
        self.n_rows += 1;
    }

    /// Stores the batch in one transaction. Every table is created in each, as a file made
    /// by `Store` has them all, whatever kinds the dump holds.
    fn insert(self, db: &Database, durability: Durability) -> Result<()> {
        let mut txn = db.begin_write()?;
        txn.set_durability(durability).map_err(|e| {
            file_error(
                "cannot set the durability of a restore".into(),
                redb::Error::from(e),
            )
        })?;
        let tx = Tx { txn: &txn };
        kinds::create_tables(&tx)?;
        for run in self.runs {
            run.restore(&tx)?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// Every kind's rule for the restored file, in one read snapshot of it.
fn check_restored(db: &Database) -> Result<()> {
    let rx = Rx {
        txn: db.begin_read()?,
        _db: None,
    };
    kinds::check_restored(&rx)
}
