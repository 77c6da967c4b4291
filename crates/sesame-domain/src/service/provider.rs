//! [`Provider`]: what registered clients and the browsers of their users may do with Sesame as
//! an OpenID Connect provider: client authentication at the token endpoint, the single-sign-on
//! browser session, remembered consent, authorization codes and their exchange (with PKCE),
//! refreshes bound to the client, the `client_credentials` grant, ID tokens and UserInfo.
//!
//! It refuses: parsing requests and choosing error codes for the authorization endpoint (the
//! [`crate::oidc`] rules), HTTP, cookies and pages (the `sesame` crate's), and passwords: a
//! browser signs in through [`SignIn`] with an attempt made [`LoginAttempt::for_browser`], so
//! the rate limits, pauses and second factors are the API's own.
//!
//! [`LoginAttempt::for_browser`]: super::LoginAttempt::for_browser

use crate::audit::{AuditEvent, AuditKind};
use crate::client::{ClientId, ClientKind, GrantType, OAuthClient, Scope};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::id_token::IdTokenSigner;
use crate::mfa::Amr;
use crate::model::{ClientInfo, Session, SessionId, User};
use crate::oidc::{pkce_matches, user_claims, AuthCode, AuthorizationRequest, Consent, CODE_TTL};
use crate::store::{ClientGrant, NewSession, SessionKind};
use crate::token::{
    random_secret, AuthorizationCode, ClientAccess, RefreshToken, SessionAuth, TokenIssuer,
};
use std::sync::Arc;

use super::core::{chrono_dur, Core};
use super::sign_in::SessionSettings;
use super::SignIn;

/// A live single-sign-on session and its user.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub session: Session,
    pub user: User,
}

/// What the token endpoint hands a client.
#[derive(Debug)]
pub struct ClientTokens {
    pub access_token: String,
    pub expires_in: u64,
    /// Only with `offline_access` (and never for `client_credentials`).
    pub refresh_token: Option<RefreshToken>,
    /// Only with `openid`.
    pub id_token: Option<String>,
    /// The scope granted, space-delimited (RFC 6749 §5.1).
    pub scope: String,
}

/// What a presented token says about its session.
struct TokenSession {
    id: SessionId,
    user: crate::model::UserId,
    /// `None` for Sesame's own sign-in.
    client: Option<ClientId>,
    scope: Option<String>,
    expires_at: Timestamp,
}

/// The provider (see the module header).
pub struct Provider {
    core: Arc<Core>,
    sign_in: Arc<SignIn>,
    tokens: Arc<TokenIssuer>,
    ids: IdTokenSigner,
    sessions: SessionSettings,
    issuer: String,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

impl Provider {
    #[must_use]
    pub fn new(
        core: Arc<Core>,
        sign_in: Arc<SignIn>,
        tokens: Arc<TokenIssuer>,
        ids: IdTokenSigner,
        sessions: SessionSettings,
        issuer: String,
    ) -> Self {
        Self {
            core,
            sign_in,
            tokens,
            ids,
            sessions,
            issuer,
        }
    }

    /// "Now", by the services' clock.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.core.now()
    }

