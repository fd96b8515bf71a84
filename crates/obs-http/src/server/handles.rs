//! Metric handles resolved once per (method, route) and reused by every request on that route.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use axum::extract::MatchedPath;

use hashbrown::{Equivalent, HashMap, HashSet};
use metrics::{Counter, Gauge, Histogram};
use obs_core::metrics::{CounterVec, GaugeVec, HistogramVec};

use crate::catalog;

static REQUESTS: CounterVec = CounterVec::new(&catalog::HTTP_REQUESTS);
static ERRORS: CounterVec = CounterVec::new(&catalog::HTTP_ERRORS);
static LATENCY: HistogramVec = HistogramVec::new(&catalog::HTTP_REQUEST_LATENCY);
static IN_FLIGHT: GaugeVec = GaugeVec::new(&catalog::HTTP_REQUESTS_IN_FLIGHT);
static REQUEST_SIZE: HistogramVec = HistogramVec::new(&catalog::HTTP_REQUEST_SIZE);
static RESPONSE_SIZE: HistogramVec = HistogramVec::new(&catalog::HTTP_RESPONSE_SIZE);

/// The status classes, indexed by `status / 100 - 1`.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The handles of one (method, route).
pub(crate) struct RouteHandles {
    method: &'static str,
    /// The span name `{METHOD} {route}`, interned: shared by every layer that sees the route.
    span_name: SpanName,
    route: Arc<str>,
    pub(crate) latency: Histogram,
    pub(crate) request_size: Histogram,
    pub(crate) response_size: Histogram,
    requests: [OnceLock<Counter>; 5],
    errors: RwLock<HashMap<u16, Counter>>,
}

impl RouteHandles {
    fn new(method: &'static str, route: Arc<str>) -> Self {
        let span_name = if route.as_ref() == super::UNMATCHED {
            super::attributes::span_name(method, None)
        } else {
            super::attributes::span_name(method, Some(&route))
        };
        Self {
            method,
            span_name: SpanName::intern(span_name),
            latency: LATENCY.with(&[&route]),
            request_size: REQUEST_SIZE.with(&[&route]),
            response_size: RESPONSE_SIZE.with(&[&route]),
            requests: Default::default(),
            errors: RwLock::new(HashMap::new()),
            route,
        }
    }

    /// The span name `{METHOD} {route}`; it allocates only past the intern table's bound.
    pub(crate) fn span_name(&self) -> Cow<'static, str> {
        match &self.span_name {
            SpanName::Interned(name) => Cow::Borrowed(name),
            SpanName::Owned(name) => Cow::Owned(String::from(&**name)),
        }
    }

    /// The route label, shared (also the `http.route` attribute).
    pub(crate) fn route(&self) -> &Arc<str> {
        &self.route
    }

    /// Counts one response with `status`.
    pub(crate) fn count(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class]
            .get_or_init(|| REQUESTS.with(&[self.method, &self.route, CLASSES[class]]))
            .increment(1);
        if status >= 400 {
            self.error_counter(status).increment(1);
        }
    }

    fn error_counter(&self, status: u16) -> Counter {
        if let Some(c) = self
            .errors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&status)
        {
            return c.clone();
        }
        let mut errors = self.errors.write().unwrap_or_else(PoisonError::into_inner);
        errors
            .entry(status)
            .or_insert_with(|| {
                let mut buf = itoa::Buffer::new();
                ERRORS.with(&[&self.route, buf.format(status)])
            })
            .clone()
    }
}

/// How many distinct span names are interned (kept for the life of the process). Names are
/// `{METHOD} {route template}`, a small set for a real router; an extractor that returns raw paths
/// instead of templates stops here, and its further names are allocated per span instead.
const MAX_INTERNED: usize = 4_096;

/// A span name: interned (spans need `'static` names to avoid a copy per request), or owned
/// past [`MAX_INTERNED`].
enum SpanName {
    Interned(&'static str),
    Owned(Arc<str>),
}

static INTERNED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

impl SpanName {
    /// The interned copy of `name`: leaked once per distinct name in the process, never per layer
    /// or per request, so building any number of layers does not grow memory.
    fn intern(name: String) -> Self {
        let mut names = INTERNED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(interned) = names.get(name.as_str()) {
            return Self::Interned(interned);
        }
        if names.len() >= MAX_INTERNED {
            return Self::Owned(Arc::from(name));
        }
        let interned: &'static str = Box::leak(name.into_boxed_str());
        names.insert(interned);
        Self::Interned(interned)
    }
}

/// How many span names are interned.
#[cfg(test)]
fn interned_count() -> usize {
    INTERNED.get().map_or(0, |n| {
        n.lock().unwrap_or_else(PoisonError::into_inner).len()
    })
}

#[derive(PartialEq, Eq, Hash)]
struct Key {
    method: &'static str,
    route: Arc<str>,
}

struct KeyRef<'a> {
    method: &'static str,
    route: &'a str,
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly as `Key` does: `&'static str` then `Arc<str>` (hashed as `str`).
        self.method.hash(state);
        self.route.hash(state);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.method == key.method && self.route == &*key.route
    }
}

/// How many (method, route) pairs one layer keeps handles for. A router's templates are far
/// fewer; the bound only matters for a route extractor that returns raw paths.
const MAX_ROUTES: usize = 1_024;

