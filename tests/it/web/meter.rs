//! The password strength meter: the server's verdict, its rate limit, and no PIN oracle.

use super::*;
use crate::util::api::call;

#[test]
fn strength_endpoint_gives_the_server_verdict_and_is_rate_limited() {
    let server = Server::start();
    let addr = server.addr;
    let ask = |json: serde_json::Value| call(addr, "POST", "/password-strength", None, Some(&json));
    let strong =
        ask(serde_json::json!({"password": PASSWORD, "username": "alice", "name": "Alice"}));
    assert_eq!(strong.status, 200);
    let verdict = strong.json();
    assert_eq!(verdict["acceptable"], true);
    assert!(verdict["score"].as_u64().expect("score") >= 3);
    let weak =
        ask(serde_json::json!({"password": "password1234", "username": "", "name": ""})).json();
    assert_eq!(weak["acceptable"], false);
    assert!(
        weak["problems"][0]
            .as_str()
            .expect("reason")
            .contains("too easy")
    );
    let derived = ask(serde_json::json!({"password": "margaretthatcher1925", "username": "margaretthatcher", "name": "Margaret"})).json();
    assert_eq!(derived["acceptable"], false, "{derived}");
    let form = client::post_form(addr, "/password-strength", None, &[("password", "x")]);
    assert_eq!(form.status, 415, "a cross-site form cannot use it");
    let cross = client::Client::connect(addr)
        .and_then(|mut c| {
            c.send(
                "POST",
                "/password-strength",
                &[
                    ("Content-Type", "application/json"),
                    ("Sec-Fetch-Site", "cross-site"),
                ],
                b"{\"password\":\"x\"}",
            )
        })
        .expect("post");
    assert_eq!(cross.status, 403);
    let mut limited = None;
    for _ in 0..130 {
        let response = ask(serde_json::json!({"password": "abc"}));
        if response.status == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the meter is rate-limited");
    assert!(limited.header("Retry-After").is_some());
    // The meter's limit is its own: logging in still works.
    web::register(addr, "alice", "Alice", PASSWORD);
}

#[test]
fn nobody_can_use_the_password_policy_to_guess_the_pin() {
    let server = Server::start();
    let addr = server.addr;
    let with_pin = format!("violet kettle orbit glacier {PIN}");
    let without_pin = "violet kettle orbit glacier 135790";
    // Anonymous meter: a password holding the real PIN gets the same verdict as one that does not.
    let ask = |password: &str| {
        call(
            addr,
            "POST",
            "/password-strength",
            None,
            Some(&serde_json::json!({"password": password, "username": "eve", "name": "Eve"})),
        )
        .json()
    };
    let (a, b) = (ask(&with_pin), ask(without_pin));
    assert_eq!(a["acceptable"], b["acceptable"], "{a} vs {b}");
    assert_eq!(a["problems"], b["problems"], "{a} vs {b}");
    // Registration with a wrong PIN says only that the PIN is wrong, whatever the password holds.
    let wrong_a = web::try_register(addr, "eve", "Eve", &with_pin, &with_pin, "000000");
    let wrong_b = web::try_register(addr, "eve", "Eve", without_pin, without_pin, "000000");
    assert_eq!(wrong_a.status, wrong_b.status);
    assert!(wrong_a.text().contains("not correct"), "{}", wrong_a.text());
    assert!(
        !wrong_a
            .text()
            .contains("from your username, name or the PIN"),
        "{}",
        wrong_a.text()
    );
    // With the right PIN, a password built from it is refused with the reason.
    let right = web::try_register(addr, "eve", "Eve", &with_pin, &with_pin, PIN);
    assert_eq!(right.status, 400, "{}", right.text());
    assert!(right.text().contains("the PIN"), "{}", right.text());
}
