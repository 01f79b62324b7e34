//! Form decoding (`application/x-www-form-urlencoded` with `form_urlencoded`) and the mapping
//! of an `app` error onto what a page shows: per-field messages next to their inputs, or a
//! whole error page (404, 429 or 503 with `Retry-After`, 500 with a reference). The status of
//! each error comes from `http::status`; this file only decides how a page shows it.

use std::collections::BTreeMap;
use std::io::Read;

use rouille::Response;

use super::Call;
use crate::error::Error;
use crate::http::status::Answer;

/// The decoded fields of a POST body.
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// Reads the body (already bounded by the connection layer). A body of another content
    /// type reads as an empty form, which then fails its CSRF check.
    pub fn read(call: &Call<'_>) -> Form {
        let urlencoded = call.request.header("Content-Type").is_some_and(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        let mut bytes = Vec::new();
        if urlencoded
            && let Some(mut body) = call.request.data()
            && body.read_to_end(&mut bytes).is_err()
        {
            bytes.clear();
        }
        Form::decode(&bytes)
    }

    /// Decodes an `application/x-www-form-urlencoded` body. Every byte string decodes:
    /// invalid percent escapes stay as they are and invalid UTF-8 becomes U+FFFD.
    pub fn decode(body: &[u8]) -> Form {
        Form {
            fields: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// Every field in the order sent, repeated names included.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The first value of `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }
}

/// Messages by field name; the key `form` holds what belongs to no single field.
pub type FieldErrors = BTreeMap<String, String>;

/// Capitalises and ends a message from `app` so it reads as a sentence on a page.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The per-field messages of an error a form can show, or None for errors that need a page of
/// their own (rate limits, missing things, our own failures).
pub fn field_errors(error: &Error) -> Option<FieldErrors> {
    let mut errors = FieldErrors::new();
    match error {
        Error::Invalid(problems) => {
            for problem in problems {
                let text = sentence(&problem.message);
                errors
                    .entry(problem.field.to_string())
                    .and_modify(|existing| {
                        existing.push(' ');
                        existing.push_str(&text);
                    })
                    .or_insert(text);
            }
        }
        Error::WrongPin => {
            errors.insert(
                "pin".into(),
                "The registration PIN is not correct. Ask the person who runs this server.".into(),
            );
        }
        Error::UsernameTaken => {
            errors.insert(
                "username".into(),
                "That username is already taken; choose another.".into(),
            );
        }
        Error::Unauthenticated => {
            errors.insert(
                "form".into(),
                "The username or password is not correct.".into(),
            );
        }
        Error::AccountLocked => {
            errors.insert(
                "form".into(),
                "This account is locked. Ask the person who runs this server.".into(),
            );
        }
        // Shown on the form, so what the person typed is still there when they retry.
        Error::Store(e) if e.fault().heals() => {
            errors.insert("form".into(), sentence(&error.public_message()));
        }
        _ => return None,
    }
    Some(errors)
}

/// The whole-page answer to an error, with the status and `Retry-After` of `http::status`: 429
/// says how long to wait, 404 is the page of a missing thing, and our own failures are logged
/// with the request id the page shows.
pub fn error_response(call: &Call<'_>, error: &Error) -> Response {
    let id = call.ctx.request_id;
    let pages = &call.web.pages;
    let answer = Answer::of(error);
    let response = match error {
        Error::RateLimited { retry_after } => {
            let minutes = retry_after.div_ceil(60);
            let wait = if *retry_after < 60 {
                format!("{retry_after} seconds")
            } else {
                format!("{minutes} minutes")
            };
            let text =
                format!("There have been too many attempts. Please wait {wait} and try again.");
            pages.error_page(answer.status, &text, id)
        }
        Error::NotFound => call.not_found(),
        _ => {
            if answer.is_internal() {
                tracing::error!("request failed id={id}: {error}");
            } else if answer.status >= 500 {
                tracing::warn!("request failed id={id}: {error}");
            }
            pages.error_page(answer.status, &sentence(&error.public_message()), id)
        }
    };
    match answer.retry_after {
        Some(seconds) => response.with_unique_header("Retry-After", seconds.to_string()),
        None => response,
    }
}

/// The page for a POST whose CSRF token is missing or wrong: nothing was changed.
pub fn expired(call: &Call<'_>, back_to: &str) -> Response {
    call.web
        .pages
        .templates
        .expired_page(back_to, call.ctx.request_id)
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::Form;
    use crate::fuzzing::checks::check_form_fields;

    fn encode(fields: &[(String, String)]) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
    }

    proptest! {
        #![proptest_config(crate::fuzzing::proptest_config(300, "tests/proptest-regressions/http-forms.txt"))]

        #[test]
        fn an_encoded_form_decodes_to_its_fields_and_get_finds_the_first(
            fields in vec(("[a-z_]{1,8}", "\\PC{0,20}"), 0..8),
        ) {
            let form = Form::decode(encode(&fields).as_bytes());
            prop_assert_eq!(form.fields(), fields.as_slice());
            for (name, _) in &fields {
                let first = fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
                prop_assert_eq!(Some(form.get(name)), first);
                prop_assert!(form.has(name));
            }
            prop_assert!(!form.has("not-a-field") && form.get("not-a-field").is_empty());
        }

        #[test]
        fn a_form_with_one_byte_changed_still_decodes_consistently(
            fields in vec(("[a-z_]{1,8}", "\\PC{0,20}"), 1..6),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut body = encode(&fields).into_bytes();
            let i = at.index(body.len());
            body[i] = byte;
            check_form_fields(&body);
        }

        #[test]
        fn random_bytes_decode_as_a_form_consistently(body in vec(any::<u8>(), 0..300)) {
            check_form_fields(&body);
        }
    }
}
