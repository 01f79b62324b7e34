//! Search of a member's own mail: the titles and bodies of their inbox and sent messages,
//! newest first, with the matched words marked.
//!
//! There is no index: nothing searchable may reach the disk, so a search reads the member's
//! mailbox indexes from the newest end, opens each title and body in memory and matches it
//! there. One request opens at most [`SCAN_BUDGET`] messages; when the budget runs out before
//! the end of the mailbox, the page says so and hands back the position where the scan stopped
//! (as a sealed cursor, see `app::cursor`), so the member can go on with older messages. A
//! search reads only: it never marks a message read and writes nothing. Searches are rate
//! limited per member (each costs up to [`SCAN_BUDGET`] decryptions). No HTTP here.

use super::App;
use super::mail::{MAX_PAGE, MessageView};
use crate::crypto::message_aad;
use crate::error::{Error, Result};
use crate::model::{Mailbox, MessageId, Timestamp, Username};
use crate::store::Rx;
use crate::store::messages::{Position, StoredMessage};

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most words a query may hold (every one must match).
pub const MAX_QUERY_WORDS: usize = 10;
/// The most messages one request opens and matches.
pub const SCAN_BUDGET: usize = 2_000;
/// Searches a member may run per minute, pages and API together.
pub const SEARCHES_PER_MINUTE: u32 = 60;
/// Messages read from the store per snapshot: bounds the memory of one scan (bodies are at
/// most 64 KiB) and how long one read transaction stays open.
const CHUNK: usize = 50;
/// How much of a body is shown around its first match, in characters.
const EXCERPT_LEAD: usize = 60;
const EXCERPT_CHARS: usize = 240;

/// A query: its words, lower-cased, each at most once, in the order typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    words: Vec<String>,
}

impl SearchQuery {
    /// The words of `text` (split on whitespace); refused when it is empty, longer than
    /// [`MAX_QUERY_CHARS`] or has more than [`MAX_QUERY_WORDS`] words.
    pub fn parse(text: &str) -> Result<Self> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::invalid(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let typed: Vec<&str> = text.split(is_separator).filter(|w| !w.is_empty()).collect();
        if typed.is_empty() {
            return Err(Error::invalid("q", "must contain a word to search for"));
        }
        // Counted as typed, repeats included, as the API document's pattern counts them.
        if typed.len() > MAX_QUERY_WORDS {
            return Err(Error::invalid(
                "q",
                format!("must have at most {MAX_QUERY_WORDS} words"),
            ));
        }
        let mut words: Vec<String> = Vec::new();
        for word in typed.into_iter().map(fold) {
            if !words.contains(&word) {
                words.push(word);
            }
        }
        Ok(SearchQuery { words })
    }

    /// Whether every word occurs in `title` or `body` (both already [`fold`]ed).
    fn matches(&self, title: &str, body: &str) -> bool {
        self.words
            .iter()
            .all(|w| title.contains(w.as_str()) || body.contains(w.as_str()))
    }
}

/// `text` as searches compare it: lower-cased, a final sigma as any other sigma, and each
/// character in its canonical decomposition, so a letter typed as one character (`Ü`) and the
/// same letter stored as a base and a combining mark (`U` + U+0308) compare alike. It folds
/// character by character, exactly as [`push_folded`] does, so that marking can map each
/// folded byte back to the character it came from. (`str::to_lowercase` would pick `ς` or `σ`
/// by a sigma's place in a word; folding one character at a time always gives `σ`.)
fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        push_folded(c, &mut folded);
    }
    folded
}

/// Appends one character folded as [`fold`] folds it within a text: lower-cased, then
/// decomposed.
fn push_folded(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        let lower = if lower == 'ς' { 'σ' } else { lower };
        unicode_normalization::char::decompose_canonical(lower, |part| out.push(part));
    }
}

/// What separates words: Unicode whitespace, and the few characters that other regular
/// expression engines (JavaScript's and Python's `\s`, which the API document's pattern is
/// read with) count as space besides, so a query never has fewer words here than there.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}' | '\u{feff}')
}

