//! Black-box tests of the web pages against the real binary: every page's flow and the attacks
//! on them (CSRF, other people's messages, stale sessions,
//! script injection, user enumeration at reset), spoken over raw HTTP like a browser would.

mod accounts;
mod attacks;
mod live;
mod lockout;
mod mail;
mod meter;
mod pin;
mod search;
mod sessions;
mod unicode;

use crate::util::client::{self, Response};
use crate::util::web::{self, Browser, OTHER_PASSWORD, PASSWORD, csrf_token, message_ids};
use crate::util::{PIN, Server};

fn text(response: &Response) -> String {
    response.text()
}

/// The error paragraph of a field, tied to its input by aria-describedby.
fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"{field}-error\"");
    let start = html.find(&marker)?;
    let rest = &html[start..];
    let end = rest.find("</p>")?;
    let inner = &rest[..end];
    Some(inner.rsplit('>').next().unwrap_or("").to_string())
}

fn assert_field_error(response: &Response, field: &str, contains: &str) {
    let html = text(response);
    let message =
        field_error(&html, field).unwrap_or_else(|| panic!("no error for {field} in: {html}"));
    assert!(
        message.contains(contains),
        "error for {field} is {message:?}, wanted {contains:?}"
    );
    assert!(
        html.contains(&format!("aria-describedby=\"{field}-error\""))
            || html.contains(&format!("{field}-error\"")) && html.contains("aria-invalid=\"true\""),
        "error for {field} is tied to its input"
    );
}

/// A reset page with the parts that legitimately differ (the question, the CSRF token)
/// blanked, so pages for two users can be compared structurally.
fn normalised(html: &str, question: &str) -> String {
    let token = csrf_token(html);
    html.replace(&token, "TOKEN").replace(question, "QUESTION")
}

fn question_of(html: &str) -> String {
    let marker = "id=\"question-text\">";
    let start = html.find(marker).expect("question shown") + marker.len();
    html[start..]
        .split('<')
        .next()
        .expect("question")
        .to_string()
}

/// One request over TLS to the real binary, trusting `cert`, as `localhost`.
fn tls_request(
    addr: std::net::SocketAddr,
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    crate::util::tls::tls_request(addr, cert, "localhost", method, path, headers, body)
}
