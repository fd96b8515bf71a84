//! obs-db's metrics, declared once; `cargo xtask codegen` lists them in `docs/metrics.md`.

use obs_core::catalog::{LATENCY_MS_BUCKETS, MetricDef, Unit};

/// Statements run, by operation, table and status (`ok` or the error class).
pub const QUERIES: MetricDef = MetricDef::counter(
    "db_queries_total",
    "Statements run through an obs-db pool, connection or transaction, by operation, table and status (ok or the error class).",
)
.with_labels(&["operation", "table", "status"]);
/// Statement durations.
pub const QUERY_DURATION: MetricDef = MetricDef::histogram(
    "db_query_duration_ms",
    "Duration of statements, from the call to the last row, by operation and table.",
)
.with_labels(&["operation", "table"]);
/// Transactions ended, by outcome.
pub const TRANSACTIONS: MetricDef = MetricDef::counter(
    "db_transactions_total",
    "Transactions ended, by outcome: commit, rollback, dropped (dropped without commit, rolled back by sqlx) or error (commit or rollback failed).",
)
.with_labels(&["outcome"]);
/// Statements slower than the pool's threshold.
pub const SLOW_QUERIES: MetricDef = MetricDef::counter(
    "db_slow_queries_total",
    "Statements that took longer than the slow-query threshold (default 1 s), by operation and table.",
)
.with_labels(&["operation", "table"]);
/// Open connections of a pool. A gauge, named `_total` as in the issue and the design documents
/// (see [`obs_core::catalog`]'s "Names" for why the catalog accepts that for gauges).
pub const POOL_CONNECTIONS: MetricDef = MetricDef::gauge(
    "db_pool_connections_total",
    "Connections a pool holds open (idle and in use), read at scrape time.",
)
.with_labels(&["pool"]);
/// Connections in use.
pub const POOL_ACTIVE: MetricDef = MetricDef::gauge(
    "db_pool_connections_active",
    "Connections of a pool in use, read at scrape time.",
)
.with_labels(&["pool"]);
/// Idle connections.
pub const POOL_IDLE: MetricDef = MetricDef::gauge(
    "db_pool_connections_idle",
    "Idle connections of a pool, read at scrape time.",
)
.with_labels(&["pool"]);
/// In-use connections as a share of the pool's maximum.
pub const POOL_UTILIZATION: MetricDef = MetricDef::gauge(
    "db_pool_utilization_percent",
    "Connections in use as a percentage of the pool's maximum size, read at scrape time.",
)
.with_unit(Unit::Percent)
.with_labels(&["pool"]);
/// Time spent waiting for a connection.
pub const POOL_WAIT: MetricDef = MetricDef::histogram(
    "db_pool_wait_time_ms",
    "Time spent waiting for a pool connection, by pool (failed and timed-out acquires included).",
)
.with_labels(&["pool"])
.with_buckets(LATENCY_MS_BUCKETS);

/// Every obs-db metric.
pub static CATALOG: &[MetricDef] = &[
    QUERIES,
    QUERY_DURATION,
    TRANSACTIONS,
    SLOW_QUERIES,
    POOL_CONNECTIONS,
    POOL_ACTIVE,
    POOL_IDLE,
    POOL_UTILIZATION,
    POOL_WAIT,
];

/// Registers [`CATALOG`]; the pool constructors call it.
pub fn register() {
    // The catalog is checked by a test; a failure here could only come from a name clash.
    let _ = obs_core::catalog::register(CATALOG);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalog_is_valid() {
        assert!(obs_core::catalog::validate(super::CATALOG).is_ok());
    }
}
