//! Extractors: how a request becomes domain input. JSON bodies ([`ApiJson`]) and query strings
//! ([`ApiQuery`]) with precise 4xx errors instead of axum's plain-text rejections, the
//! authenticated caller ([`CurrentUser`]: a handler that takes one is protected), and the
//! caller's network identity ([`Client`]).
//!
//! Every string of a body or query string passes one text rule here before a handler sees it:
//! NUL and other control characters are refused (422 `validation_failed`, field code
//! `invalid_characters`; see [`sesame_domain::model::is_disallowed_char`]), so no input path can
//! carry them to the store and both backends answer alike. Headers that get stored (the user
//! agent) are cleaned instead of refused.
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
use sesame_domain::model::{has_disallowed_chars, ClientInfo};
use sesame_domain::service::{Admin, Principal};
use std::net::{IpAddr, SocketAddr};

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

/// Longest field path echoed back in an `invalid_characters` error.
const MAX_FIELD_PATH: usize = 128;

/// True when the raw JSON could decode to a disallowed character: a `\u` escape, or one of the
/// short escapes `\b` (U+0008) and `\f` (U+000C) of RFC 8259 §7 (the ways a C0 control can be
/// written), DEL, or a C1 control (UTF-8 `C2 80`–`C2 9F`). Raw C0 bytes inside a string are
/// already a syntax error. Most bodies have none of these, and skip the second parse; an escaped
/// backslash before `u`, `b` or `f` only costs that parse.
fn may_hold_controls(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| {
        matches!(w, [b'\\', b'u' | b'b' | b'f']) || (w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]))
    }) || bytes.contains(&0x7F)
}

/// The path of the first string (value or key) in `v` holding a disallowed character:
/// `email`, `roles.1`; a bad key is reported by its parent's path (`body` at the top).
fn first_bad_string(v: &serde_json::Value, path: &mut Vec<String>) -> Option<String> {
    let here = |path: &[String]| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            truncate(&path.join("."), MAX_FIELD_PATH).to_owned()
        }
    };
    match v {
        serde_json::Value::String(s) => has_disallowed_chars(s).then(|| here(path)),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(i.to_string());
            let found = first_bad_string(item, path);
            path.pop();
            found
        }),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
            if has_disallowed_chars(k) {
                return Some(here(path));
            }
            path.push(k.clone());
            let found = first_bad_string(item, path);
            path.pop();
            found
        }),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => None,
    }
}

/// Applies the text rule to a JSON body: 400 when it is not JSON at all, 422
/// `invalid_characters` naming the first string that breaks the rule.
pub(crate) fn check_json_text(bytes: &[u8]) -> Result<(), ApiError> {
    if !may_hold_controls(bytes) {
        return Ok(());
    }
    let value: serde_json::Value = parse_json(bytes)?;
    match first_bad_string(&value, &mut Vec::new()) {
        Some(field) => Err(ApiError::InvalidCharacters(field)),
        None => Ok(()),
    }
}

/// Every request body of the API is a JSON object. serde's derive would also fill a struct from
/// an array of its fields in order (`[null, null]` as an empty profile change), which no client
/// means and the document does not allow: anything but an object is 422 `invalid_body` (or 400
/// when it is not JSON at all).
pub(crate) fn check_json_object(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Ok(());
    }
    parse_json::<serde::de::IgnoredAny>(bytes)?;
    Err(ApiError::InvalidBody("expected a JSON object".into()))
}

