//! Use cases: register, log in, send, read, delete, reset, sessions, tokens, and the operator's
//! commands. Domain values in, domain values out.
//!
//! No HTTP and no HTML here: `http` decodes a request, calls one function of this module and
//! encodes the answer. IO goes only through `store` (and the crypto key held in [`App`]).

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod cursor;
pub mod device;
pub mod mail;
pub mod password;
pub mod pin;
pub mod search;
mod shared;
pub mod throttle;
pub mod tokens;
pub mod user_agent;
pub mod woosh;
pub mod woosh_mail;

use std::net::IpAddr;
use std::time::Duration;

use crate::crypto::{DataKey, PasswordHasher};
use crate::error::Result;
use crate::model::{Timestamp, Username};
use crate::store::Store;
use crate::store::records::EventRecord;

/// Durations and sizes the use cases obey; filled from `Config`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub token_ttl: Duration,
    /// Only write a session's `last_seen` when it is older than this, so reading pages does not
    /// cost a disk commit per request.
    pub touch_interval: Duration,
    pub throttle: throttle::ThrottleSettings,
}

/// The defaults, which are the command line's too (`cli.rs` names them, never repeats them).
impl Settings {
    pub const DEFAULT_SESSION_IDLE_MINUTES: u64 = 30;
    pub const DEFAULT_SESSION_MAX_HOURS: u64 = 12;
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_idle: Duration::from_secs(Self::DEFAULT_SESSION_IDLE_MINUTES * 60),
            session_absolute: Duration::from_secs(Self::DEFAULT_SESSION_MAX_HOURS * 60 * 60),
            token_ttl: Duration::from_secs(60 * 60),
            touch_interval: Duration::from_secs(60),
            throttle: throttle::ThrottleSettings::default(),
        }
    }
}

/// Who is asking, as far as rate limits and the security log care.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: String,
}

impl Client {
    pub fn ip_key(&self) -> String {
        format!("ip:{}", self.ip)
    }
}

pub fn account_key(username: &str) -> String {
    format!("account:{username}")
}

/// Everything a use case needs, built once at start and shared by all request threads.
///
/// Its parts are private to `app`: the data key, the store and the throttle are reached only
/// through use cases, so no caller can MAC, seal or write on its own.
pub struct App {
    store: Store,
    key: std::sync::Arc<DataKey>,
    hasher: PasswordHasher,
    throttle: throttle::Throttle,
    /// Searches per member per minute, apart from the sign-in limits (`search`).
    search_throttle: throttle::Throttle,
    /// The ceiling on wrong registration PINs across all IPs.
    pin_guard: pin::PinGuard,
    settings: Settings,
    /// A hash of a random secret, verified against when a user does not exist so that the
    /// answer takes as long as for a real user.
    decoy_phc: String,
    /// The end-to-end chat protocol's remembered credentials and sends in flight.
    woosh: woosh::WooshState,
}

impl App {
    /// The fingerprint of the data key (what a dump header and `rotate-key` show).
    pub fn key_fingerprint(&self) -> String {
        self.key.fingerprint()
    }

    /// Why the server cannot store anything right now, or `None` when it can (`/healthz`).
    pub fn storage_fault(&self) -> Option<String> {
        self.store.fault()
    }

    pub fn new(
        store: Store,
        key: DataKey,
        hasher: PasswordHasher,
        settings: Settings,
    ) -> Result<Self> {
        let decoy_phc = hasher.hash(&crate::crypto::new_secret()?)?;
        let key = std::sync::Arc::new(key);
        let throttle =
            throttle::Throttle::stored(settings.throttle.clone(), store.clone(), key.clone());
        let pin_guard = pin::PinGuard::stored(
            settings.throttle.max_wrong_pins_per_hour,
            store.clone(),
            key.clone(),
        );
        let search_throttle = throttle::Throttle::stored(
            throttle::ThrottleSettings {
                attempts_per_minute: search::SEARCHES_PER_MINUTE,
                ..throttle::ThrottleSettings::default()
            },
            store.clone(),
            key.clone(),
        );
        Ok(App {
            store,
            key,
            hasher,
            throttle,
            search_throttle,
            pin_guard,
            settings,
            decoy_phc,
            woosh: woosh::WooshState::default(),
        })
    }

    /// Spends the time of one password check, for a user who does not exist.
    fn verify_decoy(&self, secret: &str) {
        let _ = self.hasher.verify(secret, &self.decoy_phc);
    }
}

/// The security events the log and `messages audit` know.
pub mod event {
    pub const LOGIN_FAILED: &str = "login_failed";
    pub const LOGIN: &str = "login";
    pub const LOCKOUT: &str = "lockout";
    pub const REGISTERED: &str = "registered";
    pub const REGISTER_FAILED: &str = "register_failed";
    pub const REGISTRATION_PAUSED: &str = "registration_paused";
    pub const RESET: &str = "password_reset";
    pub const RESET_FAILED: &str = "reset_failed";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const QUESTION_CHANGED: &str = "question_changed";
    pub const TOKEN_CREATED: &str = "token_created";
    pub const TOKEN_REVOKED: &str = "token_revoked";
    pub const MESSAGE_DELETED: &str = "message_deleted";
    pub const PIN_CHANGED: &str = "pin_changed";
    pub const USER_LOCKED: &str = "user_locked";
    pub const USER_UNLOCKED: &str = "user_unlocked";
    pub const USER_DELETED: &str = "user_deleted";
    pub const OPERATOR_RESET: &str = "operator_password_reset";
    pub const KEY_ROTATED: &str = "key_rotated";
}

