//! The README's curl walkthrough, run as written: every shell block between a
//! `<!-- walkthrough:start -->` and a `<!-- walkthrough:end -->` marker of README.md, in order,
//! against the real binary started the way the README starts it (no configuration, in an empty
//! directory, its log kept in `sesame.log`, where the default `log` mail transport writes the
//! links the walkthrough reads). Every `curl` must succeed (`--fail-with-body`), so a step that
//! answers an error — a dead token, an old password — fails the test with the answer.

use crate::helpers::{sesame, TempDir};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The shell blocks between the walkthrough markers, joined in order.
fn walkthrough(readme: &str) -> String {
    let mut script = String::new();
    let mut in_section = false;
    let mut in_block = false;
    for line in readme.lines() {
        match line.trim() {
            "<!-- walkthrough:start -->" => in_section = true,
            "<!-- walkthrough:end -->" => in_section = false,
            "```sh" if in_section => in_block = true,
            "```" if in_block => in_block = false,
            _ if in_block => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    script
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn the_walkthrough_is_found_in_the_readme() {
    let script = walkthrough(include_str!("../../../../README.md"));
    assert!(script.contains("S=http://127.0.0.1:8080\n"), "{script}");
    assert!(script.contains("/api/v1/auth/register"), "{script}");
    assert!(script.contains("/api/v1/admin/users"), "{script}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_runs_as_written() {
    let script = walkthrough(include_str!("../../../../README.md"));
    let dir = TempDir::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let bin = Path::new(env!("CARGO_BIN_EXE_sesame"));

    // `cargo run --release -- serve | tee sesame.log`, on another port.
    let log = std::fs::File::create(dir.path().join("sesame.log")).unwrap();
    let mut server = sesame(dir.path())
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(log)
        .spawn()
        .expect("start sesame serve");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/health/ready")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the server did not get ready within 30 s: {:?}",
            server.try_wait()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let script = script.replace("S=http://127.0.0.1:8080\n", &format!("S={base}\n"));
    let prelude =
        "set -euo pipefail\ncurl() { command curl --fail-with-body --max-time 30 \"$@\"; echo; }\n";
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut shell = tokio::process::Command::new("bash");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SESAME_") {
            shell.env_remove(k);
        }
    }
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        shell
            .current_dir(dir.path())
            .env("PATH", path)
            .arg("-c")
            .arg(format!("{prelude}{script}echo walkthrough-complete\n"))
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the walkthrough finished within 2 minutes")
    .expect("bash runs");
    let _ = server.kill().await;
    let server_log = std::fs::read_to_string(dir.path().join("sesame.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "the walkthrough failed ({}).\n--- its output:\n{}\n--- its errors:\n{}\n--- the server's log (last 40 lines):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server_log
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // It went all the way (`set -e`: any failing step stops the script before this line).
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.trim_end().ends_with("walkthrough-complete"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"keys\""),
        "the JWKS step did not run: {stdout}"
    );
}
