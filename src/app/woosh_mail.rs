//! Messaging of the end-to-end chat protocol (`app::woosh` has its accounts): send, the inbox
//! poll and the bulk delete by time. No HTTP here.
//!
//! A woosh message is an ordinary message (mail.rs seals it, the inbox index lists it, a
//! deletion goes to the deleted-message log), so dump, restore, verify and rotate-key carry it
//! with no kind of its own. Its `contents` is the body, sealed and returned byte for byte; its
//! title is a fixed text, for the web inbox of a member who registered there; its protocol
//! `id` is its seq (a global counter from 1, never reused); its `sent_at` the stored time in
//! seconds. It is not kept in the sender's sent box: the protocol has none, so a copy there
//! could never be read or deleted through it.
//!
//! **The drain model.** A client polls `GET /messages` (answered with `query_time` Q) and then
//! deletes everything sent before Q. A message's time is taken before its commit, so a send in
//! flight while the poll reads could commit just after it with a time below Q and be deleted
//! unseen. Every woosh send therefore registers its time before it is sealed and unregisters
//! after its commit, and Q is the earliest time in flight when that is earlier than now.
//! (Sends from the web pages or the API to a woosh account are not registered: their bodies
//! are plaintext the client cannot open and skips anyway.)

use std::collections::BTreeMap;

use super::woosh::WooshUser;
use super::{App, Client, event, security_event};
use crate::crypto::message_aad;
use crate::error::{Error, Result};
use crate::model::{Invalid, Mailbox, Timestamp, Username, is_woosh_spelling};
use crate::store::messages::StoredMessage;

/// The largest `contents` stored, in bytes (the web body limit; the protocol asks for 64 KiB).
pub const MAX_CONTENTS_BYTES: usize = 64 * 1024;
/// The most messages one poll returns.
pub const MAX_POLL: usize = 100;
/// How many messages of one second a poll returns rather than make no progress.
pub const MAX_SAME_SECOND: usize = 1000;
/// How many messages past the cut a poll reads to find the earliest time left out.
const CUT_LOOKAHEAD: usize = 64;
/// The title a woosh message carries in a web inbox.
pub const WOOSH_TITLE: &str = "End-to-end encrypted message";

/// A message as the protocol shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WooshMessage {
    pub id: u64,
    pub from_user: String,
    pub to_user: String,
    pub contents: String,
    pub sent_at: i64,
}

/// Holds a send's time in the in-flight table until it is dropped.
struct InFlight<'a> {
    app: &'a App,
    at: i64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .app
            .woosh
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = in_flight.get_mut(&self.at) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.at);
            }
        }
    }
}

