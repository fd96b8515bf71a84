//! [`RateLimiter`]: fixed and sliding windows, each decision one Lua script run on the server.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use obs_core::metrics::CounterVec;
use redis::aio::ConnectionLike;
use redis::{RedisResult, Script};

use crate::cache::ttl_ms;
use crate::catalog::{self, RATE_LIMIT_OPERATIONS, RATE_LIMIT_VIOLATIONS};

static OPERATIONS: CounterVec = CounterVec::new(&RATE_LIMIT_OPERATIONS);
static VIOLATIONS: CounterVec = CounterVec::new(&RATE_LIMIT_VIOLATIONS);

/// Counts requests in the current window; the counter expires with the window.
/// KEYS[1] counter; ARGV[1] limit, ARGV[2] window in ms.
static FIXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then return 0 end
return 1
",
    )
});

/// Keeps the admitted requests of the last window in a sorted set scored by the server's time.
/// KEYS[1] the set; ARGV[1] limit, ARGV[2] window in ms, ARGV[3] a unique member.
static SLIDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 1
end
return 0
",
    )
});

/// What a limiter decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Within the limit.
    Allowed,
    /// Over the limit: refuse the request.
    Limited,
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn is_allowed(self) -> bool {
        self == Self::Allowed
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fixed,
    Sliding,
}

/// A rate limit of `limit` requests per `window` and subject (a user id, an IP address),
/// decided atomically on the Redis server, so concurrent callers on any number of processes
/// never admit more than `limit` in a window.
///
/// - [`fixed_window`](Self::fixed_window): a counter per window, reset when it expires (cheap;
///   up to twice the limit across a window boundary);
/// - [`sliding_window`](Self::sliding_window): the admitted requests of the last `window`,
///   timed by the server's clock (exact at any instant; one sorted-set entry per request).
///
/// Each decision counts in `rate_limit_operations_total{limiter,result}` (`allowed`,
/// `limited`), and each refusal in `rate_limit_violations_total{limiter}`. Subjects are part of
/// the key only, which spans record as a pattern.
///
/// ```no_run
/// use std::time::Duration;
/// use obs_redis::{Instrumented, RateLimiter};
///
/// # async fn run(con: redis::aio::ConnectionManager) -> redis::RedisResult<()> {
/// let logins = RateLimiter::sliding_window(Instrumented::new(con), "login", 5, Duration::from_secs(60));
/// if !logins.check("203.0.113.7").await?.is_allowed() {
///     // answer 429
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimiter<C> {
    con: C,
    name: Cow<'static, str>,
    limit: u64,
    window: Duration,
    kind: Kind,
}

impl<C> RateLimiter<C>
where
    C: ConnectionLike + Clone + Send + Sync,
{
    /// At most `limit` requests per subject in each fixed `window`; `name` labels the metrics
    /// and the keys (`ratelimit:{name}:{subject}`).
    pub fn fixed_window(
        con: C,
        name: impl Into<Cow<'static, str>>,
        limit: u64,
        window: Duration,
    ) -> Self {
        Self::new(con, name.into(), limit, window, Kind::Fixed)
    }

    /// At most `limit` requests per subject in any `window` ending now.
    pub fn sliding_window(
        con: C,
        name: impl Into<Cow<'static, str>>,
        limit: u64,
        window: Duration,
    ) -> Self {
        Self::new(con, name.into(), limit, window, Kind::Sliding)
    }

    fn new(con: C, name: Cow<'static, str>, limit: u64, window: Duration, kind: Kind) -> Self {
        catalog::register();
        Self {
            con,
            name,
            limit,
            window,
            kind,
        }
    }

    /// Decides one request of `subject`, and counts it when allowed.
    ///
    /// # Errors
    /// When Redis cannot be reached; the caller decides whether to fail open or closed.
    pub async fn check(&self, subject: &str) -> RedisResult<Decision> {
        let mut con = self.con.clone();
        let key = format!("ratelimit:{}:{subject}", self.name);
        let window = ttl_ms(self.window);
        let admitted: i64 = match self.kind {
            Kind::Fixed => {
                FIXED
                    .key(key)
                    .arg(self.limit)
                    .arg(window)
                    .invoke_async(&mut con)
                    .await?
            }
            Kind::Sliding => {
                let member: u128 = rand::random();
                SLIDING
                    .key(key)
                    .arg(self.limit)
                    .arg(window)
                    .arg(format!("{member:032x}"))
                    .invoke_async(&mut con)
                    .await?
            }
        };
        let decision = if admitted == 1 {
            Decision::Allowed
        } else {
            Decision::Limited
        };
        let result = match decision {
            Decision::Allowed => "allowed",
            Decision::Limited => {
                VIOLATIONS.with(&[&self.name]).increment(1);
                "limited"
            }
        };
        OPERATIONS.with(&[&self.name, result]).increment(1);
        Ok(decision)
    }
}

impl<C> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .field("window", &self.window)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}
