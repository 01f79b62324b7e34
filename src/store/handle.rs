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
//! The handle also remembers the fault while it lasts, for `/healthz`. Nothing here knows
//! about requests; only `store` uses this module.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redb::{ConcurrencyMode, Database};

use super::{CACHE_BYTES, open_error};
use crate::error::{Error, Result};

/// How long a reopen waits for readers still holding the old handle.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// How often, at most, a health check tries a probe write while storage is failing.
pub(super) const PROBE_INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct Handle {
    path: PathBuf,
    db: RwLock<Option<Arc<Database>>>,
    fault: Mutex<Option<Fault>>,
}

struct Fault {
    reason: String,
    last_probe: Option<Instant>,
}

impl Handle {
    /// Opens the database shared with other processes of this binary.
    pub(super) fn open(path: &Path) -> Result<Self> {
        let db = open_shared(path)?;
        Ok(Handle {
            path: path.to_path_buf(),
            db: RwLock::new(Some(Arc::new(db))),
            fault: Mutex::new(None),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The current database, reopening it first if an earlier reopen could not finish.
    pub(super) fn db(&self) -> Result<Arc<Database>> {
        if let Some(db) = self.db.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(db.clone());
        }
        self.reopen()?;
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::Unavailable("the database is closed".into()))
    }

    /// Closes the current handle and opens the file again. Readers that arrive meanwhile wait
    /// on the lock; readers that hold the old handle are given a moment to finish with it.
    pub(super) fn reopen(&self) -> Result<()> {
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.take() {
            let deadline = Instant::now() + DRAIN_WAIT;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        let db = open_shared(&self.path).map_err(|e| match e {
            Error::Storage(detail) | Error::Unavailable(detail) => Error::Unavailable(detail),
            other => other,
        })?;
        *slot = Some(Arc::new(db));
        Ok(())
    }

    /// Records that storage is failing, with the reason `/healthz` shows.
    pub(super) fn failed(&self, reason: &str) {
        let mut fault = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        match fault.as_mut() {
            Some(f) => f.reason = reason.to_string(),
            None => {
                tracing::error!("storage is failing: {reason}");
                *fault = Some(Fault {
                    reason: reason.to_string(),
                    last_probe: None,
                });
            }
        }
    }

    /// Records that a commit went through: storage works again.
    pub(super) fn succeeded(&self) {
        let mut fault = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        if fault.take().is_some() {
            tracing::warn!("storage works again");
        }
    }

    /// The reason storage is failing, if it is, in words fit for `/healthz` (no path, no
    /// detail beyond the kind of fault); and whether a probe write is due now.
    pub(super) fn fault(&self) -> Option<(&'static str, bool)> {
        let mut fault = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        let f = fault.as_mut()?;
        let due = f.last_probe.is_none_or(|t| t.elapsed() >= PROBE_INTERVAL);
        if due {
            f.last_probe = Some(Instant::now());
        }
        Some((public_reason(&f.reason), due))
    }
}

/// What kind of storage fault a detail describes, for anyone who asks.
pub(super) fn public_reason(detail: &str) -> &'static str {
    if detail.contains("No space left") || detail.contains("os error 28") {
        "the disk is full"
    } else if detail.contains("Disk quota") || detail.contains("os error 122") {
        "the disk quota is exhausted"
    } else {
        "the disk or database reported an error"
    }
}

fn open_shared(path: &Path) -> Result<Database> {
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .create(path)
        .map_err(|e| open_error(path, e))
}
