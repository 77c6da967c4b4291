//! The operator's power over registered OAuth / OpenID Connect clients: list, read, register,
//! change, rotate a confidential client's secret, delete. Every change is audited with the acting
//! admin in the same transaction as the change.
//!
//! Owns the rules that need the stored client (its kind decides whether a secret exists and which
//! grants it may have); the rules of each value are the parse rules of `crate::client`. It
//! refuses nothing on behalf of the protocol endpoints: what a client may do at sign-in is theirs.

use super::Admin;
use crate::audit::{AuditEvent, AuditKind};
use crate::client::{ClientId, ClientKind, ClientSecret, ClientSettings, OAuthClient};
use crate::error::AuthError;
use crate::model::ClientInfo;

impl Admin {
    fn client_event(&self, kind: AuditKind, client: &ClientInfo, c: &OAuthClient) -> AuditEvent {
        let mut event = AuditEvent::new(
            kind,
            None,
            client,
            serde_json::json!({
                "client_id": c.id.to_string(),
                "name": c.settings.name.as_str(),
            }),
            self.core.now(),
        );
        event.actor_id = self.actor.as_ref().map(|a| a.user.id);
        event
    }

    /// Every registered client, oldest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn clients(&self) -> Result<Vec<OAuthClient>, AuthError> {
        Ok(self.core.store.list_clients().await?)
    }

    /// One client.
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn client(&self, id: ClientId) -> Result<OAuthClient, AuthError> {
        self.core.store.client(id).await?.ok_or(AuthError::NotFound)
    }

    /// Registers a client. A confidential one gets a secret, returned this once (only its hash
    /// is kept).
    ///
    /// # Errors
    /// [`AuthError::Validation`] naming each rule the settings break together (see
    /// [`ClientSettings::check`]).
    pub async fn create_client(
        &self,
        client: &ClientInfo,
        kind: ClientKind,
        settings: ClientSettings,
    ) -> Result<(OAuthClient, Option<ClientSecret>), AuthError> {
        settings.check(kind).map_err(AuthError::Validation)?;
        let secret = (kind == ClientKind::Confidential).then(ClientSecret::generate);
        let now = self.core.now();
        let c = OAuthClient {
            id: ClientId::new(),
            kind,
            settings,
            secret_hash: secret.as_ref().map(ClientSecret::hash),
            created_at: now,
            updated_at: now,
        };
        let event = self.client_event(AuditKind::AdminClientCreated, client, &c);
        self.core.store.insert_client(&c, &event).await?;
        Ok((c, secret))
    }

    /// Replaces a client's settings (its kind and secret stay). Two changes at once: the later
    /// write wins whole (each starts from the settings it read).
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::Validation`] as for
    /// [`create_client`](Self::create_client).
    pub async fn update_client(
        &self,
        client: &ClientInfo,
        id: ClientId,
        settings: ClientSettings,
    ) -> Result<OAuthClient, AuthError> {
        let current = self.client(id).await?;
        settings
            .check(current.kind)
            .map_err(AuthError::Validation)?;
        let now = self.core.now();
        let updated = OAuthClient {
            settings,
            updated_at: now,
            ..current
        };
        let event = self.client_event(AuditKind::AdminClientUpdated, client, &updated);
        if !self
            .core
            .store
            .update_client(id, &updated.settings, now, &event)
            .await?
        {
            return Err(AuthError::NotFound);
        }
        Ok(updated)
    }

    /// Gives a confidential client a new secret, returned this once; the old one stops working at
    /// once.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::PublicClient`] for a client without a secret.
    pub async fn rotate_client_secret(
        &self,
        client: &ClientInfo,
        id: ClientId,
    ) -> Result<(OAuthClient, ClientSecret), AuthError> {
        let current = self.client(id).await?;
        if current.kind == ClientKind::Public {
            return Err(AuthError::PublicClient);
        }
        let secret = ClientSecret::generate();
        let now = self.core.now();
        let updated = OAuthClient {
            secret_hash: Some(secret.hash()),
            updated_at: now,
            ..current
        };
        let event = self.client_event(AuditKind::AdminClientSecretRotated, client, &updated);
        if !self
            .core
            .store
            .set_client_secret(id, &secret.hash(), now, &event)
            .await?
        {
            return Err(AuthError::NotFound);
        }
        Ok((updated, secret))
    }

    /// Deletes a client.
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn delete_client(&self, client: &ClientInfo, id: ClientId) -> Result<(), AuthError> {
        let current = self.client(id).await?;
        let event = self.client_event(AuditKind::AdminClientDeleted, client, &current);
        if self.core.store.delete_client(id, &event).await? {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }
}
