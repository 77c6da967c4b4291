//! Parse-don't-validate types for everything an account is made of, and the records the storage
//! layer hands back.
//!
//! Each newtype has a private field and one `parse` constructor; holding a value is proof that it
//! passed the rules, so no other layer re-checks. These types know nothing of where the input came
//! from (JSON, form, CLI) or where it is stored.

use crate::clock::Timestamp;
use crate::error::FieldError;
use crate::locale::Locale;
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (v7) id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            #[must_use]
            pub fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }
            #[must_use]
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

/// The stable field-error code for text carrying a character no input may contain.
pub const INVALID_CHARACTERS: &str = "invalid_characters";

/// True for a character no text input may contain, whatever the field: NUL and the other
/// control characters (C0, DEL, C1), except tab, line feed and carriage return.
///
/// One rule for every backend: PostgreSQL cannot store NUL in `text` (it fails the whole
/// statement) while SQLite stores it, and the other controls have no business in names, filters,
/// descriptions, tokens or passwords (they hide text in logs and on screens). The HTTP extractors
/// apply it to every string of every body and query string before anything is parsed further, so
/// no handler can forget it; the newtypes here have stricter rules of their own.
#[must_use]
pub fn is_disallowed_char(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// True when `s` holds a character [`is_disallowed_char`] refuses.
#[must_use]
pub fn has_disallowed_chars(s: &str) -> bool {
    s.chars().any(is_disallowed_char)
}

/// The id newtypes of other modules (`FactorId`, `ClientId`) are made by the same macro.
pub(crate) use id_type;

id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies one login session (one refresh-token family).
    SessionId
);

/// An email address as the user typed it (trimmed), plus its normalized form used for uniqueness
/// and lookup: NFC, lower-cased.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    /// Longest address accepted (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// # Errors
    /// A [`FieldError`] on `email` naming the rule that failed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let display: String = raw.trim().nfc().collect();
        let bad = |code, msg: &str| Err(FieldError::new("email", code, msg));
        if display.is_empty() {
            return bad("required", "an email address is required");
        }
        if display.len() > Self::MAX_LEN {
            return bad("too_long", "an email address is at most 254 bytes");
        }
        if display.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad(
                "invalid",
                "an email address cannot contain spaces or control characters",
            );
        }
        let Some((local, domain)) = display.rsplit_once('@') else {
            return bad("invalid", "an email address needs an @");
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return bad(
                "invalid",
                "the part before the @ must be 1 to 64 bytes, without another @",
            );
        }
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if !domain_ok {
            return bad(
                "invalid",
                "the part after the @ must be a domain name such as example.com",
            );
        }
        let normalized = display.to_lowercase();
        Ok(Self {
            display,
            normalized,
        })
    }

    /// Rebuilds an address read back from storage (already validated when it was written).
    #[must_use]
    pub fn from_stored(display: String) -> Self {
        let normalized = display.to_lowercase();
        Self {
            display,
            normalized,
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.display
    }

    #[must_use]
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.display).finish()
    }
}

/// A username: 3 to 32 characters of ASCII letters, digits, `_`, `.` and `-`, starting with a letter
/// or digit. Unique case-insensitively; never contains `@`, so a login name is unambiguous.
#[derive(Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    normalized: String,
}

impl Username {
    /// # Errors
    /// A [`FieldError`] on `username` naming the rule that failed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let bad = |code, msg: &str| Err(FieldError::new("username", code, msg));
        if s.len() < 3 {
            return bad("too_short", "a username has at least 3 characters");
        }
        if s.len() > 32 {
            return bad("too_long", "a username has at most 32 characters");
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return bad(
                "invalid",
                "a username may contain only letters a-z, digits, _, . and -",
            );
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return bad("invalid", "a username starts with a letter or a digit");
        }
        Ok(Self::from_stored(s.to_owned()))
    }

    #[must_use]
    pub fn from_stored(display: String) -> Self {
        let normalized = display.to_ascii_lowercase();
        Self {
            display,
            normalized,
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.display
    }

    #[must_use]
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Username").field(&self.display).finish()
    }
}

/// A free-form display name: trimmed, NFC, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// # Errors
    /// A [`FieldError`] on `display_name` naming the rule that failed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s: String = raw.trim().nfc().collect();
        let bad = |code, msg: &str| Err(FieldError::new("display_name", code, msg));
        if s.is_empty() {
            return bad(
                "required",
                "a display name cannot be empty (send null to clear it)",
            );
        }
        if s.chars().count() > 100 {
            return bad("too_long", "a display name has at most 100 characters");
        }
        if s.chars().any(char::is_control) {
            return bad(
                "invalid",
                "a display name cannot contain control characters",
            );
        }
        if s.chars().any(is_invisible_format) {
            return bad(
                "invalid",
                "a display name cannot contain zero-width or text-direction control characters",
            );
        }
        Ok(Self(s))
    }

    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Invisible characters usable to spoof a name: the zero-width space and word joiners, and the
/// bidirectional embeddings, overrides and isolates (U+202E turns "Bob\u{202E}nimda" into
/// "Bobadmin" on screen). Zero-width (non-)joiners and direction marks stay allowed: emoji
/// sequences and several scripts need them.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200B}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// How a person names their account at login: an email address or a username.
#[derive(Debug, Clone)]
pub enum LoginName {
    Email(Email),
    Username(Username),
}

