//! The Grafana dashboards: panels on the catalog's metrics, grouped as the design documents
//! group them, rendered as dashboard JSON with a `datasource` variable.

use serde_json::{Value, json};

use super::{Catalog, DEMO};

/// One dashboard.
pub(crate) struct Dashboard {
    /// File name and Grafana uid.
    pub(crate) uid: &'static str,
    pub(crate) title: &'static str,
    /// The requirement it covers.
    pub(crate) covers: &'static str,
    pub(crate) panels: Vec<Panel>,
}

/// One panel: a Grafana panel type, a unit, and its queries with their legends.
pub(crate) struct Panel {
    pub(crate) title: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) targets: Vec<(String, String)>,
    /// Counts only trouble (drops, overflows, failures): empty while nothing goes wrong.
    pub(crate) quiet: bool,
}

/// Marks a panel that stays empty while nothing goes wrong.
fn quiet(mut p: Panel) -> Panel {
    p.quiet = true;
    p
}

fn panel(
    kind: &'static str,
    title: &'static str,
    unit: &'static str,
    targets: &[(&str, &str)],
) -> Panel {
    Panel {
        title,
        kind,
        unit,
        targets: targets
            .iter()
            .map(|(e, l)| ((*e).to_owned(), (*l).to_owned()))
            .collect(),
        quiet: false,
    }
}

fn ts(title: &'static str, unit: &'static str, targets: &[(&str, &str)]) -> Panel {
    panel("timeseries", title, unit, targets)
}

fn stat(title: &'static str, unit: &'static str, expr: &str) -> Panel {
    panel("stat", title, unit, &[(expr, "")])
}

/// p50, p95 and p99 of a histogram, grouped by `by` (may be empty).
fn quantiles(title: &'static str, metric: &str, by: &str) -> Panel {
    let (grouping, legend) = if by.is_empty() {
        (String::new(), String::new())
    } else {
        (
            format!(", {by}"),
            format!(" {{{{{}}}}}", by.replace(", ", "}} {{")),
        )
    };
    let q = |p: &str| {
        (
            format!(
                "histogram_quantile({p}, sum by (le{grouping}) (rate({metric}_bucket[$__rate_interval])))"
            ),
            format!("p{}{legend}", &p[2..]),
        )
    };
    let targets = [q("0.50"), q("0.95"), q("0.99")];
    Panel {
        title,
        kind: "timeseries",
        unit: unit_of(metric),
        targets: targets.into_iter().collect(),
        quiet: false,
    }
}

fn unit_of(metric: &str) -> &'static str {
    if metric.ends_with("_ms") {
        "ms"
    } else if metric.ends_with("_seconds") {
        "s"
    } else if metric.ends_with("_bytes") {
        "bytes"
    } else if metric.ends_with("_percent") {
        "percent"
    } else {
        "short"
    }
}

