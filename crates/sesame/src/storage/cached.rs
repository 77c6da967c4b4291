//! [`CachedStore`]: any backend's [`Store`] with the [`SessionCache`] in front of the hot
//! `active_session_user` lookup, and the invalidations that keep that cache true.
//!
//! Every write that can end a session or change what an authenticated request sees about its
//! user invalidates after it returns (committed, or failed in a way that may have committed) and
//! before the service answers — also when the request is cancelled mid-write (a drop guard) —
//! locally at once, and to the other nodes through the optional [`Broadcast`] (PostgreSQL
//! `NOTIFY`, see [`super::pg_notify`]), sent from a task of its own. Reads and writes that cannot
//! change a session's liveness or its owner's profile pass straight through:
//!
//! | write | invalidates |
//! | --- | --- |
//! | `revoke_session`, `revoke_session_of` | that session |
//! | `revoke_user_sessions`, `change_password`, `delete_user`, `update_profile`, `consume_email_token` (verify, reset, email change), `admin_update_user`, `admin_delete_user` | every session of that user |
//! | `delete_role` | everything |
//! | `create_session` (only `last_login_at` changes) | every session of that user, on this node only |
//!
//! Not invalidating: `rotate_refresh_token` only slides a session's expiry later (a cached, older
//! expiry is conservative); `set_password_hash`, lockout counters, mail, audit, keys and role
//! creation change nothing a session check returns.

use super::session_cache::{Invalidation, SessionCache};
use async_trait::async_trait;
use sesame_domain::audit::{AuditEvent, AuditRecord};
use sesame_domain::clock::Timestamp;
use sesame_domain::mail::{OutboundMail, QueuedMail};
use sesame_domain::model::{
    LoginName, NewUser, ProfilePatch, RoleName, Session, SessionId, User, UserId, UserWithHash,
};
use sesame_domain::store::{
    AdminOutcome, AdminStore, AdminUserChange, AuditQuery, AuditStore, EmailTokenState,
    EmailTokenStore, KeyStore, LiveSession, LoginThrottle, LoginThrottleStore, MailStore,
    NewEmailToken, NewSession, PasswordChange, RefreshTokenState, RoleInfo, SessionStore, Store,
    TokenEffect, TokenPurpose, UserFilter, UserQuery, UserStore,
};
use sesame_domain::token::{StoredKey, TokenHash};
use sesame_domain::StoreError;
use std::sync::Arc;
use uuid::Uuid;

/// Tells the other nodes what a write made stale.
#[async_trait]
pub trait Broadcast: Send + Sync + std::fmt::Debug {
    /// Sends `what`; a failure is logged by the implementation (the write itself succeeded).
    async fn publish(&self, what: Invalidation);
}

/// Aborts a background task when the store that owns it is dropped.
#[derive(Debug)]
pub struct TaskGuard(pub tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A [`Store`] with the session cache in front; see the module docs.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: Arc<SessionCache>,
    broadcast: Option<Arc<dyn Broadcast>>,
    _listener: Option<TaskGuard>,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("backend", &self.inner.backend())
            .field("cache", &self.cache)
            .field("broadcast", &self.broadcast)
            .finish_non_exhaustive()
    }
}

impl CachedStore {
    /// Wraps `inner`. `broadcast` and `listener` are for multi-node backends: the sender of this
    /// node's invalidations and the task applying the other nodes' (stopped when this is dropped).
    #[must_use]
    pub fn new(
        inner: Arc<dyn Store>,
        cache: Arc<SessionCache>,
        broadcast: Option<Arc<dyn Broadcast>>,
        listener: Option<TaskGuard>,
    ) -> Self {
        Self {
            inner,
            cache,
            broadcast,
            _listener: listener,
        }
    }

