//! Per-CPU shards for the catalog metrics' counters.
//!
//! Every worker thread of a server updates the same series (a hot route's histogram and request
//! counter, the in-flight gauge). With one set of counters, each update waits for the cache line
//! to come from the core that wrote it last, several times slower than an update of a series no
//! other thread touches (measured in `docs/performance-notes.md`). So a series keeps one shard per CPU (at most [`MAX_SHARDS`]), each on
//! cache lines of its own; a thread always updates the same shard, and a scrape adds them up.
//!
//! The price is memory: a counter or gauge series takes 128 bytes per shard (2 KiB at 16 CPUs),
//! a histogram series its buckets plus 128 bytes per shard. The cardinality guard bounds the
//! series of a family (1,000 by default): at 16 CPUs a counter family takes at most about 2 MiB,
//! a histogram family with 14 buckets about 4 MiB.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The most shards a series keeps, whatever the number of CPUs.
pub(crate) const MAX_SHARDS: usize = 16;

/// A value alone on its cache lines: 128 bytes, the line and the one the CPU prefetches with it.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// How many shards each series keeps: one per CPU, at most [`MAX_SHARDS`].
pub(crate) fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_SHARDS)
    })
}

/// This thread's shard among `shards`: threads take shards in turn in the order they first
/// update a metric, so worker threads started together get different ones.
pub(crate) fn this_thread(shards: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % count();
    }
    let shard = SHARD.try_with(|s| *s).unwrap_or(0);
    if shard < shards {
        shard
    } else {
        // Only a series built with fewer shards than the process uses (in tests).
        shard % shards.max(1)
    }
}

/// Adds `delta` to the `f64` whose bits `cell` holds. Each cell is one thread's (its shard), so
/// the loop nearly never retries.
pub(crate) fn add_f64(cell: &AtomicU64, delta: f64) {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let next = (f64::from_bits(current) + delta).to_bits();
        match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break,
            Err(actual) => current = actual,
        }
    }
}
