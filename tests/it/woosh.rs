//! The woosh listener against its protocol (`/work/shared/woosh/API.md`), black-box over HTTP:
//! the sanity suite's seven flows (§7) as they are written, the client suite's flows with its
//! real token and key shapes, and every endpoint's statuses and exact key sets (§5).

use serde_json::json;

use crate::util::Server;
use crate::util::woosh::{
    BANANAS_TOKEN, call, delete_until, expect, inbox, minus, next_second_after, now, raw, register,
    registration, send,
};

fn open_server() -> (Server, std::net::SocketAddr) {
    Server::start_woosh(&["--woosh-registration", "open"])
}

// --- the sanity suite (§7), one test each ---

#[test]
fn sanity_registration() {
    let (_server, addr) = open_server();
    let created = register(addr, "roysom", "bananas");
    assert_eq!(
        minus(&created, &["id", "info"]),
        json!({"username": "roysom", "public_key": "public_key", "private_key": "private_key"})
    );
    let me = expect(
        &call(addr, "GET", "/users/me", Some(("roysom", "bananas")), None),
        200,
    );
    assert_eq!(
        minus(&me, &["id"]),
        json!({"username": "roysom", "public_key": "public_key", "private_key": "private_key", "info": ""})
    );
}

#[test]
fn sanity_registration_multiple() {
    let (_server, addr) = open_server();
    register(addr, "roysom", "bananas");
    register(addr, "avivbh", "galil");
    let bad = registration("roysom!@?$", "bananas");
    expect(&call(addr, "POST", "/users", None, Some(&bad)), 400);
    let again = registration("roysom", "apples");
    expect(&call(addr, "POST", "/users", None, Some(&again)), 400);
}

#[test]
fn sanity_update_user() {
    let (_server, addr) = open_server();
    register(addr, "bea", "tea-time");
    let creds = Some(("bea", "tea-time"));
    let info = json!({"info": "i am bea, i like tea"});
    let updated = expect(&call(addr, "POST", "/users/me", creds, Some(&info)), 200);
    assert_eq!(
        minus(&updated, &["id", "private_key", "public_key"]),
        json!({"username": "bea", "info": "i am bea, i like tea"})
    );
    expect(&raw(addr, "POST", "/users/me", creds, None), 400);
    let me = expect(&call(addr, "GET", "/users/me", creds, None), 200);
    assert_eq!(
        minus(&me, &["id", "private_key", "public_key"]),
        json!({"username": "bea", "info": "i am bea, i like tea"})
    );
}

#[test]
fn sanity_user_search() {
    let (_server, addr) = open_server();
    register(addr, "roysom", "bananas");
    register(addr, "avivbh", "galil");
    register(addr, "banuni", "cyber");
    let path = "/users/friends?username=avivbh";
    let found = expect(
        &call(addr, "GET", path, Some(("roysom", "bananas")), None),
        200,
    );
    assert_eq!(
        minus(&found, &["id"]),
        json!({"username": "avivbh", "public_key": "public_key"})
    );
}

#[test]
fn sanity_send_message_and_the_same_second_rule() {
    let (_server, addr) = open_server();
    let (roysom, avivbh, banuni) = (
        ("roysom", "bananas"),
        ("avivbh", "galil"),
        ("banuni", "cyber"),
    );
    for (name, password) in [roysom, avivbh, banuni] {
        register(addr, name, password);
    }
    let foo = send(addr, roysom, "avivbh", "foo");
    next_second_after(foo["sent_at"].as_i64().expect("sent_at"));
    let (query_time, messages) = inbox(addr, avivbh);
    assert_eq!(messages.len(), 1);
    assert_eq!(
        minus(&messages[0], &["id", "sent_at"]),
        json!({"contents": "foo", "from_user": "roysom", "to_user": "avivbh"})
    );
    assert_eq!(inbox(addr, banuni).1.len(), 0);
    let bar = send(addr, roysom, "avivbh", "bar");
    assert!(bar["sent_at"].as_i64() >= Some(query_time));
    assert_eq!(delete_until(addr, avivbh, query_time), 1);
    let (_, messages) = inbox(addr, avivbh);
    assert_eq!(messages.len(), 1);
    assert_eq!(
        minus(&messages[0], &["id", "sent_at"]),
        json!({"contents": "bar", "from_user": "roysom", "to_user": "avivbh"})
    );
    // The sender's own messages are untouched by its inbox drain.
    assert_eq!(delete_until(addr, roysom, now() + 100), 0);
}

#[test]
fn sanity_authentication_policy() {
    let (_server, addr) = open_server();
    register(addr, "inspector_gadget", "foobarfoobar");
    let good = Some(("inspector_gadget", "foobarfoobar"));
    expect(&call(addr, "GET", "/messages", good, None), 200);
    expect(&call(addr, "GET", "/messages", None, None), 401);
    let wrong = Some(("inspector_gadget", "not right"));
    expect(&call(addr, "GET", "/messages", wrong, None), 401);
    // A single wrong token locks nothing: the right one works at once.
    expect(&call(addr, "GET", "/messages", good, None), 200);
}

