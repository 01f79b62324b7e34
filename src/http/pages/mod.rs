//! The server-rendered pages: routing of every non-API path to its handler, the 404/405/error
//! pages, and the [`Pages`] value (compiled templates and the strength meter's own rate limit)
//! built once at start.
//!
//! Handlers are thin: decode the form, call one `app` use case (a page that shows several
//! things reads each through `app`), render a template or redirect.
//! This module never touches the store and never sets security headers (the dispatcher does).
//! Sessions, cookies and CSRF live in `session`, form decoding and error mapping in `forms`.

mod account;
mod auth_pages;
pub(crate) mod forms;
mod live;
mod mail_pages;
mod meter;
mod search_page;
mod session;
mod templates;

use rouille::{Request, Response};

use super::{Ctx, Web};
use crate::app::auth::Session;
use crate::app::throttle::{Throttle, ThrottleSettings};
use crate::model::MessageId;

/// The compiled templates and the page layer's own state, built once at start.
pub struct Pages {
    templates: templates::Templates,
    /// The strength meter's per-IP limit, kept apart from the login limits so typing a
    /// password never locks anyone out of signing in.
    meter_throttle: Throttle,
    /// The live poll's per-session limit (`live::PER_MINUTE`).
    live_throttle: Throttle,
    /// Rendered inbox and sent pages, reused while their listing is unchanged.
    listings: crate::http::listing_cache::ListingCache,
}

impl Pages {
    pub fn new() -> Result<Self, String> {
        let meter_throttle = Throttle::new(ThrottleSettings {
            attempts_per_minute: meter::PER_MINUTE,
            ..ThrottleSettings::default()
        });
        let live_throttle = Throttle::new(ThrottleSettings {
            attempts_per_minute: live::PER_MINUTE,
            ..ThrottleSettings::default()
        });
        Ok(Pages {
            templates: templates::Templates::new()?,
            meter_throttle,
            live_throttle,
            listings: crate::http::listing_cache::ListingCache::new()?,
        })
    }

    /// A complete HTML error page for `status`, showing `message` (and, for a 500, the request id
    /// as a reference the operator can find in the log).
    pub fn error_page(&self, status: u16, message: &str, request_id: &str) -> Response {
        self.templates.error_page(status, message, request_id)
    }

    /// The 405 page for `method`, with `Allow` listing the methods the address accepts.
    pub fn method_not_allowed(&self, method: &str, allowed: &[&str], request_id: &str) -> Response {
        let allow = allowed.join(", ");
        let message = format!("This address does not accept {method}; it accepts {allow}.");
        self.error_page(405, &message, request_id)
            .with_unique_header("Allow", allow)
    }
}

/// Everything a page handler needs about one request.
pub(crate) struct Call<'a> {
    pub web: &'a Web,
    pub request: &'a Request,
    pub ctx: &'a Ctx<'a>,
}

impl Call<'_> {
    fn pages(&self) -> &Pages {
        &self.web.pages
    }

    fn not_found(&self) -> Response {
        self.pages().error_page(
            404,
            "This page does not exist, or it is not yours to see.",
            self.ctx.request_id,
        )
    }
}

/// The pages and the methods each accepts.
enum Route {
    Root,
    Login,
    Register,
    Reset,
    Logout,
    Inbox,
    Sent,
    Compose,
    Send,
    Message(MessageId),
    Delete(MessageId),
    Search,
    Account,
    AccountAction(account::Action),
    Strength,
    Live,
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        Some(match path {
            "/" => Route::Root,
            "/login" => Route::Login,
            "/register" => Route::Register,
            "/reset" => Route::Reset,
            "/logout" => Route::Logout,
            "/inbox" => Route::Inbox,
            "/sent" => Route::Sent,
            "/compose" => Route::Compose,
            "/messages" => Route::Send,
            "/search" => Route::Search,
            "/account" => Route::Account,
            "/password-strength" => Route::Strength,
            "/live" => Route::Live,
            _ => {
                if let Some(rest) = path.strip_prefix("/account/") {
                    return account::Action::parse(rest).map(Route::AccountAction);
                }
                let rest = path.strip_prefix("/messages/")?;
                return match rest.split_once('/') {
                    None => MessageId::parse(rest).map(Route::Message),
                    Some((id, "delete")) => MessageId::parse(id).map(Route::Delete),
                    Some(_) => None,
                };
            }
        })
    }

    fn allowed(&self) -> &'static [&'static str] {
        const GET: &[&str] = &["GET", "HEAD"];
        const POST: &[&str] = &["POST"];
        const BOTH: &[&str] = &["GET", "HEAD", "POST"];
        match self {
            Route::Root
            | Route::Inbox
            | Route::Sent
            | Route::Compose
            | Route::Message(_)
            | Route::Search
            | Route::Account
            | Route::Live => GET,
            Route::Logout | Route::Send | Route::AccountAction(_) | Route::Strength => POST,
            Route::Login | Route::Register | Route::Reset | Route::Delete(_) => BOTH,
        }
    }
}

