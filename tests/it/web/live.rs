//! `GET /live`, the endpoint open pages poll for new mail: it needs the session cookie and
//! refuses in JSON without one, answers 304 to the current tag and 200 with a new tag once mail
//! arrives, shows a member only their own rows, and limits each session on its own.

use std::time::Duration;

use serde_json::Value;

use crate::util::api;
use crate::util::client::Response;
use crate::util::web::{self, Browser};
use crate::util::{Server, eventually};

/// A member registered over the API and signed in to the pages.
fn signed_in(server: &Server, username: &str) -> Browser {
    api::register(server.addr, username);
    web::login(server.addr, username, api::PASSWORD)
}

fn poll(browser: &mut Browser, path: &str, etag: Option<&str>) -> Response {
    let mut headers = vec![("Accept", "application/json")];
    headers.extend(etag.map(|tag| ("If-None-Match", tag)));
    browser.request("GET", path, &headers, b"")
}

fn etag(response: &Response) -> String {
    response.header("ETag").expect("an ETag").to_string()
}

fn titles(answer: &Value) -> Vec<String> {
    answer["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["title"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The `data-live-etag` the page was rendered with.
fn page_etag(html: &str) -> String {
    let marker = "data-live-etag=\"";
    let start = html.find(marker).expect("a live tag on the page") + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or("")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
}

#[test]
fn the_poll_answers_304_while_nothing_changed_and_200_with_a_new_tag_after_new_mail() {
    let server = Server::start();
    let alice = api::member(server.addr, "alice");
    let mut bob = signed_in(&server, "bob");

    let first = poll(&mut bob, "/live?box=inbox", None);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("Cache-Control"), Some("no-store"));
    assert!(
        first
            .header("Content-Type")
            .unwrap_or("")
            .starts_with("application/json")
    );
    let answer = first.json();
    assert_eq!(answer["unread"], 0);
    assert_eq!(answer["box"], "inbox");
    assert!(titles(&answer).is_empty());
    let tag = etag(&first);

    // The page carries the same tag, so a freshly loaded page's first poll is a 304.
    let page = bob.get("/inbox");
    assert_eq!(page_etag(&page.text()), tag);

    let unchanged = poll(&mut bob, "/live?box=inbox", Some(&tag));
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.body.is_empty());
    assert_eq!(etag(&unchanged), tag);
    assert_eq!(unchanged.header("Cache-Control"), Some("no-store"));

    api::send(
        server.addr,
        &alice,
        "bob",
        "Lunch on Friday?",
        "At the corner place.",
    );
    let changed = poll(&mut bob, "/live?box=inbox", Some(&tag));
    assert_eq!(changed.status, 200, "new mail changes the tag");
    let new_tag = etag(&changed);
    assert_ne!(new_tag, tag);
    let answer = changed.json();
    assert_eq!(answer["unread"], 1);
    assert_eq!(titles(&answer), ["Lunch on Friday?"]);
    assert_eq!(answer["messages"][0]["correspondent"], "alice");
    assert_eq!(answer["messages"][0]["unread"], true);
    assert!(
        answer["messages"][0].get("body").is_none(),
        "no bodies in a listing"
    );
    assert_eq!(
        poll(&mut bob, "/live?box=inbox", Some(&new_tag)).status,
        304
    );

    // Without a box: the unread count alone, for the badge on every other page.
    let badge = poll(&mut bob, "/live", None);
    assert_eq!(badge.status, 200);
    let answer = badge.json();
    assert_eq!(answer["unread"], 1);
    assert!(titles(&answer).is_empty());
    assert_eq!(page_etag(&bob.get("/account").text()), etag(&badge));

    // Open tabs poll all day: an answered poll is no line in the access log, a page is.
    let logged = |line: &str| server.output().lines().any(|l| l.contains(line));
    assert!(eventually(Duration::from_secs(5), || logged(
        "GET /account 200"
    )));
    assert!(!logged(" /live "), "{}", server.output());
}

#[test]
fn the_poll_refuses_in_json_without_a_live_session() {
    let server = Server::start();
    let mut stranger = Browser::new(server.addr);
    for cookie in [None, Some("0123456789abcdef0123456789abcdef")] {
        if let Some(value) = cookie {
            stranger.set_cookie("session", value);
        }
        let refused = poll(&mut stranger, "/live?box=inbox", None);
        assert_eq!(refused.status, 401, "{}", refused.text());
        assert!(refused.header("Location").is_none(), "not a login redirect");
        assert!(
            refused
                .header("Content-Type")
                .unwrap_or("")
                .starts_with("application/json")
        );
        assert_eq!(refused.json()["error"]["code"], "unauthenticated");
    }
    let mut bob = signed_in(&server, "bob");
    let odd = poll(&mut bob, "/live?box=trash", None);
    assert_eq!(odd.status, 400);
    assert!(
        odd.header("Content-Type")
            .unwrap_or("")
            .starts_with("application/json")
    );
    // After logging out, the same cookie no longer polls.
    let mut old = bob.clone();
    let token = web::csrf_token(&bob.get("/inbox").text());
    bob.post_raw("/logout", &[("csrf_token", &token)]);
    assert_eq!(poll(&mut old, "/live", None).status, 401);
}

#[test]
fn a_member_polls_only_their_own_mail() {
    let server = Server::start();
    let alice = api::member(server.addr, "alice");
    let mut bob = signed_in(&server, "bob");
    let mut carol = signed_in(&server, "carol");
    api::send(server.addr, &alice, "bob", "For Bob only", "Secret plans.");
    api::send(server.addr, &alice, "carol", "For Carol", "Hello Carol.");

    let bobs = poll(&mut bob, "/live?box=inbox", None);
    let carols = poll(&mut carol, "/live?box=inbox", None);
    assert_eq!(titles(&bobs.json()), ["For Bob only"]);
    assert_eq!(titles(&carols.json()), ["For Carol"]);
    assert!(!carols.text().contains("For Bob only"));
    assert!(titles(&poll(&mut carol, "/live?box=sent", None).json()).is_empty());
    // Bob's tag is no tag of Carol's: she gets her own answer, not a 304.
    let crossed = poll(&mut carol, "/live?box=inbox", Some(&etag(&bobs)));
    assert_eq!(crossed.status, 200);
    assert!(!crossed.text().contains("For Bob only"));
}

#[test]
fn each_session_has_its_own_poll_limit() {
    let server = Server::start();
    let mut bob = signed_in(&server, "bob");
    let mut tag = None;
    let mut limited = None;
    for n in 0..200 {
        let answer = poll(&mut bob, "/live", tag.as_deref());
        if answer.status == 429 {
            limited = Some((n, answer));
            break;
        }
        assert!(matches!(answer.status, 200 | 304), "{}", answer.text());
        tag = Some(etag(&answer));
    }
    let (n, answer) = limited.expect("the poll is rate limited");
    assert_eq!(n, 120, "120 polls a minute pass");
    let retry: u64 = answer
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(answer.json()["error"]["code"], "rate_limited");
    // Another session of the same member, from the same address, polls on.
    let mut other = web::login(server.addr, "bob", api::PASSWORD);
    assert_eq!(poll(&mut other, "/live", None).status, 200);
    // And the limit holds back only the poll: the pages still work.
    assert_eq!(bob.get("/inbox").status, 200);
}
