//! The transactional outbox's delivery side: the [`OutboxWorker`] that claims due messages from
//! the store and hands them to a [`MailTransport`].
//!
//! A message is written to the outbox in the same transaction as the change that causes it, so a
//! crash can never keep the change and lose the mail. The worker claims due messages (with a
//! lease, so several nodes never send one twice in normal operation), retries transient failures
//! with exponential backoff, and marks permanent failures dead with the reason.
//!
//! What a message *is* lives in [`crate::mail`]; how it is rendered and sent lives in the
//! transport (the `sesame` crate). This module only paces, claims and records outcomes.

use crate::clock::{Clock, SystemClock};
use crate::mail::{DeliveryError, MailTransport, QueuedMail};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

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
}