    /// `SESAME_PUBLIC_URL`: the `iss` of every token and the discovery documents' issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Every published key: the access-token keys and the ID-token keys (RFC 7517 JWK Set).
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        let mut keys: Vec<serde_json::Value> = self.tokens.jwks()["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for k in self.ids.jwks() {
            if !keys.iter().any(|have| have["kid"] == k["kid"]) {
                keys.push(k.clone());
            }
        }
        keys.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
        serde_json::json!({ "keys": keys })
    }

    /// The registered client a `client_id` names, if any.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] / [`AuthError::Internal`] on a storage failure.
    pub async fn client(&self, raw_id: &str) -> Result<Option<OAuthClient>, AuthError> {
        match ClientId::parse(raw_id) {
            Some(id) => Ok(self.core.store.client(id).await?),
            None => Ok(None),
        }
    }

    /// Client authentication at the token endpoint (RFC 6749 §2.3): a confidential client
    /// proves itself with its secret (compared in constant time); a public client sends none.
    ///
    /// # Errors
    /// [`AuthError::InvalidClient`] for an unknown client, a wrong or missing secret, or a
    /// secret from a public client; all alike.
    pub async fn authenticate_client(
        &self,
        raw_id: &str,
        secret: Option<&str>,
    ) -> Result<OAuthClient, AuthError> {
        let client = self.client(raw_id).await?.ok_or(AuthError::InvalidClient)?;
        let ok = match (client.kind, &client.secret_hash, secret) {
            (ClientKind::Confidential, Some(hash), Some(s)) => hash.verifies(s),
            (ClientKind::Public, _, None) => true,
            _ => false,
        };
        if ok {
            Ok(client)
        } else {
            tracing::info!(client_id = %client.id, "client authentication failed");
            Err(AuthError::InvalidClient)
        }
    }

    /// The live browser session whose cookie holds `token`, if any.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] / [`AuthError::Internal`] on a storage failure.
    pub async fn browser_session(&self, token: &str) -> Result<Option<BrowserSession>, AuthError> {
        let Some(token) = RefreshToken::parse(token) else {
            return Ok(None);
        };
        let t = self.core.now();
        let Some(state) = self.core.store.refresh_token_state(&token.hash()).await? else {
            return Ok(None);
        };
        let live = state.kind == SessionKind::Browser
            && state.used_at.is_none()
            && state.session.revoked_at.is_none()
            && state.session.expires_at > t
            && state.user.is_active;
        Ok(live.then_some(BrowserSession {
            session: state.session,
            user: state.user,
        }))
    }

    /// Whether `who` must be asked before `req.client` gets `req.scopes`: never for a
    /// first-party client; always with `prompt=consent`; otherwise unless a remembered consent
    /// covers every scope.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] / [`AuthError::Internal`] on a storage failure.
    pub async fn needs_consent(
        &self,
        req: &AuthorizationRequest,
        who: &User,
    ) -> Result<bool, AuthError> {
        if req.client.settings.first_party {
            return Ok(false);
        }
        if req.prompt.consent {
            return Ok(true);
        }
        let remembered = self.core.store.consent(who.id, req.client.id).await?;
        Ok(!remembered.is_some_and(|c| c.covers(&req.scopes)))
    }

    /// Remembers that `who` allowed `req.client` the requested scopes (with any it had
    /// allowed before).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] / [`AuthError::Internal`] on a storage failure.
    pub async fn grant_consent(
        &self,
        req: &AuthorizationRequest,
        who: &User,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let store = &self.core.store;
        let mut scopes = store
            .consent(who.id, req.client.id)
            .await?
            .map(|c| c.scopes)
            .unwrap_or_default();
        for s in &req.scopes {
            if !scopes.contains(s) {
                scopes.push(*s);
            }
        }
        scopes.sort();
        store
            .grant_consent(&Consent {
                user_id: who.id,
                client_id: req.client.id,
                scopes: scopes.clone(),
                granted_at: self.core.now(),
            })
            .await?;
        self.core
            .audit(
                AuditKind::OAuthConsentGranted,
                Some(who.id),
                client,
                serde_json::json!({"client_id": req.client.id, "scope": Scope::join(&scopes)}),
            )
            .await;
        Ok(())
    }

    /// Issues a single-use code for `req`, valid [`CODE_TTL`], for the user of `who`.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] / [`AuthError::Internal`] on a storage failure.
    pub async fn issue_code(
        &self,
        req: &AuthorizationRequest,
        who: &BrowserSession,
    ) -> Result<AuthorizationCode, AuthError> {
        if self.must_enrol(&who.user).await? {
            return Err(AuthError::MfaEnrolmentRequired);
        }
        let t = self.core.now();
        let code = AuthorizationCode::generate();
        self.core
            .store
            .insert_code(&AuthCode {
                hash: code.hash(),
                client_id: req.client.id,
                user_id: who.user.id,
                redirect_uri: req.redirect_uri.clone(),
                scopes: req.scopes.clone(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                auth_time: who.session.auth_time,
                amr: who.session.amr.clone(),
                created_at: t,
                expires_at: t + chrono_dur(CODE_TTL),
                used_at: None,
                issued_session: None,
            })
            .await?;
        if rand::random::<u8>() < 4 {
            if let Err(e) = self
                .core
                .store
                .prune_codes(t - chrono::Duration::hours(1))
                .await
            {
                tracing::warn!(error = %e, "pruning expired authorization codes failed");
            }
        }
        Ok(code)
    }

    /// The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6): the code must be
    /// unused, unexpired, issued to `client`, for this `redirect_uri`, and match the PKCE
    /// verifier. A refused exchange spends the code. A code presented again revokes the session
    /// its first exchange opened (RFC 6749 §4.1.2).
    ///
    /// # Errors
    /// [`AuthError::InvalidGrant`] saying which check failed; [`AuthError::UnauthorizedClient`]
    /// when the client may not use the grant.
    pub async fn exchange_code(
        &self,
        client: &OAuthClient,
        raw_code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        info: ClientInfo,
    ) -> Result<ClientTokens, AuthError> {
        if !client
            .settings
            .grants
            .contains(&GrantType::AuthorizationCode)
        {
            return Err(AuthError::UnauthorizedClient);
        }
        let refused = AuthError::InvalidGrant("the code is unknown, used or expired");
        let code = AuthorizationCode::parse(raw_code).ok_or(refused)?;
        let hash = code.hash();
        let store = &self.core.store;
        let t = self.core.now();
        let Some(stored) = store.code(&hash).await? else {
            return Err(AuthError::InvalidGrant(
                "the code is unknown, used or expired",
            ));
        };
        if stored.used_at.is_some() {
            return Err(self.reused(&stored, client, &info, t).await?);
        }
        let why = if stored.client_id != client.id {
            Some("the code was issued to another client")
        } else if stored.expires_at <= t {
            Some("the code is unknown, used or expired")
        } else if redirect_uri != Some(stored.redirect_uri.as_str()) {
            // RFC 6749 §4.1.3: required, and identical, when the request carried one (it
            // always does here: OpenID Connect Core makes it required).
            Some("redirect_uri does not match the authorization request")
        } else {
            match (&stored.code_challenge, verifier) {
                (Some(c), Some(v)) if pkce_matches(c, v) => None,
                (Some(_), Some(_)) => Some("the code_verifier does not match the code_challenge"),
                (Some(_), None) => Some("code_verifier is required"),
                // RFC 9700 §2.1.1: a verifier without a challenge is refused too, so an
                // attacker cannot inject a code that was issued without PKCE.
                (None, Some(_)) => {
                    Some("a code_verifier was sent but the request had no code_challenge")
                }
                (None, None) => None,
            }
        };
        if let Some(why) = why {
            store.burn_code(&hash, t).await?;
            return Err(AuthError::InvalidGrant(why));
        }
        let user = store
            .user_by_id(stored.user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(AuthError::InvalidGrant("the user is no longer active"))?;
        if self.must_enrol(&user).await? {
            return Err(AuthError::InvalidGrant(
                "the account must enrol a second factor first",
            ));
        }
        let sid = SessionId::new();
        let refresh = RefreshToken::generate();
        let expires = t + chrono_dur(
            client
                .settings
                .refresh_token_ttl
                .unwrap_or(self.sessions.refresh_ttl),
        );
        let new = NewSession {
            session: Session {
                id: sid,
                user_id: user.id,
                created_at: t,
                last_used_at: t,
                expires_at: expires,
                revoked_at: None,
                ip: info.ip_text(),
                user_agent: info.user_agent.clone(),
                auth_time: stored.auth_time,
                amr: stored.amr.clone(),
            },
            kind: SessionKind::Client(ClientGrant {
                client_id: client.id,
                scopes: stored.scopes.clone(),
            }),
            refresh_secret: random_secret(),
            first_refresh_hash: refresh.hash(),
            audit: Some(AuditEvent::new(
                AuditKind::OAuthTokensIssued,
                Some(user.id),
                &info,
                serde_json::json!({"client_id": client.id, "session_id": sid, "scope": Scope::join(&stored.scopes)}),
                t,
            )),
        };
        if !store.redeem_code(&hash, t, &new).await? {
            // Lost a race with another exchange of the same code (a replay like any other), or
            // it expired meanwhile.
            return match store.code(&hash).await? {
                Some(now_used) if now_used.used_at.is_some() => {
                    Err(self.reused(&now_used, client, &info, t).await?)
                }
                _ => Err(AuthError::InvalidGrant(
                    "the code is unknown, used or expired",
                )),
            };
        }
        let auth = SessionAuth {
            session: sid,
            auth_time: stored.auth_time,
            amr: stored.amr.clone(),
            enrolment_only: false,
            client: Some(ClientAccess {
                client_id: client.id,
                scopes: stored.scopes.clone(),
                access_ttl: client.settings.access_token_ttl,
                first_party: client.settings.first_party,
            }),
        };
        let access_token = self.tokens.issue_for(&user, &auth, t)?;
        self.tokens_for(
            client,
            &user,
            &auth,
            (access_token, refresh),
            stored.nonce.as_deref(),
            t,
        )
    }

    /// Whether `user` must enrol a second factor (`SESAME_MFA_REQUIRED`) before any client gets
    /// tokens for them: the first-party API then hands out enrolment-only tokens, and a client
    /// gets nothing.
    async fn must_enrol(&self, user: &User) -> Result<bool, AuthError> {
        let has_factor = self
            .core
            .store
            .user_factors(user.id)
            .await?
            .iter()
            .any(crate::mfa::Factor::is_active);
        Ok(super::factors::enrolment_only(
            &self.core.mfa,
            user,
            has_factor,
        ))
    }

    /// A used code presented again by the client it was issued to: what its first exchange
    /// opened is revoked (RFC 6749 §4.1.2). Another client presenting it revokes nothing (it
    /// could otherwise end a stranger's session). The answer is `invalid_grant` either way.
    async fn reused(
        &self,
        stored: &AuthCode,
        client: &OAuthClient,
        info: &ClientInfo,
        t: Timestamp,
    ) -> Result<AuthError, AuthError> {
        if stored.client_id == client.id {
            if let Some(session) = stored.issued_session {
                self.core.store.revoke_session(session, t).await?;
            }
            self.core
                .audit(
                    AuditKind::OAuthCodeReused,
                    Some(stored.user_id),
                    info,
                    serde_json::json!({"client_id": stored.client_id, "session_id": stored.issued_session}),
                )
                .await;
            tracing::warn!(client_id = %stored.client_id, event = "oauth_code_reused", "an authorization code was presented again; what it issued is revoked");
        }
        Ok(AuthError::InvalidGrant(
            "the code is unknown, used or expired",
        ))
    }

    /// The `refresh_token` grant for a client's own session: rotation and reuse detection as
    /// for first-party sessions; a new ID token when `openid` was granted.
    ///
    /// # Errors
    /// [`AuthError::InvalidRefreshToken`] for a token that is not a live one of this client;
    /// [`AuthError::UnauthorizedClient`] when the client may not refresh.
    pub async fn refresh(
        &self,
        client: &OAuthClient,
        token: &str,
        info: &ClientInfo,
    ) -> Result<ClientTokens, AuthError> {
        if !client.settings.grants.contains(&GrantType::RefreshToken) {
            return Err(AuthError::UnauthorizedClient);
        }
        let (pair, auth) = self.sign_in.refresh_for(token, Some(client), info).await?;
        if auth.client.is_none() {
            // An API session of the password grant: a first-party pair, no ID token.
            return Ok(ClientTokens {
                access_token: pair.access_token,
                expires_in: pair.expires_in,
                refresh_token: Some(pair.refresh_token),
                id_token: None,
                scope: String::new(),
            });
        }
        let t = self.core.now();
        self.tokens_for(
            client,
            &pair.user,
            &auth,
            (pair.access_token, pair.refresh_token),
            None,
            t,
        )
    }

    /// The `client_credentials` grant (RFC 6749 §4.4): a token for a confidential client
    /// itself, with no user, no refresh token and no ID token. User scopes mean nothing here,
    /// so any requested scope is refused.
    ///
    /// # Errors
    /// [`AuthError::UnauthorizedClient`] for a client without the grant;
    /// [`AuthError::InvalidScope`] when a scope is asked for.
    pub fn client_credentials(
        &self,
        client: &OAuthClient,
        scope: Option<&str>,
    ) -> Result<ClientTokens, AuthError> {
        if client.kind != ClientKind::Confidential
            || !client
                .settings
                .grants
                .contains(&GrantType::ClientCredentials)
        {
            return Err(AuthError::UnauthorizedClient);
        }
        if scope.is_some_and(|s| !s.trim().is_empty()) {
            return Err(AuthError::InvalidScope);
        }
        let t = self.core.now();
        let ttl = client.settings.access_token_ttl;
        Ok(ClientTokens {
            access_token: self.tokens.issue_service(client.id, None, ttl, t)?,
            expires_in: self.tokens.ttl_or_default(ttl).as_secs(),
            refresh_token: None,
            id_token: None,
            scope: String::new(),
        })
    }

    /// The UserInfo response (OpenID Connect Core §5.3) for a client's access token: `sub` and
    /// the claims its scopes grant. Needs `openid`.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a token that is not a live client token;
    /// [`AuthError::InvalidScope`] without `openid`.
    pub async fn userinfo(
        &self,
        bearer: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
        let who = self.sign_in.authenticate_client_token(bearer).await?;
        let scopes = Scope::parse_list(who.claims.scope.as_deref().unwrap_or(""), "scope")
            .map_err(|_| AuthError::InvalidToken("bad_scope"))?;
        if !scopes.contains(&Scope::OpenId) {
            return Err(AuthError::InvalidScope);
        }
        Ok(user_claims(&who.user, &scopes))
    }

    /// The claims of an `id_token_hint` this provider signed (expired ones included: OpenID
    /// Connect RP-Initiated Logout 1.0 §2).
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when it is not one of ours.
    pub fn read_id_token_hint(&self, hint: &str) -> Result<serde_json::Value, AuthError> {
        self.ids.read_hint(hint, &self.issuer)
    }

    /// RP-initiated logout: ends `browser` (the single-sign-on session the page decided may
    /// end: its user's own hint, or a confirmed form) and the client session `sid` of the
    /// hint, when it is `sub`'s. Returns how many sessions ended.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn end_session(
        &self,
        browser: Option<&BrowserSession>,
        hint: Option<&serde_json::Value>,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        let t = self.core.now();
        let store = &self.core.store;
        let mut ended = 0;
        let mut user = None;
        if let Some(who) = browser {
            if store.revoke_session(who.session.id, t).await? {
                ended += 1;
            }
            user = Some(who.user.id);
        }
        let sid = hint
            .and_then(|h| h["sid"].as_str())
            .and_then(|s| uuid::Uuid::parse_str(s).ok());
        let sub = hint
            .and_then(|h| h["sub"].as_str())
            .and_then(|s| uuid::Uuid::parse_str(s).ok());
        if let (Some(sid), Some(sub)) = (sid, sub) {
            let sub = crate::model::UserId::from_uuid(sub);
            if store
                .revoke_session_of(sub, SessionId::from_uuid(sid), t)
                .await?
            {
                ended += 1;
            }
            user = user.or(Some(sub));
        }
        if ended > 0 {
            self.core
                .audit(
                    AuditKind::Logout,
                    user,
                    client,
                    serde_json::json!({"sessions_ended": ended, "via": "end_session_endpoint"}),
                )
                .await;
        }
        Ok(ended)
    }

    /// Token revocation (RFC 7009 §2.1) by the client the token was issued to: a refresh token
    /// or an access token of one of its sessions ends that session, so the session's other
    /// tokens stop working too (§2.1 allows it, and introspection answers `active: false` at
    /// once). An unknown, malformed or expired token is no error (§2.2).
    ///
    /// Returns `false` for a live `client_credentials` token, which cannot be revoked (the
    /// caller answers `unsupported_token_type`, RFC 7009 §2.2.1; it expires on its own).
    ///
    /// # Errors
    /// [`AuthError::UnauthorizedClient`] for a live token issued to another client or to
    /// Sesame's own sign-in.
    pub async fn revoke(&self, client: &OAuthClient, token: &str) -> Result<bool, AuthError> {
        let Some(session) = self.token_session(token).await? else {
            // RFC 7009 §2.2.1: a live `client_credentials` token has no session to end.
            return match self.tokens.verify_any(token) {
                Ok(_) => Ok(false),
                Err(_) => Ok(true),
            };
        };
        // A first-party client registered with the password grant holds API sessions.
        let password_client = session.client.is_none()
            && client.settings.first_party
            && client.settings.grants.contains(&GrantType::Password);
        if session.client != Some(client.id) && !password_client {
            return Err(AuthError::UnauthorizedClient);
        }
        self.core
            .store
            .revoke_session(session.id, self.core.now())
            .await?;
        tracing::info!(client_id = %client.id, session_id = %session.id, "token revoked by its client");
        Ok(true)
    }

    /// Token introspection (RFC 7662 §2.2) for an authenticated confidential client: whether
    /// `token` (an access or refresh token) is active now, and its claims. A client sees its own
    /// tokens; a first-party client (a resource server the operator registered) sees every
    /// token. Anything else, like an inactive token, is `{"active": false}`, which says nothing
    /// more.
    ///
    /// # Errors
    /// [`AuthError::InvalidClient`] for a public client (it cannot authenticate);
    /// storage failures.
    pub async fn introspect(
        &self,
        client: &OAuthClient,
        token: &str,
    ) -> Result<serde_json::Value, AuthError> {
        if client.kind != ClientKind::Confidential {
            return Err(AuthError::InvalidClient);
        }
        let inactive = serde_json::json!({"active": false});
        let visible =
            |owner: Option<ClientId>| client.settings.first_party || owner == Some(client.id);
        // An access token: a JWT this issuer signed, unexpired, whose session (if it has one)
        // is live.
        if let Ok(mut claims) = self.tokens.verify_any(token) {
            let owner = claims["client_id"].as_str().and_then(ClientId::parse);
            // An enrolment-only token (`SESAME_MFA_REQUIRED`) is good for nothing but enrolling
            // a second factor at Sesame: no resource server may take it for a session.
            if !visible(owner) || claims["aud"] == crate::token::ENROLMENT_AUDIENCE {
                return Ok(inactive);
            }
            // A `client_credentials` token (no session) lives as long as its client does.
            if claims.get("sid").is_none() {
                let live = match owner {
                    Some(id) => self.core.store.client(id).await?.is_some(),
                    None => false,
                };
                if !live {
                    return Ok(inactive);
                }
            }
            if let (Some(sid), Some(sub)) = (
                claims["sid"]
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok()),
                claims["sub"]
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok()),
            ) {
                let live = self
                    .core
                    .store
                    .active_session_user(
                        SessionId::from_uuid(sid),
                        crate::model::UserId::from_uuid(sub),
                        self.core.now(),
                    )
                    .await?;
                let Some(live) = live else {
                    return Ok(inactive);
                };
                if let Some(u) = live.user.username {
                    claims["username"] = u.as_str().into();
                }
            }
            claims["active"] = true.into();
            claims["token_type"] = "Bearer".into();
            if let Some(obj) = claims.as_object_mut() {
                obj.remove("roles");
                obj.remove("amr");
            }
            return Ok(claims);
        }
        let Some(session) = self.token_session(token).await? else {
            return Ok(inactive);
        };
        if session.client.is_none() || !visible(session.client) {
            return Ok(inactive);
        }
        Ok(serde_json::json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": session.client.map(|c| c.to_string()),
            "scope": session.scope,
            "sub": session.user.to_string(),
            "iss": self.issuer,
            "exp": session.expires_at.timestamp(),
        }))
    }

    /// The live session a presented token belongs to: a current refresh token of a live
    /// session, or an unexpired access token of this issuer whose session is live. Browser
    /// sessions never count.
    async fn token_session(&self, token: &str) -> Result<Option<TokenSession>, AuthError> {
        let t = self.core.now();
        if let Ok(claims) = self.tokens.verify(token) {
            let live = self
                .core
                .store
                .active_session_user(claims.session_id(), claims.user_id(), t)
                .await?;
            return Ok(live.map(|live| TokenSession {
                id: claims.session_id(),
                user: claims.user_id(),
                client: claims.client_id.as_deref().and_then(ClientId::parse),
                scope: claims.scope.clone(),
                expires_at: live.expires_at,
            }));
        }
        let Some(refresh) = RefreshToken::parse(token) else {
            return Ok(None);
        };
        let Some(state) = self.core.store.refresh_token_state(&refresh.hash()).await? else {
            return Ok(None);
        };
        let session = &state.session;
        let live = state.used_at.is_none()
            && session.revoked_at.is_none()
            && session.expires_at > t
            && state.user.is_active;
        let client = match &state.kind {
            SessionKind::Client(g) => Some(g),
            SessionKind::Api => None,
            SessionKind::Browser => return Ok(None),
        };
        Ok(live.then(|| TokenSession {
            id: session.id,
            user: session.user_id,
            client: client.map(|g| g.client_id),
            scope: client.map(|g| Scope::join(&g.scopes)),
            expires_at: session.expires_at,
        }))
    }

    /// The token response for a client session: the access token, the refresh token only with
    /// `offline_access`, the ID token only with `openid`.
    fn tokens_for(
        &self,
        client: &OAuthClient,
        user: &User,
        auth: &SessionAuth,
        (access_token, refresh): (String, RefreshToken),
        nonce: Option<&str>,
        t: Timestamp,
    ) -> Result<ClientTokens, AuthError> {
        let scopes = auth
            .client
            .as_ref()
            .map(|c| c.scopes.clone())
            .unwrap_or_default();
        let id_token = if scopes.contains(&Scope::OpenId) {
            Some(self.id_token(client, user, &scopes, auth, nonce, t)?)
        } else {
            None
        };
        let ttl = client.settings.access_token_ttl;
        Ok(ClientTokens {
            access_token,
            expires_in: self.tokens.ttl_or_default(ttl).as_secs(),
            refresh_token: scopes.contains(&Scope::OfflineAccess).then_some(refresh),
            id_token,
            scope: Scope::join(&scopes),
        })
    }

    /// An ID token (OpenID Connect Core §2, §3.1.3.6) for `client`, signed with its algorithm.
    fn id_token(
        &self,
        client: &OAuthClient,
        user: &User,
        scopes: &[Scope],
        auth: &SessionAuth,
        nonce: Option<&str>,
        t: Timestamp,
    ) -> Result<String, AuthError> {
        let iat = t.timestamp();
        let ttl = self
            .tokens
            .ttl_or_default(client.settings.access_token_ttl)
            .as_secs();
        let mut claims = user_claims(user, scopes);
        let mut put = |k: &str, v: serde_json::Value| {
            claims.insert(k.to_owned(), v);
        };
        put("iss", self.issuer.clone().into());
        put("aud", client.id.to_string().into());
        put("azp", client.id.to_string().into());
        put("iat", iat.into());
        put(
            "exp",
            iat.saturating_add(i64::try_from(ttl).unwrap_or(3600))
                .into(),
        );
        put("auth_time", auth.auth_time.timestamp().into());
        put("sid", auth.session.to_string().into());
        put("amr", amr_claim(&auth.amr).into());
        if let Some(n) = nonce {
            put("nonce", n.into());
        }
        self.ids.sign(
            client.settings.id_token_alg,
            &serde_json::Value::Object(claims),
        )
    }
}

fn amr_claim(amr: &Amr) -> Vec<String> {
    amr.methods()
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect()
}
