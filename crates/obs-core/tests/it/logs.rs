//! Log lines carry trace_id, span_id and correlation_id, in text and JSON.

use obs_core::LogFormat;
use obs_core::trace::CorrelationId;
use obs_testkit::{LogCapture, OtlpReceiver, isolated};

use crate::WAIT;

fn init_logs(format: LogFormat, capture: &LogCapture, endpoint: String) -> obs_core::ObsGuard {
    obs_core::init(
        obs_core::ObsConfig::builder()
            .service_name("logs")
            .endpoint(endpoint)
            .log_format(format)
            .log_writer(capture.writer())
            .build(),
    )
    .unwrap()
}

#[test]
fn text_lines_carry_the_ids_of_the_exported_span() {
    isolated(
        "logs::text_lines_carry_the_ids_of_the_exported_span",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let capture = LogCapture::new();
            let guard = init_logs(LogFormat::Text, &capture, receiver.grpc_endpoint());
            tracing::info!("outside any span");
            tracing::info_span!("handler")
                .in_scope(|| tracing::info!(order = 5, "inside the span"));
            let cx = CorrelationId::new("corr-123").attach_to(&opentelemetry::Context::current());
            {
                let _attached = cx.attach();
                tracing::warn!("with a correlation id");
            }
            guard.force_flush().unwrap();
            let span = receiver
                .wait_for_span("handler", WAIT)
                .expect("handler span");

            let outside = capture.lines_containing("outside any span");
            assert_eq!(outside.len(), 1);
            assert!(!outside[0].contains("trace_id="), "{}", outside[0]);

            let inside = capture.lines_containing("inside the span");
            assert_eq!(inside.len(), 1);
            let line = &inside[0];
            assert!(
                line.contains(&format!("trace_id={}", span.trace_id)),
                "{line}"
            );
            assert!(
                line.contains(&format!("span_id={}", span.span_id)),
                "{line}"
            );
            assert!(line.contains("order=5"), "{line}");
            assert!(line.contains("INFO"), "{line}");

            let corr = capture.lines_containing("with a correlation id");
            assert!(corr[0].ends_with("correlation_id=corr-123"), "{}", corr[0]);
        },
    );
}

#[test]
fn json_lines_carry_the_ids() {
    isolated("logs::json_lines_carry_the_ids", || {
        let receiver = OtlpReceiver::start().unwrap();
        let capture = LogCapture::new();
        let guard = init_logs(LogFormat::Json, &capture, receiver.grpc_endpoint());
        let cx = CorrelationId::new("c-9").attach_to(&opentelemetry::Context::current());
        let _attached = cx.attach();
        tracing::info_span!("job").in_scope(|| tracing::error!(attempt = 3, "json inside"));
        guard.force_flush().unwrap();
        let span = receiver.wait_for_span("job", WAIT).expect("job span");
        let line = capture
            .lines_containing("json inside")
            .pop()
            .expect("a line");
        let value: serde_json::Value =
            serde_json::from_str(&line).expect("one JSON object per line");
        assert_eq!(value["message"], "json inside");
        assert_eq!(value["level"], "ERROR");
        assert_eq!(value["fields"]["attempt"], 3);
        assert_eq!(value["trace_id"], span.trace_id.as_str());
        assert_eq!(value["span_id"], span.span_id.as_str());
        assert_eq!(value["correlation_id"], "c-9");
        assert_eq!(value["spans"][0], "job");
        assert!(value["timestamp"].as_str().unwrap().contains('T'));
    });
}

#[test]
fn logs_work_without_an_exporter() {
    isolated("logs::logs_work_without_an_exporter", || {
        let capture = LogCapture::new();
        let guard = obs_core::init(
            obs_core::ObsConfig::builder()
                .log_writer(capture.writer())
                .log_filter("warn")
                .build(),
        )
        .unwrap();
        tracing::info_span!("local").in_scope(|| {
            tracing::info!("filtered out");
            tracing::warn!("kept");
        });
        assert!(capture.lines_containing("filtered out").is_empty());
        let kept = capture.lines_containing("kept");
        assert_eq!(kept.len(), 1);
        assert!(
            kept[0].contains("trace_id="),
            "ids exist even when nothing is exported"
        );
        guard.shutdown().unwrap();
    });
}

