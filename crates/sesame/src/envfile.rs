//! The `.env` file: settings read from a file into the process environment before the command
//! line is parsed (every variable in it is set, `SESAME_*` or not, e.g. `RUST_BACKTRACE`), so the precedence is flags > environment > `.env` > defaults.
//!
//! Owns finding the file (`.env` in the working directory, or the path in `SESAME_ENV_FILE`)
//! and turning a malformed one into a message that names the file and the line. Parsing is
//! `dotenvy`'s (the `.env` format of docker compose and the dotenv family: `KEY=value`, `#`
//! comments, single quotes for a literal value, `$OTHER` expanded in unquoted and double-quoted
//! values). It never overrides a variable that is already set, and it does not interpret any
//! setting: that is `config`'s job, through clap.

use std::path::{Path, PathBuf};

/// The variable naming another file to read instead of `./.env`.
pub const ENV_FILE_VAR: &str = "SESAME_ENV_FILE";

/// Why the settings file could not be read. Messages name the file and the line, never a
/// value (a malformed line may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("{ENV_FILE_VAR} names {}, which cannot be read: {source}", path.display())]
    Missing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}{}: this line is not a KEY=value setting{} (quote a value with spaces or #, e.g. \
         SESAME_MAIL_FROM=\"Acme <no-reply@acme.example>\")",
        path.display(),
        line.map(|n| format!(", line {n}")).unwrap_or_default(),
        key.as_deref().map(|k| format!(" (near `{k}`)")).unwrap_or_default()
    )]
    Malformed {
        path: PathBuf,
        /// 1-based; `None` when the line could not be located again.
        line: Option<usize>,
        /// The text before the first `=` or space, when it looks like a variable name.
        key: Option<String>,
    },
}

/// Loads `SESAME_ENV_FILE` if set (it must exist), else `./.env` if present. Returns the file
/// read, if any.
///
/// Call it before any thread starts: it sets process environment variables.
///
/// # Errors
/// An [`EnvFileError`] when the named file is missing, a file cannot be read, or a line is
/// malformed.
pub fn load() -> Result<Option<PathBuf>, EnvFileError> {
    match std::env::var_os(ENV_FILE_VAR) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if let Err(source) = std::fs::metadata(&path) {
                return Err(EnvFileError::Missing { path, source });
            }
            load_from(&path).map(Some)
        }
        _ => {
            let path = PathBuf::from(".env");
            if path.exists() {
                load_from(&path).map(Some)
            } else {
                Ok(None)
            }
        }
    }
}

fn load_from(path: &Path) -> Result<PathBuf, EnvFileError> {
    match dotenvy::from_path(path) {
        Ok(()) => Ok(path.to_owned()),
        Err(dotenvy::Error::LineParse(text, _)) => Err(malformed(path, &text)),
        Err(dotenvy::Error::Io(source)) => Err(EnvFileError::Unreadable {
            path: path.to_owned(),
            source,
        }),
        // `EnvVar` comes from reading a variable a value refers to; the message says no more.
        Err(other) => Err(EnvFileError::Unreadable {
            path: path.to_owned(),
            source: std::io::Error::other(other.to_string()),
        }),
    }
}

/// Locates the offending text (dotenvy reports the line's text, not its number) and keeps only
/// its key.
fn malformed(path: &Path, text: &str) -> EnvFileError {
    let line = std::fs::read_to_string(path).ok().and_then(|content| {
        let first = text.lines().next().unwrap_or(text).trim();
        if first.is_empty() {
            return None;
        }
        content
            .lines()
            .position(|l| l.contains(first))
            .map(|i| i + 1)
    });
    // A key only where the text has the shape `KEY=…` or starts with a `SESAME_` name: a line
    // holding just a bare word may be a wrapped secret, and is never echoed.
    let head = text.trim_start().trim_start_matches("export ");
    let key = head
        .split(['=', ' ', '\t'])
        .next()
        .filter(|k| head[k.len()..].starts_with('=') || k.starts_with("SESAME_"))
        .filter(|k| {
            !k.is_empty()
                && k.len() <= 64
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map(str::to_owned);
    EnvFileError::Malformed {
        path: path.to_owned(),
        line,
        key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_line_is_named_by_number_and_key_without_its_value() {
        let dir = std::env::temp_dir().join(format!("sesame-envfile-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.env");
        std::fs::write(
            &file,
            "# comment\nSESAME_ENVFILE_UNIT_A=1\nSESAME_SMTP_URL smtp://u:hunter2@mail\n",
        )
        .unwrap();
        let err = load_from(&file).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("SESAME_SMTP_URL"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_malformed_line_of_one_bare_word_is_not_echoed() {
        let dir = std::env::temp_dir().join(format!("sesame-envfile-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.env");
        // A secret wrapped onto a line of its own, after an unterminated quote's line.
        std::fs::write(
            &file,
            "SESAME_ENVFILE_UNIT_B=1
WrappedSecretTail42 and more
",
        )
        .unwrap();
        let err = load_from(&file).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains("WrappedSecretTail42"), "{msg}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
