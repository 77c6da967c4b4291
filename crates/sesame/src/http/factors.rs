//! JSON handlers for second factors: the caller's own (`/api/v1/users/me/factors`, recovery
//! codes), completing a sign-in with one (`/api/v1/auth/login/mfa`), stepping up
//! (`/api/v1/auth/reauthenticate`), and an operator's view and reset
//! (`/api/v1/admin/users/{id}/factors`). Each parses its body, calls one service function and
//! shapes the answer; the rules live in `sesame_domain::service::factors` and `sign_in`.
//!
//! Secrets leave only here, once: a new authenticator app's secret (with its `otpauth://` URI
//! and QR code) and a new set of recovery codes. Nothing else ever returns them.

use super::admin::user_id;
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
    /// A name for it (1–64 characters, not only spaces); default "Authenticator app".
    #[schema(min_length = 1, max_length = 64)]
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
    /// 1–64 characters, not only spaces.
    #[schema(min_length = 1, max_length = 64)]
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
    /// one of the account's recovery codes (it is spent); or:
    pub recovery_code: Option<String>,
    /// a WebAuthn assertion answering `passkey_options` (the browser's `PublicKeyCredential`
    /// as JSON, binary values base64url).
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

/// Prove who you are again, in the current session (step-up): the password (plus `code` or
/// `recovery_code` for an account with a second factor), or a passkey alone (`flow_id` from
/// `/auth/reauthenticate/passkey/options` and the `credential`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthenticateRequest {
    pub password: Option<String>,
    /// For an account with a second factor: a code from its authenticator app; or:
    pub code: Option<String>,
    /// one of its recovery codes (it is spent).
    pub recovery_code: Option<String>,
    /// A passkey step-up: the ceremony id…
    pub flow_id: Option<String>,
    /// …and the browser's assertion.
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

/// A passkey ceremony for the browser.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeyOptionsResponse {
    /// Single use; send it back with the browser's answer.
    pub flow_id: String,
    /// Pass to `navigator.credentials.create` (registration) or `.get` (sign-in, step-up):
    /// `{"publicKey": …}`, binary values base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Seconds the ceremony stays valid.
    pub expires_in: u64,
}

/// A passkey registration ceremony for the browser.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeyRegistrationOptionsResponse {
    /// Single use; send it back with the browser's answer.
    pub registration_id: String,
    /// Pass to `navigator.credentials.create`: `{"publicKey": …}`, binary values base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Seconds the ceremony stays valid.
    pub expires_in: u64,
}

/// Finish registering a passkey.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegisterRequest {
    /// The `registration_id` of `/users/me/factors/passkeys/options`.
    pub registration_id: String,
    /// A name for it (1–64 characters, not only spaces); default "Passkey".
    #[schema(min_length = 1, max_length = 64)]
    pub name: Option<String>,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.create`, as JSON.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Finish a passwordless sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginRequest {
    /// The `flow_id` of `/auth/passkey/options`.
    pub flow_id: String,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.get`, as JSON.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

impl From<sesame_domain::service::PasskeyCeremony> for PasskeyOptionsResponse {
    fn from(c: sesame_domain::service::PasskeyCeremony) -> Self {
        Self {
            flow_id: c.id.reveal().to_owned(),
            options: c.options,
            expires_in: c.expires_in,
        }
    }
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
    /// With `passkey`: the WebAuthn request options to pass to `navigator.credentials.get`
    /// (`{"publicKey": …}`, binary values base64url); send the assertion back as `credential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub passkey_options: Option<serde_json::Value>,
}

impl From<sesame_domain::service::MfaChallenge> for MfaRequiredResponse {
    fn from(c: sesame_domain::service::MfaChallenge) -> Self {
        Self {
            mfa_required: true,
            mfa_token: c.token.reveal().to_owned(),
            expires_in: c.expires_in,
            methods: c.methods.iter().map(|m| (*m).to_owned()).collect(),
            passkey_options: c.passkey_options,
        }
    }
}

fn factor_id(raw: &str) -> Result<FactorId, ApiError> {
    Uuid::parse_str(raw)
        .map(FactorId::from_uuid)
        .map_err(|_| ApiError::Auth(AuthError::NotFound))
}

