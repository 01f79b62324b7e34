//! `messages`: a self-hosted, secure messaging web application in one binary.
//!
//! The library holds everything; `main.rs` only parses the command line, runs one command and
//! turns its outcome into an exit code. See ARCHITECTURE.md for the map.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod error;
pub mod fuzzing;
pub mod http;
pub mod logging;
pub mod model;
pub mod store;
