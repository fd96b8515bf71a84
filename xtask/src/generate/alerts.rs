//! The alert model, the alerts of the design documents on our metric names, `alerts.yml`, and a
//! promtool unit test per alert: a series that fires it and one that leaves it silent.

use std::fmt::Write as _;

use super::yaml::{self, Y, m, raw, s};
use super::{Catalog, DEMO, RUNBOOK_URL};

/// One alerting rule, with what it covers, its runbook section and its unit test.
pub(crate) struct Alert {
    pub(crate) name: &'static str,
    pub(crate) expr: String,
    pub(crate) for_: &'static str,
    /// `critical` pages, `warning` goes to chat (see `alertmanager.yml`).
    pub(crate) severity: &'static str,
    /// May use `{{ $labels.x }}` for labels the expression keeps; no `$value`, so that the unit
    /// tests can state the exact annotations.
    pub(crate) summary: &'static str,
    pub(crate) description: &'static str,
    /// The requirement of the issue or design document the alert covers.
    pub(crate) covers: &'static str,
    pub(crate) runbook: Runbook,
    pub(crate) test: Test,
}

/// The runbook section of an alert.
pub(crate) struct Runbook {
    pub(crate) symptoms: &'static str,
    pub(crate) queries: Vec<String>,
    pub(crate) causes: &'static [&'static str],
    pub(crate) actions: &'static [&'static str],
}

/// A promtool unit test: `fire` series make the alert fire with `labels` at `eval`; `silent`
/// series are the same metrics at healthy values and fire nothing.
pub(crate) struct Test {
    pub(crate) eval: &'static str,
    pub(crate) fire: Vec<Series>,
    pub(crate) silent: Vec<Series>,
    pub(crate) labels: Labels,
    /// More firing cases, each with the labels the alert then carries.
    pub(crate) more: Vec<(Vec<Series>, Labels)>,
}

/// Label pairs an alert carries.
pub(crate) type Labels = Vec<(&'static str, &'static str)>;

/// One input series of a unit test, one sample a minute.
pub(crate) struct Series {
    pub(crate) series: String,
    pub(crate) values: String,
}

/// Samples in a test series (minutes).
const SAMPLES: u32 = 240;

/// A counter growing by `per_min` a minute.
pub(crate) fn counter(series: &str, per_min: f64) -> Vec<Series> {
    vec![Series {
        series: series.to_owned(),
        values: format!("0+{per_min}x{SAMPLES}"),
    }]
}

/// A gauge holding `value`.
pub(crate) fn gauge(series: &str, value: f64) -> Vec<Series> {
    vec![Series {
        series: series.to_owned(),
        values: format!("{value}+0x{SAMPLES}"),
    }]
}

/// The bucket, count and sum series of a histogram observing `per_min` values of `value` a
/// minute, with the buckets the catalog declares for it.
pub(crate) fn histogram(
    catalog: &Catalog,
    name: &str,
    labels: &str,
    value: f64,
    per_min: f64,
) -> Vec<Series> {
    let def = catalog.histogram(name);
    let sep = if labels.is_empty() { "" } else { "," };
    let mut out = Vec::new();
    let bounds = def
        .buckets
        .iter()
        .map(|b| b.to_string())
        .chain(["+Inf".to_owned()]);
    for (b, le) in def.buckets.iter().map(Some).chain([None]).zip(bounds) {
        let n = if b.is_none_or(|b| value <= *b) {
            per_min
        } else {
            0.0
        };
        out.push(Series {
            series: format!("{name}_bucket{{{labels}{sep}le=\"{le}\"}}"),
            values: format!("0+{n}x{SAMPLES}"),
        });
    }
    out.extend(counter(&format!("{name}_count{{{labels}}}"), per_min));
    out.extend(counter(&format!("{name}_sum{{{labels}}}"), value * per_min));
    out
}

fn cat(parts: Vec<Vec<Series>>) -> Vec<Series> {
    parts.into_iter().flatten().collect()
}

fn p95(metric: &str, by: &str) -> String {
    let sep = if by.is_empty() { "" } else { ", " };
    format!("histogram_quantile(0.95, sum by (le{sep}{by}) (rate({metric}_bucket[5m])))")
}

impl Alert {
    /// The runbook anchor: the heading lowercased, as GitHub renders it.
    pub(crate) fn anchor(&self) -> String {
        self.name.to_lowercase()
    }

