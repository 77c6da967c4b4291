//! Sesame as an OpenID Connect provider, seen by real relying-party libraries: the `openidconnect`
//! crate (discovery, the authorization-code flow with PKCE through the hosted pages in headless
//! Chromium, ID-token validation, UserInfo, refresh) and the `oauth2` crate (client
//! credentials); and the negative cases of the authorization and token endpoints, on both
//! backends, with the hosted forms posted as a browser would post them.

use crate::chromium::Chromium;
use crate::helpers::{spawn_app_with, Backend, TestApp, PASSWORD};
use crate::second_factor::{audited, call, claims, expect};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const ADMIN: &str = "admin@example.com";
const USER: &str = "pat@example.com";
const CLIENTS: &str = "/api/v1/admin/clients";
const AUTHORIZE: &str = "/oauth2/authorize";
const TOKEN: &str = "/api/v1/auth/token";

/// A provider whose public URL is the address it listens on (the issuer a relying party
/// discovers must be the one it asked), with a first admin and one user.
async fn provider(b: Backend) -> (TestApp, String, String) {
    let port = crate::smtp::free_port();
    let listen = format!("127.0.0.1:{port}");
    let issuer = format!("http://localhost:{port}");
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--listen",
            &listen,
            "--public-url",
            &issuer,
            "--bootstrap-admin-email",
            ADMIN,
            "--bootstrap-admin-password",
            PASSWORD,
        ],
    )
    .await;
    app.create_user(USER).await;
    let admin = app.tokens(ADMIN).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, issuer, admin)
}

/// Registers a client and returns its registration (with `client_secret` if confidential).
async fn register(app: &TestApp, admin: &str, body: Value) -> Value {
    expect(
        call(app, Method::POST, CLIENTS, Some(admin), Some(&body)).await,
        201,
    )
    .await
}

