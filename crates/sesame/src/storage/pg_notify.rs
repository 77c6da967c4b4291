//! Session-cache invalidations between nodes over PostgreSQL `LISTEN`/`NOTIFY`: the database
//! every node already shares carries them, so no other service is needed.
//!
//! [`PgBroadcast`] sends one `pg_notify` per invalidating write. [`spawn_listener`] keeps one
//! dedicated connection listening and applies what arrives. The cache serves only while that
//! connection is subscribed: it starts disabled, is enabled (empty) once `LISTEN` succeeded, and
//! is emptied whenever the connection drops (notifications sent meanwhile are lost) and disabled
//! until it is back. A node therefore never answers from memory while it cannot hear the others.

use super::cached::{Broadcast, TaskGuard};
use super::session_cache::{Invalidation, SessionCache};
use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// The channel every node listens on.
pub const CHANNEL: &str = "sesame_session_cache";

/// Sends this node's invalidations.
#[derive(Debug, Clone)]
pub struct PgBroadcast {
    pool: PgPool,
}

impl PgBroadcast {
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl Broadcast for PgBroadcast {
    async fn publish(&self, what: Invalidation) {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(what.encode())
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::error!(
                error = %e,
                "could not tell other nodes about a session change; their cached copies expire with SESAME_SESSION_CACHE_TTL"
            );
        }
    }
}

/// Starts the task that applies other nodes' invalidations to `cache` and switches it on and
/// off with the subscription (see the module docs). `first_attempt` fires once the first
/// subscription attempt has ended, either way. The task stops when the guard is dropped.
#[must_use]
pub fn spawn_listener(
    url: String,
    cache: Arc<SessionCache>,
    first_attempt: tokio::sync::oneshot::Sender<()>,
) -> TaskGuard {
    TaskGuard(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        let mut first_attempt = Some(first_attempt);
        loop {
            cache.set_enabled(false);
            let subscribed = subscribe(&url).await;
            if let Some(tx) = first_attempt.take() {
                let _ = tx.send(());
            }
            match subscribed {
                Ok(mut listener) => {
                    cache.set_enabled(true);
                    backoff = Duration::from_millis(100);
                    tracing::debug!("session cache: listening for other nodes' invalidations");
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => cache.invalidate(Invalidation::decode(n.payload())),
                            Ok(None) => {
                                // Reconnected, but whatever was sent meanwhile is lost.
                                tracing::warn!("session cache: notification connection was lost and re-established; cache emptied");
                                cache.invalidate(Invalidation::All);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "session cache: notification connection failed; cache off until it is back");
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "session cache: cannot listen for invalidations; cache off until it can");
                }
            }
            cache.set_enabled(false);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }))
}

async fn subscribe(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
