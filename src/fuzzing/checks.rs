//! The invariants of each decoder of untrusted input, as functions that panic when one breaks.
//! The fuzz targets call them on whatever libFuzzer makes; the property tests call them on
//! generated valid and mutated inputs. A panic here is a bug in the decoder (or in this
//! statement of what it promises), never an expected outcome.
//!
//! Each check runs the server's own code through [`super`] and compares with what can be
//! known independently: the same input delivered in other pieces, a plain second reading of
//! the chunked grammar, a re-encoding, the key that minted a token, a recomputed checksum.

use sha2::{Digest, Sha256};

use super::{Delivery, Framing, MAX_HEAD_BYTES};
use crate::crypto::DataKey;
use crate::http::server::parse::{MAX_CHUNK_LINE, MAX_TRAILER_BYTES};
use crate::model::{Mailbox, Username};

/// The body limit the chunked checks use: small enough for a fuzzer to reach, over the
/// trailer allowance so both limits are in play.
pub const FUZZ_MAX_BODY: usize = 64 * 1024;

/// A request head: the outcome does not depend on how the bytes arrive, and an accepted head
/// is what the bytes say: it ends at a blank line within the cap, its method and target are
/// the request line's own, and its framing matches its headers.
pub fn check_request_head(input: &[u8], delivery: Delivery) {
    let whole = super::request_head(input, Delivery::WHOLE, MAX_HEAD_BYTES);
    let pieces = super::request_head(input, delivery, MAX_HEAD_BYTES);
    assert_eq!(
        format!("{whole:?}"),
        format!("{pieces:?}"),
        "the outcome depends on delivery {delivery:?}"
    );
    let Ok((head, consumed)) = whole else {
        return;
    };
    assert!(consumed <= input.len() && consumed <= MAX_HEAD_BYTES);
    let taken = &input[..consumed];
    assert!(taken.ends_with(b"\n\n") || taken.ends_with(b"\n\r\n"));
    let start = taken
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = &taken[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let method_sp = format!("{} ", head.method);
    assert!(!head.method.is_empty() && line.starts_with(method_sp.as_bytes()));
    let raw_target = &line[method_sp.len()..];
    let raw_target = &raw_target[..raw_target
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(raw_target.len())];
    if raw_target.starts_with(b"/") || raw_target == b"*" {
        assert_eq!(head.target.as_bytes(), raw_target);
    } else {
        assert!(head.target.starts_with('/'), "{head:?}");
    }
    let named = |name: &'static str| {
        head.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
    };
    match head.framing {
        Framing::Chunked => {
            assert!(named("transfer-encoding").count() == 1 && named("content-length").count() == 0)
        }
        // RFC 9110 §8.6: 1*DIGIT, so leading zeros are the same length.
        Framing::Length(n) => assert!(named("content-length").all(|(_, v)| v.parse() == Ok(n))),
        Framing::Empty => assert_eq!(named("transfer-encoding").count(), 0),
    }
}

/// A chunked body: accepted exactly when a plain second reading of RFC 9112 §7.1 (with the
/// server's documented tolerances) accepts it, with the same body and length, however the
/// bytes arrive.
pub fn check_chunked_body(input: &[u8], delivery: Delivery) {
    let ours = super::chunked_body(input, delivery, FUZZ_MAX_BODY);
    let expected = reference_chunked(input, FUZZ_MAX_BODY);
    assert_eq!(
        ours.as_ref().ok(),
        expected.as_ref(),
        "decoder and reference differ ({delivery:?}): {ours:?}"
    );
}

/// The chunked grammar read the simplest way, to compare with: `chunk-size [ext] CRLF data
/// (CRLF | LF)`, a size of 1 to 16 hex digits then optional blanks, an extension that holds
/// neither CR nor LF, a line of at most `MAX_CHUNK_LINE`; then trailer lines up to an empty
/// one (LF or CRLF), at most 64 KiB of them. Returns the body and the bytes it spans.
pub fn reference_chunked(input: &[u8], max_body: usize) -> Option<(Vec<u8>, usize)> {
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        let line_len = input[at..].windows(2).position(|w| w == b"\r\n")?;
        let line = &input[at..at + line_len];
        at += line_len + 2;
        if line_len + 2 > MAX_CHUNK_LINE || line.contains(&b'\r') || line.contains(&b'\n') {
            return None;
        }
        let size_part = line.split(|&b| b == b';').next().unwrap_or(line);
        let n_digits = size_part
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if !(1..=16).contains(&n_digits)
            || !size_part[n_digits..]
                .iter()
                .all(|&b| b == b' ' || b == b'\t')
        {
            return None;
        }
        let digits = std::str::from_utf8(&size_part[..n_digits]).ok()?;
        let size = usize::try_from(u64::from_str_radix(digits, 16).ok()?).ok()?;
        if size == 0 {
            return reference_trailers(input, at, max_body.min(MAX_TRAILER_BYTES))
                .map(|end| (body, end));
        }
        if size > max_body - body.len() || input.len() - at < size {
            return None;
        }
        body.extend_from_slice(&input[at..at + size]);
        at += size;
        match input.get(at..at + 2)? {
            b"\r\n" => at += 2,
            [b'\n', _] => at += 1,
            _ => return None,
        }
    }
}

