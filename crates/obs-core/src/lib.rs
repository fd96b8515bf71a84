//! obs-core: the base every obs crate stands on.
//!
//! - [`config`]: [`ObsConfig`] from the standard `OTEL_*` variables or a builder;
//! - [`init`]: installs logging (text or JSON, with `trace_id`/`span_id`), the OpenTelemetry tracer
//!   provider bridged to `tracing` with OTLP export, the Prometheus recorder and the W3C propagator;
//! - [`catalog`]: every metric declared once; [`metrics`]: families with a cardinality guard;
//! - [`propagation`]: W3C `traceparent`, `tracestate` and `baggage`, and spawning inside a trace;
//! - [`redact`]: what may leave the process; [`instrument`]: timed operations;
//! - [`health`]: readiness checks ([`health::ReadinessCheck`]) for `/readyz`.
//!
//! Two names sit next to names of the crates obs builds on, on purpose: [`obs_core::metrics`](metrics)
//! holds obs's metric families, which record through the [`metrics`](::metrics) crate's facade
//! (write `::metrics` for the crate inside a module that imports ours); and [`instrument`] is a
//! function that times an [`Operation`], while `tracing::Instrument` is the extension trait that
//! attaches a `tracing` span to a future (import it as `tracing::Instrument as _`, as the
//! examples do, and both read unambiguously).
//!
//! ```no_run
//! use obs_core::{instrument, ObsConfig, Operation};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let guard = obs_core::init(ObsConfig::from_env()?)?;
//!     let total: Result<u64, std::io::Error> =
//!         instrument(Operation::new("report.build"), async { Ok(42) }).await;
//!     tracing::info!(total = total?, "report built");
//!     if let Err(lost) = guard.shutdown() {
//!         tracing::warn!("{lost}"); // spans the collector did not take; not worth exit code 1
//!     }
//!     Ok(())
//! }
//! ```
#![deny(missing_docs)]

pub mod catalog;
pub mod config;
mod export;
mod exporter;
mod exposition;
pub mod health;
mod histogram;
mod init;
pub mod logging;
pub mod metrics;
pub mod op;
pub mod propagation;
mod recorder;
pub mod redact;
mod registry;
pub mod sampler;
mod scalar;
mod scrape;
mod snapshot;
pub mod trace;

pub use config::{ConfigError, LogFormat, ObsConfig, ObsConfigBuilder, Protocol, SamplerConfig};
pub use export::ExportStats;
pub use init::{InitError, ObsGuard, ShutdownError, export_stats, init, prometheus_handle};
pub use op::{
    ErrorType, Instrumented, OpOutcome, Operation, Outcome, TimedOut, instrument, instrument_with,
};
pub use recorder::MetricsHandle;

/// Not public API: what obs's own crates (obs-http) need from obs-core's internals, kept here so
/// they stay out of the documented API. No stability promise; do not use it.
#[doc(hidden)]
pub mod __private {
    use opentelemetry::Context;

    pub use crate::trace::start::{Started, start_span};

    /// Runs `start` (which opens spans) with `ratio` in force on this thread, without touching any
    /// `Context`: the cheapest way for a layer to sample one span it opens itself.
    pub fn sampling_scope<T>(
        ratio: crate::sampler::SamplingOverride,
        start: impl FnOnce() -> T,
    ) -> T {
        ratio.scope(start)
    }

    /// The caller's context from one `traceparent` value's bytes alone; see
    /// `W3CPropagator::extract_traceparent`.
    pub fn extract_traceparent(cx: &Context, traceparent: Option<&[u8]>) -> Context {
        crate::propagation::W3CPropagator::new().extract_traceparent(cx, traceparent)
    }

    /// 128 bits as 32 lowercase hex characters, without going through `fmt`.
    pub fn hex_u128(n: u128) -> [u8; 32] {
        crate::propagation::traceparent::hex_u128(n)
    }
}
