//! One transaction on one leased connection, and the table operations `store::table` needs.
//!
//! Round trips are what a request pays for here, so a session spends as few as it can:
//! - every statement is prepared once per connection and then runs as one bind-and-execute;
//! - a write (`put`) needs no answer, so writes wait in the session and go to the server in
//!   one message, ahead of the next statement that reads (which must see them) or of `COMMIT`;
//! - a read transaction is not rolled back when it ends: the connection goes back to the pool
//!   with it open, and the next `BEGIN` on it rolls it back in the same message (the pool's
//!   reaper rolls back those left idle, so no snapshot is held for long).
//!
//! Table names are ours (the schema's constants), never a caller's text, so they are written
//! into the statements. Keys and values are parameters, except in the batched writes, where
//! they are written as hexadecimal (`decode('…', 'hex')`): digits and letters only.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Bound;

use postgres::types::{ToSql, Type};

use super::pool::Lease;
use super::{SCHEMA, classify};
use crate::error::{Result, StorageError};
use crate::store::table::Order;

/// How a transaction isolates itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum TxMode {
    /// A read snapshot: `REPEATABLE READ READ ONLY`.
    Read,
    /// A write: `SERIALIZABLE`, so every read-modify-write behaves as if run alone.
    Write,
}

/// A transaction in progress; dropping a write rolls it back.
pub(in crate::store) struct Session {
    lease: RefCell<Lease>,
    mode: TxMode,
    open: Cell<bool>,
    /// Writes not yet sent (statements of our own text).
    pending: RefCell<String>,
}

/// Pending writes past this size are sent at once (a few sends' bodies).
const PENDING_BYTES: usize = 1 << 20;

impl Session {
    pub(in crate::store) fn begin(mut lease: Lease, mode: TxMode) -> Result<Self, StorageError> {
        let begin = match mode {
            TxMode::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            TxMode::Write => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        };
        let left_open = lease.conn_mut().read_left_open.take().is_some();
        let sql = if left_open {
            format!("ROLLBACK; {begin}")
        } else {
            begin.to_string()
        };
        if let Err(e) = lease.client().batch_execute(&sql) {
            lease.broken = true;
            return Err(classify(e, "cannot begin a database transaction"));
        }
        Ok(Session {
            lease: RefCell::new(lease),
            mode,
            open: Cell::new(true),
            pending: RefCell::new(String::new()),
        })
    }

    /// Commits; the change is durable when this returns `Ok` (`synchronous_commit` is left as
    /// the server has it, `on` by default). The waiting writes go in the same message.
    pub(in crate::store) fn commit(self) -> Result<(), StorageError> {
        let mut sql = std::mem::take(&mut *self.pending.borrow_mut());
        sql.push_str("COMMIT");
        self.end(&sql, "cannot commit to the database")
    }

    pub(in crate::store) fn rollback(self) -> Result<(), StorageError> {
        self.pending.borrow_mut().clear();
        self.end("ROLLBACK", "cannot roll back a database transaction")
    }

    fn end(&self, statement: &str, context: &str) -> Result<(), StorageError> {
        self.open.set(false);
        let mut lease = self.lease.borrow_mut();
        lease.client().batch_execute(statement).map_err(|e| {
            lease.broken = true;
            classify(e, context)
        })
    }

    /// Sends the waiting writes, if any.
    fn flush(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let mut lease = self.lease.borrow_mut();
        lease
            .client()
            .batch_execute(&pending)
            .map_err(|e| failed(&mut lease, e))
    }

