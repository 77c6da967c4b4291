//! Connection pools and their deadlines: how long a caller may wait for a connection, how long
//! one statement may run, and the checks that keep a connection left in a bad state by a
//! cancelled caller from ever being handed to the next one.
//!
//! Owns pool construction for both backends. It does not own what runs on the connections (the
//! stores) nor what a timeout means to a client (`StoreError::Unavailable`, mapped in
//! `http/problem.rs`).
//!
//! **Why the release check.** sqlx's `Pool::begin` on PostgreSQL is not cancel-safe (upstream
//! launchbadge/sqlx issue #4393, fixed after 0.9.0): a future dropped while its `BEGIN` is in
//! flight returns the connection to the pool *inside* a transaction, and every later autocommit
//! statement on it joins that transaction — to be committed or rolled back by whoever next uses
//! it, which loses or revives acknowledged writes. Sesame runs each request to completion in its
//! own task (`http/detach.rs`), so a request's cancellation never drops a store future; this
//! check is the second line: every transaction starts through [`begin`], which notes a `BEGIN`
//! abandoned halfway, and for a few seconds after that every released PostgreSQL connection is
//! asked whether it is inside a transaction block; one that is gets closed (the server rolls the
//! block back) instead of reused. (Checking every release costs a round trip each: PostgreSQL
//! refresh chains ran at 911 instead of 1,323 requests per core in one 5 s benchmark run.) `idle_in_transaction_session_timeout` is the third: the server ends a session that
//! sits idle inside a transaction for longer than a few seconds.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{PgConnection, PgPool};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How a pool is sized and bounded in time.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// Longest wait for a free connection (including opening one); beyond it the caller gets
    /// `StoreError::Unavailable`. A stopped database is noticed after this long.
    pub acquire_timeout: Duration,
    /// Longest one statement may run on PostgreSQL (`statement_timeout`); zero: no limit.
    pub statement_timeout: Duration,
}

impl PoolSettings {
    /// `max_connections` with the default deadlines (those of `SESAME_DATABASE_*`).
    #[must_use]
    pub fn new(max_connections: u32) -> Self {
        Self {
            max_connections,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
const IDLE_PING_AFTER: Duration = Duration::from_secs(10);

/// The server ends a session idle inside a transaction for this long (none of Sesame's
/// transactions waits on anything but the database).
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL pool for `url` (see the module header for the checks it carries).
///
/// # Errors
/// The driver's error when the URL is invalid or the server cannot be reached.
pub async fn postgres(url: &str, settings: &PoolSettings) -> Result<PgPool, sqlx::Error> {
    let millis = |d: Duration| d.as_millis().to_string();
    let options = PgConnectOptions::from_str(url)?.options([
        ("statement_timeout", millis(settings.statement_timeout)),
        (
            "idle_in_transaction_session_timeout",
            millis(IDLE_IN_TRANSACTION_TIMEOUT),
        ),
    ]);
    // sqlx pings a connection on every acquire by default: a second round trip per query.
    // Only a connection that sat idle for a while is checked before use; one in steady use
    // has just proven itself.
    PgPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_PING_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .after_release(|conn, _| {
            Box::pin(async move {
                if suspect_window_open() && in_transaction_block(conn).await? {
                    tracing::warn!(
                        "a database connection was released inside a transaction (a cancelled \
                         BEGIN); closing it instead of reusing it"
                    );
                    return Ok(false);
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
}

/// Whether `conn` is inside an explicit transaction block. In autocommit mode a simple-protocol
/// query is its own transaction, which PostgreSQL starts at the statement's own start time, so
/// `transaction_timestamp()` equals `statement_timestamp()` exactly; inside a block the
/// transaction started with an earlier message (PostgreSQL docs, "Date/Time Functions": "
/// `transaction_timestamp()` … start time of the current transaction", "`statement_timestamp()`
/// … start time of the current statement").
///
/// # Errors
/// The driver's error if the connection fails.
pub async fn in_transaction_block(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    use sqlx::{Executor as _, Row as _};
    // A plain string without arguments goes over the simple query protocol: one message, whose
    // receipt starts both the statement and, in autocommit mode, its transaction. (Over the
    // extended protocol the two can differ.)
    conn.fetch_one("SELECT transaction_timestamp() <> statement_timestamp()")
        .await?
        .try_get(0)
}

/// Until when (milliseconds since [`EPOCH`]) released connections are checked: set a few seconds
/// ahead whenever a [`begin`] is dropped before it finished, which is the only way a connection
/// gets back to the pool inside a transaction it does not know about. Checking only then keeps
/// the extra round trip off the releases of a healthy server.
static SUSPECT_UNTIL_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// How long after a cancelled `BEGIN` every release is checked: the abandoned connection goes
/// back to the pool the moment its future is dropped, so this is a generous margin.
const SUSPECT_WINDOW: Duration = Duration::from_secs(5);

fn epoch_ms() -> u64 {
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn suspect_window_open() -> bool {
    epoch_ms() <= SUSPECT_UNTIL_MS.load(Ordering::Relaxed)
}

/// Opens the window in which released connections are checked (see [`SUSPECT_UNTIL_MS`]).
fn suspect_releases() {
    let until = epoch_ms().saturating_add(u64::try_from(SUSPECT_WINDOW.as_millis()).unwrap_or(0));
    SUSPECT_UNTIL_MS.fetch_max(until, Ordering::Relaxed);
}

/// Starts a transaction on `pool`, noting when the `BEGIN` is abandoned halfway (the future
/// dropped before it finished) so that the release check runs for the connection it leaves
/// behind. Every transaction of the stores starts here.
///
/// # Errors
/// The driver's error from acquiring a connection or from `BEGIN`.
pub async fn begin<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
    struct Abandoned(bool);
    impl Drop for Abandoned {
        fn drop(&mut self) {
            if self.0 {
                suspect_releases();
            }
        }
    }
    let mut watch = Abandoned(true);
    let tx = pool.begin().await;
    watch.0 = false;
    tx
}

/// The pool options for SQLite (a local file: its connections cannot drop, so no liveness ping
/// before each use).
#[must_use]
pub fn sqlite_options(max_connections: u32, settings: &PoolSettings) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
}
