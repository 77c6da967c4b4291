//! Time-bound credentials over HTTP: a session past its expiry neither refreshes (not even a
//! token rotated inside the grace window) nor authenticates; reset and email-change links stop
//! at their expiry; an emailed token works only for the flow it was issued for; the refresh
//! grace window's boundary with a non-zero grace.
//!
//! Time is never slept through. The first tests move a stored instant (`expires_at`, `used_at`)
//! into the past, which is what the passing of time does to it; the same rules are checked at the
//! store level in `store_contract.rs`, so removing either the service's check or the store's
//! condition fails a test. The last ones move the server's clock instead (`TestApp::clock`),
//! so the lifetimes the service computes from its settings are what is checked.

use crate::helpers::text_field as s;
use crate::helpers::{assert_problem, spawn_app_with, Backend, TestApp, PASSWORD};
use crate::smtp::SmtpSink;
use serde_json::{json, Value};
use std::time::Duration;

const NEW_PASSWORD: &str = "an entirely new passphrase";

/// Ends every session's lifetime: its expiry becomes its creation instant, which is in the past.
async fn expire_sessions(app: &TestApp) {
    app.db
        .exec("UPDATE sessions SET expires_at = created_at")
        .await;
}

/// Moves every rotated refresh token's `used_at` `secs` seconds into the past.
async fn age_used_tokens(app: &TestApp, b: Backend, secs: u32) {
    let sql = match b {
        Backend::Sqlite => format!(
            "UPDATE refresh_tokens SET used_at = used_at - {} WHERE used_at IS NOT NULL",
            u64::from(secs) * 1000
        ),
        Backend::Postgres => format!(
            "UPDATE refresh_tokens SET used_at = used_at - interval '{secs} seconds' WHERE used_at IS NOT NULL"
        ),
    };
    app.db.exec(&sql).await;
}

async fn refreshed(app: &TestApp, rt: &str) -> Value {
    let r = app.refresh(rt).await;
    assert_eq!(r.status(), 200, "refresh should succeed");
    r.json().await.unwrap()
}

async fn assert_refresh_refused(app: &TestApp, rt: &str, what: &str) {
    let r = app.refresh(rt).await;
    assert_eq!(r.status(), 401, "{what}");
    assert_problem(r, 401, "invalid_refresh_token").await;
}

/// Presents the rotated `rt0` again inside the grace window: the same successor `rt1` comes back,
/// with an access token that works.
async fn reused_inside_the_window(app: &TestApp, rt0: &str, rt1: &str) {
    let again = refreshed(app, rt0).await;
    assert_eq!(
        s(&again, "refresh_token"),
        rt1,
        "the same successor inside the window"
    );
    assert_eq!(app.me(&s(&again, "access_token")).await.status(), 200);
}

async fn a_refresh_token_of_an_expired_session_is_refused(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    expire_sessions(&app).await;
    assert_refresh_refused(
        &app,
        &s(&t, "refresh_token"),
        "current token of an expired session",
    )
    .await;
    // The refusal rotated nothing: the token is still unused.
    assert_eq!(
        app.db
            .text("SELECT CAST(COUNT(*) AS TEXT) FROM refresh_tokens WHERE used_at IS NOT NULL")
            .await
            .as_deref(),
        Some("0")
    );
}

