//! The one source of "now" for the domain.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_no_sub_millisecond_part() {
        let t = now();
        assert_eq!(t.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
