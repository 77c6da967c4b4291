//! Storage backends behind the domain's [`Store`] trait: one implementation per database
//! ([`sqlite::SqliteStore`], [`postgres::PgStore`]), chosen by the URL scheme, plus schema
//! migrations (embedded, reversible, one directory per backend with the same version numbers).
//!
//! Implementations enforce uniqueness and atomicity, never content rules: every value they are
//! given was parsed by the domain. The server wraps either in [`cached::CachedStore`], which
//! answers the per-request session check from memory (see [`session_cache`]) and, on
//! PostgreSQL, keeps the nodes' caches in step through [`pg_notify`].

pub mod cached;
mod dialect;
pub mod pg_notify;
pub mod pool;
pub mod postgres;
pub mod reach;
pub mod session_cache;
pub mod sqlite;
pub mod sqlite_rotations;

use cached::CachedStore;
use sesame_domain::error::Conflict;
use sesame_domain::store::Store;
use sesame_domain::StoreError;
use session_cache::SessionCache;
use sqlx::migrate::Migrator;
use std::sync::Arc;
use std::time::Duration;

/// Most sessions one node keeps in its session cache (a few hundred bytes each).
pub const SESSION_CACHE_CAPACITY: usize = 50_000;

pub static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
pub static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The URL schemes Sesame accepts, for error messages.
pub const ACCEPTED_SCHEMES: &str =
    "sqlite://PATH (or sqlite::memory:), postgres://… or postgresql://…";

/// A connected database, before it is wrapped as a [`Store`]. Migrations and operator commands
/// work on this; the server works on the `Store`.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// One migration and whether it is applied, for `sesame migrate status`.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// Whether opening the database may create it. Only the commands that build a schema (`serve`,
/// `migrate up`) create a missing SQLite file; the others, run in the wrong directory, say the
/// file is not there instead of leaving an empty database behind. (A PostgreSQL database is
/// never created by Sesame.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    IfMissing,
    Never,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "unsupported database URL scheme in SESAME_DATABASE_URL; accepted: {ACCEPTED_SCHEMES}"
    )]
    UnknownScheme,
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error(
        "the database {} does not exist: `sesame migrate up` (or `sesame serve`) creates it, \
         or point SESAME_DATABASE_URL / --database-url at the right file",
        .0.display()
    )]
    Missing(std::path::PathBuf),
    /// The first connection attempt failed (see [`reach`]): where, without credentials, and why.
    #[error("cannot connect to PostgreSQL at {target}: {cause}")]
    Postgres {
        target: String,
        cause: reach::PgCause,
    },
    #[error("cannot open the SQLite database {}: {cause}", path.display())]
    Sqlite {
        path: std::path::PathBuf,
        cause: String,
    },
    #[error("migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Where a database URL keeps its data, for what lives beside it (the encryption key generated
/// for a SQLite database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPlace {
    /// A SQLite database file.
    File(std::path::PathBuf),
    /// An in-memory SQLite database: nothing outlives the process.
    Memory,
    /// A database server (PostgreSQL): nothing on this machine.
    Server,
}

impl DataPlace {
    /// Where `url` keeps its data.
    ///
    /// # Errors
    /// [`ConnectError::UnknownScheme`], or a SQLite URL sqlx cannot parse.
    pub fn of(url: &str) -> Result<Self, ConnectError> {
        if url.starts_with("sqlite:") {
            if url.contains(":memory:") || url.contains("mode=memory") {
                return Ok(Self::Memory);
            }
            let opts = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)?;
            Ok(Self::File(opts.get_filename().to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Server)
        } else {
            Err(ConnectError::UnknownScheme)
        }
    }
}

