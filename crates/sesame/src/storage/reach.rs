//! Reaching the database before the pool is built: one direct connection attempt whose failure
//! is told as an operator needs it — where (`host:port`, or the SQLite file) and why (refused,
//! host not found, authentication failed, database missing, TLS, timeout) — instead of the
//! pool's "timed out while waiting for an open connection" after its acquire timeout.
//!
//! Also names a database for the startup log ([`Target`]). Nothing here ever holds or prints a
//! user name's password: a [`Target`] is built from the parsed options and keeps only the host,
//! port and database (or the file path). It does not build pools or run statements (`pool.rs`,
//! the stores).

use super::ConnectError;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions as _;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Where a database lives, without credentials: for logs and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file (`sqlite::memory:` databases are `:memory:`).
    Sqlite { path: PathBuf },
    Postgres {
        host: String,
        port: u16,
        database: Option<String>,
    },
}

impl Target {
    /// The target of a `sqlite:` or `postgres(ql)://` URL; `None` for anything else.
    #[must_use]
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url).ok()?;
            Some(Self::of_sqlite(&opts))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).ok()?;
            Some(Self::of_postgres(&opts))
        } else {
            None
        }
    }

    fn of_sqlite(opts: &SqliteConnectOptions) -> Self {
        let path = opts.get_filename();
        let path = if is_in_memory(path) {
            PathBuf::from(":memory:")
        } else {
            path.to_owned()
        };
        Self::Sqlite { path }
    }

    fn of_postgres(opts: &PgConnectOptions) -> Self {
        Self::Postgres {
            host: opts.get_host().to_owned(),
            port: opts.get_port(),
            database: opts.get_database().map(str::to_owned),
        }
    }

    /// `host:port` of a PostgreSQL target (IPv6 hosts bracketed); the path of a SQLite one.
    #[must_use]
    pub fn address(&self) -> String {
        match self {
            Self::Sqlite { path } => path.display().to_string(),
            Self::Postgres { host, port, .. } if host.contains(':') => format!("[{host}]:{port}"),
            Self::Postgres { host, port, .. } => format!("{host}:{port}"),
        }
    }
}

impl fmt::Display for Target {
    /// `sqlite PATH` or `postgres HOST:PORT/DATABASE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { .. } => write!(f, "sqlite {}", self.address()),
            Self::Postgres { database, .. } => write!(
                f,
                "postgres {}/{}",
                self.address(),
                database.as_deref().unwrap_or("")
            ),
        }
    }
}

/// Why PostgreSQL could not be reached. Each message ends with what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgCause {
    Refused,
    HostNotFound(String),
    /// The server's own sentence (it names the user, never the password).
    AuthenticationFailed(String),
    DatabaseMissing(String),
    /// pg_hba.conf has no entry for this client over an unencrypted connection: either no entry
    /// at all, or only `hostssl` ones (the server words both "…, no encryption").
    TlsRequired(String),
    Tls(String),
    Timeout(Duration),
    /// Anything else, as the driver or the server put it.
    Other(String),
}

impl fmt::Display for PgCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused => f.write_str(
                "connection refused: nothing listens there (is PostgreSQL running, and on this \
                 host and port?)",
            ),
            Self::HostNotFound(host) => write!(
                f,
                "host not found: `{host}` does not resolve (check the host in SESAME_DATABASE_URL)"
            ),
            Self::AuthenticationFailed(msg) => write!(
                f,
                "authentication failed: {msg} (check the user and password in \
                 SESAME_DATABASE_URL, and the server's pg_hba.conf)"
            ),
            Self::DatabaseMissing(msg) => write!(
                f,
                "database does not exist: {msg} (create it, e.g. `createdb NAME`, or fix the name \
                 in SESAME_DATABASE_URL)"
            ),
            Self::TlsRequired(msg) => write!(
                f,
                "authentication failed: {msg} (the server's pg_hba.conf has no entry for this \
                 client over an unencrypted connection: add this host to it, or, if it accepts \
                 this client over TLS only (`hostssl`), add ?sslmode=require to \
                 SESAME_DATABASE_URL)"
            ),
            Self::Tls(msg) => write!(
                f,
                "TLS failed: {msg} (check the sslmode in SESAME_DATABASE_URL and the server's \
                 certificate)"
            ),
            Self::Timeout(d) => write!(
                f,
                "timeout: no answer within {} s (a firewall dropping packets, or the wrong \
                 host?)",
                d.as_secs()
            ),
            Self::Other(msg) => f.write_str(msg),
        }
    }
}