/// Answers every path that is not the API, `/healthz` or a static file.
pub fn handle(web: &Web, request: &Request, ctx: &Ctx<'_>) -> Response {
    let call = Call { web, request, ctx };
    let path = request.url();
    let Some(route) = Route::parse(&path) else {
        return call.not_found();
    };
    let allowed = route.allowed();
    let method = request.method();
    if !allowed.contains(&method) {
        return call
            .pages()
            .method_not_allowed(method, allowed, ctx.request_id);
    }
    let post = method == "POST";
    let response = match route {
        Route::Root => match session::current(&call) {
            Some(_) => Response::redirect_303("/inbox"),
            None => Response::redirect_303("/login"),
        },
        Route::Login if post => auth_pages::login_post(&call),
        Route::Login => auth_pages::login_get(&call),
        Route::Register if post => auth_pages::register_post(&call),
        Route::Register => auth_pages::register_get(&call),
        Route::Reset if post => auth_pages::reset_post(&call),
        Route::Reset => auth_pages::reset_get(&call),
        Route::Logout => auth_pages::logout(&call),
        Route::Inbox => mail_pages::mailbox(&call, crate::model::Mailbox::Inbox),
        Route::Sent => mail_pages::mailbox(&call, crate::model::Mailbox::Sent),
        Route::Compose => mail_pages::compose_get(&call),
        Route::Send => mail_pages::send(&call),
        Route::Message(id) => mail_pages::show(&call, id),
        Route::Delete(id) if post => mail_pages::delete_post(&call, id),
        Route::Delete(id) => mail_pages::delete_get(&call, id),
        Route::Search => search_page::page(&call),
        Route::Account => account::page(&call),
        Route::AccountAction(action) => account::post(&call, action),
        Route::Strength => meter::strength(&call),
        Route::Live => live::poll(&call),
    };
    // A form shown again because storage failed says when to retry, like the error page does.
    if response.status_code == 503
        && !response
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Retry-After"))
    {
        return response.with_unique_header(
            "Retry-After",
            crate::http::status::UNAVAILABLE_RETRY_AFTER.to_string(),
        );
    }
    response
}

/// The member behind the request, or the redirect to the login page.
fn member(call: &Call<'_>) -> Result<Session, Response> {
    session::current(call).ok_or_else(|| Response::redirect_303("/login"))
}

/// A signed-in POST: the member and the form, or the login redirect, or the 403 page when the
/// form's `csrf_token` is not the session's (nothing is changed then).
fn member_form(call: &Call<'_>, back_to: &str) -> Result<(Session, forms::Form), Response> {
    let session = member(call)?;
    let form = forms::Form::read(call);
    if call.web.app.csrf_ok(&session, form.get("csrf_token")) {
        Ok((session, form))
    } else {
        Err(forms::expired(call, back_to))
    }
}

/// Renders a signed-in page: the layout's member context plus `ctx`.
fn member_page(
    call: &Call<'_>,
    session: &Session,
    active: &str,
    name: &str,
    status: u16,
    ctx: minijinja::Value,
) -> Response {
    let ctx = minijinja::context! { ..ctx, ..templates::member_context(call, session, active) };
    call.web
        .pages
        .templates
        .page(name, status, ctx, call.ctx.request_id)
}
