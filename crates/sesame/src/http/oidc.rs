//! The OpenID Connect provider's JSON endpoints: the discovery documents
//! (`/.well-known/openid-configuration`, OpenID Connect Discovery 1.0 §4; and
//! `/.well-known/oauth-authorization-server`, RFC 8414 §3) and the UserInfo endpoint (OpenID
//! Connect Core §5.3, GET and POST with a bearer token). The authorization endpoint and its
//! pages are [`super::pages::authorize`]; the token endpoint is [`super::oauth`].
//!
//! Refuses: deciding claims or token validity (the provider service's). Errors of the UserInfo
//! endpoint follow RFC 6750 §3 (`WWW-Authenticate: Bearer error=…`), not problem+json, because
//! relying-party libraries read that header.

use super::pages::authorize::AUTHORIZE_PATH;
use super::AppState;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sesame_domain::client::{GrantType, IdTokenAlg, Scope};
use sesame_domain::AuthError;

/// Where the token endpoint is.
pub const TOKEN_PATH: &str = "/api/v1/auth/token";
/// Where the UserInfo endpoint is.
pub const USERINFO_PATH: &str = "/oauth2/userinfo";
/// Where tokens are revoked (RFC 7009).
pub const REVOKE_PATH: &str = "/oauth2/revoke";
/// Where tokens are introspected (RFC 7662).
pub const INTROSPECT_PATH: &str = "/oauth2/introspect";
/// Where the keys are.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The provider metadata: the same for both documents (RFC 8414 §3 allows the OpenID fields).
fn metadata(state: &AppState) -> serde_json::Value {
    let issuer = state.provider.issuer();
    let at = |path: &str| format!("{}{path}", issuer.trim_end_matches('/'));
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": at(AUTHORIZE_PATH),
        "token_endpoint": at(TOKEN_PATH),
        "userinfo_endpoint": at(USERINFO_PATH),
        "jwks_uri": at(JWKS_PATH),
        "end_session_endpoint": at(super::pages::logout::LOGOUT_PATH),
        "revocation_endpoint": at(REVOKE_PATH),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint": at(INTROSPECT_PATH),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GrantType::ALL
            .iter()
            .filter(|g| **g != GrantType::Password || state.http.password_grant)
            .map(|g| g.as_str())
            .collect::<Vec<_>>(),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [IdTokenAlg::Rs256.as_str(), IdTokenAlg::EdDsa.as_str()],
        "scopes_supported": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "sid",
            "email", "email_verified", "name", "preferred_username", "locale", "updated_at"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

fn cached(json: serde_json::Value) -> Response {
    let mut resp = Json(json).into_response();
    resp.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// OpenID Connect Discovery 1.0 provider metadata.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "openid",
    responses((status = 200, description = "OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3)", body = Object)))]
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    cached(metadata(&state))
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "openid",
    responses((status = 200, description = "Authorization Server Metadata (RFC 8414 §2)", body = Object)))]
pub async fn oauth_authorization_server(State(state): State<AppState>) -> Response {
    cached(metadata(&state))
}

/// RFC 6750 §3 error body of the UserInfo endpoint (the code is also in `WWW-Authenticate`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BearerErrorResponse {
    /// `invalid_token` or `insufficient_scope`.
    pub error: String,
    pub error_description: String,
}

/// An RFC 6750 §3 error: the code in `WWW-Authenticate`, and in a small JSON body.
fn bearer_error(status: StatusCode, error: &'static str, description: &'static str) -> Response {
    let mut resp = (
        status,
        Json(BearerErrorResponse {
            error: error.to_owned(),
            error_description: description.to_owned(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"{error}\", error_description=\"{description}\""
    )) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// UserInfo (OpenID Connect Core §5.3): `sub` and the claims the token's scopes grant, for an
/// access token issued to a registered client with `openid`.
#[utoipa::path(get, path = "/oauth2/userinfo", tag = "openid",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's claims (OpenID Connect Core §5.3.2)", body = Object),
        (status = 401, description = "RFC 6750 `invalid_token`: missing, invalid or expired token, ended session, or a first-party token", body = BearerErrorResponse),
        (status = 403, description = "RFC 6750 `insufficient_scope`: the token lacks `openid`", body = BearerErrorResponse),
    ))]
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer_userinfo(&state, &headers).await
}

/// UserInfo by POST (OpenID Connect Core §5.3.1: both methods are supported), the token in
/// the `Authorization` header.
#[utoipa::path(post, path = "/oauth2/userinfo", tag = "openid", operation_id = "userinfo_post",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's claims (OpenID Connect Core §5.3.2)", body = Object),
        (status = 401, description = "RFC 6750 `invalid_token`: missing, invalid or expired token, ended session, or a first-party token", body = BearerErrorResponse),
        (status = 403, description = "RFC 6750 `insufficient_scope`: the token lacks `openid`", body = BearerErrorResponse),
    ))]
pub async fn userinfo_post(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer_userinfo(&state, &headers).await
}

async fn answer_userinfo(state: &AppState, headers: &HeaderMap) -> Response {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let Some(bearer) = bearer else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "send the access token as Authorization: Bearer",
        );
    };
    match state.provider.userinfo(bearer.trim()).await {
        Ok(claims) => {
            let mut resp = Json(serde_json::Value::Object(claims)).into_response();
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(AuthError::InvalidScope) => bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token was not granted the openid scope",
        ),
        Err(AuthError::InvalidToken(_)) => bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid, expired, or its session ended",
        ),
        Err(e) => super::problem::ApiError::Auth(e).into_response(),
    }
}
