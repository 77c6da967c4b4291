//! [`Account`]: what the owner of an account may do to it, signed in or through a link emailed
//! to them: the profile, email verification (and its resend), forgotten-password reset, password
//! change, email change, the list of their sessions, deletion and the GDPR export.
//!
//! Every operation acts on the caller's own account: a signed-in [`Principal`] or the holder of
//! an emailed token. It refuses to act on anyone else (that is [`super::Admin`]) and does not
//! open sessions from passwords (that is [`super::SignIn`]); a password change hands the current
//! session a fresh pair and nothing more.

use crate::audit::{AuditEvent, AuditKind, AuditRecord};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::mail::{
    EmailChangeConfirm, EmailChangeNotice, EmailChangeTaken, Lifetime, OutboundMail,
    PasswordChanged,
};
use crate::model::{ClientInfo, Email, LoginName, ProfilePatch, Session, SessionId, User};
use crate::page::Page;
use crate::password::Password;
use crate::store::{AdminOutcome, EmailTokenState, PasswordChange, TokenEffect, TokenPurpose};
use crate::token::{EmailToken, RefreshToken, TokenHash, TokenIssuer};
use std::sync::Arc;

use super::core::{chrono_dur, Core};
use super::lockout::{reauthenticate, LockoutSettings};
use super::sign_in::pair;
use super::{Principal, TokenPair};

/// Everything Sesame stores about a user, for GDPR export. No secrets, no hashes.
#[derive(Debug, Clone)]
pub struct AccountExport {
    /// When it was taken, by the service's clock.
    pub exported_at: Timestamp,
    pub user: User,
    pub sessions: Vec<Session>,
    pub security_events: Vec<AuditRecord>,
    /// Second factors (kind, name, dates), never their secrets.
    pub factors: Vec<crate::mfa::Factor>,
}

/// The password field of email change and deletion, and its message when wrong.
const PASSWORD_FIELD: (&str, &str) = ("password", "the password is incorrect");

/// Self-service account management (see the module header).
pub struct Account {
    core: Arc<Core>,
    tokens: Arc<TokenIssuer>,
    lockout: LockoutSettings,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl Account {
    #[must_use]
    pub fn new(core: Arc<Core>, tokens: Arc<TokenIssuer>, lockout: LockoutSettings) -> Self {
        Self {
            core,
            tokens,
            lockout,
        }
    }

    /// Changes the caller's own display name and/or username.
    ///
    /// # Errors
    /// [`AuthError::UsernameTaken`]; [`AuthError::InvalidToken`] if the account vanished.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn update_profile(
        &self,
        who: &Principal,
        patch: ProfilePatch,
    ) -> Result<User, AuthError> {
        if patch.is_empty() {
            return Ok(who.user.clone());
        }
        self.core
            .store
            .update_profile(who.user.id, &patch, self.core.now())
            .await?
            .ok_or(AuthError::InvalidToken("session_ended"))
    }

    /// The caller's re-entry of their current password (see [`reauthenticate`]); `field` names
    /// the request field and the message when it is wrong.
    async fn reenter(
        &self,
        who: &Principal,
        password: &Password,
        field: (&'static str, &'static str),
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        // Every operation that re-checks the password is sensitive: it also needs a recent
        // authentication, with the second factor when the account has one (step-up).
        super::factors::require_recent(&self.core, who).await?;
        reauthenticate(
            &self.core,
            &self.lockout,
            &who.user,
            password,
            field,
            client,
            true,
        )
        .await
    }

    /// The active account with this address, if there is one (the emailed flows answer alike
    /// whether or not there is).
    async fn active_user(&self, email: &Email) -> Result<Option<User>, AuthError> {
        Ok(self
            .core
            .store
            .user_for_login(&LoginName::Email(email.clone()))
            .await?
            .map(|found| found.user)
            .filter(|user| user.is_active))
    }

    /// Looks up an emailed token that must be live and of `purpose`.
    async fn live_token(
        &self,
        raw: &str,
        purpose: TokenPurpose,
    ) -> Result<(TokenHash, EmailTokenState), AuthError> {
        self.live_token_of(raw, &[purpose]).await
    }

