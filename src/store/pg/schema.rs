//! The SQL schema, applied on open, and the advisory locks the fleet shares.
//!
//! Every table of the registry is `(k bytea primary key, v bytea not null)` in the schema
//! `messages`, created if missing on every open (as redb creates its tables). The schema
//! version is the one `store::migrate` keeps in the `meta` table, for both stores; opens by
//! several servers at once are serialized by an advisory lock held to the end of the
//! transaction, so two of them never create or migrate at the same time.

use std::sync::Arc;

use super::pool::{Lease, Pool};
use super::{SCHEMA, Session, TxMode};
use crate::error::{Error, Result};

/// Advisory lock keys (arbitrary constants, the same in every process of this binary).
const OPEN_LOCK: i64 = 0x6d73_6701;
const FLEET_LOCK: i64 = 0x6d73_6702;
const HOUSEKEEPING_LOCK: i64 = 0x6d73_6703;

/// The statements that make the schema of `tables`, each safe to run again.
pub(in crate::store) fn schema_sql(tables: &[&str]) -> Vec<String> {
    let mut statements = vec![format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}")];
    for table in tables {
        statements.push(format!(
            "CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} (k bytea PRIMARY KEY, v bytea NOT NULL)"
        ));
    }
    statements
}

/// Begins the transaction that opens the database: takes the open lock, creates what is
/// missing. The caller checks and migrates the version in it, then commits.
pub(in crate::store) fn ensure_schema(pool: &Arc<Pool>, tables: &[&str]) -> Result<Session> {
    let session = pool.begin(TxMode::Write)?;
    session.execute(&format!("SELECT pg_advisory_xact_lock({OPEN_LOCK})"))?;
    for statement in schema_sql(tables) {
        session.execute(&statement)?;
    }
    Ok(session)
}

/// Held by every running server for its life (shared): `restore` takes it exclusively, so it
/// refuses to replace the data under a running server.
pub(in crate::store) fn fleet_lock_shared(pool: &Arc<Pool>) -> Result<Lease> {
    let mut lease = pool.lease()?;
    lease
        .finish_read()
        .map_err(|e| super::classify(e, "cannot take the fleet's lock"))?;
    lease
        .client()
        .batch_execute(&format!("SELECT pg_advisory_lock_shared({FLEET_LOCK})"))
        .map_err(|e| super::classify(e, "cannot take the fleet's lock"))?;
    Ok(lease)
}

/// Takes the fleet lock exclusively on `session`'s connection, for the rest of its
/// transaction; refuses while any server holds it.
pub(in crate::store) fn try_fleet_lock(session: &Session) -> Result<()> {
    if session.flag(&format!("SELECT pg_try_advisory_xact_lock({FLEET_LOCK})"))? {
        Ok(())
    } else {
        Err(Error::storage(
            "a server is running against this database: stop every server before restoring",
        ))
    }
}

/// The housekeeping turn: the lock held on a connection of its own until the lease is
/// dropped (which ends the connection's hold whether or not the unlock is heard), or `None`
/// when another server holds it.
pub(in crate::store) fn housekeeping_turn(pool: &Arc<Pool>) -> Result<Option<Turn>> {
    let mut lease = pool.lease()?;
    lease
        .finish_read()
        .map_err(|e| super::classify(e, "cannot take the housekeeping lock"))?;
    let row = lease
        .client()
        .query_one(
            &format!("SELECT pg_try_advisory_lock({HOUSEKEEPING_LOCK})"),
            &[],
        )
        .map_err(|e| super::classify(e, "cannot take the housekeeping lock"))?;
    Ok(row.get::<_, bool>(0).then_some(Turn(lease)))
}

/// A held housekeeping turn; dropping it lets the lock go.
pub(in crate::store) struct Turn(Lease);

impl Drop for Turn {
    fn drop(&mut self) {
        let unlock = format!("SELECT pg_advisory_unlock({HOUSEKEEPING_LOCK})");
        if self.0.client().batch_execute(&unlock).is_err() {
            // The lock lives as long as the connection: never hand this one out again.
            self.0.broken = true;
        }
    }
}
