//! Domain types that carry their preconditions: a value of these types is valid by construction.
//!
//! Nothing here does IO, knows HTTP, or knows how records are stored; `store` and `http` convert
//! to and from these types at their edges.

use std::fmt;

/// Why a value was refused, in words a person understands (lowercase, no trailing period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Characters that change how the text around them reads without being seen themselves:
/// bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which can
/// make `invoice \u{202E}fdp.exe` show as `invoice exe.pdf`, and invisible spacers (zero-width
/// space, word joiner, BOM). The joiners real text needs (ZWNJ U+200C, ZWJ U+200D: Persian,
/// Indic scripts, emoji sequences) and right-to-left letters are not among them.
pub fn is_deceptive_char(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}'
    )
}

/// Refuses `text` for `field` if it holds a character of [`is_deceptive_char`].
fn refuse_deceptive(field: &'static str, text: &str) -> Result<(), Invalid> {
    if text.chars().any(is_deceptive_char) {
        return Err(Invalid::new(
            field,
            "must not contain invisible or direction-changing characters",
        ));
    }
    Ok(())
}

/// A member's login name: 3-32 of `a-z 0-9 _ -`, lower-cased on input so `Alice` is `alice`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 32;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let lowered = input.trim().to_ascii_lowercase();
        // Refused by the character rule below too; this says why in the words used for names.
        refuse_deceptive("username", &lowered)?;
        let n_chars = lowered.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&n_chars) {
            return Err(Invalid::new("username", "must be 3 to 32 characters long"));
        }
        if !lowered
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(Invalid::new(
                "username",
                "may only contain letters a-z, digits, '_' and '-'",
            ));
        }
        Ok(Username(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The end-to-end chat protocol's username rule, `^[A-Za-z0-9_-]{3,32}$` (case-sensitive
/// there; lower-cased, it is also one of ours).
pub fn is_woosh_spelling(spelling: &str) -> bool {
    (Username::MIN..=Username::MAX).contains(&spelling.len())
        && spelling
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's display name: 1-100 characters after trimming, no control characters and none
/// of [`is_deceptive_char`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let trimmed = input.trim();
        let n_chars = trimmed.chars().count();
        if n_chars == 0 {
            return Err(Invalid::new("name", "is required"));
        }
        if n_chars > Self::MAX_CHARS {
            return Err(Invalid::new("name", "must be at most 100 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Invalid::new("name", "must not contain control characters"));
        }
        refuse_deceptive("name", trimmed)?;
        Ok(DisplayName(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message title: 1-200 characters, no control characters and none of
/// [`is_deceptive_char`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let n_chars = input.chars().count();
        if input.trim().is_empty() {
            return Err(Invalid::new("title", "is required"));
        }
        if n_chars > Self::MAX_CHARS {
            return Err(Invalid::new("title", "must be at most 200 characters"));
        }
        if input.chars().any(char::is_control) {
            return Err(Invalid::new("title", "must not contain control characters"));
        }
        refuse_deceptive("title", input)?;
        Ok(Title(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message body: up to 64 KiB of UTF-8 (it may be empty). Every character is kept, those of
/// [`is_deceptive_char`] included; the pages show them as visible markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(String);

impl Body {
    pub const MAX_BYTES: usize = 64 * 1024;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        if input.len() > Self::MAX_BYTES {
            return Err(Invalid::new("body", "must be at most 64 KiB"));
        }
        Ok(Body(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A member's public key for end-to-end clients: 1 to 8 KiB of opaque bytes, sent as
/// canonical standard base64 (with padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    pub const MAX_BYTES: usize = 8 * 1024;

    pub fn from_base64(input: &str) -> Result<Self, Invalid> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(input.trim().as_bytes())
            .map_err(|_| Invalid::new("key", "must be base64"))?;
        if bytes.is_empty() || bytes.len() > Self::MAX_BYTES {
            return Err(Invalid::new("key", "must be 1 to 8192 bytes"));
        }
        Ok(PublicKey(bytes))
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// How long a registration PIN may be, in characters.
pub const PIN_CHARS: std::ops::RangeInclusive<usize> = 4..=64;

/// An id drawn from the OS CSPRNG (128 bits): messages, sessions' public handles, tokens' handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u128);

impl MessageId {
    /// Parses the 32-hex-digit form used in URLs; anything else is not an id.
    pub fn parse(input: &str) -> Option<Self> {
        if input.len() != 32
            || !input
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return None;
        }
        u128::from_str_radix(input, 16).ok().map(MessageId)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Which side of a conversation a mailbox shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mailbox {
    Inbox,
    Sent,
}

impl Mailbox {
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "inbox" => Some(Mailbox::Inbox),
            "sent" => Some(Mailbox::Sent),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mailbox::Inbox => "inbox",
            Mailbox::Sent => "sent",
        }
    }
}

/// The fixed list of security questions; users pick one by id.
pub const SECURITY_QUESTIONS: &[(u8, &str)] = &[
    (1, "What was the name of your first pet?"),
    (2, "In which town or city did you grow up?"),
    (3, "What was the first concert or show you went to?"),
    (
        4,
        "What is the name of a teacher who made a difference to you?",
    ),
    (
        5,
        "What was the make and model of your first bicycle or car?",
    ),
    (6, "What is a food you disliked as a child?"),
    (
        7,
        "What was the name of the street you lived on at age ten?",
    ),
    (
        8,
        "What is the middle name of your oldest sibling or cousin?",
    ),
];

/// Names no member may take: `system` signs notices such as the one after a password reset.
pub const RESERVED_USERNAMES: &[&str] = &["system", "admin", "root", "operator", "postmaster"];

/// The sender of notices the server itself writes.
pub const SYSTEM_SENDER: &str = "system";

/// A valid entry of [`SECURITY_QUESTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuestionId(u8);

impl QuestionId {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        input
            .trim()
            .parse::<u8>()
            .ok()
            .and_then(Self::from_number)
            .ok_or_else(|| Invalid::new("security_question", "choose one of the listed questions"))
    }

    pub fn from_number(number: u8) -> Option<Self> {
        SECURITY_QUESTIONS
            .iter()
            .any(|(id, _)| *id == number)
            .then_some(QuestionId(number))
    }

    /// The question at `index` of the list, wrapping around.
    pub fn nth(index: usize) -> Self {
        QuestionId(SECURITY_QUESTIONS[index % SECURITY_QUESTIONS.len()].0)
    }

    pub fn number(self) -> u8 {
        self.0
    }

    pub fn text(self) -> &'static str {
        SECURITY_QUESTIONS
            .iter()
            .find(|(id, _)| *id == self.0)
            .map(|(_, text)| *text)
            .unwrap_or("")
    }
}

/// Normalises a security answer before hashing: NFC, trimmed, inner whitespace collapsed,
/// lower-cased, so `  Rex  the Dog` and `rex the dog` are one answer.
pub fn normalise_answer(input: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let nfc: String = input.nfc().collect();
    let collapsed = nfc.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.to_lowercase()
}

/// A security answer: 1-200 characters after normalisation.
#[derive(Debug, Clone)]
pub struct Answer(String);

impl Answer {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let normalised = normalise_answer(input);
        let n_chars = normalised.chars().count();
        if n_chars == 0 {
            return Err(Invalid::new("security_answer", "is required"));
        }
        if n_chars > Self::MAX_CHARS {
            return Err(Invalid::new(
                "security_answer",
                "must be at most 200 characters",
            ));
        }
        Ok(Answer(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp(seconds)
    }

    /// RFC 3339 in UTC, e.g. `2026-11-24T22:38:32Z`.
    pub fn rfc3339(self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
    }

    /// Accepts `YYYY-MM-DD` (midnight UTC) or a full RFC 3339 time.
    pub fn parse_date(input: &str) -> Option<Self> {
        use time::format_description::well_known::Rfc3339;
        if let Ok(t) = time::OffsetDateTime::parse(input, &Rfc3339) {
            return Some(Timestamp(t.unix_timestamp()));
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(input, &format)
            .ok()
            .map(|d| Timestamp(d.midnight().assume_utc().unix_timestamp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(
            Username::parse("Alice").map(|u| u.0),
            Ok("alice".to_string())
        );
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("bob_the-2nd").is_ok());
        assert!(Username::parse("ålice").is_err());
    }

    #[test]
    fn titles_and_bodies_have_limits() {
        assert!(Title::parse("").is_err());
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
        assert!(Title::parse("a\u{7}b").is_err());
        assert!(Body::parse(&"x".repeat(64 * 1024)).is_ok());
        assert!(Body::parse(&"x".repeat(64 * 1024 + 1)).is_err());
        let key = |n: usize| {
            use base64::Engine;
            PublicKey::from_base64(&base64::engine::general_purpose::STANDARD.encode(vec![7; n]))
        };
        assert!(key(1).is_ok() && key(PublicKey::MAX_BYTES).is_ok());
        assert!(key(0).is_err() && key(PublicKey::MAX_BYTES + 1).is_err());
    }

    #[test]
    fn direction_and_invisible_characters_are_refused_but_joiners_and_rtl_kept() {
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{2060}', '\u{FEFF}',
        ] {
            let text = format!("a{c}b");
            let words = "must not contain invisible or direction-changing characters";
            assert_eq!(
                Title::parse(&text).map_err(|e| e.message),
                Err(words.into())
            );
            assert_eq!(DisplayName::parse(&text).map_err(|e| e.field), Err("name"));
            assert_eq!(
                Username::parse(&format!("abc{c}")).map_err(|e| e.message),
                Err(words.into())
            );
            assert!(Body::parse(&text).is_ok());
        }
        for kept in ["می\u{200C}خواهم", "👩\u{200D}👧", "שלום", "مرحبا"] {
            assert!(
                Title::parse(kept).is_ok() && DisplayName::parse(kept).is_ok(),
                "{kept}"
            );
        }
        assert!(!is_deceptive_char('\u{200C}') && !is_deceptive_char('\u{200D}'));
    }

    #[test]
    fn message_ids_round_trip_and_reject_junk() {
        let id = MessageId(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(MessageId::parse(&id.to_string()), Some(id));
        assert_eq!(MessageId::parse("0123"), None);
        assert_eq!(MessageId::parse(&"G".repeat(32)), None);
        assert_eq!(MessageId::parse(&"A".repeat(32)), None);
    }

    #[test]
    fn answers_are_normalised() {
        assert_eq!(normalise_answer("  Rex   THE\tDog "), "rex the dog");
        // NFD e + combining acute becomes the NFC é.
        assert_eq!(normalise_answer("Cafe\u{301}"), normalise_answer("Café"));
    }

    #[test]
    fn dates_parse() {
        assert_eq!(Timestamp::parse_date("1970-01-02"), Some(Timestamp(86400)));
        assert_eq!(Timestamp(86400).rfc3339(), "1970-01-02T00:00:00Z");
        assert_eq!(Timestamp::parse_date("yesterday"), None);
    }
}
