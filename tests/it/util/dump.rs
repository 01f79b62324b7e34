//! Helpers for the tests of demo data and dumps: `demo` data in a data directory, dumps taken
//! with the binary's own `dump` and compared record by record, `restore` and `verify` run as an
//! operator would (`verify` in a scratch temp directory that must be left empty), dumps crafted
//! from a real one with their checksum made to match, and a fingerprint of a directory to show
//! that a refused restore changed nothing.
//!
//! The dump format is read here only as text (lines, kinds, ids); nothing here links to the
//! crate under test (a PostgreSQL run digests the directory's database with SQL).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::{files_under, messages, run, stderr, stdout};

/// Creates demo data in `dir` and returns the printed passwords.
pub fn demo(dir: &Path) -> Vec<String> {
    let output = run(dir, &["demo"], b"");
    assert!(output.status.success(), "demo failed: {}", stderr(&output));
    stdout(&output)
        .lines()
        .filter_map(|line| {
            line.split_whitespace()
                .nth(1)
                .filter(|p| p.len() >= 20)
                .map(str::to_string)
        })
        .collect()
}

pub fn dump_to(dir: &Path, file: &Path) {
    let output = run(dir, &["dump", "--output", file.to_str().unwrap()], b"");
    assert!(output.status.success(), "dump failed: {}", stderr(&output));
}

/// The dump's lines without its header (which holds the time it was made) and without the
/// trailer's checksum (which covers the header, so it differs whenever two dumps are taken in
/// different seconds); the trailer's counts stay.
pub fn records(file: &Path) -> Vec<String> {
    records_of(&fs::read_to_string(file).unwrap())
}

pub fn records_of(dump: &str) -> Vec<String> {
    dump.lines()
        .skip(1)
        .map(|line| {
            line.split(",\"sha256\":")
                .next()
                .unwrap_or(line)
                .to_string()
        })
        .collect()
}

/// Runs `restore` of `dump` into `target` with the key file `key`.
pub fn restore_with_key(target: &Path, dump: &Path, key: &Path, force: bool) -> Output {
    let mut args = vec![
        "restore",
        "--input",
        dump.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ];
    if force {
        args.push("--force");
    }
    run(target, &args, b"")
}

/// Runs `messages verify` on `dump` with its temp directory set to an empty `DIR/tmp`, and
/// checks that the scratch database it builds there is gone afterwards, whatever the outcome.
pub fn verify_in_scratch(dir: &Path, dump: &Path) -> Output {
    let tmp = dir.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let output = messages(dir)
        .env("TMPDIR", &tmp)
        .args(["verify", dump.to_str().unwrap()])
        .output()
        .unwrap();
    let left: Vec<_> = fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "verify left {left:?} behind");
    output
}

/// Writes `lines` and `trailer` as `DIR/crafted.dump` with its checksum made to match, and
/// checks that `restore` (into `DIR/target`, with `key`) and `verify` both refuse it with a
/// message containing `expected`, and that no database was left in the target. Returns it.
pub fn assert_crafted_dump_refused(
    dir: &Path,
    key: &Path,
    lines: &[String],
    trailer: &str,
    expected: &str,
) -> PathBuf {
    let crafted = dir.join("crafted.dump");
    fs::write(&crafted, with_trailer(lines, trailer)).unwrap();
    let target = dir.join("target");
    let output = restore_with_key(&target, &crafted, key, false);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    assert!(!target.join("messages.redb").exists());
    // `verify` refuses it too, as `restore` would, without a data directory.
    let output = verify_in_scratch(dir, &crafted);
    assert_eq!(output.status.code(), Some(1), "verify accepted it");
    assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    target
}

/// Demo data in `DIR/source` and its dump `DIR/demo.dump`, also split into its lines (header and
/// records) and its trailer line, for tests that craft a dump from a real one.
pub struct DemoDump {
    pub source: PathBuf,
    pub file: PathBuf,
    pub lines: Vec<String>,
    pub trailer: String,
}

pub fn demo_dump(dir: &Path) -> DemoDump {
    let source = dir.join("source");
    demo(&source);
    let file = dir.join("demo.dump");
    dump_to(&source, &file);
    let text = fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let trailer = lines.pop().unwrap();
    DemoDump {
        source,
        file,
        lines,
        trailer,
    }
}

/// The index of the first dump line of `kind`.
pub fn first_of_kind(lines: &[String], kind: &str) -> usize {
    let start = format!("{{\"kind\":\"{kind}\"");
    lines.iter().position(|l| l.starts_with(&start)).unwrap()
}

/// Replaces the first `id` of a dump line with 32 times `digit`.
pub fn set_id(line: &mut String, digit: char) {
    let start = line.find("\"id\":\"").unwrap() + 6;
    line.replace_range(start..start + 32, &digit.to_string().repeat(32));
}

/// A dump of `lines` (header and records) ending in `trailer` with its checksum made to match,
/// as someone who knows the format would do after changing a line.
pub fn with_trailer(lines: &[String], trailer: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut dump = lines.join("\n");
    dump.push('\n');
    let digest = hex::encode(Sha256::digest(dump.as_bytes()));
    let old = trailer.split("\"sha256\":\"").nth(1).unwrap()[..64].to_string();
    dump.push_str(&trailer.replace(&old, &digest));
    dump.push('\n');
    dump
}

/// Asserts two dumps hold the same records, showing the first difference.
pub fn assert_same_records(a: &[String], b: &[String]) {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert_eq!(x, y, "dumps differ at record {i}");
    }
    assert_eq!(a.len(), b.len(), "dumps have different numbers of records");
}

/// Every file of a directory with a hash of its bytes, to show that a refused restore
/// changed nothing.
/// The empty `lock` file that commands create to exclude each other is left out.
/// On PostgreSQL, the directory's database is part of it: a digest of all its rows.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    use sha2::{Digest, Sha256};
    let mut files: Vec<(PathBuf, String)> = files_under(dir)
        .into_iter()
        .filter(|p| !p.ends_with("lock"))
        .map(|p| {
            (
                p.clone(),
                hex::encode(Sha256::digest(fs::read(&p).unwrap())),
            )
        })
        .collect();
    if super::backend::is_postgres() {
        files.push((
            PathBuf::from("(its PostgreSQL database)"),
            super::backend::digest(dir),
        ));
    }
    files
}
