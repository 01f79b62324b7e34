//! Rate limits and lockouts for login, token creation, registration and reset.
//!
//! Two mechanisms, both keyed by strings like `ip:203.0.113.9`, `account:alice` or
//! `device:NONCE` (a signed-in-before client, see `app::device`):
//! - attempts: at most `attempts_per_minute` tries per key in a sliding minute, success or not;
//! - failures: after `max_failures` failures within the failure window the key is locked for
//!   `lockout`, doubled for each further lock (up to an hour): the growing delay.
//!
//! The sign-in throttle keeps its counts in the database (`app::shared`): every server of a
//! fleet counts against the same numbers, so a guesser cannot multiply its budget by the
//! number of servers, and a restart forgets nothing. Housekeeping drops the states that
//! neither lock nor remember anything any more. The search throttle stays in memory.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::shared::{Shared, now_ms};
use std::sync::Arc;

use crate::crypto::DataKey;
use crate::error::{Error, Result};
use crate::store::Store;

const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_LOCKOUT: Duration = Duration::from_secs(60 * 60);
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    pub attempts_per_minute: u32,
    pub max_failures_account: u32,
    pub max_failures_ip: u32,
    pub lockout: Duration,
    /// Wrong registration PINs per hour across all IPs before registration pauses.
    pub max_wrong_pins_per_hour: u32,
}

/// The defaults, which are the command line's too (`cli.rs` names them, never repeats them).
impl ThrottleSettings {
    pub const DEFAULT_ATTEMPTS_PER_MINUTE: u32 = 30;
    pub const DEFAULT_MAX_FAILURES_ACCOUNT: u32 = 5;
    pub const DEFAULT_MAX_FAILURES_IP: u32 = 20;
    pub const DEFAULT_LOCKOUT_SECS: u64 = 60;
    pub const DEFAULT_MAX_WRONG_PINS_PER_HOUR: u32 = super::pin::DEFAULT_MAX_WRONG_PINS_PER_HOUR;
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            attempts_per_minute: Self::DEFAULT_ATTEMPTS_PER_MINUTE,
            max_failures_account: Self::DEFAULT_MAX_FAILURES_ACCOUNT,
            max_failures_ip: Self::DEFAULT_MAX_FAILURES_IP,
            lockout: Duration::from_secs(Self::DEFAULT_LOCKOUT_SECS),
            max_wrong_pins_per_hour: Self::DEFAULT_MAX_WRONG_PINS_PER_HOUR,
        }
    }
}

/// One key's state; times are wall-clock milliseconds.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Entry {
    attempts: Vec<i64>,
    failures: u32,
    first_failure: Option<i64>,
    n_locks: u32,
    locked_until: Option<i64>,
    last_used: Option<i64>,
}

impl Entry {
    /// Whole seconds left of the entry's lock; 0 when it is not locked.
    fn lock_left(&self, now: i64) -> u64 {
        match self.locked_until {
            Some(until) if until > now => ceil_secs(until - now),
            _ => 0,
        }
    }

    /// Neither locked nor used within the failure window: nothing worth keeping (the lock
    /// history of a key idle that long has done its work).
    fn is_stale(&self) -> bool {
        let now = now_ms();
        let locked = self.locked_until.is_some_and(|t| t > now);
        let recent = self
            .last_used
            .is_some_and(|t| now - t < FAILURE_WINDOW.as_millis() as i64);
        !locked && !recent
    }
}

pub struct Throttle {
    settings: ThrottleSettings,
    states: Shared,
}

/// What a failure led to, for the security log.
#[derive(Debug, PartialEq, Eq)]
pub enum FailureOutcome {
    Counted,
    Locked { key: String, seconds: u64 },
}

impl Throttle {
    /// A throttle that counts in this process's memory only.
    pub fn new(settings: ThrottleSettings) -> Self {
        Throttle {
            settings,
            states: Shared::memory(),
        }
    }

