//! Tokens: signed JWT access tokens, opaque rotating refresh tokens, and single-use emailed tokens.
//!
//! Access tokens are JWTs (`typ: at+jwt`, RFC 9068 style) signed with Ed25519 (`EdDSA`, default)
//! or HS256. The key ring holds every key that may verify; the oldest active key signs. The
//! Ed25519 signing key is parsed once, when the issuer is built, and EdDSA tokens are assembled
//! here (header, claims, signature); HS256 tokens are signed by `jsonwebtoken`.
//! Verification pins the algorithm to the configured one, requires a known `kid`, checks `iss`,
//! `aud` and `exp` (with a small leeway), and so rejects `alg: none`, algorithm confusion and
//! refresh tokens presented as access tokens. `exp` is judged against the issuer's [`Clock`]
//! (the system clock unless [`TokenIssuer::with_clock`] gave another), never `jsonwebtoken`'s.
//!
//! Successful verifications are remembered in a bounded in-memory cache keyed by the token's
//! SHA-256, so a token pays for its signature check once rather than on every request. Apart from
//! `exp`, the outcome of verification is a function of the token's bytes and this issuer's fixed
//! configuration, so a cache hit re-checks only `exp` (with the same leeway) and accepts nothing
//! a full verification would reject at that moment. Failures are never cached. The cache says
//! nothing about the *session*: whether it is still live is the service's question, asked on every
//! request, so a logout takes effect at once.
//!
//! Refresh tokens, and the [`EmailToken`]s sent in links, are 256 random bits, stored only as
//! SHA-256 hashes. A refresh token's successor is derived from it with HMAC-SHA256 under a
//! per-session secret, so two concurrent refreshes of the same token inside the grace window get
//! the *same* successor without the plaintext ever being stored. This module does not decide what a reused token means; the service does.

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::error::AuthError;
use crate::model::{RoleName, SessionId, User, UserId};
use crate::seal::{Keyring, MaybeSealed, RowId, SealError, SecretKind};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The JOSE `typ` of Sesame access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The signing algorithm, chosen by configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    EdDsa,
    Hs256,
}

impl JwtAlgorithm {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Hs256 => "HS256",
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Hs256 => Algorithm::HS256,
        }
    }
}

/// A signing key, opened: what the [`TokenIssuer`] is built from. The store keeps it as a
/// [`KeyRow`], its private half sealed ([`StoredKey::seal`], [`KeyRow::open`]).
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 DER of the Ed25519 private key.
    pub private_der: Zeroizing<Vec<u8>>,
    /// The raw 32-byte Ed25519 public key.
    pub public_raw: Vec<u8>,
    pub created_at: Timestamp,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    /// A fresh Ed25519 key with a random `kid`.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the key cannot be encoded (never expected).
    pub fn generate_ed25519(now: Timestamp) -> Result<Self, AuthError> {
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| AuthError::Internal(e.to_string().into()))?;
        let mut kid = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut kid);
        Ok(Self {
            kid: B64.encode(kid),
            algorithm: JwtAlgorithm::EdDsa.as_str().to_owned(),
            private_der: Zeroizing::new(der.as_bytes().to_vec()),
            public_raw: signing.verifying_key().to_bytes().to_vec(),
            created_at: now,
        })
    }

    /// The row to store: the private half sealed under `ring`'s current key, bound to this
    /// `kid` (`signing_key:<kid>`).
    #[must_use]
    pub fn seal(&self, ring: &Keyring) -> KeyRow {
        let row = RowId::Text(self.kid.clone());
        KeyRow {
            kid: self.kid.clone(),
            algorithm: self.algorithm.clone(),
            private: MaybeSealed::Sealed(
                ring.seal(&self.private_der, &SecretKind::SigningKey.aad(&row)),
            ),
            public_raw: self.public_raw.clone(),
            created_at: self.created_at,
        }
    }
}

/// A signing key as the store keeps it: the private half sealed, or plaintext in a row written
/// before sealing existed (startup seals those in place).
#[derive(Clone, Debug)]
pub struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    pub private: MaybeSealed,
    pub public_raw: Vec<u8>,
    pub created_at: Timestamp,
}

impl KeyRow {
    /// The key with its private half opened.
    ///
    /// # Errors
    /// [`SealError`] when no key of `ring` opens it, naming the key id it was sealed under.
    pub fn open(&self, ring: &Keyring) -> Result<StoredKey, SealError> {
        let row = RowId::Text(self.kid.clone());
        Ok(StoredKey {
            kid: self.kid.clone(),
            algorithm: self.algorithm.clone(),
            private_der: self.private.open(ring, &SecretKind::SigningKey.aad(&row))?,
            public_raw: self.public_raw.clone(),
            created_at: self.created_at,
        })
    }
}

struct VerifyKey {
    key: DecodingKey,
    /// For the JWKS; `None` for symmetric keys, which are never published.
    public_x: Option<String>,
}

