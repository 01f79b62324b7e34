//! Forged forms, wrong methods, the reset that tells no one who is a member, and lockouts.

use super::*;

#[test]
fn posts_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    web::register(addr, "bob", "Bob", OTHER_PASSWORD);
    let mut alice = web::login(addr, "alice", PASSWORD);

    let fields = [("to", "bob"), ("title", "forged"), ("body", "x")];
    let missing = alice.post_raw("/messages", &fields);
    assert_eq!(missing.status, 403);
    assert!(text(&missing).contains("This form has expired"));
    let wrong = alice.post_raw(
        "/messages",
        &[
            ("to", "bob"),
            ("title", "forged"),
            ("body", "x"),
            ("csrf_token", &"0".repeat(40)),
        ],
    );
    assert_eq!(wrong.status, 403);
    // Another member's token is no good either.
    let mut bob = web::login(addr, "bob", OTHER_PASSWORD);
    let bobs = csrf_token(&text(&bob.get("/inbox")));
    assert_eq!(
        alice
            .post_raw(
                "/messages",
                &[
                    ("to", "bob"),
                    ("title", "forged"),
                    ("body", "x"),
                    ("csrf_token", &bobs)
                ]
            )
            .status,
        403
    );
    assert!(
        !text(&alice.get("/sent")).contains("forged"),
        "nothing was sent"
    );

    let change = alice.post_raw(
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("password", OTHER_PASSWORD),
            ("password_confirm", OTHER_PASSWORD),
        ],
    );
    assert_eq!(change.status, 403);
    web::login(addr, "alice", PASSWORD);

    // Anonymous forms: a token without its cookie, or from another browser's cookie, is refused.
    let mut stranger = Browser::new(addr);
    let page = stranger.get("/register");
    let token = csrf_token(&text(&page));
    let mut attacker = Browser::new(addr);
    let _ = attacker.get("/register");
    let register = [
        ("name", "Carol"),
        ("username", "carol"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("pin", PIN),
        ("security_question", "2"),
        ("security_answer", "Leeds"),
        ("csrf_token", token.as_str()),
    ];
    let refused = attacker.post_raw("/register", &register);
    assert_eq!(refused.status, 403);
    let no_cookie = client::post_form(addr, "/register", None, &register);
    assert_eq!(no_cookie.status, 403);
    let login = client::post_form(
        addr,
        "/login",
        None,
        &[("username", "alice"), ("password", PASSWORD)],
    );
    assert_eq!(login.status, 403);
    assert!(
        login
            .header_all("Set-Cookie")
            .iter()
            .all(|c| !c.starts_with("session="))
    );
    let carol = Browser::new(addr).submit(
        "/login",
        "/login",
        &[("username", "carol"), ("password", PASSWORD)],
    );
    assert_eq!(carol.status, 401, "carol was never registered");
}

#[test]
fn wrong_methods_and_error_pages_carry_allow_and_security_headers() {
    let server = Server::start();
    let addr = server.addr;
    let logout = client::get(addr, "/logout");
    assert_eq!(logout.status, 405);
    assert_eq!(logout.header("Allow"), Some("POST"));
    let put = client::Client::connect(addr)
        .and_then(|mut c| c.send("PUT", "/inbox", &[], b""))
        .expect("PUT");
    assert_eq!(put.status, 405);
    assert_eq!(put.header("Allow"), Some("GET, HEAD"));
    let delete = client::Client::connect(addr)
        .and_then(|mut c| c.send("DELETE", "/login", &[], b""))
        .expect("DELETE");
    assert_eq!(delete.header("Allow"), Some("GET, HEAD, POST"));
    let missing = client::get(addr, "/no/such/page");
    assert_eq!(missing.status, 404);
    assert!(text(&missing).contains("Page not found"));
    for response in [&logout, &put, &missing] {
        let csp = response.header("Content-Security-Policy").expect("CSP");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert_eq!(response.header("X-Content-Type-Options"), Some("nosniff"));
        assert!(
            response
                .header("Content-Type")
                .unwrap_or("")
                .starts_with("text/html")
        );
    }
    // Pages and static files use no inline script or style.
    for path in ["/login", "/register", "/reset"] {
        let html = text(&client::get(addr, path));
        assert!(
            !html.contains("<script>") && !html.contains("style=") && !html.contains("<style"),
            "{path}"
        );
        assert!(
            !html.contains(" on") || !html.contains("onclick="),
            "{path}"
        );
    }
    assert_eq!(client::get(addr, "/static/app.css").status, 200);
    assert_eq!(client::get(addr, "/static/app.js").status, 200);
}

