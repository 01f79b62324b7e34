//! The one error type of the application and, in one exhaustive match, what each case means to
//! a client: an HTTP status, a stable machine code, and a message a person can read.
//!
//! What the user sees (`public_message`) is kept apart from what is logged (`Display`), so
//! storage paths or internal details never reach a browser.

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
    RateLimited {
        retry_after: u64,
    },
    /// The account is locked by the operator.
    AccountLocked,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed(&'static [&'static str]),
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
    Crypto(String),
    /// Anything else that is our fault; for the log only.
    Internal(String),
}

/// What `Retry-After` says while storage is failing: long enough not to hammer a full disk,
/// short enough that a client comes back soon after it heals.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Seconds a client should wait before retrying, where the error says so.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after } => Some(*retry_after),
            Error::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![Invalid::new(field, message)])
    }

    /// The HTTP status of each case, in one place.
    pub fn status(&self) -> u16 {
        match self {
            Error::Invalid(_) | Error::WrongPin | Error::BadDump(_) => 400,
            Error::Unauthenticated => 401,
            Error::AccountLocked => 403,
            Error::NotFound => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::UsernameTaken => 409,
            Error::PayloadTooLarge => 413,
            Error::UnsupportedMediaType => 415,
            Error::RateLimited { .. } => 429,
            Error::Storage(_) | Error::Crypto(_) | Error::Internal(_) => 500,
            Error::Unavailable(_) => 503,
        }
    }

    /// A stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid_input",
            Error::WrongPin => "wrong_pin",
            Error::BadDump(_) => "bad_dump",
            Error::Unauthenticated => "unauthenticated",
            Error::AccountLocked => "account_locked",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::UsernameTaken => "username_taken",
            Error::PayloadTooLarge => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::RateLimited { .. } => "rate_limited",
            Error::Storage(_) | Error::Crypto(_) | Error::Internal(_) => "internal_error",
            Error::Unavailable(_) => "storage_unavailable",
        }
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
            Error::MethodNotAllowed(allowed) => {
                format!("method not allowed; use {}", allowed.join(", "))
            }
            Error::UsernameTaken => "that username is already taken".to_string(),
            Error::PayloadTooLarge => "the request body is too large".to_string(),
            Error::UnsupportedMediaType => {
                "the request body has an unsupported content type".to_string()
            }
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
            Error::Crypto(detail) => write!(f, "crypto: {detail}"),
            Error::Internal(detail) => write!(f, "internal: {detail}"),
            other => f.write_str(&other.public_message()),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::crypto::CryptoError> for Error {
    fn from(error: crate::crypto::CryptoError) -> Self {
        Error::Crypto(error.to_string())
    }
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Self {
        Error::Invalid(vec![invalid])
    }
}