/// The dashboards of the issue; demo panels once the demo's catalog is included.
pub(crate) fn dashboards(catalog: &Catalog) -> Vec<Dashboard> {
    let demo = catalog.has_crate(DEMO);
    let mut overview = vec![
        ts(
            "Requests per second",
            "reqps",
            &[(
                "sum by (code_class) (rate(http_requests_total[$__rate_interval]))",
                "{{code_class}}",
            )],
        ),
        ts(
            "HTTP error ratio (5xx)",
            "percentunit",
            &[(
                "(sum(rate(http_requests_total{code_class=\"5xx\"}[$__rate_interval])) or vector(0)) / sum(rate(http_requests_total[$__rate_interval]))",
                "5xx share",
            )],
        ),
        ts(
            "HTTP p95 latency",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le) (rate(http_request_latency_ms_bucket[$__rate_interval])))",
                "p95",
            )],
        ),
        stat(
            "Participants in open rooms",
            "short",
            "sum(room_participants_current)",
        ),
        ts(
            "Room sessions created per minute",
            "short",
            &[(
                "sum(rate(sessions_created_total[$__rate_interval])) * 60",
                "sessions/min",
            )],
        ),
        ts(
            "Signaling relay p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le) (rate(signaling_latency_ms_bucket[$__rate_interval])))",
                "p95",
            )],
        ),
        ts(
            "ICE success rate",
            "percentunit",
            &[(
                "sum(rate(ice_connected_total[$__rate_interval])) / sum(rate(ice_attempted_total[$__rate_interval]))",
                "connected / attempted",
            )],
        ),
        ts(
            "Peer connections by status",
            "short",
            &[(
                "sum by (status) (rate(connections_total[$__rate_interval])) * 60",
                "{{status}} /min",
            )],
        ),
        ts(
            "Resident memory",
            "decmbytes",
            &[("max by (instance) (proc_memory_rss_mb)", "{{instance}}")],
        ),
        ts(
            "Spans exported",
            "short",
            &[(
                "sum(rate(obs_spans_exported_total[$__rate_interval]))",
                "exported/s",
            )],
        ),
        quiet(ts(
            "Spans dropped and failed exports",
            "short",
            &[
                (
                    "sum(rate(obs_spans_dropped_total[$__rate_interval]))",
                    "dropped/s",
                ),
                (
                    "sum(rate(obs_span_export_failures_total[$__rate_interval]))",
                    "failed exports/s",
                ),
            ],
        )),
        panel(
            "stat",
            "Targets up",
            "short",
            &[("sum by (job) (up)", "{{job}}")],
        ),
    ];
    if demo {
        overview.insert(6, ts("Matching p95", "ms", &[("histogram_quantile(0.95, sum by (le) (rate(matching_latency_ms_bucket[$__rate_interval])))", "p95")]));
    }
    let http = vec![
        ts(
            "Requests per second by route",
            "reqps",
            &[(
                "sum by (route) (rate(http_requests_total[$__rate_interval]))",
                "{{route}}",
            )],
        ),
        ts(
            "Requests per second by method and status class",
            "reqps",
            &[(
                "sum by (method, code_class) (rate(http_requests_total[$__rate_interval]))",
                "{{method}} {{code_class}}",
            )],
        ),
        quiet(ts(
            "Error responses by route and code",
            "reqps",
            &[(
                "sum by (route, code) (rate(http_errors_total[$__rate_interval]))",
                "{{route}} {{code}}",
            )],
        )),
        quantiles("Latency by route", "http_request_latency_ms", "route"),
        panel(
            "heatmap",
            "Latency distribution",
            "ms",
            &[(
                "sum by (le) (rate(http_request_latency_ms_bucket[$__rate_interval]))",
                "{{le}}",
            )],
        ),
        ts(
            "Requests in flight",
            "short",
            &[("sum(http_requests_in_flight)", "in flight")],
        ),
        ts(
            "Request and response size p95",
            "bytes",
            &[
                (
                    "histogram_quantile(0.95, sum by (le) (rate(http_request_size_bytes_bucket[$__rate_interval])))",
                    "request p95",
                ),
                (
                    "histogram_quantile(0.95, sum by (le) (rate(http_response_size_bytes_bucket[$__rate_interval])))",
                    "response p95",
                ),
            ],
        ),
        ts(
            "Outgoing requests p95 by server",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, server) (rate(http_client_request_duration_ms_bucket[$__rate_interval])))",
                "{{server}}",
            )],
        ),
    ];
    let database = vec![
        ts(
            "Queries per second",
            "ops",
            &[(
                "sum by (operation, table) (rate(db_queries_total[$__rate_interval]))",
                "{{operation}} {{table}}",
            )],
        ),
        quiet(ts(
            "Failed queries by status",
            "ops",
            &[(
                "sum by (operation, status) (rate(db_queries_total{status!=\"ok\"}[$__rate_interval]))",
                "{{operation}} {{status}}",
            )],
        )),
        quantiles("Query duration", "db_query_duration_ms", ""),
        ts(
            "Query p95 by operation and table",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, operation, table) (rate(db_query_duration_ms_bucket[$__rate_interval])))",
                "{{operation}} {{table}}",
            )],
        ),
        quiet(ts(
            "Slow queries per minute",
            "short",
            &[(
                "sum by (operation, table) (rate(db_slow_queries_total[$__rate_interval])) * 60",
                "{{operation}} {{table}}",
            )],
        )),
        ts(
            "Transactions by outcome",
            "ops",
            &[(
                "sum by (outcome) (rate(db_transactions_total[$__rate_interval]))",
                "{{outcome}}",
            )],
        ),
        ts(
            "Pool connections",
            "short",
            &[
                ("sum by (pool) (db_pool_connections_total)", "{{pool}} open"),
                (
                    "sum by (pool) (db_pool_connections_active)",
                    "{{pool}} in use",
                ),
                ("sum by (pool) (db_pool_connections_idle)", "{{pool}} idle"),
            ],
        ),
        panel(
            "gauge",
            "Pool utilization",
            "percent",
            &[("max by (pool) (db_pool_utilization_percent)", "{{pool}}")],
        ),
        ts(
            "Pool wait p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, pool) (rate(db_pool_wait_time_ms_bucket[$__rate_interval])))",
                "{{pool}}",
            )],
        ),
    ];
    let redis = vec![
        ts(
            "Commands per second",
            "ops",
            &[(
                "sum by (command) (rate(redis_operations_total[$__rate_interval]))",
                "{{command}}",
            )],
        ),
        quiet(ts(
            "Failed commands by status",
            "ops",
            &[(
                "sum by (command, status) (rate(redis_operations_total{status!=\"success\"}[$__rate_interval]))",
                "{{command}} {{status}}",
            )],
        )),
        ts(
            "Command p95 by command",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, command) (rate(redis_operation_duration_ms_bucket[$__rate_interval])))",
                "{{command}}",
            )],
        ),
        ts(
            "Cache hit ratio",
            "percentunit",
            &[(
                "sum by (cache_type) (rate(redis_cache_requests_total{result=\"hit\"}[$__rate_interval])) / sum by (cache_type) (rate(redis_cache_requests_total[$__rate_interval]))",
                "{{cache_type}}",
            )],
        ),
        ts(
            "Cache hit rate (last 60 s, per process)",
            "percent",
            &[(
                "avg by (cache_type) (cache_hit_rate_percent)",
                "{{cache_type}}",
            )],
        ),
        ts(
            "Cache operations",
            "ops",
            &[(
                "sum by (cache_type, operation) (rate(cache_operations_total[$__rate_interval]))",
                "{{cache_type}} {{operation}}",
            )],
        ),
        ts(
            "Session store operations",
            "ops",
            &[(
                "sum by (operation) (rate(session_operations_total[$__rate_interval]))",
                "{{operation}}",
            )],
        ),
        ts(
            "Rate limiter decisions",
            "ops",
            &[(
                "sum by (limiter, result) (rate(rate_limit_operations_total[$__rate_interval]))",
                "{{limiter}} {{result}}",
            )],
        ),
        quiet(ts(
            "Rate limit violations",
            "ops",
            &[(
                "sum by (limiter) (rate(rate_limit_violations_total[$__rate_interval]))",
                "{{limiter}}",
            )],
        )),
        ts(
            "Redis pool",
            "short",
            &[
                ("sum by (pool) (redis_pool_size)", "{{pool}} size"),
                ("sum by (pool) (redis_pool_available)", "{{pool}} available"),
                ("sum by (pool) (redis_pool_waiting)", "{{pool}} waiting"),
            ],
        ),
    ];
    let webrtc = vec![
        quantiles(
            "Signaling relay latency by type",
            "signaling_latency_ms",
            "type",
        ),
        panel(
            "heatmap",
            "Signaling relay latency distribution",
            "ms",
            &[(
                "sum by (le) (rate(signaling_latency_ms_bucket[$__rate_interval]))",
                "{{le}}",
            )],
        ),
        ts(
            "Signaling messages relayed",
            "ops",
            &[(
                "sum by (type) (rate(signaling_latency_ms_count[$__rate_interval]))",
                "{{type}}",
            )],
        ),
        quiet(ts(
            "Errors by type",
            "ops",
            &[(
                "sum by (type) (rate(errors_total[$__rate_interval]))",
                "{{type}}",
            )],
        )),
        ts(
            "ICE success rate",
            "percentunit",
            &[(
                "sum(rate(ice_connected_total[$__rate_interval])) / sum(rate(ice_attempted_total[$__rate_interval]))",
                "connected / attempted",
            )],
        ),
        ts(
            "TURN relay share",
            "percentunit",
            &[(
                "(sum(rate(turn_relay_total[$__rate_interval])) or vector(0)) / sum(rate(ice_connected_total[$__rate_interval]))",
                "relayed / connected",
            )],
        ),
        ts(
            "ICE candidates by type",
            "ops",
            &[(
                "sum by (candidate_type, direction) (rate(webrtc_ice_candidates_total[$__rate_interval]))",
                "{{candidate_type}} {{direction}}",
            )],
        ),
        ts(
            "Peer connection call p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, operation) (rate(webrtc_signaling_duration_ms_bucket[$__rate_interval])))",
                "{{operation}}",
            )],
        ),
        quantiles(
            "Time to connect",
            "webrtc_connection_establishment_duration_ms",
            "",
        ),
        ts(
            "Connection state changes",
            "ops",
            &[(
                "sum by (state) (rate(webrtc_connection_operations_total[$__rate_interval]))",
                "{{state}}",
            )],
        ),
        quantiles("Round-trip time", "webrtc_connection_rtt_ms", ""),
        ts(
            "Packet loss p95",
            "percent",
            &[(
                "histogram_quantile(0.95, sum by (le) (rate(webrtc_connection_packet_loss_percent_bucket[$__rate_interval])))",
                "p95",
            )],
        ),
        ts(
            "Jitter p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le) (rate(webrtc_jitter_ms_bucket[$__rate_interval])))",
                "p95",
            )],
        ),
        ts(
            "Bitrate median by direction",
            "Kbits",
            &[(
                "histogram_quantile(0.5, sum by (le, direction) (rate(webrtc_bitrate_kbps_bucket[$__rate_interval])))",
                "{{direction}}",
            )],
        ),
        ts(
            "Quality score",
            "short",
            &[
                (
                    "histogram_quantile(0.5, sum by (le) (rate(webrtc_quality_score_bucket[$__rate_interval])))",
                    "median",
                ),
                (
                    "histogram_quantile(0.1, sum by (le) (rate(webrtc_quality_score_bucket[$__rate_interval])))",
                    "worst 10 %",
                ),
            ],
        ),
        ts(
            "Media track operations",
            "ops",
            &[(
                "sum by (media_type, operation) (rate(webrtc_media_operations_total[$__rate_interval]))",
                "{{media_type}} {{operation}}",
            )],
        ),
    ];
    let mut rooms = vec![
        ts(
            "Room operations",
            "ops",
            &[(
                "sum by (operation, status) (rate(room_operations_total[$__rate_interval]))",
                "{{operation}} {{status}}",
            )],
        ),
        ts(
            "Room operation p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, operation) (rate(room_operation_duration_ms_bucket[$__rate_interval])))",
                "{{operation}}",
            )],
        ),
        ts(
            "Participant operations",
            "ops",
            &[(
                "sum by (operation, participant_type) (rate(room_participant_operations_total[$__rate_interval]))",
                "{{operation}} {{participant_type}}",
            )],
        ),
        panel(
            "bargauge",
            "Fullest rooms",
            "short",
            &[("topk(10, room_participants_current)", "{{room}}")],
        ),
        ts(
            "Room utilization p90 over rooms",
            "percent",
            &[("quantile(0.9, room_utilization_percent)", "p90")],
        ),
        ts(
            "Room session duration median",
            "s",
            &[(
                "histogram_quantile(0.5, sum by (le) (rate(room_session_duration_seconds_bucket[$__rate_interval])))",
                "median",
            )],
        ),
        stat(
            "Recordings in progress",
            "short",
            "sum(active_recordings_total)",
        ),
        ts(
            "Recording operations",
            "ops",
            &[(
                "sum by (operation, status) (rate(recording_operations_total[$__rate_interval]))",
                "{{operation}} {{status}}",
            )],
        ),
    ];
    if demo {
        rooms.extend([
            ts(
                "Moderation: reports per hour",
                "short",
                &[(
                    "sum(rate(reports_submitted_total[$__rate_interval])) * 3600",
                    "reports/h",
                )],
            ),
            stat(
                "Moderation: reports pending",
                "short",
                "sum(reports_pending_total)",
            ),
            panel(
                "piechart",
                "Moderation: accepted vs rejected (24 h)",
                "short",
                &[
                    ("sum(increase(reports_accepted_total[24h]))", "accepted"),
                    ("sum(increase(reports_rejected_total[24h]))", "rejected"),
                ],
            ),
            panel(
                "bargauge",
                "Moderation: most common reasons",
                "short",
                &[(
                    "topk(5, sum by (reason) (reports_by_reason_total))",
                    "{{reason}}",
                )],
            ),
            stat(
                "Moderation: blocked users",
                "short",
                "sum(blocklist_size_total)",
            ),
            ts(
                "Failed matches",
                "ops",
                &[(
                    "sum(rate(matching_failed_total[$__rate_interval]))",
                    "failed/s",
                )],
            ),
        ]);
    }
    let flows = vec![
        ts(
            "Flow p95 by flow",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, flow) (rate(flow_duration_ms_bucket[$__rate_interval])))",
                "{{flow}}",
            )],
        ),
        ts(
            "Flow step p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, flow, step) (rate(flow_step_duration_ms_bucket[$__rate_interval])))",
                "{{flow}} {{step}}",
            )],
        ),
        ts(
            "Flow steps per second",
            "ops",
            &[(
                "sum by (flow, step) (rate(flow_step_duration_ms_count[$__rate_interval]))",
                "{{flow}} {{step}}",
            )],
        ),
        quiet(ts(
            "Flow failures",
            "ops",
            &[(
                "sum by (flow, step, error_type) (rate(flow_failures_total[$__rate_interval]))",
                "{{flow}} {{step}} {{error_type}}",
            )],
        )),
        ts(
            "External calls by outcome",
            "ops",
            &[(
                "sum by (service, outcome) (rate(external_calls_total[$__rate_interval]))",
                "{{service}} {{outcome}}",
            )],
        ),
        ts(
            "External call p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, service, op) (rate(external_call_latency_ms_bucket[$__rate_interval])))",
                "{{service}} {{op}}",
            )],
        ),
        ts(
            "Circuit breaker state (0 closed, 1 half-open, 2 open)",
            "short",
            &[("max by (service) (circuit_breaker_state)", "{{service}}")],
        ),
        ts(
            "Worker stage p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le, stage) (rate(worker_stage_latency_ms_bucket[$__rate_interval])))",
                "{{stage}}",
            )],
        ),
        quiet(ts(
            "Worker stage failures",
            "ops",
            &[(
                "sum by (stage, code) (rate(worker_stage_failures_total[$__rate_interval]))",
                "{{stage}} {{code}}",
            )],
        )),
        ts(
            "Jobs created and status transitions",
            "ops",
            &[
                ("sum(rate(jobs_created_total[$__rate_interval]))", "created"),
                (
                    "sum by (from, to) (rate(jobs_status_transition_total[$__rate_interval]))",
                    "{{from}} → {{to}}",
                ),
            ],
        ),
        ts(
            "Job latency p95",
            "ms",
            &[(
                "histogram_quantile(0.95, sum by (le) (rate(jobs_total_latency_ms_bucket[$__rate_interval])))",
                "p95",
            )],
        ),
        ts(
            "Jobs in flight",
            "short",
            &[("sum(worker_inflight_jobs)", "in flight")],
        ),
        quiet(ts(
            "Jobs recovered from lost workers",
            "short",
            &[(
                "sum by (reason) (increase(worker_recovered_jobs_total[$__rate_interval]))",
                "{{reason}}",
            )],
        )),
        ts(
            "Timed operations by outcome",
            "ops",
            &[(
                "sum by (operation, outcome) (rate(obs_operations_total[$__rate_interval]))",
                "{{operation}} {{outcome}}",
            )],
        ),
        ts(
            "Security events",
            "ops",
            &[(
                "sum by (event) (rate(security_events_total[$__rate_interval]))",
                "{{event}}",
            )],
        ),
        ts(
            "Process: memory, file descriptors, scratch disk",
            "short",
            &[
                (
                    "max by (instance) (proc_memory_rss_mb)",
                    "{{instance}} RSS MiB",
                ),
                ("max by (instance) (proc_open_fds)", "{{instance}} fds"),
                (
                    "max by (instance) (scratch_disk_used_pct)",
                    "{{instance}} scratch %",
                ),
            ],
        ),
        ts(
            "Runtime: timer lag p99",
            "ms",
            &[(
                "histogram_quantile(0.99, sum by (le) (rate(event_loop_lag_ms_bucket[$__rate_interval])))",
                "p99",
            )],
        ),
        ts(
            "Runtime: workers, tasks, global queue",
            "short",
            &[
                ("sum(tokio_runtime_workers)", "workers"),
                ("sum(tokio_runtime_alive_tasks)", "alive tasks"),
                ("sum(tokio_runtime_global_queue_depth)", "global queue"),
            ],
        ),
        quiet(ts(
            "Cardinality overflow folds",
            "ops",
            &[(
                "sum by (metric) (rate(obs_cardinality_overflow_total[$__rate_interval]))",
                "{{metric}}",
            )],
        )),
    ];
    let slo = vec![
        ts(
            "Error ratio by SLO (1 h)",
            "percentunit",
            &[("slo:error_ratio:rate1h", "{{slo}}")],
        ),
        ts(
            "Burn rate by SLO (1 h)",
            "short",
            &[(
                "slo:error_ratio:rate1h / on (slo) slo:error_budget:ratio",
                "{{slo}}",
            )],
        ),
        ts(
            "Burn rate by SLO (6 h)",
            "short",
            &[(
                "slo:error_ratio:rate6h / on (slo) slo:error_budget:ratio",
                "{{slo}}",
            )],
        ),
        panel(
            "bargauge",
            "Error budget left (30 days)",
            "percentunit",
            &[(
                "1 - avg_over_time(slo:error_ratio:rate5m[30d]) / on (slo) slo:error_budget:ratio",
                "{{slo}}",
            )],
        ),
        ts(
            "Signaling p95 vs 200 ms objective",
            "ms",
            &[("slo:signaling_latency_ms:p95_5m", "p95")],
        ),
    ];
    vec![
        Dashboard {
            uid: "obs-overview",
            title: "Overview",
            covers: "issue 17 Overview; design 002 §B Dashboard 1 (sessions, calls/min, match latency, status, resources)",
            panels: overview,
        },
        Dashboard {
            uid: "obs-http",
            title: "HTTP",
            covers: "issue 17 HTTP; design 004 HTTP RED metrics",
            panels: http,
        },
        Dashboard {
            uid: "obs-database",
            title: "Database",
            covers: "issue 17 Database; design 000 database instrumentation (queries, transactions, pool)",
            panels: database,
        },
        Dashboard {
            uid: "obs-redis",
            title: "Redis and cache",
            covers: "issue 17 Redis and cache; design 000 Redis, cache, sessions, rate limiting",
            panels: redis,
        },
        Dashboard {
            uid: "obs-webrtc",
            title: "WebRTC and call quality",
            covers: "issue 17 WebRTC and call quality; design 002 §B Dashboard 2 (signaling, ICE, TURN) and 3 (errors); design 000 WebRTC metrics",
            panels: webrtc,
        },
        Dashboard {
            uid: "obs-rooms",
            title: "Rooms and recordings",
            covers: "issue 17 Rooms and recordings; design 000 rooms; design 002 §B Dashboard 4 (moderation, with the demo)",
            panels: rooms,
        },
        Dashboard {
            uid: "obs-flows",
            title: "Flows and jobs",
            covers: "issue 17 Flows and jobs; design 001 user flows; design 004 worker stages, jobs, external calls, resource sampler",
            panels: flows,
        },
        Dashboard {
            uid: "obs-slo",
            title: "SLOs and error budget",
            covers: "issue 17 SLOs and error budget; design 002 §E SLOs and error budget",
            panels: slo,
        },
    ]
}

