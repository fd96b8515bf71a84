//! A real axum service on 127.0.0.1 whose handlers use [`Rooms`]: concurrent joins and leaves
//! leave `room_participants_current` exact in `/metrics`, closing the room takes its series out
//! of `/metrics`, and each operation's span is a child of the request's server span.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::routing::post;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use obs_core::ObsConfig;
use obs_http::HttpLayer;
use obs_http::admin::AdminRouter;
use obs_rooms::{Participant, ParticipantType, RoomSpec, Rooms};
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};

type Done = Result<(), std::io::Error>;

async fn settle() -> Done {
    // A real handler awaits storage; yielding lets the requests interleave.
    tokio::task::yield_now().await;
    Ok(())
}

fn status(result: Done) -> StatusCode {
    match result {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn app(rooms: Rooms) -> Router {
    Router::new()
        .route(
            "/rooms/{room}",
            post(|State(rooms): State<Rooms>, Path(room): Path<String>| async move {
                status(rooms.create(RoomSpec::new(room).max_participants(200), settle()).await)
            })
            .delete(|State(rooms): State<Rooms>, Path(room): Path<String>| async move {
                status(rooms.close(&room, settle()).await)
            }),
        )
        .route(
            "/rooms/{room}/participants/{user}",
            post(
                |State(rooms): State<Rooms>, Path((room, user)): Path<(String, String)>| async move {
                    let p = Participant::new(room, user, ParticipantType::Guest);
                    status(rooms.join(&p, settle()).await)
                },
            )
            .delete(
                |State(rooms): State<Rooms>, Path((room, user)): Path<(String, String)>| async move {
                    let p = Participant::new(room, user, ParticipantType::Guest);
                    status(rooms.leave(&p, settle()).await)
                },
            ),
        )
        .with_state(rooms)
        .layer(HttpLayer::new())
        .merge(AdminRouter::new().build())
}

async fn call(base: &str, method: &str, path: &str) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let request = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .body(Body::empty())
        .unwrap();
    let response = client.request(request).await.expect("request");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn scrape(base: &str) -> MetricsSnapshot {
    let (status, text) = call(base, "GET", "/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    MetricsSnapshot::parse(&text)
}

/// Runs `count` requests at once, `method` on the participant path of user `first + i`.
async fn many(base: &str, method: &'static str, users: std::ops::Range<usize>) {
    let tasks: Vec<_> = users
        .map(|i| {
            let base = base.to_owned();
            tokio::spawn(async move {
                let (status, body) =
                    call(&base, method, &format!("/rooms/hall/participants/u{i}")).await;
                assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn concurrent_joins_and_leaves_keep_gauges_exact_and_close_removes_the_series() {
    isolated(
        "concurrent::concurrent_joins_and_leaves_keep_gauges_exact_and_close_removes_the_series",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = obs_core::init(
                ObsConfig::builder()
                    .service_name("rooms-service")
                    .endpoint(receiver.grpc_endpoint())
                    .log_writer(LogCapture::new().writer())
                    .build(),
            )
            .unwrap();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .unwrap();
            let rooms = Rooms::new();
            let (open, closed) = runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                let router = app(rooms.clone());
                tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

                assert_eq!(
                    call(&base, "POST", "/rooms/hall").await.0,
                    StatusCode::NO_CONTENT
                );
                assert_eq!(
                    call(&base, "POST", "/rooms/side").await.0,
                    StatusCode::NO_CONTENT
                );
                many(&base, "POST", 0..120).await;
                // Leaves of the first 90 race joins of 60 newcomers: 120 - 90 + 60 = 90 remain.
                let leaves = many(&base, "DELETE", 0..90);
                let joins = many(&base, "POST", 120..180);
                tokio::join!(leaves, joins);
                let open = scrape(&base).await;
                assert_eq!(
                    call(&base, "DELETE", "/rooms/hall").await.0,
                    StatusCode::NO_CONTENT
                );
                (open, scrape(&base).await)
            });
            drop(runtime);

            assert_eq!(rooms.stats("hall"), None);
            assert_eq!(
                open.value("room_participants_current", &[("room", "hall")]),
                Some(90.0),
                "{}",
                open.text
            );
            assert_eq!(
                open.value("room_utilization_percent", &[("room", "hall")]),
                Some(45.0)
            );
            assert_eq!(
                open.value(
                    "room_participant_operations_total",
                    &[("operation", "join"), ("participant_type", "guest")]
                ),
                Some(180.0)
            );
            assert_eq!(
                open.sum(
                    "room_operations_total",
                    &[("operation", "leave"), ("status", "success")]
                ),
                90.0
            );
            assert!(
                !closed.text.contains("room=\"hall\""),
                "a closed room's series stayed in /metrics:\n{}",
                closed.text
            );
            assert_eq!(
                closed.value("room_participants_current", &[("room", "side")]),
                Some(0.0)
            );
            assert_eq!(
                closed.value("room_session_duration_seconds_count", &[]),
                Some(1.0)
            );
            assert_eq!(closed.value("sessions_created_total", &[]), Some(2.0));

            guard.shutdown().expect("spans exported");
            let spans = receiver.wait_for(Duration::from_secs(10), |s| {
                s.iter().any(|s| s.name == "room.close")
            });
            let join = spans
                .iter()
                .find(|s| s.name == "room.join")
                .expect("a room.join span");
            assert_eq!(join.attr("room.id"), Some("hall"));
            assert_eq!(join.attr("participant.type"), Some("guest"));
            assert_eq!(join.attr("operation.name"), Some("join"));
            assert_eq!(join.attr("component.name"), Some("rooms"));
            assert!(join.attr("user.id").is_some_and(|u| u.starts_with('u')));
            assert!(join.attr("room.participants").is_some());
            let server = spans
                .iter()
                .find(|s| s.span_id == join.parent_span_id)
                .expect("the join's parent span");
            assert_eq!(server.trace_id, join.trace_id);
            assert_eq!(server.kind, 2, "the parent is the request's server span");
            let create = spans.iter().find(|s| s.name == "room.create").unwrap();
            assert_eq!(create.attr("room.max_participants"), Some("200"));
            assert_eq!(create.attr("room.name"), None);
            let close = spans.iter().find(|s| s.name == "room.close").unwrap();
            // A measure, not a secret: it reaches the collector as a number.
            let duration = close.attr("room.session_duration_s").expect("the duration");
            assert!(duration.parse::<f64>().is_ok(), "{duration}");
        },
    );
}