/// Which mailboxes a search reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Inbox and sent together, newest first (the search page).
    Both,
    /// One mailbox (the API, one box per request like its listing).
    Only(Mailbox),
}

/// A piece of shown text and whether it is part of a match. Text stays text: the pages
/// escape each piece and wrap the matched ones in `<mark>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub matched: bool,
}

/// One message that matched.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The message without its body (as in listings).
    pub message: MessageView,
    /// The mailbox it was found in (the inbox for a message to oneself).
    pub mailbox: Mailbox,
    pub title: Vec<Segment>,
    /// A short part of the body around its first match (its start if only the title matched).
    pub excerpt: Vec<Segment>,
}

/// What one request found.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    /// Where to go on (pass as `before`): after the last hit when the page is full, or after
    /// the last message opened when the budget ran out; `None` at the end of the mailbox.
    pub next: Option<u64>,
    /// How many messages this request opened.
    pub scanned: usize,
    /// The budget ran out before the page filled or the mailbox ended.
    pub budget_spent: bool,
}

impl App {
    /// Up to `limit` messages of `user`'s `scope` older than `before` that match `query`,
    /// newest first, opening at most [`SCAN_BUDGET`] messages.
    pub fn search(
        &self,
        user: &Username,
        scope: Scope,
        query: &SearchQuery,
        before: Option<u64>,
        limit: usize,
    ) -> Result<SearchPage> {
        self.search_throttle
            .attempt(&[format!("search:{}", user.as_str())])?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut page = SearchPage {
            hits: Vec::new(),
            next: None,
            scanned: 0,
            budget_spent: false,
        };
        let mut upper = before;
        loop {
            let want = CHUNK.min(SCAN_BUDGET - page.scanned);
            let (batch, more) = self.store.read(|rx| {
                let (positions, more) = next_positions(rx, user.as_str(), scope, upper, want)?;
                let seqs: Vec<Position> = positions.iter().map(|(p, _)| *p).collect();
                let stored = rx.stored_at(&seqs)?;
                let boxes = positions.into_iter().map(|(_, mailbox)| mailbox);
                Ok((stored.into_iter().zip(boxes).collect::<Vec<_>>(), more))
            })?;
            let n_batch = batch.len();
            for (at, (stored, mailbox)) in batch.into_iter().enumerate() {
                page.scanned += 1;
                let seq = stored.record.seq;
                upper = Some(seq);
                if let Some(hit) = self.match_stored(stored, mailbox, query)? {
                    page.hits.push(hit);
                    if page.hits.len() == limit {
                        let rest = at + 1 < n_batch || more;
                        page.next = rest.then_some(seq);
                        return Ok(page);
                    }
                }
            }
            if !more {
                return Ok(page);
            }
            if page.scanned >= SCAN_BUDGET {
                page.next = upper;
                page.budget_spent = true;
                return Ok(page);
            }
        }
    }

    /// The token of a position in inbox and sent together (the search page's "older" link).
    pub fn search_cursor_token(&self, user: &Username, seq: u64) -> Result<String> {
        super::cursor::scoped_token(&self.key, user, super::cursor::BOTH_BOXES, seq)
    }

    /// The position inside a token from [`search_cursor_token`](Self::search_cursor_token)
    /// for this user; `None` for anything else (a listing's cursor included).
    pub fn search_cursor_seq(&self, user: &Username, token: &str) -> Option<u64> {
        super::cursor::scoped_seq(&self.key, user, super::cursor::BOTH_BOXES, token)
    }

