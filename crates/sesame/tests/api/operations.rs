//! What an operator meets running the real `sesame` binary: a database that cannot be reached
//! is named (`host:port`, never the password) with the cause; the `.env` file and its place in
//! the precedence (flags > environment > `.env` > defaults); the startup line (version,
//! storage, mail, rate limiter, migrations) and the per-request line (client IP after
//! trusted-proxy resolution, user agent, latency without float noise), neither ever carrying a
//! password from a URL.

use crate::helpers::{run, sesame, text, Backend, TempDir, TestDb, FAST_HASH, TEST_ENCRYPTION_KEY};
use crate::smtp::{free_port, SmtpSink};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// A password that must never be printed.
const DB_SECRET: &str = "db-pass-Zq81x";
const SMTP_SECRET: &str = "smtp-pass-Wv27k";
const REDIS_SECRET: &str = "redis-pass-Jm44p";

/// Asserts a failed run and returns stdout and stderr together.
fn failure(out: &Output) -> String {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "expected a failure: {all}");
    all
}

/// `host:port` of the test PostgreSQL server.
fn pg_address() -> (String, u16) {
    let admin = std::env::var("SESAME_TEST_POSTGRES_URL")
        .expect("SESAME_TEST_POSTGRES_URL names the test PostgreSQL server");
    let u = url::Url::parse(&admin).unwrap();
    (u.host_str().unwrap().to_owned(), u.port().unwrap_or(5432))
}

/// `url` with `password` set (the test server trusts every local connection, so it is ignored).
fn with_password(url: &str, user: &str, password: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_username(user).unwrap();
    u.set_password(Some(password)).unwrap();
    u.to_string()
}

// ---------------------------------------------------------------------------------------------
// A database that cannot be reached
// ---------------------------------------------------------------------------------------------

