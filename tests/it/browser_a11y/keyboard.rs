//! The mail flow with the keyboard alone: register, mistype the password and log in from the
//! focused error summary, write, send, log out, log in as the recipient, read and delete,
//! moving only with Tab and Shift+Tab, acting only with Enter and Space, and typing text into
//! fields. After every key that moves focus, the focused element must be the one expected next
//! (or, on the way to it, a real control) and its focus must be visible: a computed outline of
//! at least 2px in a visible colour on `document.activeElement` (a box shadow is not enough:
//! the skip link has one at rest).

use std::time::Duration;

use serde_json::{Value, json};

use crate::util::web::{self, OTHER_PASSWORD};
use crate::util::webdriver::keys::{ENTER, SPACE, TAB};
use crate::util::webdriver::{Console, Driver};
use crate::util::{PIN, Server, wait_until};

const ALICE_PASSWORD: &str = "abc violet kettle orbit 94 glacier";

/// How many Tab presses may lie between two expected stops (the skip link, the navigation).
const MAX_TABS: usize = 15;

/// A script describing the focused element: its name, whether it matches `arguments[0]`, and
/// whether its outline shows (app.css draws every focus indicator as an outline).
const FOCUSED: &str = "
         var e = document.activeElement;
         if (!e || e === document.body) { return {name: 'body', matches: false, visible: false}; }
         var s = getComputedStyle(e);
         var outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 &&
                       s.outlineColor !== 'rgba(0, 0, 0, 0)' && s.outlineColor !== 'transparent';
         return {
           name: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                 ' \"' + (e.innerText || e.value || '').trim().slice(0, 30) + '\"',
           matches: e.matches(arguments[0]),
           visible: outline
         };";

/// The focused element, described (see `FOCUSED`).
fn focused(driver: &Driver, css: &str) -> Value {
    driver.execute(FOCUSED, json!([css]))
}

/// Presses Tab until `css` has focus, checking that every element on the way shows its focus.
fn tab_to(driver: &Driver, css: &str) {
    let mut stops = Vec::new();
    for _ in 0..MAX_TABS {
        driver.press(&TAB.to_string());
        let now = focused(driver, css);
        let name = now["name"].as_str().unwrap_or("?").to_string();
        assert_eq!(
            now["visible"],
            true,
            "focus is not visible on {name} (on the way to {css}, {})",
            driver.current_url()
        );
        if now["matches"] == true {
            return;
        }
        stops.push(name);
    }
    panic!(
        "Tab never reached {css} on {}; it stopped at {stops:?}",
        driver.current_url()
    );
}

/// Shift+Tab once, which must land on `css` with its focus visible.
fn shift_tab_to(driver: &Driver, css: &str) {
    driver.press_shift_tab();
    let now = focused(driver, css);
    assert!(
        now["matches"] == true && now["visible"] == true,
        "Shift+Tab should move visibly to {css}; focus is on {}",
        now["name"]
    );
}

/// Tabs to a field and types `text` into it.
fn tab_and_type(driver: &Driver, css: &str, text: &str) {
    tab_to(driver, css);
    driver.press(text);
}

/// Tabs to `css`, presses `key` on it, and waits for the page it leads to.
fn tab_and_press(driver: &Driver, console: &mut Console, css: &str, key: char, expected: &str) {
    tab_to(driver, css);
    activate(driver, console, key, expected);
}

/// Presses `key` on the focused element and waits for a URL containing `expected`.
fn activate(driver: &Driver, console: &mut Console, key: char, expected: &str) {
    driver.press(&key.to_string());
    driver.wait_for_url(|u| u.contains(expected));
    driver.wait_ready();
    console.collect(driver);
}

fn keyboard_log_in(driver: &Driver, console: &mut Console, base: &str, user: &str, pw: &str) {
    driver.goto(&format!("{base}/login"));
    driver.wait_ready();
    tab_and_type(driver, "#username", user);
    tab_and_type(driver, "#password", pw);
    activate(driver, console, ENTER, "/inbox");
}

/// A wrong password first: the refused form opens with focus on its error summary, and Tab
/// leads on to the fields, the username kept.
fn keyboard_log_in_after_a_typo(driver: &Driver, console: &mut Console, base: &str, pw: &str) {
    driver.goto(&format!("{base}/login"));
    driver.wait_ready();
    tab_and_type(driver, "#username", "alice");
    tab_and_type(driver, "#password", "a typo");
    driver.press(&ENTER.to_string());
    // The URL stays /login: wait for the answer's page, whose summary takes the focus.
    let summary = wait_until(Duration::from_secs(10), || {
        let now = driver.try_execute(FOCUSED, json!([".alert-error"]))?;
        (now["matches"] == true && now["visible"] == true).then_some(())
    });
    assert!(
        summary.is_some(),
        "the refused form should focus its error summary, visibly; focus is on {}",
        focused(driver, ".alert-error")["name"]
    );
    console.collect(driver);
    tab_and_type(driver, "#password", pw);
    activate(driver, console, ENTER, "/inbox");
}

#[test]
fn keyboard_alone_registers_writes_reads_and_deletes() {
    let server = Server::start();
    web::register(server.addr, "bob", "Bob Marley", OTHER_PASSWORD);
    let base = server.base.as_str();
    let driver = Driver::start();
    let mut console = Console::default();

    driver.goto(&format!("{base}/register"));
    driver.wait_ready();
    tab_to(&driver, "a.skip-link");
    tab_and_type(&driver, "#name", "Alice Liddell");
    tab_and_type(&driver, "#username", "alice");
    tab_and_type(&driver, "#password", ALICE_PASSWORD);
    tab_to(&driver, "button[data-toggle-for=password]");
    tab_and_type(&driver, "#password_confirm", ALICE_PASSWORD);
    tab_and_type(&driver, "#pin", PIN);
    // A closed select takes the first letters of an option, as in any browser.
    tab_and_type(&driver, "#security_question", "W");
    assert_eq!(
        driver.attribute("#security_question", "value").as_deref(),
        Some("1")
    );
    tab_and_type(&driver, "#security_answer", "Rex the dog");
    let (c, submit) = (&mut console, "form.form button[type=submit]");
    tab_and_press(&driver, c, submit, ENTER, "/login?done=registered");

    keyboard_log_in_after_a_typo(&driver, c, base, ALICE_PASSWORD);
    tab_and_press(&driver, c, "a.nav-write", ENTER, "/compose");
    tab_and_type(&driver, "#to", "bob");
    tab_and_type(&driver, "#title", "Typed, not clicked");
    tab_and_type(&driver, "#body", "Every step came from the keyboard.");
    tab_to(&driver, "form.form a.button-quiet");
    shift_tab_to(&driver, submit);
    activate(&driver, c, SPACE, "/sent?done=sent");
    assert!(driver.text(".mail-list").contains("Typed, not clicked"));
    tab_and_press(&driver, c, ".logout button", ENTER, "/login?done=logout");

    keyboard_log_in(&driver, c, base, "bob", OTHER_PASSWORD);
    tab_and_press(
        &driver,
        c,
        ".mail-list li:first-child a",
        ENTER,
        "/messages/",
    );
    assert_eq!(driver.text(".message-title"), "Typed, not clicked");
    let delete = ".message-actions a.button-danger-quiet";
    tab_and_press(&driver, c, delete, ENTER, "/delete");
    tab_and_press(
        &driver,
        c,
        "button.button-danger",
        SPACE,
        "/inbox?done=deleted",
    );
    assert!(!driver.text("main").contains("Typed, not clicked"));
    console.assert_no_csp_violation();
}
