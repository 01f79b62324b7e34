//! `messages serve`: loads the TLS files and binds the port (so a typo or a busy port changes
//! nothing), then opens (or creates) the data directory, sets up logging and the PIN, announces
//! the address, and serves until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{Data, DirLock, ensure_data_dir, open_app};
use crate::app::admin::generate_pin;
use crate::config::ServeConfig;
use crate::http::woosh::Woosh;
use crate::http::{Web, server};
use crate::store::Location;

pub fn run(config: ServeConfig, location: Location) -> anyhow::Result<()> {
    // TLS files first: a typo in a path must fail before anything is created, locked, logged
    // or changed (the PIN below), with nothing on stderr but the one error line.
    let tls = match &config.tls {
        Some((cert, key)) => Some(server::load_tls(cert, key).map_err(anyhow::Error::msg)?),
        None => None,
    };
    // The port next, for the same reason: a busy port must fail before a data directory is
    // created or a PIN generated and stored. Connections that arrive while the data opens wait
    // in the listen backlog.
    let listener = server::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let woosh_listener = match config.woosh_listen {
        Some(addr) => Some(
            server::bind(addr)
                .with_context(|| format!("cannot listen on {addr} (--woosh-listen)"))?,
        ),
        None => None,
    };
    ensure_data_dir(&config.data_dir)?;
    let _lock = DirLock::acquire(
        &config.data_dir,
        "stop the other server first, or use another --data-dir",
    )?;
    let _log_guard = crate::logging::init(&config.log_dir, config.log_keep_days)?;
    let data = Data {
        dir: config.data_dir.clone(),
        location,
    };
    let app = Arc::new(open_app(
        &data,
        config.scrypt_log_n,
        config.settings.clone(),
        true,
    )?);
    let mut announce_pin = None;
    match &config.pin {
        Some(pin) if !app.pin_matches(pin)? => {
            app.set_pin(pin)
                .map_err(|e| anyhow::anyhow!("--pin: {}", e.public_message()))?;
        }
        Some(_) => {}
        None if !app.pin_is_set()? => {
            let pin = generate_pin()?;
            app.set_pin(&pin)?;
            announce_pin = Some(pin);
        }
        None => {}
    }
    // Signals are handled from here on, so a SIGTERM right after the address is printed
    // already means a clean stop.
    let shutdown = server::Shutdown::new();
    watch_signals(shutdown.clone())?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{address}");
    if let Some(woosh) = &woosh_listener {
        println!("woosh listening on {scheme}://{}", woosh.local_addr()?);
    }
    if let Some(pin) = announce_pin {
        println!("registration PIN: {pin}  (shown once; change it with `messages pin set`)");
    }
    tracing::info!(
        "listening on {scheme}://{address} with data directory {}",
        config.data_dir.display()
    );

    let housekeeping = start_housekeeping(app.clone(), &config, shutdown.clone());
    let woosh_thread = match woosh_listener {
        Some(listener) => Some(start_woosh(
            listener,
            &config,
            tls.clone(),
            app.clone(),
            &shutdown,
        )?),
        None => None,
    };
    let web = Web::new(app, tls.is_some()).map_err(anyhow::Error::msg)?;
    let served = server::run(
        listener,
        tls,
        config.limits.clone(),
        Arc::new(web),
        shutdown.clone(),
    );
    // Whatever ended the serving, stop the helpers so the last handle of the database is
    // dropped (closing the file cleanly) before the process exits.
    shutdown.trigger();
    if let Some(thread) = housekeeping {
        let _ = thread.join();
    }
    if let Some(thread) = woosh_thread {
        match thread.join() {
            Ok(Err(e)) => tracing::error!("the woosh listener stopped with an error: {e}"),
            Err(_) => tracing::error!("the woosh listener panicked"),
            Ok(Ok(())) => {}
        }
    }
    served.context("the server stopped with an error")?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Serves the woosh protocol (`http::woosh`) on its own listener, on a thread of its own, with
/// the same connection layer, limits and TLS as the main one; it stops with the same switch,
/// and its failure stops the whole server (so an operator is not left with half of it).
fn start_woosh(
    listener: std::net::TcpListener,
    config: &ServeConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Arc<crate::app::App>,
    shutdown: &server::Shutdown,
) -> anyhow::Result<std::thread::JoinHandle<std::io::Result<()>>> {
    let https = tls.is_some();
    let woosh = Woosh::new(app, config.woosh_registration_open, https);
    let limits = config.limits.clone();
    let shutdown = shutdown.clone();
    let thread = std::thread::Builder::new()
        .name("woosh-accept".into())
        .spawn(move || {
            let served = server::run(listener, tls, limits, Arc::new(woosh), shutdown.clone());
            shutdown.trigger();
            served
        })
        .context("cannot start the woosh listener")?;
    Ok(thread)
}

fn watch_signals(shutdown: server::Shutdown) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                tracing::info!("signal {signal} received: stopping");
                shutdown.trigger();
            }
        })?;
    Ok(())
}

/// Every few minutes: end expired sessions and tokens, purge old deleted-log entries and events.
fn start_housekeeping(
    app: Arc<crate::app::App>,
    config: &ServeConfig,
    shutdown: server::Shutdown,
) -> Option<std::thread::JoinHandle<()>> {
    let (deleted_days, audit_days) = (config.deleted_keep_days, config.audit_keep_days);
    let spawned = std::thread::Builder::new()
        .name("housekeeping".into())
        .spawn(move || {
            let period = Duration::from_secs(300);
            let step = Duration::from_millis(500);
            let mut waited = period;
            while !shutdown.is_triggered() {
                if waited >= period {
                    waited = Duration::ZERO;
                    if let Err(e) = app.housekeeping(deleted_days, audit_days) {
                        tracing::error!("housekeeping: {e}");
                    }
                }
                std::thread::sleep(step);
                waited += step;
            }
        });
    match spawned {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::error!("cannot start housekeeping: {e}");
            None
        }
    }
}
