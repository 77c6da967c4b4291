//! What differs between SQLite and PostgreSQL, side by side: for each difference, SQLite's
//! entry and then PostgreSQL's. Each backend's store is `sql_store.rs` compiled over that
//! backend's types (see `sqlite.rs`, `postgres.rs`); those shared bodies reach this module's
//! entries as `Dialect::…`, `Dialect` being [`Sqlite`] or [`Postgres`]. An entry missing on one
//! side, or of another type, fails that backend's build of the shared bodies.
//!
//! Owns the stores' connections (SQLite's dedicated writer connection and group-committed
//! rotations; PostgreSQL's single pool), how a timestamp is stored, the statements that cannot
//! be written once (session creation and refresh rotation: a script on SQLite, one statement of
//! data-modifying CTEs on PostgreSQL; the outbox claim, which PostgreSQL makes skip locked rows;
//! the admin lock; migration bookkeeping) and the fragments of the dynamic admin queries that
//! differ. It holds no statement that reads the same on both databases: those are written once,
//! with `$N` placeholders (which sqlx binds by number on SQLite too) and `TRUE`/`FALSE`.

use super::pool::{self, PoolSettings};
use super::sqlite_rotations::{run_script, Rotation, Rotations};
use super::{store_err, ConnectError, Create};
use chrono::{DateTime, Utc};
use sesame_domain::client::Scope;
use sesame_domain::clock::Timestamp;
use sesame_domain::model::SessionId;
use sesame_domain::store::NewSession;
use sesame_domain::token::TokenHash;
use sesame_domain::StoreError;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// SQLite's side of every difference.
#[derive(Debug)]
pub struct Sqlite;

/// PostgreSQL's side of every difference.
#[derive(Debug)]
pub struct Postgres;

impl Sqlite {
    /// The backend's name for logs and metrics.
    pub(super) const NAME: &'static str = "sqlite";
}

impl Postgres {
    pub(super) const NAME: &'static str = "postgres";
}

// ---- Connections -------------------------------------------------------------------------

/// The SQLite store: the embedded default (see `sqlite.rs`).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Reads: several connections, which WAL lets run beside a write.
    pub(super) pool: SqlitePool,
    /// Writes: one connection, so writers queue in order inside the process instead of sleeping
    /// in SQLite's busy handler while the database's only write lock sits idle.
    pub(super) writer: SqlitePool,
    /// Refresh-token rotations, batched into shared transactions on `writer`.
    rotations: Rotations,
}

/// The PostgreSQL store: for production, shared by any number of nodes (see `postgres.rs`).
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(super) pool: PgPool,
    /// The same pool: row locks let PostgreSQL writers run side by side (the SQLite store keeps
    /// a separate single-connection pool here).
    pub(super) writer: PgPool,
}

impl SqliteStore {
    /// Opens the database at `url`, creating the file if it is missing and `create` allows.
    ///
    /// # Errors
    /// [`ConnectError::Sqlite`] naming the file when it cannot be opened; [`ConnectError::Missing`]
    /// when it does not exist and may not be created.
    pub async fn connect(
        url: &str,
        settings: &PoolSettings,
        create: Create,
    ) -> Result<Self, ConnectError> {
        let opts = SqliteConnectOptions::from_str(url)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if create == Create::Never && !in_memory && !opts.get_filename().exists() {
            return Err(ConnectError::Missing(opts.get_filename().to_owned()));
        }
        super::reach::sqlite(&opts)?;
        let opts = opts
            .create_if_missing(create == Create::IfMissing)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = pool::sqlite_options(settings.max_connections, settings)
            .connect_with(opts.clone())
            .await
            .map_err(|e| super::reach::sqlite_failed(&opts, e))?;
        let writer = pool::sqlite_options(1, settings).connect_with(opts).await?;
        let rotations = Rotations::start(writer.clone());
        Ok(Self {
            pool,
            writer,
            rotations,
        })
    }
}

impl PgStore {
    /// Connects to the server at `url`.
    ///
    /// # Errors
    /// [`ConnectError::Postgres`] naming `host:port` and the cause when the server cannot be
    /// reached.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, ConnectError> {
        // One direct attempt first, so an unreachable server is told by name and cause.
        super::reach::postgres(&PgConnectOptions::from_str(url)?, settings.acquire_timeout).await?;
        // Deadlines and the release check: see `storage/pool.rs`.
        let pool = pool::postgres(url, settings).await?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }
}

// ---- Migration bookkeeping: whether sqlx's table exists yet ---------------------------------

impl Sqlite {
    pub(super) const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
}

impl Postgres {
    pub(super) const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'";
}

// ---- Timestamps: integer Unix milliseconds on SQLite, `timestamptz` on PostgreSQL -----------

impl Sqlite {
    /// A timestamp as SQLite stores it.
    pub(super) fn time(t: Timestamp) -> i64 {
        t.timestamp_millis()
    }

