//! [`Cache`]: typed values in Redis with a TTL, hits and misses counted by cache type.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use obs_core::metrics::{CounterVec, ScrapeCallback, on_scrape};
use redis::aio::ConnectionLike;
use redis::{RedisError, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::catalog::{self, CACHE_HIT_RATE, CACHE_OPERATIONS, REDIS_CACHE_REQUESTS};

static REQUESTS: CounterVec = CounterVec::new(&REDIS_CACHE_REQUESTS);
static OPERATIONS: CounterVec = CounterVec::new(&CACHE_OPERATIONS);

/// The hit-rate window of each cache type in use, shared by every [`Cache`] of that type (so two
/// caches of one type report one rate), held weakly: a type whose caches are all dropped leaves
/// `/metrics`.
type Windows = Vec<(Cow<'static, str>, Weak<Mutex<Window>>)>;
static WINDOWS: Mutex<Windows> = Mutex::new(Vec::new());
/// The scrape callback that reads the windows, registered with the first cache and kept for the
/// process's life (it observes nothing when no cache is alive).
static HIT_RATE: OnceLock<ScrapeCallback> = OnceLock::new();

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The window of `cache_type`, made on first use.
#[expect(
    clippy::ptr_arg,
    reason = "the name is cloned into the map as a Cow, so a `&'static str` stays borrowed"
)]
fn window_for(cache_type: &Cow<'static, str>) -> Arc<Mutex<Window>> {
    let window = {
        let mut windows = lock(&WINDOWS);
        windows.retain(|(_, w)| w.strong_count() > 0);
        match windows
            .iter()
            .find(|(t, _)| t == cache_type)
            .and_then(|(_, w)| w.upgrade())
        {
            Some(window) => window,
            None => {
                let window = Arc::new(Mutex::new(Window::new()));
                windows.push((cache_type.clone(), Arc::downgrade(&window)));
                window
            }
        }
    };
    HIT_RATE.get_or_init(|| {
        on_scrape(&CACHE_HIT_RATE, |o| {
            let live: Vec<_> = lock(&WINDOWS)
                .iter()
                .filter_map(|(t, w)| w.upgrade().map(|w| (t.clone(), w)))
                .collect();
            for (cache_type, window) in live {
                // No lookup in the window, no rate: an idle cache shows no stale figure.
                if let Some(rate) = lock(&window).rate() {
                    o.observe(&[&cache_type], rate);
                }
            }
        })
    });
    window
}

/// The hit rate's window: this many one-second buckets.
const WINDOW_SECONDS: u64 = 60;

/// Why a cache operation failed: Redis, or the value's JSON.
#[derive(Debug)]
pub enum CacheError {
    /// The command failed.
    Redis(RedisError),
    /// The value could not be written as JSON, or what was stored could not be read as `T`.
    Json(serde_json::Error),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redis(e) => write!(f, "cache command failed: {e}"),
            Self::Json(e) => write!(f, "cache value is not the expected JSON: {e}"),
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Redis(e) => Some(e),
            Self::Json(e) => Some(e),
        }
    }
}

impl From<RedisError> for CacheError {
    fn from(e: RedisError) -> Self {
        Self::Redis(e)
    }
}

impl From<serde_json::Error> for CacheError {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

/// A cache of JSON values in Redis, for one cache type (`user_profile`, `product`).
///
/// Every lookup counts in `redis_cache_requests_total{cache_type,result}` (`hit` or `miss`) and
/// in the sliding window behind `cache_hit_rate_percent{cache_type}`: the share of hits among
/// the lookups of the last 60 seconds, computed when the metrics are rendered (so it slides with
/// time even when no lookup comes; with no lookup in the window the series is absent), over all
/// the caches of the type. Every call counts in
/// `cache_operations_total{cache_type,operation}` (`get`, `set`, `delete`, `load`). Give it an
/// [`Instrumented`](crate::Instrumented) connection to get a span per command as well. Keep cache
/// types few: each is a label value.
///
/// ```no_run
/// use std::time::Duration;
/// use obs_redis::{Cache, Instrumented};
///
/// # async fn run(con: redis::aio::ConnectionManager) -> Result<(), obs_redis::CacheError> {
/// let profiles = Cache::new(Instrumented::new(con), "user_profile");
/// profiles.set("profile:42", &vec!["admin"], Duration::from_secs(300)).await?;
/// let roles: Option<Vec<String>> = profiles.get("profile:42").await?;
/// let loaded: Result<u32, std::io::Error> = profiles
///     .get_or_load("visits:42", Duration::from_secs(60), || async { Ok(7) })
///     .await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Cache<C> {
    con: C,
    cache_type: Cow<'static, str>,
    window: Arc<Mutex<Window>>,
}

