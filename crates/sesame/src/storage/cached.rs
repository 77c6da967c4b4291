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
//!
//! This table is not kept by hand here: it is the classification each method carries where it
//! is declared (`sesame_domain::store`: `changes(Session(..))`, `changes(User(..))`,
//! `changes(All)`, `touches(User(..))`, `pass`, `decorated`), from which the forwards are
//! generated. This file implements only the cached read and the two hooks: `changing` arms the
//! drop guard that invalidates locally and broadcasts, `touched` invalidates on this node only.
//! A new store method does not compile until it is classified there.

use super::session_cache::{Invalidation, SessionCache};
use async_trait::async_trait;
use sesame_domain::clock::Timestamp;
use sesame_domain::model::{SessionId, UserId};
use sesame_domain::store::{LiveSession, Scope, Store, StoreDecorator};
use sesame_domain::StoreError;
use std::sync::Arc;

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

/// Only what the cache changes: the forwards, and when each write's hook runs, come from the
/// classification of every method in `sesame_domain::store` (see the module docs for the table).
#[async_trait]
impl StoreDecorator for CachedStore {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    fn changing(&self, scope: Scope) -> impl Send + '_ {
        self.pending(invalidation(scope))
    }

    /// Only the user's `last_login_at` changed (`create_session`), which no authorization
    /// depends on: drop this node's copies, but do not wake every other node on every login
    /// (theirs may show the previous login time until their entries age out).
    fn touched(&self, scope: Scope) {
        self.cache.invalidate(invalidation(scope));
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
            self.cache.insert(ticket, session, live, now);
        }
        Ok(live)
    }
}

fn invalidation(scope: Scope) -> Invalidation {
    match scope {
        Scope::User(user) => Invalidation::User(user),
        Scope::Session(session) => Invalidation::Session(session),
        Scope::All => Invalidation::All,
    }
}
