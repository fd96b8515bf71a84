//! obs-http's integration tests: real servers on 127.0.0.1 and a real HTTP client. Every test that
//! calls `obs_core::init` runs in a process of its own (`obs_testkit::isolated`).

mod admin;
