//! Progressive sign-in pauses: the settings, the key each streak of failures is counted under,
//! and the rule that counts a failure and pauses the key (emailing the owner when their
//! account's shared key pauses).
//!
//! Used by [`super::SignIn`] (passwords at sign-in) and [`super::Account`] (re-entries of the
//! current password). This module decides nothing about whether an attempt is allowed beyond
//! reading the pause; it never locks an account permanently and never touches the rate limiter.

use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::mail::{AccountLocked, Lifetime, OutboundMail};
use crate::model::{ClientInfo, UserId};
use crate::store::{LockoutKey, LoginThrottle};
use crate::{audit::AuditKind, model::User, password::Password};
use std::time::Duration;

use super::core::{chrono_dur, Core};

/// Progressive login delays: after `threshold` failures in a row, sign-in pauses for `base`,
/// doubling with each further failure up to `max`. Never a permanent lock.
///
/// Each [`LockoutKey`] keeps its own streak, so a pause an attacker causes on the account's
/// shared key does not stop a device the account already knows (it presents a device token valid
/// for `device_ttl`, and is judged by its own key).
#[derive(Debug, Clone)]
pub struct LockoutSettings {
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
    /// How long a known-device token is honoured after it was issued (each sign-in renews it).
    pub device_ttl: Duration,
}

impl LockoutSettings {
    /// How long sign-in pauses after the `failures`-th failure in a row (zero below threshold).
    #[must_use]
    pub fn delay(&self, failures: u32) -> Duration {
        if failures < self.threshold {
            return Duration::ZERO;
        }
        let doublings = (failures - self.threshold).min(30);
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }
}

impl LockoutKey {
    /// The owner is emailed when this key pauses: only the shared account key, whose pause the
    /// owner will meet on a new device; a device's or a re-entry's pause concerns one client.
    fn notifies_owner(&self) -> bool {
        matches!(self, Self::Account(_))
    }

    pub(crate) fn scope(&self) -> &'static str {
        match self {
            Self::Account(_) | Self::Name(_) => "account",
            Self::Device(_) => "device",
            Self::Reauth(_) => "reauth",
        }
    }
}

/// The end of the pause `throttle` is in at `t`, if it is in one.
#[must_use]
pub fn paused_until(throttle: Option<LoginThrottle>, t: Timestamp) -> Option<Timestamp> {
    throttle
        .and_then(|s| s.locked_until)
        .filter(|until| *until > t)
}

/// Whole seconds until `until`, rounded up and never 0: the `Retry-After` of a paused key.
pub(crate) fn retry_secs(until: Timestamp, t: Timestamp) -> u64 {
    let ms = (until - t).num_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

/// Counts a failure on `lock`; at the threshold and beyond, pauses it and (for the shared
/// account key, at the threshold only, so at most once per streak) emails the owner.
pub(crate) async fn count_failure(
    core: &Core,
    settings: &LockoutSettings,
    lock: &LockoutKey,
    user: Option<UserId>,
    client: &ClientInfo,
) {
    let t = core.now();
    let failures = match core.store.record_login_failure(lock, t).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "failed login could not be counted");
            return;
        }
    };
    if rand::random::<u8>() < 4 {
        let before = t - chrono::Duration::days(1);
        if let Err(e) = core.store.prune_login_failures(before).await {
            tracing::warn!(error = %e, "pruning old login failure counters failed");
        }
    }
    let delay = settings.delay(failures);
    if delay.is_zero() {
        return;
    }
    if let Err(e) = core.store.lock_login(lock, t + chrono_dur(delay)).await {
        tracing::error!(error = %e, "sign-in pause could not be stored");
        return;
    }
    let Some(user_id) = user else {
        return;
    };
    tracing::warn!(user_id = %user_id, failures, pause_secs = delay.as_secs(), scope = lock.scope(), "sign-in paused after repeated failures");
    core.audit(
        AuditKind::AccountLocked,
        Some(user_id),
        client,
        serde_json::json!({"failures": failures, "locked_for_secs": delay.as_secs(), "scope": lock.scope()}),
    )
    .await;
    if failures == settings.threshold && lock.notifies_owner() {
        match core.store.user_by_id(user_id).await {
            Ok(Some(u)) => {
                let mail = OutboundMail::new(
                    Some(u.id),
                    u.email.as_str(),
                    u.locale,
                    AccountLocked {
                        email: u.email.as_str().to_owned(),
                        locked_for: Lifetime::of(delay),
                    },
                    t,
                );
                match core.store.enqueue_mail(&[mail]).await {
                    Ok(()) => core.mail_enqueued(),
                    Err(e) => tracing::error!(error = %e, "lock notice could not be queued"),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "lock notice: user lookup failed"),
        }
    }
}

