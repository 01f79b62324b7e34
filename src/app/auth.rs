//! Logging in and staying logged in: password checks under rate limits (with the device token
//! of `app::device` deciding which key an attempt counts under), server-side browser sessions
//! (new secret at every login, idle and absolute timeouts), the CSRF tokens of every form
//! (signed-in ones derived from the session, anonymous ones from a double-submit cookie: CSRF
//! is decided here alone), and the housekeeping that ends expired sessions and tokens. API
//! bearer tokens themselves are made and checked in `app::tokens`.
//!
//! Secrets are handed to the client once and stored only as their SHA-256.

use std::time::Duration;

use super::throttle::FailureOutcome;
use super::{App, Client, event, security_event, unknown_user_event};
use crate::crypto::{ct_eq, new_secret, random_u128, sha256};
use crate::error::{Error, Result};
use crate::model::{Timestamp, Username};
use crate::store::records::{SessionRecord, TokenRecord, UserRecord};
use crate::store::{Rx, Tx};

/// The MAC purposes of the two CSRF tokens, so neither can stand in for the other.
const SESSION_CSRF_PURPOSE: &str = "csrf";
const ANON_CSRF_PURPOSE: &str = "anon-csrf";

/// A signed-in browser session, as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub username: Username,
    /// SHA-256 of the cookie secret: the session's key in the store.
    pub hash: [u8; 32],
    pub handle: u128,
    /// The token every state-changing form must carry.
    pub csrf: String,
}

/// What a successful login hands the browser: the session cookie's secret, the session, and
/// a new device token for the device cookie.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub secret: String,
    pub session: Session,
    pub device_token: String,
}

/// A session or token as listed on the account page.
#[derive(Debug, Clone)]
pub struct CredentialInfo {
    pub handle: u128,
    pub created_at: Timestamp,
    /// Sessions: last seen; tokens: expiry.
    pub last_seen_or_expiry: Timestamp,
    pub ip: String,
    pub user_agent: String,
    /// The session this request came with.
    pub current: bool,
}

/// Whether a request counts as the member being active (it refreshes the idle timeout).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Activity {
    Member,
    Background,
}

pub(super) fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Checked inside the transaction that creates a session or a token: the account is still
/// there and not locked, and (after a password check) its password is still the one verified.
/// Without it, a lock, a deletion or a password change committed while the password was being
/// hashed would be followed by a fresh sign-in that it was meant to prevent.
pub(super) fn may_sign_in(
    tx: &Tx<'_>,
    username: &Username,
    verified_phc: Option<&str>,
) -> Result<()> {
    let record = tx.user(username)?.ok_or(Error::Unauthenticated)?;
    // Without a password check (a signed-in member) only the lock decides.
    let verified_phc = verified_phc.unwrap_or(&record.password_phc);
    super::accounts::still_as_verified(&record, verified_phc).map_err(|e| match e {
        Error::Invalid(_) => Error::Unauthenticated,
        other => other,
    })
}

impl App {
    /// Checks a username and password under the rate limits: the IP's, and the account's, or
    /// the device's when `device_token` is a valid one for this account (so strangers' failures
    /// do not lock its owner out). Unknown users cost the same hashing time as known ones, and
    /// both get the same refusal. The operator's lock refuses every device.
    pub fn check_password(
        &self,
        username: &str,
        password: &str,
        client: &Client,
        device_token: Option<&str>,
    ) -> Result<(Username, UserRecord)> {
        let lowered = username.trim().to_ascii_lowercase();
        let keys = [client.ip_key(), self.sign_in_key(device_token, &lowered)];
        self.throttle.attempt(&keys)?;
        // An account registered through the woosh protocol never signs in here: its password
        // is a client-derived secret the password policy could not judge. It is refused like
        // a wrong password, after the same hashing, so the answer tells nothing.
        let (found, woosh) = match Username::parse(&lowered) {
            Ok(name) => {
                let (record, woosh) = self
                    .store
                    .read(|rx| Ok((rx.user(&name)?, rx.woosh_account(&name)?.is_some())))?;
                (record.map(|record| (name, record)), woosh)
            }
            Err(_) => (None, false),
        };
        let verified = match &found {
            Some((_, record)) => self.hasher.verify(password, &record.password_phc) && !woosh,
            None => {
                self.verify_decoy(password);
                false
            }
        };
        match found {
            Some((name, record)) if verified => {
                if record.locked {
                    return Err(Error::AccountLocked);
                }
                // Only the key this attempt counted under: an owner's success from a trusted
                // device does not wipe the strangers' count on the account.
                self.throttle.success(&keys[1]);
                Ok((name, record))
            }
            _ => {
                self.sign_in_failed(&lowered, found.is_some(), client, &keys, "")?;
                Err(Error::Unauthenticated)
            }
        }
    }

