//! [`Acquire`]: code generic over "a pool, a connection or a transaction", as with sqlx's own
//! `Acquire`, with every statement and transaction still recorded.
//!
//! sqlx's [`sqlx::Acquire`] cannot be decorated: its `Connection` must
//! `Deref<Target = DB::Connection>`, so generic code runs its statements on
//! `&mut *conn`, the driver's own connection, which nothing wraps; and its `begin` returns
//! sqlx's concrete [`sqlx::Transaction`], whose statements (`&mut *tx`) run on that connection
//! too. An implementation for obs-db's types would compile and record nothing, so there is
//! none; obs-db's [`Acquire`] has the same two methods and returns instrumented types.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use opentelemetry::Context;

use crate::conn::InstrumentedConnection;
use crate::driver::Driver;
use crate::exec::{Target, executor_via_target};
use crate::pool::InstrumentedPool;
use crate::query::Shared;
use crate::tx::{InstrumentedTransaction, TxGuard};

/// A source of instrumented connections and transactions: `&InstrumentedPool`,
/// `&mut InstrumentedConnection`, `&mut InstrumentedTransaction` and `&mut Acquired`.
///
/// obs-db's counterpart of [`sqlx::Acquire`] (which cannot be decorated: see the
/// [crate docs](crate#what-goes-around-the-wrapper)). Generic code changes in two places: the
/// bound names `obs_db::Acquire`, and statements run on `&mut conn` rather than `&mut *conn`
/// ([`Acquired`] has no `Deref` to the driver's connection, so the unrecorded form does not
/// compile).
///
/// ```
/// use obs_db::{Acquire, InstrumentedPool};
/// use sqlx::Sqlite;
///
/// async fn count<'a, A: Acquire<'a, Database = Sqlite>>(a: A) -> Result<i64, sqlx::Error> {
///     let mut conn = a.acquire().await?;
///     sqlx::query_scalar("SELECT count(*) FROM sqlite_master").fetch_one(&mut conn).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sqlx::Error> {
/// let pool = InstrumentedPool::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
/// assert_eq!(count(&pool).await?, 0);
/// let mut tx = pool.begin().await?;
/// assert_eq!(count(&mut tx).await?, 0); // a statement of the transaction
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
pub trait Acquire<'c> {
    /// The database.
    type Database: Driver;

    /// A connection: from the pool (waiting for it is recorded in `db_pool_wait_time_ms`), or
    /// the connection or transaction itself, borrowed.
    fn acquire(self) -> BoxFuture<'c, Result<Acquired<'c, Self::Database>, sqlx::Error>>;

    /// A transaction: on a connection of the pool, on the connection, or a savepoint of the
    /// transaction.
    fn begin(
        self,
    ) -> BoxFuture<'c, Result<InstrumentedTransaction<'c, Self::Database>, sqlx::Error>>;
}

/// A connection given by [`Acquire::acquire`]; `&mut Acquired` is a sqlx
/// [`Executor`](sqlx::Executor) that records its statements as the connection or transaction
/// it came from does (a transaction's statements stay children of its span and count in it).
pub struct Acquired<'c, DB: Driver> {
    inner: Inner<'c, DB>,
}

enum Inner<'c, DB: Driver> {
    Pooled(InstrumentedConnection<DB>),
    Connection {
        conn: &'c mut DB::Connection,
        shared: &'c Arc<Shared>,
    },
    Transaction {
        conn: &'c mut DB::Connection,
        guard: &'c mut TxGuard,
    },
}

impl<DB: Driver> fmt::Debug for Acquired<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match &self.inner {
            Inner::Pooled(_) => "pool",
            Inner::Connection { .. } => "connection",
            Inner::Transaction { .. } => "transaction",
        };
        f.debug_struct("Acquired")
            .field("from", &from)
            .finish_non_exhaustive()
    }
}

impl<DB: Driver> Acquired<'_, DB> {
    /// The driver's connection, for what sqlx offers there besides `Executor` (`ping`,
    /// `COPY`, …); statements run through it directly are not recorded.
    pub fn raw_mut(&mut self) -> &mut DB::Connection {
        self.connection()
    }

    /// Begins a transaction on this connection, or a savepoint when it belongs to one.
    pub async fn begin(&mut self) -> Result<InstrumentedTransaction<'_, DB>, sqlx::Error> {
        Acquire::begin(self).await
    }
}

