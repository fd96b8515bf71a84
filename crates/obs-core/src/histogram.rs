//! Histograms: fixed buckets counted in place.
//!
//! A histogram's buckets are known when its series is created (from the catalog, an override given
//! to `init`, or [`crate::catalog::default_buckets`]), so obs counts each sample into its bucket at
//! once: a binary search over the bounds and two atomic additions, nothing buffered between
//! scrapes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::HistogramFn;

use crate::scalar::add_f64;
use crate::snapshot::HistogramSnapshot;

/// One series: the sum (as `f64` bits) and a count per bucket (the last one is `+Inf`).
#[derive(Debug)]
pub(crate) struct FixedHistogram {
    bounds: Arc<[f64]>,
    sum: AtomicU64,
    counts: Box<[AtomicU64]>,
}

impl FixedHistogram {
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        Self {
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
            bounds,
        }
    }

    /// Cumulative counts per bound, then the total (the `+Inf` bucket), and the sum.
    fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        for (i, count) in self.counts.iter().enumerate() {
            running += count.load(Ordering::Relaxed);
            if i < self.bounds.len() {
                cumulative.push(running);
            }
        }
        (
            cumulative,
            running,
            f64::from_bits(self.sum.load(Ordering::Relaxed)),
        )
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
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
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
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
            add_f64(&self.sum, value);
        }
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
    fn concurrent_records_lose_nothing() {
        let h = Arc::new(FixedHistogram::new(bounds(&[1.0])));
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