/// Runs `migrate status` (a CLI command that connects) on `url` and returns what it printed.
async fn migrate_status_failure(url: &str) -> String {
    let dir = TempDir::new();
    let mut cmd = sesame(dir.path());
    cmd.args(["--database-url", url, "migrate", "status"]);
    let started = Instant::now();
    let all = failure(&run(cmd, None).await);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the failure took {:?}",
        started.elapsed()
    );
    assert!(!all.contains(DB_SECRET), "the password was printed: {all}");
    assert!(
        !all.contains("pool timed out"),
        "the pool's timeout says nothing of the cause: {all}"
    );
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_port_is_named_with_connection_refused() {
    let port = free_port();
    let url = format!("postgres://postgres:{DB_SECRET}@127.0.0.1:{port}/sesame");
    let all = migrate_status_failure(&url).await;
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(all.contains("connection refused"), "{all}");

    // `serve` checks the same way before anything else.
    let dir = TempDir::new();
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_DATABASE_URL", &url)
        .env("SESAME_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .args(FAST_HASH);
    let all = failure(&run(cmd, None).await);
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(all.contains("connection refused"), "{all}");
    assert!(!all.contains(DB_SECRET), "the password was printed: {all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_postgres_database_is_named() {
    let (host, port) = pg_address();
    let name = format!("sesame_missing_{}", uuid::Uuid::now_v7().simple());
    let url = format!("postgres://postgres:{DB_SECRET}@{host}:{port}/{name}");
    let all = migrate_status_failure(&url).await;
    assert!(all.contains(&format!("{host}:{port}")), "{all}");
    assert!(all.contains("database does not exist"), "{all}");
    assert!(all.contains(&name), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_postgres_role_is_an_authentication_failure() {
    let (host, port) = pg_address();
    let url = format!("postgres://nosuchrole:{DB_SECRET}@{host}:{port}/postgres");
    let all = migrate_status_failure(&url).await;
    assert!(all.contains(&format!("{host}:{port}")), "{all}");
    assert!(all.contains("authentication failed"), "{all}");
    assert!(all.contains("nosuchrole"), "the server's reason: {all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_postgres_host_is_named() {
    let url = format!("postgres://postgres:{DB_SECRET}@sesame-no-such-host.invalid:5432/sesame");
    let all = migrate_status_failure(&url).await;
    assert!(all.contains("sesame-no-such-host.invalid:5432"), "{all}");
    assert!(all.contains("host not found"), "{all}");
}

/// A TCP server on 127.0.0.1 standing in for a PostgreSQL server that misbehaves: each
/// connection's first message (the client's `SSLRequest`) gets `reply`, then `then` is sent
/// and the connection held open until the test ends.
async fn odd_server(
    reply: &'static [u8],
    then: &'static [u8],
) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut first = [0u8; 8];
            if conn.read_exact(&mut first).await.is_ok() {
                let _ = conn.write_all(reply).await;
                let _ = conn.write_all(then).await;
            }
            held.push(conn);
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_server_that_never_answers_is_a_timeout() {
    // Accepts, reads the client's first message, says nothing.
    let (port, server) = odd_server(b"", b"").await;
    let url = format!("postgres://postgres:{DB_SECRET}@127.0.0.1:{port}/sesame");
    let all = migrate_status_failure(&url).await;
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(all.contains("timeout"), "{all}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tls_handshake_with_postgres_is_named() {
    // Agrees to TLS (`S`, PostgreSQL protocol 54.2.10 SSLRequest), then sends no TLS at all.
    let (port, server) = odd_server(b"S", b"this is not a TLS record\r\n").await;
    let url = format!("postgres://postgres:{DB_SECRET}@127.0.0.1:{port}/sesame?sslmode=require");
    let all = migrate_status_failure(&url).await;
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(all.contains("TLS failed"), "{all}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_in_a_missing_directory_is_named() {
    let dir = TempDir::new();
    let file = dir.path().join("no-such-dir").join("sesame.db");
    let mut cmd = sesame(dir.path());
    cmd.args([
        "--database-url",
        &format!("sqlite://{}", file.display()),
        "migrate",
        "up",
    ]);
    let all = failure(&run(cmd, None).await);
    assert!(all.contains(&file.display().to_string()), "{all}");
    assert!(all.contains("does not exist"), "{all}");
    assert!(
        !dir.path().join("no-such-dir").exists(),
        "nothing is created"
    );
}

// ---------------------------------------------------------------------------------------------
// The .env file
// ---------------------------------------------------------------------------------------------

/// Runs `migrate up` in `dir` (creating the SQLite file the settings name) and asserts success.
async fn migrate_up(mut cmd: tokio::process::Command) {
    cmd.args(["migrate", "up"]);
    let out = run(cmd, None).await;
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_come_from_flags_then_environment_then_dotenv_then_defaults() {
    let dir = TempDir::new();
    let p = dir.path();
    std::fs::write(
        p.join(".env"),
        "# settings for this folder\nSESAME_DATABASE_URL=sqlite://from-dotenv.db\n\
         SESAME_LOG_LEVEL=warn\n",
    )
    .unwrap();

    // `.env` over the default (sesame.db).
    migrate_up(sesame(p)).await;
    assert!(p.join("from-dotenv.db").is_file(), "the .env value applies");
    assert!(!p.join("sesame.db").exists(), "the default was not used");

    // The environment over `.env`.
    let mut cmd = sesame(p);
    cmd.env("SESAME_DATABASE_URL", "sqlite://from-env.db");
    migrate_up(cmd).await;
    assert!(
        p.join("from-env.db").is_file(),
        "the environment wins over .env"
    );

    // A flag over both.
    let mut cmd = sesame(p);
    cmd.env("SESAME_DATABASE_URL", "sqlite://from-env-2.db")
        .args(["--database-url", "sqlite://from-flag.db"]);
    migrate_up(cmd).await;
    assert!(p.join("from-flag.db").is_file(), "the flag wins");
    assert!(
        !p.join("from-env-2.db").exists(),
        "the flag wins over the environment"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sesame_env_file_names_another_file_which_must_exist() {
    let dir = TempDir::new();
    let p = dir.path();
    std::fs::create_dir_all(p.join("conf")).unwrap();
    std::fs::write(
        p.join("conf/prod.env"),
        "SESAME_DATABASE_URL=sqlite://from-named-file.db\n",
    )
    .unwrap();
    // A `.env` in the folder is not read when another file is named.
    std::fs::write(
        p.join(".env"),
        "SESAME_DATABASE_URL=sqlite://from-dotenv.db\n",
    )
    .unwrap();
    let mut cmd = sesame(p);
    cmd.env("SESAME_ENV_FILE", "conf/prod.env");
    migrate_up(cmd).await;
    assert!(p.join("from-named-file.db").is_file());
    assert!(!p.join("from-dotenv.db").exists());

    let mut cmd = sesame(p);
    cmd.env("SESAME_ENV_FILE", "conf/missing.env")
        .args(["migrate", "up"]);
    let all = failure(&run(cmd, None).await);
    assert!(all.contains("SESAME_ENV_FILE"), "{all}");
    assert!(all.contains("conf/missing.env"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_dotenv_line_is_named_without_its_value() {
    let dir = TempDir::new();
    let p = dir.path();
    std::fs::write(
        p.join(".env"),
        format!(
            "# comment\nSESAME_LOG_LEVEL=info\n\nSESAME_SMTP_URL smtp://u:{SMTP_SECRET}@mail:587\n"
        ),
    )
    .unwrap();
    let mut cmd = sesame(p);
    cmd.args(["migrate", "up"]);
    let all = failure(&run(cmd, None).await);
    assert!(all.contains(".env"), "{all}");
    assert!(all.contains("line 4"), "{all}");
    assert!(all.contains("SESAME_SMTP_URL"), "{all}");
    assert!(
        !all.contains(SMTP_SECRET),
        "the line's value was printed: {all}"
    );
    assert!(
        !p.join("sesame.db").exists(),
        "stopped before doing anything"
    );
}

#[test]
fn env_example_lists_only_real_settings_with_values_that_parse() {
    use clap::{CommandFactory as _, Parser as _};
    fn collect(cmd: &clap::Command, names: &mut std::collections::BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                names.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            collect(sub, names);
        }
    }
    let mut known = std::collections::BTreeSet::new();
    collect(&sesame::cli::Cli::command(), &mut known);
    known.insert(sesame::envfile::ENV_FILE_VAR.to_owned());

    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.env.example"))
            .unwrap();
    let mut listed = 0;
    for line in example.lines() {
        // `SESAME_X=…` and the commented-out `# SESAME_X=…` both name a setting.
        let setting = line.trim_start_matches(['#', ' ']);
        let Some((name, _)) = setting.split_once('=') else {
            continue;
        };
        if !name.starts_with("SESAME_") || name.contains(' ') {
            continue;
        }
        listed += 1;
        assert!(
            known.contains(name),
            ".env.example lists {name}, which is no setting"
        );
    }
    assert!(listed > 30, "only {listed} settings found in .env.example");

    // Its uncommented values, read as `.env` is read and given as flags, make a valid `serve`.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.env.example");
    let cli = sesame::cli::Cli::command();
    let serve = cli.find_subcommand("serve").unwrap();
    let mut args = vec!["sesame".to_owned(), "serve".to_owned()];
    for item in dotenvy::from_path_iter(&path).unwrap() {
        let (name, value) = item.unwrap_or_else(|e| panic!(".env.example does not parse: {e}"));
        let arg = cli
            .get_arguments()
            .chain(serve.get_arguments())
            .find(|a| a.get_env().is_some_and(|e| e == name.as_str()))
            .unwrap_or_else(|| panic!("{name} is no setting"));
        let long = arg.get_long().unwrap();
        if arg.get_action().takes_values() {
            args.push(format!("--{long}={value}"));
        } else if value == "true" {
            args.push(format!("--{long}"));
        }
    }
    let parsed = sesame::cli::Cli::try_parse_from(&args)
        .unwrap_or_else(|e| panic!(".env.example's values are refused: {e}"));
    let sesame::cli::Command::Serve(mut cfg) = parsed.command else {
        unreachable!()
    };
    cfg.validate()
        .unwrap_or_else(|e| panic!(".env.example's values are refused: {e}"));
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/// A running `sesame serve` whose stdout (JSON log lines) is collected.
struct Serving {
    child: tokio::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    log: Vec<String>,
    stderr: JoinHandleString,
}

type JoinHandleString = tokio::task::JoinHandle<String>;

impl Serving {
    fn start(mut cmd: tokio::process::Command) -> Self {
        cmd.env("SESAME_LISTEN", "127.0.0.1:0")
            .env("SESAME_LOG_FORMAT", "json")
            .env("SESAME_ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
            .arg("serve")
            .args(FAST_HASH);
        let mut child = cmd.spawn().expect("start sesame serve");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().unwrap();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr_pipe.read_to_string(&mut s).await;
            s
        });
        Self {
            child,
            lines,
            log: Vec::new(),
            stderr,
        }
    }

    /// Reads log lines until one whose message is `message` (within 20 s) and returns it.
    async fn wait_for(&mut self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!("sesame exited; log: {:#?}", self.log),
                Err(_) => panic!("no `{message}` line within 20 s: {:#?}", self.log),
            };
            self.log.push(line.clone());
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            if v["fields"]["message"] == message {
                return v;
            }
        }
    }

    /// Stops the server (SIGTERM) and returns everything it printed.
    async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.start_kill();
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            self.log.push(line);
        }
        let stderr = self.stderr.await.unwrap_or_default();
        format!("{}\n{stderr}", self.log.join("\n"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_and_request_lines_say_what_runs_and_who_asked_but_never_a_password() {
    let db = TestDb::new(Backend::Postgres).await;
    let database = url::Url::parse(&db.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let (host, port) = pg_address();
    let db_url = with_password(&db.url, "postgres", DB_SECRET);
    let sink = SmtpSink::start().await;
    let smtp_url = format!(
        "smtp://mailer:{SMTP_SECRET}@127.0.0.1:{}?tls=none",
        sink.port()
    );
    let redis_url = format!("redis://:{REDIS_SECRET}@127.0.0.1:6379");
    let dir = TempDir::new();
    let serve = |dir: &Path| {
        let mut cmd = sesame(dir);
        cmd.env("SESAME_DATABASE_URL", &db_url)
            .env("SESAME_MAIL_TRANSPORT", "smtp")
            .env("SESAME_SMTP_URL", &smtp_url)
            .env("SESAME_REDIS_URL", &redis_url)
            .env("SESAME_TRUSTED_PROXIES", "127.0.0.1");
        Serving::start(cmd)
    };

    let mut server = serve(dir.path());
    let start = server.wait_for("sesame starting").await;
    let f = &start["fields"];
    assert_eq!(f["version"], env!("CARGO_PKG_VERSION"), "{start}");
    assert_eq!(
        f["storage"],
        format!("postgres {host}:{port}/{database}"),
        "{start}"
    );
    assert_eq!(
        f["mail"],
        format!("smtp 127.0.0.1:{} (no TLS)", sink.port()),
        "{start}"
    );
    assert_eq!(
        f["rate_limiter"], "redis 127.0.0.1:6379 (fail open)",
        "{start}"
    );
    let migrations = f["migrations"].as_str().unwrap();
    assert!(migrations.starts_with("applied 1 "), "{start}");
    let version = f["schema_version"].as_i64().unwrap();
    assert!(
        migrations.ends_with(&format!("schema at version {version}")),
        "{start}"
    );
    let listening = server.wait_for("sesame is listening").await;
    let addr = listening["fields"]["listen"].as_str().unwrap().to_owned();

    // Through a trusted proxy (the test itself, at 127.0.0.1) for a client at 203.0.113.7.
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/health/live"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("user-agent", "ops-test/1.0 (logs)")
        .header("x-request-id", "ops-log-1")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let line = loop {
        let line = server.wait_for("request finished").await;
        if line["span"]["request_id"] == "ops-log-1" {
            break line;
        }
    };
    let f = &line["fields"];
    assert_eq!(f["client_ip"], "203.0.113.7", "{line}");
    assert_eq!(f["user_agent"], "ops-test/1.0 (logs)", "{line}");
    let raw = server.log.last().unwrap().clone();
    let latency = raw
        .split("\"latency_ms\":")
        .nth(1)
        .and_then(|rest| rest.split([',', '}']).next())
        .unwrap_or_else(|| panic!("no latency_ms in {raw}"));
    assert!(f["latency_ms"].is_number(), "{line}");
    let decimals = latency.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(
        decimals <= 3,
        "latency_ms `{latency}` has float noise: {raw}"
    );
    let first_run = server.stop().await;

    // A second start finds nothing to migrate.
    let mut server = serve(dir.path());
    let again = server.wait_for("sesame starting").await;
    assert_eq!(
        again["fields"]["migrations"],
        format!("schema up to date at version {version}"),
        "{again}"
    );
    let second_run = server.stop().await;

    for out in [&first_run, &second_run] {
        for secret in [DB_SECRET, SMTP_SECRET, REDIS_SECRET] {
            assert!(!out.contains(secret), "`{secret}` was logged:\n{out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_line_names_the_sqlite_file_and_the_log_transport() {
    let dir = TempDir::new();
    let mut server = Serving::start(sesame(dir.path()));
    let start = server.wait_for("sesame starting").await;
    let f = &start["fields"];
    assert_eq!(f["storage"], "sqlite sesame.db", "{start}");
    assert_eq!(f["mail"], "log", "{start}");
    assert_eq!(f["rate_limiter"], "memory", "{start}");
    server.stop().await;
}
