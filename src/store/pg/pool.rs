//! The connections of this process: at most `max` open, reused while they work, closed ones
//! dropped. A caller that finds none free waits a bounded time, then is told the store is
//! busy (a fault that heals: come back).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::PgUrl;
use super::{classify, tls};
use crate::error::{Fault, Result, StorageError};

/// How long a caller waits for a connection another caller holds.
const LEASE_WAIT: Duration = Duration::from_secs(10);

pub(in crate::store) struct Pool {
    url: PgUrl,
    tls: Option<MakeRustlsConnect>,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Client>,
    open: usize,
}

/// A connection taken from the pool; it goes back when dropped, unless it broke.
pub(in crate::store) struct Lease {
    client: Option<Client>,
    pool: Arc<Pool>,
    pub(super) broken: bool,
}

impl Pool {
    /// A pool for `url` of at most `max` connections. Opens one at once, so a wrong URL, an
    /// unreachable server or a wrong password is told now, not at the first request.
    pub(in crate::store) fn open(url: &PgUrl, max: usize) -> Result<Arc<Self>> {
        let pool = Arc::new(Pool {
            url: url.clone(),
            tls: tls::connector(url)?,
            max: max.max(1),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        });
        drop(pool.lease()?);
        Ok(pool)
    }

    pub(in crate::store) fn url(&self) -> &PgUrl {
        &self.url
    }

    fn connect(&self) -> std::result::Result<Client, StorageError> {
        let connected = match &self.tls {
            Some(tls) => self.url.config.connect(tls.clone()),
            None => self.url.config.connect(NoTls),
        };
        connected.map_err(|e| {
            let context = format!("cannot connect to the database {}", self.url.shown());
            classify(e, &context)
        })
    }

    /// A free connection, a new one if fewer than `max` are open, else the next one freed.
    pub(in crate::store) fn lease(self: &Arc<Self>) -> std::result::Result<Lease, StorageError> {
        let deadline = Instant::now() + LEASE_WAIT;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            while let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(self.leased(client));
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(client) => Ok(self.leased(client)),
                    Err(e) => {
                        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                        state.open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StorageError::new(
                    Fault::Closed,
                    "every database connection of this process is busy",
                ));
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A transaction on a working connection: one the server ended while it lay idle (a
    /// restart, a failover, an administrator) fails at `BEGIN`, before anything was done, so
    /// it is dropped and the next one tried, up to a fresh connection.
    pub(in crate::store) fn begin(
        self: &Arc<Self>,
        mode: super::TxMode,
    ) -> std::result::Result<super::Session, StorageError> {
        let mut tries = 0;
        loop {
            match super::Session::begin(self.lease()?, mode) {
                Err(e) if e.fault() == Fault::Closed && tries <= self.max => tries += 1,
                other => return other,
            }
        }
    }

    fn leased(self: &Arc<Self>, client: Client) -> Lease {
        Lease {
            client: Some(client),
            pool: self.clone(),
            broken: false,
        }
    }
}

impl Lease {
    pub(super) fn client(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a lease holds its client until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        if self.broken || client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(client);
        }
        self.pool.freed.notify_one();
    }
}
