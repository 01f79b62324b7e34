//! The one way the typed operations reach a table, whatever the store: a table is a
//! [`Def`] (its name, the Rust types of its keys and values), and reads and writes go through
//! [`Reading`] and [`Tx`], which hand them to redb or to PostgreSQL.
//!
//! In redb a `Def` is the same typed table as before (the file format does not change). In
//! PostgreSQL it is a table of `(k bytea primary key, v bytea)`, the key written by
//! [`Column::put`] so that byte order is the order redb keeps: a range scan, newest first or
//! oldest first, visits the same rows in the same order in both. So every typed operation is
//! written once and means the same thing on both stores.

use std::marker::PhantomData;
use std::ops::Bound;

use redb::{Key, ReadableTable, TableDefinition, Value};

use super::pg;
use super::{Rx, Tx};
use crate::error::{Error, Result};

/// A Rust type stored in a key or a value: how redb holds it, and its bytes for PostgreSQL.
pub trait Column: Sized + 'static {
    /// The redb type of the column (a borrowed view where redb borrows, `&str` for `String`).
    type Redb: Value + 'static;
    fn as_redb(&self) -> <Self::Redb as Value>::SelfType<'_>;
    fn from_redb(value: <Self::Redb as Value>::SelfType<'_>) -> Self;
    /// Appends the column's bytes; for keys, the byte order of two encodings is the order redb
    /// sorts the values in.
    fn put(&self, out: &mut Vec<u8>);
    /// Reads the column from the front of `input`, advancing it.
    fn take(input: &mut &[u8]) -> Result<Self>;
}

fn malformed() -> Error {
    Error::corrupt("a stored key or value has the wrong length")
}

fn take_array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N]> {
    if input.len() < N {
        return Err(malformed());
    }
    let (head, rest) = input.split_at(N);
    *input = rest;
    head.try_into().map_err(|_| malformed())
}

impl Column for String {
    type Redb = &'static str;
    fn as_redb(&self) -> &str {
        self.as_str()
    }
    fn from_redb(value: &str) -> Self {
        value.to_string()
    }
    /// The bytes and a NUL: no stored name holds one (usernames and meta keys are checked),
    /// and the NUL sorts a name before every longer name it is a prefix of, as redb does.
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
        out.push(0);
    }
    fn take(input: &mut &[u8]) -> Result<Self> {
        let end = input.iter().position(|&b| b == 0).ok_or_else(malformed)?;
        let text = std::str::from_utf8(&input[..end]).map_err(|_| malformed())?;
        *input = &input[end + 1..];
        Ok(text.to_string())
    }
}

/// Bytes are only ever a value, or the last part of one: they take the rest of the input.
impl Column for Vec<u8> {
    type Redb = &'static [u8];
    fn as_redb(&self) -> &[u8] {
        self.as_slice()
    }
    fn from_redb(value: &[u8]) -> Self {
        value.to_vec()
    }
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn take(input: &mut &[u8]) -> Result<Self> {
        let all = input.to_vec();
        *input = &[];
        Ok(all)
    }
}

macro_rules! big_endian {
    ($($t:ty),*) => {$(
        impl Column for $t {
            type Redb = $t;
            fn as_redb(&self) -> $t {
                *self
            }
            fn from_redb(value: $t) -> Self {
                value
            }
            fn put(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn take(input: &mut &[u8]) -> Result<Self> {
                Ok(<$t>::from_be_bytes(take_array(input)?))
            }
        }
    )*};
}
// Signed numbers are only values here, never keys: their bytes need not sort.
big_endian!(u64, u128, i64);

impl Column for bool {
    type Redb = bool;
    fn as_redb(&self) -> bool {
        *self
    }
    fn from_redb(value: bool) -> Self {
        value
    }
    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn take(input: &mut &[u8]) -> Result<Self> {
        match take_array::<1>(input)? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(malformed()),
        }
    }
}

