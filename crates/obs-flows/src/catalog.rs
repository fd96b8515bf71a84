//! obs-flows' metrics, declared once.
//!
//! Nothing to pass to `init`: each family registers its own definition when first used, and the
//! constructors of this crate register [`CATALOG`] with [`obs_core::catalog::register`].
//!
//! The names and label sets are the and the design documents'. Flow steps and worker
//! stages count their failures only (`flow_failures_total`, `worker_stage_failures_total`: obs-core's
//! [`Operation::failure_metrics`](obs_core::Operation::failure_metrics)); their runs are the count
//! of their duration histograms. `external_calls_total` is `{service,op,outcome}`: the error's type
//! (`circuit_open` when the breaker refused the call) is the span's `error.type`.
//!
//! Three kinds of metric the issue asks for without naming them have names of their own:
//! `security_events_total{event}` (failed logins, rejected tokens), and the Tokio runtime gauges
//! `tokio_runtime_workers`, `tokio_runtime_alive_tasks` and `tokio_runtime_global_queue_depth`
//! (tokio's stable runtime metrics, under tokio's own names).

use obs_core::catalog::{LATENCY_MS_BUCKETS, MetricDef, Unit};

/// Flow durations, 1 ms to 60 s.
pub const FLOW_MS_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
    60_000.0,
];

/// Job latencies, 10 ms to one hour.
pub const JOB_MS_BUCKETS: &[f64] = &[
    10.0,
    50.0,
    100.0,
    500.0,
    1_000.0,
    5_000.0,
    10_000.0,
    30_000.0,
    60_000.0,
    300_000.0,
    900_000.0,
    3_600_000.0,
];

/// Event-loop lag, 0.1 ms to 1 s.
pub const LAG_MS_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0,
];

/// Whole flows.
pub const FLOW_DURATION: MetricDef = MetricDef::histogram(
    "flow_duration_ms",
    "Duration of user flows from start to finish, by flow and outcome (success, error, cancelled).",
)
.with_labels(&["flow", "outcome"])
.with_buckets(FLOW_MS_BUCKETS);

/// Flow steps.
pub const FLOW_STEP_DURATION: MetricDef = MetricDef::histogram(
    "flow_step_duration_ms",
    "Duration of user flow steps, by flow and step.",
)
.with_labels(&["flow", "step"])
.with_buckets(LATENCY_MS_BUCKETS);

/// Failed flow steps.
pub const FLOW_FAILURES: MetricDef = MetricDef::counter(
    "flow_failures_total",
    "User flow steps that failed or timed out, by flow, step and error type.",
)
.with_labels(&["flow", "step", "error_type"]);

/// Security events.
pub const SECURITY_EVENTS: MetricDef = MetricDef::counter(
    "security_events_total",
    "Security events (failed logins, rejected tokens, ...), by event; no personal data.",
)
.with_labels(&["event"]);

/// External calls by outcome.
pub const EXTERNAL_CALLS: MetricDef = MetricDef::counter(
    "external_calls_total",
    "Calls to external services, by service, operation and outcome (success, error, timeout; a call the circuit breaker refused is an error).",
)
.with_labels(&["service", "op", "outcome"]);

/// External call latency.
pub const EXTERNAL_CALL_LATENCY: MetricDef = MetricDef::histogram(
    "external_call_latency_ms",
    "Latency of calls to external services, by service and operation.",
)
.with_labels(&["service", "op"])
.with_buckets(LATENCY_MS_BUCKETS);

/// Circuit breaker state.
pub const CIRCUIT_BREAKER_STATE: MetricDef = MetricDef::gauge(
    "circuit_breaker_state",
    "Circuit breaker state per service: 0 closed, 1 half-open, 2 open.",
)
.with_labels(&["service"]);

/// Circuit breaker transitions.
pub const CIRCUIT_BREAKER_CHANGES: MetricDef = MetricDef::counter(
    "circuit_breaker_state_changes_total",
    "Circuit breaker state changes, by service, from and to (closed, half_open, open).",
)
.with_labels(&["service", "from", "to"]);

/// Worker stage durations.
pub const WORKER_STAGE_LATENCY: MetricDef = MetricDef::histogram(
    "worker_stage_latency_ms",
    "Duration of background worker stages, by stage.",
)
.with_labels(&["stage"])
.with_buckets(JOB_MS_BUCKETS);

