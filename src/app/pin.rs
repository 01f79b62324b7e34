//! The registration PIN against guessing: generated PINs (40 random bits as two groups of four
//! Crockford base32 characters, easy to read aloud), the one normal form in which a typed PIN
//! is compared with the stored one, and the ceiling on wrong PINs across all IP addresses that
//! pauses registration.
//!
//! The count and the pause are kept in the database, like the sign-in throttle (`app::shared`),
//! so every server of a fleet shares one ceiling; they are tied to the stored PIN they counted
//! against: a new PIN (`messages pin set`, usually from another process while the server runs)
//! is seen on the next registration attempt, starts the count afresh and lifts the pause.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::shared::{Shared, now_ms};
use super::throttle::FailureOutcome;
use super::{App, Client, event, security_event};
use crate::crypto::{CryptoError, ct_eq, random_bytes, sha256};
use crate::error::{Error, Result};
use crate::model::Username;
use crate::store::meta::{self, StoredPin};

/// Wrong PINs per hour, from all IP addresses together, before registration pauses.
pub const DEFAULT_MAX_WRONG_PINS_PER_HOUR: u32 = 100;

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const HOUR: Duration = Duration::from_secs(60 * 60);

/// A new PIN: 40 bits from the CSPRNG as `XXXX-XXXX`.
pub fn generate() -> Result<String, CryptoError> {
    let bits = random_bytes::<5>()?
        .iter()
        .fold(0u64, |acc, byte| acc << 8 | u64::from(*byte));
    let text: String = (0..8)
        .rev()
        .map(|i| char::from(CROCKFORD[((bits >> (5 * i)) & 31) as usize]))
        .collect();
    Ok(format!("{}-{}", &text[..4], &text[4..]))
}

