//! The open database handle of a process, and how it heals after the disk fails under it.
//!
//! After one failed commit (a full disk, an I/O error) redb refuses every further read and
//! write on that handle ("previous I/O error"): only closing and opening the file again clears
//! it. So the handle lives behind a lock that lets the writer swap it: readers take a clone of
//! the current `Arc<Database>` and let go of the lock at once, and a reopen waits (bounded)
//! for those clones to be dropped, so the old handle is closed before the new one opens.
//! The file on disk is untouched by a failed commit (redb writes the new root only after the
//! pages under it are durable), so reopening loses nothing that was acknowledged.
//!
//! The handle also remembers the kind of fault while it lasts, for `/healthz`. Nothing here
//! knows about requests; only `store` uses this module.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redb::{ConcurrencyMode, Database};

use super::{CACHE_BYTES, open_error};
use crate::error::{Fault, StorageError};

/// How long a reopen waits for readers still holding the old handle.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// How often, at most, a health check tries a probe write while storage is failing.
pub(super) const PROBE_INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct Handle {
    path: PathBuf,
    db: RwLock<Option<Arc<Database>>>,
    health: Arc<Health>,
}

/// Whether storage is failing, and how, for `/healthz` (either store).
#[derive(Default)]
pub(super) struct Health {
    failing: Mutex<Option<Failing>>,
}

/// While storage is failing: the kind of fault, and when a probe write was last tried.
struct Failing {
    fault: Fault,
    last_probe: Option<Instant>,
}

impl Handle {
    /// Opens the database shared with other processes of this binary.
    pub(super) fn open(path: &Path) -> Result<Self, StorageError> {
        let db = open_shared(path)?;
        Ok(Handle {
            path: path.to_path_buf(),
            db: RwLock::new(Some(Arc::new(db))),
            health: Arc::default(),
        })
    }

    pub(super) fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    pub(super) fn health_ref(&self) -> &Health {
        &self.health
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The current database, reopening it first if an earlier reopen could not finish.
    pub(super) fn db(&self) -> Result<Arc<Database>, StorageError> {
        if let Some(db) = self.db.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(db.clone());
        }
        self.reopen()?;
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StorageError::new(Fault::Closed, "the database is closed"))
    }

    /// Closes the current handle and opens the file again. Readers that arrive meanwhile wait
    /// on the lock; readers that hold the old handle are given a moment to finish with it.
    pub(super) fn reopen(&self) -> Result<(), StorageError> {
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.take() {
            let deadline = Instant::now() + DRAIN_WAIT;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        // Whatever keeps the file from opening again, the store is only closed until a later
        // commit or health probe reopens it: a fault that heals, not a broken store.
        let db = open_shared(&self.path).map_err(|e| {
            if e.fault().heals() {
                e
            } else {
                StorageError::new(Fault::Closed, "cannot reopen the database").caused_by(e)
            }
        })?;
        *slot = Some(Arc::new(db));
        Ok(())
    }
}

impl Health {
    /// Records that storage is failing, and how, for `/healthz`.
    pub(super) fn failed(&self, error: &StorageError) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        match failing.as_mut() {
            Some(f) => f.fault = error.fault(),
            None => {
                tracing::error!("storage is failing: {error}");
                *failing = Some(Failing {
                    fault: error.fault(),
                    last_probe: None,
                });
            }
        }
    }

    /// Records that a commit went through: storage works again.
    pub(super) fn succeeded(&self) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if failing.take().is_some() {
            tracing::warn!("storage works again");
        }
    }

    /// The kind of fault storage is failing with, if it is; and whether a probe write is due
    /// now.
    pub(super) fn fault(&self) -> Option<(Fault, bool)> {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let f = failing.as_mut()?;
        let due = f.last_probe.is_none_or(|t| t.elapsed() >= PROBE_INTERVAL);
        if due {
            f.last_probe = Some(Instant::now());
        }
        Some((f.fault, due))
    }
}

fn open_shared(path: &Path) -> Result<Database, StorageError> {
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .create(path)
        .map_err(|e| open_error(path, e))
}
