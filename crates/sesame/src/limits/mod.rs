//! Rate limiting: how many requests a key (an IP, an account, an email address…) may make,
//! decided by GCRA, the generic cell rate algorithm.
//!
//! This module owns the algorithm ([`Quota`], [`Decision`], the pure [`gcra`] step) and the
//! limiters: [`MemoryLimiter`] (one process) and [`FallbackLimiter`] implement [`RateLimiter`];
//! the latter asks [`RedisLimiter`] (every Sesame node sharing one Redis), which has no failure
//! policy of its own, and when Redis is down falls back to its own `MemoryLimiter` or refuses,
//! as its [`FailMode`] says.
//!
//! It does not choose keys or quotas, does not know about HTTP (no `Retry-After`, no 429) and
//! does not resolve client addresses ([`crate::http::client_ip`] does); the caller wires those.
//!
//! # The algorithm
//! A quota of `limit` per `period` has an emission interval `T = period / limit` and a tolerance
//! `tau = (limit - 1) * T` (that is `period - T`, exactly when `T` divides `period`; taken this
//! way the burst stays exactly `limit` despite rounding). Each key keeps one theoretical arrival
//! time `tat`. A request at `now` is allowed iff `now >= tat - tau`, and then
//! `tat = max(tat, now) + T`; a refused request changes nothing and may retry after
//! `tat - tau - now`.
//!
//! What that guarantees: at most `limit` requests in any burst (any span shorter than `T`), and
//! at most `limit + floor(d / T)` in any span of length `d` — a full bucket plus what drips back
//! in meanwhile. A fixed-window counter lets `2 * limit` through in an instant around a window
//! edge; GCRA does not. It is a token bucket, not a sliding window: a client that spends its
//! burst and then keeps to the rate can make up to `2 * limit - 1` requests within one `period`.

mod fallback;
mod memory;
mod redis;
#[cfg(test)]
mod test_support;

pub use fallback::{FailMode, FallbackLimiter, DEFAULT_PROBE_INTERVAL};
pub use memory::MemoryLimiter;
pub use redis::{RedisLimitError, RedisLimiter, DEFAULT_REDIS_TIMEOUT, REDIS_KEY_PREFIX};

use std::time::Duration;

/// "`limit` requests per `period`", with bursts of up to `limit`. Built by [`Quota::new`], so a
/// quota in hand always has a usable emission interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    limit: u32,
    period: Duration,
}

/// Why a quota cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("a rate limit must allow at least 1 request per period")]
    ZeroLimit,
    #[error("the period of a rate limit must be at least {limit} µs, 1 µs per request")]
    PeriodTooShort { limit: u32 },
    #[error("the period of a rate limit must be at most 366 days")]
    PeriodTooLong,
}

/// The longest period accepted: keeps every microsecond sum far below `u64::MAX` and below
/// 2^53, where the Lua script's doubles stop being exact.
const MAX_PERIOD: Duration = Duration::from_secs(366 * 86_400);

impl Quota {
    /// `limit` requests per `period`.
    ///
    /// # Errors
    /// A zero limit, a period longer than 366 days, or a period so short that one request gets
    /// less than a microsecond (the resolution of the limiters' clocks).
    pub fn new(limit: u32, period: Duration) -> Result<Self, QuotaError> {
        if limit == 0 {
            return Err(QuotaError::ZeroLimit);
        }
        if period > MAX_PERIOD {
            return Err(QuotaError::PeriodTooLong);
        }
        if period.as_micros() < u128::from(limit) {
            return Err(QuotaError::PeriodTooShort { limit });
        }
        Ok(Self { limit, period })
    }

    #[must_use]
    pub fn limit(&self) -> u32 {
        self.limit
    }

    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }

    /// `T`, in microseconds: at least 1 by construction.
    pub(crate) fn emission_us(&self) -> u64 {
        // period <= MAX_PERIOD, so the microseconds fit in u64.
        let period_us = u64::try_from(self.period.as_micros()).unwrap_or(u64::MAX);
        period_us / u64::from(self.limit)
    }

    /// `tau = (limit - 1) * T`, in microseconds.
    pub(crate) fn tolerance_us(&self) -> u64 {
        u64::from(self.limit - 1).saturating_mul(self.emission_us())
    }
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; `remaining` more requests would be allowed right now.
    Allowed { remaining: u32 },
    /// Refused; the next request can succeed after `retry_after`.
    Limited { retry_after: Duration },
}

impl Decision {
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// Decides whether the request identified by `key` may go ahead under `quota`. Counting happens
/// inside `check`: an allowed request has been spent.
///
/// Infallible on purpose: an implementation that can fail (Redis) must decide itself what a
/// failure means, so a handler cannot forget to.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, key: &str, quota: Quota) -> Decision;
}

