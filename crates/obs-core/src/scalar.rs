//! Counters and gauges, counted per CPU.
//!
//! A series every worker thread updates (a hot route's request counter, the in-flight gauge) would
//! cost a cache-line transfer per update with one shared atomic, so each series keeps one shard
//! per CPU ([`crate::shard`]) and a scrape adds them up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use metrics::{CounterFn, GaugeFn};

use crate::shard::{self, Padded};

/// A counter series: a count per shard.
#[derive(Debug)]
pub(crate) struct ShardedCounter {
    shards: Box<[Padded<AtomicU64>]>,
}

impl ShardedCounter {
    /// A counter with one shard per CPU.
    pub(crate) fn new() -> Self {
        Self::with_shards(shard::count())
    }

    fn with_shards(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Padded::default()).collect(),
        }
    }

    /// The count: every shard's, added up.
    pub(crate) fn value(&self) -> u64 {
        self.shards
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.0.load(Ordering::Relaxed)))
    }

    fn own(&self) -> &AtomicU64 {
        &self.shards[shard::this_thread(self.shards.len())].0
    }
}

impl CounterFn for ShardedCounter {
    fn increment(&self, value: u64) {
        self.own().fetch_add(value, Ordering::Relaxed);
    }

    /// Raises the count to `value` if it is lower (a counter never goes down).
    fn absolute(&self, value: u64) {
        let current = self.value();
        if value > current {
            self.own().fetch_add(value - current, Ordering::Relaxed);
        }
    }
}

/// A gauge series: a change per shard (as `f64` bits), added up when read.
#[derive(Debug)]
pub(crate) struct ShardedGauge {
    shards: Box<[Padded<AtomicU64>]>,
    /// Held while a `set` reads the value and moves it: two sets at once end at one of them.
    set: Mutex<()>,
}

impl ShardedGauge {
    /// A gauge with one shard per CPU.
    pub(crate) fn new() -> Self {
        Self::with_shards(shard::count())
    }

    fn with_shards(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| Padded(AtomicU64::new(0f64.to_bits())))
                .collect(),
            set: Mutex::new(()),
        }
    }

    /// The value: every shard's change, added up.
    pub(crate) fn value(&self) -> f64 {
        self.shards
            .iter()
            .map(|s| f64::from_bits(s.0.load(Ordering::Relaxed)))
            .sum()
    }

    fn add(&self, delta: f64) {
        shard::add_f64(&self.shards[shard::this_thread(self.shards.len())].0, delta);
    }
}

impl GaugeFn for ShardedGauge {
    fn increment(&self, value: f64) {
        self.add(value);
    }

    fn decrement(&self, value: f64) {
        self.add(-value);
    }

    /// Moves the value to `value`: changes other threads make meanwhile apply on top, as they
    /// would after a set of one shared value.
    fn set(&self, value: f64) {
        let _one_at_a_time = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.value();
        if value.is_finite() && current.is_finite() {
            self.add(value - current);
        } else {
            // No difference reaches an infinite or NaN value: start over from it.
            for (i, s) in self.shards.iter().enumerate() {
                let v = if i == 0 { value } else { 0.0 };
                s.0.store(v.to_bits(), Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn shards_add_up() {
        let counter = ShardedCounter::with_shards(3);
        for (i, shard) in counter.shards.iter().enumerate() {
            shard.0.store(i as u64 + 1, Ordering::Relaxed);
        }
        counter.increment(4);
        assert_eq!(counter.value(), 1 + 2 + 3 + 4);
        counter.absolute(5);
        assert_eq!(counter.value(), 10, "a counter never goes down");
        counter.absolute(25);
        assert_eq!(counter.value(), 25);

        let gauge = ShardedGauge::with_shards(3);
        gauge.shards[1].0.store(5f64.to_bits(), Ordering::Relaxed);
        gauge.increment(2.0);
        gauge.decrement(0.5);
        assert_eq!(gauge.value(), 6.5);
        gauge.set(-3.0);
        assert_eq!(gauge.value(), -3.0);
        gauge.set(f64::INFINITY);
        assert_eq!(gauge.value(), f64::INFINITY);
        gauge.set(1.0);
        assert_eq!(gauge.value(), 1.0);
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let counter = Arc::new(ShardedCounter::with_shards(shard::count()));
        let gauge = Arc::new(ShardedGauge::with_shards(shard::count()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (counter, gauge) = (counter.clone(), gauge.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counter.increment(1);
                        gauge.increment(1.0);
                        gauge.decrement(1.0);
                        gauge.increment(1.0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.value(), 40_000);
        assert_eq!(gauge.value(), 40_000.0);
    }
}
