import re,sys
src,dst=sys.argv[1],sys.argv[2]
s=open(src).read()
# The refresh-token rotation: SQLite runs it as one multi-statement script on its writer
# connection; PostgreSQL cannot prepare several statements at once, so it is one statement of
# data-modifying CTEs there.
PG_ROTATE = """        // One statement: the consume, the successor and the slide are data-modifying CTEs, so
        // they apply together or not at all, in one round trip; a concurrent consume of the
        // same token blocks on the row lock, then finds it used and changes nothing.
        let n = sqlx::query(
            "WITH used AS (UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND session_id = ? AND used_at IS NULL \\
             AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id AND s.revoked_at IS NULL \\
             AND s.expires_at > ?) \\
             RETURNING session_id), \\
             ins AS (INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT ?, session_id, ? FROM used \\
             RETURNING session_id) \\
             UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id IN (SELECT session_id FROM ins)",
        )
        .bind(ms(now))
        .bind(old.0.as_slice())
        .bind(session.as_uuid())
        .bind(ms(now))
        .bind(new.0.as_slice())
        .bind(ms(now))
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&self.writer)
        .await
        .map_err(store_err)?
        .rows_affected();
        Ok(n == 1)
    }
"""
PG_CREATE_SESSION = """        // One statement: the session, its first token, its audit event and the user's last login are
        // data-modifying CTEs, so they apply together, in one round trip.
        let s = &new.session;
        let a = new.audit.as_ref();
        sqlx::query(
            "WITH s AS (INSERT INTO sessions (id, user_id, refresh_secret, created_at, last_used_at, expires_at, ip, user_agent) \\
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id), \\
             t AS (INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT ?, id, ? FROM s), \\
             a AS (INSERT INTO audit_events (id, occurred_at, event, user_id, actor_id, ip, user_agent, request_id, detail) \\
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ? IS NOT NULL) \\
             UPDATE users SET last_login_at = ? WHERE id = ?",
        )
        .bind(s.id.as_uuid())
        .bind(s.user_id.as_uuid())
        .bind(&new.refresh_secret)
        .bind(ms(s.created_at))
        .bind(ms(s.last_used_at))
        .bind(ms(s.expires_at))
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(new.first_refresh_hash.0.as_slice())
        .bind(ms(s.created_at))
        .bind(a.map(|e| e.id))
        .bind(a.map(|e| ms(e.at)))
        .bind(a.map(|e| e.kind.as_str()))
        .bind(a.and_then(|e| e.user_id.map(|u| u.as_uuid())))
        .bind(a.and_then(|e| e.actor_id.map(|u| u.as_uuid())))
        .bind(a.and_then(|e| e.ip.as_deref()))
        .bind(a.and_then(|e| e.user_agent.as_deref()))
        .bind(a.and_then(|e| e.request_id.as_deref()))
        .bind(a.map(|e| e.detail.to_string()))
        .bind(a.map(|e| e.id))
        .bind(ms(s.created_at))
        .bind(s.user_id.as_uuid())
        .execute(&self.writer)
        .await
        .map_err(store_err)
        .map(|_| ())
"""
# Bodies marked "backend-specific: NAME" ... "end backend-specific" in sqlite.rs are replaced.
PG_BODIES = {"rotate": PG_ROTATE.rsplit("    }\n", 1)[0], "create_session": PG_CREATE_SESSION}
def swap(m):
    return PG_BODIES[m.group(1)]
s, count = re.subn(r"        // backend-specific: (\w+)[^\n]*\n.*?        // end backend-specific\n", swap, s, flags=re.S)
assert count == len(PG_BODIES), count
s=s.replace("""    /// Refresh-token rotations, batched into shared transactions on `writer`.
    rotations: Rotations,
""","")
s=s.replace("use super::sqlite_rotations::{run_script, Rotation, Rotations};\n","")
n=[0]
def lit(m):
    t=m.group(0)
    if re.match(r'"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|BEGIN)', t): n[0]=0
    def rep(_):
        n[0]+=1; return '$%d'%n[0]
    return re.sub(r'\?', rep, t)