/// Access-token claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub sid: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    #[serde(default)]
    pub roles: Vec<String>,
    /// When the user last proved who they are in this session (OpenID Connect Core §2), Unix
    /// seconds. Tokens issued before issue 13 have none and count as authenticated at `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// How (RFC 8176 values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The registered client the token was issued to (RFC 9068 §2.2); absent for first-party
    /// sign-ins, whose tokens are the only ones Sesame's own account API accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The scopes granted to that client, space-delimited (RFC 9068 §2.2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The claims of a token issued to a client for itself (the `client_credentials` grant): no
/// user and no session, so Sesame's own API never accepts it. `sub` is the `client_id` (RFC 9068
/// §2.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
}

/// A client session's part in its access tokens: who they are for, what was granted, and the
/// client's own lifetime.
#[derive(Debug, Clone)]
pub struct ClientAccess {
    pub client_id: crate::client::ClientId,
    pub scopes: Vec<crate::client::Scope>,
    /// Overrides the issuer's access-token lifetime.
    pub access_ttl: Option<Duration>,
    /// The client is trusted by the operator: its tokens carry the user's roles. Another
    /// client's do not, so a resource server never grants it the user's powers by role.
    pub first_party: bool,
}

/// The audience of tokens limited to enrolling a second factor (`SESAME_MFA_REQUIRED` and an
/// account without one): a resource server that checks `aud` against `SESAME_JWT_AUDIENCE`
/// refuses them, and Sesame accepts them only on the enrolment routes.
pub const ENROLMENT_AUDIENCE: &str = "urn:sesame:mfa-enrolment";

/// How the session a token is issued for was authenticated.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    pub session: SessionId,
    pub auth_time: Timestamp,
    pub amr: crate::mfa::Amr,
    /// The token may only be used to enrol a second factor.
    pub enrolment_only: bool,
    /// For a client session: the client and scope its tokens carry.
    pub client: Option<ClientAccess>,
}

impl SessionAuth {
    /// A session signed into with a password at `t`, unrestricted.
    #[must_use]
    pub fn password(session: SessionId, t: Timestamp) -> Self {
        Self {
            session,
            auth_time: t,
            amr: crate::mfa::Amr::password(),
            enrolment_only: false,
            client: None,
        }
    }
}

impl AccessClaims {
    /// The token may only be used to enrol a second factor.
    #[must_use]
    pub fn enrolment_only(&self) -> bool {
        self.aud == ENROLMENT_AUDIENCE
    }

    /// When the user last proved who they are (`iat` for tokens without `auth_time`).
    #[must_use]
    pub fn authenticated_at(&self) -> i64 {
        self.auth_time.unwrap_or(self.iat)
    }

    /// Whether the `amr` claim says two factors were proved.
    #[must_use]
    pub fn multi_factor(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }

    #[must_use]
    pub fn user_id(&self) -> UserId {
        UserId::from_uuid(self.sub)
    }

    #[must_use]
    pub fn session_id(&self) -> SessionId {
        SessionId::from_uuid(self.sid)
    }
}

/// Token settings that do not change while the server runs.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub leeway: Duration,
}

/// The key that signs, in the form that is cheapest to sign with.
#[expect(
    clippy::large_enum_variant,
    reason = "one per issuer, built once: boxing would only add a pointer chase per token"
)]
enum Signer {
    /// Parsed from PKCS#8 once: `jsonwebtoken::encode` would parse the document and derive the
    /// public key on every call (about 50 µs per token instead of 29 µs).
    Ed25519 {
        key: ed25519_dalek::SigningKey,
        /// The token's first segment, base64url of the JOSE header, which never changes.
        header: String,
    },
    Hs256 {
        key: EncodingKey,
        header: Header,
    },
}

/// How many verified access tokens [`TokenIssuer`] remembers (a few MiB at most).
pub const VERIFIED_CACHE_CAPACITY: usize = 16_384;

/// Whether a token with this `exp` is expired at `now` (Unix seconds), by the rule
/// `jsonwebtoken` applies: `exp < now - leeway` (its `reject_tokens_expiring_in_less_than` stays
/// at 0: [`TokenIssuer`] never sets it). A negative `exp` never passes `jsonwebtoken`, so it never
/// reaches the cache; it counts as expired here all the same.
fn is_expired(exp: i64, now: u64, leeway: u64) -> bool {
    u64::try_from(exp).map_or(true, |exp| exp < now.saturating_sub(leeway))
}

/// Claims of tokens that passed a full verification, keyed by the SHA-256 of the token string.
///
/// The key ring and the validation settings of an issuer never change, so an entry stays right
/// for as long as its `exp` allows, and [`VerifiedCache::get`] does not look at expiry: the
/// caller does. Only tokens this issuer signed (or a holder of its key did) ever get in, so
/// filling the cache takes that many distinct live tokens.
struct VerifiedCache {
    capacity: usize,
    entries: parking_lot::Mutex<HashMap<[u8; 32], Arc<AccessClaims>>>,
}

