//! Cryptography over bytes: the key file, AES-256-GCM seal/open, scrypt hashing in PHC form,
//! random ids and tokens, SHA-256 and HMAC helpers.
//!
//! Pure functions plus one small piece of state (the scrypt concurrency gate). It never touches
//! the database or HTTP; the only file it reads or writes is the key file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Condvar, Mutex};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use hmac::Mac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Why a crypto operation failed; messages are for the operator, never for a web client.
#[derive(Debug)]
pub enum CryptoError {
    KeyFile(String),
    /// A ciphertext did not open: wrong key, wrong record, or altered bytes.
    Open,
    Random,
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptoError::KeyFile(message) => f.write_str(message),
            CryptoError::Open => {
                f.write_str("a stored record could not be decrypted with this key")
            }
            CryptoError::Random => f.write_str("the operating system's random generator failed"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// Fills a fresh array from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    Ok(bytes)
}

/// A 128-bit random id (messages, sessions' handles).
pub fn random_u128() -> Result<u128, CryptoError> {
    random_bytes::<16>().map(u128::from_be_bytes)
}

/// A bearer secret (session cookie or API token): 256 random bits, URL-safe base64.
pub fn new_secret() -> Result<String, CryptoError> {
    use base64::Engine;
    let bytes = random_bytes::<32>()?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Constant-time equality for secrets of equal or unequal length.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Holds the 256-bit data key in memory (wiped on drop) and derives everything keyed from it.
pub struct DataKey {
    key: Zeroizing<[u8; 32]>,
    cipher: Aes256Gcm,
}

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let key = Zeroizing::new(bytes);
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).expect("a 32-byte key is always valid");
        DataKey { key, cipher }
    }

    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::from_bytes(random_bytes::<32>()?))
    }

    /// Loads the key file, refusing one that others can read or that is not 64 hex digits.
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let shown = path.display();
        let metadata = fs::metadata(path)
            .map_err(|e| CryptoError::KeyFile(format!("cannot read key file {shown}: {e}")))?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::KeyFile(format!(
                "key file {shown} is readable by other users (mode {mode:o}); run `chmod 600 {shown}`"
            )));
        }
        let text = Zeroizing::new(
            fs::read_to_string(path)
                .map_err(|e| CryptoError::KeyFile(format!("cannot read key file {shown}: {e}")))?,
        );
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| {
            CryptoError::KeyFile(format!(
                "key file {shown} is malformed: expected 64 hexadecimal digits"
            ))
        })?;
        let key = Self::from_bytes(bytes);
        bytes.iter_mut().for_each(|b| *b = 0);
        Ok(key)
    }

    /// Writes the key to a new file with mode 0600; never overwrites an existing file.
    pub fn write_new(&self, path: &Path) -> Result<(), CryptoError> {
        let shown = path.display();
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| CryptoError::KeyFile(format!("cannot create key file {shown}: {e}")))?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(self.key.as_slice())));
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| CryptoError::KeyFile(format!("cannot write key file {shown}: {e}")))?;
        Ok(())
    }

    /// Loads the key at `path`, creating it first if there is none.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), CryptoError> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let key = Self::generate()?;
        key.write_new(path)?;
        Ok((key, true))
    }

    /// A public name for this key (never the key): `sha256:` and 32 hex digits of a
    /// domain-separated hash.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"messages key fingerprint v1\0");
        hasher.update(self.key.as_slice());
        let digest = hasher.finalize();
        format!("sha256:{}", hex::encode(&digest[..16]))
    }

    /// Encrypts `plaintext` bound to `associated` (record id and participants): a fresh random
    /// nonce every time. Layout: version byte, 12-byte nonce, ciphertext with tag.
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.seal_with_nonce(random_bytes::<NONCE_LEN>()?, plaintext, associated)
    }

    /// Like [`seal`](Self::seal), but the same plaintext and associated data always give the
    /// same output: the nonce is an HMAC of both (a synthetic IV), so it repeats only for an
    /// identical message. For small tokens that clients compare (mailbox cursors); never for
    /// message text, where equal texts must not look equal.
    pub fn seal_deterministic(
        &self,
        plaintext: &[u8],
        associated: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut input = Vec::with_capacity(associated.len() + plaintext.len() + 8);
        input.extend_from_slice(&(associated.len() as u64).to_be_bytes());
        input.extend_from_slice(associated);
        input.extend_from_slice(plaintext);
        let mac = self.mac("synthetic-nonce", &input);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&mac[..NONCE_LEN]);
        self.seal_with_nonce(nonce_bytes, plaintext, associated)
    }

    fn seal_with_nonce(
        &self,
        nonce_bytes: [u8; NONCE_LEN],
        plaintext: &[u8],
        associated: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let nonce = aes_gcm::Nonce::from(nonce_bytes);
        let payload = Payload {
            msg: plaintext,
            aad: associated,
        };
        let ciphertext = self
            .cipher
            .encrypt(&nonce, payload)
            .map_err(|_| CryptoError::Open)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(SEAL_VERSION);
        sealed.extend_from_slice(&nonce_bytes);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens what [`seal`](Self::seal) made with the same key and associated data.
    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEAL_VERSION {
            return Err(CryptoError::Open);
        }
        let nonce_bytes: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| CryptoError::Open)?;
        let nonce = aes_gcm::Nonce::from(nonce_bytes);
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: associated,
                },
            )
            .map_err(|_| CryptoError::Open)
    }

    /// Opens a sealed UTF-8 text.
    pub fn open_text(&self, sealed: &[u8], associated: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.open(sealed, associated)?).map_err(|_| CryptoError::Open)
    }

    /// HMAC-SHA256 under a key derived from the data key for one `purpose`.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        type HmacSha256 = hmac::Hmac<Sha256>;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.key.as_slice())
            .expect("hmac takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

/// Associated data binding a message's ciphertexts to its id, participants and field.
pub fn message_aad(id: u128, from: &str, to: &str, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + from.len() + to.len() + field.len() + 8);
    aad.extend_from_slice(b"message\0");
    aad.extend_from_slice(&id.to_be_bytes());
    for part in [from, to, field] {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
    aad
}

/// scrypt in PHC string form, with at most one hash per core running at a time so that a login
/// flood queues instead of allocating 64 MiB per request without bound.
pub struct PasswordHasher {
    log_n: u8,
    gate: Gate,
}

impl PasswordHasher {
    pub const DEFAULT_LOG_N: u8 = 16;

    pub fn new(log_n: u8) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        PasswordHasher {
            log_n,
            gate: Gate::new(cores),
        }
    }

    /// Hashes a secret with a fresh 16-byte salt.
    pub fn hash(&self, secret: &str) -> Result<String, CryptoError> {
        use scrypt::password_hash::PasswordHasher as _;
        let salt = random_bytes::<16>()?;
        let params = scrypt::Params::new(self.log_n, 8, 1).map_err(|_| CryptoError::Random)?;
        let _permit = self.gate.enter();
        let hash = scrypt::Scrypt::new_with_params(params)
            .hash_password_with_salt(secret.as_bytes(), &salt)
            .map_err(|_| CryptoError::Random)?;
        Ok(hash.to_string())
    }

    /// Checks a secret against a stored PHC string; a malformed string never verifies.
    pub fn verify(&self, secret: &str, phc: &str) -> bool {
        use scrypt::password_hash::PasswordVerifier as _;
        let Ok(parsed) = scrypt::phc::PasswordHash::new(phc) else {
            return false;
        };
        let _permit = self.gate.enter();
        scrypt::Scrypt::new()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    }
}

