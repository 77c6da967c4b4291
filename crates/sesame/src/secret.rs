//! [`Secret`]: a setting that must never reach a log. It lives apart from `config` so that the
//! layers a configuration is built from (the HTTP edge holds the metrics token) can name it
//! without importing the configuration itself.
//!
//! It only hides a value; where secrets come from and how they are checked is `config`'s job.

use std::fmt;

/// A secret string: `Debug` never shows it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s: Secret = "super-secret-value".parse().unwrap();
        assert_eq!(format!("{s:?}"), "***");
    }
}