impl VerifiedCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// The lock is held for one hash-map lookup and a reference-count increment.
    fn get(&self, key: &[u8; 32]) -> Option<Arc<AccessClaims>> {
        self.entries.lock().get(key).cloned()
    }

    /// Remembers a successful verification. When the cache is full it first drops the entries
    /// expired at `now`; if that frees less than a quarter of it, it empties it. Emptying is
    /// harmless: an entry is only a shortcut, so each live token then pays one full verification
    /// on its next use and comes back. Requiring a quarter to be free makes the sweep (linear in
    /// the capacity, under the lock) happen at most once per `capacity / 4` insertions, rather
    /// than on every insertion when the cache sits just under full with live tokens.
    fn insert(&self, key: [u8; 32], claims: Arc<AccessClaims>, now: u64, leeway: u64) {
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, c| !is_expired(c.exp, now, leeway));
            if entries.len() > self.capacity - self.capacity / 4 {
                entries.clear();
            }
        }
        entries.insert(key, claims);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

/// Signs and verifies access tokens with a fixed key ring.
pub struct TokenIssuer {
    algorithm: JwtAlgorithm,
    signing_kid: String,
    signer: Signer,
    verify: HashMap<String, VerifyKey>,
    settings: TokenSettings,
    validation: Validation,
    verified: VerifiedCache,
    /// SHA-256 of the signing secret (the Ed25519 seed or the HS256 key): the root from which
    /// [`TokenIssuer::derived_key`] derives keys for other purposes. Never leaves this module.
    derive_root: [u8; 32],
    /// "Now" for the `exp` check.
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("algorithm", &self.algorithm)
            .field("signing_kid", &self.signing_kid)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An Ed25519 issuer: the oldest key signs, every key verifies.
    ///
    /// # Errors
    /// A message when no usable Ed25519 key is given, or when the signing key's private half is
    /// not a PKCS#8 Ed25519 key.
    pub fn ed25519(keys: &[StoredKey], settings: TokenSettings) -> Result<Self, String> {
        let mut usable: Vec<&StoredKey> = keys
            .iter()
            .filter(|k| k.algorithm == JwtAlgorithm::EdDsa.as_str())
            .collect();
        usable.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        let first = usable
            .first()
            .ok_or_else(|| "no Ed25519 signing key in the store".to_owned())?;
        let verify = usable
            .iter()
            .map(|k| {
                (
                    k.kid.clone(),
                    VerifyKey {
                        key: DecodingKey::from_ed_der(&k.public_raw),
                        public_x: Some(B64.encode(&k.public_raw)),
                    },
                )
            })
            .collect();
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(&first.private_der)
            .map_err(|e| format!("Ed25519 signing key {} is unreadable: {e}", first.kid))?;
        let header = serde_json::to_vec(&Self::header(JwtAlgorithm::EdDsa, &first.kid))
            .map_err(|e| format!("cannot encode the JWT header: {e}"))?;
        let root = Sha256::digest(key.to_bytes()).into();
        Ok(Self::build(
            JwtAlgorithm::EdDsa,
            first.kid.clone(),
            Signer::Ed25519 {
                key,
                header: B64.encode(header),
            },
            verify,
            settings,
            root,
        ))
    }

    /// An HS256 issuer keyed by the shared secret (at least 32 bytes, checked by configuration).
    #[must_use]
    pub fn hs256(secret: &[u8], settings: TokenSettings) -> Self {
        let digest = Sha256::digest([b"sesame-hs256-kid:".as_slice(), secret].concat());
        let kid = B64.encode(&digest[..12]);
        let mut verify = HashMap::new();
        verify.insert(
            kid.clone(),
            VerifyKey {
                key: DecodingKey::from_secret(secret),
                public_x: None,
            },
        );
        let header = Self::header(JwtAlgorithm::Hs256, &kid);
        let root = Sha256::digest(secret).into();
        Self::build(
            JwtAlgorithm::Hs256,
            kid,
            Signer::Hs256 {
                key: EncodingKey::from_secret(secret),
                header,
            },
            verify,
            settings,
            root,
        )
    }

    /// The JOSE header of every token this issuer signs.
    fn header(algorithm: JwtAlgorithm, kid: &str) -> Header {
        let mut header = Header::new(algorithm.jwt());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(kid.to_owned());
        header
    }

