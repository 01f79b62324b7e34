//! Browser tests of the live pages in headless Chromium: a message sent through the API shows up
//! in another member's open inbox without a reload, with the title count and the navigation
//! badge following on other pages too; times show in the browser's own zone (the browser runs
//! with `TZ=Asia/Kolkata`, UTC+05:30, so its clock reads differently from the server's UTC);
//! the account page names the session "Chrome on Linux · 127.0.0.1 · active ... · this
//! device". No page visited reports a Content Security Policy violation in the console.

use std::time::Duration;

use serde_json::json;

use crate::util::api;
use crate::util::webdriver::{Driver, csp_violations};
use crate::util::{Server, wait_until};

/// How soon new mail must show on an open page.
const LIVE_WITHIN: Duration = Duration::from_secs(10);

fn log_in(driver: &Driver, base: &str, username: &str) {
    driver.goto(&format!("{base}/login"));
    driver.type_into("#username", username);
    driver.type_into("#password", api::PASSWORD);
    driver.click("form.form button[type=submit]");
    driver.wait_for_url(|u| u.ends_with("/inbox"));
}

/// Runs `script` in the page (WebDriver's own channel, which the page's CSP does not govern).
fn run_script(driver: &Driver, script: &str) -> serde_json::Value {
    driver.command(
        "POST",
        "/execute/sync",
        Some(json!({"script": script, "args": []})),
    )
}

/// Waits until `probe` returns a value `check` accepts; panics with the last value otherwise.
fn wait_for(
    limit: Duration,
    what: &str,
    probe: impl Fn() -> String,
    check: impl Fn(&str) -> bool,
) -> String {
    wait_until(limit, || Some(probe()).filter(|v| check(v)))
        .unwrap_or_else(|| panic!("{what} never came; last: {:?}", probe()))
}

fn badge(driver: &Driver) -> String {
    driver.text("nav.mainnav a[href=\"/inbox\"] .badge")
}

#[test]
fn new_mail_appears_in_an_open_inbox_and_the_count_follows_on_every_page() {
    let server = Server::start();
    let alice = api::member(server.addr, "alice");
    api::register(server.addr, "bob");
    let driver = Driver::start();
    let mut violations = Vec::new();

    log_in(&driver, &server.base, "bob");
    assert_eq!(driver.title(), "Inbox · Messages", "no \"(0)\"");
    assert!(
        driver.try_find(".mail-list").is_none(),
        "the inbox starts empty"
    );
    assert_eq!(badge(&driver), "");
    // A mark on this very document: a reload would lose it.
    run_script(
        &driver,
        "document.body.setAttribute('data-test-mark', 'kept');",
    );

    api::send(server.addr, &alice, "bob", "Lunch on Friday?", "Noon?");
    wait_for(
        LIVE_WITHIN,
        "the new row",
        || driver.text(".mail-list li:first-child"),
        |row| row.contains("Lunch on Friday?") && row.contains("alice"),
    );
    assert_eq!(driver.title(), "(1) Inbox · Messages");
    assert!(
        badge(&driver).starts_with('1'),
        "badge: {:?}",
        badge(&driver)
    );
    assert_eq!(driver.text("#unread-count"), "1 unread message");
    assert!(driver.try_find(".mail-list li.unread").is_some());
    let mark = run_script(
        &driver,
        "return document.body.getAttribute('data-test-mark');",
    );
    assert_eq!(mark, "kept", "the page was not reloaded");
    violations.extend(csp_violations(&driver));

    // Another signed-in page follows the count as well.
    driver.goto(&format!("{}/account", server.base));
    assert_eq!(driver.title(), "(1) Your account · Messages");
    api::send(server.addr, &alice, "bob", "And dessert?", "Cake.");
    wait_for(
        LIVE_WITHIN,
        "the title count on /account",
        || driver.title(),
        |title| title == "(2) Your account · Messages",
    );
    assert!(
        badge(&driver).starts_with('2'),
        "badge: {:?}",
        badge(&driver)
    );
    violations.extend(csp_violations(&driver));

    // Reading a message elsewhere brings the count down again on the open inbox.
    driver.goto(&format!("{}/inbox", server.base));
    assert_eq!(driver.title(), "(2) Inbox · Messages");
    let bob = api::token(server.addr, "bob");
    let listing = api::get_ok(server.addr, &bob, "/api/v1/messages?box=inbox");
    for id in api::ids(&listing) {
        api::get_ok(server.addr, &bob, &format!("/api/v1/messages/{id}"));
    }
    wait_for(
        LIVE_WITHIN,
        "the title without a count",
        || driver.title(),
        |title| title == "Inbox · Messages",
    );
    assert_eq!(badge(&driver), "");
    assert_eq!(driver.text("nav.mainnav a[href=\"/inbox\"]"), "Inbox");
    assert!(driver.try_find(".mail-list li.unread").is_none());
    assert_eq!(driver.find_all(".mail-list li").len(), 2);
    violations.extend(csp_violations(&driver));
    assert!(violations.is_empty(), "CSP violations: {violations:#?}");
}

/// The local wall-clock reading `h:mm` (12-hour and 24-hour forms) of an RFC 3339 instant at
/// UTC+05:30.
fn kolkata_clock(rfc3339: &str) -> [String; 2] {
    let instant =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    let local = instant.to_offset(time::UtcOffset::from_hms(5, 30, 0).expect("offset"));
    let hour12 = match local.hour() % 12 {
        0 => 12,
        h => h,
    };
    [
        format!("{hour12}:{:02}", local.minute()),
        format!("{:02}:{:02}", local.hour(), local.minute()),
    ]
}

#[test]
fn times_show_in_the_browsers_zone_and_sessions_by_name() {
    let server = Server::start();
    let alice = api::member(server.addr, "alice");
    api::register(server.addr, "bob");
    api::send(server.addr, &alice, "bob", "What time is it?", "Tea time.");
    let driver = Driver::start_with_env(&[("TZ", "Asia/Kolkata")]);
    let mut violations = Vec::new();

    log_in(&driver, &server.base, "bob");
    let offset = run_script(&driver, "return new Date().getTimezoneOffset();");
    assert_eq!(offset, -330, "the browser runs at UTC+05:30");
    let datetime = driver
        .attribute(".mail-list time", "dateTime")
        .expect("a time in the row");
    let shown = driver.text(".mail-list time");
    assert!(!shown.contains("UTC"), "still the server's UTC: {shown}");
    assert!(
        shown.contains("now") || shown.contains("minute"),
        "a recent time is relative: {shown}"
    );
    let exact = driver
        .attribute(".mail-list time", "title")
        .unwrap_or_default();
    let [clock12, clock24] = kolkata_clock(&datetime);
    assert!(
        exact.contains(&clock12) || exact.contains(&clock24),
        "the exact time {exact:?} reads {clock12} or {clock24} at UTC+05:30"
    );
    violations.extend(csp_violations(&driver));

    driver.click(".mail-list li:first-child a");
    driver.wait_for_url(|u| u.contains("/messages/"));
    let sent = driver.attribute("main time", "title").unwrap_or_default();
    assert!(sent.contains(&clock12) || sent.contains(&clock24), "{sent}");
    violations.extend(csp_violations(&driver));

    driver.goto(&format!("{}/account", server.base));
    let line = driver.text(".credential.current .credential-title");
    assert!(
        line.starts_with("Chrome on Linux · 127.0.0.1 · active ")
            && line.ends_with("· this device"),
        "{line}"
    );
    assert!(!line.contains("UTC"), "{line}");
    violations.extend(csp_violations(&driver));
    assert!(violations.is_empty(), "CSP violations: {violations:#?}");
}