/// The name of the first `name=value` pair of a form or query string (percent-decoded) that
/// breaks the text rule; a pair whose name itself breaks it is reported as `query`.
pub(crate) fn first_bad_pair(encoded: &[u8]) -> Option<String> {
    // Decoding into pairs of strings cannot fail (invalid UTF-8 decodes lossily).
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(encoded).unwrap_or_default();
    pairs.into_iter().find_map(|(k, v)| {
        if has_disallowed_chars(&k) {
            Some("query".to_owned())
        } else if has_disallowed_chars(&v) {
            Some(truncate(&k, MAX_FIELD_PATH).to_owned())
        } else {
            None
        }
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = read_body(req, state).await?;
        check_json_object(&bytes)?;
        check_json_text(&bytes)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A query string, deserialized with errors mapped into the problem envelope: a value with a
/// disallowed character 422 (`invalid_characters`), one that does not parse 400
/// (`invalid_query`).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        if let Some(field) = first_bad_pair(raw.as_bytes()) {
            return Err(ApiError::InvalidCharacters(field));
        }
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(q)| Self(q))
            .map_err(|e| ApiError::InvalidQuery(e.body_text()))
    }
}

/// The authenticated caller. Taking this extractor is what makes a route require a valid
/// access token whose session is still live. A token limited to enrolling a second factor
/// (`SESAME_MFA_REQUIRED`) is refused here with `mfa_enrolment_required`: only the routes that
/// take [`EnrollingUser`] accept it.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

/// An authenticated caller whose token may be limited to enrolling a second factor: the
/// enrolment routes, step-up, `GET /users/me` and logout take this instead of [`CurrentUser`].
#[derive(Debug, Clone)]
pub struct EnrollingUser(pub Principal);

impl FromRequestParts<AppState> for EnrollingUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::MissingToken)?;
        let principal = state.sign_in.authenticate(token).await.map_err(|e| {
            if let sesame_domain::AuthError::InvalidToken(reason) = &e {
                tracing::info!(reason, "access token rejected");
            }
            ApiError::from(e)
        })?;
        tracing::Span::current().record("user_id", tracing::field::display(principal.user.id));
        Ok(Self(principal))
    }
}

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
        let EnrollingUser(principal) = EnrollingUser::from_request_parts(parts, state).await?;
        if principal.claims.enrolment_only() {
            tracing::info!("refused: the token is limited to enrolling a second factor");
            return Err(sesame_domain::AuthError::MfaEnrolmentRequired.into());
        }
        Ok(Self(principal))
    }
}

/// An authenticated caller holding the `admin` role *now*, as the capability to run admin
/// operations: the role is read from the database with the session on every request (not from
/// the token), so a demoted admin loses admin powers at once. The capability comes only from
/// [`sesame_domain::service::AdminGate::authorize`], so this is the one extractor that hands out
/// admin powers.
#[derive(Debug)]
pub struct AdminUser(pub Admin);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(principal) = CurrentUser::from_request_parts(parts, state).await?;
        match state.admin.authorize(&principal) {
            Ok(admin) => Ok(Self(admin)),
            Err(e) => {
                tracing::info!("admin route refused: caller is not an admin");
                Err(ApiError::Auth(e))
            }
        }
    }
}

/// The client address resolved for a request, put in its extensions by
/// `client_bounds::admit` (which needs it first) so that [`Client`] does not resolve it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedIp(pub IpAddr);

/// Where the request came from: the client IP (the socket peer, or behind trusted proxies the
/// address their forwarding headers name; see [`super::client_ip`]), the `User-Agent` (cleaned
/// by [`clean_user_agent`]) and the request id.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = match parts.extensions.get::<ResolvedIp>() {
            Some(ResolvedIp(ip)) => Some(*ip),
            // `observe` resolves it for every served request; one built without it resolves it here.
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| {
                    super::client_ip::client_ip(addr.ip(), &parts.headers, &state.trusted_proxies)
                }),
        };
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| clean_user_agent(v.as_bytes()));
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