impl<C> Cache<C>
where
    C: ConnectionLike + Clone + Send + Sync,
{
    /// A cache of type `cache_type` over `con` (cloned for each command).
    pub fn new(con: C, cache_type: impl Into<Cow<'static, str>>) -> Self {
        catalog::register();
        let cache_type = cache_type.into();
        Self {
            con,
            window: window_for(&cache_type),
            cache_type,
        }
    }

    /// The cache type, as the metrics label it.
    pub fn cache_type(&self) -> &str {
        &self.cache_type
    }

    fn count(&self, operation: &str) {
        OPERATIONS.with(&[&self.cache_type, operation]).increment(1);
    }

    fn lookup_result(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        REQUESTS.with(&[&self.cache_type, result]).increment(1);
        lock(&self.window).record(hit);
    }

    /// The value under `key`, or `None` when there is none (a miss).
    ///
    /// # Errors
    /// When the command fails, or the stored value is not JSON of `T` (counted as a hit: a
    /// value was there).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        self.count("get");
        let mut con = self.con.clone();
        let stored: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(&mut con).await?;
        self.lookup_result(stored.is_some());
        match stored {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key` for `ttl` (rounded up to a millisecond).
    ///
    /// # Errors
    /// When the value cannot be written as JSON or the command fails.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.count("set");
        let bytes = serde_json::to_vec(value)?;
        let mut con = self.con.clone();
        let _: Value = redis::cmd("SET")
            .arg(key)
            .arg(bytes)
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut con)
            .await?;
        Ok(())
    }

    /// Removes `key`; whether it was there.
    ///
    /// # Errors
    /// When the command fails.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.count("delete");
        let mut con = self.con.clone();
        let removed: u64 = redis::cmd("DEL").arg(key).query_async(&mut con).await?;
        Ok(removed > 0)
    }

    /// The value under `key`; on a miss, `load` is called and what it returns is stored for `ttl`.
    ///
    /// The cache fails open: when Redis cannot be reached or holds something unreadable, the
    /// value is loaded, and a failed store is ignored (the next call loads again). Only `load`'s
    /// own error is returned.
    ///
    /// # Errors
    /// `load`'s error.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: &str, ttl: Duration, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Ok(Some(value)) = self.get(key).await {
            return Ok(value);
        }
        self.count("load");
        let value = load().await?;
        let _ = self.set(key, &value, ttl).await;
        Ok(value)
    }
}

pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl<C> fmt::Debug for Cache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("cache_type", &self.cache_type)
            .finish_non_exhaustive()
    }
}

/// Hits and misses of the last [`WINDOW_SECONDS`], in one-second buckets.
struct Window {
    start: Instant,
    /// (second since `start`, hits, misses) per bucket.
    buckets: [(u64, u64, u64); WINDOW_SECONDS as usize],
}

impl Window {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            buckets: [(u64::MAX, 0, 0); WINDOW_SECONDS as usize],
        }
    }

    /// Records one lookup.
    fn record(&mut self, hit: bool) {
        self.record_at(self.start.elapsed().as_secs(), hit);
    }

    fn record_at(&mut self, second: u64, hit: bool) {
        let bucket = &mut self.buckets[(second % WINDOW_SECONDS) as usize];
        if bucket.0 != second {
            *bucket = (second, 0, 0);
        }
        if hit {
            bucket.1 += 1;
        } else {
            bucket.2 += 1;
        }
    }

    /// The hit rate of the window ending now, in percent; `None` without lookups in it.
    fn rate(&self) -> Option<f64> {
        self.rate_at(self.start.elapsed().as_secs())
    }

    fn rate_at(&self, second: u64) -> Option<f64> {
        let (hits, total) = self
            .buckets
            .iter()
            .filter(|b| b.0 != u64::MAX && b.0 <= second && b.0 + WINDOW_SECONDS > second)
            .fold((0_u64, 0_u64), |(h, t), b| (h + b.1, t + b.1 + b.2));
        (total > 0).then(|| hits as f64 * 100.0 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_slides() {
        let mut w = Window::new();
        assert_eq!(w.rate_at(0), None);
        w.record_at(0, true);
        assert_eq!(w.rate_at(0), Some(100.0));
        w.record_at(1, false);
        assert_eq!(w.rate_at(1), Some(50.0));
        w.record_at(59, false);
        assert_eq!(w.rate_at(59), Some(100.0 / 3.0));
        // Second 0 has left the window at second 60, lookups or not.
        assert_eq!(w.rate_at(60), Some(0.0));
        w.record_at(60, true);
        assert_eq!(w.rate_at(60), Some(100.0 / 3.0));
        // Time alone empties the window: no lookups, no rate.
        assert_eq!(w.rate_at(119), Some(100.0));
        assert_eq!(w.rate_at(120), None);
        w.record_at(200, false);
        assert_eq!(w.rate_at(200), Some(0.0));
    }
}
