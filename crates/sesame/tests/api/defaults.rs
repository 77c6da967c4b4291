//! The secure defaults themselves, on a server started without any of the suite's relaxed test
//! values (only hashing is kept cheap): login waits for a verified address, sign-in pauses after
//! five failures in a row, and the abuse quotas are the documented ones (README configuration
//! table). Every other test relaxes these, so without this module a weakened default would pass.

use crate::helpers::{assert_problem, spawn_app_with_production_defaults, Backend};
use reqwest::Response;
use serde_json::json;

const PASSWORD: &str = crate::helpers::PASSWORD;

async fn assert_rate_limited(r: Response, what: &str) {
    assert_eq!(r.status(), 429, "{what}");
    assert_problem(r, 429, "rate_limited").await;
}

async fn by_default_login_waits_for_a_verified_address(b: Backend) {
    let app = spawn_app_with_production_defaults(b, &[]).await;
    app.create_user("alice@example.com").await;
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 403, "email_not_verified").await;
}

async fn by_default_sign_in_pauses_after_five_failures_in_a_row(b: Backend) {
    let app = spawn_app_with_production_defaults(b, &[]).await;
    app.create_user("alice@example.com").await;
    // Seven logins in all, under the account quota (ten a minute): a 429 here is the pause.
    for _ in 0..4 {
        let r = app
            .login("alice@example.com", "not the password at all")
            .await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    // Not paused after four: the right password is checked (and meets the verification rule).
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_problem(r, 403, "email_not_verified").await;
    let r = app
        .login("alice@example.com", "not the password at all")
        .await;
    assert_problem(r, 401, "invalid_credentials").await;
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_rate_limited(r, "after five failures the right password waits too").await;
}

async fn by_default_registrations_are_limited_to_ten_an_hour_per_ip(b: Backend) {
    let app = spawn_app_with_production_defaults(b, &[]).await;
    for i in 0..10 {
        let r = app
            .register(&format!("user{i}@example.com"), PASSWORD)
            .await;
        assert_eq!(r.status(), 201, "registration {i}");
    }
    let r = app.register("user10@example.com", PASSWORD).await;
    assert_rate_limited(r, "the eleventh registration").await;
}

async fn by_default_logins_are_limited_to_ten_a_minute_per_account(b: Backend) {
    let app = spawn_app_with_production_defaults(b, &[]).await;
    app.create_user("alice@example.com").await;
    // The right password of an unverified account: refused (403) without counting a failure, so
    // the sign-in pause never starts and only the quota can refuse the eleventh.
    for i in 0..10 {
        let r = app.login("alice@example.com", PASSWORD).await;
        assert_eq!(r.status(), 403, "login {i}");
    }
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_rate_limited(r, "the eleventh login to one account in a minute").await;
}

async fn by_default_logins_are_limited_to_twenty_a_minute_per_ip(b: Backend) {
    let app = spawn_app_with_production_defaults(b, &[]).await;
    // One try at each of twenty names: neither the account quota nor the pause applies.
    for i in 0..20 {
        let r = app
            .login(&format!("nobody{i}@example.com"), "not the password")
            .await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    let r = app.login("nobody20@example.com", "not the password").await;
    assert_rate_limited(r, "the twenty-first login from one IP in a minute").await;
}

async fn by_default_mail_requests_are_limited_to_three_an_hour_per_address(b: Backend) {
    let app = spawn_app_with_production_defaults(b, &[]).await;
    for (path, what) in [
        ("/api/v1/auth/password/forgot", "reset request"),
        ("/api/v1/auth/verify-email/resend", "verification resend"),
    ] {
        for i in 0..3 {
            let r = app
                .post_json(path, &json!({ "email": "alice@example.com" }))
                .await;
            assert_eq!(r.status(), 202, "{what} {i}");
        }
        let r = app
            .post_json(path, &json!({ "email": "alice@example.com" }))
            .await;
        assert_rate_limited(r, &format!("the fourth {what} for one address")).await;
    }
}

crate::on_every_backend!(
    by_default_login_waits_for_a_verified_address,
    by_default_sign_in_pauses_after_five_failures_in_a_row,
    by_default_registrations_are_limited_to_ten_an_hour_per_ip,
    by_default_logins_are_limited_to_ten_a_minute_per_account,
    by_default_logins_are_limited_to_twenty_a_minute_per_ip,
    by_default_mail_requests_are_limited_to_three_an_hour_per_address,
);