/// A counting semaphore: `enter` waits until fewer than `permits` holders are inside.
struct Gate {
    inside: Mutex<usize>,
    changed: Condvar,
    permits: usize,
}

struct GatePermit<'a>(&'a Gate);

impl Gate {
    fn new(permits: usize) -> Self {
        Gate {
            inside: Mutex::new(0),
            changed: Condvar::new(),
            permits: permits.max(1),
        }
    }

    fn enter(&self) -> GatePermit<'_> {
        let mut inside = self.inside.lock().unwrap_or_else(|p| p.into_inner());
        while *inside >= self.permits {
            inside = self.changed.wait(inside).unwrap_or_else(|p| p.into_inner());
        }
        *inside += 1;
        GatePermit(self)
    }
}

impl Drop for GatePermit<'_> {
    fn drop(&mut self) {
        let mut inside = self.0.inside.lock().unwrap_or_else(|p| p.into_inner());
        *inside = inside.saturating_sub(1);
        self.0.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_seals_repeat_only_for_the_same_input() {
        let key = DataKey::generate().unwrap();
        let a = key.seal_deterministic(b"7", b"cursor alice").unwrap();
        assert_eq!(a, key.seal_deterministic(b"7", b"cursor alice").unwrap());
        assert_ne!(a, key.seal_deterministic(b"8", b"cursor alice").unwrap());
        assert_ne!(a, key.seal_deterministic(b"7", b"cursor bob").unwrap());
        assert_eq!(key.open(&a, b"cursor alice").unwrap(), b"7");
        assert!(key.open(&a, b"cursor bob").is_err());
    }

    #[test]
    fn two_seals_differ_and_both_open() {
        let key = DataKey::generate().unwrap();
        let aad = message_aad(7, "alice", "bob", "title");
        let a = key.seal(b"hello", &aad).unwrap();
        let b = key.seal(b"hello", &aad).unwrap();
        assert_ne!(a, b);
        assert_eq!(key.open(&a, &aad).unwrap(), b"hello");
        assert_eq!(key.open(&b, &aad).unwrap(), b"hello");
    }

    #[test]
    fn a_ciphertext_moved_to_another_record_fails() {
        let key = DataKey::generate().unwrap();
        let sealed = key
            .seal(b"secret", &message_aad(1, "alice", "bob", "body"))
            .unwrap();
        assert!(
            key.open(&sealed, &message_aad(2, "alice", "bob", "body"))
                .is_err()
        );
        assert!(
            key.open(&sealed, &message_aad(1, "alice", "carol", "body"))
                .is_err()
        );
        assert!(
            key.open(&sealed, &message_aad(1, "alice", "bob", "title"))
                .is_err()
        );
        let other = DataKey::generate().unwrap();
        assert!(
            other
                .open(&sealed, &message_aad(1, "alice", "bob", "body"))
                .is_err()
        );
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(
            key.open(&altered, &message_aad(1, "alice", "bob", "body"))
                .is_err()
        );
    }

    #[test]
    fn scrypt_round_trip() {
        let hasher = PasswordHasher::new(10);
        let phc = hasher.hash("correct horse").unwrap();
        assert!(phc.starts_with("$scrypt$ln=10,r=8,p=1$"));
        assert!(hasher.verify("correct horse", &phc));
        assert!(!hasher.verify("wrong horse", &phc));
        assert!(!hasher.verify("correct horse", "not a hash"));
        assert_ne!(phc, hasher.hash("correct horse").unwrap());
    }

    #[test]
    fn key_file_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let (key, created) = DataKey::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = DataKey::load(&path).unwrap();
        assert_eq!(key.fingerprint(), again.fingerprint());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            matches!(DataKey::load(&path), Err(CryptoError::KeyFile(m)) if m.contains("readable by other"))
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "zz\n").unwrap();
        assert!(
            matches!(DataKey::load(&path), Err(CryptoError::KeyFile(m)) if m.contains("malformed"))
        );
    }
}
