//! The log files: one matchable line per failed login, escaped input, no secrets.

use super::*;

/// A failed login writes exactly one stable security line with user and IP; hostile usernames
/// cannot split a line or add an `ip=`; access lines carry method, path (no query), status,
/// bytes, time and request id; no password, token, PIN or message text reaches the log files,
/// the data directory or the server's output.
#[test]
fn logs_have_one_matchable_line_per_failed_login_and_no_secrets() {
    let temp = tempfile::tempdir().expect("temp dir");
    let log_dir = temp.path().join("logs");
    let mut server = Server::start_with(&["--log-dir", log_dir.to_str().expect("path")]);
    let addr = server.addr;
    let alice = member(addr, "alice");
    register(addr, "bob");
    let title = "quarterly-secret-title-8841";
    let text = "the eagle lands at midnight 5521";
    let id = message_id(&send(addr, &alice, "bob", title, text));
    // A query string that carries something secret-looking must not be logged.
    let query_secret = "cursorsecret0042";
    // Any answer will do (the cursor is bogus); only the access line matters.
    let listed = call(
        addr,
        "GET",
        &format!("/api/v1/messages?box=inbox&limit=5&cursor={query_secret}"),
        Some(&alice),
        None,
    );
    assert!(listed.status < 500, "{}", listed.text());

    // One failed login with a plain wrong password.
    let wrong = "wrong horse battery staple 77";
    refused_token(addr, "alice", wrong);
    // Hostile usernames: a newline that would start a forged line, spaces that would add a
    // second ip=, and a carriage return.
    let forged_host = "203.0.113.66";
    for hostile in [
        format!(
            "mallory\n2030-01-01T00:00:00Z  WARN security: security event=login_failed user=root ip={forged_host}"
        ),
        format!("mallory ip={forged_host}"),
        format!("mallory\rip={forged_host}\u{2028}x\u{85}y"),
    ] {
        refused_token(addr, &hostile, wrong);
    }
    // The classic leak: a password typed into the username field.
    refused_token(addr, PASSWORD, wrong);
    // The same with a password that is shaped like a username (lower case, digits, dashes):
    // it names no account, so it is shown as `(unknown)`, in the log and in the database.
    let shaped = "tangerine-orbit-velvet-4471";
    refused_token(addr, shaped, wrong);
    let status = server.stop();
    assert!(status.success(), "server exit: {status:?}");

    let lines = log_lines(&log_dir);
    assert!(
        !lines.is_empty(),
        "no log files under {}",
        log_dir.display()
    );
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("event=login_failed"))
        .collect();
    assert_eq!(
        failures.len(),
        6,
        "one line per failed login: {failures:#?}"
    );
    let unknown: Vec<&&String> = failures
        .iter()
        .filter(|l| l.contains(" user=(unknown) "))
        .collect();
    assert_eq!(
        unknown.len(),
        1,
        "a name that matches no account is not logged: {failures:#?}"
    );
    assert_eq!(fail2ban_host(unknown[0]).as_deref(), Some("127.0.0.1"));
    let invalid = failures
        .iter()
        .filter(|l| l.contains(" user=(invalid) "))
        .count();
    assert_eq!(
        invalid, 4,
        "names that cannot be usernames are not logged: {failures:#?}"
    );
    // One word of it, so that the password is not found in any form, escaped or not.
    let word = "harbour";
    assert!(PASSWORD.contains(word));
    assert!(
        lines.iter().all(|l| !l.contains(word)),
        "the misplaced password reached the log (escaped or not)"
    );
    let alice_lines: Vec<&&String> = failures
        .iter()
        .filter(|l| l.contains(" user=alice "))
        .collect();
    assert_eq!(
        alice_lines.len(),
        1,
        "exactly one line for alice's failure: {failures:#?}"
    );
    assert_eq!(
        fail2ban_host(alice_lines[0]).as_deref(),
        Some("127.0.0.1"),
        "{}",
        alice_lines[0]
    );
    // Every line a fail2ban filter matches names the real client, never the forged host.
    let hosts: Vec<Option<String>> = failures.iter().map(|l| fail2ban_host(l)).collect();
    assert!(
        hosts.iter().all(|h| h.as_deref() == Some("127.0.0.1")),
        "{failures:#?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains(forged_host)),
        "the forged host reached the log"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains('\u{2028}') && !l.contains('\u{85}') && !l.contains('\r')),
        "an unescaped line separator reached the log"
    );
    assert!(
        lines.iter().all(|l| !l.starts_with("2030-")),
        "a forged line reached the log"
    );

    // Access lines: method, path without the query, status, bytes, milliseconds, request id.
    let access: Vec<&String> = lines.iter().filter(|l| l.contains(" access: ")).collect();
    let sent_line = access
        .iter()
        .find(|l| l.contains(" POST /api/v1/messages 201 "))
        .unwrap_or_else(|| panic!("no access line for the send: {access:#?}"));
    let fields: Vec<&str> = sent_line.split_whitespace().collect();
    assert!(fields.contains(&"127.0.0.1"), "{sent_line}");
    assert!(
        fields.iter().any(|f| f
            .strip_suffix('B')
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0))),
        "bytes: {sent_line}"
    );
    assert!(
        fields.iter().any(|f| f
            .strip_suffix("ms")
            .is_some_and(|n| n.parse::<u64>().is_ok())),
        "ms: {sent_line}"
    );
    assert!(
        fields
            .iter()
            .any(|f| f.strip_prefix("id=").is_some_and(|id| id.len() == 32)),
        "request id: {sent_line}"
    );
    assert!(fields[0].ends_with('Z'), "UTC time first: {sent_line}");
    assert!(
        access.iter().any(|l| l.contains(" GET /api/v1/messages ")),
        "{access:#?}"
    );

    // No secret anywhere: log files, data directory (database, key, default logs), output.
    let output = server.output();
    for secret in [
        PASSWORD,
        wrong,
        alice.as_str(),
        title,
        text,
        query_secret,
        shaped,
        PIN,
        "Ghent",
    ] {
        for place in [&log_dir, &server.dir] {
            assert_eq!(
                util::dir_contains(place, secret.as_bytes()),
                None,
                "{secret:?} found under {}",
                place.display()
            );
        }
        assert!(
            !output.contains(secret),
            "{secret:?} in the server's output"
        );
    }
    // The message is there (encrypted), so the search above looked at a database holding it.
    assert!(id.len() == 32);
}

/// Asks for a token with these credentials and expects the refusal.
fn refused_token(addr: std::net::SocketAddr, username: &str, password: &str) {
    let answer = create_token(addr, username, password);
    assert_eq!(answer.status, 401, "{username:?}: {}", answer.text());
}

/// Every line of every file under `dir`.
fn log_lines(dir: &Path) -> Vec<String> {
    files_under(dir)
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What a fail2ban `failregex` would do with `^.* security event=login_failed user=\S+ ip=<HOST>( |$)`:
/// the host of a matching line, if it matches.
fn fail2ban_host(line: &str) -> Option<String> {
    let rest = &line[line.find(" security event=login_failed user=")?
        + " security event=login_failed user=".len()..];
    let (user, rest) = rest.split_once(' ')?;
    if user.is_empty() || user.chars().any(char::is_whitespace) {
        return None;
    }
    let host = rest.strip_prefix("ip=")?;
    Some(host.split(' ').next().unwrap_or("").to_string())
}
