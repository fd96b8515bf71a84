//! [`shutdown_signal`]: the future that graceful shutdown waits for.
//!
//! It lives in obs-http rather than obs-core because it needs tokio's `signal` feature, which only
//! a crate that serves needs; obs-core stays small for the crates that wrap clients.

use std::future::pending;
use std::pin::pin;

use futures_util::future::{Either, select};

/// Completes when the process is asked to stop: SIGTERM (what Kubernetes, systemd and
/// `docker stop` send) or Ctrl-C (SIGINT). Logs which one arrived.
///
/// Give it to axum's graceful shutdown, then shut obs down once the server has drained, so the
/// spans of the last requests are exported:
///
/// ```no_run
/// # async fn run(guard: obs_core::ObsGuard, app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// axum::serve(listener, app)
///     .with_graceful_shutdown(obs_http::shutdown_signal())
///     .await?;
/// if let Err(error) = guard.shutdown() {
///     tracing::warn!(lost_spans = error.lost_spans(), "{error}");
/// }
/// # Ok(()) }
/// ```
///
/// Must be polled inside a tokio runtime (it registers the signal handlers on first poll). If a
/// handler cannot be registered, a warning is logged and the other signal is still awaited.
pub async fn shutdown_signal() {
    let interrupt = pin!(async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(target: "obs_http::signal", %error, "cannot listen for Ctrl-C");
            pending::<()>().await;
        }
    });
    let terminate = pin!(terminate());
    let signal = match select(interrupt, terminate).await {
        Either::Left(_) => "SIGINT",
        Either::Right(_) => "SIGTERM",
    };
    tracing::info!(
        target: "obs_http::signal",
        signal,
        "shutdown signal received; finishing the requests in flight"
    );
}

#[cfg(unix)]
async fn terminate() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut stream) => {
            stream.recv().await;
        }
        Err(error) => {
            tracing::warn!(target: "obs_http::signal", %error, "cannot listen for SIGTERM");
            pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn terminate() {
    pending::<()>().await;
}

#[cfg(test)]
mod tests {
    /// axum's graceful shutdown needs a `Send + 'static` future.
    #[test]
    fn the_signal_future_can_be_spawned() {
        fn assert_send_static<F: std::future::Future<Output = ()> + Send + 'static>(_: F) {}
        assert_send_static(super::shutdown_signal());
    }
}
