//! Sessions over time: refresh-token rotation, reuse detection and its grace window for
//! concurrent tabs, logout and logout-all, and the OAuth 2.0 token endpoint (RFC 6749) both by
//! hand and through a standard OAuth2 client library.

use crate::helpers::text_field as s;
use crate::helpers::{assert_problem, spawn_app, spawn_app_with, Backend, TestApp, PASSWORD};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    ClientId, RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, TokenResponse,
    TokenUrl,
};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN_PATH: &str = "/api/v1/auth/token";

/// (what, form fields, expected OAuth `error`).
type FormCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

fn header(r: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Refreshes and expects success; returns the token response.
async fn refreshed(app: &TestApp, rt: &str) -> Value {
    let r = app.refresh(rt).await;
    assert_eq!(r.status(), 200, "refresh should succeed");
    r.json().await.unwrap()
}

async fn assert_refresh_rejected(app: &TestApp, rt: &str, what: &str) {
    let r = app.refresh(rt).await;
    assert_eq!(r.status(), 401, "{what}");
    assert_problem(r, 401, "invalid_refresh_token").await;
}

async fn assert_access_rejected(app: &TestApp, at: &str, what: &str) {
    let r = app.me(at).await;
    assert_eq!(r.status(), 401, "{what}");
    assert_problem(r, 401, "invalid_token").await;
}

fn session_of(access_token: &str) -> Value {
    use base64::Engine as _;
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].clone()
}

async fn token_form(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(TOKEN_PATH))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Asserts an RFC 6749 §5.2 error: 400, plain JSON with `error` and `error_description`, never
/// cached.
async fn assert_oauth_error(r: reqwest::Response, error: &str, what: &str) {
    // RFC 6749 §5.2: 401 for a failed client authentication, 400 for the rest.
    let status = if error == "invalid_client" { 401 } else { 400 };
    assert_eq!(r.status(), status, "{what}: status");
    assert_eq!(
        header(&r, CONTENT_TYPE).as_deref(),
        Some("application/json"),
        "{what}: an OAuth error is plain JSON, not problem+json"
    );
    assert_eq!(
        header(&r, CACHE_CONTROL).as_deref(),
        Some("no-store"),
        "{what}"
    );
    assert_eq!(header(&r, PRAGMA).as_deref(), Some("no-cache"), "{what}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "{what}: {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
    assert!(body.get("code").is_none(), "{what}: not a problem: {body}");
}

/// Asserts an RFC 6749 §5.1 success and returns the body.
async fn assert_oauth_tokens(r: reqwest::Response, what: &str) -> Value {
    assert_eq!(r.status(), 200, "{what}: status");
    assert_eq!(
        header(&r, CACHE_CONTROL).as_deref(),
        Some("no-store"),
        "{what}"
    );
    assert_eq!(header(&r, PRAGMA).as_deref(), Some("no-cache"), "{what}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer", "{what}: {body}");
    assert_eq!(body["expires_in"], 900, "{what}: {body}");
    assert!(body["access_token"].is_string(), "{what}: {body}");
    assert!(body["refresh_token"].is_string(), "{what}: {body}");
    body
}

fn oauth_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn refreshing_rotates_the_refresh_token_and_issues_a_working_access_token(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let rt0 = s(&tokens, "refresh_token");
    let at0 = s(&tokens, "access_token");

    let r = app.refresh(&rt0).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, CACHE_CONTROL).as_deref(), Some("no-store"));
    assert_eq!(header(&r, PRAGMA).as_deref(), Some("no-cache"));
    let renewed: Value = r.json().await.unwrap();
    let rt1 = s(&renewed, "refresh_token");
    let at1 = s(&renewed, "access_token");
    assert_ne!(rt1, rt0, "the refresh token rotates");
    assert_ne!(at1, at0);
    assert_eq!(rt1.len(), 43, "same shape as the first refresh token");
    assert_eq!(renewed["token_type"], "Bearer");
    assert_eq!(renewed["expires_in"], 900);
    assert_eq!(renewed["user"]["email"], "alice@example.com");
    assert_eq!(session_of(&at1), session_of(&at0), "same session");
    assert_eq!(
        app.me(&at1).await.status(),
        200,
        "the new access token works"
    );

    // The successor rotates in turn.
    let again = refreshed(&app, &rt1).await;
    let rt2 = s(&again, "refresh_token");
    assert!(rt2 != rt1 && rt2 != rt0);
    assert_eq!(app.me(&s(&again, "access_token")).await.status(), 200);
}