/// A relying party's callback: a local server that answers every request and remembers the
/// query strings it was sent.
struct Callback {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn callback() -> Callback {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr().unwrap().port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let kept = Arc::clone(&kept);
        async move {
            // The browser also asks for /favicon.ico: only the callback counts.
            if uri.path() == "/callback" {
                kept.lock().unwrap().push(uri.query().unwrap_or("").to_owned());
            }
            axum::response::Html("<!doctype html><html lang=\"en\"><title>Signed in</title><h1>Signed in</h1></html>")
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Callback { url, seen }
}

fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The whole code flow as an application does it with the `openidconnect` crate, the person
/// signing in and consenting on the hosted pages in Chromium: discovery, PKCE and nonce, the
/// code at the callback with `state` and `iss`, the exchange, ID-token validation (RS256
/// against the discovered JWKS), UserInfo, a refresh; then single sign-on: a second
/// authorization in the same browser goes straight back with a code. The Sesame account API
/// refuses the client's access token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_signs_a_user_in_through_the_hosted_pages_with_pkce() {
    let (app, issuer, admin) = provider(Backend::Sqlite).await;
    let cb = callback().await;
    let reg = register(
        &app,
        &admin,
        json!({"client_name": "Shop", "redirect_uris": [cb.url]}),
    )
    .await;
    let http = no_redirects();
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
        .await
        .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(reg["client_id"].as_str().unwrap().to_owned()),
        Some(ClientSecret::new(
            reg["client_secret"].as_str().unwrap().to_owned(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(cb.url.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let chromium = Chromium::launch().await;
    let (code, second) = chromium
        .run_returning(async {
            let mut tab = chromium.tab().await;
            tab.accept_language("en").await;
            let page = tab.open(auth_url.as_str()).await;
            assert_eq!(page.status, Some(200), "the sign-in page");
            page.assert_clean(&issuer, "sign-in page");
            page.assert_renders("sign-in page");
            assert_eq!(page.shown.h1.as_deref(), Some("Sign in"));
            tab.type_into("#login", USER).await;
            tab.type_into("#password", "not the password at all").await;
            let refused = tab.click_and_wait("#submit").await;
            assert_eq!(refused.status, Some(401), "a wrong password is refused");
            assert!(tab
                .eval::<String>("document.getElementById('error').textContent")
                .await
                .contains("incorrect"));
            tab.type_into("#password", PASSWORD).await;
            let consent = tab.click_and_wait("#submit").await;
            assert_eq!(consent.status, Some(200));
            assert_eq!(consent.shown.h1.as_deref(), Some("Allow access?"));
            consent.assert_clean(&issuer, "consent page");
            let text: String = tab
                .eval("document.getElementById('scopes').textContent")
                .await;
            assert!(text.contains("see your email address"), "{text}");
            let back = tab.click_and_wait("#allow").await;
            assert!(back.shown.url.starts_with(&cb.url), "{}", back.shown.url);
            let first = cb.seen.lock().unwrap().last().cloned().unwrap();
            // Single sign-on: the same browser, a new request, no page at all.
            let again = tab.open(auth_url.as_str()).await;
            assert!(
                again.shown.url.starts_with(&cb.url),
                "no sign-in the second time: {}",
                again.shown.url
            );
            let second = cb.seen.lock().unwrap().last().cloned().unwrap();
            (first, second)
        })
        .await;
    assert_eq!(
        param(&code, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        param(&code, "iss").as_deref(),
        Some(issuer.as_str()),
        "RFC 9207"
    );
    let first_code = param(&code, "code").expect("a code");
    assert_ne!(
        param(&second, "code"),
        Some(first_code.clone()),
        "a new code each time"
    );

    let tokens = rp
        .exchange_code(AuthorizationCode::new(first_code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code is exchanged");
    let id_token = tokens.id_token().expect("an ID token with openid");
    let id = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token verifies, nonce included");
    assert_eq!(id.email().map(|e| e.as_str()), Some(USER));
    assert_eq!(id.email_verified(), Some(false));
    assert!(id.auth_time().is_some());
    assert_eq!(claims(id_token.to_string().as_str())["amr"], json!(["pwd"]));
    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), id.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some(USER));

    let access = tokens.access_token().secret().clone();
    let at = claims(&access);
    assert_eq!(at["client_id"], reg["client_id"]);
    assert_eq!(at["scope"], "openid email profile offline_access");
    assert_eq!(
        app.me(&access).await.status(),
        401,
        "the account API refuses a client's token"
    );

    let refreshed = rp
        .exchange_refresh_token(tokens.refresh_token().expect("offline_access gives one"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().map(|t| t.secret().clone()),
        tokens.refresh_token().map(|t| t.secret().clone()),
        "rotated"
    );
    assert!(
        refreshed.id_token().is_some(),
        "a fresh ID token on refresh"
    );
    assert_eq!(audited(&app, "oauth.consent_granted").await, 1);
    assert_eq!(audited(&app, "oauth.tokens_issued").await, 1);
}

/// A public client (a SPA or a mobile app): no secret, PKCE required, and a first-party client
/// is not asked for consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_first_party_client_signs_in_with_pkce_and_no_consent_page() {
    let (app, issuer, admin) = provider(Backend::Sqlite).await;
    let cb = callback().await;
    let reg = register(
        &app,
        &admin,
        json!({"client_name": "Console", "client_type": "public", "first_party": true,
               "redirect_uris": [cb.url], "scope": "openid email"}),
    )
    .await;
    assert!(reg.get("client_secret").is_none());
    let http = no_redirects();
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(reg["client_id"].as_str().unwrap().to_owned()),
        None,
    )
    .set_redirect_uri(RedirectUrl::new(cb.url.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let chromium = Chromium::launch().await;
    let query = chromium
        .run_returning(async {
            let mut tab = chromium.tab().await;
            tab.accept_language("de").await;
            let page = tab.open(auth_url.as_str()).await;
            assert_eq!(page.shown.lang, "de");
            assert_eq!(page.shown.h1.as_deref(), Some("Anmelden"));
            tab.type_into("#login", USER).await;
            tab.type_into("#password", PASSWORD).await;
            let back = tab.click_and_wait("#submit").await;
            assert!(
                back.shown.url.starts_with(&cb.url),
                "no consent page: {}",
                back.shown.url
            );
            cb.seen.lock().unwrap().last().cloned().unwrap()
        })
        .await;
    let tokens = rp
        .exchange_code(AuthorizationCode::new(param(&query, "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("a public client exchanges its code with the verifier alone");
    tokens
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("verifies");
    assert!(
        tokens.refresh_token().is_none(),
        "no offline_access, no refresh token"
    );
    assert_eq!(audited(&app, "oauth.consent_granted").await, 0);
}

// --- the negative cases, on both backends, without a browser --------------------------------

struct Rp {
    id: String,
    secret: Option<String>,
    redirect: String,
}

async fn web_client(app: &TestApp, admin: &str, extra: Value) -> Rp {
    let mut body = json!({"client_name": "Shop", "redirect_uris": ["https://shop.example.com/cb"]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let reg = register(app, admin, body).await;
    Rp {
        id: reg["client_id"].as_str().unwrap().to_owned(),
        secret: reg["client_secret"].as_str().map(str::to_owned),
        redirect: reg["redirect_uris"][0].as_str().unwrap_or("").to_owned(),
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn authorize_query(rp: &Rp, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &rp.id)
        .append_pair("redirect_uri", &rp.redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email offline_access")
        .append_pair("state", "s-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    q.finish()
}

/// A cookie's value from a response's `Set-Cookie` headers.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
}

/// The value of the hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// Signs in on the hosted form as a browser would, and returns the redirect's query and the
/// single-sign-on cookie.
async fn sign_in(app: &TestApp, query: &str) -> (String, String) {
    sign_in_as(app, query, USER).await
}

/// [`sign_in`] as `login`.
async fn sign_in_as(app: &TestApp, query: &str, login: &str) -> (String, String) {
    let http = no_redirects();
    let page = http
        .get(app.url(&format!("{AUTHORIZE}?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the sign-in page");
    let csrf = set_cookie(&page, "sesame_form").expect("a CSRF cookie");
    let html = page.text().await.unwrap();
    let mut form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    form.push(("sesame_action".into(), "sign_in".into()));
    form.push(("sesame_csrf".into(), hidden(&html, "sesame_csrf")));
    form.push(("login".into(), login.into()));
    form.push(("password".into(), PASSWORD.into()));
    let done = http
        .post(app.url(AUTHORIZE))
        .header("cookie", format!("sesame_form={csrf}"))
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "signed in: {:?}", done.text().await);
    let sso = set_cookie(&done, "sesame_sso").expect("the single-sign-on cookie");
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    let query = location
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    (query, sso)
}

async fn token_request(app: &TestApp, rp: &Rp, form: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = app.client.post(app.url(TOKEN)).form(form);
    if let Some(s) = &rp.secret {
        rb = rb.basic_auth(&rp.id, Some(s));
    }
    rb.send().await.unwrap()
}

async fn exchange(app: &TestApp, rp: &Rp, code: &str, verifier: &str) -> reqwest::Response {
    token_request(
        app,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &rp.redirect),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn oauth_error(r: reqwest::Response, status: u16, error: &str) -> Value {
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(error)),
        "{body}"
    );
    body
}

async fn an_unknown_client_or_unregistered_redirect_uri_is_never_redirected_to(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    let http = no_redirects();
    let evil = Rp {
        redirect: "https://evil.example.com/cb".into(),
        id: rp.id.clone(),
        secret: None,
    };
    for (what, query) in [
        ("an unregistered redirect URI", authorize_query(&evil, &[])),
        (
            "no redirect URI",
            authorize_query(&rp, &[]).replace("redirect_uri=", "x="),
        ),
        (
            "an unknown client",
            authorize_query(
                &Rp {
                    id: uuid::Uuid::now_v7().to_string(),
                    ..evil
                },
                &[],
            ),
        ),
    ] {
        let r = http
            .get(app.url(&format!("{AUTHORIZE}?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{what}");
        assert!(r.headers().get("location").is_none(), "{what}: no redirect");
        assert!(
            r.text().await.unwrap().contains("error-code"),
            "{what}: an error page"
        );
    }
}

async fn request_faults_go_back_to_the_client_as_rfc_6749_errors(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let public = web_client(&app, &admin, json!({"client_type": "public"})).await;
    let http = no_redirects();
    for (what, query, error) in [
        (
            "no PKCE from a public client",
            authorize_query(&public, &[]).replace("code_challenge", "x"),
            "invalid_request",
        ),
        (
            "plain PKCE",
            authorize_query(&public, &[]).replace("S256", "plain"),
            "invalid_request",
        ),
        (
            "a token response type",
            authorize_query(&public, &[]).replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            "an unknown scope",
            authorize_query(&public, &[]).replace("scope=openid", "scope=admin"),
            "invalid_scope",
        ),
        (
            "prompt=none without a session",
            authorize_query(&public, &[("prompt", "none")]),
            "login_required",
        ),
        (
            "a request object",
            authorize_query(&public, &[("request", "eyJ")]),
            "request_not_supported",
        ),
    ] {
        let r = http
            .get(app.url(&format!("{AUTHORIZE}?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{what}");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&public.redirect), "{what}: {location}");
        let q = location.split_once('?').unwrap().1;
        assert_eq!(
            param(q, "error").as_deref(),
            Some(error),
            "{what}: {location}"
        );
        assert_eq!(
            param(q, "state").as_deref(),
            Some("s-1"),
            "{what}: state echoed"
        );
    }
}

async fn a_code_is_single_use_and_its_second_use_revokes_what_the_first_issued(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    let (query, _) = sign_in(&app, &authorize_query(&rp, &[])).await;
    let code = param(&query, "code").unwrap();
    let first = expect(exchange(&app, &rp, &code, VERIFIER).await, 200).await;
    assert_eq!(
        claims(first["id_token"].as_str().unwrap())["nonce"],
        "n-1",
        "nonce echoed"
    );
    let access = first["access_token"].as_str().unwrap();
    let info = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    oauth_error(
        exchange(&app, &rp, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
    let info = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        info.status(),
        401,
        "the first exchange's session is revoked"
    );
    let refresh = first["refresh_token"].as_str().unwrap();
    oauth_error(
        token_request(
            &app,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(audited(&app, "oauth.code_reused").await, 1);
}

async fn a_wrong_or_missing_verifier_or_redirect_uri_spends_the_code(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    for (what, verifier, redirect) in [
        ("a wrong verifier", "x".repeat(43), rp.redirect.clone()),
        ("no verifier", String::new(), rp.redirect.clone()),
        (
            "another redirect URI",
            VERIFIER.to_owned(),
            "https://shop.example.com/other".to_owned(),
        ),
    ] {
        let (query, _) = sign_in(&app, &authorize_query(&rp, &[])).await;
        let code = param(&query, "code").unwrap();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
        ];
        if !verifier.is_empty() {
            form.push(("code_verifier", verifier.as_str()));
        }
        oauth_error(token_request(&app, &rp, &form).await, 400, "invalid_grant").await;
        oauth_error(
            exchange(&app, &rp, &code, VERIFIER).await,
            400,
            "invalid_grant",
        )
        .await;
        let _ = what;
    }
}

async fn an_expired_code_is_refused(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    let (query, _) = sign_in(&app, &authorize_query(&rp, &[])).await;
    app.clock.advance(std::time::Duration::from_secs(61));
    oauth_error(
        exchange(&app, &rp, &param(&query, "code").unwrap(), VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
}

async fn a_wrong_client_secret_is_invalid_client_with_a_basic_challenge(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    let (query, _) = sign_in(&app, &authorize_query(&rp, &[])).await;
    let wrong = Rp {
        secret: Some("wrong".into()),
        id: rp.id.clone(),
        redirect: rp.redirect.clone(),
    };
    let r = exchange(&app, &wrong, &param(&query, "code").unwrap(), VERIFIER).await;
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"sesame\"");
    oauth_error(r, 401, "invalid_client").await;
    // The code survives a failed client authentication: it was never looked at.
    expect(
        exchange(&app, &rp, &param(&query, "code").unwrap(), VERIFIER).await,
        200,
    )
    .await;
}

async fn single_sign_on_honours_prompt_and_max_age(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    let (_, sso) = sign_in(&app, &authorize_query(&rp, &[])).await;
    let http = no_redirects();
    let get = |extra: &'static [(&'static str, &'static str)]| {
        let url = app.url(&format!("{AUTHORIZE}?{}", authorize_query(&rp, extra)));
        let cookie = format!("sesame_sso={sso}");
        let http = http.clone();
        async move { http.get(url).header("cookie", cookie).send().await.unwrap() }
    };
    let r = get(&[("prompt", "none")]).await;
    assert_eq!(r.status(), 303, "signed in: prompt=none answers at once");
    assert!(r.headers()["location"].to_str().unwrap().contains("code="));
    assert_eq!(
        get(&[("prompt", "login")]).await.status(),
        200,
        "prompt=login asks again"
    );
    app.clock.advance(std::time::Duration::from_secs(120));
    assert_eq!(
        get(&[("max_age", "60")]).await.status(),
        200,
        "too old for max_age"
    );
    let r = get(&[("max_age", "60"), ("prompt", "none")]).await;
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=login_required"));
}

async fn a_third_party_client_needs_consent_and_prompt_none_says_so(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({})).await;
    let http = no_redirects();
    let page = http
        .get(app.url(&format!("{AUTHORIZE}?{}", authorize_query(&rp, &[]))))
        .send()
        .await
        .unwrap();
    let csrf = set_cookie(&page, "sesame_form").unwrap();
    let html = page.text().await.unwrap();
    let mut form: Vec<(String, String)> =
        url::form_urlencoded::parse(authorize_query(&rp, &[]).as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    form.push(("sesame_action".into(), "sign_in".into()));
    form.push(("sesame_csrf".into(), hidden(&html, "sesame_csrf")));
    form.push(("login".into(), USER.into()));
    form.push(("password".into(), PASSWORD.into()));
    let consent = http
        .post(app.url(AUTHORIZE))
        .header("cookie", format!("sesame_form={csrf}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 200, "the consent page");
    let sso = set_cookie(&consent, "sesame_sso").unwrap();
    let r = http
        .get(app.url(&format!(
            "{AUTHORIZE}?{}",
            authorize_query(&rp, &[("prompt", "none")])
        )))
        .header("cookie", format!("sesame_sso={sso}"))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=consent_required"));
    // A form posted without the CSRF token is refused and shows the form again.
    form.retain(|(k, _)| k != "sesame_csrf");
    let r = http
        .post(app.url(AUTHORIZE))
        .header("cookie", format!("sesame_form={csrf}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn client_credentials_give_a_token_with_no_user_to_the_oauth2_crate(b: Backend) {
    use oauth2::basic::BasicClient;
    use oauth2::{AuthUrl, TokenUrl};
    let (app, issuer, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"grant_types": ["client_credentials"]})).await;
    let client = BasicClient::new(oauth2::ClientId::new(rp.id.clone()))
        .set_client_secret(oauth2::ClientSecret::new(rp.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(format!("{issuer}{AUTHORIZE}")).unwrap())
        .set_token_uri(TokenUrl::new(app.url(TOKEN)).unwrap());
    let token = client
        .exchange_client_credentials()
        .request_async(&no_redirects())
        .await
        .expect("client credentials");
    let c = claims(token.access_token().secret());
    assert_eq!(c["sub"], rp.id.as_str());
    assert_eq!(c["client_id"], rp.id.as_str());
    assert!(c.get("sid").is_none(), "no session: {c}");
    assert!(token.refresh_token().is_none());
    assert_eq!(
        app.me(token.access_token().secret()).await.status(),
        401,
        "no user behind it"
    );
    // A client without the grant is refused.
    let web = web_client(&app, &admin, json!({})).await;
    oauth_error(
        token_request(&app, &web, &[("grant_type", "client_credentials")]).await,
        400,
        "unauthorized_client",
    )
    .await;
}

async fn discovery_names_every_endpoint_under_the_issuer(b: Backend) {
    let (app, issuer, _) = provider(b).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let meta: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(meta["issuer"], issuer.as_str());
        assert_eq!(
            meta["authorization_endpoint"],
            format!("{issuer}{AUTHORIZE}")
        );
        assert_eq!(meta["token_endpoint"], format!("{issuer}{TOKEN}"));
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            meta["id_token_signing_alg_values_supported"],
            json!(["RS256", "EdDSA"])
        );
    }
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["alg"].as_str())
        .collect();
    assert!(algs.contains(&"RS256") && algs.contains(&"EdDSA"), "{jwks}");
}

async fn introspect(app: &TestApp, rp: &Rp, token: &str) -> reqwest::Response {
    let mut rb = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", token), ("client_id", rp.id.as_str())]);
    if let Some(s) = &rp.secret {
        rb = app
            .client
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&rp.id, Some(s))
            .form(&[("token", token)]);
    }
    rb.send().await.unwrap()
}

async fn revoke(app: &TestApp, rp: &Rp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn revocation_ends_the_session_and_introspection_says_inactive_at_once(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({})).await;
    let resource = web_client(
        &app,
        &admin,
        json!({"first_party": true, "client_name": "API"}),
    )
    .await;
    let other = web_client(&app, &admin, json!({"client_name": "Other"})).await;
    let public = web_client(&app, &admin, json!({"client_type": "public"})).await;
    // The third-party client's consent, given once through the form.
    let (query, _) = consented_sign_in(&app, &rp).await;
    let tokens = expect(
        exchange(&app, &rp, &param(&query, "code").unwrap(), VERIFIER).await,
        200,
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let own = expect(introspect(&app, &rp, access).await, 200).await;
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["client_id"], rp.id.as_str());
    assert_eq!(own["scope"], "openid email offline_access");
    let seen = expect(introspect(&app, &resource, refresh).await, 200).await;
    assert_eq!(
        seen["active"], true,
        "a first-party resource server sees every token: {seen}"
    );
    assert_eq!(
        expect(introspect(&app, &other, access).await, 200).await,
        json!({"active": false}),
        "another client may not see it"
    );
    oauth_error(
        introspect(&app, &public, access).await,
        401,
        "invalid_client",
    )
    .await;
    oauth_error(
        revoke(&app, &other, refresh).await,
        400,
        "unauthorized_client",
    )
    .await;
    assert_eq!(
        revoke(&app, &rp, "not-a-token").await.status(),
        200,
        "RFC 7009 §2.2"
    );

    assert_eq!(revoke(&app, &rp, refresh).await.status(), 200);
    assert_eq!(
        expect(introspect(&app, &rp, access).await, 200).await,
        json!({"active": false})
    );
    oauth_error(
        token_request(
            &app,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
}

/// Signs in for a third-party client and allows it on the consent page.
async fn consented_sign_in(app: &TestApp, rp: &Rp) -> (String, String) {
    let http = no_redirects();
    let query = authorize_query(rp, &[]);
    let page = http
        .get(app.url(&format!("{AUTHORIZE}?{query}")))
        .send()
        .await
        .unwrap();
    let csrf = set_cookie(&page, "sesame_form").unwrap();
    let html = page.text().await.unwrap();
    let base: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut form = base.clone();
    form.push(("sesame_action".into(), "sign_in".into()));
    form.push(("sesame_csrf".into(), hidden(&html, "sesame_csrf")));
    form.push(("login".into(), USER.into()));
    form.push(("password".into(), PASSWORD.into()));
    let consent = http
        .post(app.url(AUTHORIZE))
        .header("cookie", format!("sesame_form={csrf}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 200, "the consent page");
    let sso = set_cookie(&consent, "sesame_sso").unwrap();
    let mut form = base;
    form.push(("sesame_action".into(), "consent".into()));
    form.push(("sesame_csrf".into(), hidden(&html, "sesame_csrf")));
    form.push(("decision".into(), "allow".into()));
    let done = http
        .post(app.url(AUTHORIZE))
        .header("cookie", format!("sesame_form={csrf}; sesame_sso={sso}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    (location.split_once('?').unwrap().1.to_owned(), sso)
}

async fn logout_with_an_id_token_hint_ends_the_sessions_and_goes_only_to_a_registered_uri(
    b: Backend,
) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(
        &app,
        &admin,
        json!({"first_party": true, "post_logout_redirect_uris": ["https://shop.example.com/bye"]}),
    )
    .await;
    let (query, sso) = sign_in(&app, &authorize_query(&rp, &[])).await;
    let tokens = expect(
        exchange(&app, &rp, &param(&query, "code").unwrap(), VERIFIER).await,
        200,
    )
    .await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let http = no_redirects();
    let logout = |extra: &[(&str, &str)]| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        app.url(&format!("/oauth2/logout?{}", q.finish()))
    };
    let r = http
        .get(logout(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an unregistered URI is refused");
    assert!(r.headers().get("location").is_none());
    assert_eq!(
        app.get_auth("/oauth2/userinfo", access).await.status(),
        200,
        "nothing ended"
    );
    // Without a hint a person must confirm: nothing ends yet.
    let r = http
        .get(logout(&[]))
        .header("cookie", format!("sesame_sso={sso}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("sesame_action"));
    assert_eq!(app.get_auth("/oauth2/userinfo", access).await.status(), 200);

    let r = http
        .get(logout(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://shop.example.com/bye"),
            ("state", "st"),
        ]))
        .header("cookie", format!("sesame_sso={sso}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "https://shop.example.com/bye?state=st"
    );
    assert_eq!(
        set_cookie(&r, "sesame_sso").as_deref(),
        Some(""),
        "the cookie is cleared"
    );
    assert_eq!(
        app.get_auth("/oauth2/userinfo", access).await.status(),
        401,
        "the client session ended"
    );
    let r = http
        .get(app.url(&format!(
            "{AUTHORIZE}?{}",
            authorize_query(&rp, &[("prompt", "none")])
        )))
        .header("cookie", format!("sesame_sso={sso}"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=login_required"),
        "the browser session ended too"
    );
}

async fn an_account_that_must_enrol_a_second_factor_gets_no_code(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    let db = app.stop().await;
    let app = crate::helpers::spawn_on(db, &[], &["--mfa-required", "all"]).await;
    let (query, _) = sign_in(&app, &authorize_query(&rp, &[])).await;
    assert_eq!(
        param(&query, "error").as_deref(),
        Some("access_denied"),
        "{query}"
    );
    assert!(param(&query, "code").is_none());
}

async fn deleting_a_client_ends_its_sessions_and_a_stranger_cannot_spend_its_codes(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    let other = web_client(&app, &admin, json!({"client_name": "Other"})).await;
    let (query, _) = sign_in(&app, &authorize_query(&rp, &[("prompt", "select_account")])).await;
    let code = param(&query, "code").expect("select_account is no obstacle");
    let tokens = expect(exchange(&app, &rp, &code, VERIFIER).await, 200).await;
    let access = tokens["access_token"].as_str().unwrap();
    // Another client replaying the (used) code is refused and revokes nothing.
    oauth_error(
        exchange(&app, &other, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(app.get_auth("/oauth2/userinfo", access).await.status(), 200);
    assert_eq!(audited(&app, "oauth.code_reused").await, 0);
    // A first-party client's token carries the user's roles; the client's deletion ends it.
    assert!(claims(access)["roles"].is_array());
    let r = call(
        &app,
        Method::DELETE,
        &format!("{CLIENTS}/{}", rp.id),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.get_auth("/oauth2/userinfo", access).await.status(), 401);
}

async fn a_third_party_clients_token_carries_no_roles(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({})).await;
    let (query, _) = consented_sign_in(&app, &rp).await;
    let tokens = expect(
        exchange(&app, &rp, &param(&query, "code").unwrap(), VERIFIER).await,
        200,
    )
    .await;
    let c = claims(tokens["access_token"].as_str().unwrap());
    assert!(c.get("roles").is_none_or(|r| r == &json!([])), "{c}");
}

async fn a_user_lists_and_withdraws_grants_which_ends_the_clients_sessions(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({})).await;
    let (query, sso) = consented_sign_in(&app, &rp).await;
    let tokens = expect(
        exchange(&app, &rp, &param(&query, "code").unwrap(), VERIFIER).await,
        200,
    )
    .await;
    // A second code, not exchanged yet when the grant is withdrawn.
    let pending = no_redirects()
        .get(app.url(&format!("{AUTHORIZE}?{}", authorize_query(&rp, &[]))))
        .header("cookie", format!("sesame_sso={sso}"))
        .send()
        .await
        .unwrap();
    let pending_query = pending.headers()["location"].to_str().unwrap().to_owned();
    let pending = param(pending_query.split_once('?').unwrap().1, "code").unwrap();
    let mine = app.tokens(USER).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let grants = expect(
        call(
            &app,
            Method::GET,
            "/api/v1/users/me/grants",
            Some(&mine),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
    assert_eq!(grants[0]["client_id"], rp.id.as_str());
    assert_eq!(grants[0]["client_name"], "Shop");
    assert_eq!(grants[0]["scope"], "openid email offline_access");
    let one = format!("/api/v1/users/me/grants/{}", rp.id);
    assert_eq!(
        call(&app, Method::DELETE, &one, Some(&mine), None)
            .await
            .status(),
        204
    );
    oauth_error(
        exchange(&app, &rp, &pending, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        token_request(
            &app,
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.get_auth("/oauth2/userinfo", tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    let grants = expect(
        call(
            &app,
            Method::GET,
            "/api/v1/users/me/grants",
            Some(&mine),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(grants, json!([]));
    assert_eq!(
        call(&app, Method::DELETE, &one, Some(&mine), None)
            .await
            .status(),
        404
    );
    let again = no_redirects()
        .get(app.url(&format!("{AUTHORIZE}?{}", authorize_query(&rp, &[]))))
        .header("cookie", format!("sesame_sso={sso}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "consent is asked again");
    assert!(again.text().await.unwrap().contains("name=\"decision\""));
    assert_eq!(audited(&app, "oauth.grant_revoked").await, 1);
}

async fn the_password_grant_is_per_client_and_can_be_turned_off_for_everyone(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let password = [
        ("grant_type", "password"),
        ("username", USER),
        ("password", PASSWORD),
    ];
    let web = web_client(&app, &admin, json!({})).await;
    oauth_error(
        token_request(&app, &web, &password).await,
        400,
        "unauthorized_client",
    )
    .await;
    let console = web_client(
        &app,
        &admin,
        json!({"first_party": true, "grant_types": ["password", "refresh_token"], "redirect_uris": []}),
    )
    .await;
    let pair = expect(token_request(&app, &console, &password).await, 200).await;
    let refresh = pair["refresh_token"].as_str().unwrap();
    let again = expect(
        token_request(
            &app,
            &console,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
        200,
    )
    .await;
    assert!(again["access_token"].is_string());
    oauth_error(
        token_request(
            &app,
            &web,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", again["refresh_token"].as_str().unwrap()),
            ],
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;

    let db = app.stop().await;
    let app = crate::helpers::spawn_on(db, &[], &["--password-grant", "false"]).await;
    let off = app
        .client
        .post(app.url(TOKEN))
        .form(&password)
        .send()
        .await
        .unwrap();
    oauth_error(off, 400, "unsupported_grant_type").await;
    oauth_error(
        token_request(&app, &console, &password).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(!meta["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("password")));
}

async fn someone_elses_id_token_hint_does_not_sign_this_browser_out(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let rp = web_client(&app, &admin, json!({"first_party": true})).await;
    let (_, victim_sso) = sign_in(&app, &authorize_query(&rp, &[])).await;
    // The attacker's own ID token, for their own account.
    app.create_user("mallory@example.com").await;
    let (query, _) = sign_in_as(&app, &authorize_query(&rp, &[]), "mallory@example.com").await;
    let theirs = expect(
        exchange(&app, &rp, &param(&query, "code").unwrap(), VERIFIER).await,
        200,
    )
    .await;
    let hint = theirs["id_token"].as_str().unwrap();
    let r = no_redirects()
        .get(app.url(&format!("/oauth2/logout?id_token_hint={hint}")))
        .header("cookie", format!("sesame_sso={victim_sso}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "asked to confirm");
    assert!(set_cookie(&r, "sesame_sso").is_none(), "the cookie stays");
    let still = no_redirects()
        .get(app.url(&format!(
            "{AUTHORIZE}?{}",
            authorize_query(&rp, &[("prompt", "none")])
        )))
        .header("cookie", format!("sesame_sso={victim_sso}"))
        .send()
        .await
        .unwrap();
    assert!(
        still.headers()["location"]
            .to_str()
            .unwrap()
            .contains("code="),
        "still signed in"
    );
}

async fn introspection_and_revocation_know_enrolment_and_service_tokens(b: Backend) {
    let (app, _, admin) = provider(b).await;
    let resource = web_client(
        &app,
        &admin,
        json!({"first_party": true, "client_name": "API"}),
    )
    .await;
    let service = web_client(&app, &admin, json!({"grant_types": ["client_credentials"]})).await;
    let console = web_client(
        &app,
        &admin,
        json!({"first_party": true, "grant_types": ["password", "refresh_token"], "redirect_uris": []}),
    )
    .await;
    // The password client revokes its own (API) session.
    let pair = expect(
        token_request(
            &app,
            &console,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
            ],
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        revoke(&app, &console, pair["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.me(pair["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    // A client_credentials token cannot be revoked, and dies with its client.
    let st = expect(
        token_request(&app, &service, &[("grant_type", "client_credentials")]).await,
        200,
    )
    .await;
    let st = st["access_token"].as_str().unwrap();
    oauth_error(
        revoke(&app, &service, st).await,
        400,
        "unsupported_token_type",
    )
    .await;
    assert_eq!(
        expect(introspect(&app, &resource, st).await, 200).await["active"],
        true
    );
    let r = call(
        &app,
        Method::DELETE,
        &format!("{CLIENTS}/{}", service.id),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        expect(introspect(&app, &resource, st).await, 200).await,
        json!({"active": false})
    );
    // An enrolment-only token is never active for a resource server.
    let db = app.stop().await;
    let app = crate::helpers::spawn_on(db, &[], &["--mfa-required", "all"]).await;
    let limited = app.tokens(USER).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(claims(&limited)["aud"], "urn:sesame:mfa-enrolment");
    assert_eq!(
        expect(introspect(&app, &resource, &limited).await, 200).await,
        json!({"active": false})
    );
}

crate::on_every_backend!(
    someone_elses_id_token_hint_does_not_sign_this_browser_out,
    introspection_and_revocation_know_enrolment_and_service_tokens,
    the_password_grant_is_per_client_and_can_be_turned_off_for_everyone,
    a_user_lists_and_withdraws_grants_which_ends_the_clients_sessions,
    an_account_that_must_enrol_a_second_factor_gets_no_code,
    deleting_a_client_ends_its_sessions_and_a_stranger_cannot_spend_its_codes,
    a_third_party_clients_token_carries_no_roles,
    revocation_ends_the_session_and_introspection_says_inactive_at_once,
    logout_with_an_id_token_hint_ends_the_sessions_and_goes_only_to_a_registered_uri,
    an_unknown_client_or_unregistered_redirect_uri_is_never_redirected_to,
    request_faults_go_back_to_the_client_as_rfc_6749_errors,
    a_code_is_single_use_and_its_second_use_revokes_what_the_first_issued,
    a_wrong_or_missing_verifier_or_redirect_uri_spends_the_code,
    an_expired_code_is_refused,
    a_wrong_client_secret_is_invalid_client_with_a_basic_challenge,
    single_sign_on_honours_prompt_and_max_age,
    a_third_party_client_needs_consent_and_prompt_none_says_so,
    client_credentials_give_a_token_with_no_user_to_the_oauth2_crate,
    discovery_names_every_endpoint_under_the_issuer,
);