    /// A failed sign-in (by password here, by token pair in `woosh`): a failure under `keys`,
    /// and its security events, the lockouts it caused among them. A name that matched no
    /// account (`known` false) is not kept (see `unknown_user_event`).
    pub(super) fn sign_in_failed(
        &self,
        lowered: &str,
        known: bool,
        client: &Client,
        keys: &[String],
        detail: &str,
    ) -> Result<()> {
        let recorded = |kind: &str, detail: String| {
            if known {
                security_event(kind, Some(lowered), Some(client.ip), detail)
            } else {
                unknown_user_event(kind, lowered, Some(client.ip), detail)
            }
        };
        let mut events = vec![recorded(event::LOGIN_FAILED, detail.to_string())];
        for outcome in self.throttle.failure(keys) {
            if let FailureOutcome::Locked { key, seconds } = outcome {
                events.push(recorded(
                    event::LOCKOUT,
                    format!("key={key} seconds={seconds}"),
                ));
            }
        }
        self.store
            .write(move |tx| events.iter().try_for_each(|e| tx.record_event(e)))
    }

    /// Logs in: a brand-new session (the old one, if any, is ended by the caller passing it)
    /// and a new device token.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        client: &Client,
        previous: Option<&str>,
        device_token: Option<&str>,
    ) -> Result<SignIn> {
        let (username, verified) = self.check_password(username, password, client, device_token)?;
        let device_token = self.issue_device_token(&username)?;
        let secret = new_secret()?;
        let hash = sha256(secret.as_bytes());
        let now = Timestamp::now().0;
        let record = SessionRecord {
            username: username.as_str().to_string(),
            handle: random_u128()?,
            created_at: now,
            last_seen: now,
            ip: client.ip.to_string(),
            user_agent: client.user_agent.chars().take(200).collect(),
        };
        let previous_hash = previous.map(|p| sha256(p.as_bytes()));
        let session = Session {
            username: username.clone(),
            hash,
            handle: record.handle,
            csrf: self.csrf_for(&hash),
        };
        let event = security_event(event::LOGIN, Some(username.as_str()), Some(client.ip), "");
        let who = username.clone();
        self.store.write(move |tx| {
            may_sign_in(tx, &who, Some(&verified.password_phc))?;
            if let Some(old) = previous_hash {
                tx.remove_credential::<SessionRecord>(&old)?;
            }
            tx.put_credential(&hash, &record)?;
            tx.record_event(&event)
        })?;
        Ok(SignIn {
            secret,
            session,
            device_token,
        })
    }

    /// The CSRF token of a session: an HMAC of its hash, so nothing more is stored.
    pub fn csrf_for(&self, session_hash: &[u8; 32]) -> String {
        hex::encode(&self.key.mac(SESSION_CSRF_PURPOSE, session_hash)[..20])
    }

    pub fn csrf_ok(&self, session: &Session, presented: &str) -> bool {
        ct_eq(session.csrf.as_bytes(), presented.as_bytes())
    }

    /// The token an anonymous form (login, register, reset) carries for a browser whose
    /// double-submit cookie holds `cookie_secret`: an HMAC of it, so nothing is stored and a
    /// cross-site page, which can neither read nor set the cookie, cannot produce it.
    pub fn anon_csrf_for(&self, cookie_secret: &str) -> String {
        hex::encode(self.key.mac(ANON_CSRF_PURPOSE, cookie_secret.as_bytes()))
    }

    /// Whether `presented` is the anonymous-form token of the browser's cookie (none: never).
    pub fn anon_csrf_ok(&self, cookie_secret: Option<&str>, presented: &str) -> bool {
        cookie_secret.is_some_and(|secret| {
            ct_eq(self.anon_csrf_for(secret).as_bytes(), presented.as_bytes())
        })
    }

    /// The session behind a cookie secret, if it is live; refreshes `last_seen` now and then.
    pub fn session(&self, secret: &str) -> Result<Option<Session>> {
        Ok(self
            .session_with(secret, |_, _| Ok(()))?
            .map(|(session, ())| session))
    }

    /// [`App::session`], and `also` run for a live session's member in the same read snapshot
    /// (so a page that needs both reads the database once).
    pub(crate) fn session_with<R>(
        &self,
        secret: &str,
        also: impl FnOnce(&Rx, &Username) -> Result<R>,
    ) -> Result<Option<(Session, R)>> {
        self.session_lookup(secret, Activity::Member, also)
    }

    /// [`App::session_with`] for a request the browser makes by itself (the live poll): the
    /// session must be live, but the request is not the member's activity, so it never moves
    /// `last_seen` and an open tab does not keep a session past its idle timeout. It writes
    /// nothing, not even the removal of an expired session (housekeeping does that).
    pub(crate) fn session_without_activity<R>(
        &self,
        secret: &str,
        also: impl FnOnce(&Rx, &Username) -> Result<R>,
    ) -> Result<Option<(Session, R)>> {
        self.session_lookup(secret, Activity::Background, also)
    }

    fn session_lookup<R>(
        &self,
        secret: &str,
        activity: Activity,
        also: impl FnOnce(&Rx, &Username) -> Result<R>,
    ) -> Result<Option<(Session, R)>> {
        let hash = sha256(secret.as_bytes());
        let now = Timestamp::now().0;
        let idle_after = secs(self.settings.session_idle);
        let absolute = secs(self.settings.session_absolute);
        let expired = |record: &SessionRecord| {
            now - record.last_seen > idle_after || now - record.created_at > absolute
        };
        let found = self.store.read(|rx| {
            let Some(record) = rx.credential::<SessionRecord>(&hash)? else {
                return Ok(None);
            };
            let member = Username::parse(&record.username).ok();
            let extra = match member {
                Some(user) if !expired(&record) => Some((user.clone(), also(rx, &user)?)),
                _ => None,
            };
            Ok(Some((record, extra)))
        })?;
        let Some((record, extra)) = found else {
            return Ok(None);
        };
        if expired(&record) && activity == Activity::Background {
            return Ok(None);
        }
        if expired(&record) {
            self.store
                .write(move |tx| tx.remove_credential::<SessionRecord>(&hash).map(drop))?;
            return Ok(None);
        }
        let Some((username, extra)) = extra else {
            return Ok(None);
        };
        if activity == Activity::Member
            && now - record.last_seen >= secs(self.settings.touch_interval)
        {
            self.store.write(move |tx| {
                // The session may have been ended since it was read: never bring it back.
                if let Some(mut current) = tx.credential::<SessionRecord>(&hash)? {
                    current.last_seen = now;
                    tx.put_credential(&hash, &current)?;
                }
                Ok(())
            })?;
        }
        let session = Session {
            username,
            hash,
            handle: record.handle,
            csrf: self.csrf_for(&hash),
        };
        Ok(Some((session, extra)))
    }

    pub fn logout(&self, session: &Session) -> Result<()> {
        let hash = session.hash;
        self.store
            .write(move |tx| tx.remove_credential::<SessionRecord>(&hash).map(drop))
    }

    /// The user's sessions, newest first, marking the one of this request.
    pub fn sessions_of(&self, session: &Session) -> Result<Vec<CredentialInfo>> {
        let found = self
            .store
            .read(|rx| rx.credentials_of::<SessionRecord>(session.username.as_str()))?;
        let mut list: Vec<CredentialInfo> = found
            .into_iter()
            .map(|(hash, r)| CredentialInfo {
                handle: r.handle,
                created_at: Timestamp(r.created_at),
                last_seen_or_expiry: Timestamp(r.last_seen),
                ip: r.ip,
                user_agent: r.user_agent,
                current: hash == session.hash,
            })
            .collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        Ok(list)
    }

    /// Ends one of the user's own sessions by handle; NotFound if it is not theirs.
    pub fn end_session(&self, username: &Username, handle: u128) -> Result<()> {
        let user = username.as_str().to_string();
        self.store.write(move |tx| {
            if tx.remove_credential_by_handle::<SessionRecord>(&user, handle)? {
                Ok(())
            } else {
                Err(Error::NotFound)
            }
        })
    }

    /// Ends every session of the user but `keep`.
    pub fn end_other_sessions(&self, session: &Session) -> Result<u64> {
        let user = session.username.as_str().to_string();
        let keep = session.hash;
        self.store
            .write(move |tx| tx.remove_credentials_of::<SessionRecord>(&user, Some(&keep)))
    }

    /// Ends expired sessions and tokens (housekeeping).
    pub fn purge_expired(&self) -> Result<u64> {
        let now = Timestamp::now().0;
        let idle = secs(self.settings.session_idle);
        let absolute = secs(self.settings.session_absolute);
        self.store.write(move |tx| {
            let sessions = tx.purge_credentials::<SessionRecord>(|r| {
                now - r.last_seen > idle || now - r.created_at > absolute
            })?;
            let tokens = tx.purge_credentials::<TokenRecord>(|r| now >= r.expires_at)?;
            Ok(sessions + tokens)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{DataKey, PasswordHasher};
    use crate::store::Store;

    fn app_with_token_ttl(dir: &std::path::Path, token_ttl: Duration) -> App {
        let settings = super::super::Settings {
            token_ttl,
            ..super::super::Settings::default()
        };
        app_with(dir, settings)
    }

    fn app_with(dir: &std::path::Path, settings: super::super::Settings) -> App {
        std::fs::create_dir_all(dir).expect("data dir");
        let store = Store::open(dir).expect("store");
        let key = DataKey::generate().expect("key");
        let app = App::new(store, key, PasswordHasher::new(15), settings).expect("app");
        // A token is only issued to an account that exists (checked in its transaction).
        let record = UserRecord {
            name: "Alice".into(),
            password_phc: String::new(),
            question: 1,
            answer_phc: String::new(),
            created_at: 0,
            password_changed_at: 0,
            locked: false,
        };
        let alice = Username::parse("alice").expect("valid");
        app.store
            .write(move |tx| tx.insert_user(&alice, &record))
            .expect("member");
        app
    }

    fn client() -> Client {
        Client {
            ip: std::net::IpAddr::from([127, 0, 0, 1]),
            user_agent: String::new(),
        }
    }

    /// The API's expired-token case: a hidden serve flag for the token life would be the only
    /// way to reach it from outside, so it is checked here on the use case the API calls.
    #[test]
    fn tokens_stop_working_when_they_expire() {
        let dir = tempfile::tempdir().expect("temp dir");
        let alice = Username::parse("alice").expect("valid");
        let live = app_with_token_ttl(&dir.path().join("live"), Duration::from_secs(3600));
        let (token, expires_at) = live.issue_token(&alice, &client()).expect("issued");
        assert!(expires_at.0 > Timestamp::now().0 + 3500);
        assert_eq!(
            live.token_user(&token).expect("read").map(|(u, _)| u),
            Some(alice.clone())
        );

        let expired = app_with_token_ttl(&dir.path().join("expired"), Duration::ZERO);
        let (token, _) = expired.issue_token(&alice, &client()).expect("issued");
        assert_eq!(expired.token_user(&token).expect("read"), None);
    }

    /// Alice's session under `secret`, last seen `idle_for` seconds ago.
    fn put_session(app: &App, secret: &str, idle_for: i64) -> [u8; 32] {
        let hash = sha256(secret.as_bytes());
        let now = Timestamp::now().0;
        let record = SessionRecord {
            username: "alice".into(),
            handle: 7,
            created_at: now - idle_for,
            last_seen: now - idle_for,
            ip: "127.0.0.1".into(),
            user_agent: String::new(),
        };
        app.store
            .write(move |tx| tx.put_credential(&hash, &record))
            .expect("session");
        hash
    }

    fn last_seen(app: &App, hash: &[u8; 32]) -> Option<i64> {
        app.store
            .read(|rx| rx.credential::<SessionRecord>(hash))
            .expect("read")
            .map(|r| r.last_seen)
    }

    /// The live poll runs from an open tab without the member doing anything, so it must not
    /// keep a session alive: it never moves `last_seen`, and an idle session stays ended for it.
    #[test]
    fn a_background_poll_is_not_activity_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = super::super::Settings {
            touch_interval: Duration::ZERO,
            session_idle: Duration::from_secs(600),
            ..super::super::Settings::default()
        };
        let app = app_with(dir.path(), settings);
        let hash = put_session(&app, "secret-of-a-live-session", 300);
        let before = last_seen(&app, &hash).expect("stored");
        let polled = app
            .live_listing("secret-of-a-live-session", None, 50)
            .expect("poll");
        assert!(polled.is_some(), "a live session may poll");
        assert_eq!(last_seen(&app, &hash), Some(before), "the poll touched it");
        app.session("secret-of-a-live-session").expect("page");
        assert!(
            last_seen(&app, &hash) > Some(before),
            "a page view is activity"
        );

        let idle = put_session(&app, "secret-of-an-idle-session", 601);
        let polled = app
            .live_listing("secret-of-an-idle-session", None, 50)
            .expect("poll");
        assert!(polled.is_none(), "an idle session does not poll");
        assert!(
            last_seen(&app, &idle).is_some(),
            "and the poll wrote nothing"
        );
    }
}
