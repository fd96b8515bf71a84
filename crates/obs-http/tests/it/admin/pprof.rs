//! `/debug/pprof/profile`, only with the `pprof` feature and `with_pprof()`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::StatusCode;
use obs_http::admin::AdminRouter;
use pprof::protos::{Message as _, Profile};

use obs_testkit::isolated;

use super::{block_on, get, spawn};

/// Keeps a core busy until dropped, so that the profiles have samples.
struct BurnCpu(Arc<AtomicBool>);

impl BurnCpu {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut x = 0_u64;
            while !flag.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        });
        Self(stop)
    }
}

impl Drop for BurnCpu {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

// The profiler is process-wide: tests that start it run in a process of their own.
#[test]
fn profiles_as_pprof_protobuf_and_svg() {
    isolated("admin::pprof::profiles_as_pprof_protobuf_and_svg", || {
        block_on(profile_twice());
    });
}

async fn profile_twice() {
    let server = spawn(AdminRouter::new().with_pprof()).await;
    let _busy = BurnCpu::start();

    let reply = get(&server, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.content_type(), "application/octet-stream");
    assert!(!reply.body.is_empty());
    let profile = Profile::decode(&reply.body[..]).expect("a pprof protobuf");
    assert!(!profile.sample_type.is_empty());
    assert!(!profile.string_table.is_empty());

    let svg = get(&server, "/debug/pprof/profile?seconds=1&format=svg").await;
    assert_eq!(svg.status, StatusCode::OK, "{:?}", svg.body);
    assert_eq!(svg.content_type(), "image/svg+xml");
    let text = svg.text();
    assert!(
        text.starts_with("<?xml") || text.starts_with("<svg"),
        "{}",
        &text[..text.len().min(200)]
    );
}

#[tokio::test]
async fn bad_seconds_are_400() {
    let server = spawn(AdminRouter::new().with_pprof()).await;
    for query in ["seconds=0", "seconds=abc", "seconds=61", "format=png"] {
        let reply = get(&server, &format!("/debug/pprof/profile?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(reply.text().starts_with("invalid "), "{}", reply.text());
    }
}

#[test]
fn one_profile_at_a_time() {
    isolated("admin::pprof::one_profile_at_a_time", || {
        block_on(conflict())
    });
}

async fn conflict() {
    let server = spawn(AdminRouter::new().with_pprof()).await;
    let shared = Arc::new(server);
    let first = {
        let server = shared.clone();
        tokio::spawn(async move { get(&server, "/debug/pprof/profile?seconds=2").await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = get(&shared, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(first.await.unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn off_unless_enabled() {
    let server = spawn(AdminRouter::new()).await;
    let reply = get(&server, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
