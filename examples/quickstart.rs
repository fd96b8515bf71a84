//! obs-core quickstart: logs with trace ids, spans exported over OTLP, metrics rendered.
//!
//! With no `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans go to an in-process OTLP receiver (obs-testkit's)
//! and the example prints the trace it received, each span with its duration; with one set, they
//! go to your collector. Then it prints the metrics as `/metrics` would serve them (only the
//! demo's and obs's series, without the `# HELP`/`# TYPE` lines; it says how many it left out),
//! and what to try next.
//!
//! ```text
//! cargo run -p obs-examples --bin quickstart
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 LOG_FORMAT=json cargo run -p obs-examples --bin quickstart
//! ```

use std::borrow::Cow;
use std::time::Duration;

use obs_core::catalog::MetricDef;
use obs_core::metrics::CounterVec;
use obs_core::{ErrorType, ObsConfig, Operation, instrument};
use obs_testkit::{OtlpReceiver, ReceivedSpan};
use tracing::Instrument as _;

const ORDERS: MetricDef =
    MetricDef::counter("demo_orders_total", "Orders placed in the demo, by region.")
        .with_labels(&["region"]);
static CATALOG: &[MetricDef] = &[ORDERS];
static ORDERS_VEC: CounterVec = CounterVec::new(&ORDERS);

#[derive(Debug)]
struct OutOfStock;

impl ErrorType for OutOfStock {
    fn error_type(&self) -> Cow<'static, str> {
        "out_of_stock".into()
    }
}

#[tracing::instrument]
async fn price(items: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    tracing::info!(items, "priced the basket");
    items * 250
}

async fn reserve(item: &'static str) -> Result<(), OutOfStock> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    if item == "rare-book" {
        Err(OutOfStock)
    } else {
        Ok(())
    }
}

async fn checkout(region: &'static str) -> u32 {
    let total = price(3).await;
    for item in ["mug", "rare-book"] {
        let result = instrument(
            Operation::new("inventory.reserve").attribute("item", item),
            reserve(item),
        )
        .await;
        if result.is_err() {
            tracing::warn!(item, "item out of stock");
        }
    }
    let receipt = obs_core::propagation::spawn(async move {
        tracing::info!("sending the receipt in a spawned task");
    });
    let _ = receipt.await;
    ORDERS_VEC.with(&[region]).increment(1);
    total
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = ObsConfig::builder_from_env()?.catalog(CATALOG);
    let embedded = if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
        let receiver = OtlpReceiver::start()?;
        builder = builder.endpoint(receiver.grpc_endpoint());
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            builder = builder.service_name("obs-quickstart");
        }
        Some(receiver)
    } else {
        None
    };
    let guard = obs_core::init(builder.build())?;

    let total = checkout("eu")
        .instrument(tracing::info_span!("checkout", region = "eu"))
        .await;
    tracing::info!(total, "checkout done");

    guard.force_flush()?;
    if let Some(receiver) = &embedded {
        let mut spans = receiver.wait_for(Duration::from_secs(5), |s| s.len() >= 4);
        spans.sort_by_key(|s| s.start_time_unix_nano);
        if let Some(root) = spans.iter().find(|s| s.parent_span_id.is_empty()) {
            println!(
                "\n== trace {} of service {}, as the in-process OTLP receiver got it ==",
                root.trace_id, root.service_name
            );
        }
        let width = name_width(&spans, "", 0);
        print_tree(&spans, "", 0, width);
    }
    print_metrics(&guard.prometheus().render());
    println!(
        "\n== next ==\n\
         - A whole HTTP service (request spans, /metrics, health checks, graceful shutdown):\n  \
         cargo run -p obs-examples --bin service\n  \
         then request a route and GET /metrics on the address it logs at start.\n\
         - These spans in your own collector (Jaeger, Tempo, an OpenTelemetry Collector):\n  \
         OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 cargo run -p obs-examples --bin quickstart"
    );
    guard.shutdown()?;
    Ok(())
}

/// Prints the demo's and obs's series from the Prometheus text, and says what it left out.
fn print_metrics(text: &str) {
    let comments = text.lines().filter(|l| l.starts_with('#')).count();
    let (shown, others): (Vec<&str>, Vec<&str>) = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .partition(|l| l.starts_with("demo_") || l.starts_with("obs_"));
    let mut left_out = format!("{comments} `# HELP`/`# TYPE` lines");
    if !others.is_empty() {
        left_out += &format!(" and {} lines of other series", others.len());
    }
    println!(
        "\n== /metrics: the text an obs-http admin router serves there; demo_* and obs_* series \
         only, {left_out} left out =="
    );
    for line in shown {
        println!("{line}");
    }
}

/// The widest indented span name, so the durations line up.
fn name_width(spans: &[ReceivedSpan], parent: &str, depth: usize) -> usize {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent)
        .map(|s| (depth * 2 + s.name.len()).max(name_width(spans, &s.span_id, depth + 1)))
        .max()
        .unwrap_or(0)
}

/// Prints the spans under `parent` in start order, each with its duration.
fn print_tree(spans: &[ReceivedSpan], parent: &str, depth: usize, width: usize) {
    for span in spans.iter().filter(|s| s.parent_span_id == parent) {
        let error = span
            .attr("error.type")
            .map(|e| format!(" error.type={e}"))
            .unwrap_or_default();
        let name = format!("{:indent$}{}", "", span.name, indent = depth * 2);
        println!(
            "{name:width$} {:>8.2} ms  span={}{error}",
            span.duration().as_secs_f64() * 1_000.0,
            span.span_id,
        );
        print_tree(spans, &span.span_id, depth + 1, width);
    }
}
