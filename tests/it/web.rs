//! Black-box tests of the web pages against the real binary: every flow of PRODUCT.md
//! section 3 and the attacks of section 5 (CSRF, other people's messages, stale sessions,
//! script injection, user enumeration at reset), spoken over raw HTTP like a browser would.

use crate::util::client::{self, Response};
use crate::util::web::{self, Browser, OTHER_PASSWORD, PASSWORD, csrf_token, message_ids};
use crate::util::{PIN, Server};

fn text(response: &Response) -> String {
    response.text()
}

/// The error paragraph of a field, tied to its input by aria-describedby.
fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"{field}-error\"");
    let start = html.find(&marker)?;
    let rest = &html[start..];
    let end = rest.find("</p>")?;
    let inner = &rest[..end];
    Some(inner.rsplit('>').next().unwrap_or("").to_string())
}

fn assert_field_error(response: &Response, field: &str, contains: &str) {
    let html = text(response);
    let message =
        field_error(&html, field).unwrap_or_else(|| panic!("no error for {field} in: {html}"));
    assert!(
        message.contains(contains),
        "error for {field} is {message:?}, wanted {contains:?}"
    );
    assert!(
        html.contains(&format!("aria-describedby=\"{field}-error\""))
            || html.contains(&format!("{field}-error\"")) && html.contains("aria-invalid=\"true\""),
        "error for {field} is tied to its input"
    );
}

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
fn compose_read_and_delete_with_unread_markers() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    web::register(addr, "bob", "Bob", OTHER_PASSWORD);
    let mut alice = web::login(addr, "alice", PASSWORD);
    let mut bob = web::login(addr, "bob", OTHER_PASSWORD);

    let empty = bob.get("/inbox");
    assert!(text(&empty).contains("Your inbox is empty"));

    let unknown = web::send(&mut alice, "nobody", "Hello", "body");
    assert_eq!(unknown.status, 400);
    assert_field_error(&unknown, "to", "No member has this username");
    assert!(text(&unknown).contains("value=\"Hello\""), "title kept");
    let untitled = web::send(&mut alice, "bob", "   ", "the body stays");
    assert_eq!(untitled.status, 400);
    assert_field_error(&untitled, "title", "required");
    assert!(
        text(&untitled).contains("the body stays</textarea>"),
        "body kept"
    );

    let sent = web::send(
        &mut alice,
        "Bob",
        "Lunch on Friday?",
        "Shall we try the new place?\nSay noon.",
    );
    assert_eq!(
        (sent.status, sent.header("Location")),
        (303, Some("/sent?done=sent"))
    );
    let sent_page = alice.get("/sent?done=sent");
    assert!(text(&sent_page).contains("Your message was sent."));
    assert!(text(&sent_page).contains("Lunch on Friday?"));

    let inbox = text(&bob.get("/inbox"));
    assert!(inbox.contains("1 unread message"), "{inbox}");
    assert!(inbox.contains("mail-item unread"), "unread marker");
    assert!(inbox.contains("Lunch on Friday?") && inbox.contains("alice"));
    let ids = message_ids(&inbox);
    assert_eq!(ids.len(), 1);
    let id = &ids[0];

    let message = bob.get(&format!("/messages/{id}"));
    assert_eq!(message.status, 200);
    let html = text(&message);
    assert!(html.contains("Shall we try the new place?\nSay noon."));
    assert!(
        html.contains("compose?to=alice&amp;title=Re%3A+Lunch+on+Friday%3F"),
        "reply link: {html}"
    );
    let inbox = text(&bob.get("/inbox"));
    assert!(
        inbox.contains("No unread messages") && !inbox.contains("mail-item unread"),
        "reading marks read"
    );

    let confirm = bob.get(&format!("/messages/{id}/delete"));
    assert_eq!(confirm.status, 200);
    assert!(text(&confirm).contains("Delete this message?"));
    assert_eq!(
        message_ids(&text(&bob.get("/inbox"))).len(),
        1,
        "asking to confirm deletes nothing"
    );
    let token = csrf_token(&text(&confirm));
    let deleted = bob.post_raw(
        &format!("/messages/{id}/delete"),
        &[("csrf_token", &token), ("mailbox", "inbox")],
    );
    assert_eq!(
        (deleted.status, deleted.header("Location")),
        (303, Some("/inbox?done=deleted"))
    );
    assert!(message_ids(&text(&bob.get("/inbox"))).is_empty());
    assert_eq!(bob.get(&format!("/messages/{id}")).status, 404);
    assert_eq!(
        message_ids(&text(&alice.get("/sent"))),
        vec![id.clone()],
        "the sender keeps their copy"
    );
}

