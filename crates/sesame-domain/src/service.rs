//! The account lifecycle: registration, login, token refresh with rotation and theft detection,
//! authentication of access tokens against live sessions, logout, and profile changes.
//!
//! [`AuthService`] composes the store, the password hasher and the token issuer. It takes parsed
//! domain values and returns domain values; turning them into HTTP (or CLI output) is the
//! caller's job.

use crate::clock::{now, Timestamp};
use crate::error::AuthError;
use crate::model::{
    ClientInfo, DisplayName, Email, LoginName, NewUser, ProfilePatch, RoleName, Session, SessionId,
    User, UserId, Username,
};
use crate::password::{Password, PasswordHasher};
use crate::store::{NewSession, Store};
use crate::token::{random_secret, AccessClaims, RefreshToken, TokenIssuer};
use std::sync::Arc;
use std::time::Duration;

/// Lifetimes that shape sessions.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// How long a session lives without being refreshed; every refresh slides it forward.
    pub refresh_ttl: Duration,
    /// How long after a refresh token was rotated it may still be presented (concurrent tabs)
    /// and receive the same successor. Later presentation is treated as theft.
    pub reuse_grace: Duration,
}

/// A new account's fields, already parsed.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub username: Option<Username>,
    pub display_name: Option<DisplayName>,
    pub password: Password,
}

/// What a successful login or refresh hands back.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: RefreshToken,
    pub session_id: SessionId,
    pub user: User,
}

/// The caller of an authenticated request: the verified claims and the live user behind them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub claims: AccessClaims,
}

impl Principal {
    #[must_use]
    pub fn session_id(&self) -> SessionId {
        self.claims.session_id()
    }
}

pub struct AuthService {
    store: Arc<dyn crate::store::Store>,
    hasher: Arc<PasswordHasher>,
    tokens: TokenIssuer,
    sessions: SessionSettings,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("backend", &self.store.backend())
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// Hashes the password and stores a new account: the one way accounts come to exist, shared by
/// the service and operator tools that have no token issuer (the CLI).
///
/// # Errors
/// [`AuthError::EmailTaken`] / [`AuthError::UsernameTaken`] on duplicates;
/// [`AuthError::Overloaded`] when hashing is saturated.
pub async fn create_account(
    store: &dyn Store,
    hasher: &Arc<PasswordHasher>,
    reg: Registration,
    roles: Vec<RoleName>,
    email_verified: bool,
) -> Result<User, AuthError> {
    let password_hash = hasher.hash(&reg.password).await?;
    let new = NewUser {
        id: UserId::new(),
        email: reg.email,
        username: reg.username,
        display_name: reg.display_name,
        password_hash,
        email_verified,
        roles,
        now: now(),
    };
    let user = store.insert_user(&new).await?;
    tracing::info!(user_id = %user.id, "user created");
    Ok(user)
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl AuthService {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<PasswordHasher>,
        tokens: TokenIssuer,
        sessions: SessionSettings,
    ) -> Self {
        Self {
            store,
            hasher,
            tokens,
            sessions,
        }
    }

    #[must_use]
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Self-service registration: never grants roles, never marks the email verified.
    ///
    /// # Errors
    /// [`AuthError::EmailTaken`] / [`AuthError::UsernameTaken`] on duplicates (decided by the
    /// store's unique indexes, so concurrent registrations cannot both win).
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, reg: Registration) -> Result<User, AuthError> {
        self.create_user(reg, Vec::new(), false).await
    }

    /// Creates a user with the given roles, for operators (CLI, later the admin API).
    ///
    /// # Errors
    /// As [`AuthService::register`].
    #[tracing::instrument(skip_all)]
    pub async fn create_user(
        &self,
        reg: Registration,
        roles: Vec<RoleName>,
        email_verified: bool,
    ) -> Result<User, AuthError> {
        create_account(
            self.store.as_ref(),
            &self.hasher,
            reg,
            roles,
            email_verified,
        )
        .await
    }

