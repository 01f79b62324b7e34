//! A small hand-written reading of `User-Agent` strings, so the account page can say "Firefox
//! on Windows" instead of showing the raw header. It knows the common browsers (Chrome,
//! Chromium, Firefox, Safari, Edge, Opera), `curl`, and the common systems (Windows, macOS,
//! Linux, Android, iOS, ChromeOS); anything else is "Unknown browser".
//!
//! The header is whatever the client chose to send, so the label is a hint for recognising a
//! session, never a fact any decision rests on. Nothing here reads or stores anything.

/// Markers in the order they must be tried: Edge and Opera also claim to be Chrome, Chrome also
/// claims to be Safari, so the more specific ones come first.
const BROWSERS: &[(&str, &[&str])] = &[
    ("Edge", &["Edg/", "EdgA/", "EdgiOS/", "Edge/"]),
    ("Opera", &["OPR/", "OPT/", "Opera/", "Opera "]),
    ("Firefox", &["Firefox/", "FxiOS/"]),
    ("Chromium", &["Chromium/"]),
    ("Chrome", &["HeadlessChrome/", "Chrome/", "CriOS/"]),
];

/// Systems, most specific first (Android and ChromeOS also say Linux; iOS says "like Mac OS X").
const SYSTEMS: &[(&str, &[&str])] = &[
    ("Windows", &["Windows"]),
    ("ChromeOS", &["CrOS"]),
    ("Android", &["Android"]),
    ("iOS", &["iPhone", "iPad", "iPod"]),
    ("macOS", &["Macintosh", "Mac OS X"]),
    ("Linux", &["Linux", "X11"]),
];

fn first_match(user_agent: &str, table: &[(&'static str, &[&str])]) -> Option<&'static str> {
    table
        .iter()
        .find(|(_, markers)| markers.iter().any(|m| user_agent.contains(m)))
        .map(|(name, _)| *name)
}

/// The browser a `User-Agent` names, if it is one of the common ones (or curl).
pub fn browser(user_agent: &str) -> Option<&'static str> {
    if user_agent.starts_with("curl/") {
        return Some("curl");
    }
    if let Some(name) = first_match(user_agent, BROWSERS) {
        return Some(name);
    }
    // Safari says "Version/N ... Safari/N"; in-app views on iOS say only "Mobile/...".
    let webkit = user_agent.contains("AppleWebKit/");
    if webkit && (user_agent.contains("Safari/") || user_agent.contains("Mobile/")) {
        return Some("Safari");
    }
    None
}

/// The operating system a `User-Agent` names, if it is one of the common ones.
pub fn system(user_agent: &str) -> Option<&'static str> {
    first_match(user_agent, SYSTEMS)
}

/// "Chrome on Linux", "Firefox", "curl", "Unknown browser on Android", "Unknown browser".
pub fn describe(user_agent: &str) -> String {
    let browser = browser(user_agent).unwrap_or("Unknown browser");
    match system(user_agent) {
        Some(system) if browser != "curl" => format!("{browser} on {system}"),
        _ => browser.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn real_user_agents_get_a_recognisable_label() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/83.0.4103.61 Chrome/83.0.4103.61 Safari/537.36",
                "Chromium on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
                "Opera on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
                "Chrome on iOS",
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
                "Firefox on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
                "Firefox on Android",
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on ChromeOS",
            ),
            ("curl/8.5.0", "curl"),
            ("", "Unknown browser"),
            ("python-requests/2.32.3", "Unknown browser"),
            (
                "Mozilla/5.0 (Linux; Android 14) Something/1.0",
                "Unknown browser on Android",
            ),
        ];
        for (user_agent, expected) in cases {
            assert_eq!(describe(user_agent), expected, "{user_agent}");
        }
    }
}
