//! The requests the benchmark's 1x scenarios send, one function each, so the load run
//! (`bench.rs`) and the instruction count (`instructions.rs`) send exactly the same requests.
//! Nothing here opens a connection.

use std::sync::Arc;

use super::http::{Credentials, form, get, post};
use super::load::Scenario;

pub const HEALTHZ: &str = "GET /healthz";
pub const INBOX: &str = "GET /inbox (50/page)";
pub const MESSAGE: &str = "GET /messages/{id}";
pub const API_LIST: &str = "API list inbox limit=50";
pub const API_POLL: &str = "API poll since=cursor";
pub const FORM_SEND: &str = "POST /messages (form send)";
pub const API_SEND: &str = "API send";

pub fn healthz() -> Scenario {
    Scenario::new(HEALTHZ, 200, |_, _| get("/healthz", ""))
}

/// alice's newest inbox page, signed in with her session cookie.
pub fn inbox(who: &Credentials) -> Scenario {
    let cookie = who.cookie_header();
    Scenario::new(INBOX, 200, move |_, _| get("/inbox", &cookie))
}

/// One of alice's messages, a different one each request (all read after the first round).
pub fn message_page(who: &Credentials) -> Scenario {
    let cookie = who.cookie_header();
    let ids = Arc::new(who.message_ids.clone());
    Scenario::new(MESSAGE, 200, move |c, n| {
        let id = &ids[(c + n as usize) % ids.len()];
        get(&format!("/messages/{id}"), &cookie)
    })
}

/// alice's newest 50 inbox messages over the API, with her bearer token.
pub fn api_list(who: &Credentials) -> Scenario {
    let bearer = who.bearer_header();
    Scenario::new(API_LIST, 200, move |_, _| {
        get("/api/v1/messages?box=inbox&limit=50", &bearer)
    })
}

/// A poll for what arrived after alice's cursor (nothing does: the sends go to bob).
pub fn api_poll(who: &Credentials) -> Scenario {
    let bearer = who.bearer_header();
    let cursor = who.cursor.clone();
    Scenario::new(API_POLL, 200, move |_, _| {
        get(
            &format!("/api/v1/messages?box=inbox&since={cursor}"),
            &bearer,
        )
    })
}

/// A message from alice to bob through the compose form (a 303 to the sent page).
pub fn form_send(who: &Credentials) -> Scenario {
    let cookie = who.cookie_header();
    let csrf = who.compose_csrf.clone();
    Scenario::new(FORM_SEND, 303, move |c, n| {
        let title = format!("bench form {c}-{n}");
        let body = form(&[
            ("to", "bob"),
            ("title", &title),
            ("body", "A message sent by the benchmark."),
            ("csrf_token", &csrf),
        ]);
        post(
            "/messages",
            &cookie,
            "application/x-www-form-urlencoded",
            &body,
        )
    })
}

/// A message from alice to bob over the API.
pub fn api_send(who: &Credentials) -> Scenario {
    let bearer = who.bearer_header();
    Scenario::new(API_SEND, 201, move |c, n| {
        let body = format!(
            r#"{{"to":"bob","title":"bench api {c}-{n}","body":"A message sent by the benchmark."}}"#
        );
        post(
            "/api/v1/messages",
            &bearer,
            "application/json",
            body.as_bytes(),
        )
    })
}
