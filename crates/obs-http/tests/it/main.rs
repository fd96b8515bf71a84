//! obs-http's integration tests: real servers on 127.0.0.1, real HTTP clients, the in-process OTLP
//! receiver. Tests that call `init` run in a process of their own (`obs_testkit::isolated`).

mod admin;
mod client;
mod hop;
mod metrics;
mod server;
#[cfg(feature = "ws")]
mod ws;
