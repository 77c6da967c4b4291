//! Operator powers: the user list, user changes, unlocks, session revocation, roles, the audit
//! trail, and bootstrapping the first admin. Every change is recorded in the audit trail with
//! the acting admin's id.
//!
//! Who may call these is decided before they run (the HTTP layer's admin extractor checks the
//! `admin` role against the database on every request); these functions enforce the rules that
//! hold whoever calls: the last active admin stays, built-in roles stay, roles must exist.

use crate::audit::{AuditEvent, AuditKind, AuditRecord};
use crate::clock::now;
use crate::error::AuthError;
use crate::mail::{MailKind, OutboundMail};
use crate::model::{ClientInfo, DisplayName, Email, RoleName, Session, User, UserId, Username};
use crate::password::Password;
use crate::service::{
    create_account, email_token, human, link, AuthService, LockoutKey, Principal, Registration,
};
use crate::store::{
    AdminOutcome, AdminUserChange, AuditQuery, RoleInfo, TokenPurpose, UserFilter, UserQuery,
};
use uuid::Uuid;

/// Largest page of the admin lists.
pub const MAX_PAGE: u32 = 200;

/// One page of users and where the next one starts.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    pub next_cursor: Option<UserId>,
    pub total: Option<u64>,
}

/// What to email a user an admin creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invite {
    /// A verification link (the user has a password already).
    Verification,
    /// A link to choose a password (the admin set none).
    SetPassword,
}

/// A user as an admin creates it.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Email,
    pub username: Option<Username>,
    pub display_name: Option<DisplayName>,
    /// `None`: an unusable random password; pair with [`Invite::SetPassword`].
    pub password: Option<Password>,
    pub roles: Vec<RoleName>,
    pub email_verified: bool,
    pub invite: Option<Invite>,
}

fn outcome<T>(o: AdminOutcome<T>) -> Result<T, AuthError> {
    match o {
        AdminOutcome::Done(v) => Ok(v),
        AdminOutcome::NotFound => Err(AuthError::NotFound),
        AdminOutcome::LastAdmin => Err(AuthError::LastAdmin),
        AdminOutcome::UnknownRole => Err(AuthError::field(
            "roles",
            "unknown_role",
            "a named role does not exist",
        )),
    }
}

impl AuthService {
    async fn admin_audit(
        &self,
        kind: AuditKind,
        actor: &Principal,
        subject: Option<UserId>,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) {
        let mut event = AuditEvent::new(kind, subject, client, detail);
        event.actor_id = Some(actor.user.id);
        if let Err(e) = self.store.record_audit(&event).await {
            tracing::error!(error = %e, event = kind.as_str(), "audit event could not be recorded");
        }
    }

    async fn ensure_roles_exist(&self, roles: &[RoleName]) -> Result<(), AuthError> {
        if roles.is_empty() {
            return Ok(());
        }
        let known = self.store.list_roles().await?;
        if roles.iter().all(|r| known.iter().any(|k| &k.name == r)) {
            Ok(())
        } else {
            Err(AuthError::field(
                "roles",
                "unknown_role",
                "a named role does not exist",
            ))
        }
    }

