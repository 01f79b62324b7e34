//! Concurrent changes never lose one another (ARCHITECTURE.md, invariants), tried on the real
//! binary.
//!
//! A password change, a question change and a reset each spend two password hashes between
//! reading the account and writing it. Each is raced, 20 times, against the operator's
//! `user lock`, the operator's `user delete`, and a second password change from the same
//! current password, started after delays spread over that window. Whatever the interleaving,
//! the end state must honour every change that was acknowledged: a lock holds, a deleted
//! account stays gone, and of two changes decided by the same password exactly one wins.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use serde_json::json;

use crate::util::api::{call, create_token, register_with, token_for};
use crate::util::web::{Browser, OTHER_PASSWORD, PASSWORD};
use crate::util::{PIN, Server, run, stdout};

const THIRD_PASSWORD: &str = "saffron lantern 73 meridian quill";
const TRIES: u64 = 20;
/// The racer starts this much later on each next try, spreading the starts over the window.
const STEP: Duration = Duration::from_millis(12);
/// Question 4 of the fixed list, the one the question change picks.
const NEW_QUESTION: &str = "What is the name of a teacher who made a difference to you?";

#[derive(Clone, Copy, Debug)]
enum Change {
    Password,
    Question,
    Reset,
}

#[derive(Clone, Copy, Debug)]
enum Racer {
    Lock,
    Delete,
    SecondPassword,
}

fn start() -> Server {
    Server::start_with(&[
        "--attempts-per-minute",
        "100000",
        "--ip-max-failures",
        "100000",
        "--login-max-failures",
        "100000",
    ])
}

/// Registers `username` with the web tests' password and the security answer the reset uses.
fn register(addr: SocketAddr, username: &str) {
    register_with(
        addr,
        &json!({"username": username, "name": "Racing Member", "password": PASSWORD, "pin": PIN,
                "security_question": 1, "security_answer": "Rex the Dog"}),
    );
}

fn token(addr: SocketAddr, username: &str) -> String {
    token_for(addr, username, PASSWORD)
}

fn change_password(addr: SocketAddr, bearer: &str, new: &str) -> bool {
    let answer = call(
        addr,
        "PATCH",
        "/api/v1/me",
        Some(bearer),
        Some(&json!({"current_password": PASSWORD, "new_password": new})),
    );
    assert!(
        [200, 400, 401, 403, 404].contains(&answer.status),
        "password change answered {}: {}",
        answer.status,
        answer.text()
    );
    answer.status == 200
}

/// Whatever the change needs before it starts (a session and its form token), so that the
/// request itself is all that runs once the race begins.
fn prepare(addr: SocketAddr, change: Change, username: &str) -> Box<dyn FnOnce() -> bool + Send> {
    match change {
        Change::Password => {
            let bearer = token(addr, username);
            Box::new(move || change_password(addr, &bearer, OTHER_PASSWORD))
        }
        Change::Question => {
            let mut browser = crate::util::web::login(addr, username, PASSWORD);
            let page = browser.get("/account");
            let csrf = crate::util::web::csrf_token(&page.text());
            Box::new(move || {
                let answer = browser.post_raw(
                    "/account/question",
                    &[
                        ("security_question", "4"),
                        ("security_answer", "Mrs Okafor"),
                        ("current_password", PASSWORD),
                        ("csrf_token", &csrf),
                    ],
                );
                answer.header("Location") == Some("/account?done=question")
            })
        }
        Change::Reset => {
            let mut browser = Browser::new(addr);
            let page = browser.get("/reset");
            let csrf = crate::util::web::csrf_token(&page.text());
            let username = username.to_string();
            Box::new(move || {
                let answer = browser.post_raw(
                    "/reset",
                    &[
                        ("username", &username),
                        ("security_answer", "Rex the Dog"),
                        ("password", OTHER_PASSWORD),
                        ("password_confirm", OTHER_PASSWORD),
                        ("csrf_token", &csrf),
                    ],
                );
                answer.status == 303
            })
        }
    }
}

fn operator(server: &Server, args: &[&str]) -> Output {
    let ran = run(&server.dir, args, b"");
    assert!(
        ran.status.success(),
        "{args:?}: {}",
        crate::util::stderr(&ran)
    );
    ran
}

