//! obs-http: HTTP instrumentation for axum servers and HTTP clients.
#![deny(missing_docs)]

pub mod catalog;
pub mod client;
#[cfg(feature = "ws")]
pub mod ws;

pub use client::ClientLayer;
