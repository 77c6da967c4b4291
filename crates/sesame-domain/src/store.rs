//! The storage contract: small role traits combined into one [`Store`], held by the service as
//! `Arc<dyn Store>`. The `sesame` crate implements it once per backend (SQLite, PostgreSQL).
//!
//! Implementations enforce uniqueness and atomicity (a refresh token is consumed by one
//! conditional update; a session and its first token are written together) but no content
//! rules: every value they receive was already parsed by the domain. Lookups return
//! `Result<Option<T>, StoreError>` so that an outage never looks like "not found".
//!
//! Each method is declared once, in a `store_traits!` block, with what it does to the answer of
//! the per-request session check ([`SessionStore::active_session_user`]); from that one
//! declaration come the trait and its implementation for every [`StoreDecorator`] (a store in
//! front of another, such as the server's session cache), so a decorator writes only what it
//! changes and a new method does not compile until it is classified. This module knows nothing
//! of caches: the classification says what a write changes, not what anyone does about it.

use crate::audit::{AuditEvent, AuditRecord};
use crate::client::{ClientId, ClientSecretHash, ClientSettings, OAuthClient};
use crate::clock::Timestamp;
use crate::device::DeviceId;
use crate::error::StoreError;
use crate::mail::{OutboundMail, QueuedMail};
use crate::mfa::{Amr, Factor, FactorId, FactorName, RecoveryHash, TotpStep};
use crate::model::{
    Email, LoginName, NewUser, ProfilePatch, RoleName, Session, SessionId, User, UserId,
    UserWithHash,
};
use crate::oidc::{AuthCode, Consent};
use crate::seal::{KeyId, RowId, Sealed, SecretKind, StoredSecret};
use crate::token::{KeyRow, TokenHash};
use async_trait::async_trait;
use uuid::Uuid;

/// The failure streak an attempt is counted under: one row of `login_throttle` per key.
///
/// The store keeps the key as text ([`LockoutKey::stored`]) and, for the shared key of an
/// account, the account's id in a column of its own ([`LockoutKey::account`]), which is what
/// the admin API's `locked` filter reads: no reader parses the text back.
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
    #[must_use]
    pub fn stored(&self) -> String {
        match self {
            Self::Account(u) => format!("user:{}", u.as_uuid().simple()),
            Self::Name(n) => format!("name:{n}"),
            Self::Device(d) => format!("device:{}", d.hex()),
            Self::Reauth(u) => format!("reauth:{}", u.as_uuid().simple()),
        }
    }

    /// The account whose shared sign-in streak this is: only [`LockoutKey::Account`]. A paused
    /// key with an account is what "the account is locked" means to an operator.
    #[must_use]
    pub fn account(&self) -> Option<UserId> {
        match self {
            Self::Account(u) => Some(*u),
            Self::Name(_) | Self::Device(_) | Self::Reauth(_) => None,
        }
    }
}

/// What an emailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
    /// An admin's invitation to choose the first password of an account it created.
    SetPassword,
}

impl TokenPurpose {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ChangeEmail => "change_email",
            Self::SetPassword => "set_password",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::VerifyEmail,
            Self::ResetPassword,
            Self::ChangeEmail,
            Self::SetPassword,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// An emailed token to store (only its hash is kept).
#[derive(Debug, Clone)]
pub struct NewEmailToken {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// For [`TokenPurpose::ChangeEmail`]: the address to switch to.
    pub new_email: Option<Email>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What the store knows about a presented emailed token.
#[derive(Debug, Clone)]
pub struct EmailTokenState {
    pub user: User,
    pub purpose: TokenPurpose,
    pub new_email: Option<Email>,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// The change an emailed token makes when it is consumed, applied in the same transaction.
#[derive(Debug, Clone)]
pub enum TokenEffect {
    /// Mark the email verified.
    VerifyEmail,
    /// Set the password hash, invalidate every other reset token, end every session.
    ResetPassword { password_hash: String },
    /// Switch the account to `new_email` (verified), invalidate other change tokens.
    ChangeEmail { new_email: Email },
    /// An invitation accepted: set the first password, mark the address verified (the link
    /// reached it), invalidate every other invitation and reset token, end every session.
    SetPassword { password_hash: String },
}

impl TokenEffect {
    /// The one purpose of token that may have this effect: the store consumes a token only for
    /// its own purpose, so a token of one flow presented to another changes nothing even if a
    /// caller skipped its own purpose check.
    #[must_use]
    pub fn purpose(&self) -> TokenPurpose {
        match self {
            Self::VerifyEmail => TokenPurpose::VerifyEmail,
            Self::ResetPassword { .. } => TokenPurpose::ResetPassword,
            Self::ChangeEmail { .. } => TokenPurpose::ChangeEmail,
            Self::SetPassword { .. } => TokenPurpose::SetPassword,
        }
    }
}

/// A password change by the signed-in user, applied atomically.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub user_id: UserId,
    pub password_hash: String,
    /// The session that stays; every other session ends.
    pub keep_session: SessionId,
    /// Replaces every refresh token of the kept session.
    pub new_refresh_hash: TokenHash,
    pub now: Timestamp,
}

/// A session to open, with the hash of its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session: Session,
    /// What the session is for.
    pub kind: SessionKind,
    /// Per-session key from which refresh-token successors are derived.
    pub refresh_secret: Vec<u8>,
    pub first_refresh_hash: TokenHash,
    /// Recorded in the same transaction as the session (the login's audit event), so a session
    /// never exists without its trail entry.
    pub audit: Option<AuditEvent>,
}

/// What a session is for (migration 0010).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKind {
    /// A first-party sign-in through the JSON API or the password grant.
    Api,
    /// The hosted sign-in's single-sign-on session: its token lives only in an HttpOnly cookie,
    /// is never rotated and is never exchanged for tokens.
    Browser,
    /// The tokens one registered client holds for one user.
    Client(ClientGrant),
}

