//! JSON handlers for second factors: the caller's own (`/api/v1/users/me/factors`, recovery
//! codes), completing a sign-in with one (`/api/v1/auth/login/mfa`), stepping up
//! (`/api/v1/auth/reauthenticate`), and an operator's view and reset
//! (`/api/v1/admin/users/{id}/factors`). Each parses its body, calls one service function and
//! shapes the answer; the rules live in `sesame_domain::service::factors` and `sign_in`.
//!
//! Secrets leave only here, once: a new authenticator app's secret (with its `otpauth://` URI
//! and QR code) and a new set of recovery codes. Nothing else ever returns them.

use super::auth::token_response;
use super::extract::{AdminUser, ApiJson, Client, CurrentUser, EnrollingUser};
use super::problem::{ApiError, ApiResult, ProblemBody};
use super::{no_store, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sesame_domain::mfa::{Factor, FactorId, FactorName, RecoveryCode};
use sesame_domain::model::UserId;
use sesame_domain::password::Password;
use sesame_domain::service::{FactorOverview, SecondFactor};
use sesame_domain::AuthError;
use utoipa::ToSchema;
use uuid::Uuid;

/// One second factor. Never contains its secret or credential.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FactorResponse {
    pub id: Uuid,
    /// `totp` (an authenticator app) or `passkey`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// `false` while an authenticator app waits for its first code.
    pub active: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<Factor> for FactorResponse {
    fn from(f: Factor) -> Self {
        Self {
            id: f.id.as_uuid(),
            kind: f.kind.as_str().to_owned(),
            name: f.name.as_str().to_owned(),
            created_at: f.created_at,
            active: f.is_active(),
            confirmed_at: f.confirmed_at,
            last_used_at: f.last_used_at,
        }
    }
}

/// An account's second factors.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FactorListResponse {
    pub factors: Vec<FactorResponse>,
    /// Unused recovery codes left.
    pub recovery_codes_left: u32,
}

impl From<FactorOverview> for FactorListResponse {
    fn from(o: FactorOverview) -> Self {
        Self {
            factors: o.factors.into_iter().map(Into::into).collect(),
            recovery_codes_left: o.recovery_codes_left,
        }
    }
}

/// Start enrolling an authenticator app.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpStartRequest {
    /// A name for it (1–64 characters); default "Authenticator app".
    pub name: Option<String>,
}

/// What the authenticator app needs, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpStartResponse {
    pub factor: FactorResponse,
    /// The shared secret, base32 (RFC 4648), for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/…` (SHA-1, 6 digits, 30 s), for scanning.
    pub otpauth_uri: String,
    /// The same URI as a QR code: an SVG document.
    pub qr_svg: String,
}

/// A code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub code: String,
}

/// An activated factor, with the account's recovery codes when it was the first one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FactorConfirmedResponse {
    pub factor: FactorResponse,
    /// Ten single-use codes, shown this once: present when this was the account's first
    /// factor. Store them somewhere safe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// A new name for a factor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameFactorRequest {
    pub name: String,
}

/// A new set of recovery codes, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

/// The second step of a sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// The `mfa_token` the password step returned.
    pub mfa_token: String,
    /// A code from an authenticator app; or:
    pub code: Option<String>,
    /// one of the account's recovery codes (it is spent).
    pub recovery_code: Option<String>,
}

/// Prove who you are again, in the current session (step-up).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthenticateRequest {
    pub password: String,
    /// For an account with a second factor: a code from its authenticator app; or:
    pub code: Option<String>,
    /// one of its recovery codes (it is spent).
    pub recovery_code: Option<String>,
}

/// A fresh access token for the same session, carrying the new `auth_time` and `amr`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessTokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    pub expires_in: u64,
}

/// The answer to a correct password when the account has a second factor: no tokens yet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MfaRequiredResponse {
    /// Always `true`: complete the sign-in at `POST /api/v1/auth/login/mfa`.
    pub mfa_required: bool,
    /// Single use; send it back with the second factor.
    pub mfa_token: String,
    /// Seconds the `mfa_token` stays valid.
    pub expires_in: u64,
    /// What the account can answer with: `totp`, `passkey`, `recovery_code`.
    pub methods: Vec<String>,
}

