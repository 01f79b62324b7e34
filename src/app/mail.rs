//! Messages: send, list a mailbox page, poll for new arrivals, read (marking read), delete.
//!
//! Titles and bodies are sealed here, before the write transaction, with the message id and
//! both participants as associated data; they are opened here after a read. A message someone
//! may not see is `NotFound`, exactly like one that does not exist.

use super::auth::Session;
use super::{App, Client, event, security_event};
use crate::crypto::{message_aad, random_u128};
use crate::error::{Error, Result};
use crate::model::{Body, Invalid, Mailbox, MessageId, SYSTEM_SENDER, Timestamp, Title, Username};
use crate::store::messages::{MailboxEntry, MessageDraft, Position};
use crate::store::records::Sealed;
use crate::store::{Rx, Tx};

/// A message as a member sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    pub id: MessageId,
    pub from: String,
    pub to: String,
    pub title: String,
    /// Left out of listings.
    pub body: Option<String>,
    pub sent_at: Timestamp,
    pub read: bool,
}

/// One page of a mailbox, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub messages: Vec<MessageView>,
    /// What the page lists (its `next_cursor` is the `before` of the next, older page).
    pub listing: Listing,
    /// The newest message of this mailbox at the time of the call (0 when empty).
    pub cursor: u64,
}

/// What [`App::session_listing`] found for a live session.
#[derive(Debug)]
pub enum PageListing {
    /// The page link's cursor is not one this server made for this member and mailbox.
    BadCursor,
    Found {
        before: Option<u64>,
        listing: Listing,
    },
}

/// What a listing page shows besides the messages themselves: its positions, whether older
/// ones remain, and the member's unread count. Two equal listings list the same messages with
/// the same marks, since a stored message never changes; the pages use that to reuse a
/// rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub positions: Vec<Position>,
    /// Older messages remain (the page has a "next" link).
    pub more: bool,
    pub unread: u64,
}

impl Listing {
    /// The `before` position of the next (older) page, if there is one.
    pub fn next_cursor(&self) -> Option<u64> {
        if self.more {
            self.positions.last().map(|p| p.seq)
        } else {
            None
        }
    }
}

fn read_listing(
    rx: &Rx,
    user: &Username,
    mailbox: Mailbox,
    before: Option<u64>,
    limit: usize,
) -> Result<Listing> {
    let limit = limit.clamp(1, MAX_PAGE);
    let (positions, more) = rx.mailbox_index(user.as_str(), mailbox, before, limit)?;
    Ok(Listing {
        positions,
        more,
        unread: rx.unread_count(user.as_str())?,
    })
}

/// The newest position of `mailbox`, read with the `listing` of its page older than `before`:
/// the newest page's first row is it (no second read).
fn newest_seq(
    rx: &Rx,
    user: &Username,
    mailbox: Mailbox,
    before: Option<u64>,
    listing: &Listing,
) -> Result<u64> {
    match before {
        None => Ok(listing.positions.first().map_or(0, |p| p.seq)),
        Some(_) => rx.newest_seq(user.as_str(), mailbox),
    }
}

/// What arrived after a cursor, oldest first, and the new position.
#[derive(Debug, Clone)]
pub struct Poll {
    pub messages: Vec<MessageView>,
    pub cursor: u64,
}

/// A sealed message ready to be stored inside a write transaction.
pub struct NewMessage {
    id: u128,
    draft: MessageDraft,
    body: Vec<u8>,
}

impl NewMessage {
    /// Stores it; the recipient must exist, and so must the sender, checked here because an
    /// account may be deleted between the request's checks and this commit. Returns its seq.
    pub fn insert(&self, tx: &Tx<'_>) -> Result<u64> {
        if self.draft.in_sent && !tx.user_exists(&self.draft.from)? {
            return Err(Error::Unauthenticated);
        }
        if !tx.user_exists(&self.draft.to)? {
            return Err(Error::Invalid(vec![Invalid::new(
                "to",
                "no member has this username",
            )]));
        }
        tx.insert_message(self.id, &self.draft, &self.body)
    }

    /// When it was sealed, in seconds: the time it is stored with.
    pub fn sent_at(&self) -> i64 {
        self.draft.sent_at
    }

    /// Its random id (the handle the web pages and the API use).
    pub fn id(&self) -> u128 {
        self.id
    }
}

pub const MAX_PAGE: usize = 100;

