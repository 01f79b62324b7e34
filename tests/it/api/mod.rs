//! The JSON API `/api/v1` as a program sees it: every endpoint's happy path, each error status
//! of `assets/openapi.json`, token life (revoked, ended by a password change or reset), IDOR,
//! pagination and polling while messages arrive, username rules, ids, and byte-exact round
//! trips. Token *expiry* is covered by a unit test in `src/app/auth.rs` (no flag shortens the
//! token life from outside).
//!
//! The helpers the tests share (requests, members, tokens, sends) are `crate::util::api`, the
//! same ones every other module that speaks to the API uses.

mod access;
mod content;
mod endpoints;
mod mailboxes;
mod reuse;
mod search;
mod unicode;

use std::collections::HashSet;

use base64::Engine;
use serde_json::{Value, json};

use crate::util::api::{
    PASSWORD, basic, call, create_token, create_token_with, expect, fields, get_ok, ids, member,
    message_id, register, registration, send, token,
};
use crate::util::client::{Client, Response};
use crate::util::{self, Server, run, stderr, stdout};
