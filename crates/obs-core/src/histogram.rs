//! Histograms: fixed buckets counted in place.
//!
//! A histogram's buckets are known when its series is created (from the catalog, an override given
//! to `init`, or [`crate::catalog::default_buckets`]), so obs counts each sample into its bucket at
//! once: a binary search over the bounds and two atomic additions, nothing buffered between
//! scrapes.
//!
//! Each series keeps a shard of counters per CPU ([`crate::shard`]), so worker threads recording
//! into one series at once do not wait for each other's cache lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::HistogramFn;

use crate::shard;
use crate::snapshot::HistogramSnapshot;

/// Cells (8 bytes each) of padding after each shard's counters: 128 bytes, so no two shards'
/// counters share a cache line or the line the CPU prefetches next to it.
const PAD_CELLS: usize = 16;

/// One series: per shard, the sum (as `f64` bits) and a count per bucket (the last one is
/// `+Inf`), then padding; all shards in one allocation.
#[derive(Debug)]
pub(crate) struct FixedHistogram {
    bounds: Arc<[f64]>,
    /// Cells per shard: the sum, the counts, the padding.
    stride: usize,
    /// `cells.len() / stride`, kept so that a record does not divide.
    shards: usize,
    cells: Box<[AtomicU64]>,
}

impl FixedHistogram {
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        Self::with_shards(bounds, shard::count())
    }

    fn with_shards(bounds: Arc<[f64]>, shards: usize) -> Self {
        let stride = 1 + bounds.len() + 1 + PAD_CELLS;
        let shards = shards.max(1);
        let cells = (0..stride * shards)
            .map(|_| AtomicU64::new(0f64.to_bits()))
            .collect();
        Self {
            bounds,
            stride,
            shards,
            cells,
        }
    }

    fn shards(&self) -> impl Iterator<Item = &[AtomicU64]> {
        self.cells.chunks_exact(self.stride)
    }

    /// Cumulative counts per bound, then the total (the `+Inf` bucket), and the sum.
    fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let mut counts = vec![0u64; self.bounds.len() + 1];
        let mut sum = 0.0;
        for shard in self.shards() {
            sum += f64::from_bits(shard[0].load(Ordering::Relaxed));
            for (total, count) in counts.iter_mut().zip(&shard[1..]) {
                *total += count.load(Ordering::Relaxed);
            }
        }
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        for (i, count) in counts.iter().enumerate() {
            running += count;
            if i < self.bounds.len() {
                cumulative.push(running);
            }
        }
        (cumulative, running, sum)
    }

    /// The buckets, count and sum, for a [`crate::metrics::Snapshot`].
    pub(crate) fn to_snapshot(&self) -> HistogramSnapshot {
        let (cumulative, count, sum) = self.snapshot();
        HistogramSnapshot {
            buckets: self.bounds.iter().copied().zip(cumulative).collect(),
            count,
            sum,
        }
    }

    /// The number of values recorded so far: it changes whenever the series is used.
    pub(crate) fn count(&self) -> u64 {
        self.shards()
            .flat_map(|shard| &shard[1..=self.bounds.len() + 1])
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl HistogramFn for FixedHistogram {
    fn record(&self, value: f64) {
        // A NaN belongs to no bucket and would poison the sum: it is not a measurement.
        if value.is_nan() {
            return;
        }
        // Prometheus buckets are `le`: a value equal to a bound counts in that bound's bucket.
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        let base = shard::this_thread(self.shards) * self.stride;
        let (Some(sum), Some(count)) = (self.cells.get(base), self.cells.get(base + 1 + bucket))
        else {
            return;
        };
        count.fetch_add(1, Ordering::Relaxed);
        shard::add_f64(sum, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(b: &[f64]) -> Arc<[f64]> {
        Arc::from(b)
    }

    #[test]
    fn bounds_are_inclusive_and_nan_is_ignored() {
        let h = FixedHistogram::new(bounds(&[1.0, 2.5, 5.0]));
        for v in [0.0, 1.0, 1.5, 2.5, 5.0, 5.1, f64::INFINITY, f64::NAN, -3.0] {
            h.record(v);
        }
        let (cumulative, total, sum) = h.snapshot();
        // <=1: 0, 1, -3; <=2.5: +1.5, 2.5; <=5: +5; +Inf: 5.1, inf.
        assert_eq!(cumulative, vec![3, 5, 6]);
        assert_eq!(total, 8);
        assert_eq!(h.count(), 8);
        assert_eq!(sum, f64::INFINITY);
        let snap = h.to_snapshot();
        assert_eq!(snap.buckets, vec![(1.0, 3), (2.5, 5), (5.0, 6)]);
    }

    #[test]
    fn shards_add_up_and_keep_apart() {
        let h = FixedHistogram::with_shards(bounds(&[1.0, 2.5]), 3);
        assert_eq!(h.shards().count(), 3);
        // Each shard's sum and counts, then at least 128 bytes before the next shard's.
        assert!(h.stride * 8 >= (1 + 3) * 8 + 128);
        // One record in each shard, written there directly as three threads would.
        for (shard, value) in h.shards().zip([0.5f64, 2.0, 9.0]) {
            shard[0].store(value.to_bits(), Ordering::Relaxed);
            let bucket = h.bounds.partition_point(|b| *b < value);
            shard[1 + bucket].fetch_add(1, Ordering::Relaxed);
        }
        h.record(1.0);
        let (cumulative, total, sum) = h.snapshot();
        assert_eq!(cumulative, vec![2, 3]);
        assert_eq!(total, 4);
        assert_eq!(sum, 12.5);
    }

    #[test]
    fn concurrent_records_lose_nothing() {
        // More threads than shards: some threads share a shard.
        let h = Arc::new(FixedHistogram::with_shards(bounds(&[1.0]), 3));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        h.record(0.5);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (cumulative, total, sum) = h.snapshot();
        assert_eq!((cumulative, total, sum), (vec![40_000], 40_000, 20_000.0));
    }
}
