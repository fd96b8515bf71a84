//! A flow that crosses an HTTP hop keeps one trace and one flow id; a failing step records the
//! step and its error type.

use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use obs_core::ObsConfig;
use obs_flows::{SecurityEvent, current_flow_id, current_flow_name, flows, security_event};
use obs_http::admin::AdminRouter;
use obs_http::{ClientLayer, HttpLayer};
use obs_testkit::{LocalRecorder, LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use tower::{ServiceBuilder, ServiceExt as _};

async fn send(method: &str, url: String) -> (StatusCode, String) {
    let client = ServiceBuilder::new()
        .layer(ClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Body>());
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Body::empty())
        .unwrap();
    let response = client.oneshot(request).await.expect("request");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// The downstream service: answers with the flow id and name its baggage carries.
fn media() -> Router {
    Router::new()
        .route(
            "/webrtc",
            post(|| async {
                format!(
                    "{}|{}",
                    current_flow_id().unwrap_or_default(),
                    current_flow_name().unwrap_or_default()
                )
            }),
        )
        .layer(HttpLayer::new())
}

/// The API: room creation as a flow whose last step calls the media service.
fn api(media: String) -> Router {
    Router::new()
        .route(
            "/rooms",
            post(move || {
                let media = media.clone();
                async move {
                    let flow = flows::ROOM_CREATION.start();
                    let result = async {
                        flow.step("authenticate", async { Ok::<_, io::Error>(()) })
                            .await?;
                        flow.step("validate", async { Ok::<_, io::Error>(()) })
                            .await?;
                        flow.step("persist", async { Ok::<_, io::Error>(()) })
                            .await?;
                        let seen = flow
                            .step("initialize_webrtc", async {
                                let (status, body) = send("POST", format!("{media}/webrtc")).await;
                                if status.is_success() {
                                    Ok(body)
                                } else {
                                    Err(io::Error::other(body))
                                }
                            })
                            .await?;
                        Ok::<_, io::Error>(seen)
                    }
                    .await;
                    flow.finish();
                    match result {
                        Ok(seen) => (StatusCode::OK, format!("{}|{seen}", flow.id())),
                        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
                    }
                }
            }),
        )
        .route(
            "/rooms/invalid",
            post(|| async {
                let flow = flows::ROOM_CREATION.start();
                let result = async {
                    flow.step("authenticate", async { Ok::<_, io::Error>(()) })
                        .await?;
                    security_event(SecurityEvent::TokenRejected);
                    flow.step("validate", async {
                        Err::<(), _>(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "name@example.com",
                        ))
                    })
                    .await
                }
                .await;
                flow.finish();
                if result.is_err() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                }
            }),
        )
        .layer(HttpLayer::new())
        .merge(AdminRouter::new().build())
}

