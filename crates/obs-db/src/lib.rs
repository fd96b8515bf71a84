//! obs-db: instrumented sqlx pools, connections and transactions for PostgreSQL and SQLite.
//!
//! Wrap the pool once and keep writing ordinary sqlx: `&InstrumentedPool`,
//! `&mut InstrumentedConnection`, `&mut InstrumentedTransaction` and `&mut Acquired` are sqlx
//! [`Executor`](sqlx::Executor)s, so `query`, `query_as`, `query_scalar` (and the checked
//! `query!`, `query_as!`, `query_scalar!` macros) and their `execute`, `fetch`, `fetch_one`,
//! `fetch_optional` and `fetch_all` work unchanged.
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
//! # What goes around the wrapper
//!
//! What sqlx offers that obs-db cannot decorate, and how to keep it recorded:
//! - run a transaction's statements on `&mut tx` (not `&mut *tx` as with sqlx's
//!   `Transaction`, which has nothing to deref to here, so a bypass cannot happen by habit);
//! - [`sqlx::Acquire`] is not implemented, because it cannot be decorated: its associated
//!   `Connection` must `Deref<Target = DB::Connection>`, and generic code runs its statements on
//!   `&mut *conn`, the driver's connection, below any wrapper; its `begin` must return sqlx's
//!   concrete `Transaction<'c, DB>`, whose statements and commit run on that connection too.
//!   An implementation would compile and record nothing. The closest equivalent is obs-db's
//!   [`Acquire`], with the same `acquire` and `begin`, implemented for `&InstrumentedPool`,
//!   `&mut InstrumentedConnection`, `&mut InstrumentedTransaction` and `&mut Acquired`: write
//!   `A: obs_db::Acquire<'a, Database = Postgres>` and run statements on `&mut conn`. Where sqlx
//!   itself takes an `Acquire` (`sqlx::migrate!().run(..)`), pass [`InstrumentedPool::inner`]
//!   (unrecorded);
//! - an [`InstrumentedConnection`] derefs to the driver's connection for `ping`, `COPY` and the
//!   like: statements run on `&mut *conn` are not recorded, those on `&mut conn` are;
//! - `Executor::prepare`/`prepare_with` and the hidden `describe` are passed through without a
//!   span; running a prepared statement is recorded like any other;
//! - sqlx logs statements itself, with their literals, through `tracing` (target `sqlx::query`, at
//!   DEBUG, and slow ones at WARN). Turn that off on the connect options
//!   (`.log_statements(log::LevelFilter::Off)` and `.log_slow_statements(..)`) or filter the
//!   target out; obs-db's own slow-query warning carries the sanitized text.
#![deny(missing_docs)]

mod acquire;
pub mod catalog;
mod conn;
mod driver;
mod exec;
mod pool;
mod query;
mod ready;
pub mod sql;
mod tx;

pub use acquire::{Acquire, Acquired};
pub use conn::InstrumentedConnection;
pub use driver::{Driver, ErrorClass, Server, classify};
pub use pool::{DEFAULT_SLOW_QUERY_THRESHOLD, InstrumentedPool, InstrumentedPoolBuilder};
pub use ready::PoolReadiness;
pub use tx::InstrumentedTransaction;
