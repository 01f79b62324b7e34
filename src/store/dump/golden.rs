//! Golden tests of the dump format: one line of every registered kind exactly as it is
//! written, a dump holding all of them that restores and dumps back byte for byte, and the
//! exact reason given to each of many crafted dumps (one-line ones in `golden_one_line.txt`).
//! A change to the format or to what a refused dump is told fails here; this file only reads
//! and restores dumps into temporary directories, never a real data directory.

use sha2::{Digest, Sha256};

use super::{Line, read_dump, restore_into, write_dump};
use crate::error::Error;
use crate::store::Snapshot;

const FINGERPRINT: &str = "f1f2f3f4";
const CREATED_AT: &str = "2026-01-01T00:00:00Z";
const HEADER: &str = r#"{"kind":"header","format":"messages-dump","version":1,"schema_version":3,"key_fingerprint":"f1f2f3f4","created_at":"2026-01-01T00:00:00Z"}"#;

/// One line of each kind, in dump order, as `write_dump` writes them: together a consistent
/// dump (the counters are past every number used, the message has its body and mailboxes).
const GOLDEN_ROWS: &[&str] = &[
    r#"{"kind":"meta","key":"next_deleted","value":"AgAAAAAAAAA="}"#,
    r#"{"kind":"meta","key":"next_event","value":"AgAAAAAAAAA="}"#,
    r#"{"kind":"meta","key":"next_seq","value":"AgAAAAAAAAA="}"#,
    r#"{"kind":"meta","key":"next_woosh_id","value":"AgAAAAAAAAA="}"#,
    r#"{"kind":"meta","key":"schema_version","value":"AwAAAAAAAAA="}"#,
    r#"{"kind":"user","username":"alice","record":{"name":"alice","password_phc":"$scrypt$ln=1$a","question":3,"answer_phc":"$scrypt$ln=1$b","created_at":1700000000,"password_changed_at":1700000001,"locked":true}}"#,
    r#"{"kind":"retired","username":"carol","deleted_at":1700000100}"#,
    r#"{"kind":"public_key","username":"alice","key":"a2V5"}"#,
    r#"{"kind":"woosh_account","username":"alice","record":{"spelling":"Alice","id":1,"private_key":"cHJpdg==","info":""}}"#,
    r#"{"kind":"message","id":"0123456789abcdef0123456789abcdef","record":{"seq":1,"from":"alice","to":"bob","sent_at":1700000200,"title":"dGl0bGU=","in_inbox":true,"in_sent":true}}"#,
    r#"{"kind":"body","id":"0123456789abcdef0123456789abcdef","body":"Ym9keQ=="}"#,
    r#"{"kind":"inbox","user":"bob","seq":1,"id":"0123456789abcdef0123456789abcdef","read":false}"#,
    r#"{"kind":"sent","user":"alice","seq":1,"id":"0123456789abcdef0123456789abcdef"}"#,
    r#"{"kind":"unread","user":"bob","count":1}"#,
    r#"{"kind":"deleted","number":1,"record":{"message_id":"fedcba9876543210fedcba9876543210","from":"bob","to":"alice","sent_at":1700000300,"title":"dA==","body":"Yg==","deleted_by":"alice","deleted_at":1700000400}}"#,
    r#"{"kind":"session","hash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","record":{"username":"alice","handle":"11111111111111111111111111111111","created_at":1700000500,"last_seen":1700000600,"ip":"127.0.0.1","user_agent":"test agent"}}"#,
    r#"{"kind":"user_session","user":"alice","handle":"11111111111111111111111111111111","hash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
    r#"{"kind":"token","hash":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","record":{"username":"bob","handle":"22222222222222222222222222222222","created_at":1700000700,"expires_at":1700000800}}"#,
    r#"{"kind":"user_token","user":"bob","handle":"22222222222222222222222222222222","hash":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}"#,
    r#"{"kind":"event","number":1,"record":{"at":1700000900,"kind":"login","username":"alice","ip":null,"detail":"ok"}}"#,
];

