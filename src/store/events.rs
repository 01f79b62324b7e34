//! Security events (login failures, lockouts, resets, deletions, PIN changes), kept in the
//! database so `messages audit` can show them and a retention setting can purge them.

use super::meta;
use super::records::{EventRecord, decode, encode};
use super::table::Def;
use super::tables::EVENTS;
use super::{Rx, Tx};
use crate::error::Result;

impl Rx {
    /// Events at or after `since`, oldest first.
    pub fn events_since(&self, since: i64) -> Result<Vec<EventRecord>> {
        let mut found = Vec::new();
        self.at().each(EVENTS, |_, value| {
            let record: EventRecord = decode(&value)?;
            if record.at >= since {
                found.push(record);
            }
            Ok(())
        })?;
        Ok(found)
    }
}

impl Tx<'_> {
    pub fn record_event(&self, event: &EventRecord) -> Result<()> {
        let number = meta::next(self, meta::NEXT_EVENT)?;
        self.put(EVENTS, &number, &encode(event)?)
    }

    /// Drops events older than `before`; returns how many.
    pub fn purge_events_before(&self, before: i64) -> Result<u64> {
        self.purge_log::<EventRecord>(EVENTS, |r| r.at < before)
    }

    /// Drops the records of a numbered log table that `expired` names (an undecodable record
    /// is kept, never silently lost); returns how many went.
    pub(crate) fn purge_log<R: serde::de::DeserializeOwned>(
        &self,
        table: Def<u64, Vec<u8>>,
        expired: impl Fn(&R) -> bool,
    ) -> Result<u64> {
        let mut doomed = Vec::new();
        self.at().each(table, |number, value| {
            if decode::<R>(&value).is_ok_and(|r| expired(&r)) {
                doomed.push(number);
            }
            Ok(())
        })?;
        for number in &doomed {
            self.remove(table, number)?;
        }
        Ok(doomed.len() as u64)
    }
}
