//! Scenarios 8 and 9, the second-factor budgets of issue 13:
//! - 8: a TOTP sign-in completion (`POST /api/v1/auth/login/mfa` with a code) costs the server no
//!   more CPU than one password verification. Users get a confirmed authenticator app through the
//!   API (the harness plays the app with `totp-rs`, the library the server checks codes with);
//!   each is signed in with the password (outside the measurement), then every `mfa_token` is
//!   completed with the current code while the server's CPU is measured. The verification it is
//!   compared with is the server's own `verify_blocking`, run in-process just before.
//! - 9: a passkey assertion check takes at most 2 ms of CPU: the domain's
//!   `PasskeyRp::finish_second_factor` (the check every passkey answer goes through: parse the
//!   browser's JSON and the stored state, verify the ES256 signature, challenge, origin, rp id
//!   hash, flags and counter) on an answer a software authenticator
//!   (`webauthn-authenticator-rs`) made once, timed with this thread's CPU clock.
//!
//! Their users are their own (`totp-N@bench.example`): the seeded users of the other scenarios
//! keep signing in with a password alone.

use super::{measure, require_some, row, Ctx, Measured};
use crate::hashing::{self, PASSWORD};
use crate::load::{self, Outcome, Plan};
use crate::report::{Check, Report, Row, Verdict};
use bytes::Bytes;
use hyper::http::HeaderValue;
use hyper::StatusCode;
use sesame_domain::clock;
use sesame_domain::mfa::TotpSecret;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One TOTP step (RFC 6238 §4: X = 30 s, the server's setting).
const STEP: Duration = Duration::from_secs(30);

/// Issue 13's budget for one passkey assertion check.
const PASSKEY_BUDGET: Duration = Duration::from_millis(2);

fn json(v: &serde_json::Value) -> Bytes {
    Bytes::from(v.to_string())
}

/// Sends one request; the answer's JSON when its status is `want`.
async fn call(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&HeaderValue>,
    body: &serde_json::Value,
    want: StatusCode,
) -> Result<serde_json::Value, String> {
    let (status, bytes) =
        load::once(addr, load::request("POST", path, bearer, Some(json(body)))).await?;
    if status != want {
        return Err(format!(
            "{path} answered {status}, not {want}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{path}: {e}"))
}

fn text<'a>(v: &'a serde_json::Value, pointer: &str) -> Result<&'a str, String> {
    v.pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("no `{pointer}` in {v}"))
}

/// Registers `email`, signs in, enrols an authenticator app and confirms it with the code of the
/// step before the current one (so that the current step's code is still unused afterwards).
async fn enrol(addr: SocketAddr, email: &str) -> Result<TotpSecret, String> {
    let creds = serde_json::json!({"email": email, "password": PASSWORD});
    call(
        addr,
        "/api/v1/auth/register",
        None,
        &creds,
        StatusCode::CREATED,
    )
    .await?;
    let tokens = call(addr, "/api/v1/auth/login", None, &creds, StatusCode::OK).await?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", text(&tokens, "/access_token")?))
        .map_err(|e| e.to_string())?;
    let started = call(
        addr,
        "/api/v1/users/me/factors/totp",
        Some(&bearer),
        &serde_json::json!({"name": "bench"}),
        StatusCode::CREATED,
    )
    .await?;
    let secret = totp_rs::Secret::try_from_base32(text(&started, "/secret")?)
        .map_err(|e| format!("the enrolment's secret is not base32: {e:?}"))?;
    let secret = TotpSecret::from_bytes(secret.as_bytes().to_vec());
    let id = text(&started, "/factor/id")?;
    // The confirmation uses the previous step's code (so the current step's stays unused for the
    // completion); near the end of a step the server could already be one step on and see it as
    // two steps old: wait for the next step first.
    let into_step = u64::try_from(clock::now().timestamp()).unwrap_or(0) % STEP.as_secs();
    if into_step >= STEP.as_secs() - 2 {
        tokio::time::sleep(Duration::from_secs(STEP.as_secs() - into_step + 1)).await;
    }
    call(
        addr,
        &format!("/api/v1/users/me/factors/totp/{id}/confirm"),
        Some(&bearer),
        &serde_json::json!({"code": secret.code_at(clock::now() - STEP)}),
        StatusCode::OK,
    )
    .await?;
    Ok(secret)
}

/// The password step for one user: its `mfa_token`.
async fn challenge(addr: SocketAddr, email: &str) -> Result<String, String> {
    let creds = serde_json::json!({"email": email, "password": PASSWORD});
    let c = call(addr, "/api/v1/auth/login", None, &creds, StatusCode::OK).await?;
    if c["mfa_required"] != serde_json::Value::Bool(true) {
        return Err(format!("a user with a factor signed in without one: {c}"));
    }
    Ok(text(&c, "/mfa_token")?.to_owned())
}

