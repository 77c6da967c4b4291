//! The crash campaign (issue 10, "Keep it tested"): the real `sesame` binary, a child process,
//! is killed with SIGKILL while concurrent requests are in flight, restarted on the same
//! database, and every write it acknowledged before the kill must hold; then again, for
//! `SESAME_CRASH_CYCLES` cycles (default 3, kept small for CI; raise it for a longer manual
//! campaign). docs/reliability/crash.md records the promise and the figures.
//!
//! The ledger holds only what got its success answer. Each account is driven by one worker at a
//! time, so its writes are ordered and the ledger knows the state each answer left behind:
//! registrations, logins (a chain of refresh tokens each), refresh rotations (the answered
//! successor replaces its predecessor), logouts, logout-all and password changes. A write whose
//! answer was lost in the kill is not acknowledged: a lost registration or password change is
//! resolved after the restart (either outcome is fine, a third is not), and a chain touched by a
//! lost request becomes *unknown* and is skipped — presenting a refresh token whose successor was
//! issued but never delivered is reuse after the grace window, which rightly revokes the family.
//! Straight from the database, no write is half done, its audit row included: every session has
//! its `login.succeeded` row, every account its `user.registered` row, every changed password its
//! `password.changed` row, whether or not the answer was lost.
//!
//! It checks durability and atomicity across a process kill, not across power loss (SQLite's
//! `synchronous=NORMAL` in WAL mode may lose the last commits when the machine stops, never when
//! the process does).

use crate::helpers::{
    Backend, TestDb, FAST_HASH, PASSWORD, TEST_ENCRYPTION_KEY, TEST_SERVE_DEFAULTS,
};
use crate::on_every_backend;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kill/restart cycles per backend unless `SESAME_CRASH_CYCLES` says otherwise.
const DEFAULT_CYCLES: usize = 3;
/// Concurrent load workers; each owns its accounts.
const WORKERS: usize = 12;
/// Load runs this long (random, milliseconds) before each kill.
const LOAD_MS: std::ops::RangeInclusive<u64> = 300..=1500;
/// Verification runs on this many tasks at once.
const VERIFIERS: usize = 6;
/// An account opens no new session while it has this many live ones, and the ledger keeps no
/// more of them across a restart.
const MAX_LIVE_CHAINS: usize = 4;
/// Accounts a worker keeps driving across restarts; older ones retire once verified.
const MAX_ACCOUNTS: usize = 25;

on_every_backend!(acknowledged_writes_survive_kill_9_under_load);

// ---------------------------------------------------------------------------------------------
// The server as a child process
// ---------------------------------------------------------------------------------------------

