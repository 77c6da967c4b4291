//! The test harness: `spawn_app(backend)` starts the real server on `127.0.0.1:0` over a fresh
//! database (a SQLite temp file, or a PostgreSQL database with a random name that is dropped
//! afterwards) and returns a [`TestApp`] with typed helpers.

use clap::Parser;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};
use sesame::cli::{Cli, Command};
use sesame::startup::Application;
use sesame_domain::clock::ShiftedClock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each named behaviour:
/// `module::sqlite::name` and `module::postgres::name`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// Runs `$body` with `$c` bound to a fresh connection to a [`TestDb`], written once and compiled
/// for each backend: sqlx's query types differ per database, so a function could not take the
/// body.
#[macro_export]
macro_rules! on_db_connection {
    ($db:expr, |$c:ident| $body:expr) => {{
        let db: &$crate::helpers::TestDb = &$db;
        match db.backend() {
            $crate::helpers::Backend::Sqlite => {
                #[allow(unused_mut)]
                let mut $c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
                    .await
                    .unwrap();
                $body
            }
            $crate::helpers::Backend::Postgres => {
                #[allow(unused_mut)]
                let mut $c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                    .await
                    .unwrap();
                $body
            }
        }
    }};
}

/// A database made for one test and removed when the test ends.
pub struct TestDb {
    pub url: String,
    backend: Backend,
    cleanup: Option<(String, String)>, // (admin url, database name) for PostgreSQL
    file: Option<PathBuf>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let file =
                    std::env::temp_dir().join(format!("sesame-test-{}.db", uuid::Uuid::now_v7()));
                Self {
                    url: format!("sqlite://{}", file.display()),
                    backend,
                    cleanup: None,
                    file: Some(file),
                }
            }
            Backend::Postgres => {
                let admin = std::env::var("SESAME_TEST_POSTGRES_URL").expect(
                    "SESAME_TEST_POSTGRES_URL must name a PostgreSQL server for the postgres tests \
                     (scripts/test.sh sets it), e.g. postgres://postgres@127.0.0.1:5432/postgres",
                );
                let name = format!("sesame_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .expect("connect to SESAME_TEST_POSTGRES_URL");
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Self {
                    url: format!("{base}/{name}"),
                    backend,
                    cleanup: Some((admin.clone(), name)),
                    file: None,
                }
            }
        }
    }

    /// A database someone else made and removes (e.g. on a PostgreSQL instance a test runs).
    pub fn unmanaged(url: String, backend: Backend) -> Self {
        Self {
            url,
            backend,
            cleanup: None,
            file: None,
        }
    }

    /// The same database for a second server (several nodes on one database); only the
    /// original removes it.
    pub fn share(&self) -> Self {
        Self {
            url: self.url.clone(),
            backend: self.backend,
            cleanup: None,
            file: None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite database file (`None` on PostgreSQL).
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Runs one statement against the test database directly (to arrange states the API cannot
    /// reach yet, or to inspect what was stored). Use SQL both backends accept.
    pub async fn exec(&self, sql: &str) {
        on_db_connection!(self, |c| {
            sqlx::query(sql).execute(&mut c).await.unwrap();
        })
    }

    /// Reads one text column of the first row.
    pub async fn text(&self, sql: &str) -> Option<String> {
        on_db_connection!(self, |c| sqlx::query_scalar(sql)
            .fetch_optional(&mut c)
            .await
            .unwrap())
    }

    /// How many rows `from_where` (a table and an optional `WHERE`) has.
    pub async fn count(&self, from_where: &str) -> usize {
        self.text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {from_where}"))
            .await
            .expect("a count")
            .parse()
            .expect("a count is a number")
    }

    /// The failure count stored for the sign-in throttle key matching `key_like` (SQL `LIKE`).
    pub async fn stored_failures(&self, key_like: &str) -> Option<u64> {
        self.text(&format!(
            "SELECT CAST(failures AS TEXT) FROM login_throttle WHERE throttle_key LIKE '{key_like}'"
        ))
        .await
        .map(|s| s.parse().unwrap())
    }

    /// The stored password hash of the database's only user.
    pub async fn password_hash(&self) -> String {
        self.text("SELECT password_hash FROM users")
            .await
            .expect("one user with a password")
    }

    /// Reads one binary column of the first row.
    pub async fn bytes(&self, sql: &str) -> Option<Vec<u8>> {
        on_db_connection!(self, |c| sqlx::query_scalar(sql)
            .fetch_optional(&mut c)
            .await
            .unwrap())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
            // The encryption key a keyless start generated beside it.
            let _ = std::fs::remove_file(file.with_extension("key"));
        }
        if let Some((admin, name)) = self.cleanup.take() {
            // Drop runs inside the test's runtime; use a fresh thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                        .await
                        .ok()?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut c)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// A running server over its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub db: TestDb,
    /// The server's clock: the system clock until a test moves it forward with `advance`,
    /// instead of sleeping through a time-based rule.
    pub clock: Arc<ShiftedClock>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// The encryption key every test server is given unless the test chooses (`--encryption-key`,
/// `--encryption-key-file`, or [`spawn_without_key`]): PostgreSQL needs one, and
/// [`TestApp::signing_key`] opens the stored key with it.
pub const TEST_ENCRYPTION_KEY: &str = "c2VzYW1lIHRlc3QgZW5jcnlwdGlvbiBrZXkgMzJieXQ=";

/// The key ring of [`TEST_ENCRYPTION_KEY`].
pub fn test_keyring() -> sesame_domain::seal::Keyring {
    sesame_domain::seal::Keyring::new(
        sesame_domain::seal::EncryptionKey::from_base64(TEST_ENCRYPTION_KEY).unwrap(),
    )
}

/// Cheap hashing for tests that do not measure hashing (the defaults are OWASP's and slow).
pub const FAST_HASH: &[&str] = &["--argon2-memory-kib", "256", "--argon2-iterations", "1"];

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[], &[]).await
}

/// Starts a server with extra global flags (before `serve`) and extra `serve` flags.
pub async fn spawn_app_with(backend: Backend, global: &[&str], serve: &[&str]) -> TestApp {
    let db = TestDb::new(backend).await;
    spawn_on(db, global, serve).await
}

/// Starts a server on an existing test database.
pub async fn spawn_on(db: TestDb, global: &[&str], serve: &[&str]) -> TestApp {
    let url = db.url.clone();
    spawn_on_url(db, &url, global, serve).await
}

/// Starts a server on an existing test database reached through `url` (e.g. through a proxy);
/// the test's own queries (`TestApp::db`) still go straight to the database.
pub async fn spawn_on_url(db: TestDb, url: &str, global: &[&str], serve: &[&str]) -> TestApp {
    let app = build(url, global, serve, true).await;
    start(db, app).await
}

/// Starts a server on `db` with no encryption key unless `serve` names one: what an operator who
/// never set one gets (a generated key file on SQLite).
pub async fn spawn_without_key(db: TestDb, serve: &[&str]) -> TestApp {
    let url = db.url.clone();
    let app = try_build_with(&url, &[], serve, true, false)
        .await
        .expect("server starts");
    start(db, app).await
}

/// Builds a server on `url` (test defaults, no encryption key unless `serve` names one) and
/// returns the startup error instead of panicking on it.
pub async fn try_build_without_key(
    url: &str,
    serve: &[&str],
) -> Result<TestBuild, sesame::startup::StartupError> {
    try_build_with(url, &[], serve, true, false).await
}

/// Starts a server with the production defaults: none of the relaxed test values of
/// `TEST_SERVE_DEFAULTS` (only hashing stays cheap), to check the defaults themselves.
pub async fn spawn_app_with_production_defaults(backend: Backend, serve: &[&str]) -> TestApp {
    let db = TestDb::new(backend).await;
    let app = build(&db.url, &[], serve, false).await;
    start(db, app).await
}

/// Builds (binds, does not yet serve) a server on `db` with the test defaults, so a test can
/// swap a part of its state (say, a misbehaving rate limiter) before [`start`].
pub async fn build_app(db: &TestDb, global: &[&str], serve: &[&str]) -> TestBuild {
    build(&db.url, global, serve, true).await
}

/// A server built on a clock the test holds, not yet serving.
pub struct TestBuild {
    pub app: Application,
    pub clock: Arc<ShiftedClock>,
}

/// Serves an application built by [`build_app`].
pub async fn start(db: TestDb, built: TestBuild) -> TestApp {
    let TestBuild { app, clock } = built;
    let addr = app.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run(async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        addr,
        client: reqwest::Client::builder().build().unwrap(),
        db,
        clock,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// Test defaults that differ from production ones, unless the test sets them itself: login does
/// not wait for email verification (the email tests turn it back on), and mail goes to the log.
/// Abuse protection (rate limits, lockout) is relaxed the same way; the tests of those rules
/// set their own values.
pub const TEST_SERVE_DEFAULTS: &[(&str, &str)] = &[
    ("--require-verified-email", "false"),
    ("--lockout-threshold", "1000"),
    ("--rate-login-ip", "1000000/1s"),
    ("--rate-login-account", "1000000/1s"),
    ("--rate-register-ip", "1000000/1s"),
    ("--rate-forgot-ip", "1000000/1s"),
    ("--rate-forgot-email", "1000000/1s"),
    ("--rate-resend-ip", "1000000/1s"),
    ("--rate-resend-email", "1000000/1s"),
    ("--rate-email-change-ip", "1000000/1s"),
    ("--rate-email-change-user", "1000000/1s"),
];

async fn build(url: &str, global: &[&str], serve: &[&str], test_defaults: bool) -> TestBuild {
    try_build_with(url, global, serve, test_defaults, true)
        .await
        .expect("server starts")
}

async fn try_build_with(
    url: &str,
    global: &[&str],
    serve: &[&str],
    test_defaults: bool,
    test_key: bool,
) -> Result<TestBuild, sesame::startup::StartupError> {
    let mut args = vec!["sesame", "--database-url", url, "--log-level", "warn"];
    // The argon2 flags belong to `serve` (and the other hashing commands): tests may still list
    // them with the global ones, and they are moved behind `serve` here.
    let (mut hashing, mut rest) = (Vec::new(), Vec::new());
    let mut flags = global.iter();
    while let Some(&flag) = flags.next() {
        if flag.starts_with("--argon2") {
            hashing.push(flag);
            hashing.extend(flags.next().copied());
        } else {
            rest.push(flag);
        }
    }
    if hashing.is_empty() {
        hashing.extend_from_slice(FAST_HASH);
    }
    args.extend_from_slice(&rest);
    args.push("serve");
    // A test that needs the real address in the public URL (the browser's WebAuthn checks the
    // origin) chooses both itself.
    if !serve.contains(&"--listen") {
        args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
    }
    if !serve.contains(&"--public-url") {
        args.extend_from_slice(&["--public-url", "http://sesame.test"]);
    }
    args.extend_from_slice(&hashing);
    for (flag, value) in TEST_SERVE_DEFAULTS {
        if test_defaults && !serve.contains(flag) {
            args.extend_from_slice(&[flag, value]);
        }
    }
    let names_a_key = serve
        .iter()
        .any(|f| *f == "--encryption-key" || *f == "--encryption-key-file");
    if test_key && !names_a_key {
        args.extend_from_slice(&["--encryption-key", TEST_ENCRYPTION_KEY]);
    }
    args.extend_from_slice(serve);
    let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("bad test args {args:?}: {e}"));
    sesame::telemetry::init(&cli.common);
    let Command::Serve(mut cfg) = cli.command else {
        unreachable!()
    };
    let clock = Arc::new(ShiftedClock::new());
    let app = Application::build_with_clock(&cli.common, &mut cfg, clock.clone()).await?;
    Ok(TestBuild { app, clock })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server and hands back its database, e.g. to restart on it.
    pub async fn stop(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
        TestDb {
            url: self.db.url.clone(),
            backend: self.db.backend,
            cleanup: self.db.cleanup.take(),
            file: self.db.file.take(),
        }
    }

    /// `GET path` without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json_auth(
        &self,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut rb = self.client.post(self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        rb.send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers a user and returns its JSON.
    pub async fn create_user(&self, email: &str) -> Value {
        let r = self.register(email, PASSWORD).await;
        assert_eq!(r.status(), 201, "registration of {email} failed");
        r.json().await.unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers `email` and logs in; returns the token response JSON.
    pub async fn user_with_tokens(&self, email: &str) -> Value {
        self.create_user(email).await;
        self.tokens(email).await
    }

    /// Logs in an existing user; returns the token response JSON.
    pub async fn tokens(&self, email: &str) -> Value {
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status(), 200, "login of {email} failed");
        r.json().await.unwrap()
    }

    /// The OAuth password grant (`POST /api/v1/auth/token`, form-encoded).
    pub async fn password_grant(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn me(&self, access_token: &str) -> reqwest::Response {
        self.get_auth("/api/v1/users/me", access_token).await
    }

    /// Asks for a password-reset link for `email`.
    pub async fn forgot_password(&self, email: &str) -> reqwest::Response {
        self.post_json("/api/v1/auth/password/forgot", &json!({ "email": email }))
            .await
    }

    /// Asks for the verification link for `email` again.
    pub async fn resend_verification(&self, email: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/verify-email/resend",
            &json!({ "email": email }),
        )
        .await
    }

    /// Asks to move the caller's account to `new_email`, confirming with `password`.
    pub async fn change_email(
        &self,
        access_token: &str,
        new_email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post_json_auth(
            "/api/v1/users/me/email",
            access_token,
            Some(&json!({ "new_email": new_email, "password": password })),
        )
        .await
    }

    /// The primary Ed25519 signing key's PKCS#8 DER and kid, read from the database and opened
    /// with [`TEST_ENCRYPTION_KEY`], so tests can forge tokens with a valid signature and wrong
    /// claims.
    pub async fn signing_key(&self) -> (Vec<u8>, String) {
        let sealed = self
            .db
            .bytes("SELECT private_der FROM signing_keys WHERE algorithm = 'EdDSA' ORDER BY created_at LIMIT 1")
            .await
            .unwrap();
        let kid = self
            .db
            .text("SELECT kid FROM signing_keys WHERE algorithm = 'EdDSA' ORDER BY created_at LIMIT 1")
            .await
            .unwrap();
        let key_id = self
            .db
            .text("SELECT key_id FROM signing_keys WHERE algorithm = 'EdDSA' ORDER BY created_at LIMIT 1")
            .await
            .expect("the signing key is sealed");
        let sealed = sesame_domain::seal::Sealed {
            key_id: sesame_domain::seal::KeyId::from_stored(key_id),
            bytes: sealed,
        };
        let row = sesame_domain::seal::RowId::Text(kid.clone());
        let der = test_keyring()
            .open(
                &sealed,
                &sesame_domain::seal::SecretKind::SigningKey.aad(&row),
            )
            .expect("the signing key opens with the test key");
        (der.to_vec(), kid)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The string at `field` of `v`; panics, naming both, when it is not a string.
pub fn text_field(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` in {v}"))
        .to_owned()
}

/// Polls `check` until it holds; panics with `what` after 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Asserts an RFC 9457 problem response with `status` and `code`, and returns its body.
pub async fn assert_problem(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        ct.as_deref(),
        Some("application/problem+json"),
        "content type"
    );
    let header_id = resp
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status, "status in {body}");
    assert_eq!(
        body["request_id"],
        header_id.as_str(),
        "request id in {body}"
    );
    assert_eq!(body["type"], format!("urn:sesame:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// An empty directory, removed at the end of the test.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("sesame-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary, run in `dir`, with no inherited `SESAME_*` variable; output piped, killed when
/// dropped.
pub fn sesame(dir: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sesame"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SESAME_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs a command (e.g. [`sesame`]) to completion, at most a minute, feeding `stdin` if given.
pub async fn run(mut cmd: tokio::process::Command, stdin: Option<&str>) -> std::process::Output {
    if stdin.is_some() {
        cmd.stdin(std::process::Stdio::piped());
    }
    let mut child = cmd.spawn().expect("start sesame");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // A process that exits without reading (a usage error) closes the pipe: not our failure.
        let _ = tokio::io::AsyncWriteExt::write_all(&mut pipe, input.as_bytes()).await;
        drop(pipe);
    }
    tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("sesame did not exit within 60 s")
        .unwrap()
}

/// Process output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
