//! `/account`: the member's profile, password change (needs the current one), security
//! question change (needs the password), their sessions (end one or all others) and API tokens
//! (create, shown once; list; revoke). Each change is its own small POST form under `/account/`.

use minijinja::{Value, context};
use rouille::Response;

use super::forms::{self, FieldErrors, Form};
use super::{Call, member, member_form, member_page};
use crate::app::auth::{CredentialInfo, Session};
use crate::http::status::Answer;

/// The POST actions under `/account/`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Password,
    Question,
    EndSession,
    EndOtherSessions,
    NewToken,
    RevokeToken,
}

impl Action {
    pub fn parse(rest: &str) -> Option<Action> {
        Some(match rest {
            "password" => Action::Password,
            "question" => Action::Question,
            "sessions/end" => Action::EndSession,
            "sessions/end-others" => Action::EndOtherSessions,
            "tokens" => Action::NewToken,
            "tokens/revoke" => Action::RevokeToken,
            _ => return None,
        })
    }
}

/// What the page shows besides the lists: errors of the form that was sent, its kept values,
/// a token just created.
#[derive(Default)]
struct Extra {
    password_errors: FieldErrors,
    question_errors: FieldErrors,
    question_value: String,
    new_token: Option<(String, i64)>,
}

fn done_notice(call: &Call<'_>) -> &'static str {
    match call.request.get_param("done").as_deref() {
        Some("password") => {
            "Your password was changed. Your other sessions and all API tokens were ended."
        }
        Some("question") => "Your security question was changed.",
        Some("session") => "The session was ended.",
        Some("sessions") => "All your other sessions were ended.",
        Some("token") => "The API token was revoked.",
        _ => "",
    }
}

fn credential(info: &CredentialInfo) -> Value {
    context! {
        handle => format!("{:032x}", info.handle),
        created_at => info.created_at.0,
        last => info.last_seen_or_expiry.0,
        ip => info.ip.as_str(),
        device => crate::app::user_agent::describe(&info.user_agent),
        current => info.current,
    }
}

fn render(call: &Call<'_>, session: &Session, extra: Extra, status: u16) -> Response {
    let app = &call.web.app;
    let loaded = app.profile(&session.username).and_then(|p| {
        Ok((
            p,
            app.sessions_of(session)?,
            app.tokens_of(&session.username)?,
        ))
    });
    let (profile, sessions, tokens) = match loaded {
        Ok(found) => found,
        Err(error) => return forms::error_response(call, &error),
    };
    let question_value = if extra.question_value.is_empty() {
        profile.question.number().to_string()
    } else {
        extra.question_value
    };
    let ctx = context! {
        profile => context! {
            name => profile.name,
            username => profile.username.as_str(),
            question => profile.question.text(),
            created_at => profile.created_at.0,
        },
        sessions => sessions.iter().map(credential).collect::<Vec<_>>(),
        tokens => tokens.iter().map(credential).collect::<Vec<_>>(),
        password_errors => extra.password_errors,
        question_errors => extra.question_errors,
        question_value,
        new_token => extra.new_token.map(|(token, expires)| context! { token, expires }),
        notice => done_notice(call),
    };
    member_page(call, session, "account", "account.html", status, ctx)
}

pub fn page(call: &Call<'_>) -> Response {
    match member(call) {
        Ok(session) => render(call, &session, Extra::default(), 200),
        Err(redirect) => redirect,
    }
}

fn parse_handle(text: &str) -> Option<u128> {
    (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u128::from_str_radix(text, 16).ok())
        .flatten()
}

pub fn post(call: &Call<'_>, action: Action) -> Response {
    let (session, form) = match member_form(call, "/account") {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let app = &call.web.app;
    let client = &call.ctx.client;
    let result = match action {
        Action::Password => app
            .change_password(
                &session.username,
                form.get("current_password"),
                form.get("password"),
                Some(form.get("password_confirm")),
                Some(session.hash),
                client,
            )
            .map(|()| "password"),
        Action::Question => app
            .change_question(
                &session.username,
                form.get("current_password"),
                form.get("security_question"),
                form.get("security_answer"),
                client,
            )
            .map(|()| "question"),
        Action::EndSession => match parse_handle(form.get("handle")) {
            Some(handle) => app
                .end_session(&session.username, handle)
                .map(|()| "session"),
            None => return call.not_found(),
        },
        Action::EndOtherSessions => app.end_other_sessions(&session).map(|_| "sessions"),
        Action::RevokeToken => match parse_handle(form.get("handle")) {
            Some(handle) => app
                .revoke_token_by_handle(&session.username, handle, client)
                .map(|()| "token"),
            None => return call.not_found(),
        },
        Action::NewToken => {
            // Answered with the page itself, not a redirect: the token is shown once and is
            // never put in a URL or stored anywhere but as its hash.
            return match app.issue_token(&session.username, client) {
                Ok((token, expires)) => render(
                    call,
                    &session,
                    Extra {
                        new_token: Some((token, expires.0)),
                        ..Extra::default()
                    },
                    200,
                ),
                Err(error) => forms::error_response(call, &error),
            };
        }
    };
    match result {
        Ok(done) => Response::redirect_303(format!("/account?done={done}")),
        Err(error) => form_failed(call, &session, action, &form, &error),
    }
}

fn form_failed(
    call: &Call<'_>,
    session: &Session,
    action: Action,
    form: &Form,
    error: &crate::error::Error,
) -> Response {
    let Some(errors) = forms::field_errors(error) else {
        return forms::error_response(call, error);
    };
    let extra = match action {
        Action::Question => Extra {
            question_errors: errors,
            question_value: form.get("security_question").to_string(),
            ..Extra::default()
        },
        _ => Extra {
            password_errors: errors,
            ..Extra::default()
        },
    };
    render(call, session, extra, Answer::of(error).status)
}
