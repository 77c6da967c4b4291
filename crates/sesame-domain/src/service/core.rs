//! What every service shares: the store, the password hasher, the password policy, the email
//! settings, the clock and the outbox's wake-up signal, and the helpers built only from them
//! (creating an account, the audit write, emailed tokens, the current-password check).
//!
//! [`Core`] has no operation of its own a caller could reach: it is handed to [`super::SignIn`],
//! [`super::Account`] and [`super::AdminGate`], which decide who may do what. It holds no token
//! issuer and no lockout settings (those belong to the services that sign in and re-check
//! passwords), so the CLI can build it from the database and configuration alone.

use crate::audit::{AuditEvent, AuditKind};
use crate::clock::{Clock, Timestamp};
use crate::error::AuthError;
use crate::locale::Locale;
use crate::mail::{Invite, Lifetime, OutboundMail, PasswordReset, VerifyEmail};
use crate::model::{ClientInfo, Email, LoginName, NewUser, RoleName, User, UserId, Username};
use crate::page::Page;
use crate::password::{Password, PasswordHasher};
use crate::policy::PasswordPolicy;
use crate::store::{NewEmailToken, Store, TokenPurpose};
use crate::token::EmailToken;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

use super::Registration;

/// How the email flows behave.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// Base URL of the pages links point to: `SESAME_APP_URL`, or `SESAME_PUBLIC_URL`.
    pub link_base: String,
    pub verify_ttl: Duration,
    pub reset_ttl: Duration,
    pub change_ttl: Duration,
    /// How long an admin's invitation to choose a password works.
    pub invite_ttl: Duration,
    /// The language of accounts created without one (`SESAME_DEFAULT_LOCALE`).
    pub default_locale: Locale,
    /// Refuse login until the email is verified.
    pub require_verified: bool,
    /// At most one verification email per address in this interval.
    pub resend_interval: Duration,
}

