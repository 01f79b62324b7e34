//! Schema migration: a database written by an older schema is carried forward when it is
//! opened, by `dump` as by `serve`, also when an earlier migration stopped half-way, and every
//! message keeps its id.

use std::fs;
use std::path::Path;

use messages::store::tables::{self, BODIES, MESSAGE_IDS, MESSAGES, META, WOOSH_ACCOUNTS};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::util::Server;
use crate::util::api::{get_ok, token_for};
use crate::util::dump::{
    DemoDump, assert_crafted_dump_refused, assert_same_records, demo, demo_dump, dump_to,
    first_of_kind, records, restore_with_key, set_id, verify_in_scratch, with_trailer,
};

/// Rewrites the messages of a schema-2 file whose seq `moved_back` selects into the schema-1
/// layout (records and bodies keyed by id) and stamps the file as schema 1. Selecting every
/// message and dropping the new tables gives a file as schema 1 wrote it; selecting some gives
/// one whose migration stopped between two steps.
fn downgrade_to_schema_1(db_file: &Path, moved_back: impl Fn(u64) -> bool, drop_new_tables: bool) {
    let db = redb::Database::open(db_file).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut messages = txn.open_table(MESSAGES.redb()).unwrap();
        let mut bodies = txn.open_table(BODIES.redb()).unwrap();
        let mut ids = txn.open_table(MESSAGE_IDS.redb()).unwrap();
        let mut old_messages = txn.open_table(tables::v1::MESSAGES.redb()).unwrap();
        let mut old_bodies = txn.open_table(tables::v1::BODIES.redb()).unwrap();
        let rows: Vec<(u64, u128, Vec<u8>)> = messages
            .iter()
            .unwrap()
            .map(|entry| {
                let (seq, value) = entry.unwrap();
                let (id, record) = value.value();
                (seq.value(), id, record.to_vec())
            })
            .collect();
        for (seq, id, record) in rows.into_iter().filter(|(seq, _, _)| moved_back(*seq)) {
            let body = bodies.remove(seq).unwrap().unwrap().value().to_vec();
            messages.remove(seq).unwrap();
            ids.remove(id).unwrap();
            old_messages.insert(id, record.as_slice()).unwrap();
            old_bodies.insert(id, body.as_slice()).unwrap();
        }
        txn.open_table(META.redb())
            .unwrap()
            .insert("schema_version", 1u64.to_le_bytes().as_slice())
            .unwrap();
    }
    if drop_new_tables {
        assert!(txn.delete_table(MESSAGES.redb()).unwrap());
        assert!(txn.delete_table(BODIES.redb()).unwrap());
        assert!(txn.delete_table(MESSAGE_IDS.redb()).unwrap());
    }
    txn.commit().unwrap();
}

/// The schema version and the number of rows left in the schema-1 tables.
fn schema_state(db_file: &Path) -> (u64, u64) {
    let db = redb::Database::open(db_file).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META.redb()).unwrap();
    let version = u64::from_le_bytes(
        meta.get("schema_version")
            .unwrap()
            .unwrap()
            .value()
            .try_into()
            .unwrap(),
    );
    let left = match txn.open_table(tables::v1::MESSAGES.redb()) {
        Ok(table) => table.len().unwrap(),
        Err(redb::TableError::TableDoesNotExist(_)) => 0,
        Err(e) => panic!("{e}"),
    };
    (version, left)
}

/// The ids of the messages in `user`'s inbox, read from a dump.
fn inbox_ids(dump: &Path, user: &str) -> Vec<String> {
    fs::read_to_string(dump)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|row| row["kind"] == "inbox" && row["user"] == user)
        .map(|row| row["id"].as_str().unwrap().to_string())
        .collect()
}

fn migrates_and_keeps_every_message(moved_back: impl Fn(u64) -> bool, drop_new_tables: bool) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let passwords = demo(&dir);
    let before = temp.path().join("before.dump");
    dump_to(&dir, &before);
    let db_file = dir.join("messages.redb");
    downgrade_to_schema_1(&db_file, moved_back, drop_new_tables);
    let (version, left) = schema_state(&db_file);
    assert_eq!(version, 1);
    assert!(left > 0, "the downgrade moved no message back");

    // `dump` opens the old file, migrates it and writes the same records as before.
    let after = temp.path().join("after.dump");
    dump_to(&dir, &after);
    assert_eq!(schema_state(&db_file), (3, 0));
    assert_same_records(&records(&before), &records(&after));

    // The server finds each message by the id it had before the migration.
    let mut server = Server::start_in(&dir, &[]);
    let token = &token_for(server.addr, "alice", &passwords[0]);
    let ids = inbox_ids(&before, "alice");
    assert!(!ids.is_empty());
    for id in &ids {
        let path = format!("/api/v1/messages/{id}");
        let message = get_ok(server.addr, token, &path);
        assert_eq!(message["id"], id.as_str());
        assert_eq!(message["to"], "alice");
        assert!(message["body"].as_str().is_some_and(|b| !b.is_empty()));
    }
    let listed = get_ok(server.addr, token, "/api/v1/messages?box=inbox&limit=100");
    assert_eq!(listed["messages"].as_array().unwrap().len(), ids.len());
    server.stop();
}

