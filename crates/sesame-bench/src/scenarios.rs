//! The scenarios of the performance issue, run against one backend: seed users, then token-checked
//! reads beside the no-op route (with the logout-at-once check), logins beside the raw hashing
//! limit, reads during a login storm, refresh chains, registration, startup on the existing
//! database, and memory idle and under a login storm; the second-factor budgets are in
//! [`second_factor`].
//!
//! Every phase runs for the configured duration against the real server; the comparisons the
//! targets ask for are made between phases of the same run. A phase with no successful request,
//! or a failed correctness check, is a harness failure; a missed speed target never is.

mod second_factor;

use crate::hashing::PASSWORD;
use crate::load::{self, Flow, Outcome, Plan, Req};
use crate::report::{Check, Report, Row, Verdict};
use crate::server::{self, Server, Spec};
use bytes::Bytes;
use hyper::http::HeaderValue;
use hyper::StatusCode;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to run and how hard.
#[derive(Debug, Clone)]
pub struct Config {
    pub duration: Duration,
    pub concurrency: usize,
    pub users: usize,
    /// Concurrent logins of the memory scenario.
    pub storm: usize,
    /// Paced token-checked reads per second during the mixed scenario.
    pub mixed_read_rate: f64,
    pub mixed_readers: usize,
    pub startup_runs: usize,
    pub nproc: usize,
    pub idle_wait: Duration,
    /// Slices of the alternating comparisons (read vs no-op, login vs raw hashing).
    pub slices: usize,
    /// Only these scenarios (names from [`SCENARIOS`]); `None`: all.
    pub only: Option<Vec<String>>,
}

impl Config {
    fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == scenario))
    }
}

// ---------------------------------------------------------------------------------------------
// Flows

#[derive(serde::Deserialize)]
struct TokenBody {
    access_token: String,
    refresh_token: Option<String>,
}

/// An access token (as a ready `Authorization` value) and a refresh token of one session.
#[derive(Clone)]
struct Tokens {
    bearer: HeaderValue,
    refresh: String,
}

fn parse_tokens(body: &Bytes) -> Option<Tokens> {
    let t: TokenBody = serde_json::from_slice(body).ok()?;
    Some(Tokens {
        bearer: HeaderValue::from_str(&format!("Bearer {}", t.access_token)).ok()?,
        refresh: t.refresh_token?,
    })
}

fn credentials(email: &str) -> Bytes {
    Bytes::from(serde_json::json!({"email": email, "password": PASSWORD}).to_string())
}

/// `GET` of a fixed path, optionally cycling through many users' tokens.
struct Get {
    path: &'static str,
    bearers: Option<Arc<Vec<HeaderValue>>>,
    next: usize,
    step: usize,
}

impl Flow for Get {
    fn next(&mut self) -> Option<Req> {
        let bearer = self.bearers.as_ref().map(|b| {
            let v = &b[self.next % b.len()];
            self.next = self.next.wrapping_add(self.step);
            v
        });
        Some(load::request("GET", self.path, bearer, None))
    }

    fn done(&mut self, status: StatusCode, _: &Bytes) -> bool {
        status == StatusCode::OK
    }
}

/// Logs in again and again, cycling through the users.
struct Login {
    bodies: Arc<Vec<Bytes>>,
    next: usize,
    step: usize,
}

impl Flow for Login {
    fn next(&mut self) -> Option<Req> {
        let body = self.bodies[self.next % self.bodies.len()].clone();
        self.next = self.next.wrapping_add(self.step);
        Some(load::request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(body),
        ))
    }

    fn done(&mut self, status: StatusCode, _: &Bytes) -> bool {
        status == StatusCode::OK
    }
}

/// One refresh chain: each answer's refresh token is the next request's.
struct Refresh {
    token: Option<String>,
}

impl Flow for Refresh {
    fn next(&mut self) -> Option<Req> {
        // A broken chain (an unexpected answer) ends this worker rather than spinning on errors.
        let token = self.token.take()?;
        let body = Bytes::from(serde_json::json!({ "refresh_token": token }).to_string());
        Some(load::request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(body),
        ))
    }

    fn done(&mut self, status: StatusCode, body: &Bytes) -> bool {
        if status != StatusCode::OK {
            return false;
        }
        self.token = parse_tokens(body).map(|t| t.refresh);
        self.token.is_some()
    }
}

/// Registers new accounts with unique addresses.
struct Register {
    prefix: String,
    seq: u64,
}

