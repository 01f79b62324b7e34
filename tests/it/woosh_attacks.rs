//! The woosh listener under attack, black-box: another member's messages, a header pair
//! replayed after the operator changed the password (and after a lock or a deletion), a huge
//! `contents`, a flood of wrong tokens, bodies that are not JSON, and a woosh account trying
//! the web's sign-in, whose password policy its token never passed.

use std::net::SocketAddr;

use serde_json::json;

use crate::util::client::Client;
use crate::util::woosh::{call, delete_until, expect, inbox, now, raw, register, send};
use crate::util::{Server, api, run};

fn open_server(extra: &[&str]) -> (Server, SocketAddr) {
    let mut args = vec!["--woosh-registration", "open"];
    args.extend_from_slice(extra);
    Server::start_woosh(&args)
}

#[test]
fn another_members_messages_are_out_of_reach() {
    let (_server, addr) = open_server(&[]);
    let (alice, bob, carol) = (("alice", "a-pw"), ("bob", "b-pw"), ("carol", "c-pw"));
    for (name, password) in [alice, bob, carol] {
        register(addr, name, password);
    }
    send(addr, alice, "bob", "for bob only");
    assert!(inbox(addr, carol).1.is_empty());
    assert_eq!(delete_until(addr, carol, now() + 1000), 0);
    // Bob's name with Carol's token is nobody.
    expect(
        &call(addr, "GET", "/messages", Some(("bob", "c-pw")), None),
        401,
    );
    // The sender cannot drain what it sent from the recipient's inbox.
    assert_eq!(delete_until(addr, alice, now() + 1000), 0);
    assert_eq!(inbox(addr, bob).1.len(), 1);
}

#[test]
fn a_replayed_pair_fails_after_a_password_change_a_lock_or_a_deletion() {
    let (server, addr) = open_server(&[]);
    register(addr, "Roysom", "bananas");
    let pair = Some(("Roysom", "bananas"));
    // Verified once, so remembered: the next requests cost no hash.
    expect(&call(addr, "GET", "/users/me", pair, None), 200);
    expect(&call(addr, "GET", "/messages", pair, None), 200);
    let reset = run(&server.dir, &["user", "reset-password", "roysom"], b"");
    assert!(reset.status.success(), "{reset:?}");
    expect(&call(addr, "GET", "/messages", pair, None), 401);

    register(addr, "Lockme", "pw");
    let lockme = Some(("Lockme", "pw"));
    expect(&call(addr, "GET", "/messages", lockme, None), 200);
    assert!(
        run(&server.dir, &["user", "lock", "lockme"], b"")
            .status
            .success()
    );
    expect(&call(addr, "GET", "/messages", lockme, None), 401);
    assert!(
        run(&server.dir, &["user", "unlock", "lockme"], b"")
            .status
            .success()
    );
    expect(&call(addr, "GET", "/messages", lockme, None), 200);
    assert!(
        run(&server.dir, &["user", "delete", "lockme"], b"")
            .status
            .success()
    );
    expect(&call(addr, "GET", "/messages", lockme, None), 401);
    // A deleted name is never handed out again, in any case.
    let again =
        json!({"username": "LOCKME", "password": "pw", "public_key": "k", "private_key": "k"});
    expect(&call(addr, "POST", "/users", None, Some(&again)), 400);
}

#[test]
fn a_huge_contents_is_refused_and_64_kib_is_stored_byte_for_byte() {
    let (_server, addr) = open_server(&[]);
    let (sender, reader) = (("sender", "pw"), ("reader", "pw"));
    register(addr, "sender", "pw");
    register(addr, "reader", "pw");
    // Exactly 64 KiB, with a CRLF and a three-byte character that must come back unchanged.
    let exact = "z".repeat(64 * 1024 - 5) + "\r\n\u{263a}";
    assert_eq!(exact.len(), 64 * 1024);
    send(addr, sender, "reader", &exact);
    assert_eq!(inbox(addr, reader).1[0]["contents"], json!(exact));
    let over = json!({"recipient": "reader", "contents": "z".repeat(64 * 1024 + 1)});
    expect(
        &call(addr, "POST", "/messages", Some(sender), Some(&over)),
        400,
    );
    // Past the listener's body limit: 413 before the body is read, still in the protocol's shape.
    let body = vec![b'a'; 2 * 1024 * 1024];
    expect(
        &raw(addr, "POST", "/messages", Some(sender), Some(&body)),
        413,
    );
    assert_eq!(inbox(addr, reader).1.len(), 1);
}

