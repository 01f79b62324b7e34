//! Helpers for talking to the JSON API `/api/v1` of a running server as a program would: one
//! request per fresh connection (from a chosen local address when it matters), members
//! registered over the API with one test password and signed in with HTTP Basic, messages sent,
//! and answers checked for their status. Every test module that speaks to the API uses these;
//! none keeps a copy of its own.
//!
//! Like the raw client beneath it, it knows nothing of the crate under test: it sends what a
//! client would and reads what came back.

use std::io;
use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use serde_json::{Value, json};

use super::PIN;
use super::client::{Client, Response};

/// Every API test member's password (the policy refuses one built from the username).
pub const PASSWORD: &str = "violet harbour lantern quartz 93";

/// One request on a fresh connection, from `from` when given: `headers` as given, plus the JSON
/// `body` and its `Content-Type` when there is one. An I/O error is returned, for tests in
/// which the server may be gone.
pub fn try_request(
    addr: SocketAddr,
    from: Option<IpAddr>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> io::Result<Response> {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if body.is_some() {
        all.push(("Content-Type", "application/json"));
    }
    let mut connection = match from {
        Some(local) => Client::connect_from(local, addr)?,
        None => Client::connect(addr)?,
    };
    connection.send(method, path, &all, &bytes)
}

/// A request on a fresh connection: JSON body if given, bearer token if given.
pub fn try_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> io::Result<Response> {
    let authorization = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|a| ("Authorization", a.as_str()))
        .collect();
    try_request(addr, None, method, path, &headers, body)
}

/// [`try_call`] for a server that is up: an I/O error fails the test.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Response {
    try_call(addr, method, path, bearer, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Checks the status of an answer and returns its JSON (`null` for an empty body).
pub fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "body: {}", response.text());
    if response.body.is_empty() {
        Value::Null
    } else {
        response.json()
    }
}

/// A GET of the API as `bearer` that must answer 200; its JSON.
pub fn get_ok(addr: SocketAddr, bearer: &str, path: &str) -> Value {
    expect(&call(addr, "GET", path, Some(bearer), None), 200)
}

/// The `field`s of an error answer's details.
pub fn fields(error: &Value) -> Vec<String> {
    error["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The body of `POST /api/v1/users` for `username`: [`PASSWORD`], the test PIN, and question 2
/// answered "Ghent".
pub fn registration(username: &str) -> Value {
    json!({"username": username, "name": format!("{username} Example"), "password": PASSWORD, "pin": PIN, "security_question": 2, "security_answer": "Ghent"})
}

/// Registers `username` with [`registration`]; fails the test unless it is created.
pub fn register(addr: SocketAddr, username: &str) {
    register_with(addr, &registration(username));
}

/// Registers the account `body` describes; fails the test unless it is created.
pub fn register_with(addr: SocketAddr, body: &Value) {
    expect(&call(addr, "POST", "/api/v1/users", None, Some(body)), 201);
}

/// The value of an `Authorization` header with these HTTP Basic credentials.
pub fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

/// `POST /api/v1/tokens` with these credentials, answered as it is: 201 when they are right,
/// 401 when wrong, 403 for a locked account, 429 when rate-limited.
pub fn create_token(addr: SocketAddr, username: &str, password: &str) -> Response {
    create_token_with(addr, username, password, None)
}

/// `POST /api/v1/tokens`, presenting a `Device-Token` header when one is given.
pub fn create_token_with(
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

/// A bearer token for `username` signed in with `password`; fails the test unless one is issued.
pub fn token_for(addr: SocketAddr, username: &str, password: &str) -> String {
    let answer = expect(&create_token(addr, username, password), 201);
    answer["token"].as_str().expect("token").to_string()
}

/// A bearer token for `username`, registered with [`PASSWORD`].
pub fn token(addr: SocketAddr, username: &str) -> String {
    token_for(addr, username, PASSWORD)
}

/// Registers `username` and returns a bearer token for it.
pub fn member(addr: SocketAddr, username: &str) -> String {
    register(addr, username);
    token(addr, username)
}

/// `POST /api/v1/messages` as `bearer`, answered as it is (or the I/O error).
pub fn try_send(
    addr: SocketAddr,
    bearer: &str,
    to: &str,
    title: &str,
    body: &str,
) -> io::Result<Response> {
    try_call(
        addr,
        "POST",
        "/api/v1/messages",
        Some(bearer),
        Some(&json!({"to": to, "title": title, "body": body})),
    )
}

/// Sends a message as `bearer`; fails the test unless it is created. The message sent.
pub fn send(addr: SocketAddr, bearer: &str, to: &str, title: &str, body: &str) -> Value {
    expect(
        &try_send(addr, bearer, to, title, body).expect("request"),
        201,
    )
}

/// The id of a message as the API returned it.
pub fn message_id(message: &Value) -> String {
    message["id"].as_str().expect("id").to_string()
}

/// The ids of a mailbox listing, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(message_id)
        .collect()
}