impl Flow for Register {
    fn next(&mut self) -> Option<Req> {
        self.seq += 1;
        let email = format!("{}-{}@bench.example", self.prefix, self.seq);
        Some(load::request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(credentials(&email)),
        ))
    }

    fn done(&mut self, status: StatusCode, _: &Bytes) -> bool {
        status == StatusCode::CREATED
    }
}

/// Works through a shared list once: registers each body (seeding), or logs each in and keeps
/// the tokens.
struct Each {
    path: &'static str,
    bodies: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
    current: usize,
    tokens: Option<Arc<Mutex<Vec<Option<Tokens>>>>>,
}

impl Flow for Each {
    fn next(&mut self) -> Option<Req> {
        self.current = self.next.fetch_add(1, Ordering::Relaxed);
        let body = self.bodies.get(self.current)?.clone();
        Some(load::request("POST", self.path, None, Some(body)))
    }

    fn done(&mut self, status: StatusCode, body: &Bytes) -> bool {
        match &self.tokens {
            None => status == StatusCode::CREATED,
            Some(out) => {
                let Some(t) = parse_tokens(body).filter(|_| status == StatusCode::OK) else {
                    return false;
                };
                if let Ok(mut out) = out.lock() {
                    out[self.current] = Some(t);
                }
                true
            }
        }
    }
}

fn each(
    path: &'static str,
    bodies: &Arc<Vec<Bytes>>,
    workers: usize,
    tokens: Option<&Arc<Mutex<Vec<Option<Tokens>>>>>,
) -> Vec<Box<dyn Flow>> {
    let next = Arc::new(AtomicUsize::new(0));
    (0..workers.min(bodies.len()).max(1))
        .map(|_| {
            Box::new(Each {
                path,
                bodies: Arc::clone(bodies),
                next: Arc::clone(&next),
                current: 0,
                tokens: tokens.map(Arc::clone),
            }) as Box<dyn Flow>
        })
        .collect()
}

/// Logs every body in once; the tokens come back in the bodies' order.
async fn login_each(
    server: &Server,
    bodies: &Arc<Vec<Bytes>>,
    workers: usize,
) -> Result<Vec<Tokens>, String> {
    let out = Arc::new(Mutex::new(vec![None; bodies.len()]));
    let flows = each("/api/v1/auth/login", bodies, workers, Some(&out));
    let o = load::run(
        server.addr,
        flows,
        Plan {
            duration: None,
            interval: None,
        },
    )
    .await?;
    if o.errors > 0 {
        return Err(format!(
            "logging the seeded users in failed: {}",
            o.error_summary()
        ));
    }
    let tokens = out.lock().map_err(|e| e.to_string())?.clone();
    tokens
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| "a seeded login returned no tokens".into())
}

// ---------------------------------------------------------------------------------------------
// Measuring a phase

/// A phase's load outcome plus what the server spent on it.
struct Measured<T> {
    out: T,
    /// Peak RSS during the phase (KiB).
    peak_kib: Option<u64>,
    /// Server CPU time during the phase.
    server_cpu: Option<Duration>,
    /// This process's CPU time (the load generator) during the phase.
    client_cpu: Option<Duration>,
    /// CPU time the whole machine spent busy during the phase (all processes).
    machine_cpu: Option<Duration>,
    wall: Duration,
}

