//! Registration, login and password handling: duplicates and races, identical answers for
//! unknown accounts, deactivation, hash upgrades, password length rules, hashing back-pressure.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, spawn_on, Backend, PASSWORD};
use futures::future::join_all;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn registration_returns_the_user_and_never_a_secret(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "Alice@Example.com", "password": PASSWORD, "username": "alice", "display_name": "Alice A."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let u: Value = r.json().await.unwrap();
    let mut keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "display_name",
            "email",
            "email_verified",
            "id",
            "is_active",
            "last_login_at",
            "locale",
            "roles",
            "updated_at",
            "username"
        ]
    );
    assert_eq!(u["locale"], "en");
    assert_eq!(u["email"], "Alice@Example.com");
    assert_eq!(u["username"], "alice");
    assert_eq!(u["display_name"], "Alice A.");
    assert_eq!(u["email_verified"], false);
    assert_eq!(u["is_active"], true);
    assert_eq!(u["roles"], json!([]));
    assert!(u["last_login_at"].is_null());
    assert!(!u.to_string().contains(PASSWORD));
    let stored = app.db.password_hash().await;
    assert!(
        stored.starts_with("$argon2id$"),
        "stored as argon2id PHC: {stored}"
    );
}

async fn a_duplicate_email_is_rejected_case_insensitively(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("alice@example.com").await;
    let r = app.register("  ALICE@example.COM ", PASSWORD).await;
    assert_problem(r, 409, "email_taken").await;
}

async fn a_duplicate_username_is_rejected_case_insensitively(b: Backend) {
    let app = spawn_app(b).await;
    let body = |email: &str, username: &str| json!({"email": email, "password": PASSWORD, "username": username});
    let r = app
        .post_json("/api/v1/auth/register", &body("a@example.com", "Alice"))
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .post_json("/api/v1/auth/register", &body("b@example.com", "aLiCe"))
        .await;
    assert_problem(r, 409, "username_taken").await;
}

async fn concurrent_registrations_with_one_email_create_exactly_one_account(b: Backend) {
    let app = spawn_app(b).await;
    let attempts = (0..16).map(|_| app.register("race@example.com", PASSWORD));
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
    let count = app
        .db
        .text("SELECT CAST(COUNT(*) AS TEXT) FROM users")
        .await
        .unwrap();
    assert_eq!(count, "1");
}

async fn login_works_with_email_or_username(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "bob@example.com", "password": PASSWORD, "username": "bob"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    for body in [
        json!({"email": "BOB@example.com", "password": PASSWORD}),
        json!({"username": "Bob", "password": PASSWORD}),
    ] {
        let r = app.post_json("/api/v1/auth/login", &body).await;
        assert_eq!(r.status(), 200, "{body}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let t: Value = r.json().await.unwrap();
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["expires_in"], 900);
        assert_eq!(t["user"]["email"], "bob@example.com");
        assert!(t["user"]["last_login_at"].is_string());
        assert!(t["refresh_token"].as_str().unwrap().len() >= 43);
        assert_eq!(
            app.me(t["access_token"].as_str().unwrap()).await.status(),
            200
        );
    }
}

async fn login_needs_exactly_one_of_email_and_username(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post_json("/api/v1/auth/login", &json!({"password": PASSWORD}))
        .await;
    assert_problem(r, 422, "validation_failed").await;
    let r = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "a@example.com", "username": "a", "password": PASSWORD}),
        )
        .await;
    assert_problem(r, 422, "validation_failed").await;
}

/// The answer body without the per-request id.
async fn comparable(r: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body: Value = r.json().await.unwrap();
    body.as_object_mut().unwrap().remove("request_id");
    (status, www, body)
}

async fn unknown_accounts_and_wrong_passwords_get_the_same_answer(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("known@example.com").await;
    let wrong = comparable(app.login("known@example.com", "not the password").await).await;
    let unknown = comparable(app.login("nobody@example.com", "not the password").await).await;
    let malformed = comparable(app.login("not-an-email@", "not the password").await).await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, malformed);
    assert_eq!(wrong.2["code"], "invalid_credentials");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Without a dummy hash an unknown account would answer in a fraction of a millisecond while a
/// known one pays for argon2. With it, both pay the same hash.
async fn an_unknown_account_costs_the_same_hash_as_a_known_one(b: Backend) {
    let app = spawn_app_with(
        b,
        &["--argon2-memory-kib", "16384", "--argon2-iterations", "4"],
        &[],
    )
    .await;
    app.create_user("known@example.com").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    // Interleaved, medians, and a 3x band: robust to a loaded machine, while a missing dummy
    // hash would make the unknown account tens of times faster.
    for _ in 0..9 {
        let t = Instant::now();
        assert_eq!(
            app.login("known@example.com", "wrong password!")
                .await
                .status(),
            401
        );
        known.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(
            app.login("unknown@example.com", "wrong password!")
                .await
                .status(),
            401
        );
        unknown.push(t.elapsed());
    }
    let (k, u) = (median(known), median(unknown));
    assert!(
        u * 3 >= k && k * 3 >= u,
        "known {k:?} vs unknown {u:?} should be alike"
    );
}

