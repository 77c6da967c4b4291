//! The OAuth 2.0 token endpoint (RFC 6749 §3.2) and its two siblings, revocation (RFC 7009)
//! and introspection (RFC 7662): form-encoded in, RFC 6749 §5.1/§5.2 bodies out, always with
//! `Cache-Control: no-store`. Without a registered client the token endpoint serves Sesame's own
//! sign-in (`password`, `refresh_token`, the mfa grant); a registered client authenticates
//! (`client_secret_basic`, `client_secret_post`, or `none` for a public client) and gets
//! `authorization_code`, `refresh_token` and `client_credentials` from the provider service. This is what Swagger UI's "Authorize" button and standard OAuth2
//! client libraries talk to. It deliberately does not use the problem+json envelope: OAuth
//! clients parse `error`, not `code`.
//!
//! In cookie mode the refresh token never appears in the body (RFC 6749 §5.1 makes
//! `refresh_token` optional): it is set in the `sesame_refresh` HttpOnly cookie as on
//! `/auth/login`, and `grant_type=refresh_token` without the parameter takes it from that cookie
//! after the same CSRF checks as `/auth/refresh`. A sign-in also returns the known-device token,
//! as the extension parameter `device_token` (clients ignore unknown parameters, §5.1) or, in
//! cookie mode, in the `__Host-sesame_device` cookie.

use super::extract::{first_bad_pair, read_body, Client};
use super::problem::ApiError;
use super::{cookies, AppState};
use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sesame_domain::client::{GrantType, OAuthClient};
use sesame_domain::password::Password;
use sesame_domain::service::{ClientTokens, LoginOutcome, TokenPair};
use sesame_domain::AuthError;
use utoipa::ToSchema;

/// Token request parameters. A registered client authenticates with HTTP Basic
/// (`client_secret_basic`) or `client_id` and `client_secret` here (`client_secret_post`); a
/// public client sends only `client_id` (RFC 6749 §2.3). Without a `client_id` the request is
/// first-party (the password, mfa and refresh grants of Sesame's own sign-in).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token`, `client_credentials`, `password`, or
    /// `urn:sesame:params:oauth:grant-type:mfa`.
    pub grant_type: Option<String>,
    /// The authorization code (authorization_code grant).
    pub code: Option<String>,
    /// The redirect URI of the authorization request (authorization_code grant).
    pub redirect_uri: Option<String>,
    /// The PKCE code verifier (RFC 7636 §4.5).
    pub code_verifier: Option<String>,
    /// Email address or username (password grant).
    pub username: Option<String>,
    pub password: Option<String>,
    /// The refresh token (refresh_token grant). In cookie mode it may be left out: the
    /// `sesame_refresh` cookie is used, after the CSRF checks.
    pub refresh_token: Option<String>,
    /// The known-device token of an earlier sign-in (password grant); see `/auth/login`.
    pub device_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The `mfa_token` of an `mfa_required` error (grant `urn:sesame:params:oauth:grant-type:mfa`).
    pub mfa_token: Option<String>,
    /// A code from the account's authenticator app (mfa grant); or:
    pub otp: Option<String>,
    /// one of its recovery codes (mfa grant; it is spent).
    pub recovery_code: Option<String>,
}

/// The extension grant (RFC 6749 §4.5) that completes a password grant answered with
/// `mfa_required`.
pub const MFA_GRANT: &str = "urn:sesame:params:oauth:grant-type:mfa";

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthTokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    pub expires_in: u64,
    /// Absent in cookie mode, where it travels in the `sesame_refresh` HttpOnly cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Extension parameter after a password grant: this device's known-device token. Absent in
    /// cookie mode (it is in the `__Host-sesame_device` cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// The ID token (OpenID Connect Core §3.1.3.3), when `openid` was granted to a client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The scope granted to a client (RFC 6749 §5.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// RFC 6749 §5.2 error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthErrorResponse {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `temporarily_unavailable`
    /// or `server_error`.
    pub error: String,
    pub error_description: String,
    /// With `mfa_required`: the single-use token to send back with the second factor, using
    /// `grant_type=urn:sesame:params:oauth:grant-type:mfa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// With `mfa_required`: what the account can answer the mfa grant with (`totp` as `otp`,
    /// `recovery_code`). A passkey is a browser ceremony the grant cannot carry: to sign in
    /// with one, start again at `POST /api/v1/auth/login` (its answer carries the WebAuthn
    /// options) or use the passwordless sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// With `mfa_required`: seconds the `mfa_token` stays valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
    challenge: Option<Box<super::factors::MfaRequiredResponse>>,
}

