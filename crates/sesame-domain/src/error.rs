//! The two kinds of failure the domain reports: the caller's fault ([`AuthError`] variants with a
//! stable machine code) and ours ([`AuthError::Internal`], wrapping a cause that is logged, never
//! shown). Mapping these to HTTP lives in the `sesame` crate, in one place.

use std::fmt;

/// One failed rule on one input field, for validation error lists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The request field, e.g. `email`.
    pub field: &'static str,
    /// A stable machine code for the rule, e.g. `too_short`.
    pub code: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

impl FieldError {
    #[must_use]
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Failures of a storage backend. A database outage must never look like "not found", so
/// lookups return `Result<Option<T>, StoreError>`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; the payload names which one.
    #[error("unique constraint violated: {0:?}")]
    Conflict(Conflict),
    /// The database cannot be reached or did not answer in time (refused, unreachable, no free
    /// connection within the acquire timeout, statement timeout, shutting down). Worth retrying
    /// later; the cause is for the log. A write that failed this way may or may not have been
    /// applied, like any write whose answer was lost.
    #[error("storage backend unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: bad SQL, corrupt rows, protocol errors. The cause is for the log.
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }

    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// Which uniqueness rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    Email,
    Username,
    Other,
}

/// Everything an account operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Input failed one or more field rules.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// Login failed: unknown account, wrong password or deactivated account, indistinguishably.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The presented access token is missing, malformed, forged, expired or its session ended.
    #[error("invalid access token: {0}")]
    InvalidToken(&'static str),
    /// The presented refresh token is unknown, expired, already used, or its session ended.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the username is already taken")]
    UsernameTaken,
    /// The account exists but may not do this (e.g. deactivated).
    #[error("the account is deactivated")]
    AccountDisabled,
    /// The password checked out but the email address is not verified yet.
    #[error("the email address is not verified")]
    EmailNotVerified,
    /// An emailed token (verification, reset, email change) is unknown, used, expired or
    /// superseded.
    #[error("invalid or expired emailed token")]
    InvalidEmailToken,
    /// The caller lacks the role this needs (checked against the database, not the token).
    #[error("forbidden")]
    Forbidden,
    /// The change would leave no active admin.
    #[error("the last admin cannot be demoted, deactivated or deleted")]
    LastAdmin,
    #[error("the role already exists")]
    RoleExists,
    #[error("built-in roles cannot be deleted")]
    BuiltInRole,
    /// A secret was asked of a public client, which has none (RFC 6749 §2.1).
    #[error("a public client has no secret")]
    PublicClient,
    /// Client authentication failed: unknown client, wrong or missing secret, or a secret sent
    /// by a public client (RFC 6749 §5.2 `invalid_client`).
    #[error("client authentication failed")]
    InvalidClient,
    /// The client may not use this grant type (RFC 6749 §5.2 `unauthorized_client`).
    #[error("the client may not use this grant")]
    UnauthorizedClient,
    /// A scope the client may not ask for, or one Sesame does not know (RFC 6749 §5.2).
    #[error("invalid scope")]
    InvalidScope,
    /// An authorization code (or its PKCE verifier or redirect URI) was refused: unknown, used,
    /// expired, issued to another client, or not matching (RFC 6749 §5.2 `invalid_grant`). The
    /// text says which, for the client's developer.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// A resource of the caller's (e.g. one of their sessions) does not exist.
    #[error("not found")]
    NotFound,
    /// A second-factor answer (authenticator code, recovery code, passkey assertion) was wrong,
    /// or a code was used already.
    #[error("invalid second factor")]
    InvalidSecondFactor,
    /// A second-factor challenge or WebAuthn ceremony is unknown, used, expired, or died after
    /// too many wrong answers: start again.
    #[error("invalid or expired challenge")]
    InvalidChallenge,
    /// The operation needs a recent sign-in (`max_age_secs`) and, for an account with a second
    /// factor, one proved with it (RFC 9470 §3: `insufficient_user_authentication`).
    #[error("a recent authentication is required")]
    StepUpRequired { max_age_secs: u64 },
    /// The token is limited to enrolling a second factor (`SESAME_MFA_REQUIRED`).
    #[error("a second factor must be enrolled first")]
    MfaEnrolmentRequired,
    /// Passkeys are not available: no relying party could be configured (see
    /// `SESAME_WEBAUTHN_RP_ID`).
    #[error("passkeys are not configured")]
    PasskeysUnavailable,
    /// The operation needs an active second factor and the account has none.
    #[error("the account has no second factor")]
    NoSecondFactor,
    /// Too many attempts: a rate limit or a login lockout. Deliberately one variant for both, so
    /// the answer does not tell which (or whether the account exists).
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Too many password hashes are queued; the caller should retry shortly.
    #[error("password hashing is saturated")]
    Overloaded { retry_after_secs: u64 },
    /// The database is down or did not answer in time; the caller should retry later. The
    /// cause is logged, never sent.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Our fault. The cause is logged with the request id and never sent to the client.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AuthError {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    #[must_use]
    pub fn field(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::Email) => Self::EmailTaken,
            StoreError::Conflict(Conflict::Username) => Self::UsernameTaken,
            StoreError::Conflict(Conflict::Other) => Self::internal(e),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Backend(_) => Self::internal(e),
        }
    }
}