    /// Runs `sql` (prepared once per connection) with `params`, after the waiting writes.
    fn query(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<postgres::Row>> {
        self.flush()?;
        let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        let mut lease = self.lease.borrow_mut();
        let statement = lease
            .statement(sql, &types)
            .map_err(|e| failed(&mut lease, e))?;
        lease
            .client()
            .query(&statement, &values)
            .map_err(|e| failed(&mut lease, e))
    }

    /// Runs a statement of our own text without parameters (schema work).
    pub(in crate::store) fn execute(&self, sql: &str) -> Result<()> {
        self.flush()?;
        let mut lease = self.lease.borrow_mut();
        lease
            .client()
            .batch_execute(sql)
            .map_err(|e| failed(&mut lease, e))
    }

    /// The first column of the first row of a query of our own text, as a bool.
    pub(in crate::store) fn flag(&self, sql: &str) -> Result<bool> {
        let rows = self.query(sql, &[])?;
        Ok(rows.first().is_some_and(|row| row.get(0)))
    }

    pub(in crate::store) fn get(&self, table: &str, key: &Vec<u8>) -> Result<Option<Vec<u8>>> {
        let sql = format!("SELECT v FROM {SCHEMA}.{table} WHERE k = $1");
        let rows = self.query(&sql, &[(key, Type::BYTEA)])?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    pub(in crate::store) fn get_many(
        &self,
        table: &str,
        keys: &[Vec<u8>],
    ) -> Result<HashMap<Vec<u8>, Vec<u8>>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!("SELECT k, v FROM {SCHEMA}.{table} WHERE k = ANY($1)");
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let rows = self.query(&sql, &[(&keys, Type::BYTEA_ARRAY)])?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    pub(in crate::store) fn range(
        &self,
        table: &str,
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut sql = format!("SELECT k, v FROM {SCHEMA}.{table}");
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = Vec::new();
        let mut conditions = Vec::new();
        for (bound, inclusive, exclusive) in [(&from, ">=", ">"), (&to, "<=", "<")] {
            let (op, key) = match bound {
                Bound::Included(key) => (inclusive, key),
                Bound::Excluded(key) => (exclusive, key),
                Bound::Unbounded => continue,
            };
            params.push((key, Type::BYTEA));
            conditions.push(format!("k {op} ${}", params.len()));
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(match order {
            Order::Oldest => " ORDER BY k ASC",
            Order::Newest => " ORDER BY k DESC",
        });
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if limit < i64::MAX {
            params.push((&limit, Type::INT8));
            sql.push_str(&format!(" LIMIT ${}", params.len()));
        }
        let rows = self.query(&sql, &params)?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Stores `value` under `key`: sent with the next statement that reads, or with `COMMIT`.
    pub(in crate::store) fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let too_much = {
            let mut pending = self.pending.borrow_mut();
            pending.push_str(&format!(
                "INSERT INTO {SCHEMA}.{table} (k, v) VALUES (decode('{}', 'hex'), decode('{}', 'hex')) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v; ",
                hex::encode(key),
                hex::encode(value)
            ));
            pending.len() > PENDING_BYTES
        };
        if too_much { self.flush() } else { Ok(()) }
    }

    pub(in crate::store) fn remove(&self, table: &str, key: &Vec<u8>) -> Result<Option<Vec<u8>>> {
        let sql = format!("DELETE FROM {SCHEMA}.{table} WHERE k = $1 RETURNING v");
        let rows = self.query(&sql, &[(key, Type::BYTEA)])?;
        Ok(rows.first().map(|row| row.get(0)))
    }
}

/// A statement's error as a storage error; a connection that closed is not handed out again.
fn failed(lease: &mut Lease, error: postgres::Error) -> crate::error::Error {
    let error = classify(error, "a database statement failed");
    if error.fault().heals() && lease.client().is_closed() {
        lease.broken = true;
    }
    error.into()
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.open.get() {
            return;
        }
        if self.mode == TxMode::Read {
            // A read changed nothing: its transaction is ended by the next BEGIN on this
            // connection, or by the pool's reaper (see the module's comment).
            self.lease.borrow_mut().leave_open();
            return;
        }
        let _ = self.end("ROLLBACK", "cannot roll back a database transaction");
    }
}
