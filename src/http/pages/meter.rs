//! `POST /password-strength`: the strength meter's JSON endpoint. It answers the server's own
//! verdict (`app.judge_password`, the same function register, change and reset enforce), so
//! the meter never disagrees with the form. Same-origin only (JSON content type, which a
//! cross-site form cannot send, and `Sec-Fetch-Site` when the browser sends it), and limited
//! per IP by its own generous limit, apart from the login limits.

use std::io::Read;

use rouille::Response;
use serde::Deserialize;

use super::Call;
use crate::error::Error;

pub const PER_MINUTE: u32 = 120;
/// More than the policy's 128 characters plus a name and username, far less than a body limit.
const MAX_BODY: u64 = 4096;

#[derive(Deserialize)]
struct Query {
    password: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
}

fn json_error(status: u16, message: &str) -> Response {
    let body =
        serde_json::json!({"error": {"code": "bad_request", "message": message, "details": []}});
    Response::from_data("application/json", body.to_string()).with_status_code(status)
}

pub fn strength(call: &Call<'_>) -> Response {
    let request = call.request;
    let is_json = request.header("Content-Type").is_some_and(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    });
    if !is_json {
        return json_error(415, "send application/json");
    }
    if request
        .header("Sec-Fetch-Site")
        .is_some_and(|site| site != "same-origin")
    {
        return json_error(403, "same-origin requests only");
    }
    if let Err(Error::RateLimited { retry_after }) = call
        .web
        .pages
        .meter_throttle
        .attempt(&[call.ctx.client.ip_key()])
    {
        return json_error(429, "too many requests")
            .with_unique_header("Retry-After", retry_after.to_string());
    }
    let mut bytes = Vec::new();
    if let Some(body) = request.data()
        && (body.take(MAX_BODY + 1).read_to_end(&mut bytes).is_err()
            || bytes.len() as u64 > MAX_BODY)
    {
        return json_error(413, "the request body is too large");
    }
    let Ok(query) = serde_json::from_slice::<Query>(&bytes) else {
        return json_error(400, "expected {password, username, name}");
    };
    // The PIN counts as context only for a signed-in member (who knows it already); for anyone
    // else its refusal reason would be an oracle for guessing the PIN.
    let signed_in = super::session::session_secret(call)
        .and_then(|secret| call.web.app.session(&secret).ok().flatten())
        .is_some();
    let judged = if signed_in {
        call.web.app.judge_password_with_pin(
            &query.password,
            query.username.trim(),
            query.name.trim(),
        )
    } else {
        call.web
            .app
            .judge_password(&query.password, query.username.trim(), query.name.trim())
    };
    match judged {
        Ok(verdict) => Response::json(&verdict),
        Err(error) => {
            tracing::error!("strength check failed id={}: {error}", call.ctx.request_id);
            json_error(500, "something went wrong on our side")
        }
    }
}
