//! The lockout cannot be used to keep the real user out: a device that signed in before (it
//! presents its known-device token) is judged by its own failure streak and rate-limit bucket,
//! so an attacker who pauses the account — from one address or many — pauses only strangers.
//! Without a device token the pause holds for everyone, the real user included. A device token
//! that fails too often is paused on its own (a stolen one buys that device's budget only).
//! Wrong current passwords on change password, change email and delete account count on a
//! per-user streak and pause it too, without touching sign-in.
//!
//! Every server here trusts 127.0.0.1 as a proxy, so `X-Forwarded-For` picks the client address.

use crate::helpers::{assert_problem, spawn_app_with, Backend, TestApp, PASSWORD};
use reqwest::header::{COOKIE, RETRY_AFTER};
use reqwest::Response;
use serde_json::{json, Value};

const WRONG: &str = "Wr0ng-but-distinctive-guess";
const ALICE: &str = "alice@example.com";
const VICTIM_IP: &str = "198.51.100.20";
const ATTACKER_IP: &str = "203.0.113.66";

/// Threshold 3, a pause long enough that nothing here outlives it, client address from
/// `X-Forwarded-For`; plus `extra`.
async fn app(b: Backend, extra: &[&str]) -> TestApp {
    let mut serve = vec![
        "--lockout-threshold",
        "3",
        "--lockout-base",
        "1m",
        "--lockout-max",
        "1h",
        "--trusted-proxies",
        "127.0.0.1",
    ];
    serve.extend_from_slice(extra);
    spawn_app_with(b, &[], &serve).await
}