    /// Looks up an emailed token that must be live and of one of `purposes`.
    async fn live_token_of(
        &self,
        raw: &str,
        purposes: &[TokenPurpose],
    ) -> Result<(TokenHash, EmailTokenState), AuthError> {
        let token = EmailToken::parse(raw.trim()).ok_or(AuthError::InvalidEmailToken)?;
        let hash = token.hash();
        let state = self
            .core
            .store
            .email_token_state(&hash)
            .await?
            .ok_or(AuthError::InvalidEmailToken)?;
        if !purposes.contains(&state.purpose)
            || state.used_at.is_some()
            || state.expires_at <= self.core.now()
        {
            return Err(AuthError::InvalidEmailToken);
        }
        Ok((hash, state))
    }

    async fn consume(
        &self,
        hash: &TokenHash,
        state: &EmailTokenState,
        effect: &TokenEffect,
        mails: &[OutboundMail],
        audit: &AuditEvent,
    ) -> Result<(), AuthError> {
        let consumed = self
            .core
            .store
            .consume_email_token(
                hash,
                state.user.id,
                self.core.now(),
                effect,
                mails,
                Some(audit),
            )
            .await?;
        if !consumed {
            return Err(AuthError::InvalidEmailToken);
        }
        if !mails.is_empty() {
            self.core.mail_enqueued();
        }
        Ok(())
    }

    /// Marks the email verified with a token from the verification email.
    ///
    /// # Errors
    /// [`AuthError::InvalidEmailToken`] for an unknown, used, expired or superseded token.
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(&self, token: &str, client: &ClientInfo) -> Result<(), AuthError> {
        let (hash, state) = self.live_token(token, TokenPurpose::VerifyEmail).await?;
        let event = AuditEvent::new(
            AuditKind::EmailVerified,
            Some(state.user.id),
            client,
            serde_json::json!({}),
            self.core.now(),
        );
        self.consume(&hash, &state, &TokenEffect::VerifyEmail, &[], &event)
            .await?;
        tracing::info!(user_id = %state.user.id, "email verified");
        Ok(())
    }

    /// Sends a new verification email if the address belongs to an unverified, active account
    /// and none was sent within the resend interval. Silent in every case, so the caller can
    /// answer the same whether or not the account exists.
    ///
    /// # Errors
    /// Only on storage failure.
    #[tracing::instrument(skip_all)]
    pub async fn resend_verification(&self, email: &Email) -> Result<(), AuthError> {
        let core = &self.core;
        let Some(user) = self.active_user(email).await? else {
            return Ok(());
        };
        if user.email_verified {
            return Ok(());
        }
        if let Some(last) = core
            .store
            .latest_email_token_at(user.id, TokenPurpose::VerifyEmail)
            .await?
        {
            if core.now() - last < chrono_dur(core.email.resend_interval) {
                tracing::info!(user_id = %user.id, "verification resend throttled");
                return Ok(());
            }
        }
        let (record, mail) = core.verification_mail(user.id, &user.email, user.locale);
        core.store.issue_email_token(&record, true, &[mail]).await?;
        core.mail_enqueued();
        Ok(())
    }