    fn build(
        algorithm: JwtAlgorithm,
        signing_kid: String,
        signer: Signer,
        verify: HashMap<String, VerifyKey>,
        settings: TokenSettings,
        derive_root: [u8; 32],
    ) -> Self {
        let mut validation = Validation::new(algorithm.jwt());
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[settings.audience.as_str(), ENROLMENT_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = settings.leeway.as_secs();
        // `exp` is checked here, against this issuer's clock (see `verify`); its presence is
        // still required above.
        validation.validate_exp = false;
        Self {
            algorithm,
            signing_kid,
            signer,
            verify,
            settings,
            validation,
            verified: VerifiedCache::new(VERIFIED_CACHE_CAPACITY),
            derive_root,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same issuer judging `exp` by `clock` (tests move it instead of sleeping). Tokens are
    /// stamped with the time their caller passes to [`TokenIssuer::issue`].
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A 256-bit key for `purpose`, derived from the signing secret with HMAC-SHA256 (so it is
    /// the same on every node and across restarts, and never comes from a request). Knowing a
    /// derived key reveals neither the signing secret nor the key of another purpose.
    #[must_use]
    pub fn derived_key(&self, purpose: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.derive_root)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(purpose);
        mac.finalize().into_bytes().into()
    }

    #[must_use]
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// The `iss` of every token (`SESAME_PUBLIC_URL`).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    #[must_use]
    pub fn access_ttl(&self) -> Duration {
        self.settings.access_ttl
    }

    /// Signs an access token for `user` in `session`.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if signing fails.
    pub fn issue(
        &self,
        user: &User,
        session: SessionId,
        now: Timestamp,
    ) -> Result<String, AuthError> {
        self.issue_for(user, &SessionAuth::password(session, now), now)
    }

    /// An access token for `user`'s session as `auth` describes it, issued at `now`.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the claims cannot be encoded or signed (never expected).
    pub fn issue_for(
        &self,
        user: &User,
        auth: &SessionAuth,
        now: Timestamp,
    ) -> Result<String, AuthError> {
        let session = auth.session;
        let iat = now.timestamp();
        let ttl = auth
            .client
            .as_ref()
            .and_then(|c| c.access_ttl)
            .unwrap_or(self.settings.access_ttl);
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4);
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: if auth.enrolment_only {
                ENROLMENT_AUDIENCE.to_owned()
            } else {
                self.settings.audience.clone()
            },
            sub: user.id.as_uuid(),
            sid: session.as_uuid(),
            iat,
            exp: iat.saturating_add(ttl),
            jti: Uuid::now_v7(),
            roles: if auth.client.as_ref().is_some_and(|c| !c.first_party) {
                Vec::new()
            } else {
                user.roles.iter().map(|r| r.as_str().to_owned()).collect()
            },
            auth_time: Some(auth.auth_time.timestamp()),
            amr: auth
                .amr
                .methods()
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            client_id: auth.client.as_ref().map(|c| c.client_id.to_string()),
            scope: auth
                .client
                .as_ref()
                .map(|c| crate::client::Scope::join(&c.scopes)),
        };
        self.sign(&claims)
    }

    /// The lifetime of a token issued with `ttl` (or the issuer's own).
    #[must_use]
    pub fn ttl_or_default(&self, ttl: Option<Duration>) -> Duration {
        ttl.unwrap_or(self.settings.access_ttl)
    }

    /// A token for `client` itself (the `client_credentials` grant), with `scope`, lasting
    /// `ttl` (or the issuer's lifetime).
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the claims cannot be encoded or signed (never expected).
    pub fn issue_service(
        &self,
        client: crate::client::ClientId,
        scope: Option<String>,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<String, AuthError> {
        let iat = now.timestamp();
        let ttl = i64::try_from(self.ttl_or_default(ttl).as_secs()).unwrap_or(i64::MAX / 4);
        self.sign(&ServiceClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: client.to_string(),
            client_id: client.to_string(),
            scope,
            iat,
            exp: iat.saturating_add(ttl),
            jti: Uuid::now_v7(),
        })
    }

    /// The claims of an access token this issuer signed, of either kind, for introspection
    /// (RFC 7662): the signature, issuer and audience checked as [`TokenIssuer::verify`] does.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when it is not a live token of this issuer.
    pub fn verify_any(&self, token: &str) -> Result<serde_json::Value, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken("malformed"))?;
        if header.alg != self.algorithm.jwt() || header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(AuthError::InvalidToken("not_an_access_token"));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verify.get(kid))
            .ok_or(AuthError::InvalidToken("unknown_kid"))?;
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| AuthError::InvalidToken("bad_signature"))?;
        let now = u64::try_from(self.clock.now().timestamp()).unwrap_or(0);
        let exp = claims["exp"].as_i64().unwrap_or(0);
        if is_expired(exp, now, self.validation.leeway) {
            return Err(AuthError::InvalidToken("expired"));
        }
        Ok(claims)
    }

    /// Signs `claims` with the signing key as a JWS compact serialisation.
    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, AuthError> {
        match &self.signer {
            Signer::Ed25519 { key, header } => {
                // JWS compact serialisation: header "." claims, then "." and the signature
                // over those first two segments (RFC 7515 §7.1), all base64url without padding.
                let claims = serde_json::to_vec(&claims).map_err(AuthError::internal)?;
                let mut token = String::with_capacity(header.len() + claims.len() * 4 / 3 + 90);
                token.push_str(header);
                token.push('.');
                B64.encode_string(&claims, &mut token);
                let signature = key.sign(token.as_bytes());
                token.push('.');
                B64.encode_string(signature.to_bytes(), &mut token);
                Ok(token)
            }
            Signer::Hs256 { key, header } => {
                jsonwebtoken::encode(header, &claims, key).map_err(AuthError::internal)
            }
        }
    }

    /// Verifies a presented access token: from the cache of earlier successful verifications
    /// when it is there (checking only `exp` again), otherwise in full, remembering a success.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] with a short reason for the log; the client only learns that
    /// the token is invalid.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = u64::try_from(self.clock.now().timestamp()).unwrap_or(0);
        if let Some(cached) = self.cached(&key, now) {
            return cached;
        }
        let claims = self.verify_uncached(token)?;
        if is_expired(claims.exp, now, self.validation.leeway) {
            return Err(AuthError::InvalidToken("expired"));
        }
        self.verified
            .insert(key, Arc::new(claims.clone()), now, self.validation.leeway);
        Ok(claims)
    }

    /// The cached outcome for the token whose SHA-256 is `key`, at `now` (Unix seconds), if it
    /// is cached: its claims, or "expired" once `exp` has passed, as `jsonwebtoken` would say.
    fn cached(&self, key: &[u8; 32], now: u64) -> Option<Result<AccessClaims, AuthError>> {
        let claims = self.verified.get(key)?;
        Some(if is_expired(claims.exp, now, self.validation.leeway) {
            Err(AuthError::InvalidToken("expired"))
        } else {
            Ok(AccessClaims::clone(&claims))
        })
    }

    /// The full verification, signature included, except `exp` (the caller's, by the clock).
    fn verify_uncached(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken("malformed"))?;
        if header.alg != self.algorithm.jwt() {
            return Err(AuthError::InvalidToken("algorithm_not_allowed"));
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(AuthError::InvalidToken("not_an_access_token"));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verify.get(kid))
            .ok_or(AuthError::InvalidToken("unknown_kid"))?;
        jsonwebtoken::decode::<AccessClaims>(token, &key.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                AuthError::InvalidToken(match e.kind() {
                    K::ExpiredSignature => "expired",
                    K::InvalidSignature => "bad_signature",
                    K::InvalidIssuer => "wrong_issuer",
                    K::InvalidAudience => "wrong_audience",
                    K::InvalidAlgorithm => "algorithm_not_allowed",
                    _ => "malformed",
                })
            })
    }

    /// The public keys as an RFC 7517 JWK Set. Symmetric keys are never published.
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        let mut keys: Vec<(&String, &String)> = self
            .verify
            .iter()
            .filter_map(|(kid, k)| k.public_x.as_ref().map(|x| (kid, x)))
            .collect();
        keys.sort();
        let keys: Vec<serde_json::Value> = keys
            .into_iter()
            .map(|(kid, x)| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// The SHA-256 of a refresh (or e-mailed) token: the only form ever stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// 256 random bits, base64url without padding: 43 characters.
fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    B64.encode(b)
}

