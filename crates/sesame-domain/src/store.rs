//! The storage contract: small role traits combined into one [`Store`], held by the service as
//! `Arc<dyn Store>`. The `sesame` crate implements it once per backend (SQLite, PostgreSQL).
//!
//! Implementations enforce uniqueness and atomicity (a refresh token is consumed by one
//! conditional update; a session and its first token are written together) but no content
//! rules: every value they receive was already parsed by the domain. Lookups return
//! `Result<Option<T>, StoreError>` so that an outage never looks like "not found".

use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::model::{
    LoginName, NewUser, ProfilePatch, Session, SessionId, User, UserId, UserWithHash,
};
use crate::token::{StoredKey, TokenHash};
use async_trait::async_trait;

/// A session to open, with the hash of its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session: Session,
    /// Per-session key from which refresh-token successors are derived.
    pub refresh_secret: Vec<u8>,
    pub first_refresh_hash: TokenHash,
}

/// What the store knows about a presented refresh token.
#[derive(Debug, Clone)]
pub struct RefreshTokenState {
    pub session: Session,
    pub refresh_secret: Vec<u8>,
    /// When this token was exchanged for its successor, if it was.
    pub used_at: Option<Timestamp>,
    /// The session's owner, with current roles.
    pub user: User,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user and its roles in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming the email or username rule on a duplicate.
    async fn insert_user(&self, user: &NewUser) -> Result<User, StoreError>;

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with this email or username (case-insensitively) and its password hash.
    async fn user_for_login(&self, name: &LoginName) -> Result<Option<UserWithHash>, StoreError>;

    /// Applies a profile change; `None` if the user does not exist.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the new username is taken.
    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError>;

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Writes the session, its first refresh token, and the user's `last_login_at`, atomically.
    async fn create_session(&self, new: &NewSession) -> Result<(), StoreError>;

    /// The hot path of every authenticated request: the owner of `session` if the session is
    /// neither revoked nor expired at `now`, belongs to `user`, and the user is active.
    async fn active_session_user(
        &self,
        session: SessionId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError>;

    async fn refresh_token_state(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshTokenState>, StoreError>;

    /// Atomically marks `old` used and stores `new` in the same session, sliding the session's
    /// expiry to `expires_at`. Returns `false`, changing nothing, if `old` was already used or the
    /// session is revoked: one conditional update decides, so a race cannot mint two successors.
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        session: SessionId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Ends one session. Returns whether it was active.
    async fn revoke_session(&self, session: SessionId, now: Timestamp) -> Result<bool, StoreError>;

    /// Ends every active session of a user. Returns how many were ended.
    async fn revoke_user_sessions(&self, user: UserId, now: Timestamp) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// Stores `key` as the primary signing key unless one exists already (several nodes may
    /// start at once; exactly one insert wins). Returns whether this key was stored.
    async fn insert_primary_signing_key(&self, key: &StoredKey) -> Result<bool, StoreError>;
}

/// Everything the service needs from a backend.
#[async_trait]
pub trait Store: UserStore + SessionStore + KeyStore {
    /// A cheap round trip proving the database answers, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The backend's name for logs and metrics: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}
