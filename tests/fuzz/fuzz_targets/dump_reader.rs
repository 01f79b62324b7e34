//! Fuzz target: the dump reader (structure, header, rows, counts, checksum). What must hold is
//! stated in `messages::fuzzing::checks::check_dump`; the proptests hold the decoder to the same
//! checks, and a unit test replays the findings kept in tests/fuzz/regressions/dump_reader/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| messages::fuzzing::checks::check_dump(data));