#[test]
fn a_flood_of_wrong_tokens_is_throttled_and_never_locks_out_a_verified_client() {
    let (_server, addr) = open_server(&["--login-max-failures", "3"]);
    register(addr, "owner", "right token");
    let owner = Some(("owner", "right token"));
    expect(&call(addr, "GET", "/messages", owner, None), 200);
    let mut statuses = Vec::new();
    for n in 0..8 {
        let token = format!("wrong {n}");
        let response = call(addr, "GET", "/messages", Some(("owner", &token)), None);
        if response.status == 429 {
            expect(&response, 429);
            assert!(response.header("Retry-After").is_some());
        }
        statuses.push(response.status);
    }
    assert_eq!(statuses[0], 401, "one wrong token is only a 401");
    assert!(
        statuses.contains(&429),
        "the flood is throttled: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    // The client that already polls keeps polling.
    expect(&call(addr, "GET", "/messages", owner, None), 200);
}

#[test]
fn a_body_that_is_not_json_counts_as_no_fields_whatever_its_type() {
    let (_server, addr) = open_server(&[]);
    register(addr, "writer", "pw");
    register(addr, "other", "pw");
    let writer = Some(("writer", "pw"));
    expect(
        &raw(addr, "POST", "/messages", writer, Some(b"{not json")),
        400,
    );
    expect(&raw(addr, "POST", "/messages", writer, Some(b"[1,2]")), 400);
    expect(
        &raw(addr, "POST", "/users/me", writer, Some(b"\xff\xfe")),
        400,
    );
    // JSON sent as text/plain, or with no Content-Type, is still read.
    let mut client = Client::connect(addr).expect("connect");
    let headers = [
        ("x-user-name", "writer"),
        ("x-user-token", "pw"),
        ("Content-Type", "text/plain"),
    ];
    let body = br#"{"recipient": "other", "contents": "plain"}"#;
    let response = client
        .send("POST", "/messages", &headers, body)
        .expect("send");
    expect(&response, 201);
    let response = client
        .send("POST", "/users/me", &headers[..2], br#"{"info": "typed"}"#)
        .expect("send");
    assert_eq!(expect(&response, 200)["info"], "typed");
}

#[test]
fn woosh_accounts_cannot_sign_in_on_the_web_and_members_need_a_key_to_be_found() {
    let (server, addr) = open_server(&[]);
    let strong = "violet harbour lantern quartz 93";
    let body =
        json!({"username": "Webby", "password": strong, "public_key": "k", "private_key": "k"});
    expect(&call(addr, "POST", "/users", None, Some(&body)), 201);
    let refused = api::create_token(server.addr, "webby", strong);
    let wrong = api::create_token(server.addr, "webby", "another wrong password 42");
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert_eq!(
        refused.json()["error"]["message"],
        wrong.json()["error"]["message"]
    );
    // A member of the web: one namespace, and found only once a key is published.
    api::register(server.addr, "member");
    let taken =
        json!({"username": "Member", "password": "x", "public_key": "k", "private_key": "k"});
    expect(&call(addr, "POST", "/users", None, Some(&taken)), 400);
    let webby = Some(("Webby", strong));
    expect(
        &call(addr, "GET", "/users/friends?username=member", webby, None),
        404,
    );
    let to_member = json!({"recipient": "member", "contents": "c2VhbGVk"});
    expect(
        &call(addr, "POST", "/messages", webby, Some(&to_member)),
        404,
    );
    let bearer = api::token(server.addr, "member");
    let key = json!({"key": "bWVtYmVyIGtleQ=="});
    let published = api::call(
        server.addr,
        "PUT",
        "/api/v1/me/key",
        Some(&bearer),
        Some(&key),
    );
    assert!(published.status < 300, "{}", published.text());
    let found = expect(
        &call(addr, "GET", "/users/friends?username=member", webby, None),
        200,
    );
    assert_eq!(found["username"], "member");
    assert_eq!(
        found["public_key"], "bWVtYmVyIGtleQ==",
        "as the API shows it"
    );
    assert!(found["id"].as_u64().is_some_and(|id| id > 0));
    expect(
        &call(addr, "POST", "/messages", webby, Some(&to_member)),
        201,
    );
    let listed = api::get_ok(server.addr, &bearer, "/api/v1/messages?box=inbox");
    assert_eq!(listed["messages"][0]["from"], "webby");
}

/// A polling client costs no hash per request: at the default scrypt cost, the first request
/// with a pair pays one hash, and thirty more take less than a few hashes' time together.
#[test]
fn a_verified_pair_is_remembered_so_a_poll_costs_no_hash() {
    let (_server, addr) = open_server(&["--scrypt-log-n", "16"]);
    register(addr, "poller", "a client token");
    let pair = Some(("poller", "a client token"));
    let started = std::time::Instant::now();
    expect(&call(addr, "GET", "/messages", pair, None), 200);
    let one_hash = started.elapsed();
    let started = std::time::Instant::now();
    for _ in 0..30 {
        expect(&call(addr, "GET", "/messages", pair, None), 200);
    }
    let thirty_polls = started.elapsed();
    assert!(
        thirty_polls < one_hash * 5,
        "30 polls took {thirty_polls:?}, one hash {one_hash:?}"
    );
}