/// Runs `phase` while watching the server: its peak RSS (the kernel's `VmHWM`, reset first, and
/// `VmRSS` sampled every 20 ms in case the reset is not allowed) and its CPU time.
async fn measure<T>(
    server: &Server,
    phase: impl Future<Output = Result<T, String>>,
) -> Result<Measured<T>, String> {
    let reset = server.reset_peak();
    let stop = Arc::new(AtomicBool::new(false));
    let sampled = Arc::new(AtomicU64::new(0));
    let status = format!("/proc/{}/status", server.pid());
    let sampler = {
        let (stop, sampled) = (Arc::clone(&stop), Arc::clone(&sampled));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(m) = server::mem_of(&status) {
                    sampled.fetch_max(m.rss_kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let cpu0 = server.cpu();
    let self0 = server::cpu_of("/proc/self/stat");
    let all0 = server::machine_busy();
    let t0 = std::time::Instant::now();
    let result = phase.await;
    let wall = t0.elapsed();
    let cpu1 = server.cpu();
    let self1 = server::cpu_of("/proc/self/stat");
    let all1 = server::machine_busy();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let out = result?;
    let hwm = server.mem().filter(|_| reset).map(|m| m.hwm_kib);
    let peak = hwm
        .into_iter()
        .chain(Some(sampled.load(Ordering::Relaxed)).filter(|&k| k > 0))
        .max();
    Ok(Measured {
        out,
        peak_kib: peak,
        server_cpu: cpu0.zip(cpu1).map(|(a, b)| b.saturating_sub(a)),
        client_cpu: self0.zip(self1).map(|(a, b)| b.saturating_sub(a)),
        machine_cpu: all0.zip(all1).map(|(a, b)| b.saturating_sub(a)),
        wall,
    })
}

impl Measured<Outcome> {
    fn absorb(&mut self, other: Self) {
        self.out.absorb(other.out);
        self.peak_kib = self.peak_kib.max(other.peak_kib);
        let add = |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| a + b);
        self.server_cpu = add(self.server_cpu, other.server_cpu);
        self.client_cpu = add(self.client_cpu, other.client_cpu);
        self.machine_cpu = add(self.machine_cpu, other.machine_cpu);
        self.wall += other.wall;
    }
}

/// A phase that can be run again: one slice of an alternating comparison.
type Slice<'a> = Box<dyn FnMut() -> SliceFuture<'a> + Send + 'a>;
type SliceFuture<'a> = Pin<Box<dyn Future<Output = Result<Outcome, String>> + Send + 'a>>;

/// Runs the phases in turn, `slices` times over, and adds up each phase's slices: on a machine
/// that other work disturbs, every side of a ratio then sees the same disturbance.
async fn alternate(
    server: &Server,
    slices: usize,
    mut phases: Vec<Slice<'_>>,
) -> Result<Vec<Measured<Outcome>>, String> {
    let mut sums: Vec<Option<Measured<Outcome>>> = phases.iter().map(|_| None).collect();
    for _ in 0..slices.max(1) {
        for (phase, sum) in phases.iter_mut().zip(&mut sums) {
            let m = measure(server, phase()).await?;
            match sum {
                Some(s) => s.absorb(m),
                None => *sum = Some(m),
            }
        }
    }
    sums.into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| "no slice ran".into())
}

fn cpu_note<T>(m: &Measured<T>, requests: u64) -> String {
    let secs = m.wall.as_secs_f64().max(1e-9);
    let mut parts = Vec::new();
    if let Some(c) = m.server_cpu {
        let mut s = format!("server {:.2} cores", c.as_secs_f64() / secs);
        if requests > 0 {
            s.push_str(&format!(
                ", {:.0} µs CPU/req",
                c.as_secs_f64() * 1e6 / requests as f64
            ));
        }
        parts.push(s);
    }
    if let Some(c) = m.client_cpu {
        parts.push(format!(
            "load generator {:.2} cores",
            c.as_secs_f64() / secs
        ));
    }
    // What neither the server nor the load generator used: other processes on the machine,
    // which disturb the measurement when they are busy.
    if let (Some(all), Some(srv), Some(cli)) = (m.machine_cpu, m.server_cpu, m.client_cpu) {
        let other = all.as_secs_f64() - srv.as_secs_f64() - cli.as_secs_f64();
        parts.push(format!(
            "other processes {:.2} cores",
            (other / secs).max(0.0)
        ));
    }
    parts.join("; ")
}

fn row(
    scenario: &str,
    backend: &str,
    concurrency: String,
    m: &Measured<Outcome>,
    notes: &str,
) -> Row {
    let o = &m.out;
    let mut all = Vec::new();
    if !notes.is_empty() {
        all.push(notes.to_owned());
    }
    all.push(cpu_note(m, o.ok + o.errors));
    if o.errors > 0 {
        all.push(format!("errors: {}", o.error_summary()));
    }
    Row {
        scenario: scenario.to_owned(),
        backend: backend.to_owned(),
        concurrency,
        rps: Some(o.rps()),
        p50: o.quantile(0.50),
        p99: o.quantile(0.99),
        max: o.max(),
        errors: o.errors,
        peak_kib: m.peak_kib,
        notes: all.join("; "),
    }
}

fn closed(cfg: &Config) -> Plan {
    Plan {
        duration: Some(cfg.duration),
        interval: None,
    }
}

fn require_some(report: &mut Report, what: &str, backend: &str, o: &Outcome) {
    if o.ok == 0 {
        report.failures.push(format!(
            "{what} ({backend}): no request succeeded ({})",
            o.error_summary()
        ));
    }
}

fn gets(
    path: &'static str,
    bearers: Option<&Arc<Vec<HeaderValue>>>,
    n: usize,
) -> Vec<Box<dyn Flow>> {
    (0..n)
        .map(|i| {
            Box::new(Get {
                path,
                bearers: bearers.map(Arc::clone),
                next: i,
                step: n,
            }) as Box<dyn Flow>
        })
        .collect()
}

fn logins(bodies: &Arc<Vec<Bytes>>, n: usize, offset: usize) -> Vec<Box<dyn Flow>> {
    (0..n)
        .map(|i| {
            Box::new(Login {
                bodies: Arc::clone(bodies),
                next: offset + i,
                step: n,
            }) as Box<dyn Flow>
        })
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

// ---------------------------------------------------------------------------------------------
// The scenarios for one backend

/// The scenario names `--only` accepts, in the order they run.
pub const SCENARIOS: &[&str] = &[
    "read", "login", "mixed", "refresh", "register", "totp", "passkey", "startup", "memory",
];

/// What every scenario of one backend shares: the running server and the seeded users.
struct Ctx<'a> {
    cfg: &'a Config,
    backend: &'a str,
    server: &'a Server,
    /// Login bodies of the seeded users.
    bodies: Arc<Vec<Bytes>>,
    /// One live access token per seeded user, as `Authorization` values.
    bearers: Arc<Vec<HeaderValue>>,
}

/// Runs the chosen scenarios against `spec`'s database, adding rows and checks to `report`.
///
/// # Errors
/// When the server cannot be started or seeding fails: nothing after that could be measured.
pub async fn run_backend(
    cfg: &Config,
    backend: &str,
    spec: &Spec,
    report: &mut Report,
) -> Result<(), String> {
    let conc = cfg.concurrency.max(1);
    let server = Server::start(spec, &format!("{backend}-main")).await?;
    eprintln!(
        "[{backend}] server (pid {}) ready on {} after {}",
        server.pid(),
        server.addr,
        secs(server.ready_after)
    );

    // Seed: register the users through the API (production hashing), then log each in once.
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..cfg.users.max(2))
            .map(|i| credentials(&format!("u{i}@bench.example")))
            .collect(),
    );
    let t = std::time::Instant::now();
    let seeded = load::run(
        server.addr,
        each("/api/v1/auth/register", &bodies, conc.min(32), None),
        Plan {
            duration: None,
            interval: None,
        },
    )
    .await?;
    if seeded.errors > 0 {
        return Err(format!("seeding users failed: {}", seeded.error_summary()));
    }
    let sessions = login_each(&server, &bodies, conc.min(32)).await?;
    eprintln!(
        "[{backend}] seeded {} users and logged each in ({:.1} s)",
        bodies.len(),
        t.elapsed().as_secs_f64()
    );
    let cx = Ctx {
        cfg,
        backend,
        server: &server,
        bearers: Arc::new(sessions.iter().map(|s| s.bearer.clone()).collect()),
        bodies,
    };
    let mut raw_rate = None;
    if cfg.wants("read") {
        read(&cx, report).await?;
    }
    if cfg.wants("login") {
        raw_rate = Some(login(&cx, report).await?);
    }
    if cfg.wants("mixed") {
        mixed(&cx, report).await?;
    }
    if cfg.wants("refresh") {
        refresh(&cx, report).await?;
    }
    if cfg.wants("register") {
        register(&cx, report, raw_rate).await?;
    }
    if cfg.wants("totp") {
        second_factor::totp(&cx, report).await?;
    }
    if cfg.wants("passkey") {
        second_factor::passkey(&cx, report).await?;
    }
    let bodies = Arc::clone(&cx.bodies);
    server.stop().await?;
    if cfg.wants("startup") || cfg.wants("memory") {
        // 7 before 6: the last restart is the fresh process whose memory scenario 6 measures.
        let server = startup(cfg, backend, spec, report).await?;
        if cfg.wants("memory") {
            memory(cfg, backend, &server, &bodies, report).await?;
        }
        server.stop().await?;
    }
    Ok(())
}

