//! The server under test and the processes the benchmark watches: start the release
//! `messages serve` on 127.0.0.1:0, read its address from the first stdout line, sample its
//! resident memory from /proc while it runs, stop it with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A field of /proc/PID/status in kB (`VmRSS`, `VmHWM`), if the process still exists.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Samples a process's VmRSS every few milliseconds on its own thread; `take_peak` returns the
/// highest value since the last call.
pub struct RssSampler {
    peak_kb: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let peak_kb = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, stopped) = (peak_kb.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                if let Some(kb) = proc_status_kb(pid, "VmRSS") {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssSampler {
            peak_kb,
            stop,
            thread: Some(thread),
        }
    }

    pub fn take_peak_kb(&self) -> u64 {
        self.peak_kb.swap(0, Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The woosh listener's address, when it was started with `--woosh-listen`.
    pub woosh_addr: Option<SocketAddr>,
    pub rss: RssSampler,
    stderr_log: PathBuf,
}

/// What the server's database writer said about group commit when it stopped.
#[derive(Debug, Clone, Copy)]
pub struct WriterStats {
    pub n_changes: u64,
    pub n_commits: u64,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's own high-water mark of resident memory (kB).
    pub fn hwm_kb(&self) -> u64 {
        proc_status_kb(self.child.id(), "VmHWM").unwrap_or(0)
    }

    /// SIGTERM, then wait (SIGKILL after 15 s).
    /// Returns what the database writer said about group commit.
    pub fn stop(mut self) -> anyhow::Result<Option<WriterStats>> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(writer_stats(&self.stderr_log));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("the server did not stop within 15 s of SIGTERM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached on an error path (stop() consumes it normally, after which kill fails).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `database writer: N changes in M commits` from the server's log.
fn writer_stats(log: &Path) -> Option<WriterStats> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("database writer: "))?;
    let rest = &line[line.find("database writer: ")? + "database writer: ".len()..];
    let mut words = rest.split_whitespace();
    let n_changes = words.next()?.parse().ok()?;
    let n_commits = words.nth(2)?.parse().ok()?;
    Some(WriterStats {
        n_changes,
        n_commits,
    })
}

pub struct ServeOptions<'a> {
    pub binary: &'a Path,
    pub data_dir: &'a Path,
    pub pin: &'a str,
    pub threads: Option<usize>,
    pub extra: &'a [String],
    /// A program (and its arguments) to run the server under, e.g. valgrind; empty for none.
    pub under: &'a [String],
}

pub fn start(options: &ServeOptions<'_>) -> anyhow::Result<Server> {
    let log_dir = options.data_dir.join("logs");
    let stderr_log = options.data_dir.join("server-stderr.log");
    let stderr = std::fs::File::create(&stderr_log)?;
    let mut command = match options.under.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(options.binary);
            command
        }
        None => Command::new(options.binary),
    };
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(options.data_dir)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--pin",
            options.pin,
            "--scrypt-log-n",
            "15",
        ])
        .arg("--log-dir")
        .arg(&log_dir)
        .args(options.extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    if let Some(threads) = options.threads {
        command.args(["--threads", &threads.to_string()]);
    }
    let mut child = command
        .spawn()
        .with_context(|| match options.under.first() {
            Some(program) => format!("cannot start {program}"),
            None => format!("cannot start {}", options.binary.display()),
        })?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut first_line = String::new();
    let mut stdout = BufReader::new(stdout);
    stdout.read_line(&mut first_line)?;
    let woosh_addr = if options.extra.iter().any(|a| a == "--woosh-listen") {
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line.trim().strip_prefix("woosh listening on http://");
        Some(
            addr.unwrap_or_default()
                .parse()
                .with_context(|| format!("bad woosh line {line:?}"))?,
        )
    } else {
        None
    };
    let Some(addr) = first_line.trim().strip_prefix("listening on http://") else {
        let _ = child.kill();
        bail!(
            "the server's first line was {first_line:?}, see {}",
            options.data_dir.join("server-stderr.log").display()
        );
    };
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("bad address {addr}"))?;
    let rss = RssSampler::start(child.id());
    Ok(Server {
        child,
        addr,
        woosh_addr,
        rss,
        stderr_log,
    })
}

/// Runs a command to completion, sampling its peak resident memory (VmHWM, read until it
/// exits); returns (seconds, peak kB).
pub fn run_measured(mut command: Command) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut peak = 0u64;
    let status = loop {
        if let Some(kb) = proc_status_kb(pid, "VmHWM") {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        let mut error = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut error);
        }
        bail!("{command:?} failed: {}", error.trim());
    }
    Ok((seconds, peak))
}

/// The release `messages` binary beside this one, built first unless `--binary` was given.
pub fn server_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    let me = std::env::current_exe()?;
    let profile_dir = me.parent().context("the bench binary has no directory")?;
    let target_dir = profile_dir
        .parent()
        .context("the bench binary is not in a target directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building the release server binary (cargo build --release --bin messages)...");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "messages", "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building the server failed");
    }
    Ok(profile_dir.join("messages"))
}