impl From<sesame_domain::service::MfaChallenge> for MfaRequiredResponse {
    fn from(c: sesame_domain::service::MfaChallenge) -> Self {
        Self {
            mfa_required: true,
            mfa_token: c.token.reveal().to_owned(),
            expires_in: c.expires_in,
            methods: c.methods.iter().map(|m| (*m).to_owned()).collect(),
        }
    }
}

fn factor_id(raw: &str) -> Result<FactorId, ApiError> {
    Uuid::parse_str(raw)
        .map(FactorId::from_uuid)
        .map_err(|_| ApiError::Auth(AuthError::NotFound))
}

/// The one second-factor answer of a request: exactly one of `code` and `recovery_code`.
pub(crate) fn answer(
    code: Option<String>,
    recovery_code: Option<String>,
) -> Result<Option<SecondFactor>, ApiError> {
    match (code, recovery_code) {
        (Some(c), None) => Ok(Some(SecondFactor::Totp(c))),
        (None, Some(r)) => Ok(Some(SecondFactor::RecoveryCode(r))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(AuthError::field(
            "code",
            "ambiguous",
            "send one of `code` or `recovery_code`, not both",
        )
        .into()),
    }
}

/// The `otpauth://` URI as a QR code (SVG).
fn qr_svg(uri: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| ApiError::Auth(AuthError::Internal(Box::new(e))))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// Your second factors (never their secrets) and how many recovery codes are left.
#[utoipa::path(get, path = "/api/v1/users/me/factors", tag = "factors",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Factors", body = FactorListResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn list_factors(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
) -> ApiResult<Response> {
    let o = state.factors.overview(&who).await?;
    Ok(no_store(Json(FactorListResponse::from(o))))
}