#[test]
fn sanity_penetration_authentication_comes_first() {
    let (_server, addr) = open_server();
    expect(&raw(addr, "POST", "/users", None, None), 400);
    for (method, path) in [
        ("GET", "/users/me"),
        ("POST", "/users/me"),
        ("GET", "/users/friends"),
        ("POST", "/messages"),
        ("GET", "/messages"),
        ("DELETE", "/messages"),
    ] {
        let response = raw(addr, method, path, None, None);
        assert_eq!(response.status, 401, "{method} {path}: {}", response.text());
        expect(&response, 401);
    }
}

// --- the client suite (§7), with the real client's token and key shapes ---

/// A 4096-bit RSA public key's PEM shape: CRLF line endings, 814 characters.
fn pem() -> String {
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\r\n");
    let line = "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA0123456789abcdefghijk\r\n";
    for _ in 0..11 {
        pem.push_str(line);
    }
    pem.push_str("-----END PUBLIC KEY-----\r\n");
    pem
}

#[test]
fn client_suite_register_login_lookup_send_drain() {
    let (_server, addr) = open_server();
    let private_key = format!("{}{}", "QUJD".repeat(1099), "x".repeat(44));
    let keys = |username: &str| json!({"username": username, "password": BANANAS_TOKEN, "public_key": pem(), "private_key": private_key});
    let roysom = expect(
        &call(addr, "POST", "/users", None, Some(&keys("roysom"))),
        201,
    );
    assert_eq!(roysom["username"], "roysom");
    assert!(roysom["id"].as_u64().is_some_and(|id| id > 0));
    assert_eq!(roysom["private_key"], json!(private_key));
    expect(
        &call(addr, "POST", "/users", None, Some(&keys("chernima"))),
        201,
    );
    // Logging in is GET /users/me, from a second client with the same pair.
    let (me, other) = (("roysom", BANANAS_TOKEN), ("chernima", BANANAS_TOKEN));
    let login = expect(&call(addr, "GET", "/users/me", Some(me), None), 200);
    assert_eq!(
        login["public_key"],
        json!(pem()),
        "the PEM is byte for byte"
    );
    assert_eq!(login["private_key"], json!(private_key));
    let path = "/users/friends?username=roysom";
    let friend = expect(&call(addr, "GET", path, Some(other), None), 200);
    assert_eq!(friend["public_key"], json!(pem()));
    let contents = "A".repeat(1396) + "+/==";
    let sent = send(addr, other, "roysom", &contents);
    let (query_time, messages) = inbox(addr, me);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["contents"], json!(contents));
    assert_eq!(messages[0]["id"], sent["id"]);
    assert!(messages[0]["sent_at"].as_i64() <= Some(query_time));
    expect(
        &call(
            addr,
            "GET",
            "/users/friends?username=chernima",
            Some(me),
            None,
        ),
        200,
    );
    delete_until(addr, me, query_time);
}

// --- every endpoint's other statuses (§3, §5) ---

