//! The anonymous pages (login, register, the two steps of the reset) and logout.
//!
//! Each anonymous POST first checks the signed double-submit CSRF token (see `session`); a
//! refused form changes nothing. Refused forms are shown again with each message beside its
//! field and what was typed kept, except passwords, the PIN and the security answer.

use minijinja::{Value, context};
use rouille::Response;

use super::Call;
use super::forms::{self, FieldErrors, Form};
use super::session::{self, AnonToken};
use crate::app::accounts::{Registration, ResetRequest};
use crate::http::status::Answer;

/// Fixed notices a redirect may ask the login page to show (never text from the URL).
fn notice(call: &Call<'_>) -> &'static str {
    match call.request.get_param("done").as_deref() {
        Some("registered") => "Your account is ready. Log in to read your messages.",
        Some("reset") => {
            "Your password was changed and every session was ended. Log in with the new password."
        }
        Some("logout") => "You are logged out.",
        Some("password") => "Your password was changed. Log in with the new password.",
        _ => "",
    }
}

fn anon_page(call: &Call<'_>, token: &AnonToken, name: &str, status: u16, ctx: Value) -> Response {
    let ctx = context! { csrf => token.token.as_str(), ..ctx };
    token.apply(
        call.web
            .pages
            .templates
            .page(name, status, ctx, call.ctx.request_id),
    )
}

/// Reads an anonymous POST, or answers 403 (with a fresh cookie) when its token is wrong.
fn anon_form(call: &Call<'_>, back_to: &str) -> Result<Form, Response> {
    let form = Form::read(call);
    if session::anon_token_ok(call, form.get("csrf_token")) {
        Ok(form)
    } else {
        Err(session::fresh_anon_token(call).apply(forms::expired(call, back_to)))
    }
}

pub fn login_get(call: &Call<'_>) -> Response {
    if session::current(call).is_some() {
        return Response::redirect_303("/inbox");
    }
    let username = call.request.get_param("username").unwrap_or_default();
    let token = session::anon_token(call);
    let ctx = context! { values => context! { username }, errors => FieldErrors::new(), notice => notice(call) };
    anon_page(call, &token, "login.html", 200, ctx)
}

pub fn login_post(call: &Call<'_>) -> Response {
    let form = match anon_form(call, "/login") {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let previous = session::session_secret(call);
    let device = session::device_token(call);
    match call.web.app.login(
        form.get("username"),
        form.get("password"),
        &call.ctx.client,
        previous.as_deref(),
        device.as_deref(),
    ) {
        Ok(signed_in) => Response::redirect_303("/inbox")
            .with_additional_header(
                "Set-Cookie",
                session::session_cookie(call, &signed_in.secret),
            )
            .with_additional_header(
                "Set-Cookie",
                session::device_cookie(call, &signed_in.device_token),
            ),
        Err(error) => match forms::field_errors(&error) {
            Some(errors) => {
                let token = session::anon_token(call);
                let ctx = context! { values => context! { username => form.get("username") }, errors, notice => "" };
                anon_page(call, &token, "login.html", Answer::of(&error).status, ctx)
            }
            None => forms::error_response(call, &error),
        },
    }
}

fn register_values(form: Option<&Form>) -> Value {
    let get = |name: &str| form.map_or("", |f| f.get(name)).to_string();
    context! { name => get("name"), username => get("username"), security_question => get("security_question") }
}

pub fn register_get(call: &Call<'_>) -> Response {
    if session::current(call).is_some() {
        return Response::redirect_303("/inbox");
    }
    let token = session::anon_token(call);
    let ctx = context! { values => register_values(None), errors => FieldErrors::new() };
    anon_page(call, &token, "register.html", 200, ctx)
}

pub fn register_post(call: &Call<'_>) -> Response {
    let form = match anon_form(call, "/register") {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let registration = Registration {
        username: form.get("username").to_string(),
        name: form.get("name").to_string(),
        password: form.get("password").to_string(),
        password_confirm: Some(form.get("password_confirm").to_string()),
        pin: form.get("pin").to_string(),
        security_question: form.get("security_question").to_string(),
        security_answer: form.get("security_answer").to_string(),
    };
    match call.web.app.register(&registration, &call.ctx.client) {
        Ok(username) => {
            Response::redirect_303(format!("/login?done=registered&username={username}"))
        }
        Err(error) => match forms::field_errors(&error) {
            Some(errors) => {
                let token = session::anon_token(call);
                let ctx = context! { values => register_values(Some(&form)), errors };
                anon_page(
                    call,
                    &token,
                    "register.html",
                    Answer::of(&error).status,
                    ctx,
                )
            }
            None => forms::error_response(call, &error),
        },
    }
}

pub fn reset_get(call: &Call<'_>) -> Response {
    let token = session::anon_token(call);
    let ctx = context! { values => context! { username => "" }, errors => FieldErrors::new() };
    anon_page(call, &token, "reset.html", 200, ctx)
}

/// Step two of the reset: the question for `username` (a stable decoy for unknown names, so
/// the page is the same whether or not the person exists).
fn reset_answer_page(
    call: &Call<'_>,
    username: &str,
    errors: FieldErrors,
    status: u16,
) -> Response {
    let question = match call.web.app.reset_question(username) {
        Ok(question) => question,
        Err(error) => return forms::error_response(call, &error),
    };
    let token = session::anon_token(call);
    let ctx = context! { username, question => question.text(), errors };
    anon_page(call, &token, "reset_answer.html", status, ctx)
}

pub fn reset_post(call: &Call<'_>) -> Response {
    let form = match anon_form(call, "/reset") {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let username = form.get("username").trim().to_ascii_lowercase();
    if username.is_empty() {
        let token = session::anon_token(call);
        let errors =
            FieldErrors::from([("username".to_string(), "Enter your username.".to_string())]);
        let ctx = context! { values => context! { username }, errors };
        return anon_page(call, &token, "reset.html", 400, ctx);
    }
    if !form.has("security_answer") {
        return reset_answer_page(call, &username, FieldErrors::new(), 200);
    }
    let request = ResetRequest {
        username: username.clone(),
        security_answer: form.get("security_answer").to_string(),
        password: form.get("password").to_string(),
        password_confirm: Some(form.get("password_confirm").to_string()),
    };
    match call.web.app.reset_password(&request, &call.ctx.client) {
        Ok(_) => Response::redirect_303("/login?done=reset")
            .with_additional_header("Set-Cookie", session::clear_session_cookie(call)),
        Err(error) => match forms::field_errors(&error) {
            Some(errors) => reset_answer_page(call, &username, errors, Answer::of(&error).status),
            None => forms::error_response(call, &error),
        },
    }
}

pub fn logout(call: &Call<'_>) -> Response {
    let Some(current) = session::current(call) else {
        return Response::redirect_303("/login")
            .with_additional_header("Set-Cookie", session::clear_session_cookie(call));
    };
    let form = Form::read(call);
    if !call.web.app.csrf_ok(&current, form.get("csrf_token")) {
        return forms::expired(call, "/inbox");
    }
    if let Err(error) = call.web.app.logout(&current) {
        return forms::error_response(call, &error);
    }
    Response::redirect_303("/login?done=logout")
        .with_additional_header("Set-Cookie", session::clear_session_cookie(call))
}
