//! [`RedisLimiter`]: the GCRA step done atomically inside Redis, so every Sesame node sharing a
//! Redis enforces one combined quota per key.
//!
//! One Lua script per check (sent as `EVALSHA`; the `redis` crate loads it when the server
//! answers `NOSCRIPT`). The script reads the clock with `TIME`, so nodes with skewed clocks
//! still agree, and stores one number per key (its theoretical arrival time, in microseconds of
//! Redis time) under `sesame:rl:<key>`, expiring when it no longer matters — at most one period
//! after the last allowed request — so Redis memory stays bounded by the active keys. Requires
//! Redis 5 or later (scripts that read `TIME` and then write need effects replication).
//!
//! Every call has a short deadline so an unreachable Redis cannot stall requests. This type has
//! no failure policy: errors are returned, and [`super::FallbackLimiter`] decides what they
//! mean. It does not implement [`super::RateLimiter`] for that reason.

use super::{Decision, Quota};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// Prefix of every key this limiter writes.
pub const REDIS_KEY_PREFIX: &str = "sesame:rl:";
/// Default deadline for one check, connecting included.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// GCRA for one key. KEYS[1]: the key; ARGV[1]: the emission interval T and ARGV[2] the
/// tolerance tau, in microseconds. Returns {1, remaining} or {0, retry_after in microseconds}.
/// Microseconds of Unix time stay below 2^53, where Lua's doubles are still exact integers.
const GCRA_LUA: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, allow_at - now}
end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
local remaining = 0
if now + tolerance >= new_tat then
  remaining = math.floor((now + tolerance - new_tat) / interval) + 1
end
return {1, remaining}
";

static GCRA_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA_LUA));

