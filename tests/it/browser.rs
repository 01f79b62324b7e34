//! Browser tests in headless Chromium (driven over WebDriver): two members register, write,
//! read and delete through the real pages; the strength meter reacts while typing; no page
//! reports a CSP violation in the console. (The README's screenshots are taken by
//! `browser_a11y::screenshots`.)

use std::time::Duration;

use crate::util::web::{self, OTHER_PASSWORD};
use crate::util::webdriver::{Console, Driver};
use crate::util::{Server, wait_until};

const ALICE_PASSWORD: &str = "abc violet kettle orbit 94 glacier";
const DESKTOP: (u32, u32) = (1280, 900);

fn wait_for_text(driver: &Driver, css: &str, check: impl Fn(&str) -> bool) -> String {
    wait_until(Duration::from_secs(10), || {
        Some(driver.text(css)).filter(|t| check(t))
    })
    .unwrap_or_else(|| {
        panic!(
            "{css} never showed the expected text; it shows {:?}",
            driver.text(css)
        )
    })
}

pub(crate) fn log_in(
    driver: &Driver,
    console: &mut Console,
    base: &str,
    username: &str,
    password: &str,
) {
    driver.goto(&format!("{base}/login"));
    console.collect(driver);
    driver.clear("#username");
    driver.type_into("#username", username);
    driver.type_into("#password", password);
    driver.click("form.form button[type=submit]");
    driver.wait_for_url(|u| u.ends_with("/inbox"));
    console.collect(driver);
}

#[test]
fn members_register_write_read_and_delete_in_a_real_browser() {
    let server = Server::start();
    let base = server.base.clone();
    let driver = Driver::start();
    let mut console = Console::default();
    driver.viewport(DESKTOP.0, DESKTOP.1, false);

    // Register through the page, watching the strength meter while typing.
    driver.goto(&format!("{base}/register"));
    assert_eq!(driver.title(), "Create an account · Messages");
    driver.type_into("#name", "Alice Liddell");
    driver.type_into("#username", "alice");
    driver.type_into("#password", "abc");
    let weak = wait_for_text(&driver, "#password-meter .meter-verdict", |t| !t.is_empty());
    assert!(
        weak.contains("not accepted"),
        "a short password is refused: {weak}"
    );
    let reasons = driver.text("#password-meter .meter-reasons");
    assert!(
        reasons.contains("12 characters"),
        "the meter gives the reason: {reasons}"
    );
    driver.type_into("#password", &ALICE_PASSWORD["abc".len()..]);
    let strong = wait_for_text(&driver, "#password-meter .meter-verdict", |t| {
        t != weak && t.ends_with("this password is accepted.")
    });
    assert_ne!(strong, weak, "the meter changed while typing");
    driver.click("button[data-toggle-for=password]");
    assert_eq!(
        driver.attribute("#password", "type").as_deref(),
        Some("text"),
        "show password"
    );
    driver.click("button[data-toggle-for=password]");
    assert_eq!(
        driver.attribute("#password", "type").as_deref(),
        Some("password"),
        "hide it again"
    );
    driver.type_into("#password_confirm", ALICE_PASSWORD);
    driver.type_into("#pin", crate::util::PIN);
    driver.click("#security_question option[value=\"3\"]");
    driver.type_into("#security_answer", "A jazz night in Leeds");
    console.collect(&driver);
    driver.click("form.form button[type=submit]");
    driver.wait_for_url(|u| u.contains("/login?done=registered"));
    console.collect(&driver);

    // A second member, and some mail from a third so the inbox looks lived in.
    web::register(server.addr, "bob", "Bob Marley", OTHER_PASSWORD);
    web::register(
        server.addr,
        "carol",
        "Carol Danvers",
        "copper lantern 77 pelican ridge",
    );
    let mut carol = web::login(server.addr, "carol", "copper lantern 77 pelican ridge");
    for (title, body) in [
        (
            "Agenda for Thursday's meeting",
            "1. Budget\n2. Room bookings\n3. Anything else",
        ),
        ("Photos from the trip", "I put them in the shared folder."),
        (
            "Can you cover my shift on Monday?",
            "Only the morning, 8 to 12.",
        ),
    ] {
        assert_eq!(web::send(&mut carol, "bob", title, body).status, 303);
    }

    driver.goto(&format!("{base}/login"));
    console.collect(&driver);

    // Alice writes to Bob.
    log_in(&driver, &mut console, &base, "alice", ALICE_PASSWORD);
    driver.click("a.nav-write");
    driver.wait_for_url(|u| u.ends_with("/compose"));
    driver.type_into("#to", "bob");
    driver.type_into("#title", "Lunch on Friday?");
    driver.type_into(
        "#body",
        "Shall we try the new place on the corner?\n\nI can book a table for 12:30.\n— Alice",
    );
    driver.click("form.form button[type=submit]");
    driver.wait_for_url(|u| u.contains("/sent?done=sent"));
    assert!(driver.text(".mail-list").contains("Lunch on Friday?"));
    console.collect(&driver);
    driver.goto(&format!("{base}/account"));
    driver.type_into("#pw-password", "alice");
    wait_for_text(&driver, "#pw-password-meter .meter-verdict", |t| {
        t.contains("not accepted")
    });
    console.collect(&driver);
    driver.click(".logout button");
    driver.wait_for_url(|u| u.contains("/login?done=logout"));
    console.collect(&driver);

    // Bob finds it in his inbox, unread, reads it and deletes it.
    log_in(&driver, &mut console, &base, "bob", OTHER_PASSWORD);
    let newest = driver.text(".mail-list li:first-child");
    assert!(
        newest.contains("Lunch on Friday?") && newest.contains("alice"),
        "newest first: {newest}"
    );
    assert!(
        driver
            .try_find(".mail-list li.unread:first-child")
            .is_some(),
        "unread marker"
    );
    assert!(driver.text("#unread-count").contains("4 unread"));
    driver.click(".mail-list li:first-child a");
    driver.wait_for_url(|u| u.contains("/messages/"));
    assert_eq!(driver.text(".message-title"), "Lunch on Friday?");
    assert!(
        driver
            .text(".message-body")
            .contains("I can book a table for 12:30.")
    );
    console.collect(&driver);
    let message_url = driver.current_url();
    driver.click(".message-actions a.button-danger-quiet");
    driver.wait_for_url(|u| u.ends_with("/delete"));
    console.collect(&driver);
    driver.click("button.button-danger");
    driver.wait_for_url(|u| u.contains("/inbox?done=deleted"));
    assert!(!driver.text(".mail-list").contains("Lunch on Friday?"));
    assert!(driver.text(".alert-ok").contains("deleted"));
    console.collect(&driver);
    driver.goto(&message_url);
    assert_eq!(driver.title(), "Page not found · Messages");
    console.collect(&driver);
    driver.goto(&format!("{base}/reset"));
    console.collect(&driver);

    console.assert_no_csp_violation();
    let severe: Vec<_> = console.entries.iter().filter(|(_, level, message)| level == "SEVERE" && !message.starts_with(&format!("{message_url} - Failed to load resource: the server responded with a status of 404"))).collect();
    assert!(severe.is_empty(), "errors in the console: {severe:#?}");
}
