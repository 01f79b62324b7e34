//! The JSON API `/api/v1` as a program sees it: every endpoint's happy path, each error status
//! of PRODUCT.md section 4, token life (revoked, ended by a password change or reset), IDOR,
//! pagination and polling while messages arrive, username rules, ids, and byte-exact round
//! trips. Token *expiry* is covered by a unit test in `src/app/auth.rs` (no flag shortens the
//! token life from outside).

use std::collections::HashSet;
use std::net::SocketAddr;

use base64::Engine;
use serde_json::{Value, json};

use crate::util::client::{Client, Response};
use crate::util::{self, PIN, Server, run, stderr, stdout};

/// A request on a fresh connection: JSON body if given, bearer token if given.
fn call(
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

fn expect(response: &Response, status: u16) -> Value {
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

fn create_token(addr: SocketAddr, username: &str, password: &str) -> Response {
    let authorization = basic(username, password);
    Client::connect(addr)
        .and_then(|mut c| {
            c.send(
                "POST",
                "/api/v1/tokens",
                &[("Authorization", &authorization)],
                b"",
            )
        })
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

#[test]
fn every_endpoint_works_for_a_member() {
    let server = Server::start();
    let addr = server.addr;

    let questions = expect(
        &call(addr, "GET", "/api/v1/security-questions", None, None),
        200,
    );
    assert_eq!(questions.as_array().map(Vec::len), Some(8));
    assert_eq!(questions[1]["id"], 2);
    assert!(
        questions[1]["text"]
            .as_str()
            .is_some_and(|t| t.ends_with('?'))
    );

    let document = expect(&call(addr, "GET", "/api/v1/openapi.json", None, None), 200);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert_eq!(
        document["components"]["schemas"]["NewMessage"]["additionalProperties"],
        false
    );

    let profile = expect(
        &call(
            addr,
            "POST",
            "/api/v1/users",
            None,
            Some(&registration("Alice")),
        ),
        201,
    );
    assert_eq!(
        (profile["username"].as_str(), profile["unread"].as_u64()),
        (Some("alice"), Some(0))
    );
    let created = expect(&create_token(addr, "alice", &password_of("alice")), 201);
    let alice = created["token"].as_str().expect("token").to_string();
    let expires = created["expires_at"].as_str().expect("expires_at");
    assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");
    let bob = member(addr, "bob");

    let me = expect(&call(addr, "GET", "/api/v1/me", Some(&alice), None), 200);
    assert_eq!(
        (me["name"].as_str(), me["security_question"].as_u64()),
        (Some("Alice Example"), Some(2))
    );
    let renamed = expect(
        &call(
            addr,
            "PATCH",
            "/api/v1/me",
            Some(&alice),
            Some(&json!({"name": "Alice Liddell"})),
        ),
        200,
    );
    assert_eq!(renamed["name"], "Alice Liddell");

    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let put = expect(
        &call(
            addr,
            "PUT",
            "/api/v1/me/key",
            Some(&alice),
            Some(&json!({"key": key})),
        ),
        200,
    );
    assert_eq!(put, json!({"username": "alice", "key": key}));
    let got = expect(
        &call(addr, "GET", "/api/v1/users/Alice/key", Some(&bob), None),
        200,
    );
    assert_eq!(got["key"], key.as_str());
    expect(
        &call(addr, "GET", "/api/v1/users/bob/key", Some(&alice), None),
        404,
    );

    let found = expect(
        &call(addr, "GET", "/api/v1/users?q=AL", Some(&bob), None),
        200,
    );
    assert_eq!(
        found,
        json!({"users": [{"username": "alice", "name": "Alice Liddell"}]})
    );

    let sent = send(addr, &alice, "BOB", "Hello", "First line\nsecond line");
    let id = sent["id"].as_str().expect("id");
    assert_eq!(
        (
            sent["from"].as_str(),
            sent["to"].as_str(),
            sent["read"].as_bool()
        ),
        (Some("alice"), Some("bob"), Some(false))
    );
    assert!(sent["sent_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    let inbox = expect(
        &call(addr, "GET", "/api/v1/messages?box=inbox", Some(&bob), None),
        200,
    );
    assert_eq!(ids(&inbox), [id]);
    assert!(
        inbox["messages"][0].get("body").is_none(),
        "lists leave out the body"
    );
    assert_eq!(inbox["next_cursor"], Value::Null);
    assert!(inbox["cursor"].is_string());
    let outbox = expect(
        &call(addr, "GET", "/api/v1/messages?box=sent", Some(&alice), None),
        200,
    );
    assert_eq!(ids(&outbox), [id]);

    let read = expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages/{id}"),
            Some(&bob),
            None,
        ),
        200,
    );
    assert_eq!(
        (read["body"].as_str(), read["read"].as_bool()),
        (Some("First line\nsecond line"), Some(true))
    );
    let inbox = expect(
        &call(addr, "GET", "/api/v1/messages", Some(&bob), None),
        200,
    );
    assert_eq!(inbox["messages"][0]["read"], true);

    // Deleting removes it from the deleter's mailbox only.
    assert_eq!(
        call(
            addr,
            "DELETE",
            &format!("/api/v1/messages/{id}"),
            Some(&bob),
            None
        )
        .status,
        204
    );
    expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages/{id}"),
            Some(&bob),
            None,
        ),
        404,
    );
    assert!(
        ids(&expect(
            &call(addr, "GET", "/api/v1/messages", Some(&bob), None),
            200
        ))
        .is_empty()
    );
    expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages/{id}"),
            Some(&alice),
            None,
        ),
        200,
    );

    // Revoking ends exactly the token used.
    let second = token(addr, "alice");
    assert_eq!(
        call(addr, "DELETE", "/api/v1/tokens", Some(&alice), None).status,
        204
    );
    expect(&call(addr, "GET", "/api/v1/me", Some(&alice), None), 401);
    expect(&call(addr, "GET", "/api/v1/me", Some(&second), None), 200);
}

