//! The deployment kit: Grafana provisioning, the OpenTelemetry Collector configuration, a compose
//! file running the demo with the whole stack, and `docs/deploy.md`.

use obs_core::catalog::MetricKind;

use super::alertmanager::SECRETS;
use super::prometheus::DEMO_PORT;
use super::yaml::{self, Y, m, raw, s};
use super::{Catalog, File};

fn grafana_datasources() -> String {
    yaml::document(&m([
        ("apiVersion", raw(1)),
        (
            "datasources",
            Y::L(vec![
                m([
                    ("name", s("Prometheus")),
                    ("type", s("prometheus")),
                    ("uid", s("prometheus")),
                    ("access", s("proxy")),
                    ("url", s("http://prometheus:9090")),
                    ("isDefault", raw("true")),
                ]),
                m([
                    ("name", s("Jaeger")),
                    ("type", s("jaeger")),
                    ("uid", s("jaeger")),
                    ("access", s("proxy")),
                    ("url", s("http://jaeger:16686")),
                ]),
            ]),
        ),
    ]))
}

fn grafana_dashboards() -> String {
    yaml::document(&m([
        ("apiVersion", raw(1)),
        (
            "providers",
            Y::L(vec![m([
                ("name", s("obs")),
                ("folder", s("obs")),
                ("type", s("file")),
                ("disableDeletion", raw("true")),
                ("options", m([("path", s("/var/lib/grafana/dashboards"))])),
            ])]),
        ),
    ]))
}

fn otel_collector() -> String {
    yaml::document(&m([
        (
            "receivers",
            m([(
                "otlp",
                m([(
                    "protocols",
                    m([
                        ("grpc", m([("endpoint", s("0.0.0.0:4317"))])),
                        ("http", m([("endpoint", s("0.0.0.0:4318"))])),
                    ]),
                )]),
            )]),
        ),
        (
            "processors",
            m([
                (
                    "memory_limiter",
                    m([
                        ("check_interval", raw("1s")),
                        ("limit_mib", raw(512)),
                        ("spike_limit_mib", raw(128)),
                    ]),
                ),
                (
                    "batch",
                    m([("send_batch_size", raw(8192)), ("timeout", raw("1s"))]),
                ),
            ]),
        ),
        (
            "exporters",
            m([(
                "otlp/jaeger",
                m([
                    ("endpoint", s("jaeger:4317")),
                    ("tls", m([("insecure", raw("true"))])),
                ]),
            )]),
        ),
        (
            "extensions",
            m([("health_check", m([("endpoint", s("0.0.0.0:13133"))]))]),
        ),
        (
            "service",
            m([
                ("extensions", yaml::strs(&["health_check"])),
                (
                    "pipelines",
                    m([(
                        "traces",
                        m([
                            ("receivers", yaml::strs(&["otlp"])),
                            ("processors", yaml::strs(&["memory_limiter", "batch"])),
                            ("exporters", yaml::strs(&["otlp/jaeger"])),
                        ]),
                    )]),
                ),
                (
                    "telemetry",
                    m([("metrics", m([("address", s("0.0.0.0:8888"))]))]),
                ),
            ]),
        ),
    ]))
}

