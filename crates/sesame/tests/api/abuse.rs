//! Abuse protection end to end: rate limits per IP and per target (in process, shared through
//! Redis, and while Redis is down), which address counts as the client behind proxies, the
//! sign-in pause after repeated failures, the password policy on every path that sets a
//! password, and the append-only audit trail.
//!
//! The harness relaxes every rate limit and the lockout unless a test passes the flag itself, so
//! each test here names exactly the rules it exercises.

use crate::helpers::{
    assert_problem, eventually, spawn_app_with, spawn_on, Backend, TestApp, PASSWORD,
};
use crate::smtp::{free_port, SmtpSink};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Response;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STRONG: &str = "violet anchors drift past the noon ferry";
const WRONG: &str = "Wr0ng-but-distinctive-guess";

// --- helpers -----------------------------------------------------------------------------------

/// The `Retry-After` of a refusal: present, whole seconds, at least 1.
fn retry_after(r: &Response) -> u64 {
    let raw = r
        .headers()
        .get(RETRY_AFTER)
        .unwrap_or_else(|| panic!("a {} answer without Retry-After", r.status()))
        .to_str()
        .unwrap()
        .to_owned();
    let secs: u64 = raw
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After `{raw}` is not a whole number of seconds"));
    assert!(secs >= 1, "Retry-After {secs}");
    secs
}

/// Asserts a 429 `rate_limited` problem with a usable `Retry-After`; returns both.
async fn assert_rate_limited(r: Response) -> (u64, Value) {
    let secs = retry_after(&r);
    let body = assert_problem(r, 429, "rate_limited").await;
    (secs, body)
}

