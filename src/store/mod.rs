//! The only module that knows redb: opening the database, its schema version, the group-commit
//! writer, and the typed operations of each table family (users, messages, sessions, events).
//!
//! Every mutation runs inside [`Store::write`], which hands the closure to one writer thread;
//! concurrent writers share a single durable commit (group commit) and each caller returns only
//! after that commit is on disk. Reads run on the caller's thread in their own snapshot.

pub mod dump;
pub mod events;
mod handle;
mod kinds;
pub mod messages;
pub mod meta;
pub mod records;
pub mod reseal;
pub mod sessions;
pub mod tables;
pub mod users;
pub mod woosh;
mod writer;

use std::path::Path;
use std::sync::Arc;

use redb::{ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase};

use crate::error::{Error, Fault, Result, StorageError};

/// The schema this binary writes; older ones are migrated forward on open.
///
/// 1: messages and bodies keyed by their random id.
/// 2: messages and bodies keyed by seq, with an id -> seq index (`tables::MESSAGE_IDS`).
/// 3: the woosh protocol's accounts (`tables::WOOSH_ACCOUNTS`). A binary of version 2 must
///    refuse such a file: it would dump woosh accounts without their rows, and a restore of
///    that dump would turn them into web accounts whose password no policy ever judged.
pub const SCHEMA_VERSION: u64 = 3;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "messages.redb";

/// Page cache for the server and the admin commands; small enough to keep RSS bounded.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(error: $t) -> Self {
                classify(redb::Error::from(error))
            }
        }
        impl From<$t> for Error {
            fn from(error: $t) -> Self {
                Error::Store(classify(redb::Error::from(error)))
            }
        }
    )*};
}
storage_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::Error
);

/// What kind of fault a redb error is, the redb error kept as its cause. A fault of the disk
/// (full, an I/O error, a handle spoiled by one) or a closed handle heals, so the caller is
/// told to come back; everything else is a bug or a corrupt file.
fn classify(error: redb::Error) -> StorageError {
    let fault = match &error {
        redb::Error::Io(io) => io_fault(io),
        redb::Error::PreviousIo => Fault::Io,
        redb::Error::DatabaseClosed => Fault::Closed,
        redb::Error::Corrupted(_) => Fault::Corrupt,
        _ => Fault::Other,
    };
    StorageError::new(fault, "").caused_by(error)
}

/// Tells a full disk or quota from other I/O errors by the error's kind, which std decodes
/// from ENOSPC and EDQUOT on every Unix (their raw numbers differ between systems).
pub(super) fn io_fault(error: &std::io::Error) -> Fault {
    match error.kind() {
        std::io::ErrorKind::StorageFull => Fault::DiskFull,
        std::io::ErrorKind::QuotaExceeded => Fault::QuotaExceeded,
        _ => Fault::Io,
    }
}

/// A write transaction as the rest of the application sees it.
///
/// Its transaction is private to `store`: outside it, tables are reached only through the
/// typed operations of `users`, `messages`, `sessions`, `events` and `meta`.
pub struct Tx<'a> {
    txn: &'a redb::WriteTransaction,
}

/// A read snapshot. It holds the handle it was taken from, so a reopen after a disk fault
/// waits for it to end before closing that handle.
pub struct Rx {
    txn: redb::ReadTransaction,
    _db: Option<Arc<Database>>,
}

/// An open database with its writer thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Arc<handle::Handle>,
    writer: writer::Writer,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, shared with other processes of
    /// this binary: the server and the admin commands may write while a `dump` reads.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(DB_FILE);
        let handle = Arc::new(handle::Handle::open(&path)?);
        migrate(handle.db()?.as_ref(), handle.path())?;
        let writer = writer::Writer::start(handle.clone());
        Ok(Store {
            inner: Arc::new(Inner { handle, writer }),
        })
    }

    /// Runs `work` in a write transaction and returns once its commit is durable.
    ///
    /// A change is all or nothing: if `work` returns `Err` or panics, none of its writes are
    /// kept, while the other changes that shared its batch still commit (the writer rolls the
    /// batch back and runs it again without the failed change, which is why `work` is `Fn`).
    /// So `work` must be a function of what it reads inside the transaction and of what it
    /// captured, and have no effect outside it.
    pub fn write<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<R> + Send + 'static,
    {
        self.inner.writer.submit(work)
    }

    /// Runs `work` in a fresh read snapshot.
    pub fn read<R>(&self, work: impl FnOnce(&Rx) -> Result<R>) -> Result<R> {
        let db = self.inner.handle.db()?;
        let rx = Rx {
            txn: db.begin_read()?,
            _db: Some(db),
        };
        work(&rx)
    }

    /// Why storage is failing, or `None` when writes are being stored. While it fails, at most
    /// once a second, a probe write is tried first, so the answer turns healthy again once the
    /// cause is gone even when no member writes anything.
    pub fn fault(&self) -> Option<String> {
        let (mut fault, probe_due) = self.inner.handle.fault()?;
        if probe_due {
            match self
                .write(meta::probe_store)
                .and_then(|()| self.write(meta::probe_clear))
            {
                Ok(()) => return None,
                Err(Error::Store(e)) if e.fault().heals() => fault = e.fault(),
                Err(_) => {}
            }
        }
        Some(fault.public_reason().to_string())
    }
}

