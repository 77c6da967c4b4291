//! The email lifecycle end to end, through a real SMTP server (the sink in `smtp.rs`): address
//! verification and its resend, password reset and change, email change, sessions, account
//! deletion and export, delivery when the mail server is down, restarts with mail still queued,
//! permanent and transient rejections, and the HTML pages emailed links open.

use crate::helpers::text_field as s;
use crate::helpers::{
    assert_problem, eventually, spawn_app_with, spawn_on, Backend, TestApp, PASSWORD,
};
use crate::smtp::{free_port, smtp_url, Mail, Mode, SmtpSink};
use reqwest::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, USER_AGENT, X_FRAME_OPTIONS,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NEW_PASSWORD: &str = "an entirely new passphrase";
const REQUIRE_VERIFIED: &[&str] = &["--require-verified-email", "true"];

/// `serve` flags for SMTP delivery to `port`, fast polling and short retries, plus `extra`.
fn mail_flags(port: u16, extra: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--mail-transport",
        "smtp",
        "--smtp-url",
        &smtp_url(port),
        "--mail-poll-interval",
        "50ms",
        "--mail-retry-base",
        "100ms",
        "--mail-retry-max",
        "400ms",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    flags.extend(extra.iter().map(|s| (*s).to_owned()));
    flags
}

/// A server that mails to SMTP on `port` (whether or not anything listens there).
async fn app_mailing_to(b: Backend, port: u16, extra: &[&str]) -> TestApp {
    let flags = mail_flags(port, extra);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    spawn_app_with(b, &[], &flags).await
}

/// A running SMTP sink and a server mailing to it.
async fn app_with_sink(b: Backend, extra: &[&str]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = app_mailing_to(b, sink.port(), extra).await;
    (app, sink)
}

/// One column (as text) of the outbox row of `kind` for `recipient`.
async fn outbox(app: &TestApp, kind: &str, recipient: &str, column: &str) -> Option<String> {
    app.db
        .text(&format!(
            "SELECT CAST({column} AS TEXT) FROM mail_outbox WHERE kind = '{kind}' AND recipient = '{recipient}' ORDER BY created_at DESC"
        ))
        .await
}

async fn outbox_count(app: &TestApp, condition: &str) -> usize {
    app.db
        .text(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM mail_outbox WHERE {condition}"
        ))
        .await
        .unwrap()
        .parse()
        .unwrap()
}

async fn attempts(app: &TestApp, kind: &str, recipient: &str) -> u32 {
    outbox(app, kind, recipient, "attempts")
        .await
        .map_or(0, |a| a.parse().unwrap())
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/api/v1/auth/verify-email", &json!({ "token": token }))
        .await
}

async fn reset(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/password/reset",
        &json!({ "token": token, "new_password": new_password }),
    )
    .await
}

async fn change_password(app: &TestApp, access: &str, current: &str) -> reqwest::Response {
    app.post_json_auth(
        "/api/v1/users/me/password",
        access,
        Some(&json!({ "current_password": current, "new_password": NEW_PASSWORD })),
    )
    .await
}

async fn delete(
    app: &TestApp,
    path: &str,
    access: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut rb = app.client.delete(app.url(path)).bearer_auth(access);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    rb.send().await.unwrap()
}

async fn login_as(app: &TestApp, email: &str, user_agent: &str) -> Value {
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header(USER_AGENT, user_agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login of {email}");
    r.json().await.unwrap()
}

/// Asserts that an access token and a refresh token no longer work.
async fn assert_session_dead(app: &TestApp, tokens: &Value, what: &str) {
    let r = app.me(&s(tokens, "access_token")).await;
    assert_eq!(r.status(), 401, "access token of {what}");
    assert_problem(r, 401, "invalid_token").await;
    let r = app.refresh(&s(tokens, "refresh_token")).await;
    assert_eq!(r.status(), 401, "refresh token of {what}");
    assert_problem(r, 401, "invalid_refresh_token").await;
}

/// The path and query of an emailed link, to open it on the test server.
fn path_of(link: &str) -> &str {
    let after_scheme = link.split_once("://").map_or(link, |(_, rest)| rest);
    &after_scheme[after_scheme.find('/').unwrap()..]
}

async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap()
}