#[test]
fn secrets_in_log_lines_are_redacted_in_text_and_json() {
    isolated(
        "logs::secrets_in_log_lines_are_redacted_in_text_and_json",
        || {
            let capture = LogCapture::new();
            let _guard = obs_core::init(
                obs_core::ObsConfig::builder()
                    .log_format(LogFormat::Text)
                    .log_writer(capture.writer())
                    .build(),
            )
            .unwrap();
            let url = "postgres://app:pw-SECRET1@db:5432/app";
            tracing::info!(
                token = "SECRET2",
                user = "bob",
                "connecting to {url} with Bearer SECRET3"
            );
            tracing::info!(auth = "Authorization: Basic SECRET4", "header seen");
            let text = capture.contents();
            for secret in ["SECRET1", "SECRET2", "SECRET3", "SECRET4"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            assert!(text.contains("user=\"bob\""), "{text}");
            assert!(text.contains("postgres://[REDACTED]@db:5432/app"), "{text}");
        },
    );
}

#[test]
fn secrets_in_json_log_fields_are_redacted() {
    isolated("logs::secrets_in_json_log_fields_are_redacted", || {
        let capture = LogCapture::new();
        let _guard = obs_core::init(
            obs_core::ObsConfig::builder()
                .log_format(LogFormat::Json)
                .log_writer(capture.writer())
                .build(),
        )
        .unwrap();
        tracing::info!(
            password = "SECRET1",
            url = "https://u:SECRET2@h/",
            "calling with token=SECRET3"
        );
        let line = capture.lines_containing("calling").pop().unwrap();
        for secret in ["SECRET1", "SECRET2", "SECRET3"] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["fields"]["password"], "[REDACTED]");
        assert_eq!(value["fields"]["url"], "https://[REDACTED]@h/");
    });
}

#[test]
fn json_uri_field_keeps_the_query_after_a_secret() {
    isolated(
        "logs::json_uri_field_keeps_the_query_after_a_secret",
        || {
            let capture = LogCapture::new();
            let _guard = obs_core::init(
                obs_core::ObsConfig::builder()
                    .log_format(LogFormat::Json)
                    .log_writer(capture.writer())
                    .build(),
            )
            .unwrap();
            tracing::info!(
                uri = "/search?token=SECRET1&pwd=SECRET2&page=2&sort=asc",
                "request"
            );
            let line = capture.lines_containing("request").pop().unwrap();
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(
                value["fields"]["uri"],
                "/search?token=[REDACTED]&pwd=[REDACTED]&page=2&sort=asc"
            );
        },
    );
}

#[test]
fn export_failure_warning_keeps_the_status_word() {
    isolated("logs::export_failure_warning_keeps_the_status_word", || {
        // A port nothing listens on: the export fails with gRPC status `Unavailable`.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let capture = LogCapture::new();
        let guard = obs_core::init(
            obs_core::ObsConfig::builder()
                .endpoint(format!("http://127.0.0.1:{port}"))
                .export_timeout(std::time::Duration::from_secs(2))
                .log_writer(capture.writer())
                .build(),
        )
        .unwrap();
        tracing::info_span!("lost").in_scope(|| {});
        let _ = guard.force_flush();
        let deadline = std::time::Instant::now() + WAIT;
        let warning = loop {
            // The exporter's error as tonic words it, whatever obs's warning says around it.
            if let Some(line) = capture.lines_containing("gRPC code").pop() {
                break line;
            }
            assert!(std::time::Instant::now() < deadline, "no export warning");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(warning.contains("gRPC code: Unavailable"), "{warning}");
        assert!(!warning.contains("[REDACTED]"), "{warning}");
    });
}
