//! Worker stages (the design documents' `withStage`) and job lifecycles.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Instant;

use obs_core::metrics::{CounterVec, GaugeVec, HistogramVec};
use obs_core::{ErrorType, Operation, instrument};
use opentelemetry::KeyValue;

use crate::catalog;

static STAGE_LATENCY: HistogramVec = HistogramVec::new(&catalog::WORKER_STAGE_LATENCY);
static STAGE_FAILURES: CounterVec = CounterVec::new(&catalog::WORKER_STAGE_FAILURES);
static JOBS_CREATED: CounterVec = CounterVec::new(&catalog::JOBS_CREATED);
static TRANSITIONS: CounterVec = CounterVec::new(&catalog::JOBS_TRANSITIONS);
static TOTAL_LATENCY: HistogramVec = HistogramVec::new(&catalog::JOBS_TOTAL_LATENCY);
static INFLIGHT: GaugeVec = GaugeVec::new(&catalog::WORKER_INFLIGHT);
static RECOVERED: CounterVec = CounterVec::new(&catalog::WORKER_RECOVERED);

/// Runs `work` as the worker stage `stage` (a span `stage {stage}`,
/// `worker_stage_latency_ms{stage}`); a failure counts in `worker_stage_failures_total{stage,code}`
/// with the error's [`ErrorType`] as the code. The output is returned unchanged.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::io::Error> {
/// let bytes = obs_flows::stage("transcode", async { Ok::<_, std::io::Error>(1024) }).await?;
/// assert_eq!(bytes, 1024);
/// # Ok(())
/// # }
/// ```
pub async fn stage<T, E: ErrorType>(
    stage: &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    crate::catalog::register();
    let op = Operation::new(Cow::Owned(format!("stage {stage}")))
        .attribute("worker.stage", stage)
        .failure_metrics(&STAGE_LATENCY, &STAGE_FAILURES, [stage]);
    instrument(op, work).await
}

/// A status a job goes through: its name (the `from`/`to` label) and whether it is terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobStatus {
    name: &'static str,
    terminal: bool,
}

impl JobStatus {
    /// Created, waiting for a worker.
    pub const QUEUED: Self = Self::new("queued", false);
    /// Being worked on.
    pub const RUNNING: Self = Self::new("running", false);
    /// Waiting to be retried after a failure.
    pub const RETRYING: Self = Self::new("retrying", false);
    /// Done (terminal).
    pub const SUCCEEDED: Self = Self::new("succeeded", true);
    /// Given up (terminal).
    pub const FAILED: Self = Self::new("failed", true);
    /// Cancelled by a user (terminal).
    pub const CANCELLED: Self = Self::new("cancelled", true);

    /// A status of the application's own; keep the set small, it is a label.
    pub const fn new(name: &'static str, terminal: bool) -> Self {
        Self { name, terminal }
    }

    /// The label value.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the job ends in this status.
    pub const fn is_terminal(&self) -> bool {
        self.terminal
    }
}

/// One job's lifecycle: created (`jobs_created_total`), each status change counted in
/// `jobs_status_transition_total{from,to}`, and on its first terminal status the time since
/// creation in `jobs_total_latency_ms`.
///
/// ```
/// use obs_flows::{Job, JobStatus};
///
/// let job = Job::created();
/// job.transition(JobStatus::RUNNING);
/// job.transition(JobStatus::SUCCEEDED);
/// assert_eq!(job.status(), JobStatus::SUCCEEDED);
/// ```
#[derive(Debug)]
pub struct Job {
    created: Instant,
    status: Mutex<JobStatus>,
}

impl Job {
    /// A job just created, in [`JobStatus::QUEUED`].
    pub fn created() -> Self {
        Self::created_in(JobStatus::QUEUED)
    }

    /// A job just created, in `status`.
    pub fn created_in(status: JobStatus) -> Self {
        crate::catalog::register();
        JOBS_CREATED.with(&[]).increment(1);
        Self {
            created: Instant::now(),
            status: Mutex::new(status),
        }
    }

    /// A job created earlier (loaded from storage), whose creation is not counted again; its
    /// total latency counts from `created`.
    pub fn resumed(created: Instant, status: JobStatus) -> Self {
        crate::catalog::register();
        Self {
            created,
            status: Mutex::new(status),
        }
    }

    /// The current status.
    pub fn status(&self) -> JobStatus {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the job to `to`. A change to the same status, or out of a terminal status, is
    /// counted like any other, but the total latency is recorded only once, on the first
    /// terminal status.
    pub fn transition(&self, to: JobStatus) {
        let from = std::mem::replace(
            &mut *self.status.lock().unwrap_or_else(PoisonError::into_inner),
            to,
        );
        TRANSITIONS.with(&[from.name, to.name]).increment(1);
        if to.terminal && !from.terminal {
            TOTAL_LATENCY
                .with(&[])
                .record(self.created.elapsed().as_secs_f64() * 1_000.0);
        }
        opentelemetry::Context::map_current(|cx| {
            use opentelemetry::trace::TraceContextExt as _;
            let span = cx.span();
            if span.is_recording() {
                span.add_event(
                    "job.transition",
                    vec![
                        KeyValue::new("job.status.from", from.name),
                        KeyValue::new("job.status.to", to.name),
                    ],
                );
            }
        });
    }
}

/// Counts a job taken back from a worker that lost it, by `reason` (`lease_expired`,
/// `worker_crashed`, ...: a small set).
pub fn job_recovered(reason: &'static str) {
    crate::catalog::register();
    RECOVERED.with(&[reason]).increment(1);
}

/// A job being worked on: `worker_inflight_jobs` counts it until the guard is dropped (also when
/// the work panics or is cancelled).
///
/// ```
/// let guard = obs_flows::InflightJob::start();
/// // ... work on the job ...
/// drop(guard);
/// ```
#[derive(Debug)]
#[must_use = "the job counts as in flight until the guard is dropped"]
pub struct InflightJob {
    _private: (),
}

impl InflightJob {
    /// Counts one more job in flight.
    pub fn start() -> Self {
        crate::catalog::register();
        INFLIGHT.with(&[]).increment(1.0);
        Self { _private: () }
    }
}

impl Drop for InflightJob {
    fn drop(&mut self) {
        INFLIGHT.with(&[]).decrement(1.0);
    }
}
