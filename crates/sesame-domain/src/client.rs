//! Registered OAuth 2.0 / OpenID Connect clients (the applications that hand sign-in to Sesame):
//! their parse-don't-validate parts and the record the store hands back.
//!
//! Owns the rules a client's registration must follow — redirect URIs (RFC 6749 §3.1.2, RFC 8252
//! §7 for native apps), grant types, scopes (RFC 6749 §3.3, OpenID Connect Core §5.4, §11),
//! lifetimes, the ID-token algorithm — and the client secret (generated here, only its SHA-256
//! kept, compared in constant time). It refuses to know where a registration comes from (the
//! admin API or the CLI) or how it is stored.

use crate::clock::Timestamp;
use crate::error::FieldError;
use crate::model::has_disallowed_chars;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

crate::model::id_type!(
    /// A client's public identifier (`client_id`, RFC 6749 §2.2): a UUID, generated at
    /// registration.
    ClientId
);

impl ClientId {
    /// A `client_id` as a client sends it; `None` when it cannot be one of ours.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::parse_str(s).ok().map(Self)
    }
}

/// What people see a client called (on the consent page, in their list of grants): 1–100
/// characters, surrounding space trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub const MAX_CHARS: usize = 100;

    /// # Errors
    /// `name` / `required`, `too_long` or `invalid_characters`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(
                "name",
                "too_long",
                "a client name has at most 100 characters",
            ));
        }
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldError::new(
                "name",
                "required",
                "give the client a name",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                crate::model::INVALID_CHARACTERS,
                "a client name cannot contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// A name read back from the store, where only parsed names are written.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// RFC 6749 §2.1: a confidential client can keep a secret (a server-side web app, a backend);
/// a public one cannot (a single-page app, a mobile or desktop app) and proves itself with PKCE
/// alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Confidential,
    Public,
}

impl ClientKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Confidential, Self::Public]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A grant type a client may use at the token endpoint (RFC 6749 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.1, with PKCE (RFC 7636).
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4: tokens for the client itself, no user. Confidential clients only.
    ClientCredentials,
    /// RFC 6749 §4.3: the client collects the password. First-party clients only (see
    /// [`ClientSettings::check`]).
    Password,
}

impl GrantType {
    pub const ALL: [Self; 4] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::Password,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// A scope a client may ask for. `openid` makes the request an OpenID Connect one (Core §3.1.2.1);
/// `email` and `profile` grant those claims (Core §5.4); `offline_access` a refresh token
/// (Core §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    OpenId,
    Email,
    Profile,
    OfflineAccess,
}

