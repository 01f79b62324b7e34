//! Helpers for the web-page tests: a member's browser as a cookie jar over the raw client, the
//! anonymous CSRF dance, registration and login in one call, and small HTML probes.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};

use super::client::{Client, Response};

/// A password the policy accepts (zxcvbn score 4, unrelated to any test username).
pub const PASSWORD: &str = "violet kettle orbit 94 glacier";
pub const OTHER_PASSWORD: &str = "tangerine hammock 51 quasar drift";

/// A browser: cookies by name, kept across requests like a real one.
#[derive(Clone)]
pub struct Browser {
    pub addr: SocketAddr,
    pub cookies: Vec<(String, String)>,
    /// The loopback address to connect from (127.0.0.2, ...), to look like another client IP.
    pub local: Option<IpAddr>,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Browser {
        Browser {
            addr,
            cookies: Vec::new(),
            local: None,
        }
    }

    /// A browser on another machine, as far as the server can tell: it connects from `local`.
    pub fn from_ip(addr: SocketAddr, local: &str) -> Browser {
        Browser {
            local: Some(local.parse().expect("an IP address")),
            ..Browser::new(addr)
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_string(), value.to_string()));
    }

    fn absorb(&mut self, response: &Response) {
        for header in response.header_all("Set-Cookie") {
            let pair = header.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').expect("cookie has a value");
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !header.contains("Max-Age=0") {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let cookie = self.cookie_header();
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if !cookie.is_empty() {
            headers.push(("Cookie", &cookie));
        }
        let connected = match self.local {
            Some(local) => Client::connect_from(local, self.addr),
            None => Client::connect(self.addr),
        };
        let response = connected
            .and_then(|mut c| c.send(method, path, &headers, body))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        self.absorb(&response);
        response
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// POSTs exactly these fields (no token added).
    pub fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// Opens `form_page`, takes its `csrf_token`, and POSTs `fields` with it to `action`.
    pub fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let page = self.get(form_page);
        assert_eq!(page.status, 200, "GET {form_page}: {}", page.text());
        let token = csrf_token(&page.text());
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(action, &all)
    }
}

/// The first `csrf_token` hidden field of a page.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf_token in page: {html}"))
        + marker.len();
    html[start..].split('"').next().expect("token").to_string()
}

/// Message ids linked from a page, in order, without repeats.
pub fn message_ids(html: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for part in html.split("/messages/").skip(1) {
        let id: String = part.chars().take(32).collect();
        if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Registers `username` through the page; panics unless it succeeds.
pub fn register(addr: SocketAddr, username: &str, name: &str, password: &str) {
    let response = try_register(addr, username, name, password, password, super::PIN);
    assert_eq!(
        response.status,
        303,
        "register {username}: {}",
        response.text()
    );
}

pub fn try_register(
    addr: SocketAddr,
    username: &str,
    name: &str,
    password: &str,
    confirm: &str,
    pin: &str,
) -> Response {
    Browser::new(addr).submit(
        "/register",
        "/register",
        &[
            ("name", name),
            ("username", username),
            ("password", password),
            ("password_confirm", confirm),
            ("pin", pin),
            ("security_question", "1"),
            ("security_answer", "Rex the Dog"),
        ],
    )
}

/// A browser logged in as `username`.
pub fn login(addr: SocketAddr, username: &str, password: &str) -> Browser {
    let mut browser = Browser::new(addr);
    let response = browser.submit(
        "/login",
        "/login",
        &[("username", username), ("password", password)],
    );
    assert_eq!(
        response.status,
        303,
        "login {username}: {}",
        response.text()
    );
    assert_eq!(response.header("Location"), Some("/inbox"));
    browser
}

/// Sends a message through the compose form; returns the response to the POST.
pub fn send(browser: &mut Browser, to: &str, title: &str, body: &str) -> Response {
    browser.submit(
        "/compose",
        "/messages",
        &[("to", to), ("title", title), ("body", body)],
    )
}

/// Changes the password on the account page from `current` to `new`; the response to the POST.
pub fn change_password(browser: &mut Browser, current: &str, new: &str) -> Response {
    browser.submit(
        "/account",
        "/account/password",
        &[
            ("current_password", current),
            ("password", new),
            ("password_confirm", new),
        ],
    )
}

/// Whether the page is the login redirect.
pub fn is_login_redirect(response: &Response) -> bool {
    response.status == 303 && response.header("Location") == Some("/login")
}