#[test]
fn mailboxes_are_paginated_newest_first() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    web::register(addr, "bob", "Bob", OTHER_PASSWORD);
    let mut alice = web::login(addr, "alice", PASSWORD);
    let token = csrf_token(&text(&alice.get("/compose")));
    for n in 1..=53 {
        let title = format!("note number {n:02}");
        let response = alice.post_raw(
            "/messages",
            &[
                ("to", "bob"),
                ("title", &title),
                ("body", ""),
                ("csrf_token", &token),
            ],
        );
        assert_eq!(response.status, 303);
    }
    let mut bob = web::login(addr, "bob", OTHER_PASSWORD);
    let first = text(&bob.get("/inbox"));
    assert!(first.contains("53 unread messages"));
    assert_eq!(message_ids(&first).len(), 50);
    let newest = first.find("note number 53").expect("newest shown");
    let older = first.find("note number 10").expect("older shown");
    assert!(newest < older, "newest first");
    assert!(!first.contains("note number 03"));
    let marker = "/inbox?before=";
    let start = first.find(marker).expect("link to older messages") + marker.len();
    let cursor: String = first[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let second = text(&bob.get(&format!("/inbox?before={cursor}")));
    assert_eq!(message_ids(&second).len(), 3);
    assert!(second.contains("note number 01") && second.contains("note number 03"));
    assert!(!second.contains("/inbox?before="), "no further page");
    assert_eq!(message_ids(&text(&alice.get("/sent"))).len(), 50);
    assert_eq!(bob.get("/inbox?before=yesterday").status, 400);
}

