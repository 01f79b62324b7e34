//! Listing, paging and polling mailboxes, and the opaque cursors that drive them.

use super::*;

#[test]
fn pagination_returns_every_message_once_while_new_ones_arrive() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let mut before: Vec<String> = (0..23)
        .map(|i| message_id(&send(addr, &alice, "bob", &format!("m{i}"), "")))
        .collect();
    before.reverse(); // newest first

    let first = get_ok(addr, &bob, "/api/v1/messages?box=inbox&limit=5");
    let start_cursor = first["cursor"].as_str().expect("cursor").to_string();
    let mut seen = ids(&first);
    let mut next = first["next_cursor"].as_str().map(str::to_string);
    let mut arrived = Vec::new();
    while let Some(cursor) = next {
        arrived.push(message_id(&send(addr, &alice, "bob", "late", "")));
        let page = get_ok(
            addr,
            &bob,
            &format!("/api/v1/messages?box=inbox&limit=5&cursor={cursor}"),
        );
        assert!(
            page["messages"]
                .as_array()
                .is_some_and(|m| !m.is_empty() && m.len() <= 5)
        );
        seen.extend(ids(&page));
        next = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(
        seen, before,
        "every message exactly once, newest first, none of the late ones"
    );

    // Polling from the first page's cursor yields exactly the late arrivals, oldest first.
    let poll = get_ok(
        addr,
        &bob,
        &format!("/api/v1/messages?box=inbox&since={start_cursor}"),
    );
    assert_eq!(ids(&poll), arrived);
    assert!(poll.get("next_cursor").is_none());
}

#[test]
fn polling_with_since_returns_exactly_the_new_messages_in_order() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    send(addr, &alice, "bob", "old", "");
    let cursor = get_ok(addr, &bob, "/api/v1/messages?box=inbox&limit=1")["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let empty = get_ok(addr, &bob, &format!("/api/v1/messages?since={cursor}"));
    assert_eq!(
        (ids(&empty).len(), empty["cursor"].as_str()),
        (0, Some(cursor.as_str()))
    );

    let new: Vec<String> = (0..3)
        .map(|i| message_id(&send(addr, &alice, "bob", &format!("new {i}"), "")))
        .collect();
    send(addr, &bob, "alice", "a reply is not in bob's inbox", "");
    let poll = get_ok(
        addr,
        &bob,
        &format!("/api/v1/messages?box=inbox&since={cursor}"),
    );
    assert_eq!(ids(&poll), new);
    assert!(
        poll["messages"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m.get("body").is_none()))
    );

    // A small limit hands them out in order across polls.
    let one = get_ok(
        addr,
        &bob,
        &format!("/api/v1/messages?since={cursor}&limit=2"),
    );
    assert_eq!(ids(&one), new[..2]);
    let since = |page: &Value| {
        let cursor = page["cursor"].as_str().expect("cursor");
        get_ok(addr, &bob, &format!("/api/v1/messages?since={cursor}"))
    };
    assert_eq!(ids(&since(&one)), new[2..]);
    assert!(ids(&since(&poll)).is_empty());
}

#[test]
fn cursors_are_opaque_and_bound_to_their_member_and_mailbox() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let carol = member(addr, "carol");
    send(addr, &alice, "bob", "first", "");
    let list = |token: &str, query: &str| {
        call(
            addr,
            "GET",
            &format!("/api/v1/messages?{query}"),
            Some(token),
            None,
        )
    };
    let bob_inbox = expect(&list(&bob, "box=inbox"), 200)["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    // Not a number: a member cannot read the server-wide message count from it.
    assert!(bob_inbox.parse::<u64>().is_err(), "{bob_inbox}");
    assert!(
        bob_inbox.len() >= 40
            && bob_inbox
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{bob_inbox}"
    );
    // Other members' traffic does not move it.
    for i in 0..5 {
        send(addr, &alice, "carol", &format!("to carol {i}"), "");
    }
    let again = expect(&list(&bob, "box=inbox"), 200)["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    assert_eq!(again, bob_inbox);
    // Someone else's cursor, another mailbox's cursor, or a made-up one is refused.
    for (token, query) in [
        (&carol, format!("box=inbox&since={bob_inbox}")),
        (&bob, format!("box=sent&since={bob_inbox}")),
        (&bob, "box=inbox&since=999999999".to_string()),
        (&bob, "box=inbox&cursor=0".to_string()),
    ] {
        let refused = expect(&list(token, &query), 400);
        assert_eq!(
            refused["error"]["details"][0]["field"]
                .as_str()
                .map(|f| f.trim_start_matches('/')),
            Some(if query.contains("since") {
                "since"
            } else {
                "cursor"
            }),
            "{refused}"
        );
    }
    // And the right one still polls.
    send(addr, &alice, "bob", "second", "");
    let poll = expect(&list(&bob, &format!("box=inbox&since={bob_inbox}")), 200);
    assert_eq!(poll["messages"].as_array().map(Vec::len), Some(1));
}
