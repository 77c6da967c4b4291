//! The server under test: the real `sesame serve` binary as a child process, configured only
//! through `SESAME_*` variables (inherited ones are removed so the run is reproducible), listening
//! on a free loopback port, logging JSON to a file. Also reads what Linux says about the child:
//! resident memory (`VmRSS`, and the peak `VmHWM`, which can be reset between phases) and CPU time.
//!
//! The child is killed when its handle is dropped, so an error or Ctrl-C never leaves it running.

use crate::load;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How to start the server.
#[derive(Debug, Clone)]
pub struct Spec {
    pub bin: PathBuf,
    pub database_url: String,
    /// Where the log files go.
    pub dir: PathBuf,
    /// Extra environment for experiments; applied last, so it overrides the bench's settings.
    pub env: Vec<(String, String)>,
}

/// A running server.
pub struct Server {
    child: Child,
    pid: i32,
    pub addr: SocketAddr,
    /// From just before `spawn` to the first 200 from `/health/ready`.
    pub ready_after: Duration,
}

/// Resident memory of the server, KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Settings that make a load test possible without weakening what is measured: rate limits and
/// the lockout would otherwise refuse a benchmark's logins after a handful; fresh users must be
/// able to log in without clicking an email link. Hashing (argon2id) and every other cost stays
/// at its production default.
const BENCH_ENV: &[(&str, &str)] = &[
    ("SESAME_REQUIRE_VERIFIED_EMAIL", "false"),
    ("SESAME_RATE_LOGIN_IP", "1000000/1s"),
    ("SESAME_RATE_LOGIN_ACCOUNT", "1000000/1s"),
    ("SESAME_RATE_REGISTER_IP", "1000000/1s"),
    ("SESAME_LOCKOUT_THRESHOLD", "1000000"),
    ("SESAME_LOG_FORMAT", "json"),
    ("SESAME_LOG_LEVEL", "info"),
    ("SESAME_MAIL_TRANSPORT", "log"),
    // PostgreSQL needs an encryption key for the sealed signing key; a fixed one for the bench's
    // throwaway databases (it costs nothing per request: the key is opened at startup).
    (
        "SESAME_ENCRYPTION_KEY",
        "c2VzYW1lIGJlbmNoIGVuY3J5cHRpb24ga2V5IDMyIGI=",
    ),
];

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl Server {
    /// Starts the server and waits (up to a minute) until `/health/ready` answers 200.
    ///
    /// # Errors
    /// When the binary cannot be started, exits early, or never becomes ready; the message ends
    /// with the tail of its log.
    pub async fn start(spec: &Spec, tag: &str) -> Result<Self, String> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = spec.dir.join(format!("server-{tag}.log"));
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&spec.bin);
        cmd.arg("serve")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SESAME_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(BENCH_ENV.iter().copied())
            .env("SESAME_DATABASE_URL", &spec.database_url)
            .env("SESAME_LISTEN", addr.to_string())
            .env("SESAME_PUBLIC_URL", format!("http://{addr}"))
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", spec.bin.display()))?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or("the server exited at once")?;
        let deadline = spawned + Duration::from_secs(60);
        loop {
            let probe = load::once(addr, load::request("GET", "/health/ready", None, None)).await;
            if matches!(probe, Ok((s, _)) if s.is_success()) {
                break;
            }
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "the server exited ({status}) before it was ready; log {}:\n{}",
                    log.display(),
                    tail(&log)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server was not ready within 60 s; log {}:\n{}",
                    log.display(),
                    tail(&log)
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(Self {
            ready_after: spawned.elapsed(),
            child,
            pid,
            addr,
        })
    }

    #[must_use]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    #[must_use]
    pub fn mem(&self) -> Option<Mem> {
        mem_of(&format!("/proc/{}/status", self.pid))
    }

    /// Resets the peak (`VmHWM`) to the current RSS, so the next reading is the peak of what came
    /// after. Returns whether the kernel accepted it.
    #[must_use]
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// User plus system CPU time the server has used so far.
    #[must_use]
    pub fn cpu(&self) -> Option<Duration> {
        cpu_of(&format!("/proc/{}/stat", self.pid))
    }

    /// Asks the server to stop (SIGTERM, a graceful shutdown) and waits for it; kills it after
    /// 15 s.
    ///
    /// # Errors
    /// When waiting for the process fails.
    pub async fn stop(mut self) -> Result<(), String> {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped), a valid signal.
        unsafe {
            libc::kill(self.pid, libc::SIGTERM);
        }
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(r) => r.map(|_| ()).map_err(|e| e.to_string()),
            Err(_) => {
                eprintln!("warning: the server did not stop within 15 s; killing it");
                self.child.kill().await.map_err(|e| e.to_string())
            }
        }
    }
}

/// `VmRSS` and `VmHWM` from a `/proc/<pid>/status` file.
#[must_use]
pub fn mem_of(path: &str) -> Option<Mem> {
    let status = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Mem {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// utime + stime from `/proc/<pid>/stat` (fields 14 and 15, after the parenthesised name).
pub fn cpu_of(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field n is at index n - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|&t| t > 0)?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / ticks as f64,
    ))
}

/// CPU time the whole machine has spent busy (every core, every process), from `/proc/stat`.
#[must_use]
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|&t| t > 0)?;
    Some(Duration::from_secs_f64(busy as f64 / ticks as f64))
}

/// The last lines of a log, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
