//! The one mapping from errors to HTTP: every failure becomes an RFC 9457
//! `application/problem+json` body with a stable machine `code`.
//!
//! [`ApiError::into_response`] decides status, code and headers with an exhaustive `match` (no
//! catch-all arm: a new error variant must be mapped on purpose) and leaves a [`Problem`] in the
//! response extensions. The `observe` middleware then writes the body with the request id and
//! logs internal causes, which never reach the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sesame_domain::{AuthError, FieldError};
use std::sync::Arc;
use utoipa::ToSchema;

/// Errors of the HTTP edge: the domain's, plus what can go wrong before a request reaches it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The body is not valid JSON (syntax, truncation, invalid UTF-8).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// Valid JSON of the wrong shape: wrong types, missing or unknown fields.
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// A query string that does not parse (wrong types, bad dates).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A string in the body or the query string holds NUL or another control character
    /// (`sesame_domain::model::is_disallowed_char`); the field is named by its path.
    #[error("invalid characters in {0}")]
    InvalidCharacters(String),
    #[error("unsupported media type")]
    UnsupportedMediaType(&'static str),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unreadable body")]
    UnreadableBody,
    /// A protected route was called without a bearer token.
    #[error("missing bearer token")]
    MissingToken,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A handler panicked; caught so that the server keeps serving.
    #[error("handler panicked")]
    Panic,
    /// Cookie mode: a cookie-authenticated request failed the CSRF checks.
    #[error("CSRF check failed: {0}")]
    Csrf(&'static str),
    /// Cookie mode: a refresh without a token in the body and without the refresh cookie.
    #[error("no refresh token")]
    MissingRefreshCookie,
    /// The in-flight request bound is reached.
    #[error("server busy")]
    Busy,
    /// The request took longer than the request timeout (slow backend).
    #[error("request timeout")]
    Timeout,
    /// The request body did not arrive within the body read timeout.
    #[error("request body too slow")]
    SlowBody,
    /// This client already has its whole share of concurrent requests open.
    #[error("client has too many requests open")]
    ClientBusy,
}

/// A validation failure on one field, as sent to clients.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The request field, e.g. `password`.
    pub field: String,
    /// A stable rule code, e.g. `too_short`.
    pub code: String,
    pub message: String,
}

impl From<FieldError> for FieldProblem {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field.to_owned(),
            code: e.code.to_owned(),
            message: e.message,
        }
    }
}

/// The RFC 9457 problem document every error response carries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemBody {
    /// A URI naming the problem type: `urn:sesame:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; branch on this, not on `title` or `detail`.
    pub code: String,
    /// The `x-request-id` of the request, for support and log correlation.
    pub request_id: String,
    /// Present on validation failures: one entry per failed field rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
}

