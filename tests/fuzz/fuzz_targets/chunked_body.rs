//! Fuzz target: the chunked-body decoder, against a plain reading of the grammar. What must hold is
//! stated in `messages::fuzzing::checks::fuzz_chunked_body`; the proptests hold the decoder to the
//! same checks, and a unit test replays the findings kept in tests/fuzz/regressions/chunked_body/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| messages::fuzzing::checks::fuzz_chunked_body(data));
