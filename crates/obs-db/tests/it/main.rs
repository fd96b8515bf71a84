//! obs-db's integration tests: the sanitizer against the OpenTelemetry cases and a table of our
//! own, and the instrumented pool against real SQLite and PostgreSQL databases. Tests that call
//! `init` run in a process of their own (`obs_testkit::isolated`).

mod acquire;
mod macros;
mod postgres;
mod sanitizer;
mod sqlite;
mod support;