#[test]
fn each_error_status_is_json_with_its_headers() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");

    // 400: schema errors point at each offending field.
    let refused = expect(
        &call(
            addr,
            "POST",
            "/api/v1/messages",
            Some(&alice),
            Some(&json!({"to": "alice", "body": "x", "colour": "red"})),
        ),
        400,
    );
    assert_eq!(refused["error"]["code"], "invalid_input");
    assert_eq!(fields(&refused), ["/colour", "/title"]);
    let refused = expect(
        &call(
            addr,
            "POST",
            "/api/v1/messages",
            Some(&alice),
            Some(&json!({"to": "nobody", "title": "t", "body": ""})),
        ),
        400,
    );
    assert_eq!(fields(&refused), ["/to"]);
    let refused = expect(
        &call(
            addr,
            "POST",
            "/api/v1/messages",
            Some(&alice),
            Some(&json!(["not", "an", "object"])),
        ),
        400,
    );
    assert_eq!(fields(&refused), [""]);
    let broken = Client::connect(addr)
        .and_then(|mut c| {
            c.send(
                "POST",
                "/api/v1/messages",
                &[
                    ("Authorization", &format!("Bearer {alice}")),
                    ("Content-Type", "application/json"),
                ],
                b"{\"to\":",
            )
        })
        .expect("send");
    assert_eq!(expect(&broken, 400)["error"]["code"], "invalid_json");
    for query in [
        "cursor=abc",
        "cursor=-1",
        "since=1e3",
        "cursor=01",
        "cursor=99999999999999999999",
        "box=trash",
        "limit=0",
        "limit=101",
        "cursor=1&since=1",
        "colour=red",
        "box=inbox&box=sent",
    ] {
        let refused = expect(
            &call(
                addr,
                "GET",
                &format!("/api/v1/messages?{query}"),
                Some(&alice),
                None,
            ),
            400,
        );
        assert_eq!(refused["error"]["code"], "invalid_parameter", "{query}");
    }

    // 401 with the challenge of the scheme the endpoint expects.
    let anonymous = call(addr, "GET", "/api/v1/me", None, None);
    expect(&anonymous, 401);
    assert_eq!(
        anonymous.header("WWW-Authenticate"),
        Some("Bearer realm=\"messages\"")
    );
    let wrong = create_token(addr, "alice", "not the password at all");
    assert_eq!(expect(&wrong, 401)["error"]["code"], "unauthenticated");
    assert!(
        wrong
            .header("WWW-Authenticate")
            .is_some_and(|v| v.starts_with("Basic ")),
        "{:?}",
        wrong.headers
    );
    let no_basic = call(addr, "POST", "/api/v1/tokens", None, None);
    expect(&no_basic, 401);
    assert!(
        no_basic
            .header("WWW-Authenticate")
            .is_some_and(|v| v.starts_with("Basic "))
    );

    // 404: unknown endpoint, unknown or malformed id.
    expect(
        &call(addr, "GET", "/api/v1/nothing", Some(&alice), None),
        404,
    );
    expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages/{}", "0".repeat(32)),
            Some(&alice),
            None,
        ),
        404,
    );
    expect(
        &call(
            addr,
            "GET",
            "/api/v1/messages/not-an-id",
            Some(&alice),
            None,
        ),
        404,
    );

    // 405 with Allow.
    let wrong_method = call(
        addr,
        "PUT",
        "/api/v1/messages",
        Some(&alice),
        Some(&json!({})),
    );
    assert_eq!(
        expect(&wrong_method, 405)["error"]["code"],
        "method_not_allowed"
    );
    assert_eq!(wrong_method.header("Allow"), Some("GET, POST"));
    assert_eq!(
        call(addr, "POST", "/api/v1/me", Some(&alice), None).header("Allow"),
        Some("GET, PATCH")
    );

    // 413 before the body is read: only the head is sent.
    let mut client = Client::connect(addr).expect("connect");
    let head = format!(
        "POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        2 * 1024 * 1024
    );
    std::io::Write::write_all(client.stream(), head.as_bytes()).expect("write");
    let too_large = client.read_response(false).expect("response");
    assert_eq!(
        expect(&too_large, 413)["error"]["code"],
        "payload_too_large"
    );

    // 415 for a body that is not declared JSON.
    let form = Client::connect(addr)
        .and_then(|mut c| {
            c.send(
                "POST",
                "/api/v1/messages",
                &[
                    ("Authorization", &format!("Bearer {alice}")),
                    ("Content-Type", "text/plain"),
                ],
                b"{}",
            )
        })
        .expect("send");
    assert_eq!(
        expect(&form, 415)["error"]["code"],
        "unsupported_media_type"
    );
    let undeclared = Client::connect(addr)
        .and_then(|mut c| {
            c.send(
                "PATCH",
                "/api/v1/me",
                &[("Authorization", &format!("Bearer {alice}"))],
                b"{\"name\":\"x\"}",
            )
        })
        .expect("send");
    expect(&undeclared, 415);

    // 429 with Retry-After once an account has failed too often; the right password then
    // does not help either.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(create_token(addr, "alice", "still not the password").status);
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429) && statuses.contains(&429),
        "{statuses:?}"
    );
    let limited = create_token(addr, "alice", &password_of("alice"));
    assert_eq!(expect(&limited, 429)["error"]["code"], "rate_limited");
    assert!(
        limited
            .header("Retry-After")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1),
        "{:?}",
        limited.headers
    );

    // Every API answer carries the security headers and is not cached.
    for response in [&anonymous, &wrong_method, &too_large, &limited] {
        assert_eq!(response.header("Cache-Control"), Some("no-store"));
        assert_eq!(response.header("X-Content-Type-Options"), Some("nosniff"));
        assert!(
            response
                .header("Content-Type")
                .is_some_and(|v| v.starts_with("application/json"))
        );
    }
}

