//! The OpenID Connect authorization endpoint ([`AUTHORIZE_PATH`], GET and POST, OpenID Connect
//! Core §3.1.2.1) and the hosted pages it shows: sign in, second factor, consent, and the error
//! page for a request that must not be sent back to its client.
//!
//! The request is checked by [`RawAuthorization::check`]: while the client or its redirect URI
//! is not established, a fault is shown here and nobody is redirected (RFC 6749 §4.1.2.1); after
//! that, faults go back to the client as `error=` at its redirect URI, with `state` and `iss`
//! (RFC 9207). A browser that is signed in (the single-sign-on cookie, [`sso_cookie_name`]) is
//! not asked again unless `prompt=login` or `max_age` says so; `prompt=none` never shows a page.
//!
//! The pages carry the authorization request in hidden fields and post it back to the same
//! path with `sesame_action` set, so nothing about a pending request is stored, and every post
//! checks the whole request again. Every form is protected twice against cross-site posts:
//! Fetch Metadata / `Origin` (as the link pages' forms are) and a double-submit token
//! ([`CSRF_COOKIE`]). Passwords and second factors go through [`SignIn`] exactly as on the JSON
//! API, after the same rate limits.
//!
//! Refuses: deciding who may sign in or what a code carries (the services'), and scripts (these
//! pages have none).
//!
//! [`SignIn`]: sesame_domain::service::SignIn

use super::layout::{with_retry_after, Frame, Lang};
use super::{frame, from_another_site, message, our_fault};
use crate::http::cookies::{append, constant_time_eq, cookie, random_token, DEVICE_COOKIE};
use crate::http::extract::{first_bad_pair, Client};
use crate::http::problem::ApiError;
use crate::http::AppState;
use crate::mail::templates::escape_html;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sesame_domain::client::Scope;
use sesame_domain::model::ClientInfo;
use sesame_domain::oidc::{AuthorizationRequest, AuthorizeError, RawAuthorization};
use sesame_domain::password::Password;
use sesame_domain::service::{BrowserSession, LoginOutcome, SecondFactor, TokenPair};
use sesame_domain::AuthError;

/// The authorization endpoint.
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";

/// The double-submit CSRF cookie of the hosted forms.
pub const CSRF_COOKIE: &str = "sesame_form";

/// How recently a `prompt=login` request must have signed in when its consent form comes back.
const RECENT_SIGN_IN_SECS: i64 = 600;

/// The single-sign-on cookie's name: with the `__Host-` prefix (Secure, no Domain, Path=/) when
/// the public URL is https; plain on http (local development), where `Secure` cannot be set.
#[must_use]
pub fn sso_cookie_name(state: &AppState) -> &'static str {
    if state.http.hsts {
        "__Host-sesame_sso"
    } else {
        "sesame_sso"
    }
}

fn secure(state: &AppState) -> &'static str {
    if state.http.hsts {
        "; Secure"
    } else {
        ""
    }
}

/// What a hosted form posts besides the authorization request.
#[derive(Debug, Default)]
struct FormFields {
    action: Option<String>,
    csrf: Option<String>,
    login: Option<String>,
    password: Option<String>,
    mfa_token: Option<String>,
    code: Option<String>,
    decision: Option<String>,
}

/// Splits decoded pairs into the form's own fields and the authorization request.
fn split(pairs: Vec<(String, String)>) -> (FormFields, RawAuthorization) {
    let mut fields = FormFields::default();
    let mut rest = Vec::new();
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "sesame_action" => &mut fields.action,
            "sesame_csrf" => &mut fields.csrf,
            "login" => &mut fields.login,
            "password" => &mut fields.password,
            "mfa_token" => &mut fields.mfa_token,
            "code" => &mut fields.code,
            "decision" => &mut fields.decision,
            _ => {
                rest.push((k, v));
                continue;
            }
        };
        *slot = Some(v);
    }
    (fields, RawAuthorization::from_pairs(rest))
}

/// GET: an authorization request in the query string.
pub async fn authorize_get(
    State(state): State<AppState>,
    lang: Lang,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let f = frame(&state, lang);
    if first_bad_pair(query.as_bytes()).is_some() {
        return error_page(&f, "invalid_request");
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&query).unwrap_or_default();
    let (_, raw) = split(pairs);
    let page = Page::new(&state, f, &headers);
    page.authorize(&raw).await
}