fn assert_verification_mail(m: &Mail, to: &str, link_base: &str) -> String {
    assert_eq!(m.envelope_from, "no-reply@localhost");
    assert_eq!(m.envelope_to, [to]);
    assert!(
        m.header("To").unwrap().contains(to),
        "To header: {:?}",
        m.header("To")
    );
    assert!(m.header("From").unwrap().contains("no-reply@localhost"));
    assert_eq!(m.subject, "Confirm your email address");
    assert!(
        m.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{:?}",
        m.header("Content-Type")
    );
    let link = m.expect_link();
    let prefix = format!("{link_base}/verify-email?token=");
    assert!(link.starts_with(&prefix), "{link}");
    let token = m.token();
    assert!(token.len() >= 43, "a long random token: {token}");
    assert!(m.text.contains(to), "the text names the address");
    assert!(
        m.html.contains(&format!("href=\"{link}\"")),
        "the HTML part links to the same URL: {}",
        m.html
    );
    token
}

// --- verification ------------------------------------------------------------------------------

async fn registration_mails_a_link_that_verifies_the_address_once(b: Backend) {
    let (app, sink) = app_with_sink(b, REQUIRE_VERIFIED).await;
    app.create_user("alice@example.com").await;
    let mails = sink.wait_for_messages(1).await;
    let token = assert_verification_mail(&mails[0], "alice@example.com", "http://sesame.test");

    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 403, "email_not_verified").await;
    let r = app
        .login("alice@example.com", "not the password at all")
        .await;
    assert_problem(r, 401, "invalid_credentials").await;

    assert_eq!(verify(&app, &token).await.status(), 204);
    let t = app.tokens("alice@example.com").await;
    assert_eq!(t["user"]["email_verified"], true);

    let r = verify(&app, &token).await;
    assert_problem(r, 400, "invalid_email_token").await;
}

async fn an_expired_verification_link_is_refused(b: Backend) {
    let (app, sink) = app_with_sink(b, &["--verify-token-ttl", "1s"]).await;
    app.create_user("alice@example.com").await;
    let token = sink.wait_for_messages(1).await[0].token();
    // The server's clock passes the link's lifetime.
    app.clock.advance(Duration::from_millis(1200));
    let r = verify(&app, &token).await;
    assert_problem(r, 400, "invalid_email_token").await;
    let t = app.tokens("alice@example.com").await;
    assert_eq!(t["user"]["email_verified"], false);
}

/// Asks with `ask` for an unknown address, then for alice's: both answers are the same 202.
async fn assert_same_answer_for_unknown_and_known<F, Fut>(ask: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let unknown = ask("nobody@example.com").await;
    assert_eq!(unknown.status(), 202);
    let unknown: Value = unknown.json().await.unwrap();
    let known = ask("alice@example.com").await;
    assert_eq!(known.status(), 202);
    let known: Value = known.json().await.unwrap();
    assert_eq!(known, unknown);
}

/// Nothing was mailed or queued for the unknown address.
async fn assert_nothing_for_nobody(app: &TestApp, sink: &SmtpSink) {
    assert!(sink.messages_to("nobody@example.com").is_empty());
    assert_eq!(
        outbox_count(app, "recipient = 'nobody@example.com'").await,
        0
    );
}

async fn resend_answers_alike_for_known_and_unknown_addresses(b: Backend) {
    let (app, sink) = app_with_sink(b, &["--verify-resend-interval", "0s"]).await;
    app.create_user("alice@example.com").await;
    sink.wait_for_messages(1).await;

    assert_same_answer_for_unknown_and_known(|email| app.resend_verification(email)).await;

    let second = sink.wait_for_mail_to("alice@example.com", 2).await;
    assert_eq!(second.subject, "Confirm your email address");
    // The unknown address was asked for first; by now its (non-)work is long done.
    assert_nothing_for_nobody(&app, &sink).await;
}

