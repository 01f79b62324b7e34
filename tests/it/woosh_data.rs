//! Woosh accounts and messages in the product's storage, black-box: they survive a restart,
//! a dump (which holds none of their secrets in the clear), a verify and a restore, and a key
//! rotation; deletions reach the deleted-message log. And the races of the read-modify-writes
//! the protocol adds: two registrations of one name, and sends racing a client's drain.

use std::collections::BTreeSet;
use std::fs;
use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::util::dump::{dump_to, records, restore_with_key, verify_in_scratch};
use crate::util::woosh::{
    call, delete_until, expect, inbox, next_second_after, now, register, registration, send,
};
use crate::util::{Server, run, stderr, stdout};

const SECRET_KEY: &str = "my-private-key-blob-0123456789";
const SECRET_INFO: &str = "info-nobody-else-reads";

fn open(dir: &std::path::Path) -> (Server, SocketAddr) {
    Server::start_woosh_in(dir, &["--woosh-registration", "open"])
}

fn me(addr: SocketAddr, creds: (&str, &str)) -> Value {
    expect(&call(addr, "GET", "/users/me", Some(creds), None), 200)
}

#[test]
fn accounts_and_messages_survive_restart_dump_verify_restore_and_rotation() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let (mut server, addr) = open(&dir);
    let mut body = registration("Keeper", "pw");
    body["private_key"] = json!(SECRET_KEY);
    body["info"] = json!(SECRET_INFO);
    expect(&call(addr, "POST", "/users", None, Some(&body)), 201);
    register(addr, "friend", "pw");
    let (keeper, friend) = (("Keeper", "pw"), ("friend", "pw"));
    send(addr, friend, "Keeper", "ciphertext-one");
    send(addr, friend, "Keeper", "ciphertext-two");
    let profile = me(addr, keeper);
    let (_, before) = inbox(addr, keeper);
    server.stop();

    let (mut server, addr) = open(&dir);
    assert_eq!(me(addr, keeper), profile, "a restart keeps the account");
    assert_eq!(inbox(addr, keeper).1, before);
    let dump = temp.path().join("woosh.dump");
    dump_to(&dir, &dump);
    let text = fs::read_to_string(&dump).unwrap();
    assert!(text.contains(r#""kind":"woosh_account""#), "{text}");
    for secret in [SECRET_KEY, SECRET_INFO, "ciphertext-one", "\"pw\""] {
        assert!(!text.contains(secret), "{secret} is in the dump");
    }
    let verified = verify_in_scratch(temp.path(), &dump);
    assert!(verified.status.success(), "{}", stderr(&verified));
    server.stop();

    let target = temp.path().join("restored");
    let output = restore_with_key(&target, &dump, &dir.join("key"), false);
    assert!(output.status.success(), "{}", stderr(&output));
    let again = temp.path().join("again.dump");
    dump_to(&target, &again);
    assert_eq!(records(&dump), records(&again));
    let rotated = run(&target, &["rotate-key"], b"");
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let (_restored, addr) = open(&target);
    assert_eq!(me(addr, keeper), profile, "restored and re-sealed");
    assert_eq!(inbox(addr, keeper).1, before);
    // A new account after the restore gets an id never handed out before.
    let next = expect(
        &call(
            addr,
            "POST",
            "/users",
            None,
            Some(&registration("later", "pw")),
        ),
        201,
    );
    assert!(next["id"].as_u64() > profile["id"].as_u64());
}

#[test]
fn a_bulk_delete_writes_each_message_to_the_deleted_log() {
    let (server, addr) = Server::start_woosh(&["--woosh-registration", "open"]);
    for name in ["sender", "drainer"] {
        register(addr, name, "pw");
    }
    send(addr, ("sender", "pw"), "drainer", "first");
    send(addr, ("sender", "pw"), "drainer", "second");
    assert_eq!(delete_until(addr, ("drainer", "pw"), now() + 1), 2);
    let log = run(&server.dir, &["deleted", "--user", "drainer"], b"");
    assert!(log.status.success(), "{}", stderr(&log));
    let shown = stdout(&log);
    assert!(
        shown.contains("first") && shown.contains("second"),
        "{shown}"
    );
}

#[test]
fn two_registrations_of_one_name_in_any_case_make_one_account() {
    let (_server, addr) = Server::start_woosh(&["--woosh-registration", "open"]);
    let spellings = ["Racer", "racer", "RACER", "rAcEr"];
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = spellings
            .iter()
            .map(|name| {
                scope.spawn(move || {
                    call(
                        addr,
                        "POST",
                        "/users",
                        None,
                        Some(&registration(name, "pw")),
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        3,
        "{statuses:?}"
    );
}

/// The drain model (§6) under concurrency: while senders send, the client polls and deletes
/// up to each poll's query time; every message sent is either seen by a poll or still there.
#[test]
fn sends_racing_a_drain_are_never_deleted_unseen() {
    let (_server, addr) = Server::start_woosh(&["--woosh-registration", "open"]);
    for name in ["client", "sender0", "sender1", "sender2"] {
        register(addr, name, "pw");
    }
    let client = ("client", "pw");
    // Each pair verified once, so the race is between sends and deletes, not hashes.
    for name in ["client", "sender0", "sender1", "sender2"] {
        expect(
            &call(addr, "GET", "/messages", Some((name, "pw")), None),
            200,
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(2500);
    let (sent, seen) = std::thread::scope(|scope| {
        let senders: Vec<_> = ["sender0", "sender1", "sender2"]
            .into_iter()
            .map(|name| {
                scope.spawn(move || {
                    let mut ids = Vec::new();
                    while std::time::Instant::now() < deadline {
                        let message = send(addr, (name, "pw"), "client", "x");
                        ids.push(message["id"].as_u64().unwrap());
                    }
                    ids
                })
            })
            .collect();
        let mut seen = BTreeSet::new();
        while std::time::Instant::now() < deadline {
            let (query_time, messages) = inbox(addr, client);
            seen.extend(messages.iter().map(|m| m["id"].as_u64().unwrap()));
            if !messages.is_empty() {
                delete_until(addr, client, query_time);
            }
        }
        let sent: BTreeSet<u64> = senders
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (sent, seen)
    });
    // Whatever is left is read (and drained while a poll is cut at 100) with no sender left.
    let mut accounted = seen.clone();
    for _ in 0..50 {
        let (query_time, left) = inbox(addr, client);
        accounted.extend(left.iter().map(|m| m["id"].as_u64().unwrap()));
        if left.len() < 100 {
            break;
        }
        if delete_until(addr, client, query_time) == 0 {
            // Over 100 in the current second: the poll waits for it to end.
            next_second_after(now());
        }
    }
    let lost: Vec<_> = sent.difference(&accounted).collect();
    assert!(
        lost.is_empty(),
        "deleted unseen: {lost:?} of {}",
        sent.len()
    );
    assert!(!sent.is_empty());
}

/// The second listener is the same connection layer: TLS when the server has it, request ids,
/// the security headers, the access log (never a token) and the security events.
#[test]
fn the_woosh_listener_has_the_main_ones_tls_logs_and_events() {
    let tls = crate::util::tls::self_signed();
    let (server, addr) = Server::start_woosh(&[
        "--tls-cert",
        &tls.cert_path,
        "--tls-key",
        &tls.key_path,
        "--woosh-registration",
        "open",
    ]);
    let token = "token-that-must-not-be-logged";
    let body = registration("Secure_1", token).to_string();
    let json = [("Content-Type", "application/json")];
    let request = |method, path, headers: &[(&str, &str)], body: &[u8]| {
        crate::util::tls::tls_request(addr, &tls.cert, "localhost", method, path, headers, body)
    };
    let created = request("POST", "/users", &json, body.as_bytes());
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(created.header("X-Request-Id").is_some());
    assert!(created.header("Strict-Transport-Security").is_some());
    let pair = [("x-user-name", "Secure_1"), ("x-user-token", token)];
    let me = request("GET", "/users/me", &pair, b"");
    assert_eq!(me.status, 200, "{}", me.text());
    let logged = crate::util::eventually(std::time::Duration::from_secs(5), || {
        crate::util::dir_contains(
            &server.dir.join("logs"),
            b"woosh 127.0.0.1 GET /users/me 200",
        )
        .is_some()
    });
    assert!(logged, "the access log has the woosh request");
    assert_eq!(
        crate::util::dir_contains(&server.dir, token.as_bytes()),
        None
    );
    let audit = stdout(&run(&server.dir, &["audit"], b""));
    assert!(
        audit.contains("registered               user=secure_1 ip=127.0.0.1 via=woosh"),
        "{audit}"
    );
}