/// Scenario 1: token-checked read beside the no-op route, then the logout-at-once check.
async fn read(cx: &Ctx<'_>, report: &mut Report) -> Result<(), String> {
    let (cfg, backend, server, conc) = (cx.cfg, cx.backend, cx.server, cx.cfg.concurrency.max(1));
    let (bodies, bearers) = (&cx.bodies, &cx.bearers);
    eprintln!("[{backend}] 1. token-checked read and no-op");
    let slices = cfg.slices.max(1);
    let slice = Plan {
        duration: Some(cfg.duration / u32::try_from(slices).unwrap_or(1)),
        interval: None,
    };
    let mut sums = alternate(
        server,
        slices,
        vec![
            Box::new(|| {
                Box::pin(load::run(
                    server.addr,
                    gets("/api/v1/users/me", Some(bearers), conc),
                    slice,
                ))
            }),
            Box::new(|| {
                Box::pin(load::run(
                    server.addr,
                    gets("/health/live", None, conc),
                    slice,
                ))
            }),
        ],
    )
    .await?;
    let (noop, read) = (sums.pop().ok_or("no no-op")?, sums.pop().ok_or("no read")?);
    require_some(report, "token-checked read", backend, &read.out);
    report.rows.push(row(
        "1. token-checked read `GET /api/v1/users/me`",
        backend,
        conc.to_string(),
        &read,
        &format!(
            "{} users' tokens; alternated with the no-op in {slices} slices",
            bearers.len()
        ),
    ));
    require_some(report, "no-op route", backend, &noop.out);
    report.rows.push(row(
        "1. no-op `GET /health/live`",
        backend,
        conc.to_string(),
        &noop,
        "",
    ));
    let ratio = read.out.rps() / noop.out.rps().max(1e-9);
    report.checks.push(Check {
        target: "token-checked read ≥ 0.5 × no-op throughput".into(),
        backend: backend.to_owned(),
        measured: format!(
            "{ratio:.2} ({:.0} / {:.0} req/s)",
            read.out.rps(),
            noop.out.rps()
        ),
        verdict: Verdict::at_least(ratio, 0.5),
    });
    // A session of its own, so that no later phase presents the logged-out token.
    let spare = login_each(server, &Arc::new(vec![bodies[0].clone()]), 1).await?;
    let logout = logout_at_once(server, &spare[0].bearer).await;
    report.checks.push(Check {
        target: "logout takes effect at once (next request 401)".into(),
        backend: backend.to_owned(),
        measured: match &logout {
            Ok(()) => "200 → logout 204 → 401".into(),
            Err(e) => e.clone(),
        },
        verdict: if logout.is_ok() {
            Verdict::Pass
        } else {
            Verdict::Miss
        },
    });
    if let Err(e) = logout {
        report
            .failures
            .push(format!("logout-at-once check ({backend}): {e}"));
    }

    Ok(())
}

