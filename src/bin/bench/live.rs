//! The live-poll scenario: many open tabs, each one a thread with its own keep-alive
//! connection (as separate browsers would hold), polling `GET /live` on a fixed period with the
//! tag of its last answer, spread evenly over the period. It is open loop: a tab sends when its
//! poll is due, however fast the server answered the last one, so the figure is the server's
//! CPU time for a given load (from /proc/PID/stat) over the wall time, not a rate.

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::http::{Conn, get};

/// One open page: its session cookie header and what it polls (`/live?box=inbox`, ...).
#[derive(Clone)]
pub struct Tab {
    pub cookie: String,
    pub path: String,
}

pub struct TabsOutcome {
    pub polls: u64,
    pub not_modified: u64,
    /// Answers other than 200 and 304 (and broken connections).
    pub errors: u64,
    pub first_error: Option<String>,
    /// Sorted, in microseconds.
    pub latencies_us: Vec<u32>,
    pub wall: Duration,
    /// Server CPU time (user + system) over the run.
    pub server_cpu: Duration,
    /// The server's threads halfway through the run.
    pub server_threads: u64,
}

impl TabsOutcome {
    /// The server's CPU time as a fraction of one core.
    pub fn core_fraction(&self) -> f64 {
        self.server_cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        super::load::quantile_ms(&self.latencies_us, q)
    }
}

/// User plus system CPU time of a process so far, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15, counted from 1 with the pid; rest starts at 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / clock_ticks(),
    ))
}

/// The kernel's clock ticks per second for /proc times (`getconf CLK_TCK`, almost always 100).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

struct TabResult {
    polls: u64,
    not_modified: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

/// Runs `tabs` against the server `pid` at `addr` for `duration`, each polling once per
/// `period`, conditionally (with the tag of its last answer) when `conditional`.
pub fn run(
    addr: SocketAddr,
    pid: u32,
    tabs: &[Tab],
    period: Duration,
    duration: Duration,
    conditional: bool,
) -> TabsOutcome {
    let barrier = Arc::new(Barrier::new(tabs.len() + 1));
    let n_tabs = tabs.len() as u32;
    let mut threads = Vec::new();
    for (index, tab) in tabs.iter().cloned().enumerate() {
        let barrier = barrier.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let mut conn = Conn::new(addr);
                let mut result = TabResult {
                    polls: 0,
                    not_modified: 0,
                    errors: 0,
                    first_error: None,
                    latencies_us: Vec::new(),
                };
                // Open the connection and learn the current tag before the clock starts,
                // as a page that has just loaded knows it.
                let mut tag = conn
                    .send(&get(&tab.path, &tab.cookie))
                    .ok()
                    .and_then(|reply| header(&reply.headers, "etag"));
                barrier.wait();
                let start = Instant::now();
                let offset = period * index as u32 / n_tabs.max(1);
                let mut due = start + offset;
                while due < start + duration {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let extra = match (&tag, conditional) {
                        (Some(tag), true) => format!("{}If-None-Match: {tag}\r\n", tab.cookie),
                        _ => tab.cookie.clone(),
                    };
                    let sent = Instant::now();
                    let reply = conn.send(&get(&tab.path, &extra));
                    let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                    result.polls += 1;
                    result.latencies_us.push(micros);
                    match reply {
                        Ok(reply) if reply.status == 304 => result.not_modified += 1,
                        Ok(reply) if reply.status == 200 => {
                            tag = header(&reply.headers, "etag").or(tag);
                        }
                        Ok(reply) => {
                            result.errors += 1;
                            result.first_error.get_or_insert_with(|| {
                                format!("status {}: {}", reply.status, reply.text())
                            });
                        }
                        Err(error) => {
                            result.errors += 1;
                            result.first_error.get_or_insert_with(|| error.to_string());
                        }
                    }
                    due += period;
                }
                result
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(error) => panic!("cannot start tab thread {index}: {error}"),
        }
    }
    barrier.wait();
    let started = Instant::now();
    let cpu_before = cpu_time(pid).unwrap_or_default();
    // Halfway through every tab's connection is open: count the server's threads then.
    std::thread::sleep(duration / 2);
    let server_threads = super::server::proc_status_kb(pid, "Threads").unwrap_or(0);
    let results: Vec<TabResult> = threads.into_iter().filter_map(|t| t.join().ok()).collect();
    let server_cpu = cpu_time(pid).unwrap_or_default().saturating_sub(cpu_before);
    let wall = started.elapsed();
    let mut latencies_us: Vec<u32> = results
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    latencies_us.sort_unstable();
    TabsOutcome {
        polls: results.iter().map(|r| r.polls).sum(),
        not_modified: results.iter().map(|r| r.not_modified).sum(),
        errors: results.iter().map(|r| r.errors).sum(),
        first_error: results.iter().find_map(|r| r.first_error.clone()),
        latencies_us,
        wall,
        server_cpu,
        server_threads,
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}
