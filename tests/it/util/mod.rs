//! Shared test helpers: start the real `messages` binary on port 0 with a temporary data
//! directory, read the address it announces, run its other commands, and stop it; search files
//! for bytes; wait, bounded, for a condition. The submodules hold the rest, one definition of
//! each helper for every test module: `client` (raw HTTP/1.1), `api` (the JSON API as a
//! program uses it), `web` (a browser's cookie jar and forms), `dump` (demo data, dumps and
//! crafted dumps), `tls` (a self-signed certificate and a client that trusts it) and
//! `webdriver` (a real Chromium).

#![allow(dead_code)]

pub mod api;
pub mod backend;
pub mod client;
pub mod dump;
pub mod tls;
pub mod web;
pub mod webdriver;
pub mod woosh;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The PIN every test server is started with.
pub const PIN: &str = "246810";

/// The path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_messages")
}

/// A command of the binary on `data_dir`.
pub fn messages(data_dir: &Path) -> Command {
    let mut command = Command::new(binary());
    command.arg("--data-dir").arg(data_dir);
    command
        .env_remove("MESSAGES_PIN")
        .env_remove("MESSAGES_LISTEN")
        .env_remove("MESSAGES_DATA_DIR");
    backend::apply(&mut command, data_dir);
    command
}

/// Runs a command to completion with `stdin` as its input.
pub fn run(data_dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = messages(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting messages");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().expect("waiting for messages")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    /// `https://` or `http://` and the address.
    pub base: String,
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    child: Child,
    output: Arc<Mutex<String>>,
}

/// The flags every test server gets unless a test overrides them: the PIN and the cheapest
/// scrypt cost the product allows, so tests that register many users stay quick.
pub fn default_args() -> Vec<String> {
    ["--pin", PIN, "--scrypt-log-n", "15"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

impl Server {
    /// Starts a server on a fresh data directory with the default test flags.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts a server on a fresh data directory with the default flags plus `extra`.
    pub fn start_with(extra: &[&str]) -> Server {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("data");
        let mut server = Self::start_in(&dir, extra);
        server._temp = Some(temp);
        server
    }

    /// Starts a server on `dir` (kept after the server stops).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> = Vec::new();
        for pair in default_args().chunks(2) {
            if !extra.contains(&pair[0].as_str()) {
                args.extend(pair.iter().cloned());
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::launch(dir, &args, 0).0
    }

    /// Starts a server with no PIN on a fresh data directory, so it generates one; returns
    /// the PIN it announced.
    pub fn start_with_generated_pin() -> (Server, String) {
        let temp = tempfile::tempdir().expect("temp dir");
        let args = ["--scrypt-log-n".to_string(), "15".to_string()];
        let (mut server, lines) = Self::launch(&temp.path().join("data"), &args, 1);
        server._temp = Some(temp);
        let pin = lines[0]
            .strip_prefix("registration PIN: ")
            .unwrap_or_else(|| panic!("no PIN announced: {:?}", lines[0]))
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        (server, pin)
    }

    /// Starts a server with the woosh listener on port 0 too (default flags plus `extra`);
    /// returns it and the woosh address it announced on its second line.
    pub fn start_woosh(extra: &[&str]) -> (Server, SocketAddr) {
        let temp = tempfile::tempdir().expect("temp dir");
        let (mut server, woosh) = Self::start_woosh_in(&temp.path().join("data"), extra);
        server._temp = Some(temp);
        (server, woosh)
    }

    /// [`Server::start_woosh`] on `dir` (kept after the server stops).
    pub fn start_woosh_in(dir: &Path, extra: &[&str]) -> (Server, SocketAddr) {
        let mut args: Vec<String> = Vec::new();
        for pair in default_args().chunks(2) {
            if !extra.contains(&pair[0].as_str()) {
                args.extend(pair.iter().cloned());
            }
        }
        args.extend(["--woosh-listen".to_string(), "127.0.0.1:0".to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let (server, lines) = Self::launch(dir, &args, 1);
        let woosh = lines[0]
            .strip_prefix("woosh listening on http://")
            .or_else(|| lines[0].strip_prefix("woosh listening on https://"))
            .unwrap_or_else(|| panic!("no woosh address announced: {:?}", lines[0]))
            .parse()
            .expect("woosh address");
        (server, woosh)
    }

    /// Runs `serve` with exactly `args`, reads the address line and then `more_lines` further
    /// stdout lines (returned), and drains the rest into the output.
    fn launch(dir: &Path, args: &[String], more_lines: usize) -> (Server, Vec<String>) {
        let mut child = messages(dir)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting messages serve");
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        drain(stderr, output.clone());
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("reading the first line");
        let mut lines = Vec::new();
        for _ in 0..more_lines {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("reading a line");
            lines.push(line.trim_end().to_string());
        }
        drain(stdout, output.clone());
        let Some(url) = first.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "server did not start: first line {first:?}; output: {}",
                output.lock().unwrap()
            );
        };
        let addr = url
            .split("://")
            .nth(1)
            .expect("url")
            .parse()
            .expect("address");
        let server = Server {
            addr,
            base: url.to_string(),
            dir: dir.to_path_buf(),
            _temp: None,
            child,
            output,
        };
        (server, lines)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server printed (stdout after the first line, and stderr) so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (at most 20 s) for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        signal(self.child.id(), "TERM");
        self.wait_exit(Duration::from_secs(20))
    }

    /// Sends SIGKILL and waits for the exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("server did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops this server (SIGTERM) and starts another on the same data directory, keeping
    /// the temporary directory alive.
    pub fn restart(mut self, extra: &[&str]) -> Server {
        self.stop();
        let temp = self._temp.take();
        let mut next = Server::start_in(&self.dir, extra);
        next._temp = temp;
        next
    }

    /// Takes the temporary directory out so it outlives the server.
    pub fn keep_dir(&mut self) -> Option<tempfile::TempDir> {
        self._temp.take()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&next) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    found.push(path);
                }
            }
        }
    }
    found.sort();
    found
}

/// True if `needle` occurs in any file under `dir`.
/// On PostgreSQL, the directory's database (if it has one) is searched too, row by row.
pub fn dir_contains(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    let in_files = files_under(dir).into_iter().find(|path| {
        std::fs::read(path)
            .map(|bytes| contains(&bytes, needle))
            .unwrap_or(false)
    });
    in_files.or_else(|| {
        backend::database_contains(dir, needle).then(|| PathBuf::from("(its PostgreSQL database)"))
    })
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Polls `condition` every 20 ms until it gives a value or `limit` passes, checking once more
/// at the end; the bounded wait the tests use instead of sleeping.
pub fn wait_until<T>(limit: Duration, mut condition: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        let last = start.elapsed() >= limit;
        if let Some(value) = condition() {
            return Some(value);
        }
        if last {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`wait_until`] for a condition that only holds or not: true if it held within `limit`.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    wait_until(limit, || condition().then_some(())).is_some()
}
