//! The account lifecycle: registration, login, token refresh with rotation and theft detection,
//! authentication of access tokens against live sessions, logout, and profile changes.
//!
//! [`AuthService`] composes the store, the password hasher and the token issuer. It takes parsed
//! domain values and returns domain values; turning them into HTTP (or CLI output) is the
//! caller's job.

use crate::audit::{AuditEvent, AuditKind};
use crate::clock::{now, Clock, SystemClock, Timestamp};
use crate::device::{DeviceId, DeviceTokens};
use crate::error::AuthError;
use crate::keyed_lock::KeyedLock;
use crate::mail::{MailKind, OutboundMail};
use crate::model::{
    ClientInfo, DisplayName, Email, LoginName, NewUser, ProfilePatch, RoleName, Session, SessionId,
    User, UserId, UserWithHash, Username,
};
use crate::password::{Password, PasswordHasher};
use crate::policy::PasswordPolicy;
use crate::store::{
    EmailTokenState, NewEmailToken, NewSession, PasswordChange, Store, TokenEffect, TokenPurpose,
};
use crate::token::{random_secret, AccessClaims, RefreshToken, TokenHash, TokenIssuer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How the email flows behave.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// Base URL of the pages links point to: `SESAME_APP_URL`, or `SESAME_PUBLIC_URL`.
    pub link_base: String,
    pub verify_ttl: Duration,
    pub reset_ttl: Duration,
    pub change_ttl: Duration,
    /// Refuse login until the email is verified.
    pub require_verified: bool,
    /// At most one verification email per address in this interval.
    pub resend_interval: Duration,
}

/// Everything Sesame stores about a user, for GDPR export. No secrets, no hashes.
#[derive(Debug, Clone)]
pub struct AccountExport {
    pub user: User,
    pub sessions: Vec<Session>,
    pub security_events: Vec<crate::audit::AuditRecord>,
}

/// Progressive login delays: after `threshold` failures in a row, sign-in pauses for `base`,
/// doubling with each further failure up to `max`. Never a permanent lock.
///
/// Each [`LockoutKey`] keeps its own streak, so a pause an attacker causes on the account's
/// shared key does not stop a device the account already knows (it presents a device token valid
/// for `device_ttl`, and is judged by its own key).
#[derive(Debug, Clone)]
pub struct LockoutSettings {
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
    /// How long a known-device token is honoured after it was issued (each sign-in renews it).
    pub device_ttl: Duration,
}

/// The failure counter that judges an attempt. One streak per key, in `login_throttle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockoutKey {
    /// Sign-ins to an existing account from devices it does not know: one streak shared by every
    /// such attempt from any address, so brute force spread over many addresses stays throttled.
    Account(UserId),
    /// Sign-ins with a name that has no account (the normalized name), so unknown names pause
    /// exactly like real ones.
    Name(String),
    /// Sign-ins from one device the account knows (a valid device token for that account).
    Device(DeviceId),
    /// Re-entries of a signed-in user's current password (change password, change email,
    /// delete account): a stolen access token must not allow unlimited guessing.
    Reauth(UserId),
}

impl LockoutKey {
    /// The stored key: `user:<hex id>`, `name:<name>`, `device:<hex id>`, `reauth:<hex id>`.
    /// The `user:` form is what the admin API's `locked` filter reads.
    #[must_use]
    pub fn stored(&self) -> String {
        match self {
            Self::Account(u) => format!("user:{}", u.as_uuid().simple()),
            Self::Name(n) => format!("name:{n}"),
            Self::Device(d) => format!("device:{}", d.hex()),
            Self::Reauth(u) => format!("reauth:{}", u.as_uuid().simple()),
        }
    }

    /// The owner is emailed when this key pauses: only the shared account key, whose pause the
    /// owner will meet on a new device; a device's or a re-entry's pause concerns one client.
    fn notifies_owner(&self) -> bool {
        matches!(self, Self::Account(_))
    }

