//! `GET /search?q=WORDS[&before=CURSOR]`: the member's own inbox and sent messages whose title
//! or body hold every word, newest first, with the matches marked. A GET form (in the
//! navigation of every signed-in page and on this page), so it works without JavaScript.
//!
//! The scan, its budget and the rate limit are `app::search`; this file only decodes the
//! query, turns the found pieces of text into template data (text and a matched flag, never
//! HTML: the template escapes each piece and wraps matched ones in `<mark>`) and renders.

use minijinja::{Value, context};
use rouille::Response;

use super::forms::{self, FieldErrors};
use super::{Call, member, member_page, templates};
use crate::app::auth::Session;
use crate::app::search::{Hit, Scope, SearchQuery, Segment};
use crate::error::Error;
use crate::http::status::Answer;
use crate::model::Mailbox;

/// Matches shown on one page.
pub const PAGE_SIZE: usize = 20;

fn pieces(segments: &[Segment]) -> Vec<Value> {
    segments
        .iter()
        .map(|s| context! { text => s.text.as_str(), matched => s.matched })
        .collect()
}

fn row(hit: &Hit, now: time::OffsetDateTime) -> Value {
    let message = &hit.message;
    let (mailbox, correspondent) = match hit.mailbox {
        Mailbox::Inbox => ("inbox", message.from.as_str()),
        Mailbox::Sent => ("sent", message.to.as_str()),
    };
    context! {
        id => message.id.to_string(),
        mailbox,
        correspondent,
        title => pieces(&hit.title),
        excerpt => pieces(&hit.excerpt),
        iso => message.sent_at.rfc3339(),
        when => templates::when_at(message.sent_at.0, now),
        unread => hit.mailbox == Mailbox::Inbox && !message.read,
    }
}

fn render(call: &Call<'_>, session: &Session, status: u16, ctx: Value) -> Response {
    member_page(call, session, "search", "search.html", status, ctx)
}

/// The page with the query shown again and its problem next to the search box.
/// Anything else (a rate limit, a storage fault) is the whole-page answer to that error.
fn refused(call: &Call<'_>, session: &Session, q: &str, error: &Error) -> Response {
    match (error, forms::field_errors(error)) {
        (Error::Invalid(_), Some(errors)) => {
            let ctx = context! { q, errors, searched => false };
            render(call, session, Answer::of(error).status, ctx)
        }
        _ => forms::error_response(call, error),
    }
}

pub fn page(call: &Call<'_>) -> Response {
    let session = match member(call) {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let app = &call.web.app;
    let q = call.request.get_param("q").unwrap_or_default();
    if q.trim().is_empty() {
        let ctx = context! { q, errors => FieldErrors::new(), searched => false };
        return render(call, &session, 200, ctx);
    }
    let query = match SearchQuery::parse(&q) {
        Ok(query) => query,
        Err(error) => return refused(call, &session, &q, &error),
    };
    let before = match call.request.get_param("before") {
        None => None,
        Some(token) => match app.search_cursor_seq(&session.username, &token) {
            Some(seq) => Some(seq),
            None => {
                return call.web.pages.error_page(
                    400,
                    "That page link is not valid.",
                    call.ctx.request_id,
                );
            }
        },
    };
    let found = match app.search(&session.username, Scope::Both, &query, before, PAGE_SIZE) {
        Ok(found) => found,
        Err(error) => return refused(call, &session, &q, &error),
    };
    let next_cursor = match found.next {
        None => None,
        Some(seq) => match app.search_cursor_token(&session.username, seq) {
            Ok(token) => Some(token),
            Err(error) => return forms::error_response(call, &error),
        },
    };
    // Percent-encoded here, so the template (which escapes `/` and `&` in values) prints
    // only characters escaping leaves alone.
    let q_param: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let now = time::OffsetDateTime::now_utc();
    let hits: Vec<Value> = found.hits.iter().map(|hit| row(hit, now)).collect();
    let ctx = context! {
        q,
        errors => FieldErrors::new(),
        searched => true,
        hits,
        next_cursor,
        q_param,
        budget_spent => found.budget_spent,
        scanned => found.scanned,
        older_page => before.is_some(),
    };
    render(call, &session, 200, ctx)
}