impl Database {
    /// Connects by URL scheme with the default deadlines. A SQLite file is created if missing.
    ///
    /// # Errors
    /// [`ConnectError::UnknownScheme`] for anything but `sqlite:` and `postgres(ql)://`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        Self::connect_with(url, &pool::PoolSettings::new(max_connections)).await
    }

    /// Connects by URL scheme with these pool settings, creating a missing SQLite file.
    ///
    /// # Errors
    /// [`ConnectError::UnknownScheme`] for anything but `sqlite:` and `postgres(ql)://`.
    pub async fn connect_with(
        url: &str,
        settings: &pool::PoolSettings,
    ) -> Result<Self, ConnectError> {
        Self::open(url, settings, Create::IfMissing).await
    }

    /// Connects by URL scheme with these pool settings; `create` says whether a missing SQLite
    /// file may be created.
    ///
    /// # Errors
    /// [`ConnectError::UnknownScheme`] for anything but `sqlite:` and `postgres(ql)://`;
    /// [`ConnectError::Missing`] for a SQLite file that is not there with [`Create::Never`].
    pub async fn open(
        url: &str,
        settings: &pool::PoolSettings,
        create: Create,
    ) -> Result<Self, ConnectError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(
                sqlite::SqliteStore::connect(url, settings, create).await?,
            ))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(
                postgres::PgStore::connect(url, settings).await?,
            ))
        } else {
            Err(ConnectError::UnknownScheme)
        }
    }

    #[must_use]
    pub fn into_store(self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::new(s),
            Self::Postgres(s) => Arc::new(s),
        }
    }

    /// The store the server uses: `into_store` behind the session cache (when `cache_ttl` is
    /// not zero). On PostgreSQL the cache is per node, so it listens on `url` for the other
    /// nodes' invalidations and serves only while it can hear them; this waits (up to 2 s) for
    /// the first subscription so that a server starts with its cache on.
    pub async fn into_server_store(
        self,
        url: &str,
        cache_ttl: Duration,
    ) -> (Arc<dyn Store>, Option<Arc<SessionCache>>) {
        if cache_ttl.is_zero() {
            return (self.into_store(), None);
        }
        match self {
            Self::Sqlite(s) => {
                let cache = Arc::new(SessionCache::new(cache_ttl, SESSION_CACHE_CAPACITY, true));
                let store = CachedStore::new(Arc::new(s), Arc::clone(&cache), None, None);
                (Arc::new(store), Some(cache))
            }
            Self::Postgres(s) => {
                let cache = Arc::new(SessionCache::new(cache_ttl, SESSION_CACHE_CAPACITY, false));
                let broadcast = Arc::new(pg_notify::PgBroadcast::new(s.pool().clone()));
                let (tx, first_attempt) = tokio::sync::oneshot::channel();
                let listener = pg_notify::spawn_listener(
                    url.to_owned(),
                    s.pool().clone(),
                    Arc::clone(&cache),
                    tx,
                );
                let _ = tokio::time::timeout(Duration::from_secs(2), first_attempt).await;
                let store = CachedStore::new(
                    Arc::new(s),
                    Arc::clone(&cache),
                    Some(broadcast),
                    Some(listener),
                );
                (Arc::new(store), Some(cache))
            }
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Self::Sqlite(_) => &SQLITE_MIGRATIONS,
            Self::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies every pending migration and returns those this call applied, oldest first
    /// (empty when the schema was up to date).
    ///
    /// # Errors
    /// [`ConnectError::Migrate`] naming the migration that failed.
    pub async fn migrate_up(&self) -> Result<Vec<MigrationStatus>, ConnectError> {
        let pending: Vec<MigrationStatus> = self
            .status()
            .await?
            .into_iter()
            .filter(|m| !m.applied)
            .collect();
        // Run even with nothing pending: sqlx also checks that the applied migrations still
        // match their files (a changed checksum, a half-applied migration).
        let m = self.migrator();
        match self {
            Self::Sqlite(s) => m.run(s.pool()).await,
            Self::Postgres(s) => {
                let mut conn = migration_connection(s.pool()).await?;
                let ran = m.run(&mut *conn).await;
                let _ = conn.close().await;
                ran
            }
        }
        .map_err(ConnectError::Migrate)?;
        // Another node starting at the same moment may have applied some of them (sqlx holds a
        // lock while it migrates): "applied" here means "pending before, applied now".
        let now = self.status().await?;
        Ok(pending
            .into_iter()
            .filter(|p| now.iter().any(|n| n.version == p.version && n.applied))
            .map(|p| MigrationStatus { applied: true, ..p })
            .collect())
    }

    /// The applied migrations a `migrate_down(target)` would revert, newest first: those after
    /// `target`, or only the latest when `target` is `None`. Empty: nothing to revert.
    ///
    /// # Errors
    /// [`ConnectError::Connect`] if the database cannot be read.
    pub async fn down_plan(
        &self,
        target: Option<i64>,
    ) -> Result<Vec<MigrationStatus>, ConnectError> {
        let mut applied: Vec<MigrationStatus> = self
            .status()
            .await?
            .into_iter()
            .filter(|m| m.applied)
            .collect();
        applied.reverse();
        Ok(match target {
            None => applied.into_iter().take(1).collect(),
            Some(t) => applied.into_iter().filter(|m| m.version > t).collect(),
        })
    }

    /// Reverts applied migrations down to (and keeping) `target`; `None` reverts only the
    /// latest. Returns what was reverted, newest first (empty when there was nothing to revert).
    ///
    /// # Errors
    /// [`ConnectError::Migrate`] naming the migration that failed.
    pub async fn migrate_down(
        &self,
        target: Option<i64>,
    ) -> Result<Vec<MigrationStatus>, ConnectError> {
        let plan = self.down_plan(target).await?;
        let Some(oldest) = plan.last() else {
            return Ok(Vec::new());
        };
        // Keep every migration below the oldest one to revert.
        let keep = self
            .status()
            .await?
            .iter()
            .filter(|m| m.applied && m.version < oldest.version)
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        let m = self.migrator();
        match self {
            Self::Sqlite(s) => m.undo(s.pool(), keep).await,
            Self::Postgres(s) => {
                let mut conn = migration_connection(s.pool()).await?;
                let ran = m.undo(&mut *conn, keep).await;
                let _ = conn.close().await;
                ran
            }
        }
        .map_err(ConnectError::Migrate)?;
        let now = self.status().await?;
        Ok(plan
            .into_iter()
            .filter(|p| now.iter().any(|n| n.version == p.version && !n.applied))
            .map(|p| MigrationStatus {
                applied: false,
                ..p
            })
            .collect())
    }

    /// Every known migration with whether it is applied.
    ///
    /// # Errors
    /// [`ConnectError::Connect`] if the database cannot be read.
    pub async fn status(&self) -> Result<Vec<MigrationStatus>, ConnectError> {
        let applied: Vec<i64> = match self {
            Self::Sqlite(s) => s.applied_migrations().await,
            Self::Postgres(s) => s.applied_migrations().await,
        }
        .map_err(ConnectError::Connect)?;
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                applied: applied.contains(&m.version),
            })
            .collect())
    }
}