/// The form in which PINs are compared: dashes and whitespace dropped, ASCII letters upper-cased,
/// and Crockford's look-alikes read as the digits they stand for (O as 0, I and L as 1). So
/// `7kq2 m9xd` is `7KQ2-M9XD`, while a PIN of digits such as `246810` stays exactly itself.
pub fn canonical(pin: &str) -> String {
    pin.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

/// Which stored PIN a count belongs to: the hash of its PHC string, whose salt is new each time
/// a PIN is set (so setting even the same PIN again counts as a new one).
fn identity(stored: Option<&StoredPin>) -> [u8; 32] {
    stored.map_or([0; 32], |pin| sha256(pin.phc.as_bytes()))
}

/// The ceiling on wrong PINs across all IPs.
pub struct PinGuard {
    max_per_hour: u32,
    state: Shared,
}

/// The ceiling's state; times are wall-clock milliseconds.
#[derive(Default, Serialize, Deserialize)]
struct GuardState {
    pin: [u8; 32],
    wrong: Vec<i64>,
    paused_until: Option<i64>,
}

impl GuardState {
    /// Forgets counts and the pause made against another PIN than `pin`.
    fn for_pin(&mut self, pin: &[u8; 32]) -> &mut Self {
        if &self.pin != pin {
            *self = GuardState {
                pin: *pin,
                ..GuardState::default()
            };
        }
        self
    }

    /// Never dropped by housekeeping: one state, whatever the traffic.
    fn is_stale(&self) -> bool {
        false
    }
}

const KEY: &str = "ceiling";
const HOUR_MS: i64 = HOUR.as_millis() as i64;

impl PinGuard {
    /// A ceiling counted in this process's memory (for tests of its rule).
    pub fn new(max_per_hour: u32) -> Self {
        PinGuard {
            max_per_hour,
            state: Shared::memory(),
        }
    }

    /// A ceiling counted in the database, shared by every server on it.
    pub fn stored(
        max_per_hour: u32,
        store: crate::store::Store,
        key: std::sync::Arc<crate::crypto::DataKey>,
    ) -> Self {
        PinGuard {
            max_per_hour,
            state: Shared::Stored {
                store,
                namespace: "pin",
                key,
            },
        }
    }

    /// Refuses (429) while registration is paused for this PIN.
    fn check(&self, pin: &[u8; 32]) -> Result<()> {
        let now = now_ms();
        let mut states: Vec<GuardState> = self.state.read(&[KEY.to_string()])?;
        match states[0].for_pin(pin).paused_until {
            Some(until) if until > now => Err(Error::RateLimited {
                retry_after: ((until - now) as u64).div_ceil(1000).max(1),
            }),
            _ => Ok(()),
        }
    }

    /// Counts a wrong PIN; returns true when this one reaches the ceiling and pauses
    /// registration for an hour.
    fn wrong(&self, pin: &[u8; 32]) -> Result<bool> {
        let (pin, max) = (*pin, self.max_per_hour as usize);
        self.state.update(
            &[KEY.to_string()],
            move |states: &mut [GuardState]| {
                let now = now_ms();
                let state = states[0].for_pin(&pin);
                state.wrong.retain(|t| now - *t < HOUR_MS && *t <= now);
                state.wrong.push(now);
                if state.wrong.len() < max {
                    return Ok(false);
                }
                state.wrong.clear();
                state.paused_until = Some(now + HOUR_MS);
                Ok(true)
            },
            GuardState::is_stale,
        )
    }
}

/// The stored PIN as a registration sees it: read once, checked against the pause before
/// anything else, then compared with what was typed.
pub struct PinGate {
    stored: Option<StoredPin>,
    identity: [u8; 32],
}

impl App {
    /// Reads the stored PIN and refuses (429) while registration is paused for it, or while
    /// the client's IP is locked after failures (wrong PINs, passwords or answers).
    pub(super) fn open_pin_gate(&self, client: &Client) -> Result<PinGate> {
        self.throttle.refuse_if_locked(&[client.ip_key()])?;
        let stored = self.store.read(meta::pin)?;
        let identity = identity(stored.as_ref());
        self.pin_guard.check(&identity)?;
        Ok(PinGate { stored, identity })
    }

    /// Whether `typed` is the PIN behind the gate. A wrong one counts as a failure of the IP and
    /// toward the ceiling, and is recorded (with the lock or pause it led to).
    pub(super) fn pass_pin_gate(
        &self,
        gate: &PinGate,
        typed: &str,
        username: &Username,
        client: &Client,
    ) -> Result<()> {
        if let Some(stored) = &gate.stored
            && self.pin_equals(typed, stored)?
        {
            return Ok(());
        }
        let ip = Some(client.ip);
        let who = Some(username.as_str());
        let mut events = vec![security_event(event::REGISTER_FAILED, who, ip, "wrong PIN")];
        for outcome in self.throttle.failure(&[client.ip_key()]) {
            if let FailureOutcome::Locked { key, seconds } = outcome {
                let detail = format!("key={key} seconds={seconds}");
                events.push(security_event(event::LOCKOUT, who, ip, detail));
            }
        }
        if self.pin_guard.wrong(&gate.identity)? {
            let detail = format!(
                "wrong_pins={} seconds={} until a new PIN is set",
                self.pin_guard.max_per_hour,
                HOUR.as_secs()
            );
            events.push(security_event(event::REGISTRATION_PAUSED, None, ip, detail));
        }
        self.store
            .write(move |tx| events.iter().try_for_each(|e| tx.record_event(e)))?;
        Err(Error::WrongPin)
    }

    /// Compares a typed PIN with the stored one in their canonical forms, in constant time.
    /// The comparison uses the sealed PIN, so a PIN stored before the canonical form existed
    /// (hashed as typed) is compared the same way.
    fn pin_equals(&self, typed: &str, stored: &StoredPin) -> Result<bool> {
        let clear = self.key.open_text(&stored.sealed, meta::PIN_AAD)?;
        Ok(ct_eq(
            &sha256(canonical(typed).as_bytes()),
            &sha256(canonical(&clear).as_bytes()),
        ))
    }

    /// Whether `pin` is the registration PIN (in canonical form).
    pub fn pin_matches(&self, pin: &str) -> Result<bool> {
        match self.store.read(meta::pin)? {
            Some(stored) => self.pin_equals(pin, &stored),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pins_are_two_groups_of_four_that_read_back_as_themselves() {
        let pin = generate().expect("random");
        let (left, right) = pin.split_once('-').expect("two groups");
        assert_eq!((left.len(), right.len()), (4, 4), "{pin}");
        assert!(
            pin.bytes().all(|b| b == b'-' || CROCKFORD.contains(&b)),
            "{pin}"
        );
        assert_eq!(canonical(&pin), pin.replace('-', ""));
    }

    #[test]
    fn canonical_forms_forgive_case_dashes_and_look_alikes_but_keep_digits() {
        assert_eq!(canonical("7kq2-m9xd"), "7KQ2M9XD");
        assert_eq!(canonical(" 7KQ2 M9XD "), "7KQ2M9XD");
        assert_eq!(canonical("o1il-OLIo"), "01110110");
        assert_eq!(canonical("246810"), "246810");
        assert_ne!(canonical("246810"), canonical("246811"));
    }

    #[test]
    fn the_ceiling_pauses_until_the_pin_changes() {
        let guard = PinGuard::new(3);
        let (old, new) = ([1; 32], [2; 32]);
        assert!(!guard.wrong(&old).unwrap() && !guard.wrong(&old).unwrap());
        assert!(guard.check(&old).is_ok());
        assert!(guard.wrong(&old).unwrap(), "the third wrong PIN pauses");
        match guard.check(&old) {
            Err(Error::RateLimited { retry_after }) => assert!(retry_after > 3500),
            other => panic!("expected a pause, got {other:?}"),
        }
        assert!(guard.check(&new).is_ok(), "a new PIN lifts the pause");
        assert!(!guard.wrong(&new).unwrap(), "and starts the count afresh");
    }
}
