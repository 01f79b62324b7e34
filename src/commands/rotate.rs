//! `messages rotate-key`: re-encrypts every sealed value under a new key, with the server
//! stopped. Order of work, so that a crash at any point loses nothing:
//! 1. the new key is written to `key.new` (0600, fsynced);
//! 2. one write transaction re-seals everything and records the new key's fingerprint;
//! 3. `key` is renamed to `key.old-<time>` (kept as a backup) and `key.new` to `key`.
//!
//! A crash between 2 and 3 is finished at the next open (the recorded fingerprint names
//! `key.new`); a crash before 2 leaves the old key and data as they were.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};

use super::{Data, DirLock, key_path, open_existing};
use crate::crypto::DataKey;
use crate::model::Timestamp;

pub const NEW_KEY_FILE: &str = "key.new";

pub fn run(data: &Data) -> anyhow::Result<()> {
    let data_dir = data.dir.as_path();
    let _lock = DirLock::acquire(data_dir, "stop the server before rotating the key")?;
    let app = open_existing(data)?;
    let pending = data_dir.join(NEW_KEY_FILE);
    if pending.exists() {
        // Left by a rotation that stopped before its commit: the database is still under the
        // current key (open_existing checked), so this file was never used.
        fs::remove_file(&pending)
            .with_context(|| format!("cannot remove the stale {}", pending.display()))?;
    }
    let new_key = Arc::new(DataKey::generate()?);
    new_key.write_new(&pending)?;
    let old_fingerprint = app.key_fingerprint();
    let n = app.rotate_key(new_key.clone())?;
    drop(app);
    let backup = swap_key_files(data_dir)?;
    eprintln!(
        "re-encrypted {n} values: key {old_fingerprint} -> {}; the old key is kept as {} (dumps made before now need it)",
        new_key.fingerprint(),
        backup.display()
    );
    Ok(())
}

/// Moves `key` to `key.old-<time>` and `key.new` to `key`; returns the backup's path.
pub fn swap_key_files(data_dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let current = key_path(data_dir);
    let pending = data_dir.join(NEW_KEY_FILE);
    if !pending.exists() {
        bail!("no {} to install", pending.display());
    }
    let stamp = Timestamp::now().rfc3339().replace(':', "");
    let backup = data_dir.join(format!("key.old-{stamp}"));
    if current.exists() {
        fs::rename(&current, &backup)
            .with_context(|| format!("cannot move the old key to {}", backup.display()))?;
    }
    fs::rename(&pending, &current)
        .with_context(|| format!("cannot install the new key as {}", current.display()))?;
    fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .context("cannot flush the data directory")?;
    Ok(backup)
}
