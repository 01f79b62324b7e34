//! The only module that knows redb: opening the database, its schema version, the group-commit
//! writer, and the typed operations of each table family (users, messages, sessions, events).
//!
//! Every mutation runs inside [`Store::write`], which hands the closure to one writer thread;
//! concurrent writers share a single durable commit (group commit) and each caller returns only
//! after that commit is on disk. Reads run on the caller's thread in their own snapshot.

pub mod counters;
pub mod dump;
pub mod events;
mod handle;
mod kinds;
pub mod messages;
pub mod meta;
mod pg;
pub mod records;
pub mod reseal;
pub mod sessions;
pub mod table;
pub mod tables;
pub mod users;
pub mod woosh;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase};

use crate::error::{Error, Fault, Result, StorageError};
pub use pg::PgUrl;

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
    inner: TxInner<'a>,
}

#[derive(Clone, Copy)]
enum TxInner<'a> {
    Redb(&'a redb::WriteTransaction),
    Pg(&'a pg::Session),
}

/// A read snapshot. In redb it holds the handle it was taken from, so a reopen after a disk
/// fault waits for it to end before closing that handle; in PostgreSQL it holds a connection
/// in a `REPEATABLE READ` transaction, given back when the snapshot ends.
pub struct Rx {
    inner: RxInner,
}

enum RxInner {
    Redb {
        txn: redb::ReadTransaction,
        _db: Option<Arc<Database>>,
    },
    Pg(std::rc::Rc<pg::Session>),
}

impl<'a> Tx<'a> {
    pub(super) fn redb_write(txn: &'a redb::WriteTransaction) -> Self {
        Tx {
            inner: TxInner::Redb(txn),
        }
    }

    /// The redb transaction, for what only the embedded store has (its old-schema migration).
    fn redb(&self) -> Result<&redb::WriteTransaction> {
        match self.inner {
            TxInner::Redb(txn) => Ok(txn),
            TxInner::Pg(_) => Err(Error::Internal("a redb-only step ran on PostgreSQL".into())),
        }
    }
}

/// Where the data lives: the embedded redb file in a data directory (the default), or a
/// PostgreSQL database shared by any number of servers.
#[derive(Debug, Clone)]
pub enum Location {
    Embedded(PathBuf),
    Postgres(Box<PgUrl>),
}

impl Location {
    /// The embedded file in `data_dir`, or the database `url` names.
    pub fn new(data_dir: &Path, url: Option<&str>) -> Result<Self> {
        match url {
            None => Ok(Location::Embedded(data_dir.to_path_buf())),
            Some(url) => Ok(Location::Postgres(Box::new(PgUrl::parse(url)?))),
        }
    }

    /// What to call it in messages: the file's path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::Embedded(dir) => dir.join(DB_FILE).display().to_string(),
            Location::Postgres(url) => url.shown().to_string(),
        }
    }

    /// Whether there is a database there already (a PostgreSQL one is always "there": its
    /// schema is made on open).
    pub fn exists(&self) -> bool {
        match self {
            Location::Embedded(dir) => dir.join(DB_FILE).exists(),
            Location::Postgres(_) => true,
        }
    }
}

/// An open database with its writer thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    health: Arc<handle::Health>,
    writer: writer::Writer,
    /// A server's share of the fleet lock (PostgreSQL), held while the store is open.
    _fleet: Option<std::sync::Mutex<pg::Lease>>,
}

enum Engine {
    Redb(Arc<handle::Handle>),
    Pg(Arc<pg::Pool>),
}

