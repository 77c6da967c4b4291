//! Session-cache invalidations between nodes over PostgreSQL `LISTEN`/`NOTIFY`: the database
//! every node already shares carries them, so no other service is needed.
//!
//! [`PgBroadcast`] sends one `pg_notify` per invalidating write (retried briefly). [`spawn_listener`]
//! keeps one dedicated connection listening and applies what arrives. The cache serves only while
//! that connection is known to work: it starts disabled, is enabled (empty) once `LISTEN`
//! succeeded, and is disabled and emptied as soon as the connection reports a loss, or when the
//! node's own heartbeat (a `NOTIFY` it sends itself every second) has not come back within three
//! seconds — which also catches a connection that died silently, or a pooler that accepts
//! `LISTEN` but never delivers. It is then re-subscribed from scratch. A node therefore answers
//! from memory only while it can hear the others.

use super::cached::{Broadcast, TaskGuard};
use super::session_cache::{Invalidation, SessionCache};
use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// How often a node sends itself a heartbeat on the channel.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long the listener may hear nothing at all before it is presumed deaf.
const DEAF_AFTER: Duration = Duration::from_secs(3);
/// The heartbeat's payload (ignored by every node).
const PING: &str = "ping";

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
        let payload = what.encode();
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=3 {
            match notify(&self.pool, &payload).await {
                Ok(()) => return,
                Err(e) if attempt == 3 => tracing::error!(
                    error = %e,
                    "could not tell other nodes about a session change; their cached copies expire with SESAME_SESSION_CACHE_TTL"
                ),
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
            }
        }
    }
}

async fn notify(pool: &PgPool, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(pool)
        .await
        .map(|_| ())
}

/// Starts the task that applies other nodes' invalidations to `cache` and switches it on and
/// off with the subscription (see the module docs); heartbeats go out through `pool`.
/// `first_attempt` fires once the first subscription attempt has ended, either way. The task
/// stops when the guard is dropped.
#[must_use]
pub fn spawn_listener(
    url: String,
    pool: PgPool,
    cache: Arc<SessionCache>,
    first_attempt: tokio::sync::oneshot::Sender<()>,
) -> TaskGuard {
    TaskGuard(tokio::spawn(async move {
        let _heartbeat = TaskGuard(tokio::spawn(async move {
            loop {
                // A failure shows up as silence at the listener.
                let _ = notify(&pool, PING).await;
                tokio::time::sleep(HEARTBEAT).await;
            }
        }));
        let mut backoff = Duration::from_millis(100);
        let mut first_attempt = Some(first_attempt);
        // The cache starts disabled and is disabled again after every subscription ends.
        loop {
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
                        // On a timeout the half-read listener is dropped, never reused.
                        match tokio::time::timeout(DEAF_AFTER, listener.try_recv()).await {
                            Ok(Ok(Some(n))) if n.payload() == PING => {}
                            Ok(Ok(Some(n))) => cache.invalidate(Invalidation::decode(n.payload())),
                            Ok(Ok(None)) => {
                                tracing::warn!("session cache: notification connection lost; cache off until it is back");
                                break;
                            }
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "session cache: notification connection failed; cache off until it is back");
                                break;
                            }
                            Err(_) => {
                                tracing::warn!("session cache: no notification (not even this node's heartbeat) for 3 s; cache off until re-subscribed");
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
    // A lost connection must surface as `Ok(None)` at once, not be re-established silently
    // with whatever was sent meanwhile lost.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
