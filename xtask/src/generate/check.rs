//! The checks `cargo xtask test` runs on the generated files: promtool and amtool on the
//! Prometheus and Alertmanager files, every metric and label an expression reads against the
//! catalog, and the dashboards' JSON.

use std::process::Command;

use obs_core::catalog::MetricKind;
use serde_json::Value;

use super::{Catalog, path, promql};

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: &[&str] = &["job", "instance"];

/// Series Prometheus makes itself for every target.
const SYNTHETIC: &[&str] = &["up", "scrape_duration_seconds", "scrape_samples_scraped"];

/// The labels `metric` has, or why it is unknown.
fn labels_of(
    catalog: &Catalog,
    recorded: &[(String, Vec<String>)],
    metric: &str,
) -> Result<Vec<String>, String> {
    if let Some(def) = catalog.def(metric) {
        return Ok(def.labels.iter().map(|l| (*l).to_owned()).collect());
    }
    for (suffix, extra) in [("_bucket", Some("le")), ("_sum", None), ("_count", None)] {
        if let Some(def) = metric
            .strip_suffix(suffix)
            .and_then(|base| catalog.def(base))
        {
            if def.kind != MetricKind::Histogram {
                return Err(format!(
                    "{metric}: {} is a {}, not a histogram",
                    def.name,
                    def.kind.as_str()
                ));
            }
            return Ok(def
                .labels
                .iter()
                .map(|l| (*l).to_owned())
                .chain(extra.map(str::to_owned))
                .collect());
        }
    }
    if let Some((_, labels)) = recorded.iter().find(|(r, _)| r == metric) {
        return Ok(labels.clone());
    }
    if SYNTHETIC.contains(&metric) {
        return Ok(Vec::new());
    }
    Err(format!("{metric} is in no catalog"))
}

/// Problems with the metrics and labels the expressions read, one line each.
pub(crate) fn references(
    catalog: &Catalog,
    recorded: &[(String, Vec<String>)],
    exprs: &[(String, String)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (origin, expr) in exprs {
        // Grafana's interval variable stands for a duration.
        let expr = expr.replace("$__rate_interval", "5m");
        let refs = match promql::references(&expr) {
            Ok(refs) => refs,
            Err(e) => {
                problems.push(format!("{origin}: {e}"));
                continue;
            }
        };
        for r in refs {
            match labels_of(catalog, recorded, &r.metric) {
                Err(e) => problems.push(format!("{origin}: {e}")),
                Ok(known) => {
                    for l in &r.labels {
                        if !known.contains(l)
                            && !TARGET_LABELS.contains(&l.as_str())
                            && l != "__name__"
                        {
                            problems.push(format!(
                                "{origin}: {} has no label {l:?} (labels: {})",
                                r.metric,
                                known.join(", ")
                            ));
                        }
                    }
                }
            }
        }
    }
    problems
}

/// Problems with one dashboard's JSON.
pub(crate) fn dashboard(name: &str, text: &str) -> Vec<String> {
    let json: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: not valid JSON: {e}")],
    };
    let mut problems = Vec::new();
    let has_var = json["templating"]["list"].as_array().is_some_and(|l| {
        l.iter().any(|v| {
            v["type"] == "datasource" && v["name"] == "datasource" && v["query"] == "prometheus"
        })
    });
    if !has_var {
        problems.push(format!(
            "{name}: no `datasource` template variable of type datasource"
        ));
    }
    let panels = json["panels"].as_array().cloned().unwrap_or_default();
    if panels.is_empty() {
        problems.push(format!("{name}: no panels"));
    }
    let mut ids = Vec::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?");
        match p["id"].as_u64() {
            Some(id) if ids.contains(&id) => {
                problems.push(format!("{name}: panel id {id} used twice ({title:?})"))
            }
            Some(id) => ids.push(id),
            None => problems.push(format!("{name}: panel {title:?} has no numeric id")),
        }
        if p["datasource"]["uid"] != "${datasource}" {
            problems.push(format!(
                "{name}: panel {title:?} does not use the datasource variable"
            ));
        }
        if p["targets"].as_array().is_none_or(|t| {
            t.iter()
                .any(|t| t["expr"].as_str().is_none_or(str::is_empty))
        }) {
            problems.push(format!(
                "{name}: panel {title:?} has a target without an expression"
            ));
        }
    }
    problems
}

