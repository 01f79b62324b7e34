//! Messages over the API: list a mailbox (cursor pagination, newest first), poll with `since`
//! (oldest first), search it with `q` (newest first, a bounded scan per request, continued
//! with `cursor`), send, read (marks read for the recipient) and delete. Cursors are opaque
//! tokens made and opened by `app::cursor` (a sealed position, bound to the member and the
//! mailbox); this file only passes them through.

use rouille::{Request, Response};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::problem::Problem;
use super::query::Query;
use super::{Api, json, schema};
use crate::app::mail::{MAX_PAGE, MessageView};
use crate::app::search::{Scope, SearchQuery};
use crate::app::{App, Client};
use crate::error::Error;
use crate::http::listing_cache::{PageKey, Shape};
use crate::model::{Mailbox, MessageId};

const DEFAULT_PAGE: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessageBody {
    to: String,
    title: String,
    body: String,
}

/// A message as JSON; `body` is left out of listings.
#[derive(Serialize)]
struct MessageJson {
    id: String,
    from: String,
    to: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    sent_at: String,
    read: bool,
}

impl From<MessageView> for MessageJson {
    fn from(view: MessageView) -> Self {
        MessageJson {
            id: view.id.to_string(),
            from: view.from,
            to: view.to,
            title: view.title,
            body: view.body,
            sent_at: view.sent_at.rfc3339(),
            read: view.read,
        }
    }
}

fn list_of(views: Vec<MessageView>) -> Vec<MessageJson> {
    views
        .into_iter()
        .map(|view| MessageJson {
            body: None,
            ..MessageJson::from(view)
        })
        .collect()
}

/// `GET /api/v1/messages?box=&limit=&cursor=`, `?box=&since=&limit=` or
/// `?box=&q=&limit=&cursor=` (search).
pub fn list(app: &App, api: &Api, request: &Request, caller: &Caller) -> Result<Response, Problem> {
    let query = Query::parse(request, &["box", "limit", "cursor", "since", "q"])?;
    let mailbox = match query.text("box") {
        None => Mailbox::Inbox,
        Some(text) => Mailbox::parse(text)
            .ok_or_else(|| Problem::bad_parameter("box", "must be inbox or sent"))?,
    };
    let decode = |token: &str| app.cursor_seq(&caller.username, mailbox, token);
    let before = query.cursor("cursor", decode)?;
    let since = query.cursor("since", decode)?;
    let encode = |seq: u64| app.cursor_token(&caller.username, mailbox, seq);
    if before.is_some() && since.is_some() {
        return Err(Problem::bad_parameter(
            "since",
            "cannot be combined with cursor",
        ));
    }
    if let Some(words) = query.text("q") {
        if since.is_some() {
            return Err(Problem::bad_parameter("q", "cannot be combined with since"));
        }
        // A query parameter is named as itself in `details`, not as a body pointer.
        let words = SearchQuery::parse(words).map_err(|error| match &error {
            Error::Invalid(problems) => problems
                .first()
                .map(|p| Problem::bad_parameter("q", &p.message))
                .unwrap_or_else(|| Problem::from(error)),
            _ => Problem::from(error),
        })?;
        let limit = query.number("limit", 1, MAX_PAGE, DEFAULT_PAGE)?;
        let scope = Scope::Only(mailbox);
        let found = app.search(&caller.username, scope, &words, before, limit)?;
        let messages: Vec<MessageView> = found.hits.into_iter().map(|hit| hit.message).collect();
        return Ok(json(
            200,
            &serde_json::json!({
                "messages": list_of(messages),
                "next_cursor": found.next.map(encode).transpose()?,
                "scanned": found.scanned,
            }),
        ));
    }
    if let Some(since) = since {
        let limit = query.number("limit", 1, MAX_PAGE, MAX_PAGE)?;
        let poll = app.poll(&caller.username, mailbox, since, limit)?;
        return Ok(json(
            200,
            &serde_json::json!({"messages": list_of(poll.messages), "cursor": encode(poll.cursor)?}),
        ));
    }
    let limit = query.number("limit", 1, MAX_PAGE, DEFAULT_PAGE)?;
    let key = PageKey {
        user: caller.username.to_string(),
        mailbox,
        before,
        shape: Shape::Json { limit },
    };
    // The list of an unchanged page is reused (see `listing_cache`); the cursors are sealed
    // afresh around it, from the same snapshot as the listing it was compared with.
    let (listing, cursor) = app.mailbox_listing(&caller.username, mailbox, before, limit)?;
    let (listing, cursor, list) = match api.listings.get(&key, &listing) {
        Some(kept) => (listing, cursor, kept),
        None => {
            let page = app.mailbox(&caller.username, mailbox, before, limit)?;
            let text = serde_json::to_string(&list_of(page.messages))
                .map_err(|e| Problem::from(Error::Internal(format!("json: {e}"))))?;
            let kept = api.listings.put_whole(key, page.listing.clone(), text);
            (page.listing, page.cursor, kept)
        }
    };
    let token = |seq: u64| -> Result<String, Problem> {
        Ok(serde_json::Value::String(encode(seq)?).to_string())
    };
    let next_cursor = match listing.next_cursor() {
        Some(seq) => token(seq)?,
        None => "null".to_string(),
    };
    // The list is kept as text, so the answer is written around it (keys in the order the
    // API has always written them).
    let body = format!(
        r#"{{"cursor":{},"messages":{},"next_cursor":{next_cursor}}}"#,
        token(cursor)?,
        list.whole()
    );
    Ok(Response::from_data("application/json", body).with_status_code(200))
}

/// `POST /api/v1/messages`: 201 with the new message and its `Location`.
pub fn send(app: &App, api: &Api, request: &Request, caller: &Caller) -> Result<Response, Problem> {
    let body: NewMessageBody = api.schemas.body(request, schema::NEW_MESSAGE)?;
    let view = app.send(&caller.username, &body.to, &body.title, &body.body)?;
    let location = format!("/api/v1/messages/{}", view.id);
    Ok(json(201, &MessageJson::from(view)).with_unique_header("Location", location))
}

/// An id from the path; a malformed one is as unknown as a missing one.
fn message_id(text: &str) -> Result<MessageId, Problem> {
    MessageId::parse(text).ok_or_else(|| Problem::from(Error::NotFound))
}

pub fn read(app: &App, caller: &Caller, id: &str) -> Result<Response, Problem> {
    let view = app.read_message(&caller.username, message_id(id)?)?;
    Ok(json(200, &MessageJson::from(view)))
}

pub fn delete(app: &App, caller: &Caller, id: &str, client: &Client) -> Result<Response, Problem> {
    app.delete_message(&caller.username, message_id(id)?, client)?;
    Ok(Response::empty_204())
}