async fn a_token_rotated_inside_the_grace_window_gets_nothing_once_the_session_expired(b: Backend) {
    // The grace rule hands back the live successor without rotating; only the service's expiry
    // check stands between an expired session and a fresh token pair on this path.
    let app = spawn_app_with(b, &[], &["--refresh-reuse-grace", "1h"]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let rt0 = s(&t, "refresh_token");
    let first = refreshed(&app, &rt0).await;
    expire_sessions(&app).await;
    assert_refresh_refused(&app, &rt0, "rotated token inside the grace window").await;
    assert_refresh_refused(&app, &s(&first, "refresh_token"), "live successor").await;
}

async fn an_access_token_of_an_expired_session_is_refused(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    expire_sessions(&app).await;
    let r = app.me(&s(&t, "access_token")).await;
    assert_eq!(r.status(), 401);
    assert_problem(r, 401, "invalid_token").await;
}

async fn with_a_non_zero_grace_reuse_inside_the_window_is_tolerated_and_after_it_revokes(
    b: Backend,
) {
    let app = spawn_app_with(b, &[], &["--refresh-reuse-grace", "30s"]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let rt0 = s(&t, "refresh_token");
    let first = refreshed(&app, &rt0).await;
    let rt1 = s(&first, "refresh_token");

    // 25 s after the rotation (5 s inside a 30 s window): the same successor, nothing revoked.
    age_used_tokens(&app, b, 25).await;
    reused_inside_the_window(&app, &rt0, &rt1).await;

    // 35 s after (5 s past the window): theft; the session ends with the successor in it.
    age_used_tokens(&app, b, 10).await;
    assert_refresh_refused(&app, &rt0, "reuse after the window").await;
    assert_refresh_refused(&app, &rt1, "the successor after theft").await;
    let r = app.me(&s(&first, "access_token")).await;
    assert_problem(r, 401, "invalid_token").await;
}

// --- emailed tokens ----------------------------------------------------------------------------

/// A server mailing to a fresh SMTP sink, with `extra` flags.
async fn app_with_sink(b: Backend, extra: &[&str]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let mut flags = sink.serve_flags().to_vec();
    flags.extend_from_slice(extra);
    let app = spawn_app_with(b, &[], &flags).await;
    (app, sink)
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/api/v1/auth/verify-email", &json!({ "token": token }))
        .await
}

async fn reset(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/password/reset",
        &json!({ "token": token, "new_password": NEW_PASSWORD }),
    )
    .await
}

async fn confirm(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/api/v1/auth/email/confirm", &json!({ "token": token }))
        .await
}

/// Requests a password reset for `email` and returns the emailed token (the `nth` mail to it).
async fn reset_token(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> String {
    let r = app
        .post_json("/api/v1/auth/password/forgot", &json!({ "email": email }))
        .await;
    assert_eq!(r.status(), 202);
    let m = sink.wait_for_mail_to(email, nth).await;
    assert_eq!(m.subject, "Reset your password");
    m.token()
}

/// Asks to move the account of `access` to `new_email`; returns the token mailed there.
async fn change_token(app: &TestApp, sink: &SmtpSink, access: &str, new_email: &str) -> String {
    let r = app
        .post_json_auth(
            "/api/v1/users/me/email",
            access,
            Some(&json!({ "new_email": new_email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status(), 202);
    let m = sink.wait_for_mail_to(new_email, 1).await;
    assert_eq!(m.subject, "Confirm your new email address");
    m.token()
}

async fn expire_email_tokens(app: &TestApp) {
    app.db
        .exec("UPDATE email_tokens SET expires_at = created_at")
        .await;
}

async fn an_expired_reset_link_is_refused_and_the_password_stays(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    app.create_user("alice@example.com").await;
    sink.wait_for_mail_to("alice@example.com", 1).await;
    let token = reset_token(&app, &sink, "alice@example.com", 2).await;
    expire_email_tokens(&app).await;
    assert_problem(reset(&app, &token).await, 400, "invalid_email_token").await;
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    let r = app.login("alice@example.com", NEW_PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;
}

async fn an_expired_email_change_link_is_refused_and_the_address_stays(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let token = change_token(&app, &sink, &s(&t, "access_token"), "alice@new.example").await;
    expire_email_tokens(&app).await;
    assert_problem(confirm(&app, &token).await, 400, "invalid_email_token").await;
    let me: Value = app.me(&s(&t, "access_token")).await.json().await.unwrap();
    assert_eq!(me["email"], "alice@example.com");
    let r = app.login("alice@new.example", PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;
}

async fn an_emailed_token_works_only_for_the_flow_it_was_issued_for(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let verify_token = sink.wait_for_mail_to("alice@example.com", 1).await.token();
    let reset_tok = reset_token(&app, &sink, "alice@example.com", 2).await;
    let change_tok = change_token(&app, &sink, &s(&t, "access_token"), "alice@new.example").await;

    // Each token presented to the two other flows: refused, and nothing changed.
    for (what, token) in [
        ("verification", &verify_token),
        ("reset", &reset_tok),
        ("email change", &change_tok),
    ] {
        if what != "verification" {
            assert_problem(verify(&app, token).await, 400, "invalid_email_token").await;
        }
        if what != "reset" {
            assert_problem(reset(&app, token).await, 400, "invalid_email_token").await;
        }
        if what != "email change" {
            assert_problem(confirm(&app, token).await, 400, "invalid_email_token").await;
        }
    }
    let me: Value = app.me(&s(&t, "access_token")).await.json().await.unwrap();
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["email_verified"], false);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);

    // Each still works for its own flow (a confirmed email change voids the other tokens, so it
    // goes last).
    assert_eq!(verify(&app, &verify_token).await.status(), 204);
    assert_eq!(reset(&app, &reset_tok).await.status(), 204);
    assert_eq!(confirm(&app, &change_tok).await.status(), 204);
    assert_eq!(
        app.login("alice@new.example", NEW_PASSWORD).await.status(),
        200
    );
}

// --- the same rules on the server's clock ---------------------------------------------------------

const MINUTE: Duration = Duration::from_secs(60);

async fn a_session_lives_for_the_refresh_lifetime_after_its_last_refresh(b: Backend) {
    let app = spawn_app_with(b, &[], &["--refresh-token-ttl", "1h"]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    app.clock.advance(59 * MINUTE);
    let first = refreshed(&app, &s(&t, "refresh_token")).await;
    // 118 minutes after sign-in: alive, because the refresh slid the expiry.
    app.clock.advance(59 * MINUTE);
    let second = refreshed(&app, &s(&first, "refresh_token")).await;
    app.clock.advance(60 * MINUTE + Duration::from_secs(1));
    assert_refresh_refused(
        &app,
        &s(&second, "refresh_token"),
        "an hour and a second after its last refresh",
    )
    .await;
}

async fn the_grace_window_closes_when_the_clock_passes_it(b: Backend) {
    let app = spawn_app_with(b, &[], &["--refresh-reuse-grace", "30s"]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let rt0 = s(&t, "refresh_token");
    let first = refreshed(&app, &rt0).await;
    let rt1 = s(&first, "refresh_token");

    app.clock.advance(Duration::from_secs(25));
    reused_inside_the_window(&app, &rt0, &rt1).await;

    app.clock.advance(Duration::from_secs(10));
    assert_refresh_refused(&app, &rt0, "reuse 35 s after the rotation").await;
    assert_refresh_refused(&app, &rt1, "the successor after theft").await;
}

async fn reset_and_email_change_links_stop_at_their_lifetime(b: Backend) {
    let (app, sink) = app_with_sink(
        b,
        &[
            "--reset-token-ttl",
            "10m",
            "--email-change-token-ttl",
            "20m",
        ],
    )
    .await;
    let t = app.user_with_tokens("alice@example.com").await;
    sink.wait_for_mail_to("alice@example.com", 1).await;
    let reset_tok = reset_token(&app, &sink, "alice@example.com", 2).await;
    let change_tok = change_token(&app, &sink, &s(&t, "access_token"), "alice@new.example").await;

    app.clock.advance(10 * MINUTE + Duration::from_secs(1));
    assert_problem(reset(&app, &reset_tok).await, 400, "invalid_email_token").await;
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);

    app.clock.advance(10 * MINUTE);
    assert_problem(confirm(&app, &change_tok).await, 400, "invalid_email_token").await;
    let r = app.login("alice@new.example", PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
}

async fn an_email_change_link_still_works_just_before_its_lifetime_ends(b: Backend) {
    let (app, sink) = app_with_sink(b, &["--email-change-token-ttl", "20m"]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let change_tok = change_token(&app, &sink, &s(&t, "access_token"), "alice@new.example").await;
    app.clock.advance(20 * MINUTE - Duration::from_secs(5));
    assert_eq!(confirm(&app, &change_tok).await.status(), 204);
    assert_eq!(app.login("alice@new.example", PASSWORD).await.status(), 200);
}

crate::on_every_backend!(
    a_session_lives_for_the_refresh_lifetime_after_its_last_refresh,
    the_grace_window_closes_when_the_clock_passes_it,
    reset_and_email_change_links_stop_at_their_lifetime,
    an_email_change_link_still_works_just_before_its_lifetime_ends,
    a_refresh_token_of_an_expired_session_is_refused,
    a_token_rotated_inside_the_grace_window_gets_nothing_once_the_session_expired,
    an_access_token_of_an_expired_session_is_refused,
    with_a_non_zero_grace_reuse_inside_the_window_is_tolerated_and_after_it_revokes,
    an_expired_reset_link_is_refused_and_the_password_stays,
    an_expired_email_change_link_is_refused_and_the_address_stays,
    an_emailed_token_works_only_for_the_flow_it_was_issued_for,
);
