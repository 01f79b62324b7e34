//! Searching one's own mail through the page `/search`: what it finds (bodies, both boxes,
//! any case, any script), what it never shows (other members' mail, unescaped markup), the
//! marks, the continuation once the scan budget (2,000 messages a request) runs out, the
//! refusals, and that searching leaves no searchable plaintext in the data directory or a dump.
//!
//! Messages are sent through the API (quicker than the compose form); the searching is done
//! through the pages, as a member with a browser does it.

use super::*;
use crate::util::api;

/// A browser signed in as `username`, registered over the API with the API's test password.
fn api_member_browser(addr: std::net::SocketAddr, username: &str) -> (String, Browser) {
    let token = api::member(addr, username);
    (token, web::login(addr, username, api::PASSWORD))
}

fn search(browser: &mut Browser, words: &str) -> Response {
    let q: String = form_urlencoded::byte_serialize(words.as_bytes()).collect();
    browser.get(&format!("/search?q={q}"))
}

/// The "older" link of a results page, with `&amp;` read back as `&`.
fn next_link(html: &str) -> Option<String> {
    let start = html.find("href=\"/search?")? + "href=\"".len();
    let href = html[start..].split('"').next()?;
    Some(href.replace("&amp;", "&"))
}

#[test]
fn search_finds_own_mail_in_bodies_and_both_boxes_and_never_others_mail() {
    let server = Server::start();
    let addr = server.addr;
    let (alice_token, mut alice) = api_member_browser(addr, "alice");
    let bob = api::member(addr, "bob");
    let carol = api::member(addr, "carol");
    api::send(
        addr,
        &bob,
        "alice",
        "Quarterly figures",
        "The Überweisung went out on Monday.",
    );
    api::send(
        addr,
        &alice_token,
        "carol",
        "Notes",
        "überweisung confirmed by the bank",
    );
    api::send(
        addr,
        &bob,
        "carol",
        "Private",
        "ÜBERWEISUNG xylophone secret",
    );
    api::send(addr, &carol, "bob", "Also private", "xylophone again");

    let found = text(&search(&mut alice, "überweisung"));
    assert!(
        found.contains("<mark>Überweisung</mark>"),
        "inbox body: {found}"
    );
    assert!(
        found.contains("<mark>überweisung</mark>"),
        "sent body: {found}"
    );
    assert_eq!(message_ids(&found).len(), 2, "{found}");
    assert!(
        !found.contains("xylophone") && !found.contains("Private"),
        "{found}"
    );
    let order = (found.find("Notes"), found.find("Quarterly figures"));
    assert!(
        matches!(order, (Some(a), Some(b)) if a < b),
        "newest first: {found}"
    );

    let upper = text(&search(&mut alice, "ÜBERWEISUNG MONDAY"));
    assert_eq!(
        message_ids(&upper).len(),
        1,
        "every word must match: {upper}"
    );
    assert!(upper.contains("<mark>Monday</mark>"), "{upper}");
    let title = text(&search(&mut alice, "quarterly"));
    assert!(title.contains("<mark>Quarterly</mark> figures"), "{title}");

    let others = text(&search(&mut alice, "xylophone"));
    assert!(
        message_ids(&others).is_empty() && others.contains("No messages match"),
        "{others}"
    );

    // Searching reads only: the message found in the inbox is still unread.
    let inbox = api::get_ok(addr, &alice_token, "/api/v1/messages?box=inbox");
    assert_eq!(inbox["messages"][0]["read"], false, "{inbox}");
    // The navigation's box holds the query on the results page.
    assert!(title.contains("id=\"nav-q\" name=\"q\"") && title.contains("value=\"quarterly\""));
}

#[test]
fn markup_in_a_message_is_shown_as_text_in_results() {
    let server = Server::start();
    let addr = server.addr;
    let (_, mut alice) = api_member_browser(addr, "alice");
    let bob = api::member(addr, "bob");
    api::send(
        addr,
        &bob,
        "alice",
        "<b>needle</b> title",
        "before <script>alert(\"needle\")</script> <img src=x onerror=alert(1)> after",
    );
    let html = text(&search(&mut alice, "needle"));
    assert!(
        !html.contains("<script>alert") && !html.contains("<img src=x"),
        "{html}"
    );
    assert!(
        html.contains("&lt;b&gt;<mark>needle</mark>&lt;&#x2f;b&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(&quot;<mark>needle</mark>&quot;)"),
        "{html}"
    );
    // A word that is part of the markup is marked as text too, never inside a tag.
    let tag = text(&search(&mut alice, "script"));
    assert!(tag.contains("&lt;<mark>script</mark>&gt;"), "{tag}");
}

