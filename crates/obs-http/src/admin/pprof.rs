//! `GET /debug/pprof/profile`: a CPU profile of the whole process (feature `pprof`).
//!
//! `?seconds=N` (1 to 60, default 10) sets how long to sample; `?format=svg` returns a flamegraph
//! instead of the pprof protobuf. One profile runs at a time: the profiler is process-wide.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::RawQuery;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pprof::protos::Message as _;

/// Samples per second, as Go's `net/http/pprof` takes them; 99 rather than 100 avoids sampling in
/// lockstep with periodic work.
const FREQUENCY: i32 = 99;
const DEFAULT_SECONDS: u64 = 10;
const MAX_SECONDS: u64 = 60;

static RUNNING: AtomicBool = AtomicBool::new(false);

/// Clears [`RUNNING`] however the request ends, including when the client goes away.
struct Slot;

impl Slot {
    fn take() -> Option<Self> {
        (!RUNNING.swap(true, Ordering::AcqRel)).then_some(Self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::Release);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Pprof,
    Svg,
}

fn parse_query(query: Option<&str>) -> Result<(Duration, Format), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut format = Format::Pprof;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "seconds" => {
                seconds = value
                    .parse()
                    .ok()
                    .filter(|s| (1..=MAX_SECONDS).contains(s))
                    .ok_or_else(|| {
                        format!(
                            "invalid seconds={value:?}: expected a whole number from 1 to {MAX_SECONDS}"
                        )
                    })?;
            }
            "format" => {
                format = match value {
                    "pprof" | "proto" => Format::Pprof,
                    "svg" | "flamegraph" => Format::Svg,
                    _ => return Err(format!("invalid format={value:?}: expected pprof or svg")),
                }
            }
            _ => {}
        }
    }
    Ok((Duration::from_secs(seconds), format))
}

pub(crate) async fn profile(RawQuery(query): RawQuery) -> Response {
    let (duration, format) = match parse_query(query.as_deref()) {
        Ok(parsed) => parsed,
        Err(message) => return (StatusCode::BAD_REQUEST, message + "\n").into_response(),
    };
    let Some(slot) = Slot::take() else {
        return (
            StatusCode::CONFLICT,
            "a CPU profile is already running; retry when it ends\n",
        )
            .into_response();
    };
    let guard = match pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
    {
        Ok(guard) => guard,
        Err(e) => return error(format!("cannot start the CPU profiler: {e}")),
    };
    // The profiler samples from a signal handler; this task only waits.
    tokio::time::sleep(duration).await;
    // Symbolizing and encoding take CPU time: off the async workers.
    let built = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let report = guard.report().build().map_err(|e| e.to_string())?;
        drop(guard);
        let mut body = Vec::new();
        match format {
            Format::Pprof => report
                .pprof()
                .map_err(|e| e.to_string())?
                .encode(&mut body)
                .map_err(|e| e.to_string())?,
            Format::Svg => {
                report.flamegraph(&mut body).map_err(|e| e.to_string())?;
                // pprof writes nothing when no sample was taken (an idle process).
                if body.is_empty() {
                    body = idle_svg(duration).into_bytes();
                }
            }
        }
        Ok::<_, String>(body)
    })
    .await;
    let content_type = match format {
        Format::Pprof => "application/octet-stream",
        Format::Svg => "image/svg+xml",
    };
    match built {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Ok(Err(e)) => error(format!("cannot build the CPU profile: {e}")),
        Err(e) => error(format!("the profile task failed: {e}")),
    }
}

fn idle_svg(duration: Duration) -> String {
    format!(
        r#"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="600" height="60" xmlns="http://www.w3.org/2000/svg"><text x="10" y="35" font-family="Verdana" font-size="14">No CPU samples in {} s: the process was idle.</text></svg>
"#,
        duration.as_secs()
    )
}

fn error(message: String) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, message + "\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let ok = |q: Option<&str>| parse_query(q).unwrap();
        assert_eq!(ok(None), (Duration::from_secs(10), Format::Pprof));
        assert_eq!(
            ok(Some("seconds=1")),
            (Duration::from_secs(1), Format::Pprof)
        );
        assert_eq!(ok(Some("format=svg&seconds=60&x=y")).1, Format::Svg);
        for bad in [
            "seconds=0",
            "seconds=61",
            "seconds=abc",
            "seconds=",
            "seconds=-1",
        ] {
            let err = parse_query(Some(bad)).unwrap_err();
            assert!(err.contains("1 to 60"), "{bad}: {err}");
        }
        assert!(parse_query(Some("format=png")).is_err());
    }

    #[test]
    fn idle_svg_is_svg() {
        let svg = idle_svg(Duration::from_secs(3));
        assert!(svg.starts_with("<?xml") && svg.contains("No CPU samples in 3 s"));
    }

    #[test]
    fn one_slot_at_a_time() {
        let slot = Slot::take().expect("free");
        assert!(Slot::take().is_none());
        drop(slot);
        assert!(Slot::take().is_some());
    }
}
