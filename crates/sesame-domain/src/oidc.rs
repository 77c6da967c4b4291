//! The OpenID Connect provider's protocol rules, with no I/O: what an authorization request
//! (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1) must hold and which error each fault earns,
//! PKCE (RFC 7636), authorization codes, remembered consent, and the claims an ID token or the
//! UserInfo endpoint release for the granted scopes (OpenID Connect Core §2, §5.4).
//!
//! Owns: parsing the raw request into an [`AuthorizationRequest`] and deciding whether a fault
//! may be reported to the client's redirect URI ([`AuthorizeError::Redirect`]) or must not be
//! ([`AuthorizeError::NoRedirect`]: an unknown client or an unregistered redirect URI, RFC 6749
//! §4.1.2.1); the code verifier check; the claims by scope.
//! Refuses: storage, HTTP and pages (the service and the `sesame` crate's), and signing (the
//! [`crate::id_token`] module's).

use crate::client::{ClientKind, GrantType, OAuthClient, Scope};
use crate::clock::Timestamp;
use crate::mfa::Amr;
use crate::model::{SessionId, User, UserId};
use crate::token::TokenHash;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use subtle::ConstantTimeEq as _;

/// How long an authorization code may be exchanged (RFC 6749 §4.1.2 recommends at most 10
/// minutes; a code is used within seconds, so one minute).
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// The longest value accepted for `state`, `nonce` and `login_hint`: generous for any real
/// client, small enough that a request cannot make a code row large.
pub const MAX_PARAM_BYTES: usize = 1024;

/// The request parameters the authorization endpoint reads, as sent.
pub const PARAMETERS: [&str; 14] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "request",
    "request_uri",
];

/// The `prompt` values (OpenID Connect Core §3.1.2.1) Sesame honours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Show nothing: answer at once or fail with `login_required` / `consent_required`.
    pub none: bool,
    /// Ask for the password again even if a session exists.
    pub login: bool,
    /// Ask for consent again even if it was given before.
    pub consent: bool,
}

/// A valid authorization request for a registered client.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: OAuthClient,
    /// Exactly as sent (and so as registered, or a loopback URI with another port).
    pub redirect_uri: String,
    pub scopes: Vec<Scope>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 code challenge; required for public clients.
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// Seconds: a session authenticated longer ago must sign in again.
    pub max_age: Option<u64>,
    /// Prefills the sign-in form's name field.
    pub login_hint: Option<String>,
}

impl AuthorizationRequest {
    /// Whether a session authenticated at `auth_time` is recent enough at `now` for `max_age`.
    #[must_use]
    pub fn session_fresh_enough(&self, auth_time: Timestamp, now: Timestamp) -> bool {
        self.max_age.is_none_or(|max| {
            let max = i64::try_from(max).unwrap_or(i64::MAX / 2_000);
            (now - auth_time).num_seconds() <= max
        })
    }
}

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: the user sees an error page and is
    /// never sent anywhere (RFC 6749 §4.1.2.1, first paragraph).
    NoRedirect {
        /// `invalid_client` or `invalid_redirect_uri`.
        code: &'static str,
        description: String,
    },
    /// Reported to the client at its redirect URI (RFC 6749 §4.1.2.1 error codes, OpenID
    /// Connect Core §3.1.2.6 for `login_required`, `consent_required`, `request_not_supported`).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// A parsed query or form: each parameter once. Parameters sent twice are refused (RFC 6749
/// §3.1: they "MUST NOT be included more than once").
#[derive(Debug, Clone, Default)]
pub struct RawAuthorization {
    params: HashMap<String, String>,
    repeated: Option<String>,
}

