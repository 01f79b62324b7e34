//! The connections of this process: at most `max` open, reused while they work, closed ones
//! dropped. A caller that finds none free waits a bounded time, then is told the store is
//! busy (a fault that heals: come back).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use std::collections::HashMap;

use postgres::{Client, NoTls, Statement};
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
    idle: Vec<Conn>,
    open: usize,
}

/// An open connection with what it keeps between leases: its prepared statements, and
/// whether a read transaction was left open on it (see [`Lease::leave_open`]).
pub(in crate::store) struct Conn {
    client: Client,
    pub(super) statements: HashMap<String, Statement>,
    /// When a finished read left its transaction open, to be rolled back with the next
    /// `BEGIN` (one round trip saved per read), or by the reaper if the connection idles.
    pub(super) read_left_open: Option<Instant>,
}

/// A connection taken from the pool; it goes back when dropped, unless it broke.
pub(in crate::store) struct Lease {
    conn: Option<Conn>,
    pool: Arc<Pool>,
    pub(super) broken: bool,
}

/// The most prepared statements a connection keeps (the schema's statements are far fewer).
const MAX_STATEMENTS: usize = 512;

/// How long a connection may idle with a finished read's transaction still open.
const READ_LEFT_OPEN: Duration = Duration::from_millis(200);

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
        let weak = Arc::downgrade(&pool);
        let _ = std::thread::Builder::new()
            .name("db-reaper".into())
            .spawn(move || reap(&weak));
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
            while let Some(conn) = state.idle.pop() {
                if conn.client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(self.leased(conn));
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(client) => Ok(self.leased(Conn {
                        client,
                        statements: HashMap::new(),
                        read_left_open: None,
                    })),
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

    fn leased(self: &Arc<Self>, conn: Conn) -> Lease {
        Lease {
            conn: Some(conn),
            pool: self.clone(),
            broken: false,
        }
    }
}

/// Rolls back the read transactions that connections idling in the pool were left with, so
/// none holds its snapshot (and PostgreSQL's vacuum) for long; ends with the pool.
fn reap(pool: &std::sync::Weak<Pool>) {
    loop {
        std::thread::sleep(READ_LEFT_OPEN);
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let stale: Vec<Conn> = {
            let mut state = pool.state.lock().unwrap_or_else(|p| p.into_inner());
            let (stale, fresh) = std::mem::take(&mut state.idle).into_iter().partition(|c| {
                c.read_left_open
                    .is_some_and(|t| t.elapsed() >= READ_LEFT_OPEN)
            });
            state.idle = fresh;
            stale
        };
        for conn in stale {
            let mut lease = pool.leased(conn);
            if lease.finish_read().is_err() {
                lease.broken = true;
            }
        }
    }
}

impl Lease {
    pub(super) fn client(&mut self) -> &mut Client {
        &mut self.conn_mut().client
    }

    pub(super) fn conn_mut(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    /// Marks the read transaction on this connection as finished but left open.
    pub(super) fn leave_open(&mut self) {
        self.conn_mut().read_left_open = Some(Instant::now());
    }

    /// Ends a read transaction left open on this connection, if any: for uses of a
    /// connection outside a transaction (the advisory locks).
    pub(super) fn finish_read(&mut self) -> std::result::Result<(), postgres::Error> {
        if self.conn_mut().read_left_open.take().is_some() {
            self.client().batch_execute("ROLLBACK")?;
        }
        Ok(())
    }

    /// The statement `sql` with parameters of `types`, prepared once per connection.
    pub(super) fn statement(
        &mut self,
        sql: &str,
        types: &[postgres::types::Type],
    ) -> std::result::Result<Statement, postgres::Error> {
        let conn = self.conn_mut();
        if let Some(statement) = conn.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = conn.client.prepare_typed(sql, types)?;
        if conn.statements.len() >= MAX_STATEMENTS {
            conn.statements.clear();
        }
        conn.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        if self.broken || conn.client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(conn);
        }
        self.pool.freed.notify_one();
    }
}