    /// The unit test's file name (without extension).
    pub(crate) fn file_stem(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    fn annotations(&self, labels: Option<&[(&str, &str)]>) -> Y {
        let render = |t: &str| match labels {
            None => t.to_owned(),
            Some(labels) => labels.iter().fold(t.to_owned(), |acc, (k, v)| {
                acc.replace(&format!("{{{{ $labels.{k} }}}}"), v)
            }),
        };
        m([
            ("summary", s(render(self.summary))),
            ("description", s(render(self.description))),
            ("runbook_url", s(format!("{RUNBOOK_URL}#{}", self.anchor()))),
        ])
    }

    /// The rule as it goes into a rule group.
    pub(crate) fn rule(&self) -> Y {
        m([
            ("alert", raw(self.name)),
            ("expr", s(&self.expr)),
            ("for", raw(self.for_)),
            ("labels", m([("severity", raw(self.severity))])),
            ("annotations", self.annotations(None)),
        ])
    }
}

/// `alerts.yml`.
pub(crate) fn rules(alerts: &[Alert]) -> String {
    let rules = Y::L(alerts.iter().map(Alert::rule).collect());
    yaml::document(&m([(
        "groups",
        Y::L(vec![m([("name", s("obs")), ("rules", rules)])]),
    )]))
}

fn input(series: &[Series]) -> Y {
    Y::L(
        series
            .iter()
            .map(|x| m([("series", s(&x.series)), ("values", s(&x.values))]))
            .collect(),
    )
}

/// The promtool unit test of `alert`, loading the rules at `rule_file` (relative to the test).
pub(crate) fn unit_test(alert: &Alert, rule_file: &str) -> String {
    let case = |name: String, series: &[Series], fires: Option<&[(&str, &str)]>| {
        let exp = match fires {
            Some(extra) => {
                let mut labels: Vec<(&str, &str)> = vec![("severity", alert.severity)];
                labels.extend(extra.iter().copied());
                let exp_labels = Y::M(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), s(*v)))
                        .collect(),
                );
                Y::L(vec![m([
                    ("exp_labels", exp_labels),
                    ("exp_annotations", alert.annotations(Some(&labels))),
                ])])
            }
            None => Y::L(vec![]),
        };
        m([
            ("name", s(name)),
            ("interval", raw("1m")),
            ("input_series", input(series)),
            (
                "alert_rule_test",
                Y::L(vec![m([
                    ("eval_time", raw(alert.test.eval)),
                    ("alertname", raw(alert.name)),
                    ("exp_alerts", exp),
                ])]),
            ),
        ])
    };
    let mut cases = vec![case(
        format!("{} fires", alert.name),
        &alert.test.fire,
        Some(&alert.test.labels),
    )];
    for (i, (series, labels)) in alert.test.more.iter().enumerate() {
        cases.push(case(
            format!("{} fires (case {})", alert.name, i + 2),
            series,
            Some(labels),
        ));
    }
    cases.push(case(
        format!("{} stays silent", alert.name),
        &alert.test.silent,
        None,
    ));
    yaml::document(&m([
        ("rule_files", yaml::strs(&[rule_file])),
        ("evaluation_interval", raw("1m")),
        ("tests", Y::L(cases)),
    ]))
}

/// A PromQL query for the runbook, as a fenced block line.
fn q(expr: &str) -> String {
    expr.to_owned()
}

