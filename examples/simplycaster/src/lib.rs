//! simplycaster: a podcast-recording service in miniature, built on every obs crate the way a
//! team would build it with axum. It is the flagship demo (`cargo run -p simplycaster -- demo`).
//!
//! - accounts ([`accounts`]): register, login, logout; argon2 hashes, sessions in Redis
//!   (obs-redis `SessionStore`), logins rate-limited (`RateLimiter`), each an obs-flows flow;
//! - rooms ([`rooms`]): create, join, leave, kick, close, recordings, through obs-rooms; rows in
//!   SQLite or PostgreSQL through obs-db ([`storage`]); room lookups cached in Redis;
//! - quick match ([`matching`]) and moderation ([`moderation`]), with the app's own
//!   [`catalog`];
//! - media ([`media`]): WebSocket signaling (obs-http `ws`, obs-webrtc envelope and relay) and a
//!   server-side webrtc-rs peer per participant receiving its audio;
//! - [`server`]: obs-http's layer on every route, the admin routes with readiness checks, a
//!   graceful shutdown; [`simulate`]: virtual users over real HTTP, WebSocket and WebRTC;
//!   [`demo`]: the guided run; [`cli`]: the command line.
#![deny(missing_docs)]

pub mod accounts;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod kv;
pub mod matching;
pub mod media;
pub mod moderation;
pub mod objects;
pub mod rooms;
pub mod server;
pub mod simulate;
pub mod state;
pub mod storage;

pub use config::Config;
pub use server::Server;
pub use state::AppState;
