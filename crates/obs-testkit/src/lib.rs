//! Test helpers that capture what obs emits, for obs's own tests and for users' tests:
//!
//! - [`OtlpReceiver`]: an in-process OTLP trace receiver (gRPC and HTTP/protobuf) on 127.0.0.1;
//! - [`MetricsSnapshot`]: a recorder's metrics as samples (or the Prometheus text parsed);
//! - [`LocalRecorder`]: a metrics recorder local to a test, no `init` needed;
//! - [`LogCapture`]: the log lines, in memory;
//! - [`isolated`]: run a test that calls `obs_core::init` in a process of its own;
//! - [`servers`]: real PostgreSQL and Redis servers on loopback, stopped on drop.
#![deny(missing_docs)]

mod isolate;
mod logs;
mod metrics;
mod otlp;
pub mod servers;

pub use isolate::isolated;
pub use logs::LogCapture;
pub use metrics::{LocalRecorder, MetricsSnapshot, Sample};
pub use otlp::{OtlpReceiver, ReceivedSpan};