    /// A throttle that counts in the database, shared by every server on it.
    pub fn stored(settings: ThrottleSettings, store: Store, key: Arc<DataKey>) -> Self {
        Throttle {
            settings,
            states: Shared::Stored {
                store,
                namespace: "throttle",
                key,
            },
        }
    }

    /// Records an attempt under every key, refusing (without recording) if any key is locked
    /// or over its attempt rate.
    pub fn attempt(&self, keys: &[String]) -> Result<(), Error> {
        let per_minute = self.settings.attempts_per_minute;
        self.states.update(
            keys,
            move |entries: &mut [Entry]| {
                let now = now_ms();
                let mut retry_after = 0u64;
                for entry in entries.iter_mut() {
                    retry_after = retry_after.max(entry.lock_left(now));
                    entry.attempts.retain(|t| now - *t < MINUTE_MS && *t <= now);
                    if entry.attempts.len() as u32 >= per_minute {
                        let oldest = entry.attempts.first().copied().unwrap_or(now);
                        retry_after = retry_after.max(ceil_secs(MINUTE_MS - (now - oldest)).max(1));
                    }
                }
                if retry_after > 0 {
                    return Err(Error::RateLimited { retry_after });
                }
                for entry in entries.iter_mut() {
                    entry.attempts.push(now);
                    entry.last_used = Some(now);
                }
                Ok(())
            },
            Entry::is_stale,
        )
    }

    /// Refuses, recording nothing, while any of `keys` is locked (registration honours the
    /// per-IP failure lock without sharing the login's attempt rate).
    pub fn refuse_if_locked(&self, keys: &[String]) -> Result<(), Error> {
        let now = now_ms();
        let entries: Vec<Entry> = self.states.read(keys)?;
        let retry_after = entries.iter().map(|e| e.lock_left(now)).max().unwrap_or(0);
        if retry_after > 0 {
            return Err(Error::RateLimited { retry_after });
        }
        Ok(())
    }

    /// Counts a failure under every key; a key past its limit is locked. A failure that
    /// cannot be stored is logged: the store refuses the next attempt too, so it cannot be
    /// used to guess uncounted.
    pub fn failure(&self, keys: &[String]) -> Vec<FailureOutcome> {
        let settings = self.settings.clone();
        let names: Vec<String> = keys.to_vec();
        let counted = self.states.update(
            keys,
            move |entries: &mut [Entry]| {
                let now = now_ms();
                let mut outcomes = Vec::new();
                for (key, entry) in names.iter().zip(entries.iter_mut()) {
                    outcomes.push(fail(&settings, key, entry, now));
                }
                Ok(outcomes)
            },
            Entry::is_stale,
        );
        counted.unwrap_or_else(|e| {
            tracing::error!("a failed attempt could not be counted: {e}");
            Vec::new()
        })
    }

    /// Clears the failure count of a key after a success (the lock history stays, so a
    /// guesser who is let in now and then still meets growing delays).
    pub fn success(&self, key: &str) {
        let cleared = self.states.update(
            &[key.to_string()],
            |entries: &mut [Entry]| {
                for entry in entries.iter_mut() {
                    entry.failures = 0;
                    entry.first_failure = None;
                }
                Ok(())
            },
            Entry::is_stale,
        );
        if let Err(e) = cleared {
            tracing::warn!("a success could not clear its failures: {e}");
        }
    }

    /// Drops the states that lock and remember nothing any more (housekeeping).
    pub fn purge(&self) -> Result<u64> {
        self.states.purge(Entry::is_stale)
    }
}