impl OAuthError {
    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            retry_after: None,
            challenge: None,
        }
    }

    /// A correct password for an account with a second factor: no tokens, a challenge. The
    /// status is 403 (as other providers answer `mfa_required`): the request was understood and
    /// the grant refused until the second factor is given.
    fn mfa_required(c: sesame_domain::service::MfaChallenge) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            error: "mfa_required",
            description: format!(
                "this account has a second factor: send it with grant_type={MFA_GRANT}, the mfa_token, and otp or recovery_code"
            ),
            retry_after: None,
            challenge: Some(Box::new(c.into())),
        }
    }
}

impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::TooManyAttempts { retry_after_secs } => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                error: "invalid_grant",
                description: "too many attempts; retry later".into(),
                retry_after: Some(retry_after_secs),
                challenge: None,
            },
            AuthError::EmailNotVerified => {
                Self::bad("invalid_grant", "the email address is not verified yet")
            }
            AuthError::InvalidSecondFactor => {
                Self::bad("invalid_grant", "the second factor was not accepted")
            }
            AuthError::InvalidChallenge => Self::bad(
                "invalid_grant",
                "the mfa_token is unknown, used, expired or exhausted; sign in again",
            ),
            AuthError::InvalidEmailToken
            | AuthError::StepUpRequired { .. }
            | AuthError::MfaEnrolmentRequired
            | AuthError::NoSecondFactor
            | AuthError::PasskeysUnavailable
            | AuthError::NotFound
            | AuthError::Forbidden
            | AuthError::LastAdmin
            | AuthError::RoleExists
            | AuthError::BuiltInRole
            | AuthError::PublicClient => {
                Self::bad("invalid_request", "this request cannot be made here")
            }
            // RFC 6749 §5.2: 401 for a failed client authentication.
            AuthError::InvalidClient => Self {
                status: StatusCode::UNAUTHORIZED,
                error: "invalid_client",
                description: "client authentication failed".into(),
                retry_after: None,
                challenge: None,
            },
            AuthError::UnauthorizedClient => Self::bad(
                "unauthorized_client",
                "this client may not use this grant type",
            ),
            AuthError::InvalidScope => Self::bad(
                "invalid_scope",
                "a requested scope is unknown or not allowed for this client",
            ),
            AuthError::InvalidGrant(why) => Self::bad("invalid_grant", why),
            AuthError::InvalidCredentials | AuthError::AccountDisabled => Self::bad(
                "invalid_grant",
                "the username or password is incorrect, or the account is deactivated",
            ),
            AuthError::InvalidRefreshToken | AuthError::InvalidToken(_) => Self::bad(
                "invalid_grant",
                "the refresh token is invalid, expired or already used",
            ),
            AuthError::Validation(list) => Self::bad(
                "invalid_request",
                list.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            AuthError::EmailTaken | AuthError::UsernameTaken => {
                Self::bad("invalid_request", "this request cannot be made here")
            }
            AuthError::Overloaded { retry_after_secs } => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "too many password checks in progress; retry shortly".into(),
                retry_after: Some(retry_after_secs),
                challenge: None,
            },
            // RFC 6749 §5.2 defines no code for an outage; `temporarily_unavailable` is the
            // code §4.1.2.1 uses for it, and OAuth clients know it.
            AuthError::Unavailable(cause) => {
                tracing::error!(error = %cause, "token endpoint: database unavailable");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    error: "temporarily_unavailable",
                    description: "the database is unavailable; retry shortly".into(),
                    retry_after: Some(super::problem::DATABASE_RETRY_AFTER_SECS),
                    challenge: None,
                }
            }
            AuthError::Internal(cause) => {
                tracing::error!(error = %cause, "token endpoint failed");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error: "server_error",
                    description: "the server failed; retry later".into(),
                    retry_after: None,
                    challenge: None,
                }
            }
        }
    }
}