async fn a_resent_link_replaces_the_earlier_one(b: Backend) {
    let (app, sink) = app_with_sink(b, &["--verify-resend-interval", "0s"]).await;
    app.create_user("alice@example.com").await;
    let first = sink.wait_for_mail_to("alice@example.com", 1).await.token();
    assert_eq!(
        app.resend_verification("alice@example.com").await.status(),
        202
    );
    let second = sink.wait_for_mail_to("alice@example.com", 2).await.token();
    assert_ne!(first, second);
    let r = verify(&app, &first).await;
    assert_problem(r, 400, "invalid_email_token").await;
    assert_eq!(verify(&app, &second).await.status(), 204);
}

async fn resending_is_throttled_per_address(b: Backend) {
    let (app, sink) = app_with_sink(b, &["--verify-resend-interval", "1h"]).await;
    app.create_user("alice@example.com").await;
    let first = sink.wait_for_mail_to("alice@example.com", 1).await.token();
    assert_eq!(
        app.resend_verification("alice@example.com").await.status(),
        202
    );
    // A later request for the same address marks the point by which the resend was handled.
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let next = sink.wait_for_mail_to("alice@example.com", 2).await;
    assert_eq!(next.subject, "Reset your password");
    assert_eq!(outbox_count(&app, "kind = 'verify_email'").await, 1);
    eventually("the outbox is drained", || async {
        outbox_count(&app, "status <> 'sent'").await == 0
    })
    .await;
    assert_eq!(sink.messages().len(), 2, "no second verification mail");
    assert_eq!(
        verify(&app, &first).await.status(),
        204,
        "the first link still works"
    );
}

async fn a_verification_resend_is_sent_once_the_interval_has_passed(b: Backend) {
    let (app, sink) = app_with_sink(b, &["--verify-resend-interval", "1h"]).await;
    app.create_user("alice@example.com").await;
    sink.wait_for_mail_to("alice@example.com", 1).await;

    // 59 minutes on: still inside the interval, nothing is sent (a later reset request marks the
    // point by which the resend was handled).
    app.clock.advance(Duration::from_secs(59 * 60));
    assert_eq!(
        app.resend_verification("alice@example.com").await.status(),
        202
    );
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let marker = sink.wait_for_mail_to("alice@example.com", 2).await;
    assert_eq!(marker.subject, "Reset your password");
    assert_eq!(outbox_count(&app, "kind = 'verify_email'").await, 1);

    // An hour on: a new link is sent, and it works.
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(
        app.resend_verification("alice@example.com").await.status(),
        202
    );
    let again = sink.wait_for_mail_to("alice@example.com", 3).await;
    assert_eq!(again.subject, "Confirm your email address");
    assert_eq!(verify(&app, &again.token()).await.status(), 204);
}

// --- password reset ----------------------------------------------------------------------------

async fn forgot_password_answers_alike_and_mails_only_known_addresses(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    app.create_user("alice@example.com").await;
    sink.wait_for_messages(1).await;

    assert_same_answer_for_unknown_and_known(|email| app.forgot_password(email)).await;

    let m = sink.wait_for_mail_to("alice@example.com", 2).await;
    assert_eq!(m.subject, "Reset your password");
    assert!(m
        .expect_link()
        .starts_with("http://sesame.test/reset-password?token="));
    assert!(m.html.contains(&m.expect_link()));
    assert_nothing_for_nobody(&app, &sink).await;
}

async fn a_password_reset_replaces_the_password_and_ends_every_session(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    app.create_user("alice@example.com").await;
    let s1 = app.tokens("alice@example.com").await;
    let s2 = app.tokens("alice@example.com").await;
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let token = sink.wait_for_mail_to("alice@example.com", 2).await.token();

    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204);
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;
    assert_eq!(
        app.login("alice@example.com", NEW_PASSWORD).await.status(),
        200
    );
    assert_session_dead(&app, &s1, "session 1").await;
    assert_session_dead(&app, &s2, "session 2").await;

    let notice = sink.wait_for_mail_to("alice@example.com", 3).await;
    assert_eq!(notice.subject, "Your password was changed");
    assert!(notice.text.contains("alice@example.com"));
    assert!(notice.link().is_none(), "a notice carries no link");

    let r = reset(&app, &token, "yet another passphrase").await;
    assert_problem(r, 400, "invalid_email_token").await;
}

