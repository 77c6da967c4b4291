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
//! A mail carries the [`Locale`] it is to be written in, chosen when it is queued (the account's),
//! and durations as [`Lifetime`]s, never as words: the words are the renderer's, in that language.
//!
//! This module knows neither rendering (templates, MIME) nor the wire protocol (SMTP): both
//! belong to the transport, in the `sesame` crate. Delivery pacing and retries are
//! [`crate::outbox`]'s.

use crate::clock::Timestamp;
use crate::locale::Locale;
use crate::model::UserId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

/// The unit a [`Lifetime`] is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl TimeUnit {
    const ALL: [Self; 4] = [Self::Second, Self::Minute, Self::Hour, Self::Day];

    /// The English singular, as stored (`"hour"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// How long a link works or sign-in stays paused, as a mail states it: a count of one unit
/// ("24 hours", "7 days"). The words a reader sees are the renderer's, in the mail's language;
/// in the outbox a lifetime is stored as its English form (`"24 hours"`), which is what rows
/// queued before lifetimes had a type hold, so both old and new rows decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lifetime {
    pub count: u64,
    pub unit: TimeUnit,
}

impl Lifetime {
    /// The largest unit that counts `d` exactly, with days only from two on ("24 hours" reads
    /// better than "1 day" for a link's lifetime); below a minute, seconds.
    #[must_use]
    pub fn of(d: Duration) -> Self {
        let s = d.as_secs();
        let (count, unit) = if s.is_multiple_of(86_400) && s >= 86_400 * 2 {
            (s / 86_400, TimeUnit::Day)
        } else if s.is_multiple_of(3600) && s >= 3600 {
            (s / 3600, TimeUnit::Hour)
        } else if s >= 60 {
            (s / 60, TimeUnit::Minute)
        } else {
            (s, TimeUnit::Second)
        };
        Self { count, unit }
    }

    /// Reads the stored form (`"1 hour"`, `"15 minutes"`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let (count, word) = s.trim().split_once(' ')?;
        let count = count.parse().ok()?;
        let singular = word.strip_suffix('s').unwrap_or(word);
        let unit = TimeUnit::ALL.into_iter().find(|u| u.as_str() == singular)?;
        Some(Self { count, unit })
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.count == 1 { "" } else { "s" };
        write!(f, "{} {}{plural}", self.count, self.unit.as_str())
    }
}

impl Serialize for Lifetime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Lifetime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| {
            serde::de::Error::custom(format!("`{raw}` is not a lifetime such as \"24 hours\""))
        })
    }
}

/// What a template placeholder receives: text as it is, or a lifetime to put into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Text(&'a str),
    Lifetime(Lifetime),
}

/// The type a message field may have: [`String`] (the default) or [`Lifetime`].
pub trait FieldValue {
    /// Whether the renderer puts it into words as a duration.
    const IS_LIFETIME: bool;
    fn as_field(&self) -> Field<'_>;
}

impl FieldValue for String {
    const IS_LIFETIME: bool = false;
    fn as_field(&self) -> Field<'_> {
        Field::Text(self)
    }
}

impl FieldValue for Lifetime {
    const IS_LIFETIME: bool = true;
    fn as_field(&self) -> Field<'_> {
        Field::Lifetime(*self)
    }
}

macro_rules! field_type {
    () => {
        String
    };
    ($t:ty) => {
        $t
    };
}

