//! obs-http: HTTP instrumentation for axum servers and HTTP clients.
#![deny(missing_docs)]

pub mod admin;
pub mod catalog;
