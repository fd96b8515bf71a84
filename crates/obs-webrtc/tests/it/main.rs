//! obs-webrtc's integration tests: real webrtc-rs peers on 127.0.0.1 (host candidates only, no
//! STUN/TURN servers, mDNS off), the in-process OTLP receiver, the global recorder. Each test calls
//! `init` and so runs in a process of its own (`obs_testkit::isolated`).

mod concurrent;
mod media;
mod peers;
mod signaling;
mod timeouts;
mod turn;
mod ws;
