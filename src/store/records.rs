//! The structs stored as table values, and their postcard encoding.
//!
//! Secrets appear here only as hashes (PHC strings, SHA-256) or as AES-GCM ciphertexts; no
//! field ever holds a plaintext password, answer, PIN, token or message text.

use serde::{Deserialize, Serialize};

use crate::error::{Fault, Result, StorageError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    pub name: String,
    pub password_phc: String,
    pub question: u8,
    pub answer_phc: String,
    pub created_at: i64,
    pub password_changed_at: i64,
    /// Set by the operator (`messages user lock`); a locked account cannot log in.
    pub locked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageRecord {
    pub seq: u64,
    pub from: String,
    pub to: String,
    pub sent_at: i64,
    pub title: Sealed,
    /// Still listed in the recipient's inbox / the sender's sent box.
    pub in_inbox: bool,
    pub in_sent: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeletedRecord {
    #[serde(with = "id128")]
    pub message_id: u128,
    pub from: String,
    pub to: String,
    pub sent_at: i64,
    pub title: Sealed,
    pub body: Sealed,
    pub deleted_by: String,
    pub deleted_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    pub username: String,
    /// A public handle so a session can be listed and ended without revealing its secret.
    #[serde(with = "id128")]
    pub handle: u128,
    pub created_at: i64,
    pub last_seen: i64,
    pub ip: String,
    pub user_agent: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    pub username: String,
    #[serde(with = "id128")]
    pub handle: u128,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventRecord {
    pub at: i64,
    pub kind: String,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

/// 128-bit ids: a number in the database (postcard), 32 hex digits in a dump (JSON, whose
/// tagged records cannot carry a u128).
mod id128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&format!("{value:032x}"))
        } else {
            serializer.serialize_u128(*value)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            if text.len() != 32 {
                return Err(serde::de::Error::custom("an id is 32 hex digits"));
            }
            u128::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
        } else {
            u128::deserialize(deserializer)
        }
    }
}

/// Ciphertext bytes: raw in the database (postcard), base64 text in a dump (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sealed(pub Vec<u8>);

impl Serialize for Sealed {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            use base64::Engine;
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            use base64::Engine;
            let text = String::deserialize(deserializer)?;
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(Sealed)
                .map_err(serde::de::Error::custom)
        } else {
            let bytes: Vec<u8> =
                serde::de::Deserialize::deserialize(deserializer).map(|b: ByteBuf| b.0)?;
            Ok(Sealed(bytes))
        }
    }
}

/// Reads postcard's byte strings without going through a sequence of numbers.
struct ByteBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(
                self,
                v: Vec<u8>,
            ) -> std::result::Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
        }
        deserializer.deserialize_bytes(Visit)
    }
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| {
        StorageError::new(Fault::Other, "encode")
            .caused_by(e)
            .into()
    })
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| {
        StorageError::new(Fault::Corrupt, "decode")
            .caused_by(e)
            .into()
    })
}
