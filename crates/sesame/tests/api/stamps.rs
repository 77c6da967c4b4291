//! Records carry the server's time, not the wall clock's: with the server's clock moved a day
//! ahead, queued mail is stamped (and so due) at that time and the outbox on the same clock
//! delivers it, audit events and the export are dated by it, and the admin API judges "locked"
//! at it. (Each rule's own behaviour is tested where the rule is; here only whose clock it reads.)

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp, PASSWORD};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sesame_domain::clock::Clock as _;
use std::time::{Duration, Instant};

const DAY: Duration = Duration::from_secs(86_400);

fn time(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("a time, not {v}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

async fn count(app: &TestApp, sql: &str) -> u64 {
    app.db
        .text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {sql}"))
        .await
        .unwrap()
        .parse()
        .unwrap()
}

/// Alice, registered at the wall clock's time, then signed in with the server's clock a day
/// ahead; her password changed at that time. Returns the tokens the change handed out and the
/// server's time before the change.
async fn alice_changes_her_password_a_day_ahead(app: &TestApp) -> (Value, DateTime<Utc>) {
    app.create_user("alice@example.com").await;
    app.clock.advance(DAY);
    let access = app.tokens("alice@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.clock.now();
    let r = app
        .post_json_auth(
            "/api/v1/users/me/password",
            &access,
            Some(&json!({ "current_password": PASSWORD, "new_password": "an entirely new passphrase" })),
        )
        .await;
    assert_eq!(r.status(), 200);
    (r.json().await.unwrap(), before)
}

async fn mail_queued_a_day_ahead_is_stamped_then_and_delivered_on_that_clock(b: Backend) {
    let app = spawn_app(b).await;
    alice_changes_her_password_a_day_ahead(&app).await;
    // The notice is stamped no earlier than the session opened a day ahead (the wall clock
    // would put it a day before), and the outbox, on the server's clock, finds it due.
    let notice = "mail_outbox WHERE kind = 'password_changed' \
                  AND created_at >= (SELECT MAX(created_at) FROM sessions)";
    assert_eq!(count(&app, notice).await, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&app, &format!("{notice} AND status = 'sent'")).await == 0 {
        assert!(Instant::now() < deadline, "the notice was not delivered");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn audit_events_and_the_export_are_dated_by_the_servers_clock(b: Backend) {
    let app = spawn_app(b).await;
    let (tokens, before) = alice_changes_her_password_a_day_ahead(&app).await;
    let r = app
        .get_auth(
            "/api/v1/users/me/export",
            tokens["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(r.status(), 200);
    let export: Value = r.json().await.unwrap();
    let after = app.clock.now();
    let changed = export["security_events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "password.changed")
        .unwrap_or_else(|| panic!("a password.changed event in {export}"));
    let at = time(&changed["occurred_at"]);
    assert!(
        before <= at && at <= after,
        "{at} not in [{before}, {after}]"
    );
    let exported = time(&export["exported_at"]);
    assert!(
        at <= exported && exported <= after,
        "exported at {exported}"
    );
}

async fn the_admin_api_judges_locked_at_the_servers_time(b: Backend) {
    let admin_email = "admin@example.com";
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--bootstrap-admin-email",
            admin_email,
            "--bootstrap-admin-password",
            PASSWORD,
            "--lockout-threshold",
            "2",
            "--lockout-base",
            "2m",
            "--lockout-max",
            "2m",
        ],
    )
    .await;
    let admin = app.tokens(admin_email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_user("alice@example.com").await;
    for _ in 0..2 {
        assert_eq!(app.login("alice@example.com", "wrong").await.status(), 401);
    }
    let locked = |app: &TestApp| {
        let r = app
            .client
            .get(app.url("/api/v1/admin/users"))
            .bearer_auth(&admin)
            .query(&[("locked", "true"), ("include_total", "true")])
            .send();
        async move {
            let page: Value = r.await.unwrap().json().await.unwrap();
            let emails: Vec<String> = page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned())
                .collect();
            (emails, page["total"].as_u64().unwrap())
        }
    };
    assert_eq!(
        locked(&app).await,
        (vec!["alice@example.com".to_owned()], 1)
    );
    // The pause ends on the server's clock: the list and the count judge at its time.
    app.clock.advance(Duration::from_secs(121));
    assert_eq!(locked(&app).await, (Vec::new(), 0));
}

crate::on_every_backend!(
    mail_queued_a_day_ahead_is_stamped_then_and_delivered_on_that_clock,
    audit_events_and_the_export_are_dated_by_the_servers_clock,
    the_admin_api_judges_locked_at_the_servers_time,
);
