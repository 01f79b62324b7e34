//! The one error type of the application: what went wrong, in the domain's terms, and what a
//! person may be told about it. It knows nothing of the web: which status, code and retry delay
//! each case gets is decided in one match in `http::status`, so the command line and any other
//! front end share these errors without inheriting a protocol.
//!
//! What the user sees (`public_message`) is kept apart from what is logged (`Display`), so
//! storage paths or internal details never reach a browser.

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
    /// The disk or the database cannot store anything right now (full, an I/O error, a closed
    /// handle being reopened): a fault of the world that heals by itself, so clients are told to
    /// retry. The detail is for the log only.
    Unavailable(String),
    /// A failure of the database that retrying will not cure (a bug, a corrupt record); the
    /// detail is for the log only.
    Storage(String),
    /// A record failed to decrypt or the random generator failed; for the log only.
    Crypto(CryptoError),
    /// Anything else that is our fault; for the log only.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![Invalid::new(field, message)])
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
            Error::Storage(_) | Error::Crypto(_) | Error::Internal(_) => {
                "something went wrong on our side".to_string()
            }
            Error::Unavailable(_) => {
                "the server cannot store anything right now; please try again in a minute"
                    .to_string()
            }
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Storage(detail) => write!(f, "storage: {detail}"),
            Error::Unavailable(detail) => write!(f, "storage unavailable: {detail}"),
            Error::Crypto(e) => write!(f, "crypto: {e}"),
            Error::Internal(detail) => write!(f, "internal: {detail}"),
            other => f.write_str(&other.public_message()),
        }
    }
}

impl std::error::Error for Error {}

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
