//! [`InstrumentedPool`]: a sqlx pool whose statements, connections and transactions are traced
//! and counted, used through sqlx's own API.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use obs_core::metrics::{HistogramVec, ScrapeCallback, on_scrape};
use opentelemetry::Context;
use sqlx::{Database, Either, Execute, Executor, Pool};
use sqlx_core::sql_str::SqlStr;

use crate::catalog;
use crate::conn::InstrumentedConnection;
use crate::driver::Driver;
use crate::query::{Captured, PoolFull, QuerySpan, QueryStream, Shared};
use crate::tx::InstrumentedTransaction;

static WAIT: HistogramVec = HistogramVec::new(&catalog::POOL_WAIT);

/// The default slow-query threshold.
pub const DEFAULT_SLOW_QUERY_THRESHOLD: Duration = Duration::from_secs(1);

/// A sqlx [`Pool`] that records a Client span and the query metrics for every statement run
/// through it, and exposes the pool's gauges at scrape time.
///
/// `&InstrumentedPool` is a sqlx [`Executor`], so queries keep their sqlx form:
///
/// ```
/// use obs_db::InstrumentedPool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sqlx::Error> {
/// let pool = InstrumentedPool::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
/// let (n,): (i64,) = sqlx::query_as("SELECT 40 + 2").fetch_one(&pool).await?;
/// assert_eq!(n, 42);
/// # Ok(())
/// # }
/// ```
///
/// Clones share the pool and its gauges; when the last clone is dropped, the pool's series
/// leave `/metrics` (the sqlx pool itself closes when its own last handle goes).
pub struct InstrumentedPool<DB: Driver> {
    pool: Pool<DB>,
    shared: Arc<Shared>,
    wait: metrics::Histogram,
    _gauges: Arc<[ScrapeCallback]>,
}

impl<DB: Driver> Clone for InstrumentedPool<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            shared: self.shared.clone(),
            wait: self.wait.clone(),
            _gauges: self._gauges.clone(),
        }
    }
}

impl<DB: Driver> fmt::Debug for InstrumentedPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedPool")
            .field("name", &self.shared.name)
            .field("system", &self.shared.system)
            .finish_non_exhaustive()
    }
}

/// Builds an [`InstrumentedPool`] with a name and a slow-query threshold.
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sqlx::Error> {
/// let pool = obs_db::InstrumentedPool::builder(sqlx::SqlitePool::connect("sqlite::memory:").await?)
///     .name("reports")
///     .slow_query_threshold(Duration::from_millis(250))
///     .build();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct InstrumentedPoolBuilder<DB: Database> {
    pool: Pool<DB>,
    name: String,
    slow_threshold: Duration,
    sqlcommenter: bool,
}

impl<DB: Driver> InstrumentedPoolBuilder<DB> {
    /// Appends `/*traceparent='00-…-…-01'*/` to each statement run inside a trace (SQLCommenter),
    /// so that the database's own logs, `pg_stat_activity` and `pg_stat_statements` can be joined
    /// to the spans. Off by default. The comment makes each statement's text unique, so those
    /// statements are not kept as prepared statements in sqlx's per-connection cache (each is
    /// prepared and run as a one-off) and `pg_stat_statements` sees them normalized without it;
    /// statements prepared beforehand (`Executor::prepare`) are left as they are.
    pub fn sqlcommenter(mut self, on: bool) -> Self {
        self.sqlcommenter = on;
        self
    }

    /// The `pool` label of the pool gauges (default `default`). Give each pool of a process a
    /// name of its own.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Statements that take at least this long are counted in `db_slow_queries_total` and
    /// logged as a warning with their sanitized text and trace id (default 1 s).
    pub fn slow_query_threshold(mut self, threshold: Duration) -> Self {
        self.slow_threshold = threshold;
        self
    }

    /// The instrumented pool; registers its gauges.
    pub fn build(self) -> InstrumentedPool<DB> {
        catalog::register();
        let server = DB::server(&self.pool.connect_options());
        let shared = Arc::new(Shared {
            system: DB::SYSTEM,
            server,
            name: self.name,
            slow_threshold: self.slow_threshold,
            sqlcommenter: self.sqlcommenter,
            pool_full: pool_full(&self.pool),
        });
        let gauges = pool_gauges(&self.pool, &shared.name);
        InstrumentedPool {
            wait: WAIT.with(&[&shared.name]),
            pool: self.pool,
            shared,
            _gauges: gauges.into(),
        }
    }
}

