//! `GET /live?box=inbox|sent`: what an open page polls (every few seconds, from app.js) to show
//! new mail without a reload. It answers JSON with the unread count and, for a mailbox, the
//! rows of its newest page, exactly what that member's page shows; without `box`, the unread
//! count alone (for the navigation badge on every other page).
//!
//! Why a short poll: the connection layer is a thread per connection, so a held-open request per
//! tab would cost a thread per tab; a poll costs a few microseconds of a thread that is free
//! again at once. Each answer carries an `ETag` derived from the listing (which identifies a
//! page exactly, see `listing_cache`), so an unchanged mailbox answers `304` after one index
//! read and no decryption. The session cookie is required (a refusal is a JSON 401, never the
//! login page), a poll does not count as the member's activity (it never refreshes the idle
//! timeout and writes nothing), and each session has its own rate limit. Nothing here touches
//! the store.

use rouille::Response;
use serde::Serialize;

use super::Call;
use super::mail_pages::PAGE_SIZE;
use super::session;
use crate::app::mail::Listing;
use crate::error::Error;
use crate::http::api::status_error;
use crate::http::status;
use crate::model::Mailbox;

/// Polls per minute and session: a tab polls about 8 times a minute, so this leaves room for
/// a dozen tabs of one browser (they share the session cookie) and still stops a runaway loop.
pub const PER_MINUTE: u32 = 120;

#[derive(Serialize)]
struct Row {
    id: String,
    correspondent: String,
    title: String,
    sent_at: String,
    unread: bool,
}

#[derive(Serialize)]
struct Answer {
    #[serde(rename = "box")]
    mailbox: Option<&'static str>,
    unread: u64,
    /// The newest page of the mailbox, newest first (empty without `box`).
    messages: Vec<Row>,
    /// Older messages remain beyond this page.
    more: bool,
    /// The link to the next (older) page, when there is one.
    older: Option<String>,
}

/// The entity tag of a listing: a digest of everything the answer is made from, so equal tags
/// mean an equal answer (a stored message never changes). It is only ever sent to the member
/// whose listing it digests.
pub fn etag(user: &str, mailbox: Option<Mailbox>, listing: &Listing) -> String {
    let mut text = format!(
        "live1\n{user}\n{}\n{}\n{}\n",
        mailbox.map_or("", Mailbox::as_str),
        listing.unread,
        listing.more
    );
    for position in &listing.positions {
        text.push_str(&format!(
            "{} {:x} {}\n",
            position.seq, position.id, position.read
        ));
    }
    let digest = crate::crypto::sha256(text.as_bytes());
    format!("\"{}\"", hex::encode(&digest[..12]))
}

/// The tag of the unread count alone (what `/live` without `box` answers).
pub fn unread_etag(user: &str, unread: u64) -> String {
    let listing = Listing {
        positions: Vec::new(),
        more: false,
        unread,
    };
    etag(user, None, &listing)
}

/// Whether `If-None-Match` names `tag` (a list, weak or strong, or `*`).
fn matches(if_none_match: Option<&str>, tag: &str) -> bool {
    if_none_match.is_some_and(|header| {
        header.split(',').any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
        })
    })
}

/// A poll the store could not answer, in JSON with the status (and `Retry-After`) every other
/// answer to that error has.
fn failed(error: &Error, request_id: &str) -> Response {
    tracing::error!("live poll failed id={request_id}: {error}");
    let answer = status::Answer::of(error);
    let response = status_error(answer.status, "the mailbox cannot be read now", request_id);
    match answer.retry_after {
        Some(seconds) => response.with_unique_header("Retry-After", seconds.to_string()),
        None => response,
    }
}

pub fn poll(call: &Call<'_>) -> Response {
    let request_id = call.ctx.request_id;
    let mailbox = match call.request.get_param("box").as_deref() {
        None | Some("") => None,
        Some("inbox") => Some(Mailbox::Inbox),
        Some("sent") => Some(Mailbox::Sent),
        Some(_) => return status_error(400, "box must be inbox or sent", request_id),
    };
    let refused = || status_error(401, "not signed in", request_id);
    let Some(secret) = session::session_secret(call) else {
        return refused();
    };
    let app = &call.web.app;
    let (session, listing) = match app.live_listing(&secret, mailbox, PAGE_SIZE) {
        Ok(Some(found)) => found,
        Ok(None) => return refused(),
        Err(error) => return failed(&error, request_id),
    };
    let key = format!("session:{:032x}", session.handle);
    if let Err(Error::RateLimited { retry_after }) = call.web.pages.live_throttle.attempt(&[key]) {
        return status_error(429, "too many requests", request_id)
            .with_unique_header("Retry-After", retry_after.to_string());
    }
    let user = session.username.as_str();
    let tag = etag(user, mailbox, &listing);
    if matches(call.request.header("If-None-Match"), &tag) {
        return Response::text("")
            .with_status_code(304)
            .with_unique_header("ETag", tag);
    }
    let (listing, messages) = match mailbox {
        Some(mailbox) => match app.listing_page(&session.username, mailbox, None, PAGE_SIZE) {
            Ok(found) => found,
            Err(error) => return failed(&error, request_id),
        },
        None => (listing, Vec::new()),
    };
    let rows = messages
        .iter()
        .map(|m| Row {
            id: m.id.to_string(),
            correspondent: match mailbox {
                Some(Mailbox::Sent) => m.to.clone(),
                _ => m.from.clone(),
            },
            title: m.title.clone(),
            sent_at: m.sent_at.rfc3339(),
            unread: mailbox == Some(Mailbox::Inbox) && !m.read,
        })
        .collect();
    let older = mailbox
        .zip(listing.next_cursor())
        .and_then(|(mailbox, seq)| {
            let token = app.cursor_token(&session.username, mailbox, seq).ok()?;
            Some(format!("/{}?before={token}", mailbox.as_str()))
        });
    let answer = Answer {
        mailbox: mailbox.map(Mailbox::as_str),
        older,
        unread: listing.unread,
        messages: rows,
        more: listing.more,
    };
    Response::json(&answer).with_unique_header("ETag", etag(user, mailbox, &listing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_is_compared_as_a_list_of_tags() {
        let tag = "\"abc\"";
        assert!(matches(Some("\"abc\""), tag));
        assert!(matches(Some("W/\"abc\""), tag));
        assert!(matches(Some("\"x\", \"abc\""), tag));
        assert!(matches(Some("*"), tag));
        assert!(!matches(Some("\"abd\""), tag));
        assert!(!matches(Some("abc"), tag));
        assert!(!matches(None, tag));
    }

    #[test]
    fn the_tag_changes_with_anything_the_answer_shows() {
        let listing = Listing {
            positions: Vec::new(),
            more: false,
            unread: 1,
        };
        let base = etag("bob", Some(Mailbox::Inbox), &listing);
        assert_ne!(base, etag("alice", Some(Mailbox::Inbox), &listing));
        assert_ne!(base, etag("bob", Some(Mailbox::Sent), &listing));
        assert_ne!(base, etag("bob", None, &listing));
        assert_ne!(base, unread_etag("bob", 2));
        assert_eq!(etag("bob", None, &listing), unread_etag("bob", 1));
    }
}