fn tool(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(path("deploy"))
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Every check of the generated files; the files must be up to date (checked before).
pub(crate) fn run() -> Result<(), String> {
    let catalog = Catalog::new(super::catalogs());
    let mut problems = references(&catalog, &super::recorded(), &super::expressions(&catalog));
    for f in super::files(&catalog) {
        if f.path.ends_with(".json") {
            problems.extend(dashboard(
                f.path,
                &std::fs::read_to_string(path(f.path)).unwrap_or_default(),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(format!("generated files:\n  {}", problems.join("\n  ")));
    }
    crate::provision::ensure("promtool", &["--version"], "prometheus")?;
    crate::provision::ensure("amtool", &["--version"], "prometheus-alertmanager")?;
    tool(
        "promtool",
        &["check", "config", "prometheus/prometheus.yml"],
    )?;
    tool(
        "promtool",
        &[
            "check",
            "rules",
            "prometheus/alerts.yml",
            "prometheus/slo.yml",
        ],
    )?;
    let mut tests: Vec<String> = std::fs::read_dir(path("deploy/prometheus/tests"))
        .map_err(|e| format!("deploy/prometheus/tests: {e}"))?
        .flatten()
        .map(|e| format!("prometheus/tests/{}", e.file_name().to_string_lossy()))
        .collect();
    tests.sort();
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    tool("promtool", &args)?;
    tool("amtool", &["check-config", "alertmanager/alertmanager.yml"])?;
    eprintln!(
        "xtask: generated files: promtool check config/rules, {} rule tests, amtool, references and dashboards ok",
        tests.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use obs_core::catalog::MetricDef;

    use super::*;

    static DEFS: &[MetricDef] = &[
        MetricDef::counter("jobs_total", "Jobs.").with_labels(&["queue"]),
        MetricDef::histogram("job_latency_ms", "Latency.").with_labels(&["queue"]),
    ];

    fn check(expr: &str) -> Vec<String> {
        let catalog = Catalog::new(vec![("test", DEFS)]);
        let recorded = vec![("job:ratio:rate5m".to_owned(), vec!["slo".to_owned()])];
        references(&catalog, &recorded, &[("t".to_owned(), expr.to_owned())])
    }

    #[test]
    fn known_metrics_and_labels_pass() {
        assert_eq!(
            check("sum by (queue, job) (rate(jobs_total{queue=\"a\"}[$__rate_interval]))"),
            Vec::<String>::new()
        );
        assert_eq!(
            check(
                "histogram_quantile(0.9, sum by (le, queue) (rate(job_latency_ms_bucket[5m]))) / job_latency_ms_count"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            check("job:ratio:rate5m{slo=\"x\"} and up == 0"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn unknown_metrics_labels_and_suffixes_fail() {
        assert_eq!(check("rate(jobs_missing_total[5m])").len(), 1);
        assert_eq!(check("sum by (route) (rate(jobs_total[5m]))").len(), 1);
        assert_eq!(check("jobs_total{le=\"1\"}").len(), 1);
        assert_eq!(check("jobs_total_bucket").len(), 1);
        assert_eq!(check("job_latency_ms_sum{le=\"1\"}").len(), 1);
        assert_eq!(check("sum(rate(jobs_total[5m])").len(), 1);
    }

    #[test]
    fn dashboards_need_unique_ids_and_the_variable() {
        let ok = r#"{"templating":{"list":[{"name":"datasource","type":"datasource","query":"prometheus"}]},
            "panels":[{"id":1,"title":"a","datasource":{"uid":"${datasource}"},"targets":[{"expr":"up"}]}]}"#;
        assert_eq!(dashboard("d", ok), Vec::<String>::new());
        let dup = ok.replace(r#""panels":[{"#, r#""panels":[{"id":1,"title":"b","datasource":{"uid":"${datasource}"},"targets":[{"expr":"up"}]},{"#);
        assert_eq!(dashboard("d", &dup).len(), 1);
        assert_eq!(
            dashboard("d", &ok.replace("datasource\",\"type", "ds\",\"type")).len(),
            1
        );
        assert_eq!(dashboard("d", "{").len(), 1);
    }

    #[test]
    fn generated_expressions_reference_the_catalog() {
        let catalog = Catalog::new(super::super::catalogs());
        let problems = references(
            &catalog,
            &super::super::recorded(),
            &super::super::expressions(&catalog),
        );
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn generated_dashboards_pass() {
        let catalog = Catalog::new(super::super::catalogs());
        for f in super::super::files(&catalog)
            .iter()
            .filter(|f| f.path.ends_with(".json"))
        {
            assert_eq!(dashboard(f.path, &f.content), Vec::<String>::new());
        }
    }

    #[test]
    fn every_alert_has_its_runbook_section() {
        let catalog = Catalog::new(super::super::catalogs());
        let files = super::super::files(&catalog);
        let runbook = &files
            .iter()
            .find(|f| f.path == "docs/runbook.md")
            .unwrap()
            .content;
        let rules: String = files
            .iter()
            .filter(|f| f.path.ends_with("alerts.yml") || f.path.ends_with("slo.yml"))
            .map(|f| f.content.as_str())
            .collect();
        let mut n = 0;
        for line in rules.lines().filter(|l| l.contains("runbook_url")) {
            let anchor = line.rsplit('#').next().unwrap().trim_end_matches('"');
            let heading = runbook.lines().find(|h| {
                h.strip_prefix("## ")
                    .is_some_and(|h| h.to_lowercase() == anchor)
            });
            assert!(heading.is_some(), "no runbook section for #{anchor}");
            n += 1;
        }
        assert!(n >= 15, "only {n} alerts");
    }
}

#[cfg(test)]
mod demo_tests {
    use super::*;

    #[test]
    fn the_demo_catalog_switches_on_its_alert_and_panels() {
        let crates = super::super::catalogs();
        let without: Vec<_> = crates
            .iter()
            .filter(|(name, _)| *name != super::super::DEMO)
            .cloned()
            .collect();
        assert!(without.len() < crates.len(), "the demo's catalog is listed");
        let without = super::super::expressions(&Catalog::new(without)).len();
        let catalog = Catalog::new(crates);
        let exprs = super::super::expressions(&catalog);
        assert!(
            exprs.len() >= without + 8,
            "{} expressions, {without} without the demo",
            exprs.len()
        );
        assert!(exprs.iter().any(|(o, _)| o == "alert HighMatchingLatency"));
        assert_eq!(
            references(&catalog, &super::super::recorded(), &exprs),
            Vec::<String>::new()
        );
    }
}
