//! Logging with `tracing`: readable lines to stderr, and the same lines to daily files in the
//! log directory, keeping a set number of days. Nothing here ever receives a password, token,
//! PIN, answer or message text: callers log names, addresses and outcomes only.

use std::path::Path;

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber; keep the guard alive so file lines are flushed on exit.
pub fn init(log_dir: &Path, keep_days: usize) -> anyhow::Result<WorkerGuard> {
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("cannot create the log directory {}", log_dir.display()))?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("messages")
        .filename_suffix("log")
        .max_log_files(keep_days.max(1))
        .build(log_dir)
        .with_context(|| format!("cannot open log files in {}", log_dir.display()))?;
    let (file_writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::filter::LevelFilter::INFO;
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true);
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(file_writer)
        .with_ansi(false)
        .with_target(true);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
    Ok(guard)
}