impl SessionKind {
    /// The stored `kind` column.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Browser => "browser",
            Self::Client(_) => "client",
        }
    }

    /// The client and scope, for a client session.
    #[must_use]
    pub fn grant(&self) -> Option<&ClientGrant> {
        match self {
            Self::Client(g) => Some(g),
            Self::Api | Self::Browser => None,
        }
    }
}

/// The client a session's tokens were issued to, and the scope granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrant {
    pub client_id: ClientId,
    pub scopes: Vec<crate::client::Scope>,
}

/// A live session's owner, as the token-checked hot path needs it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The owner, active, with current roles.
    pub user: User,
    /// When the session ends unless a refresh slides it; a cached answer is never used past it.
    pub expires_at: Timestamp,
}

/// What the store knows about a presented refresh token.
#[derive(Debug, Clone)]
pub struct RefreshTokenState {
    pub session: Session,
    pub kind: SessionKind,
    pub refresh_secret: Vec<u8>,
    /// When this token was exchanged for its successor, if it was.
    pub used_at: Option<Timestamp>,
    /// The session's owner, with current roles.
    pub user: User,
    /// Whether the owner has an active second factor (for the `SESAME_MFA_REQUIRED` rule,
    /// judged again at every refresh).
    pub has_factor: bool,
}

/// A factor to store: an authenticator app waiting for its first code, or a passkey.
#[derive(Debug, Clone)]
pub struct NewFactor {
    pub id: FactorId,
    pub user_id: UserId,
    pub name: FactorName,
    pub created_at: Timestamp,
    pub secret: FactorSecret,
}

/// What a factor is checked against.
#[derive(Debug, Clone)]
pub enum FactorSecret {
    /// The authenticator app's shared secret, sealed.
    Totp(crate::seal::Sealed),
    /// A WebAuthn credential: its id, and the serialised credential (public key, counter).
    Passkey {
        credential_id: Vec<u8>,
        credential: String,
    },
}

/// An authenticator app of an account with what checking its codes needs.
#[derive(Debug, Clone)]
pub struct TotpRecord {
    pub factor: Factor,
    pub secret: crate::seal::Sealed,
    pub last_step: Option<TotpStep>,
}

/// A passkey of an account with its stored credential.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub factor: Factor,
    pub credential_id: Vec<u8>,
    pub credential: String,
}

/// Written with a factor change, in the same transaction: its mail and its audit event.
#[derive(Debug, Clone)]
pub struct FactorEffects {
    pub mails: Vec<OutboundMail>,
    pub audit: AuditEvent,
}

/// What a challenge between two calls is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// A correct password waiting for its second factor.
    Login,
    /// A signed-in session proving its user again (WebAuthn ceremony state).
    StepUp,
    /// A passkey being registered (WebAuthn ceremony state).
    PasskeyRegister,
    /// A passwordless passkey sign-in (WebAuthn ceremony state, no user yet).
    PasskeyLogin,
}