async fn reusing_a_rotated_refresh_token_after_the_grace_window_revokes_the_session(b: Backend) {
    let app = spawn_app_with(b, &[], &["--refresh-reuse-grace", "0s"]).await;
    let victim = app.user_with_tokens("alice@example.com").await;
    let other_device = app.tokens("alice@example.com").await;
    let stolen = s(&victim, "refresh_token");

    let renewed = refreshed(&app, &stolen).await;
    let successor = s(&renewed, "refresh_token");
    let at_old = s(&victim, "access_token");
    let at_new = s(&renewed, "access_token");
    assert_eq!(app.me(&at_new).await.status(), 200, "before the reuse");

    // The rotated token comes back: theft.
    assert_refresh_rejected(&app, &stolen, "reused after the grace window").await;

    // The whole session is gone: the live successor and every access token of it.
    assert_refresh_rejected(&app, &successor, "successor after theft").await;
    assert_access_rejected(&app, &at_new, "newest access token after theft").await;
    assert_access_rejected(&app, &at_old, "first access token after theft").await;
    assert_refresh_rejected(&app, &stolen, "stolen token again").await;

    // Another session of the same user is untouched.
    let other_at = s(&other_device, "access_token");
    assert_eq!(app.me(&other_at).await.status(), 200, "other session");
    let other = refreshed(&app, &s(&other_device, "refresh_token")).await;
    assert_eq!(app.me(&s(&other, "access_token")).await.status(), 200);
}

async fn a_refresh_token_reused_within_the_grace_window_gets_the_same_successor(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let rt0 = s(&tokens, "refresh_token");
    let first = refreshed(&app, &rt0).await;
    let second = refreshed(&app, &rt0).await;
    assert_eq!(first["refresh_token"], second["refresh_token"]);
    assert_ne!(first["refresh_token"], rt0.as_str());
    // Not treated as theft: the session and the successor still work.
    assert_eq!(app.me(&s(&second, "access_token")).await.status(), 200);
    assert_eq!(app.me(&s(&first, "access_token")).await.status(), 200);
    refreshed(&app, &s(&first, "refresh_token")).await;
}

async fn concurrent_refreshes_with_one_token_all_get_the_same_successor(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let rt0 = s(&tokens, "refresh_token");

    let responses = futures::future::join_all((0..10).map(|_| app.refresh(&rt0))).await;
    let mut bodies = Vec::new();
    for r in responses {
        assert_eq!(r.status(), 200, "every tab's refresh succeeds");
        bodies.push(r.json::<Value>().await.unwrap());
    }
    let successor = s(&bodies[0], "refresh_token");
    assert_ne!(successor, rt0);
    for body in &bodies {
        assert_eq!(body["refresh_token"], successor.as_str(), "one successor");
        assert_eq!(app.me(&s(body, "access_token")).await.status(), 200);
    }
    // Exactly one rotation happened: the original token and its one successor are stored.
    let stored = app
        .db
        .text("SELECT CAST(COUNT(*) AS TEXT) FROM refresh_tokens")
        .await;
    assert_eq!(stored.as_deref(), Some("2"), "one rotation, not ten");

    // The successor is live and rotates normally.
    let next = refreshed(&app, &successor).await;
    let rt2 = s(&next, "refresh_token");
    assert!(rt2 != successor && rt2 != rt0);

    // A late tab, still inside the grace window, gets the family's live member (the successor
    // was rotated meanwhile, so that is rt2), never a used token and never a new family member.
    let late = refreshed(&app, &rt0).await;
    assert_eq!(late["refresh_token"], rt2.as_str());
    assert_eq!(app.me(&s(&late, "access_token")).await.status(), 200);
    let stored = app
        .db
        .text("SELECT CAST(COUNT(*) AS TEXT) FROM refresh_tokens")
        .await;
    assert_eq!(stored.as_deref(), Some("3"), "the late tab minted nothing");
    // And the head of the family still works.
    assert_eq!(app.me(&s(&next, "access_token")).await.status(), 200);
    refreshed(&app, &rt2).await;
}

async fn junk_and_unknown_refresh_tokens_are_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let valid = s(&tokens, "refresh_token");
    let access = s(&tokens, "access_token");
    // Right shape (43 base64url characters, 32 bytes), never issued.
    let unknown = "A".repeat(43);
    let mut one_off = valid.clone();
    one_off.pop();
    let too_long = format!("{valid}A");
    for (what, t) in [
        ("empty", ""),
        ("junk", "junk"),
        ("unknown but well-formed", unknown.as_str()),
        ("truncated", one_off.as_str()),
        ("too long", too_long.as_str()),
        ("an access token", access.as_str()),
        (
            "not base64url",
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ),
    ] {
        assert_refresh_rejected(&app, t, what).await;
    }
    // None of this disturbed the real token.
    refreshed(&app, &valid).await;
}

