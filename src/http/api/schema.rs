//! Request bodies: the content-type check (415), JSON parsing and JSON Schema validation (400
//! with one detail per failing field, as a JSON pointer), then typed decoding with serde.
//!
//! The schemas are the files under `assets/schemas/`, compiled once at start. They are
//! self-contained (no `$ref` between files), so no resolver is needed. Nothing here calls `app`.

use std::collections::HashMap;

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use rouille::Request;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::problem::{Detail, Problem};
use crate::http::assets;

/// The schema file names (without `.json`) the handlers use; each must exist under
/// `assets/schemas/` or the server refuses to start.
pub const REGISTRATION: &str = "registration";
pub const NEW_MESSAGE: &str = "new_message";
pub const PROFILE_UPDATE: &str = "profile_update";
pub const PUBLIC_KEY: &str = "public_key";
pub const USED: &[&str] = &[REGISTRATION, NEW_MESSAGE, PROFILE_UPDATE, PUBLIC_KEY];

/// Every request-body schema, compiled, with its source (for the messages of its patterns).
pub struct Schemas {
    validators: HashMap<String, (Validator, Value)>,
}

impl Schemas {
    /// Compiles every `assets/schemas/*.json`; an unreadable or invalid schema, one without
    /// `additionalProperties: false`, or a missing one the handlers need, is a start-up error.
    pub fn compile() -> Result<Self, String> {
        let mut validators = HashMap::new();
        for (name, schema) in all()? {
            if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
                return Err(format!(
                    "schema {name}.json must set additionalProperties to false"
                ));
            }
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&schema)
                .map_err(|e| format!("schema {name}.json does not compile: {e}"))?;
            validators.insert(name, (validator, schema));
        }
        if let Some(missing) = USED.iter().find(|name| !validators.contains_key(**name)) {
            return Err(format!(
                "schema {missing}.json is missing from assets/schemas"
            ));
        }
        Ok(Schemas { validators })
    }

    /// The body of `request` as `T`, after the content-type check and validation by `schema`.
    pub fn body<T: DeserializeOwned>(&self, request: &Request, schema: &str) -> Result<T, Problem> {
        if !is_json(request.header("Content-Type")) {
            return Err(Problem::new(
                415,
                "unsupported_media_type",
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        let mut bytes = Vec::new();
        if let Some(mut data) = request.data() {
            std::io::Read::read_to_end(&mut data, &mut bytes).map_err(|_| {
                Problem::new(400, "bad_request", "the request body could not be read")
            })?;
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Problem::new(400, "invalid_json", "the request body is not valid JSON").with_details(
                vec![Detail::new(
                    "",
                    format!(
                        "line {} column {}: {}",
                        e.line(),
                        e.column(),
                        json_error_kind(&e)
                    ),
                )],
            )
        })?;
        self.check(schema, &value)?;
        serde_json::from_value(value).map_err(|e| {
            Problem::new(
                400,
                "invalid_input",
                format!("the request body does not fit: {e}"),
            )
        })
    }

    /// Validates `value` against the named schema; every failure becomes a detail.
    pub fn check(&self, schema: &str, value: &Value) -> Result<(), Problem> {
        let (validator, source) = self
            .validators
            .get(schema)
            .ok_or_else(|| Problem::internal(format!("no schema called {schema}")))?;
        let mut details: Vec<Detail> = validator
            .iter_errors(value)
            .flat_map(|error| details_of(source, error))
            .collect();
        if details.is_empty() {
            return Ok(());
        }
        details.sort_by(|a, b| a.field.cmp(&b.field));
        details.dedup();
        let message = match details.as_slice() {
            [only] if only.field.is_empty() => only.message.clone(),
            [only] => format!("{}: {}", only.field.trim_start_matches('/'), only.message),
            _ => "some fields need attention".to_string(),
        };
        Err(Problem::new(400, "invalid_input", message).with_details(details))
    }
}

/// Every schema file, parsed, by name without `.json`.
pub fn all() -> Result<Vec<(String, Value)>, String> {
    assets::files_under("schemas/")
        .filter_map(|(path, bytes)| path.strip_suffix(".json").map(|name| (name, bytes)))
        .map(|(name, bytes)| {
            serde_json::from_slice(bytes)
                .map(|schema| (name.to_string(), schema))
                .map_err(|e| format!("schema {name}.json is not JSON: {e}"))
        })
        .collect()
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn json_error_kind(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Eof => "the body ends too early",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Io => "could not be read",
    }
}

/// One schema failure as details pointing at the offending field. `required` and
/// `additionalProperties` are reported on the object, so their property is appended to the
/// pointer. A failed `pattern` says what its schema's `x-pattern-message` says (a regex means
/// nothing to a person). Messages are masked: a refused password or body is never echoed back.
fn details_of(source: &Value, error: jsonschema::ValidationError<'_>) -> Vec<Detail> {
    let base = error.instance_path().as_str().to_string();
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![Detail::new(
                format!("{base}/{}", escape_pointer(name)),
                "is required",
            )]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                Detail::new(
                    format!("{base}/{}", escape_pointer(name)),
                    "is not a known field",
                )
            })
            .collect(),
        ValidationErrorKind::Pattern { .. } => {
            let message = error
                .schema_path()
                .as_str()
                .strip_suffix("/pattern")
                .and_then(|subschema| source.pointer(subschema))
                .and_then(|subschema| subschema.get("x-pattern-message"))
                .and_then(Value::as_str)
                .map_or_else(|| error.masked_with("the value").to_string(), String::from);
            vec![Detail::new(base, message)]
        }
        _ => vec![Detail::new(
            base,
            error.masked_with("the value").to_string(),
        )],
    }
}

