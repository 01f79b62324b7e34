//! The benchmark's one table, and the targets printed beside its figures (never asserted).

use crate::bench::scenarios::{API_LIST, API_SEND, FORM_SEND, HEALTHZ, INBOX, MESSAGE};
use crate::{ALTERNATING, Bench, LIVE};

impl Bench {
    pub(crate) fn print(&self) {
        println!();
        println!(
            "{:<34} {:>10} {:>9} {:>9} {:>7} {:>9}  note",
            "scenario", "req/s", "p50 ms", "p99 ms", "errors", "peak RSS"
        );
        println!("{}", "-".repeat(100));
        let num = |v: Option<f64>, precision: usize| {
            v.map_or("-".to_string(), |v| format!("{v:.precision$}"))
        };
        for row in &self.rows {
            let rss = if row.peak_rss_kb == 0 {
                "-".to_string()
            } else {
                format!("{:.1} MB", row.peak_rss_kb as f64 / 1024.0)
            };
            println!(
                "{:<34} {:>10} {:>9} {:>9} {:>7} {:>9}  {}",
                row.scenario,
                num(row.rate, 0),
                num(row.p50_ms, 2),
                num(row.p99_ms, 2),
                row.errors.map_or("-".to_string(), |e| e.to_string()),
                rss,
                row.note
            );
        }
        self.print_targets();
        self.print_postgres_targets();
    }

    pub(crate) fn print_targets(&self) {
        let f = |name: &str| self.figures.get(name).copied();
        println!();
        println!("targets (issue 7), informational only:");
        let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
        if let Some(r) = ratio(f(INBOX), f(HEALTHZ)) {
            println!(
                "  inbox / healthz                  {:>6.0}%   (target >= 50%)",
                r * 100.0
            );
        }
        if let Some(r) = f(ALTERNATING) {
            println!(
                "  inbox / healthz, alternating     {:>6.0}%   (median of rounds: {})",
                r * 100.0,
                self.alternating_rounds
            );
        }
        if let Some(r) = ratio(f(MESSAGE), f(HEALTHZ)) {
            println!("  message page / healthz           {:>6.0}%", r * 100.0);
        }
        if let Some(r) = ratio(f(API_LIST), f(HEALTHZ)) {
            println!("  API list / healthz               {:>6.0}%", r * 100.0);
        }
        if let Some(r) = ratio(f(API_SEND), f(HEALTHZ)) {
            println!("  API send / healthz               {:>6.0}%", r * 100.0);
        }
        for factor in [10, 100] {
            if let Some(r) = ratio(f(&format!("GET /inbox at {factor}x")), f(INBOX)) {
                println!(
                    "  inbox at {factor:>3}x / 1x              {:>6.0}%   (target >= 80% at 100x)",
                    r * 100.0
                );
            }
            if let Some(r) = ratio(f(&format!("API list at {factor}x")), f(API_LIST)) {
                println!(
                    "  API list at {factor:>3}x / 1x           {:>6.0}%   (target >= 80% at 100x)",
                    r * 100.0
                );
            }
        }
        if let Some(fsync) = f("fsync") {
            for name in [FORM_SEND, API_SEND] {
                if let Some(rate) = f(name) {
                    println!(
                        "  {name:<32} {rate:>6.0}/s = {:.2}x the fsync rate   (target >= 2x and >= 1000/s)",
                        rate / fsync
                    );
                }
            }
        }
        if let Some(core) = f(&format!("{LIVE} / 10 s, If-None-Match")) {
            println!(
                "  1000 tabs polling every 10 s     {:>6.1}% of one core   (target < 10%)",
                core * 100.0
            );
        }
        if self.worst_read_p99.0 > 0.0 {
            println!(
                "  worst read p99                   {:>6.2} ms ({})   (target < 25 ms)",
                self.worst_read_p99.0, self.worst_read_p99.1
            );
        }
        let peak = self
            .rows
            .iter()
            .filter(|r| r.rate.is_some())
            .map(|r| r.peak_rss_kb)
            .max()
            .unwrap_or(0);
        println!(
            "  server peak RSS                  {:>6.1} MB   (target < 64 MB)",
            peak as f64 / 1024.0
        );
        if let Some(ms) = f("search_budget_ms") {
            println!(
                "  one search (2,000 of 10,000)     {ms:>6.1} ms   (no target; bounded by the budget)"
            );
        }
        if let (Some(d), Some(r)) = (f("dump_seconds"), f("restore_seconds")) {
            println!(
                "  dump / restore                   {d:.1} s, {:.0} MB / {r:.1} s, {:.0} MB   (target < 60 s and < 100 MB each)",
                f("dump_peak_mb").unwrap_or(0.0),
                f("restore_peak_mb").unwrap_or(0.0)
            );
        }
    }
}
