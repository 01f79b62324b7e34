//! The commands behind the command line: each takes validated configuration, does its work
//! through `app` and `store`, prints its results, and returns an error for `main` to report.

pub mod admin;
pub mod data;
pub mod rotate;
pub mod serve;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::app::{App, Settings};
use crate::crypto::{DataKey, PasswordHasher};
use crate::store::{Location, Store};

pub const KEY_FILE: &str = "key";
pub const LOCK_FILE: &str = "lock";

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

/// Creates the data directory (mode 0700) if it does not exist.
pub fn ensure_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    if !data_dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    }
    if !data_dir.is_dir() {
        bail!("{} is not a directory", data_dir.display());
    }
    Ok(())
}

/// The data directory's lock: `serve`, `restore` and `rotate-key` hold it exclusively, so no
/// two of them run on one data directory at once.
pub struct DirLock {
    _file: fs::File,
}

impl DirLock {
    pub fn acquire(data_dir: &Path, who: &str) -> anyhow::Result<Self> {
        let path = data_dir.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => bail!(
                "another messages process (a running server, a restore or a key rotation) is using {}; {who}",
                data_dir.display()
            ),
            Err(fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

/// Where a command's data lives: the data directory (key file, logs, lock) and the database,
/// which is the embedded file in that directory unless `--database` names another.
#[derive(Debug, Clone)]
pub struct Data {
    pub dir: PathBuf,
    pub location: Location,
}

impl Data {
    pub fn new(dir: &Path, database: Option<&str>) -> anyhow::Result<Self> {
        Ok(Data {
            dir: dir.to_path_buf(),
            location: Location::new(dir, database)?,
        })
    }
}

/// Opens the key, the store and the use cases for a command.
pub fn open_app(
    data: &Data,
    scrypt_log_n: u8,
    settings: Settings,
    create_key: bool,
) -> anyhow::Result<App> {
    let data_dir = data.dir.as_path();
    let key_file = key_path(data_dir);
    let shared = matches!(data.location, Location::Postgres(_));
    if create_key && shared && !key_file.exists() {
        refuse_a_new_key_for_a_sealed_database(data, &key_file)?;
    }
    let key = if create_key {
        DataKey::load_or_create(&key_file)?.0
    } else {
        if !key_file.exists() {
            bail!(
                "no key file at {}: is {} a messages data directory?",
                key_file.display(),
                data_dir.display()
            );
        }
        DataKey::load(&key_file)?
    };
    let store = match create_key {
        true => Store::open_for_server(&data.location)?,
        false => Store::open_at(&data.location)?,
    };
    let key = check_key_matches(data_dir, &store, key)?;
    Ok(App::new(
        store,
        key,
        PasswordHasher::new(scrypt_log_n),
        settings,
    )?)
}

/// A server of a fleet never makes a key of its own for a database that is already sealed:
/// it is told to copy the fleet's key file, and nothing is written.
fn refuse_a_new_key_for_a_sealed_database(data: &Data, key_file: &Path) -> anyhow::Result<()> {
    let store = Store::open_at(&data.location)?;
    if let Some(recorded) = store.read(crate::store::meta::key_fingerprint)? {
        bail!(
            "no key file at {}: the database {} is encrypted with the key {recorded}; copy that key file from another server of the fleet",
            key_file.display(),
            data.location.describe()
        );
    }
    Ok(())
}

/// The key file must be the one the database was sealed with. A rotation interrupted after its
/// commit (the database already under the new key, `key.new` not yet renamed) is finished here.
fn check_key_matches(data_dir: &Path, store: &Store, key: DataKey) -> anyhow::Result<DataKey> {
    use crate::store::meta;
    let recorded = store.read(meta::key_fingerprint)?;
    let Some(recorded) = recorded else {
        let fingerprint = key.fingerprint();
        store
            .write(move |tx| meta::set_bytes(tx, meta::KEY_FINGERPRINT, fingerprint.as_bytes()))?;
        return Ok(key);
    };
    if recorded == key.fingerprint() {
        return Ok(key);
    }
    let pending = data_dir.join(rotate::NEW_KEY_FILE);
    if pending.exists() {
        let new_key = DataKey::load(&pending)?;
        if new_key.fingerprint() == recorded {
            rotate::swap_key_files(data_dir)?;
            return Ok(new_key);
        }
    }
    bail!(
        "the key file {} ({}) is not the key this database was encrypted with ({recorded})",
        key_path(data_dir).display(),
        key.fingerprint()
    )
}

/// Opens an existing data directory for an admin command (never creates one).
pub fn open_existing(data: &Data) -> anyhow::Result<App> {
    if !data.location.exists() {
        bail!(
            "no database in {}: start the server once, or pass --data-dir",
            data.dir.display()
        );
    }
    open_app(
        data,
        PasswordHasher::DEFAULT_LOG_N,
        Settings::default(),
        false,
    )
}

/// `messages health`: one `GET /healthz` to the server at `listen` (an unspecified address
/// such as 0.0.0.0 reaches this machine's own), with a short timeout.
pub fn health(listen: &str) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;
    let mut addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen} is not an IP address and port"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let limit = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, limit)
        .with_context(|| format!("no server answers on {addr}"))?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.take(4096).read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        println!("healthy");
        Ok(())
    } else {
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        bail!("the server on {addr} is not healthy: {status} {body}")
    }
}

/// Whether stderr is a terminal (progress is shown only then).
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