/// The dashboard JSON.
pub(crate) fn render(d: &Dashboard) -> String {
    let ds = json!({"type": "prometheus", "uid": "${datasource}"});
    let panels: Vec<Value> = d
        .panels
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let targets: Vec<Value> = p
                .targets
                .iter()
                .enumerate()
                .map(|(j, (expr, legend))| {
                    let mut t = json!({"refId": ((b'A' + j as u8) as char).to_string(), "expr": expr, "legendFormat": legend, "datasource": ds});
                    if p.kind == "heatmap" {
                        t["format"] = json!("heatmap");
                    }
                    t
                })
                .collect();
            let mut panel = json!({
                "id": i + 1,
                "type": p.kind,
                "title": p.title,
                "datasource": ds,
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
                "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
                "targets": targets,
            });
            if p.quiet {
                panel["description"] = json!("Counts only trouble: empty (no data) while nothing goes wrong.");
            }
            panel
        })
        .collect();
    let dashboard = json!({
        "uid": d.uid,
        "title": d.title,
        "description": format!("Generated by `cargo xtask gen` from the metric catalogs, do not edit. Covers: {}.", d.covers),
        "tags": ["obs"],
        "editable": true,
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        }]},
        "annotations": {"list": []},
        "panels": panels,
    });
    let mut out = serde_json::to_string_pretty(&dashboard).expect("a dashboard serializes");
    out.push('\n');
    out
}
