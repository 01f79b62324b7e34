//! The API keeps the list of an unchanged mailbox page for reuse: every answer must still be
//! the one a fresh read would give, for that member, that page and that size, with cursors
//! that work.

use super::*;

/// `(id, read)` of every listed message, in order.
fn marks(list: &Value) -> Vec<(String, bool)> {
    list["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().expect("id").to_string(),
                m["read"].as_bool().expect("read"),
            )
        })
        .collect()
}

#[test]
fn a_repeated_list_shows_every_change_made_between_the_calls() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let mut sent: Vec<String> = (0..4)
        .map(|i| message_id(&send(addr, &alice, "bob", &format!("m{i}"), "")))
        .collect();
    sent.reverse(); // newest first
    let inbox =
        |token: &str, query: &str| get_ok(addr, token, &format!("/api/v1/messages?{query}"));

    let first = inbox(&bob, "box=inbox");
    let again = inbox(&bob, "box=inbox");
    assert_eq!(
        first, again,
        "an unchanged mailbox lists the same, cursors included"
    );
    assert_eq!(ids(&again), sent);
    assert!(marks(&again).iter().all(|(_, read)| !read));
    // The whole answer is what a fresh one holds: titles, participants, times.
    let titles: Vec<&str> = again["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["m3", "m2", "m1", "m0"]);

    // Reading one flips its mark in the next list.
    get_ok(addr, &bob, &format!("/api/v1/messages/{}", sent[1]));
    let read = marks(&inbox(&bob, "box=inbox"));
    assert_eq!(read[1], (sent[1].clone(), true));
    assert!(
        read.iter().enumerate().all(|(i, (_, r))| *r == (i == 1)),
        "{read:?}"
    );

    // Deleting one drops it; a new one comes first; the cursor moves with it.
    let deleted = call(
        addr,
        "DELETE",
        &format!("/api/v1/messages/{}", sent[2]),
        Some(&bob),
        None,
    );
    assert_eq!(deleted.status, 204);
    assert!(!ids(&inbox(&bob, "box=inbox")).contains(&sent[2]));
    let newest = message_id(&send(addr, &alice, "bob", "late", ""));
    let after = inbox(&bob, "box=inbox");
    assert_eq!(
        ids(&after),
        [
            newest.clone(),
            sent[0].clone(),
            sent[1].clone(),
            sent[3].clone()
        ]
    );
    assert_ne!(after["cursor"], first["cursor"]);

    // Another member's lists are their own: alice's inbox is empty, her sent box full.
    assert!(ids(&inbox(&alice, "box=inbox")).is_empty());
    assert_eq!(ids(&inbox(&alice, "box=sent")).len(), 5);
    // (A sent box has no unread mark: every message in it reads as read.)
    assert!(
        marks(&inbox(&alice, "box=sent"))
            .iter()
            .all(|(_, read)| *read)
    );

    // Another size or another page is its own list, and its cursors page and poll.
    let two = inbox(&bob, "box=inbox&limit=2");
    assert_eq!(ids(&two), [newest.clone(), sent[0].clone()]);
    assert_eq!(ids(&inbox(&bob, "box=inbox&limit=3")).len(), 3);
    let next = two["next_cursor"].as_str().expect("next_cursor");
    for _ in 0..2 {
        let older = inbox(&bob, &format!("box=inbox&limit=2&cursor={next}"));
        assert_eq!(ids(&older), [sent[1].clone(), sent[3].clone()]);
        assert!(older["next_cursor"].is_null(), "{older}");
    }
    let cursor = inbox(&bob, "box=inbox&limit=2")["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let arrived = message_id(&send(addr, &alice, "bob", "later", ""));
    let poll = inbox(&bob, &format!("box=inbox&since={cursor}"));
    assert_eq!(ids(&poll), [arrived]);
}

#[test]
fn lists_taken_while_messages_are_being_read_never_go_back_in_time() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let sent: Vec<String> = (0..12)
        .map(|i| message_id(&send(addr, &alice, "bob", &format!("m{i}"), "")))
        .collect();
    // One thread reads the messages one by one while two others list the inbox: a message
    // seen read in one list must stay read in every later list of the same thread (marks
    // only ever go from unread to read), and once the reader is done, all are read.
    let reader = {
        let (bob, sent) = (bob.clone(), sent.clone());
        std::thread::spawn(move || {
            for id in &sent {
                get_ok(addr, &bob, &format!("/api/v1/messages/{id}"));
            }
        })
    };
    let listers: Vec<_> = (0..2)
        .map(|_| {
            let bob = bob.clone();
            std::thread::spawn(move || {
                let mut seen_read = HashSet::new();
                for _ in 0..60 {
                    let list = get_ok(addr, &bob, "/api/v1/messages?box=inbox");
                    let now: HashSet<String> = marks(&list)
                        .into_iter()
                        .filter_map(|(id, read)| read.then_some(id))
                        .collect();
                    assert!(
                        seen_read.is_subset(&now),
                        "a list forgot a read mark: had {seen_read:?}, now {now:?}"
                    );
                    seen_read = now;
                }
            })
        })
        .collect();
    reader.join().expect("reader");
    for lister in listers {
        lister.join().expect("lister");
    }
    let last = marks(&get_ok(addr, &bob, "/api/v1/messages?box=inbox"));
    assert_eq!(last.len(), sent.len());
    assert!(last.iter().all(|(_, read)| *read), "{last:?}");
}
