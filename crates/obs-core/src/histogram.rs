//! Catalog histograms: fixed buckets counted in place.
//!
//! The Prometheus exporter keeps every recorded sample (value and timestamp) in a buffer until the
//! next scrape or upkeep folds it into buckets: about 160 instructions per sample to record and 60
//! more to fold, and memory that grows with the request rate between two drains. A catalog
//! histogram knows its buckets up front, so obs counts each sample into its bucket at once: a
//! binary search over the bounds and two atomic additions, nothing buffered.
//!
//! Each series keeps a shard of counters per CPU ([`crate::shard`]), so worker threads recording
//! into one series at once do not wait for each other's cache lines.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use metrics::{HistogramFn, Key};

use crate::catalog::{MetricDef, MetricKind};
use crate::exposition::{self, label_text, number};
use crate::shard;

/// Cells (8 bytes each) of padding after each shard's counters: 128 bytes, so no two shards'
/// counters share a cache line or the line the CPU prefetches next to it.
const PAD_CELLS: usize = 16;

/// One series: per shard, the sum (as `f64` bits) and a count per bucket (the last one is
/// `+Inf`), then padding; all shards in one allocation.
#[derive(Debug)]
pub(crate) struct FixedHistogram {
    bounds: &'static [f64],
    /// Cells per shard: the sum, the counts, the padding.
    stride: usize,
    /// `cells.len() / stride`, kept so that a record does not divide.
    shards: usize,
    cells: Box<[AtomicU64]>,
}

impl FixedHistogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self::with_shards(bounds, shard::count())
    }

    fn with_shards(bounds: &'static [f64], shards: usize) -> Self {
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

/// Every catalog histogram and its series.
#[derive(Debug, Default)]
pub(crate) struct Histograms {
    defs: BTreeMap<&'static str, MetricDef>,
    /// By the recorder's own key (name and labels, hashed once when the key is built), so a
    /// lookup allocates nothing.
    series: RwLock<HashMap<Key, Arc<FixedHistogram>>>,
}

impl Histograms {
    /// The registry of `defs`' histograms.
    pub(crate) fn new(defs: &[MetricDef]) -> Self {
        Self {
            defs: defs
                .iter()
                .filter(|d| d.kind == MetricKind::Histogram)
                .map(|d| (d.name, *d))
                .collect(),
            series: RwLock::default(),
        }
    }

    /// The series of `key`, created on first use; `None` when `key` is not a catalog histogram.
    pub(crate) fn series(&self, key: &Key) -> Option<Arc<FixedHistogram>> {
        let def = self.defs.get(key.name())?;
        Some(exposition::series(&self.series, key, || {
            FixedHistogram::new(def.buckets)
        }))
    }

    /// The Prometheus text of every series, by name and then labels, in the exporter's layout.
    pub(crate) fn render(&self, out: &mut String) {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        for (name, by_labels) in exposition::sorted(&series) {
            let Some(def) = self.defs.get(name) else {
                continue;
            };
            exposition::header(out, name, def.help, "histogram");
            for (labels, histogram) in by_labels {
                let (cumulative, total, sum) = histogram.snapshot();
                let base = label_text(&labels);
                let sep = if base.is_empty() { "" } else { "," };
                for (bound, count) in def.buckets.iter().zip(cumulative) {
                    let _ = writeln!(out, "{name}_bucket{{{base}{sep}le=\"{bound}\"}} {count}");
                }
                let _ = writeln!(out, "{name}_bucket{{{base}{sep}le=\"+Inf\"}} {total}");
                let braces = if base.is_empty() {
                    String::new()
                } else {
                    format!("{{{base}}}")
                };
                let _ = writeln!(out, "{name}_sum{braces} {}", number(sum));
                let _ = writeln!(out, "{name}_count{braces} {total}");
            }
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Label;

    static DEF: MetricDef = MetricDef::histogram("t_latency_ms", "Latency.\nSecond \\ line.")
        .with_labels(&["route"])
        .with_buckets(&[1.0, 2.5, 5.0]);
    static COUNTER: MetricDef = MetricDef::counter("t_total", "A counter.");

    #[test]
    fn bounds_are_inclusive_and_nan_is_ignored() {
        let h = FixedHistogram::new(&[1.0, 2.5, 5.0]);
        for v in [0.0, 1.0, 1.5, 2.5, 5.0, 5.1, f64::INFINITY, f64::NAN, -3.0] {
            h.record(v);
        }
        let (cumulative, total, sum) = h.snapshot();
        // <=1: 0, 1, -3; <=2.5: +1.5, 2.5; <=5: +5; +Inf: 5.1, inf.
        assert_eq!(cumulative, vec![3, 5, 6]);
        assert_eq!(total, 8);
        assert_eq!(sum, f64::INFINITY);
    }

    #[test]
    fn renders_the_exporters_layout() {
        let registry = Histograms::new(&[DEF, COUNTER]);
        let key = |route: &str| {
            Key::from_parts("t_latency_ms", vec![Label::new("route", route.to_owned())])
        };
        assert!(registry.series(&Key::from_name("t_total")).is_none());
        let a = registry.series(&key("/a")).unwrap();
        assert!(Arc::ptr_eq(&a, &registry.series(&key("/a")).unwrap()));
        a.record(0.5);
        a.record(3.0);
        registry.series(&key("/q\"\\\n")).unwrap().record(7.25);
        let mut text = String::new();
        registry.render(&mut text);
        let expected = "# HELP t_latency_ms Latency.\\nSecond \\\\ line.\n\
# TYPE t_latency_ms histogram\n\
t_latency_ms_bucket{route=\"/a\",le=\"1\"} 1\n\
t_latency_ms_bucket{route=\"/a\",le=\"2.5\"} 1\n\
t_latency_ms_bucket{route=\"/a\",le=\"5\"} 2\n\
t_latency_ms_bucket{route=\"/a\",le=\"+Inf\"} 2\n\
t_latency_ms_sum{route=\"/a\"} 3.5\n\
t_latency_ms_count{route=\"/a\"} 2\n\
t_latency_ms_bucket{route=\"/q\\\"\\\\\\n\",le=\"1\"} 0\n\
t_latency_ms_bucket{route=\"/q\\\"\\\\\\n\",le=\"2.5\"} 0\n\
t_latency_ms_bucket{route=\"/q\\\"\\\\\\n\",le=\"5\"} 0\n\
t_latency_ms_bucket{route=\"/q\\\"\\\\\\n\",le=\"+Inf\"} 1\n\
t_latency_ms_sum{route=\"/q\\\"\\\\\\n\"} 7.25\n\
t_latency_ms_count{route=\"/q\\\"\\\\\\n\"} 1\n\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_series_without_labels() {
        static BARE: MetricDef =
            MetricDef::histogram("t_size_bytes", "Size.").with_buckets(&[10.0]);
        let registry = Histograms::new(&[BARE]);
        registry
            .series(&Key::from_name("t_size_bytes"))
            .unwrap()
            .record(11.0);
        let mut text = String::new();
        registry.render(&mut text);
        assert!(
            text.contains("t_size_bytes_bucket{le=\"10\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("t_size_bytes_bucket{le=\"+Inf\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("t_size_bytes_sum 11\nt_size_bytes_count 1\n"),
            "{text}"
        );
    }

    #[test]
    fn shards_add_up_and_keep_apart() {
        let h = FixedHistogram::with_shards(&[1.0, 2.5], 3);
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
        let h = Arc::new(FixedHistogram::with_shards(&[1.0], 3));
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
