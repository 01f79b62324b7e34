//! Accounts: registration with the PIN, password and security-question changes, the reset by
//! security question (with its compensations), public keys and the user search.

use super::password::{self, Verdict};
use super::{App, Client, account_key, event, security_event, unknown_user_event};
use crate::error::{Error, Result};
use crate::model::{
    Answer, DisplayName, Invalid, PublicKey, QuestionId, RESERVED_USERNAMES, SECURITY_QUESTIONS,
    Timestamp, Username,
};
use crate::store::meta;
use crate::store::records::UserRecord;

/// What a registration form or API call carries, as typed.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub username: String,
    pub name: String,
    pub password: String,
    /// `None` where the client sends the password once (the API).
    pub password_confirm: Option<String>,
    pub pin: String,
    pub security_question: String,
    pub security_answer: String,
}

/// A member's own profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub username: Username,
    pub name: String,
    pub question: QuestionId,
    pub created_at: Timestamp,
    pub unread: u64,
}

/// The second step of a reset, as typed.
#[derive(Debug, Clone, Default)]
pub struct ResetRequest {
    pub username: String,
    pub security_answer: String,
    pub password: String,
    pub password_confirm: Option<String>,
}

/// The check every change decided by a password makes inside its transaction: the account is
/// not locked, and its password is still the one that was verified before the (slow) hashing.
/// A lock, a reset or another change committed meanwhile makes the change fail as if the
/// password had been wrong, so it never undoes them and of two concurrent changes one wins.
pub(super) fn still_as_verified(record: &UserRecord, verified_phc: &str) -> Result<()> {
    if record.locked {
        return Err(Error::AccountLocked);
    }
    if record.password_phc != verified_phc {
        return Err(Error::Invalid(vec![Invalid::new(
            "current_password",
            "the current password is not correct",
        )]));
    }
    Ok(())
}

/// A profile update: the new name, and the (current, new) password pair.
#[derive(Debug, Default)]
pub struct ProfileChange<'a> {
    pub name: Option<&'a str>,
    pub password: Option<(&'a str, &'a str)>,
}

/// The fields of a registration that passed their own checks (the PIN and the password's
/// full policy are checked after).
struct NewMember {
    username: Username,
    name: DisplayName,
    question: QuestionId,
    answer: Answer,
}

/// An account deleted while its member was changing it: the member is signed out.
fn gone_is_signed_out(error: Error) -> Error {
    match error {
        Error::NotFound => Error::Unauthenticated,
        other => other,
    }
}

impl App {
    /// The PIN in clear, for the password policy's context; empty if none is set.
    fn pin_context(&self) -> Result<String> {
        let stored = self.store.read(meta::pin)?;
        match stored {
            Some(pin) => Ok(self.key.open_text(&pin.sealed, meta::PIN_AAD)?),
            None => Ok(String::new()),
        }
    }

    /// The policy's verdict for anyone (the strength meter before sign-in): the username and
    /// name as context, but not the PIN, whose refusal reason would let an anonymous caller test
    /// many PIN guesses per request.
    pub fn judge_password(&self, password: &str, username: &str, name: &str) -> Result<Verdict> {
        Ok(password::judge(password, &[username, name]))
    }

    /// The full verdict, the PIN included, for callers who have shown they know the PIN or
    /// are signed in (register after the PIN check, change, reset after the answer check).
    pub fn judge_password_with_pin(
        &self,
        password: &str,
        username: &str,
        name: &str,
    ) -> Result<Verdict> {
        let pin = self.pin_context()?;
        // As typed and in the canonical form a PIN is compared in (a generated PIN is shown
        // with a dash that a password built from it would leave out).
        let canonical = super::pin::canonical(&pin);
        Ok(password::judge(
            password,
            &[username, name, &pin, &canonical],
        ))
    }

    fn check_new_password(
        &self,
        password: &str,
        confirm: Option<&str>,
        username: &str,
        name: &str,
        problems: &mut Vec<Invalid>,
    ) -> Result<()> {
        let verdict = self.judge_password_with_pin(password, username, name)?;
        if !verdict.acceptable {
            problems.push(Invalid::new("password", verdict.reason()));
        } else if confirm.is_some_and(|c| c != password) {
            problems.push(Invalid::new(
                "password_confirm",
                "the two passwords do not match",
            ));
        }
        Ok(())
    }

