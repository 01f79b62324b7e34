//! Several servers on one PostgreSQL database (issue 15): what one server does, the other sees
//! at once (accounts, mail, sessions, lockouts, the operator's lock, the deleted log); a server
//! killed under load loses nothing it acknowledged while the other keeps serving; the move
//! between the embedded store and PostgreSQL by dump and restore keeps every record; and the
//! database's bad input (a wrong URL, an unreachable server, a wrong password, a wrong key,
//! TLS that does not check out) is one sentence and exit 1.
//!
//! They need a cluster, so they run in `it_postgres` only (see `util::backend`); in `it` each
//! says so and returns.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::util::api::{self, PASSWORD, create_token, get_ok, member, message_id};
use crate::util::client;
use crate::util::dump::{assert_same_records, records};
use crate::util::web::{self, Browser, csrf_token};
use crate::util::{self, Server, backend, stderr};

/// True (after saying why) when this run has no PostgreSQL to put a fleet on.
fn no_fleet() -> bool {
    if backend::is_postgres() {
        return false;
    }
    let _ = writeln!(
        std::io::stderr(),
        "fleet tests run in it_postgres, against a cluster"
    );
    true
}

/// Two servers A and B on one fresh database, each with its own data directory holding the
/// same key file (as an operator distributes it).
struct Fleet {
    a: Server,
    b: Server,
    url: String,
    _dirs: tempfile::TempDir,
}

fn fleet(extra: &[&str]) -> Fleet {
    let dirs = tempfile::tempdir().unwrap();
    let url = backend::fresh_database();
    let mut args = vec!["--database", url.as_str()];
    args.extend_from_slice(extra);
    let a = Server::start_in(&dirs.path().join("a"), &args);
    fs::create_dir_all(dirs.path().join("b")).unwrap();
    fs::copy(dirs.path().join("a/key"), dirs.path().join("b/key")).unwrap();
    let b = Server::start_in(&dirs.path().join("b"), &args);
    Fleet {
        a,
        b,
        url,
        _dirs: dirs,
    }
}

/// A command of the binary on the fleet's database, from A's data directory.
fn admin(fleet: &Fleet, args: &[&str]) -> std::process::Output {
    let mut full = vec!["--database", fleet.url.as_str()];
    full.extend_from_slice(args);
    util::run(&fleet.a.dir, &full, b"")
}

fn text(response: &client::Response) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

#[test]
fn what_one_server_does_the_other_sees_at_once() {
    if no_fleet() {
        return;
    }
    let fleet = fleet(&[]);
    web::register(fleet.a.addr, "alice", "Alice", PASSWORD);
    let bob = member(fleet.a.addr, "bob");

    // Registered on A, signed in on B; B's inbox page is rendered (and cached) before a send.
    let mut on_b = web::login(fleet.b.addr, "alice", PASSWORD);
    assert!(!text(&on_b.get("/inbox")).contains("Sent on A"));
    let alice = api::token(fleet.b.addr, "alice");
    let before = get_ok(fleet.b.addr, &alice, "/api/v1/messages?box=inbox");
    let cursor = before["cursor"].as_str().expect("cursor").to_string();
    api::send(fleet.a.addr, &bob, "alice", "Sent on A", "across servers");
    assert!(
        text(&on_b.get("/inbox")).contains("Sent on A"),
        "B's page cache is checked against the shared listing"
    );
    let poll = get_ok(
        fleet.b.addr,
        &alice,
        &format!("/api/v1/messages?box=inbox&since={cursor}"),
    );
    assert_eq!(poll["messages"].as_array().map(Vec::len), Some(1), "{poll}");

    // A session made on A works on B, and a logout on A ends it on B.
    let mut on_a = web::login(fleet.a.addr, "alice", PASSWORD);
    let session = on_a.cookie("session").expect("session");
    let mut same_on_b = Browser::new(fleet.b.addr);
    same_on_b.set_cookie("session", &session);
    assert_eq!(same_on_b.get("/inbox").status, 200);
    let token = csrf_token(&text(&on_a.get("/inbox")));
    assert_eq!(
        on_a.post_raw("/logout", &[("csrf_token", &token)]).status,
        303
    );
    assert!(web::is_login_redirect(&same_on_b.get("/inbox")));

    // A deletion on B is logged once.
    let sent = api::send(fleet.a.addr, &bob, "alice", "To delete", "gone soon");
    let path = format!("/api/v1/messages/{}", message_id(&sent));
    let deleted = api::call(fleet.b.addr, "DELETE", &path, Some(&alice), None);
    assert!(deleted.status / 100 == 2, "{}", deleted.status);
    let log = admin(&fleet, &["deleted", "--user", "alice"]);
    assert!(log.status.success(), "{}", stderr(&log));
    let shown = util::stdout(&log);
    assert_eq!(shown.matches("To delete").count(), 1, "{shown}");

    // The operator's lock, run once against the database, holds on both servers.
    let locked = admin(&fleet, &["user", "lock", "bob"]);
    assert!(locked.status.success(), "{}", stderr(&locked));
    for server in [&fleet.a, &fleet.b] {
        assert_eq!(create_token(server.addr, "bob", PASSWORD).status, 403);
    }
}

