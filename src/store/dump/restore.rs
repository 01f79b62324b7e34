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
use crate::store::{PgUrl, Rx, RxInner, Tx, TxInner, meta, pg};

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
    let summary = read_batches(input, expected_fingerprint, progress, |batch, last| {
        let durability = if last {
            Durability::Immediate
        } else {
            Durability::None
        };
        batch.insert(&db, durability)
    })?;
    check_restored(&db)?;
    drop(db);
    Ok(summary)
}

/// Restores a dump into the PostgreSQL database at `url`, replacing what it holds, in one
/// transaction: every table emptied, every row stored, every kind's rule checked, then one
/// commit. A refused dump (or a crash, or a lost connection) leaves the old data as it was.
/// Refuses while any server runs against the database (they hold the fleet lock), and, unless
/// `force`, when the database already holds data.
pub fn restore_into_pg(
    url: &PgUrl,
    input: impl BufRead,
    expected_fingerprint: Option<&str>,
    force: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary> {
    let pool = pg::Pool::open(url, 1)?;
    crate::store::migrate_pg(&pool)?;
    let session = std::rc::Rc::new(pool.begin(pg::TxMode::Write)?);
    pg::try_fleet_lock(&session)?;
    let rx = Rx {
        inner: RxInner::Pg(session.clone()),
    };
    if !force && meta::key_fingerprint(&rx)?.is_some() {
        return Err(Error::BadDump(format!(
            "the database {} already holds data; pass --force to replace it (make a dump of it first)",
            url.shown()
        )));
    }
    let tables: Vec<String> = crate::store::all_table_names()
        .iter()
        .map(|t| format!("{}.{t}", pg::SCHEMA))
        .collect();
    session.execute(&format!("TRUNCATE {}", tables.join(", ")))?;
    let tx = Tx {
        inner: TxInner::Pg(&session),
    };
    let summary = read_batches(input, expected_fingerprint, progress, |batch, _| {
        batch.store(&tx)
    })?;
    kinds::check_restored(&rx)?;
    drop(rx);
    let session = std::rc::Rc::try_unwrap(session)
        .map_err(|_| Error::Internal("the restore's transaction is still shared".into()))?;
    session.commit()?;
    Ok(summary)
}

/// Reads and verifies a dump, handing its rows to `store` a batch of [`RESTORE_BATCH`] at a
/// time (`last` is true for the final one, which may be empty) and reporting progress.
fn read_batches(
    input: impl BufRead,
    expected_fingerprint: Option<&str>,
    progress: &mut dyn FnMut(u64),
    mut store: impl FnMut(Batch, bool) -> Result<()>,
) -> Result<Summary> {
    let mut batch = Batch::default();
    let mut n_rows = 0u64;
    let summary = read_dump(
        input,
        |header| check_fingerprint(&header.key_fingerprint, expected_fingerprint),
        |row| {
            batch.push(row);
            if batch.n_rows >= RESTORE_BATCH {
                n_rows += batch.n_rows as u64;
                store(std::mem::take(&mut batch), false)?;
                progress(n_rows);
            }
            Ok(())
        },
    )?;
    store(batch, true)?;
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
        let tx = Tx::redb_write(&txn);
        kinds::create_tables(&tx)?;
        self.store(&tx)?;
        txn.commit()?;
        Ok(())
    }

    /// Stores the batch's runs in `tx`.
    fn store(self, tx: &Tx<'_>) -> Result<()> {
        for run in self.runs {
            run.restore(tx)?;
        }
        Ok(())
    }
}

/// Every kind's rule for the restored file, in one read snapshot of it.
fn check_restored(db: &Database) -> Result<()> {
    kinds::check_restored(&crate::store::redb_rx(db.begin_read()?))
}
