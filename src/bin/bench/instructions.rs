//! Instructions and allocations per request (`bench --instructions`): timings on a shared
//! 2-core machine swing by a third between runs, an instruction count does not, so every
//! change to a hot path can be judged on a stable number too.
//!
//! The release server runs under `valgrind --tool=callgrind` on the 1x data. For each
//! scenario, one keep-alive connection sends a warm-up round (caches filled, messages read,
//! the session touched), then the counters of every thread of the server are zeroed
//! (`callgrind_control --zero`), the measured requests are sent one after another, and the
//! counters are dumped (`callgrind_control --dump`). The dump's total of executed instructions
//! (`Ir`) and its calls to the C allocator (`malloc`, `calloc`, `realloc`, the aligned
//! variants), divided by the number of requests, are the row. The server's idle threads run
//! between requests too and are counted: their share is what `/healthz` pays above nothing.
//! valgrind's virtual CPU has no SHA extensions, so hashing is counted in its portable form.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::http::{Conn, Credentials};
use super::load::Scenario;
use super::scenarios;
use super::server::{self as srv, ServeOptions};

/// The C allocator's entry points: a call to one of them is an allocation.
const ALLOCATORS: [&str; 6] = [
    "malloc",
    "calloc",
    "realloc",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
];

pub struct Counted {
    pub scenario: String,
    pub requests: u64,
    pub instructions_per_request: f64,
    pub allocations_per_request: f64,
}

/// Runs the 1x scenarios under callgrind, `requests` measured requests each.
pub fn measure(
    binary: &Path,
    data_dir: &Path,
    users: &[(String, String)],
    pin: &str,
    requests: u64,
) -> anyhow::Result<Vec<Counted>> {
    let out_dir = data_dir.join("callgrind");
    std::fs::create_dir_all(&out_dir)?;
    let out_file = out_dir.join("callgrind.out");
    let under = vec![
        "valgrind".to_string(),
        "--tool=callgrind".into(),
        "--compress-strings=no".into(),
        "--compress-pos=no".into(),
        format!("--callgrind-out-file={}", out_file.display()),
    ];
    let server = srv::start(&ServeOptions {
        binary,
        data_dir,
        pin,
        threads: None,
        extra: &[],
        under: &under,
    })?;
    let who = Credentials::sign_in(server.addr, users)?;
    let all = [
        scenarios::healthz(),
        scenarios::inbox(&who),
        scenarios::message_page(&who),
        scenarios::api_list(&who),
        scenarios::api_poll(&who),
        scenarios::form_send(&who),
        scenarios::api_send(&who),
    ];
    let mut rows = Vec::new();
    for (n, scenario) in all.iter().enumerate() {
        eprintln!("  {} (under callgrind)", scenario.name);
        let mut conn = Conn::new(server.addr);
        // Warm-up: every message of the page read once, caches filled, pools grown.
        send_all(&mut conn, scenario, 0, requests.clamp(20, 100))?;
        control(&["--zero"], server.pid())?;
        send_all(&mut conn, scenario, 1_000, requests)?;
        let hint = format!("--dump={}", n + 1);
        control(&[&hint], server.pid())?;
        let dump = wait_for_dump(&out_dir, n + 1)?;
        let (instructions, allocations) = read_dump(&dump)?;
        rows.push(Counted {
            scenario: scenario.name.clone(),
            requests,
            instructions_per_request: instructions as f64 / requests as f64,
            allocations_per_request: allocations as f64 / requests as f64,
        });
    }
    server.stop()?;
    Ok(rows)
}

/// Sends `n` requests of `scenario` on `conn`, numbered from `first`; any unexpected status
/// ends the measurement (a count of error pages would be no count of the scenario).
fn send_all(conn: &mut Conn, scenario: &Scenario, first: u64, n: u64) -> anyhow::Result<()> {
    for i in first..first + n {
        let reply = conn.send(&(scenario.make)(0, i))?;
        if reply.status != scenario.expect {
            bail!(
                "{}: status {} (expected {}): {}",
                scenario.name,
                reply.status,
                scenario.expect,
                reply.text().chars().take(200).collect::<String>()
            );
        }
    }
    Ok(())
}

fn control(args: &[&str], pid: u32) -> anyhow::Result<()> {
    let output = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .context("cannot run callgrind_control (is valgrind installed?)")?;
    if !output.status.success() {
        bail!(
            "callgrind_control {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The `n`th dump file, once callgrind has finished writing it (its totals line is last).
fn wait_for_dump(dir: &Path, n: usize) -> anyhow::Result<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.ends_with(&format!(".{n}")))
            });
        if let Some(path) = found {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().any(|l| l.starts_with("totals:")) {
                return Ok(path);
            }
        }
        if Instant::now() > deadline {
            bail!("callgrind wrote no dump {n} in {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (instructions, allocator calls) of a callgrind dump written with uncompressed names.
fn read_dump(path: &Path) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(path)?;
    let mut total = None;
    let mut allocations = 0u64;
    let mut calling_allocator = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("totals:") {
            total = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if let Some(name) = line.strip_prefix("cfn=") {
            calling_allocator = ALLOCATORS.contains(&name.trim());
        } else if let Some(rest) = line.strip_prefix("calls=") {
            if calling_allocator {
                allocations += rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            calling_allocator = false;
        }
    }
    let total = total.with_context(|| format!("no totals line in {}", path.display()))?;
    Ok((total, allocations))
}

/// The table of [`measure`]'s rows, with each row's share of `/healthz`'s count.
pub fn print(rows: &[Counted]) {
    println!();
    println!(
        "{:<34} {:>14} {:>12} {:>10}  note",
        "scenario (under callgrind)", "instr/request", "allocs/req", "requests"
    );
    println!("{}", "-".repeat(90));
    let healthz = rows
        .iter()
        .find(|r| r.scenario == scenarios::HEALTHZ)
        .map(|r| r.instructions_per_request);
    for row in rows {
        let note = healthz
            .filter(|h| *h > 0.0)
            .map(|h| format!("{:.2}x healthz", row.instructions_per_request / h))
            .unwrap_or_default();
        println!(
            "{:<34} {:>14.0} {:>12.1} {:>10}  {note}",
            row.scenario, row.instructions_per_request, row.allocations_per_request, row.requests
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_counts_only_the_allocators_calls() {
        let dir = std::env::temp_dir().join(format!("bench-cg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("callgrind.out.1");
        std::fs::write(
            &path,
            "events: Ir\nfn=main\ncfn=malloc\ncalls=3 0\n0 30\ncfn=free\ncalls=3 0\n0 9\n\
             cfn=realloc\ncalls=2 0\n0 8\n0 5\ntotals: 1234\n",
        )
        .unwrap();
        assert_eq!(read_dump(&path).unwrap(), (1234, 5));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
