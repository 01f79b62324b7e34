//! The server-rendered pages (minijinja templates from `assets/templates`).
//!
//! Scaffolding only until the web pages land: every page answers 404.

use rouille::{Request, Response};

use super::{Ctx, Web};

/// The compiled templates, built once at start.
pub struct Pages {}

impl Pages {
    pub fn new() -> Result<Self, String> {
        Ok(Pages {})
    }

    /// A complete HTML error page for `status`, showing `message` and the request id.
    pub fn error_page(&self, status: u16, message: &str, request_id: &str) -> Response {
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error {status}</title></head><body><h1>Error {status}</h1><p>{}</p><p>Reference: {request_id}</p></body></html>",
            html_escape(message)
        );
        Response::html(html).with_status_code(status)
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn handle(web: &Web, _request: &Request, ctx: &Ctx<'_>) -> Response {
    web.pages.error_page(404, "This page does not exist.", ctx.request_id)
}
