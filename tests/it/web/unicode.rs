//! The pages' side of the direction and invisible-character rule: the compose and register
//! forms refuse such characters in titles and names with words a person understands, and a
//! message body shows each one as a visible marker instead of letting it reorder the text.

use super::*;

#[test]
fn forms_refuse_direction_changing_titles_and_names() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut alice = web::login(addr, "alice", PASSWORD);
    let refused = web::send(&mut alice, "alice", "invoice \u{202E}fdp.exe", "x");
    assert_eq!(refused.status, 400);
    assert_field_error(
        &refused,
        "title",
        "invisible or direction-changing characters",
    );
    let refused = web::try_register(addr, "carol", "Car\u{2066}ol", PASSWORD, PASSWORD, PIN);
    assert_eq!(refused.status, 400);
    assert_field_error(
        &refused,
        "name",
        "invisible or direction-changing characters",
    );
    web::register(addr, "dana", "دانا\u{200C}ی", OTHER_PASSWORD);
}

#[test]
fn a_body_shows_its_direction_and_invisible_characters_as_markers() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut alice = web::login(addr, "alice", PASSWORD);
    let body = "invoice \u{202E}fdp.exe <b>\u{200B}\u{FEFF}👩\u{200D}👧 שלום";
    let sent = web::send(&mut alice, "alice", "markers", body);
    assert_eq!(sent.status, 303, "{}", text(&sent));
    let ids = message_ids(&text(&alice.get("/inbox")));
    let html = text(&alice.get(&format!("/messages/{}", ids[0])));
    let start = html.find("class=\"message-body\"").expect("message body");
    let shown = &html[start..start + html[start..].find("</div>").expect("end of body")];
    for marker in ["U+202E", "U+200B", "U+FEFF"] {
        assert!(
            shown.contains(&format!("<span class=\"invisible-char\">[{marker}]</span>")),
            "{marker} shown: {shown}"
        );
    }
    assert!(
        !shown.contains(['\u{202E}', '\u{200B}', '\u{FEFF}']),
        "the characters themselves are not sent: {shown:?}"
    );
    assert!(shown.contains("&lt;b&gt;"), "still escaped: {shown}");
    assert!(
        shown.contains("👩\u{200D}👧 שלום"),
        "joiners and Hebrew kept: {shown}"
    );
}