/// Whether `raw` has the shape [`random_token`] produces, so junk never reaches the store.
fn is_random_token(raw: &str) -> bool {
    raw.len() == 43 && B64.decode(raw).is_ok_and(|b| b.len() == 32)
}

fn hash_token(raw: &str) -> TokenHash {
    TokenHash(Sha256::digest(raw.as_bytes()).into())
}

/// An opaque refresh token: 256 random bits, base64url. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

impl RefreshToken {
    /// A fresh random token.
    #[must_use]
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// Accepts a presented token only if it has the shape Sesame issues (43 base64url characters),
    /// so junk never reaches the store.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        is_random_token(raw).then(|| Self(raw.to_owned()))
    }

    #[must_use]
    pub fn hash(&self) -> TokenHash {
        hash_token(&self.0)
    }

    /// The token that replaces this one when it is used: HMAC-SHA256 under the session's secret.
    /// Deterministic, so concurrent refreshes with one token agree on one successor.
    #[must_use]
    pub fn successor(&self, session_secret: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(session_secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"sesame-refresh-successor:");
        mac.update(self.0.as_bytes());
        Self(B64.encode(mac.finalize().into_bytes()))
    }

    /// The value to hand to the client, exactly once.
    #[must_use]
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

/// A single-use random token type: 256 random bits (43 base64url characters), stored only as its
/// SHA-256 ([`TokenHash`]). Each kind is its own type so one is never taken for another, and its
/// `Debug` never shows it. `parse` accepts only the shape Sesame hands out, so junk never reaches
/// the store; `reveal` is for the one place the token is handed over.
macro_rules! random_token_type {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }

        impl $name {
            /// A fresh random token.
            #[must_use]
            pub fn generate() -> Self {
                Self(random_token())
            }

            #[must_use]
            pub fn parse(raw: &str) -> Option<Self> {
                is_random_token(raw).then(|| Self(raw.to_owned()))
            }

            /// The SHA-256 of the token, as the store keeps it.
            #[must_use]
            pub fn hash(&self) -> TokenHash {
                hash_token(&self.0)
            }

            #[must_use]
            pub fn reveal(&self) -> &str {
                &self.0
            }
        }
    };
}

random_token_type!(
    /// A token sent in an emailed link (verification, reset, email change, invitation). It has
    /// the refresh token's shape but is its own type, and no successor: it is used once.
    EmailToken
);

random_token_type!(
    /// An authorization code (RFC 6749 §4.1.2): used once, within a minute.
    AuthorizationCode
);

random_token_type!(
    /// The token of a challenge between two calls of one flow (the second factor after a
    /// password, a WebAuthn ceremony).
    ChallengeToken
);

