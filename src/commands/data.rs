//! `dump`, `verify` and `restore`: moving all data in and out of the documented dump format.
//!
//! `dump` reads one snapshot and may run beside a live server. `restore` verifies the whole
//! dump while building a new database file beside the old one, and only then swaps it in with
//! one rename; on any error the old data is left exactly as it was.

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Data, DirLock, ensure_data_dir, key_path, stderr_is_terminal};
use crate::crypto::DataKey;
use crate::model::Timestamp;
use crate::store::dump::{Summary, restore_into, restore_into_pg, write_dump};
use crate::store::{DB_FILE, Location, Snapshot};

fn progress_printer(verb: &'static str) -> impl FnMut(u64) {
    let show = stderr_is_terminal();
    move |n: u64| {
        if show {
            eprint!("\r{verb} {n} records");
        }
    }
}

fn finish_progress() {
    if stderr_is_terminal() {
        eprintln!();
    }
}

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

pub fn dump(data: &Data, output: &Path) -> anyhow::Result<()> {
    let data_dir = data.dir.as_path();
    let key = DataKey::load(&key_path(data_dir))?;
    let snapshot = Snapshot::open_at(&data.location)?;
    let created_at = Timestamp::now().rfc3339();
    let mut progress = progress_printer("dumped");
    let summary = if is_stdio(output) {
        let stdout = std::io::stdout();
        write_dump(
            &snapshot,
            &key.fingerprint(),
            &created_at,
            BufWriter::with_capacity(256 * 1024, stdout.lock()),
            &mut progress,
        )?
    } else {
        // Write beside the target and rename at the end, so a failed dump never looks finished.
        let partial = partial_path(output);
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let written = write_dump(
            &snapshot,
            &key.fingerprint(),
            &created_at,
            BufWriter::with_capacity(256 * 1024, &file),
            &mut progress,
        );
        let summary = match written {
            Ok(summary) => summary,
            Err(e) => {
                let _ = fs::remove_file(&partial);
                return Err(e.into());
            }
        };
        file.sync_all().context("cannot flush the dump to disk")?;
        fs::rename(&partial, output)
            .with_context(|| format!("cannot move the dump to {}", output.display()))?;
        summary
    };
    finish_progress();
    if !is_stdio(output) {
        eprintln!(
            "dump written to {}: {}",
            output.display(),
            describe(&summary)
        );
    }
    Ok(())
}

fn partial_path(output: &Path) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    output.with_file_name(name)
}

fn describe(summary: &Summary) -> String {
    let parts: Vec<String> = summary
        .counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    format!("{} records ({})", summary.n_records(), parts.join(", "))
}

fn open_input(input: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    if is_stdio(input) {
        return Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            std::io::stdin(),
        )));
    }
    let file = fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    Ok(Box::new(BufReader::with_capacity(256 * 1024, file)))
}

/// Checks a dump as `restore` would, without touching any data directory: the format, the
/// counts and the checksum while reading, and the records against each other in a scratch
/// database in the temp directory (`TMPDIR`), which is deleted afterwards.
pub fn verify(input: &Path) -> anyhow::Result<()> {
    let scratch = Scratch::create()?;
    let mut progress = progress_printer("checked");
    let checked = restore_into(scratch.path(), open_input(input)?, None, &mut progress);
    finish_progress();
    let summary = checked?;
    println!(
        "ok: {}; made {} with key {}",
        describe(&summary),
        summary.created_at,
        summary.key_fingerprint
    );
    Ok(())
}

/// An empty file only this user can read, under an unguessable name in the temp directory,
/// removed when dropped (on every path out of `verify`).
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> anyhow::Result<Self> {
        let name = format!(
            "messages-verify-{:032x}.redb",
            crate::crypto::random_u128()?
        );
        let path = std::env::temp_dir().join(name);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create a scratch file {}", path.display()))?;
        Ok(Scratch(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

pub fn restore(
    data: &Data,
    input: &Path,
    force: bool,
    key_file: Option<&Path>,
) -> anyhow::Result<()> {
    let data_dir = data.dir.as_path();
    ensure_data_dir(data_dir)?;
    let _lock = DirLock::acquire(data_dir, "stop the server before restoring")?;
    let db_path = data_dir.join(DB_FILE);
    let embedded = matches!(data.location, Location::Embedded(_));
    if embedded && db_path.exists() && !force {
        bail!(
            "{} already holds a database; pass --force to replace it (make a dump of it first)",
            data_dir.display()
        );
    }
    let own_key_path = key_path(data_dir);
    let key_source = key_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| own_key_path.clone());
    if !key_source.exists() {
        bail!(
            "no key file at {}: restore needs the key the dump was made with; pass it with --key-file",
            key_source.display()
        );
    }
    let key = DataKey::load(&key_source)?;
    if key_file.is_some() && own_key_path.exists() {
        let own = DataKey::load(&own_key_path)?;
        if own.fingerprint() != key.fingerprint() {
            bail!(
                "the data directory already has a different key ({}) than --key-file ({}); move it away first",
                own.fingerprint(),
                key.fingerprint()
            );
        }
    }
    if let Location::Postgres(url) = &data.location {
        let mut progress = progress_printer("restored");
        let restored = restore_into_pg(
            url,
            open_input(input)?,
            Some(&key.fingerprint()),
            force,
            &mut progress,
        );
        finish_progress();
        let summary = restored?;
        if !own_key_path.exists() {
            key.write_new(&own_key_path)?;
        }
        eprintln!("restored {} into {}", describe(&summary), url.shown());
        return Ok(());
    }
    let staging = data_dir.join(format!("{DB_FILE}.restoring"));
    let _ = fs::remove_file(&staging);
    let mut progress = progress_printer("restored");
    let restored = restore_into(
        &staging,
        open_input(input)?,
        Some(&key.fingerprint()),
        &mut progress,
    );
    finish_progress();
    let summary = match restored {
        Ok(summary) => summary,
        Err(e) => {
            let _ = fs::remove_file(&staging);
            return Err(e.into());
        }
    };
    if !own_key_path.exists() {
        key.write_new(&own_key_path)?;
    }
    fs::File::open(&staging)
        .and_then(|f| f.sync_all())
        .context("cannot flush the restored database")?;
    fs::rename(&staging, &db_path).with_context(|| {
        format!(
            "cannot move the restored database into {}",
            db_path.display()
        )
    })?;
    fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .context("cannot flush the data directory")?;
    eprintln!(
        "restored {} into {}",
        describe(&summary),
        data_dir.display()
    );
    Ok(())
}

/// Writes `text` to stdout, ignoring a closed pipe (e.g. `| head`).
pub fn print_lines(lines: impl IntoIterator<Item = String>) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}
