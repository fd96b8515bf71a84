//! Worker stages, job lifecycles, and async work that keeps its trace and flow id across
//! `tokio::spawn` and `spawn_blocking`.

use std::io;
use std::time::Duration;

use obs_core::ObsConfig;
use obs_flows::{
    Checkpoints, FlowDef, InflightJob, Job, JobStatus, current_flow_id, job_recovered, spawn,
    spawn_blocking, spawn_timed, stage,
};
use obs_testkit::{LocalRecorder, LogCapture, OtlpReceiver, isolated};

#[test]
fn stages_and_jobs_count_what_happened() {
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let during = runtime.block_on(async {
        assert_eq!(
            stage("fetch", async { Ok::<_, io::Error>(3) })
                .await
                .unwrap(),
            3
        );
        let missing = stage("fetch", async {
            Err::<u32, _>(io::Error::new(io::ErrorKind::NotFound, "/tmp/secret-name"))
        })
        .await;
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);

        let job = Job::created();
        let other = Job::created();
        let first = InflightJob::start();
        let second = InflightJob::start();
        let during = recorder.snapshot();
        job.transition(JobStatus::RUNNING);
        job.transition(JobStatus::SUCCEEDED);
        job.transition(JobStatus::SUCCEEDED); // counted, latency not recorded twice
        other.transition(JobStatus::RUNNING);
        job_recovered("lease_expired");
        other.transition(JobStatus::QUEUED);
        drop((first, second));
        during
    });
    assert_eq!(during.value("worker_inflight_jobs", &[]), Some(2.0));
    let snap = recorder.snapshot();
    assert_eq!(snap.value("worker_inflight_jobs", &[]), Some(0.0));
    assert_eq!(
        snap.value("worker_stage_latency_ms_count", &[("stage", "fetch")]),
        Some(2.0)
    );
    assert_eq!(
        snap.value(
            "worker_stage_failures_total",
            &[("stage", "fetch"), ("code", "NotFound")]
        ),
        Some(1.0),
        "{}",
        snap.text
    );
    assert!(!snap.text.contains("secret-name"));
    assert_eq!(snap.value("jobs_created_total", &[]), Some(2.0));
    let moved = |from: &str, to: &str| {
        snap.value(
            "jobs_status_transition_total",
            &[("from", from), ("to", to)],
        )
    };
    assert_eq!(moved("queued", "running"), Some(2.0));
    assert_eq!(moved("running", "succeeded"), Some(1.0));
    assert_eq!(moved("succeeded", "succeeded"), Some(1.0));
    assert_eq!(moved("running", "queued"), Some(1.0));
    assert_eq!(snap.value("jobs_total_latency_ms_count", &[]), Some(1.0));
    assert_eq!(
        snap.value(
            "worker_recovered_jobs_total",
            &[("reason", "lease_expired")]
        ),
        Some(1.0)
    );
}

const UPLOAD: FlowDef = FlowDef::new("upload", &["accept", "store"]);

#[test]
fn spawned_and_blocking_work_keep_the_trace_and_the_flow_id() {
    isolated(
        "work::spawned_and_blocking_work_keep_the_trace_and_the_flow_id",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = obs_core::init(
                ObsConfig::builder()
                    .service_name("flows-work")
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
            let (flow_id, seen) = runtime.block_on(async {
                let flow = UPLOAD.start();
                let seen = flow
                    .step("accept", async {
                        let timed = spawn_timed("transcode", async {
                            let mut marks = Checkpoints::new();
                            tokio::task::yield_now().await;
                            marks.mark("decoded");
                            obs_flows::checkpoint("encoded");
                            current_flow_id()
                        });
                        let plain = spawn(async { current_flow_id() });
                        let blocking = spawn_blocking(|| {
                            (
                                current_flow_id(),
                                obs_core::trace::current_ids().map(|(t, _)| t),
                            )
                        });
                        let step_trace = obs_core::trace::current_ids().map(|(t, _)| t);
                        let (blocking_id, blocking_trace) = blocking.await.unwrap();
                        assert_eq!(blocking_trace, step_trace, "spawn_blocking kept the trace");
                        Ok::<_, io::Error>(vec![
                            timed.await.unwrap(),
                            plain.await.unwrap(),
                            blocking_id,
                        ])
                    })
                    .await
                    .unwrap();
                flow.finish();
                (flow.id().to_owned(), seen)
            });
            drop(runtime);
            guard.shutdown().expect("spans exported");
            for id in &seen {
                assert_eq!(id.as_deref(), Some(flow_id.as_str()), "{seen:?}");
            }
            let spans = receiver.wait_for(Duration::from_secs(10), |s| s.len() >= 3);
            let step = spans
                .iter()
                .find(|s| s.name == "upload.accept")
                .expect("the step span");
            let task = spans
                .iter()
                .find(|s| s.name == "transcode")
                .expect("the task span");
            assert_eq!(
                task.parent_span_id, step.span_id,
                "the spawned task is a child of the step"
            );
            assert_eq!(task.trace_id, step.trace_id);
            assert_eq!(
                task.events.iter().filter(|e| *e == "checkpoint").count(),
                2,
                "{:?}",
                task.events
            );
        },
    );
}
