//! Registering, logging in and out, the account page, and the session cookie's flags.

use super::*;

#[test]
fn registration_explains_every_refusal_and_keeps_what_was_typed() {
    let server = Server::start();
    let addr = server.addr;

    let wrong_pin = web::try_register(addr, "Alice", "Alice Liddell", PASSWORD, PASSWORD, "999999");
    assert_eq!(wrong_pin.status, 400, "{}", text(&wrong_pin));
    assert_field_error(&wrong_pin, "pin", "PIN is not correct");
    let html = text(&wrong_pin);
    assert!(html.contains("value=\"Alice\""), "username kept");
    assert!(html.contains("value=\"Alice Liddell\""), "name kept");
    assert!(
        !html.contains(PASSWORD),
        "the password is never written back"
    );
    assert!(!html.contains("999999"), "the PIN is never written back");
    assert!(
        html.contains("<option value=\"1\" selected>"),
        "the chosen question is kept"
    );

    let weak = web::try_register(
        addr,
        "alice",
        "Alice Liddell",
        "password1234",
        "password1234",
        PIN,
    );
    assert_eq!(weak.status, 400);
    assert_field_error(&weak, "password", "too easy to guess");

    let derived = web::try_register(
        addr,
        "aliceliddell",
        "Alice Liddell",
        "aliceliddell2026!",
        "aliceliddell2026!",
        PIN,
    );
    assert_eq!(derived.status, 400);
    let html = text(&derived);
    let message = field_error(&html, "password").expect("password error");
    assert!(
        message.contains("username") || message.contains("too easy"),
        "context-derived password refused: {message}"
    );

    let mismatch = web::try_register(
        addr,
        "alice",
        "Alice Liddell",
        PASSWORD,
        "violet kettle orbit 94 glacieR",
        PIN,
    );
    assert_eq!(mismatch.status, 400);
    assert_field_error(&mismatch, "password_confirm", "do not match");

    let created = web::try_register(addr, "alice", "Alice Liddell", PASSWORD, PASSWORD, PIN);
    assert_eq!(created.status, 303, "{}", text(&created));
    assert!(
        created
            .header("Location")
            .unwrap_or("")
            .starts_with("/login?done=registered")
    );

    let duplicate = web::try_register(
        addr,
        "ALICE",
        "Another Alice",
        OTHER_PASSWORD,
        OTHER_PASSWORD,
        PIN,
    );
    assert_eq!(duplicate.status, 409, "{}", text(&duplicate));
    assert_field_error(&duplicate, "username", "already taken");
    // The first Alice's password still works; the second registration changed nothing.
    web::login(addr, "alice", PASSWORD);
}

