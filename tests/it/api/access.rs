//! Who may call what: anonymous and bogus tokens, other members' messages, tokens after a
//! password change or reset, and token creation under a lockout (the device token).

use super::*;

#[test]
fn anonymous_and_bogus_tokens_get_401_on_every_protected_endpoint() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let id = message_id(&send(addr, &alice, "alice", "mine", ""));
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
    let basic_header = basic("alice", PASSWORD);
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
    get_ok(addr, &alice, &message);
}

#[test]
fn another_members_message_is_not_found_for_read_and_delete() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let mallory = member(addr, "mallory");
    let id = message_id(&send(addr, &alice, "bob", "private", "for bob only"));
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
    let read = get_ok(addr, &bob, &path);
    assert_eq!(read["body"], "for bob only");
    get_ok(addr, &alice, &path);
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
            Some(&json!({"current_password": PASSWORD, "new_password": "password1234"})),
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
    get_ok(addr, &alice, "/api/v1/me");

    let new_password = "a brand new passphrase 77";
    expect(
        &call(
            addr,
            "PATCH",
            "/api/v1/me",
            Some(&alice),
            Some(&json!({"current_password": PASSWORD, "new_password": new_password})),
        ),
        200,
    );
    expect(&call(addr, "GET", "/api/v1/me", Some(&alice), None), 401);
    expect(&create_token(addr, "alice", PASSWORD), 401);
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
    get_ok(addr, &bob, "/api/v1/me");
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
    let inbox = get_ok(addr, &fresh, "/api/v1/messages");
    assert_eq!(inbox["messages"][0]["from"], "system");
}

#[test]
fn token_creation_with_a_device_token_survives_a_strangers_lockout() {
    let server = Server::start();
    let addr = server.addr;
    register(addr, "alice");
    let first = expect(&create_token(addr, "alice", PASSWORD), 201);
    let device = first["device_token"]
        .as_str()
        .expect("a device token with the first token")
        .to_string();
    for _ in 0..5 {
        expect(&create_token(addr, "alice", "not the password at all"), 401);
    }
    expect(&create_token(addr, "alice", PASSWORD), 429);

    let again = expect(
        &create_token_with(addr, "alice", PASSWORD, Some(&device)),
        201,
    );
    assert!(again["token"].is_string() && again["device_token"].is_string());
    let mut altered = device.clone().into_bytes();
    altered[0] = if altered[0] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).expect("ascii");
    expect(
        &create_token_with(addr, "alice", PASSWORD, Some(&altered)),
        429,
    );
    register(addr, "bobby");
    let bobs = expect(&create_token(addr, "bobby", PASSWORD), 201);
    let foreign = bobs["device_token"].as_str().expect("device token");
    expect(
        &create_token_with(addr, "alice", PASSWORD, Some(foreign)),
        429,
    );
}
