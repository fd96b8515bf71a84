//! A deadpool-redis pool's statistics as scrape-time gauges (feature `deadpool`).
//!
//! deadpool-redis 0.23 is built on redis 1.x, so its connections can be wrapped in
//! [`Instrumented`](crate::Instrumented) like any other (`Instrumented::new(pool.get().await?)`).

use deadpool_redis::Pool;
use obs_core::metrics::{ScrapeCallback, on_scrape};

use crate::catalog::{self, REDIS_POOL_AVAILABLE, REDIS_POOL_SIZE, REDIS_POOL_WAITING};

/// Reports `pool`'s size, idle connections and waiting callers as `redis_pool_size{pool}`,
/// `redis_pool_available{pool}` and `redis_pool_waiting{pool}` each time the metrics are
/// rendered, until the returned [`PoolGauges`] is dropped or the pool is (the gauges hold the
/// pool weakly: they never keep its connections open). The pool is read, never locked for long:
/// deadpool's `status()` holds its slot lock for a few loads.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:6379/")
///     .create_pool(Some(deadpool_redis::Runtime::Tokio1))?;
/// let _gauges = obs_redis::pool::observe("main", &pool); // keep it as long as the pool
/// let mut con = obs_redis::Instrumented::new(pool.get().await?);
/// let _: () = redis::cmd("PING").query_async(&mut con).await?;
/// # Ok(())
/// # }
/// ```
pub fn observe(name: &str, pool: &Pool) -> PoolGauges {
    catalog::register();
    let gauge = |def: &'static obs_core::catalog::MetricDef,
                 read: fn(&deadpool_redis::Status) -> usize| {
        let pool = pool.weak();
        let name = name.to_owned();
        on_scrape(def, move |o| {
            if let Some(pool) = pool.upgrade() {
                o.observe(&[&name], read(&pool.status()) as f64);
            }
        })
    };
    PoolGauges {
        _callbacks: [
            gauge(&REDIS_POOL_SIZE, |s| s.size),
            gauge(&REDIS_POOL_AVAILABLE, |s| s.available),
            gauge(&REDIS_POOL_WAITING, |s| s.waiting),
        ],
    }
}

/// Keeps a pool's gauges registered; drop it to remove them from `/metrics`.
#[derive(Debug)]
#[must_use = "the gauges are removed when this is dropped"]
pub struct PoolGauges {
    _callbacks: [ScrapeCallback; 3],
}
