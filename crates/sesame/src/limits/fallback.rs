//! [`FallbackLimiter`]: Redis while it answers, a policy ([`FailMode`]) while it does not.
//!
//! When a Redis check fails or times out the limiter marks Redis down, logs one warning, and
//! answers by the policy: from its own [`MemoryLimiter`] (fail-open: each node then enforces the
//! quota separately, so a cluster of N nodes allows up to N times it) or by refusing
//! (fail-closed). While Redis is down no request waits for it: once per probe interval a
//! background task sends it a `PING`, and the first answer switches back and logs the recovery.
//! So an outage — refused, or frozen so that every call waits for the timeout — costs requests
//! no latency after the checks in flight when it began (each of those waits at most the Redis
//! timeout, 250 ms by default). Logging is per change of state, never per request.
//!
//! The probe schedule reads a [`MonotonicClock`] (the system's unless
//! [`FallbackLimiter::with_clock`] says otherwise); the Redis timeout stays on Tokio's timer.
//!
//! It does not carry counts across the switch: the in-process state and the Redis state are
//! separate, so a key may get a fresh burst on each side of an outage.

use super::{Decision, MemoryLimiter, Quota, RateLimiter, RedisLimiter};
use crate::monotonic::{MonotonicClock, SystemMonotonic};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Default time between attempts to reach a Redis that is down.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What to answer while Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Limit with the node's own in-process limiter. Availability first: the default.
    #[default]
    Open,
    /// Refuse every request, with a `retry_after` of one probe interval (Redis will have been
    /// tried again by then).
    Closed,
}

#[derive(Debug, Clone, Copy)]
enum Health {
    Up,
    Down { next_probe: Instant },
}

/// Redis with a local fallback. See the module documentation.
#[derive(Debug)]
pub struct FallbackLimiter {
    redis: RedisLimiter,
    memory: MemoryLimiter,
    mode: FailMode,
    probe_interval: Duration,
    clock: Arc<dyn MonotonicClock>,
    health: Arc<Mutex<Health>>,
}

impl FallbackLimiter {
    /// Starts out trusting Redis; the first failure switches to `mode`.
    #[must_use]
    pub fn new(redis: RedisLimiter, memory: MemoryLimiter, mode: FailMode) -> Self {
        Self {
            redis,
            memory,
            mode,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            clock: Arc::new(SystemMonotonic),
            health: Arc::new(Mutex::new(Health::Up)),
        }
    }

