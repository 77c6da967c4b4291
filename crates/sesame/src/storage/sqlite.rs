//! The SQLite backend: the embedded default. WAL mode, `foreign_keys=ON`, a busy timeout, and
//! transactions that write first so that one writer at a time never deadlocks a reader's upgrade.
//! Reads use a pool of connections; every write goes through one dedicated writer connection, so
//! concurrent writers of this process queue in order rather than sleep in the busy handler.
//!
//! Ids are stored as 16-byte BLOBs and timestamps as integer Unix milliseconds.
//!
//! Nothing is written here: [`SqliteStore`] is the shared bodies of `sql_store.rs` compiled over
//! SQLite's types, plus SQLite's side of `dialect.rs`.

use super::dialect::Sqlite as Dialect;
pub use super::dialect::SqliteStore;

/// The names `sql_store.rs` is written against, besides `Dialect`.
type Backend = SqliteStore;
type Db = sqlx::Sqlite;

// Deliberately the same file as `postgres.rs` compiles: that is how each query is written once.
#[allow(clippy::duplicate_mod)]
#[path = "sql_store.rs"]
mod shared;
