//! [`PoolReadiness`]: a `/readyz` check for a pool.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use obs_core::health::{CheckError, CheckFuture, ReadinessCheck};
use sqlx::{Executor, Pool};

use crate::driver::Driver;
use crate::pool::{InstrumentedPool, utilization};

/// Ready when `SELECT 1` answers within the timeout (default 2 s) and the pool's utilization is
/// under a bound (default 95 %). The probe runs on the sqlx pool directly, so it adds no span
/// and no query metrics.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sqlx::Error> {
/// use obs_core::health::ReadinessCheck;
/// let pool = obs_db::InstrumentedPool::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
/// let check = pool.readiness_check().max_utilization_percent(90.0);
/// assert!(check.check().await.is_ok());
/// # Ok(())
/// # }
/// ```
pub struct PoolReadiness<DB: Driver> {
    pool: Pool<DB>,
    name: String,
    timeout: Duration,
    max_utilization: f64,
}

impl<DB: Driver> fmt::Debug for PoolReadiness<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolReadiness")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("max_utilization", &self.max_utilization)
            .finish_non_exhaustive()
    }
}

impl<DB: Driver> PoolReadiness<DB> {
    /// How long the probe may take (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The utilization, in percent of the pool's maximum size, at or above which the pool is
    /// not ready (default 95).
    pub fn max_utilization_percent(mut self, percent: f64) -> Self {
        self.max_utilization = percent;
        self
    }
}

impl<DB: Driver> InstrumentedPool<DB> {
    /// A readiness check for this pool, named `db` (or `db:<pool name>` for a named pool).
    pub fn readiness_check(&self) -> PoolReadiness<DB> {
        let name = if self.name() == "default" {
            String::from("db")
        } else {
            format!("db:{}", self.name())
        };
        PoolReadiness {
            pool: self.inner().clone(),
            name,
            timeout: obs_core::health::DEFAULT_CHECK_TIMEOUT,
            max_utilization: 95.0,
        }
    }
}

impl<DB: Driver> ReadinessCheck for PoolReadiness<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn name(&self) -> Cow<'static, str> {
        Cow::Owned(self.name.clone())
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let used = utilization(&self.pool);
            if used >= self.max_utilization {
                return Err(CheckError::new(format!(
                    "pool {} at {used:.0}% of its connections (bound {:.0}%)",
                    self.name, self.max_utilization
                )));
            }
            match tokio::time::timeout(self.timeout, self.pool.execute("SELECT 1")).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(CheckError::from_error(&error)),
                Err(_) => Err(CheckError::timed_out(self.timeout)),
            }
        })
    }
}
