//! Fuzz target: API cursor tokens (sealed, bound to a member and a mailbox). What must hold is
//! stated in `messages::fuzzing::checks::fuzz_cursor_token`; the proptests hold the decoder to the
//! same checks, and a unit test replays the findings kept in tests/fuzz/regressions/cursor_token/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| messages::fuzzing::checks::fuzz_cursor_token(data));
