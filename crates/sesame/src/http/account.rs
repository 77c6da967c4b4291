//! The email-driven account flows under `/api/v1/auth` (verify, resend, forgot, reset, confirm an
//! email change) and the caller's self-service under `/api/v1/users/me` (password, email,
//! sessions, deletion, export).
//!
//! Requests whose effect is an email to an address that may or may not have an account
//! (resend, forgot) answer 202 at once and do the work in the background, so neither the answer
//! nor its timing says whether the account exists.

use super::auth::collect;
use super::dto::{
    AcceptedResponse, ChangeEmailRequest, ChangePasswordRequest, DeleteAccountRequest,
    EmailRequest, EmailTokenRequest, ExportResponse, GrantResponse, ResetPasswordRequest,
    SessionResponse, TokenResponse, UserResponse,
};
use super::extract::{ApiJson, Client, CurrentUser};
use super::problem::{ApiResult, ProblemBody};
use super::{no_store, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sesame_domain::model::{Email, SessionId};
use sesame_domain::password::Password;
use sesame_domain::AuthError;
use tracing::Instrument as _;
use uuid::Uuid;

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(AcceptedResponse::new())).into_response()
}

/// Runs `work` after the response, in the request's span, logging failures.
pub(crate) fn in_background<F>(what: &'static str, work: F)
where
    F: std::future::Future<Output = Result<(), AuthError>> + Send + 'static,
{
    tokio::spawn(
        async move {
            if let Err(e) = work.await {
                tracing::error!(error = %e, "{what} failed");
            }
        }
        .instrument(tracing::Span::current()),
    );
}

/// Confirm an email address with the token from the verification email.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "email",
    request_body = EmailTokenRequest,
    responses(
        (status = 204, description = "Email verified"),
        (status = 400, description = "`invalid_email_token`: unknown, used, superseded or expired", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<EmailTokenRequest>,
) -> ApiResult<StatusCode> {
    state.account.verify_email(&req.token, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a new verification email. Always 202; at most one email per address per interval.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "email",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the account exists)", body = AcceptedResponse),
        (status = 422, description = "`validation_failed`: not an email address", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: a rate limit; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn resend_verification(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<EmailRequest>,
) -> ApiResult<Response> {
    let email = Email::parse(&req.email)?;
    state.limits.resend(client.ip, &email).await?;
    let account = state.account.clone();
    in_background("verification resend", async move {
        account.resend_verification(&email).await
    });
    Ok(accepted())
}

/// Email a password-reset link. Always 202, whether or not the account exists.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "email",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the account exists)", body = AcceptedResponse),
        (status = 422, description = "`validation_failed`: not an email address", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: a rate limit; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<EmailRequest>,
) -> ApiResult<Response> {
    let email = Email::parse(&req.email)?;
    state.limits.forgot(client.ip, &email).await?;
    let account = state.account.clone();
    in_background("password reset request", async move {
        account.forgot_password(&email, &client).await
    });
    Ok(accepted())
}

/// Set a new password with the token from the reset email. Ends every session of the user.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "email",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; all sessions ended"),
        (status = 400, description = "`invalid_email_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` on `new_password`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    let password = Password::parse_field(&req.new_password, "new_password")?;
    state
        .account
        .reset_password(&req.token, &password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Confirm an email change with the token sent to the new address.
#[utoipa::path(post, path = "/api/v1/auth/email/confirm", tag = "email",
    request_body = EmailTokenRequest,
    responses(
        (status = 204, description = "The new address is now the account's (and verified)"),
        (status = 400, description = "`invalid_email_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`: the address was taken meanwhile", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<EmailTokenRequest>,
) -> ApiResult<StatusCode> {
    state
        .account
        .confirm_email_change(&req.token, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password. Requires the current one; ends every other session; returns a fresh
/// token pair for this one. The owner is notified by email.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; a fresh token pair for this session", body = TokenResponse),
        (status = 401, description = "`missing_token`, `invalid_token`, or `insufficient_user_authentication`: the sign-in is older than `SESAME_REAUTH_MAX_AGE` or did not use the account's second factor; re-authenticate at `/api/v1/auth/reauthenticate` (see `WWW-Authenticate`, RFC 9470)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong `current_password` or weak `new_password`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: password hashing is saturated; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Client(client): Client,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Response> {
    let current = Password::for_login(&req.current_password);
    let new_password = Password::parse_field(&req.new_password, "new_password")?;
    let pair = state
        .account
        .change_password(&who, &current, &new_password, &client)
        .await?;
    Ok(super::auth::token_response(&state, pair))
}

/// Start an email change: the new address gets a confirmation link, the old one a notice.
#[utoipa::path(post, path = "/api/v1/users/me/email", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Confirmation sent to the new address", body = AcceptedResponse),
        (status = 401, description = "`missing_token`, `invalid_token`, or `insufficient_user_authentication`: the sign-in is older than `SESAME_REAUTH_MAX_AGE` or did not use the account's second factor; re-authenticate at `/api/v1/auth/reauthenticate` (see `WWW-Authenticate`, RFC 9470)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong password, bad or unchanged address", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: a rate limit; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
        (status = 503, description = "`overloaded`: password hashing is saturated; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn change_email(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Client(client): Client,
    ApiJson(req): ApiJson<ChangeEmailRequest>,
) -> ApiResult<Response> {
    let mut errs = Vec::new();
    let new_email = collect(
        &mut errs,
        Email::parse(&req.new_email).map_err(|mut e| {
            e.field = "new_email";
            e
        }),
    );
    let Some(new_email) = new_email else {
        return Err(AuthError::Validation(errs).into());
    };
    state.limits.email_change(client.ip, who.user.id).await?;
    state
        .account
        .request_email_change(
            &who,
            new_email,
            &Password::for_login(&req.password),
            &client,
        )
        .await?;
    Ok(accepted())
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/users/me/sessions", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Live sessions", body = [SessionResponse]),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn list_sessions(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
) -> ApiResult<Json<Vec<SessionResponse>>> {
    let current = Some(who.session_id());
    let sessions = state.account.sessions(&who).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionResponse::new(s, current))
            .collect(),
    ))
}

/// The applications the caller allowed to sign them in (OpenID Connect consent), newest first.
#[utoipa::path(get, path = "/api/v1/users/me/grants", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The caller's grants", body = [GrantResponse]),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn list_grants(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
) -> ApiResult<Json<Vec<GrantResponse>>> {
    let grants = state.account.grants(&who).await?;
    Ok(Json(
        grants
            .into_iter()
            .map(|(c, name)| GrantResponse {
                client_id: c.client_id.as_uuid(),
                client_name: name,
                scope: sesame_domain::client::Scope::join(&c.scopes),
                granted_at: c.granted_at,
            })
            .collect(),
    ))
}

/// Withdraw a grant: the application must ask again, and its sessions for the caller end
/// (its refresh tokens stop working at once).
#[utoipa::path(delete, path = "/api/v1/users/me/grants/{client_id}", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("client_id" = Uuid, Path, description = "The application's client_id")),
    responses(
        (status = 204, description = "Grant withdrawn, sessions ended"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no grant or session of yours for this client", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = sesame_domain::client::ClientId::parse(&id).ok_or(AuthError::NotFound)?;
    state.account.revoke_grant(&who, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/users/me/sessions/{id}", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Session ended"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no live session of yours with this id", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn end_session(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = Uuid::parse_str(&id).map_err(|_| AuthError::NotFound)?;
    state
        .account
        .end_session(&who, SessionId::from_uuid(id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete the caller's account and everything tied to it. Requires the password.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "Account deleted; its tokens stop working at once"),
        (status = 401, description = "`missing_token`, `invalid_token`, or `insufficient_user_authentication`: the sign-in is older than `SESAME_REAUTH_MAX_AGE` or did not use the account's second factor; re-authenticate at `/api/v1/auth/reauthenticate` (see `WWW-Authenticate`, RFC 9470)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`: the last active admin cannot delete their account", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong password", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: password hashing is saturated; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn delete_me(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Client(client): Client,
    ApiJson(req): ApiJson<DeleteAccountRequest>,
) -> ApiResult<StatusCode> {
    state
        .account
        .delete_account(&who, &Password::for_login(&req.password), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything Sesame stores about the caller, as JSON, without secrets or hashes.
#[utoipa::path(get, path = "/api/v1/users/me/export", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The export", body = ExportResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn export(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
) -> ApiResult<Response> {
    let current = Some(who.session_id());
    let e = state.account.export(&who).await?;
    let body = ExportResponse {
        exported_at: e.exported_at,
        user: UserResponse::from(e.user),
        sessions: e
            .sessions
            .into_iter()
            .map(|s| SessionResponse::new(s, current))
            .collect(),
        security_events: e.security_events.into_iter().map(Into::into).collect(),
        factors: e.factors.into_iter().map(Into::into).collect(),
    };
    Ok(no_store(Json(body)))
}