    fn scope(&self) -> &'static str {
        match self {
            Self::Account(_) | Self::Name(_) => "account",
            Self::Device(_) => "device",
            Self::Reauth(_) => "reauth",
        }
    }
}

/// The end of the pause `throttle` is in at `t`, if it is in one.
#[must_use]
pub fn paused_until(
    throttle: Option<crate::store::LoginThrottle>,
    t: Timestamp,
) -> Option<Timestamp> {
    throttle
        .and_then(|s| s.locked_until)
        .filter(|until| *until > t)
}

impl LockoutSettings {
    /// How long sign-in pauses after the `failures`-th failure in a row (zero below threshold).
    #[must_use]
    pub fn delay(&self, failures: u32) -> Duration {
        if failures < self.threshold {
            return Duration::ZERO;
        }
        let doublings = (failures - self.threshold).min(30);
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }
}

fn retry_secs(until: Timestamp, t: Timestamp) -> u64 {
    let ms = (until - t).num_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

/// "24 hours", "1 hour", "30 minutes": for the text of emails.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s.is_multiple_of(86_400) && s >= 86_400 * 2 {
        (s / 86_400, "day")
    } else if s.is_multiple_of(3600) && s >= 3600 {
        (s / 3600, "hour")
    } else if s >= 60 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
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
    /// After a password sign-in: the (renewed) known-device token for the client to keep and
    /// present at its next sign-in. `None` for refreshes and password changes.
    pub device_token: Option<String>,
}

/// A sign-in attempt before its password is checked: who it is for, and whether it comes from a
/// device that account knows. Built by [`AuthService::begin_login`], so the HTTP layer can pick
/// the rate-limit bucket (a known device is not limited by the account's shared bucket) without
/// the account being looked up twice.
pub struct LoginAttempt {
    raw_name: String,
    name: Option<LoginName>,
    found: Option<UserWithHash>,
    device: Option<DeviceId>,
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
    pub(crate) store: Arc<dyn crate::store::Store>,
    pub(crate) hasher: Arc<PasswordHasher>,
    pub(crate) tokens: TokenIssuer,
    pub(crate) sessions: SessionSettings,
    pub(crate) email: EmailSettings,
    pub(crate) lockout: LockoutSettings,
    pub(crate) policy: PasswordPolicy,
    /// Wakes the outbox worker when mail is enqueued.
    pub(crate) mail_signal: Arc<Notify>,
    pub(crate) devices: DeviceTokens,
    /// "Now" for the lockout rules and device-token lifetimes.
    pub(crate) clock: Arc<dyn Clock>,
    /// Login attempts on one lockout key take turns (see [`KeyedLock`]).
    pub(crate) login_turns: KeyedLock,
}

