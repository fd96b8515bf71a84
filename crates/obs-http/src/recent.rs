//! [`Recent`]: the attribute strings a thread saw last, shared instead of copied.
//!
//! A sampled span keeps its attribute strings until the export thread drops them, so each copy is
//! allocated on the request's thread and freed on another, which costs more than a free on the
//! same thread (see `docs/performance-notes.md`). Values like the `Host`
//! header or a client's `User-Agent` repeat from request to request; a thread keeps the last few
//! as `Arc<str>`, and a repeat costs a reference count instead of an allocation. A cache can
//! also keep what was derived from a value (a `Host` split into host and port).

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;

use opentelemetry::StringValue;

/// How many values each cache keeps, per thread.
const SLOTS: usize = 4;

/// Longer values are copied, not kept: the caches stay small.
const MAX_KEPT: usize = 256;

/// The last [`SLOTS`] values of one attribute seen on this thread, each with what was derived
/// from it (nothing, for a value used as it is).
pub(crate) struct Recent<V = ()> {
    slots: [Option<(Arc<str>, V)>; SLOTS],
    /// The slot the next new value replaces.
    next: usize,
}

impl<V: Clone> Recent<V> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { None }; SLOTS],
            next: 0,
        }
    }

    /// `value` and what `derive` makes of it, shared with the cached copy when this thread saw
    /// `value` lately.
    fn get(&mut self, value: &str, derive: impl FnOnce(&str) -> V) -> (Arc<str>, V) {
        if let Some((kept, derived)) = self.slots.iter().flatten().find(|(k, _)| &**k == value) {
            return (kept.clone(), derived.clone());
        }
        let kept: Arc<str> = Arc::from(value);
        let derived = derive(value);
        self.slots[self.next] = Some((kept.clone(), derived.clone()));
        self.next = (self.next + 1) % SLOTS;
        (kept, derived)
    }
}

/// Runs `f` on this thread's `cache`; `None` for a value too long to keep, a thread being torn
/// down, or a re-entrant use (never a panic).
fn with<V: Clone, T>(
    cache: &'static LocalKey<RefCell<Recent<V>>>,
    value: &str,
    f: impl FnOnce(&mut Recent<V>) -> T,
) -> Option<T> {
    if value.len() > MAX_KEPT {
        return None;
    }
    cache
        .try_with(|recent| {
            recent
                .try_borrow_mut()
                .ok()
                .map(|mut recent| f(&mut recent))
        })
        .ok()
        .flatten()
}

/// `value` as an attribute value, shared through `cache` when short enough to keep.
pub(crate) fn shared(cache: &'static LocalKey<RefCell<Recent>>, value: &str) -> StringValue {
    with(cache, value, |recent| {
        StringValue::from(recent.get(value, |_| ()).0)
    })
    .unwrap_or_else(|| StringValue::from(value.to_owned()))
}

/// What `derive` makes of `value`, computed once per value this thread saw lately.
pub(crate) fn derived<V: Clone>(
    cache: &'static LocalKey<RefCell<Recent<V>>>,
    value: &str,
    derive: impl Fn(&str) -> V,
) -> V {
    with(cache, value, |recent| recent.get(value, &derive).1).unwrap_or_else(|| derive(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TEST: RefCell<Recent> = const { RefCell::new(Recent::new()) };
    }

    fn arc(value: &StringValue) -> *const u8 {
        value.as_str().as_ptr()
    }

    #[test]
    fn repeats_share_one_copy_and_old_values_leave() {
        let a = shared(&TEST, "api.example.com");
        let b = shared(&TEST, "api.example.com");
        assert_eq!(a.as_str(), "api.example.com");
        assert_eq!(arc(&a), arc(&b), "a repeat shares the kept copy");
        for other in ["a", "b", "c", "d"] {
            assert_eq!(shared(&TEST, other).as_str(), other);
        }
        // Four newer values pushed the first one out: a fresh copy, equal in content.
        let c = shared(&TEST, "api.example.com");
        assert_eq!(c.as_str(), "api.example.com");
        assert_ne!(arc(&a), arc(&c));
        let long = "x".repeat(MAX_KEPT + 1);
        let l1 = shared(&TEST, &long);
        let l2 = shared(&TEST, &long);
        assert_eq!(l1.as_str(), long);
        assert_ne!(arc(&l1), arc(&l2), "long values are copied, not kept");
    }

    thread_local! {
        static LENGTHS: RefCell<Recent<usize>> = const { RefCell::new(Recent::new()) };
    }

    #[test]
    fn derived_values_are_computed_once_per_kept_value() {
        let calls = std::cell::Cell::new(0);
        let len = |s: &str| {
            calls.set(calls.get() + 1);
            s.len()
        };
        assert_eq!(derived(&LENGTHS, "abc", len), 3);
        assert_eq!(derived(&LENGTHS, "abc", len), 3);
        assert_eq!(calls.get(), 1);
        assert_eq!(derived(&LENGTHS, "abcd", len), 4);
        assert_eq!(calls.get(), 2);
        let long = "y".repeat(MAX_KEPT + 1);
        assert_eq!(derived(&LENGTHS, &long, len), MAX_KEPT + 1);
        assert_eq!(derived(&LENGTHS, &long, len), MAX_KEPT + 1);
        assert_eq!(calls.get(), 4, "long values are derived each time");
    }
}
