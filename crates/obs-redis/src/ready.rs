//! [`RedisReadiness`]: a `PING` with a time limit, for `/readyz`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use obs_core::health::{CheckError, CheckFuture, ReadinessCheck};
use redis::aio::ConnectionLike;

/// Ready while Redis answers `PING` within the timeout (default 1 s).
///
/// ```no_run
/// use obs_core::health::ReadinessCheck;
/// use obs_redis::RedisReadiness;
///
/// # async fn run(con: redis::aio::ConnectionManager) {
/// let check = RedisReadiness::new(con);
/// assert_eq!(check.name(), "redis");
/// let ready = check.check().await.is_ok();
/// # }
/// ```
#[derive(Clone)]
pub struct RedisReadiness<C> {
    con: C,
    timeout: Duration,
}

impl<C> RedisReadiness<C> {
    /// A check that pings through `con` (cloned for each check).
    pub fn new(con: C) -> Self {
        Self {
            con,
            timeout: Duration::from_secs(1),
        }
    }

    /// A time limit other than 1 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<C> ReadinessCheck for RedisReadiness<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("redis")
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn check(&self) -> CheckFuture<'_> {
        let mut con = self.con.clone();
        let limit = self.timeout;
        Box::pin(async move {
            let cmd = redis::cmd("PING");
            let ping = cmd.query_async::<String>(&mut con);
            match tokio::time::timeout(limit, ping).await {
                Ok(Ok(_)) => Ok(()),
                // The error's kind only: its message could quote the server's reply.
                Ok(Err(e)) => Err(CheckError::new(format!(
                    "redis PING failed: {}",
                    crate::error_type(&e)
                ))),
                Err(_) => Err(CheckError::timed_out(limit)),
            }
        })
    }
}

impl<C> fmt::Debug for RedisReadiness<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReadiness")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