/// Scenario 2: login beside the raw hashing limit; returns the limit (verifications per second).
async fn login(cx: &Ctx<'_>, report: &mut Report) -> Result<f64, String> {
    let (cfg, backend, server, conc) = (cx.cfg, cx.backend, cx.server, cx.cfg.concurrency.max(1));
    let bodies = &cx.bodies;
    eprintln!("[{backend}] 2. login and raw hashing limit");
    let (slices, nproc) = (cfg.slices.max(1), cfg.nproc);
    let slice = cfg.duration / u32::try_from(slices).unwrap_or(1);
    let offset = AtomicUsize::new(0);
    let raw = |mode| {
        Box::new(move || {
            Box::pin(async move {
                tokio::task::spawn_blocking(move || crate::hashing::verify_for(nproc, slice, mode))
                    .await
                    .map_err(|e| e.to_string())?
            }) as SliceFuture<'_>
        }) as Slice<'_>
    };
    let mut sums = alternate(
        server,
        slices,
        vec![
            Box::new(|| {
                let from = offset.fetch_add(conc, Ordering::Relaxed);
                Box::pin(load::run(
                    server.addr,
                    logins(bodies, conc, from),
                    Plan {
                        duration: Some(slice),
                        interval: None,
                    },
                ))
            }),
            raw(crate::hashing::Mode::ReusedMemory),
            raw(crate::hashing::Mode::ServerCode),
        ],
    )
    .await?;
    let (raw_server, raw, login) = (
        sums.pop().ok_or("no raw")?,
        sums.pop().ok_or("no raw")?,
        sums.pop().ok_or("no login")?,
    );
    require_some(report, "login", backend, &login.out);
    require_some(report, "raw hashing", backend, &raw.out);
    require_some(
        report,
        "raw hashing (server code)",
        backend,
        &raw_server.out,
    );
    report.rows.push(row(
        "2. login `POST /api/v1/auth/login`",
        backend,
        conc.to_string(),
        &login,
        &format!("argon2id m=19456 t=2 p=1; alternated with the raw hashing in {slices} slices"),
    ));
    let raw_rate = raw.out.rps();
    let cpu_each = |m: &Measured<Outcome>, cpu: Option<Duration>| {
        cpu.map(|c| c.as_secs_f64() * 1e6 / m.out.ok.max(1) as f64)
    };
    let raw_cpu_us = cpu_each(&raw, raw.client_cpu);
    let login_cpu_us = cpu_each(&login, login.server_cpu);
    for (m, how) in [
        (
            &raw,
            "argon2 crate, one memory buffer per thread reused: the ceiling",
        ),
        (
            &raw_server,
            "the server's `verify_blocking` (what a login runs: reused per-thread memory)",
        ),
    ] {
        report.rows.push(Row {
            scenario: "2. raw hashing limit (argon2id verify, in-process)".into(),
            backend: backend.to_owned(),
            concurrency: format!("{nproc} threads"),
            rps: Some(m.out.rps()),
            p50: None,
            p99: None,
            max: None,
            errors: 0,
            peak_kib: None,
            notes: format!(
                "{how}; {} verifications, server idle meanwhile; {}",
                m.out.ok,
                cpu_each(m, m.client_cpu)
                    .map_or_else(String::new, |us| format!("{us:.0} µs CPU each")),
            ),
        });
    }
    let ratio = login.out.rps() / raw_rate.max(1e-9);
    report.checks.push(Check {
        target: "login ≥ 0.9 × raw hashing limit".into(),
        backend: backend.to_owned(),
        measured: format!(
            "{ratio:.2} ({:.1} / {raw_rate:.1} per s){}",
            login.out.rps(),
            raw_cpu_us
                .zip(login_cpu_us)
                .map_or_else(String::new, |(raw, login)| format!(
                    "; CPU per login = {:.2} × CPU per raw verification",
                    login / raw
                ))
        ),
        verdict: Verdict::at_least(ratio, 0.9),
    });
    Ok(raw_rate)
}