/// One failure under `key`: counted, or the lock it leads to.
fn fail(settings: &ThrottleSettings, key: &str, entry: &mut Entry, now: i64) -> FailureOutcome {
    // A device (see `app::device`) is held to the account's limit.
    let limit = if key.starts_with("account:") || key.starts_with("device:") {
        settings.max_failures_account
    } else {
        settings.max_failures_ip
    };
    entry.last_used = Some(now);
    if entry
        .first_failure
        .is_none_or(|t| now - t > FAILURE_WINDOW.as_millis() as i64)
    {
        entry.first_failure = Some(now);
        entry.failures = 0;
    }
    entry.failures += 1;
    if entry.failures < limit {
        return FailureOutcome::Counted;
    }
    entry.n_locks += 1;
    let factor = 1u32 << (entry.n_locks - 1).min(10);
    let lock = (settings.lockout * factor).min(MAX_LOCKOUT);
    entry.locked_until = Some(now + lock.as_millis() as i64);
    entry.failures = 0;
    entry.first_failure = None;
    FailureOutcome::Locked {
        key: key.to_string(),
        seconds: lock.as_secs(),
    }
}

fn ceil_secs(millis: i64) -> u64 {
    (millis.max(0) as u64).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn locks_after_failures_and_grows() {
        let throttle = Throttle::new(ThrottleSettings {
            max_failures_account: 3,
            lockout: Duration::from_secs(10),
            ..Default::default()
        });
        let account = keys(&["account:alice"]);
        for _ in 0..2 {
            assert!(throttle.attempt(&account).is_ok());
            assert_eq!(throttle.failure(&account), vec![FailureOutcome::Counted]);
        }
        throttle.attempt(&account).unwrap();
        assert_eq!(
            throttle.failure(&account),
            vec![FailureOutcome::Locked {
                key: "account:alice".into(),
                seconds: 10
            }]
        );
        match throttle.attempt(&account) {
            Err(Error::RateLimited { retry_after }) => assert!((1..=10).contains(&retry_after)),
            other => panic!("expected a lock, got {other:?}"),
        }
        // Another account is not affected.
        assert!(throttle.attempt(&keys(&["account:bob"])).is_ok());
    }

    /// Two servers on one database (two throttles on one store), six failures at once from
    /// six threads: exactly the sixth locks, none is lost; and a restart remembers the lock.
    #[test]
    fn a_stored_throttle_is_shared_exactly_and_survives_a_restart() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Arc::new(DataKey::load_or_create(&dir.path().join("key")).unwrap().0);
        let settings = ThrottleSettings {
            max_failures_account: 6,
            lockout: Duration::from_secs(30),
            ..Default::default()
        };
        let servers = [
            Arc::new(Throttle::stored(
                settings.clone(),
                store.clone(),
                key.clone(),
            )),
            Arc::new(Throttle::stored(
                settings.clone(),
                store.clone(),
                key.clone(),
            )),
        ];
        let account = keys(&["account:alice"]);
        let failing: Vec<_> = (0..6)
            .map(|i| {
                let (server, account) = (servers[i % 2].clone(), account.clone());
                std::thread::spawn(move || server.failure(&account))
            })
            .collect();
        let outcomes: Vec<FailureOutcome> = failing
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(outcomes.len(), 6);
        let locks = outcomes
            .iter()
            .filter(|o| matches!(o, FailureOutcome::Locked { .. }))
            .count();
        assert_eq!(locks, 1, "{outcomes:?}");
        drop(servers);
        let restarted = Throttle::stored(settings, store.clone(), key);
        assert!(matches!(
            restarted.attempt(&account),
            Err(Error::RateLimited { .. })
        ));
        assert_eq!(restarted.purge().unwrap(), 0, "a locked key is kept");
        // What was typed as a name is stored only as a MAC of it.
        let stored = store
            .read(|rx| rx.counter_state("throttle/account:alice"))
            .unwrap();
        assert!(stored.is_none(), "the plain key is not a stored name");
    }

    #[test]
    fn attempts_are_rate_limited() {
        let throttle = Throttle::new(ThrottleSettings {
            attempts_per_minute: 3,
            ..Default::default()
        });
        let ip = keys(&["ip:192.0.2.1"]);
        for _ in 0..3 {
            assert!(throttle.attempt(&ip).is_ok());
        }
        assert!(matches!(
            throttle.attempt(&ip),
            Err(Error::RateLimited { .. })
        ));
    }
}
