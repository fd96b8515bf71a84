//! Low-cardinality label values of outgoing requests, and the duration handles cached per server.
//!
//! A request's method and status class are small indexes; the server is looked up by `&str` in a
//! bounded map. Once a (method, server, class) handle is resolved it is reused, so the steady state
//! builds no label `String` and takes no write lock.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use http::Method;
use metrics::Histogram;
use obs_core::metrics::HistogramVec;

use crate::catalog::HTTP_CLIENT_DURATION;

static DURATION: HistogramVec = HistogramVec::new(&HTTP_CLIENT_DURATION);

/// How many servers keep cached handles. Past it, a new server's handles are resolved per request
/// (the family's own bound still folds its series), so memory cannot grow without bound.
const MAX_CACHED_SERVERS: usize = 1_000;

use crate::method::METHODS;

/// The `code_class` values: a status class, `error` when the call failed, `other` for a status
/// outside 100..=599.
const CLASSES: [&str; 7] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error", "other"];

/// The class index of a failed call.
pub(crate) const ERROR_CLASS: usize = 5;

/// The semconv name of a method and its index: a known method's own name, or `_OTHER`.
pub(crate) fn method(method: &Method) -> (usize, &'static str) {
    let index = crate::method::index(method);
    (index, METHODS[index])
}

/// The class index of a status code.
pub(crate) fn status_class(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100) - 1,
        _ => CLASSES.len() - 1,
    }
}

/// The duration handles of one server, resolved on first use.
pub(crate) struct ServerHandles {
    name: Arc<str>,
    slots: [OnceLock<Histogram>; METHODS.len() * CLASSES.len()],
}

impl ServerHandles {
    fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The server's name, shared with span attributes without a copy.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Records one call's duration under (method, this server, class).
    pub(crate) fn record(&self, method: usize, class: usize, millis: f64) {
        let (method, class) = (method.min(METHODS.len() - 1), class.min(CLASSES.len() - 1));
        self.slots[method * CLASSES.len() + class]
            .get_or_init(|| DURATION.with(&[METHODS[method], &self.name, CLASSES[class]]))
            .record(millis);
    }
}

type Cache = RwLock<HashMap<Box<str>, Arc<ServerHandles>>>;

static CACHE: OnceLock<Cache> = OnceLock::new();

/// The handles of `server`; a read-locked lookup by `&str` once the server has been seen.
pub(crate) fn server(server: &str) -> Arc<ServerHandles> {
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(handles) = cache
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(server)
    {
        return Arc::clone(handles);
    }
    let mut map = cache.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(handles) = map.get(server) {
        return Arc::clone(handles);
    }
    let handles = Arc::new(ServerHandles::new(server));
    if map.len() < MAX_CACHED_SERVERS {
        map.insert(Box::from(server), Arc::clone(&handles));
    }
    handles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_table() {
        let cases = [
            (Method::GET, "GET"),
            (Method::POST, "POST"),
            (Method::PATCH, "PATCH"),
            (Method::from_bytes(b"PURGE").unwrap(), "_OTHER"),
            (Method::from_bytes(b"get").unwrap(), "_OTHER"),
        ];
        for (m, expected) in cases {
            assert_eq!(method(&m).1, expected, "{m}");
        }
    }

    #[test]
    fn classes_table() {
        let cases = [
            (100, "1xx"),
            (200, "2xx"),
            (204, "2xx"),
            (301, "3xx"),
            (404, "4xx"),
            (599, "5xx"),
            (600, "other"),
            (999, "other"),
        ];
        for (status, expected) in cases {
            assert_eq!(CLASSES[status_class(status)], expected, "{status}");
        }
        assert_eq!(CLASSES[ERROR_CLASS], "error");
    }

    #[test]
    fn servers_are_cached_and_bounded() {
        let a = server("cache-test.example");
        let b = server("cache-test.example");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&**a.name(), "cache-test.example");
        for i in 0..MAX_CACHED_SERVERS + 10 {
            server(&format!("bound-{i}.example")).record(0, 1, 1.0);
        }
        let len = CACHE.get().unwrap().read().unwrap().len();
        assert!(len <= MAX_CACHED_SERVERS, "{len}");
    }
}
