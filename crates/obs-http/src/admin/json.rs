//! `/metrics/json`: the recorder's snapshot (the data `/metrics` renders) as one JSON object.

use std::time::{SystemTime, UNIX_EPOCH};

use obs_core::metrics::{SeriesValue, Snapshot};
use serde_json::{Map, Value, json};

/// `{"timestamp", "counters", "gauges", "histograms"}` for `snapshot`, taken at `now`.
pub(crate) fn to_json(snapshot: &Snapshot, now: SystemTime) -> Value {
    let (mut counters, mut gauges, mut histograms) = (Map::new(), Map::new(), Map::new());
    for family in &snapshot.families {
        for series in &family.series {
            let key = key(&family.name, &series.labels);
            match &series.value {
                SeriesValue::Counter(v) => {
                    counters.insert(key, Value::from(*v));
                }
                SeriesValue::Gauge(v) => {
                    gauges.insert(key, number(*v));
                }
                SeriesValue::Histogram(h) => {
                    let mut buckets: Map<String, Value> = h
                        .buckets
                        .iter()
                        .map(|(le, n)| (le.to_string(), Value::from(*n)))
                        .collect();
                    buckets.insert("+Inf".to_owned(), Value::from(h.count));
                    let value = json!({"count": h.count, "sum": number(h.sum), "buckets": buckets});
                    histograms.insert(key, value);
                }
                _ => {}
            }
        }
    }
    json!({
        "timestamp": rfc3339(now),
        "counters": counters,
        "gauges": gauges,
        "histograms": histograms,
    })
}

/// `name`, or `name|k=v,k2=v2` with the labels in their order.
fn key(name: &str, labels: &[(String, String)]) -> String {
    let mut key = name.to_owned();
    for (i, (k, v)) in labels.iter().enumerate() {
        key.push(if i == 0 { '|' } else { ',' });
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

/// Whole values as integers (counts stay `3`, not `3.0`); infinities and NaN, which JSON cannot
/// carry, as `null`.
fn number(v: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: larger integers lose precision anyway.
    if v.fract() == 0.0 && v.abs() <= EXACT {
        Value::from(v as i64)
    } else {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

/// `2024-05-06T07:08:09.123Z`: UTC with milliseconds.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let at = |secs: u64, ms: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn snapshot_as_json() {
        let recorder = obs_core::metrics::ObsRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("json_c_total", "a" => "1").increment(3);
            metrics::gauge!("json_g").set(0.5);
            metrics::gauge!("json_inf").set(f64::INFINITY);
            metrics::histogram!("json_h").record(0.5);
            metrics::histogram!("json_h").record(2.0);
        });
        let value = to_json(&recorder.handle().snapshot(), UNIX_EPOCH);
        let buckets: Map<String, Value> = obs_core::catalog::LATENCY_MS_BUCKETS
            .iter()
            .map(|b| (b.to_string(), json!(if *b < 2.0 { 1 } else { 2 })))
            .chain([("+Inf".to_owned(), json!(2))])
            .collect();
        assert_eq!(
            value,
            json!({
                "timestamp": "1970-01-01T00:00:00.000Z",
                "counters": {"json_c_total|a=1": 3},
                "gauges": {"json_g": 0.5, "json_inf": null},
                "histograms": {"json_h": {"count": 2, "sum": 2.5, "buckets": buckets}},
            })
        );
    }
}
