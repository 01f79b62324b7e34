//! The PostgreSQL store: the same tables as redb's, each `(k bytea primary key, v bytea)` in
//! the schema `messages`, reached through a small pool of connections of this process.
//!
//! Reads run in a `REPEATABLE READ READ ONLY` transaction (one snapshot, as a redb read);
//! writes run in the writer's `SERIALIZABLE` transaction, retried whole when PostgreSQL
//! reports a serialization failure or a deadlock (see `store::writer`). Nothing is acknowledged
//! before `COMMIT` returns; a connection lost mid-transaction loses the whole transaction.

mod config;
mod pool;
mod schema;
mod session;
mod tls;

pub use config::PgUrl;
pub(super) use pool::{Lease, Pool};
pub(super) use schema::{ensure_schema, fleet_lock_shared, housekeeping_turn, try_fleet_lock};
pub(super) use session::{Session, TxMode};

use crate::error::{Fault, StorageError};

/// The PostgreSQL schema (namespace) that holds every table of ours.
pub(in crate::store) const SCHEMA: &str = "messages";

/// What kind of fault a PostgreSQL error is, the error kept as its cause: a serialization
/// failure or a deadlock is a conflict (the transaction is run again); a lost connection or a
/// server shutting down is a closed store (the request is told to come back); a full disk is a
/// full disk. The error's text names no password: the client never puts one in it.
pub(super) fn classify(error: postgres::Error, context: &str) -> StorageError {
    use postgres::error::SqlState;
    let fault = match error.code() {
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => Fault::Conflict,
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => Fault::Conflict,
        Some(c) if *c == SqlState::DISK_FULL => Fault::DiskFull,
        Some(c)
            if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::TOO_MANY_CONNECTIONS
                || c.code().starts_with("08") =>
        {
            Fault::Closed
        }
        Some(_) => Fault::Other,
        // No SQL state: the connection itself failed (refused, reset, closed, timed out).
        None => Fault::Closed,
    };
    StorageError::new(fault, context.to_string()).caused_by(Told::of(error))
}

/// A PostgreSQL error told whole: the client's own text ("db error", "error performing TLS
/// handshake") followed by each cause (the server's message, the certificate's fault), which
/// is what an operator needs to read. The error itself is kept as the cause.
#[derive(Debug)]
struct Told {
    text: String,
    error: postgres::Error,
}

impl Told {
    fn of(error: postgres::Error) -> Self {
        let mut text = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(inner) = cause {
            let said = inner.to_string();
            if !text.contains(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            cause = inner.source();
        }
        Told { text, error }
    }
}

impl std::fmt::Display for Told {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Told {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