/// The parts every service is built from (see the module header).
pub struct Core {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hasher: Arc<PasswordHasher>,
    pub(crate) policy: PasswordPolicy,
    pub(crate) email: EmailSettings,
    /// Wakes the outbox worker when mail is enqueued.
    pub(crate) mail_signal: Arc<Notify>,
    /// "Now" for every time-based rule of the services.
    pub(crate) clock: Arc<dyn Clock>,
    /// Second factors and step-up.
    pub(crate) mfa: super::factors::MfaSettings,
    /// Seals factor secrets before they reach the store (the application key); `None` only
    /// for an HS256 deployment on PostgreSQL without `SESAME_ENCRYPTION_KEY`, where enrolling
    /// an authenticator app is refused.
    pub(crate) sealer: Option<Arc<crate::seal::Keyring>>,
    /// The WebAuthn relying party; `None` when `SESAME_PUBLIC_URL` cannot serve passkeys (an IP
    /// address, or plain http off localhost) and none is configured.
    pub(crate) passkeys: Option<crate::passkey::PasskeyRp>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl Core {
    #[must_use]
    #[expect(
        clippy::too_many_arguments,
        reason = "each is one independent part of the core"
    )]
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<PasswordHasher>,
        policy: PasswordPolicy,
        email: EmailSettings,
        mail_signal: Arc<Notify>,
        clock: Arc<dyn Clock>,
        mfa: super::factors::MfaSettings,
        sealer: Option<Arc<crate::seal::Keyring>>,
        passkeys: Option<crate::passkey::PasskeyRp>,
    ) -> Self {
        Self {
            store,
            hasher,
            policy,
            email,
            mail_signal,
            clock,
            mfa,
            sealer,
            passkeys,
        }
    }

    /// The application key, for factor secrets.
    ///
    /// # Errors
    /// [`AuthError::Internal`] when none is configured (see [`Core::sealer`]'s field).
    pub(crate) fn keyring(&self) -> Result<&crate::seal::Keyring, AuthError> {
        self.sealer.as_deref().ok_or_else(|| {
            AuthError::Internal(
                "authenticator app secrets need SESAME_ENCRYPTION_KEY (or SESAME_ENCRYPTION_KEY_FILE)"
                    .into(),
            )
        })
    }

    /// The current time, as the injected clock tells it.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn mail_enqueued(&self) {
        self.mail_signal.notify_one();
    }

    /// Appends to the audit trail after the change committed; a failed write is logged, never
    /// fatal. Writes that take an audit event into the store (registration, password change,
    /// emailed-token consumption) record it in their own transaction instead.
    pub(crate) async fn audit(
        &self,
        kind: AuditKind,
        user: Option<UserId>,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) {
        self.record(AuditEvent::new(kind, user, client, detail, self.now()))
            .await;
    }

    /// Appends a prepared event, like [`Core::audit`].
    pub(crate) async fn record(&self, event: AuditEvent) {
        if let Err(e) = self.store.record_audit(&event).await {
            tracing::error!(error = %e, event = event.kind.as_str(), "audit event could not be recorded");
        }
    }

    /// Hashes the password and stores a new account: the one way accounts come to exist.
    ///
    /// `audit` is written in the account's own transaction, its subject set to the new account:
    /// an account never exists without its trail entry (a failed audit write fails the creation).
    ///
    /// # Errors
    /// [`AuthError::EmailTaken`] / [`AuthError::UsernameTaken`] on duplicates;
    /// [`AuthError::Overloaded`] when hashing is saturated.
    pub(crate) async fn create_account(
        &self,
        policy: PasswordPolicy,
        reg: Registration,
        roles: Vec<RoleName>,
        email_verified: bool,
        send_verification: bool,
        audit: Option<AuditEvent>,
    ) -> Result<User, AuthError> {
        self.check_policy(
            policy,
            &reg.password,
            &reg.email,
            reg.username.as_ref(),
            "password",
        )
        .await?;
        let password_hash = self.hasher.hash(&reg.password).await?;
        let id = UserId::new();
        let audit = audit.map(|mut e| {
            e.user_id = Some(id);
            e
        });
        let locale = reg.locale.unwrap_or(self.email.default_locale);
        let verification =
            send_verification.then(|| self.verification_mail(id, &reg.email, locale));
        let new = NewUser {
            id,
            email: reg.email,
            username: reg.username,
            display_name: reg.display_name,
            password_hash,
            email_verified,
            roles,
            locale,
            now: self.now(),
        };
        let user = self
            .store
            .insert_user(
                &new,
                verification.as_ref().map(|v| &v.0),
                verification.as_ref().map(|v| &v.1),
                audit.as_ref(),
            )
            .await?;
        tracing::info!(user_id = %user.id, "user created");
        Ok(user)
    }

    /// Applies the password policy off the async runtime (the strength estimate costs up to tens
    /// of milliseconds of CPU on long inputs).
    pub(crate) async fn check_policy(
        &self,
        policy: PasswordPolicy,
        password: &Password,
        email: &Email,
        username: Option<&Username>,
        field: &'static str,
    ) -> Result<(), AuthError> {
        let (password, email, username) = (password.clone(), email.clone(), username.cloned());
        self.hasher
            .offload(move || policy.check(&password, &email, username.as_ref(), field))
            .await?
            .map_err(|e| AuthError::Validation(vec![e]))
    }

    /// A fresh emailed token of `purpose` for `user`, valid for `ttl` from now.
    pub(crate) fn email_token(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        new_email: Option<Email>,
        ttl: Duration,
    ) -> (EmailToken, NewEmailToken) {
        let token = EmailToken::generate();
        let t = self.now();
        let record = NewEmailToken {
            hash: token.hash(),
            user_id: user,
            purpose,
            new_email,
            created_at: t,
            expires_at: t + chrono_dur(ttl),
        };
        (token, record)
    }

    /// The link to `page` carrying `token`, under the configured link base.
    pub(crate) fn link(&self, page: Page, token: &EmailToken) -> String {
        page.link(&self.email.link_base, token)
    }

    pub(crate) fn verification_mail(
        &self,
        user: UserId,
        email: &Email,
        locale: Locale,
    ) -> (NewEmailToken, OutboundMail) {
        let ttl = self.email.verify_ttl;
        let (token, record) = self.email_token(user, TokenPurpose::VerifyEmail, None, ttl);
        let mail = OutboundMail::new(
            Some(user),
            email.as_str(),
            locale,
            VerifyEmail {
                email: email.as_str().to_owned(),
                expires_in: Lifetime::of(ttl),
                link: self.link(Page::VerifyEmail, &token),
            },
            record.created_at,
        );
        (record, mail)
    }

    /// A password-reset link for `user`: the answer to "forgot password".
    pub(crate) fn reset_mail(&self, user: &User) -> (NewEmailToken, OutboundMail) {
        let ttl = self.email.reset_ttl;
        let (token, record) = self.email_token(user.id, TokenPurpose::ResetPassword, None, ttl);
        let mail = OutboundMail::new(
            Some(user.id),
            user.email.as_str(),
            user.locale,
            PasswordReset {
                email: user.email.as_str().to_owned(),
                expires_in: Lifetime::of(ttl),
                link: self.link(Page::ResetPassword, &token),
            },
            record.created_at,
        );
        (record, mail)
    }

    /// An admin's invitation to `user` to choose the first password: a token of its own purpose
    /// and lifetime, to its own page, in welcome words (not a reset the user never asked for).
    pub(crate) fn invite_mail(&self, user: &User) -> (NewEmailToken, OutboundMail) {
        let ttl = self.email.invite_ttl;
        let (token, record) = self.email_token(user.id, TokenPurpose::SetPassword, None, ttl);
        let mail = OutboundMail::new(
            Some(user.id),
            user.email.as_str(),
            user.locale,
            Invite {
                email: user.email.as_str().to_owned(),
                expires_in: Lifetime::of(ttl),
                link: self.link(Page::SetPassword, &token),
                site: site_of(&self.email.link_base).to_owned(),
            },
            record.created_at,
        );
        (record, mail)
    }

    /// Checks `password` against the user's stored hash (a mismatch costs the same as a match).
    pub(crate) async fn password_matches(
        &self,
        user: &User,
        password: &Password,
    ) -> Result<bool, AuthError> {
        let stored = self
            .store
            .user_for_login(&LoginName::Email(user.email.clone()))
            .await?
            .filter(|found| found.user.id == user.id)
            .map(|found| found.password_hash);
        Ok(self.hasher.verify(password, stored).await?.matches)
    }
}

/// The host (and port) of a base URL, as a reader names a site: `https://auth.example.com/x`
/// → `auth.example.com`. The base was checked to be an http(s) URL at startup.
fn site_of(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

pub(crate) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_names_the_site_by_the_host_of_the_link_base() {
        assert_eq!(site_of("https://auth.example.com"), "auth.example.com");
        assert_eq!(site_of("http://127.0.0.1:8080/app"), "127.0.0.1:8080");
    }
}
