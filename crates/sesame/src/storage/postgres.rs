//! The PostgreSQL backend, for production: any number of stateless Sesame nodes share it.
//!
//! Ids are native `uuid`, timestamps `timestamptz`. Row locks make every consume a true
//! compare-and-set: a concurrent consumer blocks, then sees the row used and changes nothing;
//! outbox claims skip rows another node has locked.
//!
//! Nothing is written here: [`PgStore`] is the shared bodies of `sql_store.rs` compiled over
//! PostgreSQL's types, plus PostgreSQL's side of `dialect.rs`.

pub use super::dialect::PgStore;
use super::dialect::Postgres as Dialect;

/// The names `sql_store.rs` is written against, besides `Dialect`.
type Backend = PgStore;
type Db = sqlx::Postgres;

// Deliberately the same file as `sqlite.rs` compiles: that is how each query is written once.
#[allow(clippy::duplicate_mod)]
#[path = "sql_store.rs"]
mod shared;
