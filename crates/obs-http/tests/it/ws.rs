//! WebSocket session and message tracing against a real axum server.
