//! Request and response bodies of the JSON API, with their OpenAPI schemas, and the conversions
//! between them and domain values. Requests reject unknown fields, so a client can never set
//! `roles`, `email_verified`, `is_active` or `id` by adding them to a body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sesame_domain::model::User;
use sesame_domain::service::TokenPair;
use utoipa::ToSchema;
use uuid::Uuid;

/// A user account. Never contains a password hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub email_verified: bool,
    pub is_active: bool,
    pub roles: Vec<String>,
    /// The language of the user's emails: `en`, `de`, `fr` or `es`.
    #[schema(example = "en")]
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email.as_str().to_owned(),
            username: u.username.map(|n| n.as_str().to_owned()),
            display_name: u.display_name.map(|n| n.as_str().to_owned()),
            email_verified: u.email_verified,
            is_active: u.is_active,
            roles: u.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            locale: u.locale.as_str().to_owned(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// 8 characters to 256 bytes (after NFKC normalization).
    #[schema(example = "correct horse battery staple")]
    pub password: String,
    /// 3 to 32 of a-z, 0-9, `_`, `.`, `-`; unique case-insensitively.
    #[schema(example = "alice")]
    pub username: Option<String>,
    #[schema(example = "Alice")]
    pub display_name: Option<String>,
    /// The language of the user's emails: `en`, `de`, `fr` or `es` (a region such as `de-AT`
    /// is its language); anything else is refused with `unsupported_locale`.
    /// Absent: the language `Accept-Language` prefers, if Sesame speaks it, else
    /// `SESAME_DEFAULT_LOCALE`.
    #[schema(example = "de")]
    pub locale: Option<String>,
}

/// Log in with an email address *or* a username.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "alice@example.com")]
    pub email: Option<String>,
    pub username: Option<String>,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
    /// The `device_token` of an earlier sign-in on this device, if it kept one. With it, this
    /// device is judged by its own failure streak, so a pause strangers caused on the account
    /// does not keep it out. Browsers in cookie mode send the `__Host-sesame_device` cookie
    /// instead. An invalid or expired token counts as none.
    #[serde(default)]
    pub device_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Required, except in cookie mode, where the `sesame_refresh` cookie may carry it instead.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub refresh_token: Option<String>,
}

/// A token pair and the user it belongs to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT; send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; single use: every refresh returns a new one. Absent in cookie mode, where it
    /// travels in the `sesame_refresh` HttpOnly cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// After a sign-in: this device's known-device token (renewed at every sign-in). Keep it and
    /// send it as `device_token` at the next sign-in. Absent after a refresh, and in cookie mode,
    /// where it travels in the `__Host-sesame_device` HttpOnly cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    pub user: UserResponse,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            token_type: "Bearer".into(),
            expires_in: p.expires_in,
            refresh_token: Some(p.refresh_token.reveal().to_owned()),
            device_token: p.device_token,
            user: p.user.into(),
        }
    }
}

/// Distinguishes an absent field (leave alone) from an explicit `null` (clear it).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Fields to change on one's own profile; absent fields are left alone, `null` clears.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub username: Option<Option<String>>,
    /// The language of the user's emails: `en`, `de`, `fr` or `es` (a region such as `de-AT`
    /// is its language); anything else is refused with `unsupported_locale`.
    #[schema(example = "de")]
    pub locale: Option<String>,
}

/// A token from an emailed link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTokenRequest {
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    #[schema(example = "alice@example.com")]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub token: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    #[schema(example = "alice@new.example")]
    pub new_email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    pub password: String,
}

/// The answer to requests whose effect is an email (the same whether or not an account exists).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedResponse {
    #[schema(example = "accepted")]
    pub status: String,
}

impl AcceptedResponse {
    #[must_use]
    pub fn new() -> Self {
        Self {
            status: "accepted".into(),
        }
    }
}

impl Default for AcceptedResponse {
    fn default() -> Self {
        Self::new()
    }
}

/// One login session. Contains no token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set on sessions that have ended (only in exports).
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session of the token that made this request.
    pub current: bool,
}

impl SessionResponse {
    #[must_use]
    /// `current`: the caller's own session, marked in the list (an admin's list may not hold it).
    pub fn new(
        s: sesame_domain::model::Session,
        current: Option<sesame_domain::model::SessionId>,
    ) -> Self {
        Self {
            id: s.id.as_uuid(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            ip: s.ip,
            user_agent: s.user_agent,
            current: Some(s.id) == current,
        }
    }
}

/// Everything Sesame stores about the user, without secrets or hashes (GDPR export).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExportResponse {
    pub exported_at: DateTime<Utc>,
    pub user: UserResponse,
    /// Every session, live or ended.
    pub sessions: Vec<SessionResponse>,
    /// The account's security events (audit trail), newest first.
    pub security_events: Vec<AuditEventResponse>,
    /// Second factors: type, name, when created and last used; never their secrets.
    #[serde(default)]
    pub factors: Vec<super::factors::FactorResponse>,
}

/// One audit-trail event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventResponse {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// e.g. `login.succeeded`, `login.failed`, `password.changed`.
    pub event: String,
    pub user_id: Option<Uuid>,
    /// Who acted, when not the user themself (an admin).
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<sesame_domain::audit::AuditRecord> for AuditEventResponse {
    fn from(r: sesame_domain::audit::AuditRecord) -> Self {
        Self {
            id: r.id,
            occurred_at: r.at,
            event: r.kind,
            user_id: r.user_id.map(|u| u.as_uuid()),
            actor_id: r.actor_id.map(|u| u.as_uuid()),
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            detail: r.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_field_differs_from_null() {
        let a: UpdateMeRequest = serde_json::from_str(r#"{"display_name":null}"#).unwrap();
        assert_eq!(a.display_name, Some(None));
        assert_eq!(a.username, None);
        let b: UpdateMeRequest = serde_json::from_str(r#"{"username":"bob"}"#).unwrap();
        assert_eq!(b.username, Some(Some("bob".into())));
    }

    #[test]
    fn privileged_fields_cannot_be_sent_at_registration() {
        for field in ["roles", "email_verified", "is_active", "id"] {
            let body = format!(r#"{{"email":"a@example.com","password":"x","{field}":true}}"#);
            assert!(
                serde_json::from_str::<RegisterRequest>(&body).is_err(),
                "{field}"
            );
        }
    }
}

/// One application the caller allowed to sign them in (OpenID Connect consent).
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantResponse {
    pub client_id: Uuid,
    pub client_name: String,
    /// The scopes allowed, space-delimited.
    pub scope: String,
    pub granted_at: chrono::DateTime<chrono::Utc>,
}