/// POST: an authorization request sent as a form (OpenID Connect Core §3.1.2.1), or one of the
/// hosted pages' forms (`sesame_action`).
pub async fn authorize_post(
    State(state): State<AppState>,
    lang: Lang,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = frame(&state, lang);
    if first_bad_pair(&body).is_some() {
        return error_page(&f, "invalid_request");
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (fields, raw) = split(pairs);
    let page = Page::new(&state, f, &headers);
    let Some(action) = fields.action.clone() else {
        return page.authorize(&raw).await;
    };
    if from_another_site(&headers, &state.pages.public_origin) || !page.csrf_ok(&fields) {
        return page.form_expired(&raw).await;
    }
    match action.as_str() {
        "sign_in" => page.sign_in(&raw, fields, client).await,
        "second_factor" => page.second_factor(&raw, fields, client).await,
        "consent" => page.consent(&raw, fields, client).await,
        _ => error_page(&f, "invalid_request"),
    }
}

/// One answer of the endpoint: the state, the page frame, the request's cookies.
struct Page<'a> {
    state: &'a AppState,
    f: Frame<'a>,
    headers: &'a HeaderMap,
    /// The CSRF token of this browser: its cookie's, or a new one to set.
    csrf: String,
    new_csrf: bool,
}

/// The request checked, or the answer that ends it.
enum Checked {
    Ok(Box<AuthorizationRequest>),
    Done(Response),
}

impl<'a> Page<'a> {
    fn new(state: &'a AppState, f: Frame<'a>, headers: &'a HeaderMap) -> Self {
        let existing = cookie(headers, CSRF_COOKIE).filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        let (csrf, new_csrf) = match existing {
            Some(v) => (v.to_owned(), false),
            None => (random_token::<32>(), true),
        };
        Self {
            state,
            f,
            headers,
            csrf,
            new_csrf,
        }
    }

    fn csrf_ok(&self, fields: &FormFields) -> bool {
        !self.new_csrf
            && fields
                .csrf
                .as_deref()
                .is_some_and(|c| constant_time_eq(c.as_bytes(), self.csrf.as_bytes()))
    }

    /// Checks the request; a fault is answered here.
    async fn check(&self, raw: &RawAuthorization) -> Checked {
        let client = match raw.client_id() {
            Some(id) => match self.state.provider.client(id).await {
                Ok(c) => c,
                Err(e) => return Checked::Done(self.failure(e)),
            },
            None => None,
        };
        match raw.check(client) {
            Ok(req) => Checked::Ok(Box::new(req)),
            Err(AuthorizeError::NoRedirect { code, description }) => {
                tracing::info!(
                    error = code,
                    description,
                    "authorization request refused without redirect"
                );
                Checked::Done(error_page(&self.f, code))
            }
            Err(AuthorizeError::Redirect {
                redirect_uri,
                state,
                error,
                description,
            }) => Checked::Done(self.redirect_error(
                &redirect_uri,
                state.as_deref(),
                error,
                &description,
            )),
        }
    }

    /// The authorization request itself: sign in, consent, or a code at once.
    async fn authorize(&self, raw: &RawAuthorization) -> Response {
        let req = match self.check(raw).await {
            Checked::Ok(r) => r,
            Checked::Done(resp) => return resp,
        };
        let session = match self.sso_session().await {
            Ok(s) => s,
            Err(e) => return self.failure(e),
        };
        let now = self.state.provider.now();
        match session {
            Some(s) if !req.prompt.login && req.session_fresh_enough(s.session.auth_time, now) => {
                self.after_sign_in(raw, &req, &s, None).await
            }
            _ if req.prompt.none => self.redirect_error(
                &req.redirect_uri,
                req.state.as_deref(),
                "login_required",
                "the user is not signed in (or must sign in again) and prompt=none forbids asking",
            ),
            _ => self.sign_in_page(raw, &req, StatusCode::OK, None, req.login_hint.as_deref()),
        }
    }