    /// Registers a member. Every field is checked and all problems are reported together; the
    /// PIN is checked against its stored hash.
    pub fn register(&self, form: &Registration, client: &Client) -> Result<Username> {
        self.throttle
            .attempt(&[format!("register:{}", client.ip)])?;
        let pin_gate = self.open_pin_gate(client)?;
        let member = self.check_registration(form)?;
        self.pass_pin_gate(&pin_gate, &form.pin, &member.username, client)?;
        let mut problems = Vec::new();
        self.check_new_password(
            &form.password,
            form.password_confirm.as_deref(),
            member.username.as_str(),
            member.name.as_str(),
            &mut problems,
        )?;
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        self.create_member(member, &form.password, client)
    }

    /// Each field of a registration on its own, all problems together. The password is judged
    /// without the PIN here: until the PIN is proven, a refusal that named it would be an
    /// oracle for guessing it.
    fn check_registration(&self, form: &Registration) -> Result<NewMember> {
        let mut problems = Vec::new();
        let username = Username::parse(&form.username)
            .map_err(|e| problems.push(e))
            .ok();
        if username
            .as_ref()
            .is_some_and(|u| RESERVED_USERNAMES.contains(&u.as_str()))
        {
            return Err(Error::UsernameTaken);
        }
        let name = DisplayName::parse(&form.name)
            .map_err(|e| problems.push(e))
            .ok();
        let question = QuestionId::parse(&form.security_question)
            .map_err(|e| problems.push(e))
            .ok();
        let answer = Answer::parse(&form.security_answer)
            .map_err(|e| problems.push(e))
            .ok();
        let context_username = username
            .as_ref()
            .map_or(form.username.as_str(), |u| u.as_str());
        let context_name = name.as_ref().map_or(form.name.as_str(), |n| n.as_str());
        let verdict = self.judge_password(&form.password, context_username, context_name)?;
        if !verdict.acceptable {
            problems.push(Invalid::new("password", verdict.reason()));
        } else if form
            .password_confirm
            .as_deref()
            .is_some_and(|c| c != form.password)
        {
            problems.push(Invalid::new(
                "password_confirm",
                "the two passwords do not match",
            ));
        }
        if form.pin.is_empty() {
            problems.push(Invalid::new("pin", "is required"));
        }
        match (username, name, question, answer, problems.is_empty()) {
            (Some(username), Some(name), Some(question), Some(answer), true) => Ok(NewMember {
                username,
                name,
                question,
                answer,
            }),
            _ => Err(Error::Invalid(problems)),
        }
    }

    /// Hashes the secrets (slow, so before the transaction) and stores the new account with its
    /// event; a name taken in the meantime is refused inside the transaction.
    fn create_member(
        &self,
        member: NewMember,
        password: &str,
        client: &Client,
    ) -> Result<Username> {
        let now = Timestamp::now().0;
        let record = UserRecord {
            name: member.name.as_str().to_string(),
            password_phc: self.hasher.hash(password)?,
            question: member.question.number(),
            answer_phc: self.hasher.hash(member.answer.as_str())?,
            created_at: now,
            password_changed_at: now,
            locked: false,
        };
        let username = member.username;
        let event = security_event(
            event::REGISTERED,
            Some(username.as_str()),
            Some(client.ip),
            "",
        );
        let created = username.clone();
        self.store.write(move |tx| {
            tx.insert_user(&created, &record)?;
            tx.record_event(&event)
        })?;
        Ok(username)
    }

    pub fn profile(&self, username: &Username) -> Result<Profile> {
        self.store.read(|rx| {
            let record = rx.user(username)?.ok_or(Error::NotFound)?;
            Ok(Profile {
                username: username.clone(),
                name: record.name,
                question: QuestionId::from_number(record.question)
                    .ok_or_else(|| Error::Internal("stored question id unknown".into()))?,
                created_at: Timestamp(record.created_at),
                unread: rx.unread_count(username.as_str())?,
            })
        })
    }

    /// What a program's profile update (`PATCH /api/v1/me`) asks for, in one call: a new name,
    /// a new password (given with the current one), or both; then the profile as it is now.
    /// The name is checked before anything is changed, so a bad name changes nothing.
    pub fn update_profile(
        &self,
        username: &Username,
        change: &ProfileChange<'_>,
        client: &Client,
    ) -> Result<Profile> {
        let name = change.name.map(DisplayName::parse).transpose()?;
        if let Some((current, new)) = change.password {
            self.change_password(username, current, new, None, None, client)?;
        }
        if let Some(name) = name {
            self.change_name(username, name.as_str())?;
        }
        self.profile(username)
    }

    /// Changes the display name.
    pub fn change_name(&self, username: &Username, name: &str) -> Result<()> {
        let name = DisplayName::parse(name)?;
        let username = username.clone();
        self.store.write(move |tx| {
            tx.update_user(&username, |record| {
                record.name = name.as_str().to_string();
                Ok(())
            })
        })
    }

