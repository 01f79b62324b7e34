//! The README's screenshots, taken from the real pages: the inbox at desktop size, a message in
//! the dark scheme, and the compose page on a phone. By default they go to a temporary
//! directory and are only checked (a PNG of the expected width), so a test run never rewrites
//! tracked files; `MESSAGES_SCREENSHOTS=1` writes them to `tests/screenshots/`, which the
//! README shows.

use std::path::{Path, PathBuf};

use crate::browser::log_in;
use crate::util::Server;
use crate::util::web::{self, OTHER_PASSWORD, PASSWORD};
use crate::util::webdriver::{Console, Driver};

use super::axe::{DESKTOP, PHONE};

/// Where the README's copies live.
fn committed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/screenshots")
}

/// The width recorded in a PNG's IHDR chunk.
fn png_width(path: &Path) -> u32 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is no PNG",
        path.display()
    );
    u32::from_be_bytes(bytes[16..20].try_into().expect("four bytes"))
}

/// Shoots the current page at `size`, in the dark scheme when `dark`, to `dir/name`.
fn shoot(driver: &Driver, dir: &Path, name: &str, size: (u32, u32), dark: bool) {
    driver.viewport(size.0, size.1, size == PHONE);
    driver.emulate_preferences(dark, true);
    driver.wait_ready();
    let path = dir.join(name);
    driver.screenshot(&path);
    assert_eq!(png_width(&path), size.0, "{name} has the viewport's width");
    driver.viewport(DESKTOP.0, DESKTOP.1, false);
    driver.emulate_preferences(false, false);
}

#[test]
fn screenshots() {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = if std::env::var_os("MESSAGES_SCREENSHOTS").is_some_and(|v| v == "1") {
        let dir = committed_dir();
        std::fs::create_dir_all(&dir).expect("creating tests/screenshots");
        dir
    } else {
        temp.path().to_path_buf()
    };
    let server = Server::start();
    web::register(server.addr, "alice", "Alice Liddell", PASSWORD);
    web::register(server.addr, "bob", "Bob Marley", OTHER_PASSWORD);
    let mut bob = web::login(server.addr, "bob", OTHER_PASSWORD);
    for (title, body) in [
        ("Photos from the trip", "I put them in the shared folder."),
        (
            "Can you cover my shift on Monday?",
            "Only the morning, 8 to 12.",
        ),
        (
            "Agenda for Thursday's meeting",
            "1. Budget\n2. Room bookings\n3. Anything else\n\nTell me by Wednesday if you \
             want to add something.\n— Bob",
        ),
    ] {
        assert_eq!(web::send(&mut bob, "alice", title, body).status, 303);
    }
    let driver = Driver::start();
    let mut console = Console::default();
    log_in(&driver, &mut console, &server.base, "alice", PASSWORD);
    shoot(&driver, &dir, "inbox.png", DESKTOP, false);
    driver.click(".mail-list li:first-child a");
    driver.wait_for_url(|u| u.contains("/messages/"));
    shoot(&driver, &dir, "message-dark.png", DESKTOP, true);
    driver.goto(&format!("{}/compose", server.base));
    driver.type_into("#to", "bob");
    driver.type_into("#title", "Re: Agenda for Thursday's meeting");
    driver.type_into("#body", "Could we add the summer rota?");
    shoot(&driver, &dir, "compose-phone.png", PHONE, false);
    console.collect(&driver);
    console.assert_no_csp_violation();
}