s=re.sub(r'"(?:[^"\\]|\\.)*"', lit, s, flags=re.S)
rep=[
('SqliteStore','PgStore'),
('use sqlx::{Row, SqliteConnection, SqlitePool};\n','use sqlx::{PgConnection, PgPool, Row};\n'),
('use std::str::FromStr;\n',''),
('use chrono::{DateTime, Utc};\n',''),
('SqlitePool','PgPool'),('SqliteRow','PgRow'),('SqliteConnection','PgConnection'),
("group_concat(r.role, ',')","string_agg(r.role, ',')"),
('u.is_active = 1','u.is_active'),
('$8, 1, $9, $10)','$8, TRUE, $9, $10)'),
('$4, 1, $5) ON CONFLICT','$4, TRUE, $5) ON CONFLICT'),
('ORDER BY next_attempt_at LIMIT $4)','ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)'),
('let latest: Option<i64> =','let latest: Option<Timestamp> ='),
('opt_ts(latest).map_err(store_err)','Ok(latest)'),
('"sqlite"','"postgres"'),
('''    /// Reads: several connections, which WAL lets run beside a write.
    pool: PgPool,
    /// Writes: one connection, so writers queue in order inside the process instead of sleeping
    /// in SQLite's busy handler while the database's only write lock sits idle.
    writer: PgPool,''','''    pool: PgPool,
    /// The same pool: row locks let PostgreSQL writers run side by side (the SQLite backend
    /// keeps a separate single-connection pool here).
    writer: PgPool,'''),
('Dialect::Sqlite','Dialect::Postgres'),
('sqlx::query::Query<\'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<\'q>>','sqlx::query::Query<\'q, sqlx::Postgres, sqlx::postgres::PgArguments>'),
('sqlx::QueryBuilder<sqlx::Sqlite>','sqlx::QueryBuilder<sqlx::Postgres>'),
('''let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        if !admin_guard(''','''let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(7446121000)").execute(&mut *tx).await.map_err(store_err)?;
        if !admin_guard('''),
]
s=re.sub(r'use sqlx::sqlite::\{[^}]*\};\n', 'use sqlx::postgres::PgRow;\n', s)
for a,b in rep:
    if a not in s: print("MISSING", a[:60]); continue
    s=s.replace(a,b)
s=re.sub(r'fn ms\(t: Timestamp\) -> i64 \{.*?\n\}\n\nfn ts\(.*?\n\}\n\nfn opt_ts\(.*?\n\}\n\n','',s,flags=re.S)
s=re.sub(r'\bms\(([^()]*(?:\([^()]*\))?[^()]*)\)', r'\1', s)
s=re.sub(r'opt_ts\((r(?:ow)?\.try_get\("[a-z_]+"\)\?)\)\?', r'\1', s)
s=re.sub(r'\bts\((r(?:ow)?\.try_get\("[a-z_]+"\)\?)\)\?', r'\1', s)
# header + connect + migrations
s=re.sub(r'\A//! The SQLite backend.*?\n\n', '''//! The PostgreSQL backend, for production: any number of stateless Sesame nodes share it.
//!
//! Ids are native `uuid`, timestamps `timestamptz`. Row locks make every consume a true
//! compare-and-set: a concurrent consumer blocks, then sees the row used and changes nothing;
//! outbox claims skip rows another node has locked.
//!
//! Generated from `sqlite.rs` by `scripts/gen-postgres-store.py` (placeholders, types); edit
//! `sqlite.rs` and regenerate, so the two stay the same logic.

''', s, count=1, flags=re.S)
s=re.sub(r'    /// Opens \(creating if missing\).*?Ok\(Self \{[^}]*\}\)\n    \}\n', '''    /// Connects to the server at `url`.
    ///
    /// # Errors
    /// [`ConnectError::Connect`] when the server cannot be reached.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, ConnectError> {
        // Deadlines and the release check: see `storage/pool.rs`.
        let pool = pool::postgres(url, settings).await?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }
''', s, flags=re.S)
s=s.replace('''let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )''','''let exists: Option<bool> = sqlx::query_scalar(
            "SELECT TRUE FROM pg_tables WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'",
        )''')
if s.count('Duration') == 1:
    s=s.replace('use std::time::Duration;\n','')
open(dst,'w').write(s)
