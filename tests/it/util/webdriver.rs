//! A minimal WebDriver client for the browser tests: starts `chromedriver` on a free port,
//! opens one headless Chromium session, and speaks the W3C protocol as raw HTTP/JSON over the
//! test's own HTTP client. Only the commands the tests use are here, and `Console`, which
//! gathers the browser's console entries page by page.
//!
//! Missing browser or driver is a test failure with a clear message, never a skip: CI installs
//! Debian's `chromium` and `chromium-driver`.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::client::Client;
use super::wait_until;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// WebDriver's codes for the keys that are not characters.
pub mod keys {
    pub const TAB: char = '\u{E004}';
    pub const ENTER: char = '\u{E007}';
    pub const SHIFT: char = '\u{E008}';
    pub const SPACE: char = ' ';
}

/// A running chromedriver with one browser session.
pub struct Driver {
    addr: SocketAddr,
    session: String,
    child: Child,
    _profile: tempfile::TempDir,
}

/// An element handle of the current page.
#[derive(Clone, Debug)]
pub struct Element(pub String);

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let mut headers = vec![("Host", "127.0.0.1")];
    if body.is_some() {
        headers.push(("Content-Type", "application/json; charset=utf-8"));
    }
    let mut client = Client::connect(addr)?;
    client
        .stream()
        .set_read_timeout(Some(Duration::from_secs(60)))?;
    let response = client.send(method, path, &headers, bytes.as_bytes())?;
    let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    Ok((response.status, value))
}

impl Driver {
    /// Starts chromedriver and a headless Chromium session; fails the test with a clear message
    /// when either program is missing.
    pub fn start() -> Driver {
        Self::start_with_env(&[])
    }

