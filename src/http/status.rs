//! What each domain error means on the wire, in one exhaustive match: its HTTP status, the
//! stable code programs read, and how long a client should wait before retrying. The pages and
//! the API both answer from it (as axum's `IntoResponse` keeps HTTP out of the domain), so an
//! error cannot get one status on a page and another in the API.
//!
//! It only decides; the pages render HTML and `api::problem` encodes JSON. It never looks at a
//! request and never logs.

use crate::error::Error;

/// What `Retry-After` says while storage is failing: long enough not to hammer a full disk,
/// short enough that a client comes back soon after it heals.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// How an error is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub code: &'static str,
    /// Seconds for `Retry-After`, where the error says when to come back.
    pub retry_after: Option<u64>,
}

impl Answer {
    pub fn of(error: &Error) -> Answer {
        let (status, code, retry_after) = match error {
            Error::Invalid(_) => (400, "invalid_input", None),
            Error::WrongPin => (400, "wrong_pin", None),
            Error::BadDump(_) => (400, "bad_dump", None),
            Error::Unauthenticated => (401, "unauthenticated", None),
            Error::AccountLocked => (403, "account_locked", None),
            Error::NotFound => (404, "not_found", None),
            Error::UsernameTaken => (409, "username_taken", None),
            // Never `Retry-After: 0`, which invites a retry at once.
            Error::RateLimited { retry_after } => {
                (429, "rate_limited", Some((*retry_after).max(1)))
            }
            Error::Store(e) if e.fault().heals() => {
                (503, "storage_unavailable", Some(UNAVAILABLE_RETRY_AFTER))
            }
            Error::Store(_) | Error::Crypto(_) | Error::Internal(_) => {
                (500, "internal_error", None)
            }
        };
        Answer {
            status,
            code,
            retry_after,
        }
    }

    /// Our own failure, which retrying will not cure: logged in full, told as "something went
    /// wrong" with the request id.
    pub fn is_internal(&self) -> bool {
        self.status == 500
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Fault, StorageError};

    fn store(fault: Fault) -> Error {
        Error::Store(StorageError::new(fault, "commit"))
    }

    #[test]
    fn faults_that_heal_are_503_with_retry_after_and_the_others_500() {
        for fault in [
            Fault::DiskFull,
            Fault::QuotaExceeded,
            Fault::Io,
            Fault::Closed,
        ] {
            let answer = Answer::of(&store(fault));
            assert_eq!(answer.status, 503, "{fault:?}");
            assert_eq!(answer.code, "storage_unavailable");
            assert_eq!(answer.retry_after, Some(UNAVAILABLE_RETRY_AFTER));
        }
        assert_eq!(Answer::of(&store(Fault::Conflict)).status, 503);
        for fault in [Fault::Corrupt, Fault::Other] {
            let answer = Answer::of(&store(fault));
            assert_eq!((answer.status, answer.code), (500, "internal_error"));
            assert_eq!(answer.retry_after, None);
            assert!(answer.is_internal());
        }
    }

    #[test]
    fn a_rate_limit_says_when_to_come_back() {
        let answer = Answer::of(&Error::RateLimited { retry_after: 42 });
        assert_eq!((answer.status, answer.retry_after), (429, Some(42)));
        let now = Answer::of(&Error::RateLimited { retry_after: 0 });
        assert_eq!(now.retry_after, Some(1));
    }

    /// The boundary this module exists for: the domain error names nothing of HTTP.
    #[test]
    fn the_domain_error_names_no_http() {
        let code = include_str!("../error.rs")
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"));
        for line in code {
            let lower = line.to_ascii_lowercase();
            for word in ["http", "status", "retry-after", "u16", "rouille"] {
                assert!(!lower.contains(word), "src/error.rs names {word:?}: {line}");
            }
        }
    }
}