#[test]
fn a_schema_1_database_is_migrated_on_open_and_keeps_every_message() {
    if crate::util::backend::embedded_only("a schema-1 redb file") {
        return;
    }
    migrates_and_keeps_every_message(|_| true, true);
}

#[test]
fn a_migration_stopped_between_steps_is_finished_by_the_next_open() {
    if crate::util::backend::embedded_only("a schema-1 redb file") {
        return;
    }
    migrates_and_keeps_every_message(|seq| seq % 2 == 0, false);
}

/// A schema-2 file (from before the woosh protocol's table) is carried to 3 when it is opened,
/// by a read-only `dump` too: the table is created and every record stays.
#[test]
fn a_schema_2_database_gets_the_woosh_table_when_opened() {
    if crate::util::backend::embedded_only("a schema-2 redb file") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    demo(&dir);
    let before = temp.path().join("before.dump");
    dump_to(&dir, &before);
    let db_file = dir.join("messages.redb");
    {
        let db = redb::Database::open(&db_file).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(WOOSH_ACCOUNTS.redb()).unwrap());
        txn.open_table(META.redb())
            .unwrap()
            .insert("schema_version", 2u64.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(schema_state(&db_file), (2, 0));
    let after = temp.path().join("after.dump");
    dump_to(&dir, &after);
    assert_eq!(schema_state(&db_file), (3, 0));
    assert_same_records(&records(&before), &records(&after));
}

#[test]
fn a_dump_written_by_schema_1_restores_into_the_current_schema() {
    if crate::util::backend::embedded_only("a schema-1 redb file") {
        return;
    }
    use base64::Engine;
    let temp = tempfile::tempdir().unwrap();
    let DemoDump {
        source,
        file: current,
        mut lines,
        trailer,
    } = demo_dump(temp.path());
    // Schema 1 wrote the same rows; only its header and its schema_version row differ.
    let encode = |n: u64| base64::engine::general_purpose::STANDARD.encode(n.to_le_bytes());
    let header = lines[0].replace("\"schema_version\":3", "\"schema_version\":1");
    assert_ne!(header, lines[0]);
    lines[0] = header;
    let meta = lines
        .iter()
        .position(|l| l.contains("\"key\":\"schema_version\""))
        .unwrap();
    let old_row = lines[meta].replace(&encode(3), &encode(1));
    assert_ne!(old_row, lines[meta]);
    lines[meta] = old_row;
    let old_dump = temp.path().join("schema1.dump");
    fs::write(&old_dump, with_trailer(&lines, &trailer)).unwrap();

    let target = temp.path().join("target");
    let output = restore_with_key(&target, &old_dump, &source.join("key"), false);
    assert!(output.status.success(), "{}", crate::util::stderr(&output));
    assert_eq!(schema_state(&target.join("messages.redb")), (3, 0));
    let again = temp.path().join("again.dump");
    dump_to(&target, &again);
    assert_same_records(&records(&current), &records(&again));
}

#[test]
fn a_crafted_dump_whose_messages_share_a_seq_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let DemoDump {
        source,
        mut lines,
        trailer,
        ..
    } = demo_dump(temp.path());
    // A second message line with a fresh id but the seq of the first: stored by seq, it would
    // silently replace the first message if restore did not check.
    let first = first_of_kind(&lines, "message");
    let mut twin = lines[first].clone();
    set_id(&mut twin, 'e');
    lines.insert(first + 1, twin);
    let mut counted: serde_json::Value = serde_json::from_str(&trailer).unwrap();
    let n = counted["counts"]["message"].as_u64().unwrap();
    counted["counts"]["message"] = (n + 1).into();
    let trailer = serde_json::to_string(&counted).unwrap();
    assert_crafted_dump_refused(
        temp.path(),
        &source.join("key"),
        &lines,
        &trailer,
        "two messages share",
    );
}

#[test]
fn a_crafted_dump_with_a_body_of_no_message_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let DemoDump {
        source,
        mut lines,
        trailer,
        ..
    } = demo_dump(temp.path());
    // A body whose id names no message: stored by seq, it would have no place to go, and a
    // restore that skipped it silently would not be the dump it was given.
    let first = first_of_kind(&lines, "body");
    set_id(&mut lines[first], 'e');
    assert_crafted_dump_refused(
        temp.path(),
        &source.join("key"),
        &lines,
        &trailer,
        "a body names no message",
    );
    // The dump it was made from still verifies.
    let output = verify_in_scratch(temp.path(), &temp.path().join("demo.dump"));
    assert!(output.status.success(), "{}", crate::util::stderr(&output));
    assert!(crate::util::stdout(&output).starts_with("ok: "));
}
