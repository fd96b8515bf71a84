//! External calls: the time limit fires and is classified; the circuit breaker opens after N
//! failures, refuses calls, fails readiness, and closes again after a successful probe.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use obs_core::health::ReadinessCheck as _;
use obs_flows::{BreakerState, CircuitBreaker, ExternalCall, ExternalError};
use obs_http::admin::AdminRouter;
use obs_testkit::{LocalRecorder, MetricsSnapshot};
use tower::ServiceExt as _;

fn run<T>(recorder: &LocalRecorder, f: impl Future<Output = T>) -> T {
    let _in_force = recorder.enter();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn calls(snap: &MetricsSnapshot, service: &str, outcome: &str) -> Option<f64> {
    snap.value(
        "external_calls_total",
        &[("service", service), ("op", "charge"), ("outcome", outcome)],
    )
}

#[test]
fn the_time_limit_fires_and_each_outcome_is_classified() {
    let recorder = LocalRecorder::new();
    let charge = ExternalCall::new("payments", "charge").timeout(Duration::from_millis(50));
    run(&recorder, async {
        let slow = charge
            .call(async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, io::Error>(1)
            })
            .await;
        match slow {
            Err(ExternalError::Timeout(t)) => assert_eq!(t.limit(), Duration::from_millis(50)),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(
            charge.call(async { Ok::<_, io::Error>(7) }).await.unwrap(),
            7
        );
        let refused = charge
            .call(async { Err::<u32, _>(io::Error::new(io::ErrorKind::ConnectionRefused, "down")) })
            .await;
        let Err(ExternalError::Failed(e)) = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    });
    let snap = recorder.snapshot();
    assert_eq!(
        calls(&snap, "payments", "timeout"),
        Some(1.0),
        "{}",
        snap.text
    );
    assert_eq!(calls(&snap, "payments", "success"), Some(1.0));
    assert_eq!(calls(&snap, "payments", "error"), Some(1.0));
    // The issue's `{service,op,outcome}`: the error type is the span's, not a label.
    assert!(!snap.text.contains("error_type"), "{}", snap.text);
    let timed = snap.value(
        "external_call_latency_ms_count",
        &[("service", "payments"), ("op", "charge")],
    );
    assert_eq!(timed, Some(3.0));
    let slowest = snap.value(
        "external_call_latency_ms_bucket",
        &[("service", "payments"), ("op", "charge"), ("le", "25")],
    );
    assert_eq!(
        slowest,
        Some(2.0),
        "the timed-out call took at least 50 ms:\n{}",
        snap.text
    );
}

#[test]
fn the_breaker_opens_refuses_fails_readiness_and_closes_after_a_probe() {
    let recorder = LocalRecorder::new();
    let breaker = CircuitBreaker::new("storage")
        .failure_threshold(2)
        .window(Duration::from_secs(60))
        .open_for(Duration::from_millis(100));
    let upload = ExternalCall::new("storage", "charge").breaker(breaker.clone());
    let ran = Arc::new(AtomicUsize::new(0));
    let work = |ok: bool| {
        let ran = ran.clone();
        async move {
            ran.fetch_add(1, Ordering::SeqCst);
            if ok {
                Ok(())
            } else {
                Err(io::Error::other("500"))
            }
        }
    };
    let ready = |router: axum::Router| async move {
        let response = router
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.status()
    };
    let admin = AdminRouter::new().readiness_check(breaker.clone()).build();
    run(&recorder, async {
        assert_eq!(ready(admin.clone()).await, StatusCode::OK);
        upload.call(work(false)).await.unwrap_err();
        assert_eq!(breaker.state(), BreakerState::Closed);
        upload.call(work(false)).await.unwrap_err();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.check().await.is_err());
        assert_eq!(ready(admin.clone()).await, StatusCode::SERVICE_UNAVAILABLE);

        let refused = upload.call(work(true)).await;
        assert!(
            matches!(refused, Err(ExternalError::CircuitOpen { .. })),
            "{refused:?}"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 2, "a refused call is not made");

        tokio::time::sleep(Duration::from_millis(120)).await;
        // The probe holds the half-open circuit: a call at the same time is refused.
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let probe = upload.call(async move {
            wait.await.ok();
            Ok::<_, io::Error>(())
        });
        let concurrent = async {
            tokio::task::yield_now().await;
            assert_eq!(breaker.state(), BreakerState::HalfOpen);
            let refused = upload.call(work(true)).await;
            assert!(matches!(refused, Err(ExternalError::CircuitOpen { .. })));
            release.send(()).unwrap();
        };
        let (probed, ()) = tokio::join!(probe, concurrent);
        probed.unwrap();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(ready(admin).await, StatusCode::OK);
    });
    let snap = recorder.snapshot();
    let change = |from: &str, to: &str| {
        snap.value(
            "circuit_breaker_state_changes_total",
            &[("service", "storage"), ("from", from), ("to", to)],
        )
    };
    assert_eq!(change("closed", "open"), Some(1.0), "{}", snap.text);
    assert_eq!(change("open", "half_open"), Some(1.0));
    assert_eq!(change("half_open", "closed"), Some(1.0));
    assert_eq!(
        snap.value("circuit_breaker_state", &[("service", "storage")]),
        Some(0.0)
    );
    // Two failed calls and two the open or half-open circuit refused; the probe succeeded.
    assert_eq!(calls(&snap, "storage", "error"), Some(4.0));
    assert_eq!(calls(&snap, "storage", "success"), Some(1.0));
}