/// What an error response carries until the middleware writes its body.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Option<Vec<FieldProblem>>,
    /// Our own failure's cause, for the log only.
    pub internal: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Problem {
    #[must_use]
    pub fn body(&self, request_id: &str) -> ProblemBody {
        ProblemBody {
            type_: format!("urn:sesame:problem:{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            request_id: request_id.to_owned(),
            errors: self.errors.clone(),
        }
    }
}

const BEARER: &str = "Bearer realm=\"sesame\"";
const BEARER_INVALID: &str = "Bearer realm=\"sesame\", error=\"invalid_token\"";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut www_auth = None;
        let mut step_up_challenge = None;
        let mut retry_after = None;
        let mut internal: Option<Arc<dyn std::error::Error + Send + Sync>> = None;
        let mut errors = None;
        let (status, code, title, detail): (StatusCode, &'static str, &'static str, String) = match self {
            Self::Auth(e) => match e {
                AuthError::Validation(list) => {
                    let detail = list.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                    errors = Some(list.into_iter().map(FieldProblem::from).collect());
                    (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed", detail)
                }
                AuthError::InvalidCredentials => {
                    www_auth = Some(BEARER);
                    (
                        StatusCode::UNAUTHORIZED,
                        "invalid_credentials",
                        "Invalid credentials",
                        "The email/username or password is incorrect.".into(),
                    )
                }
                AuthError::InvalidToken(_) => {
                    www_auth = Some(BEARER_INVALID);
                    (
                        StatusCode::UNAUTHORIZED,
                        "invalid_token",
                        "Invalid access token",
                        "The access token is malformed, expired, revoked or not issued by this server.".into(),
                    )
                }
                AuthError::InvalidRefreshToken => (
                    StatusCode::UNAUTHORIZED,
                    "invalid_refresh_token",
                    "Invalid refresh token",
                    "The refresh token is unknown, expired, already used, or its session has ended.".into(),
                ),
                AuthError::EmailTaken => (
                    StatusCode::CONFLICT,
                    "email_taken",
                    "Email already registered",
                    "An account with this email address already exists.".into(),
                ),
                AuthError::UsernameTaken => (
                    StatusCode::CONFLICT,
                    "username_taken",
                    "Username taken",
                    "This username is already in use.".into(),
                ),
                AuthError::AccountDisabled => (
                    StatusCode::FORBIDDEN,
                    "account_disabled",
                    "Account deactivated",
                    "This account has been deactivated.".into(),
                ),
                AuthError::EmailNotVerified => (
                    StatusCode::FORBIDDEN,
                    "email_not_verified",
                    "Email not verified",
                    "Confirm your email address with the link we sent, or ask for a new one.".into(),
                ),
                AuthError::InvalidEmailToken => (
                    StatusCode::BAD_REQUEST,
                    "invalid_email_token",
                    "Invalid or expired link",
                    "The token is unknown, already used, superseded by a newer one, or expired.".into(),
                ),
                AuthError::Forbidden => (
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "Forbidden",
                    "This needs a role the caller does not have.".into(),
                ),
                AuthError::LastAdmin => (
                    StatusCode::CONFLICT,
                    "last_admin",
                    "Last admin",
                    "The last active admin cannot be demoted, deactivated or deleted.".into(),
                ),
                AuthError::RoleExists => (
                    StatusCode::CONFLICT,
                    "role_exists",
                    "Role exists",
                    "A role with this name exists already.".into(),
                ),
                AuthError::BuiltInRole => (
                    StatusCode::CONFLICT,
                    "built_in_role",
                    "Built-in role",
                    "Built-in roles cannot be deleted.".into(),
                ),
                AuthError::PublicClient => (
                    StatusCode::CONFLICT,
                    "public_client",
                    "Public client",
                    "A public client has no secret: it proves itself with PKCE.".into(),
                ),
                AuthError::InvalidClient => (
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "Client authentication failed",
                    "The client is unknown, or its credentials are wrong or missing.".into(),
                ),
                AuthError::UnauthorizedClient => (
                    StatusCode::FORBIDDEN,
                    "unauthorized_client",
                    "Grant not allowed",
                    "This client may not use this grant type.".into(),
                ),
                AuthError::InvalidScope => (
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "Invalid scope",
                    "A requested scope is unknown or not allowed for this client.".into(),
                ),
                AuthError::InvalidGrant(why) => (
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid grant",
                    why.into(),
                ),
                AuthError::NotFound => (
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "Not found",
                    "No such resource.".into(),
                ),
                AuthError::InvalidSecondFactor => {
                    www_auth = Some(BEARER);
                    (
                        StatusCode::UNAUTHORIZED,
                        "invalid_second_factor",
                        "Invalid second factor",
                        "The code, recovery code or passkey was not accepted (a code is accepted once).".into(),
                    )
                }
                AuthError::InvalidChallenge => {
                    www_auth = Some(BEARER);
                    (
                        StatusCode::UNAUTHORIZED,
                        "invalid_challenge",
                        "Invalid or expired challenge",
                        "The challenge is unknown, used, expired, or ended after too many wrong answers; start again.".into(),
                    )
                }
                // RFC 9470 §3: the resource needs a more recent authentication, or a stronger
                // one; the challenge names `max_age` so the client knows what to ask for.
                AuthError::StepUpRequired { max_age_secs } => {
                    step_up_challenge = Some(format!(
                        "Bearer realm=\"sesame\", error=\"insufficient_user_authentication\", \
                         error_description=\"A recent authentication with every factor of the account is required\", \
                         max_age={max_age_secs}"
                    ));
                    (
                        StatusCode::UNAUTHORIZED,
                        "insufficient_user_authentication",
                        "Re-authentication required",
                        format!("This operation needs a sign-in at most {max_age_secs} seconds old and, for an account with a second factor, one that used it: call POST /api/v1/auth/reauthenticate, then retry with the new access token."),
                    )
                }
                AuthError::MfaEnrolmentRequired => (
                    StatusCode::FORBIDDEN,
                    "mfa_enrolment_required",
                    "Second factor required",
                    "This account must enrol a second factor before it can do anything else: see /api/v1/users/me/factors, then refresh the session.".into(),
                ),
                AuthError::PasskeysUnavailable => (
                    StatusCode::NOT_FOUND,
                    "passkeys_unavailable",
                    "Passkeys unavailable",
                    "This server has no WebAuthn relying party: set SESAME_PUBLIC_URL to an https URL (or http://localhost), or SESAME_WEBAUTHN_RP_ID and SESAME_WEBAUTHN_ORIGINS.".into(),
                ),
                AuthError::NoSecondFactor => (
                    StatusCode::CONFLICT,
                    "no_second_factor",
                    "No second factor",
                    "The account has no active second factor.".into(),
                ),
                AuthError::TooManyAttempts { retry_after_secs } => {
                    retry_after = Some(retry_after_secs);
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        "Too many attempts",
                        format!("Too many attempts; retry after {retry_after_secs} seconds."),
                    )
                }
                AuthError::Overloaded { retry_after_secs } => {
                    retry_after = Some(retry_after_secs);
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "overloaded",
                        "Temporarily overloaded",
                        "Too many password checks are in progress; retry shortly.".into(),
                    )
                }
                AuthError::Unavailable(cause) => {
                    internal = Some(Arc::from(cause));
                    retry_after = Some(DATABASE_RETRY_AFTER_SECS);
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "database_unavailable",
                        "Database unavailable",
                        "The database did not answer in time; retry shortly. If this was a change, it may or may not have been applied.".into(),
                    )
                }
                AuthError::Internal(cause) => {
                    internal = Some(Arc::from(cause));
                    internal_error()
                }
            },
            Self::MalformedJson(why) => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "Malformed JSON",
                format!("The request body is not valid JSON: {why}"),
            ),
            Self::InvalidBody(why) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "Invalid request body",
                format!("The request body does not match the expected schema: {why}"),
            ),
            Self::InvalidQuery(why) => (
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "Invalid query string",
                format!("The query string does not parse: {why}"),
            ),
            Self::InvalidCharacters(field) => {
                let message = "NUL and other control characters (except tab and line breaks) are not allowed";
                errors = Some(vec![FieldProblem {
                    field: field.clone(),
                    code: sesame_domain::model::INVALID_CHARACTERS.to_owned(),
                    message: message.to_owned(),
                }]);
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "Validation failed",
                    format!("{field}: {message}"),
                )
            }
            Self::UnsupportedMediaType(expected) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                format!("Send the body as {expected}."),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
                "The request body is larger than the server accepts (64 KiB by default).".into(),
            ),
            Self::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "Unreadable body",
                "The request body could not be read.".into(),
            ),
            Self::MissingToken => {
                www_auth = Some(BEARER);
                (
                    StatusCode::UNAUTHORIZED,
                    "missing_token",
                    "Authentication required",
                    "Send an access token as `Authorization: Bearer <token>`.".into(),
                )
            }
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                "No resource at this path.".into(),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                "This path does not accept this method.".into(),
            ),
            Self::Csrf(why) => (
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "CSRF check failed",
                format!("Cookie-authenticated requests need an allowed Origin and a matching X-CSRF-Token header: {why}."),
            ),
            Self::MissingRefreshCookie => (
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "Invalid refresh token",
                "Send the refresh token in the body, or (cookie mode) the sesame_refresh cookie.".into(),
            ),
            Self::Busy => {
                retry_after = Some(1);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_busy",
                    "Server busy",
                    "Too many requests are in progress; retry shortly.".into(),
                )
            }
            Self::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timeout",
                "The request took too long to handle.".into(),
            ),
            // RFC 9110 §15.5.9: the server did not receive a complete request in time.
            Self::SlowBody => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timeout",
                "The request body did not arrive in time; send it at once.".into(),
            ),
            // RFC 6585 §4: too many requests from this client, here at the same time.
            Self::ClientBusy => {
                retry_after = Some(1);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_concurrent_requests",
                    "Too many concurrent requests",
                    "This client has too many requests in progress; retry once one has finished."
                        .into(),
                )
            }
            Self::Panic => {
                internal = Some(Arc::new(std::io::Error::other("handler panicked")));
                internal_error()
            }
        };
        let mut resp = status.into_response();
        if let Some(v) = www_auth {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
        }
        if let Some(v) = step_up_challenge.and_then(|v| HeaderValue::from_str(&v).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(Problem {
            status,
            code,
            title,
            detail,
            errors,
            internal,
        });
        resp
    }
}

/// `Retry-After` on `database_unavailable`: long enough for a pool to reconnect or a failover
/// to finish, short enough that clients come back soon.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

fn internal_error() -> (StatusCode, &'static str, &'static str, String) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal server error",
        "Something went wrong on our side; the request id identifies it in our logs.".into(),
    )
}

/// Lets handlers return `ApiResult<T>`.
pub type ApiResult<T> = Result<T, ApiError>;
