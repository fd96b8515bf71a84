//! One kind's series (counters, gauges or histograms) by key, with the count of label sets per
//! name that the guard bounds, and the idle sweep.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use metrics::{Key, Label};

use crate::histogram::FixedHistogram;
use crate::metrics::OVERFLOW_LABEL_VALUE;
use crate::scalar::{AtomicCounter, AtomicGauge};

/// A series kind the store keeps.
pub(super) trait Series: Send + Sync + 'static {
    /// A number that changes whenever the series is updated; `None` for series that never expire
    /// (gauges: a value set once and left alone is still the current value).
    fn activity(&self) -> Option<u64>;
}

impl Series for AtomicCounter {
    fn activity(&self) -> Option<u64> {
        Some(self.value())
    }
}

impl Series for FixedHistogram {
    fn activity(&self) -> Option<u64> {
        Some(self.count())
    }
}

impl Series for AtomicGauge {
    fn activity(&self) -> Option<u64> {
        None
    }
}

pub(super) struct Entry<T> {
    pub(super) series: Arc<T>,
    /// The activity seen at the last sweep, and since when it has not changed.
    seen: Option<u64>,
    since: Instant,
}

impl<T: Series> Entry<T> {
    pub(super) fn new(series: Arc<T>) -> Self {
        Self {
            seen: series.activity(),
            series,
            since: Instant::now(),
        }
    }
}

pub(super) struct Store<T> {
    pub(super) series: HashMap<Key, Entry<T>>,
    /// Label sets admitted per name, the overflow series not included.
    pub(super) per_name: HashMap<String, usize>,
    /// Series dropped for idleness that a handle kept elsewhere may still update: one that moves
    /// again comes back at the next sweep.
    expired: Vec<(Key, Weak<T>, Option<u64>)>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Self {
            series: HashMap::new(),
            per_name: HashMap::new(),
            expired: Vec::new(),
        }
    }
}

impl<T: Series> Store<T> {
    pub(super) fn remove(&mut self, key: &Key) -> bool {
        let removed = self.series.remove(key).is_some();
        if removed && !is_overflow(key) {
            self.forget_name(key.name());
        }
        removed
    }

    fn forget_name(&mut self, name: &str) {
        if let Some(n) = self.per_name.get_mut(name) {
            *n = n.saturating_sub(1);
        }
    }

    /// Drops series unchanged for `timeout`, brings back expired ones that moved; true when some
    /// series was dropped.
    pub(super) fn sweep(&mut self, timeout: Duration, now: Instant) -> bool {
        let mut dropped = Vec::new();
        for (key, entry) in &mut self.series {
            let activity = entry.series.activity();
            if activity.is_none() {
                continue;
            }
            if activity != entry.seen {
                entry.seen = activity;
                entry.since = now;
            } else if now.duration_since(entry.since) >= timeout {
                dropped.push(key.clone());
            }
        }
        for key in &dropped {
            if let Some(entry) = self.series.remove(key) {
                self.expired
                    .push((key.clone(), Arc::downgrade(&entry.series), entry.seen));
                if !is_overflow(key) {
                    self.forget_name(key.name());
                }
            }
        }
        let mut kept = Vec::new();
        for (key, weak, seen) in std::mem::take(&mut self.expired) {
            let Some(series) = weak.upgrade() else {
                continue;
            };
            if series.activity() == seen {
                kept.push((key, weak, seen));
            } else if !self.series.contains_key(&key) {
                if !is_overflow(&key) {
                    *self.per_name.entry(key.name().to_owned()).or_default() += 1;
                }
                self.series.insert(key, Entry::new(series));
            }
        }
        self.expired = kept;
        !dropped.is_empty()
    }
}

pub(super) fn is_overflow(key: &Key) -> bool {
    let mut labels = key.labels().peekable();
    labels.peek().is_some() && labels.all(|l| l.value() == OVERFLOW_LABEL_VALUE)
}

pub(super) fn overflow_key(key: &Key) -> Key {
    let labels: Vec<Label> = key
        .labels()
        .map(|l| Label::new(l.key().to_owned(), OVERFLOW_LABEL_VALUE))
        .collect();
    Key::from_parts(key.name().to_owned(), labels)
}
