//! axe-core inside the real browser: finds the pinned `axe.min.js` that `.ci/run` installs from
//! npm, injects it into the current page through WebDriver's execute script (run by the
//! automation over the DevTools protocol, so the page's CSP neither blocks it nor reports it),
//! and runs it once for each viewport and colour scheme. Findings are kept as lines naming the
//! page, the variant, the rule, its impact, the element and axe's help, so one failure lists
//! every violation of the run. Nothing here changes the page beyond adding `window.axe`.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::json;

use crate::util::wait_until;
use crate::util::webdriver::{Console, Driver};

/// The axe-core release the tests are pinned to; `.ci/run` installs the same one.
pub const AXE_VERSION: &str = "4.14.1";

/// The rules run: every WCAG 2.0-2.2 A and AA rule, axe's best practices, and its
/// experimental rules too (stricter than axe's default set, which leaves those out).
const RULE_TAGS: &[&str] = &[
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22aa",
    "best-practice",
    "experimental",
];

pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (375, 667);

/// Where axe.min.js is: `MESSAGES_AXE_JS`, else where `.ci/run` puts it under `target/`.
fn axe_path() -> String {
    std::env::var("MESSAGES_AXE_JS").unwrap_or_else(|_| {
        format!(
            "{}/target/npm/node_modules/axe-core/axe.min.js",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

/// The source of the pinned axe-core; a missing or different copy fails the test, never skips.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = axe_path();
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is missing ({path}: {e}); the accessibility tests need it: run \
                 `npm install --prefix target/npm --no-save axe-core@{AXE_VERSION}` (bash .ci/run \
                 does this) or set MESSAGES_AXE_JS to an axe.min.js of version {AXE_VERSION}"
            )
        });
        assert!(
            source.starts_with(&format!("/*! axe v{AXE_VERSION}")),
            "{path} is not axe-core {AXE_VERSION}: reinstall it with \
             `npm install --prefix target/npm --no-save axe-core@{AXE_VERSION}`"
        );
        source
    })
}

/// Runs axe on the page as it is now and returns one line per failing element.
pub fn violations(driver: &Driver) -> Vec<String> {
    if driver.execute("return typeof window.axe", json!([])) != "object" {
        driver.execute(axe_source(), json!([]));
    }
    // A change of scheme starts the controls' colour transitions: measure where they end.
    let settled = wait_until(Duration::from_secs(5), || {
        (driver.execute("return document.getAnimations().length", json!([])) == 0).then_some(())
    });
    assert!(
        settled.is_some(),
        "{} never stopped animating",
        driver.current_url()
    );
    let result = driver.execute_async(
        "var done = arguments[arguments.length - 1];
         var options = {resultTypes: ['violations'], runOnly: {type: 'tag', values: arguments[0]}};
         axe.run(document, options).then(function (r) {
           done({passes: r.passes.length, violations: r.violations.map(function (v) {
             return {id: v.id, impact: v.impact, help: v.help,
                     targets: v.nodes.map(function (n) { return n.target.join(' '); })};
           })});
         }, function (e) { done({error: String(e)}); });",
        json!([RULE_TAGS]),
    );
    assert!(result.get("error").is_none(), "axe failed to run: {result}");
    // A page on which no rule passed was not really looked at (a blank or unloaded page).
    let passes = result["passes"].as_u64().unwrap_or(0);
    assert!(
        passes >= 10,
        "axe passed only {passes} rules on {}",
        driver.current_url()
    );
    let mut lines = Vec::new();
    for violation in result["violations"].as_array().into_iter().flatten() {
        let text = |key: &str| violation[key].as_str().unwrap_or("").to_string();
        for target in violation["targets"].as_array().into_iter().flatten() {
            lines.push(format!(
                "{} ({}) at {}: {}",
                text("id"),
                text("impact"),
                target.as_str().unwrap_or(""),
                text("help")
            ));
        }
    }
    lines
}

/// Every axe finding of a run, and the console of every page it looked at.
#[derive(Default)]
pub struct Audit {
    pub findings: Vec<String>,
    pub console: Console,
    pub checks: usize,
}

impl Audit {
    /// Checks the current page at the desktop and phone viewports, each in the light and the
    /// dark colour scheme, then leaves the browser at desktop size in the light scheme.
    pub fn check(&mut self, driver: &Driver, page: &str) {
        driver.wait_ready();
        for (viewport, (width, height), mobile) in
            [("desktop", DESKTOP, false), ("phone", PHONE, true)]
        {
            driver.viewport(width, height, mobile);
            for dark in [false, true] {
                driver.emulate_preferences(dark, false);
                let scheme = if dark { "dark" } else { "light" };
                for line in violations(driver) {
                    self.findings
                        .push(format!("{page} [{viewport}, {scheme}]: {line}"));
                }
                self.checks += 1;
            }
        }
        driver.viewport(DESKTOP.0, DESKTOP.1, false);
        driver.emulate_preferences(false, false);
        self.console.collect(driver);
    }

    /// Fails with every finding, then with any CSP violation the pages logged.
    pub fn assert_clean(&self) {
        assert!(
            self.findings.is_empty(),
            "axe-core {AXE_VERSION} found {} violations in {} checks:\n{}",
            self.findings.len(),
            self.checks,
            self.findings.join("\n")
        );
        self.console.assert_no_csp_violation();
    }
}