/// A read-only view of a database another process may be writing (for `dump`).
pub struct Snapshot {
    rx: Rx,
    _db: ReadOnlyDatabase,
}

impl Snapshot {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(Error::storage(format!("no database at {}", path.display())));
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
            _db: None,
        };
        if check_version(&rx, &path)? < SCHEMA_VERSION {
            drop(rx);
            drop(db);
            prepare()?;
            db = open().map_err(|e| open_error(&path, e))?;
            rx = Rx {
                txn: db.begin_read()?,
                _db: None,
            };
            check_version(&rx, &path)?;
        }
        Ok(Snapshot { rx, _db: db })
    }

    pub fn rx(&self) -> &Rx {
        &self.rx
    }
}

fn open_error(path: &Path, error: redb::DatabaseError) -> StorageError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StorageError::new(
            Fault::Other,
            format!(
                "the database {} is in use by another process",
                path.display()
            ),
        ),
        other => StorageError::from(other)
            .context(format!("cannot open the database {}", path.display())),
    }
}

/// Stamps a new database with the current schema version, or checks an existing one and
/// migrates it forward.
///
/// A migration moves rows in steps of bounded size, each its own durable commit, and stamps the
/// new version in the commit of its last step. A crash between steps leaves a file of the old
/// version whose rows are partly moved; the next open (by any process) goes on from there, and
/// processes that open it at the same time share the remaining steps.
pub(super) fn migrate(db: &Database, path: &Path) -> Result<()> {
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
                    // Every table of this version is created here, so the last step of the
                    // move stamps this version at once.
                    tx.create_all_tables()?;
                    let finished = tx.messages_v1_to_v2(MIGRATION_STEP)?;
                    if finished {
                        meta::set_u64(&tx, meta::SCHEMA_KEY, SCHEMA_VERSION)?;
                    }
                    finished
                }
                Some(2) => {
                    // 2 -> 3 only adds a table.
                    tx.create_all_tables()?;
                    meta::set_u64(&tx, meta::SCHEMA_KEY, SCHEMA_VERSION)?;
                    true
                }
                Some(_) => {
                    tx.create_all_tables()?;
                    meta::probe_clear(&tx)?;
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
    Error::storage(format!(
        "the database {} has schema version {version}, newer than this binary understands ({SCHEMA_VERSION}); use a newer messages binary",
        path.display()
    ))
}

impl Tx<'_> {
    /// Creates every table so read transactions never meet a missing one.
    fn create_all_tables(&self) -> Result<()> {
        kinds::create_tables(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::io;

    fn classified(error: redb::StorageError) -> StorageError {
        StorageError::from(error)
    }

    #[test]
    fn a_full_disk_is_told_by_the_kind_of_its_io_error() {
        // 28 and 122 are ENOSPC and EDQUOT as Linux numbers them, the way redb hands them on.
        let cases = [
            (io::Error::from_raw_os_error(28), Fault::DiskFull),
            (io::Error::from(io::ErrorKind::StorageFull), Fault::DiskFull),
            (io::Error::from_raw_os_error(122), Fault::QuotaExceeded),
            (io::Error::from(io::ErrorKind::PermissionDenied), Fault::Io),
        ];
        for (io, fault) in cases {
            let error = classified(redb::StorageError::Io(io));
            assert_eq!(error.fault(), fault);
            let cause = error.source().and_then(|s| s.downcast_ref::<redb::Error>());
            assert!(
                matches!(cause, Some(redb::Error::Io(_))),
                "the cause is kept"
            );
        }
    }

    #[test]
    fn a_closed_or_spoiled_handle_heals_and_a_corrupt_file_does_not() {
        assert_eq!(
            classified(redb::StorageError::DatabaseClosed).fault(),
            Fault::Closed
        );
        assert_eq!(
            classified(redb::StorageError::PreviousIo).fault(),
            Fault::Io
        );
        let corrupt = classified(redb::StorageError::Corrupted("bad page".into()));
        assert_eq!(corrupt.fault(), Fault::Corrupt);
        assert!(!corrupt.fault().heals());
        assert_eq!(corrupt.to_string(), "DB corrupted: bad page");
    }

    #[test]
    fn an_open_error_says_which_file_and_keeps_the_fault() {
        let io = io::Error::from(io::ErrorKind::StorageFull);
        let error = open_error(
            Path::new("/data/messages.redb"),
            redb::DatabaseError::Storage(redb::StorageError::Io(io)),
        );
        assert_eq!(error.fault(), Fault::DiskFull);
        assert!(
            error
                .to_string()
                .starts_with("cannot open the database /data/messages.redb: I/O error: "),
            "{error}"
        );
    }
}
