//! Structured logging: JSON lines by default when the log's destination is not a terminal,
//! human-readable when it is, filtered by `SESAME_LOG_LEVEL`. `serve` logs to stdout; the
//! operator commands log to stderr, their stdout being their result. What gets logged is
//! decided at the call sites, which never pass a password, token, hash or secret.

use crate::config::{CommonConfig, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, writing to stdout (the server's log). Calling it twice is
/// harmless (the second call is ignored), which lets tests start several servers in one process.
pub fn init(common: &CommonConfig) {
    init_on(common, Output::Stdout);
}

/// Installs the global subscriber writing to stderr: for the operator commands, whose stdout is
/// their result (`migrate status`, `users create`), which a script may read.
pub fn init_on_stderr(common: &CommonConfig) {
    init_on(common, Output::Stderr);
}

#[derive(Clone, Copy)]
enum Output {
    Stdout,
    Stderr,
}

fn init_on(common: &CommonConfig, output: Output) {
    let filter = EnvFilter::try_new(&common.log_level).unwrap_or_else(|e| {
        eprintln!(
            "SESAME_LOG_LEVEL `{}` is not a valid filter ({e}); using `info`",
            common.log_level
        );
        EnvFilter::new("info")
    });
    let (terminal, writer) = match output {
        Output::Stdout => (
            std::io::stdout().is_terminal(),
            BoxMakeWriter::new(std::io::stdout),
        ),
        Output::Stderr => (
            std::io::stderr().is_terminal(),
            BoxMakeWriter::new(std::io::stderr),
        ),
    };
    let format = common.log_format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            // `span`: the innermost span's fields; `spans`: the whole chain, so a line logged
            // inside a domain function still carries the request's id, method and path.
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
