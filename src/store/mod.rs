//! The only module that knows redb: opening the database, its schema version, the group-commit
//! writer, and the typed operations of each table family (users, messages, sessions, events).
//!
//! Every mutation runs inside [`Store::write`], which hands the closure to one writer thread;
//! concurrent writers share a single durable commit (group commit) and each caller returns only
//! after that commit is on disk. Reads run on the caller's thread in their own snapshot.

pub mod dump;
pub mod events;
pub mod messages;
pub mod meta;
pub mod records;
pub mod reseal;
pub mod sessions;
pub mod tables;
pub mod users;
mod writer;

use std::path::Path;
use std::sync::Arc;

use redb::{ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase};

use crate::error::{Error, Result};

/// The schema this binary writes; older ones are migrated forward on open.
///
/// 1: messages and bodies keyed by their random id.
/// 2: messages and bodies keyed by seq, with an id -> seq index (`tables::MESSAGE_IDS`).
pub const SCHEMA_VERSION: u64 = 2;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "messages.redb";

/// Page cache for the server and the admin commands; small enough to keep RSS bounded.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(error: $t) -> Self {
                Error::Storage(error.to_string())
            }
        }
    )*};
}
storage_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A write transaction as the rest of the application sees it.
pub struct Tx<'a> {
    pub(crate) txn: &'a redb::WriteTransaction,
}

/// A read snapshot.
pub struct Rx {
    pub(crate) txn: redb::ReadTransaction,
}

/// An open database with its writer thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    writer: writer::Writer,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, shared with other processes of
    /// this binary: the server and the admin commands may write while a `dump` reads.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(DB_FILE);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create(&path)
            .map_err(|e| open_error(&path, e))?;
        let db = Arc::new(db);
        migrate(&db, &path)?;
        let writer = writer::Writer::start(db.clone());
        Ok(Store {
            inner: Arc::new(Inner { db, writer }),
        })
    }

    /// Opens a database this process alone writes (restore builds its new file this way).
    pub fn create_exclusive(path: &Path) -> Result<Self> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| open_error(path, e))?;
        let db = Arc::new(db);
        migrate(&db, path)?;
        let writer = writer::Writer::start(db.clone());
        Ok(Store {
            inner: Arc::new(Inner { db, writer }),
        })
    }

    /// Runs `work` in a write transaction and returns once its commit is durable. `work` must
    /// check everything before it changes anything: an `Err` from it is returned to its caller
    /// while the batch it ran in still commits, so a half-done change would be kept.
    pub fn write<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<R> + Send + 'static,
    {
        self.inner.writer.submit(work)
    }

    /// Runs `work` in a fresh read snapshot.
    pub fn read<R>(&self, work: impl FnOnce(&Rx) -> Result<R>) -> Result<R> {
        let rx = Rx {
            txn: self.inner.db.begin_read()?,
        };
        work(&rx)
    }
}

/// A read-only view of a database another process may be writing (for `dump`).
pub struct Snapshot {
    pub(crate) rx: Rx,
    _db: ReadOnlyDatabase,
}

impl Snapshot {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(Error::Storage(format!("no database at {}", path.display())));
        }
        let open = || {
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .set_concurrency_mode(ConcurrencyMode::MultiWriter)
                .open_read_only(&path)
        };
        // What a read-only open cannot do is done by a shared writable open, as the server's
        // next start would do it: repairing a file a process left without closing it (a crash,
        // a kill), or migrating a file of an older schema. Then the snapshot is taken.
        let prepare = || -> Result<()> {
            let db = Database::builder()
                .set_cache_size(CACHE_BYTES)
                .set_concurrency_mode(ConcurrencyMode::MultiWriter)
                .open(&path)
                .map_err(|e| open_error(&path, e))?;
            migrate(&db, &path)
        };
        let mut db = match open() {
            Err(redb::DatabaseError::RepairAborted) => {
                prepare()?;
                open().map_err(|e| open_error(&path, e))?
            }
            other => other.map_err(|e| open_error(&path, e))?,
        };
        let mut rx = Rx {
            txn: db.begin_read()?,
        };
        if check_version(&rx, &path)? < SCHEMA_VERSION {
            drop(rx);
            drop(db);
            prepare()?;
            db = open().map_err(|e| open_error(&path, e))?;
            rx = Rx {
                txn: db.begin_read()?,
            };
            check_version(&rx, &path)?;
        }
        Ok(Snapshot { rx, _db: db })
    }

    pub fn rx(&self) -> &Rx {
        &self.rx
    }
}