/// Completes the sign-ins, each with the code of the moment it is sent (however long the
/// password step took, a code is never more than a request old).
struct Complete {
    items: Arc<Vec<(String, TotpSecret)>>,
    next: Arc<AtomicUsize>,
}

impl load::Flow for Complete {
    fn next(&mut self) -> Option<load::Req> {
        let (token, secret) = self.items.get(self.next.fetch_add(1, Ordering::Relaxed))?;
        let body = serde_json::json!({"mfa_token": token, "code": secret.code_at(clock::now())});
        Some(load::request(
            "POST",
            "/api/v1/auth/login/mfa",
            None,
            Some(json(&body)),
        ))
    }

    fn done(&mut self, status: StatusCode, _: &Bytes) -> bool {
        status == StatusCode::OK
    }
}

/// Runs `jobs` on `workers` tasks, in order of index; the results in the same order.
async fn on_workers<T, F, Fut>(n: usize, workers: usize, job: F) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, String>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let slots: Arc<Mutex<Vec<Option<T>>>> = Arc::new(Mutex::new((0..n).map(|_| None).collect()));
    let mut tasks = Vec::new();
    for _ in 0..workers.clamp(1, n.max(1)) {
        let (job, next, slots) = (Arc::clone(&job), Arc::clone(&next), Arc::clone(&slots));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), String>(());
                }
                let v = job(i).await?;
                slots.lock().map_err(|e| e.to_string())?[i] = Some(v);
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let slots = std::mem::take(&mut *slots.lock().map_err(|e| e.to_string())?);
    slots
        .into_iter()
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| "a job left no result".into())
}

