//! SQLite writes in one round trip ([`run_script`]), and refresh-token rotations on SQLite,
//! group-committed: one task owns the rotations, and every
//! rotation that arrives while a transaction is running goes into the next one. SQLite has one
//! write lock per database, so rotations are serialised anyway; batching them turns N lock
//! hand-offs, N thread round trips and N commits into one of each.
//!
//! Each rotation in a batch is the same three statements as a lone one: consume the old token
//! if unused and its session live (neither revoked nor expired: the store refuses an expired
//! session itself, not only the service), insert the successor only if that changed a row
//! (`changes()` reads the previous statement's count), slide the session only if the insert
//! happened — and then return the rotation's index, so each caller learns its own outcome. If a
//! rotation breaks a unique rule, the batch is rolled back and each rotation is retried on its
//! own, so one bad request cannot fail its neighbours. Rotations whose caller has gone are
//! skipped. The task owns the script from BEGIN to COMMIT, so no cancelled request can leave
//! the writer connection inside a transaction.

use super::store_err;
use sesame_domain::clock::Timestamp;
use sesame_domain::model::SessionId;
use sesame_domain::token::TokenHash;
use sesame_domain::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{Row, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Most rotations in one transaction.
const MAX_BATCH: usize = 64;

/// Most rotations waiting for the task; beyond it callers wait to enqueue.
const QUEUE: usize = 4096;

const ONE: &str = "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND session_id = ? AND used_at IS NULL \
     AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id AND s.revoked_at IS NULL AND s.expires_at > ?); \
     INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT ?, ?, ? WHERE changes() = 1; \
     UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ? AND changes() = 1 RETURNING ? AS rotation;";

/// One requested rotation.
pub struct Rotation {
    pub old: TokenHash,
    pub new: TokenHash,
    pub session: SessionId,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

type Reply = oneshot::Sender<Result<bool, StoreError>>;

/// The handle the store holds; cloning shares the one task.
#[derive(Clone, Debug)]
pub struct Rotations {
    tx: mpsc::Sender<(Rotation, Reply)>,
}

impl Rotations {
    /// Starts the task; it ends when the last handle is dropped.
    #[must_use]
    pub fn start(writer: SqlitePool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, rx));
        Self { tx }
    }

    /// Rotates `old` into `new`; `false` when `old` was already used or its session ended.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub async fn rotate(&self, r: Rotation) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((r, reply))
            .await
            .map_err(|_| stopped("the rotation task has stopped"))?;
        answer
            .await
            .map_err(|_| stopped("the rotation task dropped a request"))?
    }
}

fn stopped(why: &'static str) -> StoreError {
    StoreError::Backend(why.into())
}

async fn run(writer: SqlitePool, mut rx: mpsc::Receiver<(Rotation, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // A caller that gave up (client gone, request timed out) keeps its old token; rotating
        // it anyway would make that token's next use look like reuse after the grace window.
        batch.retain(|(_, reply)| !reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let (rotations, replies): (Vec<Rotation>, Vec<Reply>) = batch.into_iter().unzip();
        let outcomes = match apply(&writer, &rotations).await {
            Ok(done) => done.into_iter().map(Ok).collect(),
            // One rotation broke a unique rule (a colliding successor): the batch was rolled back;
            // apply each on its own so only that one fails.
            Err(StoreError::Conflict(_)) if rotations.len() > 1 => {
                let mut each = Vec::with_capacity(rotations.len());
                for r in &rotations {
                    each.push(
                        apply(&writer, std::slice::from_ref(r))
                            .await
                            .map(|d| d.first().copied().unwrap_or(false)),
                    );
                }
                each
            }
            // Anything else (database busy or gone) would fail each retry the same way.
            Err(e) => {
                let e = e.to_string();
                rotations
                    .iter()
                    .map(|_| Err(StoreError::Backend(e.clone().into())))
                    .collect()
            }
        };
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
}

/// Runs `rotations` in one transaction; which of them applied, in order.
async fn apply(writer: &SqlitePool, rotations: &[Rotation]) -> Result<Vec<bool>, StoreError> {
    let mut sql = String::with_capacity(16 + ONE.len() * rotations.len());
    sql.push_str("BEGIN IMMEDIATE; ");
    for _ in rotations {
        sql.push_str(ONE);
    }
    sql.push_str(" COMMIT");
    let mut q = sqlx::query(&sql);
    for (i, r) in rotations.iter().enumerate() {
        let now = r.now.timestamp_millis();
        q = q
            .bind(now)
            .bind(r.old.0.as_slice())
            .bind(r.session.as_uuid())
            .bind(now)
            .bind(r.new.0.as_slice())
            .bind(r.session.as_uuid())
            .bind(now)
            .bind(now)
            .bind(r.expires_at.timestamp_millis())
            .bind(r.session.as_uuid())
            .bind(i64::try_from(i).unwrap_or(i64::MAX));
    }
    let mut conn = writer.acquire().await.map_err(store_err)?;
    let rows = run_script(&mut conn, q).await?;
    let mut done = vec![false; rotations.len()];
    for row in rows {
        let i: i64 = row.try_get("rotation").map_err(store_err)?;
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| done.get_mut(i)) {
            *slot = true;
        }
    }
    Ok(done)
}

/// Runs a `BEGIN IMMEDIATE; …; COMMIT` script on the writer connection in one round trip to its
/// thread, returning the rows its statements returned. If a statement fails, the script's
/// transaction is still open: it is rolled back on this very connection before anything else
/// writes through it, and if even that fails the connection is dropped so the pool opens a
/// clean one.
///
/// # Errors
/// [`StoreError`] from the failed statement.
pub async fn run_script<'q>(
    conn: &mut PoolConnection<Sqlite>,
    q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
    match q.fetch_all(&mut **conn).await {
        Ok(rows) => Ok(rows),
        Err(e) => {
            if sqlx::query("ROLLBACK").execute(&mut **conn).await.is_err() {
                conn.close_on_drop();
            }
            Err(store_err(e))
        }
    }
}
