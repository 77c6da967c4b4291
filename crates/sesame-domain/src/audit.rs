//! The audit trail: what security-relevant thing happened, to which account, by whom, from where.
//!
//! Events are appended, never changed (the tables refuse updates and deletes). They carry the
//! time, the subject user (if any), the acting user when it is someone else (an admin), the
//! client IP, user agent and request id, and a small JSON detail — never a password, token, hash
//! or secret. An account-changing write (registration, admin creation, password change, password
//! reset, email verification, email change) carries its event into the store, which writes it in
//! the change's own transaction: the row exists exactly when the change does, and a failed audit
//! write fails the change. Every other event is appended after its change by
//! `Core::audit` and is best effort: a failed write is logged and does not fail the action.

use crate::clock::Timestamp;
use crate::model::{ClientInfo, UserId};
use uuid::Uuid;

/// The kinds of event, with their stable names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    UserRegistered,
    LoginSucceeded,
    LoginFailed,
    AccountLocked,
    Logout,
    LogoutAll,
    SessionRevoked,
    RefreshTokenReuseDetected,
    EmailVerified,
    PasswordResetRequested,
    PasswordResetCompleted,
    PasswordChanged,
    EmailChangeRequested,
    EmailChangeConfirmed,
    AccountDeleted,
    AdminUserCreated,
    AdminUserUpdated,
    AdminUserDeleted,
    AdminUserUnlocked,
    AdminSessionsRevoked,
    AdminRoleCreated,
    AdminRoleDeleted,
    AdminClientCreated,
    AdminClientUpdated,
    AdminClientSecretRotated,
    AdminClientDeleted,
    OAuthConsentGranted,
    OAuthTokensIssued,
    OAuthCodeReused,
    OAuthGrantRevoked,
    MfaChallenged,
    MfaFactorAdded,
    MfaFactorRenamed,
    MfaFactorRemoved,
    MfaRecoveryCodesIssued,
    MfaRecoveryCodeUsed,
    SessionReauthenticated,
    AdminFactorsReset,
}

impl AuditKind {
    pub const ALL: [Self; 38] = [
        Self::UserRegistered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::AccountLocked,
        Self::Logout,
        Self::LogoutAll,
        Self::SessionRevoked,
        Self::RefreshTokenReuseDetected,
        Self::EmailVerified,
        Self::PasswordResetRequested,
        Self::PasswordResetCompleted,
        Self::PasswordChanged,
        Self::EmailChangeRequested,
        Self::EmailChangeConfirmed,
        Self::AccountDeleted,
        Self::AdminUserCreated,
        Self::AdminUserUpdated,
        Self::AdminUserDeleted,
        Self::AdminUserUnlocked,
        Self::AdminSessionsRevoked,
        Self::AdminRoleCreated,
        Self::AdminRoleDeleted,
        Self::AdminClientCreated,
        Self::AdminClientUpdated,
        Self::AdminClientSecretRotated,
        Self::AdminClientDeleted,
        Self::OAuthConsentGranted,
        Self::OAuthTokensIssued,
        Self::OAuthCodeReused,
        Self::OAuthGrantRevoked,
        Self::MfaChallenged,
        Self::MfaFactorAdded,
        Self::MfaFactorRenamed,
        Self::MfaFactorRemoved,
        Self::MfaRecoveryCodesIssued,
        Self::MfaRecoveryCodeUsed,
        Self::SessionReauthenticated,
        Self::AdminFactorsReset,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::AccountLocked => "account.locked",
            Self::Logout => "session.logout",
            Self::LogoutAll => "session.logout_all",
            Self::SessionRevoked => "session.revoked",
            Self::RefreshTokenReuseDetected => "refresh_token.reuse_detected",
            Self::EmailVerified => "email.verified",
            Self::PasswordResetRequested => "password_reset.requested",
            Self::PasswordResetCompleted => "password_reset.completed",
            Self::PasswordChanged => "password.changed",
            Self::EmailChangeRequested => "email_change.requested",
            Self::EmailChangeConfirmed => "email_change.confirmed",
            Self::AccountDeleted => "account.deleted",
            Self::AdminUserCreated => "admin.user_created",
            Self::AdminUserUpdated => "admin.user_updated",
            Self::AdminUserDeleted => "admin.user_deleted",
            Self::AdminUserUnlocked => "admin.user_unlocked",
            Self::AdminSessionsRevoked => "admin.sessions_revoked",
            Self::AdminRoleCreated => "admin.role_created",
            Self::AdminRoleDeleted => "admin.role_deleted",
            Self::AdminClientCreated => "admin.client_created",
            Self::AdminClientUpdated => "admin.client_updated",
            Self::AdminClientSecretRotated => "admin.client_secret_rotated",
            Self::AdminClientDeleted => "admin.client_deleted",
            Self::OAuthConsentGranted => "oauth.consent_granted",
            Self::OAuthTokensIssued => "oauth.tokens_issued",
            Self::OAuthCodeReused => "oauth.code_reused",
            Self::OAuthGrantRevoked => "oauth.grant_revoked",
            Self::MfaChallenged => "mfa.challenged",
            Self::MfaFactorAdded => "mfa.factor_added",
            Self::MfaFactorRenamed => "mfa.factor_renamed",
            Self::MfaFactorRemoved => "mfa.factor_removed",
            Self::MfaRecoveryCodesIssued => "mfa.recovery_codes_issued",
            Self::MfaRecoveryCodeUsed => "mfa.recovery_code_used",
            Self::SessionReauthenticated => "session.reauthenticated",
            Self::AdminFactorsReset => "admin.factors_reset",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event to append.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: Timestamp,
    pub kind: AuditKind,
    /// The account the event is about.
    pub user_id: Option<UserId>,
    /// Who did it, when not the user themself (an admin).
    pub actor_id: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event that happened `at` (the caller's clock, so a test that moves time sees it).
    #[must_use]
    pub fn new(
        kind: AuditKind,
        user_id: Option<UserId>,
        client: &ClientInfo,
        detail: serde_json::Value,
        at: Timestamp,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            at,
            kind,
            user_id,
            actor_id: None,
            ip: client.ip_text(),
            user_agent: client.user_agent.clone(),
            request_id: client.request_id.clone(),
            detail,
        }
    }
}

/// A stored event, as read back (the export and, later, the admin API).
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: Timestamp,
    /// The stored name; kinds added by later versions read back as their name.
    pub kind: String,
    pub user_id: Option<UserId>,
    pub actor_id: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_kinds_round_trip_by_name_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(k));
            assert!(names.insert(k.as_str()));
        }
    }
}