impl RawAuthorization {
    /// From `(name, value)` pairs as decoded from the query or form. Empty values count as
    /// absent (RFC 6749 §3.1).
    #[must_use]
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut raw = Self::default();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            if raw.params.contains_key(&k) {
                if raw.repeated.is_none() && PARAMETERS.contains(&k.as_str()) {
                    raw.repeated = Some(k);
                }
                continue;
            }
            raw.params.insert(k, v);
        }
        raw
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The parameters Sesame reads, as sent, in a fixed order (for the hosted pages' hidden
    /// fields).
    #[must_use]
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        PARAMETERS
            .iter()
            .filter_map(|k| self.get(k).map(|v| (*k, v)))
            .collect()
    }

    /// The `client_id` parameter, as sent.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.get("client_id")
    }

    /// Checks the request against `client` (the one `client_id` names, if registered).
    ///
    /// # Errors
    /// [`AuthorizeError::NoRedirect`] while the redirect URI is not established, then
    /// [`AuthorizeError::Redirect`] with the RFC 6749 §4.1.2.1 code.
    pub fn check(
        &self,
        client: Option<OAuthClient>,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let no_redirect = |code, description: &str| AuthorizeError::NoRedirect {
            code,
            description: description.to_owned(),
        };
        let Some(client) = client else {
            return Err(no_redirect(
                "invalid_client",
                "the client_id is missing or names no registered client",
            ));
        };
        // OpenID Connect Core §3.1.2.1 makes redirect_uri REQUIRED; it must match a registered
        // one exactly (RFC 9700 §2.1), else nothing is sent anywhere.
        let Some(redirect_uri) = self.get("redirect_uri") else {
            return Err(no_redirect(
                "invalid_redirect_uri",
                "the redirect_uri parameter is missing",
            ));
        };
        if !client
            .settings
            .redirect_uris
            .iter()
            .any(|u| u.matches(redirect_uri))
        {
            return Err(no_redirect(
                "invalid_redirect_uri",
                "the redirect_uri is not registered for this client",
            ));
        }
        let state = self.get("state").map(str::to_owned);
        let fail = |error, description: &str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone().filter(|s| s.len() <= MAX_PARAM_BYTES),
            error,
            description: description.to_owned(),
        };
        if let Some(name) = &self.repeated {
            return Err(fail(
                "invalid_request",
                &format!("the {name} parameter is sent more than once"),
            ));
        }
        for name in ["state", "nonce", "login_hint"] {
            if self.get(name).is_some_and(|v| v.len() > MAX_PARAM_BYTES) {
                return Err(fail(
                    "invalid_request",
                    &format!("the {name} parameter is longer than {MAX_PARAM_BYTES} bytes"),
                ));
            }
        }
        // OpenID Connect Core §6: request objects are not supported.
        if self.get("request").is_some() {
            return Err(fail(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if self.get("request_uri").is_some() {
            return Err(fail(
                "request_uri_not_supported",
                "request_uri is not supported",
            ));
        }
        match self.get("response_type") {
            None => {
                return Err(fail(
                    "invalid_request",
                    "the response_type parameter is missing",
                ))
            }
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ))
            }
        }
        if self.get("response_mode").is_some_and(|m| m != "query") {
            return Err(fail(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
        if !client
            .settings
            .grants
            .contains(&GrantType::AuthorizationCode)
        {
            return Err(fail(
                "unauthorized_client",
                "this client may not use the authorization code grant",
            ));
        }
        let Some(raw_scope) = self.get("scope") else {
            return Err(fail("invalid_scope", "the scope parameter is missing"));
        };
        let mut scopes = Vec::new();
        for word in raw_scope.split(' ').filter(|w| !w.is_empty()) {
            let Some(scope) = Scope::parse(word) else {
                return Err(fail("invalid_scope", &format!("unknown scope {word}")));
            };
            if !client.settings.scopes.contains(&scope) {
                return Err(fail(
                    "invalid_scope",
                    &format!("this client may not ask for the {word} scope"),
                ));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(fail("invalid_scope", "the scope parameter is empty"));
        }
        let code_challenge = match (
            self.get("code_challenge"),
            self.get("code_challenge_method"),
        ) {
            (None, None) if client.kind == ClientKind::Public => {
                return Err(fail(
                    "invalid_request",
                    "a public client must send a PKCE code_challenge (S256)",
                ))
            }
            (None, None) => None,
            (None, Some(_)) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method without code_challenge",
                ))
            }
            // RFC 7636 §4.3: a missing method means `plain`, which is not accepted (RFC 9700
            // §2.1.1: S256 only).
            (Some(_), None | Some("plain")) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ))
            }
            (Some(_), Some(m)) if m != "S256" => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ))
            }
            (Some(c), Some(_)) => {
                // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
                if c.len() != 43 || !c.bytes().all(is_base64url) {
                    return Err(fail(
                        "invalid_request",
                        "code_challenge is not a base64url SHA-256 (43 characters)",
                    ));
                }
                Some(c.to_owned())
            }
        };
        let mut prompt = Prompt::default();
        if let Some(raw) = self.get("prompt") {
            for word in raw.split(' ').filter(|w| !w.is_empty()) {
                match word {
                    "none" => prompt.none = true,
                    "login" => prompt.login = true,
                    "consent" => prompt.consent = true,
                    // One account per browser session: there is nothing to select, and
                    // relying-party libraries send it by default.
                    "select_account" => {}
                    _ => {
                        return Err(fail(
                            "invalid_request",
                            &format!("unsupported prompt value {word}"),
                        ))
                    }
                }
            }
            // OpenID Connect Core §3.1.2.1: `none` with any other value is an error.
            if prompt.none && (prompt.login || prompt.consent) {
                return Err(fail(
                    "invalid_request",
                    "prompt=none cannot be combined with other values",
                ));
            }
        }
        let max_age = match self.get("max_age") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                fail(
                    "invalid_request",
                    "max_age must be a non-negative whole number of seconds",
                )
            })?),
        };
        Ok(AuthorizationRequest {
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state,
            nonce: self.get("nonce").map(str::to_owned),
            code_challenge,
            prompt,
            max_age,
            login_hint: self.get("login_hint").map(str::to_owned),
            client,
        })
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// RFC 7636 §4.6: whether `verifier` is well formed (§4.1: 43–128 unreserved characters) and
/// BASE64URL(SHA256(verifier)) equals `challenge`, compared in constant time.
#[must_use]
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let computed = B64.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// An authorization code as the store keeps it (the code itself only as its hash).
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub hash: TokenHash,
    pub client_id: crate::client::ClientId,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scopes: Vec<Scope>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// When and how the user signed in, for the ID token.
    pub auth_time: Timestamp,
    pub amr: Amr,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Set by the first exchange.
    pub used_at: Option<Timestamp>,
    /// The client session the first exchange opened.
    pub issued_session: Option<SessionId>,
}

