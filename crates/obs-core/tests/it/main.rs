//! obs-core's integration tests: real OTLP receivers on 127.0.0.1, the real Prometheus recorder,
//! real log output. Every test that calls `init` runs in a process of its own (`isolated`).

mod export;
mod logs;
mod metrics;
mod op;
mod shutdown;
mod start;

use obs_core::{ObsConfig, ObsConfigBuilder, ObsGuard};
use std::time::Duration;

/// A generous bound for "arrives eventually" waits; tests pass as soon as the condition holds.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// `init` with a config that exports to `endpoint` (if any), logging nowhere unless the test says.
pub(crate) fn init(
    endpoint: Option<String>,
    f: impl FnOnce(ObsConfigBuilder) -> ObsConfigBuilder,
) -> ObsGuard {
    let capture = obs_testkit::LogCapture::new();
    let mut builder = ObsConfig::builder()
        .service_name("obs-core-tests")
        .log_writer(capture.writer())
        .export_interval(Duration::from_millis(50));
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint(endpoint);
    }
    obs_core::init(f(builder).build()).expect("init")
}

/// An address on 127.0.0.1 where nothing listens.
pub(crate) fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
