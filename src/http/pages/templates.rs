//! The minijinja environment: every template under `assets/templates/` (embedded in the binary
//! by build.rs) compiled once at start, HTML autoescaping on for `.html`, strict undefined
//! variables so a typo fails loudly in tests, and the few filters the templates use (`reveal`
//! shows a body's invisible and direction-changing characters as visible markers).

use minijinja::value::Value;
use minijinja::{Environment, UndefinedBehavior, context};
use rouille::Response;

use super::Call;
use crate::app::auth::Session;
use crate::http::assets;
use crate::model::is_deceptive_char;

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new() -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, bytes) in assets::files_under("templates/") {
            let source =
                std::str::from_utf8(bytes).map_err(|_| format!("template {name} is not UTF-8"))?;
            env.add_template(name, source)
                .map_err(|e| format!("template {name}: {e:#}"))?;
        }
        env.add_filter("when", when);
        env.add_filter("iso", iso);
        env.add_filter("reveal", reveal);
        env.add_global("questions", Value::from(question_list()));
        let templates = Templates { env };
        // Render the error page once so a broken base template stops the start, not a request.
        templates.render(
            "error.html",
            context! { status => 500, title => "", message => "", reference => "" },
        )?;
        Ok(templates)
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, String> {
        let template = self.env.get_template(name).map_err(|e| format!("{e:#}"))?;
        template.render(ctx).map_err(|e| format!("{name}: {e:#}"))
    }

    /// A rendered page with `status`, or the 500 page (logged with the request id) if the
    /// template fails.
    pub fn page(&self, name: &str, status: u16, ctx: Value, request_id: &str) -> Response {
        match self.render(name, ctx) {
            Ok(html) => Response::html(html).with_status_code(status),
            Err(error) => {
                tracing::error!("rendering failed id={request_id}: {error}");
                self.error_page(500, "Something went wrong on our side.", request_id)
            }
        }
    }

    pub fn error_page(&self, status: u16, message: &str, request_id: &str) -> Response {
        let title = match status {
            400 => "That request was not understood",
            403 => "Not allowed",
            404 => "Page not found",
            405 => "Method not allowed",
            408 => "Too slow",
            413 => "Too large",
            429 => "Please slow down",
            503 => "Busy",
            s if s >= 500 => "Something went wrong",
            _ => "Something is not right",
        };
        let reference = if status >= 500 { request_id } else { "" };
        let ctx = context! { status, title, message, reference };
        match self.render("error.html", ctx) {
            Ok(html) => Response::html(html).with_status_code(status),
            Err(error) => {
                // The one page that cannot fail: plain text, no user input but the status.
                tracing::error!("error page failed id={request_id}: {error}");
                Response::text(format!("Error {status}. Reference: {request_id}"))
                    .with_status_code(status)
            }
        }
    }

    /// 403 for a POST without a valid CSRF token.
    pub fn expired_page(&self, back_to: &str, request_id: &str) -> Response {
        self.page("expired.html", 403, context! { back_to }, request_id)
    }
}

/// The security questions as the templates list them.
fn question_list() -> Vec<Value> {
    crate::model::SECURITY_QUESTIONS
        .iter()
        .map(|(id, text)| context! { id => id.to_string(), text => *text })
        .collect()
}

fn datetime(seconds: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(seconds).ok()
}

/// A short human time in UTC: "14:03" today, "24 Nov 14:03" this year, else with the year.
fn when(seconds: i64) -> String {
    when_at(seconds, time::OffsetDateTime::now_utc())
}

/// [`when`] against a given "now", so a page of rows reads the clock once (the mailbox list
/// formats its rows' times in Rust: a filter call per row was a tenth of the page's cost).
pub fn when_at(seconds: i64, now: time::OffsetDateTime) -> String {
    let Some(at) = datetime(seconds) else {
        return String::new();
    };
    let format = if at.date() == now.date() {
        time::macros::format_description!("[hour]:[minute] UTC")
    } else if at.year() == now.year() {
        time::macros::format_description!(
            "[day padding:none] [month repr:short] [hour]:[minute] UTC"
        )
    } else {
        time::macros::format_description!(
            "[day padding:none] [month repr:short] [year] [hour]:[minute] UTC"
        )
    };
    at.format(&format).unwrap_or_default()
}

fn iso(seconds: i64) -> String {
    crate::model::Timestamp(seconds).rfc3339()
}

/// What every signed-in page's layout shows: who, the unread count, the logout token.
pub fn member_context(call: &Call<'_>, session: &Session, active: &str) -> Value {
    let unread = call.web.app.unread_count(&session.username).unwrap_or(0);
    member_context_with(session, active, unread, &session.csrf)
}

/// [`member_context`] with the unread count already read and the token to print given. A page
/// that shows a mailbox sets its own `live_box` and `live_etag` (see `live`); every other page
/// polls the unread count alone.
pub fn member_context_with(session: &Session, active: &str, unread: u64, csrf: &str) -> Value {
    let user = session.username.as_str();
    let live_etag = super::live::unread_etag(user, unread);
    context! { user, unread, csrf, active, live_box => "", live_etag }
}

/// `text` escaped for HTML, with each character of [`is_deceptive_char`] replaced by a marker
/// such as `[U+202E]` in a `span.invisible-char`, so a body cannot make itself read differently
/// from what it is (the body itself is stored and served by the API unchanged).
fn reveal(text: &str) -> Value {
    let mut html = String::with_capacity(text.len());
    let mut shown = 0;
    for (at, c) in text.char_indices().filter(|(_, c)| is_deceptive_char(*c)) {
        html.push_str(&minijinja::HtmlEscape(&text[shown..at]).to_string());
        html.push_str(&format!(
            "<span class=\"invisible-char\">[U+{:04X}]</span>",
            u32::from(c)
        ));
        shown = at + c.len_utf8();
    }
    html.push_str(&minijinja::HtmlEscape(&text[shown..]).to_string());
    Value::from_safe_string(html)
}
