//! [`SignIn`]: what an anonymous caller or a bearer of tokens may do to get in and out:
//! register, sign in (with progressive pauses), exchange refresh tokens (rotation, grace window,
//! theft detection), authenticate an access token against its live session, and log out.
//!
//! It refuses everything else: no profile or password changes (that is [`super::Account`]), no
//! operation on another user (that is [`super::Admin`]), and no decision about HTTP, cookies or
//! rate limits (the HTTP layer's).

use crate::audit::{AuditEvent, AuditKind};
use crate::client::{GrantType, OAuthClient};
use crate::clock::Timestamp;
use crate::device::{DeviceId, DeviceTokens};
use crate::error::AuthError;
use crate::keyed_lock::KeyedLock;
use crate::mfa::{Amr, AuthMethod, FactorKind};
use crate::model::{ClientInfo, LoginName, Session, SessionId, User, UserId, UserWithHash};
use crate::password::Password;
use crate::store::SessionKind;
use crate::store::{ChallengePurpose, NewChallenge, NewSession, Store};
use crate::token::{
    random_secret, AccessClaims, ChallengeToken, ClientAccess, RefreshToken, SessionAuth,
    TokenIssuer,
};
use std::sync::Arc;
use std::time::Duration;

use super::core::{chrono_dur, Core};
use super::factors::{
    check_answer, enrolment_only, passkey_credentials, passkey_verified, secs_until, SecondFactor,
};
use super::lockout::{count_failure, paused_until, retry_secs, LockoutSettings};
use super::{Principal, Registration, TokenPair};
use crate::store::LockoutKey;

/// What a login challenge keeps between the password and the second factor (its `state`, as
/// JSON): the known device the password came from, and the passkey ceremony offered.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct LoginChallengeState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webauthn: Option<String>,
    /// The password came from the hosted sign-in page: the session to open is a browser one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    browser: bool,
}

/// Lifetimes that shape sessions.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// How long a session lives without being refreshed; every refresh slides it forward.
    pub refresh_ttl: Duration,
    /// How long after a refresh token was rotated it may still be presented (concurrent tabs)
    /// and receive the same successor. Later presentation is treated as theft.
    pub reuse_grace: Duration,
}

/// A sign-in attempt before its password is checked: who it is for, and whether it comes from a
/// device that account knows. Built by [`SignIn::begin_login`], so the HTTP layer can pick
/// the rate-limit bucket (a known device is not limited by the account's shared bucket) without
/// the account being looked up twice.
pub struct LoginAttempt {
    raw_name: String,
    name: Option<LoginName>,
    found: Option<UserWithHash>,
    device: Option<DeviceId>,
    /// From the hosted sign-in page: opens a browser (single-sign-on) session, not an API one.
    browser: bool,
}

/// Never prints the password hash it carries.
impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("user", &self.found.as_ref().map(|u| u.user.id))
            .field("known_device", &self.device)
            .finish_non_exhaustive()
    }
}

impl LoginAttempt {
    /// The known device this attempt comes from: only when it presented a valid device token
    /// for the very account it signs into.
    #[must_use]
    pub fn known_device(&self) -> Option<DeviceId> {
        self.device
    }

    /// The same attempt, made on the hosted sign-in page: success opens a browser session
    /// (whose token only the page's cookie holds) instead of an API one.
    #[must_use]
    pub fn for_browser(mut self) -> Self {
        self.browser = true;
        self
    }

    fn session_kind(&self) -> SessionKind {
        if self.browser {
            SessionKind::Browser
        } else {
            SessionKind::Api
        }
    }

    fn key(&self) -> LockoutKey {
        match (&self.found, self.device, &self.name) {
            (Some(_), Some(d), _) => LockoutKey::Device(d),
            (Some(f), _, _) => LockoutKey::Account(f.user.id),
            (None, _, Some(LoginName::Email(e))) => LockoutKey::Name(e.normalized().to_owned()),
            (None, _, Some(LoginName::Username(u))) => LockoutKey::Name(u.normalized().to_owned()),
            (None, _, None) => LockoutKey::Name(
                self.raw_name
                    .to_lowercase()
                    .chars()
                    .take(320)
                    .collect::<String>(),
            ),
        }
    }
}

/// What a correct password leads to.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per sign-in, moved once into the response: boxing would only add an allocation"
)]
pub enum LoginOutcome {
    /// A session: the account has no second factor.
    SignedIn(TokenPair),
    /// The account has a second factor: answer this challenge with it to get the session.
    MfaRequired(MfaChallenge),
}

