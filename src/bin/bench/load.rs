//! The load generator: `connections` threads, each with one keep-alive connection, sending the
//! scenario's requests back to back (closed loop) until the duration or the request budget is
//! spent, whichever comes first. Every latency is recorded, so p50 and p99 are exact.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::http::Conn;

/// Builds request number `n` of connection `conn`.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Vec<u8> + Send + Sync>;

pub struct Scenario {
    pub name: String,
    /// The status every response should have; anything else counts as an error.
    pub expect: u16,
    pub make: MakeRequest,
}

impl Scenario {
    pub fn new(
        name: impl Into<String>,
        expect: u16,
        make: impl Fn(usize, u64) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        Scenario {
            name: name.into(),
            expect,
            make: Arc::new(make),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub connections: usize,
    pub duration: Duration,
    pub max_requests: u64,
    /// Requests per connection before the clock starts (not recorded).
    pub warmup: u64,
}

pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Sorted, in microseconds.
    pub latencies_us: Vec<u32>,
    /// The body size of the last good response (to tell how big a page is).
    pub body_bytes: usize,
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The exact `q` quantile (0..=1) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latencies_us, q)
    }
}

/// The exact `q` quantile (0..=1), in milliseconds, of latencies in microseconds, sorted.
pub fn quantile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

struct Worker {
    latencies_us: Vec<u32>,
    errors: u64,
    body_bytes: usize,
    first_error: Option<String>,
}

pub fn run(addr: SocketAddr, scenario: &Scenario, budget: Budget) -> Outcome {
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(budget.connections + 1));
    let mut threads = Vec::new();
    for conn_index in 0..budget.connections {
        let make = scenario.make.clone();
        let expect = scenario.expect;
        let (issued, stop, barrier) = (issued.clone(), stop.clone(), barrier.clone());
        threads.push(std::thread::spawn(move || {
            let mut conn = Conn::new(addr);
            let mut worker = Worker {
                latencies_us: Vec::with_capacity(64 * 1024),
                errors: 0,
                body_bytes: 0,
                first_error: None,
            };
            let mut n = 0u64;
            for _ in 0..budget.warmup {
                let _ = conn.send(&make(conn_index, n));
                n += 1;
            }
            barrier.wait();
            let deadline = Instant::now() + budget.duration;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if issued.fetch_add(1, Ordering::Relaxed) >= budget.max_requests {
                    break;
                }
                let request = make(conn_index, n);
                n += 1;
                let started = Instant::now();
                let result = conn.send(&request);
                let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                match result {
                    Ok(reply) if reply.status == expect => {
                        worker.latencies_us.push(micros);
                        worker.body_bytes = reply.body.len();
                    }
                    Ok(reply) => {
                        worker.latencies_us.push(micros);
                        worker.errors += 1;
                        worker.first_error.get_or_insert_with(|| {
                            format!(
                                "status {} (expected {expect}): {}",
                                reply.status,
                                reply.text().chars().take(200).collect::<String>()
                            )
                        });
                    }
                    Err(e) => {
                        worker.errors += 1;
                        worker.first_error.get_or_insert_with(|| e.to_string());
                        // A refused or broken connection: do not spin on it.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
            worker
        }));
    }
    barrier.wait();
    let started = Instant::now();
    let mut workers = Vec::new();
    for thread in threads {
        match thread.join() {
            Ok(worker) => workers.push(worker),
            Err(_) => stop.store(true, Ordering::Relaxed),
        }
    }
    let elapsed = started.elapsed();
    let mut latencies_us: Vec<u32> = workers
        .iter()
        .flat_map(|w| w.latencies_us.iter().copied())
        .collect();
    latencies_us.sort_unstable();
    let errors = workers.iter().map(|w| w.errors).sum();
    Outcome {
        requests: latencies_us.len() as u64,
        errors,
        elapsed,
        latencies_us,
        body_bytes: workers.iter().map(|w| w.body_bytes).max().unwrap_or(0),
        first_error: workers.iter().find_map(|w| w.first_error.clone()),
    }
}

/// `rounds` runs of `a` each followed at once by `b`, and the ratio of their rates per round
/// (rounds where `b` did nothing are left out): neighbours in time share the machine's load.
pub fn alternating_ratios(
    addr: SocketAddr,
    a: &Scenario,
    b: &Scenario,
    budget: Budget,
    rounds: usize,
) -> Vec<f64> {
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        let rate_a = run(addr, a, budget).rate();
        let rate_b = run(addr, b, budget).rate();
        if rate_b > 0.0 {
            ratios.push(rate_a / rate_b);
        }
    }
    ratios
}
