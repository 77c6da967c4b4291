//! The HTTP edge under hostile or careless clients: security headers on every response (and the
//! CSPs of the docs and the HTML pages), HSTS only behind an https public URL, `no-store` on
//! token answers, the exact CORS allow-list, cookie mode with its CSRF checks, and the bounds on
//! body size, header size, header and request time, and requests in flight (raw sockets where a
//! well-behaved client cannot misbehave enough).

use crate::helpers::{
    assert_problem, spawn_app_with, Backend, TestApp, TestDb, FAST_HASH, PASSWORD,
};
use clap::Parser as _;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, ORIGIN, RETRY_AFTER, SET_COOKIE};
use reqwest::Method;
use serde_json::{json, Value};
use sesame::cli::{Cli, Command};
use sesame::startup::Application;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

const APP_ORIGIN: &str = "https://app.example.com";
const ADMIN_ORIGIN: &str = "https://admin.example.com";
const EVIL_ORIGIN: &str = "https://evil.example";
/// The origin of the harness's public URL (`http://sesame.test`).
const PUBLIC_ORIGIN: &str = "http://sesame.test";
const CORS_FLAGS: &[&str] = &[
    "--cors-origins",
    "https://app.example.com,https://admin.example.com",
];

async fn sqlite_app(serve: &[&str]) -> TestApp {
    spawn_app_with(Backend::Sqlite, &[], serve).await
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Every `Access-Control-*` header of a response.
fn cors_headers(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn assert_no_cors_headers(r: &reqwest::Response, what: &str) {
    assert_eq!(cors_headers(r), Vec::<String>::new(), "{what}");
}

/// `GET path` sent from a page on `origin`.
async fn get_from(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(ORIGIN, origin)
        .send()
        .await
        .unwrap()
}

/// A browser's preflight for `POST /api/v1/auth/login` from `origin`, asking for
/// `request_headers` if given.
async fn preflight_login(
    app: &TestApp,
    origin: &str,
    request_headers: Option<&str>,
) -> reqwest::Response {
    let mut rb = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/auth/login"))
        .header(ORIGIN, origin)
        .header("access-control-request-method", "POST");
    if let Some(h) = request_headers {
        rb = rb.header("access-control-request-headers", h);
    }
    rb.send().await.unwrap()
}

/// The three fixed security headers, and a CSP that is present; returns the CSP.
fn assert_security_headers(r: &reqwest::Response, what: &str) -> String {
    assert_eq!(
        header(r, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "X-Content-Type-Options on {what}"
    );
    assert_eq!(
        header(r, "x-frame-options").as_deref(),
        Some("DENY"),
        "X-Frame-Options on {what}"
    );
    assert_eq!(
        header(r, "referrer-policy").as_deref(),
        Some("no-referrer"),
        "Referrer-Policy on {what}"
    );
    header(r, "content-security-policy").unwrap_or_else(|| panic!("no CSP on {what}"))
}

/// The directives of a CSP, by name.
fn csp_directive(csp: &str, name: &str) -> Option<Vec<String>> {
    csp.split(';').map(str::trim).find_map(|d| {
        let mut parts = d.split_whitespace();
        (parts.next()? == name).then(|| parts.map(str::to_owned).collect())
    })
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.get(path).await
}

// ---------------------------------------------------------------------------------------------
// Security headers
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_response_carries_the_security_headers_and_a_deny_all_csp() {
    let app = sqlite_app(&[]).await;
    let responses = [
        ("a JSON 200", get(&app, "/.well-known/jwks.json").await, 200),
        ("a problem 401", get(&app, "/api/v1/users/me").await, 401),
        (
            "a problem 422",
            app.post_json("/api/v1/auth/login", &json!({"password": "x"}))
                .await,
            422,
        ),
        ("the 404 fallback", get(&app, "/no/such/path").await, 404),
        ("/openapi.json", get(&app, "/openapi.json").await, 200),
    ];
    for (what, r, status) in responses {
        assert_eq!(r.status().as_u16(), status, "{what}");
        let csp = assert_security_headers(&r, what);
        assert_eq!(
            csp_directive(&csp, "default-src"),
            Some(vec!["'none'".to_owned()]),
            "default-src of {what}: {csp}"
        );
        assert_eq!(
            csp_directive(&csp, "frame-ancestors"),
            Some(vec!["'none'".to_owned()]),
            "frame-ancestors of {what}: {csp}"
        );
        assert!(
            csp_directive(&csp, "script-src").is_none(),
            "the API allows no scripts; {what}: {csp}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_get_a_csp_allowing_only_their_own_scripts_and_nothing_external() {
    let app = sqlite_app(&[]).await;
    let r = get(&app, "/docs/").await;
    assert_eq!(r.status(), 200);
    let csp = assert_security_headers(&r, "/docs/");
    assert_eq!(
        csp_directive(&csp, "default-src"),
        Some(vec!["'none'".to_owned()]),
        "{csp}"
    );
    assert_eq!(
        csp_directive(&csp, "script-src"),
        Some(vec!["'self'".to_owned()]),
        "{csp}"
    );
    for source in csp.split(|c: char| c == ';' || c.is_whitespace()) {
        assert!(
            !(source.contains("://")
                || source.contains('*')
                || source == "http:"
                || source == "https:"
                || source == "'unsafe-eval'"),
            "external or wildcard source `{source}` in the docs CSP: {csp}"
        );
    }
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "the docs page loads nothing from another host: {html}"
    );
    // Its script is served here, under the same policy.
    let js = get(&app, "/docs/swagger-ui-bundle.js").await;
    assert_eq!(js.status(), 200, "the Swagger UI bundle is served locally");
    assert_security_headers(&js, "/docs/swagger-ui-bundle.js");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_pages_keep_their_own_csp_with_a_hashed_stylesheet() {
    let app = sqlite_app(&[]).await;
    let r = get(&app, "/verify-email?token=x").await;
    assert!(
        r.status().is_success() || r.status().is_client_error(),
        "{}",
        r.status()
    );
    assert!(
        header(&r, "content-type").unwrap().starts_with("text/html"),
        "a page"
    );
    let csp = assert_security_headers(&r, "/verify-email");
    assert_eq!(
        csp_directive(&csp, "default-src"),
        Some(vec!["'none'".to_owned()]),
        "{csp}"
    );
    let style = csp_directive(&csp, "style-src").unwrap_or_else(|| panic!("style-src in {csp}"));
    assert_eq!(style.len(), 1, "{csp}");
    assert!(
        style[0].starts_with("'sha256-") && style[0].ends_with('\''),
        "the page's one stylesheet, by hash: {csp}"
    );
    assert_eq!(
        csp_directive(&csp, "form-action"),
        Some(vec!["'self'".to_owned()]),
        "the page posts its form to itself: {csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hsts_when_the_public_url_is_http() {
    let app = sqlite_app(&[]).await;
    for path in ["/health/live", "/no/such/path", "/docs/"] {
        let r = get(&app, path).await;
        assert!(
            header(&r, "strict-transport-security").is_none(),
            "HSTS over an http public URL on {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_for_at_least_a_year_when_the_public_url_is_https() {
    let server = RawServer::start(&["--public-url", "https://auth.example.com"]).await;
    let client = reqwest::Client::new();
    for path in ["/health/live", "/no/such/path", "/api/v1/users/me"] {
        let r = client.get(server.url(path)).send().await.unwrap();
        let hsts =
            header(&r, "strict-transport-security").unwrap_or_else(|| panic!("no HSTS on {path}"));
        let max_age: u64 = hsts
            .split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix("max-age="))
            .unwrap_or_else(|| panic!("max-age in `{hsts}`"))
            .parse()
            .unwrap();
        assert!(max_age >= 31_536_000, "HSTS max-age {max_age} on {path}");
    }
}

// ---------------------------------------------------------------------------------------------
// CORS
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_origin_is_echoed_with_credentials_and_exposed_headers() {
    let app = sqlite_app(CORS_FLAGS).await;
    for origin in [APP_ORIGIN, ADMIN_ORIGIN] {
        let r = get_from(&app, "/health/live", origin).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            header(&r, "access-control-allow-origin").as_deref(),
            Some(origin),
            "the origin itself, never *"
        );
        assert_eq!(
            header(&r, "access-control-allow-credentials").as_deref(),
            Some("true")
        );
        let vary: Vec<String> = r
            .headers()
            .get_all("vary")
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect();
        assert!(vary.contains(&"origin".to_owned()), "Vary: {vary:?}");
        let exposed = header(&r, "access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            exposed.split(',').any(|h| h.trim() == "x-request-id"),
            "exposed: {exposed}"
        );
    }
    // Also on errors, which a browser app must be able to read.
    let r = get_from(&app, "/api/v1/users/me", APP_ORIGIN).await;
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(APP_ORIGIN)
    );
    assert_problem(r, 401, "missing_token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let app = sqlite_app(CORS_FLAGS).await;
    let r = preflight_login(&app, APP_ORIGIN, Some("content-type")).await;
    assert!(r.status().is_success(), "preflight status {}", r.status());
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        header(&r, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let methods = header(&r, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.split(',').any(|m| m.trim() == "POST"),
        "allow-methods: {methods}"
    );
    let allowed = header(&r, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in ["content-type", "authorization", "x-csrf-token"] {
        assert!(
            allowed.split(',').any(|a| a.trim() == h),
            "allow-headers lacks {h}: {allowed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_off_the_list_gets_no_cors_headers() {
    let app = sqlite_app(CORS_FLAGS).await;
    // Near misses of an allowed origin are other origins.
    for origin in [
        EVIL_ORIGIN,
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://app.example.com.evil.example",
        "null",
    ] {
        let r = get_from(&app, "/health/live", origin).await;
        assert_eq!(r.status(), 200);
        assert_no_cors_headers(&r, &format!("request from {origin}"));
        let r = preflight_login(&app, origin, Some("content-type")).await;
        assert_no_cors_headers(&r, &format!("preflight from {origin}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cors_origins_no_origin_gets_cors_headers() {
    let app = sqlite_app(&[]).await;
    for origin in [APP_ORIGIN, PUBLIC_ORIGIN, EVIL_ORIGIN] {
        let r = get_from(&app, "/health/live", origin).await;
        assert_no_cors_headers(&r, &format!("request from {origin}"));
        let r = preflight_login(&app, origin, None).await;
        assert_no_cors_headers(&r, &format!("preflight from {origin}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_or_an_origin_with_a_path_in_cors_origins_stops_startup() {
    for bad in [
        "*",
        "https://*.example.com",
        "https://app.example.com/app",
        "app.example.com",
        "https://app.example.com?x=1",
        "https://user@app.example.com",
        "https://app.example.com,*",
    ] {
        let err = startup_error(&["--cors-origins", bad])
            .await
            .unwrap_or_else(|| panic!("the server started with --cors-origins {bad}"));
        assert!(
            err.contains("SESAME_CORS_ORIGINS"),
            "the error for `{bad}` names the variable: {err}"
        );
    }
    // The same list without the bad entry is fine (a trailing slash is not a path).
    assert_eq!(
        startup_error(&[
            "--cors-origins",
            "https://app.example.com/,http://localhost:3000"
        ])
        .await,
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Cache-Control on token answers, and cookie mode (storage involved: every backend)
// ---------------------------------------------------------------------------------------------

fn assert_no_store(r: &reqwest::Response, what: &str) {
    let cc = header(r, CACHE_CONTROL.as_str()).unwrap_or_default();
    assert!(
        cc.split(',').any(|d| d.trim() == "no-store"),
        "Cache-Control of {what}: `{cc}`"
    );
}

async fn token_responses_are_not_stored(backend: Backend) {
    let app = spawn_app_with(backend, &[], &[]).await;
    app.create_user("a@example.com").await;
    let r = app.login("a@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_no_store(&r, "login");
    let body: Value = r.json().await.unwrap();
    let r = app.refresh(body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    assert_no_store(&r, "refresh");
    let r = app.password_grant("a@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_no_store(&r, "the token endpoint");
}

/// One `Set-Cookie` header, split into its value and attributes.
#[derive(Debug)]
struct SetCookie {
    value: String,
    attrs: Vec<String>,
}

impl SetCookie {
    fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find_map(|a| {
            let (k, v) = a.split_once('=')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    fn max_age(&self) -> u64 {
        self.attr("Max-Age")
            .unwrap_or_else(|| panic!("Max-Age in {self:?}"))
            .parse()
            .unwrap()
    }
}

/// The `Set-Cookie` for cookie `name`; fails unless there is exactly one.
fn set_cookie(r: &reqwest::Response, name: &str) -> SetCookie {
    let found: Vec<SetCookie> = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .filter_map(|v| {
            let mut parts = v.split(';').map(str::trim);
            let (k, value) = parts.next()?.split_once('=')?;
            (k == name).then(|| SetCookie {
                value: value.to_owned(),
                attrs: parts.map(str::to_owned).collect(),
            })
        })
        .collect();
    assert_eq!(found.len(), 1, "one Set-Cookie for {name}: {found:?}");
    found.into_iter().next().unwrap()
}

/// The cookies a browser would hold after a token answer in cookie mode.
struct Session {
    access_token: String,
    refresh: String,
    csrf: String,
}

const COOKIE_TTL_SECS: u64 = 3600;

async fn cookie_app(backend: Backend, extra: &[&str]) -> TestApp {
    let mut serve = vec!["--cookie-mode", "true", "--refresh-token-ttl", "1h"];
    serve.extend_from_slice(extra);
    spawn_app_with(backend, &[], &serve).await
}

/// Checks a cookie-mode token answer and returns the session it sets.
async fn cookie_session(r: reqwest::Response, what: &str) -> Session {
    assert_eq!(r.status(), 200, "{what}");
    assert_no_store(&r, what);
    let refresh = set_cookie(&r, "sesame_refresh");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(
            refresh.has(attr),
            "{attr} on the refresh cookie ({what}): {refresh:?}"
        );
    }
    assert_eq!(
        refresh.max_age(),
        COOKIE_TTL_SECS,
        "refresh cookie lives as long as the token"
    );
    assert!(!refresh.value.is_empty());
    let csrf = set_cookie(&r, "sesame_csrf");
    assert!(
        !csrf.has("HttpOnly"),
        "the CSRF cookie must be readable by the app's scripts: {csrf:?}"
    );
    assert!(
        csrf.has("Secure") && csrf.has("SameSite=Strict"),
        "{csrf:?}"
    );
    assert!(csrf.max_age() > 0, "{csrf:?}");
    assert!(csrf.value.len() >= 16, "a real CSRF secret: {csrf:?}");
    let body: Value = r.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token in the body in cookie mode ({what}): {body}"
    );
    let access_token = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("access token in the body ({what}): {body}"))
        .to_owned();
    assert!(!body.to_string().contains(&refresh.value), "{body}");
    Session {
        access_token,
        refresh: refresh.value,
        csrf: csrf.value,
    }
}

/// A cookie-mode refresh: body `{}`, the cookies by hand (reqwest keeps no Secure cookies
/// over http), and the given Origin and X-CSRF-Token.
async fn cookie_refresh(
    app: &TestApp,
    s: &Session,
    origin: Option<&str>,
    csrf_header: Option<&str>,
) -> reqwest::Response {
    let mut rb = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({}))
        .header(
            COOKIE,
            format!("sesame_refresh={}; sesame_csrf={}", s.refresh, s.csrf),
        );
    if let Some(o) = origin {
        rb = rb.header(ORIGIN, o);
    }
    if let Some(t) = csrf_header {
        rb = rb.header("x-csrf-token", t);
    }
    rb.send().await.unwrap()
}

async fn cookie_login(app: &TestApp, email: &str) -> Session {
    app.create_user(email).await;
    cookie_session(app.login(email, PASSWORD).await, "login").await
}

async fn cookie_mode_login_sets_the_refresh_cookie_instead_of_the_body_field(backend: Backend) {
    let app = cookie_app(backend, &[]).await;
    let s = cookie_login(&app, "a@example.com").await;
    let r = app.me(&s.access_token).await;
    assert_eq!(r.status(), 200, "the access token in the body works");
}

async fn cookie_mode_refresh_with_origin_and_csrf_header_rotates_the_cookies(backend: Backend) {
    let app = cookie_app(backend, &[]).await;
    let first = cookie_login(&app, "a@example.com").await;
    let r = cookie_refresh(&app, &first, Some(PUBLIC_ORIGIN), Some(&first.csrf)).await;
    let second = cookie_session(r, "cookie refresh").await;
    assert_ne!(second.refresh, first.refresh, "the refresh cookie rotates");
    assert_ne!(second.csrf, first.csrf, "a fresh CSRF secret comes with it");
    assert_eq!(app.me(&second.access_token).await.status(), 200);
    // The rotated cookie is the one that works next.
    let r = cookie_refresh(&app, &second, Some(PUBLIC_ORIGIN), Some(&second.csrf)).await;
    cookie_session(r, "second cookie refresh").await;
}

async fn cookie_mode_refresh_failing_a_csrf_check_is_refused_without_consuming_the_token(
    backend: Backend,
) {
    let app = cookie_app(backend, CORS_FLAGS).await;
    let s = cookie_login(&app, "a@example.com").await;
    let wrong = "A".repeat(s.csrf.len());
    let cases: [(&str, Option<&str>, Option<&str>); 6] = [
        ("no X-CSRF-Token", Some(PUBLIC_ORIGIN), None),
        ("a wrong X-CSRF-Token", Some(PUBLIC_ORIGIN), Some(&wrong)),
        ("an empty X-CSRF-Token", Some(PUBLIC_ORIGIN), Some("")),
        ("no Origin", None, Some(&s.csrf)),
        ("a foreign Origin", Some(EVIL_ORIGIN), Some(&s.csrf)),
        ("Origin: null", Some("null"), Some(&s.csrf)),
    ];
    for (what, origin, csrf) in cases {
        let r = cookie_refresh(&app, &s, origin, csrf).await;
        assert_eq!(r.status(), 403, "{what}");
        assert!(
            r.headers().get(SET_COOKIE).is_none(),
            "no cookies on a refused refresh ({what})"
        );
        assert_problem(r, 403, "csrf_failed").await;
    }
    // None of those used up the refresh token.
    let r = cookie_refresh(&app, &s, Some(PUBLIC_ORIGIN), Some(&s.csrf)).await;
    cookie_session(r, "refresh after refused attempts").await;
}

async fn cookie_mode_accepts_an_allowed_cors_origin_as_origin(backend: Backend) {
    let app = cookie_app(backend, CORS_FLAGS).await;
    let s = cookie_login(&app, "a@example.com").await;
    let r = cookie_refresh(&app, &s, Some(APP_ORIGIN), Some(&s.csrf)).await;
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(APP_ORIGIN)
    );
    cookie_session(r, "refresh from an allowed CORS origin").await;
}

async fn cookie_mode_logout_expires_both_cookies(backend: Backend) {
    let app = cookie_app(backend, &[]).await;
    let s = cookie_login(&app, "a@example.com").await;
    let r = app
        .post_json_auth("/api/v1/auth/logout", &s.access_token, None)
        .await;
    assert_eq!(r.status(), 204);
    for name in ["sesame_refresh", "sesame_csrf"] {
        let c = set_cookie(&r, name);
        assert_eq!(c.max_age(), 0, "{name} expires: {c:?}");
        assert_eq!(c.value, "", "{name} is emptied: {c:?}");
    }
    let refresh = set_cookie(&r, "sesame_refresh");
    assert!(
        refresh.has("Path=/api/v1/auth"),
        "the expiry names the cookie's path, or the browser keeps the old one: {refresh:?}"
    );
    // The session is over, cookie or not.
    let r = cookie_refresh(&app, &s, Some(PUBLIC_ORIGIN), Some(&s.csrf)).await;
    assert_problem(r, 401, "invalid_refresh_token").await;
}

/// A token-endpoint request with a form body and optional cookie, Origin and CSRF header.
async fn token_form(
    app: &TestApp,
    form: &[(&str, &str)],
    cookie: Option<String>,
    origin: Option<&str>,
    csrf_header: Option<&str>,
) -> reqwest::Response {
    let mut rb = app.client.post(app.url("/api/v1/auth/token")).form(form);
    if let Some(c) = cookie {
        rb = rb.header(COOKIE, c);
    }
    if let Some(o) = origin {
        rb = rb.header(ORIGIN, o);
    }
    if let Some(t) = csrf_header {
        rb = rb.header("x-csrf-token", t);
    }
    rb.send().await.unwrap()
}

async fn cookie_mode_token_endpoint_keeps_the_refresh_token_out_of_the_body(backend: Backend) {
    let app = cookie_app(backend, &[]).await;
    app.create_user("a@example.com").await;
    let password_grant = [
        ("grant_type", "password"),
        ("username", "a@example.com"),
        ("password", PASSWORD),
    ];
    let r = token_form(&app, &password_grant, None, None, None).await;
    let device = set_cookie(&r, "__Host-sesame_device");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(device.has(attr), "{attr} on the device cookie: {device:?}");
    }
    assert!(
        device.attr("Domain").is_none(),
        "a __Host- cookie has no Domain"
    );
    let s = cookie_session(r, "token endpoint, password grant").await;
    assert_eq!(app.me(&s.access_token).await.status(), 200);

    // The refresh grant takes the token from the cookie, after the same CSRF checks as
    // /auth/refresh, and again answers without it in the body.
    let jar = format!("sesame_refresh={}; sesame_csrf={}", s.refresh, s.csrf);
    let grant = [("grant_type", "refresh_token")];
    let r = token_form(&app, &grant, Some(jar.clone()), Some(PUBLIC_ORIGIN), None).await;
    assert_eq!(r.status(), 400, "no X-CSRF-Token");
    assert!(r.headers().get(SET_COOKIE).is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let r = token_form(&app, &grant, Some(jar), Some(PUBLIC_ORIGIN), Some(&s.csrf)).await;
    let second = cookie_session(r, "token endpoint, refresh grant from the cookie").await;
    assert_ne!(second.refresh, s.refresh, "the refresh cookie rotates");
    // A refresh token in the form still works (a non-browser client), and still stays out of
    // the body.
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", second.refresh.as_str()),
    ];
    let r = token_form(&app, &grant, None, None, None).await;
    cookie_session(r, "token endpoint, refresh grant from the form").await;
}

async fn refresh_without_a_token_is_invalid_body_when_cookie_mode_is_off(backend: Backend) {
    let app = spawn_app_with(backend, &[], &[]).await;
    let tokens = app.user_with_tokens("a@example.com").await;
    let s = Session {
        access_token: String::new(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        csrf: "c".repeat(32),
    };
    // Even with cookies and correct CSRF headers: the cookie is not a credential here.
    let r = cookie_refresh(&app, &s, Some(PUBLIC_ORIGIN), Some(&s.csrf)).await;
    assert_problem(r, 422, "invalid_body").await;
    let r = app.post_json("/api/v1/auth/refresh", &json!({})).await;
    assert_problem(r, 422, "invalid_body").await;
    // Login answers carry no cookies.
    let r = app.login("a@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(SET_COOKIE).is_none());
}

crate::on_every_backend!(
    token_responses_are_not_stored,
    cookie_mode_login_sets_the_refresh_cookie_instead_of_the_body_field,
    cookie_mode_refresh_with_origin_and_csrf_header_rotates_the_cookies,
    cookie_mode_refresh_failing_a_csrf_check_is_refused_without_consuming_the_token,
    cookie_mode_accepts_an_allowed_cors_origin_as_origin,
    cookie_mode_logout_expires_both_cookies,
    refresh_without_a_token_is_invalid_body_when_cookie_mode_is_off,
    cookie_mode_token_endpoint_keeps_the_refresh_token_out_of_the_body,
);

// ---------------------------------------------------------------------------------------------
// Size, time and concurrency bounds
// ---------------------------------------------------------------------------------------------

/// A login body for an unknown account, padded with JSON whitespace to exactly `len` bytes.
pub(crate) fn login_body(len: usize) -> String {
    let mut body = json!({"email": "nobody@example.com", "password": "x"}).to_string();
    assert!(body.len() <= len);
    body.push_str(&" ".repeat(len - body.len()));
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_bytes_is_413_and_one_at_the_limit_is_read() {
    let app = sqlite_app(&["--max-body-bytes", "2048"]).await;
    let post = |body: String| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
    };
    let r = post(login_body(2049)).await.unwrap();
    assert_problem(r, 413, "payload_too_large").await;
    // Exactly at the limit the body is read and judged on its content.
    let r = post(login_body(2048)).await.unwrap();
    assert_problem(r, 401, "invalid_credentials").await;
}

/// Reads until the peer closes or `limit` passes: (bytes read, closed?).
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (out, false),
            Ok(Ok(0)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                return (out, true)
            }
            Ok(Err(e)) => panic!("read failed: {e}"),
        }
    }
}

/// One HTTP/1.1 response read off a raw socket.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

/// Reads one response (head, then a Content-Length body) within `limit`.
pub(crate) async fn read_response(s: &mut TcpStream, limit: Duration) -> RawResponse {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let partial = RawResponse {
                status: 0,
                head,
                body: String::new(),
            };
            let len: usize = partial
                .header("content-length")
                .map_or(0, |v| v.parse().unwrap());
            if got.len() >= end + 4 + len {
                let status = partial
                    .head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("status line in {:?}", partial.head));
                return RawResponse {
                    status,
                    body: String::from_utf8_lossy(&got[end + 4..end + 4 + len]).into_owned(),
                    head: partial.head,
                };
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => panic!(
                "no full response within {limit:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) => panic!(
                "connection closed before a full response; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read failed ({e}); got {:?}", String::from_utf8_lossy(&got)),
        }
    }
}

/// Asserts a raw response is the problem `code` with `status`; returns its body.
pub(crate) fn assert_raw_problem(r: &RawResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{r:?}"
    );
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["request_id"].as_str(),
        r.header("x-request-id"),
        "{r:?}"
    );
    body
}

pub(crate) async fn assert_serving(app: &TestApp) {
    let r = get(app, "/health/live").await;
    assert_eq!(r.status(), 200, "the server still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_over_max_header_bytes_get_431_and_the_server_keeps_serving() {
    let app = sqlite_app(&["--max-header-bytes", "8192"]).await;
    // Well under the limit is served.
    let r = app
        .client
        .get(app.url("/health/live"))
        .header("x-padding", "a".repeat(4_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a 4 KB header is within the limit");

    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let big = "a".repeat(20_000);
    s.write_all(format!("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (bytes, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&bytes);
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "answer to a 20 KB header: {answer:?}"
    );
    assert!(closed, "the connection is closed after the 431");
    assert_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_disconnected_after_the_header_read_timeout() {
    let app = sqlite_app(&["--header-read-timeout", "1s"]).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (bytes, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert!(closed, "still connected after {waited:?}");
    let answer = String::from_utf8_lossy(&bytes);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "closed, or answered 408: {answer:?}"
    );
    assert!(
        waited >= Duration::from_millis(800),
        "closed before the timeout ({waited:?})"
    );
    assert_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_connects_and_sends_nothing_is_disconnected_after_the_header_read_timeout() {
    let app = sqlite_app(&["--header-read-timeout", "1s"]).await;
    // Silent, and silent after the first bytes of the HTTP/2 preface (the server cannot tell
    // HTTP/1.1 from HTTP/2 yet).
    for opening in [&b""[..], b"PRI * HTTP/2"] {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(opening).await.unwrap();
        let started = Instant::now();
        let (_, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
        let waited = started.elapsed();
        assert!(
            closed,
            "a client that sent {:?} is still connected after {waited:?}",
            String::from_utf8_lossy(opening)
        );
        assert!(
            waited >= Duration::from_millis(800),
            "closed before the timeout ({waited:?})"
        );
    }
    assert_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let app = sqlite_app(&["--header-read-timeout", "1s"]).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s, Duration::from_secs(5)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let started = Instant::now();
    let (rest, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert!(closed, "an idle connection is still open after {waited:?}");
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        waited >= Duration::from_millis(800),
        "closed before the timeout ({waited:?})"
    );
}

/// Sends a login request head with `Content-Length` for the whole body, and only the body's
/// first half; returns the socket and the rest of the body.
pub(crate) async fn start_slow_login(app: &TestApp) -> (TcpStream, String) {
    let body = login_body(100);
    let (first, rest) = body.split_at(50);
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(
        format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{first}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    (s, rest.to_owned())
}

/// Holds an exclusive lock on the `users` table of a PostgreSQL app's database until
/// [`unlock_users`]: any request that reads an account (a login) waits in its handler, holding
/// its in-flight permit, for as long as the test likes.
async fn lock_users(app: &TestApp) -> sqlx::PgConnection {
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db.url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut c).await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut c)
        .await
        .unwrap();
    c
}

async fn unlock_users(mut c: sqlx::PgConnection) {
    sqlx::query("COMMIT").execute(&mut c).await.unwrap();
}

fn unknown_login(app: &TestApp) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "x"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_slower_than_the_request_timeout_is_answered_408() {
    let app = spawn_app_with(Backend::Postgres, &[], &["--request-timeout", "1s"]).await;
    let lock = lock_users(&app).await;
    let started = Instant::now();
    let r = unknown_login(&app).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(
        header(&r, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_problem(r, 408, "request_timeout").await;
    assert!(
        waited >= Duration::from_millis(800),
        "answered before the timeout ({waited:?})"
    );
    unlock_users(lock).await;
    assert_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_in_flight_requests_get_503_server_busy_but_the_probes_are_answered() {
    let app = spawn_app_with(
        Backend::Postgres,
        &[],
        &[
            "--max-in-flight",
            "1",
            "--max-in-flight-per-client",
            "10",
            "--request-timeout",
            "30s",
        ],
    )
    .await;
    let lock = lock_users(&app).await;
    // The login waits on the lock holding the only permit. It and the polls below race for
    // that permit: a login that lost it was answered 503 (the rule under test) and is sent again.
    let slow = {
        let login = unknown_login(&app);
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let r = login.try_clone().unwrap().send().await.unwrap();
                if r.status() != 503 || Instant::now() > deadline {
                    return r;
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let busy = loop {
        let r = get(&app, "/.well-known/jwks.json").await;
        if r.status() == 503 {
            break r;
        }
        assert_eq!(r.status(), 200);
        assert!(
            Instant::now() < deadline,
            "the slow login never held the only permit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let retry: u64 = header(&busy, RETRY_AFTER.as_str())
        .expect("Retry-After on 503")
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_problem(busy, 503, "server_busy").await;
    // Still busy while the login is held, for any route but the probes.
    let r = app.post_json("/api/v1/auth/register", &json!({})).await;
    assert_problem(r, 503, "server_busy").await;
    assert_eq!(get(&app, "/health/live").await.status(), 200);
    assert_eq!(get(&app, "/health/ready").await.status(), 200);

    // The login finishes and frees its permit.
    unlock_users(lock).await;
    assert_problem(slow.await.unwrap(), 401, "invalid_credentials").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(&app, "/.well-known/jwks.json").await;
        if r.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {} after the slow request ended",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.create_user("a@example.com").await;
    let r = app.login("a@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Servers started from raw arguments (flags the harness fixes itself, and startup errors)
// ---------------------------------------------------------------------------------------------

/// Arguments for `sesame … serve …` over `db`, with `serve` flags last.
fn serve_args<'a>(db: &'a TestDb, serve: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sesame", "--database-url", &db.url, "--log-level", "warn"];
    args.extend_from_slice(&["serve", "--listen", "127.0.0.1:0"]);
    args.extend_from_slice(FAST_HASH);
    if !serve.contains(&"--public-url") {
        args.extend_from_slice(&["--public-url", PUBLIC_ORIGIN]);
    }
    args.extend_from_slice(serve);
    args
}

/// The message of the startup error for these `serve` flags, or `None` if the server starts.
async fn startup_error(serve: &[&str]) -> Option<String> {
    let db = TestDb::new(Backend::Sqlite).await;
    let args = serve_args(&db, serve);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return Some(e.to_string()),
    };
    let Command::Serve(mut cfg) = cli.command else {
        unreachable!()
    };
    match Application::build(&cli.common, &mut cfg).await {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// A server started directly from `serve` flags, stopped on drop.
struct RawServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    _db: TestDb,
}

impl RawServer {
    async fn start(serve: &[&str]) -> Self {
        let db = TestDb::new(Backend::Sqlite).await;
        let args = serve_args(&db, serve);
        let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("args {args:?}: {e}"));
        let Command::Serve(mut cfg) = cli.command else {
            unreachable!()
        };
        let app = Application::build(&cli.common, &mut cfg)
            .await
            .unwrap_or_else(|e| panic!("server starts: {e}"));
        let addr = app.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = app
                .run(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            addr,
            shutdown: Some(tx),
            _db: db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
