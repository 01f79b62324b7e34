//! Accessibility, measured in headless Chromium: axe-core (pinned, see `axe.rs`) on every page a
//! member or a stranger can reach, with and without errors shown, at a desktop and a phone
//! viewport and in the light and dark colour schemes, with zero violations required and zero
//! CSP violations in the console; planted violations that axe and the console check must
//! report (so the checks can fail); the dark palette and the reduced-motion preference taking
//! effect; a keyboard-only walk through the mail flow
//! (`keyboard.rs`); and the README's screenshots (`screenshots.rs`). These tests only read the
//! pages: the templates and `app.css` are what they hold to account.

mod axe;
mod keyboard;
mod screenshots;

use std::time::Duration;

use serde_json::json;

use crate::browser::log_in;
use crate::util::web::{self, OTHER_PASSWORD, PASSWORD};
use crate::util::webdriver::keys::ENTER;
use crate::util::webdriver::{Console, Driver};
use crate::util::{Server, wait_until};

use axe::Audit;

/// Types each `(css, text)` into its field, then presses Enter on the `submit` button (not a
/// click: the strength meter may still be shifting the layout) and waits for the next page.
fn fill_and_submit(driver: &Driver, fields: &[(&str, &str)], submit: &str) {
    for (css, text) in fields {
        driver.clear(css);
        driver.type_into(css, text);
    }
    // A marker on the old document: it is gone once the answer to the POST replaced the page.
    driver.execute(
        "document.documentElement.dataset.old = '1'; document.querySelector(arguments[0]).focus()",
        json!([submit]),
    );
    driver.press(&ENTER.to_string());
    let replaced = wait_until(Duration::from_secs(10), || {
        let marker = driver.try_execute(
            "return document.documentElement.dataset.old || ''",
            json!([]),
        )?;
        (marker == "").then_some(())
    });
    assert!(
        replaced.is_some(),
        "submitting {submit} on {} never loaded a page",
        driver.current_url()
    );
    driver.wait_ready();
}

/// Submits a form with `fields` that the server refuses, and checks the page with its errors.
fn audit_errors(
    driver: &Driver,
    audit: &mut Audit,
    page: &str,
    fields: &[(&str, &str)],
    submit: &str,
) {
    fill_and_submit(driver, fields, submit);
    assert!(
        driver.try_find(".alert-error").is_some(),
        "{page}: the errors are not shown on {}",
        driver.current_url()
    );
    audit.check(driver, page);
}

const SUBMIT: &str = "form.form button[type=submit]";

/// The pages a stranger can reach, each clean and each with its errors shown.
fn audit_anonymous_pages(driver: &Driver, audit: &mut Audit, base: &str) {
    driver.goto(&format!("{base}/login"));
    audit.check(driver, "login");
    let wrong = [("#username", "alice"), ("#password", "not the password")];
    audit_errors(driver, audit, "login, failed", &wrong, SUBMIT);

    driver.goto(&format!("{base}/register"));
    audit.check(driver, "register");
    driver.click("#security_question option[value=\"2\"]");
    let bad = [
        ("#name", "Eve"),
        ("#username", "e!"),
        ("#password", "short"),
        ("#password_confirm", "other"),
        ("#pin", "000000"),
        ("#security_answer", "x"),
    ];
    audit_errors(driver, audit, "register, errors", &bad, SUBMIT);

    driver.goto(&format!("{base}/reset"));
    audit.check(driver, "reset step 1");
    let blank = [("#username", "   ")];
    audit_errors(driver, audit, "reset step 1, error", &blank, SUBMIT);
    fill_and_submit(driver, &[("#username", "alice")], SUBMIT);
    audit.check(driver, "reset step 2");
    let bad = [
        ("#security_answer", "wrong"),
        ("#password", "short"),
        ("#password_confirm", "shorter"),
    ];
    audit_errors(driver, audit, "reset step 2, errors", &bad, SUBMIT);

    driver.goto(&format!("{base}/no/such/page"));
    assert_eq!(driver.title(), "Page not found · Messages");
    audit.check(driver, "404");

    // A form whose cookies are gone is refused with the "expired" page.
    driver.goto(&format!("{base}/login"));
    driver.delete_cookies();
    let right = [("#username", "alice"), ("#password", PASSWORD)];
    fill_and_submit(driver, &right, SUBMIT);
    assert_eq!(driver.title(), "This form has expired · Messages");
    audit.check(driver, "expired form");
}

/// Goes to `path`, checks the page, and returns after the check.
fn visit(driver: &Driver, audit: &mut Audit, base: &str, path: &str, page: &str) {
    driver.goto(&format!("{base}{path}"));
    audit.check(driver, page);
}

/// Clicks `css`, waits for a URL that `expected` accepts, and checks the page.
fn follow(driver: &Driver, audit: &mut Audit, css: &str, expected: &str, page: &str) {
    driver.click(css);
    driver.wait_for_url(|u| u.contains(expected));
    audit.check(driver, page);
}

