//! [`InstrumentedConnection`]: a pooled connection whose statements are recorded like the
//! pool's.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use opentelemetry::Context;
use sqlx::pool::PoolConnection;
use sqlx::{Either, Execute, Executor};
use sqlx_core::sql_str::SqlStr;

use crate::driver::Driver;
use crate::query::{self, Captured, Shared};
use crate::tx::InstrumentedTransaction;

/// A connection taken from an [`InstrumentedPool`](crate::InstrumentedPool) with
/// [`acquire`](crate::InstrumentedPool::acquire); `&mut InstrumentedConnection` is a sqlx
/// [`Executor`]. It goes back to the pool when dropped.
///
/// It derefs to the driver's connection (`PgConnection`, `SqliteConnection`) for what sqlx
/// offers there besides `Executor` (`ping`, `COPY`, …); statements run through that reference
/// directly are not recorded.
pub struct InstrumentedConnection<DB: Driver> {
    conn: PoolConnection<DB>,
    shared: Arc<Shared>,
}

impl<DB: Driver> InstrumentedConnection<DB> {
    pub(crate) fn new(conn: PoolConnection<DB>, shared: Arc<Shared>) -> Self {
        Self { conn, shared }
    }

    /// The sqlx pool connection.
    pub fn into_inner(self) -> PoolConnection<DB> {
        self.conn
    }

    /// Begins a transaction on this connection: a span that parents its statements, as
    /// [`InstrumentedPool::begin`](crate::InstrumentedPool::begin) does.
    pub async fn begin(&mut self) -> Result<InstrumentedTransaction<'_, DB>, sqlx::Error>
    where
        for<'a> &'a mut DB::Connection: sqlx::Acquire<'a, Database = DB>,
    {
        let shared = self.shared.clone();
        let begin = sqlx::Acquire::begin(&mut *self.conn);
        InstrumentedTransaction::begin_on(&shared, &Context::current(), begin).await
    }
}

impl<DB: Driver> fmt::Debug for InstrumentedConnection<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedConnection")
            .field("pool", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl<DB: Driver> Deref for InstrumentedConnection<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.conn
    }
}

impl<DB: Driver> DerefMut for InstrumentedConnection<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }
}

impl<'c, DB: Driver> Executor<'c> for &'c mut InstrumentedConnection<DB>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        query::fetch_many(
            &mut *self.conn,
            &self.shared,
            &Context::current(),
            Captured::new(query),
        )
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        query::fetch_optional(
            &mut *self.conn,
            &self.shared,
            &Context::current(),
            Captured::new(query),
        )
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.conn).prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.conn).describe(sql)
    }
}
