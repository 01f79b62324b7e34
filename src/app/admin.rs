//! The operator's use cases behind the command line: the PIN, demo data, accounts, the
//! decrypted deleted-message log and the security events.

use super::{App, event, security_event};
use crate::crypto::{message_aad, new_secret};
use crate::error::{Error, Result};
use crate::model::{Answer, RESERVED_USERNAMES, Timestamp, Username};
use crate::store::meta;
use crate::store::records::{EventRecord, UserRecord};

/// A row of `messages user list`.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub username: String,
    pub name: String,
    pub created_at: Timestamp,
    pub locked: bool,
}

/// A deleted message, opened for the operator.
#[derive(Debug, Clone)]
pub struct DeletedView {
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub sent_at: Timestamp,
    pub deleted_by: String,
    pub deleted_at: Timestamp,
    pub title: String,
    pub body: String,
}

/// A generated password that the policy accepts: 20 random characters from an unambiguous set.
pub fn generate_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let bytes = crate::crypto::random_bytes::<20>()?;
    let chars: Vec<u8> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()])
        .collect();
    let text = String::from_utf8(chars).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(format!(
        "{}-{}-{}-{}",
        &text[0..5],
        &text[5..10],
        &text[10..15],
        &text[15..20]
    ))
}

/// A PIN from the CSPRNG: 40 bits as `XXXX-XXXX` in Crockford base32 (see `app::pin`).
pub fn generate_pin() -> Result<String> {
    Ok(super::pin::generate()?)
}

impl App {
    pub fn pin_is_set(&self) -> Result<bool> {
        Ok(self.store.read(meta::pin)?.is_some())
    }

