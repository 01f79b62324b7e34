//! Operating the real binary on a hostile, crashing network (issue 6): acknowledged sends
//! survive SIGKILL, SIGTERM lets requests in flight finish, clients that stop reading are
//! dropped by the write timeout without starving anyone, HTTPS end to end with a self-signed
//! certificate, the log files (one fail2ban-matchable line per failed login, no secrets, no
//! forged lines, access lines), and the retention purge of the housekeeping thread.
//!
//! Everything here talks to the `messages` binary over sockets or runs its commands; only the
//! retention test also opens the stopped server's database through the library, to plant
//! records that are already old (the clock cannot be moved from outside).

mod disk_full;
mod durability;
mod logs;
mod network;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::util::client::{self, Client, Response};
use crate::util::tls::{self_signed, tls_request};
use crate::util::{self, PIN, Server, eventually, files_under, run, stderr, stdout};

const PASSWORD: &str = "copper meadow falcon ridge 4417";

// ---------------------------------------------------------------------------------------------
// Helpers: one API call per fresh connection, from a chosen local address when it matters.

fn request(
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

fn api(
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
    request(addr, None, method, path, &headers, body)
}

fn expect(response: io::Result<Response>, status: u16) -> Value {
    let response = response.expect("request");
    assert_eq!(response.status, status, "body: {}", response.text());
    if response.body.is_empty() {
        Value::Null
    } else {
        response.json()
    }
}

/// A GET of the API as `bearer` that must answer 200; its JSON.
fn get_ok(addr: SocketAddr, bearer: &str, path: &str) -> Value {
    expect(api(addr, "GET", path, Some(bearer), None), 200)
}

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

fn registration(username: &str) -> Value {
    json!({"username": username, "name": format!("{username} Example"), "password": PASSWORD, "pin": PIN,
           "security_question": 2, "security_answer": "Ghent"})
}

fn register(addr: SocketAddr, username: &str) {
    expect(
        api(
            addr,
            "POST",
            "/api/v1/users",
            None,
            Some(&registration(username)),
        ),
        201,
    );
}

fn token(addr: SocketAddr, username: &str) -> String {
    let authorization = basic(username, PASSWORD);
    let answer = expect(
        request(
            addr,
            None,
            "POST",
            "/api/v1/tokens",
            &[("Authorization", &authorization)],
            None,
        ),
        201,
    );
    answer["token"].as_str().expect("token").to_string()
}

fn send(addr: SocketAddr, bearer: &str, to: &str, title: &str, body: &str) -> io::Result<Response> {
    api(
        addr,
        "POST",
        "/api/v1/messages",
        Some(bearer),
        Some(&json!({"to": to, "title": title, "body": body})),
    )
}

fn message_id(sent: &Value) -> String {
    sent["id"].as_str().expect("id").to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. Crash safety.

// ---------------------------------------------------------------------------------------------
// 2. Graceful stop.

// ---------------------------------------------------------------------------------------------
// 3. Slow readers.

// ---------------------------------------------------------------------------------------------
// 4. TLS.

// ---------------------------------------------------------------------------------------------
// 5. Logs.

/// Every line of every file under `dir`.
fn log_lines(dir: &Path) -> Vec<String> {
    files_under(dir)
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What a fail2ban `failregex` would do with `^.* security event=login_failed user=\S+ ip=<HOST>( |$)`:
/// the host of a matching line, if it matches.
fn fail2ban_host(line: &str) -> Option<String> {
    let rest = &line[line.find(" security event=login_failed user=")?
        + " security event=login_failed user=".len()..];
    let (user, rest) = rest.split_once(' ')?;
    if user.is_empty() || user.chars().any(char::is_whitespace) {
        return None;
    }
    let host = rest.strip_prefix("ip=")?;
    Some(host.split(' ').next().unwrap_or("").to_string())
}

// ---------------------------------------------------------------------------------------------
// 6. Retention.