    /// Checks the current password of a signed-in user (for changes that need it).
    fn check_current_password(
        &self,
        username: &Username,
        current: &str,
        client: &Client,
    ) -> Result<UserRecord> {
        // Counted apart from the account's sign-in failures: a member who is already signed in
        // is not subject to the lock strangers' wrong logins put on the account, while wrong
        // current passwords typed through a (perhaps stolen) session are still limited.
        let keys = [client.ip_key(), format!("signed-in:{}", username.as_str())];
        self.throttle.attempt(&keys)?;
        let record = self
            .store
            .read(|rx| rx.user(username))?
            .ok_or(Error::Unauthenticated)?;
        if !self.hasher.verify(current, &record.password_phc) {
            self.throttle.failure(&keys);
            return Err(Error::Invalid(vec![Invalid::new(
                "current_password",
                "the current password is not correct",
            )]));
        }
        Ok(record)
    }

    /// Changes the password; other sessions and all tokens are ended, `keep_session` stays.
    pub fn change_password(
        &self,
        username: &Username,
        current: &str,
        new: &str,
        confirm: Option<&str>,
        keep_session: Option<[u8; 32]>,
        client: &Client,
    ) -> Result<()> {
        let verified = self.check_current_password(username, current, client)?;
        let mut problems = Vec::new();
        self.check_new_password(
            new,
            confirm,
            username.as_str(),
            &verified.name,
            &mut problems,
        )?;
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let new_phc = self.hasher.hash(new)?;
        let changed_at = Timestamp::now().0;
        let event = security_event(
            event::PASSWORD_CHANGED,
            Some(username.as_str()),
            Some(client.ip),
            "",
        );
        let username = username.clone();
        self.store.write(move |tx| {
            tx.update_user(&username, |record| {
                still_as_verified(record, &verified.password_phc)?;
                record.password_phc = new_phc.clone();
                record.password_changed_at = changed_at;
                Ok(())
            })
            .map_err(gone_is_signed_out)?;
            tx.end_all_sign_ins(username.as_str(), keep_session.as_ref())?;
            tx.record_event(&event)
        })
    }

    /// Changes the security question and answer; needs the password.
    pub fn change_question(
        &self,
        username: &Username,
        password: &str,
        question: &str,
        answer: &str,
        client: &Client,
    ) -> Result<()> {
        let verified = self.check_current_password(username, password, client)?;
        let mut problems = Vec::new();
        let question = QuestionId::parse(question)
            .map_err(|e| problems.push(e))
            .ok();
        let answer = Answer::parse(answer).map_err(|e| problems.push(e)).ok();
        let (Some(question), Some(answer)) = (question, answer) else {
            return Err(Error::Invalid(problems));
        };
        let question = question.number();
        let answer_phc = self.hasher.hash(answer.as_str())?;
        let event = security_event(
            event::QUESTION_CHANGED,
            Some(username.as_str()),
            Some(client.ip),
            "",
        );
        let username = username.clone();
        self.store.write(move |tx| {
            tx.update_user(&username, |record| {
                still_as_verified(record, &verified.password_phc)?;
                record.question = question;
                record.answer_phc = answer_phc.clone();
                Ok(())
            })
            .map_err(gone_is_signed_out)?;
            tx.record_event(&event)
        })
    }

    /// The question shown at the first step of a reset. An unknown (or malformed) username gets
    /// a decoy that is stable for that name, so the page never tells who is a member.
    pub fn reset_question(&self, username: &str) -> Result<QuestionId> {
        let lowered = username.trim().to_ascii_lowercase();
        let known = match Username::parse(&lowered) {
            Ok(name) => self
                .store
                .read(|rx| rx.user(&name))?
                .and_then(|r| QuestionId::from_number(r.question)),
            Err(_) => None,
        };
        Ok(known.unwrap_or_else(|| self.decoy_question(&lowered)))
    }

    fn decoy_question(&self, username: &str) -> QuestionId {
        let mac = self.key.mac("reset-decoy-question", username.as_bytes());
        let index = usize::from(mac[0]) % SECURITY_QUESTIONS.len();
        QuestionId::nth(index)
    }