#[test]
fn a_flow_across_an_http_hop_keeps_one_trace_and_one_flow_id() {
    isolated(
        "flows::a_flow_across_an_http_hop_keeps_one_trace_and_one_flow_id",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = obs_core::init(
                ObsConfig::builder()
                    .service_name("flows-api")
                    .endpoint(receiver.grpc_endpoint())
                    .log_writer(LogCapture::new().writer())
                    .build(),
            )
            .unwrap();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let (body, failing, scrape) = runtime.block_on(async {
                let media = serve(media()).await;
                let api = serve(api(media)).await;
                let ok = send("POST", format!("{api}/rooms")).await;
                assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
                let failing = send("POST", format!("{api}/rooms/invalid")).await.0;
                let (_, text) = send("GET", format!("{api}/metrics")).await;
                (ok.1, failing, MetricsSnapshot::parse(&text))
            });
            drop(runtime);
            guard.shutdown().expect("spans exported");

            // The flow id the API started is the one the media service read from its baggage.
            let parts: Vec<&str> = body.split('|').collect();
            assert_eq!(parts.len(), 3, "{body}");
            assert_eq!(parts[0].len(), 32, "{body}");
            assert_eq!(
                parts[1], parts[0],
                "the downstream service saw another flow id"
            );
            assert_eq!(parts[2], "room_creation");
            assert_eq!(failing, StatusCode::UNPROCESSABLE_ENTITY);

            let spans = receiver.wait_for(Duration::from_secs(10), |s| s.len() >= 12);
            let flow_span = spans
                .iter()
                .find(|s| s.name == "flow room_creation" && s.attr("flow.id") == Some(parts[0]))
                .expect("the flow span");
            assert_eq!(flow_span.attr("flow.outcome"), Some("success"));
            let api_server = spans
                .iter()
                .find(|s| s.span_id == flow_span.parent_span_id)
                .expect("the flow's parent");
            assert_eq!(
                api_server.kind, 2,
                "the flow is a child of the request's server span"
            );
            let steps: Vec<_> = spans
                .iter()
                .filter(|s| s.parent_span_id == flow_span.span_id)
                .collect();
            let mut names: Vec<(&str, &str)> = steps
                .iter()
                .map(|s| {
                    (
                        s.attr("flow.step.index").unwrap(),
                        s.attr("flow.step").unwrap(),
                    )
                })
                .collect();
            names.sort();
            assert_eq!(
                names,
                [
                    ("0", "authenticate"),
                    ("1", "validate"),
                    ("2", "persist"),
                    ("3", "initialize_webrtc")
                ]
            );
            assert!(
                steps
                    .iter()
                    .all(|s| s.attr("flow.step.out_of_order").is_none())
            );
            let media_server = spans
                .iter()
                .find(|s| s.kind == 2 && s.name.contains("/webrtc"))
                .expect("the media service's server span");
            assert_eq!(
                media_server.trace_id, flow_span.trace_id,
                "one trace across the hop"
            );
            let client = spans
                .iter()
                .find(|s| s.span_id == media_server.parent_span_id)
                .expect("the API's client span");
            let webrtc_step = steps
                .iter()
                .find(|s| s.attr("flow.step") == Some("initialize_webrtc"))
                .unwrap();
            assert_eq!(client.parent_span_id, webrtc_step.span_id);

            let failed = spans
                .iter()
                .find(|s| s.name == "flow room_creation" && s.attr("flow.outcome") == Some("error"))
                .expect("the failed flow's span");
            assert_eq!(failed.attr("flow.failed_step"), Some("validate"));
            assert_eq!(failed.attr("error.type"), Some("InvalidInput"));
            assert_eq!(failed.status_code, 2);
            // The security event was marked in the handler, outside the flow: on the request's span.
            let invalid_server = spans
                .iter()
                .find(|s| s.span_id == failed.parent_span_id)
                .expect("the failed flow's parent");
            assert!(
                invalid_server.events.iter().any(|e| e == "security.event"),
                "{invalid_server:?}"
            );
            for span in &spans {
                for (_, value) in &span.attributes {
                    assert!(!value.contains("example.com"), "personal data in {span:?}");
                }
            }

            assert_eq!(
                scrape.value(
                    "flow_duration_ms_count",
                    &[("flow", "room_creation"), ("outcome", "success")]
                ),
                Some(1.0),
                "{}",
                scrape.text
            );
            assert_eq!(
                scrape.value(
                    "flow_duration_ms_count",
                    &[("flow", "room_creation"), ("outcome", "error")]
                ),
                Some(1.0)
            );
            assert_eq!(
                scrape.value(
                    "flow_failures_total",
                    &[
                        ("flow", "room_creation"),
                        ("step", "validate"),
                        ("error_type", "InvalidInput")
                    ]
                ),
                Some(1.0)
            );
            assert_eq!(
                scrape.value(
                    "flow_step_duration_ms_count",
                    &[("flow", "room_creation"), ("step", "authenticate")]
                ),
                Some(2.0)
            );
            assert_eq!(
                scrape.value("security_events_total", &[("event", "token_rejected")]),
                Some(1.0)
            );
        },
    );
}