#[test]
fn login_sets_a_strict_cookie_and_logout_ends_the_session() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "bob", "Bob", PASSWORD);

    let root = client::get(addr, "/");
    assert_eq!(
        (root.status, root.header("Location")),
        (303, Some("/login"))
    );
    assert!(web::is_login_redirect(&client::get(addr, "/inbox")));
    assert!(web::is_login_redirect(&client::get(addr, "/account")));

    let mut browser = Browser::new(addr);
    let refused = browser.submit(
        "/login",
        "/login",
        &[("username", "Bob"), ("password", "not the password at all")],
    );
    assert_eq!(refused.status, 401);
    assert!(text(&refused).contains("The username or password is not correct."));
    assert!(text(&refused).contains("value=\"Bob\""), "username kept");
    assert!(browser.cookie("session").is_none());

    let login_page = browser.get("/login");
    let token = csrf_token(&text(&login_page));
    let ok = browser.post_raw(
        "/login",
        &[
            ("username", "Bob"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ],
    );
    assert_eq!((ok.status, ok.header("Location")), (303, Some("/inbox")));
    let set_cookie = ok
        .header_all("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("session="))
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie} has {flag}");
    }
    assert!(!set_cookie.contains("Secure"), "no Secure over plain HTTP");
    let csrf_cookie = login_page.header_all("Set-Cookie");
    assert!(
        csrf_cookie.is_empty()
            || csrf_cookie
                .iter()
                .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Strict"))
    );

    let inbox = browser.get("/inbox");
    assert_eq!(inbox.status, 200);
    assert!(text(&inbox).contains("Signed in as <strong>bob</strong>"));
    assert_eq!(browser.get("/").header("Location"), Some("/inbox"));
    assert_eq!(browser.get("/login").header("Location"), Some("/inbox"));

    // Logging in again from the same browser rotates the session: the old secret is dead.
    let before = browser.cookie("session").expect("session");
    let token = csrf_token(&text(&client::get(addr, "/login")));
    let _ = token;
    let mut again = browser.clone();
    again.cookies.retain(|(n, _)| n != "session");
    let relogin = {
        let page = again.get("/login");
        let token = csrf_token(&text(&page));
        again.set_cookie("session", &before);
        again.post_raw(
            "/login",
            &[
                ("username", "bob"),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
    };
    assert_eq!(relogin.status, 303);
    assert_ne!(again.cookie("session"), Some(before.clone()));
    assert!(
        web::is_login_redirect(&browser.get("/inbox")),
        "the session from before the new login is ended"
    );

    // Logout needs the token, and then the cookie from before it no longer works.
    let stale = again.cookie("session").expect("session");
    let no_token = again.post_raw("/logout", &[]);
    assert_eq!(no_token.status, 403);
    assert_eq!(
        again.get("/inbox").status,
        200,
        "a refused logout changed nothing"
    );
    let token = csrf_token(&text(&again.get("/inbox")));
    let out = again.post_raw("/logout", &[("csrf_token", &token)]);
    assert_eq!(out.status, 303);
    assert!(
        out.header_all("Set-Cookie")
            .iter()
            .any(|c| c.starts_with("session=;") && c.contains("Max-Age=0"))
    );
    let mut replay = Browser::new(addr);
    replay.set_cookie("session", &stale);
    assert!(
        web::is_login_redirect(&replay.get("/inbox")),
        "the cookie from before logout is dead"
    );
}

#[test]
fn account_page_changes_password_and_question_and_manages_sessions_and_tokens() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut here = web::login(addr, "alice", PASSWORD);
    let mut elsewhere = web::login(addr, "alice", PASSWORD);

    let page = text(&here.get("/account"));
    assert!(page.contains("this device"));
    assert_eq!(
        page.matches("<li class=\"credential").count(),
        2,
        "two sessions listed"
    );

    let wrong = here.submit(
        "/account",
        "/account/password",
        &[
            ("current_password", "nope nope nope"),
            ("password", OTHER_PASSWORD),
            ("password_confirm", OTHER_PASSWORD),
        ],
    );
    assert_eq!(wrong.status, 400);
    assert_field_error(&wrong, "pw-current_password", "not correct");
    let weak = here.submit(
        "/account",
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("password", "alicealice12"),
            ("password_confirm", "alicealice12"),
        ],
    );
    assert_eq!(weak.status, 400);
    assert!(field_error(&text(&weak), "pw-password").is_some());

    // End the other session by its handle.
    let page = text(&here.get("/account"));
    let marker = "name=\"handle\" value=\"";
    let start = page
        .find(marker)
        .expect("an End button for the other session")
        + marker.len();
    let handle = &page[start..start + 32];
    let ended = here.submit("/account", "/account/sessions/end", &[("handle", handle)]);
    assert_eq!(ended.header("Location"), Some("/account?done=session"));
    assert!(web::is_login_redirect(&elsewhere.get("/inbox")));
    assert_eq!(here.get("/inbox").status, 200);

    // A new token is shown once, listed, then revoked.
    let created = here.submit("/account", "/account/tokens", &[]);
    assert_eq!(created.status, 200);
    let html = text(&created);
    assert!(html.contains("Your new API token"));
    let marker = "id=\"new-token\" class=\"token-output\" type=\"text\" readonly value=\"";
    let start = html.find(marker).expect("token shown") + marker.len();
    let token: String = html[start..].split('"').next().expect("token").to_string();
    assert!(token.len() >= 40);
    let listed = text(&here.get("/account"));
    assert!(!listed.contains(&token), "the token is shown only once");
    let tokens_part = &listed[listed.find("tokens-title").expect("tokens section")..];
    let start = tokens_part
        .find("name=\"handle\" value=\"")
        .expect("token listed")
        + "name=\"handle\" value=\"".len();
    let handle = tokens_part[start..start + 32].to_string();
    let revoked = here.submit("/account", "/account/tokens/revoke", &[("handle", &handle)]);
    assert_eq!(revoked.header("Location"), Some("/account?done=token"));
    assert!(text(&here.get("/account")).contains("You have no active tokens."));

    // The question, then the password: the other sessions end, this one stays.
    let question = here.submit(
        "/account",
        "/account/question",
        &[
            ("security_question", "4"),
            ("security_answer", "Mrs Okafor"),
            ("current_password", PASSWORD),
        ],
    );
    assert_eq!(question.header("Location"), Some("/account?done=question"));
    assert!(
        text(&here.get("/account"))
            .contains("What is the name of a teacher who made a difference to you?")
    );
    let mut third = web::login(addr, "alice", PASSWORD);
    let changed = web::change_password(&mut here, PASSWORD, OTHER_PASSWORD);
    assert_eq!(
        changed.header("Location"),
        Some("/account?done=password"),
        "{}",
        text(&changed)
    );
    assert_eq!(here.get("/inbox").status, 200, "this session stays");
    assert!(
        web::is_login_redirect(&third.get("/inbox")),
        "other sessions end"
    );
    web::login(addr, "alice", OTHER_PASSWORD);
}