impl Column for [u8; 32] {
    type Redb = [u8; 32];
    fn as_redb(&self) -> [u8; 32] {
        *self
    }
    fn from_redb(value: [u8; 32]) -> Self {
        value
    }
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn take(input: &mut &[u8]) -> Result<Self> {
        take_array(input)
    }
}

/// The pairs the schema uses, each part encoded in turn (so a pair sorts by its first part,
/// then its second, as redb sorts tuples).
macro_rules! pairs {
    ($(($a:ty, $b:ty) as ($ra:ty, $rb:ty)),*) => {$(
        impl Column for ($a, $b) {
            type Redb = ($ra, $rb);
            fn as_redb(&self) -> <Self::Redb as Value>::SelfType<'_> {
                (self.0.as_redb(), self.1.as_redb())
            }
            fn from_redb(value: <Self::Redb as Value>::SelfType<'_>) -> Self {
                (<$a>::from_redb(value.0), <$b>::from_redb(value.1))
            }
            fn put(&self, out: &mut Vec<u8>) {
                self.0.put(out);
                self.1.put(out);
            }
            fn take(input: &mut &[u8]) -> Result<Self> {
                let a = <$a>::take(input)?;
                Ok((a, <$b>::take(input)?))
            }
        }
    )*};
}
pairs!(
    (String, u64) as (&'static str, u64),
    (String, u128) as (&'static str, u128),
    (u128, Vec<u8>) as (u128, &'static [u8]),
    (u128, bool) as (u128, bool)
);

/// The bytes of one column.
pub(super) fn bytes_of<C: Column>(column: &C) -> Vec<u8> {
    let mut out = Vec::new();
    column.put(&mut out);
    out
}

/// A column read back from its bytes, all of which it must use.
pub(super) fn from_bytes<C: Column>(bytes: &[u8]) -> Result<C> {
    let mut input = bytes;
    let column = C::take(&mut input)?;
    if !input.is_empty() {
        return Err(malformed());
    }
    Ok(column)
}

/// A table: its name (the same in both stores) and the types of its keys and values.
pub struct Def<K, V> {
    pub name: &'static str,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for Def<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Def<K, V> {}

impl<K: Column, V: Column> Def<K, V>
where
    K::Redb: Key,
{
    pub const fn new(name: &'static str) -> Self {
        Def {
            name,
            types: PhantomData,
        }
    }

    pub fn redb(self) -> TableDefinition<'static, K::Redb, V::Redb> {
        TableDefinition::new(self.name)
    }
}

/// Which way a range scan walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Oldest,
    Newest,
}

/// A place to read from: a read snapshot or a write transaction, of either store.
#[derive(Clone, Copy)]
pub(super) enum Reading<'a> {
    Snapshot(&'a redb::ReadTransaction),
    Writing(&'a redb::WriteTransaction),
    Pg(&'a pg::Session),
}

impl Rx {
    pub(super) fn at(&self) -> Reading<'_> {
        match &self.inner {
            super::RxInner::Redb { txn, .. } => Reading::Snapshot(txn),
            super::RxInner::Pg(session) => Reading::Pg(session),
        }
    }
}

impl Rx {
    /// Whether `error` says a table is missing (a redb file made before the table existed).
    pub(super) fn lacks_table(&self, error: &crate::error::StorageError) -> bool {
        use std::error::Error as _;
        matches!(
            error.source().and_then(|s| s.downcast_ref::<redb::Error>()),
            Some(redb::Error::TableDoesNotExist(_))
        )
    }
}

impl Tx<'_> {
    pub(super) fn at(&self) -> Reading<'_> {
        match self.inner {
            super::TxInner::Redb(txn) => Reading::Writing(txn),
            super::TxInner::Pg(session) => Reading::Pg(session),
        }
    }
}

fn get_in<K: Column, V: Column>(
    table: &impl ReadableTable<K::Redb, V::Redb>,
    key: &K,
) -> Result<Option<V>>
where
    K::Redb: Key,
{
    Ok(table.get(key.as_redb())?.map(|v| V::from_redb(v.value())))
}

fn range_in<K: Column, V: Column>(
    table: &impl ReadableTable<K::Redb, V::Redb>,
    from: Bound<&K>,
    to: Bound<&K>,
    order: Order,
    limit: usize,
) -> Result<Vec<(K, V)>>
where
    K::Redb: Key,
{
    let from = from.map(|k| k.as_redb());
    let to = to.map(|k| k.as_redb());
    let range = table.range::<<K::Redb as Value>::SelfType<'_>>((from, to))?;
    // Room for a page of rows at once (a listing reads 51), without reserving a whole STEP.
    let mut rows = Vec::with_capacity(limit.min(128));
    let mut push = |entry: std::result::Result<_, redb::StorageError>| -> Result<()> {
        let (key, value): (
            redb::AccessGuard<'_, K::Redb>,
            redb::AccessGuard<'_, V::Redb>,
        ) = entry?;
        rows.push((K::from_redb(key.value()), V::from_redb(value.value())));
        Ok(())
    };
    match order {
        Order::Oldest => range.take(limit).try_for_each(&mut push)?,
        Order::Newest => range.rev().take(limit).try_for_each(&mut push)?,
    }
    Ok(rows)
}

impl Reading<'_> {
    pub(super) fn get<K: Column, V: Column>(self, table: Def<K, V>, key: &K) -> Result<Option<V>>
    where
        K::Redb: Key,
    {
        match self {
            Reading::Snapshot(txn) => get_in(&txn.open_table(table.redb())?, key),
            Reading::Writing(txn) => get_in(&txn.open_table(table.redb())?, key),
            Reading::Pg(session) => session
                .get(table.name, &bytes_of(key))?
                .map(|v| from_bytes(&v))
                .transpose(),
        }
    }

    /// The values at `keys`, in their order (`None` where there is none): one round trip in
    /// PostgreSQL, however many keys.
    pub(super) fn get_many<K: Column, V: Column>(
        self,
        table: Def<K, V>,
        keys: &[K],
    ) -> Result<Vec<Option<V>>>
    where
        K::Redb: Key,
    {
        match self {
            Reading::Pg(session) => {
                let keys: Vec<Vec<u8>> = keys.iter().map(bytes_of).collect();
                let found = session.get_many(table.name, &keys)?;
                keys.iter()
                    .map(|k| found.get(k).map(|v| from_bytes(v)).transpose())
                    .collect()
            }
            // One open of the table for all the keys: opening a table looks it up in the
            // file's table of tables, which costs more than the lookup of one small row.
            Reading::Snapshot(txn) => {
                let opened = txn.open_table(table.redb())?;
                keys.iter().map(|k| get_in(&opened, k)).collect()
            }
            Reading::Writing(txn) => {
                let opened = txn.open_table(table.redb())?;
                keys.iter().map(|k| get_in(&opened, k)).collect()
            }
        }
    }

    /// Up to `limit` rows with keys between `from` and `to`, walked in `order`.
    pub(super) fn range<K: Column, V: Column>(
        self,
        table: Def<K, V>,
        from: Bound<&K>,
        to: Bound<&K>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<(K, V)>>
    where
        K::Redb: Key,
    {
        match self {
            Reading::Snapshot(txn) => {
                range_in(&txn.open_table(table.redb())?, from, to, order, limit)
            }
            Reading::Writing(txn) => {
                range_in(&txn.open_table(table.redb())?, from, to, order, limit)
            }
            Reading::Pg(session) => {
                let from = from.map(bytes_of);
                let to = to.map(bytes_of);
                let rows = session.range(table.name, from, to, order, limit)?;
                rows.iter()
                    .map(|(k, v)| Ok((from_bytes(k)?, from_bytes(v)?)))
                    .collect()
            }
        }
    }

    /// Hands every row to `visit`, in key order, reading `STEP` rows at a time, so a table of
    /// any size is walked in bounded memory.
    pub(super) fn each<K: Column + Clone, V: Column>(
        self,
        table: Def<K, V>,
        mut visit: impl FnMut(K, V) -> Result<()>,
    ) -> Result<()>
    where
        K::Redb: Key,
    {
        let mut after: Option<K> = None;
        loop {
            let from = after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
            let step = self.range(table, from, Bound::Unbounded, Order::Oldest, STEP)?;
            let full = step.len() == STEP;
            for (key, value) in step {
                after = Some(key.clone());
                visit(key, value)?;
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// Rows read per step by [`Reading::each`].
pub(super) const STEP: usize = 1000;

impl Tx<'_> {
    /// Stores `value` under `key`, replacing what was there.
    pub(super) fn put<K: Column, V: Column>(
        &self,
        table: Def<K, V>,
        key: &K,
        value: &V,
    ) -> Result<()>
    where
        K::Redb: Key,
    {
        match self.inner {
            super::TxInner::Redb(txn) => {
                txn.open_table(table.redb())?
                    .insert(key.as_redb(), value.as_redb())?;
                Ok(())
            }
            super::TxInner::Pg(session) => {
                session.put(table.name, &bytes_of(key), &bytes_of(value))
            }
        }
    }

    /// Removes the row at `key`, returning its value if there was one.
    pub(super) fn remove<K: Column, V: Column>(
        &self,
        table: Def<K, V>,
        key: &K,
    ) -> Result<Option<V>>
    where
        K::Redb: Key,
    {
        match self.inner {
            super::TxInner::Redb(txn) => {
                let mut open = txn.open_table(table.redb())?;
                let removed = open.remove(key.as_redb())?;
                Ok(removed.map(|v| V::from_redb(v.value())))
            }
            super::TxInner::Pg(session) => session
                .remove(table.name, &bytes_of(key))?
                .map(|v| from_bytes(&v))
                .transpose(),
        }
    }

    /// Creates the table if it is missing (redb; PostgreSQL's tables come from its schema).
    pub(super) fn create<K: Column, V: Column>(&self, table: Def<K, V>) -> Result<()>
    where
        K::Redb: Key,
    {
        if let super::TxInner::Redb(txn) = self.inner {
            txn.open_table(table.redb())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_like_redb<C: Column + Ord + Clone + std::fmt::Debug>(mut values: Vec<C>) {
        let mut by_bytes = values.clone();
        by_bytes.sort_by_key(bytes_of);
        values.sort();
        assert_eq!(by_bytes, values);
        for value in values {
            assert_eq!(from_bytes::<C>(&bytes_of(&value)).unwrap(), value);
        }
    }

    #[test]
    fn keys_sort_by_their_bytes_as_redb_sorts_them() {
        sorted_like_redb(vec![0u64, 1, 255, 256, u64::MAX, 1 << 40]);
        sorted_like_redb(vec![0u128, 7, u128::MAX, 1 << 90]);
        let names = ["a", "ab", "abc", "b", "", "a-b", "a_b", "z9"];
        sorted_like_redb(names.iter().map(|s| s.to_string()).collect());
        let mut pairs = Vec::new();
        for name in names {
            for seq in [0u64, 1, 300, u64::MAX] {
                pairs.push((name.to_string(), seq));
            }
        }
        sorted_like_redb(pairs);
        sorted_like_redb(vec![[0u8; 32], [255u8; 32], [7u8; 32]]);
    }

    #[test]
    fn a_value_of_the_wrong_length_is_refused() {
        assert!(from_bytes::<u64>(&[1, 2, 3]).is_err());
        assert!(from_bytes::<u64>(&[0; 9]).is_err());
        assert!(from_bytes::<String>(b"no terminator").is_err());
        assert!(from_bytes::<bool>(&[2]).is_err());
        let pair = (5u128, b"bytes".to_vec());
        assert_eq!(
            from_bytes::<(u128, Vec<u8>)>(&bytes_of(&pair)).unwrap(),
            pair
        );
    }
}