/// Scenario 3: token-checked reads at a fixed rate, alone and during a login storm.
async fn mixed(cx: &Ctx<'_>, report: &mut Report) -> Result<(), String> {
    let (cfg, backend, server, conc) = (cx.cfg, cx.backend, cx.server, cx.cfg.concurrency.max(1));
    let (bodies, bearers) = (&cx.bodies, &cx.bearers);
    eprintln!("[{backend}] 3. mixed: paced reads alone, then during a login storm");
    let readers = cfg.mixed_readers.max(1);
    let paced = Plan {
        duration: Some(cfg.duration),
        interval: Some(Duration::from_secs_f64(
            readers as f64 / cfg.mixed_read_rate.max(1.0),
        )),
    };
    let rate_note = format!(
        "paced at {:.0} req/s on {readers} connections",
        cfg.mixed_read_rate
    );
    let alone = measure(
        server,
        load::run(
            server.addr,
            gets("/api/v1/users/me", Some(bearers), readers),
            paced,
        ),
    )
    .await?;
    require_some(report, "paced read", backend, &alone.out);
    report.rows.push(row(
        "3. token-checked read, no storm",
        backend,
        readers.to_string(),
        &alone,
        &rate_note,
    ));
    let storm = measure(server, async {
        let (r, l) = tokio::join!(
            load::run(
                server.addr,
                gets("/api/v1/users/me", Some(bearers), readers),
                paced
            ),
            load::run(server.addr, logins(bodies, conc, 7), closed(cfg)),
        );
        Ok((r?, l?))
    })
    .await?;
    let Measured {
        out: (reads, storm_logins),
        peak_kib,
        server_cpu,
        client_cpu,
        machine_cpu,
        wall,
    } = storm;
    let reads = Measured {
        out: reads,
        peak_kib,
        server_cpu,
        client_cpu,
        machine_cpu,
        wall,
    };
    require_some(report, "read during storm", backend, &reads.out);
    require_some(report, "login storm", backend, &storm_logins);
    // The server's CPU here serves both the reads and the storm: no per-request figure.
    report.rows.push(Row {
        scenario: "3. token-checked read during a login storm".into(),
        backend: backend.to_owned(),
        concurrency: format!("{readers} + {conc} logins"),
        rps: Some(reads.out.rps()),
        p50: reads.out.quantile(0.50),
        p99: reads.out.quantile(0.99),
        max: reads.out.max(),
        errors: reads.out.errors,
        peak_kib: reads.peak_kib,
        notes: format!(
            "{rate_note}; the storm did {:.1} logins/s (p99 {}, {} errors); {}",
            storm_logins.rps(),
            storm_logins.quantile(0.99).map_or("-".into(), secs),
            storm_logins.errors,
            cpu_note(&reads, 0)
        ),
    });
    let p99 = reads.out.quantile(0.99).unwrap_or(Duration::MAX);
    report.checks.push(Check {
        target: "token-checked read p99 < 10 ms during a login storm".into(),
        backend: backend.to_owned(),
        measured: format!(
            "p99 {} (no storm: {})",
            secs(p99),
            alone.out.quantile(0.99).map_or("-".into(), secs)
        ),
        verdict: if p99 < Duration::from_millis(10) {
            Verdict::Pass
        } else {
            Verdict::Miss
        },
    });

    Ok(())
}

