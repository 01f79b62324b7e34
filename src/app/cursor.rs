//! Mailbox cursor tokens: a member's position in one of their mailboxes as handed to clients.
//!
//! A token is the app's sequence number sealed with the data key (synthetic nonce, so one
//! position always has one token) and bound by associated data to the member and the mailbox
//! (or the search page's scope, inbox and sent together, which no mailbox is named): it reveals
//! nothing of the server-wide message count, cannot be forged, and opens for no
//! other member or mailbox. Pure functions over the key; no store, no HTTP.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::DataKey;
use crate::error::Result;
use crate::model::{Mailbox, Username};

/// Longest token text worth trying to open: a real one is 48 characters.
const MAX_TOKEN_CHARS: usize = 100;

/// What a position is a position in: one mailbox, or inbox and sent together as the search
/// page reads them ([`BOTH_BOXES`]). A token opens only under the scope it was made for.
fn cursor_aad(user: &Username, scope: &str) -> Vec<u8> {
    format!("cursor\0{}\0{scope}", user.as_str()).into_bytes()
}

/// The scope of a position in inbox and sent together (no mailbox is named so).
pub const BOTH_BOXES: &str = "inbox+sent";

/// The token for position `seq` in `user`'s `mailbox`.
pub fn cursor_token(key: &DataKey, user: &Username, mailbox: Mailbox, seq: u64) -> Result<String> {
    scoped_token(key, user, mailbox.as_str(), seq)
}

/// The position inside a token from [`cursor_token`] for this user and mailbox; `None` for
/// anything else.
pub fn cursor_seq(key: &DataKey, user: &Username, mailbox: Mailbox, token: &str) -> Option<u64> {
    scoped_seq(key, user, mailbox.as_str(), token)
}

/// [`cursor_token`] for any scope.
pub fn scoped_token(key: &DataKey, user: &Username, scope: &str, seq: u64) -> Result<String> {
    // Deterministic, so one position always has one token: a poll that finds nothing hands
    // back exactly the cursor it was given.
    let sealed = key.seal_deterministic(&seq.to_be_bytes(), &cursor_aad(user, scope))?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// [`cursor_seq`] for any scope.
pub fn scoped_seq(key: &DataKey, user: &Username, scope: &str, token: &str) -> Option<u64> {
    if token.len() > MAX_TOKEN_CHARS {
        return None;
    }
    let sealed = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    let plain = key.open(&sealed, &cursor_aad(user, scope)).ok()?;
    Some(u64::from_be_bytes(plain.as_slice().try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::cursor_token;
    use crate::fuzzing::checks::{check_cursor_minted, check_cursor_token, cursor_cells, fuzz_key};

    #[test]
    fn a_search_position_and_a_mailbox_position_never_open_for_each_other() {
        let key = fuzz_key();
        for (user, mailbox) in cursor_cells() {
            let listing = cursor_token(&key, &user, mailbox, 42).expect("sealing works");
            let search = super::scoped_token(&key, &user, super::BOTH_BOXES, 42).expect("sealing");
            assert_eq!(
                super::scoped_seq(&key, &user, super::BOTH_BOXES, &search),
                Some(42)
            );
            assert_eq!(
                super::scoped_seq(&key, &user, super::BOTH_BOXES, &listing),
                None
            );
            for (other, other_mailbox) in cursor_cells() {
                assert_eq!(
                    super::cursor_seq(&key, &other, other_mailbox, &search),
                    None
                );
                if other != user {
                    let opened = super::scoped_seq(&key, &other, super::BOTH_BOXES, &search);
                    assert_eq!(opened, None);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(crate::fuzzing::proptest_config(300, "tests/proptest-regressions/app-cursor.txt"))]

        #[test]
        fn a_cursor_opens_only_for_its_own_member_and_mailbox(cell in 0usize..4, seq in any::<u64>()) {
            check_cursor_minted(&fuzz_key(), cell, seq);
        }

        #[test]
        fn a_cursor_with_one_character_changed_opens_nowhere(
            cell in 0usize..4,
            seq in any::<u64>(),
            at in any::<prop::sample::Index>(),
            replacement in "[A-Za-z0-9_=+/-]",
        ) {
            let key = fuzz_key();
            let (user, mailbox) = &cursor_cells()[cell];
            let token = cursor_token(&key, user, *mailbox, seq).expect("sealing works");
            let i = at.index(token.len());
            let changed = format!("{}{replacement}{}", &token[..i], &token[i + 1..]);
            prop_assume!(changed != token);
            for (user, mailbox) in cursor_cells() {
                prop_assert_eq!(super::cursor_seq(&key, &user, mailbox, &changed), None);
            }
        }

        #[test]
        fn random_text_opens_as_no_cursor(
            token in prop_oneof!["[A-Za-z0-9_-]{40,60}", "\\PC{0,120}"],
        ) {
            let key = fuzz_key();
            for (user, mailbox) in cursor_cells() {
                prop_assert_eq!(super::cursor_seq(&key, &user, mailbox, &token), None);
            }
            check_cursor_token(&key, &token);
        }
    }
}
