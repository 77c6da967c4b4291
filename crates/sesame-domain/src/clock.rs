//! The one source of "now" for the domain, and [`Clock`]: time as an input for the rules that
//! depend on it (login pauses and their doubling, known-device token lifetimes, access-token
//! expiry, session and refresh-token expiry, the refresh grace window, emailed-token expiry, the
//! resend interval, mail retry times), so tests move time instead of sleeping.
//!
//! Three clocks: [`SystemClock`] (production), [`ManualClock`] (stands still; unit tests) and
//! [`ShiftedClock`] (the system clock plus a shift a test moves forward; a whole running server).
//! Production code reads [`now`] only through [`SystemClock`]: every record the services stamp
//! (audit entries, queued mail, exports) takes its time from the injected clock, and the stores
//! are told "now" by their callers. This module decides no rule.
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

/// The system clock plus a shift that only grows: time runs as usual, and a test jumps over a
/// wait with [`ShiftedClock::advance`]. For a running server, where a frozen clock would stop
/// work that waits on time (the outbox delivers what is due by now).
#[derive(Debug, Default)]
pub struct ShiftedClock(parking_lot::Mutex<chrono::Duration>);

impl ShiftedClock {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let mut shift = self.0.lock();
        *shift += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        (Utc::now() + *self.0.lock()).trunc_subsecs(3)
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
    fn a_shifted_clock_runs_ahead_of_the_system_clock_by_what_it_was_advanced() {
        let c = ShiftedClock::new();
        let before = now();
        assert!(c.now() >= before);
        c.advance(std::time::Duration::from_secs(3600));
        let ahead = c.now() - now();
        assert!(ahead > chrono::Duration::minutes(59) && ahead <= chrono::Duration::hours(1));
    }

    #[test]
    fn now_has_no_sub_millisecond_part() {
        let t = now();
        assert_eq!(t.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
