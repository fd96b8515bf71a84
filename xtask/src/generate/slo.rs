//! The SLOs: error-ratio recording rules over the windows of the SRE workbook's multi-window,
//! multi-burn-rate alerts, the error budgets, and the two burn-rate alerts (`slo.yml`).

use super::Catalog;
use super::alerts::{Alert, Runbook, Series, Test, counter, histogram};
use super::yaml::{self, Y, m, raw, s};

/// One service level objective.
pub(crate) struct Slo {
    /// The `slo` label of its recording rules.
    pub(crate) name: &'static str,
    /// The objective as people say it.
    pub(crate) objective: &'static str,
    /// The share of events allowed to be bad (the error budget).
    pub(crate) budget: f64,
    /// The bad share of events over `{w}`.
    error_ratio: &'static str,
}

/// The windows the burn-rate alerts read.
pub(crate) const WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The SLOs of the issue (and design 002 §E).
pub(crate) fn slos() -> Vec<Slo> {
    vec![
        Slo {
            name: "signaling_latency",
            objective: "95 % of signaling messages relayed within 200 ms (p95 < 200 ms)",
            budget: 0.05,
            error_ratio: "1 - sum(rate(signaling_latency_ms_bucket{le=\"200\"}[{w}])) / sum(rate(signaling_latency_ms_count[{w}]))",
        },
        Slo {
            name: "ice_success",
            objective: "at least 95 % of peer connections that start ICE checks connect",
            budget: 0.05,
            error_ratio: "1 - sum(rate(ice_connected_total[{w}])) / sum(rate(ice_attempted_total[{w}]))",
        },
        Slo {
            name: "http_availability",
            objective: "99.9 % of HTTP requests answered without a 5xx",
            budget: 0.001,
            error_ratio: "sum(rate(http_requests_total{code_class=\"5xx\"}[{w}])) / sum(rate(http_requests_total[{w}]))",
        },
        Slo {
            name: "signaling_errors",
            objective: "error rate under 0.1 %: fewer WebRTC and signaling errors (`errors_total`) than 0.1 % of the signaling messages relayed",
            budget: 0.001,
            error_ratio: "sum(rate(errors_total[{w}])) / sum(rate(signaling_latency_ms_count[{w}]))",
        },
    ]
}

/// Every recording rule: name, expression, and the labels it adds.
pub(crate) fn recordings(slos: &[Slo]) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for slo in slos {
        for w in WINDOWS {
            out.push((
                format!("slo:error_ratio:rate{w}"),
                slo.error_ratio.replace("{w}", w),
                vec!["slo".to_owned()],
            ));
        }
        out.push((
            "slo:error_budget:ratio".to_owned(),
            format!("vector({})", slo.budget),
            vec!["slo".to_owned()],
        ));
    }
    out.push((
        "slo:signaling_latency_ms:p95_5m".to_owned(),
        "histogram_quantile(0.95, sum by (le) (rate(signaling_latency_ms_bucket[5m])))".to_owned(),
        vec![],
    ));
    out
}

/// `expr` as a burn-rate condition: the long and the short window both burn faster than `factor`.
fn burn(factor: f64, long: &str, short: &str) -> String {
    format!(
        "(slo:error_ratio:rate{long} > {factor} * slo:error_budget:ratio and slo:error_ratio:rate{short} > {factor} * slo:error_budget:ratio)"
    )
}

fn http(ok_per_min: f64, errors_per_min: f64) -> Vec<Series> {
    let mut s = counter(
        "http_requests_total{method=\"GET\",route=\"/api/rooms\",code_class=\"2xx\"}",
        ok_per_min,
    );
    s.extend(counter(
        "http_requests_total{method=\"GET\",route=\"/api/rooms\",code_class=\"5xx\"}",
        errors_per_min,
    ));
    s
}

