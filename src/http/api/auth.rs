//! Who is calling: the bearer token of `Authorization: Bearer ...` on every protected
//! endpoint, and HTTP Basic credentials (with an optional `Device-Token`) on
//! `POST /api/v1/tokens`. Checking them (hashes, expiry, rate limits, lockout) is done by
//! `app`; this file only reads the headers.

use base64::Engine;
use rouille::Request;

use super::problem::{Problem, Scheme};
use crate::app::App;
use crate::model::Username;

/// Tokens are 43-character base64url secrets; anything far longer is not worth hashing.
const MAX_TOKEN_CHARS: usize = 256;
/// `user:password` in base64 with room for the longest password allowed and then some.
const MAX_BASIC_CHARS: usize = 4096;

/// The caller of a protected endpoint.
pub struct Caller {
    pub username: Username,
    /// The SHA-256 of the token used, so `DELETE /api/v1/tokens` revokes exactly that one.
    pub token_hash: [u8; 32],
}

/// The value after `scheme ` in the Authorization header (scheme compared case-insensitively).
fn credentials<'r>(request: &'r Request, scheme: &str) -> Option<&'r str> {
    let value = request.header("Authorization")?.trim();
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// The live bearer token's owner, or 401 with a Bearer challenge.
pub fn bearer(app: &App, request: &Request) -> Result<Caller, Problem> {
    let refused = || Problem::unauthenticated(Scheme::Bearer, "a valid bearer token is required");
    let token = credentials(request, "Bearer")
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_CHARS)
        .ok_or_else(refused)?;
    match app.token_user(token)? {
        Some((username, token_hash)) => Ok(Caller {
            username,
            token_hash,
        }),
        None => Err(refused()),
    }
}

/// The `Device-Token` header's value, if it is present and not absurdly long.
pub fn device_token(request: &Request) -> Option<&str> {
    request
        .header("Device-Token")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_CHARS)
}

/// The username and password of an HTTP Basic header, or 401 with a Basic challenge.
pub fn basic(request: &Request) -> Result<(String, String), Problem> {
    let refused = || {
        Problem::unauthenticated(
            Scheme::Basic,
            "HTTP Basic credentials (username and password) are required",
        )
    };
    let encoded = credentials(request, "Basic")
        .filter(|c| c.len() <= MAX_BASIC_CHARS)
        .ok_or_else(refused)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| refused())?;
    let text = String::from_utf8(decoded).map_err(|_| refused())?;
    let (username, password) = text.split_once(':').ok_or_else(refused)?;
    Ok((username.to_string(), password.to_string()))
}
