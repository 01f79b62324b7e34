//! Replays every input kept under tests/fuzz/regressions/<target>/ (what a fuzzer or a
//! proptest once found a bug with) through the function its fuzz target runs, so a fixed bug
//! stays fixed in every `cargo test`, with no fuzzer installed.

use std::path::Path;

use super::checks::TARGETS;

#[test]
fn every_kept_fuzz_finding_passes_its_target_now() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/regressions");
    let mut n_replayed = 0;
    for entry in std::fs::read_dir(&root).expect("tests/fuzz/regressions exists") {
        let dir = entry.expect("a directory entry").path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (_, run) = TARGETS
            .iter()
            .find(|(target, _)| *target == name)
            .unwrap_or_else(|| panic!("{} is not a fuzz target", dir.display()));
        for file in std::fs::read_dir(&dir).expect("a target's folder") {
            let path = file.expect("a directory entry").path();
            eprintln!("replaying {}", path.display());
            run(&std::fs::read(&path).expect("a kept input"));
            n_replayed += 1;
        }
    }
    assert!(n_replayed > 0, "no kept input under {}", root.display());
}
