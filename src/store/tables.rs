//! Every table of the database, in one place: the schema (the same in redb and PostgreSQL,
//! see `store::table`).
//!
//! Values named `*Record` are postcard-encoded structs from `store::records`. Keys that name a
//! user are the lower-cased username. Changing a definition here means a new schema version
//! and a migration in `store::migrate`. Each table belongs to one stored kind: the kind's entry
//! in the registry (`store::kinds`) names it, which is how it is created, dumped and restored.

use super::table::Def;

/// `schema_version`, counters (`next_seq`, `next_deleted`, `next_event`), the PIN.
pub const META: Def<String, Vec<u8>> = Def::new("meta");

/// username -> UserRecord
pub const USERS: Def<String, Vec<u8>> = Def::new("users");
/// usernames of deleted accounts, never handed out again -> deleted_at
pub const RETIRED: Def<String, i64> = Def::new("retired_usernames");
/// username -> opaque public key bytes published by an end-to-end client
pub const PUBLIC_KEYS: Def<String, Vec<u8>> = Def::new("public_keys");

/// username (lower-cased) -> WooshRecord (`store::woosh`): an account registered through the
/// end-to-end chat protocol, its exact spelling, integer id and sealed private key and info
pub const WOOSH_ACCOUNTS: Def<String, Vec<u8>> = Def::new("woosh_accounts");

/// seq -> (message id, MessageRecord: everything but the body). Keyed by seq, not by the
/// random id, so a new message is appended at the end of the tree: a commit of many sends
/// dirties a few pages here instead of one random page per send (schema version 2).
pub const MESSAGES: Def<u64, (u128, Vec<u8>)> = Def::new("messages_by_seq");
/// seq -> sealed body
pub const BODIES: Def<u64, Vec<u8>> = Def::new("bodies_by_seq");
/// message id -> seq: how an id from a URL or the API finds its message
pub const MESSAGE_IDS: Def<u128, u64> = Def::new("message_ids");
/// (recipient, seq) -> (message id, read)
pub const INBOX: Def<(String, u64), (u128, bool)> = Def::new("inbox");
/// (sender, seq) -> message id
pub const SENT: Def<(String, u64), u128> = Def::new("sent");
/// recipient -> number of unread messages in the inbox
pub const UNREAD: Def<String, u64> = Def::new("unread");

/// deletion number -> DeletedRecord (still sealed)
pub const DELETED: Def<u64, Vec<u8>> = Def::new("deleted_log");

/// SHA-256 of the session secret -> SessionRecord
pub const SESSIONS: Def<[u8; 32], Vec<u8>> = Def::new("sessions");
/// (username, session handle) -> SHA-256 of the secret
pub const USER_SESSIONS: Def<(String, u128), [u8; 32]> = Def::new("user_sessions");
/// SHA-256 of the API token -> TokenRecord
pub const TOKENS: Def<[u8; 32], Vec<u8>> = Def::new("tokens");
/// (username, token handle) -> SHA-256 of the token
pub const USER_TOKENS: Def<(String, u128), [u8; 32]> = Def::new("user_tokens");

/// event number -> EventRecord (security events: logins, resets, lockouts, deletions)
pub const EVENTS: Def<u64, Vec<u8>> = Def::new("events");

/// guard name -> its state (login throttles, the PIN's ceiling): not dumped, see
/// `store::counters`
pub const COUNTERS: Def<String, Vec<u8>> = Def::new("counters");

/// Tables of earlier schema versions, read only by the migration in `store::migrate`.
pub mod v1 {
    use crate::store::table::Def;

    /// message id -> MessageRecord
    pub const MESSAGES: Def<u128, Vec<u8>> = Def::new("messages");
    /// message id -> sealed body
    pub const BODIES: Def<u128, Vec<u8>> = Def::new("bodies");
}
