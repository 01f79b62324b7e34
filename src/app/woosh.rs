//! Accounts and credentials of the end-to-end chat protocol ("woosh", `http::woosh`): register,
//! profile, `info`, the lookup of another member's public key, and the check of the
//! `x-user-name` / `x-user-token` pair that comes with every request. Its messaging is in
//! `woosh_mail.rs`. No HTTP here: domain values in, domain values out.
//!
//! A woosh account is an ordinary account (one namespace with every member: its lower-cased
//! name is taken like any other) whose password is the client's token, scrypt-hashed like any
//! password. Its key blobs are opaque bytes: the public key in `PUBLIC_KEYS`, the private key
//! and `info` sealed at rest in its `woosh_account` row. Such an account cannot sign in on the
//! web pages or `/api/v1` (`auth::check_password` refuses it like a wrong password): its
//! password is a client-derived secret the web's password policy cannot judge.
//!
//! **Credentials without a hash per request.** A verified pair is remembered as an HMAC (under
//! the data key) of the stored password hash, the exact spelling and the token, in a bounded
//! in-memory table for [`CREDENTIAL_TTL`]. Each request still reads the account: a changed
//! password (a new PHC string, so a new MAC), a lock or a deletion takes effect at once,
//! whichever process made it. A pair that is not remembered costs one scrypt hash and counts
//! under the sign-in throttles (the IP's and the account's); a remembered pair is not
//! throttled, so strangers' wrong tokens never lock a client that is already polling.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{App, Client, account_key, event, security_event};
use crate::crypto::message_aad;
use crate::error::{Error, Result};
use crate::model::{Invalid, RESERVED_USERNAMES, Timestamp, Username, is_woosh_spelling};
use crate::store::records::{Sealed, UserRecord};
use crate::store::woosh::{INFO_FIELD, PRIVATE_KEY_FIELD, WooshMember, WooshRecord};

/// How long a verified pair is remembered after its last check by hash.
pub const CREDENTIAL_TTL: Duration = Duration::from_secs(10 * 60);
/// At most this many pairs are remembered (about 80 bytes each); when full, the expired ones
/// go, and if none has expired, all of them (each client then pays one hash again).
const MAX_REMEMBERED: usize = 10_000;
/// The largest public key, private-key blob or `info` stored (the protocol asks for 16 KiB).
pub const MAX_KEY_BYTES: usize = 32 * 1024;

/// A registration through the protocol, as decoded from its body.
#[derive(Debug, Clone)]
pub struct WooshRegistration {
    pub username: String,
    pub password: String,
    pub private_key: String,
    pub public_key: String,
    pub info: Option<String>,
}

/// An account as the protocol shows it to its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct WooshProfile {
    pub id: u64,
    pub username: String,
    pub public_key: String,
    pub private_key: String,
    pub info: String,
}

/// Another member as the protocol's lookup shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WooshFriend {
    pub id: u64,
    pub username: String,
    pub public_key: String,
}

/// The caller of an authenticated request.
#[derive(Debug, Clone)]
pub struct WooshUser {
    pub username: Username,
    pub spelling: String,
}

/// The per-process state of the protocol: remembered credentials and the times of sends in
/// flight (see `woosh_mail.rs`).
#[derive(Default)]
pub struct WooshState {
    remembered: Mutex<HashMap<[u8; 32], Instant>>,
    pub(super) in_flight: Mutex<std::collections::BTreeMap<i64, usize>>,
}

impl WooshState {
    fn remembers(&self, mac: &[u8; 32]) -> bool {
        let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        remembered
            .get(mac)
            .is_some_and(|at| at.elapsed() < CREDENTIAL_TTL)
    }

    fn remember(&self, mac: [u8; 32]) {
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        if remembered.len() >= MAX_REMEMBERED {
            remembered.retain(|_, at| at.elapsed() < CREDENTIAL_TTL);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(mac, Instant::now());
    }

    fn forget(&self, mac: &[u8; 32]) {
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        remembered.remove(mac);
    }
}

const CREDENTIAL_PURPOSE: &str = "woosh-credential";

/// The user id the protocol shows for a member who registered on the web (and published a
/// key): 2^52 plus 48 bits of the SHA-256 of the name, so it is stable, truthy, safe as a
/// JavaScript number, and above every woosh id (a counter from 1).
fn member_id(username: &Username) -> u64 {
    let digest = crate::crypto::sha256(username.as_str().as_bytes());
    let mut low = [0u8; 8];
    low[2..].copy_from_slice(&digest[..6]);
    (1u64 << 52) | u64::from_be_bytes(low)
}

fn too_large(field: &'static str) -> Error {
    Error::Invalid(vec![Invalid::new(
        field,
        format!("field \"{field}\" is larger than {MAX_KEY_BYTES} bytes"),
    )])
}

impl App {
    fn woosh_aad(username: &Username, field: &str) -> Vec<u8> {
        message_aad(0, username.as_str(), username.as_str(), field)
    }

