//! [`MemoryLimiter`]: GCRA state for one process, in a few mutex-guarded hash maps (shards, so
//! concurrent requests for different keys rarely wait on each other).
//!
//! Memory stays bounded: a stored arrival time in the past means exactly what an absent one
//! means, so such entries are swept (whenever a shard has seen as many calls as it holds keys,
//! which keeps sweeping amortised O(1)); and a shard never holds more than its share of
//! `max_keys`, evicting an arbitrary entry to admit a new key when full. Eviction forgets one
//! key's history, so an attacker able to fill the map can reset their own count; the cap is
//! there to make that cost memory-bounded rather than to make it impossible.
//!
//! Time comes from a [`MonotonicClock`] (the system's unless [`MemoryLimiter::with_clock`] says
//! otherwise), read in microseconds since the limiter was made.
//!
//! It does not coordinate with other processes: with several Sesame nodes each one allows the
//! full quota. That is what [`super::RedisLimiter`] is for.

use super::{gcra, Decision, Quota, RateLimiter};
use crate::monotonic::{MonotonicClock, SystemMonotonic};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

const SHARDS: usize = 16;
/// A shard sweeps after at least this many calls, even when it holds fewer keys.
const MIN_SWEEP_INTERVAL: usize = 256;
/// Default cap on tracked keys: with short keys, about 100 MiB at worst.
const DEFAULT_MAX_KEYS: usize = 1 << 20;

/// The in-process rate limiter.
#[derive(Debug)]
pub struct MemoryLimiter {
    shards: Box<[Mutex<Shard>]>,
    /// Randomly seeded per limiter, so nobody can aim many keys at one shard.
    hasher: std::hash::RandomState,
    clock: Arc<dyn MonotonicClock>,
    /// The clock's reading when the limiter was made: arrival times count from here.
    epoch: Instant,
    max_keys_per_shard: usize,
}

#[derive(Debug, Default)]
struct Shard {
    /// Theoretical arrival time per key, in microseconds since `epoch`.
    tats: HashMap<String, u64>,
    calls_since_sweep: usize,
}

impl Shard {
    fn sweep(&mut self, now: u64) {
        self.tats.retain(|_, tat| *tat > now);
        self.calls_since_sweep = 0;
    }
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLimiter {
    /// A limiter tracking at most about a million keys.
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// A limiter tracking at most `max_keys` keys (rounded up to a multiple of its shard count).
    #[must_use]
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: std::hash::RandomState::new(),
            clock: Arc::new(SystemMonotonic),
            epoch: SystemMonotonic.now(),
            max_keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
        }
    }

    /// The same limiter reading time from `clock` (tests pass a
    /// [`crate::monotonic::ManualMonotonic`]). For a fresh limiter: arrival times already
    /// stored count from the previous clock's epoch.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn MonotonicClock>) -> Self {
        self.epoch = clock.now();
        self.clock = clock;
        self
    }

    /// How many keys are tracked right now (including idle ones not yet swept).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).tats.len()).sum()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The GCRA step for `key` at `now` (microseconds since this limiter was made).
    pub(crate) fn check_at(&self, key: &str, quota: Quota, now: u64) -> Decision {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        let mut shard = lock(&self.shards[index]);
        shard.calls_since_sweep += 1;
        if shard.calls_since_sweep >= shard.tats.len().max(MIN_SWEEP_INTERVAL) {
            shard.sweep(now);
        }
        let tat = shard.tats.get(key).copied();
        let (decision, new_tat) = gcra(tat, now, quota);
        if let Some(new_tat) = new_tat {
            if let Some(stored) = shard.tats.get_mut(key) {
                *stored = new_tat;
            } else {
                if shard.tats.len() >= self.max_keys_per_shard {
                    shard.sweep(now);
                }
                if shard.tats.len() >= self.max_keys_per_shard {
                    let victim = shard.tats.keys().next().cloned();
                    if let Some(victim) = victim {
                        shard.tats.remove(&victim);
                    }
                }
                shard.tats.insert(key.to_owned(), new_tat);
            }
        }
        decision
    }

    fn now(&self) -> u64 {
        let elapsed = self.clock.now().saturating_duration_since(self.epoch);
        u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
    }
}

