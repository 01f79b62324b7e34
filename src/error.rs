//! The one error type of the application: what went wrong, in the domain's terms, and what a
//! person may be told about it. It knows nothing of the web: which status, code and retry delay
//! each case gets is decided in one match in `http::status`, so the command line and any other
//! front end share these errors without inheriting a protocol.
//!
//! What the user sees (`public_message`) is kept apart from what is logged (`Display`), so
//! storage paths or internal details never reach a browser. A storage failure keeps its cause
//! typed ([`StorageError`]): its [`Fault`] tells a full disk, a lost database and a corrupt
//! record apart, and says whether retrying later can help.

use std::sync::Arc;

use crate::crypto::CryptoError;
use crate::model::Invalid;

#[derive(Debug)]
pub enum Error {
    /// Input that broke a rule; each entry names its field.
    Invalid(Vec<Invalid>),
    /// No credentials, or wrong ones.
    Unauthenticated,
    /// The registration PIN was wrong.
    WrongPin,
    /// Unknown, or not yours: the two are never told apart.
    NotFound,
    /// The username is taken (or retired).
    UsernameTaken,
    /// Too many attempts; try again after this many seconds.
    RateLimited { retry_after: u64 },
    /// The account is locked by the operator.
    AccountLocked,
    /// A dump that cannot be restored: truncated, altered, from another key or a newer format.
    BadDump(String),
    /// The disk or the database failed; its fault says which way and whether it heals. The
    /// detail is for the log only.
    Store(StorageError),
    /// A record failed to decrypt or the random generator failed; for the log only.
    Crypto(CryptoError),
    /// A bug of ours (a change that panicked, an id collision); for the log only.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of storage failure happened: what a caller must tell apart, whichever database
/// is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No space left on the device (ENOSPC).
    DiskFull,
    /// The disk quota of the user or group is used up (EDQUOT).
    QuotaExceeded,
    /// Any other I/O error, or a handle spoiled by an earlier one.
    Io,
    /// The database handle is closed (while it is reopened) or the connection to it was lost.
    Closed,
    /// The transaction lost a serialization conflict with another one. redb runs one writer at
    /// a time, so only a store on a database with concurrent writers (PostgreSQL) reports it.
    Conflict,
    /// Stored data does not decode or contradicts itself: damage, or a bug that wrote it.
    Corrupt,
    /// Anything else the database or the store refused: a newer schema, a file another process
    /// holds, a misuse of the database's API.
    Other,
}

impl Fault {
    /// Whether the fault belongs to the world and passes by itself (space is freed, the disk
    /// comes back, the handle is reopened, the other transaction ends), so that the same
    /// request can succeed later; the others need a person.
    pub fn heals(self) -> bool {
        match self {
            Fault::DiskFull
            | Fault::QuotaExceeded
            | Fault::Io
            | Fault::Closed
            | Fault::Conflict => true,
            Fault::Corrupt | Fault::Other => false,
        }
    }

    /// The kind of fault in words fit for anyone who asks (the health check): no path, no
    /// detail.
    pub fn public_reason(self) -> &'static str {
        match self {
            Fault::DiskFull => "the disk is full",
            Fault::QuotaExceeded => "the disk quota is exhausted",
            Fault::Io | Fault::Closed | Fault::Conflict | Fault::Corrupt | Fault::Other => {
                "the disk or database reported an error"
            }
        }
    }
}

