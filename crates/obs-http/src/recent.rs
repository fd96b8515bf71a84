//! [`Recent`]: the attribute strings a thread saw last, shared instead of copied.
//!
//! A sampled span keeps its attribute strings until the export thread drops them, so each copy is
//! allocated on the request's thread and freed on another: malloc's per-thread cache never gets
//! the block back, and every such allocation takes malloc's slow path. Values like the `Host`
//! header or a client's `User-Agent` repeat from request to request; a thread keeps the last few
//! as `Arc<str>`, and a repeat costs a reference count instead of an allocation.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;

use opentelemetry::StringValue;

/// How many values each cache keeps, per thread.
const SLOTS: usize = 4;

/// Longer values are copied, not kept: the caches stay small.
const MAX_KEPT: usize = 256;

/// The last [`SLOTS`] values of one attribute seen on this thread.
pub(crate) struct Recent {
    slots: [Option<Arc<str>>; SLOTS],
    /// The slot the next new value replaces.
    next: usize,
}

impl Recent {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [None, None, None, None],
            next: 0,
        }
    }

    /// `value`, shared with the cached copy when this thread saw it lately.
    fn get(&mut self, value: &str) -> Arc<str> {
        if let Some(kept) = self.slots.iter().flatten().find(|k| k.as_ref() == value) {
            return kept.clone();
        }
        let kept: Arc<str> = Arc::from(value);
        self.slots[self.next] = Some(kept.clone());
        self.next = (self.next + 1) % SLOTS;
        kept
    }
}

/// `value` as an attribute value, shared through `cache` when short enough to keep.
pub(crate) fn shared(cache: &'static LocalKey<RefCell<Recent>>, value: &str) -> StringValue {
    if value.len() > MAX_KEPT {
        return StringValue::from(value.to_owned());
    }
    // A thread being torn down, or a re-entrant use, gets a copy: never a panic.
    cache
        .try_with(|recent| {
            recent
                .try_borrow_mut()
                .ok()
                .map(|mut recent| StringValue::from(recent.get(value)))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| StringValue::from(value.to_owned()))
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
}