/// The trailer of the golden dump, with the place of its checksum left as `{}`.
const GOLDEN_TRAILER: &str = r#"{"kind":"trailer","counts":{"body":1,"deleted":1,"event":1,"inbox":1,"message":1,"meta":5,"public_key":1,"retired":1,"sent":1,"session":1,"token":1,"unread":1,"user":1,"user_session":1,"user_token":1,"woosh_account":1},"sha256":"{}"}"#;

/// A dump of the header and `rows` with a trailer, as `write_dump` writes it, whose counts and
/// checksum match (a row's kind is its `kind` field, or its first element in array form).
fn dump_of(rows: &[&str]) -> String {
    let mut text = format!("{HEADER}\n");
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for row in rows {
        text.push_str(row);
        text.push('\n');
        let value: serde_json::Value = serde_json::from_str(row).unwrap_or_default();
        let kind = value.get("kind").or_else(|| value.get(0));
        let kind = kind.and_then(|k| k.as_str()).unwrap_or_default();
        *counts.entry(kind.to_string()).or_default() += 1;
    }
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    let counts = serde_json::to_string(&counts).expect("counts");
    text.push_str(&format!(
        r#"{{"kind":"trailer","counts":{counts},"sha256":"{sha256}"}}"#
    ));
    text.push('\n');
    text
}

#[test]
fn each_kind_reads_and_writes_back_its_golden_line() {
    let mut kinds: Vec<&str> = Vec::new();
    for golden in GOLDEN_ROWS {
        let line: Line = serde_json::from_str(golden).expect(golden);
        assert_eq!(serde_json::to_string(&line).expect("encode"), *golden);
        if kinds.last() != Some(&line.kind()) {
            kinds.push(line.kind());
        }
    }
    // Every registered kind has its golden line, so a new kind's format is pinned too.
    let registered: Vec<&str> = crate::store::kinds::KINDS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(
        kinds, registered,
        "the golden lines miss a kind or are out of order"
    );
}

#[test]
fn the_golden_dump_restores_and_dumps_back_byte_for_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dump_of(GOLDEN_ROWS);
    let trailer_at = dump.trim_end().rfind('\n').expect("a trailer") + 1;
    let sha256 = hex::encode(Sha256::digest(&dump.as_bytes()[..trailer_at]));
    assert_eq!(
        dump[trailer_at..].trim_end(),
        GOLDEN_TRAILER.replace("{}", &sha256)
    );
    let target = dir.path().join(crate::store::DB_FILE);
    restore_into(&target, dump.as_bytes(), Some(FINGERPRINT), &mut |_| {}).expect("restore");
    let snapshot = Snapshot::open(dir.path()).expect("snapshot");
    let mut out = Vec::new();
    write_dump(&snapshot, FINGERPRINT, CREATED_AT, &mut out, &mut |_| {}).expect("dump");
    assert_eq!(String::from_utf8(out).expect("utf-8"), dump);
}

/// Restores `dump` into a scratch file and says how that ended: "ok" or the reason given.
fn outcome(dump: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("scratch.redb");
    match restore_into(&target, dump.as_bytes(), Some(FINGERPRINT), &mut |_| {}) {
        Ok(_) => "ok".to_string(),
        Err(Error::BadDump(reason)) => reason,
        Err(other) => format!("not a BadDump: {other}"),
    }
}

