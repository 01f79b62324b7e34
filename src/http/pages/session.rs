//! Browser sessions and CSRF for the pages: the session cookie (`session`, or `__Host-session`
//! under TLS), the device cookie (`device`, or `__Host-device`: the device token of
//! `app::device`, kept 180 days), the check that a signed-in POST carries its session's token,
//! and the cookie of the anonymous forms' double-submit token (login, register, reset).
//!
//! The anonymous scheme: a random `csrf` cookie (same flags as the session cookie) and a form
//! token derived from it. Both tokens, signed-in and anonymous, are made and checked by
//! `app::auth`; this file only reads and writes cookies and never touches a key or the store.

use rouille::Response;

use super::Call;
use crate::app::auth::Session;
use crate::app::device::DEVICE_TOKEN_LIFETIME;
use crate::crypto::new_secret;

fn session_cookie_name(https: bool) -> &'static str {
    if https { "__Host-session" } else { "session" }
}

fn csrf_cookie_name(https: bool) -> &'static str {
    if https { "__Host-csrf" } else { "csrf" }
}

fn device_cookie_name(https: bool) -> &'static str {
    if https { "__Host-device" } else { "device" }
}

/// How long a cookie lives: for the browser session, not at all (removal), or this many seconds.
enum Lifetime {
    Session,
    Clear,
    Seconds(u64),
}

/// A `Set-Cookie` value with the flags of section 5.
fn cookie(name: &str, value: &str, https: bool, lifetime: Lifetime) -> String {
    let mut text = format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/");
    if https {
        text.push_str("; Secure");
    }
    match lifetime {
        Lifetime::Session => {}
        Lifetime::Clear => text.push_str("; Max-Age=0"),
        Lifetime::Seconds(seconds) => text.push_str(&format!("; Max-Age={seconds}")),
    }
    text
}

/// The device token from the device cookie, if any (checked by `app`).
pub fn device_token(call: &Call<'_>) -> Option<String> {
    read_cookie(call, device_cookie_name(call.ctx.https))
}

/// The `Set-Cookie` value that hands the browser its device token after a login.
pub fn device_cookie(call: &Call<'_>, token: &str) -> String {
    let lifetime = Lifetime::Seconds(DEVICE_TOKEN_LIFETIME.as_secs());
    cookie(
        device_cookie_name(call.ctx.https),
        token,
        call.ctx.https,
        lifetime,
    )
}

/// The value of cookie `name`, if the request carries one that looks like one of our secrets.
fn read_cookie(call: &Call<'_>, name: &str) -> Option<String> {
    rouille::input::cookies(call.request)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| {
            (16..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The raw session secret from the cookie, if any (live or not).
pub fn session_secret(call: &Call<'_>) -> Option<String> {
    read_cookie(call, session_cookie_name(call.ctx.https))
}

/// The live session behind the request's cookie, if any. A storage failure counts as signed
/// out (the page then asks to log in) and is logged.
pub fn current(call: &Call<'_>) -> Option<Session> {
    let secret = session_secret(call)?;
    match call.web.app.session(&secret) {
        Ok(found) => found,
        Err(error) => {
            tracing::error!("session lookup failed id={}: {error}", call.ctx.request_id);
            None
        }
    }
}

/// The `Set-Cookie` value that hands the browser a new session secret.
pub fn session_cookie(call: &Call<'_>, secret: &str) -> String {
    cookie(
        session_cookie_name(call.ctx.https),
        secret,
        call.ctx.https,
        Lifetime::Session,
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(call: &Call<'_>) -> String {
    cookie(
        session_cookie_name(call.ctx.https),
        "",
        call.ctx.https,
        Lifetime::Clear,
    )
}

/// The token for an anonymous form, and the cookie to set when the browser has none yet.
pub struct AnonToken {
    pub token: String,
    pub set_cookie: Option<String>,
}

impl AnonToken {
    /// Adds the cookie, if a new one was made, to a response.
    pub fn apply(&self, response: Response) -> Response {
        match &self.set_cookie {
            Some(value) => response.with_additional_header("Set-Cookie", value.clone()),
            None => response,
        }
    }
}

/// The anonymous-form token for this browser, making a new cookie if it has none.
pub fn anon_token(call: &Call<'_>) -> AnonToken {
    if let Some(value) = read_cookie(call, csrf_cookie_name(call.ctx.https)) {
        return AnonToken {
            token: call.web.app.anon_csrf_for(&value),
            set_cookie: None,
        };
    }
    fresh_anon_token(call)
}

/// A brand-new anonymous cookie and token (also after a refused POST).
pub fn fresh_anon_token(call: &Call<'_>) -> AnonToken {
    // The OS random generator failing is rare enough that a fixed marker which never verifies
    // (the MAC of a value no cookie can hold) is an acceptable degraded answer.
    let value = new_secret().unwrap_or_default();
    let token = call.web.app.anon_csrf_for(&value);
    let set_cookie = (!value.is_empty()).then(|| {
        cookie(
            csrf_cookie_name(call.ctx.https),
            &value,
            call.ctx.https,
            Lifetime::Session,
        )
    });
    AnonToken { token, set_cookie }
}

/// Whether `presented` is the anonymous-form token of the request's cookie.
pub fn anon_token_ok(call: &Call<'_>, presented: &str) -> bool {
    let cookie = read_cookie(call, csrf_cookie_name(call.ctx.https));
    call.web.app.anon_csrf_ok(cookie.as_deref(), presented)
}
