//! Log output: text or JSON lines that carry `trace_id`, `span_id` and `correlation_id` (and
//! `request_id` where a request's own id differs from its correlation id).

use std::fmt;
use std::io;
use std::sync::Arc;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{ConfigError, LogFormat};
use crate::trace::{CorrelationId, current_ids};

/// Checks `RUST_LOG`-style directives.
pub(crate) fn validate_filter(filter: &str) -> Result<EnvFilter, ConfigError> {
    EnvFilter::builder().parse(filter).map_err(|_| ConfigError {
        variable: "RUST_LOG",
        value: filter.to_owned(),
        expected: "comma-separated directives such as `info` or `warn,my_crate=debug`",
    })
}

/// Where log lines are written: standard output by default, or any writer factory (tests use
/// `obs_testkit::LogCapture`).
#[derive(Clone)]
pub struct LogWriter(Arc<dyn Fn() -> Box<dyn io::Write + Send> + Send + Sync>);

impl LogWriter {
    /// Lines go to whatever `make` returns, called once per line.
    pub fn new(make: impl Fn() -> Box<dyn io::Write + Send> + Send + Sync + 'static) -> Self {
        Self(Arc::new(make))
    }

    /// Lines go to standard output.
    pub fn stdout() -> Self {
        Self::new(|| Box::new(io::stdout()))
    }
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter").finish_non_exhaustive()
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Box<dyn io::Write + Send>;

    fn make_writer(&'a self) -> Self::Writer {
        (self.0)()
    }
}

/// The event formatter `init` installs.
pub(crate) struct ObsFormat {
    format: LogFormat,
    text: Format<Full, SystemTime>,
}

impl ObsFormat {
    pub(crate) fn new(format: LogFormat) -> Self {
        Self {
            format,
            text: tracing_subscriber::fmt::format().with_ansi(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for ObsFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = current_ids();
        let correlation = CorrelationId::current();
        match self.format {
            LogFormat::Text => {
                let mut line = String::with_capacity(256);
                self.text.format_event(ctx, Writer::new(&mut line), event)?;
                // Libraries log URLs, authorities and headers; what leaves the process is redacted.
                let line = crate::redact::text(line.trim_end_matches('\n'));
                writer.write_str(&line)?;
                if let Some((trace_id, span_id)) = ids {
                    write!(writer, " trace_id={trace_id} span_id={span_id}")?;
                }
                if let Some(id) = correlation {
                    write!(writer, " correlation_id={}", id.as_str())?;
                    if let Some(request) = id.request_id() {
                        write!(writer, " request_id={request}")?;
                    }
                }
                writeln!(writer)
            }
            LogFormat::Json => {
                let mut obj = Map::new();
                let mut time = String::new();
                SystemTime.format_time(&mut Writer::new(&mut time))?;
                obj.insert("timestamp".into(), Value::String(time));
                let meta = event.metadata();
                obj.insert("level".into(), Value::String(meta.level().to_string()));
                obj.insert("target".into(), Value::String(meta.target().to_owned()));
                let mut fields = JsonFields(Map::new());
                event.record(&mut fields);
                for (name, value) in fields.0.iter_mut() {
                    redact_json_field(name, value);
                }
                if let Some(message) = fields.0.remove("message") {
                    obj.insert("message".into(), message);
                }
                if !fields.0.is_empty() {
                    obj.insert("fields".into(), Value::Object(fields.0));
                }
                if let Some(scope) = ctx.event_scope() {
                    let names: Vec<Value> = scope
                        .from_root()
                        .map(|span| Value::String(span.name().to_owned()))
                        .collect();
                    if !names.is_empty() {
                        obj.insert("spans".into(), Value::Array(names));
                    }
                }
                if let Some((trace_id, span_id)) = ids {
                    obj.insert("trace_id".into(), Value::String(trace_id.to_string()));
                    obj.insert("span_id".into(), Value::String(span_id.to_string()));
                }
                if let Some(id) = correlation {
                    obj.insert(
                        "correlation_id".into(),
                        Value::String(id.as_str().to_owned()),
                    );
                    if let Some(request) = id.request_id() {
                        obj.insert("request_id".into(), Value::String(request.to_owned()));
                    }
                }
                let line = serde_json::to_string(&obj).map_err(|_| fmt::Error)?;
                writeln!(writer, "{line}")
            }
        }
    }
}

/// Redacts a JSON log field: the whole value under a sensitive name, secrets inside strings.
fn redact_json_field(name: &str, value: &mut Value) {
    if name != "message" && crate::redact::is_sensitive_name(name) {
        *value = Value::String(crate::redact::REDACTED.to_owned());
    } else if let Value::String(s) = value
        && let std::borrow::Cow::Owned(redacted) = crate::redact::text(s)
    {
        *s = redacted;
    }
}

/// Collects an event's fields as JSON values.
struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}
