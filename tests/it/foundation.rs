//! The foundation: first start, the key file, the single-server lock, schema versions, and
//! dump / verify / restore refusing anything truncated, altered, foreign or too new while
//! leaving the existing data byte-for-byte intact. The demo data and dump helpers are
//! `crate::util::dump`, shared with the migration tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::util::dump::{
    DemoDump, assert_crafted_dump_refused, assert_same_records, demo, demo_dump, dump_to,
    first_of_kind, records, records_of, restore_with_key, set_id, snapshot,
};
use crate::util::{self, Server, contains, dir_contains, run, stderr, stdout};

#[test]
fn first_start_creates_data_dir_key_and_prints_pin_once() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("fresh");
    let mut child = util::messages(&dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--scrypt-log-n", "15"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    let mut second = String::new();
    use std::io::BufRead;
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    util::signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert!(
        first.starts_with("listening on http://127.0.0.1:"),
        "{first}"
    );
    assert!(second.starts_with("registration PIN: "), "{second}");
    assert!(status.success());
    let key_mode = fs::metadata(dir.join("key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(key_mode, 0o600);
    // The embedded store is a file in the data directory; PostgreSQL's data is elsewhere.
    assert_eq!(
        dir.join("messages.redb").exists(),
        !util::backend::is_postgres()
    );
    // A second start has a PIN already and does not print one.
    let mut server = Server::start_in(&dir, &["--pin", "246810"]);
    server.stop();
    assert!(
        !server.output().contains("registration PIN"),
        "{}",
        server.output()
    );
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused_clearly() {
    let server = Server::start();
    let output = util::messages(&server.dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("another messages process"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let mut server = Server::start();
    server.stop();
    let key = server.dir.join("key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let output = util::messages(&server.dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("readable by other users"),
        "{}",
        stderr(&output)
    );
    fs::write(&key, "not a key\n").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let output = util::messages(&server.dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(stderr(&output).contains("malformed"), "{}", stderr(&output));
}

#[test]
fn usage_errors_exit_2_with_one_sentence() {
    let temp = tempfile::tempdir().unwrap();
    let output = util::messages(temp.path())
        .args(["serve", "--listen", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--listen"), "{}", stderr(&output));
    let output = util::messages(temp.path())
        .args(["serve", "--scrypt-log-n", "30"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = util::messages(temp.path())
        .args([
            "serve",
            "--max-body",
            "2000000",
            "--max-body-memory",
            "1000000",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--max-body-memory must be at least --max-body"),
        "{}",
        stderr(&output)
    );
    let output = util::messages(temp.path())
        .args(["no-such-command"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn dump_restore_dump_round_trip_keeps_every_record() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    demo(&source);
    // Delete something so the deleted log and events are in the dump too.
    let output = run(&source, &["user", "delete", "carol"], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    let first = temp.path().join("first.dump");
    dump_to(&source, &first);
    let verified = run(&source, &["verify", first.to_str().unwrap()], b"");
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(stdout(&verified).starts_with("ok: "));

    let target = temp.path().join("target");
    let key = source.join("key");
    let output = restore_with_key(&target, &first, &key, false);
    assert!(
        output.status.success(),
        "restore failed: {}",
        stderr(&output)
    );
    let second = temp.path().join("second.dump");
    dump_to(&target, &second);
    let (a, b) = (records(&first), records(&second));
    assert!(
        a.len() > 20,
        "the demo dump is suspiciously small: {} lines",
        a.len()
    );
    assert_same_records(&a, &b);
    // The restored server works and still refuses the retired username.
    let output = run(&target, &["user", "list"], b"");
    assert!(
        stdout(&output).contains("alice") && !stdout(&output).contains("carol"),
        "{}",
        stdout(&output)
    );
    let output = run(&target, &["deleted"], b"");
    assert!(
        stdout(&output).contains("Lunch on Friday?"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_dump_of_a_live_server_equals_one_taken_after_stopping_it() {
    let mut server = Server::start();
    demo(&server.dir);
    let temp = tempfile::tempdir().unwrap();
    let live = temp.path().join("live.dump");
    dump_to(&server.dir, &live);
    // Also to stdout.
    let piped = run(&server.dir, &["dump"], b"");
    assert!(piped.status.success(), "{}", stderr(&piped));
    server.stop();
    let stopped = temp.path().join("stopped.dump");
    dump_to(&server.dir, &stopped);
    assert_same_records(&records(&live), &records(&stopped));
    assert_eq!(records_of(&stdout(&piped)), records(&stopped));
}

#[test]
fn no_secret_or_plaintext_reaches_the_disk_or_the_dump() {
    let mut server = Server::start();
    let passwords = demo(&server.dir);
    assert_eq!(passwords.len(), 3);
    server.stop();
    let temp = tempfile::tempdir().unwrap();
    let dump = temp.path().join("all.dump");
    dump_to(&server.dir, &dump);
    let dump_bytes = fs::read(&dump).unwrap();
    let mut needles: Vec<Vec<u8>> = [
        "Welcome to messages",
        "This is a demo message",
        "Lunch on Friday",
        "ship the demo",
        util::PIN,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    needles.extend(passwords.iter().map(|p| p.as_bytes().to_vec()));
    for needle in &needles {
        let shown = String::from_utf8_lossy(needle);
        assert!(!contains(&dump_bytes, needle), "the dump contains {shown}");
        // The server's own logs are in the data dir too.
        assert_eq!(
            dir_contains(&server.dir, needle),
            None,
            "the data dir contains {shown}"
        );
    }
    // Sanity check that the search can find what is there: usernames are not secret.
    assert!(contains(&dump_bytes, b"alice"));
}

#[test]
fn refused_dumps_leave_the_target_untouched() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    demo(&source);
    let good = temp.path().join("good.dump");
    dump_to(&source, &good);
    let text = fs::read_to_string(&good).unwrap();

    // The target already holds other data under the same key; each refused restore must
    // leave it as it was.
    let target = temp.path().join("target");
    fs::create_dir_all(&target).unwrap();
    fs::copy(source.join("key"), target.join("key")).unwrap();
    demo(&target);
    let before = snapshot(&target);

    let truncated = temp.path().join("truncated.dump");
    fs::write(&truncated, &text.as_bytes()[..text.len() / 2]).unwrap();
    // One changed byte that keeps the line well-formed, so only the checksum can catch it.
    let altered = text.replacen("\"count\":1", "\"count\":7", 1);
    assert_eq!(altered.len(), text.len());
    assert_ne!(altered, text, "the demo dump has an unread count to alter");
    let altered_path = temp.path().join("altered.dump");
    fs::write(&altered_path, &altered).unwrap();
    let newer = temp.path().join("newer.dump");
    fs::write(&newer, text.replacen("\"version\":1", "\"version\":99", 1)).unwrap();

    let cases: [(&Path, &str); 3] = [
        (&truncated, "truncated"),
        (&altered_path, "checksum"),
        (&newer, "newer"),
    ];
    for (file, expected) in cases {
        let verify = run(&target, &["verify", file.to_str().unwrap()], b"");
        assert_eq!(verify.status.code(), Some(1), "verify accepted {expected}");
        let output = run(
            &target,
            &["restore", "--force", "--input", file.to_str().unwrap()],
            b"",
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "restore accepted the {expected} dump"
        );
        let message = stderr(&output);
        assert!(message.contains(expected), "for {expected}: {message}");
        assert_eq!(message.trim().lines().count(), 1, "{message}");
        assert_eq!(
            snapshot(&target),
            before,
            "the {expected} dump changed the target"
        );
    }
    // A good dump made with another key is refused by its fingerprint.
    let other = temp.path().join("other");
    demo(&other);
    let foreign = temp.path().join("foreign.dump");
    dump_to(&other, &foreign);
    let output = run(
        &target,
        &["restore", "--force", "--input", foreign.to_str().unwrap()],
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("another key"),
        "{}",
        stderr(&output)
    );
    assert_eq!(snapshot(&target), before);
    // Without --force existing data is never replaced, even by a good dump.
    let output = run(
        &target,
        &["restore", "--input", good.to_str().unwrap()],
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));
    assert_eq!(snapshot(&target), before);
    // And with --force the good dump does replace it.
    let output = run(
        &target,
        &["restore", "--force", "--input", good.to_str().unwrap()],
        b"",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_ne!(snapshot(&target), before);
}

#[test]
fn restore_is_refused_while_the_server_runs() {
    let server = Server::start();
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    demo(&source);
    let dump = temp.path().join("x.dump");
    dump_to(&source, &dump);
    let before = snapshot(&server.dir);
    let key = source.join("key");
    let output = run(
        &server.dir,
        &[
            "restore",
            "--force",
            "--input",
            dump.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("stop the server"),
        "{}",
        stderr(&output)
    );
    let after = snapshot(&server.dir);
    let db = |files: &[(std::path::PathBuf, String)]| {
        files
            .iter()
            .find(|(p, _)| p.ends_with("messages.redb"))
            .cloned()
    };
    assert_eq!(db(&before), db(&after));
}

#[test]
fn a_crafted_dump_with_a_valid_checksum_but_bad_references_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let DemoDump {
        source,
        mut lines,
        trailer,
        ..
    } = demo_dump(temp.path());
    // Point an inbox entry at a message that does not exist, then re-seal the checksum as an
    // attacker who knows the format would.
    let inbox = first_of_kind(&lines, "inbox");
    set_id(&mut lines[inbox], 'f');
    let target = assert_crafted_dump_refused(
        temp.path(),
        &source.join("key"),
        &lines,
        &trailer,
        "inconsistent",
    );
    assert!(!target.join("messages.redb.restoring").exists());
}

#[test]
fn a_database_with_a_newer_schema_is_refused() {
    let mut server = Server::start();
    server.stop();
    {
        let store = messages::store::Store::open_at(&util::backend::location(&server.dir)).unwrap();
        store
            .write(|tx| messages::store::meta::set_u64(tx, messages::store::meta::SCHEMA_KEY, 99))
            .unwrap();
    }
    let output = util::messages(&server.dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("schema version 99"),
        "{}",
        stderr(&output)
    );
    let output = run(&server.dir, &["dump"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("newer"), "{}", stderr(&output));
}

#[test]
fn admin_commands_work_while_the_server_runs() {
    let server = Server::start();
    demo(&server.dir);
    let output = run(&server.dir, &["user", "lock", "bob"], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&server.dir, &["user", "list"], b"");
    let bob = stdout(&output)
        .lines()
        .find(|l| l.starts_with("bob"))
        .unwrap()
        .to_string();
    assert!(bob.contains("locked"), "{bob}");
    let output = run(&server.dir, &["user", "lock", "nobody"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no user named"),
        "{}",
        stderr(&output)
    );
    let output = run(&server.dir, &["pin", "set"], b"new-pin-2026\n");
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&server.dir, &["audit"], b"");
    assert!(
        stdout(&output).contains("pin_changed") && stdout(&output).contains("user_locked"),
        "{}",
        stdout(&output)
    );
    assert!(!stdout(&output).contains("new-pin-2026"));
    let output = run(&server.dir, &["audit", "--since", "yesterday"], b"");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn rotate_key_reencrypts_everything_and_retires_the_old_key() {
    let mut server = Server::start();
    demo(&server.dir);
    let output = run(&server.dir, &["user", "delete", "carol"], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    // Refused while the server runs.
    let output = run(&server.dir, &["rotate-key"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("stop the server"),
        "{}",
        stderr(&output)
    );
    server.stop();
    let temp = tempfile::tempdir().unwrap();
    let before = temp.path().join("before.dump");
    dump_to(&server.dir, &before);
    let old_key = fs::read(server.dir.join("key")).unwrap();

    let output = run(&server.dir, &["rotate-key"], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_ne!(fs::read(server.dir.join("key")).unwrap(), old_key);
    let backups: Vec<_> = util::files_under(&server.dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("key.old-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(fs::read(&backups[0]).unwrap(), old_key);

    // Every message and deleted-log entry reads back under the new key.
    let output = run(&server.dir, &["deleted"], b"");
    assert!(
        output.status.success() && stdout(&output).contains("Lunch on Friday?"),
        "{}",
        stderr(&output)
    );
    {
        let app = messages::commands::open_existing(&util::backend::data(&server.dir)).unwrap();
        let alice = messages::model::Username::parse("alice").unwrap();
        let page = app
            .mailbox(&alice, messages::model::Mailbox::Inbox, None, 50)
            .unwrap();
        assert!(
            page.messages
                .iter()
                .any(|m| m.title == "Re: Welcome to messages")
        );
        for message in &page.messages {
            let full = app.read_message(&alice, message.id).unwrap();
            assert!(!full.body.unwrap_or_default().is_empty());
        }
    }
    // The old key no longer matches the database.
    let current = fs::read(server.dir.join("key")).unwrap();
    fs::write(server.dir.join("key"), &old_key).unwrap();
    let output = run(&server.dir, &["user", "list"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is not the key this database was encrypted with"),
        "{}",
        stderr(&output)
    );
    fs::write(server.dir.join("key"), &current).unwrap();
    // A dump made before the rotation is refused with a fingerprint message.
    let output = run(
        &server.dir,
        &["restore", "--force", "--input", before.to_str().unwrap()],
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("another key"),
        "{}",
        stderr(&output)
    );
    // And the server starts again on the rotated data.
    let mut again = Server::start_in(&server.dir, &[]);
    assert!(again.stop().success());
}