fn with_no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// The methods the mfa grant takes: not `passkey` (it has no parameter for a WebAuthn assertion,
/// and the password grant's answer carries no request options to sign).
fn grant_methods(methods: &[String]) -> Vec<String> {
    methods
        .iter()
        .filter(|m| *m != "passkey")
        .cloned()
        .collect()
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(OAuthErrorResponse {
                error: self.error.to_owned(),
                error_description: self.description,
                mfa_token: self.challenge.as_ref().map(|c| c.mfa_token.clone()),
                methods: self.challenge.as_ref().map(|c| grant_methods(&c.methods)),
                expires_in: self.challenge.as_ref().map(|c| c.expires_in),
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a 401 names the authentication scheme the client may use.
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sesame\""),
            );
        }
        with_no_store(resp)
    }
}

/// OAuth 2.0 token endpoint (RFC 6749).
///
/// `grant_type=password` with `username` (email or username) and `password`, or
/// `grant_type=refresh_token` with `refresh_token`. When the account has a second factor, the
/// password grant answers 403 `mfa_required` with an `mfa_token`; complete it with
/// `grant_type=urn:sesame:params:oauth:grant-type:mfa`, `mfa_token`, and `otp` or
/// `recovery_code`.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "oauth2",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 6749 §5.1 token response", body = OAuthTokenResponse),
        (status = 400, description = "RFC 6749 §5.2: `invalid_request`, `invalid_grant`, `unsupported_grant_type`", body = OAuthErrorResponse),
        (status = 401, description = "`invalid_client`: a registered client's authentication failed, or a client grant came without it (RFC 6749 §5.2), with `WWW-Authenticate: Basic`", body = OAuthErrorResponse),
        (status = 403, description = "`mfa_required`: the password was right and the account has a second factor; the body carries `mfa_token`, `methods` and `expires_in` for the `urn:sesame:params:oauth:grant-type:mfa` grant", body = OAuthErrorResponse),
        (status = 429, description = "`invalid_grant`: a rate limit (`SESAME_RATE_LOGIN_*`) or the sign-in pause after repeated failures", body = OAuthErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
        (status = 500, description = "`server_error`: the server failed (details are logged, never sent)", body = OAuthErrorResponse),
        (status = 503, description = "`temporarily_unavailable`: too many password checks in progress, or the database is unavailable", body = OAuthErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn token(
    State(state): State<AppState>,
    Client(client): Client,
    req: Request,
) -> Response {
    match grant(&state, client, req).await {
        Ok(Granted::Client(t)) => with_no_store(
            Json(OAuthTokenResponse {
                access_token: t.access_token,
                token_type: "Bearer".into(),
                expires_in: t.expires_in,
                refresh_token: t.refresh_token.map(|r| r.reveal().to_owned()),
                device_token: None,
                id_token: t.id_token,
                scope: Some(t.scope).filter(|s| !s.is_empty()),
            })
            .into_response(),
        ),
        Ok(Granted::FirstParty(pair)) => {
            let refresh = pair.refresh_token.reveal().to_owned();
            let cookie_mode = state.http.cookie_mode;
            let mut resp = Json(OAuthTokenResponse {
                access_token: pair.access_token,
                token_type: "Bearer".into(),
                expires_in: pair.expires_in,
                refresh_token: (!cookie_mode).then(|| refresh.clone()),
                device_token: pair.device_token.clone().filter(|_| !cookie_mode),
                id_token: None,
                scope: None,
            })
            .into_response();
            if cookie_mode {
                super::auth::set_cookies(&state, &mut resp, &refresh, pair.device_token.as_deref());
            }
            with_no_store(resp)
        }
        Err(e) => e.into_response(),
    }
}

/// An [`ApiError`] from a check shared with the JSON endpoints, in RFC 6749 form.
fn oauth_error(e: ApiError) -> OAuthError {
    match e {
        ApiError::Auth(a) => OAuthError::from(a),
        _ => OAuthError::bad("invalid_request", "the request was refused"),
    }
}

/// What a grant produced: Sesame's own sign-in's pair, or a registered client's tokens.
enum Granted {
    FirstParty(TokenPair),
    Client(ClientTokens),
}

/// The client's credentials as sent: HTTP Basic (RFC 6749 §2.3.1: each part form-urlencoded
/// before base64) or the form's `client_id` / `client_secret`; never both.
fn client_credentials(
    headers: &axum::http::HeaderMap,
    client_id: &mut Option<String>,
    client_secret: &mut Option<String>,
) -> Result<Option<(String, Option<String>)>, OAuthError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let Some(encoded) = basic else {
        return Ok(client_id
            .take()
            .filter(|s| !s.is_empty())
            .map(|id| (id, client_secret.take().filter(|s| !s.is_empty()))));
    };
    if client_secret.is_some() {
        return Err(OAuthError::bad(
            "invalid_request",
            "use one client authentication method: HTTP Basic or client_secret, not both",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| OAuthError::from(AuthError::InvalidClient))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| OAuthError::from(AuthError::InvalidClient))?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let id = unescape(id);
    if client_id.as_deref().is_some_and(|f| f != id) {
        return Err(OAuthError::bad(
            "invalid_request",
            "client_id differs from the HTTP Basic credentials",
        ));
    }
    // An empty secret is no secret (a public client sending `id:`).
    Ok(Some((id, Some(unescape(secret)).filter(|s| !s.is_empty()))))
}

/// The form body of an OAuth endpoint, with the request's headers: refused unless it is
/// `application/x-www-form-urlencoded`, readable, and free of control characters.
async fn read_form<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: Request,
) -> Result<(axum::http::HeaderMap, T), OAuthError> {
    let form_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str() == "application/x-www-form-urlencoded");
    if !form_type {
        return Err(OAuthError::bad(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let headers = req.headers().clone();
    let body = read_body(req, state).await.map_err(|_| {
        OAuthError::bad(
            "invalid_request",
            "the body is unreadable or larger than 64 KiB",
        )
    })?;
    if let Some(field) = first_bad_pair(&body) {
        return Err(OAuthError::bad(
            "invalid_request",
            format!("`{field}` contains NUL or another control character"),
        ));
    }
    let form: T = serde_urlencoded::from_bytes(&body)
        .map_err(|e| OAuthError::bad("invalid_request", format!("malformed parameters: {e}")))?;
    Ok((headers, form))
}

async fn grant(
    state: &AppState,
    client: sesame_domain::model::ClientInfo,
    req: Request,
) -> Result<Granted, OAuthError> {
    let (headers, mut form) = read_form::<TokenForm>(state, req).await?;
    let credentials = client_credentials(&headers, &mut form.client_id, &mut form.client_secret)?;
    // Sesame's own sign-in grants ignore a `client_id` that names no registered client, as they
    // always have (Swagger UI and generic OAuth libraries send one); every other grant, and any
    // registered client, must authenticate.
    let first_party_grant = matches!(
        form.grant_type.as_deref(),
        Some("password" | "refresh_token" | MFA_GRANT)
    );
    let registered = match &credentials {
        Some((id, _)) if first_party_grant && state.provider.client(id).await?.is_none() => None,
        Some((id, secret)) => Some(
            state
                .provider
                .authenticate_client(id, secret.as_deref())
                .await?,
        ),
        None => None,
    };
    let password_family = matches!(form.grant_type.as_deref(), Some("password" | MFA_GRANT));
    if password_family && !state.http.password_grant {
        return Err(OAuthError::bad(
            "unsupported_grant_type",
            "the password grant is turned off on this server (SESAME_PASSWORD_GRANT=false): sign in with the authorization code grant",
        ));
    }
    if let Some(c) = &registered {
        // A first-party client registered with the password grant signs in as Sesame's own
        // sign-in does (below); every other grant of a client is the provider's.
        let own_sign_in = password_family && c.settings.grants.contains(&GrantType::Password);
        if !own_sign_in {
            return client_grant(state, c, form, client)
                .await
                .map(Granted::Client);
        }
    }
    let required = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty()).ok_or_else(|| {
            OAuthError::bad("invalid_request", format!("missing `{name}` parameter"))
        })
    };
    match form.grant_type.as_deref() {
        None | Some("") => Err(OAuthError::bad(
            "invalid_request",
            "missing `grant_type` parameter",
        )),
        Some("password") => {
            let username = required(form.username, "username")?;
            let password = required(form.password, "password")?;
            let device_token = form
                .device_token
                .as_deref()
                .or_else(|| cookies::cookie(&headers, cookies::DEVICE_COOKIE));
            let attempt = state.sign_in.begin_login(&username, device_token).await?;
            state
                .limits
                .login(client.ip, &username, attempt.known_device())
                .await
                .map_err(oauth_error)?;
            match state
                .sign_in
                .login(attempt, &Password::for_login(&password), client)
                .await?
            {
                LoginOutcome::SignedIn(pair) => Ok(Granted::FirstParty(pair)),
                LoginOutcome::MfaRequired(c) => Err(OAuthError::mfa_required(c)),
            }
        }
        Some(MFA_GRANT) => {
            let mfa_token = required(form.mfa_token, "mfa_token")?;
            state.limits.second_factor(client.ip).await.map_err(oauth_error)?;
            let answer = super::factors::answer(form.otp, form.recovery_code, None)
                .map_err(oauth_error)?
                .ok_or_else(|| {
                    OAuthError::bad("invalid_request", "missing `otp` or `recovery_code` parameter")
                })?;
            Ok(Granted::FirstParty(
                state.sign_in.complete_mfa(&mfa_token, &answer, client, false).await?,
            ))
        }
        Some("refresh_token") => {
            let token = match form.refresh_token.filter(|s| !s.is_empty()) {
                Some(t) => t,
                None if state.http.cookie_mode => {
                    cookies::refresh_from_cookie(&headers, state).map_err(|e| match e {
                        ApiError::MissingRefreshCookie => OAuthError::bad(
                            "invalid_request",
                            "missing `refresh_token` parameter (or the sesame_refresh cookie)",
                        ),
                        _ => OAuthError::bad(
                            "invalid_request",
                            "the sesame_refresh cookie needs an allowed Origin and a matching X-CSRF-Token header",
                        ),
                    })?
                }
                None => {
                    return Err(OAuthError::bad(
                        "invalid_request",
                        "missing `refresh_token` parameter",
                    ))
                }
            };
            Ok(Granted::FirstParty(
                state.sign_in.refresh(&token, &client).await?,
            ))
        }
        // RFC 6749 §5.2: no client authentication where it is required is `invalid_client`.
        Some("authorization_code" | "client_credentials") => {
            Err(OAuthError::from(AuthError::InvalidClient))
        }
        Some(other) => Err(OAuthError::bad(
            "unsupported_grant_type",
            format!("grant_type `{other}` is not supported; use `password`, `refresh_token` or `{MFA_GRANT}`"),
        )),
    }
}

/// The grants of an authenticated registered client.
async fn client_grant(
    state: &AppState,
    registered: &OAuthClient,
    form: TokenForm,
    client: sesame_domain::model::ClientInfo,
) -> Result<ClientTokens, OAuthError> {
    let required = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty()).ok_or_else(|| {
            OAuthError::bad("invalid_request", format!("missing `{name}` parameter"))
        })
    };
    let provider = &state.provider;
    match form.grant_type.as_deref() {
        None | Some("") => Err(OAuthError::bad(
            "invalid_request",
            "missing `grant_type` parameter",
        )),
        Some("authorization_code") => {
            let code = required(form.code, "code")?;
            Ok(provider
                .exchange_code(
                    registered,
                    &code,
                    form.redirect_uri.as_deref(),
                    form.code_verifier.as_deref(),
                    client,
                )
                .await?)
        }
        Some("refresh_token") => {
            let token = required(form.refresh_token, "refresh_token")?;
            Ok(provider.refresh(registered, &token, &client).await?)
        }
        Some("client_credentials") => {
            Ok(provider.client_credentials(registered, form.scope.as_deref())?)
        }
        Some("password" | MFA_GRANT) => Err(OAuthError::bad(
            "unauthorized_client",
            "this client is not registered with the password grant: sign users in with the authorization code grant",
        )),
        Some(other) => Err(OAuthError::bad(
            "unsupported_grant_type",
            format!("grant_type `{other}` is not supported; use `authorization_code`, `refresh_token` or `client_credentials`"),
        )),
    }
}