/// The signed-in user's re-entry of their current password (change password, change email,
/// delete account). Wrong entries count on the user's own [`LockoutKey::Reauth`] streak and
/// pause it like a login streak, so a stolen access token cannot guess the password without
/// limit; that streak is separate from the login keys, so it never stops a sign-in.
///
/// # Errors
/// [`AuthError::TooManyAttempts`] while paused (no hash is spent); a validation error on
/// `field` when the password is wrong.
pub(crate) async fn reauthenticate(
    core: &Core,
    settings: &LockoutSettings,
    user: &User,
    password: &Password,
    (field, wrong): (&'static str, &'static str),
    client: &ClientInfo,
    clear_on_success: bool,
) -> Result<(), AuthError> {
    let lock = LockoutKey::Reauth(user.id);
    let throttle = core.store.login_throttle(&lock).await?;
    let t = core.now();
    if let Some(until) = paused_until(throttle, t) {
        tracing::info!("current-password check refused: paused after repeated failures");
        return Err(AuthError::TooManyAttempts {
            retry_after_secs: retry_secs(until, t),
        });
    }
    if !core.password_matches(user, password).await? {
        tracing::info!("current-password check failed");
        count_failure(core, settings, &lock, Some(user.id), client).await;
        return Err(AuthError::field(field, "incorrect", wrong));
    }
    if clear_on_success && throttle.is_some_and(|s| s.failures > 0) {
        core.store.clear_login_failures(&lock).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{now, Clock, ManualClock};
    use crate::device::DeviceId;

    #[test]
    fn each_lockout_scope_has_its_own_stored_key() {
        let user = UserId::new();
        let hex = user.as_uuid().simple().to_string();
        let device = DeviceId::generate();
        assert_eq!(LockoutKey::Account(user).stored(), format!("user:{hex}"));
        assert_eq!(LockoutKey::Reauth(user).stored(), format!("reauth:{hex}"));
        assert_eq!(
            LockoutKey::Device(device).stored(),
            format!("device:{}", device.hex())
        );
        assert_eq!(
            LockoutKey::Name("ghost@example.com".into()).stored(),
            "name:ghost@example.com"
        );
        assert_eq!(LockoutKey::Account(user).account(), Some(user));
        assert_eq!(LockoutKey::Reauth(user).account(), None);
        assert_eq!(LockoutKey::Device(device).account(), None);
        assert!(LockoutKey::Account(user).notifies_owner());
        assert!(!LockoutKey::Device(device).notifies_owner());
        assert!(!LockoutKey::Reauth(user).notifies_owner());
    }

    #[test]
    fn the_pause_doubles_with_each_failure_past_the_threshold_up_to_the_maximum() {
        let s = LockoutSettings {
            threshold: 3,
            base: Duration::from_secs(1),
            max: Duration::from_secs(5),
            device_ttl: Duration::from_secs(60),
        };
        let secs = |n| s.delay(n).as_secs();
        assert_eq!((secs(1), secs(2)), (0, 0), "below the threshold: no pause");
        assert_eq!((secs(3), secs(4), secs(5)), (1, 2, 4));
        assert_eq!((secs(6), secs(7), secs(u32::MAX)), (5, 5, 5), "capped");
    }

    #[test]
    fn a_pause_holds_until_its_end_and_not_a_millisecond_longer() {
        let clock = ManualClock::new(now());
        let until = clock.now() + chrono::Duration::seconds(60);
        let throttle = Some(LoginThrottle {
            failures: 5,
            locked_until: Some(until),
        });
        assert_eq!(paused_until(throttle, clock.now()), Some(until));
        assert_eq!(retry_secs(until, clock.now()), 60);
        clock.advance(Duration::from_millis(59_999));
        assert_eq!(retry_secs(until, clock.now()), 1, "rounded up, never 0");
        clock.advance(Duration::from_millis(1));
        assert_eq!(paused_until(throttle, clock.now()), None);
        assert_eq!(paused_until(None, clock.now()), None);
    }
}
