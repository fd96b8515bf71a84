//! [`InstrumentedConnection`]: a pooled connection whose statements are recorded like the
//! pool's.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use opentelemetry::Context;
use sqlx::pool::PoolConnection;

use crate::driver::Driver;
use crate::exec::{Target, executor_via_target};
use crate::query::Shared;
use crate::tx::InstrumentedTransaction;

/// A connection taken from an [`InstrumentedPool`](crate::InstrumentedPool) with
/// [`acquire`](crate::InstrumentedPool::acquire); `&mut InstrumentedConnection` is a sqlx
/// [`Executor`](sqlx::Executor). It goes back to the pool when dropped.
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
    pub async fn begin(&mut self) -> Result<InstrumentedTransaction<'_, DB>, sqlx::Error> {
        let shared = self.shared.clone();
        let begin = sqlx::Connection::begin(&mut *self.conn);
        InstrumentedTransaction::begin_on(&shared, &Context::current(), begin).await
    }

    /// The driver's connection and the pool's settings, borrowed apart.
    pub(crate) fn parts(&mut self) -> (&mut DB::Connection, &Arc<Shared>) {
        (&mut self.conn, &self.shared)
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

impl<DB: Driver> Target<DB> for InstrumentedConnection<DB> {
    fn connection(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }

    fn statement(&mut self) -> (&mut DB::Connection, &Arc<Shared>, Context) {
        (&mut self.conn, &self.shared, Context::current())
    }
}

executor_via_target!(; InstrumentedConnection<DB>);
