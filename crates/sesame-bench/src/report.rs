//! The result: rows of the Markdown table, the target checks with PASS / MISS, and the machine
//! they were measured on. Only formatting lives here; the numbers come from the scenarios.

use std::fmt::Write as _;
use std::time::Duration;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub backend: String,
    pub concurrency: String,
    pub rps: Option<f64>,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub max: Option<Duration>,
    pub errors: u64,
    /// Peak resident memory of the server during this row's phase, KiB.
    pub peak_kib: Option<u64>,
    pub notes: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Miss,
    /// Measured and shown, but the issue sets no target for this backend.
    Info,
}

impl Verdict {
    #[must_use]
    pub fn at_least(value: f64, target: f64) -> Self {
        if value >= target {
            Self::Pass
        } else {
            Self::Miss
        }
    }

    #[must_use]
    pub fn at_most(value: f64, target: f64) -> Self {
        if value <= target {
            Self::Pass
        } else {
            Self::Miss
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Miss => "MISS",
            Self::Info => "(no target)",
        }
    }
}

/// One target, measured.
#[derive(Debug, Clone)]
pub struct Check {
    pub target: String,
    pub backend: String,
    pub measured: String,
    pub verdict: Verdict,
}

/// Everything a run produced.
#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
    /// Harness or correctness failures (never a missed speed target): the run exits non-zero.
    pub failures: Vec<String>,
    /// `/proc/loadavg` when the run started.
    pub load_before: String,
}

/// The 1, 5 and 15 minute load averages, as the kernel reports them.
#[must_use]
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// KiB as decimal megabytes, the unit of the targets.
#[must_use]
pub fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn latency(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d < Duration::from_millis(1) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
        Some(d) if d < Duration::from_secs(1) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
    }
}

fn rate(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r >= 100.0 => format!("{r:.0}"),
        Some(r) => format!("{r:.1}"),
    }
}

/// The machine: cores, CPU model, memory.
#[must_use]
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    format!(
        "{cores} cores ({model}), {:.1} GiB memory, Linux {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    )
}

/// Today's date (UTC), from the system clock.
#[must_use]
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl Report {
    /// The whole result as Markdown.
    #[must_use]
    pub fn markdown(&self, command: &str, smoke: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Sesame benchmark, {}", today());
        let _ = writeln!(s);
        let _ = writeln!(s, "- Machine: {}", machine());
        let _ = writeln!(s, "- Command: `{command}`");
        let _ = writeln!(
            s,
            "- Load average (1/5/15 min) before: {}; after: {}",
            self.load_before,
            loadavg()
        );
        if smoke {
            let _ = writeln!(
                s,
                "- **Smoke mode**: a few seconds per scenario with small numbers; the figures \
                 only prove the harness works."
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| Scenario | Backend | Concurrency | req/s | p50 | p99 | max | Errors | Peak RSS | Notes |"
        );
        let _ = writeln!(
            s,
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.scenario,
                r.backend,
                r.concurrency,
                rate(r.rps),
                latency(r.p50),
                latency(r.p99),
                latency(r.max),
                r.errors,
                r.peak_kib.map_or("-".into(), mb),
                r.notes.replace('|', "\\|"),
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "| Target | Backend | Measured | Result |");
        let _ = writeln!(s, "| --- | --- | --- | --- |");
        for c in &self.checks {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                c.target,
                c.backend,
                c.measured,
                c.verdict.as_str()
            );
        }
        if !self.failures.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(s, "Harness failures:");
            for f in &self.failures {
                let _ = writeln!(s, "- {f}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_printed_in_a_readable_unit() {
        assert_eq!(latency(Some(Duration::from_micros(420))), "0.42 ms");
        assert_eq!(latency(Some(Duration::from_micros(12_340))), "12.3 ms");
        assert_eq!(latency(Some(Duration::from_millis(1_500))), "1.50 s");
        assert_eq!(latency(None), "-");
    }

    #[test]
    fn memory_is_reported_in_decimal_megabytes_like_the_targets() {
        assert_eq!(mb(29_297), "30.0 MB");
    }
}
