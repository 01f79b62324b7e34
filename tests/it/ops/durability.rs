//! Nothing acknowledged is lost: SIGKILL mid-send, SIGTERM with requests in flight, retention.

use super::*;

/// Several threads send through the API; the server is SIGKILLed in the middle. After a
/// restart every send that was acknowledged with 201 reads back exactly, the tokens issued
/// before the crash still work, and a dump of the data verifies.
#[test]
fn acknowledged_sends_survive_sigkill() {
    let mut server = Server::start();
    let _temp = server.keep_dir();
    let dir = server.dir.clone();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");

    // (id, title, body) of every acknowledged send.
    let acknowledged: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..6)
        .map(|thread| {
            let (acknowledged, stop, alice) = (acknowledged.clone(), stop.clone(), alice.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let title = format!("crash {thread}-{i} ✓");
                    let body = format!(
                        "body {thread}-{i}\n{}",
                        "naïve café ".repeat(1 + i * 37 % 400)
                    );
                    match try_send(addr, &alice, "bob", &title, &body) {
                        Ok(response) if response.status == 201 => {
                            let sent = response.json();
                            assert_eq!(
                                (sent["title"].as_str(), sent["body"].as_str()),
                                (Some(&*title), Some(&*body))
                            );
                            acknowledged
                                .lock()
                                .unwrap()
                                .push((message_id(&sent), title, body));
                        }
                        // 503 under load is an honest refusal, not an acknowledgement.
                        Ok(response) if response.status == 503 => {}
                        Ok(response) => {
                            panic!("send answered {}: {}", response.status, response.text())
                        }
                        // The server died under this request: not acknowledged, and we are done.
                        Err(_) => return,
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let enough = eventually(Duration::from_secs(60), || {
        acknowledged.lock().unwrap().len() >= 60
    });
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().expect("sender thread");
    }
    assert!(
        enough,
        "only {} sends acknowledged in a minute",
        acknowledged.lock().unwrap().len()
    );
    let acknowledged = acknowledged.lock().unwrap().clone();

    // Restart on the same directory: it must open without any manual step.
    let server = Server::start_in(&dir, &[]);
    for (id, title, body) in &acknowledged {
        let message = get_ok(server.addr, &bob, &format!("/api/v1/messages/{id}"));
        assert_eq!(
            message["title"].as_str(),
            Some(title.as_str()),
            "message {id}"
        );
        assert_eq!(
            message["body"].as_str(),
            Some(body.as_str()),
            "message {id}"
        );
        assert_eq!(message["from"].as_str(), Some("alice"));
    }
    // The sender's token from before the crash still works too.
    get_ok(server.addr, &alice, "/api/v1/messages?box=sent&limit=1");

    // A dump of the crashed-and-recovered data is complete and verifies.
    let dump_path = dir.parent().expect("temp dir").join("after-crash.dump");
    dump_to(&dir, &dump_path);
    let verified = run(&dir, &["verify", dump_path.to_str().expect("path")], b"");
    assert!(
        verified.status.success(),
        "verify failed: {}{}",
        stdout(&verified),
        stderr(&verified)
    );
    let dump = std::fs::read_to_string(&dump_path).expect("dump");
    let trailer: Value =
        serde_json::from_str(dump.lines().last().expect("trailer")).expect("trailer JSON");
    let n_messages = trailer["counts"]["message"]
        .as_u64()
        .expect("message count");
    assert!(
        n_messages >= acknowledged.len() as u64,
        "dump has {n_messages} messages, {} acknowledged",
        acknowledged.len()
    );
}

/// Requests whose heads the server has read (it said `100 Continue`) when SIGTERM arrives are
/// finished with 201 even though the bodies arrive after the listener closed; the process
/// exits 0 and the messages are there after a restart.
#[test]
fn sigterm_lets_requests_in_flight_finish() {
    let mut server = Server::start();
    let _temp = server.keep_dir();
    let dir = server.dir.clone();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");

    const IN_FLIGHT: usize = 8;
    let mut pending = Vec::new();
    for i in 0..IN_FLIGHT {
        let body = json!({"to": "bob", "title": format!("in flight {i}"), "body": format!("finished after SIGTERM {i}")}).to_string();
        let mut connection = Client::connect(addr).expect("connect");
        let head = format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {alice}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        connection
            .stream()
            .write_all(head.as_bytes())
            .expect("head");
        // The interim answer proves the server read the head: this request is in flight.
        let mut interim = [0u8; 25];
        connection
            .stream()
            .read_exact(&mut interim)
            .expect("100 Continue");
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        pending.push((connection, body));
    }

    util::signal(server.pid(), "TERM");
    // Wait until the server has stopped accepting, so the bodies surely arrive after SIGTERM.
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(addr)
            .is_err()),
        "the listener was not closed after SIGTERM"
    );
    for (mut connection, body) in pending {
        connection
            .stream()
            .write_all(body.as_bytes())
            .expect("body");
        let response = connection
            .read_response(false)
            .expect("response after SIGTERM");
        assert_eq!(response.status, 201, "{}", response.text());
        assert_eq!(
            response
                .header("Connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("close")
        );
    }
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; output: {}",
        server.output()
    );

    let server = Server::start_in(&dir, &[]);
    let inbox = get_ok(server.addr, &bob, "/api/v1/messages?box=inbox&limit=50");
    let mut titles: Vec<String> = inbox["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["title"].as_str().expect("title").to_string())
        .collect();
    titles.sort();
    let expected: Vec<String> = (0..IN_FLIGHT).map(|i| format!("in flight {i}")).collect();
    assert_eq!(titles, expected);
}

/// Records that are already old are planted in a stopped server's database through the
/// library; the restarted binary's housekeeping pass (which runs at start and then every five
/// minutes) purges the deleted-log entries and events past `--deleted-keep-days` and
/// `--audit-keep-days`, and the expired session and token, and keeps everything recent.
#[test]
fn housekeeping_purges_old_log_entries_events_and_expired_credentials() {
    use messages::store::Store;
    use messages::store::records::{EventRecord, SessionRecord, TokenRecord};

    let mut server = Server::start();
    let _temp = server.keep_dir();
    let dir = server.dir.clone();
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let old = message_id(&send(addr, &alice, "bob", "old-deleted-title", "old body"));
    let recent = message_id(&send(
        addr,
        &alice,
        "bob",
        "recent-deleted-title",
        "recent body",
    ));
    expect(
        &call(
            addr,
            "DELETE",
            &format!("/api/v1/messages/{recent}"),
            Some(&bob),
            None,
        ),
        204,
    );
    assert_eq!(
        create_token(addr, "alice", "not the password at all 1").status,
        401
    );
    assert!(server.stop().success());

    let day = 24 * 60 * 60;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (expired_session, live_session, expired_token) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    {
        let store = Store::open_at(&crate::util::backend::location(&dir))
            .expect("open the stopped server's store");
        let old_id = u128::from_str_radix(&old, 16).expect("hex id");
        store
            .write(move |tx| {
                assert!(
                    tx.delete_message_for("bob", old_id, now - 10 * day)?,
                    "planted deletion"
                );
                tx.record_event(&EventRecord {
                    at: now - 5 * day,
                    kind: "login_failed".into(),
                    username: Some("ancient".into()),
                    ip: Some("192.0.2.1".into()),
                    detail: String::new(),
                })?;
                let session = |created_at: i64, handle: u128| SessionRecord {
                    username: "alice".into(),
                    handle,
                    created_at,
                    last_seen: created_at,
                    ip: "127.0.0.1".into(),
                    user_agent: String::new(),
                };
                tx.put_credential(&expired_session, &session(now - 13 * 60 * 60, 11))?;
                tx.put_credential(&live_session, &session(now, 12))?;
                tx.put_credential(
                    &expired_token,
                    &TokenRecord {
                        username: "alice".into(),
                        handle: 13,
                        created_at: now - 2 * 60 * 60,
                        expires_at: now - 60 * 60,
                    },
                )?;
                Ok(())
            })
            .expect("plant old records");
    }
    // The plants are visible before the purge (so the checks below can fail).
    let deleted = |dir: &Path| stdout(&run(dir, &["deleted"], b""));
    let audit = |dir: &Path| stdout(&run(dir, &["audit"], b""));
    assert!(deleted(&dir).contains("old-deleted-title"));
    assert!(audit(&dir).contains("user=ancient"));

    let mut server = Server::start_in(
        &dir,
        &["--deleted-keep-days", "7", "--audit-keep-days", "3"],
    );
    assert!(
        eventually(Duration::from_secs(20), || !deleted(&dir)
            .contains("old-deleted-title")),
        "the old deleted-log entry was not purged"
    );
    let log = deleted(&dir);
    assert!(
        log.contains("recent-deleted-title"),
        "recent entry kept: {log}"
    );
    let events = audit(&dir);
    assert!(
        !events.contains("user=ancient"),
        "old event purged: {events}"
    );
    assert!(
        events.contains("login_failed") && events.contains("user=alice"),
        "recent events kept: {events}"
    );
    // Live credentials still work.
    get_ok(server.addr, &bob, "/api/v1/me");
    assert!(server.stop().success());

    let store = Store::open_at(&crate::util::backend::location(&dir)).expect("reopen");
    let present = |hash: [u8; 32], token: bool| {
        store
            .read(move |rx| {
                Ok(if token {
                    rx.credential::<TokenRecord>(&hash)?.is_some()
                } else {
                    rx.credential::<SessionRecord>(&hash)?.is_some()
                })
            })
            .expect("read")
    };
    assert!(!present(expired_session, false), "expired session purged");
    assert!(!present(expired_token, true), "expired token purged");
    assert!(present(live_session, false), "live session kept");
}