/// The per-layer cache. Routes are templates and methods are normalized, so it stays small.
#[derive(Default)]
pub(crate) struct HandleCache {
    routes: RwLock<HashMap<Key, Arc<RouteHandles>>>,
    in_flight: OnceLock<Gauge>,
}

impl HandleCache {
    pub(crate) fn get(&self, method: &'static str, route: &str) -> Arc<RouteHandles> {
        let query = KeyRef { method, route };
        if let Some(h) = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&query)
        {
            return h.clone();
        }
        let route: Arc<str> = Arc::from(route);
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        if routes.len() >= MAX_ROUTES {
            // An extractor that returns raw paths: resolved per request, never kept.
            return Arc::new(RouteHandles::new(method, route));
        }
        routes
            .entry(Key {
                method,
                route: route.clone(),
            })
            .or_insert_with(|| Arc::new(RouteHandles::new(method, route)))
            .clone()
    }

    pub(crate) fn in_flight(&self) -> &Gauge {
        self.in_flight.get_or_init(|| IN_FLIGHT.with(&[]))
    }
}

pub(crate) use crate::method::label as method_label;

/// The (method, route) one wrapped service saw first, with its handles.
///
/// `Router::layer` wraps each route's endpoint in a service of its own, so nearly every request a
/// service sees has the same (method, route): this slot answers those without the shared cache's
/// lock, hash or reference count. The route is compared by the address of axum's shared
/// `MatchedPath` string, which the slot keeps alive, so an address is never reused while kept.
pub(crate) struct RouteSlot {
    first: OnceLock<Slot>,
}

struct Slot {
    method: &'static str,
    route: Option<MatchedPath>,
    handles: Arc<RouteHandles>,
}

/// A request's handles: the service's slot, or its own from the shared cache.
pub(crate) enum Resolved {
    Slot,
    Owned(Arc<RouteHandles>),
}

impl RouteSlot {
    pub(crate) fn new() -> Self {
        Self {
            first: OnceLock::new(),
        }
    }

    /// The handles of (`method`, `route`), filling the slot on first use.
    pub(crate) fn resolve(
        &self,
        cache: &HandleCache,
        method: &'static str,
        route: Option<&MatchedPath>,
    ) -> Resolved {
        let same = |slot: &Slot| {
            slot.method == method
                && match (&slot.route, route) {
                    (None, None) => true,
                    (Some(a), Some(b)) => std::ptr::eq(a.as_str(), b.as_str()),
                    _ => false,
                }
        };
        let lookup = || cache.get(method, route.map_or(super::UNMATCHED, MatchedPath::as_str));
        if let Some(slot) = self.first.get() {
            if same(slot) {
                return Resolved::Slot;
            }
        } else {
            let handles = lookup();
            let slot = Slot {
                method,
                route: route.cloned(),
                handles: handles.clone(),
            };
            // Another request may have filled it first; then it is that one's.
            if self.first.set(slot).is_ok() {
                return Resolved::Slot;
            }
            return Resolved::Owned(handles);
        }
        Resolved::Owned(lookup())
    }

    /// The handles `resolved` names.
    pub(crate) fn handles<'a>(&'a self, resolved: &'a Resolved) -> Option<&'a RouteHandles> {
        match resolved {
            Resolved::Slot => self.first.get().map(|slot| &*slot.handles),
            Resolved::Owned(handles) => Some(handles),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_key_ref_hash_alike() {
        use std::hash::BuildHasher;
        let s = hashbrown::DefaultHashBuilder::default();
        let key = Key {
            method: "GET",
            route: Arc::from("/a/{id}"),
        };
        let query = KeyRef {
            method: "GET",
            route: "/a/{id}",
        };
        assert_eq!(s.hash_one(&key), s.hash_one(&query));
        let cache = HandleCache::default();
        let a = cache.get("GET", "/a/{id}");
        let b = cache.get("GET", "/a/{id}");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &cache.get("POST", "/a/{id}")));
        assert_eq!(
            method_label(&http::Method::from_bytes(b"BREW").unwrap()),
            "_OTHER"
        );
    }

    #[test]
    fn span_names_are_interned_not_leaked_per_layer() {
        let first = HandleCache::default().get("GET", "/interned/{id}");
        let before = interned_count();
        // Every layer has a cache of its own: 10,000 layers seeing the same routes share names.
        for _ in 0..10_000 {
            let cache = HandleCache::default();
            let handles = cache.get("GET", "/interned/{id}");
            let (Cow::Borrowed(a), Cow::Borrowed(b)) = (handles.span_name(), first.span_name())
            else {
                panic!("interned names are borrowed");
            };
            assert!(std::ptr::eq(a, b), "one copy of the name");
            cache.get("POST", "/interned/{id}");
        }
        assert_eq!(first.span_name(), "GET /interned/{id}");
        // The one new name (`POST ...`), and at most the two another test of this file interns
        // meanwhile: no growth with the number of layers.
        assert!(interned_count() <= before + 3, "{}", interned_count());

        // Raw paths from a route extractor: the cache and the intern table stay bounded.
        let bounded = HandleCache::default();
        for i in 0..MAX_ROUTES + 10 {
            bounded.get("GET", &format!("/raw/{i}"));
        }
        assert_eq!(bounded.routes.read().unwrap().len(), MAX_ROUTES);
        assert!(interned_count() <= MAX_INTERNED);
    }
}