    /// Opens one message and matches it; `None` when some word is in neither field.
    fn match_stored(
        &self,
        stored: StoredMessage,
        mailbox: Mailbox,
        query: &SearchQuery,
    ) -> Result<Option<Hit>> {
        let record = stored.record;
        let aad = |field: &str| message_aad(stored.id, &record.from, &record.to, field);
        let title = self.key.open_text(&record.title.0, &aad("title"))?;
        let body = self.key.open_text(&stored.body, &aad("body"))?;
        if !query.matches(&fold(&title), &fold(&body)) {
            return Ok(None);
        }
        let title_marks = segments(&title, &match_ranges(&title, query), 0, title.len());
        let excerpt = excerpt(&body, &match_ranges(&body, query));
        Ok(Some(Hit {
            message: MessageView {
                id: MessageId(stored.id),
                from: record.from,
                to: record.to,
                title,
                body: None,
                sent_at: Timestamp(record.sent_at),
                read: stored.read,
            },
            mailbox,
            title: title_marks,
            excerpt,
        }))
    }
}

/// The next `want` positions of `scope` older than `upper`, newest first, with the mailbox
/// each is in, and whether older ones remain. For both boxes, the newest `want` of each are
/// merged (a message to oneself, in both, counts once): the newest `want` of the union are
/// among them.
fn next_positions(
    rx: &Rx,
    user: &str,
    scope: Scope,
    upper: Option<u64>,
    want: usize,
) -> Result<(Vec<(Position, Mailbox)>, bool)> {
    let one = |mailbox: Mailbox| -> Result<(Vec<(Position, Mailbox)>, bool)> {
        let (positions, more) = rx.mailbox_index(user, mailbox, upper, want)?;
        Ok((positions.into_iter().map(|p| (p, mailbox)).collect(), more))
    };
    match scope {
        Scope::Only(mailbox) => one(mailbox),
        Scope::Both => {
            let (mut merged, inbox_more) = one(Mailbox::Inbox)?;
            let (sent, sent_more) = one(Mailbox::Sent)?;
            merged.extend(sent);
            // Stable, so of two rows with one seq the inbox's comes first and stays.
            merged.sort_by_key(|(p, _)| std::cmp::Reverse(p.seq));
            merged.dedup_by_key(|(p, _)| p.seq);
            let more = merged.len() > want || inbox_more || sent_more;
            merged.truncate(want);
            Ok((merged, more))
        }
    }
}