impl App {
    fn woosh_in_flight(&self) -> InFlight<'_> {
        let mut in_flight = self
            .woosh
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let at = Timestamp::now().0;
        *in_flight.entry(at).or_default() += 1;
        InFlight { app: self, at }
    }

    /// Now, or the earliest time of a send in flight if earlier (see the module documentation).
    fn woosh_query_time(&self) -> i64 {
        let in_flight = self
            .woosh
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = Timestamp::now().0;
        in_flight.keys().next().map_or(now, |&at| at.min(now))
    }

    /// The account a recipient spelling names, found as the protocol's lookup finds it.
    fn woosh_recipient(&self, spelling: &str) -> Result<Username> {
        let username = match Username::parse(spelling) {
            Ok(username) if is_woosh_spelling(spelling) => username,
            _ => return Err(Error::NotFound),
        };
        let found = self.store.read(|rx| rx.woosh_member(&username))?;
        match found.filter(|m| m.public_key.is_some()).map(|m| m.woosh) {
            Some(Some(woosh)) if woosh.spelling == spelling => Ok(username),
            Some(None) if username.as_str() == spelling => Ok(username),
            _ => Err(Error::NotFound),
        }
    }

    /// Sends `contents` (opaque, stored as given) to the member named exactly `recipient`.
    pub fn woosh_send(
        &self,
        caller: &WooshUser,
        recipient: &str,
        contents: &str,
    ) -> Result<WooshMessage> {
        if contents.len() > MAX_CONTENTS_BYTES {
            return Err(Error::Invalid(vec![Invalid::new(
                "contents",
                format!("field \"contents\" is larger than {MAX_CONTENTS_BYTES} bytes"),
            )]));
        }
        let to = self.woosh_recipient(recipient)?;
        if to == caller.username {
            return Err(Error::Invalid(vec![Invalid::new(
                "recipient",
                "cannot send a message to yourself",
            )]));
        }
        let in_flight = self.woosh_in_flight();
        let from = caller.username.as_str();
        let message = self.seal_message(from, to.as_str(), WOOSH_TITLE, contents, false)?;
        let sent_at = message.sent_at();
        let sender = from.to_string();
        let seq = self.store.write(move |tx| {
            // Not in the sender's sent box, so `insert` does not check the sender: here.
            if !tx.user_exists(&sender)? {
                return Err(Error::Unauthenticated);
            }
            message.insert(tx)
        })?;
        drop(in_flight);
        Ok(WooshMessage {
            id: seq,
            from_user: caller.spelling.clone(),
            to_user: recipient.to_string(),
            contents: contents.to_string(),
            sent_at,
        })
    }

    /// The caller's inbox: the query time, then at most [`MAX_POLL`] messages, newest first
    /// (within one second, in the order they were stored). Reading marks nothing.
    ///
    /// With more than [`MAX_POLL`] waiting, the original left out the *oldest*, which the
    /// client's drain then deleted unseen. Here the oldest are returned instead, up to the
    /// first second that is left out, and the query time is that second: the drain removes
    /// only what was returned, and the next poll goes on from there. When more than
    /// [`MAX_POLL`] share the oldest second, a cut inside it would make no progress, so that
    /// whole second is returned (up to [`MAX_SAME_SECOND`]) with the next second as the query
    /// time, once it is over; past that bound the drain waits rather than lose any.
    pub fn woosh_inbox(&self, caller: &WooshUser) -> Result<(i64, Vec<WooshMessage>)> {
        let now = self.woosh_query_time();
        let user = caller.username.as_str();
        let InboxRead {
            stored,
            more,
            spellings,
        } = self.read_woosh_inbox(user, MAX_POLL)?;
        let (mut kept, mut query_time) = (stored, now);
        if more {
            let cut = cut_poll(kept, MAX_POLL, now);
            (kept, query_time) = (cut.kept, cut.query_time);
            if let Some(second) = cut.stuck_at.filter(|s| *s < now) {
                let wide = self.read_woosh_inbox(user, MAX_SAME_SECOND)?.stored;
                let wide_cut = cut_poll(wide, MAX_SAME_SECOND, now);
                if wide_cut.stuck_at.is_none() {
                    kept = wide_cut.kept;
                    kept.retain(|m| m.record.sent_at <= second);
                    query_time = second + 1;
                }
            }
        }
        let spelled = |name: &String| spellings.get(name).cloned().unwrap_or_else(|| name.clone());
        let mut messages = Vec::with_capacity(kept.len());
        for message in kept {
            let record = &message.record;
            let aad = message_aad(message.id, &record.from, &record.to, "body");
            let from_user = spelled(&record.from);
            messages.push(WooshMessage {
                id: record.seq,
                to_user: caller.spelling.clone(),
                from_user,
                contents: self.key.open_text(&message.body, &aad)?,
                sent_at: record.sent_at,
            });
        }
        messages.sort_by(|a, b| b.sent_at.cmp(&a.sent_at).then(a.id.cmp(&b.id)));
        Ok((query_time, messages))
    }

    /// One snapshot of an inbox: the newest [`MAX_POLL`] messages, or, when more are waiting
    /// (`true`), the oldest `oldest` and a few past them; and the senders' spellings.
    fn read_woosh_inbox(&self, user: &str, oldest: usize) -> Result<InboxRead> {
        self.store.read(|rx| {
            let (newest, more) = rx.mailbox_index(user, Mailbox::Inbox, None, MAX_POLL)?;
            let positions = if more {
                rx.inbox_oldest(user, oldest + CUT_LOOKAHEAD)?
            } else {
                newest
            };
            let stored = rx.stored_at(&positions)?;
            let mut spellings = BTreeMap::new();
            for message in &stored {
                let name = &message.record.from;
                if spellings.contains_key(name) {
                    continue;
                }
                let spelling = match Username::parse(name) {
                    Ok(username) => rx.woosh_account(&username)?.map(|w| w.spelling),
                    Err(_) => None,
                };
                spellings.insert(name.clone(), spelling.unwrap_or_else(|| name.clone()));
            }
            Ok(InboxRead {
                stored,
                more,
                spellings,
            })
        })
    }

    /// Deletes every message of the caller's inbox sent strictly before `until` (seconds),
    /// each to the deleted-message log; returns how many.
    pub fn woosh_delete_until(
        &self,
        caller: &WooshUser,
        until: i64,
        client: &Client,
    ) -> Result<u64> {
        let user = caller.username.as_str().to_string();
        let ip = client.ip;
        self.store.write(move |tx| {
            let n_deleted = tx.delete_inbox_before(&user, until, Timestamp::now().0)?;
            if n_deleted > 0 {
                tx.record_event(&security_event(
                    event::MESSAGE_DELETED,
                    Some(&user),
                    Some(ip),
                    format!("via=woosh until={until} count={n_deleted}"),
                ))?;
            }
            Ok(n_deleted)
        })
    }
}

/// One snapshot of an inbox, as [`App::read_woosh_inbox`] read it.
struct InboxRead {
    stored: Vec<StoredMessage>,
    /// More than [`MAX_POLL`] are waiting (and `stored` holds the oldest).
    more: bool,
    /// Each sender's name as the protocol spells it.
    spellings: BTreeMap<String, String>,
}

/// What a poll over more than it may return keeps.
struct Cut {
    kept: Vec<StoredMessage>,
    query_time: i64,
    /// The oldest second, when more than the limit share it (no cut inside it progresses).
    stuck_at: Option<i64>,
}

/// Keeps the oldest `limit` of `stored` (oldest first) that were sent before the earliest
/// second left out, and makes that second the query time. Commit order and time order can
/// differ by a commit's duration, so the cut is the earliest time among all the left-out
/// messages read, not the first one's.
fn cut_poll(mut stored: Vec<StoredMessage>, limit: usize, now: i64) -> Cut {
    if stored.len() <= limit {
        return Cut {
            kept: stored,
            query_time: now,
            stuck_at: None,
        };
    }
    let left_out = stored.split_off(limit);
    let cut = left_out
        .iter()
        .map(|m| m.record.sent_at)
        .min()
        .unwrap_or(now);
    let stuck_at = if stored.iter().any(|m| m.record.sent_at < cut) {
        stored.retain(|m| m.record.sent_at < cut);
        None
    } else {
        Some(cut)
    };
    Cut {
        kept: stored,
        query_time: now.min(cut),
        stuck_at,
    }
}
