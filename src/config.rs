//! Turns the parsed command line into validated configuration, once. Values are handed down
//! explicitly; nothing here is global.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::Settings;
use crate::app::throttle::ThrottleSettings;
use crate::cli::ServeArgs;
use crate::http::server::Limits;

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// The woosh protocol's listener, if asked for, and whether it lets anyone register.
    pub woosh_listen: Option<SocketAddr>,
    pub woosh_registration_open: bool,
    pub data_dir: PathBuf,
    pub pin: Option<String>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub log_dir: PathBuf,
    pub log_keep_days: usize,
    pub scrypt_log_n: u8,
    pub limits: Limits,
    pub settings: Settings,
    pub deleted_keep_days: u64,
    pub audit_keep_days: u64,
}

impl ServeConfig {
    pub fn try_from_args(args: ServeArgs, data_dir: PathBuf) -> Result<Self, String> {
        let listen: SocketAddr = args.listen.parse().map_err(|_| {
            format!(
                "--listen `{}` is not an address and port such as 127.0.0.1:8080",
                args.listen
            )
        })?;
        let woosh_listen = match &args.woosh_listen {
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                format!("--woosh-listen `{text}` is not an address and port such as 127.0.0.1:3000")
            })?),
            None => None,
        };
        if !(15..=20).contains(&args.scrypt_log_n) {
            return Err(format!(
                "--scrypt-log-n must be between 15 and 20, not {}",
                args.scrypt_log_n
            ));
        }
        let positive = |name: &str, value: u64| {
            if value == 0 {
                Err(format!("--{name} must be greater than 0"))
            } else {
                Ok(value)
            }
        };
        positive("header-timeout", args.header_timeout)?;
        positive("idle-timeout", args.idle_timeout)?;
        positive("write-timeout", args.write_timeout)?;
        positive("session-idle-minutes", args.session_idle_minutes)?;
        positive("session-max-hours", args.session_max_hours)?;
        positive("login-max-failures", u64::from(args.login_max_failures))?;
        positive("ip-max-failures", u64::from(args.ip_max_failures))?;
        positive("attempts-per-minute", u64::from(args.attempts_per_minute))?;
        positive(
            "pin-max-failures-per-hour",
            u64::from(args.pin_max_failures_per_hour),
        )?;
        positive("log-keep-days", args.log_keep_days as u64)?;
        if args.max_body < 1024 {
            return Err("--max-body must be at least 1024 bytes".into());
        }
        if args.max_body_memory < args.max_body {
            return Err("--max-body-memory must be at least --max-body".into());
        }
        if args.max_connections == 0 || args.max_connections_per_ip == 0 {
            return Err(
                "--max-connections and --max-connections-per-ip must be greater than 0".into(),
            );
        }
        let mut limits = Limits::default();
        if let Some(threads) = args.threads {
            if threads == 0 || threads > 4096 {
                return Err("--threads must be between 1 and 4096".into());
            }
            limits.threads = threads;
        }
        limits.max_body_bytes = args.max_body;
        limits.max_body_memory = args.max_body_memory;
        limits.max_connections = args.max_connections;
        limits.max_connections_per_ip = args.max_connections_per_ip;
        limits.header_timeout = Duration::from_secs(args.header_timeout);
        limits.idle_timeout = Duration::from_secs(args.idle_timeout);
        limits.write_timeout = Duration::from_secs(args.write_timeout);
        let settings = Settings {
            session_idle: Duration::from_secs(args.session_idle_minutes * 60),
            session_absolute: Duration::from_secs(args.session_max_hours * 3600),
            throttle: ThrottleSettings {
                attempts_per_minute: args.attempts_per_minute,
                max_failures_account: args.login_max_failures,
                max_failures_ip: args.ip_max_failures,
                lockout: Duration::from_secs(args.lockout_seconds.max(1)),
                max_wrong_pins_per_hour: args.pin_max_failures_per_hour,
            },
            ..Settings::default()
        };
        let tls = match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        Ok(ServeConfig {
            listen,
            woosh_listen,
            woosh_registration_open: args.woosh_registration == "open",
            log_dir: args.log_dir.unwrap_or_else(|| data_dir.join("logs")),
            data_dir,
            pin: args.pin,
            tls,
            log_keep_days: args.log_keep_days,
            scrypt_log_n: args.scrypt_log_n,
            limits,
            settings,
            deleted_keep_days: args.deleted_keep_days,
            audit_keep_days: args.audit_keep_days,
        })
    }
}
