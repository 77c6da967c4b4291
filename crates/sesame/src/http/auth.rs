//! JSON handlers for the session lifecycle under `/api/v1/auth`: register, login, refresh,
//! logout, logout-all. Each parses its body into domain values, calls one service function, and
//! shapes the answer; rules live in the domain.

use super::dto::{LoginRequest, RefreshRequest, RegisterRequest, TokenResponse, UserResponse};
use super::extract::{ApiJson, Client, EnrollingUser};
use super::factors::MfaRequiredResponse;
use super::problem::{ApiError, ApiResult, ProblemBody};
use super::{cookies, no_store, AppState};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sesame_domain::locale::Locale;
use sesame_domain::model::{DisplayName, Email, Username};
use sesame_domain::password::Password;
use sesame_domain::service::{LoginOutcome, Registration, TokenPair};
use sesame_domain::{AuthError, FieldError};

/// What `/auth/login` answers with a correct password.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(
    dead_code,
    clippy::large_enum_variant,
    reason = "only its OpenAPI schema is used: the handler answers either body"
)]
pub(crate) enum LoginResponse {
    Tokens(TokenResponse),
    MfaRequired(MfaRequiredResponse),
}

/// Collects every field's failure, so one answer lists them all.
pub(crate) fn collect<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// Parses the optional username and display name of a new account (self-registered or made by
/// an admin), collecting failures like [`collect`].
pub(crate) fn optional_names(
    errors: &mut Vec<FieldError>,
    username: Option<&str>,
    display_name: Option<&str>,
) -> (Option<Username>, Option<DisplayName>) {
    let username = username.and_then(|u| collect(errors, Username::parse(u)));
    let display_name = display_name.and_then(|d| collect(errors, DisplayName::parse(d)));
    (username, display_name)
}

/// Parses an optional language tag of a new account, collecting a failure like [`collect`].
pub(crate) fn optional_locale(
    errors: &mut Vec<FieldError>,
    locale: Option<&str>,
) -> Option<Locale> {
    locale.and_then(|l| collect(errors, Locale::parse(l)))
}

/// Create an account.
///
/// Never grants roles or marks the email verified; fields other than the five below are
/// rejected. The account's email language is `locale`, else the one `Accept-Language` prefers
/// among those Sesame speaks, else `SESAME_DEFAULT_LOCALE`.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserResponse),
        (status = 400, description = "Malformed JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken` or `username_taken`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (with `errors`, e.g. `unsupported_locale`) or `invalid_body`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: hashing saturated; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
        (status = 429, description = "`rate_limited`: a rate limit; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ),
    params(("Accept-Language" = Option<String>, Header, description = "Chooses the account's email language when the body has no `locale`")))]
pub async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<Response> {
    state.limits.register(client.ip).await?;
    let mut errs = Vec::new();
    let email = collect(&mut errs, Email::parse(&req.email));
    let password = collect(&mut errs, Password::parse(&req.password));
    let (username, display_name) = optional_names(
        &mut errs,
        req.username.as_deref(),
        req.display_name.as_deref(),
    );
    let locale = optional_locale(&mut errs, req.locale.as_deref())
        .or_else(|| crate::i18n::negotiate_headers(&headers));
    let (Some(email), Some(password), true) = (email, password, errs.is_empty()) else {
        return Err(AuthError::Validation(errs).into());
    };
    let user = state
        .sign_in
        .register(
            Registration {
                email,
                username,
                display_name,
                password,
                locale,
            },
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserResponse::from(user))).into_response())
}

/// Log in with email or username and password.
///
/// Unknown accounts and wrong passwords get the same answer in the same time. When the account
/// has a second factor, a correct password answers with `mfa_required: true` and an
/// `mfa_token` instead of tokens: complete the sign-in at `POST /api/v1/auth/login/mfa`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in (`TokenResponse`), or the second factor is required (`MfaRequiredResponse`)", body = LoginResponse),
        (status = 400, description = "Malformed JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled` or `email_not_verified` (only after a correct password)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: neither or both of email and username", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: a rate limit, or sign-in paused after repeated failures; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
        (status = 503, description = "`overloaded`", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let name = match (req.email.as_deref(), req.username.as_deref()) {
        // A name that cannot exist still costs a hash, so format errors reveal nothing.
        (Some(name), None) | (None, Some(name)) => name,
        _ => {
            return Err(AuthError::field(
                "email",
                "required",
                "send exactly one of `email` or `username`",
            )
            .into())
        }
    };
    let device_token = req
        .device_token
        .as_deref()
        .or_else(|| cookies::cookie(&headers, cookies::DEVICE_COOKIE));
    let attempt = state.sign_in.begin_login(name, device_token).await?;
    state
        .limits
        .login(client.ip, name, attempt.known_device())
        .await?;
    match state
        .sign_in
        .login(attempt, &Password::for_login(&req.password), client)
        .await?
    {
        LoginOutcome::SignedIn(pair) => Ok(token_response(&state, pair)),
        LoginOutcome::MfaRequired(c) => Ok(no_store(Json(MfaRequiredResponse::from(c)))),
    }
}

/// The token-pair answer: the refresh and device tokens in the body, or (cookie mode) in their
/// HttpOnly cookies.
pub(crate) fn token_response(state: &AppState, pair: TokenPair) -> Response {
    if !state.http.cookie_mode {
        return no_store(Json(TokenResponse::from(pair)));
    }
    let refresh = pair.refresh_token.reveal().to_owned();
    let mut body = TokenResponse::from(pair);
    body.refresh_token = None;
    let device = body.device_token.take();
    let mut resp = no_store(Json(body));
    set_cookies(state, &mut resp, &refresh, device.as_deref());
    resp
}

/// Cookie mode: the session cookies, and the device cookie after a sign-in.
pub(crate) fn set_cookies(
    state: &AppState,
    resp: &mut Response,
    refresh: &str,
    device: Option<&str>,
) {
    cookies::set_session_cookies(resp, refresh, state.http.refresh_ttl.as_secs());
    if let Some(device) = device {
        cookies::set_device_cookie(resp, device, state.http.device_ttl.as_secs());
    }
}

/// Exchange a refresh token for a new token pair (the refresh token rotates on every use).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let token = match req.refresh_token {
        Some(t) => t,
        None if state.http.cookie_mode => cookies::refresh_from_cookie(&headers, &state)?,
        None => {
            return Err(ApiError::InvalidBody(
                "missing field `refresh_token`".into(),
            ))
        }
    };
    let pair = state.sign_in.refresh(&token, &client).await?;
    Ok(token_response(&state, pair))
}

/// End the current session. Its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "Session ended"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
    Client(client): Client,
) -> ApiResult<Response> {
    state.sign_in.logout(&who, &client).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if state.http.cookie_mode {
        cookies::clear_session_cookies(&mut resp);
    }
    Ok(resp)
}

/// End every session of the caller, on every device.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "All sessions ended"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn logout_all(
    State(state): State<AppState>,
    EnrollingUser(who): EnrollingUser,
    Client(client): Client,
) -> ApiResult<StatusCode> {
    state.sign_in.logout_all(&who, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::Auth(AuthError::Validation(vec![e]))
    }
}