/// The pages of a member: empty and full mailboxes, a message, its deletion, the account.
fn audit_member_pages(driver: &Driver, audit: &mut Audit, server: &Server) {
    let base = server.base.as_str();
    log_in(driver, &mut audit.console, base, "alice", PASSWORD);
    audit.check(driver, "inbox, empty");
    visit(driver, audit, base, "/sent", "sent, empty");

    visit(driver, audit, base, "/compose", "compose");
    let unknown = [("#to", "nobody"), ("#title", "Hi"), ("#body", "Anyone?")];
    audit_errors(driver, audit, "compose, errors", &unknown, SUBMIT);
    let good = [
        ("#to", "bob"),
        ("#title", "Lunch?"),
        ("#body", "The new place?"),
    ];
    fill_and_submit(driver, &good, SUBMIT);
    assert!(driver.current_url().contains("/sent?done=sent"));
    audit.check(driver, "sent, with a notice");

    let mut bob = web::login(server.addr, "bob", OTHER_PASSWORD);
    for title in ["Re: Lunch?", "Photos from the trip"] {
        let sent = web::send(&mut bob, "alice", title, "Yes, 12:30.");
        assert_eq!(sent.status, 303);
    }
    driver.goto(&format!("{base}/inbox"));
    assert!(driver.try_find(".mail-list li.unread").is_some());
    audit.check(driver, "inbox, with unread messages");
    follow(
        driver,
        audit,
        ".mail-list li:first-child a",
        "/messages/",
        "message",
    );
    let delete = ".message-actions a.button-danger-quiet";
    follow(driver, audit, delete, "/delete", "delete confirmation");
    let confirm = "button.button-danger";
    follow(
        driver,
        audit,
        confirm,
        "/inbox?done=deleted",
        "inbox, after a deletion",
    );
    let missing = "/messages/00000000000000000000000000000000";
    visit(driver, audit, base, missing, "404, signed in");

    visit(driver, audit, base, "/account", "account");
    let wrong = [
        ("#pw-current_password", "not my password"),
        ("#pw-password", "short"),
        ("#pw-password_confirm", "other"),
    ];
    let change = "form[action='/account/password'] button[type=submit]";
    audit_errors(driver, audit, "account, errors", &wrong, change);
    driver.goto(&format!("{base}/account"));
    fill_and_submit(driver, &[], "form[action='/account/tokens'] button");
    assert!(
        driver.try_find("#new-token").is_some(),
        "a new token is shown"
    );
    audit.check(driver, "account, new token");
}

#[test]
fn axe_finds_no_violation_on_any_page_in_any_viewport_or_scheme() {
    let server = Server::start();
    web::register(server.addr, "alice", "Alice Liddell", PASSWORD);
    web::register(server.addr, "bob", "Bob Marley", OTHER_PASSWORD);
    let driver = Driver::start();
    let mut audit = Audit::default();
    audit_anonymous_pages(&driver, &mut audit, &server.base);
    audit_member_pages(&driver, &mut audit, &server);
    assert!(
        audit.checks >= 4 * 23,
        "every page was checked: {}",
        audit.checks
    );
    audit.assert_clean();
}

/// A fresh server, and a browser showing its login page.
fn on_the_login_page() -> (Server, Driver) {
    let server = Server::start();
    let driver = Driver::start();
    driver.goto(&format!("{}/login", server.base));
    driver.wait_ready();
    (server, driver)
}

/// The checks can fail: a field whose label is removed is reported by axe, with its rule and
/// element, and an inline script (which the CSP forbids) is reported by the console check.
#[test]
fn planted_violations_are_reported() {
    let (_server, driver) = on_the_login_page();
    driver.execute(
        "document.querySelector('label[for=username]').remove()",
        json!([]),
    );
    let found = axe::violations(&driver);
    assert!(
        found
            .iter()
            .any(|line| line.starts_with("label (critical) at #username")),
        "axe did not report the unlabelled field: {found:#?}"
    );

    let mut console = Console::default();
    console.collect(&driver);
    console.assert_no_csp_violation();
    driver.execute(
        "var s = document.createElement('script'); s.textContent = 'window.planted = 1';
         document.body.appendChild(s);",
        json!([]),
    );
    let reported = wait_until(Duration::from_secs(5), || {
        console.collect(&driver);
        (!console.csp_violations().is_empty()).then_some(())
    });
    assert!(
        reported.is_some(),
        "the inline script was not reported: {:#?}",
        console.entries
    );
    assert_eq!(
        driver.execute("return window.planted || 0", json!([])),
        0,
        "the CSP blocked it"
    );
}

/// The page follows the system's preferences: the dark palette when dark is asked for (the
/// axe runs then measure its contrast), and no transition when reduced motion is.
#[test]
fn dark_scheme_and_reduced_motion_are_respected() {
    let (_server, driver) = on_the_login_page();
    let style = |css: &str, property: &str| {
        driver.execute(
            "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]]",
            json!([css, property]),
        )
    };
    let meta = "return document.querySelector('meta[name=color-scheme]').content";
    assert_eq!(driver.execute(meta, json!([])), "light dark");
    driver.emulate_preferences(false, false);
    assert_eq!(style("html", "backgroundColor"), "rgb(244, 245, 248)");
    assert_ne!(
        style(".button", "transitionDuration"),
        "0s",
        "buttons ease by default"
    );
    driver.emulate_preferences(true, true);
    assert_eq!(
        style("html", "backgroundColor"),
        "rgb(15, 18, 23)",
        "the dark palette"
    );
    assert_eq!(
        style(".button", "transitionDuration"),
        "0s",
        "reduced motion: none"
    );
}