impl Scope {
    pub const ALL: [Self; 4] = [
        Self::OpenId,
        Self::Email,
        Self::Profile,
        Self::OfflineAccess,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenId => "openid",
            Self::Email => "email",
            Self::Profile => "profile",
            Self::OfflineAccess => "offline_access",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A space-delimited scope string (RFC 6749 §3.3: `scope-token *( SP scope-token )`), in
    /// canonical order without duplicates. `field` names the input in the error.
    ///
    /// # Errors
    /// `unknown_scope` naming the first scope Sesame does not know.
    pub fn parse_list(raw: &str, field: &'static str) -> Result<Vec<Self>, FieldError> {
        Self::parse_each(raw.split(' ').filter(|s| !s.is_empty()), field)
    }

    /// [`Scope::parse_list`] over scopes given one by one.
    ///
    /// # Errors
    /// `unknown_scope` naming the first scope Sesame does not know.
    pub fn parse_each<'a>(
        items: impl IntoIterator<Item = &'a str>,
        field: &'static str,
    ) -> Result<Vec<Self>, FieldError> {
        let mut out = Vec::new();
        for s in items {
            let scope = Self::parse(s).ok_or_else(|| {
                FieldError::new(
                    field,
                    "unknown_scope",
                    format!(
                        "unknown scope `{}`: use openid, email, profile or offline_access",
                        s.chars().take(40).collect::<String>()
                    ),
                )
            })?;
            out.push(scope);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Scopes as one space-delimited string.
    #[must_use]
    pub fn join(scopes: &[Self]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How the client wants its ID tokens signed (`id_token_signed_response_alg`, OpenID Connect
/// Dynamic Client Registration §2). RS256 is the default because the specification makes it the
/// one every relying party must support (Core §15.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdTokenAlg {
    #[default]
    Rs256,
    EdDsa,
}

impl IdTokenAlg {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Rs256, Self::EdDsa]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// A redirect URI (or post-logout redirect URI) as registered, compared by exact string
/// (RFC 6749 §3.1.2.3 with OAuth 2.0 Security BCP, RFC 9700 §4.1.3).
///
/// Accepted: an absolute `https` URI; `http` only on the loopback addresses `127.0.0.1` and
/// `[::1]` (RFC 8252 §7.3, for native apps) or `localhost` (for development; RFC 8252 §8.3 does
/// not recommend it, and it gets no port leeway); a private-use scheme of a native app written as
/// a reversed domain name (`com.example.app:/callback`, RFC 8252 §7.1). Never a fragment (RFC 6749
/// §3.1.2), user information, whitespace, a backslash, or more than 2,000 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub const MAX_LEN: usize = 2000;

    /// `field` names the input in the error.
    ///
    /// # Errors
    /// `invalid_redirect_uri` naming the rule.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, FieldError> {
        let bad = |msg: &str| Err(FieldError::new(field, "invalid_redirect_uri", msg));
        if raw.len() > Self::MAX_LEN {
            return bad("a redirect URI has at most 2000 bytes");
        }
        // The URL parser would quietly drop tabs and line breaks, encode spaces and read `\` as
        // `/`; what is stored and compared must be the URI as written (RFC 3986 has none of
        // them), so they are refused instead.
        if raw.is_empty()
            || has_disallowed_chars(raw)
            || raw.chars().any(|c| c.is_whitespace() || c == '\\')
        {
            return bad(
                "a redirect URI is an absolute URI without spaces, line breaks or backslashes",
            );
        }
        let Ok(url) = url::Url::parse(raw) else {
            return bad(
                "a redirect URI must be an absolute URI such as https://app.example.com/callback",
            );
        };
        if url.fragment().is_some() {
            return bad("a redirect URI cannot have a fragment (RFC 6749 §3.1.2)");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad("a redirect URI cannot carry user information");
        }
        match url.scheme() {
            "https" => {
                if url.host().is_none() {
                    return bad("an https redirect URI needs a host");
                }
            }
            "http" => {
                if !is_loopback_ip(&url) && url.host_str() != Some("localhost") {
                    return bad("an http redirect URI is allowed only on a loopback address (127.0.0.1, [::1], localhost); use https");
                }
            }
            scheme => {
                // RFC 8252 §7.1: a private-use scheme is a reversed domain name the app controls.
                if !scheme.contains('.') {
                    return bad("a native app's redirect URI uses a reversed domain name as its scheme (com.example.app:/callback), or https");
                }
            }
        }
        // The exact string is what gets compared, not the parsed form (which would, for
        // instance, add a trailing `/` to a bare origin).
        Ok(Self(raw.to_owned()))
    }

    /// A URI read back from the store, where only parsed ones are written.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `requested` (as a client sent it) names this registered URI: the same string,
    /// except that a loopback IP `http` URI matches on any port (RFC 8252 §7.3: "MUST allow any
    /// port to be specified at the time of the request for loopback IP redirect URIs"). The
    /// requested URI must itself be a valid redirect URI written in its parsed form, so a match
    /// is never reached through the URL parser's leniency (dot segments, dropped characters); a
    /// redirect goes to the requested string only after this says it matches.
    #[must_use]
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        if Self::parse(requested, "redirect_uri").is_err() {
            return false;
        }
        let (Ok(mine), Ok(theirs)) = (url::Url::parse(&self.0), url::Url::parse(requested)) else {
            return false;
        };
        if theirs.as_str() != requested {
            return false;
        }
        if mine.scheme() != "http" || !is_loopback_ip(&mine) || theirs.scheme() != "http" {
            return false;
        }
        // Compare without the port: host, path and query exactly.
        mine.host_str() == theirs.host_str()
            && mine.path() == theirs.path()
            && mine.query() == theirs.query()
            && theirs.fragment().is_none()
            && theirs.username().is_empty()
            && theirs.password().is_none()
    }
}

/// `127.0.0.1` or `[::1]`, the loopback IP literals of RFC 8252 §7.3.
fn is_loopback_ip(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        Some(url::Host::Domain(_)) | None => false,
    }
}

