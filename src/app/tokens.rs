//! API bearer tokens: made after a password check (HTTP Basic) or for a signed-in member,
//! looked up by their SHA-256 on every API request, listed and revoked on the account page.
//! A token lives `Settings::token_ttl` (one hour); the secret is handed out once and only its
//! hash is stored.

use super::auth::{CredentialInfo, may_sign_in, secs};
use super::{App, Client, event, security_event};
use crate::crypto::{new_secret, random_u128, sha256};
use crate::error::{Error, Result};
use crate::model::{Timestamp, Username};
use crate::store::records::TokenRecord;

impl App {
    /// Creates an API token after a password check (HTTP Basic, with the client's device token
    /// if it has one); returns it, its expiry and a new device token.
    pub fn create_token(
        &self,
        username: &str,
        password: &str,
        client: &Client,
        device_token: Option<&str>,
    ) -> Result<(String, Timestamp, String)> {
        let (username, verified) = self.check_password(username, password, client, device_token)?;
        let device_token = self.issue_device_token(&username)?;
        let (token, expires_at) =
            self.issue_token_as(&username, client, Some(verified.password_phc))?;
        Ok((token, expires_at, device_token))
    }

    /// Creates an API token for an already signed-in user (the account page).
    pub fn issue_token(&self, username: &Username, client: &Client) -> Result<(String, Timestamp)> {
        self.issue_token_as(username, client, None)
    }

    fn issue_token_as(
        &self,
        username: &Username,
        client: &Client,
        verified_phc: Option<String>,
    ) -> Result<(String, Timestamp)> {
        let secret = new_secret()?;
        let hash = sha256(secret.as_bytes());
        let now = Timestamp::now().0;
        let expires_at = now + secs(self.settings.token_ttl);
        let record = TokenRecord {
            username: username.as_str().to_string(),
            handle: random_u128()?,
            created_at: now,
            expires_at,
        };
        let event = security_event(
            event::TOKEN_CREATED,
            Some(username.as_str()),
            Some(client.ip),
            "",
        );
        let who = username.clone();
        self.store.write(move |tx| {
            may_sign_in(tx, &who, verified_phc.as_deref())?;
            tx.put_credential(&hash, &record)?;
            tx.record_event(&event)
        })?;
        Ok((secret, Timestamp(expires_at)))
    }

    /// The user behind a bearer token, if it is live. Returns the token's hash too, for revoking.
    pub fn token_user(&self, token: &str) -> Result<Option<(Username, [u8; 32])>> {
        let hash = sha256(token.as_bytes());
        let Some(record) = self.store.read(|rx| rx.credential::<TokenRecord>(&hash))? else {
            return Ok(None);
        };
        if Timestamp::now().0 >= record.expires_at {
            return Ok(None);
        }
        Ok(Username::parse(&record.username).ok().map(|u| (u, hash)))
    }

    pub fn revoke_token(&self, username: &Username, hash: [u8; 32], client: &Client) -> Result<()> {
        let event = security_event(
            event::TOKEN_REVOKED,
            Some(username.as_str()),
            Some(client.ip),
            "",
        );
        self.store.write(move |tx| {
            tx.remove_credential::<TokenRecord>(&hash)?;
            tx.record_event(&event)
        })
    }

    pub fn revoke_token_by_handle(
        &self,
        username: &Username,
        handle: u128,
        client: &Client,
    ) -> Result<()> {
        let user = username.as_str().to_string();
        let event = security_event(
            event::TOKEN_REVOKED,
            Some(username.as_str()),
            Some(client.ip),
            "",
        );
        self.store.write(move |tx| {
            if !tx.remove_credential_by_handle::<TokenRecord>(&user, handle)? {
                return Err(Error::NotFound);
            }
            tx.record_event(&event)
        })
    }

    /// The user's live API tokens.
    pub fn tokens_of(&self, username: &Username) -> Result<Vec<CredentialInfo>> {
        let now = Timestamp::now().0;
        let found = self
            .store
            .read(|rx| rx.credentials_of::<TokenRecord>(username.as_str()))?;
        Ok(found
            .into_iter()
            .filter(|(_, r)| r.expires_at > now)
            .map(|(_, r)| CredentialInfo {
                handle: r.handle,
                created_at: Timestamp(r.created_at),
                last_seen_or_expiry: Timestamp(r.expires_at),
                ip: String::new(),
                user_agent: String::new(),
                current: false,
            })
            .collect())
    }
}
