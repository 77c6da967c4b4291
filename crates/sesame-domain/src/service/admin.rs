//! [`Admin`]: operator powers over other users: the user list, user changes, unlocks, session
//! revocation, roles, the audit trail, and bootstrapping the first admin. Every change is
//! recorded in the audit trail with the acting admin's id.
//!
//! Holding an [`Admin`] *is* the permission: its fields are private and only two constructors
//! exist. [`AdminGate::authorize`] checks that a signed-in [`Principal`] holds the `admin` role
//! (read from the database with the session on every request, not from the token, so a demoted
//! admin loses the powers at once); [`Admin::local_operator`] is for whoever already holds the
//! database and the configuration (the CLI, startup's bootstrap) and needs the [`Core`] itself,
//! which the services keep private once built. A caller that has neither cannot reach these
//! operations, whatever it holds of the other services (a request handler holds the gate and the
//! other services, never a `Core`).
//!
//! These functions enforce the rules that hold whoever calls: the last active admin stays,
//! built-in roles stay, roles must exist. They refuse to act as a user on their own account
//! (that is [`super::Account`]).

use crate::audit::{AuditEvent, AuditKind, AuditRecord};
use crate::error::AuthError;
use crate::locale::Locale;
use crate::model::{
    ClientInfo, DisplayName, Email, RoleName, Session, SessionId, User, UserId, Username,
};
use crate::password::Password;
use crate::store::{AdminOutcome, AdminUserChange, AuditQuery, RoleInfo, UserFilter, UserQuery};
use std::sync::Arc;
use uuid::Uuid;

mod clients;

use super::core::Core;
use super::{Principal, Registration};
use crate::store::LockoutKey;

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
    /// The language of the user's emails; `None`: the server's default.
    pub locale: Option<Locale>,
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

/// Hands out [`Admin`] capabilities to signed-in admins: what request handlers hold.
#[derive(Debug)]
pub struct AdminGate {
    core: Arc<Core>,
}

/// The capability to run admin operations, acting as [`Admin::caller`] (or as the local
/// operator). Only [`AdminGate`] makes one.
#[derive(Debug)]
pub struct Admin {
    core: Arc<Core>,
    actor: Option<Principal>,
}