/// The alerts, in the order of the list; the demo's alerts once its catalog is included.
pub(crate) fn alerts(catalog: &Catalog) -> Vec<Alert> {
    let mut out = vec![
        Alert {
            name: "HighSignalingLatency",
            expr: format!("{} > 500", p95("signaling_latency_ms", "")),
            for_: "5m",
            severity: "critical",
            summary: "Signaling relay p95 latency above 500 ms",
            description: "The 95th percentile of the time the signaling server takes to relay a message has been above 500 ms for 5 minutes (SLO: p95 under 200 ms). Calls take longer to set up.",
            covers: "issue 17 \"high signaling latency (p95)\"; design 002 §C HighSignalingLatency and §E (p95 < 200 ms, alert > 500 ms for 5m)",
            runbook: Runbook {
                symptoms: "Calls take seconds to connect; the WebRTC dashboard's signaling p95 is above 500 ms.",
                queries: vec![q("histogram_quantile(0.95, sum by (le, type) (rate(signaling_latency_ms_bucket[5m])))"), q("sum by (type) (rate(signaling_latency_ms_count[5m]))"), q("max by (instance) (proc_memory_rss_mb)")],
                causes: &["The process is CPU-starved (event loop lag rises with it: `event_loop_lag_ms`).", "A slow Redis or database call on the relay path (Redis and Database dashboards).", "A burst of messages (many joins at once) queuing behind one another."],
                actions: &["Check CPU and `event_loop_lag_ms`; scale out replicas if the runtime is saturated.", "Check `redis_operation_duration_ms` p95; if Redis is slow, see LowCacheHitRate and Redis latency (`redis-cli --latency`).", "Open a slow `signaling.relay` trace in Jaeger to see which child span takes the time."],
            },
            test: Test {
                eval: "30m",
                fire: histogram(catalog, "signaling_latency_ms", "type=\"offer\"", 800.0, 60.0),
                silent: histogram(catalog, "signaling_latency_ms", "type=\"offer\"", 40.0, 60.0),
                labels: vec![],
                more: vec![],
            },
        },
        Alert {
            name: "LowIceSuccessRate",
            expr: "sum(rate(ice_connected_total[5m])) / sum(rate(ice_attempted_total[5m])) < 0.90".into(),
            for_: "5m",
            severity: "warning",
            summary: "ICE success rate below 90 %",
            description: "Fewer than 90 % of the peer connections that started ICE checks reached the connected state over 5 minutes (SLO: at least 95 %).",
            covers: "issue 17 \"low ICE success rate\"; design 002 §C LowICESuccessRate and §E (≥ 95 %, alert < 90 % for 5m)",
            runbook: Runbook {
                symptoms: "Users see calls that never connect or drop during setup; `ice_failed_total` rises.",
                queries: vec![q("sum(rate(ice_connected_total[5m])) / sum(rate(ice_attempted_total[5m]))"), q("sum by (candidate_type, direction) (rate(webrtc_ice_candidates_total[5m]))"), q("sum by (type) (rate(errors_total[5m]))")],
                causes: &["The TURN server is down or its credentials expired, so peers behind symmetric NATs cannot relay.", "A firewall change blocks UDP 3478 or TCP 5349.", "Clients no longer gather srflx/relay candidates (STUN/TURN URLs misconfigured)."],
                actions: &["Check the TURN server (`up` of its job, its logs) and restart it if down.", "Check credential rotation timestamps; redeploy with fresh secrets if expired.", "Compare candidate types: no `relay` candidates at all points at TURN configuration."],
            },
            test: Test {
                eval: "30m",
                fire: cat(vec![counter("ice_attempted_total", 10.0), counter("ice_connected_total", 8.0)]),
                silent: cat(vec![counter("ice_attempted_total", 10.0), counter("ice_connected_total", 10.0)]),
                labels: vec![],
                more: vec![],
            },
        },
        Alert {
            name: "HighFlowLatency",
            expr: format!("{} > 5000", p95("flow_duration_ms", "flow")),
            for_: "10m",
            severity: "warning",
            summary: "User flow {{ $labels.flow }} p95 above 5 s",
            description: "The 95th percentile duration of the {{ $labels.flow }} user flow has been above 5 seconds for 10 minutes.",
            covers: "issue 17 \"high matching/flow latency\" (flows); design 002 §C HighMatchingLatency threshold (p95 > 5 s)",
            runbook: Runbook {
                symptoms: "A user flow (room creation, recording, authentication) takes seconds; the Flows and jobs dashboard shows its p95 above 5 s.",
                queries: vec![q("histogram_quantile(0.95, sum by (le, flow, step) (rate(flow_step_duration_ms_bucket[5m])))"), q("sum by (flow, step, error_type) (rate(flow_failures_total[5m]))"), q("histogram_quantile(0.95, sum by (le, service, op) (rate(external_call_latency_ms_bucket[5m])))")],
                causes: &["One step of the flow is slow: find it with the per-step p95.", "An external service the flow calls is slow or timing out (circuit breaker half-open).", "Database or Redis latency (their dashboards)."],
                actions: &["Find the slow step, then open a slow trace of the flow in Jaeger (the flow id is in baggage).", "If an external service is slow, check `circuit_breaker_state` and the provider's status.", "Scale out if the whole process is saturated (`event_loop_lag_ms`)."],
            },
            test: Test {
                eval: "40m",
                fire: histogram(catalog, "flow_duration_ms", "flow=\"create_room\",outcome=\"success\"", 8000.0, 30.0),
                silent: histogram(catalog, "flow_duration_ms", "flow=\"create_room\",outcome=\"success\"", 200.0, 30.0),
                labels: vec![("flow", "create_room")],
                more: vec![],
            },
        },
        Alert {
            name: "HighHttpErrorRate",
            expr: "sum(rate(http_requests_total{code_class=\"5xx\"}[5m])) / sum(rate(http_requests_total[5m])) > 0.01".into(),
            for_: "5m",
            severity: "warning",
            summary: "More than 1 % of HTTP requests fail with 5xx",
            description: "Server errors have been above 1 % of all HTTP requests for 5 minutes (SLO: availability 99.9 %, error rate under 0.1 %).",
            covers: "issue 17 \"high HTTP error rate\"; design 002 §C HighErrorRate and §E (error rate < 0.1 %, alert > 1 % for 5m)",
            runbook: Runbook {
                symptoms: "Clients get 500/502/503 responses; the HTTP dashboard's error ratio is above 1 %.",
                queries: vec![q("sum by (route, code) (rate(http_errors_total{code=~\"5..\"}[5m]))"), q("sum by (route) (rate(http_requests_total{code_class=\"5xx\"}[5m])) / sum by (route) (rate(http_requests_total[5m]))"), q("sum by (operation, table, status) (rate(db_queries_total{status!=\"ok\"}[5m]))")],
                causes: &["A dependency fails (database, Redis, an external service): its errors show on its dashboard.", "A bad deploy: errors start at the deploy time on one route.", "Panics in handlers (answered 500 by obs-http; the log line carries the trace id)."],
                actions: &["Find the routes and codes with the first query; open an error trace from the logs' trace_id in Jaeger.", "Roll back a deploy that coincides with the start.", "If a dependency is down, follow its alert's section (DatabasePoolNearExhaustion, ...)."],
            },
            test: Test {
                eval: "30m",
                fire: cat(vec![counter("http_requests_total{method=\"GET\",route=\"/api/rooms\",code_class=\"2xx\"}", 100.0), counter("http_requests_total{method=\"GET\",route=\"/api/rooms\",code_class=\"5xx\"}", 5.0)]),
                silent: cat(vec![counter("http_requests_total{method=\"GET\",route=\"/api/rooms\",code_class=\"2xx\"}", 100.0), counter("http_requests_total{method=\"GET\",route=\"/api/rooms\",code_class=\"5xx\"}", 0.0)]),
                labels: vec![],
                more: vec![],
            },
        },
        Alert {
            name: "HighHttpLatency",
            expr: format!("{} > 500", p95("http_request_latency_ms", "route")),
            for_: "10m",
            severity: "warning",
            summary: "HTTP p95 latency of {{ $labels.route }} above 500 ms",
            description: "The 95th percentile latency of {{ $labels.route }} has been above 500 ms for 10 minutes.",
            covers: "issue 17 \"high HTTP p95 latency\" (threshold: the design's 500 ms latency alert level, applied to HTTP)",
            runbook: Runbook {
                symptoms: "Slow pages and API calls on one route; the HTTP dashboard's p95 by route is above 500 ms.",
                queries: vec![q("histogram_quantile(0.95, sum by (le, route) (rate(http_request_latency_ms_bucket[5m])))"), q("http_requests_in_flight"), q("histogram_quantile(0.95, sum by (le, operation, table) (rate(db_query_duration_ms_bucket[5m])))")],
                causes: &["Slow queries behind the route (SlowQueriesRising, `db_query_duration_ms`).", "Waiting for a pool connection (`db_pool_wait_time_ms`, `redis_pool_waiting`).", "Large responses (`http_response_size_bytes`) or a saturated runtime."],
                actions: &["Open a slow trace of the route in Jaeger and find the longest child span.", "Raise the pool size if requests wait for connections; add an index for a slow query.", "Scale out if every route is slow at once."],
            },
            test: Test {
                eval: "40m",
                fire: histogram(catalog, "http_request_latency_ms", "route=\"/api/rooms\"", 900.0, 60.0),
                silent: histogram(catalog, "http_request_latency_ms", "route=\"/api/rooms\"", 20.0, 60.0),
                labels: vec![("route", "/api/rooms")],
                more: vec![],
            },
        },
        Alert {
            name: "DatabasePoolNearExhaustion",
            expr: "max by (pool) (db_pool_utilization_percent) > 90".into(),
            for_: "5m",
            severity: "warning",
            summary: "Database pool {{ $labels.pool }} more than 90 % in use",
            description: "More than 90 % of the connections of pool {{ $labels.pool }} have been in use for 5 minutes; new queries will wait for a connection.",
            covers: "issue 17 \"DB pool near exhaustion\"; design 003 DatabaseConnectionPoolExhausted (> 90 % for 5m)",
            runbook: Runbook {
                symptoms: "Requests slow down waiting for connections; `db_pool_wait_time_ms` rises; acquire timeouts appear as errors.",
                queries: vec![q("db_pool_connections_active / on (pool) db_pool_connections_total"), q("histogram_quantile(0.95, sum by (le, pool) (rate(db_pool_wait_time_ms_bucket[5m])))"), q("sum by (outcome) (rate(db_transactions_total[5m]))")],
                causes: &["Slow queries hold connections longer (SlowQueriesRising).", "Long transactions, or transactions left open (`db_transactions_total{outcome=\"dropped\"}`).", "More traffic than the pool was sized for."],
                actions: &["Find slow queries and long transactions in Jaeger (`db.query.summary`).", "Raise the pool's max connections if PostgreSQL has headroom (`max_connections`).", "Scale out replicas only if PostgreSQL can take the extra connections."],
            },
            test: Test {
                eval: "30m",
                fire: gauge("db_pool_utilization_percent{pool=\"main\"}", 95.0),
                silent: gauge("db_pool_utilization_percent{pool=\"main\"}", 40.0),
                labels: vec![("pool", "main")],
                more: vec![],
            },
        },
        Alert {
            name: "SlowQueriesRising",
            expr: "sum by (operation, table) (rate(db_slow_queries_total[5m])) * 60 > 1".into(),
            for_: "10m",
            severity: "warning",
            summary: "Slow {{ $labels.operation }} queries on {{ $labels.table }}",
            description: "More than one {{ $labels.operation }} statement a minute on {{ $labels.table }} has taken longer than the slow-query threshold (1 s by default), for 10 minutes.",
            covers: "issue 17 \"slow queries rising\"; design 000 db_slow_queries_total (> 1 s)",
            runbook: Runbook {
                symptoms: "Routes that touch the table slow down; `db_slow_queries_total` grows steadily.",
                queries: vec![q("sum by (operation, table) (rate(db_slow_queries_total[5m]))"), q("histogram_quantile(0.95, sum by (le, operation, table) (rate(db_query_duration_ms_bucket[5m])))"), q("max by (pool) (db_pool_utilization_percent)")],
                causes: &["A missing index after a schema or query change.", "Table growth or bloat (autovacuum behind).", "Lock contention with a long transaction."],
                actions: &["Take the statement from a slow span's `db.query.text` (sanitized) and run EXPLAIN ANALYZE on it.", "Check `pg_stat_activity` for blocking locks and long transactions.", "Add the index or rewrite the query; watch the rate fall."],
            },
            test: Test {
                eval: "40m",
                fire: counter("db_slow_queries_total{operation=\"SELECT\",table=\"rooms\"}", 5.0),
                silent: counter("db_slow_queries_total{operation=\"SELECT\",table=\"rooms\"}", 0.2),
                labels: vec![("operation", "SELECT"), ("table", "rooms")],
                more: vec![],
            },
        },
        Alert {
            name: "LowCacheHitRate",
            expr: "sum by (cache_type) (rate(redis_cache_requests_total{result=\"hit\"}[10m])) / sum by (cache_type) (rate(redis_cache_requests_total[10m])) < 0.8".into(),
            for_: "15m",
            severity: "warning",
            summary: "Cache {{ $labels.cache_type }} hit rate below 80 %",
            description: "Fewer than 80 % of the lookups in cache {{ $labels.cache_type }} have hit over the last 10 minutes, for 15 minutes; the load falls through to the database.",
            covers: "issue 17 \"low cache hit rate\"; design 000 cache_hit_rate_percent",
            runbook: Runbook {
                symptoms: "More database load and latency behind cached routes; the Redis and cache dashboard's hit rate falls.",
                queries: vec![q("sum by (cache_type, result) (rate(redis_cache_requests_total[10m]))"), q("cache_hit_rate_percent"), q("sum by (cache_type, operation) (rate(cache_operations_total[10m]))")],
                causes: &["Keys expire too early (TTL shortened) or Redis evicts them (maxmemory reached).", "A deploy changed the cache key format, so old entries never hit.", "A new access pattern (a crawler walking cold keys)."],
                actions: &["Check Redis `INFO stats` (evicted_keys) and `maxmemory`.", "Compare hit rate with the deploy timeline; warm the cache if a key format changed.", "Raise the TTL or Redis memory if evictions are the cause."],
            },
            test: Test {
                eval: "60m",
                fire: cat(vec![counter("redis_cache_requests_total{cache_type=\"room\",result=\"hit\"}", 50.0), counter("redis_cache_requests_total{cache_type=\"room\",result=\"miss\"}", 50.0)]),
                silent: cat(vec![counter("redis_cache_requests_total{cache_type=\"room\",result=\"hit\"}", 95.0), counter("redis_cache_requests_total{cache_type=\"room\",result=\"miss\"}", 5.0)]),
                labels: vec![("cache_type", "room")],
                more: vec![],
            },
        },
        Alert {
            name: "RateLimitViolationsSpike",
            expr: "(sum by (limiter) (rate(rate_limit_violations_total[5m])) / sum by (limiter) (rate(rate_limit_operations_total[5m])) > 0.1) and (sum by (limiter) (rate(rate_limit_violations_total[5m])) * 60 > 10)".into(),
            for_: "5m",
            severity: "warning",
            summary: "Rate limiter {{ $labels.limiter }} refuses more than 10 % of requests",
            description: "Limiter {{ $labels.limiter }} has refused more than 10 requests a minute and more than 10 % of its decisions for 5 minutes: abuse, or a limit set too low.",
            covers: "issue 17 \"rate-limit violations spike\"; design 002 §F Rapid Report Spam (10+ a minute)",
            runbook: Runbook {
                symptoms: "Clients get 429s; the Redis and cache dashboard's rate-limit violations jump.",
                queries: vec![q("sum by (limiter) (rate(rate_limit_violations_total[5m]))"), q("sum by (limiter, result) (rate(rate_limit_operations_total[5m]))"), q("sum by (event) (rate(security_events_total[5m]))")],
                causes: &["Abuse from a few clients (report spam, credential stuffing: `security_events_total` rises too).", "A client bug retrying in a loop.", "A limit too low for legitimate traffic after a product change."],
                actions: &["Find the offending clients in the access log (ids, never tokens), block them if abusive.", "Fix or throttle the retrying client.", "Raise the limit if legitimate traffic grew."],
            },
            test: Test {
                eval: "30m",
                fire: cat(vec![counter("rate_limit_operations_total{limiter=\"reports\",result=\"allowed\"}", 50.0), counter("rate_limit_operations_total{limiter=\"reports\",result=\"limited\"}", 20.0), counter("rate_limit_violations_total{limiter=\"reports\"}", 20.0)]),
                silent: cat(vec![counter("rate_limit_operations_total{limiter=\"reports\",result=\"allowed\"}", 100.0), counter("rate_limit_operations_total{limiter=\"reports\",result=\"limited\"}", 2.0), counter("rate_limit_violations_total{limiter=\"reports\"}", 2.0)]),
                labels: vec![("limiter", "reports")],
                more: vec![],
            },
        },
        Alert {
            name: "HighTurnRelayShare",
            expr: "sum(rate(turn_relay_total[10m])) / sum(rate(ice_connected_total[10m])) > 0.2".into(),
            for_: "10m",
            severity: "warning",
            summary: "More than 20 % of connections relayed through TURN",
            description: "More than 20 % of connected peer connections have used a relay candidate over 10 minutes, for 10 minutes (target: under 15 %). TURN bandwidth costs rise and latency grows.",
            covers: "issue 17 \"TURN relay share high\"; design 002 §B TURN Usage % and §E (< 15 %, alert > 20 % for 10m)",
            runbook: Runbook {
                symptoms: "TURN bandwidth grows; call RTT rises (`webrtc_connection_rtt_ms`).",
                queries: vec![q("sum(rate(turn_relay_total[10m])) / sum(rate(ice_connected_total[10m]))"), q("sum by (candidate_type, direction) (rate(webrtc_ice_candidates_total[10m]))")],
                causes: &["STUN is unreachable, so peers get no srflx candidates and fall back to relay.", "A large share of users moved behind symmetric NATs (a corporate customer).", "ICE policy set to relay-only by a configuration change."],
                actions: &["Check that STUN servers answer and that clients gather srflx candidates.", "Check the ICE transport policy in the client configuration.", "Scale TURN capacity if the share is legitimate."],
            },
            test: Test {
                eval: "40m",
                fire: cat(vec![counter("ice_connected_total", 10.0), counter("turn_relay_total", 3.0)]),
                silent: cat(vec![counter("ice_connected_total", 10.0), counter("turn_relay_total", 1.0)]),
                labels: vec![],
                more: vec![],
            },
        },
        Alert {
            name: "HighMemoryUsage",
            expr: "max by (job, instance) (proc_memory_rss_mb) > 1843".into(),
            for_: "5m",
            severity: "warning",
            summary: "{{ $labels.instance }} uses more than 1843 MiB",
            description: "The resident memory of {{ $labels.instance }} has been above 1843 MiB (90 % of a 2 GiB limit; change the threshold to 90 % of your container's limit) for 5 minutes.",
            covers: "issue 17 \"high memory\"; design 002 §C HighMemoryUsage (> 90 % of the limit for 5m)",
            runbook: Runbook {
                symptoms: "Resident memory climbs towards the container limit; an OOM kill restarts the process.",
                queries: vec![q("max by (instance) (proc_memory_rss_mb)"), q("tokio_runtime_alive_tasks"), q("sum by (metric) (rate(obs_cardinality_overflow_total[5m]))")],
                causes: &["A leak: memory grows steadily with traffic flat (tasks left behind: `tokio_runtime_alive_tasks` grows too).", "Many open rooms or connections (normal growth with load).", "Large in-memory caches or request bodies."],
                actions: &["Take a heap profile (obs-http's opt-in pprof route) and compare two snapshots.", "Restart the replica to recover, then find the leak.", "Raise the limit if the growth follows load."],
            },
            test: Test {
                eval: "30m",
                fire: gauge("proc_memory_rss_mb{job=\"simplycaster\",instance=\"app-1:9464\"}", 1900.0),
                silent: gauge("proc_memory_rss_mb{job=\"simplycaster\",instance=\"app-1:9464\"}", 300.0),
                labels: vec![("job", "simplycaster"), ("instance", "app-1:9464")],
                more: vec![],
            },
        },
        Alert {
            name: "StalledJobProcessing",
            expr: "sum(worker_inflight_jobs) > 0 and (sum(rate(jobs_status_transition_total[15m])) or vector(0)) == 0".into(),
            for_: "15m",
            severity: "warning",
            summary: "Jobs in flight but none changed status for 15 minutes",
            description: "Workers hold jobs, yet no job has changed status in 15 minutes, for 15 minutes: processing is stuck.",
            covers: "issue 17 \"stalled job processing\"; design 003 VODProcessingStalled (0 cycles for 15m)",
            runbook: Runbook {
                symptoms: "Jobs stay in progress; users wait for recordings or exports that never finish.",
                queries: vec![q("sum(worker_inflight_jobs)"), q("sum by (from, to) (rate(jobs_status_transition_total[15m]))"), q("max by (service) (circuit_breaker_state)")],
                causes: &["A stage waits on an external service without a time limit, or its circuit breaker is open.", "A deadlock or a blocked runtime (`event_loop_lag_ms` high, `tokio_runtime_global_queue_depth` growing).", "Scratch disk full (`scratch_disk_used_pct`)."],
                actions: &["Open the in-flight job's trace: the last stage span shows where it waits.", "Check circuit breakers and external call latency.", "Restart the worker: leases expire and `worker_recovered_jobs_total` counts the recovered jobs."],
            },
            test: Test {
                eval: "60m",
                fire: cat(vec![gauge("worker_inflight_jobs", 3.0), counter("jobs_status_transition_total{from=\"queued\",to=\"running\"}", 0.0)]),
                silent: cat(vec![gauge("worker_inflight_jobs", 3.0), counter("jobs_status_transition_total{from=\"queued\",to=\"running\"}", 2.0)]),
                labels: vec![],
                more: vec![],
            },
        },
        Alert {
            name: "ExporterDroppingSpans",
            expr: "sum by (job, instance) (rate(obs_spans_dropped_total[5m])) > 0".into(),
            for_: "10m",
            severity: "warning",
            summary: "{{ $labels.instance }} drops spans before export",
            description: "{{ $labels.instance }} has dropped spans for 10 minutes: the export queue is full or flushes time out, so traces are incomplete.",
            covers: "issue 17 \"exporter dropping spans\"",
            runbook: Runbook {
                symptoms: "Traces in Jaeger miss spans or whole requests; `obs_spans_dropped_total` grows.",
                queries: vec![q("sum by (instance) (rate(obs_spans_dropped_total[5m]))"), q("sum by (instance) (rate(obs_spans_exported_total[5m]))"), q("sum by (instance) (rate(obs_span_export_failures_total[5m]))")],
                causes: &["The collector is down or slow (export failures rise too).", "More spans than one exporter sends (raise the queue, sample, or add a Collector gateway: docs/deploy.md).", "Network trouble between the process and the collector."],
                actions: &["Check the collector's health and its own queue metrics.", "Lower the sampling ratio (`OTEL_TRACES_SAMPLER_ARG`) or raise the export batch size.", "Move to a Collector gateway with tail sampling (docs/deploy.md)."],
            },
            test: Test {
                eval: "40m",
                fire: counter("obs_spans_dropped_total{job=\"simplycaster\",instance=\"app-1:9464\"}", 10.0),
                silent: counter("obs_spans_dropped_total{job=\"simplycaster\",instance=\"app-1:9464\"}", 0.0),
                labels: vec![("job", "simplycaster"), ("instance", "app-1:9464")],
                more: vec![],
            },
        },
        Alert {
            name: "CardinalityOverflow",
            expr: "sum by (metric) (rate(obs_cardinality_overflow_total[5m])) > 0".into(),
            for_: "5m",
            severity: "warning",
            summary: "Metric {{ $labels.metric }} folds label sets into __overflow__",
            description: "Metric {{ $labels.metric }} has reached its series bound and keeps folding new label sets into the __overflow__ series: its per-label data is incomplete.",
            covers: "issue 17 \"cardinality overflow\"; design 004 label cardinality control",
            runbook: Runbook {
                symptoms: "Panels show an `__overflow__` series; `obs_cardinality_overflow_total` grows.",
                queries: vec![q("sum by (metric) (rate(obs_cardinality_overflow_total[5m]))"), q("count by (__name__) ({__name__=~\".+\"})")],
                causes: &["A label takes unbounded values (raw paths instead of route templates, ids in labels).", "Legitimate growth past the bound (many rooms for `room_participants_current`)."],
                actions: &["Find the label: `count by (label) (metric)` for each of its labels.", "Use route templates or a bounded value set for the label; never ids.", "Raise the bound with `MetricDef::with_max_series` if the growth is legitimate and Prometheus can take it."],
            },
            test: Test {
                eval: "30m",
                fire: counter("obs_cardinality_overflow_total{metric=\"http_requests_total\"}", 3.0),
                silent: counter("obs_cardinality_overflow_total{metric=\"http_requests_total\"}", 0.0),
                labels: vec![("metric", "http_requests_total")],
                more: vec![],
            },
        },
        Alert {
            name: "CircuitBreakerOpen",
            expr: "max by (service) (circuit_breaker_state) == 2".into(),
            for_: "5m",
            severity: "critical",
            summary: "Circuit breaker of {{ $labels.service }} open",
            description: "The circuit breaker of {{ $labels.service }} has been open for 5 minutes: calls to it are refused and the work that needs it halts.",
            covers: "design 003 CircuitBreakerOpen (critical, open for 5m)",
            runbook: Runbook {
                symptoms: "Calls to the service fail fast (their spans carry `error.type` circuit_open); jobs that need it stall.",
                queries: vec![q("max by (service) (circuit_breaker_state)"), q("sum by (service, op, outcome) (rate(external_calls_total[5m]))"), q("sum by (service, from, to) (increase(circuit_breaker_state_changes_total[1h]))")],
                causes: &["The external service is down or rejects our credentials.", "Timeouts set too tight for its current latency."],
                actions: &["Check the service's status page and our credentials for it.", "Look at the errors that opened the breaker (the failed calls' spans).", "The breaker half-opens by itself; nothing to reset once the service is back."],
            },
            test: Test {
                eval: "30m",
                fire: gauge("circuit_breaker_state{service=\"storage\"}", 2.0),
                silent: gauge("circuit_breaker_state{service=\"storage\"}", 0.0),
                labels: vec![("service", "storage")],
                more: vec![],
            },
        },
        Alert {
            name: "ScratchDiskAlmostFull",
            expr: "max by (job, instance) (scratch_disk_used_pct) > 90".into(),
            for_: "10m",
            severity: "warning",
            summary: "Scratch disk of {{ $labels.instance }} more than 90 % full",
            description: "The file system holding the scratch directory of {{ $labels.instance }} has been more than 90 % used for 10 minutes.",
            covers: "design 002 §C HighDiskUsage (< 10 % free for 10m); design 004 scratch.disk_used_pct",
            runbook: Runbook {
                symptoms: "Recordings or exports fail to write; jobs stall.",
                queries: vec![q("max by (instance) (scratch_disk_used_pct)"), q("sum(worker_inflight_jobs)")],
                causes: &["Temporary files of finished or failed jobs not cleaned up.", "More concurrent jobs than the disk was sized for."],
                actions: &["Remove leftovers of finished jobs; fix the cleanup path that missed them.", "Expand the volume or lower job concurrency."],
            },
            test: Test {
                eval: "30m",
                fire: gauge("scratch_disk_used_pct{job=\"simplycaster\",instance=\"app-1:9464\"}", 95.0),
                silent: gauge("scratch_disk_used_pct{job=\"simplycaster\",instance=\"app-1:9464\"}", 50.0),
                labels: vec![("job", "simplycaster"), ("instance", "app-1:9464")],
                more: vec![],
            },
        },
        Alert {
            name: "TargetDown",
            expr: "up == 0".into(),
            for_: "2m",
            severity: "critical",
            summary: "{{ $labels.job }} target {{ $labels.instance }} is down",
            description: "Prometheus has failed to scrape {{ $labels.instance }} of job {{ $labels.job }} for 2 minutes.",
            covers: "design 002 §C TURNUnavailable and §E pod availability (any downtime; down > 2m)",
            runbook: Runbook {
                symptoms: "A target shows DOWN on Prometheus's targets page; its panels go blank.",
                queries: vec![q("up == 0"), q("scrape_duration_seconds")],
                causes: &["The process crashed or is restarting (OOM: see HighMemoryUsage).", "The admin listener moved or a network policy blocks the scrape."],
                actions: &["Check the process's status and last logs; restart it.", "Check that `/metrics` answers on the scraped address."],
            },
            test: Test {
                eval: "10m",
                fire: gauge("up{job=\"simplycaster\",instance=\"app-1:9464\"}", 0.0),
                silent: gauge("up{job=\"simplycaster\",instance=\"app-1:9464\"}", 1.0),
                labels: vec![("job", "simplycaster"), ("instance", "app-1:9464")],
                more: vec![],
            },
        },
    ];
    if catalog.has_crate(DEMO) {
        out.insert(2, Alert {
            name: "HighMatchingLatency",
            expr: format!("{} > 5000", p95("matching_latency_ms", "")),
            for_: "5m",
            severity: "warning",
            summary: "Matching p95 latency above 5 s",
            description: "The 95th percentile time from joining the queue to being matched has been above 5 seconds for 5 minutes.",
            covers: "issue 17 \"high matching/flow latency\" (matching); design 002 §C HighMatchingLatency (p95 > 5 s for 5m)",
            runbook: Runbook {
                symptoms: "Users wait long in the queue; `matching_failed_total` may rise.",
                queries: vec![q("histogram_quantile(0.95, sum by (le) (rate(matching_latency_ms_bucket[5m])))"), q("sum(rate(matching_failed_total[5m]))"), q("histogram_quantile(0.95, sum by (le, command) (rate(redis_operation_duration_ms_bucket[5m])))")],
                causes: &["Few users waiting (off-peak): matching waits for a partner.", "Redis, which holds the queue, is slow.", "Replicas saturated."],
                actions: &["Compare with the queue size and time of day before acting.", "Check Redis latency; scale out replicas if CPU is high."],
            },
            test: Test {
                eval: "30m",
                fire: histogram(catalog, "matching_latency_ms", "", 8000.0, 30.0),
                silent: histogram(catalog, "matching_latency_ms", "", 500.0, 30.0),
                labels: vec![],
                more: vec![],
            },
        });
    }
    out
}

/// A summary table of the alerts for the runbook.
pub(crate) fn table(alerts: &[&Alert]) -> String {
    let mut out = String::from("| alert | severity | for | covers |\n|---|---|---|---|\n");
    for a in alerts {
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {} | {} |",
            a.name,
            a.anchor(),
            a.severity,
            a.for_,
            a.covers
        );
    }
    out
}
