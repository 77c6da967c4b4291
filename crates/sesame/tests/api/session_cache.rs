//! The per-node session cache behind the token-checked hot path: it answers from memory, every
//! change made through Sesame ends a cached session at once, and on PostgreSQL other nodes hear of
//! it through `NOTIFY` within moments (and drop everything when they may have missed some).

use crate::helpers::{spawn_app_with, spawn_on, Backend, TestApp, TestDb, PASSWORD};
use base64::Engine as _;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn sid_of(access_token: &str) -> String {
    let payload = access_token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

fn at(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

/// Ends a session by writing to the database directly, behind every server's back.
async fn revoke_behind_sesames_back(db: &TestDb, backend: Backend, sid: &str) {
    let sql = match backend {
        Backend::Sqlite => format!(
            "UPDATE sessions SET revoked_at = 1 WHERE lower(hex(id)) = '{}'",
            sid.replace('-', "")
        ),
        Backend::Postgres => format!("UPDATE sessions SET revoked_at = now() WHERE id = '{sid}'"),
    };
    db.exec(&sql).await;
}

/// Changes the caller's display name.
async fn rename(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    app.client
        .patch(app.url("/api/v1/users/me"))
        .bearer_auth(token)
        .json(&json!({ "display_name": name }))
        .send()
        .await
        .unwrap()
}

/// Polls `/users/me` until it answers `status`; returns how long that took, or `None`.
async fn becomes(app: &TestApp, token: &str, status: u16, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if app.me(token).await.status() == status {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

async fn a_session_check_is_answered_from_memory_until_the_time_to_live(b: Backend) {
    let app = spawn_app_with(b, &[], &["--session-cache-ttl", "2s"]).await;
    let t = app.user_with_tokens("mem@example.com").await;
    assert_eq!(app.me(at(&t)).await.status(), 200, "warms the cache");
    revoke_behind_sesames_back(&app.db, b, &sid_of(at(&t))).await;
    assert_eq!(
        app.me(at(&t)).await.status(),
        200,
        "a write that bypasses Sesame is not seen while the entry is fresh: the check was cached"
    );
    let took = becomes(&app, at(&t), 401, Duration::from_secs(5))
        .await
        .expect("the time to live bounds how long a stale entry is served");
    assert!(took <= Duration::from_millis(2500), "stale for {took:?}");
}

async fn with_the_cache_off_every_check_reads_the_database(b: Backend) {
    let app = spawn_app_with(b, &[], &["--session-cache-ttl", "0s"]).await;
    let t = app.user_with_tokens("off@example.com").await;
    assert_eq!(app.me(at(&t)).await.status(), 200);
    revoke_behind_sesames_back(&app.db, b, &sid_of(at(&t))).await;
    assert_eq!(app.me(at(&t)).await.status(), 401);
}

async fn every_change_through_sesame_ends_a_cached_session_at_once(b: Backend) {
    let app = spawn_app_with(b, &[], &["--session-cache-ttl", "1h"]).await;
    // Logout of one session.
    let t = app.user_with_tokens("one@example.com").await;
    assert_eq!(app.me(at(&t)).await.status(), 200);
    let r = app
        .post_json_auth("/api/v1/auth/logout", at(&t), None)
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.me(at(&t)).await.status(), 401, "logout");

    // Logout-all ends the other, cached, session too.
    let a = app.user_with_tokens("all@example.com").await;
    let other = app.tokens("all@example.com").await;
    assert_eq!(app.me(at(&other)).await.status(), 200);
    let r = app
        .post_json_auth("/api/v1/auth/logout-all", at(&a), None)
        .await;
    assert!(r.status().is_success());
    assert_eq!(app.me(at(&other)).await.status(), 401, "logout-all");

    // A password change ends every other session.
    let p = app.user_with_tokens("pw@example.com").await;
    let other = app.tokens("pw@example.com").await;
    assert_eq!(app.me(at(&other)).await.status(), 200);
    let r = app
        .post_json_auth(
            "/api/v1/users/me/password",
            at(&p),
            Some(&json!({"current_password": PASSWORD, "new_password": "another horse battery staple"})),
        )
        .await;
    assert!(r.status().is_success(), "password change: {}", r.status());
    assert_eq!(app.me(at(&other)).await.status(), 401, "password change");

    // A profile change shows on the next read of a cached session.
    let n = app.user_with_tokens("name@example.com").await;
    assert_eq!(app.me(at(&n)).await.status(), 200);
    let r = rename(&app, at(&n), "Renamed").await;
    assert_eq!(r.status(), 200);
    let me: Value = app.me(at(&n)).await.json().await.unwrap();
    assert_eq!(me["display_name"], "Renamed");

    // Account deletion.
    let d = app.user_with_tokens("del@example.com").await;
    let other = app.tokens("del@example.com").await;
    assert_eq!(app.me(at(&other)).await.status(), 200);
    let r = app
        .client
        .delete(app.url("/api/v1/users/me"))
        .bearer_auth(at(&d))
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "deletion: {}", r.status());
    assert_eq!(app.me(at(&other)).await.status(), 401, "deletion");
}

crate::on_every_backend!(
    a_session_check_is_answered_from_memory_until_the_time_to_live,
    with_the_cache_off_every_check_reads_the_database,
    every_change_through_sesame_ends_a_cached_session_at_once,
);

/// Two nodes on one PostgreSQL database, caches kept for an hour: only `NOTIFY` can end B's
/// cached copy early.
async fn two_nodes() -> (TestApp, TestApp) {
    let db = TestDb::new(Backend::Postgres).await;
    let shared = db.share();
    let a = spawn_on(db, &[], &["--session-cache-ttl", "1h"]).await;
    let b = spawn_on(shared, &[], &["--session-cache-ttl", "1h"]).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_logout_on_one_node_ends_the_session_on_the_others_within_moments() {
    let (a, b) = two_nodes().await;
    let kept = a.user_with_tokens("nodes@example.com").await;
    let ended = a.tokens("nodes@example.com").await;
    for t in [&kept, &ended] {
        assert_eq!(b.me(at(t)).await.status(), 200, "warms node B");
    }
    // Node B really answers from memory: a write behind its back goes unseen.
    revoke_behind_sesames_back(&a.db, Backend::Postgres, &sid_of(at(&kept))).await;
    assert_eq!(b.me(at(&kept)).await.status(), 200);

    let r = a
        .post_json_auth("/api/v1/auth/logout", at(&ended), None)
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(a.me(at(&ended)).await.status(), 401, "at once on node A");
    let took = becomes(&b, at(&ended), 401, Duration::from_secs(3))
        .await
        .expect("node B hears of the logout through NOTIFY");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // A profile change made on A shows on B.
    let fresh = a.tokens("nodes@example.com").await;
    assert_eq!(b.me(at(&fresh)).await.status(), 200);
    let r = rename(&a, at(&fresh), "Seen Everywhere").await;
    assert_eq!(r.status(), 200);
    let start = Instant::now();
    loop {
        let me: Value = b.me(at(&fresh)).await.json().await.unwrap();
        if me["display_name"] == "Seen Everywhere" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "B kept the old profile"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_node_that_lost_its_notification_connection_drops_its_cache() {
    let (a, b) = two_nodes().await;
    let t = a.user_with_tokens("lost@example.com").await;
    assert_eq!(b.me(at(&t)).await.status(), 200, "warms node B");
    revoke_behind_sesames_back(&a.db, Backend::Postgres, &sid_of(at(&t))).await;
    assert_eq!(
        b.me(at(&t)).await.status(),
        200,
        "node B answers from memory"
    );
    // Cut every listening connection (both nodes'): whatever was sent meanwhile may be lost, so
    // each node must empty its cache, and B then sees the revoked session.
    a.db.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .await;
    becomes(&b, at(&t), 401, Duration::from_secs(5))
        .await
        .expect("node B dropped its cache after losing the connection");
}
