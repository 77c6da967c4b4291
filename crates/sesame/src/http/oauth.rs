//! The OAuth 2.0 token endpoint (RFC 6749 §3.2): `grant_type=password` and
//! `grant_type=refresh_token`, form-encoded in, RFC 6749 §5.1/§5.2 bodies out, always with
//! `Cache-Control: no-store`. This is what Swagger UI's "Authorize" button and standard OAuth2
//! client libraries talk to. It deliberately does not use the problem+json envelope: OAuth
//! clients parse `error`, not `code`.

use super::extract::{first_bad_pair, read_body, Client};
use super::problem::ApiError;
use super::AppState;
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sesame_domain::password::Password;
use sesame_domain::service::TokenPair;
use sesame_domain::AuthError;
use utoipa::ToSchema;

/// Token request parameters. Client credentials and `scope` are accepted and ignored: Sesame has
/// no registered clients, and every token carries the user's roles.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `password` or `refresh_token`.
    pub grant_type: Option<String>,
    /// Email address or username (password grant).
    pub username: Option<String>,
    pub password: Option<String>,
    /// The refresh token (refresh_token grant).
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthTokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// RFC 6749 §5.2 error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthErrorResponse {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `temporarily_unavailable`
    /// or `server_error`.
    pub error: String,
    pub error_description: String,
}

struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            retry_after: None,
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
            },
            AuthError::EmailNotVerified => {
                Self::bad("invalid_grant", "the email address is not verified yet")
            }
            AuthError::InvalidEmailToken
            | AuthError::NotFound
            | AuthError::Forbidden
            | AuthError::LastAdmin
            | AuthError::RoleExists
            | AuthError::BuiltInRole => {
                Self::bad("invalid_request", "this request cannot be made here")
            }
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
            },
            AuthError::Internal(cause) => {
                tracing::error!(error = %cause, "token endpoint failed");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error: "server_error",
                    description: "the server failed; retry later".into(),
                    retry_after: None,
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

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(OAuthErrorResponse {
                error: self.error.to_owned(),
                error_description: self.description,
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
        }
        with_no_store(resp)
    }
}

/// OAuth 2.0 token endpoint (RFC 6749).
///
/// `grant_type=password` with `username` (email or username) and `password`, or
/// `grant_type=refresh_token` with `refresh_token`.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "oauth2",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 6749 §5.1 token response", body = OAuthTokenResponse),
        (status = 400, description = "RFC 6749 §5.2: `invalid_request`, `invalid_grant`, `unsupported_grant_type`", body = OAuthErrorResponse),
        (status = 503, description = "`temporarily_unavailable`; see Retry-After", body = OAuthErrorResponse),
    ))]
pub async fn token(
    State(state): State<AppState>,
    Client(client): Client,
    req: Request,
) -> Response {
    match grant(&state, client, req).await {
        Ok(pair) => with_no_store(
            Json(OAuthTokenResponse {
                access_token: pair.access_token,
                token_type: "Bearer".into(),
                expires_in: pair.expires_in,
                refresh_token: pair.refresh_token.reveal().to_owned(),
            })
            .into_response(),
        ),
        Err(e) => e.into_response(),
    }
}

async fn grant(
    state: &AppState,
    client: sesame_domain::model::ClientInfo,
    req: Request,
) -> Result<TokenPair, OAuthError> {
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
    let form: TokenForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| OAuthError::bad("invalid_request", format!("malformed parameters: {e}")))?;
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
            state
                .limits
                .login(client.ip.as_deref(), &username)
                .await
                .map_err(|e| match e {
                    ApiError::Auth(a) => OAuthError::from(a),
                    _ => OAuthError::bad("invalid_request", "the request was refused"),
                })?;
            Ok(state
                .auth
                .login(&username, &Password::for_login(&password), client)
                .await?)
        }
        Some("refresh_token") => {
            let token = required(form.refresh_token, "refresh_token")?;
            Ok(state.auth.refresh(&token, &client).await?)
        }
        Some(other) => Err(OAuthError::bad(
            "unsupported_grant_type",
            format!("grant_type `{other}` is not supported; use `password` or `refresh_token`"),
        )),
    }
}
