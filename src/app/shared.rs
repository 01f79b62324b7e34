//! Small counters the guards against guessing keep (the throttle's per-key windows, the PIN
//! guard's ceiling), either in the database, where every server of a fleet and the next
//! start of this one see the same counts, or in this process's memory, for limits that only
//! protect this process (the search rate).
//!
//! A state is a serde value under a string key. In the database each change of the states of
//! a few keys is one write transaction: read, change, write, so two servers changing one key
//! at once are serialized by the store (a lost count is impossible). Times are wall-clock
//! milliseconds, the clock the servers of a fleet share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crypto::DataKey;
use crate::error::{Error, Result};
use crate::store::Store;

/// Most keys kept in memory; past it, states the caller calls stale are dropped first.
const MAX_KEYS: usize = 100_000;

pub enum Shared {
    Memory(Mutex<HashMap<String, Vec<u8>>>),
    /// In the database, each key under `namespace/`, so guards sharing the table never read
    /// each other's states. The key itself is stored only as a MAC under the data key: a
    /// throttle key holds what someone typed as a username, which may be a password typed
    /// into the wrong field, and that must not reach the disk.
    Stored {
        store: Store,
        namespace: &'static str,
        key: Arc<DataKey>,
    },
}

/// The stored name of `key`: its namespace and the hex of its MAC.
fn stored_name(data_key: &DataKey, namespace: &str, key: &str) -> String {
    let mac = data_key.mac("counter-key", key.as_bytes());
    format!("{namespace}/{}", hex::encode(mac))
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn decode<T: DeserializeOwned + Default>(bytes: Option<&[u8]>) -> T {
    // A state that does not decode (another binary's shape) starts afresh: it only counts.
    bytes
        .and_then(|b| postcard::from_bytes(b).ok())
        .unwrap_or_default()
}

fn encode<T: Serialize>(state: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(state).map_err(|e| Error::Internal(format!("encoding a counter: {e}")))
}

impl Shared {
    pub fn memory() -> Self {
        Shared::Memory(Mutex::new(HashMap::new()))
    }

    /// The states of `keys`, as they are now.
    pub fn read<T: DeserializeOwned + Default>(&self, keys: &[String]) -> Result<Vec<T>> {
        match self {
            Shared::Memory(map) => {
                let map = map.lock().unwrap_or_else(|p| p.into_inner());
                Ok(keys
                    .iter()
                    .map(|k| decode(map.get(k).map(|v| v.as_slice())))
                    .collect())
            }
            Shared::Stored {
                store,
                namespace,
                key,
            } => store.read(|rx| {
                keys.iter()
                    .map(|k| {
                        let name = stored_name(key, namespace, k);
                        Ok(decode(rx.counter_state(&name)?.as_deref()))
                    })
                    .collect()
            }),
        }
    }

    /// Changes the states of `keys` together: `change` sees them as they are and may refuse
    /// (an `Err`: then nothing is written) or change them (all are written back).
    /// `stale` says which states may be dropped when memory is full.
    pub fn update<T, R>(
        &self,
        keys: &[String],
        change: impl Fn(&mut [T]) -> Result<R> + Send + Sync + 'static,
        stale: fn(&T) -> bool,
    ) -> Result<R>
    where
        T: Serialize + DeserializeOwned + Default + 'static,
        R: Send + 'static,
    {
        match self {
            Shared::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let mut states: Vec<T> = keys
                    .iter()
                    .map(|k| decode(map.get(k).map(|v| v.as_slice())))
                    .collect();
                let outcome = change(&mut states)?;
                if map.len() + keys.len() > MAX_KEYS {
                    map.retain(|_, v| !stale(&decode::<T>(Some(v))));
                }
                for (key, state) in keys.iter().zip(&states) {
                    if map.len() >= MAX_KEYS && !map.contains_key(key) {
                        // Still full of live states: the oldest insertion order is unknown,
                        // so one arbitrary state makes room.
                        if let Some(any) = map.keys().next().cloned() {
                            map.remove(&any);
                        }
                    }
                    map.insert(key.clone(), encode(state)?);
                }
                Ok(outcome)
            }
            Shared::Stored {
                store,
                namespace,
                key,
            } => {
                let keys: Arc<[String]> = keys
                    .iter()
                    .map(|k| stored_name(key, namespace, k))
                    .collect();
                store.write(move |tx| {
                    let mut states: Vec<T> = keys
                        .iter()
                        .map(|k| Ok(decode(tx.counter_state(k)?.as_deref())))
                        .collect::<Result<_>>()?;
                    let outcome = change(&mut states)?;
                    for (key, state) in keys.iter().zip(&states) {
                        tx.put_counter_state(key, &encode(state)?)?;
                    }
                    Ok(outcome)
                })
            }
        }
    }

    /// Drops the stored states that `stale` names (housekeeping); returns how many.
    pub fn purge<T: DeserializeOwned + Default + 'static>(
        &self,
        stale: fn(&T) -> bool,
    ) -> Result<u64> {
        match self {
            Shared::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let before = map.len();
                map.retain(|_, v| !stale(&decode::<T>(Some(v))));
                Ok((before - map.len()) as u64)
            }
            Shared::Stored {
                store, namespace, ..
            } => {
                let prefix = format!("{namespace}/");
                store.write(move |tx| {
                    tx.purge_counter_states(&prefix, |bytes| stale(&decode::<T>(Some(bytes))))
                })
            }
        }
    }
}