    /// One page of users matching `filter`, after the cursor, in creation order.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list_users(
        &self,
        filter: UserFilter,
        after: Option<UserId>,
        limit: u32,
        include_total: bool,
    ) -> Result<UserPage, AuthError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let t = now();
        let mut users = self
            .store
            .list_users(&UserQuery {
                filter: filter.clone(),
                after,
                limit: limit + 1,
                now: t,
            })
            .await?;
        let next_cursor = if users.len() > limit as usize {
            users.truncate(limit as usize);
            users.last().map(|u| u.id)
        } else {
            None
        };
        let total = if include_total {
            Some(self.store.count_users(&filter, t).await?)
        } else {
            None
        };
        Ok(UserPage {
            users,
            next_cursor,
            total,
        })
    }

    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn get_user(&self, id: UserId) -> Result<User, AuthError> {
        self.store.user_by_id(id).await?.ok_or(AuthError::NotFound)
    }

    /// Creates a user, optionally emailing a verification or set-password link.
    ///
    /// # Errors
    /// Validation (policy, unknown role), [`AuthError::EmailTaken`], [`AuthError::UsernameTaken`].
    pub async fn admin_create_user(
        &self,
        actor: &Principal,
        client: &ClientInfo,
        new: NewAccount,
    ) -> Result<User, AuthError> {
        self.ensure_roles_exist(&new.roles).await?;
        let (password, random_password) = match new.password {
            Some(p) => (p, false),
            None => {
                let secret = crate::token::RefreshToken::generate();
                (Password::for_login(secret.reveal()), true)
            }
        };
        let send_verification = (new.invite == Some(Invite::Verification) && !new.email_verified)
            .then_some(&self.email);
        let reg = Registration {
            email: new.email,
            username: new.username,
            display_name: new.display_name,
            password,
        };
        // A random password needs no policy check: nobody will ever type it.
        let policy = if random_password {
            crate::policy::PasswordPolicy::new(0).unwrap_or_default()
        } else {
            self.policy
        };
        let mut role_list = new.roles.clone();
        role_list.sort();
        let mut created = AuditEvent::new(
            AuditKind::AdminUserCreated,
            None,
            client,
            serde_json::json!({"roles": crate::token::role_names(&role_list), "invite": new.invite.map(|i| format!("{i:?}"))}),
        );
        created.actor_id = Some(actor.user.id);
        let user = create_account(
            self.store.as_ref(),
            &self.hasher,
            policy,
            reg,
            new.roles,
            new.email_verified,
            send_verification,
            Some(created),
        )
        .await?;
        if new.invite == Some(Invite::SetPassword) {
            let (token, record) = email_token(
                user.id,
                TokenPurpose::ResetPassword,
                None,
                self.email.reset_ttl,
            );
            let mail = OutboundMail::new(
                Some(user.id),
                user.email.as_str(),
                MailKind::PasswordReset,
                &[
                    ("link", &link(&self.email, "reset-password", &token)),
                    ("email", user.email.as_str()),
                    ("expires_in", &human(self.email.reset_ttl)),
                ],
            );
            self.store.issue_email_token(&record, true, &[mail]).await?;
        }
        self.mail_enqueued();
        Ok(user)
    }

    /// Changes activity, verification, profile or roles; deactivation ends every session at once.
    ///
    /// # Errors
    /// [`AuthError::NotFound`], [`AuthError::LastAdmin`], unknown role, [`AuthError::UsernameTaken`].
    pub async fn admin_update_user(
        &self,
        actor: &Principal,
        client: &ClientInfo,
        id: UserId,
        change: AdminUserChange,
    ) -> Result<User, AuthError> {
        if let Some(roles) = &change.roles {
            self.ensure_roles_exist(roles).await?;
        }
        let user = outcome(self.store.admin_update_user(id, &change, now()).await?)?;
        let detail = serde_json::json!({
            "is_active": change.is_active,
            "email_verified": change.email_verified,
            "roles": change.roles.as_ref().map(|r| crate::token::role_names(r)),
            "display_name_changed": change.profile.display_name.is_some(),
            "username_changed": change.profile.username.is_some(),
        });
        self.admin_audit(AuditKind::AdminUserUpdated, actor, Some(id), client, detail)
            .await;
        Ok(user)
    }

    /// # Errors
    /// [`AuthError::NotFound`], [`AuthError::LastAdmin`].
    pub async fn admin_delete_user(
        &self,
        actor: &Principal,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AuthError> {
        outcome(self.store.admin_delete_user(id).await?)?;
        self.admin_audit(
            AuditKind::AdminUserDeleted,
            actor,
            Some(id),
            client,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Clears the user's shared login pause and failure streak, and the streak of wrong current
    /// passwords. Known devices keep their own streaks (their ids are not stored with the user).
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn admin_unlock(
        &self,
        actor: &Principal,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<(), AuthError> {
        self.get_user(id).await?;
        for key in [LockoutKey::Account(id), LockoutKey::Reauth(id)] {
            self.store.clear_login_failures(&key.stored()).await?;
        }
        self.admin_audit(
            AuditKind::AdminUserUnlocked,
            actor,
            Some(id),
            client,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Ends every session of the user.
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn admin_revoke_sessions(
        &self,
        actor: &Principal,
        client: &ClientInfo,
        id: UserId,
    ) -> Result<u64, AuthError> {
        self.get_user(id).await?;
        let n = self.store.revoke_user_sessions(id, now()).await?;
        self.admin_audit(
            AuditKind::AdminSessionsRevoked,
            actor,
            Some(id),
            client,
            serde_json::json!({"sessions_ended": n}),
        )
        .await;
        Ok(n)
    }

    /// The user's live sessions.
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn admin_user_sessions(&self, id: UserId) -> Result<Vec<Session>, AuthError> {
        self.get_user(id).await?;
        Ok(self.store.user_sessions(id, Some(now())).await?)
    }

    /// # Errors
    /// Only on storage failure.
    pub async fn roles(&self) -> Result<Vec<RoleInfo>, AuthError> {
        Ok(self.store.list_roles().await?)
    }

    /// # Errors
    /// [`AuthError::RoleExists`].
    pub async fn create_role(
        &self,
        actor: &Principal,
        client: &ClientInfo,
        name: RoleName,
        description: &str,
    ) -> Result<RoleInfo, AuthError> {
        if !self.store.create_role(&name, description, now()).await? {
            return Err(AuthError::RoleExists);
        }
        self.admin_audit(
            AuditKind::AdminRoleCreated,
            actor,
            None,
            client,
            serde_json::json!({"role": name.as_str()}),
        )
        .await;
        self.store
            .list_roles()
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or(AuthError::NotFound)
    }

    /// Deletes a custom role and its grants.
    ///
    /// # Errors
    /// [`AuthError::BuiltInRole`] for `admin`; [`AuthError::NotFound`].
    pub async fn delete_role(
        &self,
        actor: &Principal,
        client: &ClientInfo,
        name: RoleName,
    ) -> Result<(), AuthError> {
        let roles = self.store.list_roles().await?;
        let role = roles
            .iter()
            .find(|r| r.name == name)
            .ok_or(AuthError::NotFound)?;
        if role.built_in {
            return Err(AuthError::BuiltInRole);
        }
        if !self.store.delete_role(&name).await? {
            return Err(AuthError::NotFound);
        }
        self.admin_audit(
            AuditKind::AdminRoleDeleted,
            actor,
            None,
            client,
            serde_json::json!({"role": name.as_str()}),
        )
        .await;
        Ok(())
    }

    /// One page of the audit trail, newest first, and the cursor of the next page.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn audit_events(
        &self,
        mut q: AuditQuery,
    ) -> Result<(Vec<AuditRecord>, Option<Uuid>), AuthError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        q.limit = limit + 1;
        let mut events = self.store.query_audit(&q).await?;
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|e| e.id)
        } else {
            None
        };
        Ok((events, next))
    }

    /// Creates the first admin when none exists (container deployments). Several nodes may try
    /// at once: one creates it, the others find the address taken and do nothing.
    ///
    /// # Errors
    /// Policy or storage failures.
    pub async fn bootstrap_admin(
        &self,
        email: Email,
        password: Password,
    ) -> Result<bool, AuthError> {
        if self.store.count_active_admins().await? > 0 {
            return Ok(false);
        }
        let reg = Registration {
            email,
            username: None,
            display_name: None,
            password,
        };
        match create_account(
            self.store.as_ref(),
            &self.hasher,
            self.policy,
            reg,
            vec![RoleName::admin()],
            true,
            None,
            Some(AuditEvent::new(
                AuditKind::AdminUserCreated,
                None,
                &ClientInfo::default(),
                serde_json::json!({"bootstrap": true}),
            )),
        )
        .await
        {
            Ok(user) => {
                tracing::info!(user_id = %user.id, "bootstrap admin created");
                Ok(true)
            }
            Err(AuthError::EmailTaken) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
