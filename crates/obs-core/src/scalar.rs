//! Counters and gauges: one atomic each.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{CounterFn, GaugeFn};

/// A counter series.
#[derive(Debug, Default)]
pub(crate) struct AtomicCounter(AtomicU64);

impl AtomicCounter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The count.
    pub(crate) fn value(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl CounterFn for AtomicCounter {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    /// Raises the count to `value` if it is lower (a counter never goes down).
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// A gauge series: an `f64` kept as its bits.
#[derive(Debug)]
pub(crate) struct AtomicGauge(AtomicU64);

impl AtomicGauge {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(0f64.to_bits()))
    }

    /// The value.
    pub(crate) fn value(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl GaugeFn for AtomicGauge {
    fn increment(&self, value: f64) {
        add_f64(&self.0, value);
    }

    fn decrement(&self, value: f64) {
        add_f64(&self.0, -value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// Adds `delta` to the `f64` whose bits `cell` holds.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counters_never_go_down_and_gauges_move_both_ways() {
        let counter = AtomicCounter::new();
        counter.increment(4);
        counter.absolute(3);
        assert_eq!(counter.value(), 4, "a counter never goes down");
        counter.absolute(25);
        assert_eq!(counter.value(), 25);

        let gauge = AtomicGauge::new();
        gauge.increment(2.0);
        gauge.decrement(0.5);
        assert_eq!(gauge.value(), 1.5);
        gauge.set(-3.0);
        assert_eq!(gauge.value(), -3.0);
        gauge.set(f64::INFINITY);
        assert_eq!(gauge.value(), f64::INFINITY);
        gauge.set(1.0);
        assert_eq!(gauge.value(), 1.0);
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let counter = Arc::new(AtomicCounter::new());
        let gauge = Arc::new(AtomicGauge::new());
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