fn reference_trailers(input: &[u8], mut at: usize, max: usize) -> Option<usize> {
    let mut skipped = 0;
    loop {
        let line_len = input[at..].iter().position(|&b| b == b'\n')? + 1;
        let line = &input[at..at + line_len];
        at += line_len;
        if line == b"\n" || line == b"\r\n" {
            return Some(at);
        }
        skipped += line_len;
        if skipped > max {
            return None;
        }
    }
}

/// A form body: every byte string decodes, and what it decodes to survives a round trip
/// through a correct encoder unchanged.
pub fn check_form_fields(body: &[u8]) {
    let fields = super::form_fields(body);
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    assert_eq!(super::form_fields(encoded.as_bytes()), fields);
}

/// The key the cursor checks mint and open tokens with.
pub fn fuzz_key() -> DataKey {
    DataKey::from_bytes([7; 32])
}

/// The members and mailboxes a cursor may be bound to in the checks.
pub fn cursor_cells() -> Vec<(Username, Mailbox)> {
    let mut cells = Vec::new();
    for name in ["alice", "bob"] {
        let user = Username::parse(name).expect("a valid username");
        cells.push((user.clone(), Mailbox::Inbox));
        cells.push((user, Mailbox::Sent));
    }
    cells
}

/// A cursor token: a token opens for at most one member and mailbox, and only when it is
/// exactly the token this key mints for that position (no other spelling of it opens).
pub fn check_cursor_token(key: &DataKey, token: &str) {
    let mut opened = 0;
    for (user, mailbox) in cursor_cells() {
        if let Some(seq) = super::cursor_seq(key, &user, mailbox, token) {
            opened += 1;
            let minted = super::cursor_token(key, &user, mailbox, seq).expect("sealing works");
            assert_eq!(minted, token, "a token that is not the minted one opened");
        }
    }
    assert!(
        opened <= 1,
        "one token opened for {opened} members or mailboxes"
    );
}

/// A minted cursor: it opens to its position for its own member and mailbox, and for no other.
pub fn check_cursor_minted(key: &DataKey, cell: usize, seq: u64) {
    let cells = cursor_cells();
    let (user, mailbox) = &cells[cell % cells.len()];
    let token = super::cursor_token(key, user, *mailbox, seq).expect("sealing works");
    for (other_user, other_mailbox) in &cells {
        let opened = super::cursor_seq(key, other_user, *other_mailbox, &token);
        let own = other_user == user && other_mailbox == mailbox;
        assert_eq!(
            opened,
            own.then_some(seq),
            "{token} for {other_user:?}/{other_mailbox:?}"
        );
    }
    check_cursor_token(key, &token);
}

/// A dump: accepted only when its trailer's checksum is the SHA-256 of every byte before the
/// trailer line and its counts add up to the rows between header and trailer.
pub fn check_dump(input: &[u8]) {
    let Ok(summary) = super::read_dump(input) else {
        return;
    };
    let body = input
        .strip_suffix(b"\n")
        .expect("an accepted dump ends its last line");
    let trailer_start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let trailer: serde_json::Value =
        serde_json::from_slice(&body[trailer_start..]).expect("the trailer is JSON");
    let sha256 = hex::encode(Sha256::digest(&input[..trailer_start]));
    assert_eq!(trailer["sha256"].as_str(), Some(sha256.as_str()));
    let n_rows = input[..trailer_start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        - 1;
    assert_eq!(summary.n_records(), n_rows as u64);
}

/// One input of the `request_head` fuzz target: two bytes choose the delivery.
pub fn fuzz_request_head(data: &[u8]) {
    if let [buffered, max_read, input @ ..] = data {
        check_request_head(input, Delivery::from_bytes(*buffered, *max_read));
    }
}

/// One input of the `chunked_body` fuzz target: two bytes choose the delivery.
pub fn fuzz_chunked_body(data: &[u8]) {
    if let [buffered, max_read, input @ ..] = data {
        check_chunked_body(input, Delivery::from_bytes(*buffered, *max_read));
    }
}

/// One input of the `cursor_token` fuzz target: the text is tried as a token everywhere, and
/// its first 9 bytes (cell, big-endian position) mint one.
pub fn fuzz_cursor_token(data: &[u8]) {
    let key = fuzz_key();
    check_cursor_token(&key, &String::from_utf8_lossy(data));
    if let [cell, rest @ ..] = data
        && let Some(seq) = rest.first_chunk::<8>()
    {
        check_cursor_minted(&key, usize::from(*cell), u64::from_be_bytes(*seq));
    }
}

/// What a fuzz target runs on one input.
pub type FuzzTarget = fn(&[u8]);

/// Every fuzz target by name (its file in tests/fuzz/fuzz_targets/ and its folders under
/// tests/fuzz/corpus/ and tests/fuzz/regressions/) and the function it runs on one input.
pub const TARGETS: &[(&str, FuzzTarget)] = &[
    ("request_head", fuzz_request_head),
    ("chunked_body", fuzz_chunked_body),
    ("form_fields", check_form_fields),
    ("cursor_token", fuzz_cursor_token),
    ("dump_reader", check_dump),
];
