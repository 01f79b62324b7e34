//! One transaction on one leased connection, and the table operations `store::table` needs,
//! each one statement and one round trip (`query_typed`: parse, bind and execute together).
//!
//! Table names are ours (the schema's constants), never a caller's text, so they are written
//! into the statements; keys and values are always parameters.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Bound;

use postgres::types::Type;

use super::pool::Lease;
use super::{SCHEMA, classify};
use crate::error::{Result, StorageError};
use crate::store::table::Order;

/// How a transaction isolates itself.
#[derive(Debug, Clone, Copy)]
pub(in crate::store) enum TxMode {
    /// A read snapshot: `REPEATABLE READ READ ONLY`.
    Read,
    /// A write: `SERIALIZABLE`, so every read-modify-write behaves as if run alone.
    Write,
}

/// A transaction in progress; dropping it rolls it back.
pub(in crate::store) struct Session {
    lease: RefCell<Lease>,
    open: std::cell::Cell<bool>,
}

impl Session {
    pub(in crate::store) fn begin(mut lease: Lease, mode: TxMode) -> Result<Self, StorageError> {
        let begin = match mode {
            TxMode::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            TxMode::Write => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        };
        if let Err(e) = lease.client().batch_execute(begin) {
            lease.broken = true;
            return Err(classify(e, "cannot begin a database transaction"));
        }
        Ok(Session {
            lease: RefCell::new(lease),
            open: std::cell::Cell::new(true),
        })
    }

    /// Commits; the change is durable when this returns `Ok` (`synchronous_commit` is left as
    /// the server has it, `on` by default).
    pub(in crate::store) fn commit(self) -> Result<(), StorageError> {
        self.end("COMMIT", "cannot commit to the database")
    }

    pub(in crate::store) fn rollback(self) -> Result<(), StorageError> {
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

    /// Runs `sql` with bytea parameters; a failure spoils the transaction, as PostgreSQL does.
    fn query(&self, sql: &str, params: &[&Vec<u8>]) -> Result<Vec<postgres::Row>> {
        let typed: Vec<(&(dyn postgres::types::ToSql + Sync), Type)> = params
            .iter()
            .map(|p| (*p as &(dyn postgres::types::ToSql + Sync), Type::BYTEA))
            .collect();
        let mut lease = self.lease.borrow_mut();
        lease.client().query_typed(sql, &typed).map_err(|e| {
            let error = classify(e, "a database statement failed");
            if error.fault().heals() {
                lease.broken = lease.client().is_closed();
            }
            error.into()
        })
    }

    /// Runs a statement of our own text without parameters (schema work).
    pub(in crate::store) fn execute(&self, sql: &str) -> Result<()> {
        let mut lease = self.lease.borrow_mut();
        lease
            .client()
            .batch_execute(sql)
            .map_err(|e| classify(e, "a database statement failed").into())
    }

    /// The first column of the first row of a query of our own text, as a bool.
    pub(in crate::store) fn flag(&self, sql: &str) -> Result<bool> {
        let mut lease = self.lease.borrow_mut();
        let row = lease
            .client()
            .query_one(sql, &[])
            .map_err(|e| classify(e, "a database statement failed"))?;
        Ok(row.get(0))
    }

    pub(in crate::store) fn get(&self, table: &str, key: &Vec<u8>) -> Result<Option<Vec<u8>>> {
        let sql = format!("SELECT v FROM {SCHEMA}.{table} WHERE k = $1");
        let rows = self.query(&sql, &[key])?;
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
        let mut lease = self.lease.borrow_mut();
        let rows = lease
            .client()
            .query_typed(&sql, &[(&keys, Type::BYTEA_ARRAY)])
            .map_err(|e| classify(e, "a database statement failed"))?;
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
        let mut params = Vec::new();
        let mut conditions = Vec::new();
        for (bound, inclusive, exclusive) in [(&from, ">=", ">"), (&to, "<=", "<")] {
            let (op, key) = match bound {
                Bound::Included(key) => (inclusive, key),
                Bound::Excluded(key) => (exclusive, key),
                Bound::Unbounded => continue,
            };
            params.push(key);
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
        if limit < i64::MAX as usize {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let rows = self.query(&sql, &params)?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    pub(in crate::store) fn put(&self, table: &str, key: &Vec<u8>, value: &Vec<u8>) -> Result<()> {
        let sql = format!(
            "INSERT INTO {SCHEMA}.{table} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
        );
        self.query(&sql, &[key, value])?;
        Ok(())
    }

    pub(in crate::store) fn remove(&self, table: &str, key: &Vec<u8>) -> Result<Option<Vec<u8>>> {
        let sql = format!("DELETE FROM {SCHEMA}.{table} WHERE k = $1 RETURNING v");
        let rows = self.query(&sql, &[key])?;
        Ok(rows.first().map(|row| row.get(0)))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.open.get() {
            let _ = self.end("ROLLBACK", "cannot roll back a database transaction");
        }
    }
}
