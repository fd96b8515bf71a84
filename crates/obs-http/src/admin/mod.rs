//! Admin endpoints: metrics, liveness, readiness and (feature `pprof`) CPU profiles.
//!
//! [`AdminRouter`] builds an [`axum::Router`] with
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | the Prometheus text exposition ([`PROMETHEUS_CONTENT_TYPE`]) |
//! | `GET /metrics/json` | `{"timestamp", "counters", "gauges", "histograms"}`, from the same snapshot |
//! | `GET /healthz` | `200 ok` while the process runs |
//! | `GET /readyz` | `200 {"status":"ready","info"}` or `503 {"status":"not_ready","failed_check","error","info"}` |
//! | `GET /debug/pprof/profile` | a CPU profile, only with the `pprof` feature and `AdminRouter::with_pprof` |
//!
//! Both metrics routes answer `503` until `obs_core::init` installed the recorder. `/readyz` runs
//! every [`ReadinessCheck`] concurrently, each bounded by its own timeout; a check that fails,
//! times out or panics makes the process not ready.
//!
//! The span exporter's state does not decide readiness by default: when the trace collector is
//! down, every replica would report not ready at once and a load balancer would take the whole
//! fleet out, while the service itself works. [`ExporterBacklogCheck`] runs on every `/readyz` as
//! information, `"info": {"exporter_backlog": {"ok": false, "message": "…"}}`, and the lost spans
//! are counted in `/metrics` (`obs_spans_dropped_total`, `obs_span_export_failures_total`).
//! [`AdminRouter::with_exporter_check`] makes it a readiness check instead.
//!
//! In `/metrics/json` a series is keyed `name|k=v,k2=v2` (just `name` without labels); a histogram
//! is `{"count", "sum", "buckets": {"<le>": cumulative count}}` with its real bucket bounds.
//!
//! Merge the router into the application, or serve it on an address of its own so that it is not
//! reachable from outside ([`AdminServer`], [`serve`]). Merged, in either order with
//! `.layer(HttpLayer::new())`, requests that match no route are counted as `route="unmatched"`:
//! axum keeps this router's fallback, which records the requests no `HttpLayer` saw with
//! `HttpLayer::new()`'s defaults. To have your layer's own settings apply to them, add the layer
//! after the merge (`.merge(admin).layer(layer)`, where its default skip list leaves out
//! `/healthz`, `/readyz` and `/metrics`).
//!
//! ```
//! use obs_core::health::{check_fn, CheckError};
//! use obs_http::admin::{AdminRouter, AdminServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let admin = AdminRouter::new()
//!     .readiness_check(check_fn("db", || async {
//!         let reachable = true; // e.g. a `SELECT 1`
//!         if reachable { Ok(()) } else { Err(CheckError::new("database unreachable")) }
//!     }))
//!     .build();
//!
//! // Either on the application's own router...
//! let app: axum::Router = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "hello" }))
//!     .layer(obs_http::HttpLayer::new())
//!     .merge(admin.clone());
//! // ...or on a private address.
//! let server = AdminServer::spawn("127.0.0.1:0", admin).await?;
//! # server.shutdown().await?;
//! # Ok(()) }
//! ```

mod json;
mod metrics;
#[cfg(feature = "pprof")]
mod pprof;
mod ready;
mod serve;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use obs_core::health::{ExporterBacklogCheck, ReadinessCheck};

pub use self::metrics::PROMETHEUS_CONTENT_TYPE;
pub use self::serve::{AdminServer, serve};

/// Builds the admin [`Router`]; see the [module docs](self).
#[must_use = "call `build` to get the router"]
pub struct AdminRouter {
    checks: Vec<Arc<dyn ReadinessCheck>>,
    /// Whether [`ExporterBacklogCheck`] decides readiness; otherwise it is reported as information.
    exporter_check: bool,
    #[cfg(feature = "pprof")]
    pprof: bool,
}

impl AdminRouter {
    /// The metrics, health and readiness routes, with the exporter backlog reported in `/readyz`
    /// but not deciding it, and without profiling.
    pub fn new() -> Self {
        Self {
            checks: Vec::new(),
            exporter_check: false,
            #[cfg(feature = "pprof")]
            pprof: false,
        }
    }

    /// Adds a check to `/readyz`. Checks are reported in the order they were added.
    pub fn readiness_check(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Adds a check that is shared with other code.
    pub fn shared_readiness_check(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks.push(check);
        self
    }

    /// Makes [`ExporterBacklogCheck`] a readiness check: `/readyz` fails while the span export
    /// queue is nearly full or drops spans.
    ///
    /// Off by default. A collector outage then makes every replica unready at once, so turn it on
    /// only where losing traces must take the process out of rotation.
    pub fn with_exporter_check(mut self) -> Self {
        self.exporter_check = true;
        self
    }

    /// Adds `GET /debug/pprof/profile?seconds=N&format=svg`: a CPU profile of the whole process,
    /// as pprof protobuf (`go tool pprof` reads it) or, with `format=svg`, a flamegraph.
    ///
    /// `seconds` is 1 to 60 (default 10); other values get `400`. One profile runs at a time;
    /// a second request gets `409`.
    ///
    /// # Security
    /// A profile exposes the process's stack traces (function names, and so what the code does)
    /// and costs CPU while it samples. Only enable it on an admin router served on a private
    /// address ([`AdminServer`]), never on a public one.
    #[cfg(feature = "pprof")]
    pub fn with_pprof(mut self) -> Self {
        self.pprof = true;
        self
    }

    /// The router.
    pub fn build(self) -> Router {
        let mut checks = self.checks;
        let backlog: Arc<dyn ReadinessCheck> = Arc::new(ExporterBacklogCheck::new());
        let info = if self.exporter_check {
            checks.push(backlog);
            Vec::new()
        } else {
            vec![backlog]
        };
        let readiness = Arc::new(ready::Readiness {
            checks: checks.into(),
            info: info.into(),
        });
        let router = Router::new()
            .route("/metrics", get(metrics::text))
            .route("/metrics/json", get(metrics::json))
            .route("/healthz", get(ready::healthz))
            .route(
                "/readyz",
                get(move || ready::readyz(Arc::clone(&readiness))),
            );
        #[cfg(feature = "pprof")]
        let router = if self.pprof {
            router.route("/debug/pprof/profile", get(pprof::profile))
        } else {
            router
        };
        // Merged into an application, this router's fallback is the one axum keeps: it records
        // the unmatched requests no `HttpLayer` saw (see `server::unmatched`).
        router.layer(crate::server::UnmatchedLayer::new())
    }
}

impl Default for AdminRouter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AdminRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|c| c.name()).collect();
        let mut d = f.debug_struct("AdminRouter");
        d.field("checks", &names)
            .field("exporter_check", &self.exporter_check);
        #[cfg(feature = "pprof")]
        d.field("pprof", &self.pprof);
        d.finish_non_exhaustive()
    }
}
