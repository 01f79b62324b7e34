//! Helpers for talking to the woosh listener (the end-to-end chat protocol) as its clients do:
//! one request per fresh connection, credentials in `x-user-name` / `x-user-token`, JSON
//! bodies sent as given (raw bytes too, for bodies that are not JSON), answers checked for
//! their status and for being JSON, as the protocol's sanity suite checks every answer.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::client::{Client, Response};

/// What the real client sends as its token for the password `bananas`:
/// base64(SHA-256("bananas")).
pub const BANANAS_TOKEN: &str = "5LpcvSUcmObNHCPxJqO4HY2DKKvJU4cimFCVKz75+QQ=";

/// One request with the pair `creds` (when given) and a raw body (sent with
/// `Content-Type: application/json` when there is one).
pub fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    creds: Option<(&str, &str)>,
    body: Option<&[u8]>,
) -> Response {
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some((name, token)) = creds {
        headers.push(("x-user-name", name));
        headers.push(("x-user-token", token));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let mut client = Client::connect(addr).expect("connect to the woosh listener");
    let response = client
        .send(method, path, &headers, body.unwrap_or_default())
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    if method != "HEAD" && method != "OPTIONS" {
        let _: Value = serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", response.text()));
    }
    response
}

/// [`raw`] with a JSON body.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    creds: Option<(&str, &str)>,
    body: Option<&Value>,
) -> Response {
    let bytes = body.map(|b| b.to_string().into_bytes());
    raw(addr, method, path, creds, bytes.as_deref())
}

/// Checks the status and returns the JSON answer; an error answer must be the protocol's
/// `{status, message}` with the same status.
pub fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "body: {}", response.text());
    let body = response.json();
    if status >= 400 {
        assert_eq!(body["status"], json!(status), "{body}");
        assert!(body["message"].is_string(), "{body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    }
    body
}

/// The sanity suite's registration body.
pub fn registration(username: &str, password: &str) -> Value {
    json!({"username": username, "password": password, "public_key": "public_key", "private_key": "private_key"})
}

/// Registers `username` with the sanity suite's keys; fails unless it is created.
pub fn register(addr: SocketAddr, username: &str, password: &str) -> Value {
    expect(
        &call(
            addr,
            "POST",
            "/users",
            None,
            Some(&registration(username, password)),
        ),
        201,
    )
}

/// `value` without the keys `drop` (which must be there), as the sanity suite compares.
pub fn minus(value: &Value, drop: &[&str]) -> Value {
    let mut object = value.as_object().expect("an object").clone();
    for key in drop {
        assert!(object.remove(*key).is_some(), "{key} missing in {value}");
    }
    Value::Object(object)
}

/// `GET /messages` as `creds`: the query time and the messages.
pub fn inbox(addr: SocketAddr, creds: (&str, &str)) -> (i64, Vec<Value>) {
    let body = expect(&call(addr, "GET", "/messages", Some(creds), None), 200);
    let query_time = body["query_time"]
        .as_i64()
        .expect("query_time is an integer");
    let messages = body["messages"].as_array().expect("messages").clone();
    (query_time, messages)
}

/// `POST /messages` as `creds`; fails unless it is created.
pub fn send(addr: SocketAddr, creds: (&str, &str), recipient: &str, contents: &str) -> Value {
    let body = json!({"recipient": recipient, "contents": contents});
    expect(
        &call(addr, "POST", "/messages", Some(creds), Some(&body)),
        201,
    )
}

/// `DELETE /messages?until=T` as `creds`; returns how many were deleted.
pub fn delete_until(addr: SocketAddr, creds: (&str, &str), until: i64) -> i64 {
    let path = format!("/messages?until={until}");
    let body = expect(&call(addr, "DELETE", &path, Some(creds), None), 200);
    assert_eq!(body["result"], "success");
    body["deleted"].as_i64().expect("deleted")
}

/// Waits (bounded) until the clock's second has changed since `second`.
pub fn next_second_after(second: i64) {
    let start = std::time::Instant::now();
    while now() <= second {
        assert!(start.elapsed().as_secs() < 5, "the clock does not move");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