/// Connections a process keeps to PostgreSQL for reads (the writer and a server's fleet
/// lock have one more each).
const PG_READERS: usize = 16;

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, shared with other processes of
    /// this binary: the server and the admin commands may write while a `dump` reads.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_at(&Location::Embedded(data_dir.to_path_buf()))
    }

    /// Opens the database at `location`, creating its tables and migrating it if needed.
    pub fn open_at(location: &Location) -> Result<Self> {
        Self::open_with(location, false)
    }

    /// Opens the store for a server: on PostgreSQL it also holds a share of the fleet lock,
    /// which `restore` needs whole, for as long as the store is open.
    pub fn open_for_server(location: &Location) -> Result<Self> {
        Self::open_with(location, true)
    }

    fn open_with(location: &Location, server: bool) -> Result<Self> {
        let inner = match location {
            Location::Embedded(dir) => {
                let path = dir.join(DB_FILE);
                let handle = Arc::new(handle::Handle::open(&path)?);
                migrate_redb(handle.db()?.as_ref(), handle.path())?;
                Inner {
                    health: handle.health(),
                    writer: writer::Writer::start(writer::RedbWriter(handle.clone())),
                    engine: Engine::Redb(handle),
                    _fleet: None,
                }
            }
            Location::Postgres(url) => {
                let pool = pg::Pool::open(url, PG_READERS + 2)?;
                migrate_pg(&pool)?;
                let fleet = match server {
                    true => Some(std::sync::Mutex::new(pg::fleet_lock_shared(&pool)?)),
                    false => None,
                };
                let health = Arc::new(handle::Health::default());
                Inner {
                    writer: writer::Writer::start(writer::PgWriter {
                        pool: pool.clone(),
                        health: health.clone(),
                    }),
                    health,
                    engine: Engine::Pg(pool),
                    _fleet: fleet,
                }
            }
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// Runs `work` unless another server of the fleet is running such work now (PostgreSQL: an
    /// advisory lock held on one connection while `work` runs, let go if that connection
    /// dies); `None` when another had the turn. Alone on the embedded store, it always runs.
    pub fn alone<R>(&self, work: impl FnOnce() -> Result<R>) -> Result<Option<R>> {
        let Engine::Pg(pool) = &self.inner.engine else {
            return work().map(Some);
        };
        let Some(_turn) = pg::housekeeping_turn(pool)? else {
            return Ok(None);
        };
        work().map(Some)
    }

    /// Whether this store is shared with other servers (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.inner.engine, Engine::Pg(_))
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
        let rx = match &self.inner.engine {
            Engine::Redb(handle) => {
                let db = handle.db()?;
                Rx {
                    inner: RxInner::Redb {
                        txn: db.begin_read()?,
                        _db: Some(db),
                    },
                }
            }
            Engine::Pg(pool) => match pool.begin(pg::TxMode::Read) {
                Ok(session) => Rx {
                    inner: RxInner::Pg(std::rc::Rc::new(session)),
                },
                // An unreachable database shows in /healthz at once, not only after a write.
                Err(e) => {
                    if e.fault().heals() {
                        self.inner.health.failed(&e);
                    }
                    return Err(e.into());
                }
            },
        };
        work(&rx)
    }

    /// Why storage is failing, or `None` when writes are being stored. While it fails, at most
    /// once a second, a probe write is tried first, so the answer turns healthy again once the
    /// cause is gone even when no member writes anything.
    pub fn fault(&self) -> Option<String> {
        let (mut fault, probe_due) = self.inner.health.fault()?;
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
    _db: Option<ReadOnlyDatabase>,
}

impl Snapshot {
    /// A snapshot of the database at `location` (which must exist).
    pub fn open_at(location: &Location) -> Result<Self> {
        match location {
            Location::Embedded(dir) => Self::open(dir),
            Location::Postgres(url) => {
                let pool = pg::Pool::open(url, 1)?;
                migrate_pg(&pool)?;
                let session = pool.begin(pg::TxMode::Read)?;
                Ok(Snapshot {
                    rx: Rx {
                        inner: RxInner::Pg(std::rc::Rc::new(session)),
                    },
                    _db: None,
                })
            }
        }
    }

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
            migrate_redb(&db, &path)
        };
        let mut db = match open() {
            Err(redb::DatabaseError::RepairAborted) => {
                prepare()?;
                open().map_err(|e| open_error(&path, e))?
            }
            other => other.map_err(|e| open_error(&path, e))?,
        };
        let mut rx = redb_rx(db.begin_read()?);
        if check_version(&rx, &path.display().to_string())? < SCHEMA_VERSION {
            drop(rx);
            drop(db);
            prepare()?;
            db = open().map_err(|e| open_error(&path, e))?;
            rx = redb_rx(db.begin_read()?);
            check_version(&rx, &path.display().to_string())?;
        }
        Ok(Snapshot { rx, _db: Some(db) })
    }

    pub fn rx(&self) -> &Rx {
        &self.rx
    }
}