#[test]
fn bad_queries_and_links_are_refused_and_the_page_needs_a_session() {
    let server = Server::start();
    let addr = server.addr;
    let (_, mut alice) = api_member_browser(addr, "alice");

    let blank = alice.get("/search");
    assert_eq!(blank.status, 200);
    assert!(text(&blank).contains("Words to find") && message_ids(&text(&blank)).is_empty());

    let long = search(&mut alice, &"a".repeat(201));
    assert_eq!(long.status, 400);
    assert_field_error(&long, "q", "at most 200 characters");
    let many = search(&mut alice, "a b c d e f g h i j k");
    assert_eq!(many.status, 400);
    assert_field_error(&many, "q", "at most 10 words");

    let forged =
        alice.get("/search?q=hello&before=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(forged.status, 400);
    assert!(text(&forged).contains("That page link is not valid."));

    let anonymous = client::get(addr, "/search?q=hello");
    assert!(web::is_login_redirect(&anonymous), "{}", anonymous.status);
}

/// Demo data with `n` generated messages in `dir`; the printed passwords of alice, bob, carol.
fn demo_with(dir: &std::path::Path, n: usize) -> Vec<String> {
    let output = crate::util::run(dir, &["demo", "--messages", &n.to_string()], b"");
    assert!(output.status.success(), "{}", crate::util::stderr(&output));
    crate::util::stdout(&output)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1).filter(|p| p.len() >= 20))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_search_past_the_budget_continues_with_older_messages() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("data");
    // Alice is in two thirds of the generated messages: 3,100 give her 2,067 with the demo's
    // own, just over one budget of 2,000.
    let passwords = demo_with(&dir, 3_100);
    let server = Server::start_in(&dir, &[]);
    let addr = server.addr;
    let mut alice = web::login(addr, "alice", &passwords[0]);

    let first = text(&search(&mut alice, "zzabsent"));
    assert!(first.contains("Searched 2000 messages"), "{first}");
    assert!(first.contains("Search older messages"), "{first}");
    let older = next_link(&first).expect("a link to search older messages");
    let second = text(&alice.get(&older));
    assert!(second.contains("No older messages match"), "{second}");
    assert!(
        next_link(&second).is_none(),
        "the end of the mailbox: {second}"
    );

    // A full page of matches links to older matches, not to a budget continuation.
    let full = text(&search(&mut alice, "generated"));
    assert_eq!(message_ids(&full).len(), 20);
    assert!(
        full.contains("Older matches") && !full.contains("Searched "),
        "{full}"
    );
    assert!(
        full.contains("<mark>Generated</mark> message 3099"),
        "newest first: {full}"
    );

    // The link is alice's: it opens for nobody else.
    let mut bob = web::login(addr, "bob", &passwords[1]);
    let stolen = bob.get(&older);
    assert_eq!(stolen.status, 400, "{}", text(&stolen));
}

#[test]
fn searching_leaves_no_searchable_plaintext_on_disk_or_in_a_dump() {
    let mut server = Server::start();
    let addr = server.addr;
    let (alice_token, mut alice) = api_member_browser(addr, "alice");
    let bob = api::member(addr, "bob");
    api::send(
        addr,
        &bob,
        "alice",
        "Quokkaflux report",
        "the quokkaflux numbers",
    );
    api::send(addr, &alice_token, "bob", "Re: numbers", "more Quokkaflux");
    let found = text(&search(&mut alice, "quokkaflux"));
    assert_eq!(message_ids(&found).len(), 2, "{found}");
    // A word searched for that no message holds: the query itself must not be kept either.
    assert!(text(&search(&mut alice, "wombatzeal")).contains("No messages match"));
    let api_found = api::get_ok(addr, &alice_token, "/api/v1/messages?box=sent&q=QUOKKAFLUX");
    assert_eq!(api::ids(&api_found).len(), 1);
    assert!(server.stop().success());

    let words: [&[u8]; 4] = [b"quokkaflux", b"Quokkaflux", b"QUOKKAFLUX", b"wombatzeal"];
    for word in words {
        assert_eq!(
            crate::util::dir_contains(&server.dir, word),
            None,
            "{word:?} on disk"
        );
    }
    // The scan reads the files that matter: usernames are stored in the clear.
    assert!(crate::util::dir_contains(&server.dir, b"alice").is_some());
    let dump = crate::util::run(&server.dir, &["dump", "--output", "-"], b"");
    assert!(dump.status.success(), "{}", crate::util::stderr(&dump));
    assert!(crate::util::contains(&dump.stdout, b"alice"));
    for word in words {
        assert!(
            !crate::util::contains(&dump.stdout, word),
            "{word:?} in the dump"
        );
    }
}
