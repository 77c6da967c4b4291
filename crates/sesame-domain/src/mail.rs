//! Outgoing email as the domain sees it: which message, to whom, with which fields (links,
//! addresses, durations), and the [`MailTransport`] seam that delivers it.
//!
//! Every message kind is a struct whose fields are exactly the `{{placeholders}}` its templates
//! may name ([`VerifyEmail`], [`PasswordReset`], …), gathered in [`Message`]. Building a message
//! without one of its fields does not compile, and a template naming a field its message lacks
//! is refused when the templates are loaded. In the outbox a message is stored as its kind's name
//! plus a flat JSON object of its fields (`{"email":…,"expires_in":…,"link":…}`), the shape
//! string-pair parameters had, so mail queued before this type existed still decodes.
//!
//! This module knows neither rendering (templates, MIME) nor the wire protocol (SMTP): both
//! belong to the transport, in the `sesame` crate. Delivery pacing and retries are
//! [`crate::outbox`]'s.

use crate::clock::Timestamp;
use crate::model::UserId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Declares the message kinds once: each becomes a [`MailKind`] variant with its stable name, a
/// struct of its fields and a [`Message`] variant, so the kind list, the field names, the outbox
/// encoding and the template check can never disagree. Fields are listed in alphabetical order,
/// which keeps the stored JSON byte for byte what the earlier string map wrote.
macro_rules! messages {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident = $name:literal {
            $( $(#[doc = $fdoc:literal])* $field:ident ),+ $(,)?
        }
    )+) => {
        /// The messages Sesame sends.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MailKind {
            $( $(#[doc = $doc])* $kind, )+
        }

        impl MailKind {
            pub const ALL: &'static [Self] = &[$(Self::$kind),+];

            /// The stable name used in the outbox and as the template file stem.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$kind => $name, )+
                }
            }

            /// The fields a message of this kind carries: the only names its templates may use.
            #[must_use]
            pub fn fields(self) -> &'static [&'static str] {
                match self {
                    $( Self::$kind => &[$(stringify!($field)),+], )+
                }
            }
        }

        $(
            $(#[doc = $doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $kind {
                $( $(#[doc = $fdoc])* pub $field: String, )+
            }

            impl From<$kind> for Message {
                fn from(m: $kind) -> Self {
                    Self::$kind(m)
                }
            }
        )+

        /// One message of any kind. Serialized, it is the flat object of its fields (the kind is
        /// stored beside it, and [`Message::decode`] needs it back).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub enum Message {
            $( $kind($kind), )+
        }

        impl Message {
            #[must_use]
            pub fn kind(&self) -> MailKind {
                match self {
                    $( Self::$kind(_) => MailKind::$kind, )+
                }
            }

            /// The value of the field `name`, or `None` when this kind has no such field.
            #[must_use]
            pub fn field(&self, name: &str) -> Option<&str> {
                match self {
                    $( Self::$kind(m) => match name {
                        $( stringify!($field) => Some(m.$field.as_str()), )+
                        _ => None,
                    }, )+
                }
            }

            /// Rebuilds a stored message from its kind and its JSON fields. Unknown keys are
            /// ignored; a missing field is an error naming it.
            ///
            /// # Errors
            /// The JSON error when `params` is not an object with every field of `kind`.
            pub fn decode(kind: MailKind, params: &str) -> Result<Self, serde_json::Error> {
                Ok(match kind {
                    $( MailKind::$kind => Self::$kind(serde_json::from_str(params)?), )+
                })
            }
        }
    };
}

messages! {
    /// "Confirm your address", with a link to verify it.
    VerifyEmail = "verify_email" {
        /// The address to confirm.
        email,
        /// How long the link works, in words ("24 hours").
        expires_in,
        /// The verification page, token included.
        link,
    }
    /// "Reset your password", with a link to the reset form.
    PasswordReset = "password_reset" {
        email,
        expires_in,
        link,
    }
    /// Notice that the password was changed or reset.
    PasswordChanged = "password_changed" {
        email,
    }
    /// To the *new* address: a link to confirm an email change.
    EmailChangeConfirm = "email_change_confirm" {
        expires_in,
        link,
        /// The address the account moves to (the recipient).
        new_email,
    }
    /// To the *old* address: notice that a change to `new_email` was requested.
    EmailChangeNotice = "email_change_notice" {
        /// The account's current address (the recipient).
        email,
        new_email,
    }
    /// To a new address that already belongs to an account: nothing was changed.
    EmailChangeTaken = "email_change_taken" {
        /// The address that is taken (the recipient).
        email,
    }
    /// Sign-in was paused after repeated failed attempts.
    AccountLocked = "account_locked" {
        email,
        /// How long sign-in stays paused, in words.
        locked_for,
    }
}