/// Scenario 4: refresh chains, one fresh session per worker.
async fn refresh(cx: &Ctx<'_>, report: &mut Report) -> Result<(), String> {
    let (cfg, backend, server, conc) = (cx.cfg, cx.backend, cx.server, cx.cfg.concurrency.max(1));
    let bodies = &cx.bodies;
    eprintln!("[{backend}] 4. refresh chains");
    let chain_bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..conc)
            .map(|i| bodies[i % bodies.len()].clone())
            .collect(),
    );
    let chains = login_each(server, &chain_bodies, conc.min(32)).await?;
    let flows: Vec<Box<dyn Flow>> = chains
        .into_iter()
        .map(|t| {
            Box::new(Refresh {
                token: Some(t.refresh),
            }) as Box<dyn Flow>
        })
        .collect();
    let refresh = measure(server, load::run(server.addr, flows, closed(cfg))).await?;
    require_some(report, "refresh", backend, &refresh.out);
    let per_core = refresh.out.rps() / cfg.nproc as f64;
    report.rows.push(row(
        "4. refresh chains `POST /api/v1/auth/refresh`",
        backend,
        conc.to_string(),
        &refresh,
        &format!("{per_core:.0} req/s per core"),
    ));
    report.checks.push(Check {
        target: "refresh ≥ 2,000 req/s per core (target on SQLite)".into(),
        backend: backend.to_owned(),
        measured: format!(
            "{per_core:.0} req/s per core ({:.0} req/s on {} cores)",
            refresh.out.rps(),
            cfg.nproc
        ),
        verdict: if backend == "sqlite" {
            Verdict::at_least(per_core, 2000.0)
        } else {
            Verdict::Info
        },
    });

    Ok(())
}

/// Scenario 5: registration, compared with the raw hashing limit when it was measured.
async fn register(cx: &Ctx<'_>, report: &mut Report, raw_rate: Option<f64>) -> Result<(), String> {
    let (backend, server, conc) = (cx.backend, cx.server, cx.cfg.concurrency.max(1));
    let cfg = cx.cfg;
    eprintln!("[{backend}] 5. registration");
    let flows: Vec<Box<dyn Flow>> = (0..conc)
        .map(|i| {
            Box::new(Register {
                prefix: format!("r{i}"),
                seq: 0,
            }) as Box<dyn Flow>
        })
        .collect();
    let register = measure(server, load::run(server.addr, flows, closed(cfg))).await?;
    require_some(report, "registration", backend, &register.out);
    report.rows.push(row(
        "5. registration `POST /api/v1/auth/register`",
        backend,
        conc.to_string(),
        &register,
        &raw_rate.map_or_else(
            || "one argon2id hash + password policy each".to_owned(),
            |raw| {
                format!(
                    "{:.2} × raw hashing limit (one argon2id hash + password policy each)",
                    register.out.rps() / raw.max(1e-9)
                )
            },
        ),
    ));
    Ok(())
}