/// 32 random bytes: a session's successor-derivation secret.
#[must_use]
pub fn random_secret() -> Vec<u8> {
    let mut b = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// Role names as they appear in a token, for callers that hold only claims.
#[must_use]
pub fn role_names(roles: &[RoleName]) -> Vec<String> {
    roles.iter().map(|r| r.as_str().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now;
    use crate::model::Email;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "https://auth.example.com".into(),
            audience: "sesame".into(),
            access_ttl: Duration::from_secs(900),
            leeway: Duration::from_secs(5),
        }
    }

    fn user() -> User {
        let t = now();
        User {
            id: UserId::new(),
            email: Email::parse("a@example.com").unwrap(),
            username: None,
            display_name: None,
            email_verified: false,
            roles: vec![RoleName::admin()],
            locale: crate::locale::Locale::En,
            is_active: true,
            created_at: t,
            updated_at: t,
            last_login_at: None,
        }
    }

    fn ed() -> TokenIssuer {
        TokenIssuer::ed25519(&[StoredKey::generate_ed25519(now()).unwrap()], settings()).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let iss = ed();
        let u = user();
        let sid = SessionId::new();
        let tok = iss.issue(&u, sid, now()).unwrap();
        let c = iss.verify(&tok).unwrap();
        assert_eq!(c.sub, u.id.as_uuid());
        assert_eq!(c.sid, sid.as_uuid());
        assert_eq!(c.roles, vec!["admin".to_owned()]);
        assert_eq!(c.exp - c.iat, 900);
        assert_eq!(c.iss, "https://auth.example.com");
    }

    #[test]
    fn an_eddsa_token_verifies_with_plain_jsonwebtoken_and_the_published_key() {
        let iss = ed();
        let u = user();
        let tok = iss.issue(&u, SessionId::new(), now()).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(iss.jwks()["keys"][0].clone()).unwrap();
        let header = jsonwebtoken::decode_header(&tok).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some(ACCESS_TOKEN_TYP));
        assert_eq!(header.kid, jwk.common.key_id);
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["sesame"]);
        validation.set_issuer(&["https://auth.example.com"]);
        let claims = jsonwebtoken::decode::<AccessClaims>(
            &tok,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims.sub, u.id.as_uuid());
        // Only these three header members, nothing jsonwebtoken would not write.
        let raw: serde_json::Value =
            serde_json::from_slice(&B64.decode(tok.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(
            raw,
            serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": header.kid.unwrap()})
        );
    }

    #[test]
    fn an_eddsa_token_is_byte_for_byte_what_jsonwebtoken_would_sign() {
        // Ed25519 signatures are deterministic, so the two encoders must agree exactly.
        let key = StoredKey::generate_ed25519(now()).unwrap();
        let iss = TokenIssuer::ed25519(std::slice::from_ref(&key), settings()).unwrap();
        let tok = iss.issue(&user(), SessionId::new(), now()).unwrap();
        let claims: AccessClaims =
            serde_json::from_slice(&B64.decode(tok.split('.').nth(1).unwrap()).unwrap()).unwrap();
        let reference = jsonwebtoken::encode(
            &TokenIssuer::header(JwtAlgorithm::EdDsa, &key.kid),
            &claims,
            &EncodingKey::from_ed_der(&key.private_der),
        )
        .unwrap();
        assert_eq!(tok, reference);
    }

    #[test]
    fn an_unreadable_signing_key_is_refused_when_the_issuer_is_built() {
        let mut key = StoredKey::generate_ed25519(now()).unwrap();
        key.private_der.truncate(10);
        let err = TokenIssuer::ed25519(&[key], settings()).unwrap_err();
        assert!(err.contains("unreadable"), "{err}");
    }

    #[test]
    fn a_token_from_another_key_is_rejected() {
        let a = ed();
        let b = ed();
        let tok = a.issue(&user(), SessionId::new(), now()).unwrap();
        assert!(matches!(
            b.verify(&tok),
            Err(AuthError::InvalidToken("unknown_kid"))
        ));
    }

    #[test]
    fn a_tampered_token_is_rejected() {
        let iss = ed();
        let tok = iss.issue(&user(), SessionId::new(), now()).unwrap();
        let mut parts: Vec<String> = tok.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
        claims["roles"] = serde_json::json!(["admin", "root"]);
        parts[1] = B64.encode(serde_json::to_vec(&claims).unwrap());
        assert!(matches!(
            iss.verify(&parts.join(".")),
            Err(AuthError::InvalidToken("bad_signature"))
        ));
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let iss = ed();
        let long_ago = now() - chrono::Duration::hours(1);
        let tok = iss.issue(&user(), SessionId::new(), long_ago).unwrap();
        assert!(matches!(
            iss.verify(&tok),
            Err(AuthError::InvalidToken("expired"))
        ));
    }

    #[test]
    fn an_access_token_expires_when_the_clock_passes_exp_and_the_leeway() {
        use crate::clock::ManualClock;
        let clock = Arc::new(ManualClock::new(now()));
        let iss = ed().with_clock(clock.clone()); // 900 s lifetime, 5 s leeway
        let cached = iss.issue(&user(), SessionId::new(), clock.now()).unwrap();
        let fresh = iss.issue(&user(), SessionId::new(), clock.now()).unwrap();
        let exp = iss.verify(&cached).unwrap().exp;
        // Whole seconds: from the issue instant to the last second the leeway still covers.
        let to_last_good = exp + 5 - clock.now().timestamp();
        clock.advance(Duration::from_secs(u64::try_from(to_last_good).unwrap()));
        assert!(iss.verify(&cached).is_ok(), "exp + leeway is still good");
        clock.advance(Duration::from_secs(1));
        for (tok, what) in [
            (&cached, "from the cache"),
            (&fresh, "never verified before"),
        ] {
            assert!(
                matches!(iss.verify(tok), Err(AuthError::InvalidToken("expired"))),
                "one second later it has expired ({what})"
            );
        }
    }

    #[test]
    fn a_token_stamped_in_the_clocks_future_is_not_expired_by_the_system_clock() {
        use crate::clock::ManualClock;
        let later = now() + chrono::Duration::hours(2);
        let iss = ed().with_clock(Arc::new(ManualClock::new(later)));
        let tok = iss.issue(&user(), SessionId::new(), later).unwrap();
        assert!(iss.verify(&tok).is_ok());
        let long_ago = later - chrono::Duration::hours(1);
        let old = iss.issue(&user(), SessionId::new(), long_ago).unwrap();
        assert!(matches!(
            iss.verify(&old),
            Err(AuthError::InvalidToken("expired"))
        ));
    }

    #[test]
    fn alg_none_is_rejected() {
        let iss = ed();
        let tok = iss.issue(&user(), SessionId::new(), now()).unwrap();
        let payload = tok.split('.').nth(1).unwrap();
        let header = B64.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
        assert!(iss.verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn an_hs256_token_is_rejected_by_an_eddsa_issuer() {
        let hs = TokenIssuer::hs256(&[7u8; 32], settings());
        let tok = hs.issue(&user(), SessionId::new(), now()).unwrap();
        assert!(matches!(
            ed().verify(&tok),
            Err(AuthError::InvalidToken("algorithm_not_allowed"))
        ));
        assert!(hs.verify(&tok).is_ok());
    }

    #[test]
    fn wrong_audience_and_issuer_are_rejected() {
        let key = StoredKey::generate_ed25519(now()).unwrap();
        let a = TokenIssuer::ed25519(std::slice::from_ref(&key), settings()).unwrap();
        let b = TokenIssuer::ed25519(
            std::slice::from_ref(&key),
            TokenSettings {
                audience: "other".into(),
                ..settings()
            },
        )
        .unwrap();
        let c = TokenIssuer::ed25519(
            std::slice::from_ref(&key),
            TokenSettings {
                issuer: "https://evil.example".into(),
                ..settings()
            },
        )
        .unwrap();
        let tok = a.issue(&user(), SessionId::new(), now()).unwrap();
        assert!(matches!(
            b.verify(&tok),
            Err(AuthError::InvalidToken("wrong_audience"))
        ));
        assert!(matches!(
            c.verify(&tok),
            Err(AuthError::InvalidToken("wrong_issuer"))
        ));
    }

    #[test]
    fn the_jwks_publishes_ed25519_keys_and_never_hmac_secrets() {
        let jwks = ed().jwks();
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert!(jwks["keys"][0]["d"].is_null());
        assert_eq!(
            TokenIssuer::hs256(&[1u8; 32], settings()).jwks()["keys"],
            serde_json::json!([])
        );
    }

    #[test]
    fn refresh_tokens_are_256_bits_and_parse_back() {
        let t = RefreshToken::generate();
        assert_eq!(t.reveal().len(), 43);
        assert_eq!(RefreshToken::parse(t.reveal()), Some(t.clone()));
        assert_eq!(RefreshToken::parse("short"), None);
        assert_ne!(RefreshToken::generate(), t);
    }

    #[test]
    fn email_tokens_are_256_bits_parse_back_and_hash_as_before() {
        let t = EmailToken::generate();
        assert_eq!(t.reveal().len(), 43);
        assert_eq!(EmailToken::parse(t.reveal()), Some(t.clone()));
        assert_eq!(EmailToken::parse("short"), None);
        assert_ne!(EmailToken::generate(), t);
        // The store holds the SHA-256 of the text, as it did when emailed tokens were refresh
        // tokens, so links sent before keep working.
        assert_eq!(t.hash().0, key_of(t.reveal()));
        assert_eq!(
            t.hash(),
            RefreshToken::parse(t.reveal()).map(|r| r.hash()).unwrap()
        );
        assert_eq!(format!("{t:?}"), "EmailToken(***)");
    }

    #[test]
    fn a_successor_is_deterministic_per_session_secret() {
        let t = RefreshToken::generate();
        let s1 = random_secret();
        let s2 = random_secret();
        assert_eq!(t.successor(&s1), t.successor(&s1));
        assert_ne!(t.successor(&s1), t.successor(&s2));
        assert_ne!(t.successor(&s1), t);
        assert!(RefreshToken::parse(t.successor(&s1).reveal()).is_some());
    }

    fn key_of(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    fn claims_expiring_at(exp: i64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "https://auth.example.com".into(),
            aud: "sesame".into(),
            sub: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            exp,
            iat: exp - 900,
            jti: Uuid::now_v7(),
            roles: Vec::new(),
            auth_time: None,
            amr: Vec::new(),
            client_id: None,
            scope: None,
        })
    }

    #[test]
    fn a_cached_token_still_verifies_with_the_same_claims() {
        let iss = ed();
        let tok = iss.issue(&user(), SessionId::new(), now()).unwrap();
        let first = iss.verify(&tok).unwrap();
        assert_eq!(iss.verified.len(), 1, "a success is remembered");
        assert!(iss.verified.get(&key_of(&tok)).is_some());
        assert_eq!(iss.verify(&tok).unwrap(), first);
        assert_eq!(iss.verified.len(), 1);
    }

    #[test]
    fn a_failed_verification_is_not_cached() {
        let iss = ed();
        let long_ago = now() - chrono::Duration::hours(1);
        let expired = iss.issue(&user(), SessionId::new(), long_ago).unwrap();
        let other = ed().issue(&user(), SessionId::new(), now()).unwrap();
        for tok in [expired.as_str(), other.as_str(), "junk", ""] {
            assert!(iss.verify(tok).is_err());
        }
        assert_eq!(iss.verified.len(), 0);
    }

    #[test]
    fn a_cached_token_is_rejected_as_expired_once_exp_and_leeway_have_passed() {
        let iss = ed(); // leeway 5 s
        let tok = iss.issue(&user(), SessionId::new(), now()).unwrap();
        let exp = iss.verify(&tok).unwrap().exp;
        let key = key_of(&tok);
        let at = |secs: i64| u64::try_from(secs).unwrap();
        // jsonwebtoken's rule: expired when exp < now - leeway.
        assert!(matches!(iss.cached(&key, at(exp + 5)), Some(Ok(_))));
        assert!(matches!(
            iss.cached(&key, at(exp + 6)),
            Some(Err(AuthError::InvalidToken("expired")))
        ));
    }

    #[test]
    fn verify_checks_exp_on_a_cache_hit() {
        // A token that expired an hour ago, planted in the cache as if it had been verified while
        // it was valid: the cache hit must still say "expired".
        let iss = ed();
        let long_ago = now() - chrono::Duration::hours(1);
        let tok = iss.issue(&user(), SessionId::new(), long_ago).unwrap();
        let claims: AccessClaims =
            serde_json::from_slice(&B64.decode(tok.split('.').nth(1).unwrap()).unwrap()).unwrap();
        iss.verified
            .insert(key_of(&tok), Arc::new(claims), 0, iss.validation.leeway);
        assert!(matches!(
            iss.verify(&tok),
            Err(AuthError::InvalidToken("expired"))
        ));
    }

    #[test]
    fn a_token_one_byte_off_a_cached_token_is_rejected() {
        let iss = ed();
        let tok = iss.issue(&user(), SessionId::new(), now()).unwrap();
        iss.verify(&tok).unwrap();
        let header_len = tok.find('.').unwrap();
        for i in 0..tok.len() {
            let mut bytes = tok.clone().into_bytes();
            if bytes[i] == b'.' {
                continue;
            }
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            let result = iss.verify(&forged);
            if i < header_len {
                // A changed header may fail earlier (unknown kid, wrong typ): any rejection.
                assert!(result.is_err(), "byte {i}: {result:?}");
            } else {
                assert!(
                    matches!(
                        result,
                        Err(AuthError::InvalidToken("bad_signature" | "malformed"))
                    ),
                    "byte {i}: {result:?}"
                );
            }
        }
        assert_eq!(iss.verified.len(), 1, "only the genuine token is cached");
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first() {
        let cache = VerifiedCache::new(8);
        let now = 1_000_000;
        for i in 0..8u8 {
            // Half expired (exp well before now), half live.
            let exp = if i % 2 == 0 { 1_000 } else { 2_000_000 };
            cache.insert([i; 32], claims_expiring_at(exp), now, 5);
        }
        cache.insert([100; 32], claims_expiring_at(2_000_000), now, 5);
        assert_eq!(cache.len(), 5, "4 live + the new one");
        for i in (1..8u8).step_by(2) {
            assert!(cache.get(&[i; 32]).is_some(), "live entry {i} kept");
        }
    }

    #[test]
    fn the_cache_stays_bounded_when_every_entry_is_live() {
        let cache = VerifiedCache::new(VERIFIED_CACHE_CAPACITY);
        let now = 1_000_000;
        let live = claims_expiring_at(2_000_000);
        for i in 0..VERIFIED_CACHE_CAPACITY + 1_000 {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(key, Arc::clone(&live), now, 5);
            assert!(cache.len() <= VERIFIED_CACHE_CAPACITY);
        }
        assert!(cache.len() > 0, "the newest entry is always kept");
    }

    #[test]
    fn an_issuer_keeps_verifying_past_the_cache_capacity() {
        let mut hs = TokenIssuer::hs256(&[9u8; 32], settings());
        hs.verified = VerifiedCache::new(4);
        let tokens: Vec<String> = (0..10)
            .map(|_| hs.issue(&user(), SessionId::new(), now()).unwrap())
            .collect();
        for tok in tokens.iter().chain(&tokens) {
            assert!(hs.verify(tok).is_ok());
            assert!(hs.verified.len() <= 4);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_signed_token_verifies_and_any_flipped_byte_does_not(idx in 0usize..200) {
            let iss = ed();
            let tok = iss.issue(&user(), SessionId::new(), now()).unwrap();
            proptest::prop_assert!(iss.verify(&tok).is_ok());
            let mut bytes = tok.into_bytes();
            let i = idx % bytes.len();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            proptest::prop_assert!(iss.verify(&forged).is_err());
        }
    }
}