fn open_error(path: &Path, error: redb::DatabaseError) -> Error {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::Storage(format!(
            "the database {} is in use by another process",
            path.display()
        )),
        other => Error::Storage(format!(
            "cannot open the database {}: {other}",
            path.display()
        )),
    }
}

/// Stamps a new database with the current schema version, or checks an existing one and
/// migrates it forward.
///
/// A migration moves rows in steps of bounded size, each its own durable commit, and stamps the
/// new version in the commit of its last step. A crash between steps leaves a file of the old
/// version whose rows are partly moved; the next open (by any process) goes on from there, and
/// processes that open it at the same time share the remaining steps.
fn migrate(db: &Database, path: &Path) -> Result<()> {
    loop {
        let txn = db.begin_write()?;
        let finished = {
            let tx = Tx { txn: &txn };
            match meta::schema_version(&tx)? {
                None => {
                    tx.create_all_tables()?;
                    meta::set_u64(&tx, meta::SCHEMA_KEY, SCHEMA_VERSION)?;
                    true
                }
                Some(version) if version > SCHEMA_VERSION => {
                    return Err(newer_schema(path, version));
                }
                Some(1) => {
                    tx.create_all_tables()?;
                    let finished = tx.messages_v1_to_v2(MIGRATION_STEP)?;
                    if finished {
                        meta::set_u64(&tx, meta::SCHEMA_KEY, 2)?;
                    }
                    finished
                }
                Some(_) => {
                    tx.create_all_tables()?;
                    true
                }
            }
        };
        txn.commit()?;
        if finished {
            return Ok(());
        }
    }
}

/// Messages moved per commit while migrating (bounds the memory of one step).
const MIGRATION_STEP: usize = 10_000;

/// The schema version of a snapshot (0 for a file with none), refusing a newer one.
fn check_version(rx: &Rx, path: &Path) -> Result<u64> {
    match meta::schema_version_read(rx)? {
        Some(version) if version > SCHEMA_VERSION => Err(newer_schema(path, version)),
        version => Ok(version.unwrap_or(0)),
    }
}

fn newer_schema(path: &Path, version: u64) -> Error {
    Error::Storage(format!(
        "the database {} has schema version {version}, newer than this binary understands ({SCHEMA_VERSION}); use a newer messages binary",
        path.display()
    ))
}

impl Tx<'_> {
    /// Creates every table so read transactions never meet a missing one.
    fn create_all_tables(&self) -> Result<()> {
        use tables::*;
        self.txn.open_table(META)?;
        self.txn.open_table(USERS)?;
        self.txn.open_table(RETIRED)?;
        self.txn.open_table(PUBLIC_KEYS)?;
        self.txn.open_table(MESSAGES)?;
        self.txn.open_table(BODIES)?;
        self.txn.open_table(MESSAGE_IDS)?;
        self.txn.open_table(INBOX)?;
        self.txn.open_table(SENT)?;
        self.txn.open_table(UNREAD)?;
        self.txn.open_table(DELETED)?;
        self.txn.open_table(SESSIONS)?;
        self.txn.open_table(USER_SESSIONS)?;
        self.txn.open_table(TOKENS)?;
        self.txn.open_table(USER_TOKENS)?;
        self.txn.open_table(EVENTS)?;
        Ok(())
    }
}