#[test]
fn reset_does_not_tell_members_from_strangers_and_ends_every_session() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut old_session = web::login(addr, "alice", PASSWORD);

    let step_one =
        |username: &str| Browser::new(addr).submit("/reset", "/reset", &[("username", username)]);
    let known = step_one("alice");
    let unknown = step_one("zelda");
    assert_eq!(known.status, 200);
    assert_eq!(unknown.status, known.status);
    let (known_html, unknown_html) = (text(&known), text(&unknown));
    assert_eq!(
        question_of(&known_html),
        "What was the name of your first pet?"
    );
    let decoy = question_of(&unknown_html);
    assert!(!decoy.is_empty());
    assert_eq!(
        question_of(&text(&step_one("zelda"))),
        decoy,
        "the decoy question is stable"
    );
    assert_eq!(
        normalised(&known_html, &question_of(&known_html)).replace("alice", "NAME"),
        normalised(&unknown_html, &decoy).replace("zelda", "NAME"),
        "the question pages differ only in the question"
    );

    let step_two = |username: &str, answer: &str, password: &str| {
        Browser::new(addr).submit(
            "/reset",
            "/reset",
            &[
                ("username", username),
                ("security_answer", answer),
                ("password", password),
                ("password_confirm", password),
            ],
        )
    };
    let wrong_known = step_two("alice", "Fluffy", OTHER_PASSWORD);
    let wrong_unknown = step_two("zelda", "Fluffy", OTHER_PASSWORD);
    assert_eq!(wrong_known.status, 400);
    assert_eq!(wrong_unknown.status, wrong_known.status);
    assert_field_error(&wrong_known, "security_answer", "does not match");
    let (a, b) = (text(&wrong_known), text(&wrong_unknown));
    assert_eq!(
        normalised(&a, &question_of(&a)).replace("alice", "NAME"),
        normalised(&b, &question_of(&b)).replace("zelda", "NAME")
    );

    let weak = step_two("alice", "rex the dog", "password1234");
    assert_eq!(weak.status, 400);
    assert_field_error(&weak, "password", "too easy to guess");

    let done = step_two("alice", "  REX the   dog ", OTHER_PASSWORD);
    assert_eq!(
        (done.status, done.header("Location")),
        (303, Some("/login?done=reset")),
        "{}",
        text(&done)
    );
    assert!(
        web::is_login_redirect(&old_session.get("/inbox")),
        "sessions from before the reset are ended"
    );
    let refused = Browser::new(addr).submit(
        "/login",
        "/login",
        &[("username", "alice"), ("password", PASSWORD)],
    );
    assert_eq!(refused.status, 401);
    let mut alice = web::login(addr, "alice", OTHER_PASSWORD);
    let inbox = text(&alice.get("/inbox"));
    assert!(
        inbox.contains("Your password was reset") && inbox.contains("system"),
        "a notice in the inbox"
    );
}

#[test]
fn repeated_login_failures_get_a_429_page_with_retry_after() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut browser = Browser::new(addr);
    let token = csrf_token(&text(&browser.get("/login")));
    let mut last = None;
    for _ in 0..8 {
        let response = browser.post_raw(
            "/login",
            &[
                ("username", "alice"),
                ("password", "wrong wrong wrong"),
                ("csrf_token", &token),
            ],
        );
        if response.status == 429 {
            last = Some(response);
            break;
        }
        assert_eq!(response.status, 401);
    }
    let limited = last.expect("locked after repeated failures");
    assert!(
        limited
            .header("Retry-After")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s > 0)
    );
    assert!(text(&limited).contains("too many attempts"));
    assert!(limited.header("Content-Security-Policy").is_some());
}