impl AdminGate {
    #[must_use]
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// The admin capability for `who`, if `who` holds the `admin` role now.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`] when `who` is not an admin.
    pub fn authorize(&self, who: &Principal) -> Result<Admin, AuthError> {
        if who.user.has_role(RoleName::ADMIN) {
            Ok(Admin {
                core: Arc::clone(&self.core),
                actor: Some(who.clone()),
            })
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

impl Admin {
    /// The admin capability of the local operator: whoever runs Sesame with its database and
    /// configuration in hand, and so holds the `Core` before the services take it (the `sesame
    /// users` commands, the bootstrap admin at startup). That party can change the database
    /// directly anyway, so no role check applies; audit entries it causes carry no actor.
    #[must_use]
    pub fn local_operator(core: Arc<Core>) -> Self {
        Self { core, actor: None }
    }

    /// The signed-in admin this capability acts for; `None` for the local operator.
    #[must_use]
    pub fn caller(&self) -> Option<&Principal> {
        self.actor.as_ref()
    }

    /// The caller's session, to mark it in session lists.
    #[must_use]
    pub fn caller_session(&self) -> Option<SessionId> {
        self.actor.as_ref().map(Principal::session_id)
    }

    async fn admin_audit(
        &self,
        kind: AuditKind,
        subject: Option<UserId>,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) {
        let mut event = AuditEvent::new(kind, subject, client, detail, self.core.now());
        event.actor_id = self.actor.as_ref().map(|a| a.user.id);
        self.core.record(event).await;
    }

    async fn ensure_roles_exist(&self, roles: &[RoleName]) -> Result<(), AuthError> {
        if roles.is_empty() {
            return Ok(());
        }
        let known = self.core.store.list_roles().await?;
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
        let t = self.core.now();
        let mut users = self
            .core
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
            Some(self.core.store.count_users(&filter, t).await?)
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
        self.core
            .store
            .user_by_id(id)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Creates a user, optionally emailing a verification or set-password link.
    ///
    /// # Errors
    /// Validation (policy, unknown role), [`AuthError::EmailTaken`], [`AuthError::UsernameTaken`].
    pub async fn create_user(
        &self,
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
        let send_verification = new.invite == Some(Invite::Verification) && !new.email_verified;
        let reg = Registration {
            email: new.email,
            username: new.username,
            display_name: new.display_name,
            password,
            locale: new.locale,
        };
        // A random password needs no policy check: nobody will ever type it.
        let policy = if random_password {
            crate::policy::PasswordPolicy::new(0).unwrap_or_default()
        } else {
            self.core.policy
        };
        let mut role_list = new.roles.clone();
        role_list.sort();
        let mut created = AuditEvent::new(
            AuditKind::AdminUserCreated,
            None,
            client,
            serde_json::json!({"roles": crate::token::role_names(&role_list), "invite": new.invite.map(|i| format!("{i:?}"))}),
            self.core.now(),
        );
        created.actor_id = self.actor.as_ref().map(|a| a.user.id);
        let user = self
            .core
            .create_account(
                policy,
                reg,
                new.roles,
                new.email_verified,
                send_verification,
                Some(created),
            )
            .await?;
        if new.invite == Some(Invite::SetPassword) {
            let (record, mail) = self.core.invite_mail(&user);
            self.core
                .store
                .issue_email_token(&record, true, &[mail])
                .await?;
        }
        self.core.mail_enqueued();
        Ok(user)
    }

    /// Changes activity, verification, profile or roles; deactivation ends every session at once.
    ///
    /// # Errors
    /// [`AuthError::NotFound`], [`AuthError::LastAdmin`], unknown role, [`AuthError::UsernameTaken`].
    pub async fn update_user(
        &self,
        client: &ClientInfo,
        id: UserId,
        change: AdminUserChange,
    ) -> Result<User, AuthError> {
        if let Some(roles) = &change.roles {
            // Granting or taking roles is sensitive: the admin proves themself recently (the
            // local operator, who has no session, is not asked).
            if let Some(actor) = &self.actor {
                super::factors::require_recent(&self.core, actor).await?;
            }
            self.ensure_roles_exist(roles).await?;
        }
        let user = outcome(
            self.core
                .store
                .admin_update_user(id, &change, self.core.now())
                .await?,
        )?;
        let detail = serde_json::json!({
            "is_active": change.is_active,
            "email_verified": change.email_verified,
            "roles": change.roles.as_ref().map(|r| crate::token::role_names(r)),
            "display_name_changed": change.profile.display_name.is_some(),
            "username_changed": change.profile.username.is_some(),
            "locale": change.profile.locale.map(crate::locale::Locale::as_str),
        });
        self.admin_audit(AuditKind::AdminUserUpdated, Some(id), client, detail)
            .await;
        Ok(user)
    }

    /// The user's second factors (never their secrets) and unused recovery codes.
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn user_factors(
        &self,
        id: UserId,
    ) -> Result<super::factors::FactorOverview, AuthError> {
        self.get_user(id).await?;
        super::factors::overview(&self.core, id).await
    }

    /// Removes every second factor and recovery code of the user (a lost phone), audited, with
    /// a mail to the user. Their sessions stay; the next sign-in asks for no second factor (or,
    /// under `SESAME_MFA_REQUIRED`, for an enrolment).
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn reset_factors(&self, client: &ClientInfo, id: UserId) -> Result<u64, AuthError> {
        // Stripping an account's second factors is as sensitive as changing its roles.
        if let Some(actor) = &self.actor {
            super::factors::require_recent(&self.core, actor).await?;
        }
        let user = self.get_user(id).await?;
        let actor = self.actor.as_ref().map(|a| a.user.id);
        let fx = super::factors::removed_effects(&self.core, &user, None, actor, client);
        let n = self.core.store.delete_factors(id, None, &fx).await?;
        self.core.mail_enqueued();
        tracing::info!(user_id = %id, factors = n, "second factors reset by an operator");
        Ok(n)
    }

    /// # Errors
    /// [`AuthError::NotFound`], [`AuthError::LastAdmin`].
    pub async fn delete_user(&self, client: &ClientInfo, id: UserId) -> Result<(), AuthError> {
        outcome(
            self.core
                .store
                .admin_delete_user(id, self.core.now())
                .await?,
        )?;
        self.admin_audit(
            AuditKind::AdminUserDeleted,
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
    pub async fn unlock(&self, client: &ClientInfo, id: UserId) -> Result<(), AuthError> {
        self.get_user(id).await?;
        for key in [LockoutKey::Account(id), LockoutKey::Reauth(id)] {
            self.core.store.clear_login_failures(&key).await?;
        }
        self.admin_audit(
            AuditKind::AdminUserUnlocked,
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
    pub async fn revoke_sessions(&self, client: &ClientInfo, id: UserId) -> Result<u64, AuthError> {
        self.get_user(id).await?;
        let n = self
            .core
            .store
            .revoke_user_sessions(id, self.core.now())
            .await?;
        self.admin_audit(
            AuditKind::AdminSessionsRevoked,
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
    pub async fn user_sessions(&self, id: UserId) -> Result<Vec<Session>, AuthError> {
        self.get_user(id).await?;
        Ok(self
            .core
            .store
            .user_sessions(id, Some(self.core.now()))
            .await?)
    }

    /// # Errors
    /// Only on storage failure.
    pub async fn roles(&self) -> Result<Vec<RoleInfo>, AuthError> {
        Ok(self.core.store.list_roles().await?)
    }

    /// # Errors
    /// [`AuthError::RoleExists`].
    pub async fn create_role(
        &self,
        client: &ClientInfo,
        name: RoleName,
        description: &str,
    ) -> Result<RoleInfo, AuthError> {
        if !self
            .core
            .store
            .create_role(&name, description, self.core.now())
            .await?
        {
            return Err(AuthError::RoleExists);
        }
        self.admin_audit(
            AuditKind::AdminRoleCreated,
            None,
            client,
            serde_json::json!({"role": name.as_str()}),
        )
        .await;
        self.core
            .store
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
    pub async fn delete_role(&self, client: &ClientInfo, name: RoleName) -> Result<(), AuthError> {
        let roles = self.core.store.list_roles().await?;
        let role = roles
            .iter()
            .find(|r| r.name == name)
            .ok_or(AuthError::NotFound)?;
        if role.built_in {
            return Err(AuthError::BuiltInRole);
        }
        if !self.core.store.delete_role(&name).await? {
            return Err(AuthError::NotFound);
        }
        self.admin_audit(
            AuditKind::AdminRoleDeleted,
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
        let mut events = self.core.store.query_audit(&q).await?;
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
        if self.core.store.count_active_admins().await? > 0 {
            return Ok(false);
        }
        let reg = Registration {
            email,
            username: None,
            display_name: None,
            password,
            locale: None,
        };
        let event = AuditEvent::new(
            AuditKind::AdminUserCreated,
            None,
            &ClientInfo::default(),
            serde_json::json!({"bootstrap": true}),
            self.core.now(),
        );
        let core = &self.core;
        let created = core
            .create_account(
                core.policy,
                reg,
                vec![RoleName::admin()],
                true,
                false,
                Some(event),
            )
            .await;
        match created {
            Ok(user) => {
                tracing::info!(user_id = %user.id, "bootstrap admin created");
                Ok(true)
            }
            Err(AuthError::EmailTaken) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates a user whose address the operator vouches for (marked verified, no email sent),
    /// with `roles`: the `sesame users create` command. Unlike [`Admin::create_user`] it writes
    /// no audit entry, as operator tools never have.
    ///
    /// # Errors
    /// As [`super::SignIn::register`].
    #[tracing::instrument(skip_all)]
    pub async fn create_verified_user(
        &self,
        reg: Registration,
        roles: Vec<RoleName>,
    ) -> Result<User, AuthError> {
        let core = &self.core;
        let user = core
            .create_account(core.policy, reg, roles, true, false, None)
            .await?;
        core.mail_enqueued();
        Ok(user)
    }
}
