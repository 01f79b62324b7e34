//! The JSON API under `/api/v1`.
//!
//! Scaffolding only until the API lands: every endpoint answers 404.

use rouille::{Request, Response};

use super::{Ctx, Web};

/// The compiled JSON Schemas, built once at start.
pub struct Api {}

impl Api {
    pub fn new() -> Result<Self, String> {
        Ok(Api {})
    }
}

/// `{"error": {"code", "message", "details"}}` with `status`.
pub fn status_error(status: u16, message: &str, request_id: &str) -> Response {
    let code = match status {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        431 => "headers_too_large",
        503 => "unavailable",
        _ => "internal_error",
    };
    let body = serde_json::json!({"error": {"code": code, "message": message, "details": [], "request_id": request_id}});
    Response::from_data("application/json", body.to_string()).with_status_code(status)
}

pub fn method_not_allowed(allowed: &[&str], request_id: &str) -> Response {
    status_error(405, "method not allowed", request_id).with_unique_header("Allow", allowed.join(", "))
}

pub fn handle(_web: &Web, _request: &Request, ctx: &Ctx<'_>) -> Response {
    status_error(404, "not found", ctx.request_id)
}
