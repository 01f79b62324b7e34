//! Data and disk for the benchmark: generated users and messages written through the
//! application's own store code (`App::demo`), the data directory's fsync rate, and the timed
//! dump and restore of the `messages` binary.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use messages::app::Settings;

use super::server::run_measured;

/// Creates the demo users (alice, bob, carol) and `n_messages` generated messages among them
/// (each user receives a third); returns (username, password) pairs and the seconds it took.
/// `database` (a PostgreSQL URL) holds the data instead of the embedded file when given.
pub fn load(
    data_dir: &Path,
    n_messages: u64,
    database: Option<&str>,
) -> anyhow::Result<(Vec<(String, String)>, f64)> {
    std::fs::create_dir_all(data_dir)?;
    let started = Instant::now();
    // scrypt 2^15 for the demo users: the benchmark never times a password check.
    let app = messages::commands::open_app(
        &messages::commands::Data::new(data_dir, database)?,
        15,
        Settings::default(),
        true,
    )?;
    let show = std::io::IsTerminal::is_terminal(&std::io::stderr()) && n_messages >= 100_000;
    let users = app.demo(n_messages, &mut |n| {
        if show {
            eprint!("\r  generated {n} messages");
        }
    })?;
    if show {
        eprintln!();
    }
    drop(app);
    Ok((users, started.elapsed().as_secs_f64()))
}

/// Durable small writes per second on the filesystem of `dir`: write 4 KiB at the start of a
/// file and `fdatasync` it, for up to `duration` or `max_syncs` times.
pub fn fsync_rate(dir: &Path, duration: Duration, max_syncs: u32) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let block = [0x5au8; 4096];
    let started = Instant::now();
    let mut n_syncs = 0u32;
    while n_syncs < max_syncs && started.elapsed() < duration {
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
        file.write_all(&block)?;
        file.sync_data()?;
        n_syncs += 1;
    }
    let rate = f64::from(n_syncs) / started.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

pub struct DumpRestore {
    pub n_messages: u64,
    pub dump_seconds: f64,
    pub dump_peak_kb: u64,
    pub dump_bytes: u64,
    pub restore_seconds: f64,
    pub restore_peak_kb: u64,
}

/// `messages dump` of `data_dir`, then `messages restore` of that dump into a new directory.
pub fn dump_and_restore(
    binary: &Path,
    data_dir: &Path,
    work_dir: &Path,
    n_messages: u64,
) -> anyhow::Result<DumpRestore> {
    let dump_file = work_dir.join("bench.dump");
    let mut dump = Command::new(binary);
    dump.arg("dump")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--output")
        .arg(&dump_file);
    let (dump_seconds, dump_peak_kb) = run_measured(dump)?;
    let dump_bytes = std::fs::metadata(&dump_file)?.len();

    let restored = work_dir.join("restored");
    let mut restore = Command::new(binary);
    restore
        .arg("restore")
        .arg("--data-dir")
        .arg(&restored)
        .arg("--input")
        .arg(&dump_file)
        .arg("--key-file")
        .arg(messages::commands::key_path(data_dir));
    let (restore_seconds, restore_peak_kb) = run_measured(restore)?;
    let _ = std::fs::remove_file(&dump_file);
    let _ = std::fs::remove_dir_all(&restored);
    Ok(DumpRestore {
        n_messages,
        dump_seconds,
        dump_peak_kb,
        dump_bytes,
        restore_seconds,
        restore_peak_kb,
    })
}

/// Sends per second through the application and its store alone (no HTTP), from `threads`
/// threads for `duration`, into a fresh data directory under `work_dir`. With one thread every
/// send pays its own commit (the rate before group commit); with many, sends share commits,
/// and the rate is the ceiling the storage leaves for the HTTP send scenarios.
pub fn store_send_rate(work_dir: &Path, threads: usize, duration: Duration) -> anyhow::Result<f64> {
    eprintln!("  store sends, {threads} threads");
    let data_dir = work_dir.join(format!("store-sends-{threads}"));
    let (users, _) = load(&data_dir, 0, None)?;
    let app = messages::commands::open_app(
        &messages::commands::Data::new(&data_dir, None)?,
        15,
        Settings::default(),
        false,
    )?;
    let from = messages::model::Username::parse(&users[0].0)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let to = users[1].0.clone();
    let started = Instant::now();
    let n_sent = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (app, from, to) = (&app, &from, &to);
                scope.spawn(move || {
                    let mut n = 0u64;
                    while started.elapsed() < duration {
                        let title = format!("store send {t}-{n}");
                        if app
                            .send(from, to, &title, "A message sent by the benchmark.")
                            .is_err()
                        {
                            break;
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(0))
            .sum::<u64>()
    });
    let rate = n_sent as f64 / started.elapsed().as_secs_f64();
    drop(app);
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(rate)
}
