//! obs-http's integration tests: real servers on 127.0.0.1, real HTTP clients, the in-process OTLP
//! receiver. Tests that call `init` run in a process of their own (`obs_testkit::isolated`).

mod access;
mod admin;
mod client;
mod collector;
mod correlation;
mod hop;
mod metrics;
mod routes;
mod secrets;
mod server;
mod traceresponse;
#[cfg(feature = "ws")]
mod ws;
#[cfg(feature = "ws")]
mod ws_metrics;