    /// How often to try a Redis that is down (default [`DEFAULT_PROBE_INTERVAL`]).
    #[must_use]
    pub fn with_probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Reads the probe schedule from `clock` (tests pass a
    /// [`crate::monotonic::ManualMonotonic`]). The in-process limiter keeps its own clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn MonotonicClock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether the last word from Redis was an answer (for readiness checks and metrics).
    #[must_use]
    pub fn redis_is_up(&self) -> bool {
        matches!(self.health(), Health::Up)
    }

    fn health(&self) -> Health {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when this request should ask Redis: only while it is up. While it is down, the
    /// first request after each probe interval starts a background probe and answers without
    /// Redis like the others.
    fn should_ask_redis(&self) -> bool {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        match *health {
            Health::Up => true,
            Health::Down { next_probe } => {
                let now = self.clock.now();
                if now >= next_probe {
                    *health = Health::Down {
                        next_probe: now + self.probe_interval,
                    };
                    self.spawn_probe();
                }
                false
            }
        }
    }

    /// Pings Redis from a task of its own; an answer marks it up.
    fn spawn_probe(&self) {
        let redis = self.redis.clone();
        let health = Arc::clone(&self.health);
        tokio::spawn(async move {
            match redis.try_ping().await {
                Ok(()) => mark_up(&health),
                Err(error) => {
                    tracing::debug!(error = %error, "Redis rate limiter still unavailable");
                }
            }
        });
    }

    fn mark_up(&self) {
        mark_up(&self.health);
    }

    fn mark_down(&self, error: &super::RedisLimitError) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        match *health {
            Health::Up => {
                *health = Health::Down {
                    next_probe: self.clock.now() + self.probe_interval,
                };
                let policy = match self.mode {
                    FailMode::Open => "limiting with each node's own in-process limiter",
                    FailMode::Closed => "refusing rate-limited requests",
                };
                tracing::warn!(
                    error = %error,
                    error_debug = ?error,
                    policy,
                    "Redis rate limiter unavailable"
                );
            }
            Health::Down { .. } => {
                tracing::debug!(error = %error, "Redis rate limiter still unavailable");
            }
        }
    }

    async fn without_redis(&self, key: &str, quota: Quota) -> Decision {
        match self.mode {
            FailMode::Open => self.memory.check(key, quota).await,
            FailMode::Closed => Decision::Limited {
                retry_after: self.probe_interval,
            },
        }
    }
}

fn mark_up(health: &Mutex<Health>) {
    let mut health = health.lock().unwrap_or_else(PoisonError::into_inner);
    if let Health::Down { .. } = *health {
        *health = Health::Up;
        tracing::info!("Redis answers again: rate limits are shared across nodes again");
    }
}

#[async_trait::async_trait]
impl RateLimiter for FallbackLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Decision {
        if !self.should_ask_redis() {
            return self.without_redis(key, quota).await;
        }
        match self.redis.try_check(key, quota).await {
            Ok(decision) => {
                self.mark_up();
                decision
            }
            Err(error) => {
                self.mark_down(&error);
                self.without_redis(key, quota).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{free_port, wait_until, RedisServer};
    use super::*;
    use crate::monotonic::ManualMonotonic;

    const PROBE_INTERVAL: Duration = Duration::from_millis(50);

    fn quota(limit: u32, period: Duration) -> Quota {
        Quota::new(limit, period).unwrap()
    }

    /// A limiter whose probe schedule runs on a manual clock, probing every 50 ms of it.
    fn on_a_manual_clock(
        redis: RedisLimiter,
        mode: FailMode,
    ) -> (FallbackLimiter, Arc<ManualMonotonic>) {
        let clock = Arc::new(ManualMonotonic::new());
        let limiter = FallbackLimiter::new(redis, MemoryLimiter::new(), mode)
            .with_probe_interval(PROBE_INTERVAL)
            .with_clock(Arc::clone(&clock) as _);
        (limiter, clock)
    }

    fn pointed_at_nothing(mode: FailMode) -> (FallbackLimiter, u16, Arc<ManualMonotonic>) {
        let port = free_port();
        let redis = RedisLimiter::new(&format!("redis://127.0.0.1:{port}")).unwrap();
        let (limiter, clock) = on_a_manual_clock(redis, mode);
        (limiter, port, clock)
    }

    /// Polls until the limiter is back on Redis, moving its clock one probe interval per round
    /// so that each round starts a probe.
    async fn wait_until_redis_is_up(limiter: &FallbackLimiter, clock: &ManualMonotonic, q: Quota) {
        wait_until(Duration::from_secs(10), || async {
            clock.advance(PROBE_INTERVAL);
            limiter.check("probe", q).await;
            limiter.redis_is_up()
        })
        .await;
    }

    fn next_probe(limiter: &FallbackLimiter) -> Option<Instant> {
        match limiter.health() {
            Health::Up => None,
            Health::Down { next_probe } => Some(next_probe),
        }
    }

    #[tokio::test]
    async fn a_down_redis_is_probed_once_per_probe_interval_not_per_request() {
        let (limiter, _, clock) = pointed_at_nothing(FailMode::Open);
        let q = quota(1_000, Duration::from_secs(60));
        let found_down = clock.now();
        limiter.check("k", q).await;
        assert_eq!(next_probe(&limiter), Some(found_down + PROBE_INTERVAL));

        clock.advance(PROBE_INTERVAL - Duration::from_micros(1));
        for _ in 0..10 {
            limiter.check("k", q).await;
        }
        assert_eq!(
            next_probe(&limiter),
            Some(found_down + PROBE_INTERVAL),
            "no probe before the interval is over"
        );

        clock.advance(Duration::from_micros(1));
        let due = clock.now();
        for _ in 0..10 {
            limiter.check("k", q).await;
        }
        assert_eq!(
            next_probe(&limiter),
            Some(due + PROBE_INTERVAL),
            "the first request once due starts one probe, and the next is one interval away"
        );
    }

    #[tokio::test]
    async fn fail_open_keeps_limiting_from_memory_while_redis_is_unreachable() {
        let (limiter, _, _) = pointed_at_nothing(FailMode::Open);
        let q = quota(3, Duration::from_secs(60));
        let started = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("k", q).await.is_allowed());
        }
        assert!(!limiter.check("k", q).await.is_allowed(), "memory enforces");
        assert!(limiter.check("other", q).await.is_allowed());
        assert!(!limiter.redis_is_up());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// Log lines written while `f` runs (on this thread: `tokio::test` runs on one).
    async fn logs_of<F: std::future::Future<Output = ()>>(f: F) -> String {
        use std::sync::Arc;
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // With a single registered dispatcher, tracing-core caches a call site's interest from
        // the thread that reaches it first; a sibling test's thread without a subscriber would
        // cache "never" (tokio-rs/tracing#3611). A second live dispatcher forces the general
        // path, which asks every dispatcher.
        let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let guard = tracing::subscriber::set_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
        f.await;
        drop(guard);
        drop(second);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn an_outage_and_its_end_are_logged_once_not_per_request() {
        let (limiter, port, clock) = pointed_at_nothing(FailMode::Open);
        let q = quota(1_000, Duration::from_secs(60));
        let logs = logs_of(async {
            // 200 ms of requests: four probe intervals, so failed probes too.
            for _ in 0..20 {
                limiter.check("k", q).await;
                clock.advance(Duration::from_millis(10));
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert_eq!(logs.matches("WARN").count(), 1, "{logs}");
        assert!(logs.contains("Redis rate limiter unavailable"), "{logs}");

        let _server = RedisServer::start(port).await;
        let logs = logs_of(async {
            wait_until_redis_is_up(&limiter, &clock, q).await;
            for _ in 0..20 {
                limiter.check("k", q).await;
            }
        })
        .await;
        assert_eq!(logs.matches("INFO").count(), 1, "{logs}");
        assert!(!logs.contains("WARN"), "{logs}");
    }

    /// A frozen Redis (SIGSTOP: connections accepted, nothing answered) costs the checks in
    /// flight when it froze one timeout each, and no later check waits for it — also not the
    /// ones that come due for a probe (issue 10, item 6: each probe used to add the 250 ms
    /// timeout to the request that made it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frozen_redis_adds_no_latency_after_it_is_found_down() {
        let port = free_port();
        let server = RedisServer::start(port).await;
        let timeout = Duration::from_millis(250);
        let (limiter, clock) = on_a_manual_clock(
            RedisLimiter::with_timeout(&server.url, timeout).unwrap(),
            FailMode::Open,
        );
        let q = quota(1_000, Duration::from_secs(60));
        assert!(limiter.check("k", q).await.is_allowed());
        assert!(limiter.redis_is_up());

        server.signal("STOP");
        limiter.check("k", q).await;
        assert!(!limiter.redis_is_up(), "the first check finds Redis frozen");
        let mut slowest = Duration::ZERO;
        // 600 ms of the limiter's clock: a probe comes due every third check.
        for _ in 0..30 {
            let started = Instant::now();
            assert!(limiter.check("k", q).await.is_allowed());
            slowest = slowest.max(started.elapsed());
            clock.advance(Duration::from_millis(20));
        }
        assert!(
            slowest < timeout / 2,
            "a check waited {slowest:?} for a frozen Redis (timeout {timeout:?})"
        );
        assert!(!limiter.redis_is_up());

        server.signal("CONT");
        wait_until_redis_is_up(&limiter, &clock, q).await;
    }

    #[tokio::test]
    async fn fail_closed_refuses_while_redis_is_unreachable() {
        let (limiter, _, _) = pointed_at_nothing(FailMode::Closed);
        let q = quota(1_000, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(
                limiter.check("k", q).await,
                Decision::Limited {
                    retry_after: Duration::from_millis(50)
                }
            );
        }
        assert!(!limiter.redis_is_up());
    }

    #[tokio::test]
    async fn the_limiter_returns_to_redis_when_it_comes_back() {
        let (limiter, port, clock) = pointed_at_nothing(FailMode::Open);
        let q = quota(3, Duration::from_secs(60));
        assert!(limiter.check("before", q).await.is_allowed());
        assert!(!limiter.redis_is_up());

        let server = RedisServer::start(port).await;
        wait_until_redis_is_up(&limiter, &clock, q).await;

        // A fresh key's burst is now counted in that Redis: a separate node sees it spent.
        for _ in 0..3 {
            assert!(limiter.check("after", q).await.is_allowed());
        }
        let other_node = RedisLimiter::new(&server.url).unwrap();
        assert!(!other_node.try_check("after", q).await.unwrap().is_allowed());
        let client = redis::Client::open(server.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let tat: Option<u64> = redis::cmd("GET")
            .arg(other_node.redis_key("after"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(tat.is_some(), "the key lives in the restarted Redis");
        drop(server);
    }

    #[tokio::test]
    async fn the_limiter_falls_back_when_redis_dies_and_returns_when_it_restarts() {
        let port = free_port();
        let server = RedisServer::start(port).await;
        let (limiter, clock) =
            on_a_manual_clock(RedisLimiter::new(&server.url).unwrap(), FailMode::Open);
        let q = quota(1_000, Duration::from_secs(60));
        assert!(limiter.check("k", q).await.is_allowed());
        assert!(limiter.redis_is_up());

        drop(server);
        wait_until(Duration::from_secs(10), || async {
            assert!(limiter.check("k", q).await.is_allowed(), "fail-open");
            !limiter.redis_is_up()
        })
        .await;

        let _server = RedisServer::start(port).await;
        wait_until(Duration::from_secs(10), || async {
            clock.advance(PROBE_INTERVAL);
            assert!(limiter.check("k", q).await.is_allowed());
            limiter.redis_is_up()
        })
        .await;
    }
}