    /// [`Driver::start`] with extra environment variables for chromedriver and the browser it
    /// starts (e.g. `TZ`, to run the browser in another time zone).
    pub fn start_with_env(env: &[(&str, &str)]) -> Driver {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: the browser tests need Debian's chromium and chromium-driver \
                 (apt-get install -y chromium chromium-driver)"
            );
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let ready = wait_until(Duration::from_secs(20), || {
            http(addr, "GET", "/status", None)
                .ok()
                .filter(|(_, v)| v["value"]["ready"] == true)
                .map(|_| ())
        });
        let profile = tempfile::tempdir().expect("profile dir");
        let mut driver = Driver {
            addr,
            session: String::new(),
            child,
            _profile: profile,
        };
        assert!(
            ready.is_some(),
            "chromedriver did not become ready on port {port}"
        );
        let args = [
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--window-size=1280,900".to_string(),
            format!("--user-data-dir={}", driver._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let (status, value) =
            http(addr, "POST", "/session", Some(&capabilities)).expect("creating a session");
        assert_eq!(status, 200, "chromedriver refused the session: {value}");
        driver.session = value["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        driver
    }

    /// Sends one command; panics with the driver's message when it fails.
    pub fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        let (status, value) = http(self.addr, method, &full, body.as_ref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(status, 200, "{method} {path} failed: {value}");
        value["value"].clone()
    }

    fn try_command(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let full = format!("/session/{}{path}", self.session);
        match http(self.addr, method, &full, body.as_ref()) {
            Ok((200, value)) => Some(value["value"].clone()),
            _ => None,
        }
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    pub fn current_url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn title(&self) -> String {
        self.command("GET", "/title", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn source(&self) -> String {
        self.command("GET", "/source", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn find(&self, css: &str) -> Element {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element {css} on {}", self.current_url()))
    }

    pub fn try_find(&self, css: &str) -> Option<Element> {
        let value = self.try_command(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        value[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_string()))
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let value = self.command(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        value
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|v| v[ELEMENT_KEY].as_str().map(|id| Element(id.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({"text": text})),
        );
    }

    pub fn clear(&self, css: &str) {
        let element = self.find(css);
        self.command(
            "POST",
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        );
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.command(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        );
    }

    pub fn text(&self, css: &str) -> String {
        match self.try_find(css) {
            Some(element) => self
                .try_command("GET", &format!("/element/{}/text", element.0), None)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            None => String::new(),
        }
    }

    pub fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.try_find(css)?;
        self.try_command(
            "GET",
            &format!("/element/{}/property/{name}", element.0),
            None,
        )
        .and_then(|v| v.as_str().map(str::to_string))
    }

    /// Waits (bounded) until the page's URL satisfies `check`.
    pub fn wait_for_url(&self, check: impl Fn(&str) -> bool) -> String {
        wait_until(Duration::from_secs(10), || {
            Some(self.current_url()).filter(|u| check(u))
        })
        .unwrap_or_else(|| {
            panic!(
                "the page did not move as expected; it is at {}",
                self.current_url()
            )
        })
    }

    /// The viewport size in CSS pixels, set through Chrome's device emulation so phone widths
    /// below the minimum window width work too.
    pub fn viewport(&self, width: u32, height: u32, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
    }

    /// A PNG of the viewport, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let data = self.command("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 PNG"))
            .expect("PNG");
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and returns its
    /// value. The automation runs it through the DevTools protocol, outside the page's CSP.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Like `execute`, but `None` when the page cannot run it (it is being replaced).
    pub fn try_execute(&self, script: &str, args: Value) -> Option<Value> {
        self.try_command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Like `execute`, for a script that answers by calling its last argument.
    pub fn execute_async(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// One Chrome DevTools command, through chromedriver.
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.command(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
    }

    /// Emulates the user's colour-scheme and motion preferences for the media queries.
    pub fn emulate_preferences(&self, dark: bool, reduced_motion: bool) {
        let scheme = if dark { "dark" } else { "light" };
        let motion = if reduced_motion {
            "reduce"
        } else {
            "no-preference"
        };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [
                {"name": "prefers-color-scheme", "value": scheme},
                {"name": "prefers-reduced-motion", "value": motion}
            ]}),
        );
    }

    /// Presses keys as a keyboard does, into whatever has focus: each character of `keys` is
    /// pressed and released in turn (WebDriver key codes such as `keys::TAB` included).
    pub fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for key in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": key.to_string()}));
            actions.push(json!({"type": "keyUp", "value": key.to_string()}));
        }
        self.perform_keys(actions);
    }

    /// Shift+Tab: one step back in the focus order.
    pub fn press_shift_tab(&self) {
        let (shift, tab) = (keys::SHIFT.to_string(), keys::TAB.to_string());
        self.perform_keys(vec![
            json!({"type": "keyDown", "value": shift}),
            json!({"type": "keyDown", "value": tab}),
            json!({"type": "keyUp", "value": tab}),
            json!({"type": "keyUp", "value": shift}),
        ]);
    }

    fn perform_keys(&self, actions: Vec<Value>) {
        self.command(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
        self.command("DELETE", "/actions", None);
    }

    /// Waits (bounded) until the current document has finished loading.
    pub fn wait_ready(&self) {
        let ready = wait_until(Duration::from_secs(10), || {
            let state = self.try_execute("return document.readyState", json!([]))?;
            (state == "complete").then_some(())
        });
        assert!(
            ready.is_some(),
            "{} never finished loading",
            self.current_url()
        );
    }

    /// Forgets every cookie of the current site, as a browser whose session ended.
    pub fn delete_cookies(&self) {
        self.command("DELETE", "/cookie", None);
    }

    /// The browser console entries since the last call, as (level, message).
    pub fn console_logs(&self) -> Vec<(String, String)> {
        let value = self.command("POST", "/se/log", Some(json!({"type": "browser"})));
        value
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_string(),
                            e["message"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Whether a console message is Chromium reporting a blocked script, style or connection.
pub fn is_csp_report(message: &str) -> bool {
    message.contains("Content Security Policy") || message.contains("Refused to")
}

/// The console messages of the current page, since the last read, that report a Content
/// Security Policy violation.
pub fn csp_violations(driver: &Driver) -> Vec<String> {
    driver
        .console_logs()
        .into_iter()
        .map(|(_, message)| message)
        .filter(|m| is_csp_report(m))
        .collect()
}

/// Console entries of every page visited, with the page they came from.
#[derive(Default)]
pub struct Console {
    pub entries: Vec<(String, String, String)>,
}

impl Console {
    /// Takes the entries the current page logged since the last call.
    pub fn collect(&mut self, driver: &Driver) {
        let url = driver.current_url();
        for (level, message) in driver.console_logs() {
            self.entries.push((url.clone(), level, message));
        }
    }

    /// The entries in which Chromium reports a Content Security Policy violation.
    pub fn csp_violations(&self) -> Vec<&(String, String, String)> {
        self.entries
            .iter()
            .filter(|(_, _, m)| is_csp_report(m))
            .collect()
    }

    /// Fails on any entry in which Chromium reports a Content Security Policy violation.
    pub fn assert_no_csp_violation(&self) {
        let violations = self.csp_violations();
        assert!(
            violations.is_empty(),
            "CSP violations in the console: {violations:#?}"
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