/// Worker stage failures.
pub const WORKER_STAGE_FAILURES: MetricDef = MetricDef::counter(
    "worker_stage_failures_total",
    "Background worker stages that failed or timed out, by stage and error code (the error type; timeout for a time-out).",
)
.with_labels(&["stage", "code"]);

/// Jobs created.
pub const JOBS_CREATED: MetricDef = MetricDef::counter("jobs_created_total", "Jobs created.");

/// Job status transitions.
pub const JOBS_TRANSITIONS: MetricDef = MetricDef::counter(
    "jobs_status_transition_total",
    "Job status transitions, by from and to status.",
)
.with_labels(&["from", "to"]);

/// Job latency from creation to a terminal status.
pub const JOBS_TOTAL_LATENCY: MetricDef = MetricDef::histogram(
    "jobs_total_latency_ms",
    "Job duration from creation to a terminal status.",
)
.with_buckets(JOB_MS_BUCKETS);

/// Jobs being worked on.
pub const WORKER_INFLIGHT: MetricDef = MetricDef::gauge(
    "worker_inflight_jobs",
    "Jobs being worked on by this process.",
);

/// Recovered jobs.
pub const WORKER_RECOVERED: MetricDef = MetricDef::counter(
    "worker_recovered_jobs_total",
    "Jobs taken back from a worker that lost them (expired lease, crash), by reason.",
)
.with_labels(&["reason"]);

/// Resident memory.
pub const PROC_MEMORY_RSS: MetricDef = MetricDef::gauge(
    "proc_memory_rss_mb",
    "Resident memory of this process in MiB (VmRSS from /proc/self/status), read at scrape time.",
)
.with_unit(Unit::Mebibytes);

/// Open file descriptors.
pub const PROC_OPEN_FDS: MetricDef = MetricDef::gauge(
    "proc_open_fds",
    "Open file descriptors of this process (entries of /proc/self/fd), read at scrape time.",
);

/// Scratch disk use.
pub const SCRATCH_DISK_USED: MetricDef = MetricDef::gauge(
    "scratch_disk_used_pct",
    "Used space of the file system holding the configured scratch directory, in percent of the space available to users (as df computes it), read at scrape time.",
)
.with_unit(Unit::Percent);

/// Runtime lag.
pub const EVENT_LOOP_LAG: MetricDef = MetricDef::histogram(
    "event_loop_lag_ms",
    "How late a periodic timer on the Tokio runtime fired (timer drift): time the runtime was too busy to run a ready task.",
)
.with_buckets(LAG_MS_BUCKETS);

/// Tokio workers.
pub const TOKIO_WORKERS: MetricDef = MetricDef::gauge(
    "tokio_runtime_workers",
    "Worker threads of the sampled Tokio runtime.",
);

/// Tokio alive tasks.
pub const TOKIO_ALIVE_TASKS: MetricDef = MetricDef::gauge(
    "tokio_runtime_alive_tasks",
    "Tasks alive on the sampled Tokio runtime.",
);

/// Tokio global queue depth.
pub const TOKIO_GLOBAL_QUEUE_DEPTH: MetricDef = MetricDef::gauge(
    "tokio_runtime_global_queue_depth",
    "Tasks waiting in the sampled Tokio runtime's global (injection) queue.",
);

/// Every metric obs-flows emits.
pub static CATALOG: &[MetricDef] = &[
    FLOW_DURATION,
    FLOW_STEP_DURATION,
    FLOW_FAILURES,
    SECURITY_EVENTS,
    EXTERNAL_CALLS,
    EXTERNAL_CALL_LATENCY,
    CIRCUIT_BREAKER_STATE,
    CIRCUIT_BREAKER_CHANGES,
    WORKER_STAGE_LATENCY,
    WORKER_STAGE_FAILURES,
    JOBS_CREATED,
    JOBS_TRANSITIONS,
    JOBS_TOTAL_LATENCY,
    WORKER_INFLIGHT,
    WORKER_RECOVERED,
    PROC_MEMORY_RSS,
    PROC_OPEN_FDS,
    SCRATCH_DISK_USED,
    EVENT_LOOP_LAG,
    TOKIO_WORKERS,
    TOKIO_ALIVE_TASKS,
    TOKIO_GLOBAL_QUEUE_DEPTH,
];

/// Registers [`CATALOG`]; idempotent and cheap.
pub(crate) fn register() {
    if let Err(err) = obs_core::catalog::register(CATALOG) {
        tracing::warn!(%err, "obs-flows' metric catalog conflicts with another registration");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalog_is_valid() {
        obs_core::catalog::validate(super::CATALOG).unwrap();
    }
}
