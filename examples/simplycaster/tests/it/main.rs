//! simplycaster end to end: the app on a free port with SQLite and a `redis-server` child, driven
//! by virtual users over real HTTP, WebSocket and webrtc-rs peers, its spans sent to obs-testkit's
//! in-process OTLP receiver. Each test calls `obs_core::init`, so each runs in a process of its own.

mod demo;
mod e2e;
