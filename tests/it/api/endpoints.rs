//! Every endpoint's happy path, and every error status with its headers.

use super::*;

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
    let created = expect(&create_token(addr, "alice", PASSWORD), 201);
    let alice = created["token"].as_str().expect("token").to_string();
    let expires = created["expires_at"].as_str().expect("expires_at");
    assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");
    let bob = member(addr, "bob");

    let me = get_ok(addr, &alice, "/api/v1/me");
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
    let got = get_ok(addr, &bob, "/api/v1/users/Alice/key");
    assert_eq!(got["key"], key.as_str());
    expect(
        &call(addr, "GET", "/api/v1/users/bob/key", Some(&alice), None),
        404,
    );

    let found = get_ok(addr, &bob, "/api/v1/users?q=AL");
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

    let inbox = get_ok(addr, &bob, "/api/v1/messages?box=inbox");
    assert_eq!(ids(&inbox), [id]);
    assert!(
        inbox["messages"][0].get("body").is_none(),
        "lists leave out the body"
    );
    assert_eq!(inbox["next_cursor"], Value::Null);
    assert!(inbox["cursor"].is_string());
    let outbox = get_ok(addr, &alice, "/api/v1/messages?box=sent");
    assert_eq!(ids(&outbox), [id]);

    let read = get_ok(addr, &bob, &format!("/api/v1/messages/{id}"));
    assert_eq!(
        (read["body"].as_str(), read["read"].as_bool()),
        (Some("First line\nsecond line"), Some(true))
    );
    let inbox = get_ok(addr, &bob, "/api/v1/messages");
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
    assert!(ids(&get_ok(addr, &bob, "/api/v1/messages")).is_empty());
    get_ok(addr, &alice, &format!("/api/v1/messages/{id}"));

    // Revoking ends exactly the token used.
    let second = token(addr, "alice");
    assert_eq!(
        call(addr, "DELETE", "/api/v1/tokens", Some(&alice), None).status,
        204
    );
    expect(&call(addr, "GET", "/api/v1/me", Some(&alice), None), 401);
    get_ok(addr, &second, "/api/v1/me");
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
    assert_eq!(wrong_method.header("Allow"), Some("GET, HEAD, POST"));
    assert_eq!(
        call(addr, "POST", "/api/v1/me", Some(&alice), None).header("Allow"),
        Some("GET, HEAD, PATCH")
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
    let limited = create_token(addr, "alice", PASSWORD);
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