impl App {
    pub(super) fn seal_message(
        &self,
        from: &str,
        to: &str,
        title: &str,
        body: &str,
        in_sent: bool,
    ) -> Result<NewMessage> {
        let id = random_u128()?;
        let draft = MessageDraft {
            from: from.to_string(),
            to: to.to_string(),
            sent_at: Timestamp::now().0,
            title: Sealed(
                self.key
                    .seal(title.as_bytes(), &message_aad(id, from, to, "title"))?,
            ),
            in_sent,
        };
        Ok(NewMessage {
            id,
            draft,
            body: self
                .key
                .seal(body.as_bytes(), &message_aad(id, from, to, "body"))?,
        })
    }

    /// Seals a message between existing members without field checks (generated demo data).
    pub(super) fn seal_message_for_admin(
        &self,
        from: &str,
        to: &str,
        title: &str,
        body: &str,
    ) -> Result<NewMessage> {
        self.seal_message(from, to, title, body, true)
    }

    /// Sends a message; all field problems are reported together.
    pub fn send(&self, from: &Username, to: &str, title: &str, body: &str) -> Result<MessageView> {
        let mut problems = Vec::new();
        let to = Username::parse(to)
            .map_err(|e| problems.push(Invalid::new("to", e.message)))
            .ok();
        let title = Title::parse(title).map_err(|e| problems.push(e)).ok();
        let body = Body::parse(body).map_err(|e| problems.push(e)).ok();
        let (Some(to), Some(title), Some(body)) = (to, title, body) else {
            return Err(Error::Invalid(problems));
        };
        let message = self.seal_message(
            from.as_str(),
            to.as_str(),
            title.as_str(),
            body.as_str(),
            true,
        )?;
        let view = MessageView {
            id: MessageId(message.id),
            from: from.to_string(),
            to: to.to_string(),
            title: title.as_str().to_string(),
            body: Some(body.as_str().to_string()),
            sent_at: Timestamp(message.draft.sent_at),
            read: false,
        };
        self.store.write(move |tx| message.insert(tx))?;
        Ok(view)
    }

    /// The notice a user finds in their inbox after a password reset.
    pub(super) fn reset_notice(&self, user: &Username, client: &Client) -> Result<NewMessage> {
        let when = Timestamp::now().rfc3339();
        let body = format!(
            "Your password was reset with your security question at {when} from the address {}. All your sessions and API tokens were ended. If this was not you, tell the operator of this server at once.",
            client.ip
        );
        self.seal_message(
            SYSTEM_SENDER,
            user.as_str(),
            "Your password was reset",
            &body,
            false,
        )
    }

    fn open_entry(&self, entry: MailboxEntry) -> Result<MessageView> {
        let record = entry.record;
        let title = self.key.open_text(
            &record.title.0,
            &message_aad(entry.id, &record.from, &record.to, "title"),
        )?;
        Ok(MessageView {
            id: MessageId(entry.id),
            from: record.from,
            to: record.to,
            title,
            body: None,
            sent_at: Timestamp(record.sent_at),
            read: entry.read,
        })
    }

