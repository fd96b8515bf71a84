//! The W3C Trace Context service checked against the spec without the Python suite.
//!
//! Each test starts the service and a callback server on 127.0.0.1, sends the service a request
//! with some trace headers, and checks the headers of the callbacks it made. The callback server
//! waits before it records a call, so a callback is only recorded by the time the service answers
//! if the service waited for it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_core::{ObsConfig, SamplerConfig};
use obs_testkit::isolated;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

type Recorded = Arc<Mutex<Vec<HeaderMap>>>;

/// The service, the callback server, and what the callback server received.
struct Harness {
    service: SocketAddr,
    callbacks: SocketAddr,
    recorded: Recorded,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Harness {
    async fn start() -> Self {
        let service = serve(w3c_service::app()).await;
        let recorded = Recorded::default();
        let callback = Router::new()
            .route("/callback/{n}", post(record))
            .with_state(recorded.clone());
        Self {
            service,
            callbacks: serve(callback).await,
            recorded,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends `headers` to the service, asking for `n` callbacks, and returns the headers of the
    /// callbacks as recorded when the service answered.
    async fn call(&self, headers: &[(&str, &str)], n: usize) -> Vec<HeaderMap> {
        let actions: Vec<_> = (0..n)
            .map(|i| {
                let url = format!("http://{}/callback/{i}", self.callbacks);
                serde_json::json!({ "url": url, "arguments": [] })
            })
            .collect();
        let mut request = http::Request::post(format!("http://{}/test", self.service))
            .header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            // `header` appends, so a repeated name sends the header several times, in order.
            request = request.header(*name, *value);
        }
        let body = Full::from(serde_json::to_vec(&actions).unwrap());
        let response = self.client.request(request.body(body).unwrap()).await;
        assert_eq!(response.unwrap().status(), http::StatusCode::OK);
        let recorded = std::mem::take(&mut *lock(&self.recorded));
        assert_eq!(
            recorded.len(),
            n,
            "the service answered before its callbacks"
        );
        recorded
    }

    /// One callback's `traceparent`, split, and its `tracestate`.
    async fn one(&self, headers: &[(&str, &str)]) -> (Traceparent, Option<String>) {
        let callback = self.call(headers, 1).await.remove(0);
        (traceparent(&callback), tracestate(&callback))
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn record(State(recorded): State<Recorded>, headers: HeaderMap) -> axum::Json<()> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    lock(&recorded).push(headers);
    axum::Json(())
}

fn lock(recorded: &Recorded) -> std::sync::MutexGuard<'_, Vec<HeaderMap>> {
    recorded.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A `traceparent` sent by the service: version, trace id, parent id, flags.
#[derive(Debug)]
struct Traceparent {
    trace: String,
    span: String,
    flags: String,
}

fn traceparent(headers: &HeaderMap) -> Traceparent {
    let values: Vec<_> = headers.get_all("traceparent").iter().collect();
    assert_eq!(values.len(), 1, "one traceparent per callback: {values:?}");
    let value = values[0].to_str().unwrap();
    let parts: Vec<&str> = value.split('-').collect();
    let lower_hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    assert!(
        parts.len() == 4
            && parts[0] == "00"
            && lower_hex(parts[1], 32)
            && lower_hex(parts[2], 16)
            && lower_hex(parts[3], 2),
        "not a version-00 traceparent: {value}"
    );
    assert!(parts[1] != "0".repeat(32) && parts[2] != "0".repeat(16));
    Traceparent {
        trace: parts[1].to_owned(),
        span: parts[2].to_owned(),
        flags: parts[3].to_owned(),
    }
}

fn tracestate(headers: &HeaderMap) -> Option<String> {
    let values: Vec<_> = headers.get_all("tracestate").iter().collect();
    assert!(values.len() <= 1, "at most one tracestate: {values:?}");
    values.first().map(|v| v.to_str().unwrap().to_owned())
}

/// Runs `test` with obs installed as the example installs it and a fresh harness.
fn run<F: Future<Output = ()>>(test: impl FnOnce(Harness) -> F) {
    let config = ObsConfig::builder()
        .sampler(SamplerConfig::ParentBasedAlwaysOn)
        .log_filter("warn")
        .build();
    let _guard = obs_core::init(config).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async { test(Harness::start().await).await });
}

#[test]
fn callbacks_carry_the_trace() {
    isolated("callbacks_carry_the_trace", || {
        run(|h| async move {
            let parent = format!("00-{TRACE}-{PARENT}-01");
            let callbacks = h
                .call(
                    &[
                        ("traceparent", &parent),
                        ("tracestate", "congo=t61rcWkgMzE"),
                        ("tracestate", "rojo=00f067aa0ba902b7, tenant@vendor=x"),
                    ],
                    3,
                )
                .await;
            let mut spans = Vec::new();
            for callback in &callbacks {
                let tp = traceparent(callback);
                assert_eq!((tp.trace.as_str(), tp.flags.as_str()), (TRACE, "01"));
                assert_ne!(tp.span, PARENT);
                assert!(!spans.contains(&tp.span), "span ids repeat: {spans:?}");
                spans.push(tp.span);
                assert_eq!(
                    tracestate(callback).as_deref(),
                    Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,tenant@vendor=x")
                );
            }

            // An unsampled caller stays unsampled downstream: the flags are kept.
            let unsampled = format!("00-{TRACE}-{PARENT}-00");
            for callback in h.call(&[("traceparent", &unsampled)], 2).await {
                let tp = traceparent(&callback);
                assert_eq!((tp.trace.as_str(), tp.flags.as_str()), (TRACE, "00"));
                assert_ne!(tp.span, PARENT);
            }

            // Without a traceparent the service starts one trace for all its callbacks.
            let callbacks = h.call(&[], 2).await;
            let (first, second) = (traceparent(&callbacks[0]), traceparent(&callbacks[1]));
            assert_eq!(first.trace, second.trace);
            assert_ne!(first.span, second.span);
            assert_eq!(tracestate(&callbacks[0]), None);
        });
    });
}

#[test]
fn invalid_traceparents_start_a_new_trace() {
    isolated("invalid_traceparents_start_a_new_trace", || {
        run(|h| async move {
            let valid = format!("00-{TRACE}-{PARENT}-01");
            let upper = TRACE.to_uppercase();
            let zeros = "0".repeat(32);
            let cases: [(&str, &[&str]); 10] = [
                ("repeated", &[&valid, &valid]),
                ("version ff", &[&format!("ff-{TRACE}-{PARENT}-01")]),
                ("uppercase trace id", &[&format!("00-{upper}-{PARENT}-01")]),
                ("uppercase flags", &[&format!("00-{TRACE}-{PARENT}-0A")]),
                ("all-zero trace id", &[&format!("00-{zeros}-{PARENT}-01")]),
                (
                    "all-zero parent id",
                    &[&format!("00-{TRACE}-{}-01", &zeros[..16])],
                ),
                ("version 00 with a suffix", &[&format!("{valid}-x")]),
                (
                    "future version, `.` suffix",
                    &[&format!("cc-{TRACE}-{PARENT}-01.x")],
                ),
                ("short flags", &[&format!("00-{TRACE}-{PARENT}-1")]),
                ("long trace id", &[&format!("00-{TRACE}0-{PARENT}-01")]),
            ];
            for (case, parents) in cases {
                let mut headers: Vec<(&str, &str)> =
                    parents.iter().map(|p| ("traceparent", *p)).collect();
                headers.push(("tracestate", "foo=1"));
                let (tp, state) = h.one(&headers).await;
                assert_ne!(tp.trace, TRACE, "{case}");
                // A tracestate is only meaningful with the traceparent it came with.
                assert_eq!(state, None, "{case}");
            }

            for future in [
                format!("cc-{TRACE}-{PARENT}-01"),
                format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
            ] {
                let (tp, state) = h
                    .one(&[("traceparent", &future), ("tracestate", "a=1")])
                    .await;
                assert_eq!(
                    (tp.trace.as_str(), tp.flags.as_str()),
                    (TRACE, "01"),
                    "{future}"
                );
                assert_eq!(state.as_deref(), Some("a=1"), "{future}");
            }
        });
    });
}

#[test]
fn invalid_tracestates_are_dropped_and_the_trace_kept() {
    isolated("invalid_tracestates_are_dropped_and_the_trace_kept", || {
        run(|h| async move {
            let parent = format!("00-{TRACE}-{PARENT}-01");
            let members: Vec<String> = (1..=33).map(|i| format!("k{i}={i}")).collect();
            let (most, too_many) = (members[..32].join(","), members.join(","));

            let (tp, state) = h
                .one(&[("traceparent", &parent), ("tracestate", &most)])
                .await;
            assert_eq!(tp.trace, TRACE);
            assert_eq!(
                state.as_deref(),
                Some(most.as_str()),
                "32 members are allowed"
            );

            let cases = [
                too_many.as_str(),
                "foo=1,FOO=2",
                "foo@=1,bar=2",
                "foo=1,foo=2",
                "foo=bar=baz",
                "foo=,bar=3",
            ];
            for case in cases {
                let (tp, state) = h
                    .one(&[("traceparent", &parent), ("tracestate", case)])
                    .await;
                assert_eq!(tp.trace, TRACE, "{case}");
                assert_eq!(state, None, "{case}");
            }
        });
    });
}