impl MailKind {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// A message to enqueue. Build it with [`OutboundMail::new`], which keeps `kind` and `params` in
/// agreement.
#[derive(Debug, Clone)]
pub struct OutboundMail {
    pub id: Uuid,
    /// The account it concerns; its pending mail is deleted with the account.
    pub user_id: Option<UserId>,
    pub to: String,
    /// `params.kind()`, the outbox's `kind` column.
    pub kind: MailKind,
    /// The message's fields, the outbox's JSON `params`. Wiped once the mail is sent.
    pub params: Message,
    /// When it was enqueued: the outbox's due time, so it comes from the caller's clock.
    pub created_at: Timestamp,
}

impl OutboundMail {
    /// A message enqueued at `now` (the caller's clock: the outbox delivers it once its own clock
    /// reaches that time).
    #[must_use]
    pub fn new(
        user_id: Option<UserId>,
        to: &str,
        message: impl Into<Message>,
        now: Timestamp,
    ) -> Self {
        let params = message.into();
        Self {
            id: Uuid::now_v7(),
            user_id,
            to: to.to_owned(),
            kind: params.kind(),
            params,
            created_at: now,
        }
    }
}

/// A message claimed from the outbox for delivery.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: Uuid,
    pub to: String,
    pub kind: MailKind,
    /// Decoded with [`Message::decode`] for `kind`, so the two agree.
    pub params: Message,
    /// Delivery attempts before this one.
    pub attempts: u32,
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// Connection refused, timeout, 4xx reply: retry later.
    #[error("transient delivery failure: {0}")]
    Transient(String),
    /// 5xx reply, invalid address, a template that cannot be filled: retrying cannot help.
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
        for &k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MailKind::parse("nope"), None);
    }

    #[test]
    fn a_message_is_stored_as_the_flat_sorted_object_string_pairs_made() {
        let m = OutboundMail::new(
            None,
            "a@example.com",
            VerifyEmail {
                email: "a@example.com".into(),
                expires_in: "24 hours".into(),
                link: "https://s.example/verify-email?token=t".into(),
            },
            crate::clock::now(),
        );
        assert_eq!(m.kind, MailKind::VerifyEmail);
        assert_eq!(
            serde_json::to_string(&m.params).unwrap(),
            r#"{"email":"a@example.com","expires_in":"24 hours","link":"https://s.example/verify-email?token=t"}"#
        );
    }

    #[test]
    fn a_row_queued_as_string_pairs_decodes_into_its_message() {
        // What the outbox held before messages were typed: a sorted string map.
        let stored = r#"{"email":"a@example.com","locked_for":"15 minutes"}"#;
        let m = Message::decode(MailKind::AccountLocked, stored).unwrap();
        assert_eq!(
            m,
            Message::AccountLocked(AccountLocked {
                email: "a@example.com".into(),
                locked_for: "15 minutes".into(),
            })
        );
        assert_eq!(m.field("locked_for"), Some("15 minutes"));
        assert_eq!(m.field("link"), None);
    }

    #[test]
    fn a_stored_message_missing_a_field_does_not_decode_and_says_which() {
        let err = Message::decode(MailKind::PasswordReset, r#"{"email":"a@example.com"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expires_in"), "{err}");
    }

    #[test]
    fn every_kind_names_its_fields_and_serializes_exactly_them() {
        for &kind in MailKind::ALL {
            let object: serde_json::Map<String, serde_json::Value> = kind
                .fields()
                .iter()
                .map(|f| ((*f).to_owned(), serde_json::Value::String(format!("<{f}>"))))
                .collect();
            let json = serde_json::Value::Object(object).to_string();
            let m = Message::decode(kind, &json).unwrap();
            assert_eq!(m.kind(), kind);
            assert_eq!(serde_json::to_string(&m).unwrap(), json, "{kind:?}");
            for f in kind.fields() {
                assert_eq!(m.field(f), Some(format!("<{f}>").as_str()));
            }
        }
    }
}
