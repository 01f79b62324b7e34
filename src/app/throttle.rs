//! Rate limits and lockouts for login, token creation, registration and reset, kept in memory.
//!
//! Two mechanisms, both keyed by strings like `ip:203.0.113.9`, `account:alice` or
//! `device:NONCE` (a signed-in-before client, see `app::device`):
//! - attempts: at most `attempts_per_minute` tries per key in a sliding minute, success or not;
//! - failures: after `max_failures` failures within the failure window the key is locked for
//!   `lockout`, doubled for each further lock (up to an hour): the growing delay.
//!
//! The table is bounded: past `MAX_KEYS` entries, expired ones are dropped, then the oldest.
//! A restart forgets the counts; the operator's own lock (`messages user lock`) is stored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Error;

const MAX_KEYS: usize = 100_000;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_LOCKOUT: Duration = Duration::from_secs(60 * 60);

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

#[derive(Debug, Default)]
struct Entry {
    attempts: Vec<Instant>,
    failures: u32,
    first_failure: Option<Instant>,
    n_locks: u32,
    locked_until: Option<Instant>,
    last_used: Option<Instant>,
}

impl Entry {
    /// Whole seconds left of the entry's lock; 0 when it is not locked.
    fn lock_left(&self, now: Instant) -> u64 {
        match self.locked_until {
            Some(until) if until > now => ceil_secs(until - now),
            _ => 0,
        }
    }
}

pub struct Throttle {
    settings: ThrottleSettings,
    entries: Mutex<HashMap<String, Entry>>,
}

/// What a failure led to, for the security log.
#[derive(Debug, PartialEq, Eq)]
pub enum FailureOutcome {
    Counted,
    Locked { key: String, seconds: u64 },
}

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Throttle {
            settings,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt under every key, refusing (without recording) if any key is locked
    /// or over its attempt rate.
    pub fn attempt(&self, keys: &[String]) -> Result<(), Error> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut retry_after = 0u64;
        for key in keys {
            if let Some(entry) = entries.get_mut(key) {
                retry_after = retry_after.max(entry.lock_left(now));
                entry
                    .attempts
                    .retain(|t| now.duration_since(*t) < Duration::from_secs(60));
                if entry.attempts.len() as u32 >= self.settings.attempts_per_minute {
                    let oldest = entry.attempts.first().copied().unwrap_or(now);
                    let wait = Duration::from_secs(60).saturating_sub(now.duration_since(oldest));
                    retry_after = retry_after.max(ceil_secs(wait).max(1));
                }
            }
        }
        if retry_after > 0 {
            return Err(Error::RateLimited { retry_after });
        }
        make_room(&mut entries, now);
        for key in keys {
            let entry = entries.entry(key.clone()).or_default();
            entry.attempts.push(now);
            entry.last_used = Some(now);
        }
        Ok(())
    }

    /// Refuses, recording nothing, while any of `keys` is locked (registration honours the
    /// per-IP failure lock without sharing the login's attempt rate).
    pub fn refuse_if_locked(&self, keys: &[String]) -> Result<(), Error> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let retry_after = keys
            .iter()
            .filter_map(|key| entries.get(key))
            .map(|entry| entry.lock_left(now))
            .max()
            .unwrap_or(0);
        if retry_after > 0 {
            return Err(Error::RateLimited { retry_after });
        }
        Ok(())
    }

    /// Counts a failure under every key; a key past its limit is locked.
    pub fn failure(&self, keys: &[String]) -> Vec<FailureOutcome> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        make_room(&mut entries, now);
        let mut outcomes = Vec::new();
        for key in keys {
            // A device (see `app::device`) is held to the account's limit.
            let limit = if key.starts_with("account:") || key.starts_with("device:") {
                self.settings.max_failures_account
            } else {
                self.settings.max_failures_ip
            };
            let entry = entries.entry(key.clone()).or_default();
            entry.last_used = Some(now);
            if entry
                .first_failure
                .is_none_or(|t| now.duration_since(t) > FAILURE_WINDOW)
            {
                entry.first_failure = Some(now);
                entry.failures = 0;
            }
            entry.failures += 1;
            if entry.failures >= limit {
                entry.n_locks += 1;
                let factor = 1u32 << (entry.n_locks - 1).min(10);
                let lock = (self.settings.lockout * factor).min(MAX_LOCKOUT);
                entry.locked_until = Some(now + lock);
                entry.failures = 0;
                entry.first_failure = None;
                outcomes.push(FailureOutcome::Locked {
                    key: key.clone(),
                    seconds: lock.as_secs(),
                });
            } else {
                outcomes.push(FailureOutcome::Counted);
            }
        }
        outcomes
    }

    /// Clears the failure count of a key after a success (the lock history stays, so a
    /// guesser who is let in now and then still meets growing delays).
    pub fn success(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.get_mut(key) {
            entry.failures = 0;
            entry.first_failure = None;
        }
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn make_room(entries: &mut HashMap<String, Entry>, now: Instant) {
    if entries.len() < MAX_KEYS {
        return;
    }
    entries.retain(|_, e| {
        let locked = e.locked_until.is_some_and(|t| t > now);
        let recent = e
            .last_used
            .is_some_and(|t| now.duration_since(t) < FAILURE_WINDOW);
        locked || recent
    });
    if entries.len() >= MAX_KEYS
        && let Some(oldest) = entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone())
    {
        entries.remove(&oldest);
    }
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