#[test]
fn failed_logins_spread_over_two_servers_lock_after_the_same_count() {
    if no_fleet() {
        return;
    }
    let fleet = fleet(&["--login-max-failures", "4", "--ip-max-failures", "100"]);
    api::register(fleet.a.addr, "carol");
    // Three failures, alternating servers: not yet locked.
    for server in [&fleet.a, &fleet.b, &fleet.a] {
        assert_eq!(
            create_token(server.addr, "carol", "wrong password 1").status,
            401
        );
    }
    assert_eq!(create_token(fleet.b.addr, "carol", PASSWORD).status, 201);
    // A success clears the count; four failures spread over both servers lock, on both.
    for server in [&fleet.b, &fleet.a, &fleet.b] {
        assert_eq!(
            create_token(server.addr, "carol", "wrong password 2").status,
            401
        );
    }
    let fourth = create_token(fleet.a.addr, "carol", "wrong password 3");
    assert!(matches!(fourth.status, 401 | 429), "{}", fourth.status);
    for server in [&fleet.a, &fleet.b] {
        assert_eq!(
            create_token(server.addr, "carol", PASSWORD).status,
            429,
            "the lock made by four failures over two servers holds on each"
        );
    }
}

#[test]
fn a_server_killed_under_load_loses_nothing_it_acknowledged() {
    if no_fleet() {
        return;
    }
    let mut fleet = fleet(&[]);
    let dave = member(fleet.a.addr, "dave");
    api::register(fleet.a.addr, "erin");
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let killed = Arc::new(AtomicBool::new(false));
    let (a, b) = (fleet.a.addr, fleet.b.addr);
    let senders: Vec<_> = (0..16)
        .map(|i| {
            let (dave, acknowledged, killed) = (dave.clone(), acknowledged.clone(), killed.clone());
            std::thread::spawn(move || {
                for n in 0..40 {
                    // Half the senders use A until it dies, then B; the rest use B.
                    let addr = if i % 2 == 0 && !killed.load(Ordering::SeqCst) {
                        a
                    } else {
                        b
                    };
                    let title = format!("load {i}-{n}");
                    if let Ok(answer) = api::try_send(addr, &dave, "erin", &title, "body")
                        && answer.status == 201
                    {
                        let sent: Value = serde_json::from_slice(&answer.body).unwrap();
                        acknowledged.lock().unwrap().push(message_id(&sent));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    fleet.a.kill();
    killed.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 300,
        "B kept serving: {}",
        acknowledged.len()
    );
    // Nothing half-done: every message listed in the inbox is in the sent box too, and the
    // unread count is the inbox's (nothing was read yet).
    let erin = api::token(b, "erin");
    let inbox = list_all(b, &erin, "inbox");
    let sent = list_all(b, &dave, "sent");
    assert_eq!(inbox, sent);
    let me = get_ok(b, &erin, "/api/v1/me");
    assert_eq!(me["unread"].as_u64(), Some(inbox.len() as u64), "{me}");
    for id in &acknowledged {
        let path = format!("/api/v1/messages/{id}");
        let as_recipient = get_ok(b, &erin, &path);
        let as_sender = get_ok(b, &dave, &path);
        assert_eq!(as_recipient["id"], as_sender["id"]);
    }
}

/// The PostgreSQL twin of the full-disk tests: the database ends every connection of the
/// server (a restart, a failover, an administrator) again and again under a send load. Each
/// send is acknowledged or refused with 503 (never a 500, never a dropped connection), every
/// acknowledged one is there whole, and the server heals without a restart.
#[test]
fn a_lost_database_connection_is_a_503_that_heals() {
    if no_fleet() {
        return;
    }
    let url = backend::fresh_database();
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("d"), &["--database", &url]);
    let addr = server.addr;
    let frank = member(addr, "frank");
    api::register(addr, "gina");
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..8)
        .map(|i| {
            let (frank, stop, acknowledged) = (frank.clone(), stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let answer = api::try_send(addr, &frank, "gina", &format!("cut {i}-{n}"), "b")
                        .expect("the server answers every request");
                    if answer.status == 201 {
                        let sent: Value = serde_json::from_slice(&answer.body).unwrap();
                        acknowledged.lock().unwrap().push(message_id(&sent));
                    }
                    statuses.push(answer.status);
                }
                statuses
            })
        })
        .collect();
    let admin = backend::database_named("postgres");
    let mut cluster = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(300));
        cluster
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let statuses: Vec<u16> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 503)),
        "only 201 or 503: {statuses:?}"
    );
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 20, "{}", acknowledged.len());
    // Healed: a send now goes through, and nothing is half-done.
    api::send(addr, &frank, "gina", "after", "healed");
    let gina = api::token(addr, "gina");
    let inbox = list_all(addr, &gina, "inbox");
    assert_eq!(inbox, list_all(addr, &frank, "sent"));
    // (A commit whose answer the cut lost is told as 503 yet stored: more may be there than
    // was acknowledged, never fewer.)
    assert!(acknowledged.iter().all(|id| inbox.contains(id)));
    assert_eq!(client::get(addr, "/healthz").status, 200);
}

