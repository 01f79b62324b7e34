//! Search in a real browser (headless Chromium over WebDriver): a member types a word into the
//! navigation's search box, submits it, and sees the message whose body holds the word, with
//! the word marked; mail between two other members is never among the results; no page reports
//! a CSP violation in the console.

use crate::util::Server;
use crate::util::api;
use crate::util::webdriver::{Driver, csp_violations};

/// Types `words` into the navigation's search box and submits it; the results page's URL.
fn search_from_nav(driver: &Driver, words: &str) -> String {
    driver.clear("#nav-q");
    driver.type_into("#nav-q", words);
    driver.click(".nav-search button[type=submit]");
    driver.wait_for_url(|u| u.contains("/search?q="))
}

#[test]
fn the_navigation_search_box_finds_a_word_in_a_body_and_marks_it() {
    let server = Server::start();
    let base = server.base.clone();
    let addr = server.addr;
    let [alice, bob, carol] = ["alice", "bob", "carol"].map(|name| api::member(addr, name));
    api::send(
        addr,
        &bob,
        "alice",
        "Budget",
        "The Ledgerwick estimate is attached.",
    );
    api::send(addr, &alice, "bob", "Lunch", "Shall we?");
    api::send(addr, &carol, "bob", "Between us", "ledgerwick zanzibar");

    let driver = Driver::start();
    let mut violations = Vec::new();
    driver.goto(&format!("{base}/login"));
    driver.type_into("#username", "alice");
    driver.type_into("#password", api::PASSWORD);
    driver.click("form.form button[type=submit]");
    driver.wait_for_url(|u| u.ends_with("/inbox"));
    violations.extend(csp_violations(&driver));

    let url = search_from_nav(&driver, "ledgerwick");
    assert!(url.ends_with("/search?q=ledgerwick"), "{url}");
    violations.extend(csp_violations(&driver));
    let results = driver.find_all(".search-results li");
    assert_eq!(results.len(), 1, "only alice's own message matches");
    assert_eq!(driver.text(".search-results .excerpt mark"), "Ledgerwick");
    assert_eq!(driver.text(".search-results .subject"), "Budget");
    assert_eq!(
        driver.attribute("#nav-q", "value").as_deref(),
        Some("ledgerwick")
    );

    search_from_nav(&driver, "zanzibar");
    violations.extend(csp_violations(&driver));
    assert!(driver.find_all(".search-results li").is_empty());
    assert!(driver.text("main").contains("No messages match"));

    // The result links to the message itself.
    search_from_nav(&driver, "LEDGERWICK estimate");
    driver.click(".search-results a");
    driver.wait_for_url(|u| u.contains("/messages/"));
    assert!(driver.text(".message-body").contains("Ledgerwick estimate"));
    violations.extend(csp_violations(&driver));
    assert!(violations.is_empty(), "CSP violations: {violations:#?}");
}
