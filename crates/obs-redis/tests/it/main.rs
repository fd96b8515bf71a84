//! obs-redis's integration tests: a real redis-server on 127.0.0.1 that each test starts on a
//! free port, the in-process OTLP receiver, and a test-local metrics recorder. Tests that call
//! `init` run in a process of their own (`obs_testkit::isolated`).

#[cfg(feature = "cluster")]
mod cluster;
mod commands;
mod helpers;
#[cfg(feature = "deadpool")]
mod pool;
mod secrets;
mod server;
mod spans;
