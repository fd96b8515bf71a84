//! A whole service: obs set up from the environment, an axum router with two routes, the admin
//! routes, graceful shutdown on SIGTERM or Ctrl-C, and obs shut down after the server drained.
//!
//! ```sh
//! OTEL_SERVICE_NAME=users OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \
//!     cargo run -p obs-examples --bin service
//! curl localhost:3000/users/42; curl localhost:3000/metrics
//! ```
//!
//! The README's quick start is this file from `use` on (a test keeps them the same).

use std::error::Error;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use obs_core::ObsConfig;
use obs_http::HttpLayer;
use obs_http::admin::AdminRouter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, RUST_LOG, LOG_FORMAT, ...
    // Keep the guard until the end of `main`: dropping it stops the export.
    let guard = obs_core::init(ObsConfig::from_env()?)?;

    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/users/{id}", get(user))
        // /metrics, /metrics/json, /healthz, /readyz
        .merge(AdminRouter::new().build())
        // Spans, metrics, request ids and W3C propagation for every request, 404s included.
        .layer(HttpLayer::new());

    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "0.0.0.0:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");

    // On SIGTERM or Ctrl-C: stop accepting, finish the requests in flight, then return.
    axum::serve(listener, app)
        .with_graceful_shutdown(obs_http::shutdown_signal())
        .await?;

    // Last, so the spans of the last requests are exported. Spans the collector did not take are
    // lost whatever we do (and counted in /metrics): log it, and still exit 0, since failing here
    // would only tell the orchestrator that the service crashed.
    if let Err(error) = guard.shutdown() {
        tracing::warn!(lost_spans = error.lost_spans(), "{error}");
    }
    Ok(())
}

/// Your own logs and `tracing` spans inside a handler join the request's trace.
#[tracing::instrument]
async fn user(Path(id): Path<u64>) -> String {
    tracing::info!("looking the user up");
    format!("user {id}")
}
