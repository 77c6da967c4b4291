//! Outgoing email as the domain sees it: what kind of message, to whom, with which parameters
//! (links, names), and the transactional outbox that delivers it.
//!
//! A message is written to the outbox in the same transaction as the change that causes it, so a
//! crash can never keep the change and lose the mail. The [`OutboxWorker`] claims due messages
//! (with a lease, so several nodes never send one twice in normal operation), hands them to a
//! [`MailTransport`], retries transient failures with exponential backoff, and marks permanent
//! failures dead with the reason. Rendering (templates, MIME) and the wire protocol (SMTP) belong
//! to the transport, in the `sesame` crate; this module knows neither.

use crate::clock::{now, Clock, SystemClock, Timestamp};
use crate::model::UserId;
use crate::store::Store;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// The messages Sesame sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// "Confirm your address": `link` to verify.
    VerifyEmail,
    /// "Reset your password": `link` to the reset form.
    PasswordReset,
    /// Notice that the password was changed or reset.
    PasswordChanged,
    /// To the *new* address: `link` to confirm an email change.
    EmailChangeConfirm,
    /// To the *old* address: notice that a change to `new_email` was requested.
    EmailChangeNotice,
    /// To a new address that already belongs to an account: nothing was changed.
    EmailChangeTaken,
    /// Sign-in was paused after repeated failed attempts.
    AccountLocked,
}

impl MailKind {
    pub const ALL: [Self; 7] = [
        Self::VerifyEmail,
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::EmailChangeConfirm,
        Self::EmailChangeNotice,
        Self::EmailChangeTaken,
        Self::AccountLocked,
    ];

    /// The stable name used in the outbox and as the template file stem.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailChangeConfirm => "email_change_confirm",
            Self::EmailChangeNotice => "email_change_notice",
            Self::EmailChangeTaken => "email_change_taken",
            Self::AccountLocked => "account_locked",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct OutboundMail {
    pub id: Uuid,
    /// The account it concerns; its pending mail is deleted with the account.
    pub user_id: Option<UserId>,
    pub to: String,
    pub kind: MailKind,
    /// Template parameters (`link`, `email`, `new_email`, …). Wiped once the mail is sent.
    pub params: BTreeMap<String, String>,
    pub created_at: Timestamp,
}

impl OutboundMail {
    #[must_use]
    pub fn new(user_id: Option<UserId>, to: &str, kind: MailKind, params: &[(&str, &str)]) -> Self {
        Self {
            id: Uuid::now_v7(),
            user_id,
            to: to.to_owned(),
            kind,
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            created_at: now(),
        }
    }
}

/// A message claimed from the outbox for delivery.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: Uuid,
    pub to: String,
    pub kind: MailKind,
    pub params: BTreeMap<String, String>,
    /// Delivery attempts before this one.
    pub attempts: u32,
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// Connection refused, timeout, 4xx reply: retry later.
    #[error("transient delivery failure: {0}")]
    Transient(String),
    /// 5xx reply, invalid address: retrying cannot help.
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// Delivers one rendered message. Implementations: log, SMTP, `.eml` files.
#[async_trait]
pub trait MailTransport: Send + Sync {
    /// # Errors
    /// A [`DeliveryError`] saying whether a retry can help.
    async fn send(&self, mail: &QueuedMail) -> Result<(), DeliveryError>;
}

/// How the outbox worker paces itself.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How often to look for due mail when nothing signals new mail.
    pub poll_interval: Duration,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// After this many failed attempts a message is marked dead.
    pub max_attempts: u32,
    /// How long a claim holds a message before another worker may take it.
    pub lease: Duration,
    pub batch: u32,
}

impl OutboxSettings {
    /// The delay before retry number `attempts` (1-based): base × 2^(attempts-1), capped.
    #[must_use]
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Delivers the outbox. One per node; claims make several nodes safe.
pub struct OutboxWorker {
    store: Arc<dyn Store>,
    transport: Arc<dyn MailTransport>,
    signal: Arc<Notify>,
    settings: OutboxSettings,
    /// "Now" for what is due, leases and retry times.
    clock: Arc<dyn Clock>,
}

impl OutboxWorker {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        transport: Arc<dyn MailTransport>,
        signal: Arc<Notify>,
        settings: OutboxSettings,
    ) -> Self {
        Self {
            store,
            transport,
            signal,
            settings,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same worker reading time from `clock` (tests move it instead of sleeping).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Delivers until `shutdown` resolves: at once when signalled, else every poll interval.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            loop {
                match self.deliver_due().await {
                    Ok(n) if n >= self.settings.batch as usize => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "outbox: cannot read due mail");
                        break;
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.signal.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// Claims and attempts one batch of due mail; returns how many were attempted.
    ///
    /// # Errors
    /// The store's error if the batch cannot be claimed.
    pub async fn deliver_due(&self) -> Result<usize, crate::StoreError> {
        let t = self.clock.now();
        let lease_until =
            t + chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::MAX);
        let batch = self
            .store
            .claim_mail(t, lease_until, self.settings.batch)
            .await?;
        let n = batch.len();
        for mail in batch {
            self.deliver(mail).await;
        }
        Ok(n)
    }

    async fn deliver(&self, mail: QueuedMail) {
        let kind = mail.kind.as_str();
        let result = self.transport.send(&mail).await;
        let t = self.clock.now();
        let attempts = mail.attempts + 1;
        let outcome = match result {
            Ok(()) => {
                tracing::info!(mail_id = %mail.id, kind, attempts, "mail delivered");
                self.store.mail_sent(mail.id, t).await
            }
            Err(DeliveryError::Transient(why)) if attempts < self.settings.max_attempts => {
                let delay = self.settings.backoff(attempts);
                tracing::warn!(mail_id = %mail.id, kind, attempts, retry_in_ms = delay.as_millis() as u64, error = %why, "mail delivery failed; will retry");
                let next = t + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                self.store
                    .mail_failed(mail.id, attempts, Some(next), &why)
                    .await
            }
            Err(e) => {
                tracing::error!(mail_id = %mail.id, kind, attempts, error = %e, "mail delivery failed for good; marked dead");
                self.store
                    .mail_failed(mail.id, attempts, None, &e.to_string())
                    .await
            }
        };
        if let Err(e) = outcome {
            // The lease expires and the message is retried; a duplicate is better than a loss.
            tracing::error!(mail_id = %mail.id, error = %e, "outbox: cannot record delivery outcome");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = OutboxSettings {
            poll_interval: Duration::from_secs(1),
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            max_attempts: 10,
            lease: Duration::from_secs(60),
            batch: 10,
        };
        assert_eq!(s.backoff(1), Duration::from_secs(5));
        assert_eq!(s.backoff(2), Duration::from_secs(10));
        assert_eq!(s.backoff(4), Duration::from_secs(40));
        assert_eq!(s.backoff(5), Duration::from_secs(60));
        assert_eq!(s.backoff(500), Duration::from_secs(60));
    }

    #[test]
    fn mail_kinds_round_trip_by_name() {
        for k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MailKind::parse("nope"), None);
    }
}
