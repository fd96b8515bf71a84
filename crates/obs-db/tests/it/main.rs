//! obs-db's integration tests: the sanitizer against the OpenTelemetry cases and a table of our
//! own, and the instrumented pool against real SQLite and PostgreSQL databases.

mod sanitizer;