/// The maps hold plain numbers, consistent after any panic, so a poisoned lock is still usable.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait::async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Decision {
        self.check_at(key, quota, self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monotonic::ManualMonotonic;
    use std::sync::Arc;
    use std::time::Duration;

    fn quota(limit: u32, period: Duration) -> Quota {
        Quota::new(limit, period).unwrap()
    }

    fn on_a_manual_clock() -> (MemoryLimiter, Arc<ManualMonotonic>) {
        let clock = Arc::new(ManualMonotonic::new());
        let limiter = MemoryLimiter::new().with_clock(Arc::clone(&clock) as _);
        (limiter, clock)
    }

    #[tokio::test]
    async fn a_burst_of_exactly_limit_is_allowed_then_limited_with_a_sane_retry_after() {
        let limiter = MemoryLimiter::new();
        let q = quota(5, Duration::from_secs(60));
        for expected in (0..5).rev() {
            assert_eq!(
                limiter.check("login:alice", q).await,
                Decision::Allowed {
                    remaining: expected
                }
            );
        }
        match limiter.check("login:alice", q).await {
            // One slot (60 s / 5) after the burst, less the little time the test has taken.
            Decision::Limited { retry_after } => assert!(
                retry_after <= Duration::from_secs(12) && retry_after > Duration::from_secs(11),
                "{retry_after:?}"
            ),
            d @ Decision::Allowed { .. } => panic!("sixth request of a burst of 5: {d:?}"),
        }
    }

    #[tokio::test]
    async fn a_limited_key_is_allowed_again_once_retry_after_has_passed() {
        let (limiter, clock) = on_a_manual_clock();
        let q = quota(3, Duration::from_millis(150));
        for _ in 0..3 {
            assert!(limiter.check("k", q).await.is_allowed());
        }
        let Decision::Limited { retry_after } = limiter.check("k", q).await else {
            panic!("fourth request of a burst of 3 was allowed");
        };
        assert!(retry_after <= Duration::from_millis(50));
        clock.advance(retry_after - Duration::from_micros(1));
        assert!(!limiter.check("k", q).await.is_allowed(), "one µs early");
        clock.advance(Duration::from_micros(1));
        assert!(limiter.check("k", q).await.is_allowed());
    }

    #[tokio::test]
    async fn a_spent_burst_drips_back_one_request_per_emission_interval_up_to_the_limit() {
        let (limiter, clock) = on_a_manual_clock();
        // 3 per 150 ms: the emission interval is 50 ms.
        let q = quota(3, Duration::from_millis(150));
        for _ in 0..3 {
            assert!(limiter.check("k", q).await.is_allowed());
        }
        assert_eq!(
            limiter.check("k", q).await,
            Decision::Limited {
                retry_after: Duration::from_millis(50)
            }
        );
        clock.advance(Duration::from_millis(20));
        assert_eq!(
            limiter.check("k", q).await,
            Decision::Limited {
                retry_after: Duration::from_millis(30)
            },
            "a refused request does not push the slot back"
        );
        clock.advance(Duration::from_millis(30));
        assert_eq!(
            limiter.check("k", q).await,
            Decision::Allowed { remaining: 0 },
            "one interval later: one request"
        );
        assert!(!limiter.check("k", q).await.is_allowed());
        clock.advance(Duration::from_millis(100));
        assert_eq!(
            limiter.check("k", q).await,
            Decision::Allowed { remaining: 1 },
            "two intervals later: two requests"
        );
        // Idle for an hour: one full burst, no more.
        clock.advance(Duration::from_secs(3600));
        let mut allowed = 0;
        for _ in 0..10 {
            allowed += usize::from(limiter.check("k", q).await.is_allowed());
        }
        assert_eq!(allowed, 3);
    }

    #[tokio::test]
    async fn different_keys_are_independent() {
        let limiter = MemoryLimiter::new();
        let q = quota(2, Duration::from_secs(60));
        for key in ["ip:192.0.2.1", "ip:192.0.2.2"] {
            assert!(limiter.check(key, q).await.is_allowed());
            assert!(limiter.check(key, q).await.is_allowed());
            assert!(!limiter.check(key, q).await.is_allowed());
        }
        assert!(limiter.check("ip:192.0.2.3", q).await.is_allowed());
    }

    #[test]
    fn concurrent_callers_share_one_burst() {
        let limiter = Arc::new(MemoryLimiter::new());
        let q = quota(50, Duration::from_secs(3600));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|_| limiter.check_at("shared", q, 0).is_allowed())
                        .count()
                })
            })
            .collect();
        let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(allowed, 50);
    }

    #[test]
    fn idle_keys_are_swept() {
        let limiter = MemoryLimiter::new();
        let q = quota(1, Duration::from_secs(1));
        for i in 0..10_000 {
            limiter.check_at(&format!("spray:{i}"), q, 0);
        }
        assert_eq!(limiter.len(), 10_000);
        // Two seconds later every sprayed key is idle; ordinary traffic triggers the sweeps.
        let later = 2_000_000;
        for i in 0..40_000 {
            limiter.check_at(&format!("user:{}", i % 1_000), q, later);
        }
        assert!(limiter.len() <= 1_000, "{} keys left", limiter.len());
    }

    #[test]
    fn a_key_spray_cannot_grow_memory_past_the_cap() {
        let limiter = MemoryLimiter::with_max_keys(160);
        let q = quota(1, Duration::from_secs(3600));
        for i in 0..10_000 {
            // Every key stays live for an hour, so only the cap can bound the map.
            assert!(limiter.check_at(&format!("spray:{i}"), q, 0).is_allowed());
        }
        assert!(limiter.len() <= 160, "{} keys tracked", limiter.len());
    }
}