async fn a_refresh_token_of_a_logged_out_session_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let r = app
        .post_json_auth("/api/v1/auth/logout", &s(&tokens, "access_token"), None)
        .await;
    assert_eq!(r.status(), 204);
    assert_refresh_rejected(&app, &s(&tokens, "refresh_token"), "after logout").await;
}

async fn logout_ends_only_the_current_session_at_once(b: Backend) {
    let app = spawn_app(b).await;
    let here = app.user_with_tokens("alice@example.com").await;
    let elsewhere = app.tokens("alice@example.com").await;
    let at = s(&here, "access_token");
    assert_eq!(app.me(&at).await.status(), 200);

    let r = app.post_json_auth("/api/v1/auth/logout", &at, None).await;
    assert_eq!(r.status(), 204);
    assert_access_rejected(&app, &at, "the very next request").await;
    assert_refresh_rejected(&app, &s(&here, "refresh_token"), "its refresh token").await;
    let again = app.post_json_auth("/api/v1/auth/logout", &at, None).await;
    assert_problem(again, 401, "invalid_token").await;

    // The user's other session carries on.
    assert_eq!(app.me(&s(&elsewhere, "access_token")).await.status(), 200);
    refreshed(&app, &s(&elsewhere, "refresh_token")).await;
}

async fn logout_all_ends_every_session_of_the_user(b: Backend) {
    let app = spawn_app(b).await;
    let a = app.user_with_tokens("alice@example.com").await;
    let b2 = app.tokens("alice@example.com").await;
    let c = app.tokens("alice@example.com").await;
    // A rotated session counts too.
    let c = refreshed(&app, &s(&c, "refresh_token")).await;
    let bob = app.user_with_tokens("bob@example.com").await;

    let r = app
        .post_json_auth("/api/v1/auth/logout-all", &s(&b2, "access_token"), None)
        .await;
    assert_eq!(r.status(), 204);
    for (what, t) in [("first", &a), ("caller", &b2), ("rotated", &c)] {
        assert_access_rejected(&app, &s(t, "access_token"), what).await;
        assert_refresh_rejected(&app, &s(t, "refresh_token"), what).await;
    }

    // Someone else's session is not touched.
    assert_eq!(app.me(&s(&bob, "access_token")).await.status(), 200);

    // Logging in again opens a fresh, working session.
    let fresh = app.tokens("alice@example.com").await;
    assert_eq!(app.me(&s(&fresh, "access_token")).await.status(), 200);
    let renewed = refreshed(&app, &s(&fresh, "refresh_token")).await;
    assert_eq!(app.me(&s(&renewed, "access_token")).await.status(), 200);
}

async fn the_token_endpoint_grants_tokens_for_a_password_with_email_or_username(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "alice@example.com", "username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.unwrap();
    for name in ["alice@example.com", "alice"] {
        let r = token_form(
            &app,
            &[
                ("grant_type", "password"),
                ("username", name),
                ("password", PASSWORD),
            ],
        )
        .await;
        let body = assert_oauth_tokens(r, name).await;
        let me = app.me(&s(&body, "access_token")).await;
        assert_eq!(me.status(), 200, "{name}");
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["id"], user["id"], "{name}");
    }
    // Client credentials and scope, as Swagger UI sends them, are accepted and ignored.
    let r = token_form(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("client_id", "swagger"),
            ("client_secret", ""),
            ("scope", "openid profile"),
        ],
    )
    .await;
    assert_oauth_tokens(r, "with client_id and scope").await;
}

async fn the_token_endpoint_rotates_refresh_tokens(b: Backend) {
    let app = spawn_app_with(b, &[], &["--refresh-reuse-grace", "0s"]).await;
    app.create_user("alice@example.com").await;
    let r = token_form(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "alice@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let first = assert_oauth_tokens(r, "password grant").await;
    let rt0 = s(&first, "refresh_token");
    let r = token_form(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt0)],
    )
    .await;
    let second = assert_oauth_tokens(r, "refresh grant").await;
    let rt1 = s(&second, "refresh_token");
    assert_ne!(rt1, rt0);
    assert_eq!(app.me(&s(&second, "access_token")).await.status(), 200);

    // The rotated token is spent: with no grace window, presenting it again is invalid_grant
    // and (as theft) ends the session.
    let r = token_form(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt0)],
    )
    .await;
    assert_oauth_error(r, "invalid_grant", "reused refresh token").await;
    let r = token_form(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_oauth_error(r, "invalid_grant", "successor after reuse").await;
}

