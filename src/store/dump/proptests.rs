//! Property tests of the dump reader: a real dump (the demo data, written by `write_dump` from
//! a snapshot) is read back whole; with any one byte changed it is refused, never half-read and
//! never a panic; random bytes and lines are refused. The acceptance rule itself is in
//! `crate::fuzzing::checks::check_dump`, shared with the fuzz target in tests/fuzz/.

use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::app::{App, Settings};
use crate::crypto::{DataKey, PasswordHasher};
use crate::fuzzing::checks::check_dump;
use crate::fuzzing::read_dump;
use crate::store::{Snapshot, Store};

/// The demo data's dump, made once per test run (a store in a temporary directory).
fn demo_dump() -> &'static [u8] {
    static DUMP: OnceLock<Vec<u8>> = OnceLock::new();
    DUMP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Store::open(dir.path()).expect("store");
            // The cheapest scrypt cost: these hashes only have to exist.
            let app = App::new(
                store,
                DataKey::from_bytes([7; 32]),
                PasswordHasher::new(1),
                Settings::default(),
            )
            .expect("app");
            app.demo(0, &mut |_| {}).expect("demo data");
        }
        let snapshot = Snapshot::open(dir.path()).expect("snapshot");
        let mut out = Vec::new();
        let fingerprint = DataKey::from_bytes([7; 32]).fingerprint();
        super::write_dump(
            &snapshot,
            &fingerprint,
            "2026-01-01T00:00:00Z",
            &mut out,
            &mut |_| {},
        )
        .expect("dump");
        out
    })
}

#[test]
fn the_demo_dump_reads_back_whole() {
    let summary = read_dump(demo_dump()).expect("a valid dump");
    assert!(
        summary.counts.get("message").is_some_and(|&n| n > 0),
        "{:?}",
        summary.counts
    );
    check_dump(demo_dump());
}

proptest! {
    #![proptest_config(crate::fuzzing::proptest_config(300, "tests/proptest-regressions/store-dump.txt"))]

    #[test]
    fn a_dump_with_one_byte_changed_is_refused(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut dump = demo_dump().to_vec();
        let i = at.index(dump.len());
        prop_assume!(dump[i] != byte);
        dump[i] = byte;
        prop_assert!(read_dump(&dump).is_err(), "byte {i} set to {byte} was accepted");
    }

    #[test]
    fn a_dump_cut_short_or_extended_is_refused(
        at in any::<prop::sample::Index>(),
        extra in vec(any::<u8>(), 1..20),
    ) {
        let dump = demo_dump();
        prop_assert!(read_dump(&dump[..at.index(dump.len())]).is_err());
        prop_assert!(read_dump(&[dump, &extra].concat()).is_err());
    }

    #[test]
    fn random_lines_are_refused_and_never_panic(
        lines in vec(prop_oneof![
            Just("{\"kind\":\"header\",\"format\":\"messages-dump\",\"version\":1,\"schema_version\":1,\"key_fingerprint\":\"x\",\"created_at\":\"y\"}".to_string()),
            Just("{\"kind\":\"trailer\",\"counts\":{},\"sha256\":\"\"}".to_string()),
            "\\PC{0,60}",
        ], 0..5),
    ) {
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        check_dump(text.as_bytes());
    }
}