/// A directory for the servers' logs, removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let p =
            std::env::temp_dir().join(format!("sesame-crash-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `sesame serve`, killed when dropped.
struct Server {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Server {
    /// Starts the binary on `database_url` (a free loopback port, fast hashing, the test suite's
    /// relaxed rate limits) and waits, at most 60 s, for `/health/ready` to answer 200.
    async fn start(database_url: &str, log: PathBuf) -> (Self, Duration) {
        let addr = format!("127.0.0.1:{}", free_port());
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sesame"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SESAME_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["--database-url", database_url, "--log-level", "warn"])
            .args([
                "serve",
                "--listen",
                &addr,
                "--public-url",
                "http://sesame.test",
            ])
            .args(FAST_HASH);
        for (flag, value) in TEST_SERVE_DEFAULTS {
            cmd.args([flag, value]);
        }
        cmd.args(["--encryption-key", TEST_ENCRYPTION_KEY]);
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn().expect("start sesame");
        let base = format!("http://{addr}");
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = started + Duration::from_secs(60);
        loop {
            let ready = probe.get(format!("{base}/health/ready")).send().await;
            if matches!(&ready, Ok(r) if r.status() == 200) {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "sesame exited ({status}) before it was ready:\n{}",
                    tail(&log)
                );
            }
            assert!(
                Instant::now() < deadline,
                "sesame was not ready within 60 s:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ready_after = started.elapsed();
        (Self { child, base, log }, ready_after)
    }

    /// SIGKILL, and reap the process.
    async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL sesame");
        let status = self.child.wait().await.unwrap();
        assert!(
            !status.success(),
            "sesame ended by itself before the kill:\n{}",
            tail(&self.log)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and the tally
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Register,
    Login,
    Refresh,
    Logout,
    LogoutAll,
    PasswordChange,
}

const KINDS: [Kind; 6] = [
    Kind::Register,
    Kind::Login,
    Kind::Refresh,
    Kind::Logout,
    Kind::LogoutAll,
    Kind::PasswordChange,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::Logout => "logout",
            Self::LogoutAll => "logout-all",
            Self::PasswordChange => "password change",
        }
    }
}

/// Counters shared by the workers and verifiers, and the list of broken promises.
#[derive(Default)]
struct Tally {
    acked: [AtomicUsize; 6],
    /// Sent, but the answer never came (the kill).
    lost: [AtomicUsize; 6],
    /// Chains skipped because a request touching them lost its answer, by that request's kind.
    unknown_chains: [AtomicUsize; 6],
    lost_registrations_applied: AtomicUsize,
    lost_registrations_not_applied: AtomicUsize,
    lost_password_changes_applied: AtomicUsize,
    lost_password_changes_not_applied: AtomicUsize,
    verified_logins: AtomicUsize,
    verified_old_passwords_refused: AtomicUsize,
    verified_live_chains: AtomicUsize,
    verified_ended_chains: AtomicUsize,
    retired_accounts: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

fn add(counter: &AtomicUsize) {
    counter.fetch_add(1, Relaxed);
}

fn counter(counters: &[AtomicUsize; 6], kind: Kind) -> &AtomicUsize {
    let i = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
    &counters[i]
}

impl Tally {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }

    fn line(counters: &[AtomicUsize; 6]) -> String {
        KINDS
            .iter()
            .map(|k| format!("{} {}", k.name(), counter(counters, *k).load(Relaxed)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn total(counters: &[AtomicUsize; 6]) -> usize {
        counters.iter().map(|c| c.load(Relaxed)).sum()
    }
}

enum Answer {
    /// Status and JSON body (`Null` when there is none).
    Got(u16, Value),
    /// No answer: the connection failed or broke (the server was killed).
    Lost,
}

/// One server's client; counts the requests in flight.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
    in_flight: Arc<AtomicUsize>,
}

impl Http {
    fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base: base.to_owned(),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn call(
        &self,
        post: bool,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut rb = if post {
            self.client.post(url)
        } else {
            self.client.get(url)
        };
        if let Some(t) = bearer {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.in_flight.fetch_add(1, Relaxed);
        let answer = async {
            let resp = rb.send().await.ok()?;
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.ok()?;
            Some(Answer::Got(
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ))
        }
        .await;
        self.in_flight.fetch_sub(1, Relaxed);
        answer.unwrap_or(Answer::Lost)
    }

    async fn register(&self, email: &str) -> Answer {
        let body = json!({"email": email, "password": PASSWORD});
        self.call(true, "/api/v1/auth/register", None, Some(body))
            .await
    }

    async fn login(&self, email: &str, password: &str) -> Answer {
        let body = json!({"email": email, "password": password});
        self.call(true, "/api/v1/auth/login", None, Some(body))
            .await
    }

    async fn refresh(&self, token: &str) -> Answer {
        let body = json!({"refresh_token": token});
        self.call(true, "/api/v1/auth/refresh", None, Some(body))
            .await
    }

    async fn me(&self, access: &str) -> Answer {
        self.call(false, "/api/v1/users/me", Some(access), None)
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger
// ---------------------------------------------------------------------------------------------

/// One session as the client knows it: its latest answered tokens.
struct Chain {
    access: String,
    refresh: String,
    /// An acknowledged logout, logout-all or password change (from another session) ended it.
    ended: bool,
}

impl Chain {
    /// From a token answer; `None` when the body lacks its tokens.
    fn from_answer(body: &Value) -> Option<Self> {
        Some(Self {
            access: body["access_token"].as_str()?.to_owned(),
            refresh: body["refresh_token"].as_str()?.to_owned(),
            ended: false,
        })
    }
}

/// An account whose registration was acknowledged.
struct Account {
    email: String,
    password: String,
    /// The password an acknowledged change replaced: it must be refused.
    old_password: Option<String>,
    /// A change whose answer was lost: either password may hold after the restart.
    pending_password: Option<String>,
    chains: Vec<Chain>,
}

impl Account {
    fn new(email: String) -> Self {
        Self {
            email,
            password: PASSWORD.to_owned(),
            old_password: None,
            pending_password: None,
            chains: Vec::new(),
        }
    }
}

/// What one worker owns: its accounts, and registrations whose answer was lost.
#[derive(Default)]
struct Slot {
    accounts: Vec<Account>,
    lost_registrations: Vec<String>,
}

fn fresh_email() -> String {
    format!("crash-{}@example.com", uuid::Uuid::now_v7().simple())
}

fn fresh_password() -> String {
    format!("{} lantern orbit", uuid::Uuid::new_v4().simple())
}

fn unexpected(tally: &Tally, what: &str, status: u16, body: &Value) {
    tally.fail(format!("{what}: unexpected {status} {body}"));
}

/// Drives the slot's accounts until `stop` is set or a request loses its answer (the kill).
/// Every answer before the kill must be the success answer: the load is well-formed and the
/// limits are relaxed, so anything else is itself a broken promise.
async fn load(mut slot: Slot, http: Http, stop: Arc<AtomicBool>, tally: Arc<Tally>) -> Slot {
    let mut rng = StdRng::from_entropy();
    while !stop.load(Relaxed) {
        if slot.accounts.is_empty() || rng.gen_bool(0.2) {
            let email = fresh_email();
            match http.register(&email).await {
                Answer::Got(201, _) => {
                    add(counter(&tally.acked, Kind::Register));
                    slot.accounts.push(Account::new(email));
                }
                Answer::Got(s, b) => return fail_load(slot, &tally, "register", s, &b),
                Answer::Lost => {
                    add(counter(&tally.lost, Kind::Register));
                    slot.lost_registrations.push(email);
                    return slot;
                }
            }
            continue;
        }
        let i = rng.gen_range(0..slot.accounts.len());
        let account = &mut slot.accounts[i];
        let live: Vec<usize> = (0..account.chains.len())
            .filter(|&c| !account.chains[c].ended)
            .collect();
        let kind = if live.is_empty() {
            Kind::Login
        } else {
            match rng.gen_range(0..100) {
                0..=54 => Kind::Refresh,
                55..=69 if live.len() < MAX_LIVE_CHAINS => Kind::Login,
                55..=84 => Kind::Logout,
                85..=92 => Kind::LogoutAll,
                _ => Kind::PasswordChange,
            }
        };
        let c = live.get(rng.gen_range(0..live.len().max(1))).copied();
        if !drive(account, kind, c, &http, &tally).await {
            return slot;
        }
    }
    slot
}

fn fail_load(slot: Slot, tally: &Tally, what: &str, status: u16, body: &Value) -> Slot {
    unexpected(tally, &format!("{what} during the load"), status, body);
    slot
}

/// Runs one write for `account` (on chain `c` where it needs one) and records its outcome;
/// `false` when the worker must stop (an answer was lost or wrong).
async fn drive(
    account: &mut Account,
    kind: Kind,
    c: Option<usize>,
    http: &Http,
    tally: &Tally,
) -> bool {
    let what = format!("{} of {}", kind.name(), account.email);
    let success = match kind {
        Kind::Logout | Kind::LogoutAll => 204,
        Kind::Register => 201,
        Kind::Login | Kind::Refresh | Kind::PasswordChange => 200,
    };
    let answer = match (kind, c) {
        (Kind::Login, _) => http.login(&account.email, &account.password).await,
        (Kind::Refresh, Some(c)) => http.refresh(&account.chains[c].refresh).await,
        (Kind::Logout, Some(c)) => {
            let at = account.chains[c].access.clone();
            http.call(true, "/api/v1/auth/logout", Some(&at), None)
                .await
        }
        (Kind::LogoutAll, Some(c)) => {
            let at = account.chains[c].access.clone();
            http.call(true, "/api/v1/auth/logout-all", Some(&at), None)
                .await
        }
        (Kind::PasswordChange, Some(c)) => {
            let at = account.chains[c].access.clone();
            let new = fresh_password();
            let body = json!({"current_password": account.password, "new_password": new});
            let answer = http
                .call(true, "/api/v1/users/me/password", Some(&at), Some(body))
                .await;
            if matches!(answer, Answer::Lost) {
                account.pending_password = Some(new);
            } else if matches!(answer, Answer::Got(200, _)) {
                account.old_password = Some(std::mem::replace(&mut account.password, new));
            }
            answer
        }
        _ => return true,
    };
    let body = match answer {
        Answer::Lost => {
            add(counter(&tally.lost, kind));
            // Which chains this write may have changed: those become unknown.
            let unknown: Vec<usize> = match (kind, c) {
                (Kind::Refresh | Kind::Logout, Some(c)) => vec![c],
                (Kind::LogoutAll | Kind::PasswordChange, _) => (0..account.chains.len())
                    .filter(|&i| !account.chains[i].ended)
                    .collect(),
                _ => Vec::new(),
            };
            for i in unknown.iter().rev() {
                account.chains.remove(*i);
            }
            counter(&tally.unknown_chains, kind).fetch_add(unknown.len(), Relaxed);
            return false;
        }
        Answer::Got(s, body) if s == success => body,
        Answer::Got(s, body) => {
            unexpected(tally, &format!("{what} during the load"), s, &body);
            return false;
        }
    };
    add(counter(&tally.acked, kind));
    match (kind, c) {
        (Kind::Login, _) => match Chain::from_answer(&body) {
            Some(chain) => account.chains.push(chain),
            None => unexpected(tally, &what, 200, &body),
        },
        (Kind::Refresh | Kind::PasswordChange, Some(c)) => {
            let Some(chain) = Chain::from_answer(&body) else {
                unexpected(tally, &what, 200, &body);
                return false;
            };
            if kind == Kind::PasswordChange {
                for other in &mut account.chains {
                    other.ended = true;
                }
            }
            account.chains[c] = chain;
        }
        (Kind::Logout, Some(c)) => account.chains[c].ended = true,
        (Kind::LogoutAll, _) => {
            for chain in &mut account.chains {
                chain.ended = true;
            }
        }
        _ => {}
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Verification after a restart
// ---------------------------------------------------------------------------------------------

/// Logs in with `password`: `Some(chain)` on 200, `None` on 401; anything else is a failure.
async fn try_login(
    http: &Http,
    tally: &Tally,
    email: &str,
    password: &str,
    what: &str,
) -> Option<Option<Chain>> {
    match http.login(email, password).await {
        Answer::Got(200, body) => {
            add(&tally.verified_logins);
            let chain = Chain::from_answer(&body);
            if chain.is_none() {
                unexpected(tally, what, 200, &body);
            }
            Some(chain)
        }
        Answer::Got(401, _) => Some(None),
        Answer::Got(s, body) => {
            unexpected(tally, what, s, &body);
            None
        }
        Answer::Lost => {
            tally.fail(format!("{what}: no answer from the restarted server"));
            None
        }
    }
}

/// Checks every ledger entry of the slot against the restarted server, resolves the writes
/// whose answer was lost, and leaves the slot ready for the next cycle.
async fn verify(mut slot: Slot, http: Http, tally: Arc<Tally>) -> Slot {
    let tally = &*tally;
    for email in std::mem::take(&mut slot.lost_registrations) {
        let what = format!("login of {email} (registration answer lost)");
        match try_login(&http, tally, &email, PASSWORD, &what).await {
            Some(Some(chain)) => {
                add(&tally.lost_registrations_applied);
                let mut account = Account::new(email);
                account.chains.push(chain);
                slot.accounts.push(account);
            }
            Some(None) => add(&tally.lost_registrations_not_applied),
            None => {}
        }
    }
    for account in &mut slot.accounts {
        verify_account(account, &http, tally).await;
    }
    // Accounts beyond the bound have just been checked after their last load write; retiring
    // the oldest keeps a long campaign's cycles the same length.
    let excess = slot.accounts.len().saturating_sub(MAX_ACCOUNTS);
    slot.accounts.drain(..excess);
    tally.retired_accounts.fetch_add(excess, Relaxed);
    slot
}

async fn verify_account(account: &mut Account, http: &Http, tally: &Tally) {
    let email = account.email.clone();
    let what = format!("login of {email}");
    let Some(current) = try_login(http, tally, &email, &account.password, &what).await else {
        return;
    };
    let mut opened = current;
    if let Some(new) = account.pending_password.take() {
        let what = format!("login of {email} with the password of a change whose answer was lost");
        let Some(with_new) = try_login(http, tally, &email, &new, &what).await else {
            return;
        };
        match (opened.is_some(), with_new) {
            (true, None) => add(&tally.lost_password_changes_not_applied),
            (false, Some(chain)) => {
                add(&tally.lost_password_changes_applied);
                account.old_password = Some(std::mem::replace(&mut account.password, new));
                opened = Some(chain);
            }
            (true, Some(_)) => {
                tally.fail(format!("{email}: both the old and the new password log in"))
            }
            (false, None) => tally.fail(format!(
                "{email}: neither the old nor the new password logs in after a lost password change"
            )),
        }
    } else if opened.is_none() {
        tally.fail(format!(
            "{email}: acknowledged registration or password change lost: the password is refused"
        ));
    } else if let Some(old) = &account.old_password {
        let what = format!("login of {email} with the password an acknowledged change replaced");
        match try_login(http, tally, &email, old, &what).await {
            Some(None) => add(&tally.verified_old_passwords_refused),
            Some(Some(_)) => tally.fail(format!(
                "{email}: acknowledged password change undone: the old password logs in"
            )),
            None => {}
        }
    }
    let mut kept = Vec::new();
    for mut chain in std::mem::take(&mut account.chains) {
        if chain.ended {
            let r = http.refresh(&chain.refresh).await;
            let m = http.me(&chain.access).await;
            match (r, m) {
                (Answer::Got(401, _), Answer::Got(401, _)) => add(&tally.verified_ended_chains),
                (r, m) => tally.fail(format!(
                    "{email}: an acknowledged logout lost: refresh {}, /users/me {}",
                    show(&r),
                    show(&m)
                )),
            }
            continue;
        }
        let m = http.me(&chain.access).await;
        let r = http.refresh(&chain.refresh).await;
        match (&m, r) {
            (Answer::Got(200, _), Answer::Got(200, body)) => match Chain::from_answer(&body) {
                Some(next) => {
                    add(&tally.verified_live_chains);
                    chain = next;
                    kept.push(chain);
                }
                None => unexpected(tally, &format!("refresh of {email}"), 200, &body),
            },
            (_, r) => tally.fail(format!(
                "{email}: an acknowledged session or rotation lost: /users/me {}, refresh of the latest answered token {}",
                show(&m),
                show(&r)
            )),
        }
    }
    kept.extend(opened);
    // Sessions beyond the bound have just been checked; the ledger forgets the oldest.
    let excess = kept.len().saturating_sub(MAX_LIVE_CHAINS);
    kept.drain(..excess);
    account.chains = kept;
}

fn show(a: &Answer) -> String {
    match a {
        Answer::Got(s, b) => format!("{s} {b}"),
        Answer::Lost => "no answer".into(),
    }
}

/// Direct SQL: nothing unacknowledged was left half done where it shows, an account-changing
/// write without its audit row included (the row is written in the write's own transaction).
async fn check_half_done(db: &TestDb, tally: &Tally) {
    let count = |sql: &'static str| async move {
        db.text(sql)
            .await
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    let checks: [(&str, &'static str); 5] = [
        (
            "users without a normalized email or a password hash",
            "SELECT CAST(COUNT(*) AS TEXT) FROM users \
             WHERE email_normalized IS NULL OR email_normalized = '' \
             OR password_hash IS NULL OR password_hash = ''",
        ),
        (
            "live sessions without exactly one unused refresh token (a half-done rotation)",
            "SELECT CAST(COUNT(*) AS TEXT) FROM sessions s WHERE s.revoked_at IS NULL AND \
             (SELECT COUNT(*) FROM refresh_tokens t WHERE t.session_id = s.id AND t.used_at IS NULL) <> 1",
        ),
        (
            "sessions minus their login.succeeded audit rows (written in one transaction)",
            "SELECT CAST((SELECT COUNT(*) FROM sessions) - \
             (SELECT COUNT(*) FROM audit_events WHERE event = 'login.succeeded') AS TEXT)",
        ),
        (
            "users without their user.registered audit row (written in one transaction)",
            "SELECT CAST(COUNT(*) AS TEXT) FROM users u WHERE NOT EXISTS \
             (SELECT 1 FROM audit_events e WHERE e.user_id = u.id AND e.event = 'user.registered')",
        ),
        (
            // Under this load only a password change touches `updated_at`.
            "users with a changed password without a password.changed audit row (one transaction)",
            "SELECT CAST(COUNT(*) AS TEXT) FROM users u WHERE u.updated_at > u.created_at AND NOT EXISTS \
             (SELECT 1 FROM audit_events e WHERE e.user_id = u.id AND e.event = 'password.changed')",
        ),
    ];
    for (what, sql) in checks {
        let n = count(sql).await;
        if n != 0 {
            tally.fail(format!("half done after the kill: {what}: {n}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The campaign
// ---------------------------------------------------------------------------------------------

struct Cycle {
    load: Duration,
    in_flight_at_kill: usize,
    ready_after: Duration,
    unknown_chains: usize,
    accounts: usize,
}

fn cycles() -> usize {
    std::env::var("SESAME_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_CYCLES)
}

async fn acknowledged_writes_survive_kill_9_under_load(b: Backend) {
    let began = Instant::now();
    let cycles = cycles();
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    let tally = Arc::new(Tally::default());
    let mut slots: Vec<Slot> = (0..WORKERS).map(|_| Slot::default()).collect();
    let mut report = Vec::new();
    let (mut server, _) = Server::start(&db.url, dir.0.join("server-0.log")).await;
    for cycle in 1..=cycles {
        let unknown_before = Tally::total(&tally.unknown_chains);
        let http = Http::new(&server.base);
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = slots
            .drain(..)
            .map(|s| tokio::spawn(load(s, http.clone(), stop.clone(), tally.clone())))
            .collect();
        let load_for = Duration::from_millis(rand::thread_rng().gen_range(LOAD_MS));
        // The load window itself, not a wait for a condition.
        tokio::time::sleep(load_for).await;
        stop.store(true, Relaxed);
        let in_flight_at_kill = http.in_flight.load(Relaxed);
        server.kill().await;
        for w in workers {
            slots.push(w.await.unwrap());
        }

        let started;
        (server, started) = Server::start(&db.url, dir.0.join(format!("server-{cycle}.log"))).await;
        check_half_done(&db, &tally).await;
        let http = Http::new(&server.base);
        let mut verified = Vec::with_capacity(WORKERS);
        let mut queue = slots.drain(..);
        loop {
            let batch: Vec<_> = queue
                .by_ref()
                .take(VERIFIERS)
                .map(|s| tokio::spawn(verify(s, http.clone(), tally.clone())))
                .collect();
            if batch.is_empty() {
                break;
            }
            for v in batch {
                verified.push(v.await.unwrap());
            }
        }
        drop(queue);
        slots = verified;
        report.push(Cycle {
            load: load_for,
            in_flight_at_kill,
            ready_after: started,
            unknown_chains: Tally::total(&tally.unknown_chains) - unknown_before,
            accounts: slots.iter().map(|s| s.accounts.len()).sum(),
        });
        let failures = tally.failures.lock().unwrap().len();
        if failures > 0 {
            break;
        }
    }
    server.kill().await;

    let t = &*tally;
    eprintln!(
        "crash campaign ({b:?}): {} cycles in {:.1} s, {WORKERS} workers",
        report.len(),
        began.elapsed().as_secs_f64()
    );
    for (i, c) in report.iter().enumerate() {
        eprintln!(
            "  cycle {}: load {} ms, in flight at kill {}, restart ready in {} ms, unknown chains {}, accounts {}",
            i + 1,
            c.load.as_millis(),
            c.in_flight_at_kill,
            c.ready_after.as_millis(),
            c.unknown_chains,
            c.accounts
        );
    }
    eprintln!("  acknowledged: {}", Tally::line(&t.acked));
    eprintln!("  answer lost in the kill: {}", Tally::line(&t.lost));
    eprintln!(
        "  unknown chains (skipped), by the lost request: {}",
        Tally::line(&t.unknown_chains)
    );
    eprintln!(
        "  lost registrations: {} applied, {} not; lost password changes: {} applied, {} not",
        t.lost_registrations_applied.load(Relaxed),
        t.lost_registrations_not_applied.load(Relaxed),
        t.lost_password_changes_applied.load(Relaxed),
        t.lost_password_changes_not_applied.load(Relaxed)
    );
    eprintln!(
        "  verified: {} logins, {} replaced passwords refused, {} live chains rotated, {} ended chains refused",
        t.verified_logins.load(Relaxed),
        t.verified_old_passwords_refused.load(Relaxed),
        t.verified_live_chains.load(Relaxed),
        t.verified_ended_chains.load(Relaxed)
    );
    eprintln!(
        "  accounts retired after their last check: {}",
        t.retired_accounts.load(Relaxed)
    );

    let failures = tally.failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} broken promises, first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(report.len(), cycles);
    assert!(
        report.iter().map(|c| c.in_flight_at_kill).sum::<usize>() > 0,
        "no kill landed while requests were in flight"
    );
    for kind in [Kind::Register, Kind::Login, Kind::Refresh] {
        assert!(
            counter(&t.acked, kind).load(Relaxed) > 0,
            "no acknowledged {}",
            kind.name()
        );
    }
}

/// A graceful shutdown (SIGTERM) waits for work whose client has already gone: the registration
/// blocked behind a table lock, abandoned by its client, still commits before the process exits
/// (`Application::run` waits for the request tasks of `http/detach.rs`). Without that wait the
/// process ended as soon as its connections were closed and the registration was rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_finishes_work_whose_client_has_gone() {
    use sqlx::Connection as _;
    use tokio::io::AsyncWriteExt as _;
    let db = TestDb::new(Backend::Postgres).await;
    let dir = TempDir::new();
    let (mut server, _) = Server::start(&db.url, dir.0.join("sesame.log")).await;
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = json!({"email": "late@example.com", "password": PASSWORD}).to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: sesame.test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = server.child.id().expect("the server runs").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock.commit().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
        .await
        .expect("the server exits within its grace period")
        .unwrap();
    assert!(
        status.success(),
        "clean exit: {status}\n{}",
        tail(&server.log)
    );
    let found = db
        .text("SELECT email FROM users WHERE email_normalized = 'late@example.com'")
        .await;
    assert_eq!(
        found.as_deref(),
        Some("late@example.com"),
        "the registration committed"
    );
}
