//! The HTTP edge: routes, the OpenAPI document generated from them, and the middleware every
//! request passes (request id, structured request log, problem+json bodies, panic catching,
//! the 64 KiB body limit).
//!
//! Handlers live one module per area ([`auth`], [`oauth`], [`users`], [`account`], [`pages`],
//! [`meta`]); each parses
//! input into domain values, calls one function of a domain service ([`SignIn`], [`Account`], or
//! the [`sesame_domain::service::Admin`] capability the admin extractor hands out) and shapes the
//! answer. No SQL here, and no business rules.

pub mod account;
pub mod admin;
pub(crate) mod api_doc;
pub mod auth;
pub mod client_bounds;
pub mod client_ip;
pub mod clients;
pub mod cookies;
pub mod detach;
pub mod dto;
pub mod extract;
pub mod factors;
pub mod meta;
pub mod oauth;
pub mod oidc;
pub mod pages;
pub mod problem;
pub mod ratelimit;
pub mod security;
pub mod server;
pub mod users;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use problem::{ApiError, Problem};
use sesame_domain::service::{Account, AdminGate, SignIn};
use std::sync::Arc;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument as _;
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// What every handler can reach: one `Arc`, so the copy each middleware and extractor takes is
/// one reference count, not one per part (on a token-checked read that is most of the state's
/// cost).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl AppState {
    #[must_use]
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The parts, to change before the server starts (tests swap one in); `None` once the
    /// state has been handed out.
    pub fn parts_mut(&mut self) -> Option<&mut Shared> {
        Arc::get_mut(&mut self.0)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub sign_in: Arc<SignIn>,
    pub account: Arc<Account>,
    /// Hands out admin capabilities; only the `AdminUser` extractor asks it.
    pub admin: Arc<AdminGate>,
    /// The caller's own second factors.
    pub factors: Arc<sesame_domain::service::Factors>,
    /// The OpenID Connect provider: clients, single sign-on, codes, ID tokens.
    pub provider: Arc<sesame_domain::service::Provider>,
    pub http: Arc<security::HttpSettings>,
    /// One permit per request in flight (see `security::load_bounds`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// The semaphore's size, to report requests in flight.
    pub max_in_flight: usize,
    /// Request counters and histograms served at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<crate::secret::Secret>,
    pub max_body_bytes: usize,
    pub limits: Arc<ratelimit::RateLimits>,
    pub trusted_proxies: Arc<client_ip::TrustedProxies>,
    /// The tasks requests run in (see `detach`); shutdown waits for them.
    pub detached: tokio_util::task::TaskTracker,
    /// Per-client share of open requests and the body bounds (see `client_bounds::admit`).
    pub client_bounds: Arc<client_bounds::ClientBounds>,
    /// Branding, default language and stylesheet of the built-in pages.
    pub pages: Arc<pages::PageSettings>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, chosen once per request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sesame",
        description = "Self-hosted authentication: registration, login, rotating refresh tokens, sessions.\n\nErrors are RFC 9457 `application/problem+json` with a stable `code`, except on the OAuth token endpoint, which answers RFC 6749 error bodies."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Register, log in, refresh, log out"),
        (name = "oauth2", description = "RFC 6749 token endpoint"),
        (name = "email", description = "Flows driven by emailed links"),
        (name = "users", description = "The caller's own account"),
        (name = "factors", description = "Second factors: authenticator apps, passkeys, recovery codes"),
        (name = "admin", description = "User management, roles and the audit trail (admin role required)"),
        (name = "meta", description = "Keys, health and metrics"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`SESAME_METRICS_TOKEN`, when it is set"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/api/v1/auth/token",
                Scopes::new(),
            ))])),
        );
    }
}

/// The API routes with their OpenAPI document. Every route is registered through `routes!`, so
/// the document cannot miss one.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(oauth::token))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::logout_all))
        .routes(routes!(factors::login_mfa))
        .routes(routes!(factors::reauthenticate))
        .routes(routes!(factors::list_factors))
        .routes(routes!(factors::start_totp))
        .routes(routes!(factors::confirm_totp))
        .routes(routes!(factors::rename_factor, factors::remove_factor))
        .routes(routes!(factors::regenerate_recovery_codes))
        .routes(routes!(factors::passkey_register_options))
        .routes(routes!(factors::passkey_register))
        .routes(routes!(factors::passkey_login_options))
        .routes(routes!(factors::passkey_login))
        .routes(routes!(factors::reauthenticate_passkey_options))
        .routes(routes!(
            factors::admin_user_factors,
            factors::admin_reset_factors
        ))
        .routes(routes!(account::verify_email))
        .routes(routes!(account::resend_verification))
        .routes(routes!(account::forgot_password))
        .routes(routes!(account::reset_password))
        .routes(routes!(account::confirm_email_change))
        .routes(routes!(users::get_me, users::patch_me, account::delete_me))
        .routes(routes!(account::change_password))
        .routes(routes!(account::change_email))
        .routes(routes!(account::list_sessions))
        .routes(routes!(account::end_session))
        .routes(routes!(account::list_grants))
        .routes(routes!(account::revoke_grant))
        .routes(routes!(account::export))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(
            admin::get_user,
            admin::patch_user,
            admin::delete_user
        ))
        .routes(routes!(admin::unlock_user))
        .routes(routes!(admin::revoke_sessions))
        .routes(routes!(admin::user_sessions))
        .routes(routes!(admin::list_roles, admin::create_role))
        .routes(routes!(admin::delete_role))
        .routes(routes!(clients::list_clients, clients::create_client))
        .routes(routes!(
            clients::get_client,
            clients::patch_client,
            clients::delete_client
        ))
        .routes(routes!(clients::rotate_client_secret))
        .routes(routes!(admin::audit_events))
        .routes(routes!(meta::jwks))
        .routes(routes!(oidc::openid_configuration))
        .routes(routes!(oidc::oauth_authorization_server))
        .routes(routes!(oidc::userinfo, oidc::userinfo_post))
        .routes(routes!(oauth::revoke))
        .routes(routes!(oauth::introspect))
        .routes(routes!(meta::metrics))
        .split_for_parts()
}