/// Scenario 7: startup on the existing database (users, sessions and audit rows from above),
/// several restarts; the last server is left running for the memory scenario.
async fn startup(
    cfg: &Config,
    backend: &str,
    spec: &Spec,
    report: &mut Report,
) -> Result<Server, String> {
    eprintln!("[{backend}] 7. startup on the existing database");
    let mut times = Vec::new();
    let mut last = None;
    for i in 0..cfg.startup_runs.max(1) {
        let s = Server::start(spec, &format!("{backend}-restart{i}")).await?;
        times.push(s.ready_after);
        if i + 1 == cfg.startup_runs.max(1) {
            last = Some(s);
        } else {
            s.stop().await?;
        }
    }
    let server = last.ok_or("no restart ran")?;
    times.sort();
    let median = times[times.len() / 2];
    report.rows.push(Row {
        scenario: "7. startup to `/health/ready`, existing database".into(),
        backend: backend.to_owned(),
        concurrency: "-".into(),
        rps: None,
        p50: Some(median),
        p99: None,
        max: times.last().copied(),
        errors: 0,
        peak_kib: server.mem().map(|m| m.hwm_kib),
        notes: format!(
            "{} starts: {}",
            times.len(),
            times
                .iter()
                .map(|d| secs(*d))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    report.checks.push(Check {
        target: "startup to ready ≤ 200 ms (median of the starts)".into(),
        backend: backend.to_owned(),
        measured: format!(
            "{} (max {})",
            secs(median),
            times.last().map_or("-".into(), |d| secs(*d))
        ),
        verdict: if median <= Duration::from_millis(200) {
            Verdict::Pass
        } else {
            Verdict::Miss
        },
    });

    Ok(server)
}

/// Scenario 6: memory of a freshly started server, idle, then under a storm of logins.
async fn memory(
    cfg: &Config,
    backend: &str,
    server: &Server,
    bodies: &Arc<Vec<Bytes>>,
    report: &mut Report,
) -> Result<(), String> {
    eprintln!(
        "[{backend}] 6. memory idle and under a {}-login storm",
        cfg.storm
    );
    tokio::time::sleep(cfg.idle_wait).await;
    let idle = server
        .mem()
        .ok_or("cannot read the server's /proc status")?;
    report.rows.push(Row {
        scenario: "6. memory, idle".into(),
        backend: backend.to_owned(),
        concurrency: "-".into(),
        rps: None,
        p50: None,
        p99: None,
        max: None,
        errors: 0,
        peak_kib: Some(idle.hwm_kib),
        notes: format!(
            "peak since start (VmHWM); resident now (VmRSS) {}",
            crate::report::mb(idle.rss_kib)
        ),
    });
    report.checks.push(Check {
        target: "peak RSS idle ≤ 30 MB".into(),
        backend: backend.to_owned(),
        measured: crate::report::mb(idle.hwm_kib),
        verdict: Verdict::at_most(idle.hwm_kib as f64 * 1024.0, 30e6),
    });
    let storm = cfg.storm.max(1);
    let mem = measure(
        server,
        load::run(server.addr, logins(bodies, storm, 3), closed(cfg)),
    )
    .await?;
    require_some(report, "memory storm", backend, &mem.out);
    // The peak of the process's whole life: the storm's peak, or the idle one if that was higher.
    let peak = server
        .mem()
        .map(|m| m.hwm_kib)
        .into_iter()
        .chain(mem.peak_kib)
        .max();
    let mut r = row(
        &format!("6. memory, {storm} concurrent logins"),
        backend,
        storm.to_string(),
        &mem,
        "",
    );
    r.peak_kib = peak;
    report.rows.push(r);
    report.checks.push(Check {
        target: format!("peak RSS ≤ 150 MB under {storm} concurrent logins"),
        backend: backend.to_owned(),
        measured: peak.map_or("-".into(), crate::report::mb),
        verdict: Verdict::at_most(peak.unwrap_or(u64::MAX) as f64 * 1024.0, 150e6),
    });
    Ok(())
}

/// Logs one session out and checks that its access token, valid a moment before, is refused on
/// the very next request.
async fn logout_at_once(server: &Server, bearer: &HeaderValue) -> Result<(), String> {
    let me = || load::request("GET", "/api/v1/users/me", Some(bearer), None);
    let (before, _) = load::once(server.addr, me()).await?;
    if before != StatusCode::OK {
        return Err(format!("the token was not valid before logout ({before})"));
    }
    let (out, _) = load::once(
        server.addr,
        load::request("POST", "/api/v1/auth/logout", Some(bearer), None),
    )
    .await?;
    if out != StatusCode::NO_CONTENT {
        return Err(format!("logout answered {out}"));
    }
    let (after, _) = load::once(server.addr, me()).await?;
    if after == StatusCode::UNAUTHORIZED {
        Ok(())
    } else {
        Err(format!("the logged-out token still got {after}"))
    }
}