#[test]
fn anonymous_and_bogus_tokens_get_401_on_every_protected_endpoint() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let id = send(addr, &alice, "alice", "mine", "")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let message = format!("/api/v1/messages/{id}");
    let body = json!({});
    let protected: [(&str, &str, Option<&Value>); 11] = [
        ("DELETE", "/api/v1/tokens", None),
        ("GET", "/api/v1/me", None),
        ("PATCH", "/api/v1/me", Some(&body)),
        ("PUT", "/api/v1/me/key", Some(&body)),
        ("GET", "/api/v1/users?q=a", None),
        ("GET", "/api/v1/users/alice/key", None),
        ("GET", "/api/v1/messages?box=inbox", None),
        ("GET", "/api/v1/messages?box=inbox&since=0", None),
        ("POST", "/api/v1/messages", Some(&body)),
        ("GET", &message, None),
        ("DELETE", &message, None),
    ];
    let tampered = format!("{}x", &alice[..alice.len() - 1]);
    for (method, path, body) in protected {
        for bearer in [None, Some("not-a-token"), Some(tampered.as_str())] {
            let response = call(addr, method, path, bearer, body);
            assert_eq!(
                response.status,
                401,
                "{method} {path} with {bearer:?}: {}",
                response.text()
            );
            assert_eq!(
                response.header("WWW-Authenticate"),
                Some("Bearer realm=\"messages\"")
            );
        }
    }
    // Basic credentials are only for creating a token.
    let basic_header = basic("alice", &password_of("alice"));
    let response = Client::connect(addr)
        .and_then(|mut c| {
            c.send(
                "GET",
                "/api/v1/me",
                &[("Authorization", &basic_header)],
                b"",
            )
        })
        .expect("send");
    expect(&response, 401);
    // The message is still there: none of the refused calls did anything.
    expect(&call(addr, "GET", &message, Some(&alice), None), 200);
}