/// The parameters of the revocation and introspection endpoints (RFC 7009 §2.1, RFC 7662 §2.1),
/// with the client's credentials when it does not use HTTP Basic.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenQueryForm {
    /// The access or refresh token.
    pub token: Option<String>,
    /// `access_token` or `refresh_token`: a hint Sesame does not need (it tells them apart).
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// The authenticated client of a revocation or introspection request, and its token.
async fn client_and_token(
    state: &AppState,
    req: Request,
) -> Result<(OAuthClient, String), OAuthError> {
    let (headers, mut form) = read_form::<TokenQueryForm>(state, req).await?;
    let (id, secret) = client_credentials(&headers, &mut form.client_id, &mut form.client_secret)?
        .ok_or_else(|| OAuthError::from(AuthError::InvalidClient))?;
    let client = state
        .provider
        .authenticate_client(&id, secret.as_deref())
        .await?;
    let token = form
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::bad("invalid_request", "missing `token` parameter"))?;
    Ok((client, token))
}

/// OAuth 2.0 token revocation (RFC 7009).
///
/// A registered client revokes one of its refresh or access tokens; the session behind it ends,
/// with every token of that session. An unknown or expired token is answered 200 all the same
/// (RFC 7009 §2.2).
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth2",
    request_body(content = TokenQueryForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or the token was not valid anyway (RFC 7009 §2.2)"),
        (status = 400, description = "RFC 6749 §5.2: `invalid_request`, `unauthorized_client` for another client's token, or `unsupported_token_type` (RFC 7009 §2.2.1) for a `client_credentials` token", body = OAuthErrorResponse),
        (status = 401, description = "`invalid_client`: client authentication failed", body = OAuthErrorResponse),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorResponse),
    ))]
