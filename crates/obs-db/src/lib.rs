//! obs-db: instrumented sqlx pools, connections and transactions for PostgreSQL and SQLite.
//!
//! Wrap the pool once and keep writing ordinary sqlx: `&InstrumentedPool`,
//! `&mut InstrumentedConnection` and `&mut InstrumentedTransaction` are sqlx
//! [`Executor`](sqlx::Executor)s, so `query`, `query_as`, `query_scalar` and their `execute`,
//! `fetch`, `fetch_one`, `fetch_optional` and `fetch_all` work unchanged.
//!
//! ```
//! use obs_db::InstrumentedPool;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sqlx::Error> {
//! let pool = InstrumentedPool::builder(sqlx::SqlitePool::connect("sqlite::memory:").await?)
//!     .name("main")
//!     .build();
//! sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)").execute(&pool).await?;
//! sqlx::query("INSERT INTO users (email) VALUES (?)").bind("ann@example.com").execute(&pool).await?;
//! let emails: Vec<(String,)> = sqlx::query_as("SELECT email FROM users").fetch_all(&pool).await?;
//! assert_eq!(emails.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! Every statement gets a Client span named by its `db.query.summary` (`SELECT users`) with
//! the OpenTelemetry database attributes (`db.query.text` sanitized by [`sql`]: literals never
//! leave the process, bound values are never read), and counts in the catalog's metrics
//! ([`catalog::CATALOG`]). Errors are classified ([`classify`]) and returned unchanged.
//!
//! What goes around the wrapper, and how to keep it recorded:
//! - run a transaction's statements on `&mut tx` (not `&mut *tx` as with sqlx's
//!   `Transaction`, which has nothing to deref to here, so a bypass cannot happen by habit);
//! - `sqlx::Acquire` is not implemented: its connection must deref to the driver's connection,
//!   on which statements would run unrecorded. Use [`InstrumentedPool::acquire`] and
//!   [`InstrumentedPool::begin`]; pass [`InstrumentedPool::inner`] where sqlx wants an `Acquire`
//!   (`sqlx::migrate!().run(pool.inner())`), unrecorded;
//! - `Executor::prepare`/`prepare_with` and the hidden `describe` are passed through without a
//!   span; running a prepared statement is recorded like any other;
//! - sqlx logs statements itself, with their literals, through `tracing` (target `sqlx::query`, at
//!   DEBUG, and slow ones at WARN). Turn that off on the connect options
//!   (`.log_statements(log::LevelFilter::Off)` and `.log_slow_statements(..)`) or filter the
//!   target out; obs-db's own slow-query warning carries the sanitized text.
#![deny(missing_docs)]

pub mod catalog;
mod conn;
mod driver;
mod pool;
mod query;
mod ready;
pub mod sql;
mod tx;

pub use conn::InstrumentedConnection;
pub use driver::{Driver, ErrorClass, Server, classify};
pub use pool::{DEFAULT_SLOW_QUERY_THRESHOLD, InstrumentedPool, InstrumentedPoolBuilder};
pub use ready::PoolReadiness;
pub use tx::InstrumentedTransaction;