/// One GCRA step for a key whose theoretical arrival time is `tat` (`None`: never seen, or idle
/// long enough that it makes no difference), at time `now`; both in microseconds on the same
/// clock. Returns the decision and the `tat` to store (unchanged when limited).
///
/// Pure, so the algorithm is tested with a simulated clock; the Redis script is the same
/// computation in Lua.
#[must_use]
pub fn gcra(tat: Option<u64>, now: u64, quota: Quota) -> (Decision, Option<u64>) {
    let t = quota.emission_us();
    let tau = quota.tolerance_us();
    let tat_or_now = tat.map_or(now, |tat| tat.max(now));
    let allow_at = tat_or_now.saturating_sub(tau);
    if now < allow_at {
        let retry_after = Duration::from_micros(allow_at - now);
        return (Decision::Limited { retry_after }, tat);
    }
    let new_tat = tat_or_now.saturating_add(t);
    // Further requests allowed at `now`: k such that new_tat + (k - 1) * T <= now + tau.
    let remaining = (now + tau)
        .checked_sub(new_tat)
        .map_or(0, |slack| slack / t + 1);
    let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
    (Decision::Allowed { remaining }, Some(new_tat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit: u32, period_ms: u64) -> Quota {
        Quota::new(limit, Duration::from_millis(period_ms)).unwrap()
    }

    /// Runs requests at the given microsecond times against one key; returns the allowed times.
    fn run(quota: Quota, times: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let mut tat = None;
        let mut allowed = Vec::new();
        for now in times {
            let (decision, next) = gcra(tat, now, quota);
            tat = next;
            if decision.is_allowed() {
                allowed.push(now);
            }
        }
        allowed
    }

    #[test]
    fn a_quota_needs_a_request_and_a_usable_period() {
        assert_eq!(
            Quota::new(0, Duration::from_secs(1)),
            Err(QuotaError::ZeroLimit)
        );
        assert_eq!(
            Quota::new(10, Duration::from_micros(9)),
            Err(QuotaError::PeriodTooShort { limit: 10 })
        );
        assert_eq!(
            Quota::new(1, Duration::from_secs(367 * 86_400)),
            Err(QuotaError::PeriodTooLong)
        );
        assert!(Quota::new(10, Duration::from_micros(10)).is_ok());
    }

    #[test]
    fn a_fresh_key_gets_a_burst_of_exactly_limit_with_a_countdown() {
        let q = quota(5, 60_000);
        let mut tat = None;
        for expected in (0..5).rev() {
            let (d, next) = gcra(tat, 1_000, q);
            assert_eq!(
                d,
                Decision::Allowed {
                    remaining: expected
                }
            );
            tat = next;
        }
        let (d, next) = gcra(tat, 1_000, q);
        assert_eq!(next, tat, "a refused request changes nothing");
        // The next slot opens one emission interval (12 s) after the burst.
        assert_eq!(
            d,
            Decision::Limited {
                retry_after: Duration::from_secs(12)
            }
        );
    }

    #[test]
    fn rounding_never_adds_a_request_to_the_burst() {
        // 1 s / 3 and 1 s / 7 do not divide evenly in microseconds.
        for limit in [1, 3, 7, 1000] {
            let allowed = run(
                quota(limit, 1_000),
                std::iter::repeat_n(0, 2 * limit as usize),
            );
            assert_eq!(allowed.len(), limit as usize, "limit {limit}");
        }
    }

    #[test]
    fn a_limited_key_is_allowed_again_exactly_at_retry_after() {
        let q = quota(2, 1_000);
        let (_, tat) = gcra(None, 0, q);
        let (_, tat) = gcra(tat, 0, q);
        let (d, tat) = gcra(tat, 0, q);
        let Decision::Limited { retry_after } = d else {
            panic!("third request in a burst of 2 was allowed");
        };
        let at = u64::try_from(retry_after.as_micros()).unwrap();
        assert!(!gcra(tat, at - 1, q).0.is_allowed());
        assert!(gcra(tat, at, q).0.is_allowed());
    }

    #[test]
    fn an_idle_key_refills_to_a_full_burst_and_no_further() {
        let q = quota(4, 1_000);
        let mut tat = None;
        for _ in 0..4 {
            tat = gcra(tat, 0, q).1;
        }
        // Ten periods later the stored tat is long past: exactly one fresh burst, not ten.
        let mut allowed = 0;
        for _ in 0..10 {
            let (d, next) = gcra(tat, 10_000_000, q);
            tat = next;
            allowed += usize::from(d.is_allowed());
        }
        assert_eq!(allowed, 4);
    }

    #[test]
    fn a_burst_straddling_a_window_edge_cannot_double_up() {
        // 10 per second. A fixed-window counter allows 10 at 0.999 s and 10 more at 1.001 s.
        let q = quota(10, 1_000);
        let times = std::iter::repeat_n(999_000, 10).chain(std::iter::repeat_n(1_001_000, 10));
        let allowed = run(q, times);
        // 10 in the burst, and in 2 ms nothing drips back (T = 100 ms).
        assert_eq!(allowed.len(), 10);
    }

    #[test]
    fn no_span_ever_holds_more_than_a_burst_plus_the_drip() {
        // Deterministic pseudo-random arrivals, dense enough to hit the limit constantly.
        for (limit, period_ms) in [(1, 100), (3, 1_000), (10, 1_000), (7, 50)] {
            let q = quota(limit, period_ms);
            let t = q.emission_us();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut now = 0;
            let times: Vec<u64> = (0..5_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    now += x % (t / 2 + 1);
                    now
                })
                .collect();
            let allowed = run(q, times);
            assert!(allowed.len() > 100, "the test must actually admit traffic");
            let period_us = u64::try_from(q.period().as_micros()).unwrap();
            for (i, &start) in allowed.iter().enumerate() {
                for span in [0, t / 2, t, period_us] {
                    let n = allowed[i..]
                        .iter()
                        .take_while(|&&a| a <= start + span)
                        .count();
                    let bound = limit as usize + usize::try_from(span / t).unwrap();
                    assert!(
                        n <= bound,
                        "limit {limit}: {n} allowed within {span} µs (bound {bound})"
                    );
                }
            }
        }
    }

    #[test]
    fn the_long_run_rate_is_the_quota() {
        // Hammer one key every millisecond for 100 periods of 1 s at 10 per second.
        let q = quota(10, 1_000);
        let allowed = run(q, (0..100_000).map(|ms| ms * 1_000));
        // A burst of 10, then one every 100 ms: 10 + 999 (the last slot is at 99.9 s).
        assert_eq!(allowed.len(), 10 + 999);
    }
}
