//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, assembled once at start:
//! `assets/openapi.json` holds the paths, responses and response shapes, and every request
//! body schema is copied in from `assets/schemas/*.json` (under its `title`) — the very files
//! the validators are compiled from, so the document and the checks cannot drift apart.

use serde_json::Value;

use super::schema;
use crate::http::assets;

/// The document as bytes, or why it cannot be built (an unknown `$ref`, a missing file).
pub fn document() -> Result<Vec<u8>, String> {
    let skeleton = assets::file("openapi.json").ok_or("assets/openapi.json is missing")?;
    let mut document: Value = serde_json::from_slice(skeleton)
        .map_err(|e| format!("assets/openapi.json is not JSON: {e}"))?;
    let components = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or("assets/openapi.json has no components.schemas")?;
    for (name, mut body_schema) in schema::all()? {
        let title = body_schema
            .get("title")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("schema {name}.json has no title"))?
            .to_string();
        if let Some(object) = body_schema.as_object_mut() {
            // The document declares the dialect once (jsonSchemaDialect); ids would re-base refs.
            object.remove("$schema");
            object.remove("$id");
        }
        if components.insert(title.clone(), body_schema).is_some() {
            return Err(format!("schema title {title} is used twice"));
        }
    }
    check_refs(&document, &document)?;
    serde_json::to_vec(&document).map_err(|e| e.to_string())
}

/// Every local `$ref` must point at something in the document.
fn check_refs(root: &Value, node: &Value) -> Result<(), String> {
    match node {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                let pointer = target
                    .strip_prefix('#')
                    .ok_or_else(|| format!("$ref {target} is not local"))?;
                root.pointer(pointer)
                    .ok_or_else(|| format!("$ref {target} points at nothing"))?;
            }
            map.values().try_for_each(|child| check_refs(root, child))
        }
        Value::Array(items) => items.iter().try_for_each(|child| check_refs(root, child)),
        _ => Ok(()),
    }
}

/// The operations of the document, as (METHOD, path), for tests that compare with the router.
#[cfg(test)]
pub fn operations(document: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (path, item) in paths {
        for method in item.as_object().into_iter().flat_map(|o| o.keys()) {
            if ["get", "head", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                found.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_builds_and_has_every_body_schema() {
        let document: Value = serde_json::from_slice(&document().expect("builds")).expect("json");
        assert_eq!(
            document["openapi"].as_str().map(|v| v.starts_with("3.1")),
            Some(true)
        );
        for title in ["Registration", "NewMessage", "ProfileUpdate", "PublicKey"] {
            assert!(
                document["components"]["schemas"][title]["additionalProperties"]
                    == Value::Bool(false),
                "{title}"
            );
        }
    }

    #[test]
    fn the_document_lists_exactly_the_routed_methods() {
        let document: Value = serde_json::from_slice(&document().expect("builds")).expect("json");
        let mut routed = Vec::new();
        for (template, sample) in [
            ("/api/v1/users", "/api/v1/users"),
            ("/api/v1/users/{username}/key", "/api/v1/users/alice/key"),
            ("/api/v1/tokens", "/api/v1/tokens"),
            ("/api/v1/me", "/api/v1/me"),
            ("/api/v1/me/key", "/api/v1/me/key"),
            ("/api/v1/messages", "/api/v1/messages"),
            ("/api/v1/messages/{id}", "/api/v1/messages/00"),
            ("/api/v1/security-questions", "/api/v1/security-questions"),
            ("/api/v1/openapi.json", "/api/v1/openapi.json"),
        ] {
            let route = super::super::Route::parse(sample).expect("routed");
            let allowed = route.allowed();
            assert_eq!(
                allowed.contains(&"GET"),
                allowed.contains(&"HEAD"),
                "{template}: HEAD wherever GET, nowhere else"
            );
            // HEAD is implied by GET (RFC 9110 §9.3.2), so the document leaves it out.
            routed.extend(
                allowed
                    .iter()
                    .filter(|m| **m != "HEAD")
                    .map(|m| (m.to_string(), template.to_string())),
            );
        }
        routed.push(("GET".into(), "/healthz".into()));
        routed.sort();
        assert_eq!(operations(&document), routed);
    }
}