/// Asserts each `(what, dump, reason)` restores to `reason`, showing every one that does not.
fn assert_outcomes<'a>(cases: impl Iterator<Item = (String, String, &'a str)>) {
    let wrong: Vec<String> = cases
        .filter_map(|(what, dump, reason)| {
            let actual = outcome(&dump);
            (actual != reason).then(|| format!("{what}\n  was: {reason}\n  now: {actual}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the reasons changed:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn one_crafted_line_is_refused_with_the_same_reason() {
    let cases = include_str!("golden_one_line.txt")
        .split("\n\n")
        .filter(|case| !case.starts_with('#'))
        .map(|case| {
            let (row, reason) = case.split_once("\n=> ").expect("a row and its reason");
            (row.to_string(), dump_of(&[row]), reason.trim_end())
        });
    assert_outcomes(cases);
}

/// The golden rows with the row at `index` replaced by `row`.
fn golden_with(index: usize, row: &str) -> Vec<String> {
    let mut rows: Vec<String> = GOLDEN_ROWS.iter().map(|r| r.to_string()).collect();
    rows[index] = row.to_string();
    rows
}

/// Where the first golden row that contains `needle` (a kind, a meta key) is.
fn golden_row(needle: &str) -> usize {
    GOLDEN_ROWS
        .iter()
        .position(|row| row.contains(needle))
        .expect(needle)
}

/// The golden row of `needle` with `from` replaced by `to`, in the golden rows.
fn golden_changed(needle: &str, from: &str, to: &str) -> Vec<String> {
    let index = golden_row(needle);
    golden_with(index, &GOLDEN_ROWS[index].replace(from, to))
}

/// The golden dump with one thing changed, each told apart by its name.
fn changed_golden_dumps() -> Vec<(&'static str, Vec<String>)> {
    let mut dumps = one_row_changed();
    dumps.extend(rows_moved());
    dumps
}

/// The golden dump as it is, then with one row changed.
fn one_row_changed() -> Vec<(&'static str, Vec<String>)> {
    let (inbox, sent) = (r#""kind":"inbox""#, r#""kind":"sent""#);
    let value = |key: &'static str, to: &'static str| {
        let row = format!(r#""key":"{key}""#);
        golden_changed(
            &row,
            r#""value":"AgAAAAAAAAA=""#,
            &format!(r#""value":"{to}""#),
        )
    };
    let unread = golden_row(r#""kind":"unread""#);
    vec![
        ("the golden dump", golden_with(0, GOLDEN_ROWS[0])),
        (
            "a row in array form",
            golden_with(unread, r#"["unread","bob",1]"#),
        ),
        (
            "a record with an unknown field",
            golden_changed(
                r#""kind":"event""#,
                r#""detail":"ok""#,
                r#""detail":"ok","x":2"#,
            ),
        ),
        (
            "an id with a plus sign",
            golden_changed(sent, r#""id":"0"#, r#""id":"+"#),
        ),
        (
            "an inbox row of a missing message",
            golden_changed(inbox, "0123", "3210"),
        ),
        (
            "an inbox row of someone else",
            golden_changed(inbox, "bob", "dave"),
        ),
        (
            "an inbox row of another seq",
            golden_changed(inbox, r#""seq":1"#, r#""seq":5"#),
        ),
        (
            "a sent row of someone else",
            golden_changed(sent, "alice", "dave"),
        ),
        (
            "no schema version",
            golden_changed(
                r#""key":"schema_version""#,
                r#""schema_version","value":"AwAAAAAAAAA=""#,
                r#""other","value":"AA==""#,
            ),
        ),
        (
            "an older schema version",
            value("schema_version", "AQAAAAAAAAA="),
        ),
        ("the seq counter behind", value("next_seq", "AQAAAAAAAAA=")),
        ("a malformed seq counter", value("next_seq", "AQ==")),
        (
            "the deleted counter behind",
            value("next_deleted", "AQAAAAAAAAA="),
        ),
        (
            "the event counter behind",
            value("next_event", "AQAAAAAAAAA="),
        ),
    ]
}

/// Golden dumps with a row moved, added or left out.
fn rows_moved() -> Vec<(&'static str, Vec<String>)> {
    let message = golden_row(r#""kind":"message""#);
    let body = golden_row(r#""kind":"body""#);
    let mut body_first = golden_with(message, GOLDEN_ROWS[body]);
    body_first[body] = GOLDEN_ROWS[message].to_string();
    // A second message after the first, before the body.
    let second = |from: &str, to: &str| {
        let mut rows = golden_with(0, GOLDEN_ROWS[0]);
        rows.insert(body, GOLDEN_ROWS[message].replace(from, to));
        rows
    };
    let mut no_body = golden_with(0, GOLDEN_ROWS[0]);
    no_body.remove(body);
    let mut no_body_bad_inbox = golden_changed(r#""kind":"inbox""#, "bob", "dave");
    no_body_bad_inbox.remove(body);
    vec![
        ("a body before its message", body_first),
        (
            "two messages of one seq",
            second("0123456789", "9999999999"),
        ),
        ("two messages of one id", second(r#""seq":1"#, r#""seq":2"#)),
        ("a message without its body", no_body),
        (
            "a message without its body and a bad inbox row",
            no_body_bad_inbox,
        ),
    ]
}

/// What each changed golden dump was told, captured before the registry of stored kinds.
const CHANGED_REASONS: &[(&str, &str)] = &[
    ("the golden dump", "ok"),
    ("a row in array form", "ok"),
    ("a record with an unknown field", "ok"),
    ("an id with a plus sign", "ok"),
    (
        "a body before its message",
        "the dump is inconsistent: a body names no message (0123456789abcdef0123456789abcdef)",
    ),
    (
        "two messages of one seq",
        "the dump is inconsistent: two messages share the id 9999999999abcdef9999999999abcdef or the seq 1",
    ),
    (
        "two messages of one id",
        "the dump is inconsistent: two messages share the id 0123456789abcdef0123456789abcdef or the seq 2",
    ),
    (
        "an inbox row of a missing message",
        "the dump is inconsistent: mailbox of bob names a missing message",
    ),
    (
        "an inbox row of someone else",
        "the dump is inconsistent: mailbox entry 1 of dave does not match its message",
    ),
    (
        "an inbox row of another seq",
        "the dump is inconsistent: mailbox entry 5 of bob does not match its message",
    ),
    (
        "a sent row of someone else",
        "the dump is inconsistent: mailbox entry 1 of dave does not match its message",
    ),
    (
        "a message without its body",
        "the dump is inconsistent: message 0123456789abcdef0123456789abcdef has no body",
    ),
    (
        "a message without its body and a bad inbox row",
        "the dump is inconsistent: mailbox entry 1 of dave does not match its message",
    ),
    (
        "no schema version",
        "the dump is inconsistent: its schema version record is missing or wrong",
    ),
    ("an older schema version", "ok"),
    (
        "the seq counter behind",
        "the dump is inconsistent: mailbox entry 1 of bob does not match its message",
    ),
    (
        "a malformed seq counter",
        "the dump is inconsistent: mailbox entry 1 of bob does not match its message",
    ),
    (
        "the deleted counter behind",
        "the dump is inconsistent: the deleted-log counter is behind its entries",
    ),
    (
        "the event counter behind",
        "the dump is inconsistent: the event counter is behind its entries",
    ),
];

#[test]
fn a_changed_golden_dump_is_told_the_same_reason() {
    let reasons: std::collections::BTreeMap<&str, &str> = CHANGED_REASONS.iter().copied().collect();
    let dumps = changed_golden_dumps();
    assert_eq!(dumps.len(), reasons.len());
    assert_outcomes(dumps.into_iter().map(|(what, rows)| {
        let reason = reasons.get(what).copied().unwrap_or("(no reason pinned)");
        (
            what.to_string(),
            dump_of(&rows.iter().map(String::as_str).collect::<Vec<_>>()),
            reason,
        )
    }));
}

#[test]
fn a_bad_row_in_a_full_batch_is_told_at_the_line_that_filled_it() {
    // The body names no message; the error comes when the 20,000th row fills the first batch.
    let mut rows = vec![GOLDEN_ROWS[golden_row(r#""kind":"body""#)].to_string()];
    rows.extend(
        (1..super::RESTORE_BATCH)
            .map(|n| format!(r#"{{"kind":"unread","user":"user{n:05}","count":0}}"#)),
    );
    rows.extend(golden_with(0, GOLDEN_ROWS[0]));
    let dump = dump_of(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        outcome(&dump),
        "line 20001: the dump is inconsistent: a body names no message (0123456789abcdef0123456789abcdef)"
    );
}

#[test]
fn a_dump_of_another_key_is_refused_before_its_rows() {
    let dump = dump_of(&["not even a row"]).replace(FINGERPRINT, "0000");
    assert_eq!(
        outcome(&dump),
        "the dump was made with another key (0000) than the key file given (f1f2f3f4); pass the right one with --key-file"
    );
}

#[test]
fn a_dump_without_its_trailer_or_header_is_refused() {
    let dump = dump_of(GOLDEN_ROWS);
    let no_trailer = &dump[..dump.trim_end().rfind('\n').expect("a trailer") + 1];
    let reason = |text: &str| match read_dump(text.as_bytes(), |_| Ok(()), |_| Ok(())) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        reason(no_trailer),
        "the dump is truncated: it ends without its trailer line"
    );
    assert_eq!(
        reason(&dump[HEADER.len() + 1..]),
        "this is not a messages dump (its first line is not a dump header)"
    );
}

#[test]
fn a_dump_whose_frame_is_wrong_is_told_the_same_reason() {
    let good = dump_of(GOLDEN_ROWS);
    let trailer_at = good.trim_end().rfind('\n').expect("a trailer") + 1;
    let (rows, trailer) = good.split_at(trailer_at);
    let long_line = "x".repeat(super::MAX_LINE_BYTES + 1);
    let header_with = |from: &str, to: &str| format!("{}\n", HEADER.replace(from, to));
    // The header, the rows, the trailer, then the line after it.
    let after_trailer = format!("line {}: data after the trailer", GOLDEN_ROWS.len() + 3);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "the dump is empty"),
        (
            HEADER.to_string(),
            "the dump is truncated: its last line is incomplete",
        ),
        (
            format!("{rows}{}", trailer.trim_end()),
            "the dump is truncated: its last line is incomplete",
        ),
        (
            format!("{HEADER}\n"),
            "the dump is truncated: it ends without its trailer line",
        ),
        (format!("{long_line}\n"), "line 1: line is too long"),
        (
            format!("{HEADER}\n{long_line}\n"),
            "line 2: line is too long",
        ),
        (
            "{}\n".to_string(),
            "this is not a messages dump (its first line is not a dump header)",
        ),
        (
            format!("{}\n", GOLDEN_ROWS[0]),
            "this is not a messages dump (its first line is not a dump header)",
        ),
        (
            trailer.to_string(),
            "this is not a messages dump (its first line is not a dump header)",
        ),
        (
            header_with("messages-dump", "other"),
            "this is not a messages dump (format `other`)",
        ),
        (
            header_with(r#""version":1"#, r#""version":2"#),
            "the dump has format version 2, newer than this binary reads (1); use a newer messages binary",
        ),
        (
            header_with(r#""schema_version":3"#, r#""schema_version":4"#),
            "the dump has schema version 4, newer than this binary understands (3)",
        ),
        (
            format!(
                "{rows}{}",
                trailer.replace(r#""sha256":""#, r#""sha256":"0"#)
            ),
            "the checksum does not match: the dump was altered or damaged",
        ),
        (
            format!("{rows}{}", trailer.replace(r#""meta":5"#, r#""meta":6"#)),
            "the record counts in the trailer do not match the records",
        ),
        (format!("{good}\n"), after_trailer.as_str()),
        (format!("{good}{}", GOLDEN_ROWS[0]), after_trailer.as_str()),
    ];
    for (dump, expected) in cases {
        let reason = match read_dump(dump.as_bytes(), |_| Ok(()), |_| Ok(())) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            reason,
            expected,
            "{}",
            dump.chars().take(200).collect::<String>()
        );
    }
}
