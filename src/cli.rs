//! The command line as clap sees it: plain structs, no logic. Every flag also reads an
//! environment variable (`MESSAGES_<FLAG>`). `config.rs` turns these into validated values.
//! A default that a library type also has is named here from that type's constant, never
//! written a second time.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::Settings;
use crate::app::throttle::ThrottleSettings;
use crate::http::server::Limits;

#[derive(Debug, Parser)]
#[command(
    name = "messages",
    version,
    about = "A self-hosted, secure messaging server in one binary"
)]
pub struct Cli {
    /// The data directory: database, key file, logs.
    #[arg(
        long,
        global = true,
        env = "MESSAGES_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,

    /// The database: absent for the embedded one in the data directory, or
    /// `postgres://USER@HOST:PORT/DB?sslmode=verify-full` for a PostgreSQL database shared by
    /// several servers (the password from the URL, PGPASSWORD or PGPASSFILE).
    #[arg(long, global = true, env = "MESSAGES_DATABASE", hide_env_values = true)]
    pub database: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server.
    Serve(Box<ServeArgs>),
    /// Write all data to a dump file (works while the server runs).
    Dump {
        /// Where to write; `-` for standard output.
        #[arg(long, env = "MESSAGES_OUTPUT", default_value = "-")]
        output: PathBuf,
    },
    /// Replace all data with a dump, after verifying it whole.
    Restore {
        /// The dump to read; `-` for standard input.
        #[arg(long, env = "MESSAGES_INPUT")]
        input: PathBuf,
        /// Replace existing data.
        #[arg(long, env = "MESSAGES_FORCE")]
        force: bool,
        /// The key file the dump was made with (default: the one in the data directory).
        #[arg(long, env = "MESSAGES_KEY_FILE")]
        key_file: Option<PathBuf>,
    },
    /// Check a dump's structure, counts and checksum without restoring it.
    Verify {
        /// The dump to check; `-` for standard input.
        file: PathBuf,
    },
    /// Create demo users and messages and print their passwords.
    Demo {
        /// Also generate this many messages (for benchmarks).
        #[arg(long, env = "MESSAGES_DEMO_MESSAGES", default_value_t = 0, hide = true)]
        messages: u64,
    },
    /// Manage the registration PIN.
    Pin {
        #[command(subcommand)]
        action: PinAction,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Show the deleted-message log, decrypted.
    Deleted {
        #[arg(long, env = "MESSAGES_USER")]
        user: Option<String>,
        /// YYYY-MM-DD or an RFC 3339 time.
        #[arg(long, env = "MESSAGES_SINCE")]
        since: Option<String>,
    },
    /// Ask a running server on this machine whether it is healthy (`GET /healthz`): exit 0
    /// when it answers 200, 1 otherwise (for a container's health check; plain HTTP only).
    Health {
        /// The address the server listens on.
        #[arg(long, env = "MESSAGES_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Show security events.
    Audit {
        /// YYYY-MM-DD or an RFC 3339 time.
        #[arg(long, env = "MESSAGES_SINCE")]
        since: Option<String>,
    },
    /// Re-encrypt everything under a new key (server stopped).
    RotateKey,
}

#[derive(Debug, Subcommand)]
pub enum PinAction {
    /// Set the PIN, read from standard input (or a prompt).
    Set,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// List accounts.
    List,
    /// Lock an account (ends its sessions and tokens).
    Lock { username: String },
    /// Unlock an account.
    Unlock { username: String },
    /// Give an account a new generated password (printed once).
    ResetPassword { username: String },
    /// Delete an account and its mailboxes; the name is never given out again.
    Delete { username: String },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "MESSAGES_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Also serve the end-to-end chat ("woosh") protocol on this address and port (off unless
    /// given).
    #[arg(long, env = "MESSAGES_WOOSH_LISTEN")]
    pub woosh_listen: Option<String>,
    /// Whether anyone who reaches the woosh listener may register there (open bypasses the
    /// PIN: for a trusted network or a registration window).
    #[arg(long, env = "MESSAGES_WOOSH_REGISTRATION", default_value = "closed", value_parser = ["open", "closed"])]
    pub woosh_registration: String,
    /// Set the registration PIN (visible in the process list: prefer `messages pin set`).
    #[arg(long, env = "MESSAGES_PIN", hide_env_values = true)]
    pub pin: Option<String>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, env = "MESSAGES_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, env = "MESSAGES_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Handlers running at once (default: 32 per CPU, at least 64).
    #[arg(long, env = "MESSAGES_THREADS")]
    pub threads: Option<usize>,
    /// Directory of the daily log files (default: DATA_DIR/logs).
    #[arg(long, env = "MESSAGES_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Days of log files to keep.
    #[arg(long, env = "MESSAGES_LOG_KEEP_DAYS", default_value_t = 14)]
    pub log_keep_days: usize,
    /// Largest request body in bytes.
    #[arg(long, env = "MESSAGES_MAX_BODY", default_value_t = Limits::DEFAULT_MAX_BODY_BYTES)]
    pub max_body: usize,
    /// Request-body bytes all connections together may hold beyond the first 64 KiB of each
    /// request; a body that finds it spent is answered 503.
    #[arg(long, env = "MESSAGES_MAX_BODY_MEMORY", default_value_t = Limits::DEFAULT_MAX_BODY_MEMORY)]
    pub max_body_memory: usize,
    /// Open connections in total.
    #[arg(long, env = "MESSAGES_MAX_CONNECTIONS", default_value_t = Limits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Open connections from one IP address.
    #[arg(long, env = "MESSAGES_MAX_CONNECTIONS_PER_IP", default_value_t = Limits::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,
    /// Seconds a client has to send its request head.
    #[arg(long, env = "MESSAGES_HEADER_TIMEOUT", default_value_t = Limits::DEFAULT_HEADER_TIMEOUT_SECS)]
    pub header_timeout: u64,
    /// Seconds an idle keep-alive connection is kept.
    #[arg(long, env = "MESSAGES_IDLE_TIMEOUT", default_value_t = Limits::DEFAULT_IDLE_TIMEOUT_SECS)]
    pub idle_timeout: u64,
    /// Seconds a client may take to accept response bytes before it is dropped.
    #[arg(long, env = "MESSAGES_WRITE_TIMEOUT", default_value_t = Limits::DEFAULT_WRITE_TIMEOUT_SECS)]
    pub write_timeout: u64,
    /// scrypt cost as log2(N), 15 to 20.
    #[arg(long, env = "MESSAGES_SCRYPT_LOG_N", default_value_t = 16)]
    pub scrypt_log_n: u8,
    /// Minutes of inactivity that end a session.
    #[arg(long, env = "MESSAGES_SESSION_IDLE_MINUTES", default_value_t = Settings::DEFAULT_SESSION_IDLE_MINUTES)]
    pub session_idle_minutes: u64,
    /// Hours after which a session ends regardless.
    #[arg(long, env = "MESSAGES_SESSION_MAX_HOURS", default_value_t = Settings::DEFAULT_SESSION_MAX_HOURS)]
    pub session_max_hours: u64,
    /// Failed logins or resets for one account before it is locked for a while.
    #[arg(long, env = "MESSAGES_LOGIN_MAX_FAILURES", default_value_t = ThrottleSettings::DEFAULT_MAX_FAILURES_ACCOUNT)]
    pub login_max_failures: u32,
    /// Failed attempts from one IP address before it is locked for a while.
    #[arg(long, env = "MESSAGES_IP_MAX_FAILURES", default_value_t = ThrottleSettings::DEFAULT_MAX_FAILURES_IP)]
    pub ip_max_failures: u32,
    /// Seconds of the first lock; each further lock doubles it (up to an hour).
    #[arg(long, env = "MESSAGES_LOCKOUT_SECONDS", default_value_t = ThrottleSettings::DEFAULT_LOCKOUT_SECS)]
    pub lockout_seconds: u64,
    /// Wrong registration PINs per hour from all IP addresses together before registration
    /// pauses (for the hour, or until a new PIN is set).
    #[arg(
        long,
        env = "MESSAGES_PIN_MAX_FAILURES_PER_HOUR",
        default_value_t = ThrottleSettings::DEFAULT_MAX_WRONG_PINS_PER_HOUR
    )]
    pub pin_max_failures_per_hour: u32,
    /// Login, token, registration and reset attempts per IP address and per account per minute.
    #[arg(long, env = "MESSAGES_ATTEMPTS_PER_MINUTE", default_value_t = ThrottleSettings::DEFAULT_ATTEMPTS_PER_MINUTE)]
    pub attempts_per_minute: u32,
    /// Days the deleted-message log keeps an entry (0: none survives the next housekeeping pass,
    /// which runs at start and every five minutes).
    #[arg(long, env = "MESSAGES_DELETED_KEEP_DAYS", default_value_t = 90)]
    pub deleted_keep_days: u64,
    /// Days security events are kept (0: as for --deleted-keep-days).
    #[arg(long, env = "MESSAGES_AUDIT_KEEP_DAYS", default_value_t = 365)]
    pub audit_keep_days: u64,
}
