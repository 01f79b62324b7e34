//! The account page's list of sessions: each is named by its browser and system, address and
//! last activity ("Firefox on Windows · 127.0.0.2 · active ..."), the current one says "this
//! device"; one can be ended, or all others at once; and a handle of another member's session
//! ends nothing and is answered exactly like a handle that does not exist.

use super::text;
use crate::util::api;
use crate::util::web::{self, Browser, csrf_token};

const FIREFOX_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Logs in through the form, sending `user_agent` like that browser would.
fn login_with(browser: &mut Browser, username: &str, user_agent: &str) {
    let headers = [("User-Agent", user_agent)];
    let page = browser.request("GET", "/login", &headers, b"");
    let token = csrf_token(&page.text());
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("username", username),
            ("password", api::PASSWORD),
            ("csrf_token", token.as_str()),
        ])
        .finish();
    let form = [
        ("User-Agent", user_agent),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let response = browser.request("POST", "/login", &form, body.as_bytes());
    assert_eq!(
        response.header("Location"),
        Some("/inbox"),
        "{}",
        response.text()
    );
}

/// The `handle` values of the End buttons on an account page, in order.
fn handles(html: &str) -> Vec<String> {
    let sessions = &html[..html.find("tokens-title").expect("tokens section")];
    sessions
        .split("name=\"handle\" value=\"")
        .skip(1)
        .map(|rest| rest[..32].to_string())
        .collect()
}

fn end(browser: &mut Browser, handle: &str) -> crate::util::client::Response {
    browser.submit("/account", "/account/sessions/end", &[("handle", handle)])
}

#[test]
fn sessions_are_named_by_browser_and_can_be_ended_one_or_all_but_this_one() {
    let server = crate::util::Server::start();
    api::register(server.addr, "alice");
    let mut here = Browser::new(server.addr);
    login_with(&mut here, "alice", CHROME_LINUX);
    let mut laptop = Browser::from_ip(server.addr, "127.0.0.2");
    login_with(&mut laptop, "alice", FIREFOX_WINDOWS);

    let page = text(&here.get("/account"));
    assert!(
        page.contains("Chrome on Linux · 127.0.0.1 · active <time"),
        "{page}"
    );
    assert!(page.contains("Firefox on Windows · 127.0.0.2 · active <time"));
    assert_eq!(page.matches("this device").count(), 1);
    let current = &page[page.find("Chrome on Linux").expect("listed")..];
    let current = &current[..current.find("</p>").expect("end of line")];
    assert!(current.contains("this device"), "{current}");
    assert!(!page.contains("Gecko/20100101"), "no raw user agent");

    // End the laptop's session: only it goes.
    let listed = handles(&page);
    assert_eq!(listed.len(), 1, "no End button for this device");
    let ended = end(&mut here, &listed[0]);
    assert_eq!(ended.header("Location"), Some("/account?done=session"));
    assert!(web::is_login_redirect(&laptop.get("/inbox")));
    assert_eq!(here.get("/inbox").status, 200);
    assert!(!text(&here.get("/account")).contains("Firefox on Windows"));

    // End all others: two more sessions go, this one stays.
    let mut phone = Browser::from_ip(server.addr, "127.0.0.3");
    login_with(&mut phone, "alice", CHROME_LINUX);
    let mut tablet = Browser::new(server.addr);
    login_with(&mut tablet, "alice", FIREFOX_WINDOWS);
    assert_eq!(handles(&text(&here.get("/account"))).len(), 2);
    let all = here.submit("/account", "/account/sessions/end-others", &[]);
    assert_eq!(all.header("Location"), Some("/account?done=sessions"));
    assert!(web::is_login_redirect(&phone.get("/inbox")));
    assert!(web::is_login_redirect(&tablet.get("/inbox")));
    let after = text(&here.get("/account"));
    assert!(handles(&after).is_empty());
    assert!(after.contains("this device"));
}

#[test]
fn another_members_session_handle_ends_nothing_and_looks_missing() {
    let server = crate::util::Server::start();
    api::register(server.addr, "alice");
    api::register(server.addr, "bob");
    let mut alice = web::login(server.addr, "alice", api::PASSWORD);
    let mut bob = web::login(server.addr, "bob", api::PASSWORD);
    let mut bob_elsewhere = web::login(server.addr, "bob", api::PASSWORD);
    let bobs = handles(&text(&bob.get("/account")));
    assert_eq!(bobs.len(), 1, "Bob's other session");

    let forged = end(&mut alice, &bobs[0]);
    let missing = end(&mut alice, "0123456789abcdef0123456789abcdef");
    assert_eq!(forged.status, 404);
    assert_eq!(missing.status, forged.status);
    let strip = |html: String| {
        // The only difference two answers may have is their request id.
        html.lines()
            .filter(|l| !l.contains("Reference"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(text(&forged)), strip(text(&missing)));
    assert_eq!(
        bob_elsewhere.get("/inbox").status,
        200,
        "Bob's session lives"
    );
    assert_eq!(bob.get("/inbox").status, 200);
    // "End all others" of Alice leaves Bob's sessions alone too.
    alice.submit("/account", "/account/sessions/end-others", &[]);
    assert_eq!(bob_elsewhere.get("/inbox").status, 200);
    assert_eq!(handles(&text(&bob.get("/account"))).len(), 1);
}