    /// Emails a password-reset link if the address belongs to an active account; a newer
    /// request supersedes older links. Silent in every case.
    ///
    /// # Errors
    /// Only on storage failure.
    #[tracing::instrument(skip_all)]
    pub async fn forgot_password(
        &self,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        let Some(user) = self.active_user(email).await? else {
            return Ok(());
        };
        let (record, mail) = core.reset_mail(&user);
        core.store.issue_email_token(&record, true, &[mail]).await?;
        core.mail_enqueued();
        tracing::info!(user_id = %user.id, "password reset requested");
        core.audit(
            AuditKind::PasswordResetRequested,
            Some(user.id),
            client,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Sets a new password with a reset token, or the first password with an admin's invitation
    /// (which also marks the address verified: the link reached it). Every session of the user
    /// ends and every other reset token (and, for an invitation, every other invitation) stops
    /// working. The owner is notified by email. The two purposes keep their own lifetimes,
    /// wording and audit events; a verification or email-change token is refused.
    ///
    /// # Errors
    /// [`AuthError::InvalidEmailToken`]; [`AuthError::Overloaded`] when hashing is saturated.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &Password,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        let (hash, state) = self
            .live_token_of(
                token,
                &[TokenPurpose::ResetPassword, TokenPurpose::SetPassword],
            )
            .await?;
        core.check_policy(
            core.policy,
            new_password,
            &state.user.email,
            state.user.username.as_ref(),
            "new_password",
        )
        .await?;
        let password_hash = core.hasher.hash(new_password).await?;
        let t = core.now();
        let notice = OutboundMail::new(
            Some(state.user.id),
            state.user.email.as_str(),
            state.user.locale,
            PasswordChanged {
                email: state.user.email.as_str().to_owned(),
            },
            t,
        );
        let invited = state.purpose == TokenPurpose::SetPassword;
        let event = AuditEvent::new(
            AuditKind::PasswordResetCompleted,
            Some(state.user.id),
            client,
            serde_json::json!({ "invite": invited }),
            t,
        );
        let effect = if invited {
            TokenEffect::SetPassword { password_hash }
        } else {
            TokenEffect::ResetPassword { password_hash }
        };
        self.consume(&hash, &state, &effect, &[notice], &event)
            .await?;
        tracing::info!(user_id = %state.user.id, "password reset completed; all sessions ended");
        Ok(())
    }

    /// Changes the caller's password: the current one is required, every other session ends,
    /// outstanding reset links stop working, and the current session gets a fresh token pair.
    ///
    /// # Errors
    /// [`AuthError::Validation`] on `current_password` when it is wrong.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &Password,
        new_password: &Password,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let core = &self.core;
        self.reenter(
            who,
            current,
            ("current_password", "the current password is incorrect"),
            client,
        )
        .await?;
        core.check_policy(
            core.policy,
            new_password,
            &who.user.email,
            who.user.username.as_ref(),
            "new_password",
        )
        .await?;
        let password_hash = core.hasher.hash(new_password).await?;
        let refresh = RefreshToken::generate();
        let t = core.now();
        let notice = OutboundMail::new(
            Some(who.user.id),
            who.user.email.as_str(),
            who.user.locale,
            PasswordChanged {
                email: who.user.email.as_str().to_owned(),
            },
            t,
        );
        core.store
            .change_password(
                &PasswordChange {
                    user_id: who.user.id,
                    password_hash,
                    keep_session: who.session_id(),
                    new_refresh_hash: refresh.hash(),
                    now: t,
                },
                &notice,
                &AuditEvent::new(
                    AuditKind::PasswordChanged,
                    Some(who.user.id),
                    client,
                    serde_json::json!({}),
                    t,
                ),
            )
            .await?;
        core.mail_enqueued();
        tracing::info!("password changed; other sessions ended");
        pair(
            &self.tokens,
            who.user.clone(),
            &who.session_auth(),
            refresh,
            t,
        )
    }

