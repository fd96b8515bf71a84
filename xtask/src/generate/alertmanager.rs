//! `deploy/alertmanager/alertmanager.yml`: critical alerts page, everything goes to chat; the
//! grouping and repeat intervals of the design documents; secrets read from files mounted at run
//! time, never committed.

use super::yaml::{self, Y, m, raw, s};

/// Where the compose file mounts the secrets.
pub(crate) const SECRETS: &str = "/etc/alertmanager/secrets";

pub(crate) fn config() -> String {
    let group_by = yaml::strs(&["alertname", "cluster", "service", "slo"]);
    yaml::document(&m([
        ("global", m([("resolve_timeout", raw("5m"))])),
        (
            "route",
            m([
                ("receiver", s("chat")),
                ("group_by", group_by),
                ("group_wait", raw("30s")),
                ("group_interval", raw("5m")),
                ("repeat_interval", raw("12h")),
                (
                    "routes",
                    Y::L(vec![
                        m([
                            ("matchers", yaml::strs(&["severity=\"critical\""])),
                            ("receiver", s("pager")),
                            ("repeat_interval", raw("4h")),
                            ("continue", raw("true")),
                        ]),
                        m([
                            ("matchers", yaml::strs(&["severity=~\"critical|warning\""])),
                            ("receiver", s("chat")),
                        ]),
                    ]),
                ),
            ]),
        ),
        (
            "inhibit_rules",
            Y::L(vec![m([
                (
                    "source_matchers",
                    yaml::strs(&["alertname=\"ErrorBudgetBurnFast\""]),
                ),
                (
                    "target_matchers",
                    yaml::strs(&["alertname=\"ErrorBudgetBurnSlow\""]),
                ),
                ("equal", yaml::strs(&["slo"])),
            ])]),
        ),
        (
            "receivers",
            Y::L(vec![
                m([
                    ("name", s("pager")),
                    (
                        "pagerduty_configs",
                        Y::L(vec![m([
                            (
                                "routing_key_file",
                                s(format!("{SECRETS}/pagerduty_routing_key")),
                            ),
                            ("severity", s("critical")),
                            ("description", s("{{ .CommonAnnotations.summary }}")),
                        ])]),
                    ),
                ]),
                m([
                    ("name", s("chat")),
                    (
                        "slack_configs",
                        Y::L(vec![m([
                            ("api_url_file", s(format!("{SECRETS}/slack_webhook_url"))),
                            ("channel", s("#alerts")),
                            ("send_resolved", raw("true")),
                            (
                                "title",
                                s(
                                    "{{ .Status | toUpper }} {{ .CommonLabels.severity }}: {{ .GroupLabels.alertname }}",
                                ),
                            ),
                            (
                                "text",
                                s(
                                    "{{ range .Alerts }}{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n{{ end }}",
                                ),
                            ),
                        ])]),
                    ),
                ]),
            ]),
        ),
    ]))
}