async fn login(app: &TestApp, ip: &str, password: &str, device: Option<&str>) -> Response {
    let mut body = json!({"email": ALICE, "password": password});
    if let Some(d) = device {
        body["device_token"] = json!(d);
    }
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Asserts a 429 `rate_limited` with a `Retry-After`.
async fn assert_paused(r: Response, what: &str) {
    assert_eq!(r.status(), 429, "{what}");
    assert!(
        r.headers().get(RETRY_AFTER).is_some(),
        "{what}: Retry-After"
    );
    assert_problem(r, 429, "rate_limited").await;
}

/// A successful sign-in's body; it carries a device token.
async fn signed_in(r: Response, what: &str) -> Value {
    assert_eq!(r.status(), 200, "{what}");
    let body: Value = r.json().await.unwrap();
    let device = body["device_token"].as_str().unwrap_or_default();
    assert!(
        device.starts_with("d1."),
        "{what}: a device token in {body}"
    );
    body
}

fn device_of(body: &Value) -> String {
    body["device_token"].as_str().unwrap().to_owned()
}

/// The victim signs in once, from their own address: their device is now known.
async fn victim_device(app: &TestApp) -> String {
    app.create_user(ALICE).await;
    let body = signed_in(login(app, VICTIM_IP, PASSWORD, None).await, "first sign-in").await;
    device_of(&body)
}

async fn a_known_device_signs_in_while_an_attacker_keeps_the_account_paused(b: Backend) {
    let app = app(b, &[]).await;
    let device = victim_device(&app).await;

    // The attacker, from one address, pauses the account.
    for _ in 0..3 {
        let r = login(&app, ATTACKER_IP, WRONG, None).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    assert_paused(login(&app, ATTACKER_IP, PASSWORD, None).await, "attacker").await;

    // The victim's device still signs in with the right password, from its address or any.
    let body = signed_in(
        login(&app, VICTIM_IP, PASSWORD, Some(&device)).await,
        "known device during the pause",
    )
    .await;
    let renewed = device_of(&body);
    assert_eq!(
        app.me(body["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    signed_in(
        login(&app, ATTACKER_IP, PASSWORD, Some(&renewed)).await,
        "the renewed token, from another address",
    )
    .await;
    // The token endpoint honours the device token too (form parameter).
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("x-forwarded-for", VICTIM_IP)
        .form(&[
            ("grant_type", "password"),
            ("username", ALICE),
            ("password", PASSWORD),
            ("device_token", device.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "token endpoint with a device token");
    let body: Value = r.json().await.unwrap();
    assert!(body["device_token"].as_str().is_some(), "{body}");

    // The known device's sign-ins do not lift the pause strangers caused: without a device
    // token, the victim is throttled like everyone else.
    assert_paused(
        login(&app, VICTIM_IP, PASSWORD, None).await,
        "victim without a device token",
    )
    .await;
    assert_eq!(app.db.stored_failures("user:%").await, Some(3));
}

async fn brute_force_spread_over_many_addresses_pauses_the_account_but_not_a_known_device(
    b: Backend,
) {
    let app = app(b, &[]).await;
    let device = victim_device(&app).await;
    // One guess from each of three addresses is a streak of three.
    for i in 0..3 {
        let r = login(&app, &format!("192.0.2.{}", 10 + i), WRONG, None).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    for i in 0..5 {
        let ip = format!("192.0.2.{}", 100 + i);
        assert_paused(login(&app, &ip, PASSWORD, None).await, "fresh address").await;
    }
    signed_in(
        login(&app, VICTIM_IP, PASSWORD, Some(&device)).await,
        "known device",
    )
    .await;
}

async fn a_known_device_that_fails_too_often_is_paused_on_its_own(b: Backend) {
    let app = app(b, &[]).await;
    let stolen = victim_device(&app).await;
    let other = device_of(
        &signed_in(
            login(&app, VICTIM_IP, PASSWORD, None).await,
            "a second device",
        )
        .await,
    );

    // Whoever holds the first device's token gets that device's budget and no more.
    for _ in 0..3 {
        let r = login(&app, ATTACKER_IP, WRONG, Some(&stolen)).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    assert_paused(
        login(&app, ATTACKER_IP, PASSWORD, Some(&stolen)).await,
        "the device that failed, even with the right password",
    )
    .await;
    assert_eq!(app.db.stored_failures("device:%").await, Some(3));
    // The account's shared streak and the other device are untouched.
    assert_eq!(app.db.stored_failures("user:%").await, None);
    signed_in(
        login(&app, VICTIM_IP, PASSWORD, Some(&other)).await,
        "another device",
    )
    .await;
    signed_in(
        login(&app, VICTIM_IP, PASSWORD, None).await,
        "no device token",
    )
    .await;
    // Only the shared account pause emails the owner.
    assert_eq!(
        app.db
            .text("SELECT CAST(COUNT(*) AS TEXT) FROM mail_outbox WHERE kind = 'account_locked'")
            .await
            .as_deref(),
        Some("0")
    );
}

async fn a_device_token_that_is_forged_or_for_another_account_counts_as_none(b: Backend) {
    let app = app(b, &[]).await;
    victim_device(&app).await;
    app.create_user("bob@example.com").await;
    let r = app.login("bob@example.com", PASSWORD).await;
    let bobs = device_of(&signed_in(r, "bob").await);
    for _ in 0..3 {
        let r = login(&app, ATTACKER_IP, WRONG, None).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    let mut forged = bobs.clone();
    forged.pop();
    forged.push(if bobs.ends_with('A') { 'B' } else { 'A' });
    for (what, token) in [
        ("bob's device token", bobs.as_str()),
        ("an altered token", forged.as_str()),
        ("junk", "d1.not-a-token"),
        ("an empty token", ""),
    ] {
        assert_paused(login(&app, VICTIM_IP, PASSWORD, Some(token)).await, what).await;
    }
    // For a name with no account, a device token changes nothing either.
    let r = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "ghost@example.com", "password": WRONG, "device_token": bobs}),
        )
        .await;
    assert_problem(r, 401, "invalid_credentials").await;
}

async fn the_per_account_rate_limit_does_not_deny_a_known_device(b: Backend) {
    let app = app(b, &["--rate-login-account", "3/1h"]).await;
    let device = victim_device(&app).await;
    // The attacker spends the rest of the account's bucket (lockout is not reached: 2 guesses).
    for _ in 0..2 {
        let r = login(&app, ATTACKER_IP, WRONG, None).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    assert_paused(
        login(&app, ATTACKER_IP, WRONG, None).await,
        "account bucket",
    )
    .await;
    assert_paused(
        login(&app, VICTIM_IP, PASSWORD, None).await,
        "victim without a device token",
    )
    .await;
    signed_in(
        login(&app, VICTIM_IP, PASSWORD, Some(&device)).await,
        "known device",
    )
    .await;
}

async fn cookie_mode_sets_and_honours_the_device_cookie(b: Backend) {
    let app = app(b, &["--cookie-mode", "true"]).await;
    app.create_user(ALICE).await;
    let r = login(&app, VICTIM_IP, PASSWORD, None).await;
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-sesame_device="))
        .and_then(|v| v.split(';').next())
        .expect("a device cookie")
        .to_owned();
    let body: Value = r.json().await.unwrap();
    assert!(body.get("device_token").is_none(), "cookie only: {body}");
    for _ in 0..3 {
        let r = login(&app, ATTACKER_IP, WRONG, None).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", VICTIM_IP)
        .header(COOKIE, format!("__Host-sesame_device={cookie}"))
        .json(&json!({"email": ALICE, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the browser holding the device cookie");
}

// --- wrong current passwords --------------------------------------------------------------------

async fn change_password(app: &TestApp, access: &str, current: &str) -> Response {
    app.post_json_auth(
        "/api/v1/users/me/password",
        access,
        Some(&json!({"current_password": current, "new_password": "violet anchors drift past the noon ferry"})),
    )
    .await
}

async fn delete_account(app: &TestApp, access: &str, password: &str) -> Response {
    app.client
        .delete(app.url("/api/v1/users/me"))
        .bearer_auth(access)
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap()
}

async fn assert_incorrect(r: Response, field: &str) {
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], field, "{body}");
    assert_eq!(body["errors"][0]["code"], "incorrect", "{body}");
}

async fn wrong_current_passwords_are_paused_per_user_and_do_not_stop_sign_in(b: Backend) {
    let app = app(b, &[]).await;
    let device = victim_device(&app).await;
    let stolen = signed_in(login(&app, ATTACKER_IP, PASSWORD, None).await, "session").await;
    let access = stolen["access_token"].as_str().unwrap().to_owned();

    // A right password before the threshold ends the streak.
    assert_incorrect(
        app.change_email(&access, "alice@new.example", WRONG).await,
        "password",
    )
    .await;
    assert_incorrect(delete_account(&app, &access, WRONG).await, "password").await;
    assert_eq!(
        app.change_email(&access, "alice@new.example", PASSWORD)
            .await
            .status(),
        202
    );
    assert_eq!(app.db.stored_failures("reauth:%").await, None);

    // Three wrong guesses across the three endpoints are one streak of three…
    assert_incorrect(
        change_password(&app, &access, WRONG).await,
        "current_password",
    )
    .await;
    assert_incorrect(
        app.change_email(&access, "alice@new.example", WRONG).await,
        "password",
    )
    .await;
    assert_incorrect(delete_account(&app, &access, WRONG).await, "password").await;
    // …and from then on each answers 429, whatever the password.
    assert_paused(
        change_password(&app, &access, PASSWORD).await,
        "change password",
    )
    .await;
    assert_paused(
        app.change_email(&access, "alice@new.example", PASSWORD)
            .await,
        "change email",
    )
    .await;
    assert_paused(
        delete_account(&app, &access, PASSWORD).await,
        "delete account",
    )
    .await;
    assert_paused(change_password(&app, &access, WRONG).await, "still paused").await;
    assert_eq!(
        app.db.stored_failures("reauth:%").await,
        Some(3),
        "refusals during the pause do not count"
    );
    assert_eq!(app.me(&access).await.status(), 200, "nothing was changed");

    // The pause is on re-entering the password, not on signing in.
    signed_in(
        login(&app, VICTIM_IP, PASSWORD, Some(&device)).await,
        "known device",
    )
    .await;
    signed_in(
        login(&app, VICTIM_IP, PASSWORD, None).await,
        "no device token",
    )
    .await;
}

crate::on_every_backend!(
    a_known_device_signs_in_while_an_attacker_keeps_the_account_paused,
    brute_force_spread_over_many_addresses_pauses_the_account_but_not_a_known_device,
    a_known_device_that_fails_too_often_is_paused_on_its_own,
    a_device_token_that_is_forged_or_for_another_account_counts_as_none,
    the_per_account_rate_limit_does_not_deny_a_known_device,
    cookie_mode_sets_and_honours_the_device_cookie,
    wrong_current_passwords_are_paused_per_user_and_do_not_stop_sign_in,
);
