//! Outgoing email as the domain sees it: what kind of message, to whom, with which parameters
//! (links, names), and the [`MailTransport`] seam that delivers it.
//!
//! Rendering (templates, MIME) and the wire protocol (SMTP) belong to the transport, in the
//! `sesame` crate; this module knows neither. Delivery pacing and retries are
//! [`crate::outbox`]'s.

use crate::clock::{now, Timestamp};
use crate::model::UserId;
use async_trait::async_trait;
use std::collections::BTreeMap;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_kinds_round_trip_by_name() {
        for k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MailKind::parse("nope"), None);
    }
}
