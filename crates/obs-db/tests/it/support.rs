//! Shared test helpers: `init` against the in-process receiver, a runtime, and spans by name.
//! The PostgreSQL server comes from `obs_testkit::servers`.

use std::time::Duration;

use obs_core::{ObsConfig, ObsGuard};
use obs_testkit::{LogCapture, OtlpReceiver, ReceivedSpan};

/// How long to wait for spans to arrive.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// OTLP span kind `CLIENT`.
pub(crate) const KIND_CLIENT: i32 = 3;
/// OTLP status code `ERROR`.
pub(crate) const STATUS_ERROR: i32 = 2;

/// `init` exporting to `receiver`, with obs-db's catalog, logging into `logs`.
pub(crate) fn init(receiver: &OtlpReceiver, logs: &LogCapture) -> ObsGuard {
    obs_core::init(
        ObsConfig::builder()
            .service_name("t")
            .endpoint(receiver.grpc_endpoint())
            .log_writer(logs.writer())
            .catalog(obs_db::catalog::CATALOG)
            .build(),
    )
    .expect("init")
}

/// A multi-threaded runtime for one test.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Waits until `n` spans named `name` arrived, and returns them.
pub(crate) fn spans_named(receiver: &OtlpReceiver, name: &str, n: usize) -> Vec<ReceivedSpan> {
    let spans = receiver.wait_for(WAIT, |s| s.iter().filter(|s| s.name == name).count() >= n);
    let found: Vec<ReceivedSpan> = spans.into_iter().filter(|s| s.name == name).collect();
    assert!(
        found.len() >= n,
        "{} spans named {name:?}, wanted {n}",
        found.len()
    );
    found
}
