//! `deploy/prometheus/prometheus.yml`: scrape the demo, the Redis and PostgreSQL exporters, the
//! Collector and Prometheus itself; load the alert and SLO rules; send alerts to Alertmanager.

use super::yaml::{self, Y, m, raw, s};

/// Port the demo serves `/metrics` on in the compose file.
pub(crate) const DEMO_PORT: u16 = 9464;

fn job(name: &str, target: &str, interval: Option<&str>) -> Y {
    let mut pairs = vec![("job_name".to_owned(), s(name))];
    if let Some(i) = interval {
        pairs.push(("scrape_interval".to_owned(), raw(i)));
    }
    pairs.push((
        "static_configs".to_owned(),
        Y::L(vec![m([("targets", yaml::strs(&[target]))])]),
    ));
    Y::M(pairs)
}

/// A configuration scraping `jobs` (name, target) every `interval`, loading `rule_files`.
pub(crate) fn config_with(
    interval: &str,
    rule_files: &[&str],
    alertmanager: Option<&str>,
    jobs: &[(&str, &str)],
) -> String {
    let mut top = vec![
        (
            "global".to_owned(),
            m([
                ("scrape_interval", raw(interval)),
                ("evaluation_interval", raw(interval)),
                ("external_labels", m([("cluster", s("obs-demo"))])),
            ]),
        ),
        ("rule_files".to_owned(), yaml::strs(rule_files)),
    ];
    if let Some(am) = alertmanager {
        top.push((
            "alerting".to_owned(),
            m([(
                "alertmanagers",
                Y::L(vec![m([(
                    "static_configs",
                    Y::L(vec![m([("targets", yaml::strs(&[am]))])]),
                )])]),
            )]),
        ));
    }
    top.push((
        "scrape_configs".to_owned(),
        Y::L(jobs.iter().map(|(n, t)| job(n, t, None)).collect()),
    ));
    yaml::document(&Y::M(top))
}

/// The committed configuration, for the compose file's service names.
pub(crate) fn config() -> String {
    let demo = format!("simplycaster:{DEMO_PORT}");
    config_with(
        "15s",
        &["alerts.yml", "slo.yml"],
        Some("alertmanager:9093"),
        &[
            ("simplycaster", &demo),
            ("redis", "redis-exporter:9121"),
            ("postgres", "postgres-exporter:9187"),
            ("otel-collector", "otel-collector:8888"),
            ("prometheus", "localhost:9090"),
        ],
    )
}