    /// After a sign-in (or with a live session): consent if needed, else the code.
    async fn after_sign_in(
        &self,
        raw: &RawAuthorization,
        req: &AuthorizationRequest,
        who: &BrowserSession,
        new_cookie: Option<&str>,
    ) -> Response {
        let mut resp = match self.state.provider.needs_consent(req, &who.user).await {
            Ok(false) => self.issue(req, who).await,
            Ok(true) if req.prompt.none => self.redirect_error(
                &req.redirect_uri,
                req.state.as_deref(),
                "consent_required",
                "the user has not allowed this client and prompt=none forbids asking",
            ),
            Ok(true) => self.consent_page(raw, req, who),
            Err(e) => self.failure(e),
        };
        if let Some(token) = new_cookie {
            append(
                &mut resp,
                &format!(
                    "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                    sso_cookie_name(self.state),
                    self.state.http.refresh_ttl.as_secs(),
                    secure(self.state),
                ),
            );
        }
        resp
    }

    /// Issues the code and sends the browser back to the client.
    async fn issue(&self, req: &AuthorizationRequest, who: &BrowserSession) -> Response {
        match self.state.provider.issue_code(req, who).await {
            Ok(code) => {
                let mut params = vec![("code", code.reveal())];
                if let Some(s) = &req.state {
                    params.push(("state", s));
                }
                params.push(("iss", self.state.provider.issuer()));
                redirect_to(&req.redirect_uri, &params)
            }
            // `SESAME_MFA_REQUIRED` applies to the account and it has no second factor yet.
            Err(AuthError::MfaEnrolmentRequired) => self.redirect_error(
                &req.redirect_uri,
                req.state.as_deref(),
                "access_denied",
                "the account must enrol a second factor before signing in to applications",
            ),
            Err(e) => self.failure(e),
        }
    }

    async fn sso_session(&self) -> Result<Option<BrowserSession>, AuthError> {
        match cookie(self.headers, sso_cookie_name(self.state)) {
            Some(token) => self.state.provider.browser_session(token).await,
            None => Ok(None),
        }
    }

