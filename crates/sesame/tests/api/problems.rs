//! What a client sees when the server fails: a 500 is an RFC 9457 problem like every other
//! error (`application/problem+json`, code `internal_error`, the request id) and says nothing
//! of the cause; a handler that panics gets the same answer and the server keeps serving.

use crate::helpers::{assert_problem, build_app, start, Backend, TestDb, PASSWORD};
use async_trait::async_trait;
use serde_json::json;
use sesame::http::ratelimit::RateLimits;
use sesame::limits::{Decision, Quota, RateLimiter};
use std::sync::Arc;

/// A rate limiter that panics: it runs inside the handlers of limited endpoints, so a request
/// to one of them panics in the middle of its handler.
struct Panicking;

#[async_trait]
impl RateLimiter for Panicking {
    async fn check(&self, _key: &str, _quota: Quota) -> Decision {
        panic!("a deliberate panic inside a handler (test)");
    }
}

fn assert_says_nothing_of_the_cause(body: &serde_json::Value, words: &[&str]) {
    let text = body.to_string().to_lowercase();
    for w in words {
        assert!(!text.contains(w), "the body mentions `{w}`: {body}");
    }
}

async fn a_panicking_handler_answers_a_500_problem_and_the_server_keeps_serving(b: Backend) {
    let db = TestDb::new(b).await;
    let mut built = build_app(&db, &[], &[]).await;
    let rules = built.app.state.limits.rules;
    let parts = built
        .app
        .state
        .parts_mut()
        .expect("the state is not shared before start");
    parts.limits = Arc::new(RateLimits {
        limiter: Arc::new(Panicking),
        rules,
    });
    let app = start(db, built).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("x-request-id", "req-500-a")
        .json(&json!({ "email": "alice@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 500, "internal_error").await;
    assert_eq!(body["request_id"], "req-500-a");
    assert_says_nothing_of_the_cause(&body, &["panic", "deliberate", "(test)"]);
    // The server is still there, and a route that does not panic works.
    let r = app.get("/health/live").await;
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": "bob@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 500, "internal_error").await;
}

async fn a_storage_failure_answers_a_500_problem_without_the_cause(b: Backend) {
    let db = TestDb::new(b).await;
    let built = build_app(&db, &[], &[]).await;
    let app = start(db, built).await;
    app.create_user("alice@example.com").await;
    // The table logins read is gone: every login fails inside the store.
    app.db.exec("ALTER TABLE users RENAME TO users_gone").await;
    let r = app.login("alice@example.com", PASSWORD).await;
    let body = assert_problem(r, 500, "internal_error").await;
    assert_says_nothing_of_the_cause(&body, &["users", "table", "relation", "sql", "select"]);
}

crate::on_every_backend!(
    a_panicking_handler_answers_a_500_problem_and_the_server_keeps_serving,
    a_storage_failure_answers_a_500_problem_without_the_cause,
);
