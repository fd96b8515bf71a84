//! [`InstrumentedTransaction`]: a transaction as one span that parents its statements, counted
//! by how it ended.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use obs_core::metrics::CounterVec;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use sqlx::Transaction;

use crate::catalog;
use crate::driver::Driver;
use crate::exec::{Target, executor_via_target};
use crate::query::Shared;

static TRANSACTIONS: CounterVec = CounterVec::new(&catalog::TRANSACTIONS);

/// A sqlx [`Transaction`] begun through an [`InstrumentedPool`](crate::InstrumentedPool);
/// `&mut InstrumentedTransaction` is a sqlx [`Executor`](sqlx::Executor).
///
/// The span `transaction` starts at `begin` and ends with [`commit`](Self::commit),
/// [`rollback`](Self::rollback) or the drop (sqlx then rolls back), with the number of statements
/// in `db.transaction.queries` and the outcome in `db.transaction.outcome`; each ending counts
/// in `db_transactions_total{outcome}`. [`begin`](Self::begin) nests a savepoint.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sqlx::Error> {
/// let pool = obs_db::InstrumentedPool::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
/// let mut tx = pool.begin().await?;
/// sqlx::query("CREATE TABLE t (v INTEGER)").execute(&mut tx).await?;
/// sqlx::query("INSERT INTO t VALUES (?)").bind(1).execute(&mut tx).await?;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
pub struct InstrumentedTransaction<'c, DB: Driver> {
    inner: Transaction<'c, DB>,
    guard: TxGuard,
}

/// The transaction's span and count; a guard so that a dropped transaction is recorded too.
pub(crate) struct TxGuard {
    shared: Arc<Shared>,
    cx: Context,
    started: bool,
    queries: u64,
    ended: bool,
}

impl TxGuard {
    /// What a statement of the transaction on `conn` needs: the span's parent is the
    /// transaction's, and the statement is counted.
    pub(crate) fn statement<'a, DB: Driver>(
        &'a mut self,
        conn: &'a mut DB::Connection,
    ) -> (&'a mut DB::Connection, &'a Arc<Shared>, Context) {
        self.queries += 1;
        (conn, &self.shared, self.cx.clone())
    }

    /// Begins a savepoint on `conn`, the transaction's connection, as a child span.
    pub(crate) async fn begin<'a, DB: Driver>(
        &mut self,
        conn: &'a mut DB::Connection,
    ) -> Result<InstrumentedTransaction<'a, DB>, sqlx::Error> {
        let shared = self.shared.clone();
        let parent = self.cx.clone();
        self.queries += 1;
        InstrumentedTransaction::begin_on(&shared, &parent, sqlx::Connection::begin(conn)).await
    }

    fn end(&mut self, outcome: &'static str, error: Option<&sqlx::Error>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        TRANSACTIONS.with(&[outcome]).increment(1);
        if !self.started {
            return;
        }
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("db.transaction.queries", self.queries as i64));
        span.set_attribute(KeyValue::new("db.transaction.outcome", outcome));
        if let Some(error) = error {
            let class = self.shared.classify(error);
            if let Some(code) = class.status_code {
                span.set_attribute(KeyValue::new("db.response.status_code", code));
            }
            span.set_attribute(KeyValue::new("error.type", class.class.clone()));
            span.set_status(Status::error(class.class));
        }
        span.end();
    }
}

impl Drop for TxGuard {
    fn drop(&mut self) {
        self.end("dropped", None);
    }
}

fn start_guard(shared: &Arc<Shared>, parent: &Context) -> TxGuard {
    let started = obs_core::__private::start_span(
        parent,
        Cow::Borrowed("transaction"),
        SpanKind::Client,
        || {
            let mut attrs = vec![KeyValue::new("db.system.name", shared.system)];
            if let Some(ns) = &shared.server.namespace {
                attrs.push(KeyValue::new("db.namespace", ns.clone()));
            }
            attrs
        },
    );
    let (cx, started) = match started {
        Some(s) => (s.cx, s.recording),
        None => (parent.clone(), false),
    };
    TxGuard {
        shared: shared.clone(),
        cx,
        started,
        queries: 0,
        ended: false,
    }
}

impl<'c, DB: Driver> InstrumentedTransaction<'c, DB> {
    pub(crate) async fn begin_on(
        shared: &Arc<Shared>,
        parent: &Context,
        begin: impl Future<Output = Result<Transaction<'c, DB>, sqlx::Error>>,
    ) -> Result<Self, sqlx::Error> {
        let mut guard = start_guard(shared, parent);
        match begin.await {
            Ok(inner) => Ok(Self { inner, guard }),
            Err(error) => {
                guard.end("error", Some(&error));
                Err(error)
            }
        }
    }

    /// Begins a nested transaction (a savepoint), whose span is a child of this one's.
    pub async fn begin(&mut self) -> Result<InstrumentedTransaction<'_, DB>, sqlx::Error> {
        self.guard.begin::<DB>(&mut *self.inner).await
    }

    /// The driver's connection and the guard, borrowed apart.
    pub(crate) fn parts(&mut self) -> (&mut DB::Connection, &mut TxGuard) {
        (&mut *self.inner, &mut self.guard)
    }

    /// Commits; the error, if any, is sqlx's, unchanged.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let Self { inner, mut guard } = self;
        let result = inner.commit().await;
        match &result {
            Ok(()) => guard.end("commit", None),
            Err(error) => guard.end("error", Some(error)),
        }
        result
    }

    /// Rolls back; the error, if any, is sqlx's, unchanged.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let Self { inner, mut guard } = self;
        let result = inner.rollback().await;
        match &result {
            Ok(()) => guard.end("rollback", None),
            Err(error) => guard.end("error", Some(error)),
        }
        result
    }

    /// The sqlx transaction, for what obs-db does not wrap; statements run through it
    /// directly are not recorded.
    pub fn inner_mut(&mut self) -> &mut Transaction<'c, DB> {
        &mut self.inner
    }
}

impl<DB: Driver> fmt::Debug for InstrumentedTransaction<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedTransaction")
            .field("pool", &self.guard.shared.name)
            .field("queries", &self.guard.queries)
            .finish_non_exhaustive()
    }
}

impl<DB: Driver> Target<DB> for InstrumentedTransaction<'_, DB> {
    fn connection(&mut self) -> &mut DB::Connection {
        &mut self.inner
    }

    fn statement(&mut self) -> (&mut DB::Connection, &Arc<Shared>, Context) {
        self.guard.statement::<DB>(&mut *self.inner)
    }
}

executor_via_target!('t; InstrumentedTransaction<'t, DB>);