async fn only_the_newest_reset_link_works(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    app.create_user("alice@example.com").await;
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let first = sink.wait_for_mail_to("alice@example.com", 2).await.token();
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let second = sink.wait_for_mail_to("alice@example.com", 3).await.token();
    assert_ne!(first, second);

    let r = reset(&app, &first, NEW_PASSWORD).await;
    assert_problem(r, 400, "invalid_email_token").await;
    assert_eq!(reset(&app, &second, NEW_PASSWORD).await.status(), 204);
    assert_eq!(
        app.login("alice@example.com", NEW_PASSWORD).await.status(),
        200
    );
}

async fn a_password_change_voids_outstanding_reset_links(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let token = sink.wait_for_mail_to("alice@example.com", 2).await.token();

    let r = change_password(&app, &s(&t, "access_token"), PASSWORD).await;
    assert_eq!(r.status(), 200);
    let notice = sink.wait_for_mail_to("alice@example.com", 3).await;
    assert_eq!(notice.subject, "Your password was changed");

    let r = reset(&app, &token, "yet another passphrase").await;
    assert_problem(r, 400, "invalid_email_token").await;
    assert_eq!(
        app.login("alice@example.com", NEW_PASSWORD).await.status(),
        200
    );
}

// --- password change ---------------------------------------------------------------------------

