//! obs-http: HTTP instrumentation for axum servers and HTTP clients.
//!
//! - [`HttpLayer`]: one line on an axum router gives spans, metrics, request ids and W3C
//!   propagation for every request ([`server`]).
//!
//! Pass [`catalog::CATALOG`] to `ObsConfig::builder().catalog(..)` so the HTTP metrics are described
//! and get their buckets.
#![deny(missing_docs)]

pub mod admin;
pub mod catalog;
pub mod server;

pub use server::{CorrelationId, HttpLayer, ObsUser, RequestId};
