//! obs-http: HTTP instrumentation for axum servers and HTTP clients.
//!
//! - [`HttpLayer`]: one line on an axum router gives spans, metrics, request ids and W3C
//!   propagation for every request ([`server`]);
//! - [`ClientLayer`]: client spans, context injection and duration metrics for outgoing requests
//!   ([`client`]); with the `client` feature, a ready client (`client::HttpClient`);
//! - [`admin`]: `/metrics`, `/metrics/json`, `/healthz`, `/readyz` (and, with the `pprof` feature,
//!   CPU profiles) on the main router or a separate admin address;
//! - `ws` (feature `ws`): WebSocket session and message tracing.
//!
//! The layers register obs-http's metric [`catalog`] themselves: `init` needs no list of crates.
#![deny(missing_docs)]

pub mod admin;
pub mod catalog;
pub mod client;
mod host;
mod method;
mod recent;
pub mod server;
mod signal;
#[cfg(feature = "ws")]
pub mod ws;

pub use client::ClientLayer;
pub use server::{CorrelationId, HttpLayer, ObsUser, RequestId, RequestSpan};
pub use signal::shutdown_signal;