    /// A page of a mailbox, newest first, older than `before` when given.
    pub fn mailbox(
        &self,
        user: &Username,
        mailbox: Mailbox,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page> {
        let (listing, entries, cursor) = self.store.read(|rx| {
            let listing = read_listing(rx, user, mailbox, before, limit)?;
            let entries = rx.entries_at(&listing.positions)?;
            let cursor = newest_seq(rx, user, mailbox, before, &listing)?;
            Ok((listing, entries, cursor))
        })?;
        let messages = entries
            .into_iter()
            .map(|e| self.open_entry(e))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            messages,
            listing,
            cursor,
        })
    }

    /// What [`App::mailbox`] would list, and its cursor, from one snapshot, without reading
    /// or opening a message: enough to tell whether a rendering of an earlier page still holds.
    pub fn mailbox_listing(
        &self,
        user: &Username,
        mailbox: Mailbox,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Listing, u64)> {
        self.store.read(|rx| {
            let listing = read_listing(rx, user, mailbox, before, limit)?;
            let cursor = newest_seq(rx, user, mailbox, before, &listing)?;
            Ok((listing, cursor))
        })
    }

    /// The live session behind a cookie `secret` and, from the same snapshot, the listing of
    /// its member's `mailbox` at the page link's cursor token `before` (if any). `None` when
    /// the session is not live.
    pub fn session_listing(
        &self,
        secret: &str,
        mailbox: Mailbox,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Option<(Session, PageListing)>> {
        self.session_with(secret, |rx, user| {
            let before = match before {
                None => None,
                Some(token) => match self.cursor_seq(user, mailbox, token) {
                    Some(seq) => Some(seq),
                    None => return Ok(PageListing::BadCursor),
                },
            };
            let listing = read_listing(rx, user, mailbox, before, limit)?;
            Ok(PageListing::Found { before, listing })
        })
    }

    /// For the live poll: the session behind `secret` without counting the request as the
    /// member's activity (see [`App::session_without_activity`]), and from the same snapshot
    /// the listing of the newest page of `mailbox`, or with no mailbox only the unread count
    /// (an empty listing). `None` when the session is not live.
    pub fn live_listing(
        &self,
        secret: &str,
        mailbox: Option<Mailbox>,
        limit: usize,
    ) -> Result<Option<(Session, Listing)>> {
        self.session_without_activity(secret, |rx, user| match mailbox {
            Some(mailbox) => read_listing(rx, user, mailbox, None, limit),
            None => Ok(Listing {
                positions: Vec::new(),
                more: false,
                unread: rx.unread_count(user.as_str())?,
            }),
        })
    }

    /// A listing page with its messages opened, and its [`Listing`], from one snapshot.
    pub fn listing_page(
        &self,
        user: &Username,
        mailbox: Mailbox,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Listing, Vec<MessageView>)> {
        let (listing, entries) = self.store.read(|rx| {
            let listing = read_listing(rx, user, mailbox, before, limit)?;
            let entries = rx.entries_at(&listing.positions)?;
            Ok((listing, entries))
        })?;
        let messages = entries
            .into_iter()
            .map(|e| self.open_entry(e))
            .collect::<Result<Vec<_>>>()?;
        Ok((listing, messages))
    }

    /// What arrived after `since`, oldest first (at most `limit`), and the new cursor.
    pub fn poll(
        &self,
        user: &Username,
        mailbox: Mailbox,
        since: u64,
        limit: usize,
    ) -> Result<Poll> {
        let limit = limit.clamp(1, MAX_PAGE);
        let entries = self
            .store
            .read(|rx| rx.mailbox_since(user.as_str(), mailbox, since, limit))?;
        let cursor = entries.last().map_or(since, |e| e.record.seq);
        let messages = entries
            .into_iter()
            .map(|e| self.open_entry(e))
            .collect::<Result<Vec<_>>>()?;
        Ok(Poll { messages, cursor })
    }

    /// The form of a mailbox position handed to clients (see [`super::cursor`]).
    pub fn cursor_token(&self, user: &Username, mailbox: Mailbox, seq: u64) -> Result<String> {
        super::cursor::cursor_token(&self.key, user, mailbox, seq)
    }

    /// The position inside a token from [`cursor_token`](Self::cursor_token) for this user
    /// and mailbox; `None` for anything else.
    pub fn cursor_seq(&self, user: &Username, mailbox: Mailbox, token: &str) -> Option<u64> {
        super::cursor::cursor_seq(&self.key, user, mailbox, token)
    }

    pub fn unread_count(&self, user: &Username) -> Result<u64> {
        self.store.read(|rx| rx.unread_count(user.as_str()))
    }

    /// One message with its body; reading it as its recipient marks it read.
    pub fn read_message(&self, user: &Username, id: MessageId) -> Result<MessageView> {
        let stored = self
            .store
            .read(|rx| rx.message_for(user.as_str(), id.0))?
            .ok_or(Error::NotFound)?;
        let record = &stored.record;
        let title = self.key.open_text(
            &record.title.0,
            &message_aad(id.0, &record.from, &record.to, "title"),
        )?;
        let body = self.key.open_text(
            &stored.body,
            &message_aad(id.0, &record.from, &record.to, "body"),
        )?;
        let was_read = stored.read;
        if !was_read {
            let reader = user.as_str().to_string();
            self.store.write(move |tx| tx.mark_read(&reader, id.0))?;
        }
        Ok(MessageView {
            id,
            from: record.from.clone(),
            to: record.to.clone(),
            title,
            body: Some(body),
            sent_at: Timestamp(record.sent_at),
            read: true,
        })
    }

    /// Removes a message from the user's own mailbox and logs the deletion.
    pub fn delete_message(&self, user: &Username, id: MessageId, client: &Client) -> Result<()> {
        let deleter = user.as_str().to_string();
        let ip = client.ip;
        self.store.write(move |tx| {
            if !tx.delete_message_for(&deleter, id.0, Timestamp::now().0)? {
                return Err(Error::NotFound);
            }
            tx.record_event(&security_event(
                event::MESSAGE_DELETED,
                Some(&deleter),
                Some(ip),
                format!("message={id}"),
            ))
        })
    }
}