/// Scenario 8: TOTP sign-in completions, compared with one password verification's CPU.
pub(super) async fn totp(cx: &Ctx<'_>, report: &mut Report) -> Result<(), String> {
    let (backend, server) = (cx.backend, cx.server);
    let conc = cx.cfg.concurrency.max(1);
    let n = cx.cfg.users.max(2);
    eprintln!("[{backend}] 8. TOTP sign-in completion ({n} users with an authenticator app)");
    let addr = server.addr;
    let t = Instant::now();
    let users = on_workers(n, conc.min(16), move |i| async move {
        let email = format!("totp-{i}@bench.example");
        let secret = enrol(addr, &email).await?;
        Ok((email, secret))
    })
    .await?;
    let users = Arc::new(users);
    let tokens = {
        let users = Arc::clone(&users);
        on_workers(n, conc.min(16), move |i| {
            let users = Arc::clone(&users);
            async move { challenge(addr, &users[i].0).await }
        })
        .await?
    };
    eprintln!(
        "[{backend}] enrolled and signed in {n} users with the password ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let items: Arc<Vec<(String, TotpSecret)>> = Arc::new(
        tokens
            .into_iter()
            .zip(users.iter().map(|(_, s)| s.clone()))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let flows = (0..conc.min(n))
        .map(|_| {
            Box::new(Complete {
                items: Arc::clone(&items),
                next: Arc::clone(&next),
            }) as Box<dyn load::Flow>
        })
        .collect();
    let completed: Measured<Outcome> = measure(
        server,
        load::run(
            addr,
            flows,
            Plan {
                duration: None,
                interval: None,
            },
        ),
    )
    .await?;
    require_some(report, "TOTP completion", backend, &completed.out);
    if completed.out.errors > 0 {
        report.failures.push(format!(
            "TOTP completion ({backend}): {} of {} refused ({})",
            completed.out.errors,
            items.len(),
            completed.out.error_summary()
        ));
    }
    report.rows.push(row(
        "8. TOTP sign-in completion `POST /api/v1/auth/login/mfa`",
        backend,
        conc.to_string(),
        &completed,
        &format!(
            "{} completions, each an `mfa_token` from a password sign-in and the current code",
            completed.out.ok
        ),
    ));

    // The comparison: the server's own password verification, one thread, server idle.
    let slice = cx.cfg.duration.min(Duration::from_secs(3));
    let verify = measure(server, async move {
        tokio::task::spawn_blocking(move || {
            hashing::verify_for(1, slice, hashing::Mode::ServerCode)
        })
        .await
        .map_err(|e| e.to_string())?
    })
    .await?;
    require_some(report, "password verification", backend, &verify.out);
    let per = |cpu: Option<Duration>, count: u64| {
        cpu.filter(|_| count > 0)
            .map(|c| c.as_secs_f64() * 1e6 / count as f64)
    };
    let completion_us = per(completed.server_cpu, completed.out.ok);
    let verify_us = per(verify.client_cpu, verify.out.ok);
    report.checks.push(match completion_us.zip(verify_us) {
        Some((c, v)) => Check {
            target: "TOTP sign-in completion ≤ one password verification (CPU)".into(),
            backend: backend.to_owned(),
            measured: format!(
                "{c:.0} µs server CPU per completion vs {v:.0} µs per argon2id verification ({:.3} ×)",
                c / v
            ),
            verdict: Verdict::at_most(c, v),
        },
        None => Check {
            target: "TOTP sign-in completion ≤ one password verification (CPU)".into(),
            backend: backend.to_owned(),
            measured: "no CPU figures (no /proc)".into(),
            verdict: Verdict::Info,
        },
    });
    Ok(())
}

/// This thread's CPU time so far.
fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// Checks one passkey answer again and again for about `duration`: (checks, CPU time, wall).
fn passkey_checks(duration: Duration) -> Result<(u64, Duration, Duration), String> {
    use sesame_domain::passkey::{PasskeyRp, PasskeyUser};
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator;

    let origin = url::Url::parse("https://auth.bench.example").map_err(|e| e.to_string())?;
    let rp = PasskeyRp::new(
        "bench.example",
        std::slice::from_ref(&origin),
        "Sesame bench",
    )
    .map_err(|e| e.to_string())?;
    // `true`: the authenticator reports user verification, which Sesame requires.
    let mut authenticator = SoftPasskey::new(true);
    let user = uuid::Uuid::new_v4();
    let registration = rp
        .start_registration(
            PasskeyUser {
                id: user,
                name: "bench",
                display_name: "Bench",
            },
            &[],
        )
        .map_err(|e| e.to_string())?;
    // The soft authenticator keeps no resident keys and refuses options that demand one
    // (`NotSupported`); the check measured here does not depend on where the key lives.
    let mut options = registration.options;
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = false.into();
    let created = authenticator
        .do_registration(
            origin.clone(),
            serde_json::from_value(options).map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("the software authenticator did not register: {e:?}"))?;
    let stored = rp
        .finish_registration(
            &registration.state,
            user,
            &serde_json::to_value(created).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    let keys = [stored];
    let ceremony = rp
        .start_second_factor(user, &keys)
        .map_err(|e| e.to_string())?;
    let answer = authenticator
        .do_authentication(
            origin,
            serde_json::from_value(ceremony.options).map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("the software authenticator did not sign: {e:?}"))?;
    let answer = serde_json::to_value(answer).map_err(|e| e.to_string())?;

    let cpu0 = thread_cpu().ok_or("no thread CPU clock")?;
    let t0 = Instant::now();
    let mut checks = 0u64;
    while t0.elapsed() < duration {
        rp.finish_second_factor(&ceremony.state, user, &answer, &keys)
            .map_err(|e| format!("the passkey answer was refused: {e}"))?;
        checks += 1;
    }
    let cpu = thread_cpu()
        .ok_or("no thread CPU clock")?
        .saturating_sub(cpu0);
    Ok((checks, cpu, t0.elapsed()))
}

/// Scenario 9: the passkey assertion check, in-process, against its 2 ms CPU budget.
pub(super) async fn passkey(cx: &Ctx<'_>, report: &mut Report) -> Result<(), String> {
    let backend = cx.backend;
    eprintln!("[{backend}] 9. passkey assertion check (in-process)");
    let duration = cx.cfg.duration.min(Duration::from_secs(3));
    let (checks, cpu, wall) = tokio::task::spawn_blocking(move || passkey_checks(duration))
        .await
        .map_err(|e| e.to_string())??;
    if checks == 0 {
        report
            .failures
            .push(format!("passkey check ({backend}): no check finished"));
        return Ok(());
    }
    let each_us = cpu.as_secs_f64() * 1e6 / checks as f64;
    report.rows.push(Row {
        scenario: "9. passkey assertion check (`finish_second_factor`, in-process)".into(),
        backend: backend.to_owned(),
        concurrency: "1 thread".into(),
        rps: Some(checks as f64 / wall.as_secs_f64().max(1e-9)),
        p50: None,
        p99: None,
        max: None,
        errors: 0,
        peak_kib: None,
        notes: format!(
            "ES256 soft passkey, user verification; {checks} checks of one answer; {each_us:.0} µs CPU each (thread CPU clock)"
        ),
    });
    report.checks.push(Check {
        target: "passkey assertion check ≤ 2 ms CPU".into(),
        backend: backend.to_owned(),
        measured: format!("{each_us:.0} µs CPU per check"),
        verdict: Verdict::at_most(each_us, PASSKEY_BUDGET.as_secs_f64() * 1e6),
    });
    Ok(())
}