async fn a_deactivated_account_cannot_log_in_and_its_tokens_stop_working(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.user_with_tokens("gone@example.com").await;
    app.db.exec("UPDATE users SET is_active = FALSE").await;
    assert_problem(
        app.login("gone@example.com", PASSWORD).await,
        403,
        "account_disabled",
    )
    .await;
    // A wrong password still says only "invalid credentials": the state is not revealed.
    assert_problem(
        app.login("gone@example.com", "wrong password!").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_problem(
        app.me(t["access_token"].as_str().unwrap()).await,
        401,
        "invalid_token",
    )
    .await;
    assert_problem(
        app.refresh(t["refresh_token"].as_str().unwrap()).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

async fn an_imported_bcrypt_hash_logs_in_and_is_upgraded_to_argon2id(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("imported@example.com").await;
    let bcrypt_hash = bcrypt::hash(PASSWORD, 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    app.db
        .exec(&format!("UPDATE users SET password_hash = '{bcrypt_hash}'"))
        .await;
    assert_eq!(
        app.login("imported@example.com", "wrong password!")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login("imported@example.com", PASSWORD).await.status(),
        200
    );
    let stored = app.db.password_hash().await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=256,t=1,p=1$"),
        "{stored}"
    );
    assert_eq!(
        app.login("imported@example.com", PASSWORD).await.status(),
        200
    );
}

async fn an_argon2_hash_with_old_parameters_is_upgraded_at_login(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("old@example.com").await;
    let db = app.stop().await;
    let app = spawn_on(
        db,
        &["--argon2-memory-kib", "512", "--argon2-iterations", "1"],
        &[],
    )
    .await;
    assert_eq!(app.login("old@example.com", PASSWORD).await.status(), 200);
    let stored = app.db.password_hash().await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=512,t=1,p=1$"),
        "{stored}"
    );
}

async fn passwords_are_length_checked_and_never_truncated(b: Backend) {
    let app = spawn_app(b).await;
    assert_problem(
        app.register("short@example.com", "1234567").await,
        422,
        "validation_failed",
    )
    .await;
    let body = assert_problem(
        app.register("long@example.com", &"x".repeat(257)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "password");
    assert_eq!(body["errors"][0]["code"], "too_long");
    let max = "Zq7#mW2!vR9^kP4&".repeat(16); // 256 bytes, strong enough for the policy
    assert_eq!(app.register("max@example.com", &max).await.status(), 201);
    assert_eq!(app.login("max@example.com", &max).await.status(), 200);
    assert_eq!(
        app.login("max@example.com", &max[..255]).await.status(),
        401,
        "a prefix must not match"
    );
    // NFKC: a ligature form and its plain letters are the same password.
    assert_eq!(
        app.register("nfkc@example.com", "ﬁve ﬂying ﬁsh ﬁnd 42 golden oars")
            .await
            .status(),
        201
    );
    assert_eq!(
        app.login("nfkc@example.com", "five flying fish find 42 golden oars")
            .await
            .status(),
        200
    );
}

async fn a_saturated_hash_pool_answers_503_with_retry_after(b: Backend) {
    let app = spawn_app_with(
        b,
        &["--argon2-memory-kib", "16384", "--argon2-iterations", "3"],
        &["--hash-workers", "1", "--hash-queue", "2"],
    )
    .await;
    // Twelve accounts: logins to one account take turns (the lockout counts each failure before
    // the next attempt is checked), so only logins to different accounts hash at once.
    let emails: Vec<String> = (0..12).map(|i| format!("busy{i}@example.com")).collect();
    for email in &emails {
        app.create_user(email).await;
    }
    let responses = join_all(emails.iter().map(|e| app.login(e, PASSWORD))).await;
    let mut ok = 0;
    let mut busy = 0;
    for r in responses {
        match r.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert!(r.headers().contains_key("retry-after"));
                assert_problem(r, 503, "overloaded").await;
                busy += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok}, refused {busy}");
    // The pool drains: a login afterwards succeeds.
    assert_eq!(app.login("busy0@example.com", PASSWORD).await.status(), 200);
}

async fn health_endpoints_answer(b: Backend) {
    let app = spawn_app(b).await;
    for path in ["/health/live", "/health/ready"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    }
}

crate::on_every_backend!(
    registration_returns_the_user_and_never_a_secret,
    a_duplicate_email_is_rejected_case_insensitively,
    a_duplicate_username_is_rejected_case_insensitively,
    concurrent_registrations_with_one_email_create_exactly_one_account,
    login_works_with_email_or_username,
    login_needs_exactly_one_of_email_and_username,
    unknown_accounts_and_wrong_passwords_get_the_same_answer,
    an_unknown_account_costs_the_same_hash_as_a_known_one,
    a_deactivated_account_cannot_log_in_and_its_tokens_stop_working,
    an_imported_bcrypt_hash_logs_in_and_is_upgraded_to_argon2id,
    an_argon2_hash_with_old_parameters_is_upgraded_at_login,
    passwords_are_length_checked_and_never_truncated,
    a_saturated_hash_pool_answers_503_with_retry_after,
    health_endpoints_answer,
);