pub async fn revoke(State(state): State<AppState>, req: Request) -> Response {
    let done = async {
        let (client, token) = client_and_token(&state, req).await?;
        if state.provider.revoke(&client, &token).await? {
            Ok(())
        } else {
            Err(OAuthError::bad(
                "unsupported_token_type",
                "a client_credentials token cannot be revoked; it expires on its own",
            ))
        }
    };
    match done.await {
        Ok(()) => with_no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}

/// OAuth 2.0 token introspection (RFC 7662).
///
/// A confidential client asks whether a token is active. It sees its own tokens; a first-party
/// client (a resource server the operator registered) sees all. A logged-out session's tokens
/// are inactive at once.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth2",
    request_body(content = TokenQueryForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 7662 §2.2: `active`, and for an active token its claims", body = Object),
        (status = 400, description = "RFC 6749 §5.2: `invalid_request`", body = OAuthErrorResponse),
        (status = 401, description = "`invalid_client`: client authentication failed, or a public client", body = OAuthErrorResponse),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorResponse),
    ))]
pub async fn introspect(State(state): State<AppState>, req: Request) -> Response {
    let done = async {
        let (client, token) = client_and_token(&state, req).await?;
        Ok::<_, OAuthError>(state.provider.introspect(&client, &token).await?)
    };
    match done.await {
        Ok(answer) => with_no_store(Json(answer).into_response()),
        Err(e) => e.into_response(),
    }
}
