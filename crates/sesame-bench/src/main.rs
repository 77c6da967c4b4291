//! `sesame-bench`: Sesame's performance harness. It starts the real `sesame serve` binary on a
//! temporary database (SQLite always; PostgreSQL too with `--postgres-url`), seeds users through
//! the API, runs each scenario of the performance issue for a fixed duration and concurrency with
//! a small built-in load generator, and prints a Markdown table (requests/s, p50/p99/max latency,
//! errors, peak RSS of the server) followed by each target with PASS or MISS.
//!
//! It stops everything it started, also on an error or Ctrl-C: the servers are killed, the
//! temporary directory removed and the PostgreSQL database dropped. It never fails because a
//! target was missed (CI runs it in `--smoke` mode only to prove it works); it exits non-zero
//! when the harness itself cannot run or a correctness check (logout at once) fails.
//!
//! Build first, then run: `cargo build --release -p sesame -p sesame-bench` and
//! `target/release/sesame-bench [--postgres-url URL] [--duration SECS] …`.

mod hashing;
mod load;
mod pg;
mod report;
mod scenarios;
mod server;

use clap::Parser;
use report::Report;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "sesame-bench",
    about = "Start Sesame on a temporary database, run the performance scenarios, print a table."
)]
struct Args {
    /// Also run every scenario on PostgreSQL: a temporary database is created on this server and
    /// dropped afterwards (e.g. postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long)]
    postgres_url: Option<String>,
    /// Seconds per scenario phase.
    #[arg(long)]
    duration: Option<f64>,
    /// Concurrent connections of the closed-loop phases (reads, logins, refresh, registration).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Users to seed (each costs one registration and one login at production hashing cost).
    #[arg(long)]
    users: Option<usize>,
    /// Concurrent logins of the memory scenario.
    #[arg(long)]
    storm: Option<usize>,
    /// Token-checked reads per second during the mixed scenario (paced, not closed-loop).
    #[arg(long, default_value_t = 500.0)]
    mixed_read_rate: f64,
    /// Connections carrying the paced reads of the mixed scenario.
    #[arg(long, default_value_t = 8)]
    mixed_readers: usize,
    /// Restarts measured by the startup scenario.
    #[arg(long)]
    startup_runs: Option<usize>,
    /// About two seconds per scenario with small numbers: proves the harness works (CI).
    #[arg(long)]
    smoke: bool,
    /// The `sesame` binary (default: `sesame` next to this executable, i.e. target/release).
    #[arg(long)]
    sesame_bin: Option<PathBuf>,
    /// Also write the Markdown result to this file.
    #[arg(long)]
    markdown_out: Option<PathBuf>,
    /// Run only these scenarios (comma-separated): read, login, mixed, refresh, register, totp,
    /// passkey, startup, memory. Users are always seeded.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// An extra `KEY=VALUE` in the server's environment, for experiments (repeatable), e.g.
    /// `--server-env SESAME_JWT_ALGORITHM=HS256` or `--server-env MALLOC_ARENA_MAX=2`. Shown in
    /// the table's header.
    #[arg(long = "server-env", value_parser = parse_env)]
    server_env: Vec<(String, String)>,
    /// Keep the temporary directory (server logs, SQLite file) and print where it is.
    #[arg(long)]
    keep: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // A raw-hashing phase cut short by Ctrl-C may still be running on a blocking thread.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_env(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{raw}` is not KEY=VALUE"))
}

fn sesame_bin(args: &Args) -> Result<PathBuf, String> {
    if let Some(p) = &args.sesame_bin {
        return p
            .exists()
            .then(|| p.clone())
            .ok_or_else(|| format!("--sesame-bin {}: no such file", p.display()));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let sibling = exe.with_file_name("sesame");
    if sibling.exists() {
        Ok(sibling)
    } else {
        Err(format!(
            "no `sesame` binary next to {}; build it first with \
             `cargo build --release -p sesame -p sesame-bench`, or pass --sesame-bin PATH",
            exe.display()
        ))
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let bin = sesame_bin(&args)?;
    let nproc = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let smoke = args.smoke;
    let cfg = scenarios::Config {
        duration: Duration::from_secs_f64(args.duration.unwrap_or(if smoke { 2.0 } else { 10.0 })),
        concurrency: args.concurrency.unwrap_or(if smoke { 8 } else { 32 }),
        users: args.users.unwrap_or(if smoke { 16 } else { 200 }),
        storm: args.storm.unwrap_or(if smoke { 20 } else { 200 }),
        mixed_read_rate: args.mixed_read_rate,
        mixed_readers: args.mixed_readers,
        startup_runs: args.startup_runs.unwrap_or(if smoke { 2 } else { 5 }),
        nproc,
        idle_wait: Duration::from_secs(if smoke { 1 } else { 3 }),
        only: args.only.clone(),
        slices: if smoke { 2 } else { 5 },
    };
    if let Some(bad) = args
        .only
        .iter()
        .flatten()
        .find(|s| !scenarios::SCENARIOS.contains(&s.as_str()))
    {
        return Err(format!(
            "--only: unknown scenario `{bad}`; choose from {}",
            scenarios::SCENARIOS.join(", ")
        ));
    }
    let run_id = format!(
        "{}_{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let dir = std::env::temp_dir().join(format!("sesame-bench-{run_id}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pg = match &args.postgres_url {
        Some(url) => match pg::TempDb::create(url, &run_id).await {
            Ok(db) => Some(db),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        },
        None => None,
    };
    let mut specs = vec![(
        "sqlite",
        server::Spec {
            bin: bin.clone(),
            database_url: format!("sqlite://{}", dir.join("sesame.db").display()),
            dir: dir.clone(),
            env: args.server_env.clone(),
        },
    )];
    if let Some(db) = &pg {
        specs.push((
            "postgres",
            server::Spec {
                bin,
                database_url: db.url.clone(),
                dir: dir.clone(),
                env: args.server_env.clone(),
            },
        ));
    }
    eprintln!(
        "sesame-bench: {} s per phase, concurrency {}, {} users, on {}",
        cfg.duration.as_secs_f64(),
        cfg.concurrency,
        cfg.users,
        specs.iter().map(|s| s.0).collect::<Vec<_>>().join(" and ")
    );

    // The scenarios run in their own task so that Ctrl-C can stop them: aborting the task drops
    // the running servers, which kills them; the database and directory are cleaned up below.
    let mut work = tokio::spawn({
        let cfg = cfg.clone();
        async move {
            let mut report = Report {
                load_before: report::loadavg(),
                ..Report::default()
            };
            for (backend, spec) in &specs {
                if let Err(e) = scenarios::run_backend(&cfg, backend, spec, &mut report).await {
                    report.failures.push(format!("{backend}: {e}"));
                }
            }
            report
        }
    });
    let outcome = tokio::select! {
        r = &mut work => r.map_err(|e| format!("the benchmark failed: {e}")),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: stopping the servers and cleaning up");
            work.abort();
            let _ = work.await;
            Err("interrupted".to_owned())
        }
    };

    if let Some(db) = &pg {
        if let Err(e) = db.drop_db().await {
            eprintln!("warning: could not drop database {}: {e}", db.name);
        }
    }
    if args.keep {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }

    let report = outcome?;
    let command = std::iter::once("sesame-bench".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let md = report.markdown(&command, smoke);
    println!("{md}");
    if let Some(path) = &args.markdown_out {
        std::fs::write(path, &md).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if report.failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &report.failures {
            eprintln!("harness failure: {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}