/// The user agent as stored with sessions and audit events: decoded as UTF-8 (an invalid
/// sequence becomes U+FFFD), every control character (tab included, the header allows it)
/// replaced by a space, trimmed, cut to 512 bytes on a character boundary; `None` when nothing
/// is left. A client's odd header is sanitised, never a reason to refuse its request.
pub(crate) fn clean_user_agent(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cut = truncate(cleaned.trim(), 512).trim_end();
    (!cut.is_empty()).then(|| cut.to_owned())
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
    fn every_json_escape_of_a_control_character_is_caught() {
        for body in [
            &br#"{"name":"\u0000"}"#[..],
            br#"{"name":"a\fb"}"#,
            br#"{"name":"\b6"}"#,
            "{\"name\":\"a\u{85}b\"}".as_bytes(),
            "{\"name\":\"a\u{7f}b\"}".as_bytes(),
        ] {
            assert!(
                matches!(check_json_text(body), Err(ApiError::InvalidCharacters(ref f)) if f == "name"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        for body in [
            &br#"{"name":"line\none\ttab\r"}"#[..],
            br#"{"name":"back\\slash \"quoted\" \/"}"#,
            br#"{"name":"\\b is text"}"#,
        ] {
            assert!(
                check_json_text(body).is_ok(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
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
    fn json_text_rule_finds_controls_in_values_keys_and_arrays() {
        assert!(check_json_text(br#"{"email":"a@example.com"}"#).is_ok());
        assert!(check_json_text(br#"{"d":"tab\tand\nline"}"#).is_ok());
        assert!(check_json_text(br#"{"d":"\u00e9"}"#).is_ok());
        for (body, field) in [
            (&br#"{"email":"a\u0000b"}"#[..], "email"),
            (br#"{"roles":["x","y\u001b"]}"#, "roles.1"),
            (br#"{"a":{"b":"\u007f"}}"#, "a.b"),
            ("{\"d\":\"\u{85}\"}".as_bytes(), "d"),
            (b"{\"d\":\"\x7f\"}", "d"),
            (br#"{"\u0000":"x"}"#, "body"),
            (br#""\u0000""#, "body"),
        ] {
            match check_json_text(body) {
                Err(ApiError::InvalidCharacters(f)) => assert_eq!(f, field),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        assert!(matches!(
            check_json_text(br#"{"a":"\u0000"#),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn only_a_json_object_is_a_body() {
        assert!(check_json_object(b" {}").is_ok());
        assert!(matches!(
            check_json_object(b"[null, null]"),
            Err(ApiError::InvalidBody(_))
        ));
        assert!(matches!(
            check_json_object(b"\"x\""),
            Err(ApiError::InvalidBody(_))
        ));
        assert!(matches!(
            check_json_object(b"nope"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            check_json_object(b""),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn query_text_rule_decodes_before_checking() {
        assert_eq!(first_bad_pair(b"q=al%09ice&limit=5"), None);
        assert_eq!(first_bad_pair(b"limit=5&q=a%00b").as_deref(), Some("q"));
        assert_eq!(first_bad_pair(b"event=%C2%85").as_deref(), Some("event"));
        assert_eq!(first_bad_pair(b"a%01=b").as_deref(), Some("query"));
    }

    #[test]
    fn user_agents_are_cleaned_not_refused() {
        assert_eq!(clean_user_agent(b"curl/8.0").as_deref(), Some("curl/8.0"));
        assert_eq!(
            clean_user_agent(b"a\tb\x7fc").as_deref(),
            Some("a b c"),
            "controls become spaces"
        );
        assert_eq!(
            clean_user_agent("caf\u{e9}/1".as_bytes()).as_deref(),
            Some("caf\u{e9}/1"),
            "UTF-8 is kept"
        );
        assert_eq!(clean_user_agent(b"x\xff").as_deref(), Some("x\u{fffd}"));
        assert_eq!(clean_user_agent(b" \t ").as_deref(), None);
        assert!(clean_user_agent("é".repeat(400).as_bytes()).is_some_and(|s| s.len() <= 512));
    }

    #[test]
    fn user_agents_are_cut_on_a_character_boundary() {
        let s = "é".repeat(400);
        let t = truncate(&s, 511);
        assert!(t.len() <= 511 && t.is_char_boundary(t.len()));
    }
}