impl ChallengePurpose {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::StepUp => "step_up",
            Self::PasskeyRegister => "passkey_register",
            Self::PasskeyLogin => "passkey_login",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Login,
            Self::StepUp,
            Self::PasskeyRegister,
            Self::PasskeyLogin,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A challenge to store (only the hash of its token is kept).
#[derive(Debug, Clone)]
pub struct NewChallenge {
    pub hash: TokenHash,
    pub user_id: Option<UserId>,
    pub purpose: ChallengePurpose,
    pub session_id: Option<SessionId>,
    /// Ceremony state (WebAuthn), kept server-side between the two calls.
    pub state: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What the store knows about a presented challenge.
#[derive(Debug, Clone)]
pub struct ChallengeState {
    pub user_id: Option<UserId>,
    pub purpose: ChallengePurpose,
    pub session_id: Option<SessionId>,
    pub state: Option<String>,
    pub failures: u32,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// Whose session checks ([`SessionStore::active_session_user`]) a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every session of this user (the user's record, roles or sessions changed).
    User(UserId),
    /// This one session.
    Session(SessionId),
    /// Every session of every user (for instance: a role was deleted).
    All,
}

/// A store placed in front of another one, which it consults through [`inner`](Self::inner).
/// Implementing this trait implements [`Store`]: every method is forwarded to the inner store as
/// its `store_traits!` declaration says:
///
/// - `pass` — reads, and writes that change nothing a session check returns: forwarded as is.
/// - `changes(scope)` — may change what the checks of `scope` return: [`changing`]`(scope)` is
///   called before the write and the value it returns is dropped once the write has returned,
///   or when the caller abandons it (when it may have committed).
/// - `touches(scope)` — changes only what no authorization depends on (the last login time):
///   [`touched`]`(scope)` is called after the write returned.
/// - `decorated` — answered by the decorator itself: a method of this trait, with the same name.
///
/// [`changing`]: Self::changing
/// [`touched`]: Self::touched
#[async_trait]
pub trait StoreDecorator: Send + Sync {
    /// The store this one stands in front of.
    fn inner(&self) -> &dyn Store;

    /// Called before a `changes` write; the result is dropped when the write ends.
    fn changing(&self, scope: Scope) -> impl Send + '_;

    /// Called after a `touches` write returned, whether or not it succeeded.
    fn touched(&self, scope: Scope);