/// Every id of a mailbox, through the API's pages.
fn list_all(addr: std::net::SocketAddr, bearer: &str, mailbox: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/messages?box={mailbox}&limit=100&cursor={c}"),
            None => format!("/api/v1/messages?box={mailbox}&limit=100"),
        };
        let page = get_ok(addr, bearer, &path);
        ids.extend(api::ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    ids.sort();
    ids
}

/// A command of the binary without any database but the embedded one in `dir`.
fn embedded(dir: &Path, args: &[&str]) -> std::process::Output {
    let output = util::messages(dir)
        .env_remove("MESSAGES_DATABASE")
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    output
}

#[test]
fn dump_embedded_restore_into_postgresql_and_back_keeps_every_record() {
    if no_fleet() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let (from, via, back) = (
        temp.path().join("from"),
        temp.path().join("via"),
        temp.path().join("back"),
    );
    let files = [1, 2, 3].map(|n| temp.path().join(format!("dump{n}.jsonl")));
    let to = |p: &Path| p.to_str().unwrap().to_string();

    embedded(&from, &["demo"]);
    embedded(&from, &["dump", "--output", &to(&files[0])]);
    let url = backend::fresh_database();
    let key = to(&from.join("key"));
    let into_pg = util::run(
        &via,
        &[
            "--database",
            &url,
            "restore",
            "--input",
            &to(&files[0]),
            "--key-file",
            &key,
        ],
        b"",
    );
    assert!(into_pg.status.success(), "{}", stderr(&into_pg));
    let out_of_pg = util::run(
        &via,
        &["--database", &url, "dump", "--output", &to(&files[1])],
        b"",
    );
    assert!(out_of_pg.status.success(), "{}", stderr(&out_of_pg));
    assert_same_records(&records(&files[0]), &records(&files[1]));

    // A refused dump leaves the database's data as it was, and a second restore needs --force.
    let again = util::run(
        &via,
        &["--database", &url, "restore", "--input", &to(&files[1])],
        b"",
    );
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    let mut broken = fs::read_to_string(&files[1]).unwrap();
    broken = broken.replacen("\"kind\":\"user\"", "\"kind\":\"usr\"", 1);
    let broken_file = temp.path().join("broken.jsonl");
    fs::write(&broken_file, broken).unwrap();
    let refused = util::run(
        &via,
        &[
            "--database",
            &url,
            "restore",
            "--force",
            "--input",
            &to(&broken_file),
        ],
        b"",
    );
    assert!(!refused.status.success());
    let still = util::run(
        &via,
        &["--database", &url, "dump", "--output", &to(&files[2])],
        b"",
    );
    assert!(still.status.success());
    assert_same_records(&records(&files[0]), &records(&files[2]));

    // And back into an embedded file.
    fs::create_dir_all(&back).unwrap();
    fs::copy(from.join("key"), back.join("key")).unwrap();
    embedded(&back, &["restore", "--input", &to(&files[2])]);
    let last = temp.path().join("dump4.jsonl");
    embedded(&back, &["dump", "--output", &to(&last)]);
    assert_same_records(&records(&files[0]), &records(&last));
}