/// Bounds of a client's own token lifetimes.
pub const ACCESS_TTL_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(24 * 3600));
pub const REFRESH_TTL_BOUNDS: (Duration, Duration) = (
    Duration::from_secs(300),
    Duration::from_secs(365 * 24 * 3600),
);

/// A lifetime override in seconds, within `bounds`; `field` names the input.
///
/// # Errors
/// `out_of_range` with the bounds.
pub fn parse_ttl(
    secs: u64,
    bounds: (Duration, Duration),
    field: &'static str,
) -> Result<Duration, FieldError> {
    let d = Duration::from_secs(secs);
    if d < bounds.0 || d > bounds.1 {
        return Err(FieldError::new(
            field,
            "out_of_range",
            format!(
                "between {} and {} seconds",
                bounds.0.as_secs(),
                bounds.1.as_secs()
            ),
        ));
    }
    Ok(d)
}

/// A confidential client's secret, as generated: 256 random bits, base64url. Shown once; only
/// its [`ClientSecretHash`] is kept.
pub struct ClientSecret(String);

impl ClientSecret {
    #[must_use]
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        Self(URL_SAFE_NO_PAD.encode(b))
    }

    #[must_use]
    pub fn reveal(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn hash(&self) -> ClientSecretHash {
        ClientSecretHash::of(&self.0)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(…)")
    }
}

/// SHA-256 of a client secret. A fast hash is enough: the secret is 256 random bits, not a
/// password a person chose, so there is nothing to guess from the hash.
///
/// No `PartialEq`: the only comparison is [`ClientSecretHash::verifies`], in constant time.
#[derive(Clone)]
pub struct ClientSecretHash([u8; 32]);

