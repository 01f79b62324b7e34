//! The live-poll phase of the benchmark: a server with room for a connection per tab, 100
//! signed-in sessions, and 1,000 tabs polling `/live` (see `live.rs` for the load itself),
//! once with `If-None-Match` and once without, each reported as the server's CPU share.

use crate::{BASE_PER_USER, Bench, LIVE, LIVE_PERIOD, LIVE_SESSIONS, LIVE_TABS, Row, bench};

impl Bench {
    /// 1,000 open tabs polling `/live` every 10 s, each on its own keep-alive connection: once
    /// with the tag of their last answer (mostly 304s, the steady state) and once without (every
    /// answer a full 200, the worst case). The figure is the server's CPU time over wall time.
    pub(crate) fn live_phase(&mut self) -> anyhow::Result<()> {
        let data_dir = self.work_dir.join("data-live");
        eprintln!("loading data for the live poll...");
        let (users, _) = bench::disk::load(&data_dir, 3 * BASE_PER_USER, None)?;
        // Room for a connection per tab, and for the logins of the sessions below.
        let extra = [
            "--max-connections",
            "1500",
            "--max-connections-per-ip",
            "1500",
            "--attempts-per-minute",
            "1000",
        ];
        let server = self.start_server_with(&data_dir, &extra)?;
        let mut cookies = Vec::new();
        for n in 0..LIVE_SESSIONS {
            let (username, password) = &users[n % users.len()];
            let session = bench::http::login(server.addr, username, password)?;
            cookies.push(format!("Cookie: session={session}\r\n"));
        }
        let tabs: Vec<bench::live::Tab> = (0..LIVE_TABS)
            .map(|n| bench::live::Tab {
                cookie: cookies[n % LIVE_SESSIONS].clone(),
                // Most open pages are an inbox; some are the sent page or another page.
                path: match n % 5 {
                    0..=2 => "/live?box=inbox",
                    3 => "/live?box=sent",
                    _ => "/live",
                }
                .to_string(),
            })
            .collect();
        let whole = if self.options.quick { 1 } else { 2 };
        for (conditional, periods, name) in [
            (true, whole, format!("{LIVE} / 10 s, If-None-Match")),
            (false, 1, format!("{LIVE} / 10 s, no tag")),
        ] {
            eprintln!("  {name}");
            server.rss.take_peak_kb();
            let outcome = bench::live::run(
                server.addr,
                server.pid(),
                &tabs,
                LIVE_PERIOD,
                LIVE_PERIOD * periods,
                conditional,
            );
            if let Some(error) = &outcome.first_error {
                eprintln!("    first error: {error}");
            }
            let core = outcome.core_fraction();
            self.figures.insert(name.clone(), core);
            self.rows.push(Row {
                scenario: name,
                rate: Some(outcome.polls as f64 / outcome.wall.as_secs_f64()),
                p50_ms: Some(outcome.quantile_ms(0.5)),
                p99_ms: Some(outcome.quantile_ms(0.99)),
                errors: Some(outcome.errors),
                peak_rss_kb: server.rss.take_peak_kb(),
                note: format!(
                    "server CPU {:.1}% of one core; {:.0}% 304; {} server threads",
                    core * 100.0,
                    outcome.not_modified as f64 * 100.0 / outcome.polls.max(1) as f64,
                    outcome.server_threads
                ),
            });
        }
        server.stop()?;
        let _ = std::fs::remove_dir_all(&data_dir);
        Ok(())
    }
}