/// Why a Redis check gave no decision.
#[derive(Debug, thiserror::Error)]
pub enum RedisLimitError {
    /// The URL could not be parsed (the message never repeats the URL: it may hold a password).
    #[error("the Redis URL is not valid")]
    InvalidUrl(#[source] redis::RedisError),
    #[error("the Redis rate limiter must be created inside a Tokio runtime")]
    NoRuntime,
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the Redis rate-limit script failed")]
    Redis(#[from] redis::RedisError),
    #[error("the Redis rate-limit script answered ({0}, {1}), which is not a decision")]
    BadReply(i64, i64),
}

/// The shared, cross-node rate limiter. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct RedisLimiter {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// A limiter for the Redis at `url` (`redis://[:password@]host:port[/db]`). Connects lazily
    /// and reconnects by itself, so Sesame starts, and [`super::FallbackLimiter`] serves, while
    /// Redis is down.
    ///
    /// # Errors
    /// An unparsable URL, or no Tokio runtime to run the connection in.
    pub fn new(url: &str) -> Result<Self, RedisLimitError> {
        Self::with_timeout(url, DEFAULT_REDIS_TIMEOUT)
    }

    /// Like [`RedisLimiter::new`], with `timeout` (instead of [`DEFAULT_REDIS_TIMEOUT`]) as the
    /// deadline for one check and for one connection attempt.
    ///
    /// # Errors
    /// An unparsable URL, or no Tokio runtime to run the connection in.
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self, RedisLimitError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisLimitError::NoRuntime);
        }
        let client = redis::Client::open(url).map_err(RedisLimitError::InvalidUrl)?;
        // Give up on a connection attempt quickly; the next check starts a new one.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            prefix: REDIS_KEY_PREFIX.to_owned(),
            timeout,
        })
    }

    /// Uses `prefix` instead of [`REDIS_KEY_PREFIX`] (tests; several deployments on one Redis).
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The Redis key holding `key`'s state.
    #[must_use]
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Whether Redis answers `PING` within the timeout (the background probe of
    /// [`super::FallbackLimiter`]).
    ///
    /// # Errors
    /// Redis unreachable or too slow.
    pub async fn try_ping(&self) -> Result<(), RedisLimitError> {
        let mut conn = self.conn.clone();
        let _: String =
            tokio::time::timeout(self.timeout, redis::cmd("PING").query_async(&mut conn))
                .await
                .map_err(|_| RedisLimitError::Timeout(self.timeout))??;
        Ok(())
    }

    /// One GCRA step for `key` in Redis.
    ///
    /// # Errors
    /// Redis unreachable, too slow ([`RedisLimitError::Timeout`]) or answering nonsense.
    pub async fn try_check(&self, key: &str, quota: Quota) -> Result<Decision, RedisLimitError> {
        let mut conn = self.conn.clone();
        let mut invocation = GCRA_SCRIPT.key(self.redis_key(key));
        invocation
            .arg(quota.emission_us())
            .arg(quota.tolerance_us());
        let reply: (i64, i64) =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| RedisLimitError::Timeout(self.timeout))??;
        match reply {
            (1, remaining) if remaining >= 0 => Ok(Decision::Allowed {
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            }),
            (0, retry_us) if retry_us > 0 => Ok(Decision::Limited {
                retry_after: Duration::from_micros(retry_us.unsigned_abs()),
            }),
            (a, b) => Err(RedisLimitError::BadReply(a, b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{redis_url, unique_prefix, wait_until};
    use super::*;
    use std::time::Instant;

    fn quota(limit: u32, period: Duration) -> Quota {
        Quota::new(limit, period).unwrap()
    }

    async fn limiter() -> RedisLimiter {
        RedisLimiter::new(&redis_url())
            .unwrap()
            .with_key_prefix(unique_prefix())
    }

    #[tokio::test]
    async fn a_burst_of_limit_is_allowed_then_limited() {
        let limiter = limiter().await;
        let q = quota(5, Duration::from_secs(60));
        for expected in (0..5).rev() {
            assert_eq!(
                limiter.try_check("login:alice", q).await.unwrap(),
                Decision::Allowed {
                    remaining: expected
                }
            );
        }
        match limiter.try_check("login:alice", q).await.unwrap() {
            Decision::Limited { retry_after } => assert!(
                retry_after <= Duration::from_secs(12) && retry_after > Duration::from_secs(11),
                "{retry_after:?}"
            ),
            d @ Decision::Allowed { .. } => panic!("sixth request of a burst of 5: {d:?}"),
        }
        assert!(limiter
            .try_check("login:bob", q)
            .await
            .unwrap()
            .is_allowed());
    }

    #[tokio::test]
    async fn two_nodes_sharing_one_redis_enforce_one_combined_limit() {
        // Two limiters with their own connections, as two Sesame nodes would have.
        let prefix = unique_prefix();
        let node_a = RedisLimiter::new(&redis_url())
            .unwrap()
            .with_key_prefix(&prefix);
        let node_b = RedisLimiter::new(&redis_url())
            .unwrap()
            .with_key_prefix(&prefix);
        let q = quota(10, Duration::from_secs(60));
        let checks = (0..6)
            .flat_map(|_| [&node_a, &node_b])
            .map(|node| async move { node.try_check("ip:198.51.100.7", q).await.unwrap() });
        let decisions = futures::future::join_all(checks).await;
        let allowed = decisions.iter().filter(|d| d.is_allowed()).count();
        assert_eq!(allowed, 10, "{decisions:?}");
    }

    #[tokio::test]
    async fn the_redis_key_expires_once_it_no_longer_matters() {
        let limiter = limiter().await;
        let q = quota(2, Duration::from_millis(300));
        for _ in 0..2 {
            assert!(limiter.try_check("k", q).await.unwrap().is_allowed());
        }
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = limiter.redis_key("k");
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!((1..=300).contains(&pttl), "PTTL {pttl} ms");
        wait_until(Duration::from_secs(5), || {
            let mut conn = conn.clone();
            let key = key.clone();
            async move {
                let exists: bool = redis::cmd("EXISTS")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                !exists
            }
        })
        .await;
        // Expiry loses nothing: the key is as fresh as a new one.
        assert_eq!(
            limiter.try_check("k", q).await.unwrap(),
            Decision::Allowed { remaining: 1 }
        );
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_within_the_deadline() {
        let limiter = RedisLimiter::new(&format!(
            "redis://127.0.0.1:{}",
            super::super::test_support::free_port()
        ))
        .unwrap();
        let started = Instant::now();
        let result = limiter
            .try_check("k", quota(1, Duration::from_secs(1)))
            .await;
        assert!(result.is_err(), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_silent_redis_times_out_instead_of_stalling_the_request() {
        // Accepts connections and never says a word.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let limiter = RedisLimiter::with_timeout(
            &format!("redis://127.0.0.1:{port}"),
            Duration::from_millis(100),
        )
        .unwrap();
        let started = Instant::now();
        let result = limiter
            .try_check("k", quota(1, Duration::from_secs(1)))
            .await;
        assert!(result.is_err(), "{result:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
        silent.abort();
    }

    #[test]
    fn creating_a_limiter_outside_a_runtime_is_an_error_not_a_panic() {
        assert!(matches!(
            RedisLimiter::new("redis://127.0.0.1:6379"),
            Err(RedisLimitError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn a_bad_url_is_an_error_that_does_not_echo_it() {
        let err = RedisLimiter::new("http://user:hunter2@example").unwrap_err();
        assert!(matches!(err, RedisLimitError::InvalidUrl(_)));
        assert!(!err.to_string().contains("hunter2"));
    }
}
