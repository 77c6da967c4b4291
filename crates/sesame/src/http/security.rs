//! Response hardening and cross-origin rules: the security headers every response carries, a
//! strict CORS allow-list, and the load bounds (in-flight requests, request timeout).
//!
//! CORS is deliberately small and exact: an origin on the list gets the CORS headers (and
//! credentials, since only listed origins are ever echoed), a preflight from it is answered
//! here; any other origin gets no CORS headers at all.

use super::problem::ApiError;
use super::AppState;
use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, CONTENT_SECURITY_POLICY, ORIGIN, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, VARY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The API's CSP: it serves JSON, so nothing may load.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// Swagger UI needs its own scripts and styles (with inline style attributes), data: images,
/// and to call this origin; nothing else.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// HTTP-edge settings that middleware and handlers read.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Exact origins (`https://app.example.com`) allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
    /// Add `Strict-Transport-Security` (the public URL is https).
    pub hsts: bool,
    pub request_timeout: Duration,
    /// Refresh token in an HttpOnly cookie, with CSRF protection.
    pub cookie_mode: bool,
    /// `SESAME_PASSWORD_GRANT`: the token endpoint's password (and mfa) grant is on.
    pub password_grant: bool,
    /// The origin of `SESAME_PUBLIC_URL`, accepted by the cookie-mode Origin check.
    pub public_origin: String,
    /// Max-Age of the refresh cookie.
    pub refresh_ttl: Duration,
    /// Max-Age of the known-device cookie.
    pub device_ttl: Duration,
}

/// Adds the security headers to every response; pages that set their own CSP keep it.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let docs = req.uri().path().starts_with("/docs");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(CONTENT_SECURITY_POLICY) {
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(if docs { DOCS_CSP } else { API_CSP }),
        );
    }
    if state.http.hsts {
        h.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    resp
}

/// The CORS allow-list (see the module header).
pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| state.http.cors_origins.iter().any(|allowed| allowed == o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = match (&origin, preflight) {
        (Some(_), true) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS"),
            );
            h.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, x-request-id, x-csrf-token"),
            );
            h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            r
        }
        _ => next.run(req).await,
    };
    let h = resp.headers_mut();
    h.append(VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, retry-after, www-authenticate"),
        );
    }
    resp
}

/// Bounds concurrent requests (beyond: 503 at once, never a queue) and their duration
/// (beyond: 408), so neither a flood nor slow clients can hold the server.
pub async fn load_bounds(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Ok(_permit) = state.in_flight.try_acquire() else {
        return ApiError::Busy.into_response();
    };
    match tokio::time::timeout(state.http.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// A semaphore sized for the in-flight bound.
#[must_use]
pub fn in_flight(max: usize) -> std::sync::Arc<Semaphore> {
    std::sync::Arc::new(Semaphore::new(max.max(1)))
}
