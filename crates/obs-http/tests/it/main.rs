//! obs-http's integration tests: real servers on 127.0.0.1, real clients, an in-process OTLP
//! receiver. Every test that calls `obs_core::init` runs in a process of its own (`isolated`).

mod client;
#[cfg(feature = "ws")]
mod ws;