    /// Resets a password with the security answer. Failures count with login failures; success
    /// ends every session and token of the user and leaves a notice in their inbox. An unknown
    /// user is refused exactly like a wrong answer, after the same amount of hashing.
    pub fn reset_password(&self, form: &ResetRequest, client: &Client) -> Result<Username> {
        let lowered = form.username.trim().to_ascii_lowercase();
        let keys = [client.ip_key(), account_key(&lowered)];
        self.throttle.attempt(&keys)?;
        let refused = || {
            Error::Invalid(vec![Invalid::new(
                "security_answer",
                "the answer does not match our records for this username",
            )])
        };
        let username = Username::parse(&lowered).ok();
        let record = match &username {
            Some(name) => self.store.read(|rx| rx.user(name))?,
            None => None,
        };
        let answer = Answer::parse(&form.security_answer)
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let (Some(username), Some(record)) = (username, record) else {
            self.verify_decoy(&answer);
            self.throttle.failure(&keys);
            let event = unknown_user_event(
                event::RESET_FAILED,
                &lowered,
                Some(client.ip),
                "unknown user",
            );
            self.store.write(move |tx| tx.record_event(&event))?;
            return Err(refused());
        };
        if !self.hasher.verify(&answer, &record.answer_phc) || record.locked {
            for outcome in self.throttle.failure(&keys) {
                if let super::throttle::FailureOutcome::Locked { key, seconds } = outcome {
                    let event = security_event(
                        event::LOCKOUT,
                        Some(username.as_str()),
                        Some(client.ip),
                        format!("key={key} seconds={seconds}"),
                    );
                    self.store.write(move |tx| tx.record_event(&event))?;
                }
            }
            let event = security_event(
                event::RESET_FAILED,
                Some(username.as_str()),
                Some(client.ip),
                "wrong answer",
            );
            self.store.write(move |tx| tx.record_event(&event))?;
            return Err(refused());
        }
        let mut problems = Vec::new();
        self.check_new_password(
            &form.password,
            form.password_confirm.as_deref(),
            username.as_str(),
            &record.name,
            &mut problems,
        )?;
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        self.throttle.success(&account_key(username.as_str()));
        let new_phc = self.hasher.hash(&form.password)?;
        let changed_at = Timestamp::now().0;
        let event = security_event(
            event::RESET,
            Some(username.as_str()),
            Some(client.ip),
            "by security question",
        );
        let notice = self.reset_notice(&username, client)?;
        let who = username.clone();
        let verified = record;
        self.store
            .write(move |tx| {
                tx.update_user(&who, |record| {
                    // The answer decided, so it must still be the one checked; the password
                    // too, so that of two resets (or a reset and a change) exactly one wins.
                    if record.answer_phc != verified.answer_phc {
                        return Err(Error::Unauthenticated);
                    }
                    still_as_verified(record, &verified.password_phc)?;
                    record.password_phc = new_phc.clone();
                    record.password_changed_at = changed_at;
                    Ok(())
                })?;
                tx.end_all_sign_ins(who.as_str(), None)?;
                notice.insert(tx)?;
                tx.record_event(&event)
            })
            .map_err(|e| match e {
                Error::NotFound | Error::Unauthenticated | Error::AccountLocked => refused(),
                other => other,
            })?;
        Ok(username)
    }

    /// Publishes the user's public key (opaque bytes from base64, size-limited).
    pub fn put_public_key(&self, username: &Username, key_base64: &str) -> Result<()> {
        let bytes = PublicKey::from_base64(key_base64)?.into_bytes();
        let username = username.clone();
        self.store
            .write(move |tx| tx.put_public_key(&username, &bytes))
    }

    /// Someone's public key as base64, if they published one.
    pub fn public_key(&self, username: &str) -> Result<String> {
        use base64::Engine;
        let username = Username::parse(username).map_err(|_| Error::NotFound)?;
        let bytes = self
            .store
            .read(|rx| rx.public_key(&username))?
            .ok_or(Error::NotFound)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Members whose username starts with `prefix` (lower-cased), at most `limit` (max 50).
    pub fn find_users(&self, prefix: &str, limit: usize) -> Result<Vec<(String, String)>> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            || prefix.len() > Username::MAX
        {
            return Err(Error::invalid(
                "q",
                "a username prefix uses only a-z, 0-9, '_' and '-'",
            ));
        }
        self.store
            .read(|rx| rx.usernames_with_prefix(&prefix, limit.clamp(1, 50)))
    }
}

#[cfg(test)]
mod tests {
    use crate::app::App;
    use crate::crypto::{DataKey, PasswordHasher};
    use crate::store::Store;

    /// A password made of the PIN without its dash is refused like one made of the PIN.
    #[test]
    fn the_pin_counts_as_context_with_or_without_its_dash() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let key = DataKey::generate().expect("key");
        let app = App::new(store, key, PasswordHasher::new(15), Default::default()).expect("app");
        let password = "7kq2m9xd7kq2m9xd";
        assert!(
            app.judge_password(password, "alice", "Alice")
                .unwrap()
                .acceptable
        );
        app.set_pin("7KQ2-M9XD").expect("pin");
        assert!(
            !app.judge_password_with_pin(password, "alice", "Alice")
                .unwrap()
                .acceptable
        );
    }
}
