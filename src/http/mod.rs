//! The only module that knows rouille: the [`Web`] service that the connection layer
//! (`server`) calls for every request, routing to the pages (`pages`), the JSON API (`api`),
//! static files (`assets`) and `/healthz`, and adding the security headers to every answer.
//! What each domain error means on the wire (status, code, `Retry-After`) is decided once, in
//! `status`, for the pages and the API alike.
//!
//! Handlers are thin: decode the request, call one `app` function, encode the answer.

pub mod api;
pub mod assets;
pub mod headers;
mod listing_cache;
pub mod pages;
pub mod server;
pub mod status;
pub mod woosh;

use std::sync::Arc;

use rouille::{Request, Response};

use crate::app::{App, Client};

/// What every handler knows about the request besides the request itself.
pub struct Ctx<'a> {
    pub request_id: &'a str,
    pub client: Client,
    /// Served over TLS: cookies get `Secure` and the `__Host-` prefix, HSTS is sent.
    pub https: bool,
}

/// The application as the connection layer sees it.
pub struct Web {
    pub app: Arc<App>,
    pub pages: pages::Pages,
    pub api: api::Api,
    pub https: bool,
}

impl Web {
    pub fn new(app: Arc<App>, https: bool) -> Result<Self, String> {
        Ok(Web {
            pages: pages::Pages::new()?,
            api: api::Api::new()?,
            app,
            https,
        })
    }

    fn ctx<'a>(&self, request: &Request, request_id: &'a str) -> Ctx<'a> {
        let user_agent = request
            .header("User-Agent")
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        Ctx {
            request_id,
            client: Client {
                ip: request.remote_addr().ip(),
                user_agent,
            },
            https: self.https,
        }
    }
}

/// `/healthz`: 200 while the server can store what it is asked to, 503 with the reason (and
/// `Retry-After`) while it cannot, so a supervisor or a load balancer can tell.
fn health(fault: Option<String>) -> Response {
    match fault {
        None => Response::from_data("application/json", &b"{\"status\":\"ok\"}"[..]),
        Some(reason) => {
            let body = serde_json::json!({ "status": "unavailable", "reason": reason });
            Response::from_data("application/json", body.to_string())
                .with_status_code(503)
                .with_unique_header("Retry-After", status::UNAVAILABLE_RETRY_AFTER.to_string())
        }
    }
}

/// True for paths answered in JSON rather than HTML.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path == "/healthz"
}

impl server::Service for Web {
    fn handle(&self, request: &Request, request_id: &str) -> Response {
        let ctx = self.ctx(request, request_id);
        let path = request.url();
        let (response, personal) = if path == "/healthz" {
            let response = match request.method() {
                "GET" | "HEAD" => health(self.app.storage_fault()),
                _ => api::method_not_allowed(&["GET", "HEAD"], request_id),
            };
            (response, true)
        } else if path.starts_with("/static/") && !matches!(request.method(), "GET" | "HEAD") {
            let allowed = &["GET", "HEAD"];
            let refused = self
                .pages
                .method_not_allowed(request.method(), allowed, request_id);
            (refused, true)
        } else if path.starts_with("/static/") {
            match assets::serve_static(request) {
                Some(response) => (response, false),
                None => (
                    self.pages
                        .error_page(404, "This page does not exist.", request_id),
                    true,
                ),
            }
        } else if is_api_path(&path) {
            (api::handle(self, request, &ctx), true)
        } else {
            (pages::handle(self, request, &ctx), true)
        };
        headers::secure(response, personal, self.https)
    }

    fn refuse(&self, status: u16, path: Option<&str>, request_id: &str) -> Response {
        let message = match status {
            400 => "The request could not be understood.",
            408 => "The request took too long to arrive.",
            413 => "The request body is too large.",
            431 => "The request headers are too large.",
            503 => "The server is busy; please try again in a moment.",
            _ => "Something went wrong on our side.",
        };
        self.refusal(status, message, path, request_id)
    }

    fn refuse_bad_request(&self, reason: &str, path: Option<&str>, request_id: &str) -> Response {
        self.refusal(400, reason, path, request_id)
    }

    fn log_exchange(&self, exchange: &server::Exchange<'_>) {
        let line = access_line(exchange);
        // Every open tab polls /live every few seconds: a thousand tabs would write a hundred
        // lines a second that say nothing, so an answered poll is logged only at debug level.
        if exchange.path == "/live" && matches!(exchange.status, 200 | 304) {
            tracing::debug!(target: "access", "{line}");
        } else {
            tracing::info!(target: "access", "{line}");
        }
    }
}

/// One line of the access log (both listeners): who, what, the answer, its size and time.
pub fn access_line(exchange: &server::Exchange<'_>) -> String {
    format!(
        "{} {} {} {} {}B {}ms id={}",
        exchange.remote.ip(),
        exchange.method,
        crate::app::escape_for_log(exchange.path),
        exchange.status,
        exchange.bytes,
        exchange.elapsed.as_millis(),
        exchange.request_id
    )
}

impl Web {
    /// A refusal of the connection layer, in JSON on API paths and as a page elsewhere, with
    /// the security headers.
    fn refusal(
        &self,
        status: u16,
        message: &str,
        path: Option<&str>,
        request_id: &str,
    ) -> Response {
        let mut response = match path {
            Some(p) if is_api_path(p) => api::status_error(status, message, request_id),
            _ => self.pages.error_page(status, message, request_id),
        };
        if status == 503 {
            // Busy is brief: connections and body memory come back within seconds.
            response = response.with_unique_header("Retry-After", "1");
        }
        headers::secure(response, true, self.https)
    }
}