/// The pool gauges, read from the pool each time the metrics are rendered.
fn pool_gauges<DB: Database>(pool: &Pool<DB>, name: &str) -> Vec<ScrapeCallback> {
    type Read<DB> = fn(&Pool<DB>) -> f64;
    let reads: [(&'static obs_core::catalog::MetricDef, Read<DB>); 4] = [
        (&catalog::POOL_CONNECTIONS, |p| f64::from(p.size())),
        (&catalog::POOL_IDLE, |p| p.num_idle() as f64),
        (&catalog::POOL_ACTIVE, |p| active(p) as f64),
        (&catalog::POOL_UTILIZATION, utilization),
    ];
    reads
        .into_iter()
        .map(|(def, read)| {
            let pool = pool.clone();
            let name = name.to_owned();
            on_scrape(def, move |o| {
                if !pool.is_closed() {
                    o.observe(&[&name], read(&pool));
                }
            })
        })
        .collect()
}

/// Reads whether `pool` holds its maximum of connections. It keeps a handle on the pool, as
/// its connections do.
fn pool_full<DB: Database>(pool: &Pool<DB>) -> PoolFull {
    let pool = pool.clone();
    PoolFull(Box::new(move || {
        pool.size() >= pool.options().get_max_connections()
    }))
}

fn active<DB: Database>(pool: &Pool<DB>) -> u32 {
    // `size` and `num_idle` are read one after the other; never report a negative count.
    pool.size().saturating_sub(pool.num_idle() as u32)
}

pub(crate) fn utilization<DB: Database>(pool: &Pool<DB>) -> f64 {
    let max = pool.options().get_max_connections().max(1);
    f64::from(active(pool)) * 100.0 / f64::from(max)
}

impl<DB: Driver> InstrumentedPool<DB> {
    /// Wraps `pool` under the name `default` with the default slow-query threshold.
    pub fn new(pool: Pool<DB>) -> Self {
        Self::builder(pool).build()
    }

    /// A builder, to name the pool or change the slow-query threshold.
    pub fn builder(pool: Pool<DB>) -> InstrumentedPoolBuilder<DB> {
        InstrumentedPoolBuilder {
            pool,
            name: String::from("default"),
            slow_threshold: DEFAULT_SLOW_QUERY_THRESHOLD,
            sqlcommenter: false,
        }
    }

    /// The sqlx pool, for what obs-db does not wrap (`sqlx::migrate!().run(pool.inner())`,
    /// `close`, `size`); statements run through it directly are not recorded.
    pub fn inner(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Takes a connection out of the pool, recording the wait in `db_pool_wait_time_ms`; the
    /// connection records its statements like the pool. Errors are sqlx's, unchanged (an
    /// acquire timeout is `sqlx::Error::PoolTimedOut`; a statement that fails with it is
    /// classified `pool_timeout` when the pool was exhausted, `connection` when the pool could
    /// not open a connection: see [`ErrorClass::class`](crate::ErrorClass::class)).
    pub async fn acquire(&self) -> Result<InstrumentedConnection<DB>, sqlx::Error> {
        let conn = timed_acquire(&self.pool, &self.wait).await?;
        Ok(InstrumentedConnection::new(conn, self.shared.clone()))
    }

    /// Begins a transaction on a connection of the pool: a span that parents the
    /// transaction's statements, ended by commit, rollback or drop.
    pub async fn begin(&self) -> Result<InstrumentedTransaction<'static, DB>, sqlx::Error> {
        InstrumentedTransaction::begin_on(&self.shared, &Context::current(), self.pool.begin())
            .await
    }
}

async fn timed_acquire<DB: Database>(
    pool: &Pool<DB>,
    wait: &metrics::Histogram,
) -> Result<sqlx::pool::PoolConnection<DB>, sqlx::Error> {
    let start = Instant::now();
    let conn = pool.acquire().await;
    wait.record(start.elapsed().as_secs_f64() * 1_000.0);
    conn
}

impl<'p, DB: Driver> Executor<'p> for &'_ InstrumentedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let mut captured = Captured::new(query);
        let span = QuerySpan::start(&self.shared, &Context::current(), &mut captured, true);
        let pool = self.pool.clone();
        let wait = self.wait.clone();
        let inner = async_stream::stream! {
            match timed_acquire(&pool, &wait).await {
                Ok(mut conn) => {
                    let mut rows = (&mut *conn).fetch_many(captured);
                    while let Some(item) = rows.next().await {
                        yield item;
                    }
                }
                Err(error) => yield Err(error),
            }
        };
        Box::pin(QueryStream::<DB>::new(Box::pin(inner), span))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let mut captured = Captured::new(query);
        let mut span = QuerySpan::start(&self.shared, &Context::current(), &mut captured, false);
        let pool = self.pool.clone();
        let wait = self.wait.clone();
        Box::pin(async move {
            let result = match timed_acquire(&pool, &wait).await {
                Ok(mut conn) => (&mut *conn).fetch_optional(captured).await,
                Err(error) => Err(error),
            };
            span.finish_with_row(&result);
            result
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}