    /// Starts an email change: the new address gets a confirmation link, the old one a notice.
    /// The account keeps its old address until the link is used. When the new address already
    /// belongs to an account, that address is told so instead; the caller's answer is the same.
    ///
    /// # Errors
    /// [`AuthError::Validation`] when the password is wrong or the address is the current one.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn request_email_change(
        &self,
        who: &Principal,
        new_email: Email,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        self.reenter(who, password, PASSWORD_FIELD, client).await?;
        if new_email.normalized() == who.user.email.normalized() {
            return Err(AuthError::field(
                "new_email",
                "unchanged",
                "this is already the account's address",
            ));
        }
        let uid = Some(who.user.id);
        let taken = core
            .store
            .user_for_login(&LoginName::Email(new_email.clone()))
            .await?
            .is_some();
        if taken {
            let mail = OutboundMail::new(
                uid,
                new_email.as_str(),
                who.user.locale,
                EmailChangeTaken {
                    email: new_email.as_str().to_owned(),
                },
                core.now(),
            );
            core.store.enqueue_mail(&[mail]).await?;
        } else {
            let ttl = core.email.change_ttl;
            let (token, record) = core.email_token(
                who.user.id,
                TokenPurpose::ChangeEmail,
                Some(new_email.clone()),
                ttl,
            );
            let confirm = OutboundMail::new(
                uid,
                new_email.as_str(),
                who.user.locale,
                EmailChangeConfirm {
                    expires_in: Lifetime::of(ttl),
                    link: core.link(Page::ConfirmEmail, &token),
                    new_email: new_email.as_str().to_owned(),
                },
                record.created_at,
            );
            let notice = OutboundMail::new(
                uid,
                who.user.email.as_str(),
                who.user.locale,
                EmailChangeNotice {
                    email: who.user.email.as_str().to_owned(),
                    new_email: new_email.as_str().to_owned(),
                },
                record.created_at,
            );
            core.store
                .issue_email_token(&record, true, &[confirm, notice])
                .await?;
        }
        core.mail_enqueued();
        tracing::info!("email change requested");
        core.audit(
            AuditKind::EmailChangeRequested,
            Some(who.user.id),
            client,
            serde_json::json!({"new_email": new_email.as_str(), "address_taken": taken}),
        )
        .await;
        Ok(())
    }

    /// Completes an email change with the link sent to the new address; the new address is
    /// verified by that very act.
    ///
    /// # Errors
    /// [`AuthError::InvalidEmailToken`]; [`AuthError::EmailTaken`] if the address was taken
    /// meanwhile (the token stays usable).
    #[tracing::instrument(skip_all)]
    pub async fn confirm_email_change(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let (hash, state) = self.live_token(token, TokenPurpose::ChangeEmail).await?;
        let new_email = state
            .new_email
            .clone()
            .ok_or(AuthError::InvalidEmailToken)?;
        let event = AuditEvent::new(
            AuditKind::EmailChangeConfirmed,
            Some(state.user.id),
            client,
            serde_json::json!({"old_email": state.user.email.as_str(), "new_email": new_email.as_str()}),
            self.core.now(),
        );
        self.consume(
            &hash,
            &state,
            &TokenEffect::ChangeEmail { new_email },
            &[],
            &event,
        )
        .await?;
        tracing::info!(user_id = %state.user.id, "email change confirmed");
        Ok(())
    }

    /// The caller's live sessions, newest first.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn sessions(&self, who: &Principal) -> Result<Vec<Session>, AuthError> {
        let core = &self.core;
        Ok(core
            .store
            .user_sessions(who.user.id, Some(core.now()))
            .await?)
    }

    /// The clients the caller allowed (OpenID Connect consent), with their names, newest first.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn grants(
        &self,
        who: &Principal,
    ) -> Result<Vec<(crate::oidc::Consent, String)>, AuthError> {
        Ok(self.core.store.user_consents(who.user.id).await?)
    }

    /// Withdraws the caller's consent to `client`: the consent is forgotten (the client asks
    /// again) and the sessions the client holds for the caller end, refresh tokens included.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when the caller has neither a consent for nor a session with it.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn revoke_grant(
        &self,
        who: &Principal,
        client: crate::client::ClientId,
        info: &ClientInfo,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        if !core
            .store
            .revoke_consent(who.user.id, client, core.now())
            .await?
        {
            return Err(AuthError::NotFound);
        }
        core.audit(
            AuditKind::OAuthGrantRevoked,
            Some(who.user.id),
            info,
            serde_json::json!({"client_id": client}),
        )
        .await;
        Ok(())
    }

    /// Ends one of the caller's sessions.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when it is not a live session of the caller.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn end_session(
        &self,
        who: &Principal,
        session: SessionId,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        if core
            .store
            .revoke_session_of(who.user.id, session, core.now())
            .await?
        {
            tracing::info!(session_id = %session, "session ended by its owner");
            core.audit(
                AuditKind::SessionRevoked,
                Some(who.user.id),
                client,
                serde_json::json!({"session_id": session}),
            )
            .await;
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Deletes the caller's account and everything tied to it, atomically; their tokens stop
    /// working at once.
    ///
    /// # Errors
    /// [`AuthError::Validation`] on `password` when it is wrong; [`AuthError::LastAdmin`] when
    /// the caller is the last active admin.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn delete_account(
        &self,
        who: &Principal,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        self.reenter(who, password, PASSWORD_FIELD, client).await?;
        // The guarded delete: the last active admin cannot leave the system without an admin
        // this way either. An account already gone is simply gone.
        match core
            .store
            .admin_delete_user(who.user.id, core.now())
            .await?
        {
            AdminOutcome::Done(()) | AdminOutcome::NotFound => {}
            AdminOutcome::LastAdmin => return Err(AuthError::LastAdmin),
            AdminOutcome::UnknownRole => {
                return Err(AuthError::Internal("unexpected outcome of a delete".into()))
            }
        }
        tracing::info!("account deleted by its owner");
        core.audit(
            AuditKind::AccountDeleted,
            Some(who.user.id),
            client,
            serde_json::json!({"by": "owner"}),
        )
        .await;
        Ok(())
    }

    /// Everything stored about the caller, without secrets.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn export(&self, who: &Principal) -> Result<AccountExport, AuthError> {
        let sessions = self.core.store.user_sessions(who.user.id, None).await?;
        let security_events = self.core.store.user_audit(who.user.id, 1000).await?;
        let factors = self.core.store.user_factors(who.user.id).await?;
        Ok(AccountExport {
            factors,
            exported_at: self.core.now(),
            security_events,
            user: who.user.clone(),
            sessions,
        })
    }
}
