//! One statement's span, metrics and slow-query warning, around the driver's own future or
//! stream, whose output passes through unchanged.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures_util::Stream;
use futures_util::stream::BoxStream;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use sqlx::error::BoxDynError;
use sqlx::{Database, Either, Execute, SqlSafeStr as _};
use sqlx_core::sql_str::SqlStr;

use crate::catalog;
use crate::driver::{Driver, ErrorClass, Server, classify};
use crate::sql::{Analysis, analyze_cached};
use obs_core::metrics::{CounterVec, HistogramVec};

static QUERIES: CounterVec = CounterVec::new(&catalog::QUERIES);
static DURATION: HistogramVec = HistogramVec::new(&catalog::QUERY_DURATION);
static SLOW: CounterVec = CounterVec::new(&catalog::SLOW_QUERIES);

/// The driver's stream of results (rows affected) and rows.
pub(crate) type Results<'e, DB> = BoxStream<
    'e,
    Result<Either<<DB as Database>::QueryResult, <DB as Database>::Row>, sqlx::Error>,
>;

/// What every statement of one pool shares: where it goes and the pool's settings.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) system: &'static str,
    pub(crate) server: Server,
    pub(crate) name: String,
    pub(crate) slow_threshold: Duration,
    pub(crate) sqlcommenter: bool,
    pub(crate) pool_full: PoolFull,
}

/// Whether the pool holds its maximum of connections, read when an acquire timed out.
pub(crate) struct PoolFull(pub(crate) Box<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for PoolFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolFull")
    }
}

impl Shared {
    /// [`classify`], with a `PoolTimedOut` of a pool that was not full taken for what it is: the
    /// pool could not open a connection (sqlx retries a refused one until the timeout).
    pub(crate) fn classify(&self, error: &sqlx::Error) -> ErrorClass {
        if matches!(error, sqlx::Error::PoolTimedOut) && !(self.pool_full.0)() {
            return ErrorClass {
                class: Cow::Borrowed("connection"),
                status_code: None,
            };
        }
        classify(error)
    }
}

/// A statement taken apart so that its text can be read before the driver runs it: the
/// driver's `Execute` gives its text only by consuming it.
pub(crate) struct Captured<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    persistent: bool,
}

impl<DB: Database> Captured<DB> {
    pub(crate) fn new<'q>(mut query: impl Execute<'q, DB>) -> Self {
        let statement = query.statement().cloned();
        let arguments = Some(query.take_arguments());
        let persistent = query.persistent();
        Self {
            sql: query.sql(),
            statement,
            arguments,
            persistent,
        }
    }

    pub(crate) fn text(&self) -> &str {
        self.sql.as_str()
    }

    /// Appends the SQLCommenter `traceparent` of `cx`'s span, unless the statement was prepared
    /// beforehand (its text must stay the prepared one) or there is no trace.
    fn append_traceparent(&mut self, cx: &Context) {
        let span = cx.span();
        let sc = span.span_context();
        if self.statement.is_some() || !sc.is_valid() {
            return;
        }
        let sql = format!(
            "{} /*traceparent='00-{}-{}-{:02x}'*/",
            self.sql.as_str(),
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        self.sql = sqlx::AssertSqlSafe(sql).into_sql_str();
        // A text unique to this call would fill the per-connection statement cache.
        self.persistent = false;
    }
}

impl<DB: Database> Execute<'_, DB> for Captured<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

/// One statement being timed; ends its span and records its metrics once, when the statement
/// finishes or is dropped.
pub(crate) struct QuerySpan {
    cx: Context,
    started: bool,
    start: Instant,
    analysis: Arc<Analysis>,
    shared: Arc<Shared>,
    rows: u64,
    affected: u64,
    done: bool,
    /// What a drop before the end means: `None` for a stream the caller stopped reading (a
    /// success), `Some("cancelled")` for a future dropped before its result.
    dropped_as: Option<&'static str>,
}

impl QuerySpan {
    /// Starts the span of `query` (and comments the statement when the pool says so).
    pub(crate) fn start<DB: Database>(
        shared: &Arc<Shared>,
        parent: &Context,
        query: &mut Captured<DB>,
        stream: bool,
    ) -> Self {
        let span = Self::start_text(shared, parent, query.text(), stream);
        if shared.sqlcommenter {
            query.append_traceparent(&span.cx);
        }
        span
    }

