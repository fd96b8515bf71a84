//! obs-redis: instrumented redis-rs connections, and a cache, a session store and rate limiters
//! built on them.
//!
//! Wrap a connection once with [`Instrumented`] and keep calling redis-rs as before: every
//! command, pipeline and transaction becomes a Client span named after the command, and counts in
//! `redis_operations_total{command,status}` and `redis_operation_duration_ms{command}`.
//! Keys are recorded only as patterns ([`KeyPatterns`]: `session:*`, `user:*:profile`), values
//! never, and the arguments of `AUTH`, `HELLO … AUTH`, `MIGRATE … AUTH`, `CONFIG SET` and
//! `ACL SETUSER` nowhere. Errors are classified ([`error_type`], the span's
//! `error.type`) and returned unchanged.
//!
//! ```no_run
//! use redis::AsyncCommands as _;
//!
//! # async fn run() -> redis::RedisResult<()> {
//! let client = redis::Client::open("redis://127.0.0.1:6379/")?;
//! let mut con = obs_redis::Instrumented::new(client.get_connection_manager().await?);
//! let name: Option<String> = con.get("user:42:name").await?; // span `GET`, summary `GET user:*:name`
//! # Ok(())
//! # }
//! ```
//!
//! On top of any connection (wrapped or not):
//! - [`Cache`]: typed get, set, delete with a TTL (JSON), get-or-load; hits and misses counted
//!   by cache type, and the hit rate of the last minute as a gauge;
//! - [`SessionStore`]: sessions under random 128-bit ids with a sliding TTL;
//! - [`RateLimiter`]: fixed and sliding windows, decided atomically on the server;
//! - [`RedisReadiness`]: a `PING` with a time limit for `/readyz`;
//! - with the `cluster` feature, redis-rs's async cluster connection, wrapped like any other
//!   (`Instrumented::new(cluster_client.get_async_connection().await?)`);
//! - with the `deadpool` feature, [`pool::observe`]: a deadpool-redis pool's size, idle
//!   connections and waiting callers as scrape-time gauges.
//!
//! The metrics are in [`catalog`], registered on first use.
#![deny(missing_docs)]

mod cache;
pub mod catalog;
mod command;
mod connection;
mod describe;
mod error;
mod keys;
#[cfg(feature = "deadpool")]
pub mod pool;
mod ratelimit;
mod ready;
mod session;

pub use cache::{Cache, CacheError};
pub use connection::Instrumented;
pub use error::{classify_error, error_type};
pub use keys::KeyPatterns;
pub use ratelimit::{Decision, RateLimiter};
pub use ready::RedisReadiness;
pub use session::{SessionId, SessionStore};