/// Runs `serve` on `url` from a fresh data directory and expects it to refuse to start with
/// one line on stderr and exit 1; returns that line.
fn refused_to_serve(dir: &Path, url: &str) -> String {
    let output = util::messages(dir)
        .args(["--database", url, "serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let told = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{told}");
    let lines: Vec<&str> = told.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one sentence: {told}");
    assert!(lines[0].starts_with("error: "), "{told}");
    lines[0].to_string()
}

#[test]
fn bad_database_input_is_one_sentence_and_exit_1() {
    if no_fleet() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("d");
    let said = refused_to_serve(&dir, "mysql://app:Sekr1t-pw@127.0.0.1/x");
    assert!(
        said.contains("postgres://") && !said.contains("Sekr1t-pw"),
        "{said}"
    );
    let said = refused_to_serve(&dir, "postgres://app@127.0.0.1:1/x?sslmode=disable");
    assert!(said.contains("cannot connect"), "{said}");
    let said = refused_to_serve(&dir, "postgres://app@127.0.0.1/x?sslmode=sometimes");
    assert!(said.contains("sslmode"), "{said}");

    // A wrong password is refused and never repeated; the right one from PGPASSWORD works.
    let cluster = std::env::var("MESSAGES_TEST_POSTGRES").unwrap();
    let host = cluster.rsplit('@').next().unwrap().to_string();
    let wrong = format!("postgres://pwuser:Zq8-Nope-Zq8@{host}/postgres?sslmode=disable");
    let said = refused_to_serve(&dir, &wrong);
    assert!(
        said.contains("password") && !said.contains("Zq8-Nope-Zq8"),
        "{said}"
    );
    let by_env = util::messages(&dir)
        .env("PGPASSWORD", "ci-secret")
        .args([
            "--database",
            &format!("postgres://pwuser@{host}/postgres?sslmode=disable"),
        ])
        .args(["user", "list"])
        .output()
        .unwrap();
    assert!(
        !stderr(&by_env).contains("password authentication failed"),
        "{}",
        stderr(&by_env)
    );

    // The database was sealed with one key: a server with another refuses, and one with no
    // key file is told to copy the fleet's, and makes none of its own.
    let url = backend::fresh_database();
    let mut first = Server::start_in(&temp.path().join("first"), &["--database", &url]);
    first.stop();
    let keyless = temp.path().join("keyless");
    let said = refused_to_serve(&keyless, &url);
    assert!(said.contains("copy that key file"), "{said}");
    assert!(!keyless.join("key").exists(), "no key of its own was made");
    let other = temp.path().join("other");
    let made = util::messages(&other)
        .env_remove("MESSAGES_DATABASE")
        .arg("demo")
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let said = refused_to_serve(&other, &url);
    assert!(
        said.contains("is not the key this database was encrypted with"),
        "{said}"
    );
}

#[test]
fn tls_to_the_database_is_checked_as_sslmode_says() {
    if no_fleet() {
        return;
    }
    let Ok(ca) = std::env::var("MESSAGES_TEST_POSTGRES_CA") else {
        assert!(
            std::env::var_os("MESSAGES_TEST_POSTGRES_REQUIRED").is_none(),
            "MESSAGES_TEST_POSTGRES_CA must name the cluster's certificate in CI"
        );
        let _ = writeln!(
            std::io::stderr(),
            "no MESSAGES_TEST_POSTGRES_CA: TLS not tried"
        );
        return;
    };
    let base = backend::fresh_database();
    let plain = base.split('?').next().unwrap().to_string();
    let temp = tempfile::tempdir().unwrap();
    let checked = format!("{plain}?sslmode=verify-full&sslrootcert={ca}");
    let mut server = Server::start_in(&temp.path().join("tls"), &["--database", &checked]);
    let health = client::get(server.addr, "/healthz");
    assert_eq!(health.status, 200);
    server.stop();
    // Without the cluster's certificate among its roots, verify-full refuses the server.
    let said = refused_to_serve(
        &temp.path().join("tls"),
        &format!("{plain}?sslmode=verify-full"),
    );
    assert!(said.contains("cannot connect"), "{said}");
}

/// Housekeeping takes its turn under an advisory lock: while one server holds it, another
/// skips its round; once let go, the other gets it. (Two stores of this process stand for two
/// servers: the lock is PostgreSQL's, per connection.)
#[test]
fn housekeeping_runs_on_one_server_at_a_time() {
    if no_fleet() {
        return;
    }
    use messages::store::{Location, Store};
    let url = backend::fresh_database();
    let location = Location::new(Path::new("unused"), Some(&url)).unwrap();
    let (a, b) = (
        Store::open_at(&location).unwrap(),
        Store::open_at(&location).unwrap(),
    );
    let (inside, entered) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        a.alone(|| {
            inside.send(()).unwrap();
            released.recv().unwrap();
            Ok(1)
        })
        .unwrap()
    });
    entered.recv().unwrap();
    assert_eq!(
        b.alone(|| Ok(2)).unwrap(),
        None,
        "the other server skips its turn"
    );
    release.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), Some(1));
    assert_eq!(
        b.alone(|| Ok(3)).unwrap(),
        Some(3),
        "and has it once let go"
    );
}