#[test]
fn an_unfinished_flow_is_cancelled_and_an_out_of_order_step_is_still_timed() {
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use opentelemetry::baggage::BaggageExt as _;
        let incoming = opentelemetry::Context::current()
            .with_baggage([opentelemetry::KeyValue::new("tenant", "acme")])
            .attach();
        let flow = flows::LOGIN.start();
        drop(incoming);
        let tenant = flow
            .step("login_attempt", async {
                Ok::<_, io::Error>(opentelemetry::Context::map_current(|cx| {
                    cx.baggage().get("tenant").map(|v| v.to_string())
                }))
            })
            .await
            .unwrap();
        assert_eq!(
            tenant.as_deref(),
            Some("acme"),
            "the flow keeps the request's baggage"
        );
        assert!(
            current_flow_id().is_none(),
            "the flow's baggage stays in its steps"
        );
        let inside = flow
            .step("token_issue", async {
                Ok::<_, io::Error>(current_flow_id())
            })
            .await
            .unwrap();
        assert_eq!(inside.as_deref(), Some(flow.id()));
        let other = flow.clone();
        drop(flow);
        other.fail("session_store_down");
        other.finish(); // finishing again records nothing
        let dropped = flows::LOGOUT.start();
        drop(dropped);
    });
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value(
            "flow_step_duration_ms_count",
            &[("flow", "auth_login"), ("step", "token_issue")]
        ),
        Some(1.0)
    );
    assert_eq!(
        snap.value(
            "flow_duration_ms_count",
            &[("flow", "auth_login"), ("outcome", "error")]
        ),
        Some(1.0),
        "{}",
        snap.text
    );
    assert_eq!(
        snap.value(
            "flow_failures_total",
            &[
                ("flow", "auth_login"),
                ("step", "flow"),
                ("error_type", "session_store_down")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        snap.value(
            "flow_duration_ms_count",
            &[("flow", "auth_logout"), ("outcome", "cancelled")]
        ),
        Some(1.0)
    );
}

#[test]
fn custom_flows_take_names_known_at_run_time_and_unknown_steps_share_one_label() {
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    // Names read at run time (configuration, say): owned strings, not `&'static str`.
    let config = String::from("ingest_video: fetch, transcode, publish");
    let (name, steps) = config.split_once(':').unwrap();
    let steps: Vec<String> = steps.split(',').map(|s| s.trim().to_owned()).collect();
    let ingest = obs_flows::FlowDef::custom(name.to_owned(), steps.clone());
    assert_eq!(ingest.name(), "ingest_video");
    assert_eq!(ingest.steps().count(), 3);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for attempt in 0..3 {
            let flow = ingest.start();
            for step in &steps {
                flow.step(step, async { Ok::<_, io::Error>(()) })
                    .await
                    .unwrap();
            }
            // Step names made per run (an id in the name, say) must not grow the series.
            let odd = format!("retry-{attempt}");
            let failed = flow
                .step(&odd, async {
                    Err::<(), _>(io::Error::new(io::ErrorKind::TimedOut, "slow"))
                })
                .await;
            assert_eq!(failed.unwrap_err().kind(), io::ErrorKind::TimedOut);
            flow.finish();
        }
        // A ready flow still works with `&'static str` steps.
        let login = flows::LOGIN.start();
        login
            .step("login_attempt", async { Ok::<_, io::Error>(()) })
            .await
            .unwrap();
        login.finish();
    });
    let snap = recorder.snapshot();
    for step in &steps {
        assert_eq!(
            snap.value(
                "flow_step_duration_ms_count",
                &[("flow", "ingest_video"), ("step", step)]
            ),
            Some(3.0),
            "{}",
            snap.text
        );
    }
    assert_eq!(
        snap.value(
            "flow_step_duration_ms_count",
            &[("flow", "ingest_video"), ("step", obs_flows::OTHER_STEP)]
        ),
        Some(3.0)
    );
    assert_eq!(
        snap.value(
            "flow_failures_total",
            &[
                ("flow", "ingest_video"),
                ("step", obs_flows::OTHER_STEP),
                ("error_type", "TimedOut")
            ]
        ),
        Some(3.0),
        "{}",
        snap.text
    );
    assert!(!snap.text.contains("retry-"), "{}", snap.text);
    assert_eq!(
        snap.value(
            "flow_duration_ms_count",
            &[("flow", "ingest_video"), ("outcome", "error")]
        ),
        Some(3.0)
    );
    assert_eq!(
        snap.value(
            "flow_step_duration_ms_count",
            &[("flow", "auth_login"), ("step", "login_attempt")]
        ),
        Some(1.0)
    );
    // Failures only: a flow step that succeeded is in no failure series.
    assert_eq!(snap.series_count("flow_failures_total"), 1, "{}", snap.text);
}
