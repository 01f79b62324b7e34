//! Every redb table of the database, in one place: the schema.
//!
//! Values named `*Record` are postcard-encoded structs from `store::records`. Keys that name a
//! user are the lower-cased username. Changing a definition here means a new schema version
//! and a migration in `store::migrate`. Each table belongs to one stored kind: the kind's entry
//! in the registry (`store::kinds`) names it, which is how it is created, dumped and restored.

use redb::TableDefinition;

/// `schema_version`, counters (`next_seq`, `next_deleted`, `next_event`), the PIN.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// username -> UserRecord
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// usernames of deleted accounts, never handed out again -> deleted_at
pub const RETIRED: TableDefinition<&str, i64> = TableDefinition::new("retired_usernames");
/// username -> opaque public key bytes published by an end-to-end client
pub const PUBLIC_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("public_keys");

/// username (lower-cased) -> WooshRecord (`store::woosh`): an account registered through the
/// end-to-end chat protocol, its exact spelling, integer id and sealed private key and info
pub const WOOSH_ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("woosh_accounts");

/// seq -> (message id, MessageRecord: everything but the body). Keyed by seq, not by the
/// random id, so a new message is appended at the end of the tree: a commit of many sends
/// dirties a few pages here instead of one random page per send (schema version 2).
pub const MESSAGES: TableDefinition<u64, (u128, &[u8])> = TableDefinition::new("messages_by_seq");
/// seq -> sealed body
pub const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies_by_seq");
/// message id -> seq: how an id from a URL or the API finds its message
pub const MESSAGE_IDS: TableDefinition<u128, u64> = TableDefinition::new("message_ids");
/// (recipient, seq) -> (message id, read)
pub const INBOX: TableDefinition<(&str, u64), (u128, bool)> = TableDefinition::new("inbox");
/// (sender, seq) -> message id
pub const SENT: TableDefinition<(&str, u64), u128> = TableDefinition::new("sent");
/// recipient -> number of unread messages in the inbox
pub const UNREAD: TableDefinition<&str, u64> = TableDefinition::new("unread");

/// deletion number -> DeletedRecord (still sealed)
pub const DELETED: TableDefinition<u64, &[u8]> = TableDefinition::new("deleted_log");

/// SHA-256 of the session secret -> SessionRecord
pub const SESSIONS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("sessions");
/// (username, session handle) -> SHA-256 of the secret
pub const USER_SESSIONS: TableDefinition<(&str, u128), [u8; 32]> =
    TableDefinition::new("user_sessions");
/// SHA-256 of the API token -> TokenRecord
pub const TOKENS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("tokens");
/// (username, token handle) -> SHA-256 of the token
pub const USER_TOKENS: TableDefinition<(&str, u128), [u8; 32]> =
    TableDefinition::new("user_tokens");

/// event number -> EventRecord (security events: logins, resets, lockouts, deletions)
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

/// Tables of earlier schema versions, read only by the migration in `store::migrate`.
pub mod v1 {
    use redb::TableDefinition;

    /// message id -> MessageRecord
    pub const MESSAGES: TableDefinition<u128, &[u8]> = TableDefinition::new("messages");
    /// message id -> sealed body
    pub const BODIES: TableDefinition<u128, &[u8]> = TableDefinition::new("bodies");
}