    /// See [`SessionStore::active_session_user`].
    async fn active_session_user(
        &self,
        session: SessionId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Option<LiveSession>, StoreError>;
}

/// Declares role traits whose every method carries its classification (see
/// [`StoreDecorator`]), and implements each trait for every decorator from the same
/// declaration. A method without a classification, or with an unknown one, does not compile
/// (rustc: "no rules expected keyword `fn`", or "no rules expected" the unknown word in
/// `forward!`).
macro_rules! store_traits {
    (
        $(#[$attr:meta])*
        pub trait $name:ident {
            $(
                $(#[$method_attr:meta])*
                $kind:ident $(($($scope:tt)*))?
                async fn $method:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
            )*
        }
    ) => {
        $(#[$attr])*
        #[async_trait]
        pub trait $name: Send + Sync {
            $(
                $(#[$method_attr])*
                async fn $method(&self $(, $arg: $ty)*) -> $ret;
            )*
        }

        #[async_trait]
        impl<D: StoreDecorator> $name for D {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $ret {
                    forward!(self, $kind $(($($scope)*))?, $method($($arg),*))
                }
            )*
        }
    };
}

/// One forwarded method body of [`store_traits!`], by classification.
macro_rules! forward {
    ($this:ident, pass, $method:ident($($arg:ident),*)) => {
        $this.inner().$method($($arg),*).await
    };
    ($this:ident, changes($($scope:tt)*), $method:ident($($arg:ident),*)) => {{
        let _changing = $this.changing(Scope::$($scope)*);
        $this.inner().$method($($arg),*).await
    }};
    ($this:ident, touches($($scope:tt)*), $method:ident($($arg:ident),*)) => {{
        let done = $this.inner().$method($($arg),*).await;
        $this.touched(Scope::$($scope)*);
        done
    }};
    ($this:ident, decorated, $method:ident($($arg:ident),*)) => {
        StoreDecorator::$method($this, $($arg),*).await
    };
}

store_traits! {
    pub trait UserStore {
        /// Inserts a user and its roles, the verification token, its mail and the `audit` event
        /// (`user.registered`, `admin.user_created`) in one transaction: an account never exists
        /// without its trail entry, and a refused insert leaves no entry.
        ///
        /// # Errors
        /// [`StoreError::Conflict`] naming the email or username rule on a duplicate. A failed
        /// audit write fails the insert (the trail is part of the record).
        pass
        async fn insert_user(
            &self,
            user: &NewUser,
            token: Option<&NewEmailToken>,
            mail: Option<&OutboundMail>,
            audit: Option<&AuditEvent>,
        ) -> Result<User, StoreError>;

        /// Deletes the account and everything tied to it (sessions, tokens, pending mail), at once.
        /// Returns whether it existed.
        changes(User(id))
        async fn delete_user(&self, id: UserId) -> Result<bool, StoreError>;

        /// Changes the password, ends every other session, invalidates outstanding reset tokens,
        /// re-keys the kept session, enqueues `mail` and appends `audit` (`password.changed`), in
        /// one transaction: the change never exists without its trail entry.
        ///
        /// # Errors
        /// On a storage failure, the audit write included (nothing is changed then).
        changes(User(change.user_id))
        async fn change_password(
            &self,
            change: &PasswordChange,
            mail: &OutboundMail,
            audit: &AuditEvent,
        ) -> Result<(), StoreError>;

        pass
        async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

        /// The user with this email or username (case-insensitively) and its password hash.
        pass
        async fn user_for_login(
            &self,
            name: &LoginName,
        ) -> Result<Option<UserWithHash>, StoreError>;

        /// Applies a profile change; `None` if the user does not exist.
        ///
        /// # Errors
        /// [`StoreError::Conflict`] when the new username is taken.
        changes(User(id))
        async fn update_profile(
            &self,
            id: UserId,
            patch: &ProfilePatch,
            now: Timestamp,
        ) -> Result<Option<User>, StoreError>;

        pass
        async fn set_password_hash(
            &self,
            id: UserId,
            hash: &str,
            now: Timestamp,
        ) -> Result<(), StoreError>;
    }
}

store_traits! {
    pub trait SessionStore {
        /// Writes the session, its first refresh token, and the user's `last_login_at`, atomically.
        touches(User(new.session.user_id))
        async fn create_session(&self, new: &NewSession) -> Result<(), StoreError>;

        /// The hot path of every authenticated request: the owner of `session` if the session is
        /// neither revoked nor expired at `now`, belongs to `user`, and the user is active.
        decorated
        async fn active_session_user(
            &self,
            session: SessionId,
            user: UserId,
            now: Timestamp,
        ) -> Result<Option<LiveSession>, StoreError>;

        pass
        async fn refresh_token_state(
            &self,
            hash: &TokenHash,
        ) -> Result<Option<RefreshTokenState>, StoreError>;

        /// Atomically marks `old` used and stores `new` in the same session, sliding the session's
        /// expiry to `expires_at`. Returns `false`, changing nothing, if `old` was already used or
        /// the session is revoked or expired at `now`: one conditional update decides, so a race
        /// cannot mint two successors, and an expired session cannot be revived even if a caller
        /// forgot to check its expiry.
        pass
        async fn rotate_refresh_token(
            &self,
            old: &TokenHash,
            new: &TokenHash,
            session: SessionId,
            now: Timestamp,
            expires_at: Timestamp,
        ) -> Result<bool, StoreError>;

        /// Records that the session's user proved themselves again at `auth_time` with `amr`
        /// (step-up), for the access tokens its refreshes issue. Returns whether the session is
        /// live. Session checks do not read these, so nothing cached changes.
        pass
        async fn reauthenticate_session(
            &self,
            session: SessionId,
            auth_time: Timestamp,
            amr: &Amr,
            now: Timestamp,
        ) -> Result<bool, StoreError>;

        /// Ends one session. Returns whether it was active.
        changes(Session(session))
        async fn revoke_session(
            &self,
            session: SessionId,
            now: Timestamp,
        ) -> Result<bool, StoreError>;

        /// Ends every active session of a user. Returns how many were ended.
        changes(User(user))
        async fn revoke_user_sessions(
            &self,
            user: UserId,
            now: Timestamp,
        ) -> Result<u64, StoreError>;

        /// Every session of the user, newest first; with `active_at`, only those live at that time.
        pass
        async fn user_sessions(
            &self,
            user: UserId,
            active_at: Option<Timestamp>,
        ) -> Result<Vec<Session>, StoreError>;

        /// Ends `session` only if it belongs to `user`. Returns whether it was active.
        changes(Session(session))
        async fn revoke_session_of(
            &self,
            user: UserId,
            session: SessionId,
            now: Timestamp,
        ) -> Result<bool, StoreError>;
    }
}

store_traits! {
    /// Second factors and recovery codes. Every write that adds, removes or uses a factor takes
    /// its mail and audit event ([`FactorEffects`]) into the same transaction.
    pub trait FactorStore {
        /// Every factor of the user, active or waiting for confirmation, oldest first.
        pass
        async fn user_factors(&self, user: UserId) -> Result<Vec<Factor>, StoreError>;

        /// Stores a factor. An authenticator app is stored unconfirmed (`effects` is `None`);
        /// a passkey is active at once and comes with its effects and, as the account's first
        /// factor, the recovery codes that replace any old set.
        ///
        /// # Errors
        /// [`StoreError::Conflict`] when the passkey's credential id is registered already.
        pass
        async fn insert_factor(
            &self,
            factor: &NewFactor,
            confirmed: bool,
            effects: Option<&FactorEffects>,
            recovery: Option<&[RecoveryHash]>,
        ) -> Result<(), StoreError>;

        /// The user's authenticator app `id` (confirmed or not).
        pass
        async fn totp_factor(
            &self,
            user: UserId,
            id: FactorId,
        ) -> Result<Option<TotpRecord>, StoreError>;

        /// The user's confirmed authenticator apps.
        pass
        async fn active_totp_factors(&self, user: UserId) -> Result<Vec<TotpRecord>, StoreError>;

        /// Records that `step` of factor `id` was accepted, only if it is later than the last
        /// accepted one (one conditional update: two nodes cannot both accept a code); with
        /// `confirm`, also activates the factor, replaces the recovery codes with `recovery` (if
        /// given) and writes `effects`. Returns whether the step was recorded.
        pass
        async fn use_totp_step(
            &self,
            id: FactorId,
            step: TotpStep,
            now: Timestamp,
            confirm: Option<&FactorEffects>,
            recovery: Option<&[RecoveryHash]>,
        ) -> Result<bool, StoreError>;

        /// The user's passkeys.
        pass
        async fn user_passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError>;

        /// The passkey with this credential id, whoever owns it.
        pass
        async fn passkey_by_credential(
            &self,
            credential_id: &[u8],
        ) -> Result<Option<PasskeyRecord>, StoreError>;

        /// Stores a passkey's updated credential (its counter) after a use, only if the stored
        /// one is still `previous`, the one the use was checked against (one conditional update:
        /// two uses checked against the same counter, as a cloned authenticator's would be,
        /// cannot both be recorded). Returns whether it was.
        pass
        async fn passkey_used(
            &self,
            id: FactorId,
            previous: &str,
            credential: &str,
            now: Timestamp,
        ) -> Result<bool, StoreError>;

        /// Renames the user's factor; `false` if it has no such factor.
        pass
        async fn rename_factor(
            &self,
            user: UserId,
            id: FactorId,
            name: &FactorName,
        ) -> Result<bool, StoreError>;

        /// Deletes the user's factor `id` (every factor with `None`), and the recovery codes
        /// when no active factor is left, with `effects`. Returns how many factors went.
        pass
        async fn delete_factors(
            &self,
            user: UserId,
            id: Option<FactorId>,
            effects: &FactorEffects,
        ) -> Result<u64, StoreError>;

        /// Replaces the user's recovery codes (the old set stops working), with `effects`.
        pass
        async fn replace_recovery_codes(
            &self,
            user: UserId,
            codes: &[RecoveryHash],
            now: Timestamp,
            effects: &FactorEffects,
        ) -> Result<(), StoreError>;

        /// Spends one recovery code if it is the user's and unused (one conditional update),
        /// with `effects`. Returns whether it was spent.
        pass
        async fn use_recovery_code(
            &self,
            user: UserId,
            code: &RecoveryHash,
            now: Timestamp,
            effects: &FactorEffects,
        ) -> Result<bool, StoreError>;

        /// How many unused recovery codes the user has.
        pass
        async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError>;
    }
}

store_traits! {
    /// Short-lived, single-use challenges between two calls of one flow.
    pub trait ChallengeStore {
        pass
        async fn insert_challenge(&self, challenge: &NewChallenge) -> Result<(), StoreError>;

        pass
        async fn challenge(&self, hash: &TokenHash) -> Result<Option<ChallengeState>, StoreError>;

        /// Counts one failed answer; returns the count.
        pass
        async fn fail_challenge(&self, hash: &TokenHash) -> Result<u32, StoreError>;

        /// Uses the challenge if it is unused, unexpired at `now` and has fewer than
        /// `max_failures` failures (one conditional update). Returns whether it was used.
        pass
        async fn consume_challenge(
            &self,
            hash: &TokenHash,
            now: Timestamp,
            max_failures: u32,
        ) -> Result<bool, StoreError>;

        /// Forgets challenges that expired before `before`.
        pass
        async fn prune_challenges(&self, before: Timestamp) -> Result<u64, StoreError>;
    }
}

store_traits! {
    pub trait EmailTokenStore {
        /// Stores a token and enqueues its mail in one transaction; with `supersede`, the user's
        /// other unused tokens of the same purpose stop working.
        pass
        async fn issue_email_token(
            &self,
            token: &NewEmailToken,
            supersede: bool,
            mails: &[OutboundMail],
        ) -> Result<(), StoreError>;

        /// Enqueues mail that comes with no token.
        pass
        async fn enqueue_mail(&self, mails: &[OutboundMail]) -> Result<(), StoreError>;

        pass
        async fn email_token_state(
            &self,
            hash: &TokenHash,
        ) -> Result<Option<EmailTokenState>, StoreError>;

        /// When the user's newest token of this purpose was issued (for throttling resends).
        pass
        async fn latest_email_token_at(
            &self,
            user: UserId,
            purpose: TokenPurpose,
        ) -> Result<Option<Timestamp>, StoreError>;

        /// Consumes the token if it is unused, unexpired at `now` and of `effect`'s purpose (one
        /// conditional update), and in the same transaction applies `effect`, enqueues `mails` and
        /// appends `audit` (`email.verified`, `password_reset.completed`,
        /// `email_change.confirmed`). Returns `false`, changing nothing and recording nothing, when
        /// the token was already used, expired or is of another purpose.
        ///
        /// # Errors
        /// [`StoreError::Conflict`] when an email change collides with another account (nothing is
        /// changed, nothing recorded and the token stays unused). A failed audit write fails the
        /// whole consumption.
        changes(User(user))
        async fn consume_email_token(
            &self,
            hash: &TokenHash,
            user: UserId,
            now: Timestamp,
            effect: &TokenEffect,
            mails: &[OutboundMail],
            audit: Option<&AuditEvent>,
        ) -> Result<bool, StoreError>;
    }
}

store_traits! {
    pub trait MailStore {
        /// Claims up to `limit` pending messages due at `now`, leasing them until `lease_until`.
        pass
        async fn claim_mail(
            &self,
            now: Timestamp,
            lease_until: Timestamp,
            limit: u32,
        ) -> Result<Vec<QueuedMail>, StoreError>;

        /// Marks a message delivered, wipes its parameters (they may hold a token link) and clears
        /// the error of any earlier failed attempt.
        pass
        async fn mail_sent(&self, id: Uuid, now: Timestamp) -> Result<(), StoreError>;

        /// Records a failed attempt: retry at `retry_at`, or, with `None`, dead for good.
        pass
        async fn mail_failed(
            &self,
            id: Uuid,
            attempts: u32,
            retry_at: Option<Timestamp>,
            error: &str,
        ) -> Result<(), StoreError>;
    }
}

store_traits! {
    /// Signing keys, and every value sealed at rest ([`crate::seal`]). The store keeps sealed
    /// bytes and key ids as given; it never sees an encryption key.
    pub trait KeyStore {
        pass
        async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError>;

        /// Stores `key` as the primary signing key unless one exists already (several nodes may
        /// start at once; exactly one insert wins). Returns whether this key was stored.
        pass
        async fn insert_primary_signing_key(&self, key: &KeyRow) -> Result<bool, StoreError>;

        /// Every stored value of `kind`, sealed or (legacy rows) plaintext, with its row.
        pass
        async fn secrets(&self, kind: SecretKind) -> Result<Vec<StoredSecret>, StoreError>;

        /// Replaces the value of `row` with `sealed` if the row's key id is still `expected`
        /// (`None`: a legacy plaintext value), so that of several nodes or commands re-sealing
        /// one value at once exactly one write lands. Returns whether this one did.
        pass
        async fn replace_secret(
            &self,
            kind: SecretKind,
            row: &RowId,
            expected: Option<&KeyId>,
            sealed: &Sealed,
        ) -> Result<bool, StoreError>;
    }
}

store_traits! {
    pub trait AuditStore {
        /// Appends one event.
        pass
        async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;

        /// The user's events (as subject), newest first, at most `limit`.
        pass
        async fn user_audit(
            &self,
            user: UserId,
            limit: u32,
        ) -> Result<Vec<AuditRecord>, StoreError>;
    }
}

/// The failed-login streak of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    pub failures: u32,
    pub locked_until: Option<Timestamp>,
}

store_traits! {
    /// Failed-login counters, keyed by account (`user:<id>`) or, when no account matches, by the
    /// login name (`name:<normalized>`), so that unknown and existing accounts behave alike. They
    /// live in the database: shared by every node, kept across restarts.
    pub trait LoginThrottleStore {
        pass
        async fn login_throttle(&self, key: &LockoutKey) -> Result<Option<LoginThrottle>, StoreError>;

        /// Counts one failure and returns the count of the current streak.
        pass
        async fn record_login_failure(&self, key: &LockoutKey, now: Timestamp) -> Result<u32, StoreError>;

        pass
        async fn lock_login(&self, key: &LockoutKey, until: Timestamp) -> Result<(), StoreError>;

        /// Ends the streak (a successful login, or an admin's unlock).
        pass
        async fn clear_login_failures(&self, key: &LockoutKey) -> Result<(), StoreError>;

        /// Forgets counters idle since before `before` and not locked, so attacker-chosen names
        /// cannot grow the table without bound.
        pass
        async fn prune_login_failures(&self, before: Timestamp) -> Result<u64, StoreError>;
    }
}

/// Filters of the admin user list; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Lower-cased prefix of the normalized email or username.
    pub prefix: Option<String>,
    pub role: Option<RoleName>,
    pub email_verified: Option<bool>,
    pub is_active: Option<bool>,
    /// Sign-in currently paused by the lockout.
    pub locked: Option<bool>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
}

/// One page of the admin user list: users with ids greater than `after`, in id order (ids are
/// time-ordered UUIDv7, so this is also creation order), at most `limit`.
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub filter: UserFilter,
    pub after: Option<UserId>,
    pub limit: u32,
    /// The time "locked" is judged at.
    pub now: Timestamp,
}

/// What an admin changes on a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AdminUserChange {
    pub is_active: Option<bool>,
    pub email_verified: Option<bool>,
    pub profile: ProfilePatch,
    /// Replaces the user's roles.
    pub roles: Option<Vec<RoleName>>,
}

/// How an admin write ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome<T> {
    Done(T),
    NotFound,
    /// The change would leave no active admin; nothing was changed.
    LastAdmin,
    /// A named role does not exist; nothing was changed.
    UnknownRole,
}

/// A role as listed by the admin API.
#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub name: RoleName,
    pub description: String,
    pub built_in: bool,
    pub created_at: Timestamp,
    pub users: u64,
}

