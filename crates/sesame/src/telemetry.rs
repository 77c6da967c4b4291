//! Structured logging: JSON lines by default when stdout is not a terminal, human-readable
//! when it is, filtered by `SESAME_LOG_LEVEL`. What gets logged is decided at the call sites,
//! which never pass a password, token, hash or secret.

use crate::config::{CommonConfig, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Calling it twice is harmless (the second call is ignored),
/// which lets tests start several servers in one process.
pub fn init(common: &CommonConfig) {
    let filter = EnvFilter::try_new(&common.log_level).unwrap_or_else(|e| {
        eprintln!(
            "SESAME_LOG_LEVEL `{}` is not a valid filter ({e}); using `info`",
            common.log_level
        );
        EnvFilter::new("info")
    });
    let format = common
        .log_format
        .unwrap_or(if std::io::stdout().is_terminal() {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
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
