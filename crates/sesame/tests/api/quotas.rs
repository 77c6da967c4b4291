//! The rate limits of the mail-sending endpoints not covered in `abuse.rs`: password-reset
//! requests per client IP, verification resends per address, and email changes per client IP
//! and per user. Each test lowers the one quota it checks; the others stay relaxed (see
//! `TEST_SERVE_DEFAULTS`), so the 429 can only come from the rule under test.

use crate::helpers::{assert_problem, spawn_app_with, Backend, PASSWORD};
use reqwest::header::RETRY_AFTER;
use reqwest::Response;
use serde_json::Value;

async fn assert_rate_limited(r: Response) {
    let secs: u64 = r
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    assert_problem(r, 429, "rate_limited").await;
}

fn access(t: &Value) -> String {
    t["access_token"].as_str().unwrap().to_owned()
}

async fn password_reset_requests_are_limited_per_ip(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-forgot-ip", "3/1m"]).await;
    // Different addresses, so the per-address quota never applies.
    for who in ["a", "b", "c"] {
        assert_eq!(
            app.forgot_password(&format!("{who}@example.com"))
                .await
                .status(),
            202
        );
    }
    assert_rate_limited(app.forgot_password("d@example.com").await).await;
}

async fn verification_resends_are_limited_per_address(b: Backend) {
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--rate-resend-email",
            "3/1m",
            "--verify-resend-interval",
            "0s",
        ],
    )
    .await;
    app.create_user("alice@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            app.resend_verification("alice@example.com").await.status(),
            202
        );
    }
    assert_rate_limited(app.resend_verification("alice@example.com").await).await;
    // The same address in other letter case is the same address.
    assert_rate_limited(app.resend_verification("ALICE@example.com").await).await;
    // Another address has its own quota, from the same IP.
    assert_eq!(
        app.resend_verification("bob@example.com").await.status(),
        202
    );
}

async fn email_changes_are_limited_per_user(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-email-change-user", "2/1m"]).await;
    let alice = access(&app.user_with_tokens("alice@example.com").await);
    for i in 0..2 {
        let r = app
            .change_email(&alice, &format!("alice{i}@new.example"), PASSWORD)
            .await;
        assert_eq!(r.status(), 202);
    }
    assert_rate_limited(
        app.change_email(&alice, "alice9@new.example", PASSWORD)
            .await,
    )
    .await;
    // A second session of the same user shares the quota.
    let again = access(&app.tokens("alice@example.com").await);
    assert_rate_limited(
        app.change_email(&again, "alice8@new.example", PASSWORD)
            .await,
    )
    .await;
    // Another user, from the same IP, is not limited by alice's quota.
    let bob = access(&app.user_with_tokens("bob@example.com").await);
    assert_eq!(
        app.change_email(&bob, "bob@new.example", PASSWORD)
            .await
            .status(),
        202
    );
}

async fn email_changes_are_limited_per_ip(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-email-change-ip", "2/1m"]).await;
    let mut users = Vec::new();
    for who in ["a", "b", "c"] {
        users.push(access(
            &app.user_with_tokens(&format!("{who}@example.com")).await,
        ));
    }
    // One request per user, so the per-user quota never applies.
    assert_eq!(
        app.change_email(&users[0], "a@new.example", PASSWORD)
            .await
            .status(),
        202
    );
    assert_eq!(
        app.change_email(&users[1], "b@new.example", PASSWORD)
            .await
            .status(),
        202
    );
    assert_rate_limited(app.change_email(&users[2], "c@new.example", PASSWORD).await).await;
}

crate::on_every_backend!(
    password_reset_requests_are_limited_per_ip,
    verification_resends_are_limited_per_address,
    email_changes_are_limited_per_user,
    email_changes_are_limited_per_ip,
);