/// One page of the audit trail: newest first, ids below `before`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user: Option<UserId>,
    pub event: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub before: Option<Uuid>,
    pub limit: u32,
}

store_traits! {
    /// Operator-level reads and writes for the admin API and the CLI.
    pub trait AdminStore {
        pass
        async fn list_users(&self, q: &UserQuery) -> Result<Vec<User>, StoreError>;

        pass
        async fn count_users(&self, filter: &UserFilter, now: Timestamp) -> Result<u64, StoreError>;

        /// Applies `change` atomically; refuses (changing nothing) when it would leave no active
        /// admin. Deactivation ends every session of the user in the same transaction.
        ///
        /// # Errors
        /// [`StoreError::Conflict`] when the new username is taken.
        changes(User(id))
        async fn admin_update_user(
            &self,
            id: UserId,
            change: &AdminUserChange,
            now: Timestamp,
        ) -> Result<AdminOutcome<User>, StoreError>;

        /// Deletes the user unless it is the last active admin; `now` stamps the row the
        /// last-admin check locks (the stamp goes with the row, or rolls back with a refusal).
        changes(User(id))
        async fn admin_delete_user(
            &self,
            id: UserId,
            now: Timestamp,
        ) -> Result<AdminOutcome<()>, StoreError>;

        /// Active users holding the `admin` role.
        pass
        async fn count_active_admins(&self) -> Result<u64, StoreError>;

        pass
        async fn list_roles(&self) -> Result<Vec<RoleInfo>, StoreError>;

        /// Returns `false` when the role exists already.
        pass
        async fn create_role(
            &self,
            name: &RoleName,
            description: &str,
            now: Timestamp,
        ) -> Result<bool, StoreError>;

        /// Deletes a role and its grants; returns whether it existed.
        changes(All)
        async fn delete_role(&self, name: &RoleName) -> Result<bool, StoreError>;

        pass
        async fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;

        /// Inserts many users at once (seeding); no roles, no mail.
        pass
        async fn bulk_insert_users(&self, users: &[NewUser]) -> Result<(), StoreError>;
    }
}