#[test]
fn another_members_message_is_not_found_for_read_and_delete() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let mallory = member(addr, "mallory");
    let id = send(addr, &alice, "bob", "private", "for bob only")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/api/v1/messages/{id}");
    let unknown = format!("/api/v1/messages/{}", "ab".repeat(16));
    for (method, target) in [
        ("GET", &path),
        ("DELETE", &path),
        ("GET", &unknown),
        ("DELETE", &unknown),
    ] {
        let answer = expect(&call(addr, method, target, Some(&mallory), None), 404);
        assert_eq!(
            answer["error"]["message"], "not found",
            "the same answer as for an unknown id"
        );
    }
    // Neither participant lost it, and bob has not "read" it through mallory.
    let read = expect(&call(addr, "GET", &path, Some(&bob), None), 200);
    assert_eq!(read["body"], "for bob only");
    expect(&call(addr, "GET", &path, Some(&alice), None), 200);
}

#[test]
fn a_password_change_or_reset_ends_earlier_tokens() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");

    let wrong = expect(
        &call(
            addr,
            "PATCH",
            "/api/v1/me",
            Some(&alice),
            Some(&json!({"current_password": "nope", "new_password": "a brand new passphrase 77"})),
        ),
        400,
    );
    assert_eq!(fields(&wrong), ["/current_password"]);
    let weak = expect(
        &call(
            addr,
            "PATCH",
            "/api/v1/me",
            Some(&alice),
            Some(
                &json!({"current_password": password_of("alice"), "new_password": "password1234"}),
            ),
        ),
        400,
    );
    assert_eq!(fields(&weak), ["/new_password"]);
    let alone = expect(
        &call(
            addr,
            "PATCH",
            "/api/v1/me",
            Some(&alice),
            Some(&json!({"new_password": "a brand new passphrase 77"})),
        ),
        400,
    );
    assert_eq!(alone["error"]["code"], "invalid_input");
    expect(&call(addr, "GET", "/api/v1/me", Some(&alice), None), 200);

    let new_password = "a brand new passphrase 77";
    expect(
        &call(
            addr,
            "PATCH",
            "/api/v1/me",
            Some(&alice),
            Some(&json!({"current_password": password_of("alice"), "new_password": new_password})),
        ),
        200,
    );
    expect(&call(addr, "GET", "/api/v1/me", Some(&alice), None), 401);
    expect(&create_token(addr, "alice", &password_of("alice")), 401);
    let alice = expect(&create_token(addr, "alice", new_password), 201)["token"]
        .as_str()
        .expect("token")
        .to_string();

    // The operator's reset (while the server runs) ends alice's tokens and only hers.
    let output = run(&server.dir, &["user", "reset-password", "alice"], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    let reset_password = stdout(&output)
        .trim()
        .rsplit(' ')
        .next()
        .expect("password")
        .to_string();
    expect(&call(addr, "GET", "/api/v1/me", Some(&alice), None), 401);
    expect(&call(addr, "GET", "/api/v1/me", Some(&bob), None), 200);
    expect(&create_token(addr, "alice", new_password), 401);
    expect(&create_token(addr, "alice", &reset_password), 201);
}