#[test]
fn other_peoples_messages_are_not_found_for_read_and_delete() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    web::register(addr, "bob", "Bob", OTHER_PASSWORD);
    web::register(
        addr,
        "mallory",
        "Mallory",
        "copper lantern 77 pelican ridge",
    );
    let mut alice = web::login(addr, "alice", PASSWORD);
    assert_eq!(
        web::send(&mut alice, "bob", "quarterly secret", "for bob only").status,
        303
    );
    let id = message_ids(&text(&alice.get("/sent"))).remove(0);

    let mut mallory = web::login(addr, "mallory", "copper lantern 77 pelican ridge");
    let read = mallory.get(&format!("/messages/{id}"));
    assert_eq!(read.status, 404);
    assert!(!text(&read).contains("quarterly secret") && !text(&read).contains("for bob only"));
    assert_eq!(mallory.get(&format!("/messages/{id}/delete")).status, 404);
    let token = csrf_token(&text(&mallory.get("/inbox")));
    let delete = mallory.post_raw(&format!("/messages/{id}/delete"), &[("csrf_token", &token)]);
    assert_eq!(delete.status, 404);
    let unknown = format!("{:032x}", 7u128);
    assert_eq!(
        mallory.get(&format!("/messages/{unknown}")).status,
        404,
        "unknown and not-yours look alike"
    );
    assert_eq!(
        mallory
            .get(&format!("/messages/{}", id.to_uppercase()))
            .status,
        404
    );
    assert_eq!(mallory.get("/messages/../inbox").status, 404);

    let mut bob = web::login(addr, "bob", OTHER_PASSWORD);
    assert_eq!(
        bob.get(&format!("/messages/{id}")).status,
        200,
        "bob still has it"
    );
}

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
fn script_in_titles_and_bodies_is_shown_as_text() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    web::register(addr, "bob", "Bob", OTHER_PASSWORD);
    let mut alice = web::login(addr, "alice", PASSWORD);
    let title = "<script>alert('t')</script>";
    let body = "<img src=x onerror=alert(1)> & \"quotes\"";
    assert_eq!(web::send(&mut alice, "bob", title, body).status, 303);
    let mut bob = web::login(addr, "bob", OTHER_PASSWORD);
    let inbox = text(&bob.get("/inbox"));
    assert!(!inbox.contains("<script>alert"), "{inbox}");
    assert!(inbox.contains("&lt;script&gt;alert("));
    let id = message_ids(&inbox).remove(0);
    let page = text(&bob.get(&format!("/messages/{id}")));
    assert!(!page.contains("<script>alert") && !page.contains("<img src=x"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;"));
    assert!(page.contains("<title>&lt;script&gt;"));
    // A compose link with script in its query is escaped too.
    let compose = text(&bob.get("/compose?to=%22%3E%3Cscript%3Ex%3C%2Fscript%3E"));
    assert!(!compose.contains("\"><script>x"));
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

/// A reset page with the parts that legitimately differ (the question, the CSRF token)
/// blanked, so pages for two users can be compared structurally.
fn normalised(html: &str, question: &str) -> String {
    let token = csrf_token(html);
    html.replace(&token, "TOKEN").replace(question, "QUESTION")
}

fn question_of(html: &str) -> String {
    let marker = "id=\"question-text\">";
    let start = html.find(marker).expect("question shown") + marker.len();
    html[start..]
        .split('<')
        .next()
        .expect("question")
        .to_string()
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
fn account_page_changes_password_and_question_and_manages_sessions_and_tokens() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut here = web::login(addr, "alice", PASSWORD);
    let mut elsewhere = web::login(addr, "alice", PASSWORD);

    let page = text(&here.get("/account"));
    assert!(page.contains("This browser"));
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
    let changed = here.submit(
        "/account",
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("password", OTHER_PASSWORD),
            ("password_confirm", OTHER_PASSWORD),
        ],
    );
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
fn strength_endpoint_gives_the_server_verdict_and_is_rate_limited() {
    let server = Server::start();
    let addr = server.addr;
    let ask = |json: serde_json::Value| client::post_json(addr, "/password-strength", None, &json);
    let strong =
        ask(serde_json::json!({"password": PASSWORD, "username": "alice", "name": "Alice"}));
    assert_eq!(strong.status, 200);
    let verdict = strong.json();
    assert_eq!(verdict["acceptable"], true);
    assert!(verdict["score"].as_u64().expect("score") >= 3);
    let weak =
        ask(serde_json::json!({"password": "password1234", "username": "", "name": ""})).json();
    assert_eq!(weak["acceptable"], false);
    assert!(
        weak["problems"][0]
            .as_str()
            .expect("reason")
            .contains("too easy")
    );
    let derived = ask(serde_json::json!({"password": "margaretthatcher1925", "username": "margaretthatcher", "name": "Margaret"})).json();
    assert_eq!(derived["acceptable"], false, "{derived}");
    let form = client::post_form(addr, "/password-strength", None, &[("password", "x")]);
    assert_eq!(form.status, 415, "a cross-site form cannot use it");
    let cross = client::Client::connect(addr)
        .and_then(|mut c| {
            c.send(
                "POST",
                "/password-strength",
                &[
                    ("Content-Type", "application/json"),
                    ("Sec-Fetch-Site", "cross-site"),
                ],
                b"{\"password\":\"x\"}",
            )
        })
        .expect("post");
    assert_eq!(cross.status, 403);
    let mut limited = None;
    for _ in 0..130 {
        let response = ask(serde_json::json!({"password": "abc"}));
        if response.status == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the meter is rate-limited");
    assert!(limited.header("Retry-After").is_some());
    // The meter's limit is its own: logging in still works.
    web::register(addr, "alice", "Alice", PASSWORD);
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

/// One request over TLS to the real binary, trusting `cert`.
fn tls_request(
    addr: std::net::SocketAddr,
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    use std::io::Write;
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let session =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().expect("name"))
            .expect("session");
    let tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(client::IO_TIMEOUT))
        .expect("timeout");
    let mut tls = std::io::BufReader::new(rustls::StreamOwned::new(session, tcp));
    let request = client::render_request("localhost", method, path, headers, body);
    tls.get_mut().write_all(&request).expect("request over TLS");
    client::read_response(&mut tls, method == "HEAD").expect("response over TLS")
}

#[test]
fn under_tls_cookies_are_secure_and_host_prefixed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let server = Server::start_with(&[
        "--tls-cert",
        cert_path.to_str().expect("path"),
        "--tls-key",
        key_path.to_str().expect("path"),
    ]);

    let page = tls_request(server.addr, &cert, "GET", "/login", &[], b"");
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
            &cert,
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
        &cert,
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
        &cert,
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
    let cookie = session.split(';').next().expect("pair");
    assert_eq!(
        tls_request(
            server.addr,
            &cert,
            "GET",
            "/inbox",
            &[("Cookie", cookie)],
            b""
        )
        .status,
        200
    );
}

#[test]
fn nobody_can_use_the_password_policy_to_guess_the_pin() {
    let server = Server::start();
    let addr = server.addr;
    let with_pin = format!("violet kettle orbit glacier {PIN}");
    let without_pin = "violet kettle orbit glacier 135790";
    // Anonymous meter: a password holding the real PIN gets the same verdict as one that does not.
    let ask = |password: &str| {
        client::post_json(
            addr,
            "/password-strength",
            None,
            &serde_json::json!({"password": password, "username": "eve", "name": "Eve"}),
        )
        .json()
    };
    let (a, b) = (ask(&with_pin), ask(without_pin));
    assert_eq!(a["acceptable"], b["acceptable"], "{a} vs {b}");
    assert_eq!(a["problems"], b["problems"], "{a} vs {b}");
    // Registration with a wrong PIN says only that the PIN is wrong, whatever the password holds.
    let wrong_a = web::try_register(addr, "eve", "Eve", &with_pin, &with_pin, "000000");
    let wrong_b = web::try_register(addr, "eve", "Eve", without_pin, without_pin, "000000");
    assert_eq!(wrong_a.status, wrong_b.status);
    assert!(wrong_a.text().contains("not correct"), "{}", wrong_a.text());
    assert!(
        !wrong_a
            .text()
            .contains("from your username, name or the PIN"),
        "{}",
        wrong_a.text()
    );
    // With the right PIN, a password built from it is refused with the reason.
    let right = web::try_register(addr, "eve", "Eve", &with_pin, &with_pin, PIN);
    assert_eq!(right.status, 400, "{}", right.text());
    assert!(right.text().contains("the PIN"), "{}", right.text());
}