    /// A stored timestamp back.
    pub(super) fn read_time(v: i64) -> Result<Timestamp, sqlx::Error> {
        DateTime::<Utc>::from_timestamp_millis(v)
            .ok_or_else(|| sqlx::Error::Decode(format!("timestamp out of range: {v}").into()))
    }

    pub(super) fn read_opt_time(v: Option<i64>) -> Result<Option<Timestamp>, sqlx::Error> {
        v.map(Self::read_time).transpose()
    }
}

impl Postgres {
    pub(super) fn time(t: Timestamp) -> Timestamp {
        t
    }

    // Fallible only to match SQLite's signature.
    #[allow(clippy::unnecessary_wraps)]
    pub(super) fn read_time(v: Timestamp) -> Result<Timestamp, sqlx::Error> {
        Ok(v)
    }

    #[allow(clippy::unnecessary_wraps)]
    pub(super) fn read_opt_time(v: Option<Timestamp>) -> Result<Option<Timestamp>, sqlx::Error> {
        Ok(v)
    }
}

// ---- Session creation: the session, its first token, the user's last login, the audit event -

impl Sqlite {
    /// One round trip to the writer's thread: the transaction is one script. It runs in a task
    /// of its own so that a cancelled request (client gone, request timeout) cannot stop it
    /// between BEGIN and COMMIT and hand the writer connection back mid-transaction.
    pub(super) async fn create_session(
        store: &SqliteStore,
        new: &NewSession,
    ) -> Result<(), StoreError> {
        let new = new.clone();
        let writer = store.writer.clone();
        tokio::spawn(async move {
            let s = &new.session;
            let a = new.audit.as_ref();
            let q = sqlx::query(
                "BEGIN IMMEDIATE; \
                 INSERT INTO sessions (id, user_id, refresh_secret, created_at, last_used_at, expires_at, ip, user_agent, auth_time, amr, kind, client_id, scope) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?); \
                 INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?); \
                 UPDATE users SET last_login_at = ? WHERE id = ?; \
                 INSERT INTO audit_events (id, occurred_at, event, user_id, actor_id, ip, user_agent, request_id, detail) \
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ? IS NOT NULL; \
                 COMMIT",
            )
            .bind(s.id.as_uuid())
            .bind(s.user_id.as_uuid())
            .bind(&new.refresh_secret)
            .bind(Self::time(s.created_at))
            .bind(Self::time(s.last_used_at))
            .bind(Self::time(s.expires_at))
            .bind(&s.ip)
            .bind(&s.user_agent)
            .bind(Self::time(s.auth_time))
            .bind(s.amr.stored())
            .bind(new.kind.as_str())
            .bind(new.kind.grant().map(|g| g.client_id.as_uuid()))
            .bind(new.kind.grant().map(|g| Scope::join(&g.scopes)))
            .bind(new.first_refresh_hash.0.as_slice())
            .bind(s.id.as_uuid())
            .bind(Self::time(s.created_at))
            .bind(Self::time(s.created_at))
            .bind(s.user_id.as_uuid())
            .bind(a.map(|e| e.id))
            .bind(a.map(|e| Self::time(e.at)))
            .bind(a.map(|e| e.kind.as_str()))
            .bind(a.and_then(|e| e.user_id.map(|u| u.as_uuid())))
            .bind(a.and_then(|e| e.actor_id.map(|u| u.as_uuid())))
            .bind(a.and_then(|e| e.ip.as_deref()))
            .bind(a.and_then(|e| e.user_agent.as_deref()))
            .bind(a.and_then(|e| e.request_id.as_deref()))
            .bind(a.map(|e| e.detail.to_string()))
            .bind(a.map(|e| e.id));
            let mut conn = writer.acquire().await.map_err(store_err)?;
            run_script(&mut conn, q).await.map(|_| ())
        })
        .await
        .map_err(StoreError::backend)?
    }
}