/// The security-question reset of the pages (`/reset`), when the pages are there: a token
/// made before it stops working.
#[test]
fn a_reset_by_security_question_ends_earlier_tokens() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let page = util::client::get(addr, "/reset");
    if page.status == 404 {
        // The pages are not built yet; the operator reset above covers the API side.
        return;
    }
    let text = page.text();
    let cookie = page
        .header_all("Set-Cookie")
        .iter()
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = text
        .split("name=\"csrf_token\"")
        .nth(1)
        .and_then(|rest| rest.split("value=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_string();
    let new_password = "quiet meadow tuesday sparrow 41";
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("username", "alice"),
        ("security_answer", "  ghent "),
        ("password", new_password),
        ("password_confirm", new_password),
    ];
    let cookie_header = (!cookie.is_empty()).then_some(cookie.as_str());
    let answer = util::client::post_form(addr, "/reset", cookie_header, &fields);
    assert_eq!(answer.status, 303, "{}", answer.text());
    expect(&call(addr, "GET", "/api/v1/me", Some(&alice), None), 401);
    let fresh = expect(&create_token(addr, "alice", new_password), 201)["token"]
        .as_str()
        .expect("token")
        .to_string();
    // The reset left a notice in the inbox.
    let inbox = expect(
        &call(addr, "GET", "/api/v1/messages", Some(&fresh), None),
        200,
    );
    assert_eq!(inbox["messages"][0]["from"], "system");
}

#[test]
fn pagination_returns_every_message_once_while_new_ones_arrive() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let mut before: Vec<String> = (0..23)
        .map(|i| {
            send(addr, &alice, "bob", &format!("m{i}"), "")["id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    before.reverse(); // newest first

    let first = expect(
        &call(
            addr,
            "GET",
            "/api/v1/messages?box=inbox&limit=5",
            Some(&bob),
            None,
        ),
        200,
    );
    let start_cursor = first["cursor"].as_str().expect("cursor").to_string();
    let mut seen = ids(&first);
    let mut next = first["next_cursor"].as_str().map(str::to_string);
    let mut arrived = Vec::new();
    while let Some(cursor) = next {
        arrived.push(
            send(addr, &alice, "bob", "late", "")["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
        let page = expect(
            &call(
                addr,
                "GET",
                &format!("/api/v1/messages?box=inbox&limit=5&cursor={cursor}"),
                Some(&bob),
                None,
            ),
            200,
        );
        assert!(
            page["messages"]
                .as_array()
                .is_some_and(|m| !m.is_empty() && m.len() <= 5)
        );
        seen.extend(ids(&page));
        next = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(
        seen, before,
        "every message exactly once, newest first, none of the late ones"
    );

    // Polling from the first page's cursor yields exactly the late arrivals, oldest first.
    let poll = expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages?box=inbox&since={start_cursor}"),
            Some(&bob),
            None,
        ),
        200,
    );
    assert_eq!(ids(&poll), arrived);
    assert!(poll.get("next_cursor").is_none());
}

#[test]
fn polling_with_since_returns_exactly_the_new_messages_in_order() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    send(addr, &alice, "bob", "old", "");
    let cursor = expect(
        &call(
            addr,
            "GET",
            "/api/v1/messages?box=inbox&limit=1",
            Some(&bob),
            None,
        ),
        200,
    )["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let empty = expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages?since={cursor}"),
            Some(&bob),
            None,
        ),
        200,
    );
    assert_eq!(
        (ids(&empty).len(), empty["cursor"].as_str()),
        (0, Some(cursor.as_str()))
    );

    let new: Vec<String> = (0..3)
        .map(|i| {
            send(addr, &alice, "bob", &format!("new {i}"), "")["id"]
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect();
    send(addr, &bob, "alice", "a reply is not in bob's inbox", "");
    let poll = expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages?box=inbox&since={cursor}"),
            Some(&bob),
            None,
        ),
        200,
    );
    assert_eq!(ids(&poll), new);
    assert!(
        poll["messages"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m.get("body").is_none()))
    );

    // A small limit hands them out in order across polls.
    let one = expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages?since={cursor}&limit=2"),
            Some(&bob),
            None,
        ),
        200,
    );
    assert_eq!(ids(&one), new[..2]);
    let rest = expect(
        &call(
            addr,
            "GET",
            &format!(
                "/api/v1/messages?since={}",
                one["cursor"].as_str().expect("cursor")
            ),
            Some(&bob),
            None,
        ),
        200,
    );
    assert_eq!(ids(&rest), new[2..]);
    let after = expect(
        &call(
            addr,
            "GET",
            &format!(
                "/api/v1/messages?since={}",
                poll["cursor"].as_str().expect("cursor")
            ),
            Some(&bob),
            None,
        ),
        200,
    );
    assert!(ids(&after).is_empty());
}