/// A short-lived, single-use challenge issued after a correct password.
#[derive(Debug)]
pub struct MfaChallenge {
    pub token: ChallengeToken,
    /// Seconds it stays valid.
    pub expires_in: u64,
    /// The kinds of answer the account can give: `totp`, `passkey`, `recovery_code`.
    pub methods: Vec<&'static str>,
    /// With `passkey`: the WebAuthn request options for the browser (`{"publicKey": …}`).
    pub passkey_options: Option<serde_json::Value>,
}

/// A passkey ceremony started for a browser: its id (single use) and the options to pass to
/// `navigator.credentials`.
#[derive(Debug)]
pub struct PasskeyCeremony {
    pub id: ChallengeToken,
    pub options: serde_json::Value,
    pub expires_in: u64,
}

/// A fresh access token after a step-up, for the same session.
#[derive(Debug, Clone)]
pub struct StepUpToken {
    pub access_token: String,
    pub expires_in: u64,
}

/// Sign-in and sessions (see the module header).
pub struct SignIn {
    core: Arc<Core>,
    tokens: Arc<TokenIssuer>,
    sessions: SessionSettings,
    lockout: LockoutSettings,
    devices: DeviceTokens,
    /// Login attempts on one lockout key take turns (see [`KeyedLock`]).
    login_turns: KeyedLock,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("core", &self.core)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// The token pair handed out for `user`'s session `sid` at `t`.
pub(crate) fn pair(
    tokens: &TokenIssuer,
    user: User,
    auth: &SessionAuth,
    refresh: RefreshToken,
    t: Timestamp,
) -> Result<TokenPair, AuthError> {
    let sid = auth.session;
    Ok(TokenPair {
        access_token: tokens.issue_for(&user, auth, t)?,
        expires_in: tokens.access_ttl().as_secs(),
        refresh_token: refresh,
        session_id: sid,
        user,
        device_token: None,
    })
}

/// Whether a token used at `used_at` and presented again at `t` is inside the reuse grace:
/// strictly *less* than `grace` ago, so a grace of zero tolerates nothing, not even a reuse in
/// the same millisecond (RFC 9700 §4.14.2: a rotated token presented again signals theft).
fn within_grace(used_at: Timestamp, t: Timestamp, grace: Duration) -> bool {
    t - used_at < chrono_dur(grace)
}

impl SignIn {
    #[must_use]
    pub fn new(
        core: Arc<Core>,
        tokens: Arc<TokenIssuer>,
        sessions: SessionSettings,
        lockout: LockoutSettings,
    ) -> Self {
        let devices = DeviceTokens::new(
            tokens.derived_key(crate::device::KEY_PURPOSE),
            lockout.device_ttl,
        );
        Self {
            core,
            tokens,
            sessions,
            lockout,
            devices,
            login_turns: KeyedLock::new(),
        }
    }

    #[must_use]
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// The store, for the readiness probe.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.core.store
    }

