//! The security headers every response carries (OWASP secure headers), applied in one place
//! after routing, so error pages and refusals get them too.

use rouille::Response;

/// Content-Security-Policy: no inline script or style, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers. `personal` responses (anything but public static files) are
/// never stored by caches; HSTS is sent only over TLS.
pub fn secure(mut response: Response, personal: bool, https: bool) -> Response {
    let mut set = |name: &'static str, value: &str| {
        response
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        response
            .headers
            .push((name.into(), value.to_string().into()));
    };
    set("Content-Security-Policy", CSP);
    set("X-Content-Type-Options", "nosniff");
    set("X-Frame-Options", "DENY");
    set("Referrer-Policy", "no-referrer");
    set(
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    );
    set("Cross-Origin-Opener-Policy", "same-origin");
    set("Cross-Origin-Resource-Policy", "same-origin");
    set("Cross-Origin-Embedder-Policy", "require-corp");
    if personal {
        set("Cache-Control", "no-store");
        set("Pragma", "no-cache");
    }
    if https {
        set(
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        );
    }
    response
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("Server"));
    response
}