    async fn sign_in(
        &self,
        raw: &RawAuthorization,
        fields: FormFields,
        client: ClientInfo,
    ) -> Response {
        let req = match self.check(raw).await {
            Checked::Ok(r) => r,
            Checked::Done(resp) => return resp,
        };
        let login = fields.login.unwrap_or_default();
        let password = fields.password.unwrap_or_default();
        if login.trim().is_empty() || password.is_empty() {
            let msg = self.f.t("authorize-wrong-credentials");
            return self.sign_in_page(
                raw,
                &req,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&msg),
                Some(&login),
            );
        }
        let sign_in = &self.state.sign_in;
        let device = cookie(self.headers, DEVICE_COOKIE);
        let attempt = match sign_in.begin_login(&login, device).await {
            Ok(a) => a.for_browser(),
            Err(e) => return self.sign_in_refused(raw, &req, &login, e),
        };
        if let Err(e) = self
            .state
            .limits
            .login(client.ip, &login, attempt.known_device())
            .await
        {
            return self.sign_in_refused(raw, &req, &login, api_auth(e));
        }
        match sign_in
            .login(attempt, &Password::for_login(&password), client)
            .await
        {
            Ok(LoginOutcome::SignedIn(pair)) => self.signed_in(raw, &req, pair).await,
            Ok(LoginOutcome::MfaRequired(c)) => {
                self.second_factor_page(raw, &req, c.token.reveal(), StatusCode::OK, None)
            }
            Err(e) => self.sign_in_refused(raw, &req, &login, e),
        }
    }

    async fn signed_in(
        &self,
        raw: &RawAuthorization,
        req: &AuthorizationRequest,
        pair: TokenPair,
    ) -> Response {
        let token = pair.refresh_token.reveal().to_owned();
        match self.state.provider.browser_session(&token).await {
            Ok(Some(who)) => self.after_sign_in(raw, req, &who, Some(&token)).await,
            Ok(None) => self.failure(AuthError::Internal(
                "a browser session just opened is not live".into(),
            )),
            Err(e) => self.failure(e),
        }
    }

    async fn second_factor(
        &self,
        raw: &RawAuthorization,
        fields: FormFields,
        client: ClientInfo,
    ) -> Response {
        let req = match self.check(raw).await {
            Checked::Ok(r) => r,
            Checked::Done(resp) => return resp,
        };
        let token = fields.mfa_token.unwrap_or_default();
        let code: String = fields
            .code
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if code.is_empty() {
            let msg = self.f.t("authorize-wrong-code");
            return self.second_factor_page(
                raw,
                &req,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&msg),
            );
        }
        if let Err(e) = self.state.limits.second_factor(client.ip).await {
            return self.second_factor_refused(raw, &req, &token, api_auth(e));
        }
        // Six digits are an authenticator app's code; anything else is a recovery code.
        let answer = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            SecondFactor::Totp(code)
        } else {
            SecondFactor::RecoveryCode(code)
        };
        match self
            .state
            .sign_in
            .complete_mfa(&token, &answer, client, true)
            .await
        {
            Ok(pair) => self.signed_in(raw, &req, pair).await,
            Err(e) => self.second_factor_refused(raw, &req, &token, e),
        }
    }

    async fn consent(
        &self,
        raw: &RawAuthorization,
        fields: FormFields,
        client: ClientInfo,
    ) -> Response {
        let req = match self.check(raw).await {
            Checked::Ok(r) => r,
            Checked::Done(resp) => return resp,
        };
        let who = match self.sso_session().await {
            Ok(Some(who)) => who,
            Ok(None) => {
                return self.sign_in_page(
                    raw,
                    &req,
                    StatusCode::OK,
                    None,
                    req.login_hint.as_deref(),
                )
            }
            Err(e) => return self.failure(e),
        };
        // The consent page follows a sign-in that met `prompt=login` and `max_age`; reading it
        // takes time, so its answer is judged by how recent the sign-in is, with a margin (a
        // `max_age=0` request would otherwise loop between the two pages).
        let now = self.state.provider.now();
        let age = (now - who.session.auth_time).num_seconds();
        let too_old_for_login = req.prompt.login && age > RECENT_SIGN_IN_SECS;
        let too_old_for_max_age = req.max_age.is_some_and(|m| {
            age > i64::try_from(m)
                .unwrap_or(i64::MAX)
                .max(RECENT_SIGN_IN_SECS)
        });
        if too_old_for_login || too_old_for_max_age {
            return self.sign_in_page(raw, &req, StatusCode::OK, None, req.login_hint.as_deref());
        }
        if fields.decision.as_deref() != Some("allow") {
            return self.redirect_error(
                &req.redirect_uri,
                req.state.as_deref(),
                "access_denied",
                "the user did not allow access",
            );
        }
        if let Err(e) = self
            .state
            .provider
            .grant_consent(&req, &who.user, &client)
            .await
        {
            return self.failure(e);
        }
        self.issue(&req, &who).await
    }

    /// A post whose CSRF check failed: the sign-in form again (with a fresh token), saying so.
    async fn form_expired(&self, raw: &RawAuthorization) -> Response {
        let req = match self.check(raw).await {
            Checked::Ok(r) => r,
            Checked::Done(resp) => return resp,
        };
        let msg = self.f.t("authorize-form-expired");
        self.sign_in_page(
            raw,
            &req,
            StatusCode::FORBIDDEN,
            Some(&msg),
            req.login_hint.as_deref(),
        )
    }

    fn sign_in_refused(
        &self,
        raw: &RawAuthorization,
        req: &AuthorizationRequest,
        login: &str,
        e: AuthError,
    ) -> Response {
        let (status, key, retry) = match e {
            AuthError::InvalidCredentials
            | AuthError::AccountDisabled
            | AuthError::Validation(_) => (
                StatusCode::UNAUTHORIZED,
                "authorize-wrong-credentials",
                None,
            ),
            AuthError::EmailNotVerified => (StatusCode::FORBIDDEN, "authorize-not-verified", None),
            AuthError::TooManyAttempts { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "authorize-too-many",
                Some(retry_after_secs),
            ),
            other => return self.failure(other),
        };
        let msg = self.f.t(key);
        let resp = self.sign_in_page(raw, req, status, Some(&msg), Some(login));
        match retry {
            Some(s) => with_retry_after(resp, s),
            None => resp,
        }
    }

    fn second_factor_refused(
        &self,
        raw: &RawAuthorization,
        req: &AuthorizationRequest,
        token: &str,
        e: AuthError,
    ) -> Response {
        match e {
            AuthError::InvalidSecondFactor => {
                let msg = self.f.t("authorize-wrong-code");
                self.second_factor_page(raw, req, token, StatusCode::UNAUTHORIZED, Some(&msg))
            }
            AuthError::InvalidChallenge => {
                let msg = self.f.t("authorize-start-again");
                self.sign_in_page(
                    raw,
                    req,
                    StatusCode::UNAUTHORIZED,
                    Some(&msg),
                    req.login_hint.as_deref(),
                )
            }
            AuthError::TooManyAttempts { retry_after_secs } => {
                let msg = self.f.t("authorize-too-many");
                with_retry_after(
                    self.second_factor_page(
                        raw,
                        req,
                        token,
                        StatusCode::TOO_MANY_REQUESTS,
                        Some(&msg),
                    ),
                    retry_after_secs,
                )
            }
            other => self.failure(other),
        }
    }

    /// Hidden fields: the authorization request, the action, the CSRF token.
    fn hidden(&self, raw: &RawAuthorization, action: &str) -> String {
        let mut out = String::new();
        for (k, v) in raw.pairs() {
            out.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape_html(k),
                escape_html(v)
            ));
        }
        out.push_str(&format!(
            "<input type=\"hidden\" name=\"sesame_action\" value=\"{action}\">\
             <input type=\"hidden\" name=\"sesame_csrf\" value=\"{}\">",
            escape_html(&self.csrf)
        ));
        out
    }

    /// A page of this flow, with the CSRF cookie set when the browser has none. Its forms end
    /// in a redirect to the client, so the CSP's `form-action` admits the redirect URI's origin
    /// too (browsers apply `form-action` to a form's redirects, CSP 3 §6.4.2).
    fn render(
        &self,
        req: &AuthorizationRequest,
        status: StatusCode,
        title: &str,
        error: Option<&str>,
        body: &str,
    ) -> Response {
        let mut resp = self.f.render(status, title, error, body);
        if let Some(source) = form_action_source(&req.redirect_uri) {
            let csp = resp
                .headers()
                .get(CONTENT_SECURITY_POLICY)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.replace(
                        "form-action 'self'",
                        &format!("form-action 'self' {source}"),
                    )
                });
            if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
                resp.headers_mut().insert(CONTENT_SECURITY_POLICY, v);
            }
        }
        if self.new_csrf {
            append(
                &mut resp,
                &format!(
                    "{CSRF_COOKIE}={}; Path={AUTHORIZE_PATH}; HttpOnly; SameSite=Strict{}",
                    self.csrf,
                    secure(self.state)
                ),
            );
        }
        resp
    }

    fn client_name(req: &AuthorizationRequest) -> &str {
        req.client.settings.name.as_str()
    }

    fn sign_in_page(
        &self,
        raw: &RawAuthorization,
        req: &AuthorizationRequest,
        status: StatusCode,
        error: Option<&str>,
        login: Option<&str>,
    ) -> Response {
        let f = &self.f;
        let body = format!(
            "<p>{intro}</p>\n<form method=\"post\" action=\"{action}\">{hidden}\
             <label for=\"login\">{login_label}</label>\
             <input id=\"login\" name=\"login\" type=\"text\" autocomplete=\"username\" required value=\"{login}\"{invalid}>\
             <label for=\"password\">{password_label}</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{invalid}>\
             <button id=\"submit\" type=\"submit\">{button}</button></form>",
            intro = f.t_with("authorize-sign-in-intro", &[("client", Self::client_name(req))]),
            action = escape_html(&f.action(AUTHORIZE_PATH)),
            hidden = self.hidden(raw, "sign_in"),
            login_label = f.t("authorize-login"),
            login = escape_html(login.unwrap_or("")),
            invalid = if error.is_some() { " aria-invalid=\"true\" aria-describedby=\"error\"" } else { "" },
            password_label = f.t("authorize-password"),
            button = f.t("authorize-sign-in-button"),
        );
        self.render(req, status, &f.t("authorize-sign-in-title"), error, &body)
    }

    fn second_factor_page(
        &self,
        raw: &RawAuthorization,
        req: &AuthorizationRequest,
        token: &str,
        status: StatusCode,
        error: Option<&str>,
    ) -> Response {
        let f = &self.f;
        let body = format!(
            "<p>{intro}</p>\n<form method=\"post\" action=\"{action}\">{hidden}\
             <input type=\"hidden\" name=\"mfa_token\" value=\"{token}\">\
             <label for=\"code\">{label}</label>\
             <input id=\"code\" name=\"code\" type=\"text\" autocomplete=\"one-time-code\" inputmode=\"text\" required{invalid}>\
             <button id=\"submit\" type=\"submit\">{button}</button></form>",
            intro = f.t_with("authorize-second-factor-intro", &[("client", Self::client_name(req))]),
            action = escape_html(&f.action(AUTHORIZE_PATH)),
            hidden = self.hidden(raw, "second_factor"),
            token = escape_html(token),
            label = f.t("authorize-code"),
            invalid = if error.is_some() { " aria-invalid=\"true\" aria-describedby=\"error\"" } else { "" },
            button = f.t("authorize-code-button"),
        );
        self.render(
            req,
            status,
            &f.t("authorize-second-factor-title"),
            error,
            &body,
        )
    }

    fn consent_page(
        &self,
        raw: &RawAuthorization,
        req: &AuthorizationRequest,
        who: &BrowserSession,
    ) -> Response {
        let f = &self.f;
        let scopes: String = req
            .scopes
            .iter()
            .map(|s| {
                format!(
                    "<li id=\"scope-{0}\">{1}</li>",
                    s.as_str(),
                    f.t(&scope_key(*s))
                )
            })
            .collect();
        let hidden = self.hidden(raw, "consent");
        let body = format!(
            "<p>{intro}</p>\n<ul id=\"scopes\">{scopes}</ul>\n<p>{as_user}</p>\n\
             <form method=\"post\" action=\"{action}\">{hidden}\
             <button id=\"allow\" type=\"submit\" name=\"decision\" value=\"allow\">{allow}</button>\
             <button id=\"deny\" class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\">{deny}</button></form>",
            intro = f.t_with("authorize-consent-intro", &[("client", Self::client_name(req))]),
            as_user = f.t_with("authorize-consent-as", &[("user", who.user.email.as_str())]),
            action = escape_html(&f.action(AUTHORIZE_PATH)),
            allow = f.t("authorize-allow"),
            deny = f.t("authorize-deny"),
        );
        self.render(
            req,
            StatusCode::OK,
            &f.t("authorize-consent-title"),
            None,
            &body,
        )
    }

    fn redirect_error(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &str,
        description: &str,
    ) -> Response {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(s) = state {
            params.push(("state", s));
        }
        params.push(("iss", self.state.provider.issuer()));
        redirect_to(redirect_uri, &params)
    }

    /// Our failures and outages: a page, never a redirect (the request itself was fine).
    fn failure(&self, e: AuthError) -> Response {
        match e {
            AuthError::Unavailable(_) | AuthError::Overloaded { .. } => {
                tracing::warn!(error = %e, "authorization page: service unavailable");
                with_retry_after(
                    message(
                        &self.f,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "page-busy-title",
                        "page-busy-text",
                        "error",
                    ),
                    crate::http::problem::DATABASE_RETRY_AFTER_SECS,
                )
            }
            other => {
                tracing::error!(error = %other, "authorization page failed");
                our_fault(&self.f)
            }
        }
    }
}

