//! The security events of the self-service flows reach the audit trail, each once, about the
//! right user, with the request id and the detail an investigator needs: refresh-token reuse,
//! account deletion, email verification, password reset (requested and completed), email change
//! (requested and confirmed), logout-all and ending one session. Read back through the admin
//! API, as an operator would. (Logins, lockouts and admin actions are covered in `abuse.rs` and
//! `admin.rs`.)

use crate::helpers::text_field as s;
use crate::helpers::{spawn_app_with, Backend, TestApp, PASSWORD};
use crate::smtp::SmtpSink;
use reqwest::Response;
use serde_json::{json, Value};

const ADMIN_EMAIL: &str = "admin@example.com";
const NEW_PASSWORD: &str = "an entirely new passphrase";

/// A server with a bootstrap admin (to read the trail) mailing to an SMTP sink; `extra` flags.
async fn app(b: Backend, extra: &[&str]) -> (TestApp, SmtpSink, String) {
    let sink = SmtpSink::start().await;
    let mut flags = vec![
        "--bootstrap-admin-email",
        ADMIN_EMAIL,
        "--bootstrap-admin-password",
        PASSWORD,
    ];
    flags.extend_from_slice(&sink.serve_flags());
    flags.extend_from_slice(extra);
    let app = spawn_app_with(b, &[], &flags).await;
    let admin = s(&app.tokens(ADMIN_EMAIL).await, "access_token");
    (app, sink, admin)
}

/// Sends `rb` with a request id of our choosing, expecting `status`.
async fn send_as(rb: reqwest::RequestBuilder, request_id: &str, status: u16) -> Response {
    let r = rb.header("x-request-id", request_id).send().await.unwrap();
    assert_eq!(r.status(), status, "request {request_id}");
    r
}