/// Builds an event record (written by the caller inside its own transaction) and logs it.
///
/// A name that cannot be a username is neither logged nor stored: it is most often a password
/// typed into the wrong field. It is shown as `(invalid)`, in the detail too (lockout keys
/// carry it), so the line keeps its shape for an intrusion blocker matching on the IP.
pub fn security_event(
    kind: &str,
    username: Option<&str>,
    ip: Option<IpAddr>,
    detail: impl Into<String>,
) -> EventRecord {
    match username {
        Some(name) if !is_username(name) => {
            hidden_name_event(kind, name, INVALID_NAME, ip, detail.into())
        }
        _ => record_and_log(kind, username.map(str::to_string), ip, detail.into()),
    }
}

/// Like [`security_event`] for a name that matched no account (a failed login or reset). The
/// name is shown as `(unknown)` (or `(invalid)` when it cannot be a username), in the detail
/// too: it names nobody, and a username-shaped password typed into the wrong field would
/// otherwise reach the log and the audit.
pub fn unknown_user_event(
    kind: &str,
    typed: &str,
    ip: Option<IpAddr>,
    detail: impl Into<String>,
) -> EventRecord {
    let shown = if is_username(typed) {
        UNKNOWN_NAME
    } else {
        INVALID_NAME
    };
    hidden_name_event(kind, typed, shown, ip, detail.into())
}

/// Whether `name` is a username exactly as typed (already lower-cased and trimmed).
fn is_username(name: &str) -> bool {
    Username::parse(name).is_ok_and(|valid| valid.as_str() == name)
}

fn hidden_name_event(
    kind: &str,
    typed: &str,
    shown: &str,
    ip: Option<IpAddr>,
    mut detail: String,
) -> EventRecord {
    if !typed.is_empty() {
        detail = detail.replace(typed, shown);
    }
    record_and_log(kind, Some(shown.to_string()), ip, detail)
}

fn record_and_log(
    kind: &str,
    username: Option<String>,
    ip: Option<IpAddr>,
    detail: String,
) -> EventRecord {
    let record = EventRecord {
        at: Timestamp::now().0,
        kind: kind.to_string(),
        username,
        ip: ip.map(|ip| ip.to_string()),
        detail,
    };
    tracing::warn!(
        target: "security",
        "security event={} user={} ip={} {}",
        record.kind,
        escape_for_log(record.username.as_deref().unwrap_or("-")),
        record.ip.as_deref().unwrap_or("-"),
        escape_for_log(&record.detail)
    );
    record
}

/// What the security log and the audit show instead of a name that is not a valid username.
pub const INVALID_NAME: &str = "(invalid)";

/// What they show instead of a name that matched no account.
pub const UNKNOWN_NAME: &str = "(unknown)";

/// Escapes what could forge, split or disguise a log line: control characters, every kind of
/// whitespace and line separator (U+2028, NEL...), bidirectional overrides, quotes and
/// backslashes. With spaces escaped, input stays one token, so it cannot add a ` ip=` field.
/// At most 200 characters.
pub fn escape_for_log(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().take(200) {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        match c {
            '\n' | '\r' | '\t' | '\\' | '"' => out.extend(c.escape_default()),
            ' ' => out.push_str("\\x20"),
            _ if c.is_control() || c.is_whitespace() || bidi => out.extend(c.escape_unicode()),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_escaping_keeps_input_one_token_on_one_line() {
        let hostile = "eve ip=203.0.113.9\nWARN x\r\u{2028}\u{85}\u{202e}\t\"\\";
        let escaped = escape_for_log(hostile);
        assert!(
            !escaped.chars().any(|c| c.is_whitespace() || c.is_control()),
            "{escaped:?}"
        );
        assert!(
            !escaped.contains('\u{202e}') && !escaped.contains(" ip="),
            "{escaped:?}"
        );
        assert_eq!(escape_for_log("alice"), "alice");
    }

    #[test]
    fn a_name_that_cannot_be_a_username_is_not_recorded() {
        let typed = "my secret pass phrase";
        let record = security_event(
            event::LOCKOUT,
            Some(typed),
            None,
            format!("key=account:{typed} seconds=60"),
        );
        assert_eq!(record.username.as_deref(), Some(INVALID_NAME));
        assert_eq!(record.detail, "key=account:(invalid) seconds=60");
        let record = security_event(event::LOGIN_FAILED, Some("alice"), None, "");
        assert_eq!(record.username.as_deref(), Some("alice"));
    }

    #[test]
    fn a_name_that_matched_no_account_is_not_recorded() {
        let typed = "tangerine-orbit-velvet-4471";
        let record = unknown_user_event(
            event::LOCKOUT,
            typed,
            None,
            format!("key=account:{typed} seconds=60"),
        );
        assert_eq!(record.username.as_deref(), Some(UNKNOWN_NAME));
        assert_eq!(record.detail, "key=account:(unknown) seconds=60");
    }
}
