//! obs-redis against raw redis-rs on loopback, in the same run: `GET` through a bare
//! `MultiplexedConnection` and through `Instrumented` (span sampled and exported to a discarding
//! exporter; span unsampled), a `PIPELINE` of 100 `GET`s bare and wrapped, and the key
//! normalizer alone (ns per key).
//!
//! The bench starts its own redis-server on a free loopback port with obs-testkit's
//! `servers::Redis` (Debian package `redis-server`). Run: `cargo bench -p obs-redis --bench
//! redis`. Report added time as the difference to the bare figure of the same run. Targets:
//! under 3 % added unsampled, under 5 % sampled.
//!
//! Last run: not yet measured (the coordinator runs benchmarks).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use obs_redis::{Instrumented, KeyPatterns};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Drops every batch: export costs batching, not the network.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

fn all(c: &mut Criterion) {
    let _guard = obs_core::init(
        obs_core::ObsConfig::builder()
            .catalog(obs_redis::catalog::CATALOG)
            .span_exporter(Discard)
            .span_queue_size(65_536)
            .log_filter("error")
            .build(),
    )
    .expect("init");
    let server = obs_testkit::servers::Redis::start()
        .expect("redis-server is required for this bench (apt-get install redis-server)");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let raw = rt
        .block_on(client.get_multiplexed_async_connection())
        .unwrap();
    let wrapped = Instrumented::new(raw.clone()).with_connection_info(client.get_connection_info());
    rt.block_on(async {
        let mut con = raw.clone();
        let _: () = redis::cmd("SET")
            .arg("user:42:profile")
            .arg("x".repeat(64))
            .query_async(&mut con)
            .await
            .unwrap();
    });
    let get = redis::cmd("GET").arg("user:42:profile").to_owned();
    let mut pipe = redis::pipe();
    for _ in 0..100 {
        pipe.cmd("GET").arg("user:42:profile");
    }
    let unsampled =
        obs_core::sampler::SamplingOverride::ratio(0.0).attach_to(&opentelemetry::Context::new());

    let mut group = c.benchmark_group("get");
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| {
            let mut con = raw.clone();
            let get = &get;
            async move { get.query_async::<Vec<u8>>(&mut con).await.unwrap() }
        })
    });
    group.bench_function("instrumented_sampled", |b| {
        b.to_async(&rt).iter(|| {
            let mut con = wrapped.clone();
            let get = &get;
            async move { get.query_async::<Vec<u8>>(&mut con).await.unwrap() }
        })
    });
    group.bench_function("instrumented_unsampled", |b| {
        b.to_async(&rt).iter(|| {
            let mut con = wrapped.clone();
            let get = &get;
            opentelemetry::context::FutureExt::with_context(
                async move { get.query_async::<Vec<u8>>(&mut con).await.unwrap() },
                unsampled.clone(),
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("pipeline_100");
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| {
            let mut con = raw.clone();
            let pipe = &pipe;
            async move { pipe.query_async::<Vec<Vec<u8>>>(&mut con).await.unwrap() }
        })
    });
    group.bench_function("instrumented_sampled", |b| {
        b.to_async(&rt).iter(|| {
            let mut con = wrapped.clone();
            let pipe = &pipe;
            async move { pipe.query_async::<Vec<Vec<u8>>>(&mut con).await.unwrap() }
        })
    });
    group.finish();

    let keys = KeyPatterns::default();
    let mut group = c.benchmark_group("key_normalizer");
    for key in [
        "user:42:profile",
        "session:3f2a9c0d5e6b7a8f9e0d1c2b3a4f5e6d",
        "cache:product:550e8400-e29b-41d4-a716-446655440000",
    ] {
        group.bench_function(key, |b| {
            let mut out = String::with_capacity(64);
            b.iter(|| {
                out.clear();
                keys.normalize_into(std::hint::black_box(key.as_bytes()), &mut out);
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = all
}
criterion_main!(benches);
