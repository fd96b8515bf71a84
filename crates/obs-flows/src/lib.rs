//! obs-flows: the application-level half of the design documents.
//!
//! - [`Flow`]: a user's journey (room creation, login, ...) as one span with ordered steps, its id
//!   carried in W3C baggage to every service it crosses; [`flows`] holds the documents' flows
//!   ready to start, and [`FlowDef`] defines your own. [`security_event`] counts failed logins and
//!   rejected tokens without personal data.
//! - [`ExternalCall`]: calls to other services with a time limit, classified `success`, `error`
//!   or `timeout`, optionally behind a [`CircuitBreaker`] whose open state fails `/readyz`.
//! - [`stage()`]: a background worker's stage (the documents' `withStage`); [`Job`] a job's
//!   lifecycle, [`InflightJob`] the jobs in flight, [`job_recovered`] lease recoveries.
//! - [`spawn`], [`spawn_timed`], [`spawn_blocking`]: work that keeps the parent's trace and
//!   baggage across `tokio::spawn` and `spawn_blocking`; [`checkpoint`] marks await points.
//! - [`ResourceSampler`]: memory, open descriptors, scratch disk use, runtime lag and Tokio's
//!   stable runtime metrics.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `flow_duration_ms` | histogram | `flow`, `outcome` |
//! | `flow_step_duration_ms` | histogram | `flow`, `step` |
//! | `flow_failures_total` | counter | `flow`, `step`, `error_type` |
//! | `security_events_total` | counter | `event` |
//! | `external_calls_total` | counter | `service`, `op`, `outcome` |
//! | `external_call_latency_ms` | histogram | `service`, `op` |
//! | `circuit_breaker_state` | gauge | `service` (0 closed, 1 half-open, 2 open) |
//! | `circuit_breaker_state_changes_total` | counter | `service`, `from`, `to` |
//! | `worker_stage_latency_ms` | histogram | `stage` |
//! | `worker_stage_failures_total` | counter | `stage`, `code` |
//! | `jobs_created_total` | counter | |
//! | `jobs_status_transition_total` | counter | `from`, `to` |
//! | `jobs_total_latency_ms` | histogram | |
//! | `worker_inflight_jobs` | gauge | |
//! | `worker_recovered_jobs_total` | counter | `reason` |
//! | `proc_memory_rss_mb`, `proc_open_fds`, `scratch_disk_used_pct` | gauge | |
//! | `event_loop_lag_ms` | histogram | |
//! | `tokio_runtime_workers`, `tokio_runtime_alive_tasks`, `tokio_runtime_global_queue_depth` | gauge | |
//!
//! ```
//! use obs_flows::{flows, current_flow_id};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), std::io::Error> {
//! let flow = flows::LOGIN.start();
//! let id = flow.id().to_owned();
//! flow.step("login_attempt", async { Ok::<_, std::io::Error>(()) }).await?;
//! // Inside a step (and in the services it calls) the flow id is in the baggage.
//! let seen = flow.step("credential_check", async { Ok::<_, std::io::Error>(current_flow_id()) }).await?;
//! assert_eq!(seen.as_deref(), Some(id.as_str()));
//! flow.finish();
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod breaker;
pub mod catalog;
mod definitions;
mod external;
mod flow;
mod sampler;
mod stage;
mod task;

/// The design documents' flows, ready to start.
pub mod flows {
    pub use crate::definitions::*;
}

pub use breaker::{BreakerState, CircuitBreaker};
pub use external::{ExternalCall, ExternalError};
pub use flow::{
    FLOW_ID_KEY, FLOW_NAME_KEY, Flow, FlowDef, OTHER_STEP, SecurityEvent, current_flow_id,
    current_flow_name, security_event,
};
pub use sampler::{
    ResourceSampler, ResourceSamplerBuilder, disk_used_pct, memory_rss_mb, open_fds,
};
pub use stage::{InflightJob, Job, JobStatus, job_recovered, stage};
pub use task::{Checkpoints, checkpoint, spawn, spawn_blocking, spawn_timed};