fn flags(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

async fn login_from(app: &TestApp, forwarded_for: &str, name: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": name, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The IP recorded on the session of `access_token`.
async fn session_ip(app: &TestApp, access_token: &str) -> String {
    let r = app
        .get_auth("/api/v1/users/me/sessions", access_token)
        .await;
    assert_eq!(r.status(), 200);
    let sessions: Vec<Value> = r.json().await.unwrap();
    let current = sessions
        .iter()
        .find(|s| s["current"] == true)
        .unwrap_or_else(|| panic!("no current session in {sessions:?}"));
    current["ip"]
        .as_str()
        .unwrap_or_else(|| panic!("no ip on {current}"))
        .to_owned()
}

/// An address no other test or run uses, so Redis keys (`sesame:rl:login:ip:<ip>`) left by
/// earlier runs cannot interfere.
fn unique_ip() -> String {
    let b: [u8; 3] = rand::random();
    format!("10.{}.{}.{}", b[0], b[1], b[2])
}

fn test_redis_url() -> String {
    std::env::var("SESAME_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("the test Redis at {url} does not answer: {e}"))
}

/// A throwaway `redis-server` child process, killed when dropped.
struct RedisChild {
    child: Child,
    url: String,
}

impl RedisChild {
    async fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server: {e}"));
        let server = Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let client = redis::Client::open(server.url.as_str()).unwrap();
        eventually("the child redis-server answers PING", || {
            let client = client.clone();
            async move {
                match client.get_multiplexed_async_connection().await {
                    Ok(mut c) => redis::cmd("PING")
                        .query_async::<String>(&mut c)
                        .await
                        .is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
        server
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two servers limiting through the Redis at `url` to 4 logins a minute per client IP, which
/// they take from `X-Forwarded-For` (the test is their trusted proxy).
async fn two_servers_sharing(b: Backend, url: &str) -> (TestApp, TestApp) {
    let serve = [
        "--redis-url",
        url,
        "--trusted-proxies",
        "127.0.0.1",
        "--rate-login-ip",
        "4/1m",
    ];
    let a = spawn_app_with(b, &[], &serve).await;
    let other = spawn_app_with(b, &[], &serve).await;
    (a, other)
}

/// 3 logins through server A, then 3 through server B, all from `ip`; how many were let
/// through to the credential check (anything but 429).
async fn spread_logins(a: &TestApp, b: &TestApp, ip: &str) -> (usize, Vec<u16>) {
    let mut statuses = Vec::new();
    for app in [a, a, a, b, b, b] {
        let r = login_from(app, ip, "nobody@example.com", WRONG).await;
        statuses.push(r.status().as_u16());
    }
    for s in &statuses {
        assert!(*s == 401 || *s == 429, "unexpected status in {statuses:?}");
    }
    (statuses.iter().filter(|s| **s != 429).count(), statuses)
}

// --- rate limits, in process -------------------------------------------------------------------

async fn the_fourth_login_from_one_ip_is_refused_with_retry_after(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-login-ip", "3/1m"]).await;
    app.create_user("alice@example.com").await;
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.login("alice@example.com", WRONG).await.status(), 401);
    assert_eq!(app.login("someone@example.com", WRONG).await.status(), 401);
    // The limit comes before the password check: the right password is refused too.
    let (secs, body) = assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
    assert!(secs <= 60, "Retry-After {secs} for a 3/1m quota");
    assert_eq!(body["title"], "Too many attempts");
    // Registration is another rule: not limited by the logins.
    assert_eq!(
        app.register("bob@example.com", PASSWORD).await.status(),
        201
    );
}

/// A step-up checks a password as a sign-in does, so it spends the same per-IP quota: a stolen
/// access token cannot be used to try passwords (or to burn argon2 CPU) faster than sign-ins.
async fn step_ups_share_the_sign_in_quota_of_the_ip(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-login-ip", "3/1m"]).await;
    let t = app.user_with_tokens("alice@example.com").await;
    let access = t["access_token"].as_str().unwrap();
    let app = &app;
    let reauth = |password: &'static str| async move {
        let body = serde_json::json!({ "password": password });
        app.post_json_auth("/api/v1/auth/reauthenticate", access, Some(&body))
            .await
    };
    // The sign-in above was the first of three.
    assert_eq!(reauth(PASSWORD).await.status(), 200);
    assert_eq!(reauth(WRONG).await.status(), 422);
    let (secs, _) = assert_rate_limited(reauth(PASSWORD).await).await;
    assert!(secs <= 60, "Retry-After {secs}");
}

async fn the_fourth_registration_from_one_ip_is_refused_and_creates_nothing(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-register-ip", "3/1m"]).await;
    for i in 1..=3 {
        app.create_user(&format!("user{i}@example.com")).await;
    }
    let (secs, _) = assert_rate_limited(app.register("user4@example.com", PASSWORD).await).await;
    assert!(secs <= 60, "Retry-After {secs}");
    assert_eq!(app.db.count("users").await, 3);
    assert_eq!(
        app.db
            .count("users WHERE email = 'user4@example.com'")
            .await,
        0
    );
}

async fn password_reset_requests_are_limited_per_address(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-forgot-email", "3/1m"]).await;
    app.create_user("alice@example.com").await;
    for _ in 0..3 {
        assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    }
    let (secs, _) = assert_rate_limited(app.forgot_password("alice@example.com").await).await;
    assert!(secs <= 60, "Retry-After {secs}");
    // The same address in other letter case is the same address.
    assert_rate_limited(app.forgot_password("Alice@Example.COM").await).await;
    // Another address (known or not) has its own quota, from the same IP.
    assert_eq!(app.forgot_password("bob@example.com").await.status(), 202);
    assert_eq!(app.forgot_password("carol@example.com").await.status(), 202);
}

async fn verification_resends_are_limited_per_ip(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-resend-ip", "3/1m"]).await;
    for who in ["a", "b", "c"] {
        assert_eq!(
            app.resend_verification(&format!("{who}@example.com"))
                .await
                .status(),
            202
        );
    }
    let (secs, _) = assert_rate_limited(app.resend_verification("d@example.com").await).await;
    assert!(secs <= 60, "Retry-After {secs}");
}

async fn the_token_endpoint_answers_429_in_rfc_6749_form_and_shares_the_login_quota(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-login-ip", "3/1m"]).await;
    app.create_user("alice@example.com").await;
    for _ in 0..2 {
        let r = app.password_grant("alice@example.com", PASSWORD).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    let r = app.password_grant("alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429);
    let secs = retry_after(&r);
    assert!(secs <= 60, "Retry-After {secs}");
    assert_eq!(
        r.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "an OAuth error is plain JSON"
    );
    assert_eq!(
        r.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert!(
        body.get("code").is_none(),
        "not a problem+json body: {body}"
    );
    // The JSON login counts against the same per-IP rule.
    assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
}

async fn logins_to_one_account_are_limited_whatever_the_client_ip(b: Backend) {
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--trusted-proxies",
            "127.0.0.1",
            "--rate-login-account",
            "2/1m",
        ],
    )
    .await;
    app.create_user("alice@example.com").await;
    app.create_user("bob@example.com").await;
    let r = login_from(&app, "198.51.100.1", "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let r = login_from(&app, "198.51.100.2", "alice@example.com", WRONG).await;
    assert_eq!(r.status(), 401);
    let r = login_from(&app, "198.51.100.3", "alice@example.com", PASSWORD).await;
    let (secs, _) = assert_rate_limited(r).await;
    assert!(secs <= 60, "Retry-After {secs}");
    // The account name is compared case-insensitively.
    let r = login_from(&app, "198.51.100.4", "ALICE@example.com", PASSWORD).await;
    assert_rate_limited(r).await;
    // Another account is not affected, even from an IP that was used for alice.
    let r = login_from(&app, "198.51.100.1", "bob@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
}

// --- rate limits shared through Redis ----------------------------------------------------------

async fn two_servers_sharing_redis_enforce_one_combined_limit(b: Backend) {
    let url = test_redis_url();
    let (a, other) = two_servers_sharing(b, &url).await;
    let ip = unique_ip();
    let (allowed, statuses) = spread_logins(&a, &other, &ip).await;
    assert_eq!(
        allowed, 4,
        "3 on A + 3 on B under one 4/1m quota: {statuses:?}"
    );
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
    // The state lives in Redis under the documented key, expiring within the period.
    let mut conn = redis_conn(&url).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("sesame:rl:login:ip:{ip}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=60_000).contains(&pttl), "PTTL {pttl}");
    // Another client of the same servers is not affected.
    let r = login_from(&other, &unique_ip(), "nobody@example.com", WRONG).await;
    assert_eq!(r.status(), 401);
}

async fn with_redis_unreachable_the_server_keeps_serving_and_limits_from_memory(b: Backend) {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_with(b, &[], &["--redis-url", &url, "--rate-login-ip", "3/1m"]).await;
    app.create_user("alice@example.com").await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an unreachable Redis must not stall logins: {:?}",
        started.elapsed()
    );
    // Fail-open (the default) still limits, from the server's own memory.
    assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
}

async fn with_redis_unreachable_and_fail_mode_closed_limited_endpoints_answer_429(b: Backend) {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_with(
        b,
        &[],
        &["--redis-url", &url, "--rate-limit-fail-mode", "closed"],
    )
    .await;
    assert_rate_limited(app.register("alice@example.com", PASSWORD).await).await;
    assert_eq!(app.db.count("users").await, 0);
    assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
    assert_rate_limited(app.forgot_password("alice@example.com").await).await;
    assert_rate_limited(app.resend_verification("alice@example.com").await).await;
    let r = app.password_grant("alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429);
    retry_after(&r);
    // Endpoints without a rate limit keep working.
    let r = app.get("/health/ready").await;
    assert_eq!(r.status(), 200);
}

async fn once_redis_comes_back_the_limit_is_shared_again(b: Backend) {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let (a, other) = two_servers_sharing(b, &url).await;
    // Redis down, fail-open: each server limits alone, so together they let 6 through.
    let (allowed, statuses) = spread_logins(&a, &other, &unique_ip()).await;
    assert_eq!(allowed, 6, "{statuses:?}");

    let redis = RedisChild::start(port).await;
    // Each server tries Redis again once per probe interval; poll with a fresh client IP per
    // round until a round shows one combined limit (exactly 4 of 6).
    let deadline = Instant::now() + Duration::from_secs(10);
    let ip = loop {
        let ip = unique_ip();
        let (allowed, statuses) = spread_logins(&a, &other, &ip).await;
        if allowed == 4 {
            assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
            break ip;
        }
        assert!(
            Instant::now() < deadline,
            "the limit is not shared again 10 s after Redis came back: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut conn = redis_conn(&redis.url).await;
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("sesame:rl:login:ip:{ip}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(exists, "the shared state is in the restarted Redis");
    drop(redis);
}

// --- client IP ---------------------------------------------------------------------------------

async fn without_trusted_proxies_x_forwarded_for_changes_neither_bucket_nor_session_ip(b: Backend) {
    let app = spawn_app_with(b, &[], &["--rate-login-ip", "3/1m"]).await;
    app.create_user("alice@example.com").await;
    let r = login_from(&app, "203.0.113.1", "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(session_ip(&app, access).await, "127.0.0.1");
    for spoof in ["203.0.113.2", "203.0.113.3, 198.51.100.7"] {
        let r = login_from(&app, spoof, "alice@example.com", PASSWORD).await;
        assert_eq!(r.status(), 200, "{spoof}");
    }
    // Every request counted against 127.0.0.1: a fourth address does not get a fresh bucket.
    let r = login_from(&app, "203.0.113.4", "alice@example.com", PASSWORD).await;
    assert_rate_limited(r).await;
    assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
}

async fn behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(b: Backend) {
    let app = spawn_app_with(
        b,
        &[],
        &["--trusted-proxies", "127.0.0.1", "--rate-login-ip", "2/1m"],
    )
    .await;
    app.create_user("alice@example.com").await;
    let r = login_from(&app, "198.51.100.7", "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(session_ip(&app, access).await, "198.51.100.7");
    let r = login_from(&app, "198.51.100.7", "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_rate_limited(login_from(&app, "198.51.100.7", "alice@example.com", PASSWORD).await)
        .await;
    // A spoofed left-most entry does not move the request to a fresh bucket.
    let r = login_from(&app, "6.6.6.6, 198.51.100.7", "alice@example.com", PASSWORD).await;
    assert_rate_limited(r).await;
    // Another forwarded client has its own bucket.
    let r = login_from(&app, "198.51.100.8", "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    // The session records the right-most untrusted address, not the spoofed one.
    let r = login_from(&app, "6.6.6.6, 198.51.100.9", "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(session_ip(&app, access).await, "198.51.100.9");
    // Without a forwarding header the proxy itself is the client.
    let r = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(session_ip(&app, access).await, "127.0.0.1");
}

// --- lockout -----------------------------------------------------------------------------------

/// `--lockout-threshold 3` with the given base and maximum pause, plus `extra`.
fn lockout(base: &str, max: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--lockout-threshold",
        "3",
        "--lockout-base",
        base,
        "--lockout-max",
        max,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

async fn fail_three_times(app: &TestApp, name: &str) {
    for _ in 0..3 {
        let r = app.login(name, WRONG).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
}

/// The parts of a refusal that must not depend on the password or on whether the account
/// exists: status, code, type, title, and the detail with its numbers removed.
async fn refusal_shape(r: Response) -> Value {
    let (secs, body) = assert_rate_limited(r).await;
    let detail: String = body["detail"]
        .as_str()
        .unwrap()
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect();
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    json!({
        "status": body["status"],
        "code": body["code"],
        "type": body["type"],
        "title": body["title"],
        "detail": detail,
        "keys": keys,
        "retry_after_present": secs >= 1,
    })
}

/// Milliseconds between the last counted failure of `key_like` and the end of its pause, as
/// stored in `login_throttle`.
async fn stored_pause_ms(app: &TestApp, b: Backend, key_like: &str) -> i64 {
    let sql = match b {
        Backend::Sqlite => format!(
            "SELECT CAST(locked_until - last_failure_at AS TEXT) FROM login_throttle \
             WHERE throttle_key LIKE '{key_like}'"
        ),
        Backend::Postgres => format!(
            "SELECT CAST(ROUND(EXTRACT(EPOCH FROM (locked_until - last_failure_at)) * 1000) AS TEXT) \
             FROM login_throttle WHERE throttle_key LIKE '{key_like}'"
        ),
    };
    app.db
        .text(&sql)
        .await
        .unwrap_or_else(|| panic!("no paused login_throttle row like {key_like}"))
        .parse::<f64>()
        .unwrap() as i64
}

async fn a_paused_sign_in_answers_alike_for_right_and_wrong_passwords_and_unknown_names(
    b: Backend,
) {
    // A long pause: nothing here waits for it, and it must not end mid-test.
    let serve = lockout("1m", "1h", &[]);
    let app = spawn_app_with(b, &[], &flags(&serve)).await;
    app.create_user("alice@example.com").await;
    app.create_user("bob@example.com").await;

    fail_three_times(&app, "alice@example.com").await;
    let right = refusal_shape(app.login("alice@example.com", PASSWORD).await).await;
    let wrong = refusal_shape(app.login("alice@example.com", WRONG).await).await;
    assert_eq!(right, wrong);
    // The same account by its address in other letter case is the same account.
    let other_case = refusal_shape(app.login("ALICE@example.com", PASSWORD).await).await;
    assert_eq!(other_case, right);

    // A name with no account pauses the same way after the same number of failures.
    fail_three_times(&app, "ghost@example.com").await;
    let unknown = refusal_shape(app.login("ghost@example.com", PASSWORD).await).await;
    assert_eq!(unknown, right);
    let unknown_wrong = refusal_shape(app.login("ghost@example.com", WRONG).await).await;
    assert_eq!(unknown_wrong, right);

    // The token endpoint refuses during the pause too.
    let r = app.password_grant("alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429);
    retry_after(&r);

    // Refusals during a pause do not count as further failures.
    assert_eq!(app.db.stored_failures("user:%").await, Some(3));
    assert_eq!(
        app.db.stored_failures("name:ghost@example.com").await,
        Some(3)
    );
    // Other accounts are not affected.
    assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), 200);
    // Only the owner of a real account gets a notice; an unknown name has nobody to tell.
    assert_eq!(
        app.db
            .count("mail_outbox WHERE kind = 'account_locked'")
            .await,
        1
    );
    assert_eq!(
        app.db
            .count("mail_outbox WHERE kind = 'account_locked' AND recipient = 'alice@example.com'")
            .await,
        1
    );
}

/// `.eml` files in `dir` whose text contains `needle`.
fn eml_files_containing(dir: &Path, needle: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter(|e| {
                    std::fs::read_to_string(e.path()).is_ok_and(|text| text.contains(needle))
                })
                .count()
        })
        .unwrap_or(0)
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("sesame-abuse-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const LOCK_SUBJECT: &str = "Sign-in to your account was paused";

async fn after_the_pause_the_right_password_signs_in_and_the_count_starts_over(b: Backend) {
    let mail = TempDir::new();
    let dir = mail.0.display().to_string();
    let serve = lockout(
        "1s",
        "4s",
        &[
            "--mail-transport",
            "file",
            "--mail-dir",
            &dir,
            "--mail-poll-interval",
            "50ms",
        ],
    );
    let app = spawn_app_with(b, &[], &flags(&serve)).await;
    app.create_user("alice@example.com").await;

    fail_three_times(&app, "alice@example.com").await;
    let (secs, _) = assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
    assert_eq!(secs, 1, "the first pause is the base");
    eventually("the owner is told sign-in was paused", || async {
        eml_files_containing(&mail.0, LOCK_SUBJECT) == 1
    })
    .await;

    // Waiting as long as Retry-After says is enough (on the server's clock).
    app.clock.advance(Duration::from_secs(secs));
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(
        app.db.stored_failures("user:%").await,
        None,
        "a sign-in clears the counter"
    );

    // A new streak needs the full threshold again: two failures do not pause sign-in…
    for _ in 0..2 {
        let r = app.login("alice@example.com", WRONG).await;
        assert_problem(r, 401, "invalid_credentials").await;
    }
    // …the third failure is still answered as a failure, and pauses from then on.
    let r = app.login("alice@example.com", WRONG).await;
    assert_problem(r, 401, "invalid_credentials").await;
    let (secs, _) = assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
    assert_eq!(secs, 1, "a new streak starts again at the base pause");
    // A new streak, a new notice: one per streak.
    eventually("the second streak's notice is sent", || async {
        eml_files_containing(&mail.0, LOCK_SUBJECT) == 2
    })
    .await;
}

async fn each_failure_after_a_pause_doubles_the_pause_up_to_the_maximum(b: Backend) {
    let serve = lockout("1s", "2s", &[]);
    let app = spawn_app_with(b, &[], &flags(&serve)).await;
    app.create_user("alice@example.com").await;

    fail_three_times(&app, "alice@example.com").await;
    assert_eq!(stored_pause_ms(&app, b, "user:%").await, 1000);
    let (first, _) = assert_rate_limited(app.login("alice@example.com", WRONG).await).await;
    assert_eq!(first, 1);

    // A failure right after the pause ends pauses again, twice as long.
    app.clock.advance(Duration::from_secs(first));
    let r = app.login("alice@example.com", WRONG).await;
    assert_problem(r, 401, "invalid_credentials").await;
    assert_eq!(stored_pause_ms(&app, b, "user:%").await, 2000);
    let (second, _) = assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
    assert!(
        (1..=2).contains(&second),
        "Retry-After {second} for a 2 s pause"
    );

    // The next doubling (4 s) is capped at the maximum (2 s).
    app.clock.advance(Duration::from_secs(second));
    let r = app.login("alice@example.com", WRONG).await;
    assert_problem(r, 401, "invalid_credentials").await;
    assert_eq!(stored_pause_ms(&app, b, "user:%").await, 2000);
    let (third, _) = assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
    assert!((1..=2).contains(&third), "Retry-After {third}, max 2 s");
    assert_eq!(app.db.stored_failures("user:%").await, Some(5));

    // Three pauses in one streak, one notice.
    assert_eq!(
        app.db
            .count("audit_events WHERE event = 'account.locked'")
            .await,
        3
    );
    assert_eq!(
        app.db
            .count("mail_outbox WHERE kind = 'account_locked'")
            .await,
        1
    );
}

async fn a_pause_survives_a_restart_on_the_same_database(b: Backend) {
    let serve = lockout("1m", "1h", &[]);
    let app = spawn_app_with(b, &[], &flags(&serve)).await;
    app.create_user("alice@example.com").await;
    fail_three_times(&app, "alice@example.com").await;
    assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;

    let db = app.stop().await;
    let app = spawn_on(db, &[], &flags(&serve)).await;
    let (secs, _) = assert_rate_limited(app.login("alice@example.com", PASSWORD).await).await;
    assert!(
        (2..=60).contains(&secs),
        "the restarted server still refuses for the rest of the 1 m pause: {secs}"
    );
    assert_eq!(app.db.stored_failures("user:%").await, Some(3));
}

// --- password policy ---------------------------------------------------------------------------

/// Asserts a 422 whose first field error is `code` on `field`; returns the body.
async fn assert_policy(r: Response, field: &str, code: &str) -> Value {
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], field, "{body}");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

async fn register_with_username(
    app: &TestApp,
    email: &str,
    username: &str,
    password: &str,
) -> Response {
    app.post_json(
        "/api/v1/auth/register",
        &json!({"email": email, "username": username, "password": password}),
    )
    .await
}

async fn registration_refuses_common_guessable_and_personal_passwords(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    for common in ["password", "Password1!"] {
        let r = app.register("alice@example.com", common).await;
        assert_policy(r, "password", "common_password").await;
    }
    let r = app
        .register("alice@example.com", "alice-was-here-2024")
        .await;
    assert_policy(r, "password", "contains_email").await;
    let r = register_with_username(
        &app,
        "owner@example.com",
        "zebrafish42",
        "my Zebrafish42 swims far away",
    )
    .await;
    assert_policy(r, "password", "contains_username").await;
    // Guessable by pattern rather than by list: keyboard rows, repeats.
    for (guessable, code) in [
        ("qwertyuiop123zz", "too_weak"),
        ("abcabcabcabc", "too_weak"),
    ] {
        let r = app.register("alice@example.com", guessable).await;
        assert_policy(r, "password", code).await;
    }
    assert_eq!(
        app.db.count("users").await,
        0,
        "no refused account was stored"
    );
    // A strong passphrase passes.
    let r = app.register("alice@example.com", STRONG).await;
    assert_eq!(r.status(), 201);
}

async fn with_min_score_zero_weak_but_uncommon_passwords_pass_and_the_other_rules_stay(b: Backend) {
    let app = spawn_app_with(b, &[], &["--password-min-score", "0"]).await;
    assert_policy(
        app.register("a@example.com", "Password1!").await,
        "password",
        "common_password",
    )
    .await;
    assert_policy(
        app.register("alice@example.com", "alice-was-here-2024")
            .await,
        "password",
        "contains_email",
    )
    .await;
    assert_eq!(
        app.register("a@example.com", "abcabcabcabc").await.status(),
        201
    );
    assert_eq!(
        app.register("b@example.com", "qwertyuiop123zz")
            .await
            .status(),
        201
    );
}

async fn a_password_reset_applies_the_policy_to_the_new_password(b: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(b, &[], &sink.serve_flags()).await;
    app.create_user("alice@example.com").await;
    assert_eq!(app.forgot_password("alice@example.com").await.status(), 202);
    let token = sink
        .wait_for_messages(2)
        .await
        .into_iter()
        .find(|m| m.subject == "Reset your password")
        .expect("a reset mail")
        .token();
    let reset = |password: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post_json(
                "/api/v1/auth/password/reset",
                &json!({"token": token, "new_password": password}),
            )
            .await
        }
    };
    assert_policy(reset("Password1!").await, "new_password", "common_password").await;
    assert_policy(
        reset("alice-was-here-2024").await,
        "new_password",
        "contains_email",
    )
    .await;
    assert_policy(reset("abcabcabcabc").await, "new_password", "too_weak").await;
    // Refusals do not spend the link, and the old password still works meanwhile.
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(reset(STRONG).await.status(), 204);
    assert_eq!(app.login("alice@example.com", STRONG).await.status(), 200);
}

async fn a_password_change_applies_the_policy_to_new_password(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let app = &app;
    let change = |new_password: &'static str| {
        let body = json!({"current_password": PASSWORD, "new_password": new_password});
        async move {
            app.post_json_auth("/api/v1/users/me/password", access, Some(&body))
                .await
        }
    };
    assert_policy(
        change("Password1!").await,
        "new_password",
        "common_password",
    )
    .await;
    assert_policy(
        change("alice-was-here-2024").await,
        "new_password",
        "contains_email",
    )
    .await;
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(change(STRONG).await.status(), 200);
    assert_eq!(app.login("alice@example.com", STRONG).await.status(), 200);
}

// --- audit trail -------------------------------------------------------------------------------

#[derive(Debug)]
struct AuditRow {
    event: String,
    user_id: Option<uuid::Uuid>,
    ip: Option<String>,
    request_id: Option<String>,
    detail: Value,
    /// Every column, as text.
    text: String,
}

type RawAudit = (
    uuid::Uuid,
    String,
    String,
    Option<uuid::Uuid>,
    Option<uuid::Uuid>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

const AUDIT_SQL: &str = "SELECT id, CAST(occurred_at AS TEXT), event, user_id, actor_id, ip, \
     user_agent, request_id, detail FROM audit_events ORDER BY occurred_at, id";

async fn audit_rows(app: &TestApp) -> Vec<AuditRow> {
    let raw: Vec<RawAudit> = crate::on_db_connection!(app.db, |c| sqlx::query_as(AUDIT_SQL)
        .fetch_all(&mut c)
        .await
        .unwrap());
    raw.into_iter()
        .map(
            |(id, at, event, user_id, actor_id, ip, user_agent, request_id, detail)| AuditRow {
                text: format!(
                    "{id}|{at}|{event}|{user_id:?}|{actor_id:?}|{ip:?}|{user_agent:?}|{request_id:?}|{detail}"
                ),
                detail: serde_json::from_str(&detail).unwrap(),
                event,
                user_id,
                ip,
                request_id,
            },
        )
        .collect()
}

/// Runs one statement on a connection of our own and returns its error, if any.
async fn try_exec(app: &TestApp, sql: &str) -> Result<u64, String> {
    crate::on_db_connection!(app.db, |c| sqlx::query(sql)
        .execute(&mut c)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| e.to_string()))
}

fn uuid_of(v: &Value) -> uuid::Uuid {
    v.as_str().unwrap().parse().unwrap()
}

async fn the_audit_trail_records_security_events_without_secrets_and_cannot_be_changed(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("x-request-id", "test-req-1")
        .json(&json!({"email": "alice@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let alice = uuid_of(&r.json::<Value>().await.unwrap()["id"]);
    let first_hash = app.db.password_hash().await;

    assert_eq!(app.login("alice@example.com", WRONG).await.status(), 401);
    assert_eq!(app.login("nobody@example.com", WRONG).await.status(), 401);
    let first = app.tokens("alice@example.com").await;
    let second = app.tokens("alice@example.com").await;
    let r = app
        .post_json_auth(
            "/api/v1/auth/logout",
            first["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .post_json_auth(
            "/api/v1/users/me/password",
            second["access_token"].as_str().unwrap(),
            Some(&json!({"current_password": PASSWORD, "new_password": STRONG})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let third: Value = r.json().await.unwrap();

    let rows = audit_rows(&app).await;
    let of = |event: &str, user: Option<uuid::Uuid>| -> Vec<&AuditRow> {
        rows.iter()
            .filter(|r| r.event == event && r.user_id == user)
            .collect()
    };
    let registered = of("user.registered", Some(alice));
    assert_eq!(registered.len(), 1, "{rows:#?}");
    assert_eq!(registered[0].request_id.as_deref(), Some("test-req-1"));
    let failed = of("login.failed", Some(alice));
    assert_eq!(failed.len(), 1, "{rows:#?}");
    assert_eq!(failed[0].detail["reason"], "invalid_credentials");
    let unknown = of("login.failed", None);
    assert_eq!(
        unknown.len(),
        1,
        "an unknown name is recorded without a user: {rows:#?}"
    );
    assert_eq!(unknown[0].detail["reason"], "invalid_credentials");
    let logins = of("login.succeeded", Some(alice));
    assert_eq!(logins.len(), 2, "{rows:#?}");
    for l in &logins {
        assert!(
            l.detail["session_id"]
                .as_str()
                .is_some_and(|s| s.parse::<uuid::Uuid>().is_ok()),
            "a login's event names the session it opened (written in the same transaction): {l:?}"
        );
    }
    assert_eq!(of("session.logout", Some(alice)).len(), 1, "{rows:#?}");
    assert_eq!(of("password.changed", Some(alice)).len(), 1, "{rows:#?}");
    assert_eq!(rows.len(), 7, "nothing else was recorded: {rows:#?}");
    for row in &rows {
        assert_eq!(row.ip.as_deref(), Some("127.0.0.1"), "{row:?}");
        assert!(
            row.request_id.as_deref().is_some_and(|id| !id.is_empty()),
            "every event carries its request id: {row:?}"
        );
    }

    // No password, token or hash anywhere in any row.
    let second_hash = app.db.password_hash().await;
    assert_ne!(first_hash, second_hash);
    let mut secrets = vec![
        PASSWORD.to_owned(),
        STRONG.to_owned(),
        WRONG.to_owned(),
        first_hash,
        second_hash,
    ];
    for t in [&first, &second, &third] {
        for field in ["access_token", "refresh_token"] {
            secrets.push(t[field].as_str().unwrap().to_owned());
        }
    }
    for row in &rows {
        for secret in &secrets {
            assert!(!row.text.contains(secret.as_str()), "a secret in {row:?}");
        }
        assert!(!row.text.contains("$argon2"), "a hash in {row:?}");
    }

    // Append-only: updates and deletes fail, and nothing changed.
    let update = try_exec(&app, "UPDATE audit_events SET ip = '192.0.2.1'").await;
    assert!(
        update.as_ref().is_err_and(|e| e.contains("append-only")),
        "{update:?}"
    );
    let delete = try_exec(&app, "DELETE FROM audit_events").await;
    assert!(
        delete.as_ref().is_err_and(|e| e.contains("append-only")),
        "{delete:?}"
    );
    let after = audit_rows(&app).await;
    assert_eq!(
        after.iter().map(|r| &r.text).collect::<Vec<_>>(),
        rows.iter().map(|r| &r.text).collect::<Vec<_>>()
    );

    // The owner's export lists their events (and only theirs), again without secrets.
    let r = app
        .get_auth(
            "/api/v1/users/me/export",
            third["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret in the export");
    }
    let export: Value = serde_json::from_str(&text).unwrap();
    let events = export["security_events"].as_array().unwrap();
    let mut names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "login.failed",
            "login.succeeded",
            "login.succeeded",
            "password.changed",
            "session.logout",
            "user.registered",
        ]
    );
    for e in events {
        assert_eq!(uuid_of(&e["user_id"]), alice, "{e}");
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
    }
    assert!(events
        .iter()
        .any(|e| e["event"] == "user.registered" && e["request_id"] == "test-req-1"));
}

crate::on_every_backend!(
    the_fourth_login_from_one_ip_is_refused_with_retry_after,
    step_ups_share_the_sign_in_quota_of_the_ip,
    the_fourth_registration_from_one_ip_is_refused_and_creates_nothing,
    password_reset_requests_are_limited_per_address,
    verification_resends_are_limited_per_ip,
    the_token_endpoint_answers_429_in_rfc_6749_form_and_shares_the_login_quota,
    logins_to_one_account_are_limited_whatever_the_client_ip,
    two_servers_sharing_redis_enforce_one_combined_limit,
    with_redis_unreachable_the_server_keeps_serving_and_limits_from_memory,
    with_redis_unreachable_and_fail_mode_closed_limited_endpoints_answer_429,
    once_redis_comes_back_the_limit_is_shared_again,
    without_trusted_proxies_x_forwarded_for_changes_neither_bucket_nor_session_ip,
    behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client,
    a_paused_sign_in_answers_alike_for_right_and_wrong_passwords_and_unknown_names,
    after_the_pause_the_right_password_signs_in_and_the_count_starts_over,
    each_failure_after_a_pause_doubles_the_pause_up_to_the_maximum,
    a_pause_survives_a_restart_on_the_same_database,
    registration_refuses_common_guessable_and_personal_passwords,
    with_min_score_zero_weak_but_uncommon_passwords_pass_and_the_other_rules_stay,
    a_password_reset_applies_the_policy_to_the_new_password,
    a_password_change_applies_the_policy_to_new_password,
    the_audit_trail_records_security_events_without_secrets_and_cannot_be_changed,
);
