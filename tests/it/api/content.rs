//! What goes in comes out: usernames refused, message ids, byte-for-byte round trips.

use super::*;

#[test]
fn duplicate_invalid_and_reserved_usernames_are_refused() {
    let server = Server::start();
    let addr = server.addr;
    register(addr, "alice");
    for taken in ["alice", "ALICE", "Alice", "admin", "system"] {
        let refused = expect(
            &call(
                addr,
                "POST",
                "/api/v1/users",
                None,
                Some(&registration(taken)),
            ),
            409,
        );
        assert_eq!(
            (refused["error"]["code"].as_str(), fields(&refused)),
            (Some("username_taken"), vec!["/username".to_string()]),
            "{taken}"
        );
    }
    let too_long = "a".repeat(33);
    for invalid in ["al", "al ice", "ålice", "alice!", "", too_long.as_str()] {
        let refused = expect(
            &call(
                addr,
                "POST",
                "/api/v1/users",
                None,
                Some(&registration(invalid)),
            ),
            400,
        );
        let mut refused_fields = fields(&refused);
        refused_fields.dedup(); // an empty name breaks both the length and the pattern rule
        assert_eq!(refused_fields, ["/username"], "{invalid:?}");
    }
    let mut wrong_pin = registration("carol");
    wrong_pin["pin"] = json!("000000");
    assert_eq!(
        expect(
            &call(addr, "POST", "/api/v1/users", None, Some(&wrong_pin)),
            400
        )["error"]["code"],
        "wrong_pin"
    );
    let mut weak = registration("carol");
    weak["password"] = json!("carolcarol12");
    assert_eq!(
        fields(&expect(
            &call(addr, "POST", "/api/v1/users", None, Some(&weak)),
            400
        )),
        ["/password"]
    );
    let mut extra = registration("carol");
    extra["password_confirm"] = json!(PASSWORD);
    extra["security_question"] = json!(9);
    assert_eq!(
        fields(&expect(
            &call(addr, "POST", "/api/v1/users", None, Some(&extra)),
            400
        )),
        ["/password_confirm", "/security_question"]
    );
    // None of the refusals created an account.
    expect(&create_token(addr, "carol", PASSWORD), 401);
}

#[test]
fn message_ids_are_distinct_random_hex() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let ids: Vec<u128> = (0..16)
        .map(|i| {
            let id = message_id(&send(addr, &alice, "alice", &format!("n{i}"), ""));
            assert!(
                id.len() == 32
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
            u128::from_str_radix(&id, 16).expect("hex")
        })
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    // Sequential or counter-like ids would sit close together; random 128-bit ids never do.
    for pair in ids.windows(2) {
        assert!(
            pair[0].abs_diff(pair[1]) > 1u128 << 64,
            "{:032x} and {:032x} are close",
            pair[0],
            pair[1]
        );
    }
    // Each bit position varies across the ids (a fixed prefix would show here).
    let (all_or, all_and) = ids
        .iter()
        .fold((0u128, u128::MAX), |(o, a), id| (o | id, a & id));
    assert!(
        all_or.count_ones() > 120 && all_and.count_ones() < 8,
        "{all_or:032x} {all_and:032x}"
    );
}

#[test]
fn what_is_sent_is_read_back_byte_for_byte() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let title = "Ünïcödé 🙂 — עברית e\u{301} \"quotes\" <tags> & \\";
    let line = "Zeile mit Umlauten äöü, emoji 🎉, CJK 漢字, RTL مرحبا, tab\t, NUL \u{0}, CR\r\n";
    let mut body = String::new();
    while body.len() + line.len() <= 64 * 1024 {
        body.push_str(line);
    }
    while body.len() < 64 * 1024 {
        body.push('x');
    }
    assert_eq!(body.len(), 64 * 1024);
    let id = message_id(&send(addr, &alice, "bob", title, &body));
    let read = get_ok(addr, &bob, &format!("/api/v1/messages/{id}"));
    assert_eq!(read["title"].as_str(), Some(title));
    assert_eq!(
        read["body"].as_str().map(str::as_bytes),
        Some(body.as_bytes())
    );
    let listed = get_ok(addr, &bob, "/api/v1/messages");
    assert_eq!(listed["messages"][0]["title"].as_str(), Some(title));

    // One byte more is refused, as a multi-byte body under the character limit and as a
    // plain one over it; both point at the body.
    let over_bytes = format!("{}é", &body[..64 * 1024 - 1]);
    let over_chars = "y".repeat(64 * 1024 + 1);
    for too_long in [over_bytes, over_chars] {
        let refused = expect(
            &call(
                addr,
                "POST",
                "/api/v1/messages",
                Some(&alice),
                Some(&json!({"to": "bob", "title": "t", "body": too_long})),
            ),
            400,
        );
        assert_eq!(fields(&refused), ["/body"]);
    }
    assert_eq!(ids(&get_ok(addr, &bob, "/api/v1/messages")).len(), 1);
}
