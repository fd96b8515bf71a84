//! The statement cache: an application runs the same few hundred statements over and over, so
//! each text is analyzed once.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use super::{Analysis, analyze};

/// The most statements the cache holds; when it is full it starts over empty.
pub const CACHE_CAPACITY: usize = 512;

/// Statements longer than this (in bytes) are analyzed every time and never cached, so that
/// generated statements (long `VALUES` lists) cannot fill memory. With both bounds the cache
/// holds at most about `CACHE_CAPACITY × 2 × CACHE_MAX_STATEMENT` bytes of text (4 MiB).
pub const CACHE_MAX_STATEMENT: usize = 4 * 1024;

type Cache = RwLock<HashMap<Box<str>, Arc<Analysis>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::with_capacity(CACHE_CAPACITY)))
}

/// [`analyze`](super::analyze) through the process-wide cache.
///
/// ```
/// use std::sync::Arc;
/// let a = obs_db::sql::analyze_cached("SELECT 1");
/// let b = obs_db::sql::analyze_cached("SELECT 1");
/// assert!(Arc::ptr_eq(&a, &b));
/// ```
pub fn analyze_cached(sql: &str) -> Arc<Analysis> {
    if sql.len() > CACHE_MAX_STATEMENT {
        return Arc::new(analyze(sql));
    }
    if let Some(hit) = cache()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(sql)
    {
        return hit.clone();
    }
    let analysis = Arc::new(analyze(sql));
    let mut map = cache().write().unwrap_or_else(PoisonError::into_inner);
    if map.len() >= CACHE_CAPACITY {
        map.clear();
    }
    map.insert(sql.into(), analysis.clone());
    analysis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_statements_are_not_cached() {
        let long = format!("SELECT '{}'", "x".repeat(CACHE_MAX_STATEMENT));
        let a = analyze_cached(&long);
        let b = analyze_cached(&long);
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(a.text(), "SELECT ?");
    }

    #[test]
    fn the_cache_stays_bounded() {
        for i in 0..CACHE_CAPACITY + 10 {
            analyze_cached(&format!("SELECT c{i} FROM t"));
        }
        assert!(cache().read().unwrap().len() <= CACHE_CAPACITY);
    }
}
