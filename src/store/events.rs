//! Security events (login failures, lockouts, resets, deletions, PIN changes), kept in the
//! database so `messages audit` can show them and a retention setting can purge them.

use redb::ReadableTable;

use super::meta;
use super::records::{EventRecord, decode, encode};
use super::tables::EVENTS;
use super::{Rx, Tx};
use crate::error::Result;

impl Rx {
    /// Events at or after `since`, oldest first.
    pub fn events_since(&self, since: i64) -> Result<Vec<EventRecord>> {
        let table = self.txn.open_table(EVENTS)?;
        let mut found = Vec::new();
        for entry in table.iter()? {
            let record: EventRecord = decode(entry?.1.value())?;
            if record.at >= since {
                found.push(record);
            }
        }
        Ok(found)
    }
}

impl Tx<'_> {
    pub fn record_event(&self, event: &EventRecord) -> Result<()> {
        let number = meta::next(self, meta::NEXT_EVENT)?;
        self.txn
            .open_table(EVENTS)?
            .insert(number, encode(event)?.as_slice())?;
        Ok(())
    }

    /// Drops events older than `before`; returns how many.
    pub fn purge_events_before(&self, before: i64) -> Result<u64> {
        self.purge_log::<EventRecord>(EVENTS, |r| r.at < before)
    }

    /// Drops the records of a numbered log table that `expired` names (an undecodable record
    /// is kept, never silently lost); returns how many went.
    pub(crate) fn purge_log<R: serde::de::DeserializeOwned>(
        &self,
        table: redb::TableDefinition<u64, &[u8]>,
        expired: impl Fn(&R) -> bool,
    ) -> Result<u64> {
        let mut table = self.txn.open_table(table)?;
        let mut n_purged = 0;
        table.retain(|_, value| {
            let keep = decode::<R>(value).map(|r| !expired(&r)).unwrap_or(true);
            n_purged += u64::from(!keep);
            keep
        })?;
        Ok(n_purged)
    }
}