/// The events named `event` about `user`, read through the admin API.
async fn events(app: &TestApp, admin: &str, user: &str, event: &str) -> Vec<Value> {
    let r = app
        .client
        .get(app.url("/api/v1/admin/audit-events"))
        .bearer_auth(admin)
        .query(&[("user_id", user), ("event", event), ("limit", "200")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    page["events"].as_array().unwrap().clone()
}

/// Asserts exactly one `event` about `user`, made by `request_id`; returns its detail.
async fn the_one(app: &TestApp, admin: &str, user: &str, event: &str, request_id: &str) -> Value {
    let found = events(app, admin, user, event).await;
    assert_eq!(found.len(), 1, "one `{event}` about {user}: {found:?}");
    let e = &found[0];
    assert_eq!(e["user_id"], user, "{e}");
    assert_eq!(e["request_id"], request_id, "{e}");
    assert_eq!(e["ip"], "127.0.0.1", "{e}");
    e["detail"].clone()
}

async fn refresh_token_reuse_is_audited_with_its_session(b: Backend) {
    let (app, _sink, admin) = app(b, &["--refresh-reuse-grace", "0s"]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let id = s(&t["user"], "id");
    let rt0 = s(&t, "refresh_token");
    let body = json!({ "refresh_token": rt0 });
    let url = app.url("/api/v1/auth/refresh");
    send_as(app.client.post(&url).json(&body), "first-use", 200).await;
    send_as(app.client.post(&url).json(&body), "the-reuse", 401).await;
    let detail = the_one(
        &app,
        &admin,
        &id,
        "refresh_token.reuse_detected",
        "the-reuse",
    )
    .await;
    let sessions = app
        .db
        .text("SELECT CAST(COUNT(*) AS TEXT) FROM sessions WHERE revoked_at IS NOT NULL")
        .await;
    assert_eq!(sessions.as_deref(), Some("1"));
    assert!(detail["session_id"].is_string(), "{detail}");
}

async fn deleting_ones_account_is_audited(b: Backend) {
    let (app, _sink, admin) = app(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let id = s(&t["user"], "id");
    let rb = app
        .client
        .delete(app.url("/api/v1/users/me"))
        .bearer_auth(s(&t, "access_token"))
        .json(&json!({ "password": PASSWORD }));
    send_as(rb, "deletion", 204).await;
    let detail = the_one(&app, &admin, &id, "account.deleted", "deletion").await;
    assert_eq!(detail["by"], "owner");
}

async fn verifying_the_address_is_audited(b: Backend) {
    let (app, sink, admin) = app(b, &[]).await;
    let user = app.create_user("alice@example.com").await;
    let id = s(&user, "id");
    let token = sink.wait_for_mail_to("alice@example.com", 1).await.token();
    let rb = app
        .client
        .post(app.url("/api/v1/auth/verify-email"))
        .json(&json!({ "token": token }));
    send_as(rb, "verification", 204).await;
    the_one(&app, &admin, &id, "email.verified", "verification").await;
}

async fn a_password_reset_is_audited_when_requested_and_when_completed(b: Backend) {
    let (app, sink, admin) = app(b, &[]).await;
    let user = app.create_user("alice@example.com").await;
    let id = s(&user, "id");
    sink.wait_for_mail_to("alice@example.com", 1).await;
    let rb = app
        .client
        .post(app.url("/api/v1/auth/password/forgot"))
        .json(&json!({ "email": "alice@example.com" }));
    send_as(rb, "reset-request", 202).await;
    let token = sink.wait_for_mail_to("alice@example.com", 2).await.token();
    the_one(
        &app,
        &admin,
        &id,
        "password_reset.requested",
        "reset-request",
    )
    .await;
    let rb = app
        .client
        .post(app.url("/api/v1/auth/password/reset"))
        .json(&json!({ "token": token, "new_password": NEW_PASSWORD }));
    send_as(rb, "reset-done", 204).await;
    the_one(&app, &admin, &id, "password_reset.completed", "reset-done").await;
}

async fn an_email_change_is_audited_when_requested_and_when_confirmed(b: Backend) {
    let (app, sink, admin) = app(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let id = s(&t["user"], "id");
    let rb = app
        .client
        .post(app.url("/api/v1/users/me/email"))
        .bearer_auth(s(&t, "access_token"))
        .json(&json!({ "new_email": "alice@new.example", "password": PASSWORD }));
    send_as(rb, "change-request", 202).await;
    let detail = the_one(
        &app,
        &admin,
        &id,
        "email_change.requested",
        "change-request",
    )
    .await;
    assert_eq!(detail["new_email"], "alice@new.example");
    assert_eq!(detail["address_taken"], false);
    let token = sink.wait_for_mail_to("alice@new.example", 1).await.token();
    let rb = app
        .client
        .post(app.url("/api/v1/auth/email/confirm"))
        .json(&json!({ "token": token }));
    send_as(rb, "change-confirm", 204).await;
    let detail = the_one(
        &app,
        &admin,
        &id,
        "email_change.confirmed",
        "change-confirm",
    )
    .await;
    assert_eq!(detail["old_email"], "alice@example.com");
    assert_eq!(detail["new_email"], "alice@new.example");
}

async fn logout_all_is_audited_with_the_number_of_sessions_ended(b: Backend) {
    let (app, _sink, admin) = app(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    app.tokens("alice@example.com").await;
    let id = s(&t["user"], "id");
    let rb = app
        .client
        .post(app.url("/api/v1/auth/logout-all"))
        .bearer_auth(s(&t, "access_token"));
    send_as(rb, "logout-all", 204).await;
    let detail = the_one(&app, &admin, &id, "session.logout_all", "logout-all").await;
    assert_eq!(detail["sessions_ended"], 2);
}

async fn ending_one_session_is_audited_with_its_id(b: Backend) {
    let (app, _sink, admin) = app(b, &[]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    app.tokens("alice@example.com").await;
    let id = s(&t["user"], "id");
    let access = s(&t, "access_token");
    let r = app.get_auth("/api/v1/users/me/sessions", &access).await;
    let sessions: Vec<Value> = r.json().await.unwrap();
    let other = sessions
        .iter()
        .find(|x| x["current"] == false)
        .map(|x| s(x, "id"))
        .unwrap_or_else(|| panic!("another session in {sessions:?}"));
    let rb = app
        .client
        .delete(app.url(&format!("/api/v1/users/me/sessions/{other}")))
        .bearer_auth(&access);
    send_as(rb, "end-session", 204).await;
    let detail = the_one(&app, &admin, &id, "session.revoked", "end-session").await;
    assert_eq!(detail["session_id"], other.as_str());
}

crate::on_every_backend!(
    refresh_token_reuse_is_audited_with_its_session,
    deleting_ones_account_is_audited,
    verifying_the_address_is_audited,
    a_password_reset_is_audited_when_requested_and_when_completed,
    an_email_change_is_audited_when_requested_and_when_confirmed,
    logout_all_is_audited_with_the_number_of_sessions_ended,
    ending_one_session_is_audited_with_its_id,
);