    /// Checks a password and opens a session. Unknown accounts cost the same hash as known ones
    /// and fail with the same error as a wrong password. A deactivated account is refused only
    /// after its password checked out, so the refusal tells a stranger nothing.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::AccountDisabled`],
    /// [`AuthError::Overloaded`] when hashing is saturated.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        name: Option<LoginName>,
        password: &Password,
        client: ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let found = match &name {
            Some(n) => self.store.user_for_login(n).await?,
            None => None,
        };
        let stored_hash = found.as_ref().map(|f| f.password_hash.clone());
        let verified = self.hasher.verify(password, stored_hash).await?;
        let Some(found) = found.filter(|_| verified.matches) else {
            tracing::info!("login failed: invalid credentials");
            return Err(AuthError::InvalidCredentials);
        };
        let user = found.user;
        if !user.is_active {
            tracing::info!(user_id = %user.id, "login refused: account deactivated");
            return Err(AuthError::AccountDisabled);
        }
        if verified.needs_rehash {
            self.upgrade_hash(user.id, password).await;
        }
        self.open_session(user, client).await
    }

    async fn upgrade_hash(&self, id: UserId, password: &Password) {
        let result = match self.hasher.hash(password).await {
            Ok(h) => self
                .store
                .set_password_hash(id, &h, now())
                .await
                .map_err(AuthError::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                tracing::info!(user_id = %id, "password hash upgraded to current argon2id parameters")
            }
            // The login itself succeeded; the upgrade is retried at the next login.
            Err(e) => tracing::warn!(user_id = %id, error = %e, "password hash upgrade failed"),
        }
    }

    async fn open_session(
        &self,
        mut user: User,
        client: ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let t = now();
        let refresh = RefreshToken::generate();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            created_at: t,
            last_used_at: t,
            expires_at: t + chrono_dur(self.sessions.refresh_ttl),
            revoked_at: None,
            ip: client.ip,
            user_agent: client.user_agent,
        };
        let sid = session.id;
        self.store
            .create_session(&NewSession {
                session,
                refresh_secret: random_secret(),
                first_refresh_hash: refresh.hash(),
            })
            .await?;
        user.last_login_at = Some(t);
        tracing::info!(user_id = %user.id, session_id = %sid, "session opened");
        self.pair(user, sid, refresh, t)
    }

    fn pair(
        &self,
        user: User,
        sid: SessionId,
        refresh: RefreshToken,
        t: Timestamp,
    ) -> Result<TokenPair, AuthError> {
        Ok(TokenPair {
            access_token: self.tokens.issue(&user, sid, t)?,
            expires_in: self.tokens.access_ttl().as_secs(),
            refresh_token: refresh,
            session_id: sid,
            user,
        })
    }

    /// Exchanges a refresh token for a new access token and its successor refresh token.
    ///
    /// A token already exchanged less than the grace window ago (two tabs refreshing at once)
    /// yields the *same* successor again, so exactly one family member stays live. Presenting it
    /// after the window is treated as theft: the whole session is revoked.
    ///
    /// # Errors
    /// [`AuthError::InvalidRefreshToken`] for anything but a live, current token.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, AuthError> {
        let token = RefreshToken::parse(presented).ok_or(AuthError::InvalidRefreshToken)?;
        let hash = token.hash();
        let t = now();
        for _ in 0..2 {
            let Some(state) = self.store.refresh_token_state(&hash).await? else {
                return Err(AuthError::InvalidRefreshToken);
            };
            let session = &state.session;
            if session.revoked_at.is_some() || session.expires_at <= t || !state.user.is_active {
                return Err(AuthError::InvalidRefreshToken);
            }
            let successor = token.successor(&state.refresh_secret);
            match state.used_at {
                None => {
                    let expires = t + chrono_dur(self.sessions.refresh_ttl);
                    let rotated = self
                        .store
                        .rotate_refresh_token(&hash, &successor.hash(), session.id, t, expires)
                        .await?;
                    if rotated {
                        return self.pair(state.user, session.id, successor, t);
                    }
                    // Lost a race with a concurrent refresh of the same token: look again, the
                    // token is now used and the grace rule decides.
                }
                Some(used_at) if t - used_at <= chrono_dur(self.sessions.reuse_grace) => {
                    tracing::info!(session_id = %session.id, "refresh token reused inside the grace window; same successor returned");
                    return self.pair(state.user, session.id, successor, t);
                }
                Some(_) => {
                    self.store.revoke_session(session.id, t).await?;
                    tracing::warn!(
                        user_id = %state.user.id,
                        session_id = %session.id,
                        event = "refresh_token_reuse_detected",
                        "a rotated refresh token was presented again after the grace window; session revoked"
                    );
                    return Err(AuthError::InvalidRefreshToken);
                }
            }
        }
        Err(AuthError::InvalidRefreshToken)
    }

    /// Verifies an access token and checks, with one indexed lookup, that its session is still
    /// live and its user still active. This is what makes logout take effect at once.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] with the reason.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let claims = self.tokens.verify(bearer)?;
        let user = self
            .store
            .active_session_user(claims.session_id(), claims.user_id(), now())
            .await?
            .ok_or(AuthError::InvalidToken("session_ended"))?;
        Ok(Principal { user, claims })
    }

    /// Ends the caller's current session.
    ///
    /// # Errors
    /// [`AuthError::Internal`] on a storage failure.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn logout(&self, who: &Principal) -> Result<(), AuthError> {
        self.store.revoke_session(who.session_id(), now()).await?;
        tracing::info!(session_id = %who.session_id(), "session ended by logout");
        Ok(())
    }

    /// Ends every session of the caller.
    ///
    /// # Errors
    /// [`AuthError::Internal`] on a storage failure.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn logout_all(&self, who: &Principal) -> Result<u64, AuthError> {
        let n = self.store.revoke_user_sessions(who.user.id, now()).await?;
        tracing::info!(sessions = n, "all sessions ended by logout-all");
        Ok(n)
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
        self.store
            .update_profile(who.user.id, &patch, now())
            .await?
            .ok_or(AuthError::InvalidToken("session_ended"))
    }
}
