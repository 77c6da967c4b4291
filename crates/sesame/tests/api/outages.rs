//! Database outages against a PostgreSQL instance the test starts, stops and freezes itself
//! (never the machine's shared one): a stopped database answers 503 `database_unavailable` with
//! `Retry-After` once the acquire timeout has passed, readiness answers within a second whatever
//! the database does, and everything works again when the database is back (issue 10, item 5).

use crate::helpers::{spawn_on, TestDb, PASSWORD};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A throwaway PostgreSQL cluster in a temp directory, on its own port; removed when dropped.
struct PgInstance {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version with pg_ctl")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn run_pg(bin: &Path, tool: &str, args: &[&str]) {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let tool = bin.join(tool);
    let mut cmd = if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&tool);
        c
    } else {
        Command::new(&tool)
    };
    let out = cmd.args(args).output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgInstance {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("sesame-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status();
        let bin = pg_bin();
        let data = dir.join("data");
        let data = data.to_str().unwrap();
        run_pg(
            &bin,
            "initdb",
            &["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        let me = Self {
            dir,
            bin,
            port: free_port(),
        };
        me.pg_ctl_start();
        me
    }

    fn data(&self) -> String {
        self.dir.join("data").to_str().unwrap().to_owned()
    }

    fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").to_str().unwrap().to_owned();
        run_pg(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    fn stop(&self) {
        run_pg(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The postmaster and all its children.
    fn pids(&self) -> Vec<String> {
        let pidfile = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).unwrap();
        let master = pidfile.lines().next().unwrap().trim().to_owned();
        let children = Command::new("pgrep")
            .args(["-P", &master])
            .output()
            .unwrap();
        let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        pids.push(master);
        pids
    }

    /// SIGSTOP (`freeze`) or SIGCONT every process of the instance.
    fn signal_all(&self, signal: &str) {
        for pid in self.pids() {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid)
                .status();
        }
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        if self.dir.join("data/postmaster.pid").exists() {
            self.signal_all("CONT");
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-D", &self.data(), "-m", "immediate", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A test database on `pg`, made through its admin URL.
async fn db_on(pg: &PgInstance) -> TestDb {
    let name = format!("sesame_outage_{}", uuid::Uuid::now_v7().simple());
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.admin_url())
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut c)
        .await
        .unwrap();
    TestDb::unmanaged(
        format!("postgres://postgres@127.0.0.1:{}/{name}", pg.port),
        crate::helpers::Backend::Postgres,
    )
}

async fn eventually_status(app: &crate::helpers::TestApp, path: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = app
            .client
            .get(app.url(path))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if got.as_ref().ok() == Some(&status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never answered {status}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SERVE: &[&str] = &["--request-timeout", "20s", "--session-cache-ttl", "0s"];
const GLOBAL: &[&str] = &[
    "--database-acquire-timeout",
    "1s",
    "--database-max-connections",
    "2",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_answers_503_database_unavailable_and_recovers() {
    let pg = PgInstance::start();
    let app = spawn_on(db_on(&pg).await, GLOBAL, SERVE).await;
    app.create_user("outage@example.com").await;
    let tokens = app.tokens("outage@example.com").await;

    pg.stop();
    let started = Instant::now();
    let r = app.login("outage@example.com", PASSWORD).await;
    let took = started.elapsed();
    assert!(
        r.headers().get("retry-after").is_some(),
        "Retry-After on a 503"
    );
    crate::helpers::assert_problem(r, 503, "database_unavailable").await;
    assert!(
        took < Duration::from_secs(5),
        "answered after the acquire timeout, took {took:?}"
    );
    let r = app.me(tokens["access_token"].as_str().unwrap()).await;
    crate::helpers::assert_problem(r, 503, "database_unavailable").await;
    let r = app.password_grant("outage@example.com", PASSWORD).await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let started = Instant::now();
    let r = app.get("/health/ready").await;
    assert_eq!(r.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "readiness within a second"
    );

    pg.pg_ctl_start();
    eventually_status(&app, "/health/ready", 200).await;
    assert_eq!(
        app.login("outage@example.com", PASSWORD).await.status(),
        200
    );
    let r = app.register("after@example.com", PASSWORD).await;
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_holds_neither_readiness_nor_requests_past_their_deadlines() {
    let pg = PgInstance::start();
    let app = spawn_on(db_on(&pg).await, GLOBAL, SERVE).await;
    app.create_user("frozen@example.com").await;

    pg.signal_all("STOP");
    // Readiness answers within about a second, every time.
    for _ in 0..3 {
        let started = Instant::now();
        let r = app.get("/health/ready").await;
        assert_eq!(r.status(), 503);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "readiness took {:?}",
            started.elapsed()
        );
    }
    // Requests beyond the connections the freeze holds get 503 after the acquire timeout,
    // long before the 20 s request timeout.
    let logins: Vec<_> = (0..6)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/login");
            tokio::spawn(async move {
                let started = Instant::now();
                let r = client
                    .post(url)
                    .json(&json!({"email": "frozen@example.com", "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg.signal_all("CONT");
    let mut quick_503 = 0;
    for l in logins {
        let (status, took) = l.await.unwrap();
        assert!(matches!(status, 200 | 503), "status {status}");
        if status == 503 && took < Duration::from_secs(4) {
            quick_503 += 1;
        }
    }
    assert!(
        quick_503 >= 1,
        "requests waiting for a connection got 503 at the acquire timeout"
    );
    eventually_status(&app, "/health/ready", 200).await;
    assert_eq!(
        app.login("frozen@example.com", PASSWORD).await.status(),
        200
    );
}