/// The liveness and readiness probes, with their part of the OpenAPI document. They are served
/// outside the per-client and in-flight bounds, so an orchestrator gets an answer however busy
/// the server is (see `client_bounds`).
fn probes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::new()
        .routes(routes!(meta::live))
        .routes(routes!(meta::ready))
        .split_for_parts()
}

/// The whole document: the API's and the probes' parts, completed by `api_doc`.
fn document(
    mut api: utoipa::openapi::OpenApi,
    probes: utoipa::openapi::OpenApi,
) -> utoipa::openapi::OpenApi {
    api.merge(probes);
    api_doc::complete(&mut api);
    api
}

/// The OpenAPI document, as served at `/openapi.json` and printed by `sesame openapi`.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    document(api().1, probes().1)
}

/// The whole application: API routes, pages, docs, fallbacks and middleware.
pub fn app(state: AppState) -> Router {
    let (api, api_doc) = api();
    let (probes, probes_doc) = probes();
    let doc = document(api_doc, probes_doc);
    api.merge(pages::routes())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(CatchPanicLayer::custom(|_| ApiError::Panic.into_response()))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            detach::detach,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::load_bounds,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client_bounds::admit,
        ))
        // Routes merged after the bounds above are not wrapped by them.
        .merge(probes.method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed }))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::cors,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::security_headers,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Adds `Cache-Control: no-store` (and `Pragma: no-cache`) to a response carrying tokens.
pub fn no_store(r: impl IntoResponse) -> Response {
    let mut resp = r.into_response();
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Accepts a client's `x-request-id` when it is 1 to 128 characters of `[A-Za-z0-9._:-]`
/// (safe to log and echo); otherwise makes a new UUIDv7.
fn pick_request_id(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// A duration in milliseconds with at most three decimals (whole microseconds), so the log
/// reads `679.339`, not the binary fraction `679.3387600000001`.
fn latency_ms(took: std::time::Duration) -> f64 {
    // Up to 2^53 µs (285 years) converts exactly.
    #[allow(clippy::cast_precision_loss)]
    let micros = took.as_micros().min(1 << 53) as f64;
    micros / 1000.0
}

/// Runs each request inside a span carrying its id, method, path and (once known) user id;
/// writes problem+json bodies with the request id; logs internal causes and one line per
/// request (status, latency, client IP after trusted-proxy resolution, cleaned user agent).
/// Query strings are never logged (they can carry tokens).
async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = crate::metrics::method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().cloned();
    let request_id = pick_request_id(&req);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // Resolved once here for the log line, and reused by `client_bounds::admit` and `Client`.
    let client_ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| client_ip::client_ip(info.0.ip(), req.headers(), &state.trusted_proxies));
    if let Some(ip) = client_ip {
        req.extensions_mut().insert(extract::ResolvedIp(ip));
    }
    let user_agent = req
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| extract::clean_user_agent(v.as_bytes()));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.uri().path(),
        user_id = tracing::field::Empty,
    );
    let mut resp = next.run(req).instrument(span.clone()).await;
    if let Some(problem) = resp.extensions_mut().remove::<Problem>() {
        if let Some(cause) = &problem.internal {
            tracing::error!(parent: &span, error = %cause, error_debug = ?cause, "internal error");
        }
        let body = serde_json::to_vec(&problem.body(&request_id)).unwrap_or_default();
        let (mut parts, _) = resp.into_parts();
        parts.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        resp = Response::from_parts(parts, axum::body::Body::from(body));
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    let took = started.elapsed();
    tracing::info!(
        parent: &span,
        status = resp.status().as_u16(),
        latency_ms = latency_ms(took),
        client_ip = client_ip.map(tracing::field::display),
        user_agent = user_agent.as_deref(),
        "request finished"
    );
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state
        .metrics
        .record(method, route, resp.status().as_u16(), took);
    resp
}

#[cfg(test)]
mod tests {
    use super::latency_ms;
    use std::time::Duration;

    #[test]
    fn latency_is_logged_in_whole_microseconds_without_float_noise() {
        let ms = latency_ms(Duration::from_nanos(679_338_760));
        assert_eq!(serde_json::json!(ms).to_string(), "679.338");
        assert_eq!(latency_ms(Duration::from_micros(1)).to_string(), "0.001");
    }
}