#[test]
fn unknown_paths_are_404_and_other_methods_405_all_in_json() {
    let (_server, addr) = open_server();
    // Readiness: GET / answers something at once.
    expect(&raw(addr, "GET", "/", None, None), 404);
    for path in ["/users/me/", "/nope", "/api/v1/users", "/messages/1"] {
        expect(&raw(addr, "GET", path, None, None), 404);
    }
    for (method, path) in [
        ("GET", "/users"),
        ("PUT", "/users/me"),
        ("DELETE", "/users/me"),
        ("PATCH", "/messages"),
        ("POST", "/users/friends"),
    ] {
        expect(&raw(addr, method, path, None, None), 405);
    }
    let options = raw(addr, "OPTIONS", "/messages", None, None);
    assert_eq!(options.status, 200);
    assert!(
        options
            .header("Allow")
            .is_some_and(|a| a.contains("DELETE"))
    );
    register(addr, "headuser", "pw");
    let head = raw(addr, "HEAD", "/users/me", Some(("headuser", "pw")), None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn registration_fields_are_checked_in_the_spec_order() {
    let (_server, addr) = open_server();
    for missing in ["username", "password", "private_key", "public_key"] {
        let mut body = registration("someone", "pw");
        body[missing] = json!(null);
        expect(&call(addr, "POST", "/users", None, Some(&body)), 400);
    }
    for bad in ["ab", &"a".repeat(33), "a b c", "jörg", "eve\n"] {
        expect(
            &call(addr, "POST", "/users", None, Some(&registration(bad, "pw"))),
            400,
        );
    }
    // Wrongly typed fields are a 400 (the original's 500).
    let mut typed = registration("typed", "pw");
    typed["username"] = json!(123);
    expect(&call(addr, "POST", "/users", None, Some(&typed)), 400);
    typed = registration("typed", "pw");
    typed["private_key"] = json!({"a": 1});
    expect(&call(addr, "POST", "/users", None, Some(&typed)), 400);
    // Unknown fields are ignored; info null is "", an empty password is allowed.
    let mut extra = registration("Extra-1", "");
    extra["extra"] = json!(1);
    extra["info"] = json!(null);
    let created = expect(&call(addr, "POST", "/users", None, Some(&extra)), 201);
    assert_eq!(created["info"], "");
    assert_eq!(created.as_object().map(|o| o.len()), Some(5), "{created}");
    expect(
        &call(addr, "GET", "/users/me", Some(("Extra-1", "")), None),
        200,
    );
    // Not JSON, or not an object: every field missing.
    for body in [&b"not json"[..], b"[1,2]", b"", b"null"] {
        expect(&raw(addr, "POST", "/users", None, Some(body)), 400);
    }
}

#[test]
fn names_are_case_sensitive_in_the_protocol_and_one_namespace_with_ours() {
    let (_server, addr) = open_server();
    register(addr, "Alice_1", "pw");
    // Our names are lower-cased: alice_1 is the same account, so taken.
    expect(
        &call(
            addr,
            "POST",
            "/users",
            None,
            Some(&registration("alice_1", "pw")),
        ),
        400,
    );
    expect(
        &call(addr, "GET", "/users/me", Some(("alice_1", "pw")), None),
        401,
    );
    let me = expect(
        &call(addr, "GET", "/users/me", Some(("Alice_1", "pw")), None),
        200,
    );
    assert_eq!(me["username"], "Alice_1");
    register(addr, "bob", "pw");
    let creds = Some(("bob", "pw"));
    expect(
        &call(addr, "GET", "/users/friends?username=alice_1", creds, None),
        404,
    );
    expect(
        &call(addr, "GET", "/users/friends?username=", creds, None),
        404,
    );
    expect(&call(addr, "GET", "/users/friends", creds, None), 400);
    let found = expect(
        &call(addr, "GET", "/users/friends?username=Alice_1", creds, None),
        200,
    );
    assert_eq!(found.as_object().map(|o| o.len()), Some(3));
    // Query parameters are URL-decoded and the first value wins.
    let path = "/users/friends?username=Alice%5F1&username=bob";
    let first = expect(&call(addr, "GET", path, creds, None), 200);
    assert_eq!(first["username"], "Alice_1");
    // Looking up yourself works; sending to yourself does not; to nobody is 404.
    expect(
        &call(addr, "GET", "/users/friends?username=bob", creds, None),
        200,
    );
    let to_self = json!({"recipient": "bob", "contents": "x"});
    expect(&call(addr, "POST", "/messages", creds, Some(&to_self)), 400);
    let to_nobody = json!({"recipient": "alice_1", "contents": "x"});
    expect(
        &call(addr, "POST", "/messages", creds, Some(&to_nobody)),
        404,
    );
    expect(
        &call(
            addr,
            "POST",
            "/messages",
            creds,
            Some(&json!({"recipient": "bob"})),
        ),
        400,
    );
    let sent = send(addr, ("bob", "pw"), "Alice_1", "to the exact spelling");
    assert_eq!(sent["to_user"], "Alice_1");
    assert_eq!(sent["from_user"], "bob");
    assert_eq!(sent.as_object().map(|o| o.len()), Some(5));
}

#[test]
fn until_is_an_integer_and_info_can_be_emptied() {
    let (_server, addr) = open_server();
    register(addr, "dora", "pw");
    let creds = Some(("dora", "pw"));
    for until in ["abc", "1.5", ""] {
        let path = format!("/messages?until={until}");
        expect(&call(addr, "DELETE", &path, creds, None), 400);
    }
    expect(&call(addr, "DELETE", "/messages", creds, None), 400);
    for until in ["0", "-5", "%2B7", "%2012%20"] {
        let path = format!("/messages?until={until}");
        expect(&call(addr, "DELETE", &path, creds, None), 200);
    }
    expect(
        &call(addr, "POST", "/users/me", creds, Some(&json!({}))),
        400,
    );
    let text = "héllo ☺";
    let updated = expect(
        &call(
            addr,
            "POST",
            "/users/me",
            creds,
            Some(&json!({"info": text})),
        ),
        200,
    );
    assert_eq!(updated["info"], text);
    let emptied = expect(
        &call(addr, "POST", "/users/me", creds, Some(&json!({"info": ""}))),
        200,
    );
    assert_eq!(emptied["info"], "");
}

#[test]
fn the_inbox_is_newest_first_at_most_100_and_reading_marks_nothing() {
    let (_server, addr) = open_server();
    register(addr, "sender", "pw");
    register(addr, "reader", "pw");
    let (sender, reader) = (("sender", "pw"), ("reader", "pw"));
    for n in 0..3 {
        send(addr, sender, "reader", &format!("m{n}"));
    }
    let (query_time, first) = inbox(addr, reader);
    let (_, second) = inbox(addr, reader);
    assert_eq!(first.len(), 3);
    assert_eq!(first, second, "reading changes nothing");
    let times: Vec<i64> = first
        .iter()
        .map(|m| m["sent_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(times.iter().all(|t| *t <= query_time));
    assert!(query_time <= now(), "query time is now, not rounded up");
}

/// With more than 100 waiting, a poll returns at most 100, the oldest, and a query time that
/// lets the drain delete only what was returned: draining loses nothing (§6's mitigation).
#[test]
fn over_100_waiting_the_oldest_come_first_and_a_drain_loses_none() {
    let (_server, addr) = open_server();
    register(addr, "sender", "pw");
    register(addr, "reader", "pw");
    let (sender, reader) = (("sender", "pw"), ("reader", "pw"));
    let mut ids = Vec::new();
    for n in 0..130 {
        ids.push(
            send(addr, sender, "reader", &format!("m{n}"))["id"]
                .as_u64()
                .expect("integer id"),
        );
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 130, "ids are unique");
    assert!(unique[0] >= 1, "ids are truthy");
    let mut seen = std::collections::BTreeSet::new();
    let mut remaining: std::collections::BTreeSet<u64> = unique.iter().copied().collect();
    for _ in 0..20 {
        let (query_time, messages) = inbox(addr, reader);
        if messages.is_empty() {
            break;
        }
        let sent_at = |m: &serde_json::Value| m["sent_at"].as_i64().unwrap();
        // More than 100 only when they share one second (a cut inside it would not progress).
        let one_second = messages.iter().all(|m| sent_at(m) == sent_at(&messages[0]));
        assert!(messages.len() <= 100 || one_second, "{}", messages.len());
        assert!(messages.iter().all(|m| sent_at(m) <= query_time));
        let polled: Vec<u64> = messages.iter().map(|m| m["id"].as_u64().unwrap()).collect();
        assert_eq!(
            polled.iter().min(),
            remaining.first(),
            "the oldest come first"
        );
        seen.extend(polled.iter().copied());
        if seen.len() == unique.len() {
            break;
        }
        let deleted = delete_until(addr, reader, query_time);
        let returned_before = messages.iter().filter(|m| sent_at(m) < query_time);
        let expected: Vec<u64> = returned_before.map(|m| m["id"].as_u64().unwrap()).collect();
        assert_eq!(
            deleted as usize,
            expected.len(),
            "only what was returned is deleted"
        );
        for id in expected {
            remaining.remove(&id);
        }
        if deleted == 0 {
            // More than 100 in the current second: the next poll waits for it to end.
            next_second_after(query_time);
        }
    }
    assert_eq!(
        seen.len(),
        130,
        "every message was seen before it was deleted"
    );
}

#[test]
fn registration_is_closed_by_default_with_the_protocols_403() {
    let (_server, addr) = Server::start_woosh(&[]);
    let refused = expect(
        &call(
            addr,
            "POST",
            "/users",
            None,
            Some(&registration("roysom", "pw")),
        ),
        403,
    );
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("closed"))
    );
}

#[test]
fn the_listener_is_set_by_flag_or_environment_and_a_bad_address_is_a_usage_error() {
    use std::io::BufRead;
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let refused = crate::util::run(&dir, &["serve", "--woosh-listen", "nonsense"], b"");
    assert_eq!(refused.status.code(), Some(2));
    let said = crate::util::stderr(&refused);
    assert!(said.contains("--woosh-listen `nonsense`"), "{said}");
    assert!(
        !dir.exists(),
        "nothing is created before the flags are valid"
    );
    let mut child = crate::util::messages(&dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--pin",
            crate::util::PIN,
        ])
        .args(["--scrypt-log-n", "15"])
        .env("MESSAGES_WOOSH_LISTEN", "127.0.0.1:0")
        .env("MESSAGES_WOOSH_REGISTRATION", "open")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let (mut first, mut second) = (String::new(), String::new());
    stdout.read_line(&mut first).expect("first line");
    stdout.read_line(&mut second).expect("second line");
    assert!(first.starts_with("listening on http://"), "{first}");
    let addr = second
        .trim()
        .strip_prefix("woosh listening on http://")
        .unwrap_or_else(|| panic!("{second:?}"))
        .parse()
        .expect("address");
    register(addr, "from_env", "pw");
    let _ = child.kill();
    let _ = child.wait();
}