/// The burn-rate alerts.
pub(crate) fn alerts(catalog: &Catalog) -> Vec<Alert> {
    vec![
        Alert {
            name: "ErrorBudgetBurnFast",
            expr: format!("{} or {}", burn(14.4, "1h", "5m"), burn(6.0, "6h", "30m")),
            for_: "2m",
            severity: "critical",
            summary: "SLO {{ $labels.slo }} burns its error budget fast",
            description: "SLO {{ $labels.slo }} spends its 30-day error budget at 14.4 times the sustainable rate over 1 hour (and 5 minutes), or 6 times over 6 hours (and 30 minutes): at that pace the budget is gone in 2 to 5 days.",
            covers: "issue 17 slo.yml multi-window multi-burn-rate alerts (14.4x over 1h and 5m, 6x over 6h and 30m), for every SLO",
            runbook: Runbook {
                symptoms: "The SLOs and error budget dashboard shows a burn rate far above 1 for the SLO.",
                queries: vec![
                    "slo:error_ratio:rate1h / on (slo) slo:error_budget:ratio".into(),
                    "slo:error_ratio:rate5m".into(),
                ],
                causes: &[
                    "The cause of the SLO's own symptom alert: HighHttpErrorRate (http_availability), HighSignalingLatency (signaling_latency), LowIceSuccessRate (ice_success), relay errors (signaling_errors: `errors_total`).",
                    "A deploy or dependency outage.",
                ],
                actions: &[
                    "Follow the section of the matching symptom alert.",
                    "Roll back a recent deploy if the burn started with it.",
                    "Freeze risky changes until the budget recovers.",
                ],
            },
            test: Test {
                eval: "70m",
                fire: http(100.0, 5.0),
                silent: http(100.0, 0.005),
                labels: vec![("slo", "http_availability")],
                more: vec![
                    (
                        counter("ice_attempted_total", 10.0)
                            .into_iter()
                            .chain(counter("ice_connected_total", 5.0))
                            .collect(),
                        vec![("slo", "ice_success")],
                    ),
                    (
                        counter("signaling_latency_ms_count{type=\"offer\"}", 100.0)
                            .into_iter()
                            .chain(counter("errors_total{type=\"delivery_failed\"}", 5.0))
                            .collect(),
                        vec![("slo", "signaling_errors")],
                    ),
                    (
                        histogram(
                            catalog,
                            "signaling_latency_ms",
                            "type=\"offer\"",
                            400.0,
                            60.0,
                        ),
                        vec![("slo", "signaling_latency")],
                    ),
                ],
            },
        },
        Alert {
            name: "ErrorBudgetBurnSlow",
            expr: format!("{} or {}", burn(3.0, "1d", "2h"), burn(1.0, "3d", "6h")),
            for_: "15m",
            severity: "warning",
            summary: "SLO {{ $labels.slo }} burns its error budget steadily",
            description: "SLO {{ $labels.slo }} spends its 30-day error budget at 3 times the sustainable rate over 1 day (and 2 hours), or faster than sustainable over 3 days (and 6 hours).",
            covers: "issue 17 slo.yml multi-window multi-burn-rate alerts, the SRE workbook's ticket level (3x over 1d and 2h, 1x over 3d and 6h)",
            runbook: Runbook {
                symptoms: "The burn rate stays above 1 for hours; no symptom alert may be firing.",
                queries: vec![
                    "slo:error_ratio:rate1d / on (slo) slo:error_budget:ratio".into(),
                    "slo:error_ratio:rate3d / on (slo) slo:error_budget:ratio".into(),
                ],
                causes: &[
                    "A steady low error or latency regression below the symptom alerts' thresholds.",
                    "A slowly degrading dependency.",
                ],
                actions: &[
                    "Find when the ratio rose on the SLO dashboard and what was deployed then.",
                    "File a ticket; fix within days, before the budget runs out.",
                ],
            },
            test: Test {
                eval: "3h",
                fire: http(100.0, 0.5),
                silent: http(100.0, 0.005),
                labels: vec![("slo", "http_availability")],
                more: vec![],
            },
        },
    ]
}

/// `slo.yml`: the recording rules, then the burn-rate alerts.
pub(crate) fn rules(catalog: &Catalog, slos: &[Slo]) -> String {
    let records = recordings(slos)
        .into_iter()
        .zip(
            slos.iter()
                .flat_map(|s| std::iter::repeat_n(Some(s.name), WINDOWS.len() + 1))
                .chain([None]),
        )
        .map(|((record, expr, _), slo)| {
            let mut pairs = vec![
                ("record".to_owned(), raw(record)),
                ("expr".to_owned(), s(expr)),
            ];
            if let Some(slo) = slo {
                pairs.push(("labels".to_owned(), m([("slo", raw(slo))])));
            }
            Y::M(pairs)
        })
        .collect();
    let alerts = alerts(catalog).iter().map(Alert::rule).collect();
    yaml::document(&m([(
        "groups",
        Y::L(vec![
            m([("name", s("slo_recordings")), ("rules", Y::L(records))]),
            m([("name", s("slo_burn_rate")), ("rules", Y::L(alerts))]),
        ]),
    )]))
}
