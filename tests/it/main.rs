//! The integration suite, built twice (Cargo.toml): as `it` on the embedded store and as
//! `it_postgres` on PostgreSQL (`util/backend.rs`). Black-box tests of the real `messages`
//! binary (and, where a guard can only be reached from inside, of the library), one module
//! per capability, with
//! their shared helpers in `util/`; and `boundaries`, which reads the source to hold the
//! architecture's module boundaries.

mod api;
mod boundaries;
mod browser;
mod browser_a11y;
mod browser_live;
mod browser_search;
mod fleet;
mod foundation;
mod http_core;
mod migration;
mod ops;
mod races;
mod util;
mod web;
mod woosh;
mod woosh_attacks;
mod woosh_data;