async fn a_password_change_needs_the_current_password(b: Backend) {
    let (app, _sink) = app_with_sink(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let r = change_password(&app, &s(&t, "access_token"), "not the current one").await;
    let body = assert_problem(r, 422, "validation_failed").await;
    assert!(body.to_string().contains("current_password"), "{body}");
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    let r = app.login("alice@example.com", NEW_PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;
}

async fn a_password_change_hands_out_fresh_tokens_and_ends_other_sessions(b: Backend) {
    let (app, _sink) = app_with_sink(b, &[]).await;
    let mine = app.user_with_tokens("alice@example.com").await;
    let other = app.tokens("alice@example.com").await;

    let r = change_password(&app, &s(&mine, "access_token"), PASSWORD).await;
    assert_eq!(r.status(), 200);
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(fresh["token_type"], "Bearer");
    assert_eq!(app.me(&s(&fresh, "access_token")).await.status(), 200);

    let r = app.refresh(&s(&mine, "refresh_token")).await;
    assert_problem(r, 401, "invalid_refresh_token").await;
    let r = app.refresh(&s(&fresh, "refresh_token")).await;
    assert_eq!(r.status(), 200, "the fresh refresh token works");

    assert_session_dead(&app, &other, "the other session").await;
    assert_eq!(
        app.login("alice@example.com", NEW_PASSWORD).await.status(),
        200
    );
}

// --- email change ------------------------------------------------------------------------------

async fn an_email_change_takes_effect_only_when_the_new_address_confirms(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let access = s(&t, "access_token");
    let r = app
        .post_json_auth(
            "/api/v1/users/me/email",
            &access,
            Some(&json!({ "new_email": "alice@new.example", "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status(), 202);

    let confirm = sink.wait_for_mail_to("alice@new.example", 1).await;
    assert_eq!(confirm.subject, "Confirm your new email address");
    assert!(confirm
        .expect_link()
        .starts_with("http://sesame.test/confirm-email?token="));
    let token = confirm.token();
    let notice = sink.wait_for_mail_to("alice@example.com", 2).await;
    assert_eq!(
        notice.subject,
        "A change of your email address was requested"
    );
    assert!(notice.text.contains("alice@new.example"));
    assert!(notice.link().is_none(), "the old address gets no link");

    // Until confirmed, the account is still the old address.
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    let r = app.login("alice@new.example", PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let reset_mail = sink.wait_for_mail_to("alice@example.com", 3).await;
    assert_eq!(reset_mail.subject, "Reset your password");
    assert_eq!(sink.messages_to("alice@new.example").len(), 1);

    let r = app
        .post_json("/api/v1/auth/email/confirm", &json!({ "token": token }))
        .await;
    assert_eq!(r.status(), 204);
    let me: Value = app.me(&access).await.json().await.unwrap();
    assert_eq!(me["email"], "alice@new.example");
    assert_eq!(me["email_verified"], true);
    assert_eq!(app.login("alice@new.example", PASSWORD).await.status(), 200);
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;

    // The reset link mailed to the old address died with the change; the confirmation is spent.
    let r = reset(&app, &reset_mail.token(), NEW_PASSWORD).await;
    assert_problem(r, 400, "invalid_email_token").await;
    let r = app
        .post_json("/api/v1/auth/email/confirm", &json!({ "token": token }))
        .await;
    assert_problem(r, 400, "invalid_email_token").await;
}

async fn changing_to_a_taken_address_sends_that_address_a_notice_and_no_link(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    app.create_user("bob@example.com").await;
    sink.wait_for_mail_to("bob@example.com", 1).await;
    let access = s(&t, "access_token");

    let r = app
        .post_json_auth(
            "/api/v1/users/me/email",
            &access,
            Some(&json!({ "new_email": "bob@example.com", "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({ "status": "accepted" }));

    let taken = sink.wait_for_mail_to("bob@example.com", 2).await;
    assert_eq!(taken.subject, "Email address change not possible");
    assert!(
        taken.link().is_none(),
        "no confirmation link: {}",
        taken.text
    );
    assert!(!taken.raw.contains("token="));
    // Enqueued in the request itself: nothing else was queued for the change.
    assert_eq!(
        outbox_count(
            &app,
            "kind IN ('email_change_confirm', 'email_change_notice')"
        )
        .await,
        0
    );
    let me: Value = app.me(&access).await.json().await.unwrap();
    assert_eq!(me["email"], "alice@example.com");
}

// --- sessions ----------------------------------------------------------------------------------

async fn sessions_are_listed_and_one_can_be_ended(b: Backend) {
    let (app, _sink) = app_with_sink(b, &[]).await;
    app.create_user("alice@example.com").await;
    let a = login_as(&app, "alice@example.com", "agent-A/1.0").await;
    let bee = login_as(&app, "alice@example.com", "agent-B/2.0").await;
    let a_access = s(&a, "access_token");

    let r = app.get_auth("/api/v1/users/me/sessions", &a_access).await;
    assert_eq!(r.status(), 200);
    let list: Vec<Value> = r.json().await.unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let current: Vec<&Value> = list.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    assert_eq!(current[0]["user_agent"], "agent-A/1.0");
    let other = list.iter().find(|x| x["current"] == false).unwrap();
    assert_eq!(other["user_agent"], "agent-B/2.0");
    for x in &list {
        assert_eq!(x["ip"], "127.0.0.1", "{x}");
        assert!(x["id"].is_string() && x["created_at"].is_string(), "{x}");
        assert!(!x.to_string().contains(&s(&a, "refresh_token")));
    }
    let other_id = s(other, "id");

    let r = delete(
        &app,
        &format!("/api/v1/users/me/sessions/{other_id}"),
        &a_access,
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_session_dead(&app, &bee, "the ended session").await;
    assert_eq!(app.me(&a_access).await.status(), 200);
    let list: Vec<Value> = app
        .get_auth("/api/v1/users/me/sessions", &a_access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);

    // Bob cannot end Alice's session, and nobody can end one that does not exist.
    let bob = app.user_with_tokens("bob@example.com").await;
    let alice_session = s(&list[0], "id");
    let r = delete(
        &app,
        &format!("/api/v1/users/me/sessions/{alice_session}"),
        &s(&bob, "access_token"),
        None,
    )
    .await;
    assert_problem(r, 404, "not_found").await;
    assert_eq!(app.me(&a_access).await.status(), 200);
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let r = delete(
            &app,
            &format!("/api/v1/users/me/sessions/{id}"),
            &a_access,
            None,
        )
        .await;
        assert_problem(r, 404, "not_found").await;
    }
}

// --- deletion and export -----------------------------------------------------------------------

async fn deleting_the_account_needs_the_password_and_ends_everything(b: Backend) {
    let (app, _sink) = app_with_sink(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let access = s(&t, "access_token");

    let r = delete(
        &app,
        "/api/v1/users/me",
        &access,
        Some(&json!({ "password": "not the password" })),
    )
    .await;
    assert_problem(r, 422, "validation_failed").await;
    assert_eq!(app.me(&access).await.status(), 200);

    let r = delete(
        &app,
        "/api/v1/users/me",
        &access,
        Some(&json!({ "password": PASSWORD })),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_session_dead(&app, &t, "the deleted account's session").await;
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;
    assert_eq!(
        app.db
            .text("SELECT CAST(COUNT(*) AS TEXT) FROM users")
            .await
            .unwrap(),
        "0"
    );
    assert_eq!(
        app.register("alice@example.com", PASSWORD).await.status(),
        201
    );
}

async fn deleting_an_account_drops_its_undelivered_mail(b: Backend) {
    // Nothing listens on the SMTP port: the verification mail stays queued.
    let app = app_mailing_to(b, free_port(), &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    app.create_user("bob@example.com").await;
    assert!(
        outbox_count(
            &app,
            "recipient = 'alice@example.com' AND status = 'pending'"
        )
        .await
            >= 1
    );

    let r = delete(
        &app,
        "/api/v1/users/me",
        &s(&t, "access_token"),
        Some(&json!({ "password": PASSWORD })),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        outbox_count(&app, "recipient = 'alice@example.com'").await,
        0
    );
    assert_eq!(
        outbox_count(&app, "recipient = 'bob@example.com'").await,
        1,
        "other accounts' mail stays"
    );
}

async fn the_export_holds_the_user_and_sessions_and_no_secret(b: Backend) {
    let (app, _sink) = app_with_sink(b, &[]).await;
    let first = app.user_with_tokens("alice@example.com").await;
    let second = app.tokens("alice@example.com").await;
    let r = app
        .get_auth("/api/v1/users/me/export", &s(&second, "access_token"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let text = r.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["user"]["email"], "alice@example.com");
    assert!(export["exported_at"].is_string());
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{export}");
    assert_eq!(sessions.iter().filter(|x| x["current"] == true).count(), 1);
    let stored_hash = app.db.password_hash().await;
    for secret in [
        stored_hash.as_str(),
        "$argon2",
        "password",
        "refresh_secret",
        "refresh_token",
        PASSWORD,
        &s(&first, "refresh_token"),
        &s(&second, "refresh_token"),
    ] {
        assert!(
            !text.contains(secret),
            "the export contains `{secret}`: {text}"
        );
    }
}

// --- delivery ----------------------------------------------------------------------------------

async fn mail_queued_while_smtp_is_down_is_delivered_once_it_is_up(b: Backend) {
    let port = free_port();
    let app = app_mailing_to(b, port, &[]).await;
    let started = Instant::now();
    let r = app.register("alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 201);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "registration does not wait for mail"
    );

    eventually("a delivery attempt failed", || async {
        attempts(&app, "verify_email", "alice@example.com").await >= 1
    })
    .await;
    assert_eq!(
        outbox(&app, "verify_email", "alice@example.com", "status")
            .await
            .as_deref(),
        Some("pending")
    );
    let error = outbox(&app, "verify_email", "alice@example.com", "last_error")
        .await
        .expect("the failure is recorded");
    assert!(!error.is_empty());

    let sink = SmtpSink::start_on(port).await;
    let m = sink.wait_for_mail_to("alice@example.com", 1).await;
    let token = assert_verification_mail(&m, "alice@example.com", "http://sesame.test");
    eventually("the outbox row is marked sent", || async {
        outbox(&app, "verify_email", "alice@example.com", "status")
            .await
            .as_deref()
            == Some("sent")
    })
    .await;
    assert_eq!(
        outbox(&app, "verify_email", "alice@example.com", "params")
            .await
            .as_deref(),
        Some("{}"),
        "the link is not kept once sent"
    );
    assert_eq!(verify(&app, &token).await.status(), 204);
}

async fn mail_left_undelivered_is_sent_by_the_next_process(b: Backend) {
    let first = app_mailing_to(b, free_port(), &[]).await;
    first.create_user("alice@example.com").await;
    eventually("a delivery attempt failed", || async {
        attempts(&first, "verify_email", "alice@example.com").await >= 1
    })
    .await;
    let db = first.stop().await;

    let sink = SmtpSink::start().await;
    let flags = mail_flags(sink.port(), &[]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let second = spawn_on(db, &[], &flags).await;
    let m = sink.wait_for_mail_to("alice@example.com", 1).await;
    assert_eq!(m.subject, "Confirm your email address");
    eventually("the outbox row is marked sent", || async {
        outbox(&second, "verify_email", "alice@example.com", "status")
            .await
            .as_deref()
            == Some("sent")
    })
    .await;
    assert_eq!(verify(&second, &m.token()).await.status(), 204);
}

async fn a_permanent_rejection_marks_the_mail_dead_without_retrying(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    sink.set_mode(Mode::RejectPermanently);
    app.create_user("alice@example.com").await;
    eventually("the mail is marked dead", || async {
        outbox(&app, "verify_email", "alice@example.com", "status")
            .await
            .as_deref()
            == Some("dead")
    })
    .await;
    let error = outbox(&app, "verify_email", "alice@example.com", "last_error")
        .await
        .unwrap();
    assert!(error.contains("550"), "{error}");
    assert_eq!(attempts(&app, "verify_email", "alice@example.com").await, 1);

    // Once the server accepts again, later mail goes out and the dead one stays dead.
    sink.set_mode(Mode::Accept);
    app.create_user("bob@example.com").await;
    sink.wait_for_mail_to("bob@example.com", 1).await;
    assert!(sink.messages_to("alice@example.com").is_empty());
    assert_eq!(
        sink.rcpt_attempts()
            .iter()
            .filter(|r| *r == "alice@example.com")
            .count(),
        1,
        "tried exactly once"
    );
    assert_eq!(attempts(&app, "verify_email", "alice@example.com").await, 1);
    assert_eq!(
        outbox(&app, "verify_email", "alice@example.com", "status")
            .await
            .as_deref(),
        Some("dead")
    );
}

async fn a_transient_rejection_is_retried_until_the_server_accepts(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    sink.set_mode(Mode::RejectTransiently);
    app.create_user("alice@example.com").await;
    eventually("the mail was refused twice", || async {
        attempts(&app, "verify_email", "alice@example.com").await >= 2
    })
    .await;
    assert_eq!(
        outbox(&app, "verify_email", "alice@example.com", "status")
            .await
            .as_deref(),
        Some("pending")
    );
    let error = outbox(&app, "verify_email", "alice@example.com", "last_error")
        .await
        .unwrap();
    assert!(error.contains("451"), "{error}");

    sink.set_mode(Mode::Accept);
    let m = sink.wait_for_mail_to("alice@example.com", 1).await;
    assert_eq!(m.subject, "Confirm your email address");
    eventually("the outbox row is marked sent", || async {
        outbox(&app, "verify_email", "alice@example.com", "status")
            .await
            .as_deref()
            == Some("sent")
    })
    .await;
    assert_eq!(sink.messages_to("alice@example.com").len(), 1);
    let error: Option<String> = app
        .db
        .text("SELECT COALESCE(last_error, 'NULL') FROM mail_outbox WHERE recipient = 'alice@example.com'")
        .await;
    assert_eq!(
        error.as_deref(),
        Some("NULL"),
        "the earlier refusal is cleared once sent"
    );
}

// --- pages -------------------------------------------------------------------------------------

fn assert_page_headers(r: &reqwest::Response) {
    let h = |name| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert!(
        h(CONTENT_TYPE).unwrap().starts_with("text/html"),
        "{:?}",
        h(CONTENT_TYPE)
    );
    let csp = h(CONTENT_SECURITY_POLICY).expect("a CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(h(REFERRER_POLICY).as_deref(), Some("no-referrer"));
    assert_eq!(h(X_FRAME_OPTIONS).as_deref(), Some("DENY"));
}

async fn the_verify_page_asks_before_using_the_token(b: Backend) {
    let (app, sink) = app_with_sink(b, REQUIRE_VERIFIED).await;
    app.create_user("alice@example.com").await;
    let m = sink.wait_for_messages(1).await.remove(0);
    let token = m.token();

    let r = app
        .client
        .get(app.url(path_of(&m.expect_link())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_page_headers(&r);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/verify-email\">"),
        "{html}"
    );
    assert!(
        html.contains(&format!("name=\"token\" value=\"{token}\"")),
        "{html}"
    );
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 403, "email_not_verified").await;

    let r = post_form(&app, "/verify-email", &[("token", &token)]).await;
    assert_eq!(r.status(), 200);
    assert_page_headers(&r);
    assert!(r.text().await.unwrap().contains("confirmed"));
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);

    let r = post_form(&app, "/verify-email", &[("token", &token)]).await;
    assert_eq!(r.status(), 400, "the token was used by the form");
    assert_page_headers(&r);
    let r = verify(&app, &token).await;
    assert_problem(r, 400, "invalid_email_token").await;
}

async fn the_reset_page_sets_the_password_from_its_form(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    app.create_user("alice@example.com").await;
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let m = sink.wait_for_mail_to("alice@example.com", 2).await;
    let token = m.token();

    let r = app
        .client
        .get(app.url(path_of(&m.expect_link())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_page_headers(&r);
    let html = r.text().await.unwrap();
    for needle in [
        "action=\"/reset-password\"".to_owned(),
        format!("name=\"token\" value=\"{token}\""),
        "name=\"new_password\"".to_owned(),
        "name=\"confirm_password\"".to_owned(),
    ] {
        assert!(html.contains(&needle), "`{needle}` in {html}");
    }

    let r = post_form(
        &app,
        "/reset-password",
        &[
            ("token", &token),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", "something different"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_page_headers(&r);
    assert!(r.text().await.unwrap().contains("differ"));

    let r = post_form(
        &app,
        "/reset-password",
        &[
            ("token", "not-a-real-token"),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_page_headers(&r);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);

    let r = post_form(
        &app,
        "/reset-password",
        &[
            ("token", &token),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.login("alice@example.com", NEW_PASSWORD).await.status(),
        200
    );
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 401, "invalid_credentials").await;
}

async fn emailed_links_point_to_the_app_url_when_one_is_set(b: Backend) {
    let (app, sink) = app_with_sink(b, &["--app-url", "https://app.example/"]).await;
    app.create_user("alice@example.com").await;
    let m = sink.wait_for_mail_to("alice@example.com", 1).await;
    assert_verification_mail(&m, "alice@example.com", "https://app.example");
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let m = sink.wait_for_mail_to("alice@example.com", 2).await;
    assert!(
        m.expect_link()
            .starts_with("https://app.example/reset-password?token="),
        "{}",
        m.expect_link()
    );
}

crate::on_every_backend!(
    a_verification_resend_is_sent_once_the_interval_has_passed,
    registration_mails_a_link_that_verifies_the_address_once,
    an_expired_verification_link_is_refused,
    resend_answers_alike_for_known_and_unknown_addresses,
    a_resent_link_replaces_the_earlier_one,
    resending_is_throttled_per_address,
    forgot_password_answers_alike_and_mails_only_known_addresses,
    a_password_reset_replaces_the_password_and_ends_every_session,
    only_the_newest_reset_link_works,
    a_password_change_voids_outstanding_reset_links,
    a_password_change_needs_the_current_password,
    a_password_change_hands_out_fresh_tokens_and_ends_other_sessions,
    an_email_change_takes_effect_only_when_the_new_address_confirms,
    changing_to_a_taken_address_sends_that_address_a_notice_and_no_link,
    sessions_are_listed_and_one_can_be_ended,
    deleting_the_account_needs_the_password_and_ends_everything,
    deleting_an_account_drops_its_undelivered_mail,
    the_export_holds_the_user_and_sessions_and_no_secret,
    mail_queued_while_smtp_is_down_is_delivered_once_it_is_up,
    mail_left_undelivered_is_sent_by_the_next_process,
    a_permanent_rejection_marks_the_mail_dead_without_retrying,
    a_transient_rejection_is_retried_until_the_server_accepts,
    the_verify_page_asks_before_using_the_token,
    the_reset_page_sets_the_password_from_its_form,
    emailed_links_point_to_the_app_url_when_one_is_set,
);
