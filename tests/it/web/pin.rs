//! The registration PIN against guessing: a generated PIN has 40 bits and reads aloud, wrong
//! PINs lock the guessing IP like wrong passwords do, and a ceiling on wrong PINs across all
//! IPs pauses registration (page and API) until the operator sets a new PIN.

use super::*;
use crate::util::api::try_request;
use crate::util::{run, stderr, stdout};

const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A registration through the page from `ip` with `pin`.
fn register_from(addr: std::net::SocketAddr, ip: &str, username: &str, pin: &str) -> Response {
    Browser::from_ip(addr, ip).submit(
        "/register",
        "/register",
        &[
            ("name", "Someone"),
            ("username", username),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
            ("pin", pin),
            ("security_question", "1"),
            ("security_answer", "Rex the Dog"),
        ],
    )
}

/// A registration through the API from `ip` with `pin`.
fn api_register_from(addr: std::net::SocketAddr, ip: &str, username: &str, pin: &str) -> Response {
    let body = serde_json::json!({"username": username, "name": "Someone", "password": PASSWORD,
        "pin": pin, "security_question": 1, "security_answer": "Rex"});
    let from = ip.parse().expect("ip");
    try_request(addr, Some(from), "POST", "/api/v1/users", &[], Some(&body))
        .expect("POST /api/v1/users")
}

fn retry_after(response: &Response) -> u64 {
    response
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {:?}", response.headers))
}

#[test]
fn a_generated_pin_has_forty_bits_in_two_groups_and_is_accepted_either_way() {
    let (server, pin) = Server::start_with_generated_pin();
    let groups: Vec<&str> = pin.split('-').collect();
    assert_eq!(groups.len(), 2, "{pin}");
    for group in &groups {
        assert_eq!(group.len(), 4, "{pin}");
        assert!(group.chars().all(|c| CROCKFORD.contains(c)), "{pin}");
    }
    let addr = server.addr;
    let bare_lower = pin.replace('-', "").to_lowercase();
    assert_eq!(register_from(addr, "127.0.0.1", "alice", &pin).status, 303);
    let typed = register_from(addr, "127.0.0.1", "bobby", &bare_lower);
    assert_eq!(typed.status, 303, "{}", text(&typed));
    let spaced = format!("{} {}", groups[0].to_lowercase(), groups[1]);
    assert_eq!(
        register_from(addr, "127.0.0.1", "carol", &spaced).status,
        303
    );
    let wrong = register_from(addr, "127.0.0.1", "dave1", "0000-0000");
    assert_eq!(wrong.status, 400);
    assert_field_error(&wrong, "pin", "not correct");
}

#[test]
fn wrong_pins_from_one_ip_end_in_429_with_retry_after() {
    let server = Server::start_with(&["--ip-max-failures", "3"]);
    let addr = server.addr;
    for n in 0..3 {
        let wrong = register_from(addr, "127.0.0.2", &format!("guess{n}"), "135790");
        assert_eq!(wrong.status, 400, "{}", text(&wrong));
    }
    let locked = register_from(addr, "127.0.0.2", "alice", PIN);
    assert_eq!(locked.status, 429, "{}", text(&locked));
    assert!(retry_after(&locked) > 0);
    assert!(text(&locked).contains("too many attempts"));
    let api = api_register_from(addr, "127.0.0.2", "alice", PIN);
    assert_eq!(api.status, 429, "{}", api.text());
    assert!(retry_after(&api) > 0);
    // Another IP is not affected.
    assert_eq!(register_from(addr, "127.0.0.3", "alice", PIN).status, 303);
}

#[test]
fn wrong_pins_across_ips_pause_registration_until_a_new_pin_is_set() {
    let server = Server::start_with(&["--pin-max-failures-per-hour", "4"]);
    let addr = server.addr;
    // One wrong PIN from each of four addresses: no single IP comes near its own limit.
    for n in 2..6 {
        let wrong = register_from(addr, &format!("127.0.0.{n}"), "guess", "135790");
        assert_eq!(wrong.status, 400, "{}", text(&wrong));
    }
    let paused = register_from(addr, "127.0.0.9", "alice", PIN);
    assert_eq!(paused.status, 429, "{}", text(&paused));
    assert!(retry_after(&paused) > 60, "paused for the hour");
    let api = api_register_from(addr, "127.0.0.10", "alice", PIN);
    assert_eq!(api.status, 429, "{}", api.text());
    assert_eq!(api.json()["error"]["code"], "rate_limited");
    assert!(retry_after(&api) > 60);

    let audit = run(&server.dir, &["audit"], b"");
    assert!(audit.status.success(), "{}", stderr(&audit));
    assert!(
        stdout(&audit).contains("registration_paused"),
        "{}",
        stdout(&audit)
    );

    // The operator sets a new PIN from another process while the server runs.
    let set = run(&server.dir, &["pin", "set"], b"QZ7K-4M2P\n");
    assert!(set.status.success(), "{}", stderr(&set));
    assert_eq!(register_from(addr, "127.0.0.9", "alice", PIN).status, 400);
    let registered = register_from(addr, "127.0.0.9", "alice", "qz7k4m2p");
    assert_eq!(registered.status, 303, "{}", text(&registered));
}
