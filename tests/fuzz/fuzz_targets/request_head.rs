//! Fuzz target: the request-head parser. What must hold is stated in
//! `messages::fuzzing::checks::fuzz_request_head`; the proptests hold the decoder to the same
//! checks, and a unit test replays the findings kept in tests/fuzz/regressions/request_head/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| messages::fuzzing::checks::fuzz_request_head(data));