/// A storage failure: its kind, what the store was doing, and the error beneath it, kept typed
/// so that a caller can look through [`std::error::Error::source`].
///
/// The cause is shared (`Arc`) so that a failed commit can answer every caller of its batch
/// with the same error, cause included.
#[derive(Debug, Clone)]
pub struct StorageError {
    fault: Fault,
    context: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StorageError {
    /// A failure of kind `fault` while doing `context` (may be empty when the cause says it all).
    pub fn new(fault: Fault, context: impl Into<String>) -> Self {
        StorageError {
            fault,
            context: context.into(),
            source: None,
        }
    }

    /// The same failure, saying what the store was doing (in front of any context it had).
    pub fn context(mut self, context: impl Into<String>) -> Self {
        let outer = context.into();
        self.context = match self.context.as_str() {
            "" => outer,
            inner => format!("{outer}: {inner}"),
        };
        self
    }

    /// The same failure, with the error that caused it.
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn fault(&self) -> Fault {
        self.fault
    }
}

/// The context and the cause's own words on one line, the way redb's errors print theirs: this
/// is what the log gets.
impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.context.as_str(), &self.source) {
            (context, None) => f.write_str(context),
            ("", Some(source)) => write!(f, "{source}"),
            (context, Some(source)) => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source = self.source.as_deref()?;
        Some(source)
    }
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![Invalid::new(field, message)])
    }

    /// Stored data that does not decode or contradicts itself.
    pub fn corrupt(context: impl Into<String>) -> Self {
        Error::Store(StorageError::new(Fault::Corrupt, context))
    }

    /// A storage failure that retrying will not cure, described by its detail alone, for code
    /// that has no typed cause to keep.
    pub fn storage(detail: impl Into<String>) -> Self {
        Error::Store(StorageError::new(Fault::Other, detail))
    }

    /// What a person is told; never an internal detail.
    pub fn public_message(&self) -> String {
        match self {
            Error::Invalid(problems) if problems.len() == 1 => problems[0].to_string(),
            Error::Invalid(_) => "some fields need attention".to_string(),
            Error::WrongPin => "the registration PIN is not correct".to_string(),
            Error::BadDump(reason) => reason.clone(),
            Error::Unauthenticated => "the username or password is not correct".to_string(),
            Error::AccountLocked => "this account is locked; ask the operator".to_string(),
            Error::NotFound => "not found".to_string(),
            Error::UsernameTaken => "that username is already taken".to_string(),
            Error::RateLimited { retry_after } => {
                format!("too many attempts; try again in {retry_after} seconds")
            }
            Error::Store(e) if e.fault.heals() => {
                "the server cannot store anything right now; please try again in a minute"
                    .to_string()
            }
            Error::Store(_) | Error::Crypto(_) | Error::Internal(_) => {
                "something went wrong on our side".to_string()
            }
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Store(e) if e.fault.heals() => write!(f, "storage unavailable: {e}"),
            Error::Store(e) => write!(f, "storage: {e}"),
            Error::Crypto(e) => write!(f, "crypto: {e}"),
            Error::Internal(detail) => write!(f, "internal: {detail}"),
            other => f.write_str(&other.public_message()),
        }
    }
}

/// No `source`: `Display` already carries the cause's words (it is the log line), and a chain
/// printer such as the command line's `{:#}` would say them twice. Code that needs the typed
/// cause matches the variant: `Error::Store(e)` gives `e.fault()` and `e.source()`.
impl std::error::Error for Error {}

impl From<StorageError> for Error {
    fn from(error: StorageError) -> Self {
        Error::Store(error)
    }
}

impl From<CryptoError> for Error {
    fn from(error: CryptoError) -> Self {
        Error::Crypto(error)
    }
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Self {
        Error::Invalid(vec![invalid])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_storage_error_keeps_its_cause_and_says_it_once() {
        let cause = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let error = StorageError::new(Fault::DiskFull, "cannot commit").caused_by(cause);
        let source = error.source().expect("the cause is kept");
        let io = source.downcast_ref::<std::io::Error>().expect("typed");
        assert_eq!(io.kind(), std::io::ErrorKind::StorageFull);
        let cause = io.to_string();
        assert_eq!(
            Error::from(error).to_string(),
            format!("storage unavailable: cannot commit: {cause}"),
            "the log line names the context and the cause"
        );
    }

    #[test]
    fn only_faults_of_the_world_heal() {
        let healing = [
            Fault::DiskFull,
            Fault::QuotaExceeded,
            Fault::Io,
            Fault::Closed,
        ];
        assert!(healing.iter().chain([&Fault::Conflict]).all(|f| f.heals()));
        assert!(![Fault::Corrupt, Fault::Other].iter().any(|f| f.heals()));
    }

    #[test]
    fn what_a_person_is_told_hides_the_detail() {
        let full = Error::from(StorageError::new(
            Fault::DiskFull,
            "/srv/data/messages.redb",
        ));
        assert!(!full.public_message().contains("/srv"));
        assert!(full.public_message().contains("cannot store anything"));
        let corrupt = Error::corrupt("decode: unexpected end");
        assert_eq!(corrupt.public_message(), "something went wrong on our side");
        assert_eq!(corrupt.to_string(), "storage: decode: unexpected end");
    }
}
