//! Device tokens, OWASP's answer to lockout as a denial of service: a signed token handed to a
//! client at every successful sign-in (the browser's `device` cookie, the API's `device_token`),
//! naming the account, a random nonce and the time it was issued. A later attempt that presents
//! a valid one for the account it names is counted under the device's own key
//! (`device:NONCE`) instead of the account's, so strangers' failures that lock the account do
//! not lock its owner out, and a device that fails too often is locked by itself without
//! locking the account. Attempts without a valid token (none, altered, expired, or for another
//! account) are counted under the account as always. The per-IP key applies to every attempt.
//!
//! The token is an HMAC under the data key over its fields: nothing is stored, and a new key
//! (`rotate-key`) makes every device a stranger again. No HTTP here: `http` reads and writes
//! the cookie or header and hands the value over.

use std::time::Duration;

use super::{App, account_key};
use crate::crypto::{ct_eq, random_bytes};
use crate::error::Result;
use crate::model::{Timestamp, Username};

/// How long a device token is honoured after it was issued.
pub const DEVICE_TOKEN_LIFETIME: Duration = Duration::from_secs(180 * 24 * 60 * 60);

const PURPOSE: &str = "device-token";
/// How far in the future an issue time may lie (clocks of servers sharing a database).
const CLOCK_SKEW_SECS: i64 = 300;

/// The throttle key of one device: its nonce.
fn device_key(nonce: &str) -> String {
    format!("device:{nonce}")
}

impl App {
    fn device_mac(&self, nonce: &str, issued: &str, username: &str) -> String {
        let signed = format!("{nonce}\0{issued}\0{username}");
        hex::encode(&self.key.mac(PURPOSE, signed.as_bytes())[..16])
    }

    /// A new device token for `username`: `NONCE-ISSUED-MAC-USERNAME`, only `[0-9a-z_-]`, so it
    /// fits a cookie as it is.
    pub(super) fn issue_device_token(&self, username: &Username) -> Result<String> {
        let nonce = hex::encode(random_bytes::<16>()?);
        let issued = Timestamp::now().0.to_string();
        let mac = self.device_mac(&nonce, &issued, username.as_str());
        Ok(format!("{nonce}-{issued}-{mac}-{}", username.as_str()))
    }

    /// The throttle key a sign-in attempt for `username` (as typed, lower-cased) is counted
    /// under besides its IP: the device's, if `token` is a valid device token for exactly this
    /// account, else the account's.
    pub(super) fn sign_in_key(&self, token: Option<&str>, username: &str) -> String {
        self.device_nonce(token, username)
            .map_or_else(|| account_key(username), |nonce| device_key(&nonce))
    }

    fn device_nonce(&self, token: Option<&str>, username: &str) -> Option<String> {
        let mut fields = token?.splitn(4, '-');
        let (nonce, issued, mac, named) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        if named != username || nonce.len() != 32 || mac.len() != 32 {
            return None;
        }
        let issued_at: i64 = issued.parse().ok()?;
        let age = Timestamp::now().0 - issued_at;
        let lifetime = i64::try_from(DEVICE_TOKEN_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        if age < -CLOCK_SKEW_SECS || age > lifetime {
            return None;
        }
        let expected = self.device_mac(nonce, issued, named);
        ct_eq(expected.as_bytes(), mac.as_bytes()).then(|| nonce.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{DataKey, PasswordHasher};
    use crate::store::Store;

    fn app_in(dir: &std::path::Path) -> App {
        std::fs::create_dir_all(dir).expect("data dir");
        let store = Store::open(dir).expect("store");
        let key = DataKey::generate().expect("key");
        App::new(store, key, PasswordHasher::new(15), Default::default()).expect("app")
    }

    #[test]
    fn only_an_unaltered_token_for_the_same_account_names_its_device() {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = app_in(dir.path());
        let alice = Username::parse("alice").expect("valid");
        let token = app.issue_device_token(&alice).expect("issued");
        let key = app.sign_in_key(Some(&token), "alice");
        assert!(key.starts_with("device:"), "{key}");
        assert_eq!(app.sign_in_key(Some(&token), "bob"), "account:bob");
        assert_eq!(app.sign_in_key(None, "alice"), "account:alice");
        let (nonce, rest) = token.split_once('-').expect("fields");
        let (issued, rest) = rest.split_once('-').expect("fields");
        let later = (issued.parse::<i64>().expect("time") + 1).to_string();
        for forged in [
            format!("{nonce}-{later}-{rest}"),
            format!("{}{}", &token[..token.len() - 5], "bobby"),
            format!("{}-{issued}-{rest}", nonce.replace(&nonce[..1], "x")),
            token.replace('-', "_"),
        ] {
            assert_eq!(app.sign_in_key(Some(&forged), "alice"), "account:alice");
        }
        let other = app_in(&dir.path().join("other"));
        assert_eq!(
            other.sign_in_key(Some(&token), "alice"),
            "account:alice",
            "a token signed under another key is nobody's"
        );
    }
}
