//! The operator's commands: demo data, the PIN, accounts, the deleted-message log and the
//! security events. They may run while the server runs (the database is shared).

use std::io::BufRead;

use anyhow::{Context, bail};

use super::data::print_lines;
use super::{Data, ensure_data_dir, open_app, open_existing, stderr_is_terminal};
use crate::app::Settings;
use crate::cli::UserAction;
use crate::crypto::PasswordHasher;
use crate::model::Timestamp;

pub fn demo(data: &Data, n_messages: u64) -> anyhow::Result<()> {
    let data_dir = data.dir.as_path();
    ensure_data_dir(data_dir)?;
    let app = open_app(
        data,
        PasswordHasher::DEFAULT_LOG_N,
        Settings::default(),
        true,
    )?;
    let show = stderr_is_terminal();
    let mut progress = |n: u64| {
        if show {
            eprint!("\rgenerated {n} messages");
        }
    };
    let users = app.demo(n_messages, &mut progress).map_err(|e| match e {
        crate::error::Error::UsernameTaken => {
            anyhow::anyhow!("the demo users already exist in {}", data_dir.display())
        }
        other => other.into(),
    })?;
    if show && n_messages > 0 {
        eprintln!();
    }
    println!("demo users (passwords are shown once):");
    for (username, password) in users {
        println!("  {username:<8} {password}");
    }
    Ok(())
}

pub fn pin_set(data: &Data) -> anyhow::Result<()> {
    let app = open_existing(data)?;
    if stderr_is_terminal() {
        eprint!("new registration PIN: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the PIN from standard input")?;
    let pin = line.trim_end_matches(['\n', '\r']);
    if pin.is_empty() {
        bail!("no PIN given on standard input");
    }
    app.set_pin(pin)
        .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
    eprintln!("registration PIN changed");
    Ok(())
}

pub fn user(data: &Data, action: UserAction) -> anyhow::Result<()> {
    let app = open_existing(data)?;
    fn not_found(username: &str) -> impl FnOnce(crate::error::Error) -> anyhow::Error + '_ {
        move |e| match e {
            crate::error::Error::NotFound => {
                anyhow::anyhow!("no user named `{}`", username.escape_debug())
            }
            other => other.into(),
        }
    }
    match action {
        UserAction::List => {
            let rows = app.list_users()?;
            print_lines(rows.into_iter().map(|u| {
                format!(
                    "{:<32} {:<8} {}  {}",
                    u.username,
                    if u.locked { "locked" } else { "active" },
                    u.created_at.rfc3339(),
                    u.name
                )
            }));
        }
        UserAction::Lock { username } => {
            app.set_locked(&username, true)
                .map_err(not_found(&username))?;
            eprintln!("{username} is locked; their sessions and tokens were ended");
        }
        UserAction::Unlock { username } => {
            app.set_locked(&username, false)
                .map_err(not_found(&username))?;
            eprintln!("{username} is unlocked");
        }
        UserAction::ResetPassword { username } => {
            let password = app
                .operator_reset_password(&username)
                .map_err(not_found(&username))?;
            println!("new password for {username}: {password}");
        }
        UserAction::Delete { username } => {
            let n = app.delete_user(&username).map_err(not_found(&username))?;
            eprintln!("{username} is deleted; {n} messages went to the deleted-message log");
        }
    }
    Ok(())
}

fn parse_since(since: Option<&str>) -> anyhow::Result<Timestamp> {
    match since {
        None => Ok(Timestamp(0)),
        Some(text) => Timestamp::parse_date(text)
            .ok_or_else(|| anyhow::anyhow!("--since `{text}` is not a date like 2026-11-24")),
    }
}

pub fn deleted(data: &Data, user: Option<&str>, since: Option<&str>) -> anyhow::Result<()> {
    let since = parse_since(since)?;
    let app = open_existing(data)?;
    let entries = app.deleted_log(since, user)?;
    print_lines(entries.into_iter().map(|d| {
        format!(
            "{}  deleted by {} | message {} from {} to {} sent {} | {} | {}",
            d.deleted_at.rfc3339(),
            d.deleted_by,
            d.message_id,
            d.from,
            d.to,
            d.sent_at.rfc3339(),
            d.title.escape_debug(),
            d.body.escape_debug()
        )
    }));
    Ok(())
}

pub fn audit(data: &Data, since: Option<&str>) -> anyhow::Result<()> {
    let since = parse_since(since)?;
    let app = open_existing(data)?;
    let events = app.audit(since)?;
    print_lines(events.into_iter().map(|e| {
        format!(
            "{}  {:<24} user={} ip={} {}",
            Timestamp(e.at).rfc3339(),
            e.kind,
            e.username
                .as_deref()
                .map(crate::app::escape_for_log)
                .unwrap_or_else(|| "-".into()),
            e.ip.as_deref().unwrap_or("-"),
            crate::app::escape_for_log(&e.detail)
        )
    }));
    Ok(())
}
