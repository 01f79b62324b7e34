//! The woosh protocol's encodings: its request bodies (JSON objects read whatever the
//! Content-Type; anything else counts as "every field missing"), its query parameters (first
//! value wins), its integer `until`, and its answers (JSON, errors as `{status, message}`).
//! What each domain error means here is decided in [`refusal_of`], from `http::status`.

use rouille::{Request, Response};
use serde_json::{Map, Value, json};

use super::Refusal;
use crate::error::Error;
use crate::http::status::Answer;

/// The fields of a request body.
pub struct Fields(Map<String, Value>);

impl Fields {
    /// Reads the body as JSON; an absent, empty, non-JSON or non-object body has no fields
    /// (the protocol answers the endpoint's 400 for a missing field, never 415).
    pub fn read(request: &Request) -> Result<Fields, Refusal> {
        let mut bytes = Vec::new();
        if let Some(mut data) = request.data() {
            std::io::Read::read_to_end(&mut data, &mut bytes)
                .map_err(|_| Refusal::new(400, "the request body could not be read"))?;
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(fields)) => Ok(Fields(fields)),
            _ => Ok(Fields(Map::new())),
        }
    }

    /// A string field; `null` counts as missing, another type is a 400.
    pub fn optional(&self, name: &str) -> Result<Option<String>, Refusal> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(Refusal::new(
                400,
                format!("invalid field \"{name}\": it must be a string"),
            )),
        }
    }

    pub fn required(&self, name: &str) -> Result<String, Refusal> {
        self.optional(name)?
            .ok_or_else(|| Refusal::new(400, format!("missing field \"{name}\" in body")))
    }
}

/// The first value of query parameter `name`, decoded.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(request.raw_query_string().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// `until` as Python's `int()` reads it: surrounding whitespace, an optional sign, decimal
/// digits. A number beyond `i64` is clamped (it deletes everything, or nothing, either way).
pub fn parse_until(text: &str) -> Option<i64> {
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || digits.len() > 400 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

/// What a domain error means in this protocol: the status `http::status` gives it, except the
/// two the protocol fixes otherwise (a taken name is 400, a locked account is only 401).
pub fn refusal_of(error: Error) -> Refusal {
    let answer = Answer::of(&error);
    let (status, message) = match &error {
        Error::UsernameTaken => (400, "username is already in use".to_string()),
        Error::AccountLocked | Error::Unauthenticated => (401, "unauthorized".to_string()),
        Error::NotFound => (404, "user not found".to_string()),
        Error::Invalid(problems) => {
            // The app's woosh use cases word each problem as a whole sentence.
            let words: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
            (400, words.join("; "))
        }
        _ if answer.is_internal() => {
            tracing::error!("woosh: {error}");
            (500, "internal server error".to_string())
        }
        _ => (answer.status, error.public_message()),
    };
    Refusal {
        status,
        message,
        retry_after: answer.retry_after,
    }
}

pub fn json_response(body: &Value, status: u16) -> Response {
    Response::from_data("application/json", body.to_string()).with_status_code(status)
}

/// The protocol's error answer (the connection layer adds `X-Request-Id`).
pub fn error_response(refusal: &Refusal) -> Response {
    let body = json!({ "status": refusal.status, "message": refusal.message });
    let mut response = json_response(&body, refusal.status);
    if let Some(seconds) = refusal.retry_after {
        response = response.with_unique_header("Retry-After", seconds.to_string());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::parse_until;

    #[test]
    fn until_is_read_as_python_reads_an_int() {
        for (text, expected) in [
            ("12", Some(12)),
            (" 12 ", Some(12)),
            ("+3", Some(3)),
            ("-4", Some(-4)),
            ("0", Some(0)),
            ("99999999999999999999", Some(i64::MAX)),
            ("", None),
            ("abc", None),
            ("1.5", None),
            ("-", None),
            ("1 2", None),
        ] {
            assert_eq!(parse_until(text), expected, "{text:?}");
        }
    }
}