/// Declares the message kinds once: each becomes a [`MailKind`] variant with its stable name, a
/// struct of its fields and a [`Message`] variant, so the kind list, the field names, the outbox
/// encoding and the template check can never disagree. Fields are listed in alphabetical order,
/// which keeps the stored JSON byte for byte what the earlier string map wrote.
macro_rules! messages {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident = $name:literal {
            $( $(#[doc = $fdoc:literal])* $field:ident $(: $fty:ty)? ),+ $(,)?
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

            /// Whether `field` of this kind is a [`Lifetime`] (every other field is text).
            #[must_use]
            pub fn is_lifetime(self, field: &str) -> bool {
                match self {
                    $( Self::$kind => match field {
                        $( stringify!($field) => <field_type!($($fty)?) as FieldValue>::IS_LIFETIME, )+
                        _ => false,
                    }, )+
                }
            }
        }

        $(
            $(#[doc = $doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $kind {
                $( $(#[doc = $fdoc])* pub $field: field_type!($($fty)?), )+
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
            pub fn field(&self, name: &str) -> Option<Field<'_>> {
                match self {
                    $( Self::$kind(m) => match name {
                        $( stringify!($field) => Some(m.$field.as_field()), )+
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
        /// How long the link works ("24 hours" in the mail's language).
        expires_in: Lifetime,
        /// The verification page, token included.
        link,
    }
    /// "Reset your password", with a link to the reset form.
    PasswordReset = "password_reset" {
        email,
        expires_in: Lifetime,
        link,
    }
    /// Welcome to an account an administrator created: a link to choose its first password.
    Invite = "invite" {
        /// The new account's address (the recipient).
        email,
        expires_in: Lifetime,
        /// The set-password page, token included.
        link,
        /// Where the account lives: the host of the links' base URL (`auth.example.com`).
        site,
    }
    /// Notice that the password was changed or reset.
    PasswordChanged = "password_changed" {
        email,
    }
    /// To the *new* address: a link to confirm an email change.
    EmailChangeConfirm = "email_change_confirm" {
        expires_in: Lifetime,
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
        /// How long sign-in stays paused.
        locked_for: Lifetime,
    }
    /// A second factor was added to the account.
    FactorAdded = "factor_added" {
        email,
        /// `totp` (an authenticator app) or `passkey`; the template words it.
        factor_kind,
        /// The name the owner gave it.
        factor_name,
    }
    /// A second factor was removed, by the owner or (`by_admin` = `yes`) by an administrator.
    FactorRemoved = "factor_removed" {
        /// `yes` when an administrator removed it, else `no`.
        by_admin,
        email,
        /// `totp`, `passkey`, or `all` (an administrator's reset removes every factor).
        factor_kind,
        /// The name of the removed factor (empty for `all`).
        factor_name,
    }
    /// A recovery code was used to sign in or to prove the owner again.
    RecoveryCodeUsed = "recovery_code_used" {
        /// How many unused codes are left.
        codes_left,
        email,
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
    /// The language it is written in, chosen now (the recipient account's), so a later change
    /// of the account's language or of the server default does not rewrite queued mail.
    pub locale: Locale,
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
        locale: Locale,
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
            locale,
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
    /// The language to render it in; `None` for rows queued before mail had one (the
    /// renderer's default language then).
    pub locale: Option<Locale>,
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
    fn a_lifetime_counts_in_the_largest_exact_unit_and_round_trips_through_its_stored_form() {
        for (secs, stored) in [
            (86_400, "24 hours"),
            (3600, "1 hour"),
            (172_800, "2 days"),
            (604_800, "7 days"),
            (1800, "30 minutes"),
            (5, "5 seconds"),
        ] {
            let l = Lifetime::of(std::time::Duration::from_secs(secs));
            assert_eq!(l.to_string(), stored);
            assert_eq!(Lifetime::parse(stored), Some(l));
        }
        assert_eq!(Lifetime::parse("a while"), None);
        assert_eq!(Lifetime::parse("3 fortnights"), None);
    }

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
            Locale::De,
            VerifyEmail {
                email: "a@example.com".into(),
                expires_in: Lifetime::of(std::time::Duration::from_secs(86_400)),
                link: "https://s.example/verify-email?token=t".into(),
            },
            crate::clock::now(),
        );
        assert_eq!(m.kind, MailKind::VerifyEmail);
        assert_eq!(m.locale, Locale::De);
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
                locked_for: Lifetime {
                    count: 15,
                    unit: TimeUnit::Minute
                },
            })
        );
        assert_eq!(
            m.field("locked_for"),
            Some(Field::Lifetime(Lifetime {
                count: 15,
                unit: TimeUnit::Minute
            }))
        );
        assert_eq!(m.field("email"), Some(Field::Text("a@example.com")));
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
            let value = |f: &str| {
                if kind.is_lifetime(f) {
                    "3 hours".to_owned()
                } else {
                    format!("<{f}>")
                }
            };
            let object: serde_json::Map<String, serde_json::Value> = kind
                .fields()
                .iter()
                .map(|f| ((*f).to_owned(), serde_json::Value::String(value(f))))
                .collect();
            let json = serde_json::Value::Object(object).to_string();
            let m = Message::decode(kind, &json).unwrap();
            assert_eq!(m.kind(), kind);
            assert_eq!(serde_json::to_string(&m).unwrap(), json, "{kind:?}");
            for f in kind.fields() {
                let text = value(f);
                let expected = if kind.is_lifetime(f) {
                    Field::Lifetime(Lifetime {
                        count: 3,
                        unit: TimeUnit::Hour,
                    })
                } else {
                    Field::Text(&text)
                };
                assert_eq!(m.field(f), Some(expected), "{kind:?} {f}");
            }
        }
    }
}
