//! A full disk is bad input from the world: the server answers 503 with words a person can
//! read, `/healthz` says so, reads go on, nothing acknowledged is lost, and once space is freed
//! writes work again without a restart. The data directory lives on a small tmpfs that the
//! test fills; mounting needs root, so without it the test says why and does nothing.

use super::*;

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
pub(super) struct SmallDisk {
    pub(super) root: std::path::PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    pub(super) fn mount(size: &str) -> Option<SmallDisk> {
        let parent = tempfile::tempdir().expect("temp dir");
        let root = parent.path().join("disk");
        std::fs::create_dir(&root).expect("mount point");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&root)
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(SmallDisk {
                root,
                _parent: parent,
            }),
            Ok(output) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    /// Writes a file until the disk refuses more; returns its path.
    pub(super) fn fill(&self, name: &str) -> std::path::PathBuf {
        let path = self.root.join(name);
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0x5au8; 256 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk: byte by byte is too slow, so halve until nothing fits.
        let mut size = chunk.len() / 2;
        while size > 0 {
            if file.write_all(&chunk[..size]).is_err() {
                size /= 2;
            }
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.root)
            .status();
    }
}

fn health(addr: SocketAddr) -> Response {
    client::get(addr, "/healthz")
}

/// Sends until the disk refuses one; returns the acknowledged ids and the refusal.
fn send_until_refused(
    addr: SocketAddr,
    token: &str,
    acknowledged: &mut Vec<(String, String)>,
) -> Response {
    let body = "full disk ".repeat(6_000);
    for i in 0..2_000 {
        let title = format!("filling {i}");
        let response = try_send(addr, token, "bob", &title, &body).expect("send");
        match response.status {
            201 => acknowledged.push((message_id(&response.json()), title)),
            _ => return response,
        }
    }
    panic!("2000 sends of 60 KB fit on a 24 MiB disk");
}

#[test]
fn a_full_disk_answers_503_keeps_reads_and_heals_without_a_restart() {
    if crate::util::backend::embedded_only(
        "the disk under the redb file (fleet::a_lost_database_connection_is_a_503_that_heals is its PostgreSQL twin)",
    ) {
        return;
    }
    let Some(disk) = SmallDisk::mount("24m") else {
        return;
    };
    let dir = disk.root.join("data");
    let mut server = Server::start_in(&dir, &[]);
    let addr = server.addr;
    let alice = member(addr, "alice");
    let bob = member(addr, "bob");
    let mut page = crate::util::web::login(addr, "bob", PASSWORD);
    let mut acknowledged = Vec::new();
    for i in 0..3 {
        let sent = send(addr, &alice, "bob", &format!("before {i}"), "room");
        acknowledged.push((message_id(&sent), format!("before {i}")));
    }

    let filler = disk.fill("filler");
    let refused = send_until_refused(addr, &alice, &mut acknowledged);
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.header("Retry-After").is_some());
    let error = refused.json();
    assert_eq!(error["error"]["code"], "storage_unavailable");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the server cannot store anything right now"),
        "{error}"
    );
    let healthz = health(addr);
    assert_eq!(healthz.status, 503, "{}", healthz.text());
    assert_eq!(healthz.json()["reason"], "the disk is full");

    // Reads go on: the list, and each acknowledged message (which also tries to mark it read).
    let list = call(
        addr,
        "GET",
        "/api/v1/messages?box=inbox&limit=5",
        Some(&bob),
        None,
    );
    assert_eq!(list.status, 200, "{}\n{}", list.text(), server.output());
    let list = list.json();
    assert_eq!(
        list["messages"].as_array().unwrap().len(),
        5.min(acknowledged.len())
    );
    let inbox = page.get("/inbox");
    assert_eq!(
        inbox.status,
        200,
        "a signed-in member was sent away: {}",
        inbox.text()
    );
    let newest = &acknowledged.last().expect("sent before").1;
    assert!(inbox.text().contains(newest.as_str()));
    // A send from the compose form gets the same words, on a page, with what was typed kept.
    let composed = crate::util::web::send(
        &mut page,
        "alice",
        "typed on a full disk",
        &"y".repeat(60_000),
    );
    assert_eq!(composed.status, 503, "{}", composed.text());
    assert!(composed.text().contains("cannot store anything right now"));
    assert!(
        composed.text().contains("typed on a full disk"),
        "the title typed was lost"
    );
    assert!(composed.header("Retry-After").is_some());

    std::fs::remove_file(&filler).expect("freeing the disk");
    assert!(
        eventually(Duration::from_secs(10), || health(addr).status == 200),
        "healthz did not recover: {}",
        health(addr).text()
    );
    let sent = send(addr, &alice, "bob", "after", "space is back");
    acknowledged.push((message_id(&sent), "after".to_string()));
    for (id, title) in &acknowledged {
        let message = get_ok(addr, &bob, &format!("/api/v1/messages/{id}"));
        assert_eq!(message["title"], title.as_str());
    }
    assert!(server.stop().success());
    assert!(!server.output().contains("panicked"), "{}", server.output());
}

