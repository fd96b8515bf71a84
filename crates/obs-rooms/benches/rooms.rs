//! The added cost of obs-rooms' hot calls, each next to its bare baseline in the same run: a
//! participant join followed by a leave of a ready future, bare (the future awaited alone) and
//! through [`Rooms::join`] / [`Rooms::leave`] (span not sampled: no tracer provider is installed,
//! so this is the metrics, the tracker and the operation wrapper), on a current-thread runtime
//! with obs's recorder installed globally, in a room already holding 100 participants.
//!
//! Run: `cargo bench -p obs-rooms --bench rooms`. Report the added time as the difference to the
//! bare figure of the same run.
//!
//! Last run: not yet measured (the bench was written under a no-benchmark rule; the coordinator
//! runs it).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use obs_rooms::{Participant, ParticipantType, RoomSpec, Rooms};

async fn ready() -> Result<(), std::io::Error> {
    Ok(())
}

fn join_leave(c: &mut Criterion) {
    let recorder = obs_core::metrics::ObsRecorder::new();
    let _ = metrics::set_global_recorder(recorder);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rooms = Rooms::new();
    runtime.block_on(async {
        rooms
            .create(RoomSpec::new("bench").max_participants(500), ready())
            .await
            .unwrap();
        for i in 0..100 {
            let p = Participant::new("bench", format!("u{i}"), ParticipantType::Guest);
            rooms.join(&p, ready()).await.unwrap();
        }
    });
    let p = Participant::new("bench", "u-bench", ParticipantType::Guest);

    let mut group = c.benchmark_group("join_leave");
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(ready().await).unwrap();
            black_box(ready().await).unwrap();
        });
    });
    group.bench_function("rooms", |b| {
        b.to_async(&runtime).iter(|| async {
            rooms.join(black_box(&p), ready()).await.unwrap();
            rooms.leave(black_box(&p), ready()).await.unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, join_leave);
criterion_main!(benches);