store_traits! {
    /// Registered OAuth / OpenID Connect clients. Every change takes its audit event into the
    /// same transaction.
    pub trait ClientStore {
        /// Every client, oldest first.
        pass
        async fn list_clients(&self) -> Result<Vec<OAuthClient>, StoreError>;

        pass
        async fn client(&self, id: ClientId) -> Result<Option<OAuthClient>, StoreError>;

        pass
        async fn insert_client(
            &self,
            client: &OAuthClient,
            audit: &AuditEvent,
        ) -> Result<(), StoreError>;

        /// Replaces the client's settings (not its kind or secret). Returns whether the client
        /// exists.
        pass
        async fn update_client(
            &self,
            id: ClientId,
            settings: &ClientSettings,
            now: Timestamp,
            audit: &AuditEvent,
        ) -> Result<bool, StoreError>;

        /// Replaces a confidential client's secret hash, and nothing else. Returns whether a
        /// confidential client `id` exists.
        pass
        async fn set_client_secret(
            &self,
            id: ClientId,
            secret: &ClientSecretHash,
            now: Timestamp,
            audit: &AuditEvent,
        ) -> Result<bool, StoreError>;

        /// Deletes the client and ends its sessions (their tokens stop working at once).
        /// Returns whether the client existed.
        changes(All)
        async fn delete_client(&self, id: ClientId, audit: &AuditEvent) -> Result<bool, StoreError>;
    }
}

