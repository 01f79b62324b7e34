//! The end-to-end chat protocol ("woosh", `/work/shared/woosh/API.md`) on its own listener:
//! the [`Woosh`] service the connection layer (`http::server`) calls, with the same limits,
//! timeouts, TLS, request ids and access log as the main listener. Six endpoints at the root,
//! credentials in `x-user-name` / `x-user-token` on every request but registration, and every
//! answer, error or not, a JSON body; errors in the protocol's shape
//! `{"status": <int>, "message": <string>}`.
//!
//! Routing and decoding only: each handler checks the method (405 before credentials), then the
//! credentials (401 before anything else), then decodes its body or query and calls one `app`
//! function. No product rule lives here, and no database.

mod wire;

use std::sync::Arc;

use rouille::{Request, Response};
use serde_json::{Value, json};

use super::{access_line, headers, server};
use crate::app::woosh::{WooshProfile, WooshRegistration, WooshUser};
use crate::app::woosh_mail::WooshMessage;
use crate::app::{App, Client};
use crate::error::Error;
use wire::{Fields, error_response, json_response, parse_until, query_param};

/// The protocol's service.
pub struct Woosh {
    app: Arc<App>,
    /// `--woosh-registration open`: anyone who reaches the listener may register (no PIN).
    registration_open: bool,
    https: bool,
}

/// A refusal on its way to the client: status and the protocol's `message`.
pub struct Refusal {
    status: u16,
    message: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        wire::refusal_of(error)
    }
}

type Answer = Result<Response, Refusal>;

/// The four paths and the methods each answers (HEAD wherever GET).
const ROUTES: &[(&str, &[&str])] = &[
    ("/users", &["POST", "OPTIONS"]),
    ("/users/me", &["GET", "HEAD", "POST", "OPTIONS"]),
    ("/users/friends", &["GET", "HEAD", "OPTIONS"]),
    ("/messages", &["GET", "HEAD", "POST", "DELETE", "OPTIONS"]),
];

impl Woosh {
    pub fn new(app: Arc<App>, registration_open: bool, https: bool) -> Self {
        Woosh {
            app,
            registration_open,
            https,
        }
    }

    fn route(&self, request: &Request, client: &Client) -> Answer {
        let path = request.url();
        let Some((_, allowed)) = ROUTES.iter().find(|(p, _)| *p == path) else {
            return Err(Refusal::new(404, "not found"));
        };
        let method = request.method();
        if !allowed.contains(&method) {
            return Err(Refusal::new(405, "method not allowed"));
        }
        if method == "OPTIONS" {
            return Ok(Response::text("")
                .with_unique_header("Content-Type", "text/html; charset=utf-8")
                .with_unique_header("Allow", allowed.join(", ")));
        }
        if path == "/users" {
            return self.register(request, client);
        }
        let caller = self.app.woosh_authenticate(
            request.header("x-user-name"),
            request.header("x-user-token"),
            client,
        )?;
        match (path.as_str(), method) {
            ("/users/me", "GET" | "HEAD") => {
                Ok(profile_json(&self.app.woosh_profile(&caller)?, 200))
            }
            ("/users/me", _) => self.update_info(request, &caller),
            ("/users/friends", _) => self.friend(request),
            ("/messages", "GET" | "HEAD") => self.inbox(&caller),
            ("/messages", "POST") => self.send(request, &caller),
            _ => self.delete_until(request, &caller, client),
        }
    }

    fn register(&self, request: &Request, client: &Client) -> Answer {
        if !self.registration_open {
            return Err(Refusal::new(
                403,
                "registration is closed on this server; ask its operator for an account",
            ));
        }
        let fields = Fields::read(request)?;
        let form = WooshRegistration {
            username: fields.required("username")?,
            password: fields.required("password")?,
            private_key: fields.required("private_key")?,
            public_key: fields.required("public_key")?,
            info: fields.optional("info")?,
        };
        let profile = self.app.woosh_register(&form, client)?;
        Ok(profile_json(&profile, 201))
    }

    fn update_info(&self, request: &Request, caller: &WooshUser) -> Answer {
        let info = Fields::read(request)?.required("info")?;
        Ok(profile_json(&self.app.woosh_set_info(caller, &info)?, 200))
    }

    fn friend(&self, request: &Request) -> Answer {
        let Some(username) = query_param(request, "username") else {
            return Err(Refusal::new(400, "missing parameter \"username\""));
        };
        let friend = self.app.woosh_friend(&username)?;
        let body = json!({
            "id": friend.id,
            "username": friend.username,
            "public_key": friend.public_key,
        });
        Ok(json_response(&body, 200))
    }

    fn inbox(&self, caller: &WooshUser) -> Answer {
        let (query_time, messages) = self.app.woosh_inbox(caller)?;
        let messages: Vec<Value> = messages.iter().map(message_json).collect();
        let body = json!({ "query_time": query_time, "messages": messages });
        Ok(json_response(&body, 200))
    }

    fn send(&self, request: &Request, caller: &WooshUser) -> Answer {
        let fields = Fields::read(request)?;
        let recipient = fields.required("recipient")?;
        let contents = fields.required("contents")?;
        let message = self.app.woosh_send(caller, &recipient, &contents)?;
        Ok(json_response(&message_json(&message), 201))
    }

    fn delete_until(&self, request: &Request, caller: &WooshUser, client: &Client) -> Answer {
        let Some(until) = query_param(request, "until") else {
            return Err(Refusal::new(400, "missing parameter \"until\""));
        };
        let Some(until) = parse_until(&until) else {
            return Err(Refusal::new(
                400,
                "invalid field \"until\": it must be an integer (seconds)",
            ));
        };
        let n_deleted = self.app.woosh_delete_until(caller, until, client)?;
        let body = json!({ "result": "success", "deleted": n_deleted });
        Ok(json_response(&body, 200))
    }
}

fn profile_json(profile: &WooshProfile, status: u16) -> Response {
    let body = json!({
        "id": profile.id,
        "username": profile.username,
        "public_key": profile.public_key,
        "private_key": profile.private_key,
        "info": profile.info,
    });
    json_response(&body, status)
}

fn message_json(message: &WooshMessage) -> Value {
    json!({
        "id": message.id,
        "from_user": message.from_user,
        "to_user": message.to_user,
        "contents": message.contents,
        "sent_at": message.sent_at,
    })
}

impl server::Service for Woosh {
    fn handle(&self, request: &Request, _request_id: &str) -> Response {
        let client = Client {
            ip: request.remote_addr().ip(),
            user_agent: request
                .header("User-Agent")
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
        };
        let response = match self.route(request, &client) {
            Ok(response) => response,
            Err(refusal) => error_response(&refusal),
        };
        headers::secure(response, true, self.https)
    }

    fn refuse(&self, status: u16, _path: Option<&str>, _request_id: &str) -> Response {
        let message = match status {
            400 => "bad request",
            408 => "request timeout",
            413 => "request body too large",
            431 => "request headers too large",
            503 => "server busy, try again in a moment",
            _ => "internal server error",
        };
        let mut refusal = Refusal::new(status, message);
        if status == 503 {
            refusal.retry_after = Some(1);
        }
        headers::secure(error_response(&refusal), true, self.https)
    }

    fn refuse_bad_request(&self, reason: &str, _path: Option<&str>, _request_id: &str) -> Response {
        let refusal = Refusal::new(400, reason);
        headers::secure(error_response(&refusal), true, self.https)
    }

    fn log_exchange(&self, exchange: &server::Exchange<'_>) {
        tracing::info!(target: "access", "woosh {}", access_line(exchange));
    }
}
