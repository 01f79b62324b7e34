//! Rendered mailbox listings kept for reuse: the inbox and sent pages (HTML) and the API's
//! lists (JSON), so asking again for an unchanged mailbox costs an index read instead of
//! fifty record reads, fifty decryptions and a render. Nothing here touches the store, and
//! nothing is served from here unless its inputs were compared.
//!
//! A listing page is a function of: the member, the mailbox, the `before` position, its
//! [`Shape`] (for a page, the notice shown above the list and the UTC day, since a row's time
//! prints shorter when it is today; for the API, the page size), and the [`Listing`]: each
//! listed message's seq, id and read mark, whether older ones remain, and the unread count. A
//! stored message's title, participants and time never change, so the listing names every
//! row. A rendering is kept under the exact values of all of those (no hash, so no collision
//! can hand one member a page made for another) and is used only when a fresh read of the
//! listing equals the one it was rendered from.
//!
//! Nothing that belongs to a session or a client is kept. The CSRF token of a page's logout
//! form is rendered as a per-process random marker and stored in pieces around it, and each
//! response joins the pieces with its own session's token; the API's cursors are not part of
//! what is kept (each answer seals its own around the kept list).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::app::mail::Listing;
use crate::model::Mailbox;

/// Rendered bytes kept at most; the least recently used pages go first beyond this.
const BUDGET_BYTES: usize = 4 * 1024 * 1024;

/// What a rendering is kept under, besides the listing it is compared against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub user: String,
    pub mailbox: Mailbox,
    pub before: Option<u64>,
    pub shape: Shape,
}

/// What else a rendering depends on, by its form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A web page: its notice and the day, in days since the Unix epoch (UTC).
    Page { notice: &'static str, day: i64 },
    /// The API's `messages` array of at most `limit` messages (times in full, any day).
    Json { limit: usize },
}

/// A rendering in pieces; the session's CSRF token goes between consecutive pieces (a JSON
/// list is one piece).
pub struct Rendered {
    pieces: Vec<String>,
}

impl Rendered {
    /// The page for a session whose CSRF token is `csrf`.
    pub fn html(&self, csrf: &str) -> String {
        let length = self.pieces.iter().map(String::len).sum::<usize>()
            + csrf.len() * self.pieces.len().saturating_sub(1);
        let mut html = String::with_capacity(length);
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                html.push_str(csrf);
            }
            html.push_str(piece);
        }
        html
    }

    /// The rendering as [`ListingCache::put_whole`] kept it.
    pub fn whole(&self) -> &str {
        self.pieces.first().map_or("", String::as_str)
    }

    fn bytes(&self) -> usize {
        self.pieces.iter().map(String::len).sum()
    }
}

struct Kept {
    listing: Listing,
    page: Arc<Rendered>,
    last_used: u64,
    /// What this entry counts against the budget.
    size: usize,
}

#[derive(Default)]
struct Shelf {
    pages: HashMap<PageKey, Kept>,
    bytes: usize,
    clock: u64,
}

pub struct ListingCache {
    /// Stands in for the CSRF token while a page is rendered: 256 random bits, unknown outside
    /// this process, so no title can contain it by design.
    marker: String,
    shelf: Mutex<Shelf>,
}

impl ListingCache {
    pub fn new() -> Result<Self, String> {
        Ok(ListingCache {
            marker: crate::crypto::new_secret().map_err(|e| e.to_string())?,
            shelf: Mutex::new(Shelf::default()),
        })
    }

    /// What to render in place of the CSRF token for a page that is to be kept.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// The page kept under `key`, if it was rendered from a listing equal to `listing`.
    pub fn get(&self, key: &PageKey, listing: &Listing) -> Option<Arc<Rendered>> {
        let mut shelf = self.shelf.lock().unwrap_or_else(|p| p.into_inner());
        shelf.clock += 1;
        let now = shelf.clock;
        let kept = shelf.pages.get_mut(key)?;
        if kept.listing != *listing {
            return None;
        }
        kept.last_used = now;
        Some(kept.page.clone())
    }

    /// Keeps `html` (rendered with [`ListingCache::marker`] for the token) under `key` and
    /// `listing`, and returns it in pieces.
    pub fn put(&self, key: PageKey, listing: Listing, html: &str) -> Arc<Rendered> {
        let pieces = html.split(self.marker.as_str()).map(str::to_owned);
        self.keep(key, listing, pieces.collect())
    }

    /// Keeps `text`, which has no token in it, whole (a JSON list: no marker is looked for).
    pub fn put_whole(&self, key: PageKey, listing: Listing, text: String) -> Arc<Rendered> {
        self.keep(key, listing, vec![text])
    }

    fn keep(&self, key: PageKey, listing: Listing, pieces: Vec<String>) -> Arc<Rendered> {
        let page = Arc::new(Rendered { pieces });
        let size =
            page.bytes() + key.user.len() + std::mem::size_of_val(listing.positions.as_slice());
        if size > BUDGET_BYTES / 4 {
            return page;
        }
        let mut shelf = self.shelf.lock().unwrap_or_else(|p| p.into_inner());
        shelf.clock += 1;
        let last_used = shelf.clock;
        let kept = Kept {
            listing,
            page: page.clone(),
            last_used,
            size,
        };
        if let Some(old) = shelf.pages.insert(key, kept) {
            shelf.bytes -= old.size;
        }
        shelf.bytes += size;
        while shelf.bytes > BUDGET_BYTES {
            let Some(oldest) = shelf
                .pages
                .iter()
                .min_by_key(|(_, kept)| kept.last_used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(old) = shelf.pages.remove(&oldest) {
                shelf.bytes -= old.size;
            }
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::messages::Position;

    fn listing(read: bool) -> Listing {
        Listing {
            positions: vec![Position {
                seq: 7,
                id: 42,
                read,
            }],
            more: false,
            unread: u64::from(!read),
        }
    }

    fn key(user: &str) -> PageKey {
        PageKey {
            user: user.into(),
            mailbox: Mailbox::Inbox,
            before: None,
            shape: Shape::Page {
                notice: "",
                day: 20_000,
            },
        }
    }

    #[test]
    fn a_page_is_reused_only_for_an_equal_listing_and_gets_the_callers_token() {
        let cache = ListingCache::new().unwrap();
        let html = format!("<a>{}</a><b>{}</b>", cache.marker(), cache.marker());
        cache.put(key("bob"), listing(false), &html);
        let page = cache.get(&key("bob"), &listing(false)).expect("kept");
        assert_eq!(page.html("TOKEN"), "<a>TOKEN</a><b>TOKEN</b>");
        assert!(
            cache.get(&key("bob"), &listing(true)).is_none(),
            "read mark changed"
        );
        assert!(
            cache.get(&key("alice"), &listing(false)).is_none(),
            "another member"
        );
    }

    #[test]
    fn the_least_recently_used_pages_go_beyond_the_budget() {
        let cache = ListingCache::new().unwrap();
        let html = "x".repeat(BUDGET_BYTES / 8);
        for n in 0..20 {
            cache.put(key(&format!("user{n}")), listing(true), &html);
            let _ = cache.get(&key("user0"), &listing(true));
        }
        let shelf = cache.shelf.lock().unwrap();
        assert!(shelf.bytes <= BUDGET_BYTES, "{} bytes kept", shelf.bytes);
        assert!(shelf.pages.len() < 20);
        assert!(shelf.pages.contains_key(&key("user0")), "kept while in use");
        let counted: usize = shelf.pages.values().map(|kept| kept.size).sum();
        assert_eq!(counted, shelf.bytes);
    }
}
