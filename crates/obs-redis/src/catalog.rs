//! obs-redis's metrics, declared once.
//!
//! Nothing to pass to `init`: [`Instrumented::new`](crate::Instrumented::new) and the helpers'
//! constructors register [`CATALOG`] with [`obs_core::catalog::register`], before or after
//! `init`, so `/metrics` shows these metrics with their help text and buckets.

use obs_core::catalog::MetricDef;

/// Redis commands and pipelines by command and outcome: `{command,status}` as in the issue and
/// the design documents. The error's type (`wrongtype`, `connection_refused`, ...) is the span's
/// `error.type`, not a label, which keeps the series count at commands × 3.
pub const REDIS_OPERATIONS: MetricDef = MetricDef::counter(
    "redis_operations_total",
    "Redis commands sent through obs_redis::Instrumented, by command (PIPELINE, MULTI for batches) and status (success, error, timeout).",
)
.with_labels(&["command", "status"])
.with_max_series(500);

/// Redis command latency by command.
pub const REDIS_OPERATION_DURATION: MetricDef = MetricDef::histogram(
    "redis_operation_duration_ms",
    "Redis command latency from the call to the reply, by command (PIPELINE, MULTI for batches).",
)
.with_labels(&["command"])
.with_max_series(200);

/// Cache lookups by cache type and result.
pub const REDIS_CACHE_REQUESTS: MetricDef = MetricDef::counter(
    "redis_cache_requests_total",
    "Cache lookups made through obs_redis::Cache, by cache type and result (hit, miss).",
)
.with_labels(&["cache_type", "result"]);

/// Cache operations by cache type and operation.
pub const CACHE_OPERATIONS: MetricDef = MetricDef::counter(
    "cache_operations_total",
    "Cache operations made through obs_redis::Cache, by cache type and operation (get, set, delete, load).",
)
.with_labels(&["cache_type", "operation"]);

/// Hit rate over the last minute, by cache type.
pub const CACHE_HIT_RATE: MetricDef = MetricDef::gauge(
    "cache_hit_rate_percent",
    "Share of cache lookups that hit over the last 60 seconds, in percent, by cache type.",
)
.with_labels(&["cache_type"]);

/// Session store operations.
pub const SESSION_OPERATIONS: MetricDef = MetricDef::counter(
    "session_operations_total",
    "Session store operations, by operation (create, read, update, touch, destroy, cleanup).",
)
.with_labels(&["operation"]);

/// Rate limiter decisions.
pub const RATE_LIMIT_OPERATIONS: MetricDef = MetricDef::counter(
    "rate_limit_operations_total",
    "Rate limiter decisions, by limiter and result (allowed, limited).",
)
.with_labels(&["limiter", "result"]);

/// Requests a rate limiter refused.
pub const RATE_LIMIT_VIOLATIONS: MetricDef = MetricDef::counter(
    "rate_limit_violations_total",
    "Requests a rate limiter refused, by limiter.",
)
.with_labels(&["limiter"]);

/// Connections a pool holds.
pub const REDIS_POOL_SIZE: MetricDef = MetricDef::gauge(
    "redis_pool_size",
    "Connections a Redis pool holds (idle and in use), read at scrape time, by pool.",
)
.with_labels(&["pool"]);

/// Idle connections of a pool.
pub const REDIS_POOL_AVAILABLE: MetricDef = MetricDef::gauge(
    "redis_pool_available",
    "Idle connections ready in a Redis pool, read at scrape time, by pool.",
)
.with_labels(&["pool"]);

/// Callers waiting for a pool connection.
pub const REDIS_POOL_WAITING: MetricDef = MetricDef::gauge(
    "redis_pool_waiting",
    "Callers waiting for a connection from a Redis pool, read at scrape time, by pool.",
)
.with_labels(&["pool"]);

/// Every metric of obs-redis.
pub static CATALOG: &[MetricDef] = &[
    REDIS_OPERATIONS,
    REDIS_OPERATION_DURATION,
    REDIS_CACHE_REQUESTS,
    CACHE_OPERATIONS,
    CACHE_HIT_RATE,
    SESSION_OPERATIONS,
    RATE_LIMIT_OPERATIONS,
    RATE_LIMIT_VIOLATIONS,
    REDIS_POOL_SIZE,
    REDIS_POOL_AVAILABLE,
    REDIS_POOL_WAITING,
];

/// Registers [`CATALOG`]; cheap after the first call.
pub(crate) fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = obs_core::catalog::register(CATALOG);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalog_is_valid() {
        obs_core::catalog::validate(super::CATALOG).unwrap();
    }
}