store_traits! {
    /// The OpenID Connect provider's records: authorization codes and remembered consent.
    pub trait ProviderStore {
        pass
        async fn insert_code(&self, code: &AuthCode) -> Result<(), StoreError>;

        /// The code with this hash, used or not.
        pass
        async fn code(&self, hash: &TokenHash) -> Result<Option<AuthCode>, StoreError>;

        /// Marks an unused code used without issuing anything (a failed exchange spends it).
        pass
        async fn burn_code(&self, hash: &TokenHash, now: Timestamp) -> Result<(), StoreError>;

        /// In one transaction: marks the code used if it is unused and unexpired at `now`,
        /// opens `session` (with its first refresh token and audit event) and records it as what
        /// the code issued. Returns `false`, writing nothing, when the code was already used or
        /// has expired: one conditional update decides, so two racing exchanges cannot both win.
        touches(User(session.session.user_id))
        async fn redeem_code(
            &self,
            hash: &TokenHash,
            now: Timestamp,
            session: &NewSession,
        ) -> Result<bool, StoreError>;

        /// Deletes codes that expired before `before`.
        pass
        async fn prune_codes(&self, before: Timestamp) -> Result<u64, StoreError>;

        pass
        async fn consent(&self, user: UserId, client: ClientId) -> Result<Option<Consent>, StoreError>;

        /// Stores (or replaces) what `consent.user_id` allowed `consent.client_id`.
        pass
        async fn grant_consent(&self, consent: &Consent) -> Result<(), StoreError>;

        /// What `user` allowed each client, with the client's name, newest first.
        pass
        async fn user_consents(&self, user: UserId) -> Result<Vec<(Consent, String)>, StoreError>;

        /// Withdraws `user`'s consent to `client` and ends the sessions that client holds for
        /// them, in one transaction. Returns whether there was a consent or a live session.
        changes(User(user))
        async fn revoke_consent(
            &self,
            user: UserId,
            client: ClientId,
            now: Timestamp,
        ) -> Result<bool, StoreError>;
    }
}

/// Everything the service needs from a backend.
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + KeyStore
    + EmailTokenStore
    + MailStore
    + AuditStore
    + LoginThrottleStore
    + AdminStore
    + FactorStore
    + ChallengeStore
    + ClientStore
    + ProviderStore
{
    /// A cheap round trip proving the database answers, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The backend's name for logs and metrics: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}

#[async_trait]
impl<D: StoreDecorator> Store for D {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner().ping().await
    }

    fn backend(&self) -> &'static str {
        self.inner().backend()
    }
}