    /// Self-service registration: never grants roles, never marks the email verified.
    ///
    /// # Errors
    /// [`AuthError::EmailTaken`] / [`AuthError::UsernameTaken`] on duplicates (decided by the
    /// store's unique indexes, so concurrent registrations cannot both win).
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        reg: Registration,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let core = &self.core;
        let event = AuditEvent::new(
            AuditKind::UserRegistered,
            None,
            client,
            serde_json::json!({}),
            core.now(),
        );
        let user = core
            .create_account(core.policy, reg, Vec::new(), false, true, Some(event))
            .await?;
        core.mail_enqueued();
        Ok(user)
    }

    /// Looks up who a sign-in is for and whether `device_token` is a valid known-device token
    /// for that very account. Costs one indexed lookup and no hash, whether or not the account
    /// exists; a missing, invalid, expired or foreign device token is treated alike (no token).
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn begin_login(
        &self,
        raw_name: &str,
        device_token: Option<&str>,
    ) -> Result<LoginAttempt, AuthError> {
        let raw_name = raw_name.trim();
        let name = LoginName::parse(raw_name).ok();
        let found = match &name {
            Some(n) => self.core.store.user_for_login(n).await?,
            None => None,
        };
        let device = device_token
            .and_then(|raw| self.devices.verify(raw, self.core.now()))
            .filter(|known| found.as_ref().is_some_and(|f| f.user.id == known.user))
            .map(|known| known.device);
        Ok(LoginAttempt {
            raw_name: raw_name.to_owned(),
            name,
            found,
            device,
            browser: false,
        })
    }

    /// Checks a password and opens a session. Unknown accounts cost the same hash as known ones
    /// and fail with the same error as a wrong password. A deactivated account is refused only
    /// after its password checked out, so the refusal tells a stranger nothing.
    ///
    /// Repeated failures pause sign-in (see [`LockoutSettings`]) for the attempt's
    /// [`LockoutKey`]: the device's own key when the attempt comes from a device the account
    /// knows, else the account's shared key (or the name's, for names without an account). While
    /// paused, the answer is [`AuthError::TooManyAttempts`] whatever the password and whether or
    /// not the account exists. A success clears only the key it was judged by: a known device
    /// signing in does not lift the pause strangers caused on the shared key. Attempts on one
    /// key take turns within a node, so concurrent wrong guesses cannot all be checked before
    /// the first failure is counted.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::AccountDisabled`],
    /// [`AuthError::EmailNotVerified`], [`AuthError::TooManyAttempts`],
    /// [`AuthError::Overloaded`] when hashing is saturated.
    #[tracing::instrument(skip_all, fields(known_device = attempt.device.is_some()))]
    pub async fn login(
        &self,
        attempt: LoginAttempt,
        password: &Password,
        client: ClientInfo,
    ) -> Result<LoginOutcome, AuthError> {
        let core = &self.core;
        let lock = attempt.key();
        let key = lock.stored();
        let kind = attempt.session_kind();
        let LoginAttempt {
            name,
            found,
            device,
            ..
        } = attempt;
        let user_id = found.as_ref().map(|f| f.user.id);
        // Attempts on one key are checked in turn, so each sees the failures and the pause the
        // previous one recorded: a burst of concurrent guesses gets no more checks than the
        // threshold allows one at a time.
        let _turn = self.login_turns.lock(&key).await;
        let t = core.now();
        let throttle = core.store.login_throttle(&lock).await?;
        if let Some(until) = paused_until(throttle, t) {
            tracing::info!(
                scope = lock.scope(),
                "login refused: sign-in paused after repeated failures"
            );
            core.audit(
                AuditKind::LoginFailed,
                user_id,
                &client,
                serde_json::json!({"reason": "locked", "scope": lock.scope()}),
            )
            .await;
            return Err(AuthError::TooManyAttempts {
                retry_after_secs: retry_secs(until, t),
            });
        }
        let stored_hash = found.as_ref().map(|f| f.password_hash.clone());
        let verified = core.hasher.verify(password, stored_hash).await?;
        let Some(found) = found.filter(|_| verified.matches) else {
            tracing::info!("login failed: invalid credentials");
            count_failure(core, &self.lockout, &lock, user_id, &client).await;
            let detail = match user_id {
                Some(_) => serde_json::json!({"reason": "invalid_credentials"}),
                // Only a well-formed name is recorded: text that is neither an email address nor a
                // username (say, a password typed into the wrong field) never reaches the trail.
                None => match &name {
                    Some(LoginName::Email(e)) => {
                        serde_json::json!({"reason": "invalid_credentials", "login": e.normalized()})
                    }
                    Some(LoginName::Username(u)) => {
                        serde_json::json!({"reason": "invalid_credentials", "login": u.normalized()})
                    }
                    None => serde_json::json!({"reason": "invalid_credentials"}),
                },
            };
            core.audit(AuditKind::LoginFailed, user_id, &client, detail)
                .await;
            return Err(AuthError::InvalidCredentials);
        };
        let user = found.user;
        if !user.is_active {
            tracing::info!(user_id = %user.id, "login refused: account deactivated");
            core.audit(
                AuditKind::LoginFailed,
                user_id,
                &client,
                serde_json::json!({"reason": "account_disabled"}),
            )
            .await;
            return Err(AuthError::AccountDisabled);
        }
        if core.email.require_verified && !user.email_verified {
            tracing::info!(user_id = %user.id, "login refused: email not verified");
            core.audit(
                AuditKind::LoginFailed,
                user_id,
                &client,
                serde_json::json!({"reason": "email_not_verified"}),
            )
            .await;
            return Err(AuthError::EmailNotVerified);
        }
        if verified.needs_rehash {
            self.upgrade_hash(user.id, password).await;
        }
        let factors = core.store.user_factors(user.id).await?;
        let active: Vec<FactorKind> = factors
            .iter()
            .filter(|f| f.is_active())
            .map(|f| f.kind)
            .collect();
        if !active.is_empty() {
            // The streak is not ended by the password alone: wrong second-factor answers count
            // on this key too, and a correct password between them must not reset the count
            // (else a thief with the password could guess codes forever, a few at a time). It
            // ends when the second factor is right (`complete_mfa`).
            return self
                .challenge(
                    &user,
                    &active,
                    device,
                    kind == SessionKind::Browser,
                    &client,
                )
                .await;
        }
        if throttle.is_some_and(|s| s.failures > 0) {
            core.store.clear_login_failures(&lock).await?;
        }
        // The device keeps its id (and so its counter) across sign-ins; the token is renewed.
        let device = device.unwrap_or_else(DeviceId::generate);
        let device_token = self.devices.issue(user.id, device, core.now());
        let restricted = enrolment_only(&core.mfa, &user, false);
        // The session and its `login_succeeded` audit event are written together.
        let mut pair = self
            .open_session(user, client, Amr::password(), restricted, kind)
            .await?;
        pair.device_token = Some(device_token);
        Ok(LoginOutcome::SignedIn(pair))
    }

    /// Issues the second-factor challenge of a correct password. The known device the password
    /// came from (if any) is kept with the challenge, so the second step is judged by the same
    /// lockout key as the first: strangers pausing the account's shared key do not stop the
    /// owner's device halfway.
    async fn challenge(
        &self,
        user: &User,
        active: &[FactorKind],
        device: Option<DeviceId>,
        browser: bool,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, AuthError> {
        let core = &self.core;
        let t = core.now();
        let token = ChallengeToken::generate();
        let expires_at = t + chrono_dur(core.mfa.challenge_ttl);
        let mut state = LoginChallengeState {
            device: device.map(|d| d.hex()),
            webauthn: None,
            browser,
        };
        let mut passkey_options = None;
        if let (true, Some(rp)) = (active.contains(&FactorKind::Passkey), &core.passkeys) {
            let creds: Vec<_> = passkey_credentials(core, user.id)
                .await?
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            let ceremony = rp
                .start_second_factor(user.id.as_uuid(), &creds)
                .map_err(|e| AuthError::Internal(Box::new(e)))?;
            state.webauthn = Some(ceremony.state.into_string());
            passkey_options = Some(ceremony.options);
        }
        core.store
            .insert_challenge(&NewChallenge {
                hash: token.hash(),
                user_id: Some(user.id),
                purpose: ChallengePurpose::Login,
                session_id: None,
                state: Some(serde_json::to_string(&state).map_err(AuthError::internal)?),
                created_at: t,
                expires_at,
            })
            .await?;
        super::factors::prune_now_and_then(core).await;
        let mut methods = Vec::new();
        if active.contains(&FactorKind::Totp) {
            methods.push("totp");
        }
        if passkey_options.is_some() {
            methods.push("passkey");
        }
        methods.push("recovery_code");
        core.audit(
            AuditKind::MfaChallenged,
            Some(user.id),
            client,
            serde_json::json!({ "methods": methods }),
        )
        .await;
        tracing::info!(user_id = %user.id, "password accepted; second factor required");
        Ok(LoginOutcome::MfaRequired(MfaChallenge {
            token,
            expires_in: secs_until(expires_at, t),
            methods,
            passkey_options,
        }))
    }

    /// Completes a sign-in with the second factor its challenge asks for.
    ///
    /// A wrong answer counts toward the lockout key the password step was judged by (the known
    /// device's own, else the account's shared key, as a wrong password does) and toward the
    /// challenge's own limit, after which the challenge is dead. While that key is paused, every
    /// answer is refused. A recovery code used here is spent, audited and mailed about.
    ///
    /// # Errors
    /// [`AuthError::InvalidChallenge`] for an unknown, used, expired or exhausted challenge (or
    /// a deactivated account); [`AuthError::InvalidSecondFactor`] for a wrong answer;
    /// [`AuthError::TooManyAttempts`] while sign-in is paused.
    #[tracing::instrument(skip_all)]
    pub async fn complete_mfa(
        &self,
        raw_challenge: &str,
        answer: &SecondFactor,
        client: ClientInfo,
        browser: bool,
    ) -> Result<TokenPair, AuthError> {
        let core = &self.core;
        let token = ChallengeToken::parse(raw_challenge).ok_or(AuthError::InvalidChallenge)?;
        let hash = token.hash();
        let t = core.now();
        let state = core
            .store
            .challenge(&hash)
            .await?
            .filter(|c| {
                c.purpose == ChallengePurpose::Login
                    && c.used_at.is_none()
                    && c.expires_at > t
                    && c.failures < core.mfa.max_challenge_failures
            })
            .ok_or(AuthError::InvalidChallenge)?;
        let user_id = state.user_id.ok_or(AuthError::InvalidChallenge)?;
        let kept: LoginChallengeState = state
            .state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        // A challenge of the hosted sign-in page is answered there, and an API one through the
        // API: the session it opens is of the kind its password step asked for.
        if kept.browser != browser {
            return Err(AuthError::InvalidChallenge);
        }
        let device = kept.device.as_deref().and_then(DeviceId::from_hex);
        // The key the password step was judged by: the known device's own, else the account's.
        let lock = match device {
            Some(d) => LockoutKey::Device(d),
            None => LockoutKey::Account(user_id),
        };
        let _turn = self.login_turns.lock(&lock.stored()).await;
        let throttle = core.store.login_throttle(&lock).await?;
        if let Some(until) = paused_until(throttle, t) {
            return Err(AuthError::TooManyAttempts {
                retry_after_secs: retry_secs(until, t),
            });
        }
        let user = core
            .store
            .user_by_id(user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(AuthError::InvalidChallenge)?;
        let proved = check_answer(core, &user, answer, kept.webauthn.as_deref(), &client).await?;
        let Some(methods) = proved else {
            core.store.fail_challenge(&hash).await?;
            count_failure(core, &self.lockout, &lock, Some(user_id), &client).await;
            core.audit(
                AuditKind::LoginFailed,
                Some(user_id),
                &client,
                serde_json::json!({"reason": "invalid_second_factor"}),
            )
            .await;
            tracing::info!("second factor refused");
            return Err(AuthError::InvalidSecondFactor);
        };
        if !core
            .store
            .consume_challenge(&hash, t, core.mfa.max_challenge_failures)
            .await?
        {
            return Err(AuthError::InvalidChallenge);
        }
        if throttle.is_some_and(|s| s.failures > 0) {
            core.store.clear_login_failures(&lock).await?;
        }
        // The device keeps its id (and so its counter) across sign-ins, as after a password.
        let device = device.unwrap_or_else(DeviceId::generate);
        let device_token = self.devices.issue(user.id, device, t);
        let mut all = vec![AuthMethod::Pwd];
        all.extend(methods);
        let kind = if kept.browser {
            SessionKind::Browser
        } else {
            SessionKind::Api
        };
        let mut pair = self
            .open_session(user, client, Amr::of(&all), false, kind)
            .await?;
        pair.device_token = Some(device_token);
        Ok(pair)
    }

    /// Starts a passwordless sign-in: a discoverable-credential ceremony (user verification
    /// required), kept server side for `SESAME_MFA_CHALLENGE_TTL`.
    ///
    /// # Errors
    /// [`AuthError::PasskeysUnavailable`].
    pub async fn start_passwordless(&self) -> Result<PasskeyCeremony, AuthError> {
        let core = &self.core;
        let rp = core
            .passkeys
            .as_ref()
            .ok_or(AuthError::PasskeysUnavailable)?;
        let ceremony = rp
            .start_passwordless()
            .map_err(|e| AuthError::Internal(Box::new(e)))?;
        super::factors::store_ceremony(
            &self.core,
            ceremony,
            ChallengePurpose::PasskeyLogin,
            None,
            None,
        )
        .await
    }

    /// Finishes a passwordless sign-in with the browser's assertion: the passkey names its user
    /// (the user handle), whose passkeys verify it. A passkey with user verification proves two
    /// factors on its own (`amr`: `hwk`/`swk`, `user`, `mfa`). The account must be active (and
    /// verified, when `SESAME_REQUIRE_VERIFIED_EMAIL` is on), as for a password sign-in.
    ///
    /// # Errors
    /// [`AuthError::InvalidChallenge`] for an unknown, used or expired ceremony;
    /// [`AuthError::InvalidSecondFactor`] for a refused assertion or an unknown passkey;
    /// [`AuthError::AccountDisabled`], [`AuthError::EmailNotVerified`].
    #[tracing::instrument(skip_all)]
    pub async fn finish_passwordless(
        &self,
        flow_id: &str,
        response: &serde_json::Value,
        client: ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let core = &self.core;
        let rp = core
            .passkeys
            .as_ref()
            .ok_or(AuthError::PasskeysUnavailable)?;
        let state =
            super::factors::take_ceremony(core, flow_id, ChallengePurpose::PasskeyLogin, None)
                .await?;
        let found = rp.identify_passwordless(response).map_err(|e| {
            tracing::info!(error = %e, "passwordless answer names no user");
            AuthError::InvalidSecondFactor
        })?;
        let user = core
            .store
            .user_by_id(UserId::from_uuid(found.user_id))
            .await?
            .ok_or(AuthError::InvalidSecondFactor)?;
        let creds = passkey_credentials(core, user.id).await?;
        let plain: Vec<_> = creds.iter().map(|(_, c)| c.clone()).collect();
        let result = rp.finish_passwordless(
            &crate::passkey::CeremonyState::from_stored(state),
            found.user_id,
            response,
            &plain,
        );
        let Some(methods) = passkey_verified(core, &user, &creds, result, &client).await? else {
            core.audit(
                AuditKind::LoginFailed,
                Some(user.id),
                &client,
                serde_json::json!({"reason": "invalid_passkey"}),
            )
            .await;
            return Err(AuthError::InvalidSecondFactor);
        };
        if !user.is_active {
            return Err(AuthError::AccountDisabled);
        }
        if core.email.require_verified && !user.email_verified {
            return Err(AuthError::EmailNotVerified);
        }
        let device_token = self
            .devices
            .issue(user.id, DeviceId::generate(), core.now());
        let mut pair = self
            .open_session(user, client, Amr::of(&methods), false, SessionKind::Api)
            .await?;
        pair.device_token = Some(device_token);
        Ok(pair)
    }

    /// Starts a passkey step-up for the caller's session: a second-factor ceremony over the
    /// caller's passkeys.
    ///
    /// # Errors
    /// [`AuthError::PasskeysUnavailable`]; [`AuthError::NoSecondFactor`] without a passkey.
    pub async fn start_passkey_step_up(
        &self,
        who: &Principal,
    ) -> Result<PasskeyCeremony, AuthError> {
        let core = &self.core;
        let rp = core
            .passkeys
            .as_ref()
            .ok_or(AuthError::PasskeysUnavailable)?;
        let creds: Vec<_> = passkey_credentials(core, who.user.id)
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        if creds.is_empty() {
            return Err(AuthError::NoSecondFactor);
        }
        let ceremony = rp
            .start_second_factor(who.user.id.as_uuid(), &creds)
            .map_err(|e| AuthError::Internal(Box::new(e)))?;
        super::factors::store_ceremony(
            core,
            ceremony,
            ChallengePurpose::StepUp,
            Some(who.user.id),
            Some(who.session_id()),
        )
        .await
    }

    /// Step-up with a passkey alone: with user verification it proves two factors, so no
    /// password is needed. A refused assertion counts toward the re-check pause.
    ///
    /// # Errors
    /// [`AuthError::InvalidChallenge`] (unknown, used, expired, or another session's
    /// ceremony), [`AuthError::InvalidSecondFactor`], [`AuthError::TooManyAttempts`].
    pub async fn reauthenticate_with_passkey(
        &self,
        who: &Principal,
        flow_id: &str,
        response: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<StepUpToken, AuthError> {
        let core = &self.core;
        let lock = LockoutKey::Reauth(who.user.id);
        let t = core.now();
        if let Some(until) = paused_until(core.store.login_throttle(&lock).await?, t) {
            return Err(AuthError::TooManyAttempts {
                retry_after_secs: retry_secs(until, t),
            });
        }
        let token = ChallengeToken::parse(flow_id).ok_or(AuthError::InvalidChallenge)?;
        let own = core
            .store
            .challenge(&token.hash())
            .await?
            .is_some_and(|c| c.session_id == Some(who.session_id()));
        if !own {
            return Err(AuthError::InvalidChallenge);
        }
        let state = super::factors::take_ceremony(
            core,
            flow_id,
            ChallengePurpose::StepUp,
            Some(who.user.id),
        )
        .await?;
        let answer = SecondFactor::Passkey(response.clone());
        let Some(methods) = check_answer(core, &who.user, &answer, Some(&state), client).await?
        else {
            count_failure(core, &self.lockout, &lock, Some(who.user.id), client).await;
            return Err(AuthError::InvalidSecondFactor);
        };
        self.step_up(who, Amr::of(&methods), client).await
    }

    /// Step-up: the caller proves who they are again, in the same session, with the password
    /// and (for an account with a second factor) a second-factor answer. The session then
    /// records the new `auth_time` and `amr`, which its next access tokens (this one and every
    /// refresh) carry.
    ///
    /// # Errors
    /// [`AuthError::Validation`] (`password` / `incorrect`), [`AuthError::TooManyAttempts`],
    /// [`AuthError::InvalidSecondFactor`]; a `code` / `required` field error when the account
    /// has a factor and no answer was given.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn reauthenticate(
        &self,
        who: &Principal,
        password: &Password,
        answer: Option<&SecondFactor>,
        client: &ClientInfo,
    ) -> Result<StepUpToken, AuthError> {
        let core = &self.core;
        let user = &who.user;
        let has_factor = super::factors::has_active_factor(core, user.id).await?;
        // With a second factor the re-check streak ends only once the factor is right too, so a
        // correct password between wrong codes does not reset their count.
        super::lockout::reauthenticate(
            core,
            &self.lockout,
            user,
            password,
            ("password", "the password is not correct"),
            client,
            !has_factor,
        )
        .await?;
        let mut methods = vec![AuthMethod::Pwd];
        if has_factor {
            let Some(answer) = answer else {
                return Err(AuthError::field(
                    "code",
                    "required",
                    "this account has a second factor: send `code` or `recovery_code` too",
                ));
            };
            let lock = LockoutKey::Reauth(user.id);
            let Some(proved) = check_answer(core, user, answer, None, client).await? else {
                count_failure(core, &self.lockout, &lock, Some(user.id), client).await;
                return Err(AuthError::InvalidSecondFactor);
            };
            methods.extend(proved);
            core.store.clear_login_failures(&lock).await?;
        }
        let amr = Amr::of(&methods);
        self.step_up(who, amr, client).await
    }

    /// Records a successful step-up on the session and issues its new access token.
    pub(crate) async fn step_up(
        &self,
        who: &Principal,
        amr: Amr,
        client: &ClientInfo,
    ) -> Result<StepUpToken, AuthError> {
        let core = &self.core;
        let t = core.now();
        if !core
            .store
            .reauthenticate_session(who.session_id(), t, &amr, t)
            .await?
        {
            return Err(AuthError::InvalidToken("session_ended"));
        }
        core.audit(
            AuditKind::SessionReauthenticated,
            Some(who.user.id),
            client,
            serde_json::json!({ "session_id": who.session_id(), "amr": amr.stored() }),
        )
        .await;
        let auth = SessionAuth {
            session: who.session_id(),
            auth_time: t,
            amr,
            enrolment_only: who.claims.enrolment_only(),
            client: None,
        };
        Ok(StepUpToken {
            access_token: self.tokens.issue_for(&who.user, &auth, t)?,
            expires_in: self.tokens.access_ttl().as_secs(),
        })
    }

    async fn upgrade_hash(&self, id: UserId, password: &Password) {
        let core = &self.core;
        let result = match core.hasher.hash(password).await {
            Ok(h) => core
                .store
                .set_password_hash(id, &h, core.now())
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

    pub(crate) async fn open_session(
        &self,
        mut user: User,
        client: ClientInfo,
        amr: Amr,
        enrolment_only: bool,
        kind: SessionKind,
    ) -> Result<TokenPair, AuthError> {
        let t = self.core.now();
        let refresh = RefreshToken::generate();
        let sid = SessionId::new();
        let audit = AuditEvent::new(
            AuditKind::LoginSucceeded,
            Some(user.id),
            &client,
            serde_json::json!({"session_id": sid, "amr": amr.stored()}),
            t,
        );
        let session = Session {
            id: sid,
            user_id: user.id,
            created_at: t,
            last_used_at: t,
            expires_at: t + chrono_dur(self.sessions.refresh_ttl),
            revoked_at: None,
            ip: client.ip_text(),
            user_agent: client.user_agent,
            auth_time: t,
            amr: amr.clone(),
        };
        self.core
            .store
            .create_session(&NewSession {
                session,
                kind,
                refresh_secret: random_secret(),
                first_refresh_hash: refresh.hash(),
                audit: Some(audit),
            })
            .await?;
        user.last_login_at = Some(t);
        tracing::info!(user_id = %user.id, session_id = %sid, "session opened");
        let auth = SessionAuth {
            session: sid,
            auth_time: t,
            amr,
            enrolment_only,
            client: None,
        };
        pair(&self.tokens, user, &auth, refresh, t)
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
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        self.refresh_for(presented, None, client)
            .await
            .map(|(pair, _)| pair)
    }

    /// [`SignIn::refresh`] for first-party sessions (`for_client` `None`) or for the sessions of
    /// one authenticated client (RFC 6749 §6: the token must have been issued to it). A browser
    /// session's token is never exchanged, and no token crosses between the two kinds. Returns
    /// the pair and how the session was authenticated (for an ID token).
    ///
    /// # Errors
    /// [`AuthError::InvalidRefreshToken`] for anything but a live, current token of this caller.
    pub(crate) async fn refresh_for(
        &self,
        presented: &str,
        for_client: Option<&OAuthClient>,
        client: &ClientInfo,
    ) -> Result<(TokenPair, SessionAuth), AuthError> {
        let store = &self.core.store;
        let token = RefreshToken::parse(presented).ok_or(AuthError::InvalidRefreshToken)?;
        let hash = token.hash();
        let t = self.core.now();
        for _ in 0..2 {
            let Some(state) = store.refresh_token_state(&hash).await? else {
                return Err(AuthError::InvalidRefreshToken);
            };
            let session = &state.session;
            if session.revoked_at.is_some() || session.expires_at <= t || !state.user.is_active {
                return Err(AuthError::InvalidRefreshToken);
            }
            let access = match (&state.kind, for_client) {
                (SessionKind::Api, None) => None,
                // A first-party client registered with the password grant refreshes the API
                // sessions that grant opened.
                (SessionKind::Api, Some(c)) if c.settings.grants.contains(&GrantType::Password) => {
                    None
                }
                (SessionKind::Client(grant), Some(c)) if grant.client_id == c.id => {
                    Some(ClientAccess {
                        client_id: c.id,
                        scopes: grant.scopes.clone(),
                        access_ttl: c.settings.access_token_ttl,
                        first_party: c.settings.first_party,
                    })
                }
                _ => return Err(AuthError::InvalidRefreshToken),
            };
            let refresh_ttl = for_client
                .and_then(|c| c.settings.refresh_token_ttl)
                .unwrap_or(self.sessions.refresh_ttl);
            let successor = token.successor(&state.refresh_secret);
            // The policy is judged again at every refresh: enrolling a factor lifts the limit
            // at the next refresh, and a new rule applies to sessions opened before it.
            let auth = SessionAuth {
                session: session.id,
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                enrolment_only: enrolment_only(&self.core.mfa, &state.user, state.has_factor),
                client: access,
            };
            // No client gets tokens for an account that must enrol a second factor first.
            if auth.client.is_some() && auth.enrolment_only {
                return Err(AuthError::InvalidRefreshToken);
            }
            match state.used_at {
                None => {
                    let expires = t + chrono_dur(refresh_ttl);
                    let rotated = store
                        .rotate_refresh_token(&hash, &successor.hash(), session.id, t, expires)
                        .await?;
                    if rotated {
                        return Ok((pair(&self.tokens, state.user, &auth, successor, t)?, auth));
                    }
                    // Lost a race with a concurrent refresh of the same token: look again, the
                    // token is now used and the grace rule decides.
                }
                Some(used_at) if within_grace(used_at, t, self.sessions.reuse_grace) => {
                    // Hand back the family's live member: if the successor was itself rotated
                    // meanwhile (a fast tab refreshed twice), follow the chain to its end.
                    let mut live = successor;
                    for _ in 0..8 {
                        match store.refresh_token_state(&live.hash()).await? {
                            Some(next) if next.used_at.is_some() => {
                                live = live.successor(&state.refresh_secret);
                            }
                            _ => break,
                        }
                    }
                    tracing::info!(session_id = %session.id, "refresh token reused inside the grace window; the live successor returned");
                    return Ok((pair(&self.tokens, state.user, &auth, live, t)?, auth));
                }
                Some(_) => {
                    store.revoke_session(session.id, t).await?;
                    self.core
                        .audit(
                            AuditKind::RefreshTokenReuseDetected,
                            Some(state.user.id),
                            client,
                            serde_json::json!({"session_id": session.id}),
                        )
                        .await;
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
        // A registered client's token is for resource servers and the UserInfo endpoint, never
        // for the account API: a client granted `openid` must not change the user's password.
        if claims.client_id.is_some() {
            return Err(AuthError::InvalidToken("client_token"));
        }
        self.live_principal(claims).await
    }

    /// The caller of a token issued to a registered client (UserInfo), with its live session.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] with the reason; a first-party token is refused.
    pub async fn authenticate_client_token(&self, bearer: &str) -> Result<Principal, AuthError> {
        let claims = self.tokens.verify(bearer)?;
        if claims.client_id.is_none() {
            return Err(AuthError::InvalidToken("not_a_client_token"));
        }
        self.live_principal(claims).await
    }

    async fn live_principal(&self, claims: AccessClaims) -> Result<Principal, AuthError> {
        let user = self
            .core
            .store
            .active_session_user(claims.session_id(), claims.user_id(), self.core.now())
            .await?
            .ok_or(AuthError::InvalidToken("session_ended"))?
            .user;
        Ok(Principal { user, claims })
    }

    /// Ends the caller's current session.
    ///
    /// # Errors
    /// [`AuthError::Internal`] on a storage failure.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn logout(&self, who: &Principal, client: &ClientInfo) -> Result<(), AuthError> {
        let core = &self.core;
        core.store
            .revoke_session(who.session_id(), core.now())
            .await?;
        core.audit(
            AuditKind::Logout,
            Some(who.user.id),
            client,
            serde_json::json!({"session_id": who.session_id()}),
        )
        .await;
        tracing::info!(session_id = %who.session_id(), "session ended by logout");
        Ok(())
    }

    /// Ends every session of the caller.
    ///
    /// # Errors
    /// [`AuthError::Internal`] on a storage failure.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id))]
    pub async fn logout_all(&self, who: &Principal, client: &ClientInfo) -> Result<u64, AuthError> {
        let core = &self.core;
        let n = core
            .store
            .revoke_user_sessions(who.user.id, core.now())
            .await?;
        core.audit(
            AuditKind::LogoutAll,
            Some(who.user.id),
            client,
            serde_json::json!({"sessions_ended": n}),
        )
        .await;
        tracing::info!(sessions = n, "all sessions ended by logout-all");
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::within_grace;
    use crate::clock::now;
    use std::time::Duration;

    #[test]
    fn a_reuse_is_tolerated_only_strictly_inside_the_grace_window() {
        let used = now();
        let ms = chrono::Duration::milliseconds;
        let grace = Duration::from_secs(10);
        assert!(within_grace(used, used, grace));
        assert!(within_grace(used, used + ms(9_999), grace));
        assert!(
            !within_grace(used, used + ms(10_000), grace),
            "the window's end is outside it"
        );
        assert!(
            !within_grace(used, used, Duration::ZERO),
            "no grace tolerates nothing, not even the same millisecond"
        );
    }
}
