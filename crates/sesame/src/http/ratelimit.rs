//! Which requests are rate limited, keyed how, and how a limit becomes an answer.
//!
//! Every sensitive endpoint is limited per client IP (IPv6 by /64, since one client can rotate
//! addresses inside its prefix) and per target (account name, email, user). A sign-in from a
//! device the account knows (a valid device token for that account, decided by the domain) is
//! limited per IP and per device instead of per account name: the account's bucket is what an
//! attacker exhausts, and it must not deny the owner's own device. Names and emails are
//! hashed before they become keys, so a shared Redis never holds them in clear. The algorithm and
//! the storage (in-process or Redis with fallback) live in [`crate::limits`].

use super::problem::ApiError;
use crate::limits::{Decision, Quota, RateLimiter};
use sesame_domain::device::DeviceId;
use sesame_domain::model::{Email, UserId};
use sesame_domain::AuthError;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;

/// The quotas, one per rule.
#[derive(Debug, Clone, Copy)]
pub struct RateRules {
    pub login_ip: Quota,
    pub login_account: Quota,
    pub register_ip: Quota,
    pub forgot_ip: Quota,
    pub forgot_email: Quota,
    pub resend_ip: Quota,
    pub resend_email: Quota,
    pub email_change_ip: Quota,
    pub email_change_user: Quota,
}

/// The limiter and its rules, shared by the handlers.
pub struct RateLimits {
    pub limiter: Arc<dyn RateLimiter>,
    pub rules: RateRules,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// The key subject for an IP: the address itself, or its /64 for IPv6.
#[must_use]
pub fn ip_subject(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

/// A key subject for a name or email: trimmed, lower-cased, hashed.
#[must_use]
pub fn name_subject(name: &str) -> String {
    let digest = Sha256::digest(name.trim().to_lowercase().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl RateLimits {
    /// Registration: per client IP.
    ///
    /// # Errors
    /// [`AuthError::TooManyAttempts`] when the quota is exhausted.
    pub async fn register(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        self.check(&[("register:ip", &ip_subject(ip), self.rules.register_ip)])
            .await
    }

    /// Login (and the token endpoint's password grant): per client IP, and per account name —
    /// or, from a device the account knows, per device (with the same quota).
    ///
    /// # Errors
    /// [`AuthError::TooManyAttempts`] when a quota is exhausted.
    pub async fn login(
        &self,
        ip: Option<IpAddr>,
        name: &str,
        known_device: Option<DeviceId>,
    ) -> Result<(), ApiError> {
        let r = &self.rules;
        let target = match known_device {
            Some(d) => ("login:device", d.hex()),
            None => ("login:account", name_subject(name)),
        };
        self.check(&[
            ("login:ip", &ip_subject(ip), r.login_ip),
            (target.0, &target.1, r.login_account),
        ])
        .await
    }

    /// A second-factor answer (completing a sign-in) or a step-up (a password or factor checked
    /// again): the same per-IP quota as a password, so an address guessing codes is throttled
    /// like one guessing passwords. The account's own pause
    /// (lockout) applies on top, in the domain.
    ///
    /// # Errors
    /// [`AuthError::TooManyAttempts`] when a quota is exhausted.
    pub async fn second_factor(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let r = &self.rules;
        self.check(&[("login:ip", &ip_subject(ip), r.login_ip)])
            .await
    }

    /// Verification resend: per client IP and per address.
    ///
    /// # Errors
    /// [`AuthError::TooManyAttempts`] when a quota is exhausted.
    pub async fn resend(&self, ip: Option<IpAddr>, email: &Email) -> Result<(), ApiError> {
        let r = &self.rules;
        self.check(&[
            ("resend:ip", &ip_subject(ip), r.resend_ip),
            (
                "resend:email",
                &name_subject(email.normalized()),
                r.resend_email,
            ),
        ])
        .await
    }

    /// Password-reset request: per client IP and per address.
    ///
    /// # Errors
    /// [`AuthError::TooManyAttempts`] when a quota is exhausted.
    pub async fn forgot(&self, ip: Option<IpAddr>, email: &Email) -> Result<(), ApiError> {
        let r = &self.rules;
        self.check(&[
            ("forgot:ip", &ip_subject(ip), r.forgot_ip),
            (
                "forgot:email",
                &name_subject(email.normalized()),
                r.forgot_email,
            ),
        ])
        .await
    }

    /// Email-change request: per client IP and per user.
    ///
    /// # Errors
    /// [`AuthError::TooManyAttempts`] when a quota is exhausted.
    pub async fn email_change(&self, ip: Option<IpAddr>, user: UserId) -> Result<(), ApiError> {
        let r = &self.rules;
        self.check(&[
            ("email_change:ip", &ip_subject(ip), r.email_change_ip),
            ("email_change:user", &user.to_string(), r.email_change_user),
        ])
        .await
    }

    /// Counts the request against every `(rule name, subject, quota)`; the first exhausted one
    /// answers 429 with `Retry-After`, the same answer a login lockout gives.
    ///
    /// # Errors
    /// [`AuthError::TooManyAttempts`] when a quota is exhausted.
    pub async fn check(&self, checks: &[(&str, &str, Quota)]) -> Result<(), ApiError> {
        for (rule, subject, quota) in checks {
            let key = format!("{rule}:{subject}");
            if let Decision::Limited { retry_after } = self.limiter.check(&key, *quota).await {
                tracing::info!(rule, "rate limit reached");
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                return Err(ApiError::Auth(AuthError::TooManyAttempts {
                    retry_after_secs: secs.max(1),
                }));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_prefix() {
        assert_eq!(
            ip_subject("2001:db8:1:2:aaaa::1".parse().ok()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            ip_subject("2001:db8:1:2:bbbb::9".parse().ok()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(ip_subject("192.0.2.7".parse().ok()), "192.0.2.7");
        assert_eq!(ip_subject(None), "unknown");
    }

    #[test]
    fn names_are_hashed_case_insensitively() {
        assert_eq!(
            name_subject(" Alice@Example.com "),
            name_subject("alice@example.com")
        );
        assert!(!name_subject("alice@example.com").contains("alice"));
    }
}
