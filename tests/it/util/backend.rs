//! Which store the tests run against. The same test sources are built twice (Cargo.toml):
//! as `it`, against the embedded store, and as `it_postgres`, against PostgreSQL, where every
//! data directory a test uses gets a fresh database of its own in the cluster that
//! `MESSAGES_TEST_POSTGRES` names (e.g. `postgres://postgres@127.0.0.1:55432`), passed to
//! every command the test runs as `MESSAGES_DATABASE`.
//!
//! Without `MESSAGES_TEST_POSTGRES`, `it_postgres` says why on stderr and ends at its first
//! server or command with success: the PostgreSQL half is skipped by hand, never silently
//! in CI (`.ci/run` sets `MESSAGES_TEST_POSTGRES_REQUIRED`, which makes that a failure).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Whether this test binary runs against PostgreSQL.
pub fn is_postgres() -> bool {
    env!("CARGO_CRATE_NAME") == "it_postgres"
}

/// The cluster's base URL (without a database), or the end of this binary when there is none.
fn cluster() -> String {
    match std::env::var("MESSAGES_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_string(),
        _ => {
            let reason = "it_postgres: MESSAGES_TEST_POSTGRES is not set, so the PostgreSQL half \
                          of the suite is skipped (set it to postgres://USER@HOST:PORT of a \
                          throwaway cluster; .ci/run starts one)";
            if std::env::var_os("MESSAGES_TEST_POSTGRES_REQUIRED").is_some() {
                panic!("{reason}, but MESSAGES_TEST_POSTGRES_REQUIRED says it must run");
            }
            let _ = writeln!(std::io::stderr(), "{reason}");
            std::process::exit(0);
        }
    }
}

/// The URL of a database of the test cluster named `name` (created if missing).
pub fn database_named(name: &str) -> String {
    let base = cluster();
    let admin = format!("{base}/postgres?sslmode=disable");
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test cluster {base}: {e}"));
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .expect("looking up a test database")
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating a test database");
    }
    format!("{base}/{name}?sslmode=disable")
}

static BY_DIR: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();

/// The database of the data directory `dir` (the same one for every command on it).
pub fn database_for(dir: &Path) -> String {
    let mut known = BY_DIR.get_or_init(Default::default).lock().unwrap();
    if let Some(url) = known.get(dir) {
        return url.clone();
    }
    let name = format!("t{:032x}", random());
    let url = database_named(&name);
    known.insert(dir.to_path_buf(), url.clone());
    url
}

/// A fresh database of the test cluster, for tests that share one between servers.
pub fn fresh_database() -> String {
    database_named(&format!("t{:032x}", random()))
}

fn random() -> u128 {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("random bytes");
    u128::from_le_bytes(bytes)
}

/// Sets the store of a command on `dir`: its own database when the suite runs on PostgreSQL,
/// the embedded file otherwise.
pub fn apply(command: &mut std::process::Command, dir: &Path) {
    command.env_remove("MESSAGES_DATABASE");
    if is_postgres() {
        command.env("MESSAGES_DATABASE", database_for(dir));
    }
}

/// For the few tests about the embedded file itself (its format, its disk): true, after
/// saying so, when this run is on PostgreSQL, where the test has nothing to check.
pub fn embedded_only(what: &str) -> bool {
    if is_postgres() {
        let _ = writeln!(
            std::io::stderr(),
            "not on PostgreSQL: {what} is about the embedded redb file"
        );
        return true;
    }
    false
}

/// The store of the data directory `dir`, as the library names it (for the few tests that open
/// a stopped server's data through the library).
pub fn location(dir: &Path) -> messages::store::Location {
    data(dir).location
}

/// The data directory `dir` and its store, as the commands see them.
pub fn data(dir: &Path) -> messages::commands::Data {
    let database = is_postgres().then(|| database_for(dir));
    messages::commands::Data::new(dir, database.as_deref()).expect("a test data place")
}

/// A digest of every row of the data directory's database (PostgreSQL), to show that a refused
/// command changed nothing; "empty" before the schema exists.
pub fn digest(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let url = database_for(dir);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("the test database");
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'messages' ORDER BY 1",
            &[],
        )
        .expect("listing tables");
    if tables.is_empty() {
        return "empty".into();
    }
    let mut hash = Sha256::new();
    for table in tables {
        let name: String = table.get(0);
        hash.update(name.as_bytes());
        for row in client
            .query(&format!("SELECT k, v FROM messages.{name} ORDER BY k"), &[])
            .expect("reading a table")
        {
            let (k, v): (Vec<u8>, Vec<u8>) = (row.get(0), row.get(1));
            hash.update((k.len() as u64).to_le_bytes());
            hash.update(&k);
            hash.update((v.len() as u64).to_le_bytes());
            hash.update(&v);
        }
    }
    hex::encode(hash.finalize())
}

/// Whether any key or value of the database of `dir` holds `needle` (false when this run is
/// not on PostgreSQL or `dir` has no database).
pub fn database_contains(dir: &Path, needle: &[u8]) -> bool {
    if !is_postgres() {
        return false;
    }
    let url = match BY_DIR
        .get()
        .and_then(|m| m.lock().unwrap().get(dir).cloned())
    {
        Some(url) => url,
        None => return false,
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("the test database");
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'messages'",
            &[],
        )
        .expect("listing tables");
    tables.iter().any(|table| {
        let name: String = table.get(0);
        let sql = format!(
            "SELECT 1 FROM messages.{name} WHERE position($1::bytea in k) > 0 OR position($1::bytea in v) > 0 LIMIT 1"
        );
        !client.query(&sql, &[&needle]).expect("searching a table").is_empty()
    })
}