/// Start enrolling an authenticator app (RFC 6238).
///
/// Returns the secret, its `otpauth://` URI and a QR code, once. The factor is inactive until
/// its first code is confirmed. On an account that has a factor already this is a sensitive
/// operation: it needs a recent sign-in with the second factor.
#[utoipa::path(post, path = "/api/v1/users/me/factors/totp", tag = "factors",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = TotpStartRequest,
    responses(
        (status = 201, description = "Enrolment started", body = TotpStartResponse),
        (status = 401, description = "`missing_token`, `invalid_token`, or `insufficient_user_authentication` (re-authenticate; see `WWW-Authenticate`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`name`)", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn start_totp(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
    ApiJson(req): ApiJson<TotpStartRequest>,
) -> ApiResult<Response> {
    let name = req.name.as_deref().map(FactorName::parse).transpose()?;
    let e = state.factors.start_totp(&who, name).await?;
    let qr = qr_svg(&e.otpauth_uri)?;
    let body = TotpStartResponse {
        factor: e.factor.into(),
        secret: e.secret.base32(),
        otpauth_uri: e.otpauth_uri,
        qr_svg: qr,
    };
    Ok((StatusCode::CREATED, no_store(Json(body))).into_response())
}

/// Activate an authenticator app with its first code.
///
/// The account's first factor comes with ten recovery codes, shown this once.
#[utoipa::path(post, path = "/api/v1/users/me/factors/totp/{id}/confirm", tag = "factors",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Factor id")),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "Active", body = FactorConfirmedResponse),
        (status = 401, description = "`invalid_second_factor`: the code is wrong, or was used already", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no pending authenticator app with this id", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    let id = factor_id(&id)?;
    let (factor, codes) = state
        .factors
        .confirm_totp(&who, id, &req.code, &client)
        .await?;
    Ok(no_store(Json(FactorConfirmedResponse {
        factor: factor.into(),
        recovery_codes: codes.map(|c| c.iter().map(|c| c.reveal().to_owned()).collect()),
    })))
}

/// Rename one of your factors.
#[utoipa::path(patch, path = "/api/v1/users/me/factors/{id}", tag = "factors",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Factor id")),
    request_body = RenameFactorRequest,
    responses(
        (status = 200, description = "Renamed", body = FactorResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`name`)", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn rename_factor(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RenameFactorRequest>,
) -> ApiResult<Json<FactorResponse>> {
    let id = factor_id(&id)?;
    let name = FactorName::parse(&req.name)?;
    let f = state.factors.rename(&who, id, &name, &client).await?;
    Ok(Json(f.into()))
}

/// Remove one of your factors (step-up).
///
/// Removing the last one also voids the recovery codes. Needs a recent sign-in with the second
/// factor; otherwise `insufficient_user_authentication`.
#[utoipa::path(delete, path = "/api/v1/users/me/factors/{id}", tag = "factors",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Factor id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`insufficient_user_authentication`: re-authenticate at `/api/v1/auth/reauthenticate` (see `WWW-Authenticate`, RFC 9470)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn remove_factor(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = factor_id(&id)?;
    state.factors.remove(&who, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issue a new set of recovery codes (step-up); the old set stops working.
#[utoipa::path(post, path = "/api/v1/users/me/recovery-codes", tag = "factors",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Ten new codes, shown once", body = RecoveryCodesResponse),
        (status = 401, description = "`insufficient_user_authentication`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`no_second_factor`: recovery codes need an active factor", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Client(client): Client,
) -> ApiResult<Response> {
    let codes = state
        .factors
        .regenerate_recovery_codes(&who, &client)
        .await?;
    Ok(no_store(Json(RecoveryCodesResponse {
        recovery_codes: codes
            .iter()
            .map(RecoveryCode::reveal)
            .map(str::to_owned)
            .collect(),
    })))
}

/// Complete a sign-in with the second factor.
///
/// Send the `mfa_token` from `/auth/login` with `code` (authenticator app) or `recovery_code`.
/// A wrong answer counts toward the account's sign-in pause, and the `mfa_token` dies after a
/// few wrong answers or when it expires.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = super::dto::TokenResponse),
        (status = 401, description = "`invalid_second_factor`, or `invalid_challenge` (unknown, used, expired or exhausted `mfa_token`: sign in again)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: neither or both of `code` and `recovery_code`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: sign-in paused after repeated failures; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn login_mfa(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<MfaLoginRequest>,
) -> ApiResult<Response> {
    state.limits.second_factor(client.ip).await?;
    let Some(answer) = answer(req.code, req.recovery_code)? else {
        return Err(AuthError::field("code", "required", "send `code` or `recovery_code`").into());
    };
    let pair = state
        .sign_in
        .complete_mfa(&req.mfa_token, &answer, client)
        .await?;
    Ok(token_response(&state, pair))
}

/// Prove who you are again, in the current session (step-up).
///
/// Sensitive operations (change password or email, delete the account, remove a factor, new
/// recovery codes, role changes) need a sign-in at most `SESAME_REAUTH_MAX_AGE` old and, for an
/// account with a second factor, one proved with it. Send the password, plus `code` or
/// `recovery_code` when the account has a factor; the answer is a new access token for the same
/// session, with a fresh `auth_time` and `amr`.
#[utoipa::path(post, path = "/api/v1/auth/reauthenticate", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = ReauthenticateRequest,
    responses(
        (status = 200, description = "Re-authenticated", body = AccessTokenResponse),
        (status = 401, description = "`invalid_token` or `invalid_second_factor`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `password` / `incorrect`, or `code` / `required` for an account with a factor", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: paused after repeated failures; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn reauthenticate(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
    Client(client): Client,
    ApiJson(req): ApiJson<ReauthenticateRequest>,
) -> ApiResult<Response> {
    let answer = answer(req.code, req.recovery_code)?;
    let t = state
        .sign_in
        .reauthenticate(
            &who,
            &Password::for_login(&req.password),
            answer.as_ref(),
            &client,
        )
        .await?;
    Ok(no_store(Json(AccessTokenResponse {
        access_token: t.access_token,
        token_type: "Bearer".into(),
        expires_in: t.expires_in,
    })))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    Uuid::parse_str(raw)
        .map(UserId::from_uuid)
        .map_err(|_| ApiError::Auth(AuthError::NotFound))
}

/// A user's second factors (never their secrets).
#[utoipa::path(get, path = "/api/v1/admin/users/{id}/factors", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Factors", body = FactorListResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn admin_user_factors(
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<FactorListResponse>> {
    Ok(Json(admin.user_factors(user_id(&id)?).await?.into()))
}

/// Reset a user's second factors: every factor and recovery code is removed (audited, and the
/// user is emailed). Their sessions stay.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/factors", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Reset"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn admin_reset_factors(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin.reset_factors(&client, user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
