//! The JSON API `/api/v1` as a program sees it: every endpoint's happy path, each error status
//! of PRODUCT.md section 4, token life (revoked, ended by a password change or reset), IDOR,
//! pagination and polling while messages arrive, username rules, ids, and byte-exact round
//! trips. Token *expiry* is covered by a unit test in `src/app/auth.rs` (no flag shortens the
//! token life from outside).

mod access;
mod content;
mod endpoints;
mod mailboxes;
mod unicode;

use std::collections::HashSet;
use std::net::SocketAddr;

use base64::Engine;
use serde_json::{Value, json};

use crate::util::client::{Client, Response};
use crate::util::{self, PIN, Server, run, stderr, stdout};

/// A request on a fresh connection: JSON body if given, bearer token if given.
pub(crate) fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let authorization = bearer.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if let Some(value) = &authorization {
        headers.push(("Authorization", value.as_str()));
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    Client::connect(addr)
        .and_then(|mut c| c.send(method, path, &headers, &bytes))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub(crate) fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "body: {}", response.text());
    if response.body.is_empty() {
        Value::Null
    } else {
        response.json()
    }
}

/// The `field`s of an error answer's details.
fn fields(error: &Value) -> Vec<String> {
    error["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Every test member's password (the policy refuses one built from the username).
fn password_of(_username: &str) -> String {
    "violet harbour lantern quartz 93".to_string()
}

fn registration(username: &str) -> Value {
    json!({"username": username, "name": format!("{username} Example"), "password": password_of(username), "pin": PIN, "security_question": 2, "security_answer": "Ghent"})
}

fn register(addr: SocketAddr, username: &str) {
    expect(
        &call(
            addr,
            "POST",
            "/api/v1/users",
            None,
            Some(&registration(username)),
        ),
        201,
    );
}

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

pub(crate) fn create_token(addr: SocketAddr, username: &str, password: &str) -> Response {
    create_token_with(addr, username, password, None)
}

/// `POST /api/v1/tokens`, presenting a `Device-Token` header when one is given.
fn create_token_with(
    addr: SocketAddr,
    username: &str,
    password: &str,
    device_token: Option<&str>,
) -> Response {
    let authorization = basic(username, password);
    let mut headers = vec![("Authorization", authorization.as_str())];
    headers.extend(device_token.map(|t| ("Device-Token", t)));
    Client::connect(addr)
        .and_then(|mut c| c.send("POST", "/api/v1/tokens", &headers, b""))
        .expect("POST /api/v1/tokens")
}

fn token(addr: SocketAddr, username: &str) -> String {
    let answer = expect(&create_token(addr, username, &password_of(username)), 201);
    answer["token"].as_str().expect("token").to_string()
}

/// Registers `username` and returns a bearer token for it.
fn member(addr: SocketAddr, username: &str) -> String {
    register(addr, username);
    token(addr, username)
}

fn send(addr: SocketAddr, from: &str, to: &str, title: &str, body: &str) -> Value {
    expect(
        &call(
            addr,
            "POST",
            "/api/v1/messages",
            Some(from),
            Some(&json!({"to": to, "title": title, "body": body})),
        ),
        201,
    )
}

fn ids(list: &Value) -> Vec<String> {
    list["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect()
}
