//! Redaction of finished spans, on the export thread, before they leave the process.
//!
//! obs's own layers record names and values that are safe by construction (methods, routes,
//! status codes, ids) or already redacted by name (headers, query strings). What they record
//! verbatim (the URL path, captured text, panic messages) and everything that arrives through
//! the `tracing` bridge (fields of `#[instrument]` functions, log events inside a span, error
//! messages) is only safe once checked: this pass applies the name policy to every attribute key
//! and [`text`] to every string, so it costs the request path nothing.

use std::borrow::Cow;

use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use super::{REDACTED, is_sensitive_name, text};

/// Redacts every span of an export batch in place.
pub(crate) fn redact_spans(batch: &mut [SpanData]) {
    for span in batch {
        redact_cow(&mut span.name);
        attributes(&mut span.attributes);
        for event in &mut span.events.events {
            redact_cow(&mut event.name);
            attributes(&mut event.attributes);
        }
        for link in &mut span.links.links {
            attributes(&mut link.attributes);
        }
        if let Status::Error { description } = &mut span.status {
            redact_cow(description);
        }
    }
}

fn redact_cow(value: &mut Cow<'static, str>) {
    if let Cow::Owned(redacted) = text(value) {
        *value = Cow::Owned(redacted);
    }
}

/// How much of the policy an attribute needs.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    /// Values obs builds from safe parts, or ids that must stay readable.
    Skip,
    /// obs's own keys that hold outside text: the value is checked, the (safe) key is not.
    Value,
    /// Any other key: the name policy, then the value.
    Full,
}

fn check(key: &str) -> Check {
    match key {
        "http.request.method"
        | "http.request.method_original"
        | "http.route"
        | "http.response.status_code"
        | "http.request.body.size"
        | "http.response.body.size"
        | "url.scheme"
        | "server.address"
        | "server.port"
        | "client.address"
        | "network.protocol.version"
        | "error.type"
        | "exception.type"
        | "request_id"
        | "correlation_id"
        | "code.filepath"
        | "code.file.path"
        | "code.namespace"
        | "code.lineno"
        | "code.line.number"
        | "thread.id"
        | "thread.name"
        | "busy_ns"
        | "idle_ns"
        | "level"
        | "target" => Check::Skip,
        "url.path"
        | "url.query"
        | "url.full"
        | "user_agent.original"
        | "exception.message"
        | "message"
        | "http.request.body.content"
        | "http.response.body.content" => Check::Value,
        _ => Check::Full,
    }
}

fn attributes(attributes: &mut [KeyValue]) {
    for kv in attributes {
        let sensitive = match check(kv.key.as_str()) {
            Check::Skip => continue,
            Check::Value => false,
            Check::Full => is_sensitive_name(kv.key.as_str()),
        };
        match &mut kv.value {
            Value::String(s) => {
                if let Some(v) = redact_string(s, sensitive) {
                    *s = v;
                }
            }
            Value::Array(Array::String(values)) => {
                for s in values {
                    if let Some(v) = redact_string(s, sensitive) {
                        *s = v;
                    }
                }
            }
            other if sensitive => *other = Value::String(StringValue::from(REDACTED)),
            _ => {}
        }
    }
}

fn redact_string(s: &StringValue, sensitive: bool) -> Option<StringValue> {
    if sensitive {
        return (s.as_str() != REDACTED).then(|| StringValue::from(REDACTED));
    }
    match text(s.as_str()) {
        Cow::Borrowed(_) => None,
        Cow::Owned(v) => Some(StringValue::from(v)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use opentelemetry::trace::{Event, SpanContext, SpanId, SpanKind};
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    fn span(attributes: Vec<KeyValue>, events: Vec<Event>) -> SpanData {
        let mut span_events = SpanEvents::default();
        span_events.events = events;
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed("login token=abc"),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            attributes,
            dropped_attributes_count: 0,
            events: span_events,
            links: SpanLinks::default(),
            status: Status::error("connect to postgres://app:pw@db/app failed"),
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        }
    }

    #[test]
    fn names_values_events_and_status_are_redacted() {
        let mut batch = [span(
            vec![
                KeyValue::new("password", "hunter2"),
                KeyValue::new("pin_code", 1234_i64),
                KeyValue::new(
                    "url.path",
                    "/files/da39a3ee5e6b4b0d3255bfef95601890afd80709",
                ),
                KeyValue::new("request_id", "550e8400-e29b-41d4-a716-446655440000"),
                KeyValue::new("http.route", "/files/{digest}"),
                KeyValue::new("tokens_used", 12_i64),
                KeyValue::new(
                    "http.request.header.x-upstream",
                    Value::Array(Array::String(vec!["Bearer abc".into()])),
                ),
            ],
            vec![Event::new(
                "auth header Some(\"Bearer xyz\")",
                SystemTime::UNIX_EPOCH,
                vec![KeyValue::new("error", "rejected: api_key=k1")],
                0,
            )],
        )];
        redact_spans(&mut batch);
        let span = &batch[0];
        assert_eq!(span.name, "login token=[REDACTED]");
        let value = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(value("password").as_deref(), Some(REDACTED));
        assert_eq!(value("pin_code").as_deref(), Some("1234"));
        assert_eq!(value("url.path").as_deref(), Some("/files/[REDACTED]"));
        assert_eq!(
            value("request_id").as_deref(),
            Some("550e8400-e29b-41d4-a716-446655440000")
        );
        assert_eq!(value("http.route").as_deref(), Some("/files/{digest}"));
        assert_eq!(
            value("http.request.header.x-upstream").as_deref(),
            Some(r#"["Bearer [REDACTED]"]"#)
        );
        let event = &span.events.events[0];
        assert_eq!(event.name, "auth header Some(\"Bearer [REDACTED]\")");
        assert_eq!(
            event.attributes[0].value.to_string(),
            "rejected: api_key=[REDACTED]"
        );
        assert_eq!(
            span.status,
            Status::error("connect to postgres://[REDACTED]@db/app failed")
        );
    }
}
