//! The added cost of obs-flows' hot calls, each next to its bare baseline in the same run, on a
//! current-thread runtime with obs's recorder installed globally and no tracer (spans not built):
//! - `flow`: a flow started, four ready steps, finished, against the four futures awaited bare;
//! - `step`: one step of a running flow, against the future awaited bare;
//! - `work`: a worker stage, and an external call with its time limit (a Tokio timer armed and
//!   dropped) and a closed circuit breaker, each against the future awaited bare.
//!
//! Run: `cargo bench -p obs-flows --bench flows`. Report the added time as the difference to the
//! bare figure of the same run.
//!
//! Last run: not yet measured (the bench was written under a no-benchmark rule; the coordinator
//! runs it).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

use obs_flows::{CircuitBreaker, ExternalCall, flows, stage};

async fn ready() -> Result<u32, std::io::Error> {
    Ok(black_box(1))
}

fn flow(c: &mut Criterion) {
    let _ = metrics::set_global_recorder(obs_core::metrics::ObsRecorder::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("flow");
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter(|| async {
            for _ in 0..4 {
                black_box(ready().await.unwrap());
            }
        });
    });
    group.bench_function("room_creation", |b| {
        b.to_async(&runtime).iter(|| async {
            let flow = flows::ROOM_CREATION.start();
            for step in flows::ROOM_CREATION.steps() {
                black_box(flow.step(step, ready()).await.unwrap());
            }
            flow.finish();
        });
    });
    group.finish();

    let running = flows::RECORDING.start();
    let mut group = c.benchmark_group("step");
    group.bench_function("bare", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(ready().await.unwrap()) });
    });
    group.bench_function("step", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(running.step("upload", ready()).await.unwrap()) });
    });
    group.finish();

    let call = ExternalCall::new("bench", "get")
        .timeout(Duration::from_secs(5))
        .breaker(CircuitBreaker::new("bench"));
    let mut group = c.benchmark_group("work");
    group.bench_function("bare", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(ready().await.unwrap()) });
    });
    group.bench_function("stage", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(stage("encode", ready()).await.unwrap()) });
    });
    group.bench_function("external_call", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(call.call(ready()).await.unwrap()) });
    });
    group.finish();
}

criterion_group!(benches, flow);
criterion_main!(benches);