/// A PostgreSQL connection of its own for migrating, closed by the caller afterwards: a
/// migration may rewrite a big table, so it runs without the statement timeout; and sqlx's
/// `CREATE TABLE IF NOT EXISTS _sqlx_migrations`, run on every start, makes the server send a
/// NOTICE ("relation … already exists, skipping") that sqlx logs at INFO, so this session asks
/// only for warnings and errors (`client_min_messages`; PostgreSQL docs, "Client Connection
/// Defaults"). Errors still fail the migration as before.
async fn migration_connection(
    pool: &sqlx::PgPool,
) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, ConnectError> {
    let mut conn = pool.acquire().await.map_err(ConnectError::Connect)?;
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await
        .map_err(ConnectError::Connect)?;
    sqlx::query("SET client_min_messages = warning")
        .execute(&mut *conn)
        .await
        .map_err(ConnectError::Connect)?;
    Ok(conn)
}

impl From<sqlx::Error> for ConnectError {
    fn from(e: sqlx::Error) -> Self {
        Self::Connect(e)
    }
}

/// Maps a driver error to the domain's: unique violations name the rule they broke (by the
/// index name, which both backends mention); an unreachable or too slow database is
/// [`StoreError::Unavailable`] (see [`is_unavailable`]); everything else is a backend failure.
pub(crate) fn store_err(e: sqlx::Error) -> StoreError {
    if is_unavailable(&e) {
        return StoreError::unavailable(e);
    }
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let names = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
            return StoreError::Conflict(if names.contains("email_normalized") {
                Conflict::Email
            } else if names.contains("username_normalized") {
                Conflict::Username
            } else {
                Conflict::Other
            });
        }
    }
    StoreError::backend(e)
}

/// Whether `e` says the database is down or too slow rather than that the request or our SQL is
/// wrong: no connection within the acquire timeout, a refused or broken connection, or one of
/// these SQLSTATEs (PostgreSQL, Appendix A): class 08 (connection exception), 53300
/// (too_many_connections), 57014 (query_canceled: our `statement_timeout`), 57P01–57P03
/// (admin_shutdown, crash_shutdown, cannot_connect_now), 55P03 (lock_not_available); and
/// SQLite's `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6) once the busy timeout has passed.
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            if code.len() == 5 {
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "53300" | "57014" | "57P01" | "57P02" | "57P03" | "55P03"
                    )
            } else {
                // SQLite's extended result codes keep the primary code in the low byte.
                code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
            }
        }),
        _ => false,
    }
}

/// Splits the `roles` column (role names joined by commas; names cannot contain one) into a
/// sorted list.
pub(crate) fn split_roles(joined: Option<String>) -> Vec<sesame_domain::model::RoleName> {
    let mut roles: Vec<_> = joined
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| sesame_domain::model::RoleName::from_stored(s.to_owned()))
        .collect();
    roles.sort();
    roles
}

/// Rebuilds a claimed outbox row; an error names what is wrong with it.
pub(crate) fn decode_mail(
    id: uuid::Uuid,
    to: String,
    kind: &str,
    params: &str,
    locale: Option<&str>,
    attempts: i64,
) -> Result<sesame_domain::mail::QueuedMail, String> {
    let kind = sesame_domain::mail::MailKind::parse(kind)
        .ok_or_else(|| format!("unknown mail kind `{kind}`"))?;
    let params = sesame_domain::mail::Message::decode(kind, params)
        .map_err(|e| format!("bad params for {}: {e}", kind.as_str()))?;
    Ok(sesame_domain::mail::QueuedMail {
        id,
        to,
        kind,
        params,
        // NULL: queued before mail had a language (the renderer's default speaks it).
        locale: locale.and_then(sesame_domain::locale::Locale::from_tag),
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}
