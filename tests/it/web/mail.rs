//! Inbox, sent, compose, read and delete through the pages, and what a member may not see.

use super::*;

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
    assert!(inbox.contains("<li class=\"unread\">"), "unread marker");
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
        inbox.contains("No unread messages") && !inbox.contains("<li class=\"unread\">"),
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

/// The inbox page is rendered once and reused while nothing in it changes; what is reused must
/// never carry another session's CSRF token, another member's mail, or a stale unread mark.
#[test]
fn a_reused_mailbox_page_is_fresh_and_carries_the_sessions_own_token() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    web::register(addr, "bob", "Bob", OTHER_PASSWORD);
    let mut alice = web::login(addr, "alice", PASSWORD);
    assert_eq!(
        web::send(&mut alice, "bob", "Garden plans", "Roses?").status,
        303
    );
    let mut first = web::login(addr, "bob", OTHER_PASSWORD);
    let mut second = web::login(addr, "bob", OTHER_PASSWORD);

    let page_first = text(&first.get("/inbox"));
    assert_eq!(
        text(&first.get("/inbox")),
        page_first,
        "a reload is the same page"
    );
    let page_second = text(&second.get("/inbox"));
    let (token_first, token_second) = (csrf_token(&page_first), csrf_token(&page_second));
    assert_ne!(token_first, token_second, "each session has its own token");
    assert!(
        !page_second.contains(&token_first),
        "no other session's token"
    );
    assert_eq!(
        page_first.replace(&token_first, &token_second),
        page_second,
        "the token is the only part that differs between the sessions"
    );

    // The other session's token is refused; the page's own one works.
    let refused = second.post_raw("/logout", &[("csrf_token", &token_first)]);
    assert_eq!(refused.status, 403);
    let logged_out = second.post_raw("/logout", &[("csrf_token", &token_second)]);
    assert_eq!(logged_out.status, 303);
    assert!(web::is_login_redirect(&second.get("/inbox")));

    // Another member never gets bob's page, and bob's page follows every change.
    let alice_inbox = text(&alice.get("/inbox"));
    assert!(alice_inbox.contains("Your inbox is empty") && !alice_inbox.contains("Garden plans"));
    assert_eq!(
        web::send(&mut alice, "bob", "Second note", "Tulips.").status,
        303
    );
    let page = text(&first.get("/inbox"));
    assert!(
        page.contains("2 unread messages") && page.contains("Second note"),
        "{page}"
    );
    let id = message_ids(&page)[0].clone();
    assert_eq!(first.get(&format!("/messages/{id}")).status, 200);
    let page = text(&first.get("/inbox"));
    assert!(page.contains("1 unread message"), "{page}");
    assert_eq!(page.matches("<li class=\"unread\">").count(), 1, "{page}");
    let sent = text(&alice.get("/sent"));
    assert!(sent.contains("Second note") && sent.contains("Garden plans"));
}