fn listed(server: &Server, username: &str) -> Option<String> {
    let list = stdout(&operator(server, &["user", "list"]));
    list.lines()
        .find(|line| line.split_whitespace().next() == Some(username))
        .map(str::to_string)
}

/// Which of the candidate passwords signs in now: the status of a token request with each.
fn sign_ins(addr: SocketAddr, username: &str) -> [u16; 3] {
    [PASSWORD, OTHER_PASSWORD, THIRD_PASSWORD].map(|p| create_token(addr, username, p).status)
}

fn question_shown(addr: SocketAddr, username: &str) -> bool {
    let page = Browser::new(addr).submit("/reset", "/reset", &[("username", username)]);
    page.text().contains(NEW_QUESTION)
}

fn race(server: &Server, change: Change, racer: Racer, attempt: u64) {
    let addr = server.addr;
    let username = format!("{}-{}-{attempt}", tag(change), tag(racer));
    register(addr, &username);
    let run_change = prepare(addr, change, &username);
    let second = matches!(racer, Racer::SecondPassword).then(|| token(addr, &username));
    let changing = std::thread::spawn(run_change);
    std::thread::sleep(STEP * (attempt as u32));
    let second_won = match (racer, &second) {
        (Racer::Lock, _) => {
            operator(server, &["user", "lock", &username]);
            false
        }
        (Racer::Delete, _) => {
            operator(server, &["user", "delete", &username]);
            false
        }
        (Racer::SecondPassword, Some(bearer)) => change_password(addr, bearer, THIRD_PASSWORD),
        (Racer::SecondPassword, None) => unreachable!("prepared above"),
    };
    let first_won = changing.join().expect("the change thread");
    let context = format!(
        "{change:?} raced by {racer:?}, try {attempt}: change acknowledged {first_won}, racer {second_won}"
    );
    let [old, new, third] = sign_ins(addr, &username);
    match racer {
        Racer::Lock => {
            let row = listed(server, &username).unwrap_or_default();
            assert!(
                row.contains("locked"),
                "{context}: the lock was lost: {row:?}"
            );
            assert!(
                [old, new, third].iter().all(|s| *s != 201),
                "{context}: a locked account signed in: {old} {new} {third}"
            );
        }
        Racer::Delete => {
            assert_eq!(
                listed(server, &username),
                None,
                "{context}: the account came back"
            );
            assert_eq!(
                [old, new, third],
                [401, 401, 401],
                "{context}: a deleted account signed in"
            );
        }
        Racer::SecondPassword => {
            let works = |status: u16| status == 201;
            match change {
                Change::Password | Change::Reset => {
                    assert!(first_won ^ second_won, "{context}: exactly one must win");
                    assert_eq!(
                        (works(old), works(new), works(third)),
                        (false, first_won, second_won),
                        "{context}: the password is not the winner's"
                    );
                }
                Change::Question => {
                    // Both may be acknowledged (the question first, then the password); what
                    // was acknowledged must hold.
                    assert!(second_won, "{context}: the password change must go through");
                    assert!(
                        works(third) && !works(old),
                        "{context}: the new password must work"
                    );
                    assert_eq!(question_shown(addr, &username), first_won, "{context}");
                }
            }
        }
    }
    if matches!((change, racer), (Change::Question, Racer::Lock)) && first_won {
        assert!(
            question_shown(addr, &username),
            "{context}: the acknowledged question was lost"
        );
    }
}

fn tag(value: impl std::fmt::Debug) -> String {
    format!("{value:?}").to_ascii_lowercase()
}

fn race_all(racer: Racer) {
    let server = start();
    let workers: Vec<_> = [Change::Password, Change::Question, Change::Reset]
        .into_iter()
        .map(|change| {
            let server = &server;
            move || {
                for attempt in 0..TRIES {
                    race(server, change, racer, attempt);
                }
            }
        })
        .collect();
    std::thread::scope(|scope| {
        for worker in workers {
            scope.spawn(worker);
        }
    });
}

#[test]
fn the_operators_lock_holds_against_every_change() {
    race_all(Racer::Lock);
}

#[test]
fn a_deleted_account_never_comes_back() {
    race_all(Racer::Delete);
}

#[test]
fn of_two_changes_from_one_password_exactly_one_wins() {
    race_all(Racer::SecondPassword);
}
