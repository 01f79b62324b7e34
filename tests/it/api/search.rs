//! Searching a mailbox over the API, `GET /api/v1/messages?box=&q=`: one box per request,
//! matches newest first, continued with `cursor`, never another member's mail, never marking
//! anything read; the refusals (too long, too many words, with `since`, a foreign cursor, no
//! token) and the per-member rate limit.

use super::*;

fn search(addr: std::net::SocketAddr, bearer: &str, query: &str) -> Response {
    call(
        addr,
        "GET",
        &format!("/api/v1/messages?{query}"),
        Some(bearer),
        None,
    )
}

#[test]
fn search_finds_body_words_in_one_box_at_a_time_and_nothing_of_others() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let carol = member(addr, "carol");
    let received = message_id(&send(
        addr,
        &bob,
        "alice",
        "Invoice",
        "Die Überweisung kam an",
    ));
    let sent = message_id(&send(
        addr,
        &alice,
        "bob",
        "Re: Invoice",
        "danke für die überweisung",
    ));
    send(
        addr,
        &bob,
        "carol",
        "Elsewhere",
        "überweisung between others",
    );
    send(addr, &carol, "bob", "Elsewhere too", "zebra");

    let inbox = expect(&search(addr, &alice, "box=inbox&q=%C3%BCBERWEISUNG"), 200);
    assert_eq!(ids(&inbox), std::slice::from_ref(&received));
    assert_eq!(inbox["next_cursor"], Value::Null);
    assert_eq!(inbox["scanned"], 1);
    assert_eq!(
        inbox["messages"][0]["read"], false,
        "searching marks nothing read"
    );
    assert!(
        inbox["messages"][0].get("body").is_none(),
        "summaries, as listings"
    );
    let sent_box = expect(
        &search(addr, &alice, "box=sent&q=danke+%C3%BCberweisung"),
        200,
    );
    assert_eq!(ids(&sent_box), [sent]);
    let nothing = expect(&search(addr, &alice, "box=inbox&q=zebra"), 200);
    assert!(ids(&nothing).is_empty());
    let unread = get_ok(addr, &alice, "/api/v1/messages?box=inbox");
    assert_eq!(unread["messages"][0]["read"], false);
    assert_eq!(ids(&unread), [received]);
}

#[test]
fn search_pages_with_cursor_and_refuses_foreign_cursors() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let mut sent: Vec<String> = (0..5)
        .map(|i| message_id(&send(addr, &bob, "alice", &format!("match {i}"), "")))
        .collect();
    send(addr, &bob, "alice", "other", "");
    sent.reverse();
    let first = expect(&search(addr, &alice, "q=match&limit=2"), 200);
    let mut seen = ids(&first);
    let mut next = first["next_cursor"].as_str().map(str::to_string);
    while let Some(cursor) = next {
        let page = expect(
            &search(addr, &alice, &format!("q=match&limit=2&cursor={cursor}")),
            200,
        );
        seen.extend(ids(&page));
        next = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, sent, "every match once, newest first");

    let cursor = first["next_cursor"].as_str().expect("a cursor").to_string();
    for (who, query) in [
        (&bob, format!("box=inbox&q=match&cursor={cursor}")),
        (&alice, format!("box=sent&q=match&cursor={cursor}")),
        (&alice, format!("q=match&cursor={}", "A".repeat(50))),
    ] {
        let refused = expect(&search(addr, who, &query), 400);
        assert_eq!(fields(&refused), ["cursor"], "{query}");
    }
}

#[test]
fn bad_queries_are_refused_with_the_parameter_named() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let since = get_ok(addr, &alice, "/api/v1/messages")["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    for (query, says) in [
        (format!("q={}", "a".repeat(201)), "at most 200 characters"),
        ("q=a+b+c+d+e+f+g+h+i+j+k".to_string(), "at most 10 words"),
        ("q=a+a+a+a+a+a+a+a+a+a+a".to_string(), "at most 10 words"),
        ("q=+++".to_string(), "a word"),
        (
            format!("q=hello&since={since}"),
            "cannot be combined with since",
        ),
        ("q=a&q=b".to_string(), "more than once"),
    ] {
        let refused = expect(&search(addr, &alice, &query), 400);
        assert_eq!(fields(&refused), ["q"], "{query}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{query}: {refused}");
    }
    expect(
        &search(addr, &alice, &format!("q={}", "a".repeat(200))),
        200,
    );
    let anonymous = crate::util::api::try_call(addr, "GET", "/api/v1/messages?q=a", None, None)
        .expect("request");
    assert_eq!(anonymous.status, 401);
}

#[test]
fn searches_are_rate_limited_per_member() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    for _ in 0..60 {
        expect(&search(addr, &alice, "q=anything"), 200);
    }
    let limited = search(addr, &alice, "q=anything");
    assert_eq!(limited.status, 429);
    assert!(limited.header("Retry-After").is_some());
    // The page counts under the same member: a browser is no way around the limit.
    let mut page = crate::util::web::login(addr, "alice", PASSWORD);
    let limited_page = page.get("/search?q=anything");
    assert_eq!(limited_page.status, 429, "{}", limited_page.text());
    assert!(limited_page.header("Retry-After").is_some());
    // Listing is not searching, and another member has their own allowance.
    get_ok(addr, &alice, "/api/v1/messages");
    expect(&search(addr, &bob, "q=anything"), 200);
}