/// What one user allowed one client.
#[derive(Debug, Clone)]
pub struct Consent {
    pub user_id: UserId,
    pub client_id: crate::client::ClientId,
    pub scopes: Vec<Scope>,
    pub granted_at: Timestamp,
}

impl Consent {
    /// Whether this consent covers every scope in `wanted`.
    #[must_use]
    pub fn covers(&self, wanted: &[Scope]) -> bool {
        wanted.iter().all(|s| self.scopes.contains(s))
    }
}

/// The user claims the granted `scopes` release (OpenID Connect Core §5.4): `sub` always;
/// `email` and `email_verified` for `email`; `name`, `preferred_username`, `locale` and
/// `updated_at` for `profile`. Absent values are left out, never sent as null.
#[must_use]
pub fn user_claims(user: &User, scopes: &[Scope]) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut m = serde_json::Map::new();
    m.insert("sub".into(), Value::String(user.id.to_string()));
    if scopes.contains(&Scope::Email) {
        m.insert(
            "email".into(),
            Value::String(user.email.as_str().to_owned()),
        );
        m.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    if scopes.contains(&Scope::Profile) {
        if let Some(name) = &user.display_name {
            m.insert("name".into(), Value::String(name.as_str().to_owned()));
        }
        if let Some(username) = &user.username {
            m.insert(
                "preferred_username".into(),
                Value::String(username.as_str().to_owned()),
            );
        }
        m.insert(
            "locale".into(),
            Value::String(user.locale.as_str().to_owned()),
        );
        m.insert(
            "updated_at".into(),
            Value::from(user.updated_at.timestamp()),
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifier_matches_its_challenge() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(challenge, verifier));
        assert!(!pkce_matches(challenge, &verifier.replace('d', "e")));
    }

    #[test]
    fn a_verifier_outside_the_rfc_7636_alphabet_or_length_never_matches() {
        let short = "abc";
        let c = B64.encode(Sha256::digest(short.as_bytes()));
        assert!(!pkce_matches(&c, short), "shorter than 43");
        let spaced = format!("{} ", "a".repeat(43));
        let c = B64.encode(Sha256::digest(spaced.as_bytes()));
        assert!(!pkce_matches(&c, &spaced), "a space is not unreserved");
    }

    #[test]
    fn repeated_and_empty_parameters_are_told_apart() {
        let raw = RawAuthorization::from_pairs([
            ("state".to_owned(), "a".to_owned()),
            ("state".to_owned(), "b".to_owned()),
            ("nonce".to_owned(), String::new()),
        ]);
        assert_eq!(raw.repeated.as_deref(), Some("state"));
        assert_eq!(raw.get("nonce"), None, "empty counts as absent");
    }
}
