//! Fuzz target: the form decoder of the pages (application/x-www-form-urlencoded). What must hold
//! is stated in `messages::fuzzing::checks::check_form_fields`; the proptests hold the decoder to
//! the same checks, and a unit test replays the findings kept in
//! tests/fuzz/regressions/form_fields/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| messages::fuzzing::checks::check_form_fields(data));