#[test]
fn duplicate_invalid_and_reserved_usernames_are_refused() {
    let server = Server::start();
    let addr = server.addr;
    register(addr, "alice");
    for taken in ["alice", "ALICE", "Alice", "admin", "system"] {
        let refused = expect(
            &call(
                addr,
                "POST",
                "/api/v1/users",
                None,
                Some(&registration(taken)),
            ),
            409,
        );
        assert_eq!(
            (refused["error"]["code"].as_str(), fields(&refused)),
            (Some("username_taken"), vec!["/username".to_string()]),
            "{taken}"
        );
    }
    let too_long = "a".repeat(33);
    for invalid in ["al", "al ice", "ålice", "alice!", "", too_long.as_str()] {
        let refused = expect(
            &call(
                addr,
                "POST",
                "/api/v1/users",
                None,
                Some(&registration(invalid)),
            ),
            400,
        );
        let mut refused_fields = fields(&refused);
        refused_fields.dedup(); // an empty name breaks both the length and the pattern rule
        assert_eq!(refused_fields, ["/username"], "{invalid:?}");
    }
    let mut wrong_pin = registration("carol");
    wrong_pin["pin"] = json!("000000");
    assert_eq!(
        expect(
            &call(addr, "POST", "/api/v1/users", None, Some(&wrong_pin)),
            400
        )["error"]["code"],
        "wrong_pin"
    );
    let mut weak = registration("carol");
    weak["password"] = json!("carolcarol12");
    assert_eq!(
        fields(&expect(
            &call(addr, "POST", "/api/v1/users", None, Some(&weak)),
            400
        )),
        ["/password"]
    );
    let mut extra = registration("carol");
    extra["password_confirm"] = json!(password_of("carol"));
    extra["security_question"] = json!(9);
    assert_eq!(
        fields(&expect(
            &call(addr, "POST", "/api/v1/users", None, Some(&extra)),
            400
        )),
        ["/password_confirm", "/security_question"]
    );
    // None of the refusals created an account.
    expect(&create_token(addr, "carol", &password_of("carol")), 401);
}

#[test]
fn message_ids_are_distinct_random_hex() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let ids: Vec<u128> = (0..16)
        .map(|i| {
            let id = send(addr, &alice, "alice", &format!("n{i}"), "")["id"]
                .as_str()
                .expect("id")
                .to_string();
            assert!(
                id.len() == 32
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
            u128::from_str_radix(&id, 16).expect("hex")
        })
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    // Sequential or counter-like ids would sit close together; random 128-bit ids never do.
    for pair in ids.windows(2) {
        assert!(
            pair[0].abs_diff(pair[1]) > 1u128 << 64,
            "{:032x} and {:032x} are close",
            pair[0],
            pair[1]
        );
    }
    // Each bit position varies across the ids (a fixed prefix would show here).
    let (all_or, all_and) = ids
        .iter()
        .fold((0u128, u128::MAX), |(o, a), id| (o | id, a & id));
    assert!(
        all_or.count_ones() > 120 && all_and.count_ones() < 8,
        "{all_or:032x} {all_and:032x}"
    );
}