fn service(pairs: Vec<(&str, Y)>) -> Y {
    Y::M(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn compose() -> String {
    let demo_addr = format!("0.0.0.0:{DEMO_PORT}");
    let services = service(vec![
        (
            "simplycaster",
            service(vec![
                ("image", s("rust:1.94-bookworm")),
                ("working_dir", s("/src")),
                (
                    "volumes",
                    yaml::strs(&["..:/src", "cargo-target:/src/target"]),
                ),
                (
                    "command",
                    yaml::strs(&[
                        "cargo",
                        "run",
                        "--release",
                        "-p",
                        "simplycaster",
                        "--",
                        "simulate",
                        "--users",
                        "20",
                        "--duration",
                        "1440m",
                        "--addr",
                        &demo_addr,
                    ]),
                ),
                (
                    "environment",
                    m([
                        ("OTEL_SERVICE_NAME", s("simplycaster")),
                        (
                            "OTEL_EXPORTER_OTLP_ENDPOINT",
                            s("http://otel-collector:4317"),
                        ),
                    ]),
                ),
                ("depends_on", yaml::strs(&["otel-collector"])),
            ]),
        ),
        (
            "otel-collector",
            service(vec![
                ("image", s("otel/opentelemetry-collector-contrib:0.98.0")),
                (
                    "command",
                    yaml::strs(&["--config=/etc/otelcol/config.yaml"]),
                ),
                (
                    "volumes",
                    yaml::strs(&["./otel-collector.yaml:/etc/otelcol/config.yaml:ro"]),
                ),
                ("ports", yaml::strs(&["4317:4317", "4318:4318"])),
                ("depends_on", yaml::strs(&["jaeger"])),
            ]),
        ),
        (
            "jaeger",
            service(vec![
                ("image", s("jaegertracing/all-in-one:1.57")),
                ("environment", m([("COLLECTOR_OTLP_ENABLED", s("true"))])),
                ("ports", yaml::strs(&["16686:16686"])),
            ]),
        ),
        (
            "prometheus",
            service(vec![
                ("image", s("prom/prometheus:v2.51.2")),
                (
                    "command",
                    yaml::strs(&[
                        "--config.file=/etc/prometheus/prometheus.yml",
                        "--storage.tsdb.path=/prometheus",
                    ]),
                ),
                (
                    "volumes",
                    yaml::strs(&[
                        "./prometheus:/etc/prometheus:ro",
                        "prometheus-data:/prometheus",
                    ]),
                ),
                ("ports", yaml::strs(&["9090:9090"])),
            ]),
        ),
        (
            "alertmanager",
            service(vec![
                ("image", s("prom/alertmanager:v0.27.0")),
                (
                    "command",
                    yaml::strs(&["--config.file=/etc/alertmanager/alertmanager.yml"]),
                ),
                (
                    "volumes",
                    yaml::strs(&[
                        "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro",
                        &format!("${{ALERTMANAGER_SECRETS:-./alertmanager/secrets}}:{SECRETS}:ro"),
                    ]),
                ),
                ("ports", yaml::strs(&["9093:9093"])),
            ]),
        ),
        (
            "grafana",
            service(vec![
                ("image", s("grafana/grafana:10.4.2")),
                (
                    "environment",
                    m([
                        (
                            "GF_SECURITY_ADMIN_PASSWORD",
                            s("${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}"),
                        ),
                        ("GF_USERS_ALLOW_SIGN_UP", s("false")),
                    ]),
                ),
                (
                    "volumes",
                    yaml::strs(&[
                        "./grafana/provisioning:/etc/grafana/provisioning:ro",
                        "./grafana/dashboards:/var/lib/grafana/dashboards:ro",
                    ]),
                ),
                ("ports", yaml::strs(&["3000:3000"])),
            ]),
        ),
        ("redis", service(vec![("image", s("redis:7.2"))])),
        (
            "redis-exporter",
            service(vec![
                ("image", s("oliver006/redis_exporter:v1.59.0")),
                ("environment", m([("REDIS_ADDR", s("redis://redis:6379"))])),
            ]),
        ),
        (
            "postgres",
            service(vec![
                ("image", s("postgres:16")),
                (
                    "environment",
                    m([(
                        "POSTGRES_PASSWORD",
                        s("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"),
                    )]),
                ),
            ]),
        ),
        (
            "postgres-exporter",
            service(vec![
                (
                    "image",
                    s("quay.io/prometheuscommunity/postgres-exporter:v0.15.0"),
                ),
                (
                    "environment",
                    m([
                        (
                            "DATA_SOURCE_URI",
                            s("postgres:5432/postgres?sslmode=disable"),
                        ),
                        ("DATA_SOURCE_USER", s("postgres")),
                        (
                            "DATA_SOURCE_PASS",
                            s("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"),
                        ),
                    ]),
                ),
            ]),
        ),
    ]);
    yaml::document(&m([
        ("services", services),
        (
            "volumes",
            m([("cargo-target", m([])), ("prometheus-data", m([]))]),
        ),
    ]))
}

/// Series one label set of a metric makes in Prometheus: a histogram has a series per bucket,
/// plus `+Inf`, `_sum` and `_count`.
fn series_per_label_set(def: &obs_core::catalog::MetricDef) -> usize {
    match def.kind {
        MetricKind::Histogram => def.buckets.len() + 3,
        _ => 1,
    }
}

fn deploy_md(catalog: &Catalog) -> String {
    let mut rows = String::new();
    for (krate, defs) in catalog.crates() {
        let families = defs.len();
        let unlabelled: usize = defs
            .iter()
            .filter(|d| d.labels.is_empty())
            .map(series_per_label_set)
            .sum();
        let per_set: usize = defs
            .iter()
            .filter(|d| !d.labels.is_empty())
            .map(series_per_label_set)
            .sum();
        rows.push_str(&format!(
            "| {krate} | {families} | {unlabelled} | {per_set} |\n"
        ));
    }
    format!(
        "<!-- Generated by `cargo xtask gen`, do not edit. -->\n# Deploying the observability stack\n\n\
The files in `deploy/` are generated from the metric catalogs by `cargo xtask gen`, and `cargo xtask test`\n\
checks them: `promtool check config`, `promtool check rules`, `promtool test rules` (every alert shown\n\
firing and silent), `amtool check-config`, and every metric a panel or alert reads exists in the catalog\n\
with the labels it uses.\n\n\
| file | what it is |\n|---|---|\n\
| `deploy/prometheus/prometheus.yml` | scrape configuration (the demo, the Redis and PostgreSQL exporters, the Collector), rule files, Alertmanager |\n\
| `deploy/prometheus/alerts.yml` | the alerts; each links its section of [the runbook](runbook.md) |\n\
| `deploy/prometheus/slo.yml` | SLO error-ratio recording rules and multi-window, multi-burn-rate alerts |\n\
| `deploy/prometheus/tests/*.yml` | promtool unit tests, one file per alert |\n\
| `deploy/alertmanager/alertmanager.yml` | critical alerts to the pager and chat, the rest to chat |\n\
| `deploy/grafana/dashboards/*.json` | the dashboards, with a `datasource` variable |\n\
| `deploy/grafana/provisioning/` | Grafana's Prometheus and Jaeger data sources and the dashboard folder |\n\
| `deploy/otel-collector.yaml` | an OpenTelemetry Collector receiving OTLP and sending to Jaeger |\n\
| `deploy/docker-compose.yml` | the demo under simulation with the whole stack |\n\n\
## One machine: docker compose\n\n\
```sh\ncd deploy\nmkdir -p alertmanager/secrets\nprintf '%s' \"$PAGERDUTY_ROUTING_KEY\" > alertmanager/secrets/pagerduty_routing_key\n\
printf '%s' \"$SLACK_WEBHOOK_URL\" > alertmanager/secrets/slack_webhook_url\n\
GRAFANA_ADMIN_PASSWORD=... POSTGRES_PASSWORD=... docker compose up\n```\n\n\
Secrets are never in the repository: Alertmanager reads the pager key and the chat webhook from files\n\
(`routing_key_file`, `api_url_file`) mounted from `ALERTMANAGER_SECRETS` (default\n\
`deploy/alertmanager/secrets/`, which `.gitignore` keeps out), and the compose file refuses to start\n\
without `GRAFANA_ADMIN_PASSWORD` and `POSTGRES_PASSWORD`.\n\n\
Grafana is on port 3000 (dashboards in the `obs` folder), Prometheus on 9090, Alertmanager on 9093,\n\
Jaeger on 16686. The demo sends spans to the Collector (`OTEL_EXPORTER_OTLP_ENDPOINT`) and serves\n\
`/metrics` on port {DEMO_PORT}.\n\n\
## From one process to a fleet\n\n\
1. **One process** needs none of this: obs exports spans over OTLP straight to a backend and serves\n\
   `/metrics`; `/metrics/json` and the logs' `trace_id` cover a single service.\n\
2. **A Collector next to the service** (this compose file) once there are several services or\n\
   backends: the processes export to one address, and the Collector batches, limits memory and\n\
   routes. Move here when `obs_spans_dropped_total` or `obs_span_export_failures_total` grow (the\n\
   ExporterDroppingSpans alert): the Collector absorbs backend slowness that the process's bounded\n\
   queue would otherwise turn into drops.\n\
3. **A Collector gateway with tail sampling** when keeping every trace costs too much: agents forward\n\
   to a gateway tier that routes by trace id (`loadbalancing` exporter) so each gateway sees whole\n\
   traces, and a `tail_sampling` processor keeps errors and slow traces and a share of the rest. Head\n\
   sampling in the process (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`) is the cheaper first step.\n\
4. **Prometheus at fleet scale**: one Prometheus per cluster or region, then federation of the\n\
   recorded `slo:*` series to a global Prometheus, or `remote_write` to a long-term store (Thanos,\n\
   Mimir, Cortex). The recording rules in `slo.yml` keep the global queries cheap.\n\n\
## Series per replica\n\n\
What one replica exposes, from the catalogs: metric families, series of metrics without labels\n\
(histograms count their buckets, `+Inf`, `_sum` and `_count`), and the series one label set adds to the\n\
labelled metrics. Multiply the last column by the label sets in use (routes × methods × status\n\
classes for HTTP, ...); each metric stops at its series bound (docs/metrics.md), past which label sets\n\
fold into `__overflow__` (the CardinalityOverflow alert).\n\n\
| crate | metric families | unlabelled series | series per label set (labelled metrics) |\n|---|---|---|---|\n{rows}"
    )
}

pub(crate) fn files(catalog: &Catalog) -> Vec<File> {
    vec![
        File {
            path: "deploy/grafana/provisioning/datasources/obs.yml",
            content: grafana_datasources(),
        },
        File {
            path: "deploy/grafana/provisioning/dashboards/obs.yml",
            content: grafana_dashboards(),
        },
        File {
            path: "deploy/otel-collector.yaml",
            content: otel_collector(),
        },
        File {
            path: "deploy/docker-compose.yml",
            content: compose(),
        },
        File {
            path: "docs/deploy.md",
            content: deploy_md(catalog),
        },
    ]
}