impl LoginName {
    /// A name with an `@` is an email address, anything else a username.
    ///
    /// # Errors
    /// A [`FieldError`] when the name is neither.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.contains('@') {
            Email::parse(raw).map(Self::Email)
        } else {
            Username::parse(raw).map(Self::Username)
        }
    }
}

/// A role name: 1 to 64 characters of lower-case ASCII letters, digits, `_`, `-` and `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    /// The built-in administrator role, present from the first migration.
    pub const ADMIN: &'static str = "admin";

    /// # Errors
    /// A [`FieldError`] on `role` when the name breaks the rules.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | ':')
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "role",
                "invalid",
                "a role name is 1 to 64 characters of a-z, 0-9, _, - and :",
            ))
        }
    }

    #[must_use]
    pub fn admin() -> Self {
        Self(Self::ADMIN.to_owned())
    }

    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user account as the rest of the system sees it. Carries no password hash.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub username: Option<Username>,
    pub display_name: Option<DisplayName>,
    pub email_verified: bool,
    pub is_active: bool,
    pub roles: Vec<RoleName>,
    /// The language of the user's emails.
    pub locale: Locale,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

impl User {
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.as_str() == role)
    }
}

/// A user together with the stored password hash, for the login path only.
#[derive(Debug, Clone)]
pub struct UserWithHash {
    pub user: User,
    pub password_hash: String,
}

/// Everything needed to create an account. The id and timestamps are chosen by the domain.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub username: Option<Username>,
    pub display_name: Option<DisplayName>,
    pub password_hash: String,
    pub email_verified: bool,
    pub roles: Vec<RoleName>,
    pub locale: Locale,
    pub now: Timestamp,
}

/// A change to a user's own profile. `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub display_name: Option<Option<DisplayName>>,
    pub username: Option<Option<Username>>,
    /// The language of the user's emails (there is always one, so it is set, never cleared).
    pub locale: Option<Locale>,
}

impl ProfilePatch {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.username.is_none() && self.locale.is_none()
    }
}

/// Where a request came from, recorded on the session it opens.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's address as the HTTP edge resolved it (trusted proxies considered).
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
    /// The request's id, for the audit trail.
    pub request_id: Option<String>,
}

impl ClientInfo {
    /// The address as sessions and audit events store it (`192.0.2.7`, `2001:db8::1`).
    #[must_use]
    pub fn ip_text(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

/// A login session as stored: one per login, holding one refresh-token family.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the user last proved who they are in this session (sign-in or step-up).
    pub auth_time: Timestamp,
    /// How they did (RFC 8176).
    pub amr: crate::mfa::Amr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_unique_case_insensitively() {
        let a = Email::parse("  Alice@Example.COM ").unwrap();
        let b = Email::parse("alice@example.com").unwrap();
        assert_eq!(a.normalized(), b.normalized());
        assert_eq!(a.as_str(), "Alice@Example.COM");
    }

    #[test]
    fn an_email_without_a_domain_is_rejected() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@ex..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn an_overlong_email_is_rejected() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long).unwrap_err().code, "too_long");
    }

    #[test]
    fn unicode_email_forms_normalize_to_one_address() {
        // "é" precomposed vs. "e" + combining acute accent
        let a = Email::parse("jos\u{e9}@example.com").unwrap();
        let b = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(a.normalized(), b.normalized());
    }

    #[test]
    fn usernames_follow_the_character_rules() {
        assert!(Username::parse("alice_01").is_ok());
        assert_eq!(Username::parse("al").unwrap_err().code, "too_short");
        assert_eq!(
            Username::parse(&"a".repeat(33)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(Username::parse("al@ce").unwrap_err().code, "invalid");
        assert_eq!(Username::parse("_alice").unwrap_err().code, "invalid");
        assert_eq!(Username::parse("ålice").unwrap_err().code, "invalid");
    }

    #[test]
    fn a_login_name_with_an_at_sign_is_an_email() {
        assert!(matches!(
            LoginName::parse("a@example.com"),
            Ok(LoginName::Email(_))
        ));
        assert!(matches!(
            LoginName::parse("alice"),
            Ok(LoginName::Username(_))
        ));
    }

    #[test]
    fn display_names_reject_control_characters() {
        assert!(DisplayName::parse("Alice \u{1F600}").is_ok());
        assert_eq!(DisplayName::parse("a\u{0}b").unwrap_err().code, "invalid");
        assert_eq!(DisplayName::parse("   ").unwrap_err().code, "required");
        assert_eq!(DisplayName::parse("\u{200B}").unwrap_err().code, "invalid");
        assert_eq!(
            DisplayName::parse("Bob\u{202E}nimda").unwrap_err().code,
            "invalid"
        );
        assert!(
            DisplayName::parse("\u{5e9}\u{5dc}\u{5d5}\u{5dd} Shalom").is_ok(),
            "right-to-left text is fine"
        );
    }

    #[test]
    fn role_names_are_lowercase_slugs() {
        assert!(RoleName::parse("billing:read").is_ok());
        assert!(RoleName::parse("Admin").is_err());
        assert!(RoleName::parse("").is_err());
    }

    #[test]
    fn nul_and_control_characters_are_disallowed_but_tab_and_newlines_are_not() {
        for c in ['\0', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert!(is_disallowed_char(c), "{:?}", c);
        }
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            'a',
            '\u{a0}',
            '\u{200b}',
            '\u{1F600}',
        ] {
            assert!(!is_disallowed_char(c), "{:?}", c);
        }
        assert!(has_disallowed_chars("a\u{0}b"));
        assert!(!has_disallowed_chars("line one\nline two"));
    }
}