#[test]
fn what_is_sent_is_read_back_byte_for_byte() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let title = "Ünïcödé 🙂 — עברית e\u{301} \"quotes\" <tags> & \\";
    let line = "Zeile mit Umlauten äöü, emoji 🎉, CJK 漢字, RTL مرحبا, tab\t, NUL \u{0}, CR\r\n";
    let mut body = String::new();
    while body.len() + line.len() <= 64 * 1024 {
        body.push_str(line);
    }
    while body.len() < 64 * 1024 {
        body.push('x');
    }
    assert_eq!(body.len(), 64 * 1024);
    let id = send(addr, &alice, "bob", title, &body)["id"]
        .as_str()
        .expect("id")
        .to_string();
    let read = expect(
        &call(
            addr,
            "GET",
            &format!("/api/v1/messages/{id}"),
            Some(&bob),
            None,
        ),
        200,
    );
    assert_eq!(read["title"].as_str(), Some(title));
    assert_eq!(
        read["body"].as_str().map(str::as_bytes),
        Some(body.as_bytes())
    );
    let listed = expect(
        &call(addr, "GET", "/api/v1/messages", Some(&bob), None),
        200,
    );
    assert_eq!(listed["messages"][0]["title"].as_str(), Some(title));

    // One byte more is refused, as a multi-byte body under the character limit and as a
    // plain one over it; both point at the body.
    let over_bytes = format!("{}é", &body[..64 * 1024 - 1]);
    let over_chars = "y".repeat(64 * 1024 + 1);
    for too_long in [over_bytes, over_chars] {
        let refused = expect(
            &call(
                addr,
                "POST",
                "/api/v1/messages",
                Some(&alice),
                Some(&json!({"to": "bob", "title": "t", "body": too_long})),
            ),
            400,
        );
        assert_eq!(fields(&refused), ["/body"]);
    }
    assert_eq!(
        ids(&expect(
            &call(addr, "GET", "/api/v1/messages", Some(&bob), None),
            200
        ))
        .len(),
        1
    );
}

#[test]
fn cursors_are_opaque_and_bound_to_their_member_and_mailbox() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let carol = member(addr, "carol");
    send(addr, &alice, "bob", "first", "");
    let list = |token: &str, query: &str| {
        call(
            addr,
            "GET",
            &format!("/api/v1/messages?{query}"),
            Some(token),
            None,
        )
    };
    let bob_inbox = expect(&list(&bob, "box=inbox"), 200)["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    // Not a number: a member cannot read the server-wide message count from it.
    assert!(bob_inbox.parse::<u64>().is_err(), "{bob_inbox}");
    assert!(
        bob_inbox.len() >= 40
            && bob_inbox
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{bob_inbox}"
    );
    // Other members' traffic does not move it.
    for i in 0..5 {
        send(addr, &alice, "carol", &format!("to carol {i}"), "");
    }
    let again = expect(&list(&bob, "box=inbox"), 200)["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    assert_eq!(again, bob_inbox);
    // Someone else's cursor, another mailbox's cursor, or a made-up one is refused.
    for (token, query) in [
        (&carol, format!("box=inbox&since={bob_inbox}")),
        (&bob, format!("box=sent&since={bob_inbox}")),
        (&bob, "box=inbox&since=999999999".to_string()),
        (&bob, "box=inbox&cursor=0".to_string()),
    ] {
        let refused = expect(&list(token, &query), 400);
        assert_eq!(
            refused["error"]["details"][0]["field"]
                .as_str()
                .map(|f| f.trim_start_matches('/')),
            Some(if query.contains("since") {
                "since"
            } else {
                "cursor"
            }),
            "{refused}"
        );
    }
    // And the right one still polls.
    send(addr, &alice, "bob", "second", "");
    let poll = expect(&list(&bob, &format!("box=inbox&since={bob_inbox}")), 200);
    assert_eq!(poll["messages"].as_array().map(Vec::len), Some(1));
}