/// The byte ranges of `text` where a query word occurs, compared lower-cased, sorted and
/// merged where they overlap or touch. Lower-casing may change a character's length (`İ` is
/// two characters lower-cased), so each lower-cased byte remembers the original character it
/// came from, and a range always covers whole original characters.
fn match_ranges(text: &str, query: &SearchQuery) -> Vec<(usize, usize)> {
    let mut lowered = String::with_capacity(text.len());
    // For each byte of `lowered`: the start and end, in `text`, of the character it came from.
    let mut origin: Vec<(usize, usize)> = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        push_folded(c, &mut lowered);
        origin.resize(lowered.len(), (at, at + c.len_utf8()));
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for word in &query.words {
        for (start, found) in lowered.match_indices(word.as_str()) {
            let end = start + found.len();
            if let (Some(first), Some(last)) = (origin.get(start), origin.get(end - 1)) {
                ranges.push((first.0, last.1));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// `text[from..to]` cut into unmatched and matched pieces by `ranges` (byte ranges on char
/// boundaries, sorted, not overlapping).
fn segments(text: &str, ranges: &[(usize, usize)], from: usize, to: usize) -> Vec<Segment> {
    let mut pieces = Vec::new();
    let mut push = |start: usize, end: usize, matched: bool| {
        if start < end {
            pieces.push(Segment {
                text: text[start..end].to_string(),
                matched,
            });
        }
    };
    let mut shown = from;
    for &(start, end) in ranges {
        let (start, end) = (start.max(from), end.min(to));
        if start >= end {
            continue;
        }
        push(shown, start, false);
        push(start, end, true);
        shown = end;
    }
    push(shown, to, false);
    pieces
}

/// About [`EXCERPT_CHARS`] characters of `body`, starting a little before its first match
/// (at a word's start where one is near), with "…" where the body goes on.
fn excerpt(body: &str, ranges: &[(usize, usize)]) -> Vec<Segment> {
    let first = ranges.first().map_or(0, |r| r.0);
    let mut start = body[..first]
        .char_indices()
        .rev()
        .nth(EXCERPT_LEAD.saturating_sub(1))
        .map_or(0, |(at, _)| at);
    if start > 0
        && let Some(space) = body[start..first].find(char::is_whitespace)
    {
        start += space;
        start += body[start..].chars().next().map_or(0, char::len_utf8);
    }
    let end = body[start..]
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(body.len(), |(at, _)| start + at);
    let mut pieces = Vec::new();
    let ellipsis = || Segment {
        text: "…".to_string(),
        matched: false,
    };
    if start > 0 {
        pieces.push(ellipsis());
    }
    pieces.extend(segments(body, ranges, start, end));
    if end < body.len() {
        pieces.push(ellipsis());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> SearchQuery {
        SearchQuery::parse(text).expect("a valid query")
    }

    fn shown(pieces: &[Segment]) -> String {
        pieces
            .iter()
            .map(|p| {
                if p.matched {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn queries_are_bounded_and_need_a_word() {
        assert!(SearchQuery::parse("   ").is_err());
        assert!(SearchQuery::parse(&"a".repeat(MAX_QUERY_CHARS)).is_ok());
        assert!(SearchQuery::parse(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
        let ten = (0..10)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(SearchQuery::parse(&ten).is_ok());
        assert!(SearchQuery::parse(&format!("{ten} w10")).is_err());
        assert_eq!(query("Foo foo  FOO\tbar").words, ["foo", "bar"]);
    }

    #[test]
    fn every_word_must_match_in_the_title_or_the_body() {
        let q = query("Lunch FRIDAY");
        assert!(q.matches("lunch?", "on friday"));
        assert!(!q.matches("lunch?", "on monday"));
    }

    /// `text` with the matches of `words` in brackets.
    fn marked(words: &str, text: &str) -> String {
        let ranges = match_ranges(text, &query(words));
        shown(&segments(text, &ranges, 0, text.len()))
    }

    #[test]
    fn marks_cover_whole_characters_whatever_lower_casing_does() {
        assert_eq!(
            marked("überweisung", "Die ÜBERWEISUNG kam"),
            "Die [ÜBERWEISUNG] kam"
        );
        // `İ` lower-cases to two characters; a match on its first one marks all of it.
        assert_eq!(marked("i", "xİy"), "x[İ]y");
        // A final sigma, typed or not, matches and is marked like any sigma.
        assert_eq!(marked("οδος", "ΟΔΟΣ οδοσ"), "[ΟΔΟΣ] [οδοσ]");
        assert!(query("ΟΔΟΣ").matches(&fold("Η οδος"), ""));
        assert!(query("οδος").matches(&fold("Η ΟΔΟΣ"), ""));
    }

    #[test]
    fn composed_and_decomposed_accents_find_each_other() {
        let composed = "\u{dc}berweisung"; // Ü as one character
        let decomposed = "U\u{308}berweisung"; // U and a combining diaeresis
        assert!(query(composed).matches(&fold(decomposed), ""));
        assert!(query(decomposed).matches(&fold(composed), ""));
        // The mark covers the whole decomposed letter, combining mark included.
        assert_eq!(
            marked(composed, &format!("x {decomposed} y")),
            format!("x [{decomposed}] y")
        );
    }

    #[test]
    fn overlapping_words_are_one_mark() {
        assert_eq!(marked("abc bcd", "xabcdx abc"), "x[abcd]x [abc]");
    }

    #[test]
    fn an_excerpt_starts_near_the_first_match_at_a_word() {
        let body = format!("{} needle {}", "word ".repeat(40), "tail ".repeat(80));
        let q = query("needle");
        let pieces = excerpt(&body, &match_ranges(&body, &q));
        let text = shown(&pieces);
        assert!(text.starts_with("…word "), "{text}");
        assert!(text.contains("[needle]") && text.ends_with('…'), "{text}");
        // Two ellipses and the two brackets of `shown` besides the excerpt itself.
        assert!(text.chars().count() <= EXCERPT_CHARS + 4, "{text}");
        assert_eq!(shown(&excerpt("short body", &[])), "short body");
    }
}
