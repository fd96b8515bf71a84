//! obs-rooms' integration tests: the operations against a recorder local to a test, and a real
//! axum service under concurrent joins and leaves, scraped through `/metrics`, with its spans
//! exported to the in-process OTLP receiver.

mod concurrent;
mod rooms;