    fn woosh_seal(&self, username: &Username, field: &str, text: &str) -> Result<Sealed> {
        let aad = Self::woosh_aad(username, field);
        Ok(Sealed(self.key.seal(text.as_bytes(), &aad)?))
    }

    fn woosh_open(&self, username: &Username, field: &str, sealed: &Sealed) -> Result<String> {
        let aad = Self::woosh_aad(username, field);
        Ok(self.key.open_text(&sealed.0, &aad)?)
    }

    fn woosh_profile_of(
        &self,
        username: &Username,
        woosh: &WooshRecord,
        public_key: &[u8],
    ) -> Result<WooshProfile> {
        Ok(WooshProfile {
            id: woosh.id,
            username: woosh.spelling.clone(),
            public_key: String::from_utf8_lossy(public_key).into_owned(),
            private_key: self.woosh_open(username, PRIVATE_KEY_FIELD, &woosh.private_key)?,
            info: self.woosh_open(username, INFO_FIELD, &woosh.info)?,
        })
    }

    /// Registers an account through the protocol (the caller has checked that registration is
    /// open): the name by the protocol's rule and ours, refused if its lower-cased form is
    /// taken or retired; counted under the registration throttle and logged.
    pub fn woosh_register(
        &self,
        form: &WooshRegistration,
        client: &Client,
    ) -> Result<WooshProfile> {
        self.throttle.refuse_if_locked(&[client.ip_key()])?;
        self.throttle
            .attempt(&[format!("register:{}", client.ip)])?;
        let bad_name = || {
            Error::Invalid(vec![Invalid::new(
                "username",
                "bad username, it must be 3 to 32 of A-Z a-z 0-9 _ -",
            )])
        };
        if !is_woosh_spelling(&form.username) {
            return Err(bad_name());
        }
        let username = Username::parse(&form.username).map_err(|_| bad_name())?;
        if RESERVED_USERNAMES.contains(&username.as_str()) {
            return Err(Error::UsernameTaken);
        }
        let info = form.info.as_deref().unwrap_or("");
        for (field, value) in [
            ("public_key", form.public_key.as_str()),
            ("private_key", form.private_key.as_str()),
            ("info", info),
        ] {
            if value.len() > MAX_KEY_BYTES {
                return Err(too_large(field));
            }
        }
        if form.password.len() > MAX_KEY_BYTES {
            return Err(too_large("password"));
        }
        let now = Timestamp::now().0;
        let user = UserRecord {
            name: form.username.clone(),
            password_phc: self.hasher.hash(&form.password)?,
            // No security question (0 is none: the reset shows the name's decoy question) and
            // as the answer the hash of a random secret nobody knows, so a reset by question is
            // refused after the same hashing as any wrong answer.
            question: 0,
            answer_phc: self.decoy_phc.clone(),
            created_at: now,
            password_changed_at: now,
            locked: false,
        };
        let woosh = WooshRecord {
            spelling: form.username.clone(),
            id: 0,
            private_key: self.woosh_seal(&username, PRIVATE_KEY_FIELD, &form.private_key)?,
            info: self.woosh_seal(&username, INFO_FIELD, info)?,
        };
        let public_key = form.public_key.clone().into_bytes();
        let (created, ip) = (username.clone(), client.ip);
        let stored = self.store.write(move |tx| {
            let id = tx.insert_woosh_account(&created, &user, &woosh, &public_key)?;
            let registered = security_event(
                event::REGISTERED,
                Some(created.as_str()),
                Some(ip),
                "via=woosh",
            );
            tx.record_event(&registered)?;
            Ok(id)
        });
        let id = match stored {
            Ok(id) => id,
            Err(Error::UsernameTaken) => {
                let refused = security_event(
                    event::REGISTER_FAILED,
                    Some(username.as_str()),
                    Some(client.ip),
                    "via=woosh reason=username_taken",
                );
                self.store.write(move |tx| tx.record_event(&refused))?;
                return Err(Error::UsernameTaken);
            }
            Err(e) => return Err(e),
        };
        Ok(WooshProfile {
            id,
            username: form.username.clone(),
            public_key: form.public_key.clone(),
            private_key: form.private_key.clone(),
            info: info.to_string(),
        })
    }

