//! The benchmark (issue 7): `cargo run --release --bin bench -- [--quick]`.
//!
//! It builds the release `messages` binary, loads users and messages through the application's
//! own store code into temporary data directories, starts `messages serve` on 127.0.0.1:0 as a
//! separate process, drives it with a closed-loop keep-alive load generator (16 connections by
//! default, every loop bounded in requests and time), samples the server's resident memory from
//! /proc, measures the data directory's fsync rate, times dump and restore of a million
//! messages, and prints one table. It never fails on timing: the targets are printed beside the
//! figures, not asserted. Not part of the test suite.

mod bench {
    pub mod disk;
    pub mod http;
    pub mod instructions;
    pub mod live;
    pub mod live_phase;
    pub mod load;
    pub mod postgres;
    pub mod report;
    pub mod scenarios;
    pub mod search;
    pub mod server;
    pub mod woosh;
}

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use bench::http::{Credentials, get};
use bench::load::{self, Budget, Outcome, Scenario};
use bench::scenarios;
use bench::server::{self as srv, ServeOptions, Server};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Throughput, latency, memory and growth of the messages server"
)]
struct Options {
    /// A shorter run: 2 s per scenario and 100,000 messages for dump and restore.
    #[arg(long)]
    quick: bool,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds per scenario (default 5, or 2 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Most requests per scenario.
    #[arg(long, default_value_t = 300_000)]
    max_requests: u64,
    /// Messages for the dump and restore measurement (default 1,000,000, or 100,000 with --quick;
    /// 0 skips it).
    #[arg(long)]
    dump_messages: Option<u64>,
    /// Only run scenarios whose name contains one of these (comma separated); dump/restore is
    /// run only when "dump" is listed.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The server's --threads (handler permits); default: the server's own default.
    #[arg(long)]
    threads: Option<usize>,
    /// Use this `messages` binary instead of building the release one.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Where the temporary data directories go (default: the system temp dir). The fsync rate
    /// is measured here, so put it on the disk the server would use.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the data directories (and the server logs) afterwards.
    #[arg(long)]
    keep: bool,
    /// Also run the 1x scenarios on PostgreSQL: a URL of a server the benchmark may create
    /// (and afterwards drop) a database `messages_bench_<pid>` on, e.g.
    /// `postgres://postgres@127.0.0.1:5432/postgres`. Rows of that run start with "pg ".
    #[arg(long)]
    database: Option<String>,
    /// Instead of the load run: instructions and allocations per request of the 1x scenarios,
    /// the server under `valgrind --tool=callgrind` (see `bench/instructions.rs`).
    #[arg(long)]
    instructions: bool,
    /// Measured requests per scenario with --instructions.
    #[arg(long, default_value_t = 200)]
    instruction_requests: u64,
}

const PIN: &str = "bench-pin-4711";
/// The figure of [`Bench::alternating_inbox_ratio`].
const ALTERNATING: &str = "inbox / healthz, alternating";
/// The live-poll rows' common prefix (and the name `--only` selects them by).
const LIVE: &str = "live: 1000 tabs";
/// The woosh rows' common prefix (and the name `--only` selects them by).
const WOOSH: &str = "woosh";
/// Open tabs, the sessions they share (a browser's tabs share its cookie), and the period.
const LIVE_TABS: usize = 1000;
const LIVE_SESSIONS: usize = 100;
const LIVE_PERIOD: Duration = Duration::from_secs(10);
/// Messages generated per user at 1x: a full inbox page of 50 (plus the demo's own few).
const BASE_PER_USER: u64 = 50;

/// One row of the table.
struct Row {
    scenario: String,
    rate: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: Option<u64>,
    peak_rss_kb: u64,
    note: String,
}

struct Bench {
    options: Options,
    binary: PathBuf,
    work_dir: PathBuf,
    budget: Budget,
    rows: Vec<Row>,
    /// Named figures for the summary (rates in req/s).
    figures: std::collections::BTreeMap<String, f64>,
    worst_read_p99: (f64, String),
    /// The store the scenarios now run on (see `bench/postgres.rs`).
    on: bench::postgres::On,
    /// The worst read p99 of the PostgreSQL rows, and which row.
    pg_worst_read_p99: (f64, String),
    /// The rounds behind the alternating inbox ratio, for the summary.
    alternating_rounds: String,
}

fn main() {
    let options = Options::parse();
    if let Err(e) = run(options) {
        eprintln!("bench: {e:#}");
        std::process::exit(1);
    }
}

fn run(options: Options) -> anyhow::Result<()> {
    let binary = srv::server_binary(options.binary.clone())?;
    let base = options.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let work_dir = base.join(format!("messages-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;
    let seconds = options
        .seconds
        .unwrap_or(if options.quick { 2.0 } else { 5.0 });
    let budget = Budget {
        connections: options.connections.max(1),
        duration: Duration::from_secs_f64(seconds),
        max_requests: options.max_requests,
        warmup: 20,
    };
    let keep = options.keep;
    let mut bench = Bench {
        options,
        binary,
        work_dir: work_dir.clone(),
        budget,
        rows: Vec::new(),
        figures: Default::default(),
        worst_read_p99: (0.0, String::new()),
        on: bench::postgres::On::default(),
        pg_worst_read_p99: (0.0, String::new()),
        alternating_rounds: String::new(),
    };
    eprintln!(
        "bench: {} connections, {seconds} s per scenario, data in {}",
        bench.budget.connections,
        work_dir.display()
    );
    let outcome = if bench.options.instructions {
        bench.instructions_phase()
    } else {
        let outcome = bench.all();
        bench.print();
        outcome
    };
    if keep {
        eprintln!("data kept in {}", work_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    outcome
}

impl Bench {
    fn wanted(&self, name: &str) -> bool {
        self.options.only.is_empty() || self.options.only.iter().any(|w| name.contains(w.as_str()))
    }

    fn all(&mut self) -> anyhow::Result<()> {
        self.base_phase()?;
        if let Some(url) = self.options.database.clone() {
            self.postgres_phase(&url)?;
        }
        if self.wanted(LIVE) {
            self.live_phase()?;
        }
        if self.wanted(WOOSH) {
            self.woosh_phase()?;
        }
        self.growth_phase(10)?;
        self.growth_phase(100)?;
        self.search_phase()?;
        let n_dump = self.options.dump_messages.unwrap_or(if self.options.quick {
            100_000
        } else {
            1_000_000
        });
        if n_dump > 0
            && (self.options.only.is_empty() || self.options.only.iter().any(|w| w == "dump"))
        {
            self.dump_phase(n_dump)?;
        }
        Ok(())
    }

    /// `--instructions`: the 1x data, the server under callgrind, one table.
    fn instructions_phase(&mut self) -> anyhow::Result<()> {
        let data_dir = self.work_dir.join("data-instructions");
        eprintln!("loading 1x data ({BASE_PER_USER} messages per user)...");
        let (users, _) = bench::disk::load(&data_dir, 3 * BASE_PER_USER, None)?;
        let requests = self.options.instruction_requests.max(1);
        let rows = bench::instructions::measure(&self.binary, &data_dir, &users, PIN, requests)?;
        bench::instructions::print(&rows);
        Ok(())
    }

    fn start_server(&self, data_dir: &Path) -> anyhow::Result<Server> {
        self.start_server_with(data_dir, &[])
    }

    /// [`Bench::start_server`] with more flags for `serve`.
    fn start_server_with(&self, data_dir: &Path, extra: &[&str]) -> anyhow::Result<Server> {
        let mut extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        extra.extend(self.on.serve_args());
        srv::start(&ServeOptions {
            binary: &self.binary,
            data_dir,
            pin: PIN,
            threads: self.options.threads,
            extra: &extra,
            under: &[],
        })
    }

    /// Runs one scenario against `server` and adds its row; returns the outcome.
    fn scenario(
        &mut self,
        server: &Server,
        scenario: Scenario,
        read: bool,
        note: &str,
    ) -> Option<Outcome> {
        self.scenario_on(server, server.addr, scenario, read, note)
    }

    /// [`Bench::scenario`] on one of `server`'s listeners, `addr`.
    fn scenario_on(
        &mut self,
        server: &Server,
        addr: std::net::SocketAddr,
        scenario: Scenario,
        read: bool,
        note: &str,
    ) -> Option<Outcome> {
        if !self.wanted(&scenario.name) {
            return None;
        }
        eprintln!("  {}", scenario.name);
        server.rss.take_peak_kb();
        let outcome = load::run(addr, &scenario, self.budget);
        // One more sample so a short scenario still has one.
        let peak = server
            .rss
            .take_peak_kb()
            .max(srv::proc_status_kb(server.pid(), "VmRSS").unwrap_or(0));
        if let Some(error) = &outcome.first_error {
            eprintln!("    first error: {error}");
        }
        let p99 = outcome.quantile_ms(0.99);
        let name = format!("{}{}", self.on.prefix, scenario.name);
        if read {
            self.on.read_p99(p99, &name, &mut self.worst_read_p99);
        }
        self.figures.insert(name.clone(), outcome.rate());
        self.rows.push(Row {
            scenario: name,
            rate: Some(outcome.rate()),
            p50_ms: Some(outcome.quantile_ms(0.5)),
            p99_ms: Some(p99),
            errors: Some(outcome.errors),
            peak_rss_kb: peak,
            note: note.replace("{bytes}", &outcome.body_bytes.to_string()),
        });
        Some(outcome)
    }

    /// The inbox's share of the `/healthz` rate from three short rounds of the two, one right
    /// after the other: on a shared machine the load from elsewhere drifts within a run, and
    /// a ratio of neighbours drifts less than one of two scenarios a minute apart.
    fn alternating_inbox_ratio(&mut self, server: &Server, who: &Credentials) {
        eprintln!("  inbox / healthz, alternating rounds");
        let budget = Budget {
            duration: self.budget.duration.min(Duration::from_millis(1500)),
            ..self.budget
        };
        let (healthz, inbox) = (scenarios::healthz(), scenarios::inbox(who));
        let mut ratios = load::alternating_ratios(server.addr, &inbox, &healthz, budget, 3);
        ratios.sort_by(f64::total_cmp);
        if let Some(median) = ratios.get(ratios.len() / 2) {
            self.figures.insert(ALTERNATING.into(), *median);
            let rounds: Vec<String> = ratios
                .iter()
                .map(|r| format!("{:.0}%", r * 100.0))
                .collect();
            self.alternating_rounds = rounds.join(", ");
        }
    }

    fn note_row(&mut self, scenario: &str, peak_rss_kb: u64, note: String) {
        self.rows.push(Row {
            scenario: scenario.into(),
            rate: None,
            p50_ms: None,
            p99_ms: None,
            errors: None,
            peak_rss_kb,
            note,
        });
    }

    /// 1x data: every scenario.
    fn base_phase(&mut self) -> anyhow::Result<()> {
        let data_dir = self.work_dir.join("data-1x");
        eprintln!("loading 1x data ({BASE_PER_USER} messages per user)...");
        let (users, _) = bench::disk::load(&data_dir, 3 * BASE_PER_USER, self.on.database())?;
        let server = self.start_server(&data_dir)?;
        let addr = server.addr;
        let who = Credentials::sign_in(addr, &users)?;
        eprintln!("running 1x scenarios against {addr} (pid {})", server.pid());

        self.scenario(&server, scenarios::healthz(), true, "");
        self.scenario(
            &server,
            Scenario::new("GET /login (page)", 200, |_, _| get("/login", "")),
            true,
            "{bytes} B body, keep-alive",
        );
        self.scenario(
            &server,
            Scenario::new("GET /static/app.css", 200, |_, _| {
                get("/static/app.css", "")
            }),
            true,
            "{bytes} B body, keep-alive",
        );
        self.scenario(&server, scenarios::inbox(&who), true, "{bytes} B");
        if self.wanted(scenarios::HEALTHZ)
            && self.wanted(scenarios::INBOX)
            && self.on.database().is_none()
        {
            self.alternating_inbox_ratio(&server, &who);
        }
        self.scenario(&server, scenarios::message_page(&who), true, "{bytes} B");
        self.scenario(&server, scenarios::api_list(&who), true, "{bytes} B");
        self.scenario(&server, scenarios::api_poll(&who), true, "");

        // Durable writes: measure the disk first, in the same run and on the same filesystem.
        let fsyncs = match self.figures.get("fsync") {
            Some(measured) => *measured,
            None => {
                let fsyncs = bench::disk::fsync_rate(&data_dir, Duration::from_secs(2), 50_000)?;
                self.figures.insert("fsync".into(), fsyncs);
                self.note_row(
                    "fsync (4 KiB write + fdatasync)",
                    0,
                    format!("{fsyncs:.0} fsyncs/s on the data dir's filesystem"),
                );
                fsyncs
            }
        };

        for send in [scenarios::form_send(&who), scenarios::api_send(&who)] {
            let sent = self.scenario(&server, send, false, "");
            if let (Some(o), Some(row)) = (sent, self.rows.last_mut()) {
                row.note = format!("{:.2} sends per fsync", o.rate() / fsyncs);
            }
        }
        let hwm = server.hwm_kb();
        let stats = server.stop()?;
        if self.wanted("store sends") && self.on.database().is_none() {
            // The same sends without HTTP: the rate before group commit, and the storage's ceiling.
            let seconds = self.budget.duration.min(Duration::from_secs(4));
            for threads in [1, self.options.connections] {
                let rate = bench::disk::store_send_rate(&self.work_dir, threads, seconds)?;
                let note = format!("{rate:.0}/s = {:.2} per fsync (no HTTP)", rate / fsyncs);
                self.note_row(&format!("store sends, {threads} threads"), 0, note);
            }
        }
        self.note_row(
            &format!("{}server 1x (whole run)", self.on.prefix),
            hwm,
            "VmHWM of the server process".into(),
        );
        // The writer's own count: how many changes (nearly all of them the sends above) shared
        // each durable commit. redb's two-phase commit costs two fdatasyncs per commit.
        if let Some(stats) = stats {
            let per_commit = stats.n_changes as f64 / stats.n_commits.max(1) as f64;
            self.note_row(
                "group commit (server's count)",
                0,
                format!(
                    "{} changes in {} commits: {per_commit:.1} per commit",
                    stats.n_changes, stats.n_commits
                ),
            );
        }
        Ok(())
    }

    /// `factor` times the base messages per user: the inbox page and the API list again.
    fn growth_phase(&mut self, factor: u64) -> anyhow::Result<()> {
        let inbox = format!("GET /inbox at {factor}x");
        let list = format!("API list at {factor}x");
        if !self.wanted(&inbox) && !self.wanted(&list) {
            return Ok(());
        }
        let data_dir = self.work_dir.join(format!("data-{factor}x"));
        let per_user = BASE_PER_USER * factor;
        eprintln!("loading {factor}x data ({per_user} messages per user)...");
        let (users, _) = bench::disk::load(&data_dir, 3 * per_user, None)?;
        let server = self.start_server(&data_dir)?;
        let who = Credentials::sign_in(server.addr, &users)?;
        let cookie = who.cookie_header();
        self.scenario(
            &server,
            Scenario::new(inbox.clone(), 200, move |_, _| get("/inbox", &cookie)),
            true,
            &format!("{per_user} in inbox"),
        );
        let bearer = who.bearer_header();
        self.scenario(
            &server,
            Scenario::new(list.clone(), 200, move |_, _| {
                get("/api/v1/messages?box=inbox&limit=50", &bearer)
            }),
            true,
            &format!("{per_user} in inbox"),
        );
        server.stop()?;
        let _ = std::fs::remove_dir_all(&data_dir);
        Ok(())
    }

    /// One search at a time over a 10,000-message inbox (see `bench/search.rs`).
    fn search_phase(&mut self) -> anyhow::Result<()> {
        const NAME: &str = "API search";
        if !self.wanted(NAME) {
            return Ok(());
        }
        let data_dir = self.work_dir.join("data-search");
        // alice receives a third of the generated messages: 10,000 in her inbox.
        eprintln!("loading 30,000 messages (10,000 in alice's inbox) for search...");
        let (users, _) = bench::disk::load(&data_dir, 30_000, None)?;
        let server = self.start_server(&data_dir)?;
        let (username, password) = users
            .iter()
            .find(|(u, _)| u == "alice")
            .ok_or_else(|| anyhow::anyhow!("no demo user alice"))?;
        let token = bench::http::api_token(server.addr, username, password)?;
        eprintln!("  {NAME}");
        server.rss.take_peak_kb();
        let found = bench::search::measure(server.addr, &token)?;
        let peak = server.rss.take_peak_kb();
        self.figures
            .insert("search_budget_ms".into(), found.budget_p50_ms);
        self.note_row(
            &format!("{NAME}, one budget"),
            peak,
            format!(
                "{:.1} ms median, {:.1} ms worst: {} messages opened per request",
                found.budget_p50_ms, found.budget_max_ms, found.scanned
            ),
        );
        for (what, scan) in [("absent word", &found.absent), ("rare word", &found.rare)] {
            self.note_row(
                &format!("{NAME}, all, {what}"),
                0,
                format!(
                    "{:.1} ms in {} requests, {} messages opened, {} found",
                    scan.ms, scan.requests, scan.scanned, scan.found
                ),
            );
        }
        server.stop()?;
        let _ = std::fs::remove_dir_all(&data_dir);
        Ok(())
    }

    fn dump_phase(&mut self, n_messages: u64) -> anyhow::Result<()> {
        let data_dir = self.work_dir.join("data-dump");
        eprintln!("loading {n_messages} messages for dump and restore...");
        let (_, load_seconds) = bench::disk::load(&data_dir, n_messages, None)?;
        self.note_row(
            &format!("load {n_messages} messages (in-process)"),
            0,
            format!("{load_seconds:.1} s"),
        );
        eprintln!("dump and restore...");
        let result =
            bench::disk::dump_and_restore(&self.binary, &data_dir, &self.work_dir, n_messages)?;
        self.figures
            .insert("dump_seconds".into(), result.dump_seconds);
        self.figures
            .insert("restore_seconds".into(), result.restore_seconds);
        self.figures
            .insert("dump_peak_mb".into(), result.dump_peak_kb as f64 / 1024.0);
        self.figures.insert(
            "restore_peak_mb".into(),
            result.restore_peak_kb as f64 / 1024.0,
        );
        self.note_row(
            &format!("dump {} messages", result.n_messages),
            result.dump_peak_kb,
            format!(
                "{:.1} s, {:.0} MB file",
                result.dump_seconds,
                result.dump_bytes as f64 / 1e6
            ),
        );
        self.note_row(
            &format!("restore {} messages", result.n_messages),
            result.restore_peak_kb,
            format!("{:.1} s", result.restore_seconds),
        );
        let _ = std::fs::remove_dir_all(&data_dir);
        Ok(())
    }
}