/// `dump` onto a full disk fails in one sentence and leaves no file that looks like a dump;
/// `restore` from a good dump into a data directory on a full disk fails the same way and
/// leaves the existing data as it was.
#[test]
fn dump_and_restore_on_a_full_disk_fail_cleanly_and_keep_the_data() {
    if crate::util::backend::embedded_only(
        "the disk under the redb file (fleet::a_lost_database_connection_is_a_503_that_heals is its PostgreSQL twin)",
    ) {
        return;
    }
    let Some(disk) = SmallDisk::mount("24m") else {
        return;
    };
    let dir = disk.root.join("data");
    let mut server = Server::start_in(&dir, &[]);
    let alice = member(server.addr, "alice");
    register(server.addr, "bob");
    for i in 0..40 {
        let body = format!("kept {i} {}", "x".repeat(20_000));
        send(server.addr, &alice, "bob", &format!("kept {i}"), &body);
    }
    assert!(server.stop().success());
    let outside = tempfile::tempdir().expect("temp dir");
    let good_dump = outside.path().join("good.dump");
    dump_to(&dir, &good_dump);
    let before = std::fs::read(dir.join("messages.redb")).expect("database");

    let filler = disk.fill("filler");
    let on_full = disk.root.join("backup.dump");
    let dumped = run(&dir, &["dump", "--output", on_full.to_str().unwrap()], b"");
    assert_eq!(dumped.status.code(), Some(1), "{}", stderr(&dumped));
    assert_one_sentence(&stderr(&dumped));
    assert!(!on_full.exists(), "a partial dump was left behind");

    let restored = run(
        &dir,
        &["restore", "--force", "--input", good_dump.to_str().unwrap()],
        b"",
    );
    assert_eq!(restored.status.code(), Some(1), "{}", stderr(&restored));
    assert_one_sentence(&stderr(&restored));
    assert!(
        std::fs::read(dir.join("messages.redb")).expect("database") == before,
        "the database changed"
    );
    assert!(
        !files_under(&dir)
            .iter()
            .any(|p| p.to_string_lossy().contains("restoring")),
        "restore left its scratch file: {:?}",
        files_under(&dir)
    );

    // The commands that write into the database itself fail the same way.
    let key_before = std::fs::read(dir.join("key")).expect("key file");
    for command in [&["demo"][..], &["rotate-key"][..]] {
        let ran = run(&dir, command, b"");
        assert_eq!(ran.status.code(), Some(1), "{command:?}: {}", stderr(&ran));
        assert_one_sentence(&stderr(&ran));
    }
    assert_eq!(
        std::fs::read(dir.join("key")).expect("key file"),
        key_before
    );

    std::fs::remove_file(&filler).expect("freeing the disk");
    let server = Server::start_in(&dir, &[]);
    let bob = token(server.addr, "bob");
    let list = get_ok(server.addr, &bob, "/api/v1/messages?box=inbox&limit=50");
    assert_eq!(list["messages"].as_array().unwrap().len(), 40);
}

fn assert_one_sentence(text: &str) {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {text}");
    assert!(!text.contains("panicked"), "{text}");
}