    /// Checks the pair of headers of a request; see the module documentation.
    pub fn woosh_authenticate(
        &self,
        name: Option<&str>,
        token: Option<&str>,
        client: &Client,
    ) -> Result<WooshUser> {
        let (Some(name), Some(token)) = (name, token) else {
            return Err(Error::Unauthenticated);
        };
        let username = match Username::parse(name) {
            Ok(username) if is_woosh_spelling(name) => username,
            // Not a name the protocol could have registered: nothing to throttle or hash.
            _ => return Err(Error::Unauthenticated),
        };
        let found = self.store.read(|rx| rx.woosh_member(&username))?;
        let account = match found {
            Some(WooshMember {
                user,
                woosh: Some(woosh),
                ..
            }) if woosh.spelling == name => Some(user),
            _ => None,
        };
        let Some(user) = account else {
            return self.woosh_refuse(&username, token, client, false);
        };
        let mut data = Vec::with_capacity(user.password_phc.len() + name.len() + token.len() + 2);
        for part in [
            user.password_phc.as_bytes(),
            name.as_bytes(),
            token.as_bytes(),
        ] {
            data.extend_from_slice(part);
            data.push(0);
        }
        let mac = self.key.mac(CREDENTIAL_PURPOSE, &data);
        if user.locked {
            self.woosh.forget(&mac);
            return Err(Error::Unauthenticated);
        }
        let caller = WooshUser {
            username: username.clone(),
            spelling: name.to_string(),
        };
        if self.woosh.remembers(&mac) {
            return Ok(caller);
        }
        let keys = [client.ip_key(), account_key(username.as_str())];
        self.throttle.attempt(&keys)?;
        if self.hasher.verify(token, &user.password_phc) {
            self.throttle.success(&keys[1]);
            self.woosh.remember(mac);
            return Ok(caller);
        }
        self.woosh_refuse(&username, token, client, true)
    }

    /// A pair that does not verify: the time of one hash (for an unknown name too), a failure
    /// under the throttles, a security event.
    fn woosh_refuse(
        &self,
        username: &Username,
        token: &str,
        client: &Client,
        hashed: bool,
    ) -> Result<WooshUser> {
        let keys = [client.ip_key(), account_key(username.as_str())];
        if !hashed {
            self.throttle.attempt(&keys)?;
            self.verify_decoy(token);
        }
        self.sign_in_failed(username.as_str(), hashed, client, &keys, "via=woosh")?;
        Err(Error::Unauthenticated)
    }

    /// The caller's own account.
    pub fn woosh_profile(&self, caller: &WooshUser) -> Result<WooshProfile> {
        let found = self.store.read(|rx| rx.woosh_member(&caller.username))?;
        match found {
            Some(WooshMember {
                woosh: Some(woosh),
                public_key,
                ..
            }) => self.woosh_profile_of(&caller.username, &woosh, &public_key.unwrap_or_default()),
            _ => Err(Error::Unauthenticated),
        }
    }

    /// Replaces the caller's `info`.
    pub fn woosh_set_info(&self, caller: &WooshUser, info: &str) -> Result<WooshProfile> {
        if info.len() > MAX_KEY_BYTES {
            return Err(too_large("info"));
        }
        let sealed = self.woosh_seal(&caller.username, INFO_FIELD, info)?;
        let username = caller.username.clone();
        self.store
            .write(move |tx| tx.set_woosh_info(&username, &sealed).map(|_| ()))?;
        self.woosh_profile(caller)
    }

    /// Someone the protocol can find by exactly this spelling: a woosh account, or a member who
    /// registered on the web and published a key (under their lower-cased name). Members
    /// without a key are not found.
    pub fn woosh_friend(&self, spelling: &str) -> Result<WooshFriend> {
        let username = match Username::parse(spelling) {
            Ok(username) if is_woosh_spelling(spelling) => username,
            _ => return Err(Error::NotFound),
        };
        let found = self.store.read(|rx| rx.woosh_member(&username))?;
        // A woosh client's key is stored as the string it gave; a key published through
        // `/api/v1` is bytes, shown here as the API shows them, in base64.
        let found = found.and_then(|m| Some((m.woosh, m.public_key?)));
        let (id, public_key) = match found {
            Some((Some(woosh), key)) if woosh.spelling == spelling => {
                (woosh.id, String::from_utf8_lossy(&key).into_owned())
            }
            Some((None, key)) if username.as_str() == spelling => {
                use base64::Engine;
                let text = base64::engine::general_purpose::STANDARD.encode(key);
                (member_id(&username), text)
            }
            _ => return Err(Error::NotFound),
        };
        Ok(WooshFriend {
            id,
            username: spelling.to_string(),
            public_key,
        })
    }
}
