//! The one source of "now" for the domain, and [`Clock`]: time as an input for the rules that
//! depend on it (login pauses, known-device token lifetimes), so tests move time instead of
//! sleeping.
//!
//! Timestamps are truncated to whole milliseconds so that every storage backend (SQLite keeps
//! integer milliseconds, PostgreSQL keeps microseconds) round-trips them to the same value.

use chrono::{DateTime, SubsecRound, Utc};

/// A UTC timestamp at millisecond precision.
pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to milliseconds.
#[must_use]
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(3)
}

/// Where a time-dependent rule reads "now".
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock, truncated to milliseconds like [`now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

/// A clock that stands still until told to move: for tests of time-dependent rules.
#[derive(Debug)]
pub struct ManualClock(parking_lot::Mutex<Timestamp>);

impl ManualClock {
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        Self(parking_lot::Mutex::new(start.trunc_subsecs(3)))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let mut t = self.0.lock();
        *t += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new(now());
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(std::time::Duration::from_secs(90));
        assert_eq!((c.now() - t0).num_seconds(), 90);
    }

    #[test]
    fn now_has_no_sub_millisecond_part() {
        let t = now();
        assert_eq!(t.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
