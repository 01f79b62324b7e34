//! The API's error answer: `{"error": {"code", "message", "details": [{"field", "message"}],
//! "request_id"}}` with its status and headers. The status, code and `Retry-After` of an
//! application error come from `http::status` (the one place that decides them, for the pages
//! too); this file only adds the API's details and headers and encodes them.

use rouille::Response;
use serde::Serialize;

use crate::error::Error;
use crate::http::status::Answer;

/// One failing field: a JSON pointer into the request body (or the parameter name for query
/// parameters, `""` for the whole body) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub field: String,
    pub message: String,
}

impl Detail {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Detail {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct Problem {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Detail>,
    pub headers: Vec<(&'static str, String)>,
    /// What the log gets for a 500; never sent.
    pub internal: Option<String>,
}

impl Problem {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
            internal: None,
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Problem {
            internal: Some(detail.into()),
            ..Problem::new(500, "internal_error", "something went wrong on our side")
        }
    }

    pub fn with_details(mut self, details: Vec<Detail>) -> Self {
        self.details = details;
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 401 with the challenge of `scheme` (`Bearer` or `Basic`).
    pub fn unauthenticated(scheme: Scheme, message: &str) -> Self {
        Problem::new(401, "unauthenticated", message)
            .with_header("WWW-Authenticate", scheme.challenge())
    }

    /// A parameter of the query string that is not acceptable.
    pub fn bad_parameter(name: &str, message: &str) -> Self {
        Problem::new(400, "invalid_parameter", format!("{name}: {message}"))
            .with_details(vec![Detail::new(name, message)])
    }

    /// Encodes the answer; a 500 is logged with the request id, its detail is not sent.
    pub fn into_response(self, request_id: &str) -> Response {
        if let Some(detail) = &self.internal {
            tracing::error!("request {request_id}: {detail}");
        }
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message, "details": self.details, "request_id": request_id}});
        let mut response =
            Response::from_data("application/json", body.to_string()).with_status_code(self.status);
        for (name, value) in self.headers {
            response = response.with_unique_header(name, value);
        }
        response
    }
}

/// The HTTP authentication scheme an endpoint expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Basic,
}

impl Scheme {
    fn challenge(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer realm=\"messages\"",
            Scheme::Basic => "Basic realm=\"messages\", charset=\"UTF-8\"",
        }
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        let answer = Answer::of(&error);
        if answer.is_internal() {
            return Problem::internal(error.to_string());
        }
        if answer.status >= 500 {
            tracing::warn!("{error}");
        }
        let mut problem = Problem::new(answer.status, answer.code, error.public_message());
        if let Some(seconds) = answer.retry_after {
            problem = problem.with_header("Retry-After", seconds.to_string());
        }
        match error {
            Error::Invalid(problems) => {
                problem.details = problems
                    .iter()
                    .map(|p| Detail::new(format!("/{}", p.field), p.message.clone()))
                    .collect();
            }
            Error::WrongPin => problem.details = vec![Detail::new("/pin", "is not correct")],
            Error::UsernameTaken => {
                problem.details = vec![Detail::new("/username", "is already taken")]
            }
            Error::Unauthenticated => {
                problem = problem.with_header("WWW-Authenticate", Scheme::Bearer.challenge())
            }
            _ => {}
        }
        problem
    }
}