/// The login-throttle key of an existing account (the storage layer can build the same key from
/// a user id: `user:` and the id's 32 lower-case hex digits).
#[must_use]
pub fn lockout_key(user: UserId) -> String {
    LockoutKey::Account(user).stored()
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
///
/// `audit` is written in the account's own transaction, its subject set to the new account: an
/// account never exists without its trail entry (a failed audit write fails the creation).
#[allow(clippy::too_many_arguments)] // each is a distinct input of the one way accounts are made
pub async fn create_account(
    store: &dyn Store,
    hasher: &Arc<PasswordHasher>,
    policy: PasswordPolicy,
    reg: Registration,
    roles: Vec<RoleName>,
    email_verified: bool,
    send_verification: Option<&EmailSettings>,
    audit: Option<AuditEvent>,
) -> Result<User, AuthError> {
    check_policy(
        hasher,
        policy,
        &reg.password,
        &reg.email,
        reg.username.as_ref(),
        "password",
    )
    .await?;
    let password_hash = hasher.hash(&reg.password).await?;
    let id = UserId::new();
    let audit = audit.map(|mut e| {
        e.user_id = Some(id);
        e
    });
    let verification =
        send_verification.map(|settings| verification_mail(settings, id, &reg.email));
    let new = NewUser {
        id,
        email: reg.email,
        username: reg.username,
        display_name: reg.display_name,
        password_hash,
        email_verified,
        roles,
        now: now(),
    };
    let user = store
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

/// Applies the password policy off the async runtime (the strength estimate costs up to tens of
/// milliseconds of CPU on long inputs).
pub(crate) async fn check_policy(
    hasher: &Arc<PasswordHasher>,
    policy: PasswordPolicy,
    password: &Password,
    email: &Email,
    username: Option<&Username>,
    field: &'static str,
) -> Result<(), AuthError> {
    let (password, email, username) = (password.clone(), email.clone(), username.cloned());
    hasher
        .offload(move || policy.check(&password, &email, username.as_ref(), field))
        .await?
        .map_err(|e| AuthError::Validation(vec![e]))
}

/// A fresh emailed token of `purpose` for `user`, valid for `ttl`.
pub(crate) fn email_token(
    user: UserId,
    purpose: TokenPurpose,
    new_email: Option<Email>,
    ttl: Duration,
) -> (RefreshToken, NewEmailToken) {
    let token = RefreshToken::generate();
    let t = now();
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

pub(crate) fn link(settings: &EmailSettings, page: &str, token: &RefreshToken) -> String {
    format!("{}/{page}?token={}", settings.link_base, token.reveal())
}

pub(crate) fn verification_mail(
    settings: &EmailSettings,
    user: UserId,
    email: &Email,
) -> (NewEmailToken, OutboundMail) {
    let (token, record) = email_token(user, TokenPurpose::VerifyEmail, None, settings.verify_ttl);
    let mail = OutboundMail::new(
        Some(user),
        email.as_str(),
        MailKind::VerifyEmail,
        &[
            ("link", &link(settings, "verify-email", &token)),
            ("email", email.as_str()),
            ("expires_in", &human(settings.verify_ttl)),
        ],
    );
    (record, mail)
}

pub(crate) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl AuthService {
    #[must_use]
    #[allow(clippy::too_many_arguments)] // built once, by startup, from the typed configuration
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<PasswordHasher>,
        tokens: TokenIssuer,
        sessions: SessionSettings,
        email: EmailSettings,
        lockout: LockoutSettings,
        policy: PasswordPolicy,
        mail_signal: Arc<Notify>,
    ) -> Self {
        let devices = DeviceTokens::new(
            tokens.derived_key(crate::device::KEY_PURPOSE),
            lockout.device_ttl,
        );
        Self {
            store,
            hasher,
            tokens,
            sessions,
            email,
            lockout,
            policy,
            mail_signal,
            devices,
            clock: Arc::new(SystemClock),
            login_turns: KeyedLock::new(),
        }
    }

    /// The same service reading time from `clock` in its lockout and device-token rules.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
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
        let event = AuditEvent::new(kind, user, client, detail);
        if let Err(e) = self.store.record_audit(&event).await {
            tracing::error!(error = %e, event = kind.as_str(), "audit event could not be recorded");
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
    pub async fn register(
        &self,
        reg: Registration,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let event = AuditEvent::new(
            AuditKind::UserRegistered,
            None,
            client,
            serde_json::json!({}),
        );
        let send_verification = Some(&self.email);
        let user = create_account(
            self.store.as_ref(),
            &self.hasher,
            self.policy,
            reg,
            Vec::new(),
            false,
            send_verification,
            Some(event),
        )
        .await?;
        self.mail_enqueued();
        Ok(user)
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
        let send_verification = (!email_verified).then_some(&self.email);
        let user = create_account(
            self.store.as_ref(),
            &self.hasher,
            self.policy,
            reg,
            roles,
            email_verified,
            send_verification,
            None,
        )
        .await?;
        self.mail_enqueued();
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
            Some(n) => self.store.user_for_login(n).await?,
            None => None,
        };
        let device = device_token
            .and_then(|raw| self.devices.verify(raw, self.clock.now()))
            .filter(|known| found.as_ref().is_some_and(|f| f.user.id == known.user))
            .map(|known| known.device);
        Ok(LoginAttempt {
            raw_name: raw_name.to_owned(),
            name,
            found,
            device,
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
    ) -> Result<TokenPair, AuthError> {
        let lock = attempt.key();
        let key = lock.stored();
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
        let t = self.clock.now();
        let throttle = self.store.login_throttle(&key).await?;
        if let Some(until) = paused_until(throttle, t) {
            tracing::info!(
                scope = lock.scope(),
                "login refused: sign-in paused after repeated failures"
            );
            self.audit(
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
        let verified = self.hasher.verify(password, stored_hash).await?;
        let Some(found) = found.filter(|_| verified.matches) else {
            tracing::info!("login failed: invalid credentials");
            self.count_failure(&lock, user_id, &client).await;
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
            self.audit(AuditKind::LoginFailed, user_id, &client, detail)
                .await;
            return Err(AuthError::InvalidCredentials);
        };
        let user = found.user;
        if !user.is_active {
            tracing::info!(user_id = %user.id, "login refused: account deactivated");
            self.audit(
                AuditKind::LoginFailed,
                user_id,
                &client,
                serde_json::json!({"reason": "account_disabled"}),
            )
            .await;
            return Err(AuthError::AccountDisabled);
        }
        if self.email.require_verified && !user.email_verified {
            tracing::info!(user_id = %user.id, "login refused: email not verified");
            self.audit(
                AuditKind::LoginFailed,
                user_id,
                &client,
                serde_json::json!({"reason": "email_not_verified"}),
            )
            .await;
            return Err(AuthError::EmailNotVerified);
        }
        if throttle.is_some_and(|s| s.failures > 0) {
            self.store.clear_login_failures(&key).await?;
        }
        if verified.needs_rehash {
            self.upgrade_hash(user.id, password).await;
        }
        // The device keeps its id (and so its counter) across sign-ins; the token is renewed.
        let device = device.unwrap_or_else(DeviceId::generate);
        let device_token = self.devices.issue(user.id, device, self.clock.now());
        // The session and its `login_succeeded` audit event are written together.
        let mut pair = self.open_session(user, client).await?;
        pair.device_token = Some(device_token);
        Ok(pair)
    }

    /// Counts a failure on `lock`; at the threshold and beyond, pauses it and (for the shared
    /// account key, at the threshold only, so at most once per streak) emails the owner.
    async fn count_failure(&self, lock: &LockoutKey, user: Option<UserId>, client: &ClientInfo) {
        let key = lock.stored();
        let key = key.as_str();
        let t = self.clock.now();
        let failures = match self.store.record_login_failure(key, t).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "failed login could not be counted");
                return;
            }
        };
        if rand::random::<u8>() < 4 {
            let before = t - chrono::Duration::days(1);
            if let Err(e) = self.store.prune_login_failures(before).await {
                tracing::warn!(error = %e, "pruning old login failure counters failed");
            }
        }
        let delay = self.lockout.delay(failures);
        if delay.is_zero() {
            return;
        }
        if let Err(e) = self.store.lock_login(key, t + chrono_dur(delay)).await {
            tracing::error!(error = %e, "sign-in pause could not be stored");
            return;
        }
        let Some(user_id) = user else {
            return;
        };
        tracing::warn!(user_id = %user_id, failures, pause_secs = delay.as_secs(), scope = lock.scope(), "sign-in paused after repeated failures");
        self.audit(
            AuditKind::AccountLocked,
            Some(user_id),
            client,
            serde_json::json!({"failures": failures, "locked_for_secs": delay.as_secs(), "scope": lock.scope()}),
        )
        .await;
        if failures == self.lockout.threshold && lock.notifies_owner() {
            match self.store.user_by_id(user_id).await {
                Ok(Some(u)) => {
                    let mail = OutboundMail::new(
                        Some(u.id),
                        u.email.as_str(),
                        MailKind::AccountLocked,
                        &[("email", u.email.as_str()), ("locked_for", &human(delay))],
                    );
                    match self.store.enqueue_mail(&[mail]).await {
                        Ok(()) => self.mail_enqueued(),
                        Err(e) => tracing::error!(error = %e, "lock notice could not be queued"),
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "lock notice: user lookup failed"),
            }
        }
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
        let sid = SessionId::new();
        let audit = AuditEvent::new(
            AuditKind::LoginSucceeded,
            Some(user.id),
            &client,
            serde_json::json!({"session_id": sid}),
        );
        let session = Session {
            id: sid,
            user_id: user.id,
            created_at: t,
            last_used_at: t,
            expires_at: t + chrono_dur(self.sessions.refresh_ttl),
            revoked_at: None,
            ip: client.ip,
            user_agent: client.user_agent,
        };
        self.store
            .create_session(&NewSession {
                session,
                refresh_secret: random_secret(),
                first_refresh_hash: refresh.hash(),
                audit: Some(audit),
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
            device_token: None,
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
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
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
                    // Hand back the family's live member: if the successor was itself rotated
                    // meanwhile (a fast tab refreshed twice), follow the chain to its end.
                    let mut live = successor;
                    for _ in 0..8 {
                        match self.store.refresh_token_state(&live.hash()).await? {
                            Some(next) if next.used_at.is_some() => {
                                live = live.successor(&state.refresh_secret);
                            }
                            _ => break,
                        }
                    }
                    tracing::info!(session_id = %session.id, "refresh token reused inside the grace window; the live successor returned");
                    return self.pair(state.user, session.id, live, t);
                }
                Some(_) => {
                    self.store.revoke_session(session.id, t).await?;
                    self.audit(
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
        let user = self
            .store
            .active_session_user(claims.session_id(), claims.user_id(), now())
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
        self.store.revoke_session(who.session_id(), now()).await?;
        self.audit(
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
        let n = self.store.revoke_user_sessions(who.user.id, now()).await?;
        self.audit(
            AuditKind::LogoutAll,
            Some(who.user.id),
            client,
            serde_json::json!({"sessions_ended": n}),
        )
        .await;
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

/// Email flows and self-service account management.
impl AuthService {
    pub(crate) fn mail_enqueued(&self) {
        self.mail_signal.notify_one();
    }

    /// The signed-in user's re-entry of their current password (change password, change email,
    /// delete account). Wrong entries count on the user's own [`LockoutKey::Reauth`] streak and
    /// pause it like a login streak, so a stolen access token cannot guess the password without
    /// limit; that streak is separate from the login keys, so it never stops a sign-in.
    ///
    /// # Errors
    /// [`AuthError::TooManyAttempts`] while paused (no hash is spent); a validation error on
    /// `field` when the password is wrong.
    pub(crate) async fn reauthenticate(
        &self,
        user: &User,
        password: &Password,
        field: &'static str,
        wrong: &'static str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let lock = LockoutKey::Reauth(user.id);
        let key = lock.stored();
        let throttle = self.store.login_throttle(&key).await?;
        let t = self.clock.now();
        if let Some(until) = paused_until(throttle, t) {
            tracing::info!("current-password check refused: paused after repeated failures");
            return Err(AuthError::TooManyAttempts {
                retry_after_secs: retry_secs(until, t),
            });
        }
        if !self.password_matches(user, password).await? {
            tracing::info!("current-password check failed");
            self.count_failure(&lock, Some(user.id), client).await;
            return Err(AuthError::field(field, "incorrect", wrong));
        }
        if throttle.is_some_and(|s| s.failures > 0) {
            self.store.clear_login_failures(&key).await?;
        }
        Ok(())
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

    /// Looks up an emailed token that must be live and of `purpose`.
    async fn live_token(
        &self,
        raw: &str,
        purpose: TokenPurpose,
    ) -> Result<(TokenHash, EmailTokenState), AuthError> {
        let token = RefreshToken::parse(raw.trim()).ok_or(AuthError::InvalidEmailToken)?;
        let hash = token.hash();
        let state = self
            .store
            .email_token_state(&hash)
            .await?
            .ok_or(AuthError::InvalidEmailToken)?;
        if state.purpose != purpose || state.used_at.is_some() || state.expires_at <= now() {
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
            .store
            .consume_email_token(hash, state.user.id, now(), effect, mails, Some(audit))
            .await?;
        if !consumed {
            return Err(AuthError::InvalidEmailToken);
        }
        if !mails.is_empty() {
            self.mail_enqueued();
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
        let Some(found) = self
            .store
            .user_for_login(&LoginName::Email(email.clone()))
            .await?
        else {
            return Ok(());
        };
        let user = found.user;
        if user.email_verified || !user.is_active {
            return Ok(());
        }
        if let Some(last) = self
            .store
            .latest_email_token_at(user.id, TokenPurpose::VerifyEmail)
            .await?
        {
            if now() - last < chrono_dur(self.email.resend_interval) {
                tracing::info!(user_id = %user.id, "verification resend throttled");
                return Ok(());
            }
        }
        let (record, mail) = verification_mail(&self.email, user.id, &user.email);
        self.store.issue_email_token(&record, true, &[mail]).await?;
        self.mail_enqueued();
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
        let Some(found) = self
            .store
            .user_for_login(&LoginName::Email(email.clone()))
            .await?
        else {
            return Ok(());
        };
        let user = found.user;
        if !user.is_active {
            return Ok(());
        }
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
        self.mail_enqueued();
        tracing::info!(user_id = %user.id, "password reset requested");
        self.audit(
            AuditKind::PasswordResetRequested,
            Some(user.id),
            client,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Sets a new password with a reset token; every session of the user ends and every other
    /// reset token stops working. The owner is notified by email.
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
        let (hash, state) = self.live_token(token, TokenPurpose::ResetPassword).await?;
        check_policy(
            &self.hasher,
            self.policy,
            new_password,
            &state.user.email,
            state.user.username.as_ref(),
            "new_password",
        )
        .await?;
        let password_hash = self.hasher.hash(new_password).await?;
        let notice = OutboundMail::new(
            Some(state.user.id),
            state.user.email.as_str(),
            MailKind::PasswordChanged,
            &[("email", state.user.email.as_str())],
        );
        let event = AuditEvent::new(
            AuditKind::PasswordResetCompleted,
            Some(state.user.id),
            client,
            serde_json::json!({}),
        );
        self.consume(
            &hash,
            &state,
            &TokenEffect::ResetPassword { password_hash },
            &[notice],
            &event,
        )
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
        self.reauthenticate(
            &who.user,
            current,
            "current_password",
            "the current password is incorrect",
            client,
        )
        .await?;
        check_policy(
            &self.hasher,
            self.policy,
            new_password,
            &who.user.email,
            who.user.username.as_ref(),
            "new_password",
        )
        .await?;
        let password_hash = self.hasher.hash(new_password).await?;
        let refresh = RefreshToken::generate();
        let t = now();
        let notice = OutboundMail::new(
            Some(who.user.id),
            who.user.email.as_str(),
            MailKind::PasswordChanged,
            &[("email", who.user.email.as_str())],
        );
        self.store
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
                ),
            )
            .await?;
        self.mail_enqueued();
        tracing::info!("password changed; other sessions ended");
        self.pair(who.user.clone(), who.session_id(), refresh, t)
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
        self.reauthenticate(
            &who.user,
            password,
            "password",
            "the password is incorrect",
            client,
        )
        .await?;
        if new_email.normalized() == who.user.email.normalized() {
            return Err(AuthError::field(
                "new_email",
                "unchanged",
                "this is already the account's address",
            ));
        }
        let uid = Some(who.user.id);
        let taken = self
            .store
            .user_for_login(&LoginName::Email(new_email.clone()))
            .await?
            .is_some();
        if taken {
            let mail = OutboundMail::new(
                uid,
                new_email.as_str(),
                MailKind::EmailChangeTaken,
                &[("email", new_email.as_str())],
            );
            self.store.enqueue_mail(&[mail]).await?;
        } else {
            let (token, record) = email_token(
                who.user.id,
                TokenPurpose::ChangeEmail,
                Some(new_email.clone()),
                self.email.change_ttl,
            );
            let confirm = OutboundMail::new(
                uid,
                new_email.as_str(),
                MailKind::EmailChangeConfirm,
                &[
                    ("link", &link(&self.email, "confirm-email", &token)),
                    ("new_email", new_email.as_str()),
                    ("expires_in", &human(self.email.change_ttl)),
                ],
            );
            let notice = OutboundMail::new(
                uid,
                who.user.email.as_str(),
                MailKind::EmailChangeNotice,
                &[
                    ("email", who.user.email.as_str()),
                    ("new_email", new_email.as_str()),
                ],
            );
            self.store
                .issue_email_token(&record, true, &[confirm, notice])
                .await?;
        }
        self.mail_enqueued();
        tracing::info!("email change requested");
        self.audit(
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
        Ok(self.store.user_sessions(who.user.id, Some(now())).await?)
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
        if self
            .store
            .revoke_session_of(who.user.id, session, now())
            .await?
        {
            tracing::info!(session_id = %session, "session ended by its owner");
            self.audit(
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
        self.reauthenticate(
            &who.user,
            password,
            "password",
            "the password is incorrect",
            client,
        )
        .await?;
        // The guarded delete: the last active admin cannot leave the system without an admin
        // this way either. An account already gone is simply gone.
        match self.store.admin_delete_user(who.user.id).await? {
            crate::store::AdminOutcome::Done(()) | crate::store::AdminOutcome::NotFound => {}
            crate::store::AdminOutcome::LastAdmin => return Err(AuthError::LastAdmin),
            crate::store::AdminOutcome::UnknownRole => {
                return Err(AuthError::Internal("unexpected outcome of a delete".into()))
            }
        }
        tracing::info!("account deleted by its owner");
        self.audit(
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
        let sessions = self.store.user_sessions(who.user.id, None).await?;
        let security_events = self.store.user_audit(who.user.id, 1000).await?;
        Ok(AccountExport {
            security_events,
            user: who.user.clone(),
            sessions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lockout_scope_has_its_own_stored_key() {
        let user = UserId::new();
        let hex = user.as_uuid().simple().to_string();
        let device = DeviceId::generate();
        assert_eq!(LockoutKey::Account(user).stored(), format!("user:{hex}"));
        assert_eq!(lockout_key(user), format!("user:{hex}"));
        assert_eq!(LockoutKey::Reauth(user).stored(), format!("reauth:{hex}"));
        assert_eq!(
            LockoutKey::Device(device).stored(),
            format!("device:{}", device.hex())
        );
        assert_eq!(
            LockoutKey::Name("ghost@example.com".into()).stored(),
            "name:ghost@example.com"
        );
        assert!(LockoutKey::Account(user).notifies_owner());
        assert!(!LockoutKey::Device(device).notifies_owner());
        assert!(!LockoutKey::Reauth(user).notifies_owner());
    }

    #[test]
    fn a_pause_holds_until_its_end_and_not_a_millisecond_longer() {
        use crate::clock::{Clock, ManualClock};
        let clock = ManualClock::new(now());
        let until = clock.now() + chrono::Duration::seconds(60);
        let throttle = Some(crate::store::LoginThrottle {
            failures: 5,
            locked_until: Some(until),
        });
        assert_eq!(paused_until(throttle, clock.now()), Some(until));
        assert_eq!(retry_secs(until, clock.now()), 60);
        clock.advance(Duration::from_millis(59_999));
        assert_eq!(retry_secs(until, clock.now()), 1, "rounded up, never 0");
        clock.advance(Duration::from_millis(1));
        assert_eq!(paused_until(throttle, clock.now()), None);
        assert_eq!(paused_until(None, clock.now()), None);
    }

    #[test]
    fn durations_read_naturally_in_emails() {
        assert_eq!(human(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(human(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human(Duration::from_secs(172_800)), "2 days");
        assert_eq!(human(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(human(Duration::from_secs(5)), "5 seconds");
    }
}