    /// Arms the invalidation of `what` for the write about to run: it happens when the guard
    /// drops, i.e. after the write returns and before the caller goes on, and also if the caller
    /// is cancelled mid-write (client gone, request timeout), when the write may have committed.
    fn pending(&self, what: Invalidation) -> Pending<'_> {
        Pending { store: self, what }
    }

    fn invalidate_now(&self, what: Invalidation) {
        self.cache.invalidate(what);
        if let Some(b) = &self.broadcast {
            // Sent from a task of its own, so that neither a cancelled caller nor a drop outside
            // an async context can lose it.
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    let b = Arc::clone(b);
                    rt.spawn(async move { b.publish(what).await });
                }
                Err(_) => tracing::error!(
                    "no runtime to tell other nodes about a session change; their cached copies expire with SESAME_SESSION_CACHE_TTL"
                ),
            }
        }
    }
}

/// See [`CachedStore::pending`].
struct Pending<'a> {
    store: &'a CachedStore,
    what: Invalidation,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.store.invalidate_now(self.what);
    }
}

#[async_trait]
impl UserStore for CachedStore {
    async fn insert_user(
        &self,
        user: &NewUser,
        token: Option<&NewEmailToken>,
        mail: Option<&OutboundMail>,
        audit: Option<&AuditEvent>,
    ) -> Result<User, StoreError> {
        self.inner.insert_user(user, token, mail, audit).await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let _invalidate = self.pending(Invalidation::User(id));
        self.inner.delete_user(id).await
    }

    async fn change_password(
        &self,
        change: &PasswordChange,
        mail: &OutboundMail,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let _invalidate = self.pending(Invalidation::User(change.user_id));
        self.inner.change_password(change, mail, audit).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner.user_by_id(id).await
    }

    async fn user_for_login(&self, name: &LoginName) -> Result<Option<UserWithHash>, StoreError> {
        self.inner.user_for_login(name).await
    }

    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let _invalidate = self.pending(Invalidation::User(id));
        self.inner.update_profile(id, patch, now).await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.set_password_hash(id, hash, now).await
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        let r = self.inner.create_session(new).await;
        // Only the user's `last_login_at` changed, which no authorization depends on: drop this
        // node's copies, but do not wake every other node on every login (theirs may show the
        // previous login time until their entries age out).
        self.cache
            .invalidate(Invalidation::User(new.session.user_id));
        r
    }

    async fn active_session_user(
        &self,
        session: SessionId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Option<LiveSession>, StoreError> {
        let ticket = self.cache.ticket();
        if let Some(hit) = self.cache.get(session, user, now) {
            return Ok(Some(hit));
        }
        let live = self.inner.active_session_user(session, user, now).await?;
        if let (Some(ticket), Some(live)) = (ticket, &live) {
            self.cache.insert(ticket, session, live);
        }
        Ok(live)
    }

    async fn refresh_token_state(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        self.inner.refresh_token_state(hash).await
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        session: SessionId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner
            .rotate_refresh_token(old, new, session, now, expires_at)
            .await
    }

    async fn revoke_session(&self, session: SessionId, now: Timestamp) -> Result<bool, StoreError> {
        let _invalidate = self.pending(Invalidation::Session(session));
        self.inner.revoke_session(session, now).await
    }

    async fn revoke_user_sessions(&self, user: UserId, now: Timestamp) -> Result<u64, StoreError> {
        let _invalidate = self.pending(Invalidation::User(user));
        self.inner.revoke_user_sessions(user, now).await
    }

    async fn user_sessions(
        &self,
        user: UserId,
        active_at: Option<Timestamp>,
    ) -> Result<Vec<Session>, StoreError> {
        self.inner.user_sessions(user, active_at).await
    }

    async fn revoke_session_of(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _invalidate = self.pending(Invalidation::Session(session));
        self.inner.revoke_session_of(user, session, now).await
    }
}

#[async_trait]
impl EmailTokenStore for CachedStore {
    async fn issue_email_token(
        &self,
        token: &NewEmailToken,
        supersede: bool,
        mails: &[OutboundMail],
    ) -> Result<(), StoreError> {
        self.inner.issue_email_token(token, supersede, mails).await
    }

