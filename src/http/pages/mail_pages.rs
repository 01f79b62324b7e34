//! The mail pages: inbox and sent (newest first, 50 a page, `?before=CURSOR` for older),
//! compose and send, one message (marked read), and delete with a confirmation page that works
//! without JavaScript. Another member's message id answers 404, like an unknown one.

use minijinja::{Value, context};
use rouille::Response;

use super::forms::{self, FieldErrors};
use super::session;
use super::{Call, member, member_form, member_page, templates};
use crate::app::mail::{MessageView, PageListing};
use crate::http::listing_cache::{PageKey, Shape};
use crate::http::status::Answer;
use crate::model::{Mailbox, MessageId};

pub const PAGE_SIZE: usize = 50;

fn done_notice(call: &Call<'_>) -> &'static str {
    match call.request.get_param("done").as_deref() {
        Some("sent") => "Your message was sent.",
        Some("deleted") => "The message was deleted.",
        _ => "",
    }
}

/// One list row. Both renderings of the time are made here rather than by the `iso` and `when`
/// filters: fifty filter calls (each reading the clock) were a tenth of the page's cost.
fn row(message: &MessageView, mailbox: Mailbox, now: time::OffsetDateTime) -> Value {
    let correspondent = match mailbox {
        Mailbox::Inbox => message.from.as_str(),
        Mailbox::Sent => message.to.as_str(),
    };
    context! {
        id => message.id.to_string(),
        correspondent,
        title => message.title.as_str(),
        iso => message.sent_at.rfc3339(),
        when => templates::when_at(message.sent_at.0, now),
        unread => mailbox == Mailbox::Inbox && !message.read,
    }
}

/// The inbox or sent page. The session and the page's listing (one index range and the unread
/// count) are read in one snapshot, and a page rendered before from an equal listing is reused;
/// see `listing_cache` for why that is enough.
pub fn mailbox(call: &Call<'_>, mailbox: Mailbox) -> Response {
    let app = &call.web.app;
    let Some(secret) = session::session_secret(call) else {
        return Response::redirect_303("/login");
    };
    let before_token = call.request.get_param("before");
    let found = app.session_listing(&secret, mailbox, before_token.as_deref(), PAGE_SIZE);
    let (session, before, listing) = match found {
        Ok(Some((session, PageListing::Found { before, listing }))) => (session, before, listing),
        Ok(Some((_, PageListing::BadCursor))) => {
            return call.web.pages.error_page(
                400,
                "That page link is not valid.",
                call.ctx.request_id,
            );
        }
        Ok(None) => return Response::redirect_303("/login"),
        Err(error) => {
            tracing::error!("session lookup failed id={}: {error}", call.ctx.request_id);
            return Response::redirect_303("/login");
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let key = PageKey {
        user: session.username.to_string(),
        mailbox,
        before,
        shape: Shape::Page {
            notice: done_notice(call),
            day: now.unix_timestamp().div_euclid(86_400),
        },
    };
    let listings = &call.web.pages.listings;
    if let Some(page) = listings.get(&key, &listing) {
        return Response::html(page.html(&session.csrf));
    }
    let (listing, messages) = match app.listing_page(&session.username, mailbox, before, PAGE_SIZE)
    {
        Ok(found) => found,
        Err(error) => return forms::error_response(call, &error),
    };
    let rows: Vec<Value> = messages.iter().map(|m| row(m, mailbox, now)).collect();
    let next_cursor = listing
        .next_cursor()
        .and_then(|seq| app.cursor_token(&session.username, mailbox, seq).ok());
    let ctx = context! {
        mailbox => mailbox.as_str(),
        messages => rows,
        next_cursor,
        older_page => before.is_some(),
        notice => done_notice(call),
        // Only the newest page follows the mailbox live; an older page keeps its rows.
        live_box => if before.is_none() { mailbox.as_str() } else { "" },
        live_etag => if before.is_none() {
            super::live::etag(session.username.as_str(), Some(mailbox), &listing)
        } else {
            super::live::unread_etag(session.username.as_str(), listing.unread)
        },
        ..templates::member_context_with(&session, mailbox.as_str(), listing.unread, listings.marker())
    };
    match call.web.pages.templates.render("mailbox.html", ctx) {
        Ok(html) => Response::html(listings.put(key, listing, &html).html(&session.csrf)),
        Err(error) => {
            tracing::error!("rendering failed id={}: {error}", call.ctx.request_id);
            call.web.pages.error_page(
                500,
                "Something went wrong on our side.",
                call.ctx.request_id,
            )
        }
    }
}

fn compose_page(
    call: &Call<'_>,
    session: &crate::app::auth::Session,
    values: Value,
    errors: FieldErrors,
    status: u16,
) -> Response {
    member_page(
        call,
        session,
        "compose",
        "compose.html",
        status,
        context! { values, errors },
    )
}

pub fn compose_get(call: &Call<'_>) -> Response {
    let session = match member(call) {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let param = |name: &str| call.request.get_param(name).unwrap_or_default();
    let values = context! { to => param("to"), title => param("title"), body => "" };
    compose_page(call, &session, values, FieldErrors::new(), 200)
}

pub fn send(call: &Call<'_>) -> Response {
    let (session, form) = match member_form(call, "/compose") {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    match call.web.app.send(
        &session.username,
        form.get("to"),
        form.get("title"),
        form.get("body"),
    ) {
        Ok(_) => Response::redirect_303("/sent?done=sent"),
        Err(error) => match forms::field_errors(&error) {
            Some(errors) => {
                let values = context! { to => form.get("to"), title => form.get("title"), body => form.get("body") };
                compose_page(call, &session, values, errors, Answer::of(&error).status)
            }
            None => forms::error_response(call, &error),
        },
    }
}

fn message_context(message: &MessageView, username: &str) -> Value {
    let mailbox = if message.to == username {
        "inbox"
    } else {
        "sent"
    };
    let reply_title = if message.title.starts_with("Re: ") {
        message.title.clone()
    } else {
        format!("Re: {}", message.title)
    };
    let reply_href = format!(
        "/compose?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("to", &message.from)
            .append_pair("title", &reply_title)
            .finish()
    );
    context! {
        reply_href,
        id => message.id.to_string(),
        from => message.from.as_str(),
        to => message.to.as_str(),
        title => message.title.as_str(),
        body => message.body.as_deref().unwrap_or(""),
        sent_at => message.sent_at.0,
        mailbox,
        can_reply => mailbox == "inbox" && message.from != crate::model::SYSTEM_SENDER,
    }
}

pub fn show(call: &Call<'_>, id: MessageId) -> Response {
    let session = match member(call) {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    match call.web.app.read_message(&session.username, id) {
        Ok(message) => {
            let ctx = context! { message => message_context(&message, session.username.as_str()) };
            let active = if message.to == session.username.as_str() {
                "inbox"
            } else {
                "sent"
            };
            member_page(call, &session, active, "message.html", 200, ctx)
        }
        Err(error) => forms::error_response(call, &error),
    }
}

pub fn delete_get(call: &Call<'_>, id: MessageId) -> Response {
    let session = match member(call) {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    match call.web.app.read_message(&session.username, id) {
        Ok(message) => {
            let ctx = context! { message => message_context(&message, session.username.as_str()) };
            member_page(call, &session, "", "delete.html", 200, ctx)
        }
        Err(error) => forms::error_response(call, &error),
    }
}

pub fn delete_post(call: &Call<'_>, id: MessageId) -> Response {
    let back_to = format!("/messages/{id}");
    let (session, form) = match member_form(call, &back_to) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    match call
        .web
        .app
        .delete_message(&session.username, id, &call.ctx.client)
    {
        Ok(()) => {
            let mailbox = if form.get("mailbox") == "sent" {
                "sent"
            } else {
                "inbox"
            };
            Response::redirect_303(format!("/{mailbox}?done=deleted"))
        }
        Err(error) => forms::error_response(call, &error),
    }
}