impl Postgres {
    /// One statement: the session, its first token, its audit event and the user's last login
    /// are data-modifying CTEs, so they apply together, in one round trip.
    pub(super) async fn create_session(
        store: &PgStore,
        new: &NewSession,
    ) -> Result<(), StoreError> {
        let s = &new.session;
        let a = new.audit.as_ref();
        sqlx::query(
            "WITH s AS (INSERT INTO sessions (id, user_id, refresh_secret, created_at, last_used_at, expires_at, ip, user_agent, auth_time, amr, kind, client_id, scope) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $23, $24, $25, $26, $27) RETURNING id), \
             t AS (INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT $9, id, $10 FROM s), \
             a AS (INSERT INTO audit_events (id, occurred_at, event, user_id, actor_id, ip, user_agent, request_id, detail) \
             SELECT $11, $12, $13, $14, $15, $16, $17, $18, $19 WHERE $20 IS NOT NULL) \
             UPDATE users SET last_login_at = $21 WHERE id = $22",
        )
        .bind(s.id.as_uuid())
        .bind(s.user_id.as_uuid())
        .bind(&new.refresh_secret)
        .bind(s.created_at)
        .bind(s.last_used_at)
        .bind(s.expires_at)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(new.first_refresh_hash.0.as_slice())
        .bind(s.created_at)
        .bind(a.map(|e| e.id))
        .bind(a.map(|e| e.at))
        .bind(a.map(|e| e.kind.as_str()))
        .bind(a.and_then(|e| e.user_id.map(|u| u.as_uuid())))
        .bind(a.and_then(|e| e.actor_id.map(|u| u.as_uuid())))
        .bind(a.and_then(|e| e.ip.as_deref()))
        .bind(a.and_then(|e| e.user_agent.as_deref()))
        .bind(a.and_then(|e| e.request_id.as_deref()))
        .bind(a.map(|e| e.detail.to_string()))
        .bind(a.map(|e| e.id))
        .bind(s.created_at)
        .bind(s.user_id.as_uuid())
        .bind(s.auth_time)
        .bind(s.amr.stored())
        .bind(new.kind.as_str())
        .bind(new.kind.grant().map(|g| g.client_id.as_uuid()))
        .bind(new.kind.grant().map(|g| Scope::join(&g.scopes)))
        .execute(&store.writer)
        .await
        .map_err(store_err)
        .map(|_| ())
    }
}

// ---- Refresh rotation: consume the old token, store its successor, slide the session --------

impl Sqlite {
    /// Group-committed with the other rotations in flight (see `sqlite_rotations`).
    pub(super) async fn rotate_refresh_token(
        store: &SqliteStore,
        old: &TokenHash,
        new: &TokenHash,
        session: SessionId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        store
            .rotations
            .rotate(Rotation {
                old: *old,
                new: *new,
                session,
                now,
                expires_at,
            })
            .await
    }
}

impl Postgres {
    /// One statement: the consume, the successor and the slide are data-modifying CTEs, so they
    /// apply together or not at all, in one round trip; a concurrent consume of the same token
    /// blocks on the row lock, then finds it used and changes nothing.
    pub(super) async fn rotate_refresh_token(
        store: &PgStore,
        old: &TokenHash,
        new: &TokenHash,
        session: SessionId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "WITH used AS (UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND session_id = $3 AND used_at IS NULL \
             AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id AND s.revoked_at IS NULL \
             AND s.expires_at > $4) \
             RETURNING session_id), \
             ins AS (INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT $5, session_id, $6 FROM used \
             RETURNING session_id) \
             UPDATE sessions SET last_used_at = $7, expires_at = $8 WHERE id IN (SELECT session_id FROM ins)",
        )
        .bind(now)
        .bind(old.0.as_slice())
        .bind(session.as_uuid())
        .bind(now)
        .bind(new.0.as_slice())
        .bind(now)
        .bind(now)
        .bind(expires_at)
        .execute(&store.writer)
        .await
        .map_err(store_err)?
        .rows_affected();
        Ok(n == 1)
    }
}

// ---- Outbox claim: due pending messages, leased; PostgreSQL skips rows another node holds ----

impl Sqlite {
    /// Binds: lease end, now, now, limit. (One writer: no other claim runs at the same time.)
    pub(super) const CLAIM_MAIL: &'static str =
        "UPDATE mail_outbox SET locked_until = $1 WHERE id IN (\
           SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
           AND (locked_until IS NULL OR locked_until <= $3) ORDER BY next_attempt_at LIMIT $4) \
         RETURNING id, recipient, kind, params, locale, attempts";
}

impl Postgres {
    pub(super) const CLAIM_MAIL: &'static str =
        "UPDATE mail_outbox SET locked_until = $1 WHERE id IN (\
           SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
           AND (locked_until IS NULL OR locked_until <= $3) ORDER BY next_attempt_at LIMIT $4 \
           FOR UPDATE SKIP LOCKED) \
         RETURNING id, recipient, kind, params, locale, attempts";
}

// ---- Admin lock: serializes the transactions that can change who is an admin ----------------

impl Sqlite {
    /// Nothing to take: the transaction's first statement writes, which takes SQLite's only
    /// write lock.
    #[allow(clippy::unused_async)]
    pub(super) async fn admin_lock(_tx: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Postgres {
    /// A transaction-scoped advisory lock that every such transaction takes first.
    pub(super) async fn admin_lock(tx: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(7446121000)")
            .execute(tx)
            .await
            .map(|_| ())
            .map_err(store_err)
    }
}

// ---- Dynamic admin queries (`admin_sql.rs`) -------------------------------------------------

impl Sqlite {
    /// `col` compared byte by byte (SQLite's default `BINARY` collation already does).
    pub(super) fn text_bytes(col: &str) -> String {
        col.to_owned()
    }
}

impl Postgres {
    /// PostgreSQL compares by the database's collation otherwise.
    pub(super) fn text_bytes(col: &str) -> String {
        format!("{col} COLLATE \"C\"")
    }
}
