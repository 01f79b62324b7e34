//! The `counters` table: the states of the guards against guessing (login throttles and
//! lockouts, the registration PIN's ceiling), as opaque bytes under a string key, so every
//! server of a fleet counts against the same numbers and a restart forgets none. They are no
//! record of anyone's data: a dump leaves them out and a restore starts them afresh.

use std::ops::Bound;

use super::table::Order;
use super::tables::COUNTERS;
use super::{Rx, Tx};
use crate::error::{Error, Result};

/// Keys end with a NUL in PostgreSQL (see `store::table`): none may hold one.
fn key(name: &str) -> Result<String> {
    if name.contains('\0') {
        return Err(Error::Internal("a counter key holds a NUL".into()));
    }
    Ok(name.to_string())
}

impl Rx {
    pub fn counter_state(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.at().get(COUNTERS, &key(name)?)
    }
}

impl Tx<'_> {
    pub fn counter_state(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.at().get(COUNTERS, &key(name)?)
    }

    pub fn put_counter_state(&self, name: &str, state: &[u8]) -> Result<()> {
        self.put(COUNTERS, &key(name)?, &state.to_vec())
    }

    /// Drops the states under `prefix` that `stale` names; returns how many.
    pub fn purge_counter_states(&self, prefix: &str, stale: impl Fn(&[u8]) -> bool) -> Result<u64> {
        let from = key(prefix)?;
        let mut doomed = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let lower = after
                .as_ref()
                .map_or(Bound::Included(&from), Bound::Excluded);
            let step = self
                .at()
                .range(COUNTERS, lower, Bound::Unbounded, Order::Oldest, 1000)?;
            let full = step.len() == 1000;
            for (name, state) in step {
                if !name.starts_with(prefix) {
                    return self.remove_all(doomed);
                }
                if stale(&state) {
                    doomed.push(name.clone());
                }
                after = Some(name);
            }
            if !full {
                return self.remove_all(doomed);
            }
        }
    }

    fn remove_all(&self, names: Vec<String>) -> Result<u64> {
        for name in &names {
            self.remove(COUNTERS, name)?;
        }
        Ok(names.len() as u64)
    }
}
