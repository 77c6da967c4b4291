//! [`MonotonicClock`]: elapsed time as an input for the server's in-process timers (the rate
//! limiters' GCRA arrival times, the Redis fallback's probe schedule, the session cache's time to
//! live), so tests advance a [`ManualMonotonic`] instead of sleeping.
//!
//! It is not the domain's [`sesame_domain::clock::Clock`], on purpose: that one is wall-clock
//! time at millisecond precision, for timestamps that are stored and compared across processes.
//! These timers never leave the process, need microseconds (a quota may allow one request per
//! microsecond) and must not move when the wall clock is stepped (a step back would stretch
//! every pause and every cache entry), so they read [`Instant`]. It does not schedule anything:
//! Tokio's timers (timeouts, intervals) stay on Tokio's clock.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where an in-process timer reads "now". Only differences between two readings mean anything.
pub trait MonotonicClock: Send + Sync + Debug {
    fn now(&self) -> Instant;
}

/// [`Instant::now`]: what the server runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemMonotonic;

impl MonotonicClock for SystemMonotonic {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until told to move: for tests of time-based rules.
#[derive(Debug)]
pub struct ManualMonotonic {
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl Default for ManualMonotonic {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualMonotonic {
    /// A clock standing at the moment it was made.
    #[must_use]
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward by `by` (not past the end of [`Instant`]'s range, so reading it
    /// never overflows).
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self
            .elapsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = elapsed.saturating_add(by);
        if self.start.checked_add(next).is_some() {
            *elapsed = next;
        }
    }
}

impl MonotonicClock for ManualMonotonic {
    fn now(&self) -> Instant {
        let elapsed = *self
            .elapsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // `advance` keeps `start + elapsed` inside Instant's range.
        self.start.checked_add(elapsed).unwrap_or(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualMonotonic::new();
        let t0 = clock.now();
        std::thread::yield_now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_micros(1_500));
        assert_eq!(clock.now() - t0, Duration::from_micros(1_500));
    }
}