/// The one second-factor answer of a request: at most one of `code`, `recovery_code` and a
/// passkey `credential`.
pub(crate) fn answer(
    code: Option<String>,
    recovery_code: Option<String>,
    credential: Option<serde_json::Value>,
) -> Result<Option<SecondFactor>, ApiError> {
    match (code, recovery_code, credential) {
        (Some(c), None, None) => Ok(Some(SecondFactor::Totp(c))),
        (None, Some(r), None) => Ok(Some(SecondFactor::RecoveryCode(r))),
        (None, None, Some(p)) => Ok(Some(SecondFactor::Passkey(p))),
        (None, None, None) => Ok(None),
        _ => Err(AuthError::field(
            "code",
            "ambiguous",
            "send one of `code`, `recovery_code` or `credential`, not several",
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
    let Some(answer) = answer(req.code, req.recovery_code, req.credential)? else {
        return Err(AuthError::field(
            "code",
            "required",
            "send `code`, `recovery_code` or a passkey `credential`",
        )
        .into());
    };
    let pair = state
        .sign_in
        .complete_mfa(&req.mfa_token, &answer, client, false)
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
    // A step-up checks a password or a second factor as a sign-in does: the same per-IP quota.
    state.limits.second_factor(client.ip).await?;
    let t = match (req.password, req.flow_id, req.credential) {
        (None, Some(flow), Some(credential)) if req.code.is_none() && req.recovery_code.is_none() => {
            state
                .sign_in
                .reauthenticate_with_passkey(&who, &flow, &credential, &client)
                .await?
        }
        (Some(password), None, None) => {
            let answer = answer(req.code, req.recovery_code, None)?;
            state
                .sign_in
                .reauthenticate(&who, &Password::for_login(&password), answer.as_ref(), &client)
                .await?
        }
        _ => {
            return Err(AuthError::field(
                "password",
                "required",
                "send `password` (with `code` or `recovery_code` for an account with a second factor), or a passkey's `flow_id` and `credential`",
            )
            .into())
        }
    };
    Ok(no_store(Json(AccessTokenResponse {
        access_token: t.access_token,
        token_type: "Bearer".into(),
        expires_in: t.expires_in,
    })))
}

/// Start registering a passkey: WebAuthn creation options for `navigator.credentials.create`
/// (a discoverable credential, user verification required, so the passkey can also sign in
/// alone). On an account that has a factor already this needs a recent sign-in with it.
#[utoipa::path(post, path = "/api/v1/users/me/factors/passkeys/options", tag = "factors",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Ceremony started", body = PasskeyRegistrationOptionsResponse),
        (status = 401, description = "`missing_token`, `invalid_token`, or `insufficient_user_authentication`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`passkeys_unavailable`: no WebAuthn relying party is configured", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn passkey_register_options(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
) -> ApiResult<Response> {
    let c = state.factors.start_passkey(&who).await?;
    Ok(no_store(Json(PasskeyRegistrationOptionsResponse {
        registration_id: c.id.reveal().to_owned(),
        options: c.options,
        expires_in: c.expires_in,
    })))
}

/// Finish registering a passkey with the browser's answer. It is active at once; the account's
/// first factor comes with ten recovery codes, shown this once.
#[utoipa::path(post, path = "/api/v1/users/me/factors/passkeys", tag = "factors",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = PasskeyRegisterRequest,
    responses(
        (status = 201, description = "Registered", body = FactorConfirmedResponse),
        (status = 401, description = "`missing_token`, `invalid_token`, `invalid_challenge` (unknown, used or expired `flow_id`), or `invalid_second_factor` (the browser's answer was refused, or the passkey is registered already)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`passkeys_unavailable`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`name`)", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn passkey_register(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
    Client(client): Client,
    ApiJson(req): ApiJson<PasskeyRegisterRequest>,
) -> ApiResult<Response> {
    let name = req.name.as_deref().map(FactorName::parse).transpose()?;
    let (factor, codes) = state
        .factors
        .finish_passkey(&who, &req.registration_id, name, &req.credential, &client)
        .await?;
    let body = FactorConfirmedResponse {
        factor: factor.into(),
        recovery_codes: codes.map(|c| c.iter().map(|c| c.reveal().to_owned()).collect()),
    };
    Ok((StatusCode::CREATED, no_store(Json(body))).into_response())
}

/// Start a passwordless sign-in: WebAuthn request options for `navigator.credentials.get`
/// (discoverable credentials, user verification required).
#[utoipa::path(post, path = "/api/v1/auth/passkey/options", tag = "auth",
    responses(
        (status = 200, description = "Ceremony started", body = PasskeyOptionsResponse),
        (status = 404, description = "`passkeys_unavailable`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn passkey_login_options(
    State(state): State<AppState>,
    Client(client): Client,
) -> ApiResult<Response> {
    state.limits.second_factor(client.ip).await?;
    let c = state.sign_in.start_passwordless().await?;
    Ok(no_store(Json(PasskeyOptionsResponse::from(c))))
}

/// Sign in with a passkey alone. A passkey with user verification proves two factors: the
/// access token's `amr` is `hwk` (device-bound) or `swk` (synced), `user`, `mfa`.
#[utoipa::path(post, path = "/api/v1/auth/passkey/login", tag = "auth",
    request_body = PasskeyLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = super::dto::TokenResponse),
        (status = 401, description = "`invalid_challenge` (unknown, used or expired `flow_id`) or `invalid_second_factor` (the assertion was refused)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled` or `email_not_verified`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`passkeys_unavailable`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn passkey_login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<PasskeyLoginRequest>,
) -> ApiResult<Response> {
    state.limits.second_factor(client.ip).await?;
    let pair = state
        .sign_in
        .finish_passwordless(&req.flow_id, &req.credential, client)
        .await?;
    Ok(token_response(&state, pair))
}

/// Start a passkey step-up for the current session: request options over your passkeys; send
/// the answer to `/auth/reauthenticate` with the `flow_id`.
#[utoipa::path(post, path = "/api/v1/auth/reauthenticate/passkey/options", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Ceremony started", body = PasskeyOptionsResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`passkeys_unavailable`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`no_second_factor`: the account has no passkey", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn reauthenticate_passkey_options(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
) -> ApiResult<Response> {
    let c = state.sign_in.start_passkey_step_up(&who).await?;
    Ok(no_store(Json(PasskeyOptionsResponse::from(c))))
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