/// The message id naming what `scope` lets the client do.
fn scope_key(scope: Scope) -> String {
    format!("authorize-scope-{}", scope.as_str().replace('_', "-"))
}

/// An [`ApiError`] from a rate limit, as the [`AuthError`] it carries.
fn api_auth(e: ApiError) -> AuthError {
    match e {
        ApiError::Auth(a) => a,
        other => AuthError::Internal(other.to_string().into()),
    }
}

/// 400: a request that must not go back to its client (unknown client, unregistered redirect
/// URI) or cannot be read.
fn error_page(f: &Frame<'_>, code: &str) -> Response {
    let body = format!(
        "<p class=\"error\">{}</p>\n<p><code id=\"error-code\">{}</code></p>",
        f.t("authorize-error-text"),
        escape_html(code)
    );
    f.render(
        StatusCode::BAD_REQUEST,
        &f.t("authorize-error-title"),
        None,
        &body,
    )
}

/// The CSP source that admits `uri`: its origin for http(s), its scheme for a private-use URI
/// scheme (RFC 8252 §7.1). Only characters a source expression allows get through.
fn form_action_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let source = match url.scheme() {
        "http" | "https" => url.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".:/-[]".contains(&b))
        .then_some(source)
}

/// 303 to `uri` with `params` added to its query (RFC 6749 §4.1.2: "retaining" its query).
fn redirect_to(uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        tracing::error!("a registered redirect URI does not parse");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
