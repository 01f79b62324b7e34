//! The JSON API under `/api/v1`, as documented in `assets/openapi.json`.
//!
//! `mod.rs` routes: path to [`Route`], method checked against the route's `Allow` list (405),
//! the bearer token checked on every protected route (401), then one handler in `users` or
//! `messages` that decodes the request (bodies through `schema`, query strings through
//! `query`), calls one `app` use case and encodes the answer. Every failure becomes the JSON
//! error of `problem`. The OpenAPI document (`openapi`) is assembled once at start from
//! `assets/openapi.json` and the same schema files the validators use.
//!
//! No rule of the product lives here: limits, policies, rate limits and ownership are in `app`.

mod auth;
mod messages;
mod openapi;
mod problem;
mod query;
mod schema;
mod users;

use rouille::{Request, Response};
use serde::Serialize;

use super::listing_cache::ListingCache;
use super::{Ctx, Web};
use problem::Problem;

/// What the API builds once at start: compiled schemas, the served OpenAPI document, and
/// the mailbox lists kept for reuse (`listing_cache`).
pub struct Api {
    schemas: schema::Schemas,
    openapi: Vec<u8>,
    listings: ListingCache,
}

impl Api {
    pub fn new() -> Result<Self, String> {
        Ok(Api {
            schemas: schema::Schemas::compile()?,
            openapi: openapi::document()?,
            listings: ListingCache::new()?,
        })
    }
}

/// `{"error": {"code", "message", "details", "request_id"}}` with `status`, for answers the
/// dispatcher and the connection layer give themselves (`/healthz`, refusals such as 413).
pub fn status_error(status: u16, message: &str, request_id: &str) -> Response {
    let code = match status {
        400 => "bad_request",
        401 => "unauthenticated",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        431 => "headers_too_large",
        503 => "unavailable",
        _ => "internal_error",
    };
    Problem::new(status, code, message).into_response(request_id)
}

pub fn method_not_allowed(allowed: &[&str], request_id: &str) -> Response {
    status_error(405, "method not allowed", request_id)
        .with_unique_header("Allow", allowed.join(", "))
}

/// A JSON answer.
fn json(status: u16, value: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Response::from_data("application/json", bytes).with_status_code(status)
}

/// The endpoints, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'p> {
    Users,
    UserKey(&'p str),
    Tokens,
    Me,
    MeKey,
    Messages,
    Message(&'p str),
    SecurityQuestions,
    OpenApi,
}

impl<'p> Route<'p> {
    fn parse(path: &'p str) -> Option<Self> {
        let rest = path.strip_prefix("/api/v1/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        Some(match parts.as_slice() {
            ["users"] => Route::Users,
            ["users", username, "key"] => Route::UserKey(username),
            ["tokens"] => Route::Tokens,
            ["me"] => Route::Me,
            ["me", "key"] => Route::MeKey,
            ["messages"] => Route::Messages,
            ["messages", id] => Route::Message(id),
            ["security-questions"] => Route::SecurityQuestions,
            ["openapi.json"] => Route::OpenApi,
            _ => return None,
        })
    }

    /// The methods of this path, as the `Allow` header lists them. HEAD goes wherever GET
    /// does (RFC 9110 §9.3.2): it reaches the GET handler, and the connection layer sends the
    /// head of its answer without the body.
    fn allowed(self) -> &'static [&'static str] {
        match self {
            Route::Users | Route::Messages => &["GET", "HEAD", "POST"],
            Route::Tokens => &["POST", "DELETE"],
            Route::Me => &["GET", "HEAD", "PATCH"],
            Route::MeKey => &["PUT"],
            Route::Message(_) => &["GET", "HEAD", "DELETE"],
            Route::UserKey(_) | Route::SecurityQuestions | Route::OpenApi => &["GET", "HEAD"],
        }
    }

    /// Whether the route can be used without a bearer token.
    fn is_public(self, method: &str) -> bool {
        matches!(
            (self, method),
            (Route::Users, "POST")
                | (Route::Tokens, "POST")
                | (Route::SecurityQuestions, _)
                | (Route::OpenApi, _)
        )
    }
}

pub fn handle(web: &Web, request: &Request, ctx: &Ctx<'_>) -> Response {
    let path = request.url();
    let Some(route) = Route::parse(&path) else {
        return status_error(404, "there is no such endpoint", ctx.request_id);
    };
    let method = request.method();
    if !route.allowed().contains(&method) {
        return method_not_allowed(route.allowed(), ctx.request_id);
    }
    dispatch(web, request, ctx, route, method)
        .unwrap_or_else(|problem| problem.into_response(ctx.request_id))
}

fn dispatch(
    web: &Web,
    request: &Request,
    ctx: &Ctx<'_>,
    route: Route<'_>,
    method: &str,
) -> Result<Response, Problem> {
    let app = web.app.as_ref();
    let api = &web.api;
    let client = &ctx.client;
    if route.is_public(method) {
        return match route {
            Route::Users => users::register(app, api, request, client),
            Route::Tokens => users::create_token(app, request, client),
            Route::SecurityQuestions => Ok(users::security_questions()),
            _ => Ok(Response::from_data("application/json", api.openapi.clone())),
        };
    }
    let caller = auth::bearer(app, request)?;
    match (route, method) {
        (Route::Users, _) => users::find(app, request),
        (Route::UserKey(username), _) => users::key_of(app, username),
        (Route::Tokens, _) => users::revoke_token(app, &caller, client),
        (Route::Me, "PATCH") => users::update_me(app, api, request, &caller, client),
        (Route::Me, _) => users::me(app, &caller),
        (Route::MeKey, _) => users::put_key(app, api, request, &caller),
        (Route::Messages, "POST") => messages::send(app, api, request, &caller),
        (Route::Messages, _) => messages::list(app, api, request, &caller),
        (Route::Message(id), "DELETE") => messages::delete(app, &caller, id, client),
        (Route::Message(id), _) => messages::read(app, &caller, id),
        (Route::SecurityQuestions | Route::OpenApi, _) => Err(Problem::internal(
            "public route reached the protected branch",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("/api/v1/users/alice/key"),
            Some(Route::UserKey("alice"))
        );
        assert_eq!(
            Route::parse("/api/v1/messages/abc"),
            Some(Route::Message("abc"))
        );
        assert_eq!(Route::parse("/api/v1/messages/"), Some(Route::Message("")));
        assert_eq!(Route::parse("/api/v1/me/"), None);
        assert_eq!(Route::parse("/api/v2/me"), None);
        assert_eq!(Route::parse("/api/v1"), None);
    }
}