async fn token_endpoint_errors_are_rfc6749_json_not_problem_json(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("alice@example.com").await;
    let form_cases: [FormCase; 10] = [
        (
            "wrong password",
            &[
                ("grant_type", "password"),
                ("username", "alice@example.com"),
                ("password", "wrong password, surely"),
            ],
            "invalid_grant",
        ),
        (
            "unknown account",
            &[
                ("grant_type", "password"),
                ("username", "nobody@example.com"),
                ("password", PASSWORD),
            ],
            "invalid_grant",
        ),
        (
            "unknown grant type",
            &[("grant_type", "urn:example:unknown")],
            "unsupported_grant_type",
        ),
        (
            "a client grant without client authentication",
            &[("grant_type", "client_credentials")],
            "invalid_client",
        ),
        (
            "missing grant type",
            &[("username", "alice@example.com"), ("password", PASSWORD)],
            "invalid_request",
        ),
        (
            "empty grant type",
            &[
                ("grant_type", ""),
                ("username", "alice@example.com"),
                ("password", PASSWORD),
            ],
            "invalid_request",
        ),
        (
            "missing password",
            &[
                ("grant_type", "password"),
                ("username", "alice@example.com"),
            ],
            "invalid_request",
        ),
        (
            "missing username",
            &[("grant_type", "password"), ("password", PASSWORD)],
            "invalid_request",
        ),
        (
            "missing refresh token",
            &[("grant_type", "refresh_token")],
            "invalid_request",
        ),
        (
            "junk refresh token",
            &[("grant_type", "refresh_token"), ("refresh_token", "junk")],
            "invalid_grant",
        ),
    ];
    for (what, form, error) in form_cases {
        assert_oauth_error(token_form(&app, form).await, error, what).await;
    }

    let json_body = app
        .post_json(
            TOKEN_PATH,
            &json!({"grant_type": "password", "username": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_oauth_error(json_body, "invalid_request", "JSON content type").await;
    let no_type = app
        .client
        .post(app.url(TOKEN_PATH))
        .body("grant_type=password&username=alice%40example.com")
        .send()
        .await
        .unwrap();
    assert_oauth_error(no_type, "invalid_request", "no content type").await;
}

async fn a_standard_oauth2_client_logs_in_and_refreshes(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("alice@example.com").await;
    let http = oauth_http_client();
    let client = BasicClient::new(ClientId::new("swagger".to_owned()))
        .set_token_uri(TokenUrl::new(app.url(TOKEN_PATH)).unwrap());

    let token = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice@example.com".into()),
            &ResourceOwnerPassword::new(PASSWORD.into()),
        )
        .request_async(&http)
        .await
        .expect("password grant through the oauth2 crate");
    assert_eq!(*token.token_type(), BasicTokenType::Bearer);
    assert_eq!(token.expires_in(), Some(Duration::from_secs(900)));
    let at = token.access_token().secret().clone();
    assert_eq!(app.me(&at).await.status(), 200);
    let rt = token.refresh_token().expect("a refresh token").clone();

    let renewed = client
        .exchange_refresh_token(&rt)
        .request_async(&http)
        .await
        .expect("refresh grant through the oauth2 crate");
    let rt2 = renewed.refresh_token().expect("a rotated refresh token");
    assert_ne!(rt2.secret(), rt.secret());
    assert_eq!(app.me(renewed.access_token().secret()).await.status(), 200);
}

async fn a_standard_oauth2_client_sees_invalid_grant_for_a_wrong_password(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("alice@example.com").await;
    let http = oauth_http_client();
    let client = BasicClient::new(ClientId::new("swagger".to_owned()))
        .set_token_uri(TokenUrl::new(app.url(TOKEN_PATH)).unwrap());
    let err = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice@example.com".into()),
            &ResourceOwnerPassword::new("not the password".into()),
        )
        .request_async(&http)
        .await
        .expect_err("a wrong password must fail");
    match err {
        RequestTokenError::ServerResponse(e) => {
            assert_eq!(*e.error(), BasicErrorResponseType::InvalidGrant);
            assert!(e.error_description().is_some());
        }
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

crate::on_every_backend!(
    refreshing_rotates_the_refresh_token_and_issues_a_working_access_token,
    reusing_a_rotated_refresh_token_after_the_grace_window_revokes_the_session,
    a_refresh_token_reused_within_the_grace_window_gets_the_same_successor,
    concurrent_refreshes_with_one_token_all_get_the_same_successor,
    junk_and_unknown_refresh_tokens_are_rejected,
    a_refresh_token_of_a_logged_out_session_is_rejected,
    logout_ends_only_the_current_session_at_once,
    logout_all_ends_every_session_of_the_user,
    the_token_endpoint_grants_tokens_for_a_password_with_email_or_username,
    the_token_endpoint_rotates_refresh_tokens,
    token_endpoint_errors_are_rfc6749_json_not_problem_json,
    a_standard_oauth2_client_logs_in_and_refreshes,
    a_standard_oauth2_client_sees_invalid_grant_for_a_wrong_password,
);