#[test]
fn under_tls_cookies_are_secure_and_host_prefixed() {
    let tls = crate::util::tls::self_signed();
    let server = Server::start_with(&["--tls-cert", &tls.cert_path, "--tls-key", &tls.key_path]);

    let page = tls_request(server.addr, &tls.cert, "GET", "/login", &[], b"");
    assert_eq!(page.status, 200);
    let csrf_cookie = page.header("Set-Cookie").expect("csrf cookie");
    assert!(
        csrf_cookie.starts_with("__Host-csrf=")
            && csrf_cookie.contains("; Secure")
            && csrf_cookie.contains("SameSite=Strict"),
        "{csrf_cookie}"
    );
    assert!(page.header("Strict-Transport-Security").is_some());

    // Registration and login over TLS: the session cookie is __Host-session; Secure.
    let pair = csrf_cookie.split(';').next().expect("pair").to_string();
    let token = csrf_token(&text(&page));
    let form = |fields: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
    };
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Cookie", pair.as_str()),
    ];
    let body = form(&[
        ("name", "Alice"),
        ("username", "alice"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("pin", PIN),
        ("security_question", "1"),
        ("security_answer", "rex"),
        ("csrf_token", &token),
    ]);
    assert_eq!(
        tls_request(
            server.addr,
            &tls.cert,
            "POST",
            "/register",
            &headers,
            body.as_bytes()
        )
        .status,
        303
    );
    // A cookie without the prefix is not the one the server reads under TLS.
    let plain_name = format!("csrf={}", pair.split_once('=').expect("value").1);
    let refused = tls_request(
        server.addr,
        &tls.cert,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &plain_name),
        ],
        form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .as_bytes(),
    );
    assert_eq!(refused.status, 403);
    let login = tls_request(
        server.addr,
        &tls.cert,
        "POST",
        "/login",
        &headers,
        form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .as_bytes(),
    );
    assert_eq!(login.status, 303);
    let session = login
        .header_all("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("__Host-session="))
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
        assert!(session.contains(flag), "{session} has {flag}");
    }
    assert!(
        !session.contains("Domain="),
        "__Host- cookies carry no Domain"
    );
    let device = login
        .header_all("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("__Host-device="))
        .expect("device cookie");
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Secure",
        "Max-Age=",
    ] {
        assert!(device.contains(flag), "{device} has {flag}");
    }
    let cookie = session.split(';').next().expect("pair");
    assert_eq!(
        tls_request(
            server.addr,
            &tls.cert,
            "GET",
            "/inbox",
            &[("Cookie", cookie)],
            b""
        )
        .status,
        200
    );
}