    async fn enqueue_mail(&self, mails: &[OutboundMail]) -> Result<(), StoreError> {
        self.inner.enqueue_mail(mails).await
    }

    async fn email_token_state(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<EmailTokenState>, StoreError> {
        self.inner.email_token_state(hash).await
    }

    async fn latest_email_token_at(
        &self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<Option<Timestamp>, StoreError> {
        self.inner.latest_email_token_at(user, purpose).await
    }

    async fn consume_email_token(
        &self,
        hash: &TokenHash,
        user: UserId,
        now: Timestamp,
        effect: &TokenEffect,
        mails: &[OutboundMail],
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let _invalidate = self.pending(Invalidation::User(user));
        self.inner
            .consume_email_token(hash, user, now, effect, mails, audit)
            .await
    }
}

#[async_trait]
impl MailStore for CachedStore {
    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        self.inner.claim_mail(now, lease_until, limit).await
    }

    async fn mail_sent(&self, id: Uuid, now: Timestamp) -> Result<(), StoreError> {
        self.inner.mail_sent(id, now).await
    }

    async fn mail_failed(
        &self,
        id: Uuid,
        attempts: u32,
        retry_at: Option<Timestamp>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner.mail_failed(id, attempts, retry_at, error).await
    }
}

#[async_trait]
impl KeyStore for CachedStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.inner.signing_keys().await
    }

    async fn insert_primary_signing_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        self.inner.insert_primary_signing_key(key).await
    }
}

#[async_trait]
impl AuditStore for CachedStore {
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.inner.record_audit(event).await
    }

    async fn user_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.user_audit(user, limit).await
    }
}

#[async_trait]
impl LoginThrottleStore for CachedStore {
    async fn login_throttle(&self, key: &str) -> Result<Option<LoginThrottle>, StoreError> {
        self.inner.login_throttle(key).await
    }

    async fn record_login_failure(&self, key: &str, now: Timestamp) -> Result<u32, StoreError> {
        self.inner.record_login_failure(key, now).await
    }

    async fn lock_login(&self, key: &str, until: Timestamp) -> Result<(), StoreError> {
        self.inner.lock_login(key, until).await
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        self.inner.clear_login_failures(key).await
    }

    async fn prune_login_failures(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.inner.prune_login_failures(before).await
    }
}

#[async_trait]
impl AdminStore for CachedStore {
    async fn list_users(&self, q: &UserQuery) -> Result<Vec<User>, StoreError> {
        self.inner.list_users(q).await
    }

    async fn count_users(&self, filter: &UserFilter, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.count_users(filter, now).await
    }

    async fn admin_update_user(
        &self,
        id: UserId,
        change: &AdminUserChange,
        now: Timestamp,
    ) -> Result<AdminOutcome<User>, StoreError> {
        let _invalidate = self.pending(Invalidation::User(id));
        self.inner.admin_update_user(id, change, now).await
    }

    async fn admin_delete_user(&self, id: UserId) -> Result<AdminOutcome<()>, StoreError> {
        let _invalidate = self.pending(Invalidation::User(id));
        self.inner.admin_delete_user(id).await
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        self.inner.count_active_admins().await
    }

    async fn list_roles(&self) -> Result<Vec<RoleInfo>, StoreError> {
        self.inner.list_roles().await
    }

    async fn create_role(
        &self,
        name: &RoleName,
        description: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.create_role(name, description, now).await
    }

    async fn delete_role(&self, name: &RoleName) -> Result<bool, StoreError> {
        let _invalidate = self.pending(Invalidation::All);
        self.inner.delete_role(name).await
    }

    async fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.query_audit(q).await
    }

    async fn bulk_insert_users(&self, users: &[NewUser]) -> Result<(), StoreError> {
        self.inner.bulk_insert_users(users).await
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}
