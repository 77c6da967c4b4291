//! Cookie mode for browser apps (`SESAME_COOKIE_MODE=true`): the refresh token travels in an
//! `HttpOnly; Secure; SameSite=Strict` cookie scoped to `/api/v1/auth` instead of the response
//! body, so page scripts can never read it; the access token stays in the body.
//!
//! The known-device token (see `sesame_domain::device`) travels in the `__Host-sesame_device`
//! cookie in cookie mode (`HttpOnly; Secure; SameSite=Strict; Path=/`, the `__Host-` prefix so no
//! subdomain can set or shadow it); it is read from that cookie in either mode. It authorizes
//! nothing by itself: it only chooses which lockout streak judges a sign-in that still needs the
//! password, so it needs no CSRF check.
//!
//! A request that authenticates with that cookie (a refresh without a token in its body) must
//! pass two CSRF checks: its `Origin` is the public URL's origin or an allowed CORS origin, and
//! its `X-CSRF-Token` header equals the `sesame_csrf` cookie (double submit; that cookie is
//! readable by the app's own scripts, which is the point).

use super::problem::ApiError;
use super::AppState;
use axum::http::header::{COOKIE, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use rand::RngCore as _;

pub const REFRESH_COOKIE: &str = "sesame_refresh";
pub const CSRF_COOKIE: &str = "sesame_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const DEVICE_COOKIE: &str = "__Host-sesame_device";
const REFRESH_PATH: &str = "/api/v1/auth";

/// The value of cookie `name`, if the request carries it.
#[must_use]
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The refresh token from the cookie, after the Origin and double-submit checks.
///
/// # Errors
/// [`ApiError::Csrf`] when a check fails; [`ApiError::MissingRefreshCookie`] without a cookie.
pub fn refresh_from_cookie(headers: &HeaderMap, state: &AppState) -> Result<String, ApiError> {
    let token = cookie(headers, REFRESH_COOKIE).ok_or(ApiError::MissingRefreshCookie)?;
    let origin_ok = headers
        .get(ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| {
            o == state.http.public_origin || state.http.cors_origins.iter().any(|a| a == o)
        });
    if !origin_ok {
        return Err(ApiError::Csrf(
            "the Origin header is missing or not allowed",
        ));
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    let expected = cookie(headers, CSRF_COOKIE);
    match (sent, expected) {
        (Some(s), Some(e)) if !e.is_empty() && constant_time_eq(s.as_bytes(), e.as_bytes()) => {
            Ok(token.to_owned())
        }
        _ => Err(ApiError::Csrf(
            "the X-CSRF-Token header does not match the sesame_csrf cookie",
        )),
    }
}

/// Adds one `Set-Cookie` header (a value that is no valid header is dropped: every caller builds
/// it from fixed names and base64url values).
pub(crate) fn append(resp: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(SET_COOKIE, v);
    }
}

/// `N` random bytes, base64url without padding: a CSRF token.
pub(crate) fn random_token<const N: usize>() -> String {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Sets the refresh cookie and a fresh CSRF cookie.
pub fn set_session_cookies(resp: &mut Response, refresh_token: &str, max_age_secs: u64) {
    let csrf = random_token::<24>();
    append(
        resp,
        &format!("{REFRESH_COOKIE}={refresh_token}; HttpOnly; Secure; SameSite=Strict; Path={REFRESH_PATH}; Max-Age={max_age_secs}"),
    );
    append(
        resp,
        &format!("{CSRF_COOKIE}={csrf}; Secure; SameSite=Strict; Path=/; Max-Age={max_age_secs}"),
    );
}

/// Sets the known-device cookie.
pub fn set_device_cookie(resp: &mut Response, device_token: &str, max_age_secs: u64) {
    append(
        resp,
        &format!("{DEVICE_COOKIE}={device_token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age_secs}"),
    );
}

/// Expires both cookies (logout).
pub fn clear_session_cookies(resp: &mut Response) {
    append(
        resp,
        &format!(
            "{REFRESH_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path={REFRESH_PATH}; Max-Age=0"
        ),
    );
    append(
        resp,
        &format!("{CSRF_COOKIE}=; Secure; SameSite=Strict; Path=/; Max-Age=0"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_several_headers_and_pairs() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; sesame_csrf=xyz"));
        h.append(COOKIE, HeaderValue::from_static("sesame_refresh=tok"));
        assert_eq!(cookie(&h, "sesame_csrf"), Some("xyz"));
        assert_eq!(cookie(&h, "sesame_refresh"), Some("tok"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn secret_comparison_needs_equal_length_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