impl ClientSecretHash {
    #[must_use]
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// A hash read back from the store; `None` when it is not 32 bytes.
    #[must_use]
    pub fn from_stored(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The bytes to store.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` is the secret, compared in constant time.
    #[must_use]
    pub fn verifies(&self, presented: &str) -> bool {
        bool::from(Self::of(presented).0.ct_eq(&self.0))
    }
}

impl fmt::Debug for ClientSecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecretHash(…)")
    }
}

/// Everything a client is registered with, as the store keeps it (the secret only as its hash).
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub name: ClientName,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<Scope>,
    /// Trusted by the operator: consent is not asked.
    pub first_party: bool,
    /// Overrides `SESAME_ACCESS_TOKEN_TTL` for this client's tokens.
    pub access_token_ttl: Option<Duration>,
    /// Overrides `SESAME_REFRESH_TOKEN_TTL` for this client's sessions.
    pub refresh_token_ttl: Option<Duration>,
    pub id_token_alg: IdTokenAlg,
}

impl ClientSettings {
    /// The rules that join several fields, for a client of `kind`.
    ///
    /// # Errors
    /// Each broken rule, named by its field.
    pub fn check(&self, kind: ClientKind) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        if self.grants.is_empty() {
            errs.push(FieldError::new(
                "grant_types",
                "required",
                "a client needs at least one grant type",
            ));
        }
        if self.grants.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            errs.push(FieldError::new(
                "redirect_uris",
                "required",
                "the authorization_code grant needs at least one redirect URI",
            ));
        }
        if kind == ClientKind::Public && self.grants.contains(&GrantType::ClientCredentials) {
            errs.push(FieldError::new(
                "grant_types",
                "public_client",
                "a public client cannot use client_credentials: it has no secret to prove itself",
            ));
        }
        if self.grants.contains(&GrantType::RefreshToken)
            && !self
                .grants
                .iter()
                .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::Password))
        {
            // client_credentials issues no refresh token (RFC 6749 §4.4.3).
            errs.push(FieldError::new(
                "grant_types",
                "refresh_only",
                "refresh_token needs authorization_code or password, the grants that issue a refresh token",
            ));
        }
        if self.grants.contains(&GrantType::Password) && !self.first_party {
            // RFC 9700 §2.4: the password grant MUST NOT be used; Sesame keeps it for the
            // operator's own applications only.
            errs.push(FieldError::new(
                "grant_types",
                "first_party_only",
                "the password grant is only for first-party clients (first_party: true)",
            ));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// A registration as it arrives (the admin API's JSON, the CLI's flags), before parsing. Grants
/// and scopes left out take the defaults ([`DEFAULT_GRANTS`], [`DEFAULT_SCOPES`]); lifetimes are
/// seconds.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grants: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub first_party: bool,
    pub access_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    pub id_token_alg: Option<String>,
}

impl ClientInput {
    /// The input of an existing registration, for a change that starts from it.
    #[must_use]
    pub fn of(s: &ClientSettings) -> Self {
        let strings = |l: &[RedirectUri]| l.iter().map(|u| u.as_str().to_owned()).collect();
        Self {
            name: s.name.as_str().to_owned(),
            redirect_uris: strings(&s.redirect_uris),
            post_logout_redirect_uris: strings(&s.post_logout_redirect_uris),
            grants: Some(s.grants.iter().map(|g| g.as_str().to_owned()).collect()),
            scopes: Some(s.scopes.iter().map(|x| x.as_str().to_owned()).collect()),
            first_party: s.first_party,
            access_token_ttl: s.access_token_ttl.map(|d| d.as_secs()),
            refresh_token_ttl: s.refresh_token_ttl.map(|d| d.as_secs()),
            id_token_alg: Some(s.id_token_alg.as_str().to_owned()),
        }
    }

    /// Parses every field, collecting every failure (each named by its field).
    ///
    /// # Errors
    /// The failed rules.
    pub fn parse(&self) -> Result<ClientSettings, Vec<FieldError>> {
        fn keep<T>(errs: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
            r.map_err(|e| errs.push(e)).ok()
        }
        let mut errs = Vec::new();
        let name = keep(
            &mut errs,
            ClientName::parse(&self.name).map_err(|mut e| {
                // Named as the registration names it (RFC 7591 §2).
                e.field = "client_name";
                e
            }),
        );
        let redirect_uris = keep(&mut errs, uri_list(&self.redirect_uris, "redirect_uris"));
        let post_logout = keep(
            &mut errs,
            uri_list(&self.post_logout_redirect_uris, "post_logout_redirect_uris"),
        );
        let grants = keep(
            &mut errs,
            match &self.grants {
                None => Ok(DEFAULT_GRANTS.to_vec()),
                Some(list) => grant_list(list),
            },
        );
        let scopes = keep(
            &mut errs,
            match &self.scopes {
                None => Ok(DEFAULT_SCOPES.to_vec()),
                Some(list) => Scope::parse_each(list.iter().map(String::as_str), "scope"),
            },
        );
        let access = keep(
            &mut errs,
            self.access_token_ttl
                .map(|s| parse_ttl(s, ACCESS_TTL_BOUNDS, "access_token_ttl"))
                .transpose(),
        );
        let refresh = keep(
            &mut errs,
            self.refresh_token_ttl
                .map(|s| parse_ttl(s, REFRESH_TTL_BOUNDS, "refresh_token_ttl"))
                .transpose(),
        );
        let alg = keep(
            &mut errs,
            match self.id_token_alg.as_deref() {
                None => Ok(IdTokenAlg::default()),
                Some(a) => IdTokenAlg::parse(a).ok_or_else(|| {
                    FieldError::new(
                        "id_token_signed_response_alg",
                        "unsupported",
                        "RS256 or EdDSA",
                    )
                }),
            },
        );
        match (
            name,
            redirect_uris,
            post_logout,
            grants,
            scopes,
            access,
            refresh,
            alg,
        ) {
            (
                Some(name),
                Some(redirect_uris),
                Some(post_logout_redirect_uris),
                Some(grants),
                Some(scopes),
                Some(access_token_ttl),
                Some(refresh_token_ttl),
                Some(id_token_alg),
            ) if errs.is_empty() => Ok(ClientSettings {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grants,
                scopes,
                first_party: self.first_party,
                access_token_ttl,
                refresh_token_ttl,
                id_token_alg,
            }),
            _ => Err(errs),
        }
    }
}

/// Most URIs one client may register in one list.
pub const MAX_URIS: usize = 20;

fn uri_list(raw: &[String], field: &'static str) -> Result<Vec<RedirectUri>, FieldError> {
    if raw.len() > MAX_URIS {
        return Err(FieldError::new(field, "too_many", "at most 20 URIs"));
    }
    let mut out: Vec<RedirectUri> = Vec::with_capacity(raw.len());
    for r in raw {
        let u = RedirectUri::parse(r, field)?;
        if !out.contains(&u) {
            out.push(u);
        }
    }
    Ok(out)
}

fn grant_list(raw: &[String]) -> Result<Vec<GrantType>, FieldError> {
    let mut out = Vec::new();
    for g in raw {
        out.push(GrantType::parse(g).ok_or_else(|| {
            FieldError::new(
                "grant_types",
                "unsupported_grant_type",
                format!(
                    "unknown grant type `{}`: use authorization_code, refresh_token, client_credentials or password",
                    g.chars().take(40).collect::<String>()
                ),
            )
        })?);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub id: ClientId,
    pub kind: ClientKind,
    pub settings: ClientSettings,
    /// Confidential clients only.
    pub secret_hash: Option<ClientSecretHash>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Lists the defaults a registration starts from when it names no grants or scopes.
pub const DEFAULT_GRANTS: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];
pub const DEFAULT_SCOPES: [Scope; 4] = Scope::ALL;

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Result<RedirectUri, FieldError> {
        RedirectUri::parse(s, "redirect_uris")
    }

    #[test]
    fn https_loopback_http_and_reversed_domain_schemes_are_redirect_uris() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=7",
            "http://127.0.0.1:8080/callback",
            "http://[::1]/callback",
            "http://localhost:3000/callback",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(uri(ok).expect(ok).as_str(), ok);
        }
    }

    #[test]
    fn fragments_plain_http_user_info_and_relative_uris_are_refused() {
        for bad in [
            "https://app.example.com/cb#frag",
            "http://app.example.com/callback",
            "https://user:pw@app.example.com/cb",
            "/callback",
            "",
            " https://app.example.com/cb",
            "myapp:/callback",
            "javascript:alert(1)",
            "https://app.example.com/\u{0}",
            "https://app.example.com/ca\nllback",
            "https://app.example.com/a b",
            "https://app.example.com\\cb",
            "https://app.example.com/cb\t",
            "http://127.0.0.2/callback",
        ] {
            let e = uri(bad).expect_err(bad);
            assert_eq!(e.code, "invalid_redirect_uri", "{bad}");
        }
        assert!(uri(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn redirect_uris_match_exactly_except_a_loopback_port() {
        let web = uri("https://app.example.com/callback").unwrap();
        assert!(web.matches("https://app.example.com/callback"));
        for other in [
            "https://app.example.com/callback/",
            "https://app.example.com/Callback",
            "https://app.example.com/callback?x=1",
            "https://app.example.com:8443/callback",
            "https://evil.example.com/callback",
            "http://app.example.com/callback",
        ] {
            assert!(!web.matches(other), "{other}");
        }
        let native = uri("http://127.0.0.1/callback").unwrap();
        assert!(native.matches("http://127.0.0.1:51234/callback"));
        assert!(!native.matches("http://127.0.0.1:51234/other"));
        assert!(!native.matches("http://127.0.0.2:51234/callback"));
        assert!(!native.matches("https://127.0.0.1:51234/callback"));
        assert!(!native.matches("http://127.0.0.1:51234/callback#x"));
        assert!(!native.matches("http://127.0.0.1:51234/x/../callback"));
        assert!(!native.matches("http://127.0.0.1:51234/call\nback"));
        let dev = uri("http://localhost:3000/callback").unwrap();
        assert!(dev.matches("http://localhost:3000/callback"));
        assert!(
            !dev.matches("http://localhost:3001/callback"),
            "no port leeway for a name"
        );
    }

    #[test]
    fn scopes_parse_space_delimited_in_canonical_order_and_unknown_ones_are_named() {
        assert_eq!(
            Scope::parse_list("profile openid  profile email", "scope").unwrap(),
            vec![Scope::OpenId, Scope::Email, Scope::Profile]
        );
        let e = Scope::parse_list("openid admin", "scope").unwrap_err();
        assert_eq!((e.field, e.code), ("scope", "unknown_scope"));
        assert!(e.message.contains("admin"), "{}", e.message);
        assert_eq!(
            Scope::join(&Scope::ALL),
            "openid email profile offline_access"
        );
    }

    #[test]
    fn a_secret_verifies_only_itself_and_is_never_printed() {
        let s = ClientSecret::generate();
        assert_eq!(s.reveal().len(), 43, "256 bits, base64url without padding");
        let h = s.hash();
        assert!(h.verifies(s.reveal()));
        assert!(!h.verifies(ClientSecret::generate().reveal()));
        assert!(!h.verifies(""));
        assert!(!format!("{s:?} {h:?}").contains(s.reveal()));
        let back = ClientSecretHash::from_stored(h.as_bytes()).unwrap();
        assert!(back.verifies(s.reveal()));
        assert!(ClientSecretHash::from_stored(&[0; 31]).is_none());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            ClientName::parse("  Billing  ").unwrap().as_str(),
            "Billing"
        );
        assert_eq!(ClientName::parse("   ").unwrap_err().code, "required");
        assert_eq!(
            ClientName::parse(&"x".repeat(101)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            ClientName::parse("a\u{7}b").unwrap_err().code,
            "invalid_characters"
        );
    }

    fn settings(grants: &[GrantType], redirects: &[&str]) -> ClientSettings {
        ClientSettings {
            name: ClientName::parse("App").unwrap(),
            redirect_uris: redirects.iter().map(|r| uri(r).unwrap()).collect(),
            post_logout_redirect_uris: vec![],
            grants: grants.to_vec(),
            scopes: Scope::ALL.to_vec(),
            first_party: false,
            access_token_ttl: None,
            refresh_token_ttl: None,
            id_token_alg: IdTokenAlg::default(),
        }
    }

    #[test]
    fn a_registration_must_be_usable_as_a_whole() {
        let ok = settings(&DEFAULT_GRANTS, &["https://a.example/cb"]);
        assert!(ok.check(ClientKind::Public).is_ok());
        let codes = |s: ClientSettings, k| {
            s.check(k)
                .unwrap_err()
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            codes(
                settings(&[GrantType::AuthorizationCode], &[]),
                ClientKind::Confidential
            ),
            [("redirect_uris", "required")]
        );
        assert_eq!(
            codes(
                settings(&[GrantType::ClientCredentials], &[]),
                ClientKind::Public
            ),
            [("grant_types", "public_client")]
        );
        assert_eq!(
            codes(
                settings(&[GrantType::RefreshToken], &[]),
                ClientKind::Confidential
            ),
            [("grant_types", "refresh_only")]
        );
        assert_eq!(
            codes(settings(&[], &[]), ClientKind::Confidential),
            [("grant_types", "required")]
        );
        assert!(settings(&[GrantType::ClientCredentials], &[])
            .check(ClientKind::Confidential)
            .is_ok());
        assert_eq!(
            codes(
                settings(
                    &[GrantType::ClientCredentials, GrantType::RefreshToken],
                    &[]
                ),
                ClientKind::Confidential
            ),
            [("grant_types", "refresh_only")]
        );
        assert_eq!(
            codes(
                settings(&[GrantType::Password, GrantType::RefreshToken], &[]),
                ClientKind::Public
            ),
            [("grant_types", "first_party_only")]
        );
        let mut first_party = settings(&[GrantType::Password, GrantType::RefreshToken], &[]);
        first_party.first_party = true;
        assert!(first_party.check(ClientKind::Public).is_ok());
    }

    #[test]
    fn an_input_parses_with_defaults_and_reports_every_bad_field() {
        let ok = ClientInput {
            name: "Shop".into(),
            redirect_uris: vec![
                "https://shop.example/cb".into(),
                "https://shop.example/cb".into(),
            ],
            ..ClientInput::default()
        }
        .parse()
        .unwrap();
        assert_eq!(ok.grants, DEFAULT_GRANTS);
        assert_eq!(ok.scopes, DEFAULT_SCOPES);
        assert_eq!(ok.redirect_uris.len(), 1, "duplicates collapse");
        assert_eq!(ok.id_token_alg, IdTokenAlg::Rs256);
        assert_eq!(
            ClientInput::of(&ok).parse().unwrap().redirect_uris,
            ok.redirect_uris
        );
        let errs = ClientInput {
            name: String::new(),
            redirect_uris: vec!["http://shop.example/cb".into()],
            grants: Some(vec!["implicit".into()]),
            scopes: Some(vec!["admin".into()]),
            access_token_ttl: Some(1),
            id_token_alg: Some("none".into()),
            ..ClientInput::default()
        }
        .parse()
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            [
                ("client_name", "required"),
                ("redirect_uris", "invalid_redirect_uri"),
                ("grant_types", "unsupported_grant_type"),
                ("scope", "unknown_scope"),
                ("access_token_ttl", "out_of_range"),
                ("id_token_signed_response_alg", "unsupported"),
            ]
        );
    }

    #[test]
    fn lifetimes_outside_their_bounds_are_refused() {
        assert!(parse_ttl(60, ACCESS_TTL_BOUNDS, "access_token_ttl").is_ok());
        assert_eq!(
            parse_ttl(59, ACCESS_TTL_BOUNDS, "access_token_ttl")
                .unwrap_err()
                .code,
            "out_of_range"
        );
        assert!(parse_ttl(86_401, ACCESS_TTL_BOUNDS, "access_token_ttl").is_err());
        assert!(parse_ttl(365 * 86_400, REFRESH_TTL_BOUNDS, "refresh_token_ttl").is_ok());
    }

    #[test]
    fn wire_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        for k in [ClientKind::Confidential, ClientKind::Public] {
            assert_eq!(ClientKind::parse(k.as_str()), Some(k));
        }
        for a in [IdTokenAlg::Rs256, IdTokenAlg::EdDsa] {
            assert_eq!(IdTokenAlg::parse(a.as_str()), Some(a));
        }
        assert_eq!(GrantType::parse("implicit"), None);
        let id = ClientId::new();
        assert_eq!(ClientId::parse(&id.to_string()), Some(id));
        assert_eq!(ClientId::parse("not-a-client"), None);
    }
}