/// The longest the first connection attempt may take: the pool's acquire timeout, but never
/// less than this (a server across a network may need a moment for TLS and authentication).
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens and closes one connection to the server `opts` names.
///
/// # Errors
/// [`ConnectError::Postgres`] naming `host:port` and the cause.
pub async fn postgres(
    opts: &PgConnectOptions,
    acquire_timeout: Duration,
) -> Result<(), ConnectError> {
    let target = Target::of_postgres(opts);
    let fail = |cause| ConnectError::Postgres {
        target: target.address(),
        cause,
    };
    let host = opts.get_host();
    // A Unix socket directory needs no lookup; a name that does not resolve is told apart from
    // a refused connection here rather than by the wording of the resolver's error.
    if !host.starts_with('/') {
        let found = tokio::net::lookup_host((host, opts.get_port()))
            .await
            .map(|mut addrs| addrs.next().is_some())
            .unwrap_or(false);
        if !found {
            return Err(fail(PgCause::HostNotFound(host.to_owned())));
        }
    }
    let limit = acquire_timeout.max(MIN_CONNECT_TIMEOUT);
    match tokio::time::timeout(limit, opts.connect()).await {
        Err(_) => Err(fail(PgCause::Timeout(limit))),
        Ok(Err(e)) => Err(fail(pg_cause(&e, limit))),
        Ok(Ok(conn)) => {
            let _ = sqlx::Connection::close(conn).await;
            Ok(())
        }
    }
}

/// Classifies a failed connection attempt. SQLSTATEs from PostgreSQL's Appendix A: class 28
/// (invalid authorization specification: 28000, 28P01 invalid password) and 3D000
/// (invalid_catalog_name: the database does not exist).
fn pg_cause(e: &sqlx::Error, limit: Duration) -> PgCause {
    match e {
        // sqlx hands a failed TLS handshake back as an I/O error wrapping rustls' own.
        sqlx::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
            PgCause::Tls(io.to_string())
        }
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => PgCause::Refused,
            std::io::ErrorKind::TimedOut => PgCause::Timeout(limit),
            _ => PgCause::Other(format!("network error: {io}")),
        },
        sqlx::Error::Tls(tls) => PgCause::Tls(tls.to_string()),
        sqlx::Error::Database(db) => {
            let msg = db.message().to_owned();
            match db.code().as_deref() {
                Some("3D000") => PgCause::DatabaseMissing(msg),
                // pg_hba.conf has only `hostssl` lines for this client: the server words it
                // "no pg_hba.conf entry for host …, no encryption".
                Some("28000") if msg.contains("no encryption") => PgCause::TlsRequired(msg),
                Some(code) if code.starts_with("28") => PgCause::AuthenticationFailed(msg),
                Some(code) => PgCause::Other(format!("the server refused: {msg} ({code})")),
                None => PgCause::Other(format!("the server refused: {msg}")),
            }
        }
        other => PgCause::Other(other.to_string()),
    }
}

fn is_in_memory(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s == ":memory:" || s.starts_with("file:")
}

/// Checks that the folder of the SQLite file exists (the file itself is created if missing),
/// so that a typo in the path is told as such rather than as "unable to open database file".
///
/// # Errors
/// [`ConnectError::Sqlite`] naming the path and what is wrong with it.
pub fn sqlite(opts: &SqliteConnectOptions) -> Result<(), ConnectError> {
    let path = opts.get_filename();
    if is_in_memory(path) {
        return Ok(());
    }
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let fail = |cause: String| ConnectError::Sqlite {
        path: path.to_owned(),
        cause,
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(fail(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(format!(
            "the directory {} does not exist (create it, or fix the path in SESAME_DATABASE_URL)",
            dir.display()
        ))),
        Err(e) => Err(fail(format!(
            "the directory {} cannot be read: {e}",
            dir.display()
        ))),
    }
}

/// A failed first open of a SQLite file, with the path named.
pub(super) fn sqlite_failed(opts: &SqliteConnectOptions, e: sqlx::Error) -> ConnectError {
    ConnectError::Sqlite {
        path: opts.get_filename().to_owned(),
        cause: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_never_carries_the_credentials() {
        let t = Target::of_url("postgres://alice:s3cret@db.example:6543/auth").unwrap();
        assert_eq!(t.to_string(), "postgres db.example:6543/auth");
        assert_eq!(t.address(), "db.example:6543");
        let t = Target::of_url("sqlite://data/sesame.db").unwrap();
        assert_eq!(t.to_string(), "sqlite data/sesame.db");
        assert_eq!(Target::of_url("mysql://x"), None);
    }

    #[test]
    fn a_sqlite_file_in_a_missing_directory_is_named() {
        let opts = SqliteConnectOptions::from_str("sqlite:///nonexistent-sesame-dir/x.db").unwrap();
        let e = sqlite(&opts).unwrap_err().to_string();
        assert!(e.contains("/nonexistent-sesame-dir/x.db"), "{e}");
        assert!(e.contains("does not exist"), "{e}");
    }
}