    fn start_text(shared: &Arc<Shared>, parent: &Context, sql: &str, stream: bool) -> Self {
        let analysis = analyze_cached(sql);
        let name: Cow<'static, str> = if analysis.summary().is_empty() {
            Cow::Borrowed(shared.system)
        } else {
            Cow::Owned(analysis.summary().to_owned())
        };
        let started = obs_core::__private::start_span(parent, name, SpanKind::Client, || {
            let mut attrs = Vec::with_capacity(12);
            attrs.push(KeyValue::new("db.system.name", shared.system));
            if let Some(ns) = &shared.server.namespace {
                attrs.push(KeyValue::new("db.namespace", ns.clone()));
            }
            attrs.push(KeyValue::new("db.query.text", analysis.text().to_owned()));
            if !analysis.summary().is_empty() {
                attrs.push(KeyValue::new(
                    "db.query.summary",
                    analysis.summary().to_owned(),
                ));
            }
            if let Some(op) = analysis.operation() {
                attrs.push(KeyValue::new("db.operation.name", op.to_owned()));
            }
            if let Some(table) = analysis.collection() {
                attrs.push(KeyValue::new("db.collection.name", table.to_owned()));
            }
            if let Some(address) = &shared.server.address {
                attrs.push(KeyValue::new("server.address", address.clone()));
            }
            if let Some(port) = shared.server.port {
                attrs.push(KeyValue::new("server.port", i64::from(port)));
            }
            attrs
        });
        let (cx, started) = match started {
            Some(s) => (s.cx, s.recording),
            None => (parent.clone(), false),
        };
        Self {
            cx,
            started,
            start: Instant::now(),
            analysis,
            shared: shared.clone(),
            rows: 0,
            affected: 0,
            done: false,
            dropped_as: (!stream).then_some("cancelled"),
        }
    }

    /// [`finish`](Self::finish) for a statement that returns at most one row.
    pub(crate) fn finish_with_row<R>(&mut self, result: &Result<Option<R>, sqlx::Error>) {
        if let Ok(Some(_)) = result {
            self.rows = 1;
        }
        self.finish(result.as_ref().err());
    }

    /// Ends the span and records the metrics.
    pub(crate) fn finish(&mut self, error: Option<&sqlx::Error>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let class = error.map(|e| self.shared.classify(e));
        let status = class.as_ref().map_or("ok", |c| &c.class);
        self.record(
            status,
            class.as_ref().and_then(|c| c.status_code.as_deref()),
        );
    }

    fn record(&self, status: &str, status_code: Option<&str>) {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let elapsed = self.start.elapsed();
            let ms = elapsed.as_secs_f64() * 1_000.0;
            let op = self.analysis.operation().unwrap_or("");
            let table = self.analysis.main_table().unwrap_or("");
            DURATION.with(&[op, table]).record(ms);
            QUERIES.with(&[op, table, status]).increment(1);
            if elapsed >= self.shared.slow_threshold {
                SLOW.with(&[op, table]).increment(1);
                let trace_id = self.cx.span().span_context().trace_id();
                tracing::warn!(
                    target: "obs_db",
                    statement = self.analysis.text(),
                    pool = %self.shared.name,
                    duration_ms = ms,
                    trace_id = %trace_id,
                    "slow query"
                );
            }
            if !self.started {
                return;
            }
            let span = self.cx.span();
            span.set_attribute(KeyValue::new("db.response.returned_rows", self.rows as i64));
            if self.affected > 0 {
                span.set_attribute(KeyValue::new(
                    "db.response.affected_rows",
                    self.affected as i64,
                ));
            }
            if status != "ok" {
                span.set_attribute(KeyValue::new("error.type", status.to_owned()));
                if let Some(code) = status_code {
                    span.set_attribute(KeyValue::new("db.response.status_code", code.to_owned()));
                }
                span.set_status(Status::error(status.to_owned()));
            }
            span.end();
        }));
    }
}

impl Drop for QuerySpan {
    fn drop(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.record(self.dropped_as.unwrap_or("ok"), None);
        }
    }
}

/// The driver's stream of results and rows, counted and timed.
pub(crate) struct QueryStream<'e, DB: Database> {
    inner: Results<'e, DB>,
    span: QuerySpan,
}

impl<'e, DB: Database> QueryStream<'e, DB> {
    pub(crate) fn new(inner: Results<'e, DB>, span: QuerySpan) -> Self {
        Self { inner, span }
    }
}

impl<DB: Driver> Stream for QueryStream<'_, DB> {
    type Item = Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>;

    fn poll_next(mut self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let poll = if this.span.started {
            let _attached = this.span.cx.clone().attach();
            this.inner.as_mut().poll_next(task)
        } else {
            this.inner.as_mut().poll_next(task)
        };
        match &poll {
            Poll::Ready(Some(Ok(Either::Left(result)))) => {
                this.span.affected += DB::rows_affected(result);
            }
            Poll::Ready(Some(Ok(Either::Right(_)))) => this.span.rows += 1,
            Poll::Ready(Some(Err(error))) => this.span.finish(Some(error)),
            Poll::Ready(None) => this.span.finish(None),
            Poll::Pending => {}
        }
        poll
    }
}

/// Runs `query` on `executor` as a stream, under a span whose parent is `parent`.
pub(crate) fn fetch_many<'e, DB, X>(
    executor: X,
    shared: &Arc<Shared>,
    parent: &Context,
    query: Captured<DB>,
) -> Results<'e, DB>
where
    DB: Driver,
    X: sqlx::Executor<'e, Database = DB>,
{
    let mut query = query;
    let span = QuerySpan::start(shared, parent, &mut query, true);
    Box::pin(QueryStream::<DB>::new(executor.fetch_many(query), span))
}

/// Runs `query` on `executor` for at most one row, under a span whose parent is `parent`.
pub(crate) fn fetch_optional<'e, DB, X>(
    executor: X,
    shared: &Arc<Shared>,
    parent: &Context,
    query: Captured<DB>,
) -> futures_util::future::BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
where
    DB: Driver,
    X: sqlx::Executor<'e, Database = DB>,
{
    let mut query = query;
    let mut span = QuerySpan::start(shared, parent, &mut query, false);
    let inner = executor.fetch_optional(query);
    Box::pin(async move {
        let result = inner.await;
        span.finish_with_row(&result);
        result
    })
}
