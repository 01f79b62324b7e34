//! `--database postgres://user@host:port/db?sslmode=...`: what it may say, where the password
//! comes from (the URL, `PGPASSWORD`, or a `PGPASSFILE` / `~/.pgpass` line, as libpq reads
//! them), and how the URL is shown without its password.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// How the connection is protected, as libpq names it. Only `verify-full` proves the server is
/// the one named in the URL; `require` encrypts without checking who answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A parsed database URL.
#[derive(Clone)]
pub struct PgUrl {
    pub(super) config: postgres::Config,
    pub(super) ssl: SslMode,
    pub(super) root_cert: Option<PathBuf>,
    shown: String,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl PgUrl {
    /// Parses `url`; `None` when it is no PostgreSQL URL at all (the caller says what is
    /// accepted). The error never repeats the password.
    pub fn parse(url: &str) -> Result<Self> {
        let rest = ["postgres://", "postgresql://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .ok_or_else(|| {
                Error::storage(format!(
                    "the database URL {} is not a postgres:// URL (leave --database out for the embedded store)",
                    shown(url)
                ))
            })?;
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut ssl = SslMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decoded(value);
            match key {
                "sslmode" => {
                    ssl = match value.as_str() {
                        "disable" => SslMode::Disable,
                        "prefer" | "allow" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(Error::storage(format!(
                                "the database URL's sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                            )));
                        }
                    }
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(value)),
                _ => kept.push(pair),
            }
        }
        let mut passed = format!("postgresql://{base}");
        if !kept.is_empty() {
            passed.push('?');
            passed.push_str(&kept.join("&"));
        }
        let mut config = postgres::Config::from_str(&passed).map_err(|e| {
            Error::storage(format!("the database URL {} is malformed: {e}", shown(url)))
        })?;
        if config.get_hosts().is_empty() {
            return Err(Error::storage(format!(
                "the database URL {} names no host",
                shown(url)
            )));
        }
        if config.get_user().is_none() {
            match std::env::var("PGUSER") {
                Ok(user) if !user.is_empty() => {
                    config.user(&user);
                }
                _ => {
                    return Err(Error::storage(format!(
                        "the database URL {} names no user (postgres://USER@HOST/DB)",
                        shown(url)
                    )));
                }
            }
        }
        if config.get_dbname().is_none() {
            let user = config.get_user().unwrap_or_default().to_string();
            config.dbname(&user);
        }
        if config.get_password().is_none()
            && let Some(password) = password_from_environment(&config)
        {
            config.password(password);
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("messages");
        config.ssl_mode(match ssl {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        Ok(PgUrl {
            config,
            ssl,
            root_cert,
            shown: shown(url),
        })
    }

    /// The URL without its password, for logs and errors.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// `url` with the password between `:` and `@` replaced by `***`.
fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(a URL that is not postgres://)".into();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{tail}"),
    }
}

fn percent_decoded(text: &str) -> String {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// `PGPASSWORD`, else the first matching line of `PGPASSFILE` (or `~/.pgpass`), which libpq
/// ignores unless only its owner may read it; so do we.
fn password_from_environment(config: &postgres::Config) -> Option<String> {
    if let Ok(password) = std::env::var("PGPASSWORD") {
        return Some(password);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
    let text = read_private(&file)?;
    let host = match config.get_hosts().first()? {
        postgres::config::Host::Tcp(host) => host.clone(),
        postgres::config::Host::Unix(path) => path.display().to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let wanted = [
        host.as_str(),
        port.as_str(),
        config.get_dbname().unwrap_or_default(),
        config.get_user().unwrap_or_default(),
    ];
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| passfile_match(line, &wanted))
}

fn read_private(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "ignoring {}: others may read it (chmod 600 it)",
            path.display()
        );
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The password of a `host:port:database:user:password` line if its first four fields match
/// (`*` matches anything; `\:` and `\\` are a literal colon and backslash).
fn passfile_match(line: &str, wanted: &[&str; 4]) -> Option<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    if fields.len() != 5 {
        return None;
    }
    let matches = fields[..4]
        .iter()
        .zip(wanted)
        .all(|(pattern, value)| pattern == "*" || pattern == value);
    matches.then(|| fields[4].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        assert_eq!(
            shown("postgres://app:s3cret@db.example:5432/messages?sslmode=require"),
            "postgres://app:***@db.example:5432/messages?sslmode=require"
        );
        assert_eq!(
            shown("postgres://app@db/messages"),
            "postgres://app@db/messages"
        );
        let error = PgUrl::parse("postgres://app:s3cret@db/x?sslmode=bogus")
            .err()
            .unwrap();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        let error = PgUrl::parse("mysql://app:s3cret@db/x").err().unwrap();
        assert!(!format!("{error}").contains("s3cret"), "{error}");
        let url = PgUrl::parse("postgres://app:s3cret@db/x").unwrap();
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn ssl_options_are_read_and_the_rest_passed_on() {
        let url = PgUrl::parse(
            "postgres://app@127.0.0.1:5433/m?sslmode=verify-full&sslrootcert=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(url.ssl, SslMode::VerifyFull);
        assert_eq!(url.root_cert.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(url.config.get_ports(), &[5433]);
        assert_eq!(url.config.get_dbname(), Some("m"));
        let default = PgUrl::parse("postgresql://app@localhost").unwrap();
        assert_eq!(default.ssl, SslMode::Prefer);
        assert_eq!(default.config.get_dbname(), Some("app"));
    }

    #[test]
    fn a_passfile_line_matches_field_by_field() {
        let wanted = ["db", "5432", "m", "app"];
        assert_eq!(
            passfile_match("db:5432:m:app:pw", &wanted).as_deref(),
            Some("pw")
        );
        assert_eq!(
            passfile_match("*:*:*:app:p\\:w", &wanted).as_deref(),
            Some("p:w")
        );
        assert_eq!(passfile_match("db:5432:other:app:pw", &wanted), None);
        assert_eq!(passfile_match("db:5432:m", &wanted), None);
    }
}
