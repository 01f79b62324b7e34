//! The search measurement: one member's 10,000-message inbox searched over the API, one request
//! at a time. Not through the load generator: searches are limited to 60 a minute per member
//! (each may open 2,000 messages), so a closed loop would measure the 429s. The figures are
//! the time of one request that spends the whole budget (a word no message holds) and of
//! searching the whole mailbox by following `next_cursor` to its end, for that word and for one
//! that only the oldest message holds.

use std::net::SocketAddr;
use std::time::Instant;

use super::http::api_get;

/// Requests timed for the one-budget figure (well under the per-minute limit, with the two
/// whole-mailbox scans after it).
const ROUNDS: usize = 15;

pub struct SearchFigures {
    /// Milliseconds of one request that opens a full budget, median and worst of [`ROUNDS`].
    pub budget_p50_ms: f64,
    pub budget_max_ms: f64,
    /// Messages one such request opened.
    pub scanned: u64,
    /// A word in no message: the whole mailbox, request after request.
    pub absent: WholeScan,
    /// A word only the oldest message holds (the demo's "Welcome").
    pub rare: WholeScan,
}

pub struct WholeScan {
    pub ms: f64,
    pub requests: usize,
    pub scanned: u64,
    pub found: usize,
}

fn search(
    addr: SocketAddr,
    token: &str,
    words: &str,
    cursor: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let mut path = format!("/api/v1/messages?box=inbox&limit=20&q={words}");
    if let Some(cursor) = cursor {
        path.push_str(&format!("&cursor={cursor}"));
    }
    api_get(addr, token, &path)
}

/// Follows `next_cursor` from the newest message to the end of the inbox.
fn whole_scan(addr: SocketAddr, token: &str, words: &str) -> anyhow::Result<WholeScan> {
    let started = Instant::now();
    let mut scan = WholeScan {
        ms: 0.0,
        requests: 0,
        scanned: 0,
        found: 0,
    };
    let mut cursor: Option<String> = None;
    loop {
        let page = search(addr, token, words, cursor.as_deref())?;
        scan.requests += 1;
        scan.scanned += page["scanned"].as_u64().unwrap_or(0);
        scan.found += page["messages"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    scan.ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(scan)
}

pub fn measure(addr: SocketAddr, token: &str) -> anyhow::Result<SearchFigures> {
    let mut times = Vec::with_capacity(ROUNDS);
    let mut scanned = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let page = search(addr, token, "zzabsent", None)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        scanned = page["scanned"].as_u64().unwrap_or(0);
    }
    times.sort_by(f64::total_cmp);
    Ok(SearchFigures {
        budget_p50_ms: times[ROUNDS / 2],
        budget_max_ms: times[ROUNDS - 1],
        scanned,
        absent: whole_scan(addr, token, "zzabsent")?,
        rare: whole_scan(addr, token, "welcome")?,
    })
}