/// RFC 6901: `~` becomes `~0` and `/` becomes `~1`.
fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problem(schema: &str, value: Value) -> Problem {
        let schemas = Schemas::compile().expect("schemas compile");
        schemas.check(schema, &value).expect_err("refused")
    }

    #[test]
    fn every_schema_compiles() {
        assert!(Schemas::compile().is_ok());
    }

    #[test]
    fn errors_point_at_the_field() {
        let refused = problem(
            NEW_MESSAGE,
            json!({"to": "bob", "title": "t".repeat(201), "extra/x": 1}),
        );
        let fields: Vec<&str> = refused.details.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["/body", "/extra~1x", "/title"]);
        assert_eq!(refused.status, 400);
    }

    #[test]
    fn refused_values_are_not_echoed() {
        let refused = problem(
            REGISTRATION,
            json!({"username": "bob", "name": "Bob", "password": "secret-pw", "pin": "1", "security_question": 1, "security_answer": "x"}),
        );
        assert!(
            refused
                .details
                .iter()
                .all(|d| !d.message.contains("secret-pw")),
            "{:?}",
            refused.details
        );
        assert_eq!(refused.details[0].field, "/password");
    }

    /// A body `schema` and the server both accept, to change one field of.
    fn valid(schema: &str) -> Value {
        match schema {
            REGISTRATION => {
                json!({"username": "bob", "name": "Bob", "password": "violet harbour lantern 93",
                "pin": "2468", "security_question": 1, "security_answer": "Ghent"})
            }
            NEW_MESSAGE => json!({"to": "bob", "title": "hello", "body": ""}),
            PROFILE_UPDATE => {
                json!({"current_password": "x", "new_password": "violet harbour lantern 93"})
            }
            _ => json!({"key": "AAAA"}),
        }
    }

    fn admits(schemas: &Schemas, schema: &str, field: &str, value: Value) -> bool {
        let mut body = valid(schema);
        body[field] = value;
        schemas.check(schema, &body).is_ok()
    }

    /// Values on both sides of every limit of a visible-text field of at most `max` characters.
    fn text_values(max: usize) -> Vec<String> {
        let mut values = vec![
            "é".repeat(max),
            "é".repeat(max + 1),
            "a".into(),
            String::new(),
        ];
        values.extend(
            [
                "  ",
                "a\u{7}b",
                "a\u{85}b",
                "a\u{202E}b",
                "\u{2066}a",
                "a\u{200B}",
            ]
            .map(String::from),
        );
        values.extend(
            [
                "a\u{2060}",
                "\u{FEFF}a",
                "می\u{200C}خواهم",
                "👩\u{200D}👧",
                "שלום",
            ]
            .map(String::from),
        );
        values
    }

    /// Each schema limit against the code that enforces it: for every value below, the schema
    /// admits it exactly when the server does, so the largest value a schema admits is accepted
    /// and one more is refused by both. Two differences are deliberate: surrounding spaces,
    /// which the pages trim, are refused by the schemas (an API client sends exact values),
    /// and `body`'s `maxLength` counts characters while the server counts 64 KiB of bytes,
    /// which JSON Schema cannot state; they agree on ASCII, and the description names the
    /// byte limit.
    #[test]
    fn every_schema_limit_equals_the_servers() {
        use crate::app::password;
        use crate::model::{
            Answer, Body, DisplayName, PIN_CHARS, PublicKey, QuestionId, Title, Username,
        };
        use base64::Engine;
        let schemas = Schemas::compile().expect("schemas compile");
        let usernames = [
            Username::MIN - 1,
            Username::MIN,
            Username::MAX,
            Username::MAX + 1,
        ]
        .map(|n| "a".repeat(n))
        .into_iter()
        .chain(["Bob_-9", "bob!", "ålice", "b\u{202E}ob", "b\u{200B}ob"].map(String::from))
        .collect::<Vec<_>>();
        let passwords = [
            password::MIN_CHARS - 1,
            password::MIN_CHARS,
            password::MAX_CHARS,
        ]
        .into_iter()
        .chain([password::MAX_CHARS + 1])
        .map(|n| "é".repeat(n))
        .collect::<Vec<_>>();
        let encode = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![0xa5; n]);
        let max = PublicKey::MAX_BYTES;
        let keys = [1, 2, 3, max - 2, max - 1, max, max + 1, max + 2, max + 3]
            .map(encode)
            .into_iter()
            .chain(["", "AAA", "AAB=", "AAAA=", "A==="].map(String::from))
            .collect::<Vec<_>>();
        let bodies = vec![
            "x".repeat(Body::MAX_BYTES),
            "x".repeat(Body::MAX_BYTES + 1),
            "é".repeat(Body::MAX_BYTES / 2),
            "a\u{202E}\u{0}b".into(),
        ];
        let answers = [Answer::MAX_CHARS, Answer::MAX_CHARS + 1, 0]
            .map(|n| "a".repeat(n))
            .into_iter()
            .chain([" ".to_string()])
            .collect();
        let length =
            |v: &str| (password::MIN_CHARS..=password::MAX_CHARS).contains(&v.chars().count());
        type Check = fn(&str) -> bool;
        let cases: [(&str, &str, Check, Vec<String>); 10] = [
            (
                NEW_MESSAGE,
                "title",
                |v| Title::parse(v).is_ok(),
                text_values(Title::MAX_CHARS),
            ),
            (NEW_MESSAGE, "body", |v| Body::parse(v).is_ok(), bodies),
            (
                NEW_MESSAGE,
                "to",
                |v| Username::parse(v).is_ok(),
                usernames.clone(),
            ),
            (
                REGISTRATION,
                "username",
                |v| Username::parse(v).is_ok(),
                usernames,
            ),
            (
                REGISTRATION,
                "name",
                |v| DisplayName::parse(v).is_ok(),
                text_values(DisplayName::MAX_CHARS),
            ),
            (
                PROFILE_UPDATE,
                "name",
                |v| DisplayName::parse(v).is_ok(),
                text_values(DisplayName::MAX_CHARS),
            ),
            (REGISTRATION, "password", length, passwords.clone()),
            (PROFILE_UPDATE, "new_password", length, passwords),
            (
                REGISTRATION,
                "security_answer",
                |v| Answer::parse(v).is_ok(),
                answers,
            ),
            (
                PUBLIC_KEY,
                "key",
                |v| PublicKey::from_base64(v).is_ok(),
                keys,
            ),
        ];
        for (schema, field, server_accepts, values) in cases {
            for value in values {
                let shown: String = value.chars().take(12).collect();
                assert_eq!(
                    admits(&schemas, schema, field, json!(value)),
                    server_accepts(&value),
                    "{schema}.{field} = {shown:?}... ({} chars)",
                    value.chars().count()
                );
            }
        }
        for n in 0..=10 {
            let admitted = admits(&schemas, REGISTRATION, "security_question", json!(n));
            assert_eq!(
                admitted,
                QuestionId::from_number(n).is_some(),
                "question {n}"
            );
        }
        // A registration PIN longer than any PIN can be set is refused by the schema.
        let pin = |n: usize| admits(&schemas, REGISTRATION, "pin", json!("7".repeat(n)));
        assert!(pin(*PIN_CHARS.end()) && !pin(PIN_CHARS.end() + 1));
    }

    #[test]
    fn a_pattern_failure_says_what_is_wrong() {
        let refused = problem(
            NEW_MESSAGE,
            json!({"to": "bob", "title": "a\u{202E}b", "body": ""}),
        );
        assert!(
            refused.message.starts_with("title: ")
                && refused
                    .message
                    .contains("invisible or direction-changing characters"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/jsonx")));
        assert!(!is_json(None));
    }
}
