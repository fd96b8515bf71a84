//! `inproc <config> <n>`: one configuration's router, called `n` times in this process through
//! `tower::ServiceExt::oneshot` (no sockets), each response body read to its end as a server
//! would. `cargo xtask bench-instructions` runs it under callgrind to count the instructions each
//! configuration adds per request: a figure that, unlike time, does not depend on what else the
//! shared machine is doing.

use axum::body::Body;
use http::{Request, StatusCode};
use tower::ServiceExt as _;

use crate::Config;
use crate::driver::{next, write_hex};
use crate::server::Queue;

/// The request of the load driver: same path and headers, a fresh trace id every time (from a
/// fixed seed, so that ratio sampling makes the same choices on every run).
fn request(seed: &mut u64) -> Result<Request<Body>, String> {
    let mut traceparent = *b"00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    write_hex(&mut traceparent[3..19], next(seed));
    write_hex(&mut traceparent[19..35], next(seed));
    Request::get("/users/42")
        .header("host", "127.0.0.1")
        .header("user-agent", "obs-load-bench")
        .header("traceparent", &traceparent[..])
        .body(Body::empty())
        .map_err(|e| e.to_string())
}

/// Requests served before [`measure_from_here`].
const WARMUP: u64 = 100;

/// Marks where counting starts: `instructions` runs callgrind with `--zero-before` on this
/// function, so start-up work that depends on time (clock calibration, thread start) is not
/// counted and the counts repeat from run to run.
#[inline(never)]
pub(crate) fn measure_from_here() {
    std::hint::black_box(());
}

/// Serves `WARMUP + n` requests through `config`'s router; fails on any answer but 200 "user".
pub(crate) fn run(config: Config, n: u64) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut keep = crate::server::Keep::new();
    let router = {
        let _enter = runtime.enter();
        // `axum::serve` turns the router's handlers into routes once, before the first request;
        // `with_state` does the same here, so no per-request work is measured that a server avoids.
        // Room for every span: nothing dropped, so every span's export is counted.
        let queue = Queue::AtLeast(usize::try_from(WARMUP + n).unwrap_or(usize::MAX));
        crate::server::setup(config, &mut keep, queue)?.with_state(())
    };
    let mut seed = 0x5eed;
    runtime.block_on(async {
        // Warm-up: handles resolved, routes cached, lazy statics built; then the counting starts.
        for i in 0..WARMUP + n {
            if i == WARMUP {
                measure_from_here();
            }
            let Ok(response) = router.clone().oneshot(request(&mut seed)?).await;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .map_err(|e| e.to_string())?;
            if status != StatusCode::OK || &body[..] != b"user" {
                return Err(format!("request {i}: {status} {body:?}"));
            }
        }
        Ok(())
    })?;
    // Every span exported, none dropped: otherwise the count would leave export work out.
    crate::server::flush(&keep)?;
    let exported = crate::discard::discarded();
    let dropped = obs_core::export_stats().map_or(0, obs_core::ExportStats::dropped);
    let every_span = matches!(
        config,
        Config::ObsFull100 | Config::TowerHttpOtel | Config::AxumPrometheusOtel
    );
    if dropped > 0 || (every_span && exported != WARMUP + n) {
        return Err(format!(
            "{}: {exported} spans exported, {dropped} dropped, for {} requests",
            config.name(),
            WARMUP + n
        ));
    }
    println!(
        "{} requests answered 200 through {} ({exported} spans exported)",
        WARMUP + n,
        config.name()
    );
    Ok(())
}
