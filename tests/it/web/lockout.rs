//! Lockout that does not lock the owner out (OWASP's device-cookie scheme): strangers' failures
//! lock the account for strangers, while a browser that signed in before keeps its own count;
//! a device cookie that fails too often is distrusted; forged or foreign ones give nothing;
//! the per-IP limits and the operator's lock apply to everyone.

use super::*;
use crate::util::run;

const WRONG: &str = "not the password at all";

/// A login attempt from `browser` (which keeps the cookies it has, the device cookie too).
fn attempt(browser: &mut Browser, username: &str, password: &str) -> u16 {
    browser
        .submit(
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .status
}

/// The owner's browser after a successful login, signed out again but keeping its device
/// cookie, as after a session expires.
fn remembered_browser(addr: std::net::SocketAddr, username: &str, password: &str) -> Browser {
    let mut browser = web::login(addr, username, password);
    assert!(
        browser.cookie("device").is_some(),
        "a successful login leaves a device cookie: {:?}",
        browser.cookies
    );
    browser.cookies.retain(|(name, _)| name != "session");
    browser
}

/// Fails logins for `username` from a fresh browser at `ip` until one is answered 429.
fn lock_out_strangers(addr: std::net::SocketAddr, ip: &str, username: &str) {
    let mut stranger = Browser::from_ip(addr, ip);
    let statuses: Vec<u16> = (0..6)
        .map(|_| attempt(&mut stranger, username, WRONG))
        .collect();
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
}

#[test]
fn a_strangers_failures_lock_strangers_out_but_not_the_owners_browser() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut owner = remembered_browser(addr, "alice", PASSWORD);
    let login = owner.submit(
        "/login",
        "/login",
        &[("username", "alice"), ("password", PASSWORD)],
    );
    let device = login
        .header_all("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("device="))
        .expect("a device cookie at every login")
        .to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(device.contains(flag), "{device} has {flag}");
    }
    owner.cookies.retain(|(name, _)| name != "session");

    lock_out_strangers(addr, "127.0.0.2", "alice");
    // The stranger with the right password is locked out too, from any address.
    assert_eq!(attempt(&mut Browser::new(addr), "alice", PASSWORD), 429);
    assert_eq!(
        attempt(&mut Browser::from_ip(addr, "127.0.0.3"), "alice", PASSWORD),
        429
    );
    // The owner's browser still signs in, and then reads the inbox.
    assert_eq!(attempt(&mut owner, "alice", PASSWORD), 303);
    assert_eq!(owner.get("/inbox").status, 200);
}

#[test]
fn a_device_cookie_that_fails_too_often_is_distrusted_without_locking_the_account() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut remembered = remembered_browser(addr, "alice", PASSWORD);
    let statuses: Vec<u16> = (0..6)
        .map(|_| attempt(&mut remembered, "alice", WRONG))
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    assert_eq!(
        attempt(&mut remembered, "alice", PASSWORD),
        429,
        "the device is locked, right password or not"
    );
    // Its failures were its own: the account is not locked for anyone else.
    assert_eq!(attempt(&mut Browser::new(addr), "alice", PASSWORD), 303);
}

#[test]
fn forged_altered_or_foreign_device_cookies_give_no_way_past_the_lock() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    web::register(addr, "bobby", "Bob", OTHER_PASSWORD);
    let alice = remembered_browser(addr, "alice", PASSWORD);
    let bob = remembered_browser(addr, "bobby", OTHER_PASSWORD);
    let genuine = alice.cookie("device").expect("device cookie");
    lock_out_strangers(addr, "127.0.0.2", "alice");

    let mut flipped = genuine.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(flipped).expect("ascii");
    let renamed = genuine.replace("alice", "bobby");
    let foreign = bob.cookie("device").expect("device cookie");
    for (what, value) in [
        ("altered", altered.as_str()),
        ("renamed", renamed.as_str()),
        ("another account's", foreign.as_str()),
        (
            "made up",
            "0123456789abcdef0123456789abcdef-1780000000-0123456789abcdef0123456789abcdef-alice",
        ),
    ] {
        let mut forger = Browser::new(addr);
        forger.set_cookie("device", value);
        assert_eq!(
            attempt(&mut forger, "alice", PASSWORD),
            429,
            "{what} cookie"
        );
    }
    assert_eq!(attempt(&mut alice.clone(), "alice", PASSWORD), 303);
}

#[test]
fn per_ip_limits_and_the_operators_lock_apply_to_device_cookies_too() {
    let server = Server::start_with(&["--ip-max-failures", "3"]);
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    web::register(addr, "bobby", "Bob", OTHER_PASSWORD);
    let mut owner = remembered_browser(addr, "alice", PASSWORD);
    let mut elsewhere = owner.clone();
    elsewhere.local = Some("127.0.0.4".parse().expect("ip"));
    // A stranger on the owner's own address fails against another account: the IP is locked.
    let mut neighbour = Browser::new(addr);
    let statuses: Vec<u16> = (0..4)
        .map(|_| attempt(&mut neighbour, "bobby", WRONG))
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429]);
    assert_eq!(
        attempt(&mut owner, "alice", PASSWORD),
        429,
        "the IP lock holds"
    );

    let locked = run(&server.dir, &["user", "lock", "alice"], b"");
    assert!(locked.status.success());
    assert_eq!(
        attempt(&mut elsewhere, "alice", PASSWORD),
        403,
        "the operator's lock holds"
    );
}

/// A member who is signed in keeps changing their password while strangers' wrong logins have
/// locked the account: the current password they type is counted apart from those failures.
#[test]
fn a_signed_in_owner_changes_the_password_while_strangers_are_locked_out() {
    let server = Server::start();
    let addr = server.addr;
    web::register(addr, "alice", "Alice", PASSWORD);
    let mut owner = web::login(addr, "alice", PASSWORD);
    lock_out_strangers(addr, "127.0.0.2", "alice");
    let changed = web::change_password(&mut owner, PASSWORD, OTHER_PASSWORD);
    assert_eq!(
        changed.header("Location"),
        Some("/account?done=password"),
        "{} {}",
        changed.status,
        changed.text()
    );
}
