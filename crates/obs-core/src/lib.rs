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
//! ```no_run
//! use obs_core::{instrument, ObsConfig, Operation};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let guard = obs_core::init(ObsConfig::from_env()?)?;
//!     let total: Result<u64, std::io::Error> =
//!         instrument(Operation::new("report.build"), async { Ok(42) }).await;
//!     tracing::info!(total = total?, "report built");
//!     guard.shutdown()?;
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
pub use op::{ErrorType, Instrumented, OpOutcome, Operation, Outcome, instrument, instrument_with};
pub use recorder::MetricsHandle;
