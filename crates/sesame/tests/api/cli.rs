//! The `sesame` binary as an operator runs it: configuration errors that say what to fix,
//! `migrate status|up|down`, `users create`, and `serve` with no configuration at all (an
//! embedded SQLite file in the working directory, JSON logs that never carry secrets).

use crate::helpers::{run, sesame, spawn_on, text, Backend, TempDir, TestDb, FAST_HASH, PASSWORD};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Asserts a failed run and returns its stderr.
fn failure(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "expected a failure; stdout: {} stderr: {stderr}",
        text(&out.stdout)
    );
    stderr
}

// ---------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_database_scheme_fails_naming_the_accepted_ones() {
    let dir = TempDir::new();
    for args in [&["migrate", "status"][..], &["serve"][..]] {
        let mut cmd = sesame(dir.path());
        cmd.env("SESAME_DATABASE_URL", "mysql://x")
            .env("SESAME_LISTEN", "127.0.0.1:0")
            .args(args);
        let out = run(cmd, None).await;
        let stderr = failure(&out);
        assert!(stderr.contains("SESAME_DATABASE_URL"), "{stderr}");
        assert!(stderr.contains("sqlite"), "{stderr}");
        assert!(stderr.contains("postgres"), "{stderr}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing is created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_without_a_long_enough_secret_key_refuses_to_start() {
    let dir = TempDir::new();
    for key in [None, Some("0123456789"), Some(&"k".repeat(31)[..])] {
        let mut cmd = sesame(dir.path());
        cmd.env("SESAME_LISTEN", "127.0.0.1:0")
            .env("SESAME_JWT_ALGORITHM", "HS256")
            .arg("serve");
        if let Some(k) = key {
            cmd.env("SESAME_SECRET_KEY", k);
        }
        let out = run(cmd, None).await;
        let stderr = failure(&out);
        assert!(stderr.contains("SESAME_SECRET_KEY"), "{key:?}: {stderr}");
        assert!(stderr.contains("32 bytes"), "{key:?}: {stderr}");
        if let Some(k) = key {
            let all = format!("{}{stderr}", text(&out.stdout));
            assert!(!all.contains(k), "the rejected secret was printed: {all}");
        }
    }
    // Rejected before touching the database.
    assert!(!dir.path().join("sesame.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_duration_refuses_to_start_naming_the_setting() {
    let dir = TempDir::new();
    for (var, value) in [
        ("SESAME_ACCESS_TOKEN_TTL", "soon"),
        ("SESAME_REFRESH_TOKEN_TTL", "15 minutes"),
        ("SESAME_JWT_LEEWAY", "5y"),
        // A bare number is not read as seconds (15 meant as minutes would be 15 s).
        ("SESAME_ACCESS_TOKEN_TTL", "15"),
    ] {
        let mut cmd = sesame(dir.path());
        cmd.env("SESAME_LISTEN", "127.0.0.1:0")
            .env(var, value)
            .arg("serve");
        let out = run(cmd, None).await;
        let stderr = failure(&out);
        assert!(stderr.contains(value), "{var}={value}: {stderr}");
        // clap names the flag (`--access-token-ttl <ACCESS_TOKEN_TTL>`).
        let setting = var.trim_start_matches("SESAME_");
        assert!(stderr.contains(setting), "{var}={value}: {stderr}");
        assert!(
            stderr.contains("duration") || stderr.contains("unit"),
            "{var}={value}: {stderr}"
        );
    }
    // Cross-setting rules are checked too.
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_LISTEN", "127.0.0.1:0")
        .env("SESAME_ACCESS_TOKEN_TTL", "1h")
        .env("SESAME_REFRESH_TOKEN_TTL", "30m")
        .arg("serve");
    let stderr = failure(&run(cmd, None).await);
    assert!(stderr.contains("SESAME_REFRESH_TOKEN_TTL"), "{stderr}");
    assert!(!dir.path().join("sesame.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_admin_password_that_breaks_the_policy_stops_the_server_naming_the_rule() {
    let dir = TempDir::new();
    // `password1` is on the shipped common-password list: the rule is `common_password`.
    let weak = "password1";
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_LISTEN", "127.0.0.1:0")
        .env("SESAME_BOOTSTRAP_ADMIN_EMAIL", "root@example.com")
        .env("SESAME_BOOTSTRAP_ADMIN_PASSWORD", weak)
        .arg("serve")
        .args(FAST_HASH);
    let out = run(cmd, None).await;
    let stderr = failure(&out);
    assert!(
        stderr.contains("SESAME_BOOTSTRAP_ADMIN_PASSWORD"),
        "names the setting: {stderr}"
    );
    assert!(
        stderr.contains("common_password"),
        "names the rule: {stderr}"
    );
    assert!(
        !stderr.contains("the request has invalid fields"),
        "an HTTP phrase is no help to an operator: {stderr}"
    );
    let all = format!("{}{stderr}", text(&out.stdout));
    assert!(
        !all.contains(weak),
        "the rejected password was printed: {all}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_template_naming_a_field_its_message_lacks_stops_the_server_naming_both() {
    let dir = TempDir::new();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    // A password-changed notice has no link to name.
    std::fs::write(
        templates.join("password_changed.txt"),
        "Your password changed. Not you? {{link}}\n",
    )
    .unwrap();
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_LISTEN", "127.0.0.1:0")
        .env("SESAME_MAIL_TEMPLATES_DIR", &templates)
        .arg("serve");
    let stderr = failure(&run(cmd, None).await);
    assert!(stderr.contains("password_changed.txt"), "{stderr}");
    assert!(stderr.contains("{{link}}"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------

/// `sesame migrate status` as `(version, state)` rows.
async fn migrate_status(dir: &Path, url: &str) -> Vec<(i64, String)> {
    let mut cmd = sesame(dir);
    cmd.args(["--database-url", url, "migrate", "status"]);
    let out = run(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let version = parts.next().unwrap().parse().unwrap();
            let state = parts.next().unwrap().to_owned();
            assert!(parts.next().is_some(), "no description in {l:?}");
            (version, state)
        })
        .collect()
}

/// Runs `sesame migrate ARGS…` to success and returns its stdout (the log goes to stderr).
async fn migrate(dir: &Path, url: &str, args: &[&str]) -> String {
    let mut cmd = sesame(dir);
    cmd.args(["--database-url", url, "migrate"]).args(args);
    let out = run(cmd, None).await;
    assert!(
        out.status.success(),
        "migrate {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The application's tables (not the migration bookkeeping).
async fn tables(db: &TestDb, b: Backend) -> Vec<String> {
    let sql = match b {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        Backend::Postgres => {
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()"
        }
    };
    let mut names: Vec<String> = crate::on_db_connection!(db, |c| sqlx::query_scalar(sql)
        .fetch_all(&mut c)
        .await
        .unwrap());
    names.retain(|n| !n.starts_with("_sqlx") && !n.starts_with("sqlite_"));
    names.sort();
    names
}

fn states(rows: &[(i64, String)]) -> Vec<&str> {
    rows.iter().map(|(_, s)| s.as_str()).collect()
}

async fn migrate_status_up_and_down_round_trip(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    if b == Backend::Sqlite {
        // `status` creates no file; an empty one is a database with nothing applied.
        let path = db.url.trim_start_matches("sqlite://");
        std::fs::File::create(path).unwrap();
    }
    let fresh = migrate_status(dir.path(), &db.url).await;
    assert_eq!(fresh.first().map(|r| r.0), Some(1), "{fresh:?}");
    assert!(
        fresh.iter().all(|(_, s)| s == "pending"),
        "a fresh database has everything pending: {fresh:?}"
    );
    let versions: Vec<i64> = fresh.iter().map(|r| r.0).collect();
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "ordered: {versions:?}"
    );

    migrate(dir.path(), &db.url, &["up"]).await;
    let up = migrate_status(dir.path(), &db.url).await;
    assert!(up.iter().all(|(_, s)| s == "applied"), "{up:?}");
    let after_up = tables(&db, b).await;
    for t in ["users", "sessions", "refresh_tokens", "signing_keys"] {
        assert!(after_up.iter().any(|n| n == t), "{t} missing: {after_up:?}");
    }
    // `up` again is a no-op.
    migrate(dir.path(), &db.url, &["up"]).await;
    assert_eq!(migrate_status(dir.path(), &db.url).await, up);

    // `down` reverts only the latest migration.
    migrate(dir.path(), &db.url, &["down", "--yes"]).await;
    let down = migrate_status(dir.path(), &db.url).await;
    let n = down.len();
    assert_eq!(states(&down)[n - 1], "pending", "{down:?}");
    assert!(
        states(&down)[..n - 1].iter().all(|s| *s == "applied"),
        "{down:?}"
    );
    if n > 1 {
        migrate(dir.path(), &db.url, &["down", "--to", "0", "--yes"]).await;
    }
    let all_down = migrate_status(dir.path(), &db.url).await;
    assert!(all_down.iter().all(|(_, s)| s == "pending"), "{all_down:?}");
    assert_eq!(
        tables(&db, b).await,
        Vec::<String>::new(),
        "reverting every migration drops every table"
    );
    // Reverting with nothing applied is harmless.
    migrate(dir.path(), &db.url, &["down"]).await;

    migrate(dir.path(), &db.url, &["up"]).await;
    let again = migrate_status(dir.path(), &db.url).await;
    assert!(again.iter().all(|(_, s)| s == "applied"), "{again:?}");
    assert_eq!(tables(&db, b).await, after_up);
    // And the schema works: a server starts on it and registers a user.
    let app = spawn_on(db, &[], &["--auto-migrate", "false"]).await;
    app.create_user("a@example.com").await;
}

/// Migration file versions in one backend's directory, with which halves exist.
fn migration_files(backend: &str) -> BTreeMap<i64, (bool, bool)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut found: BTreeMap<i64, (bool, bool)> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let (version, rest) = name
            .split_once('_')
            .unwrap_or_else(|| panic!("{backend}/{name}: expected VERSION_description"));
        let version: i64 = version
            .parse()
            .unwrap_or_else(|_| panic!("{backend}/{name}: bad version"));
        let slot = found.entry(version).or_default();
        if rest.ends_with(".up.sql") {
            assert!(!slot.0, "{backend}: two up migrations for {version}");
            slot.0 = true;
        } else if rest.ends_with(".down.sql") {
            assert!(!slot.1, "{backend}: two down migrations for {version}");
            slot.1 = true;
        } else {
            panic!("{backend}/{name}: neither .up.sql nor .down.sql");
        }
    }
    found
}

#[test]
fn both_backends_have_the_same_reversible_migration_versions() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(sqlite.contains_key(&1), "{sqlite:?}");
    for (backend, files) in [("sqlite", &sqlite), ("postgres", &postgres)] {
        for (version, (up, down)) in files {
            assert!(up, "{backend}: {version} has no .up.sql");
            assert!(down, "{backend}: {version} has no .down.sql");
        }
    }
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// users create
// ---------------------------------------------------------------------------------------------

fn users_create(dir: &Path, url: &str, email: &str) -> tokio::process::Command {
    let mut cmd = sesame(dir);
    cmd.args(["--database-url", url])
        .args([
            "users",
            "create",
            "--email",
            email,
            "--admin",
            "--password-stdin",
        ])
        .args(FAST_HASH);
    cmd
}

/// `--locale` sets the language of the user's emails; without it, the `SESAME_DEFAULT_LOCALE`
/// the command sees; an unsupported one is refused naming the supported ones.
async fn users_create_sets_the_language_of_the_users_emails(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    migrate(dir.path(), &db.url, &["up"]).await;
    let mut cmd = users_create(dir.path(), &db.url, "de@example.com");
    cmd.args(["--locale", "de"]);
    let out = run(cmd, Some(&format!("{PASSWORD}\n"))).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut cmd = users_create(dir.path(), &db.url, "fr@example.com");
    cmd.env("SESAME_DEFAULT_LOCALE", "fr");
    let out = run(cmd, Some(&format!("{PASSWORD}\n"))).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let locale = |email: &str| format!("SELECT locale FROM users WHERE email = '{email}'");
    assert_eq!(
        db.text(&locale("de@example.com")).await.as_deref(),
        Some("de")
    );
    assert_eq!(
        db.text(&locale("fr@example.com")).await.as_deref(),
        Some("fr")
    );

    let mut cmd = users_create(dir.path(), &db.url, "it@example.com");
    cmd.args(["--locale", "it"]);
    let stderr = failure(&run(cmd, Some(&format!("{PASSWORD}\n"))).await);
    assert!(stderr.contains("en, de, fr, es"), "{stderr}");
}

async fn users_create_makes_a_verified_admin_who_can_log_in(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    migrate(dir.path(), &db.url, &["up"]).await;
    let out = run(
        users_create(dir.path(), &db.url, "admin@example.com"),
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("admin@example.com"), "{stdout}");
    assert!(stdout.contains("admin"), "{stdout}");
    // stdout is the result alone; the log (the "user created" line) goes to stderr.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stderr.contains("user created"), "{stderr}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "the password was echoed"
    );

    // The same email again is refused.
    let out = run(
        users_create(dir.path(), &db.url, "ADMIN@example.com"),
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    let stderr = failure(&out);
    assert!(stderr.contains("already"), "{stderr}");

    let app = spawn_on(db, &[], &[]).await;
    let tokens = app.tokens("admin@example.com").await;
    assert_eq!(tokens["user"]["roles"], json!(["admin"]));
    let me: Value = app
        .me(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "admin@example.com");
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["is_active"], true);
}

async fn users_create_rejects_a_too_short_password_and_creates_nothing(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    let out = run(
        users_create(dir.path(), &db.url, "admin@example.com"),
        Some("short\n"),
    )
    .await;
    let stderr = failure(&out);
    assert!(stderr.contains("password"), "{stderr}");
    assert!(stderr.contains("at least 8"), "{stderr}");

    // Without --password-stdin the command is refused outright.
    let mut cmd = sesame(dir.path());
    cmd.args([
        "--database-url",
        &db.url,
        "users",
        "create",
        "--email",
        "x@example.com",
    ]);
    let stderr = failure(&run(cmd, Some(&format!("{PASSWORD}\n"))).await);
    assert!(stderr.contains("--password-stdin"), "{stderr}");

    let app = spawn_on(db, &[], &[]).await;
    let r = app.login("admin@example.com", "short").await;
    assert_eq!(r.status(), 401);
    let r = app.login("x@example.com", PASSWORD).await;
    assert_eq!(r.status(), 401);
    // The address is still free.
    let user = app.create_user("admin@example.com").await;
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["email_verified"], false);
}

// ---------------------------------------------------------------------------------------------
// serve with no configuration
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_configuration_uses_an_embedded_sqlite_file_and_logs_json_without_secrets() {
    let dir = TempDir::new();
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_LISTEN", "127.0.0.1:0")
        .env("SESAME_LOG_FORMAT", "json")
        .arg("serve")
        .args(FAST_HASH);
    let mut child = cmd.spawn().expect("start sesame serve");
    let pid = child.id().unwrap();

    // Collect stdout lines as they come; stderr as a whole.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_task = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s).await;
        s
    });

    let mut log: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!(
                "sesame exited before listening; log: {log:#?} status: {:?}",
                child.try_wait()
            ),
            Err(_) => panic!("sesame did not log `sesame is listening` within 10 s: {log:#?}"),
        };
        log.push(line.clone());
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        if v["fields"]["message"] == "sesame is listening" {
            break v["fields"]["listen"]
                .as_str()
                .expect("the listening line names the address")
                .to_owned();
        }
    };
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    // The API works end to end.
    let r = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.unwrap();
    // The embedded default delivers mail to the log: the verification link is there.
    let mail_deadline = Instant::now() + Duration::from_secs(10);
    let token = loop {
        let left = mail_deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(line)) => line,
            _ => panic!("no verification mail in the log within 10 s: {log:#?}"),
        };
        log.push(line.clone());
        if let Some(i) = line.find("verify-email?token=") {
            let start = i + "verify-email?token=".len();
            break line[start..start + 43].to_owned();
        }
    };
    let r = client
        .post(format!("{base}/api/v1/auth/verify-email"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        204,
        "the link from the logged mail verifies the address"
    );
    let wrong_password = "not the password at all";
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "a@example.com", "password": wrong_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    // A token in the query string must not reach the log either.
    let r = client
        .get(format!("{base}/api/v1/users/me?access_token={at}"))
        .bearer_auth(&at)
        .header("x-request-id", "me-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    let r = client
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": rt}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let renewed: Value = r.json().await.unwrap();
    let rt2 = renewed["refresh_token"].as_str().unwrap().to_owned();
    let at2 = renewed["access_token"].as_str().unwrap().to_owned();
    drop(client);

    assert!(
        dir.path().join("sesame.db").is_file(),
        "the default database is ./sesame.db"
    );

    // Stop it the way an orchestrator does, and expect a clean exit.
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(s) => s.unwrap(),
        Err(_) => {
            let _ = child.start_kill();
            panic!("sesame did not stop within 10 s of SIGTERM");
        }
    };
    reader.await.unwrap();
    while let Some(line) = rx.recv().await {
        log.push(line);
    }
    let stderr = stderr_task.await.unwrap();
    assert!(status.success(), "exit {status:?}; stderr: {stderr}");

    // Secrets never reach the output.
    let all = format!("{}\n{stderr}", log.join("\n"));
    for (what, secret) in [
        ("password", PASSWORD),
        ("wrong password", wrong_password),
        ("access token", at.as_str()),
        ("refresh token", rt.as_str()),
        ("rotated access token", at2.as_str()),
        ("rotated refresh token", rt2.as_str()),
    ] {
        assert!(!all.contains(secret), "the {what} was logged");
    }

    // Every line is JSON; each request has one `request finished` line with its span fields.
    let entries: Vec<Value> = log
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &entries {
        assert!(e["level"].is_string() && e["timestamp"].is_string(), "{e}");
    }
    let finished: Vec<&Value> = entries
        .iter()
        .filter(|e| e["fields"]["message"] == "request finished")
        .collect();
    // register, verify-email, two logins, /users/me, refresh
    assert_eq!(finished.len(), 6, "one line per request: {finished:#?}");
    for e in &finished {
        let span = &e["span"];
        assert!(
            span["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{e}"
        );
        assert!(span["method"].is_string(), "{e}");
        assert!(
            span["path"].as_str().is_some_and(|p| p.starts_with('/')),
            "{e}"
        );
        assert!(e["fields"]["status"].is_u64(), "{e}");
        assert!(e["fields"]["latency_ms"].is_number(), "{e}");
    }
    let me_line = finished
        .iter()
        .find(|e| e["span"]["request_id"] == "me-request-1")
        .expect("the /users/me request is logged under the client's request id");
    assert_eq!(me_line["span"]["method"], "GET");
    assert_eq!(
        me_line["span"]["path"], "/api/v1/users/me",
        "no query string"
    );
    assert_eq!(me_line["fields"]["status"], 200);
    assert_eq!(me_line["span"]["user_id"], user["id"]);
    let statuses: Vec<(String, u64)> = finished
        .iter()
        .map(|e| {
            (
                format!(
                    "{} {}",
                    e["span"]["method"].as_str().unwrap(),
                    e["span"]["path"].as_str().unwrap()
                ),
                e["fields"]["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("POST /api/v1/auth/register".to_owned(), 201),
            ("POST /api/v1/auth/verify-email".to_owned(), 204),
            ("POST /api/v1/auth/login".to_owned(), 401),
            ("POST /api/v1/auth/login".to_owned(), 200),
            ("GET /api/v1/users/me".to_owned(), 200),
            ("POST /api/v1/auth/refresh".to_owned(), 200),
        ]
    );
    assert!(
        entries
            .iter()
            .any(|e| e["fields"]["message"] == "sesame stopped"),
        "graceful shutdown is logged"
    );
}

// ---------------------------------------------------------------------------------------------
// What an operator reads: rules named, migrations listed, confirmations, one error line
// ---------------------------------------------------------------------------------------------

/// How often `needle` occurs in `haystack`.
fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// How many lines of `output` are `error: …` lines.
fn error_lines(output: &str) -> usize {
    output.lines().filter(|l| l.starts_with("error: ")).count()
}

async fn users_create_names_the_password_rule_that_failed(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    migrate(dir.path(), &db.url, &["up"]).await;
    // The README's old example: the password holds the address's local part.
    let out = run(
        users_create(dir.path(), &db.url, "admin@example.com"),
        Some("a long admin password\n"),
    )
    .await;
    let stderr = failure(&out);
    assert!(
        stderr.contains("contains_email"),
        "names the rule: {stderr}"
    );
    assert!(
        stderr.contains("password: a password must not contain your email address"),
        "names the field and says what to do: {stderr}"
    );
    assert!(
        !stderr.contains("the request has invalid fields"),
        "an HTTP phrase is no help to an operator: {stderr}"
    );
    assert!(
        !stderr.contains("a long admin password"),
        "the password was echoed"
    );

    // Several bad fields are named in one run.
    let mut cmd = sesame(dir.path());
    cmd.args(["--database-url", &db.url])
        .args([
            "users",
            "create",
            "--email",
            "not an address",
            "--username",
            "x",
            "--password-stdin",
        ])
        .args(FAST_HASH);
    let stderr = failure(&run(cmd, Some("short\n")).await);
    for field in ["email: ", "username: ", "password: "] {
        assert!(stderr.contains(field), "{field} missing: {stderr}");
    }
    assert_eq!(error_lines(&stderr), 1, "{stderr}");
}

/// The README's shell block that creates the first admin, and the password it uses.
fn readme_first_admin_example() -> (String, String) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let block = readme
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| {
            b.contains("echo '")
                && b.contains("sesame users create --email admin@example.com")
                && !b.contains("curl")
        })
        .expect("README.md has a ```sh block (of the Command line section) piping a password into `sesame users create --email admin@example.com`")
        .to_owned();
    let password = block
        .split("echo '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();
    (block, password)
}

async fn the_readme_first_admin_example_works_as_written(b: Backend) {
    let (block, password) = readme_first_admin_example();
    assert!(block.contains("--admin"), "{block}");
    let dir = TempDir::new();
    let bin = Path::new(env!("CARGO_BIN_EXE_sesame")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new("sh");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SESAME_") {
            cmd.env_remove(k);
        }
    }
    // Cheap hashing keeps the test quick; the command itself is the README's, byte for byte.
    cmd.args(["-euc", &block])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("SESAME_ARGON2_MEMORY_KIB", "256")
        .env("SESAME_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // As written, the example uses the default ./sesame.db; on PostgreSQL only the URL is set.
    let db = match b {
        Backend::Sqlite => TestDb::unmanaged(
            format!("sqlite://{}", dir.path().join("sesame.db").display()),
            b,
        ),
        Backend::Postgres => {
            let db = TestDb::new(b).await;
            cmd.env("SESAME_DATABASE_URL", &db.url);
            db
        }
    };
    let out = run(cmd, None).await;
    assert!(
        out.status.success(),
        "the README's first-admin example failed:\n{block}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("with role admin"),
        "{}",
        text(&out.stdout)
    );
    let app = spawn_on(db, &[], &[]).await;
    let r = app.login("admin@example.com", &password).await;
    assert_eq!(
        r.status(),
        200,
        "the admin logs in with the README's password"
    );
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(tokens["user"]["roles"], json!(["admin"]));
}

/// The migration files' versions, which `migrate up` applies in order.
fn migration_versions() -> Vec<i64> {
    migration_files("sqlite").keys().copied().collect()
}

async fn migrate_up_lists_what_it_applied_and_says_when_nothing_is_pending(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    let versions = migration_versions();
    let latest = *versions.last().unwrap();

    let out = migrate(dir.path(), &db.url, &["up"]).await;
    let applied: Vec<i64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("applied"))
        .map(|rest| {
            let mut parts = rest.split_whitespace();
            let v = parts.next().unwrap().parse().unwrap();
            assert!(parts.next().is_some(), "no description in {rest:?}");
            v
        })
        .collect();
    assert_eq!(applied, versions, "every migration, in order: {out}");
    assert!(
        out.trim_end()
            .ends_with(&format!("schema at version {latest}")),
        "{out}"
    );
    assert!(!out.contains("no pending"), "{out}");

    let again = migrate(dir.path(), &db.url, &["up"]).await;
    assert_eq!(
        again.trim(),
        format!("no pending migrations; schema at version {latest}")
    );
}

async fn migrate_down_lists_what_it_reverted_and_says_when_nothing_was_applied(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    let versions = migration_versions();
    let latest = *versions.last().unwrap();
    migrate(dir.path(), &db.url, &["up"]).await;

    let out = migrate(dir.path(), &db.url, &["down", "--yes"]).await;
    let reverted = |out: &str| -> Vec<i64> {
        out.lines()
            .filter_map(|l| l.strip_prefix("reverted"))
            .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(reverted(&out), vec![latest], "{out}");
    let before_latest = versions.iter().rev().nth(1).copied().unwrap_or(0);
    assert!(
        out.contains(&format!("schema at version {before_latest}")),
        "{out}"
    );

    let out = migrate(dir.path(), &db.url, &["down", "--to", "0", "--yes"]).await;
    let rest: Vec<i64> = versions[..versions.len() - 1]
        .iter()
        .rev()
        .copied()
        .collect();
    assert_eq!(reverted(&out), rest, "newest first: {out}");
    assert!(out.contains("schema at version 0"), "{out}");

    let out = migrate(dir.path(), &db.url, &["down", "--to", "0"]).await;
    assert_eq!(out.trim(), "nothing to revert; schema at version 0");
}

async fn migrate_down_without_yes_off_a_terminal_refuses_and_reverts_nothing(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    migrate(dir.path(), &db.url, &["up"]).await;
    let before = migrate_status(dir.path(), &db.url).await;
    for args in [&["down", "--to", "0"][..], &["down"][..]] {
        let mut cmd = sesame(dir.path());
        cmd.args(["--database-url", &db.url, "migrate"]).args(args);
        // stdin is /dev/null: no terminal to ask on.
        let out = run(cmd, None).await;
        let stderr = failure(&out);
        assert!(stderr.contains("--yes"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("nothing was reverted"),
            "{args:?}: {stderr}"
        );
        if args.len() > 1 {
            assert!(stderr.contains("every user"), "says what is lost: {stderr}");
        }
        assert!(!text(&out.stdout).contains("reverted"), "{args:?}");
        assert_eq!(
            migrate_status(dir.path(), &db.url).await,
            before,
            "{args:?}"
        );
    }
    // The data is still there: a server starts on the schema as it was.
    let app = spawn_on(db, &[], &["--auto-migrate", "false"]).await;
    app.create_user("a@example.com").await;
}

/// `sesame ARGS…` on a terminal (a pseudo-terminal from util-linux's `script`), typing `typed`.
async fn on_a_terminal(dir: &Path, args: &str, typed: &str) -> Output {
    let mut cmd = tokio::process::Command::new("script");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SESAME_") {
            cmd.env_remove(k);
        }
    }
    cmd.args([
        "--quiet",
        "--return",
        "--command",
        &format!("{} {args}", env!("CARGO_BIN_EXE_sesame")),
        "/dev/null",
    ])
    .current_dir(dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    run(cmd, Some(typed)).await
}

async fn migrate_down_on_a_terminal_asks_and_goes_ahead_only_on_yes(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    migrate(dir.path(), &db.url, &["up"]).await;
    let before = migrate_status(dir.path(), &db.url).await;
    let args = format!("--database-url {} migrate down --to 0", db.url);

    let out = on_a_terminal(dir.path(), &args, "no\n").await;
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("Type yes to go ahead"), "{shown}");
    assert!(shown.contains("every user"), "{shown}");
    assert!(shown.contains("nothing was reverted"), "{shown}");
    assert_eq!(migrate_status(dir.path(), &db.url).await, before);

    let out = on_a_terminal(dir.path(), &args, "yes\n").await;
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("schema at version 0"), "{shown}");
    let after = migrate_status(dir.path(), &db.url).await;
    assert!(after.iter().all(|(_, s)| s == "pending"), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_other_than_serve_and_migrate_up_do_not_create_a_missing_sqlite_file() {
    let dir = TempDir::new();
    let runs: &[(&[&str], Option<&str>)] = &[
        (&["migrate", "status"], None),
        (&["migrate", "down", "--yes"], None),
        (&["migrate", "down", "--to", "0", "--yes"], None),
        (
            &[
                "users",
                "create",
                "--email",
                "a@example.com",
                "--password-stdin",
            ],
            Some("violet tractor meadow lantern\n"),
        ),
        (&["users", "seed", "--count", "1"], None),
    ];
    for (args, stdin) in runs {
        let mut cmd = sesame(dir.path());
        cmd.args(*args);
        let stderr = failure(&run(cmd, *stdin).await);
        assert!(stderr.contains("sesame.db"), "{args:?}: {stderr}");
        assert!(stderr.contains("does not exist"), "{args:?}: {stderr}");
        assert!(stderr.contains("migrate up"), "says what to do: {stderr}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?} created something"
        );
    }
    // `migrate up` is the command that creates it.
    let mut cmd = sesame(dir.path());
    cmd.args(["migrate", "up"]);
    let out = run(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("sesame.db").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_log_no_notice_when_the_schema_is_already_there() {
    let db = TestDb::new(Backend::Postgres).await;
    let dir = TempDir::new();
    for round in 0..2 {
        let mut cmd = sesame(dir.path());
        cmd.args([
            "--database-url",
            &db.url,
            "--log-level",
            "info",
            "--log-format",
            "json",
            "migrate",
            "up",
        ]);
        let out = run(cmd, None).await;
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{all}");
        assert!(!all.contains("already exists"), "round {round}: {all}");
        assert!(
            !all.contains("sqlx::postgres::notice"),
            "round {round}: {all}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_printed_once_as_an_error_line_on_stderr() {
    let dir = TempDir::new();
    // A configuration error at `serve` start, with JSON logs on.
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_LISTEN", "127.0.0.1:0")
        .env("SESAME_LOG_FORMAT", "json")
        .env("SESAME_JWT_ALGORITHM", "HS256")
        .arg("serve");
    let out = run(cmd, None).await;
    let stderr = failure(&out);
    let stdout = text(&out.stdout);
    let all = format!("{stdout}{stderr}");
    assert_eq!(
        occurrences(&all, "SESAME_SECRET_KEY"),
        1,
        "printed once: {all}"
    );
    assert_eq!(error_lines(&stderr), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stdout.contains("ERROR"), "not logged as well: {stdout}");

    // A database error of an operator command.
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_LOG_FORMAT", "json")
        .args(["--database-url", "mysql://x", "migrate", "status"]);
    let out = run(cmd, None).await;
    let stderr = failure(&out);
    let all = format!("{}{stderr}", text(&out.stdout));
    assert_eq!(
        occurrences(&all, "unsupported database URL scheme"),
        1,
        "{all}"
    );
    assert_eq!(error_lines(&stderr), 1, "{stderr}");
}

/// Every argument of `cmd` and its subcommands, with the command's path.
fn every_argument(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
    for arg in cmd.get_arguments() {
        out.push((path.to_owned(), arg.clone()));
    }
    for sub in cmd.get_subcommands() {
        every_argument(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn every_flag_and_argument_of_every_command_is_described() {
    use clap::CommandFactory;
    let mut cmd = sesame::cli::Cli::command();
    // Propagates the global flags into every subcommand, as parsing does.
    cmd.build();
    let mut args = Vec::new();
    every_argument(&cmd, "sesame", &mut args);
    assert!(args.len() > 80, "{}", args.len());
    for (path, arg) in &args {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(
            !help.trim().is_empty(),
            "`{path}` --{id} has no description"
        );
    }
    for sub in cmd.get_subcommands() {
        assert!(
            sub.get_about().is_some(),
            "`sesame {}` has no description",
            sub.get_name()
        );
    }
    // `serve` groups every flag under a heading; the global ones say that they are global.
    let serve = cmd.find_subcommand("serve").unwrap();
    for arg in serve.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let heading = arg
            .get_help_heading()
            .unwrap_or_else(|| panic!("`serve --{id}` has no heading"));
        assert_eq!(
            arg.is_global_set(),
            heading.ends_with("(every command)"),
            "--{id} under {heading}"
        );
    }
}

/// `sesame ARGS…` run to success; its stdout.
async fn stdout_of(args: &[&str]) -> String {
    let dir = TempDir::new();
    let mut cmd = sesame(dir.path());
    cmd.args(args);
    let out = run(cmd, None).await;
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "{args:?} created a file"
    );
    text(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_groups_flags_by_subject_and_lists_each_where_it_applies() {
    let serve = stdout_of(&["serve", "--help"]).await;
    for heading in [
        "Database (every command):",
        "Logging (every command):",
        "HTTP:",
        "Tokens and sessions:",
        "Mail:",
        "Abuse protection:",
        "Passwords and hashing:",
        "Startup:",
    ] {
        assert!(serve.contains(heading), "{heading} missing:\n{serve}");
    }
    assert!(serve.contains("--argon2-memory-kib"), "{serve}");
    for args in [
        &["migrate", "--help"][..],
        &["migrate", "up", "--help"][..],
        &["--help"][..],
    ] {
        let help = stdout_of(args).await;
        assert!(
            !help.contains("argon2"),
            "{args:?} lists hashing flags:\n{help}"
        );
        assert!(
            !help.contains("--listen"),
            "{args:?} lists serve flags:\n{help}"
        );
        assert!(help.contains("--database-url"), "{args:?}:\n{help}");
    }
    let create = stdout_of(&["users", "create", "--help"]).await;
    for flag in [
        "--email",
        "--username",
        "--display-name",
        "--admin",
        "--password-stdin",
        "--argon2-memory-kib",
    ] {
        assert!(create.contains(flag), "{flag} missing:\n{create}");
    }
    let down = stdout_of(&["migrate", "down", "--help"]).await;
    assert!(down.contains("--yes"), "{down}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_on_a_host_name() {
    let dir = TempDir::new();
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_LOG_FORMAT", "json")
        .args(["serve", "--listen", "localhost:0"])
        .args(FAST_HASH);
    let mut child = cmd.spawn().expect("start sesame serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["fields"]["message"] == "sesame is listening" {
                return v["fields"]["listen"].as_str().unwrap().to_owned();
            }
        }
        panic!("sesame exited before listening");
    })
    .await
    .expect("sesame listens within 20 s");
    let ip: std::net::SocketAddr = addr.parse().unwrap();
    assert!(ip.ip().is_loopback(), "{addr}");
    let r = reqwest::get(format!("http://{addr}/health/live"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = child.start_kill();

    // A listen value of the wrong form is refused naming the accepted ones.
    let mut cmd = sesame(dir.path());
    cmd.args(["serve", "--listen", "localhost"]);
    let stderr = failure(&run(cmd, None).await);
    assert!(stderr.contains("HOST:PORT"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_printed_for_every_supported_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]).await;
        assert!(script.len() > 1000, "{shell}: {script}");
        assert!(script.contains("sesame"), "{shell}");
        assert!(script.contains("migrate"), "{shell}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_man_pages_are_what_the_binary_prints() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/man");
    let regenerate = "regenerate with `cargo run -- man --dir docs/man`";
    let page = stdout_of(&["man"]).await;
    assert!(
        page.starts_with(".ie") || page.contains(".TH sesame 1"),
        "{page}"
    );
    assert_eq!(
        std::fs::read_to_string(committed.join("sesame.1")).unwrap_or_default(),
        page,
        "docs/man/sesame.1 is out of date: {regenerate}"
    );
    let out = TempDir::new();
    let dir = out.path().join("man");
    stdout_of(&["man", "--dir", dir.to_str().unwrap()]).await;
    let pages = |d: &Path| -> BTreeMap<String, String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect()
    };
    let generated = pages(&dir);
    assert!(
        generated.contains_key("sesame-serve.1"),
        "{:?}",
        generated.keys()
    );
    assert!(
        generated.contains_key("sesame-migrate-down.1"),
        "{:?}",
        generated.keys()
    );
    assert_eq!(
        pages(&committed),
        generated,
        "docs/man is out of date: {regenerate}"
    );
}

crate::on_every_backend!(
    migrate_status_up_and_down_round_trip,
    users_create_makes_a_verified_admin_who_can_log_in,
    users_create_sets_the_language_of_the_users_emails,
    users_create_rejects_a_too_short_password_and_creates_nothing,
    users_create_names_the_password_rule_that_failed,
    the_readme_first_admin_example_works_as_written,
    migrate_up_lists_what_it_applied_and_says_when_nothing_is_pending,
    migrate_down_lists_what_it_reverted_and_says_when_nothing_was_applied,
    migrate_down_without_yes_off_a_terminal_refuses_and_reverts_nothing,
    migrate_down_on_a_terminal_asks_and_goes_ahead_only_on_yes,
);
