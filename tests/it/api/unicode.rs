//! Characters that make text read differently from what it is: bidirectional embeddings,
//! overrides and isolates (U+202A–U+202E, U+2066–U+2069) and invisible spacers (U+200B, U+2060,
//! U+FEFF) are refused in titles, names and usernames, while the joiners real text needs
//! (ZWNJ, ZWJ) and right-to-left text are accepted; a body keeps every character.

use super::*;

/// Every character the rule refuses.
const REFUSED: &[char] = &[
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200B}', '\u{2060}', '\u{FEFF}',
];

/// Text that must stay welcome: Persian with ZWNJ, a ZWJ emoji sequence, Hebrew, Arabic.
const WELCOME: &[&str] = &[
    "می\u{200C}خواهم",
    "family 👩\u{200D}👩\u{200D}👧",
    "שלום עולם",
    "مرحبا بالعالم",
];

const WORDS: &str = "invisible or direction-changing characters";

/// The error's message and its one field, after checking it is a 400.
fn refusal(response: &Response) -> (String, Vec<String>) {
    let error = expect(response, 400);
    let mut refused = fields(&error);
    refused.dedup();
    (
        error["error"]["message"].as_str().unwrap_or("").to_string(),
        refused,
    )
}

#[test]
fn titles_refuse_direction_and_invisible_characters_but_keep_real_text() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    for c in REFUSED {
        let title = format!("invoice {c}fdp.exe");
        let message = json!({"to": "alice", "title": title, "body": "x"});
        let answer = call(
            addr,
            "POST",
            "/api/v1/messages",
            Some(&alice),
            Some(&message),
        );
        let (text, refused) = refusal(&answer);
        assert_eq!(refused, ["/title"], "U+{:04X}", *c as u32);
        assert!(
            text.contains("title") && text.contains(WORDS),
            "U+{:04X}: {text}",
            *c as u32
        );
    }
    for title in WELCOME {
        let sent = send(addr, &alice, "alice", title, "x");
        assert_eq!(sent["title"].as_str(), Some(*title));
    }
}

#[test]
fn names_and_usernames_refuse_them_too() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    for c in REFUSED {
        let mut named = registration("carol");
        named["name"] = json!(format!("Carol{c} Example"));
        let answer = call(addr, "POST", "/api/v1/users", None, Some(&named));
        let (text, refused) = refusal(&answer);
        assert_eq!(refused, ["/name"], "U+{:04X}", *c as u32);
        assert!(text.contains(WORDS), "{text}");

        let change = json!({"name": format!("Alice{c}")});
        let answer = call(addr, "PATCH", "/api/v1/me", Some(&alice), Some(&change));
        assert_eq!(refusal(&answer).1, ["/name"]);

        let mut username = registration("carol");
        username["username"] = json!(format!("car{c}ol"));
        let answer = call(addr, "POST", "/api/v1/users", None, Some(&username));
        assert_eq!(refusal(&answer).1, ["/username"]);
    }
    for name in WELCOME {
        let change = json!({"name": name});
        let changed = expect(
            &call(addr, "PATCH", "/api/v1/me", Some(&alice), Some(&change)),
            200,
        );
        assert_eq!(changed["name"].as_str(), Some(*name));
    }
}

#[test]
fn bodies_keep_every_character_byte_for_byte() {
    let server = Server::start();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let body: String = REFUSED
        .iter()
        .map(|c| format!("a{c}b "))
        .collect::<String>()
        + WELCOME[0];
    let sent = send(addr, &alice, "alice", "controls", &body);
    let path = format!("/api/v1/messages/{}", sent["id"].as_str().expect("id"));
    let read = get_ok(addr, &alice, &path);
    assert_eq!(
        read["body"].as_str().map(str::as_bytes),
        Some(body.as_bytes())
    );
}