/// A read snapshot of a redb transaction that holds no handle.
pub(super) fn redb_rx(txn: redb::ReadTransaction) -> Rx {
    Rx {
        inner: RxInner::Redb { txn, _db: None },
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
/// migrates it forward, one step in `tx`; true once it is current (see [`migrate_redb`]).
fn migrate_step(tx: &Tx<'_>, place: &str) -> Result<bool> {
    match meta::schema_version(tx)? {
        None => {
            tx.create_all_tables()?;
            meta::set_u64(tx, meta::SCHEMA_KEY, SCHEMA_VERSION)?;
            Ok(true)
        }
        Some(version) if version > SCHEMA_VERSION => Err(newer_schema(place, version)),
        Some(1) => {
            // Every table of this version is created here, so the last step of the move
            // stamps this version at once.
            tx.create_all_tables()?;
            let finished = tx.messages_v1_to_v2(MIGRATION_STEP)?;
            if finished {
                meta::set_u64(tx, meta::SCHEMA_KEY, SCHEMA_VERSION)?;
            }
            Ok(finished)
        }
        Some(2) => {
            // 2 -> 3 only adds a table.
            tx.create_all_tables()?;
            meta::set_u64(tx, meta::SCHEMA_KEY, SCHEMA_VERSION)?;
            Ok(true)
        }
        Some(_) => {
            tx.create_all_tables()?;
            meta::probe_clear(tx)?;
            Ok(true)
        }
    }
}

/// Brings a redb file to the current schema.
///
/// A migration moves rows in steps of bounded size, each its own durable commit, and stamps the
/// new version in the commit of its last step. A crash between steps leaves a file of the old
/// version whose rows are partly moved; the next open (by any process) goes on from there, and
/// processes that open it at the same time share the remaining steps.
pub(super) fn migrate_redb(db: &Database, path: &Path) -> Result<()> {
    let place = path.display().to_string();
    loop {
        let txn = db.begin_write()?;
        let finished = migrate_step(
            &Tx {
                inner: TxInner::Redb(&txn),
            },
            &place,
        )?;
        txn.commit()?;
        if finished {
            return Ok(());
        }
    }
}

/// Brings a PostgreSQL database to the current schema: its tables made if missing, then the
/// version checked (a newer one refused) and stamped, in one transaction under the open lock.
/// PostgreSQL databases start at version 2, so no step there moves rows.
pub(in crate::store) fn migrate_pg(pool: &Arc<pg::Pool>) -> Result<()> {
    let session = pg::ensure_schema(pool, &all_table_names())?;
    let place = pool.url().shown().to_string();
    let finished = migrate_step(
        &Tx {
            inner: TxInner::Pg(&session),
        },
        &place,
    )?;
    session.commit()?;
    if finished {
        Ok(())
    } else {
        Err(Error::storage(format!(
            "the database {place} has an embedded store's old schema; dump it with an older binary"
        )))
    }
}

/// Every table: the stored kinds' and the counters.
pub(in crate::store) fn all_table_names() -> Vec<&'static str> {
    let mut names = kinds::TABLE_NAMES.to_vec();
    names.push(tables::COUNTERS.name);
    names
}

/// Messages moved per commit while migrating (bounds the memory of one step).
const MIGRATION_STEP: usize = 10_000;

/// The schema version of a snapshot (0 for a file with none), refusing a newer one.
fn check_version(rx: &Rx, place: &str) -> Result<u64> {
    match meta::schema_version_read(rx)? {
        Some(version) if version > SCHEMA_VERSION => Err(newer_schema(place, version)),
        version => Ok(version.unwrap_or(0)),
    }
}

fn newer_schema(place: &str, version: u64) -> Error {
    Error::storage(format!(
        "the database {place} has schema version {version}, newer than this binary understands ({SCHEMA_VERSION}); use a newer messages binary"
    ))
}

impl Tx<'_> {
    /// Creates every table so read transactions never meet a missing one.
    fn create_all_tables(&self) -> Result<()> {
        kinds::create_tables(self)?;
        self.create(tables::COUNTERS)
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