    /// Sets the registration PIN (4-64 characters, at least 4 besides dashes and spaces, which
    /// comparison ignores).
    pub fn set_pin(&self, pin: &str) -> Result<()> {
        let pin = pin.trim();
        let canonical = super::pin::canonical(pin);
        if !crate::model::PIN_CHARS.contains(&pin.chars().count())
            || canonical.chars().count() < 4
            || pin.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "pin",
                "the PIN must be 4 to 64 characters without control characters",
            ));
        }
        let phc = self.hasher.hash(&canonical)?;
        let sealed = self.key.seal(pin.as_bytes(), meta::PIN_AAD)?;
        let event = security_event(event::PIN_CHANGED, None, None, "");
        self.store.write(move |tx| {
            meta::set_pin(tx, &phc, &sealed)?;
            tx.record_event(&event)
        })
    }

    /// Creates an account directly (demo data); returns its generated password.
    fn create_user_directly(
        &self,
        username: &str,
        name: &str,
        question: u8,
        answer: &str,
    ) -> Result<String> {
        let username = Username::parse(username)?;
        let password = generate_password()?;
        let now = Timestamp::now().0;
        let record = UserRecord {
            name: name.to_string(),
            password_phc: self.hasher.hash(&password)?,
            question,
            answer_phc: self.hasher.hash(Answer::parse(answer)?.as_str())?,
            created_at: now,
            password_changed_at: now,
            locked: false,
        };
        self.store
            .write(move |tx| tx.insert_user(&username, &record))?;
        Ok(password)
    }

    /// Creates demo users and a few messages between them; returns (username, password) pairs.
    /// With `n_messages` > 0, also generates that many extra messages (for benchmarks).
    pub fn demo(
        &self,
        n_messages: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<(String, String)>> {
        let people = [
            ("alice", "Alice Adams"),
            ("bob", "Bob Brown"),
            ("carol", "Carol Clark"),
        ];
        let mut created = Vec::new();
        for (i, (username, name)) in people.iter().enumerate() {
            let answer = new_secret()?;
            let password = self.create_user_directly(username, name, (i + 1) as u8, &answer)?;
            created.push((username.to_string(), password));
        }
        let alice = Username::parse("alice")?;
        let bob = Username::parse("bob")?;
        let carol = Username::parse("carol")?;
        self.send(
            &alice,
            "bob",
            "Welcome to messages",
            "Hi Bob! This is a demo message, encrypted at rest.",
        )?;
        self.send(
            &bob,
            "alice",
            "Re: Welcome to messages",
            "Thanks Alice, it works.",
        )?;
        self.send(
            &carol,
            "alice",
            "Lunch on Friday?",
            "Shall we try the new place on the corner?",
        )?;
        self.send(
            &alice,
            "carol",
            "Project notes",
            "Notes:\n- ship the demo\n- write the README",
        )?;
        self.generate_messages(n_messages, progress)?;
        Ok(created)
    }

    /// Inserts `n` generated messages among the demo users, many per transaction.
    fn generate_messages(&self, n: u64, progress: &mut dyn FnMut(u64)) -> Result<()> {
        const BATCH: u64 = 5_000;
        let names = ["alice", "bob", "carol"];
        let mut done = 0u64;
        while done < n {
            let count = BATCH.min(n - done);
            let mut batch = Vec::with_capacity(count as usize);
            for i in done..done + count {
                let from = names[(i % 3) as usize];
                let to = names[((i + 1) % 3) as usize];
                let title = format!("Generated message {i}");
                let body = format!(
                    "Body of generated message {i}. Lorem ipsum dolor sit amet, consectetur adipiscing elit."
                );
                batch.push(self.seal_message_for_admin(from, to, &title, &body)?);
            }
            self.store
                .write(move |tx| batch.iter().try_for_each(|m| m.insert(tx).map(drop)))?;
            done += count;
            progress(done);
        }
        Ok(())
    }

    pub fn list_users(&self) -> Result<Vec<UserRow>> {
        let users = self.store.read(|rx| rx.all_users())?;
        Ok(users
            .into_iter()
            .map(|(username, r)| UserRow {
                username,
                name: r.name,
                created_at: Timestamp(r.created_at),
                locked: r.locked,
            })
            .collect())
    }

    /// Locks or unlocks an account; locking also ends its sessions and tokens.
    pub fn set_locked(&self, username: &str, locked: bool) -> Result<()> {
        let username = Username::parse(username).map_err(|_| Error::NotFound)?;
        let kind = if locked {
            event::USER_LOCKED
        } else {
            event::USER_UNLOCKED
        };
        let event = security_event(kind, Some(username.as_str()), None, "by operator");
        self.store.write(move |tx| {
            tx.update_user(&username, |record| {
                record.locked = locked;
                Ok(())
            })?;
            if locked {
                tx.end_all_sign_ins(username.as_str(), None)?;
            }
            tx.record_event(&event)
        })
    }

    /// Gives an account a new generated password, ending its sessions and tokens.
    pub fn operator_reset_password(&self, username: &str) -> Result<String> {
        let username = Username::parse(username).map_err(|_| Error::NotFound)?;
        let password = generate_password()?;
        let phc = self.hasher.hash(&password)?;
        let event = security_event(
            event::OPERATOR_RESET,
            Some(username.as_str()),
            None,
            "by operator",
        );
        let changed_at = Timestamp::now().0;
        self.store.write(move |tx| {
            tx.update_user(&username, |record| {
                record.password_phc = phc.clone();
                record.password_changed_at = changed_at;
                Ok(())
            })?;
            tx.end_all_sign_ins(username.as_str(), None)?;
            tx.record_event(&event)
        })?;
        Ok(password)
    }

    /// Deletes an account: its mailboxes go to the deleted log, its sessions and tokens end,
    /// and its username is retired.
    pub fn delete_user(&self, username: &str) -> Result<u64> {
        let username = Username::parse(username).map_err(|_| Error::NotFound)?;
        if RESERVED_USERNAMES.contains(&username.as_str()) {
            return Err(Error::NotFound);
        }
        let event = security_event(
            event::USER_DELETED,
            Some(username.as_str()),
            None,
            "by operator",
        );
        self.store.write(move |tx| {
            if tx.user(&username)?.is_none() {
                return Err(Error::NotFound);
            }
            let now = Timestamp::now().0;
            let n_deleted = tx.delete_mailboxes(username.as_str(), "operator", now)?;
            tx.end_all_sign_ins(username.as_str(), None)?;
            tx.remove_user(&username, now)?;
            tx.record_event(&event)?;
            Ok(n_deleted)
        })
    }

    /// The deleted-message log, opened, from `since`, optionally for one user.
    pub fn deleted_log(&self, since: Timestamp, user: Option<&str>) -> Result<Vec<DeletedView>> {
        let records = self.store.read(|rx| rx.deleted_log(since.0, user))?;
        records
            .into_iter()
            .map(|r| {
                let title = self.key.open_text(
                    &r.title.0,
                    &message_aad(r.message_id, &r.from, &r.to, "title"),
                )?;
                let body = self.key.open_text(
                    &r.body.0,
                    &message_aad(r.message_id, &r.from, &r.to, "body"),
                )?;
                Ok(DeletedView {
                    message_id: format!("{:032x}", r.message_id),
                    from: r.from,
                    to: r.to,
                    sent_at: Timestamp(r.sent_at),
                    deleted_by: r.deleted_by,
                    deleted_at: Timestamp(r.deleted_at),
                    title,
                    body,
                })
            })
            .collect()
    }

    /// Re-encrypts every sealed value under `new_key` in one transaction and records the new
    /// key's fingerprint; returns how many values were re-sealed. The caller swaps the key files.
    pub fn rotate_key(&self, new_key: std::sync::Arc<crate::crypto::DataKey>) -> Result<u64> {
        use crate::store::reseal::SealedRef;
        let old_key = self.key.clone();
        let event = security_event(
            event::KEY_ROTATED,
            None,
            None,
            format!(
                "from={} to={}",
                old_key.fingerprint(),
                new_key.fingerprint()
            ),
        );
        self.store.write(move |tx| {
            let n = tx.reseal_all(&mut |what, sealed| {
                let aad = match what {
                    SealedRef::Message {
                        id,
                        from,
                        to,
                        field,
                    } => message_aad(id, from, to, field),
                    SealedRef::Pin => meta::PIN_AAD.to_vec(),
                };
                let plain = zeroize::Zeroizing::new(old_key.open(sealed, &aad)?);
                Ok(new_key.seal(&plain, &aad)?)
            })?;
            meta::set_bytes(tx, meta::KEY_FINGERPRINT, new_key.fingerprint().as_bytes())?;
            tx.record_event(&event)?;
            Ok(n)
        })
    }

    pub fn audit(&self, since: Timestamp) -> Result<Vec<EventRecord>> {
        self.store.read(|rx| rx.events_since(since.0))
    }

    /// One round of housekeeping: ends expired sessions and tokens, drops what is past its
    /// retention. With several servers on one database only one of them does it at a time;
    /// false when another had the turn.
    pub fn housekeeping(&self, deleted_keep_days: u64, audit_keep_days: u64) -> Result<bool> {
        let done = self.store.alone(|| {
            self.purge_expired()?;
            self.throttle.purge()?;
            self.purge_retained(deleted_keep_days, audit_keep_days)
        })?;
        Ok(done.is_some())
    }

    /// Drops deleted-log entries and events older than their retention (housekeeping).
    pub fn purge_retained(
        &self,
        deleted_keep_days: u64,
        audit_keep_days: u64,
    ) -> Result<(u64, u64)> {
        let now = Timestamp::now().0;
        let day = 24 * 60 * 60;
        let deleted_before = now - (deleted_keep_days as i64).saturating_mul(day);
        let events_before = now - (audit_keep_days as i64).saturating_mul(day);
        self.store.write(move |tx| {
            Ok((
                tx.purge_deleted_before(deleted_before)?,
                tx.purge_events_before(events_before)?,
            ))
        })
    }
}