impl<DB: Driver> Target<DB> for Acquired<'_, DB> {
    fn connection(&mut self) -> &mut DB::Connection {
        match &mut self.inner {
            Inner::Pooled(pooled) => pooled.connection(),
            Inner::Connection { conn, .. } | Inner::Transaction { conn, .. } => conn,
        }
    }

    fn statement(&mut self) -> (&mut DB::Connection, &Arc<Shared>, Context) {
        match &mut self.inner {
            Inner::Pooled(pooled) => pooled.statement(),
            Inner::Connection { conn, shared } => (conn, shared, Context::current()),
            Inner::Transaction { conn, guard } => guard.statement::<DB>(conn),
        }
    }
}

executor_via_target!('t; Acquired<'t, DB>);

fn ready<'c, T: Send + 'c>(value: T) -> BoxFuture<'c, Result<T, sqlx::Error>> {
    Box::pin(std::future::ready(Ok(value)))
}

impl<'c, DB: Driver> Acquire<'c> for &'c InstrumentedPool<DB> {
    type Database = DB;

    fn acquire(self) -> BoxFuture<'c, Result<Acquired<'c, DB>, sqlx::Error>> {
        Box::pin(async move {
            let pooled = InstrumentedPool::acquire(self).await?;
            Ok(Acquired {
                inner: Inner::Pooled(pooled),
            })
        })
    }

    fn begin(self) -> BoxFuture<'c, Result<InstrumentedTransaction<'c, DB>, sqlx::Error>> {
        Box::pin(async move {
            let tx: InstrumentedTransaction<'c, DB> = InstrumentedPool::begin(self).await?;
            Ok(tx)
        })
    }
}

impl<'c, DB: Driver> Acquire<'c> for &'c mut InstrumentedConnection<DB> {
    type Database = DB;

    fn acquire(self) -> BoxFuture<'c, Result<Acquired<'c, DB>, sqlx::Error>> {
        let (conn, shared) = self.parts();
        ready(Acquired {
            inner: Inner::Connection { conn, shared },
        })
    }

    fn begin(self) -> BoxFuture<'c, Result<InstrumentedTransaction<'c, DB>, sqlx::Error>> {
        Box::pin(InstrumentedConnection::begin(self))
    }
}

impl<'c, DB: Driver> Acquire<'c> for &'c mut InstrumentedTransaction<'_, DB> {
    type Database = DB;

    fn acquire(self) -> BoxFuture<'c, Result<Acquired<'c, DB>, sqlx::Error>> {
        let (conn, guard) = self.parts();
        ready(Acquired {
            inner: Inner::Transaction { conn, guard },
        })
    }

    fn begin(self) -> BoxFuture<'c, Result<InstrumentedTransaction<'c, DB>, sqlx::Error>> {
        Box::pin(InstrumentedTransaction::begin(self))
    }
}

impl<'c, DB: Driver> Acquire<'c> for &'c mut Acquired<'_, DB> {
    type Database = DB;

    fn acquire(self) -> BoxFuture<'c, Result<Acquired<'c, DB>, sqlx::Error>> {
        let inner = match &mut self.inner {
            Inner::Pooled(pooled) => {
                let (conn, shared) = pooled.parts();
                Inner::Connection { conn, shared }
            }
            Inner::Connection { conn, shared } => Inner::Connection {
                conn: &mut **conn,
                shared,
            },
            Inner::Transaction { conn, guard } => Inner::Transaction {
                conn: &mut **conn,
                guard,
            },
        };
        ready(Acquired { inner })
    }

    fn begin(self) -> BoxFuture<'c, Result<InstrumentedTransaction<'c, DB>, sqlx::Error>> {
        match &mut self.inner {
            Inner::Pooled(pooled) => Box::pin(InstrumentedConnection::begin(pooled)),
            Inner::Connection { conn, shared } => {
                let shared: &Arc<Shared> = shared;
                let conn: &mut DB::Connection = conn;
                let parent = Context::current();
                Box::pin(async move {
                    let begin = sqlx::Connection::begin(conn);
                    InstrumentedTransaction::begin_on(shared, &parent, begin).await
                })
            }
            Inner::Transaction { conn, guard } => Box::pin(guard.begin::<DB>(conn)),
        }
    }
}
