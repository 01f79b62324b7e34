//! The woosh listener's side of the benchmark: two accounts registered through the protocol
//! and a message waiting, so that a poll of `GET /messages` with the header pair does what a
//! real client's poll does (the pair checked, the inbox read, the message opened).

use std::net::SocketAddr;

use anyhow::{Context, bail};

use super::http::{Conn, Credentials, get, post};
use super::load::Scenario;
use crate::{BASE_PER_USER, Bench};

/// The reader's header pair, as the bench sends it on every poll.
pub const READER_HEADERS: &str =
    "x-user-name: Reader\r\nx-user-token: 5LpcvSUcmObNHCPxJqO4HY2DKKvJU4cimFCVKz75+QQ=\r\n";

/// Registers `Reader` and `Writer` (the real client's token shape) and sends one message of
/// the real client's size (1,400 characters) to `Reader`.
pub fn prepare(addr: SocketAddr) -> anyhow::Result<()> {
    let token = "5LpcvSUcmObNHCPxJqO4HY2DKKvJU4cimFCVKz75+QQ=";
    let mut conn = Conn::new(addr);
    for name in ["Reader", "Writer"] {
        let body = format!(
            r#"{{"username":"{name}","password":"{token}","public_key":"pk","private_key":"sk"}}"#
        );
        let reply = conn.send(&post("/users", "", "application/json", body.as_bytes()))?;
        if reply.status != 201 {
            bail!(
                "woosh registration of {name}: {} {}",
                reply.status,
                reply.text()
            );
        }
    }
    let contents = "Q".repeat(1400);
    let body = format!(r#"{{"recipient":"Reader","contents":"{contents}"}}"#);
    let writer = format!("x-user-name: Writer\r\nx-user-token: {token}\r\n");
    let reply = conn.send(&post(
        "/messages",
        &writer,
        "application/json",
        body.as_bytes(),
    ))?;
    if reply.status != 201 {
        bail!("woosh send: {} {}", reply.status, reply.text());
    }
    Ok(())
}

impl Bench {
    /// The woosh listener's poll (`GET /messages`, the header pair on every request) and the
    /// API's poll against the same server in the same run, and their ratio: a verified pair is
    /// remembered, so the poll costs no scrypt hash.
    pub(crate) fn woosh_phase(&mut self) -> anyhow::Result<()> {
        let data_dir = self.work_dir.join("data-woosh");
        let (users, _) = super::disk::load(&data_dir, 3 * BASE_PER_USER, None)?;
        let extra = [
            "--woosh-listen",
            "127.0.0.1:0",
            "--woosh-registration",
            "open",
        ];
        let server = self.start_server_with(&data_dir, &extra)?;
        let woosh_addr = server.woosh_addr.context("no woosh listener")?;
        let who = Credentials::sign_in(server.addr, &users)?;
        prepare(woosh_addr)?;
        let (bearer, cursor) = (who.bearer_header(), who.cursor.clone());
        let api = Scenario::new("woosh run: API poll since=cursor", 200, move |_, _| {
            get(
                &format!("/api/v1/messages?box=inbox&since={cursor}"),
                &bearer,
            )
        });
        let api = self.scenario(&server, api, true, "bearer token");
        let poll = Scenario::new("woosh poll GET /messages (header pair)", 200, |_, _| {
            get("/messages", READER_HEADERS)
        });
        let note = "1 message of 1,400 chars waiting";
        let woosh = self.scenario_on(&server, woosh_addr, poll, true, note);
        if let (Some(api), Some(woosh)) = (api, woosh) {
            let ratio = woosh.rate() / api.rate().max(f64::MIN_POSITIVE);
            let note = format!("{ratio:.2} (target: at least 0.5, i.e. within 2x)");
            self.note_row("woosh poll / API poll", 0, note);
        }
        server.stop()?;
        Ok(())
    }
}
