//! Accounts over the API: registration, tokens (create with Basic, revoke the one used), the
//! caller's profile and public key, other members' keys, the user search and the fixed list
//! of security questions. Each handler decodes, calls one `app` use case, and encodes.

use rouille::{Request, Response};
use serde::{Deserialize, Serialize};

use super::auth::{self, Caller};
use super::problem::{Detail, Problem, Scheme};
use super::query::Query;
use super::{Api, json, schema};
use crate::app::accounts::{Profile, ProfileChange, Registration};
use crate::app::{App, Client};
use crate::error::Error;
use crate::model::SECURITY_QUESTIONS;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrationBody {
    username: String,
    name: String,
    password: String,
    pin: String,
    security_question: u8,
    security_answer: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileUpdateBody {
    name: Option<String>,
    current_password: Option<String>,
    new_password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyBody {
    key: String,
}

#[derive(Serialize)]
struct ProfileView {
    username: String,
    name: String,
    security_question: u8,
    created_at: String,
    unread: u64,
}

impl From<Profile> for ProfileView {
    fn from(profile: Profile) -> Self {
        ProfileView {
            username: profile.username.to_string(),
            name: profile.name,
            security_question: profile.question.number(),
            created_at: profile.created_at.rfc3339(),
            unread: profile.unread,
        }
    }
}

#[derive(Serialize)]
struct KeyView<'a> {
    username: &'a str,
    key: String,
}

/// `POST /api/v1/users`: 201 with the new member's profile.
pub fn register(
    app: &App,
    api: &Api,
    request: &Request,
    client: &Client,
) -> Result<Response, Problem> {
    let body: RegistrationBody = api.schemas.body(request, schema::REGISTRATION)?;
    let registration = Registration {
        username: body.username,
        name: body.name,
        password: body.password,
        password_confirm: None,
        pin: body.pin,
        security_question: body.security_question.to_string(),
        security_answer: body.security_answer,
    };
    let username = app.register(&registration, client)?;
    Ok(json(201, &ProfileView::from(app.profile(&username)?)))
}

/// `POST /api/v1/tokens`: HTTP Basic (and the `Device-Token` header, if the client kept one)
/// in, `{token, expires_at, device_token}` out (201).
pub fn create_token(app: &App, request: &Request, client: &Client) -> Result<Response, Problem> {
    let (username, password) = auth::basic(request)?;
    let device = auth::device_token(request);
    let (token, expires_at, device_token) = app
        .create_token(&username, &password, client, device)
        .map_err(|error| match error {
            Error::Unauthenticated => {
                Problem::unauthenticated(Scheme::Basic, &error.public_message())
            }
            other => Problem::from(other),
        })?;
    Ok(json(
        201,
        &serde_json::json!({
            "token": token,
            "expires_at": expires_at.rfc3339(),
            "device_token": device_token,
        }),
    ))
}

/// `DELETE /api/v1/tokens`: ends the bearer token of this request.
pub fn revoke_token(app: &App, caller: &Caller, client: &Client) -> Result<Response, Problem> {
    app.revoke_token(&caller.username, caller.token_hash, client)?;
    Ok(Response::empty_204())
}

pub fn me(app: &App, caller: &Caller) -> Result<Response, Problem> {
    Ok(json(
        200,
        &ProfileView::from(app.profile(&caller.username)?),
    ))
}

/// `PATCH /api/v1/me`: the name, and/or the password (with the current one). The new name is
/// checked before the password changes, so a refused request changes nothing.
pub fn update_me(
    app: &App,
    api: &Api,
    request: &Request,
    caller: &Caller,
    client: &Client,
) -> Result<Response, Problem> {
    let body: ProfileUpdateBody = api.schemas.body(request, schema::PROFILE_UPDATE)?;
    let change = ProfileChange {
        name: body.name.as_deref(),
        password: body
            .current_password
            .as_deref()
            .zip(body.new_password.as_deref()),
    };
    let profile = app
        .update_profile(&caller.username, &change, client)
        .map_err(rename_password_field)?;
    Ok(json(200, &ProfileView::from(profile)))
}

/// The password policy reports on `password`; in this body the field is `new_password`.
fn rename_password_field(error: Error) -> Problem {
    let mut problem = Problem::from(error);
    for detail in &mut problem.details {
        if detail.field == "/password" {
            *detail = Detail::new("/new_password", detail.message.clone());
        }
    }
    if problem.message.starts_with("password:") {
        problem.message = problem.message.replacen("password:", "new_password:", 1);
    }
    problem
}

/// `PUT /api/v1/me/key`: publishes the caller's public key; answers it back.
pub fn put_key(
    app: &App,
    api: &Api,
    request: &Request,
    caller: &Caller,
) -> Result<Response, Problem> {
    let body: PublicKeyBody = api.schemas.body(request, schema::PUBLIC_KEY)?;
    app.put_public_key(&caller.username, &body.key)?;
    Ok(json(
        200,
        &KeyView {
            username: caller.username.as_str(),
            key: app.public_key(caller.username.as_str())?,
        },
    ))
}

/// `GET /api/v1/users/{username}/key`: 404 when the member is unknown or published none.
pub fn key_of(app: &App, username: &str) -> Result<Response, Problem> {
    let key = app.public_key(username)?;
    Ok(json(
        200,
        &KeyView {
            username: &username.to_ascii_lowercase(),
            key,
        },
    ))
}

/// `GET /api/v1/users?q=PREFIX&limit=N`.
pub fn find(app: &App, request: &Request) -> Result<Response, Problem> {
    let query = Query::parse(request, &["q", "limit"])?;
    let prefix = query
        .text("q")
        .ok_or_else(|| Problem::bad_parameter("q", "is required"))?;
    if prefix.is_empty() {
        return Err(Problem::bad_parameter("q", "must not be empty"));
    }
    let limit = query.number("limit", 1, 50, 20)?;
    let found = app.find_users(prefix, limit).map_err(|error| match error {
        Error::Invalid(problems) => Problem::bad_parameter(
            "q",
            &problems
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_default(),
        ),
        other => Problem::from(other),
    })?;
    let users: Vec<_> = found
        .into_iter()
        .map(|(username, name)| serde_json::json!({"username": username, "name": name}))
        .collect();
    Ok(json(200, &serde_json::json!({ "users": users })))
}

/// `GET /api/v1/security-questions`: the fixed list, `[{id, text}]`.
pub fn security_questions() -> Response {
    let list: Vec<_> = SECURITY_QUESTIONS
        .iter()
        .map(|(id, text)| serde_json::json!({"id": id, "text": text}))
        .collect();
    json(200, &list)
}
