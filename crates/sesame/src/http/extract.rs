//! Extractors: how a request becomes domain input. JSON bodies ([`ApiJson`]) with precise
//! 4xx errors instead of axum's plain-text rejections, the authenticated caller
//! ([`CurrentUser`]: a handler that takes one is protected), and the caller's network identity
//! ([`Client`]).
//!
//! They parse and authenticate; they never decide business rules.

use super::problem::ApiError;
use super::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use sesame_domain::model::ClientInfo;
use sesame_domain::service::Principal;
use std::net::SocketAddr;

/// A JSON request body, deserialized with errors mapped into the problem envelope:
/// wrong content type 415, over 64 KiB 413, bad syntax or encoding 400, wrong shape 422.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// True when the `Content-Type` is `application/json` or `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        })
}

/// Reads the whole body within the configured limit.
pub(crate) async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::UnreadableBody
        }
    })
}

/// Deserializes JSON, separating broken syntax (400) from a wrong shape (422).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::InvalidBody(e.to_string()),
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => ApiError::MalformedJson(e.to_string()),
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The authenticated caller. Taking this extractor is what makes a route require a valid
/// access token whose session is still live.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

/// The token in `Authorization: Bearer <token>` (scheme case-insensitive), if any.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::MissingToken)?;
        let principal = state.auth.authenticate(token).await.map_err(|e| {
            if let sesame_domain::AuthError::InvalidToken(reason) = &e {
                tracing::info!(reason, "access token rejected");
            }
            ApiError::from(e)
        })?;
        tracing::Span::current().record("user_id", tracing::field::display(principal.user.id));
        Ok(Self(principal))
    }
}

/// An authenticated caller holding the `admin` role *now*: the role is read from the database
/// with the session on every request (not from the token), so a demoted admin loses admin
/// powers at once. Only this extractor hands out admin powers.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Principal);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(principal) = CurrentUser::from_request_parts(parts, state).await?;
        if principal
            .user
            .has_role(sesame_domain::model::RoleName::ADMIN)
        {
            Ok(Self(principal))
        } else {
            tracing::info!("admin route refused: caller is not an admin");
            Err(ApiError::Auth(sesame_domain::AuthError::Forbidden))
        }
    }
}

/// Where the request came from: the client IP (the socket peer, or behind trusted proxies the
/// address their forwarding headers name; see [`super::client_ip`]), the `User-Agent` (cut to
/// 512 bytes) and the request id.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| {
                super::client_ip::client_ip(addr.ip(), &parts.headers, &state.trusted_proxies)
                    .to_string()
            });
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| truncate(s, 512).to_owned());
        let request_id = parts
            .extensions
            .get::<super::RequestId>()
            .map(|r| r.0.clone());
        Ok(Self(ClientInfo {
            ip,
            user_agent,
            request_id,
        }))
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc.def"));
        assert_eq!(bearer_token(&h), Some("abc.def"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn json_content_types_are_recognized() {
        let mut h = HeaderMap::new();
        for (ct, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(is_json(&h), ok, "{ct}");
        }
    }

    #[test]
    fn json_errors_separate_syntax_from_shape() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: u8,
        }
        assert!(matches!(
            parse_json::<T>(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<T>(b"\xff\xfe"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<T>(br#"{"a":"x"}"#),
            Err(ApiError::InvalidBody(_))
        ));
        assert!(matches!(
            parse_json::<T>(br#"{"a":1,"b":2}"#),
            Err(ApiError::InvalidBody(_))
        ));
        assert!(parse_json::<T>(br#"{"a":1}"#).is_ok());
    }

    #[test]
    fn user_agents_are_cut_on_a_character_boundary() {
        let s = "é".repeat(400);
        let t = truncate(&s, 511);
        assert!(t.len() <= 511 && t.is_char_boundary(t.len()));
    }
}
